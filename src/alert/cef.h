/* The syslog channel's message: RFC 5424 with a CEF (ArcSight Common Event Format) body, built
 * from an alert's frozen payload, so SIEMs parse the severity, the device, the metric, the
 * value, the anomaly id and the dashboard link without a custom parser. Pure functions, kept
 * apart for the unit tests and the fuzzer. */
#ifndef IOTAD_ALERT_CEF_H
#define IOTAD_ALERT_CEF_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CEF severity (0..10) of an alert severity: critical 10, warning 6, info 3, else 0. */
int alert_cef_severity(const char *sev);
/* Syslog severity (RFC 5424: 2 crit, 4 warning, 6 informational) of an alert severity. */
int alert_syslog_severity(const char *sev);

typedef enum { ALERT_CEF_HEADER, ALERT_CEF_EXT } alert_cef_field;
/* Escapes in for a CEF header field (\ and |) or an extension value (\ and =, CR and LF as
 * \r \n); other control characters become spaces, and header fields have no line breaks.
 * Writes at most cap-1 bytes and a NUL, never cutting an escape or a UTF-8 sequence; returns
 * the bytes written. *all (may be NULL) tells whether all of in fitted. */
size_t alert_cef_escape(const char *in, alert_cef_field f, char *out, size_t cap, bool *all);

/* The smallest datagram every receiver must accept (RFC 5426: 480 bytes over IPv4). */
#define ALERT_SYSLOG_MIN_BYTES 480

typedef struct {
    int facility;         /* 0..23 (RFC 5424), e.g. 16 = local0 */
    const char *hostname; /* HOSTNAME field; NULL or "" = "-" */
    int64_t now_ms;       /* TIMESTAMP */
    size_t max_bytes;     /* the whole message, at most (>= ALERT_SYSLOG_MIN_BYTES) */
} alert_syslog_opts;

/* Writes "<PRI>1 TIMESTAMP HOSTNAME iotad - MSGID - CEF:0|iotad|iotad|1|kind|name|sev|ext"
 * for payload p into out (max(max_bytes, ALERT_SYSLOG_MIN_BYTES) + 1 bytes). Fields that do not fit
 * are left out, the free text (msg) shortened first; the message never holds CR, LF or NUL. Returns
 * its length. */
size_t alert_syslog_format(const cJSON *p, const alert_syslog_opts *o, char *out);

/* Facility by number ("16") or name ("local0", "user", "auth", "security", ...); -1 if
 * neither. */
int alert_syslog_facility(const char *s);

#endif
