/* libFuzzer driver for the JSON log formatter: the first line of the input is the event
 * name, the rest the key=value text (values can hold anything a device sends). Every output
 * must be one complete JSON object in valid UTF-8 ending in a newline, in a large and a
 * small buffer. */
#include "core/log.h"
#include "core/utf8.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4000) return 0;
    char *in = malloc(size + 1);
    if (!in) return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = strchr(in, '\n');
    const char *msg = "event", *kv = in;
    if (nl) {
        *nl = '\0';
        msg = in;
        kv = nl + 1;
    }
    static const size_t caps[] = {64, 300, 6144};
    char out[6144];
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t n =
            log_format_event(out, caps[i], LOG_FORMAT_JSON, LOG_INFO, 1767225600000LL, msg, kv);
        assert(n > 0 && n <= caps[i] && out[n - 1] == '\n');
        assert(memchr(out, '\n', n - 1) == NULL);
        assert(utf8_valid((const uint8_t *)out, n, false));
        cJSON *o = cJSON_ParseWithLength(out, n);
        assert(o && cJSON_IsObject(o));
        cJSON_Delete(o);
    }
    free(in);
    return 0;
}
