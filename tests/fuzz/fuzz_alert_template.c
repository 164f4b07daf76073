/* libFuzzer driver for the alert text parsers: the "{name}" template renderer (first line
 * of the input is the template, rendered with every escape mode into a small buffer), the SMS
 * fitter and the SSRF allow-list parser (the rest of the input). Checks that outputs stay
 * bounded and NUL-terminated. */
#include "alert/ssrf.h"
#include "alert/template.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *vars(void *arg, const char *name, size_t len)
{
    (void)arg;
    if (len == 2 && !memcmp(name, "to", 2)) return "+1 555&=%\"\\";
    if (len == 4 && !memcmp(name, "body", 4)) return "line\nbreak \x01 {x}";
    if (len == 4 && !memcmp(name, "from", 4)) return "";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - (const char *)data) : size;
    char out[96];
    for (int esc = ALERT_ESC_NONE; esc <= ALERT_ESC_JSON; esc++) {
        int n = alert_template_render((const char *)data, tlen, vars, NULL, (alert_escape)esc, out,
                                      sizeof out);
        assert(n < (int)sizeof out);
        if (n >= 0) assert(strlen(out) == (size_t)n);
    }
    char *rest = malloc(size - tlen + 1);
    if (!rest) return 0;
    memcpy(rest, data + tlen, size - tlen);
    rest[size - tlen] = '\0';
    char sms[161];
    size_t n = alert_sms_fit(rest, sms, 160);
    assert(n <= 160 && strlen(sms) == n);
    alert_allow allow;
    memset(&allow, 0, sizeof allow);
    alert_allow_parse(rest, &allow);
    assert(allow.n <= ALERT_ALLOW_MAX);
    free(rest);
    return 0;
}
