/* RFC 5424 syslog messages with a CEF body (see cef.h). The CEF extension carries:
 *   externalId       the alert id (the same on every retry: SIEMs deduplicate on it)
 *   cs1 anomalyId    cs2 deviceName   cs3 metric   cfp1 value   request  the dashboard link
 *   cs4 deviceId     cat  the alert kind            cnt  anomalies in the alert
 *   rt   alert time (ms)                start  detection time (ms)
 *   cs5 deviceType   cs6 location     cfp2 expectedLow   cfp3 expectedHigh   msg  description
 * in that order of importance: what does not fit into max_bytes is left out from the end,
 * msg being shortened rather than dropped. */
#include "alert/cef.h"

#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int alert_cef_severity(const char *sev)
{
    if (!sev) return 0;
    if (!strcmp(sev, "critical")) return 10;
    if (!strcmp(sev, "warning")) return 6;
    if (!strcmp(sev, "info")) return 3;
    return 0;
}

int alert_syslog_severity(const char *sev)
{
    if (sev && !strcmp(sev, "critical")) return 2;
    if (sev && !strcmp(sev, "warning")) return 4;
    return 6;
}

int alert_syslog_facility(const char *s)
{
    static const char *const names[24] = {
        "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
        "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
        "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};
    if (!s || !s[0]) return -1;
    if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 2) {
        int n = 0;
        for (const char *p = s; *p; p++) {
            if (*p < '0' || *p > '9') return -1;
            n = n * 10 + (*p - '0');
        }
        return n <= 23 ? n : -1;
    }
    for (int i = 0; i < 24; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Length of the UTF-8 sequence at s (1 for a lone or invalid byte, replaced by '?'). */
static size_t utf8_seq(const unsigned char *s, bool *valid)
{
    size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (s[0] >= 0xF5) n = 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) n = 0;
    *valid = n > 0;
    return n ? n : 1;
}

size_t alert_cef_escape(const char *in, alert_cef_field f, char *out, size_t cap, bool *all)
{
    size_t w = 0;
    bool fitted = true;
    if (!cap) {
        if (all) *all = !in || !in[0];
        return 0;
    }
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    while (*s) {
        char rep[4];
        size_t rn = 0, adv = 1;
        unsigned char c = *s;
        if (c >= 0x80) {
            bool valid;
            adv = utf8_seq(s, &valid);
            if (valid) {
                memcpy(rep, s, adv);
                rn = adv;
            } else {
                rep[rn++] = '?';
            }
        } else if (c == '\\' || (f == ALERT_CEF_HEADER && c == '|') ||
                   (f == ALERT_CEF_EXT && c == '=')) {
            rep[rn++] = '\\';
            rep[rn++] = (char)c;
        } else if (f == ALERT_CEF_EXT && (c == '\n' || c == '\r')) {
            rep[rn++] = '\\';
            rep[rn++] = c == '\n' ? 'n' : 'r';
        } else if (c < 0x20 || c == 0x7F) {
            rep[rn++] = ' ';
        } else {
            rep[rn++] = (char)c;
        }
        if (w + rn > cap - 1) {
            fitted = false;
            break;
        }
        memcpy(out + w, rep, rn);
        w += rn;
        s += adv;
    }
    out[w] = '\0';
    if (all) *all = fitted;
    return w;
}

typedef struct {
    char *out;
    size_t len, max; /* out has max + 1 bytes */
    bool first;      /* no extension field written yet */
} cefb;

static bool put(cefb *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n > b->max) return false;
    memcpy(b->out + b->len, s, n + 1);
    b->len += n;
    return true;
}

/* Printable US-ASCII without spaces (RFC 5424 header fields), at most max chars, or "-". */
static void header_token(const char *in, size_t max, char *out)
{
    size_t n = 0;
    for (const char *p = in ? in : ""; *p && n < max; p++)
        out[n++] = *p > 32 && *p < 127 ? *p : '_';
    if (!n) out[n++] = '-';
    out[n] = '\0';
}

/* One extension field "key=value" (with "labelKey=label " before it when label_key is set);
 * left out whole when it does not fit, unless shorten (then the value is cut, marked "..."). */
static void ext(cefb *b, const char *key, const char *value, const char *label_key,
                const char *label, bool shorten)
{
    if (!value || !value[0]) return;
    char pre[96]; /* labels are fixed ASCII words: no escaping needed */
    if (label_key)
        snprintf(pre, sizeof pre, "%s%s=%s %s=", b->first ? "" : " ", label_key, label, key);
    else
        snprintf(pre, sizeof pre, "%s%s=", b->first ? "" : " ", key);
    size_t plen = strlen(pre);
    if (b->len + plen >= b->max) return;
    size_t room = b->max - b->len - plen; /* value bytes available */
    char val[2048];
    if (room > sizeof val - 1) room = sizeof val - 1;
    bool all;
    alert_cef_escape(value, ALERT_CEF_EXT, val, room + 1, &all);
    if (!all) {
        if (!shorten || room < 19) return;
        /* the escaper never cuts an escape or a UTF-8 sequence */
        size_t vn = alert_cef_escape(value, ALERT_CEF_EXT, val, room - 3 + 1, NULL);
        memcpy(val + vn, "...", 4);
    }
    put(b, pre);
    put(b, val);
    b->first = false;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void num_text(const cJSON *o, const char *k, char out[40])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    out[0] = '\0';
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) snprintf(out, 40, "%.15g", v->valuedouble);
}

static void time_text(const cJSON *o, const char *k, char out[40])
{
    const char *t = str(o, k);
    int64_t ms;
    out[0] = '\0';
    if (t && util_parse_rfc3339(t, strlen(t), &ms) == 0) snprintf(out, 40, "%lld", (long long)ms);
}

size_t alert_syslog_format(const cJSON *p, const alert_syslog_opts *o, char *out)
{
    cefb b = {out, 0, o->max_bytes < ALERT_SYSLOG_MIN_BYTES ? ALERT_SYSLOG_MIN_BYTES : o->max_bytes,
              true};
    out[0] = '\0';
    const char *sev = str(p, "severity");
    const char *kind = str(p, "kind");
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(p, "device");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(an, "details");
    char ts[32], host[65], msgid[33], head[200];
    util_rfc3339(o->now_ms, ts);
    header_token(o->hostname, 64, host);
    header_token(kind, 32, msgid);
    int fac = o->facility >= 0 && o->facility <= 23 ? o->facility : 16;
    snprintf(head, sizeof head, "<%d>1 %s %s iotad - %s - CEF:0|iotad|iotad|1|",
             fac * 8 + alert_syslog_severity(sev), ts, host, msgid);
    put(&b, head);
    /* signature id = the alert kind, name = the summary (cut to leave room for the rest) */
    char field[256];
    alert_cef_escape(kind ? kind : "alert", ALERT_CEF_HEADER, field, 33, NULL);
    put(&b, field);
    put(&b, "|");
    size_t room = b.max - b.len; /* >= 270: the name gets a third, up to 200 bytes */
    size_t name_cap = room / 3 < 201 ? room / 3 : 201;
    alert_cef_escape(str(p, "summary") ? str(p, "summary") : "iotad alert", ALERT_CEF_HEADER, field,
                     name_cap, NULL);
    put(&b, field);
    snprintf(field, sizeof field, "|%d|", alert_cef_severity(sev));
    put(&b, field);
    char value[40], lo[40], hi[40], rt[40], start[40], cnt[40];
    num_text(det, "value", value);
    num_text(det, "expected_lo", lo);
    num_text(det, "expected_hi", hi);
    num_text(p, "count", cnt);
    time_text(p, "created_at", rt);
    time_text(an, "detected_at", start);
    const char *link = str(an, "url") ? str(an, "url") : str(p, "url");
    ext(&b, "externalId", str(p, "id"), NULL, NULL, false);
    ext(&b, "cs1", str(an, "id"), "cs1Label", "anomalyId", false);
    ext(&b, "cs2", str(dev, "name"), "cs2Label", "deviceName", false);
    ext(&b, "cs3", str(an, "metric"), "cs3Label", "metric", false);
    ext(&b, "cfp1", value, "cfp1Label", "value", false);
    ext(&b, "request", link, NULL, NULL, false);
    ext(&b, "cs4", str(dev, "id"), "cs4Label", "deviceId", false);
    ext(&b, "cat", kind, NULL, NULL, false);
    ext(&b, "cnt", cnt, NULL, NULL, false);
    ext(&b, "rt", rt, NULL, NULL, false);
    ext(&b, "start", start, NULL, NULL, false);
    ext(&b, "cs5", str(dev, "type"), "cs5Label", "deviceType", false);
    ext(&b, "cs6", str(dev, "location"), "cs6Label", "location", false);
    ext(&b, "cfp2", lo, "cfp2Label", "expectedLow", false);
    ext(&b, "cfp3", hi, "cfp3Label", "expectedHigh", false);
    ext(&b, "msg", str(an, "description") ? str(an, "description") : str(p, "summary"), NULL, NULL,
        true);
    return b.len;
}
