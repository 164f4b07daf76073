/* libFuzzer driver for the syslog channel's message (alert/cef.c). The input is either an
 * alert payload (JSON) or, split at NUL bytes, the values of its text fields (device name,
 * metric, description, summary, kind, hostname). Checks what a SIEM relies on: the message
 * fits max_bytes and holds no CR, LF or NUL; the syslog header has its seven space-free
 * fields; the CEF header has exactly seven unescaped '|';
 * in the extension every backslash starts one of \\ \= \n \r, and every unescaped '=' follows
 * an alphanumeric key after a space; escaping alone round-trips. */
#include "alert/cef.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_message(const char *m, size_t n, size_t max)
{
    assert(strlen(m) == n && n <= max);
    assert(!memchr(m, '\n', n) && !memchr(m, '\r', n));
    /* "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - ": seven tokens without spaces */
    const char *p = m;
    for (int sp = 0; sp < 7; p++) {
        assert(*p);
        if (*p == ' ') sp++;
    }
    assert(!strncmp(p, "CEF:0|", 6));
    p += 6;
    int bars = 1; /* "CEF:0|" */
    while (*p && bars < 7) {
        if (*p == '\\') {
            assert(p[1] == '\\' || p[1] == '|');
            p += 2;
            continue;
        }
        if (*p == '|') bars++;
        p++;
    }
    assert(bars == 7);
    const char *ext = p;
    for (; *p; p++) {
        if (*p == '\\') {
            assert(p[1] == '\\' || p[1] == '=' || p[1] == 'n' || p[1] == 'r');
            p++;
        } else if (*p == '=') {
            const char *k = p;
            while (k > ext && k[-1] != ' ')
                k--;
            assert(k < p);
            for (const char *c = k; c < p; c++)
                assert((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                       (*c >= '0' && *c <= '9'));
            assert(k == ext || k[-1] == ' ');
        }
    }
}

/* Unescapes an extension value; returns its length. */
static size_t unescape(const char *in, char *out)
{
    size_t n = 0;
    for (; *in; in++) {
        if (*in == '\\') {
            in++;
            out[n++] = *in == 'n' ? '\n' : *in == 'r' ? '\r' : *in;
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cJSON *p = cJSON_ParseWithLength(text, size);
    const char *host = "iotad";
    if (!p) { /* fields from the NUL-separated pieces */
        const char *f[6] = {"", "", "", "", "", ""};
        const char *s = text;
        for (int i = 0; i < 6 && s <= text + size; i++) {
            f[i] = s;
            s += strlen(s) + 1;
        }
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "id", "01a0");
        cJSON_AddStringToObject(p, "kind", f[4]);
        cJSON_AddStringToObject(p, "severity", "warning");
        cJSON_AddStringToObject(p, "summary", f[3]);
        cJSON *dev = cJSON_AddObjectToObject(p, "device");
        cJSON_AddStringToObject(dev, "name", f[0]);
        cJSON *an = cJSON_AddObjectToObject(p, "anomaly");
        cJSON_AddStringToObject(an, "metric", f[1]);
        cJSON_AddStringToObject(an, "description", f[2]);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(an, "details"), "value", (double)size);
        host = f[5];
    }
    size_t maxes[3] = {ALERT_SYSLOG_MIN_BYTES, 1000, 8192};
    char *out = malloc(8192 + 1);
    for (int i = 0; out && i < 3; i++) {
        alert_syslog_opts o = {(int)(size % 30) - 3, host, (int64_t)size * 1000, maxes[i]};
        size_t n = alert_syslog_format(p, &o, out);
        check_message(out, n, maxes[i]);
    }
    /* escaping round-trips when everything fitted and the text is clean */
    char esc[2 * 8192 + 1], back[8192 + 1];
    bool all;
    alert_cef_escape(text, ALERT_CEF_EXT, esc, sizeof esc, &all);
    assert(all);
    size_t bn = unescape(esc, back);
    bool clean = true;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if ((*c < 0x20 && *c != '\n' && *c != '\r') || *c >= 0x7F) clean = false;
    if (clean) assert(bn == strlen(text) && !memcmp(back, text, bn));
    free(out);
    cJSON_Delete(p);
    free(text);
    return 0;
}
