/* See template.h. Single pass over the template with explicit bounds; nothing is written
 * past cap and the output is NUL-terminated on every path. */
#include "alert/template.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos + n + 1 > cap) return -1;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return 0;
}

int alert_escape_append(const char *s, alert_escape esc, char *out, size_t cap, size_t *pos)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char buf[8];
        size_t n = 0;
        unsigned char c = *p;
        if (esc == ALERT_ESC_FORM) {
            if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
                buf[n++] = (char)c;
            } else if (c == ' ') {
                buf[n++] = '+';
            } else {
                buf[n++] = '%';
                buf[n++] = hex[c >> 4];
                buf[n++] = hex[c & 15];
            }
        } else if (esc == ALERT_ESC_JSON) {
            if (c == '"' || c == '\\') {
                buf[n++] = '\\';
                buf[n++] = (char)c;
            } else if (c < 0x20) {
                n = (size_t)snprintf(buf, sizeof buf, "\\u%04x", c);
            } else {
                buf[n++] = (char)c;
            }
        } else {
            buf[n++] = (char)c;
        }
        if (put(out, cap, pos, buf, n) != 0) return -1;
    }
    return 0;
}

int alert_template_render(const char *tmpl, size_t len, alert_var_fn fn, void *arg,
                          alert_escape esc, char *out, size_t cap)
{
    size_t pos = 0;
    if (cap == 0) return ALERT_TPL_ETOOLONG;
    out[0] = '\0';
    for (size_t i = 0; i < len;) {
        char c = tmpl[i];
        if ((c == '{' || c == '}') && i + 1 < len && tmpl[i + 1] == c) {
            if (put(out, cap, &pos, &c, 1) != 0) return ALERT_TPL_ETOOLONG;
            i += 2;
            continue;
        }
        if (c == '}' || c == '\0') return ALERT_TPL_ESYNTAX; /* NUL: the output is a C string */
        if (c != '{') {
            if (put(out, cap, &pos, &c, 1) != 0) return ALERT_TPL_ETOOLONG;
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < len && (islower((unsigned char)tmpl[j]) || tmpl[j] == '_'))
            j++;
        if (j >= len || tmpl[j] != '}' || j == i + 1 || j - i - 1 > 32) return ALERT_TPL_ESYNTAX;
        const char *v = fn ? fn(arg, tmpl + i + 1, j - i - 1) : NULL;
        if (!v) return ALERT_TPL_EUNKNOWN;
        if (alert_escape_append(v, esc, out, cap, &pos) != 0) return ALERT_TPL_ETOOLONG;
        i = j + 1;
    }
    return (int)pos;
}

size_t alert_sms_fit(const char *in, char *out, size_t max)
{
    size_t n = 0;
    bool space = false, cut = false;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (isspace(*p)) {
            space = n > 0;
            continue;
        }
        size_t need = space ? 2 : 1;
        if (n + need > max) {
            cut = true;
            break;
        }
        if (space) out[n++] = ' ';
        space = false;
        out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
        /* skip UTF-8 continuation bytes: one '?' per character */
        while ((p[1] & 0xc0) == 0x80)
            p++;
    }
    out[n] = '\0';
    if (!cut || max < 3) return n;
    size_t keep = max - 3;
    if (n > keep) n = keep;
    size_t word = n;
    while (word > 0 && out[word] != ' ' && out[word - 1] != ' ')
        word--;
    if (word > keep / 2) n = word; /* cut at a word boundary unless it loses too much */
    while (n > 0 && out[n - 1] == ' ')
        n--;
    memcpy(out + n, "...", 3);
    n += 3;
    out[n] = '\0';
    return n;
}
