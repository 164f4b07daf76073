/* Message texts of an alert, from its payload: a subject line, a plain-text and an HTML body
 * with the anomaly's explanation (what was measured, what was expected, which detectors or
 * rule fired) and a link to it in the dashboard, and a one-SMS summary. */
#include "alert/channel.h"
#include "alert/template.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        if (!b->buf) {
            b->cap = 1024;
            b->buf = malloc(b->cap);
            if (!b->buf) return;
            b->buf[0] = '\0';
        }
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *g = realloc(b->buf, b->cap * 2);
        if (!g) return;
        b->buf = g;
        b->cap *= 2;
    }
}

/* HTML-escapes s into b. */
static void sb_html(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            sb_printf(b, "&lt;");
            break;
        case '>':
            sb_printf(b, "&gt;");
            break;
        case '&':
            sb_printf(b, "&amp;");
            break;
        case '"':
            sb_printf(b, "&quot;");
            break;
        case '\'':
            sb_printf(b, "&#39;");
            break;
        default:
            sb_printf(b, "%c", *s);
        }
    }
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static void upper(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
    out[i] = '\0';
}

static const char *kind_prefix(const cJSON *p)
{
    const char *k = str(p, "kind");
    if (!strcmp(k, "escalation")) return "ESCALATED ";
    if (!strcmp(k, "flapping")) return "FLAPPING ";
    if (!strcmp(k, "test")) return "TEST ";
    return "";
}

char *alert_msg_subject(const cJSON *p)
{
    sbuf b = {0};
    char sev[16];
    upper(str(p, "severity"), sev, sizeof sev);
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(p, "device");
    int count = (int)num(p, "count", 1);
    if (!an) {
        sb_printf(&b, "[iotad] %s%s", kind_prefix(p), str(p, "summary"));
    } else if (count > 1) {
        sb_printf(&b, "[iotad] %s%s: %d anomalies, first on %s %s", kind_prefix(p), sev, count,
                  str(dev, "name"), str(an, "metric"));
    } else {
        sb_printf(&b, "[iotad] %s%s: %s %s - %s", kind_prefix(p), sev, str(dev, "name"),
                  str(an, "metric"), str(an, "description"));
    }
    if (b.buf && b.len > 200) memcpy(b.buf + 197, "...", 4);
    return b.buf;
}

/* The explanation: measured value, expected range, source (rule or detectors) and scores. */
static void explain(sbuf *b, const cJSON *an, bool html)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(an, "details");
    double v = num(d, "value", NAN), lo = num(d, "expected_lo", NAN),
           hi = num(d, "expected_hi", NAN);
    if (isfinite(v))
        sb_printf(b, "%sMeasured value: %g%s", html ? "<li>" : "  - ", v, html ? "</li>" : "\n");
    if (isfinite(lo) || isfinite(hi)) {
        char los[32] = "-inf", his[32] = "+inf";
        if (isfinite(lo)) snprintf(los, sizeof los, "%g", lo);
        if (isfinite(hi)) snprintf(his, sizeof his, "%g", hi);
        sb_printf(b, "%sExpected range: %s .. %s%s", html ? "<li>" : "  - ", los, his,
                  html ? "</li>" : "\n");
    }
    const char *src = str(d, "source");
    if (!strcmp(src, "rule")) {
        sb_printf(b, "%sRaised by threshold rule %g%s", html ? "<li>" : "  - ",
                  num(d, "rule_id", 0), html ? "</li>" : "\n");
    } else {
        const cJSON *dets = cJSON_GetObjectItemCaseSensitive(d, "detectors"), *x;
        cJSON_ArrayForEach(x, dets)
        {
            sb_printf(b, "%sDetector %s", html ? "<li>" : "  - ", "");
            if (html)
                sb_html(b, str(x, "name"));
            else
                sb_printf(b, "%s", str(x, "name"));
            sb_printf(b, " score %.3f%s", num(x, "score", 0), html ? "</li>" : "\n");
        }
    }
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, "score")))
        sb_printf(b, "%sAnomaly score: %.3f%s", html ? "<li>" : "  - ", num(d, "score", 0),
                  html ? "</li>" : "\n");
}

char *alert_msg_text(const cJSON *p)
{
    sbuf b = {0};
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(p, "device");
    char sev[16];
    upper(str(p, "severity"), sev, sizeof sev);
    sb_printf(&b, "%s%s alert from iotad\n\n", kind_prefix(p), sev);
    if (!an) {
        sb_printf(&b, "%s\n", str(p, "summary"));
        return b.buf;
    }
    int count = (int)num(p, "count", 1);
    if (count > 1) sb_printf(&b, "%d anomalies were grouped into this message.\n\n", count);
    if (!strcmp(str(p, "kind"), "flapping"))
        sb_printf(&b, "This series keeps flipping between anomalous and normal; further episodes "
                      "will not be notified while it flaps.\n\n");
    if (!strcmp(str(p, "kind"), "escalation"))
        sb_printf(&b, "This critical anomaly was not acknowledged in time and is escalated to "
                      "you.\n\n");
    sb_printf(&b, "Device:   %s (%s, type %s)\nMetric:   %s\nSeverity: %s\nDetected: %s\n\n%s\n\n",
              str(dev, "name"), str(dev, "id"), str(dev, "type"), str(an, "metric"),
              str(an, "severity"), str(an, "detected_at"), str(an, "description"));
    sb_printf(&b, "Why:\n");
    explain(&b, an, false);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "anomalies"), *x;
    if (count > 1) {
        sb_printf(&b, "\nAnomalies in this group:\n");
        cJSON_ArrayForEach(x, list)
            sb_printf(&b, "  - %s %s %s: %s\n", str(x, "detected_at"), str(x, "device_name"),
                      str(x, "metric"), str(x, "description"));
        if (count > cJSON_GetArraySize(list))
            sb_printf(&b, "  ... and %d more\n", count - cJSON_GetArraySize(list));
    }
    sb_printf(&b, "\nOpen in the dashboard: %s\n", str(p, "url"));
    return b.buf;
}

char *alert_msg_html(const cJSON *p)
{
    sbuf b = {0};
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(p, "device");
    char sev[16];
    upper(str(p, "severity"), sev, sizeof sev);
    sb_printf(&b,
              "<!doctype html><html><body style=\"font-family:sans-serif\">\n<h2>%s%s alert "
              "from iotad</h2>\n",
              kind_prefix(p), sev);
    if (!an) {
        sb_printf(&b, "<p>");
        sb_html(&b, str(p, "summary"));
        sb_printf(&b, "</p></body></html>\n");
        return b.buf;
    }
    int count = (int)num(p, "count", 1);
    if (count > 1)
        sb_printf(&b, "<p><b>%d anomalies</b> were grouped into this message.</p>\n", count);
    sb_printf(&b, "<table>\n<tr><td>Device</td><td>");
    sb_html(&b, str(dev, "name"));
    sb_printf(&b, "</td></tr>\n<tr><td>Metric</td><td>");
    sb_html(&b, str(an, "metric"));
    sb_printf(&b,
              "</td></tr>\n<tr><td>Severity</td><td>%s</td></tr>\n<tr><td>Detected</td><td>%s"
              "</td></tr>\n</table>\n<p>",
              sev, str(an, "detected_at"));
    sb_html(&b, str(an, "description"));
    sb_printf(&b, "</p>\n<ul>\n");
    explain(&b, an, true);
    sb_printf(&b, "\n</ul>\n<p><a href=\"");
    sb_html(&b, str(p, "url"));
    sb_printf(&b, "\">Open in the dashboard</a></p>\n</body></html>\n");
    return b.buf;
}

void alert_msg_sms(const cJSON *p, char *out, size_t max)
{
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(p, "device");
    char sev[16], text[512];
    upper(str(p, "severity"), sev, sizeof sev);
    int count = (int)num(p, "count", 1);
    if (!an)
        snprintf(text, sizeof text, "iotad %s%s", kind_prefix(p), str(p, "summary"));
    else if (count > 1)
        snprintf(text, sizeof text, "iotad %s%s: %d anomalies, first %s %s: %s", kind_prefix(p),
                 sev, count, str(dev, "name"), str(an, "metric"), str(an, "description"));
    else
        snprintf(text, sizeof text, "iotad %s%s %s %s: %s", kind_prefix(p), sev, str(dev, "name"),
                 str(an, "metric"), str(an, "description"));
    const char *url = str(p, "url");
    size_t ulen = strlen(url);
    if (an && ulen > 0 && ulen + 1 + 40 <= max) { /* keep the link when it leaves room */
        size_t n = alert_sms_fit(text, out, max - ulen - 1);
        snprintf(out + n, max + 1 - n, " %s", url);
    } else {
        alert_sms_fit(text, out, max);
    }
}
