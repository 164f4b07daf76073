/* Message text for alert channels: a tiny "{name}" template renderer (SMS gateway bodies,
 * configurable by Admins, so it is parsed defensively and fuzzed), value escaping for the
 * form / JSON bodies those templates produce, and fitting a text into one SMS. */
#ifndef IOTAD_ALERT_TEMPLATE_H
#define IOTAD_ALERT_TEMPLATE_H

#include <stddef.h>

typedef enum { ALERT_ESC_NONE, ALERT_ESC_FORM, ALERT_ESC_JSON } alert_escape;

/* Looks a placeholder up: its value, or NULL when the name is unknown. */
typedef const char *(*alert_var_fn)(void *arg, const char *name, size_t len);

#define ALERT_TPL_EUNKNOWN (-1) /* unknown placeholder name */
#define ALERT_TPL_ESYNTAX (-2)  /* unterminated or malformed "{...}", or a NUL byte */
#define ALERT_TPL_ETOOLONG (-3) /* output does not fit in cap */

/* Renders tmpl[0..len) into out (always NUL-terminated when cap > 0): "{name}" is replaced
 * by the escaped value, "{{" and "}}" are literal braces. Returns the output length or one
 * of the ALERT_TPL_E* errors. */
int alert_template_render(const char *tmpl, size_t len, alert_var_fn fn, void *arg,
                          alert_escape esc, char *out, size_t cap);
/* Appends s escaped into out at *pos; -1 when it does not fit. */
int alert_escape_append(const char *s, alert_escape esc, char *out, size_t cap, size_t *pos);
/* Fits text into at most max bytes of printable ASCII (the GSM-7 subset every gateway
 * accepts): other bytes become '?', runs of whitespace one space, and a longer text is cut
 * at a word boundary and ends with "...". Returns the output length (out has max+1 bytes). */
size_t alert_sms_fit(const char *in, char *out, size_t max);

#endif
