/* libFuzzer driver for bridge mode's parsers: the device id a bridged topic names (the topic
 * comes from a broker iotad does not control) under several filters, and the bridge_url parser.
 * Invariants: a match returns the id's length, NUL-terminated, without '/', fitting the
 * buffer, and the topic is the filter with the id in place of '+'; a refused URL has a
 * message; an accepted one a host and a port in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/bridge.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const filters[] = {"devices/+/telemetry", "+/up", "site/a/+", "+"};
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
        char id[40];
        memset(id, 'x', sizeof id);
        int n = bridge_topic_device(filters[f], (const char *)data, size, id, sizeof id);
        if (n < 0) continue;
        CHECK(n > 0 && (size_t)n < sizeof id && id[n] == '\0' && strlen(id) == (size_t)n);
        CHECK(!strchr(id, '/'));
        const char *plus = strchr(filters[f], '+');
        size_t pre = (size_t)(plus - filters[f]), post = strlen(plus + 1);
        CHECK(pre + (size_t)n + post == size);
        CHECK(memcmp(data, filters[f], pre) == 0 && memcmp(data + pre, id, (size_t)n) == 0);
        CHECK(memcmp(data + pre + (size_t)n, plus + 1, post) == 0);
    }
    char url[512];
    size_t n = size < sizeof url - 1 ? size : sizeof url - 1;
    memcpy(url, data, n);
    url[n] = '\0';
    bridge_endpoint ep;
    char err[300] = "";
    if (bridge_parse_url(url, &ep, err, sizeof err) == 0) {
        CHECK(ep.host[0] != '\0' && ep.port >= 1 && ep.port <= 65535);
    } else {
        CHECK(err[0] != '\0');
    }
    if (bridge_check_filter(url, err, sizeof err) != 0) CHECK(err[0] != '\0');
    return 0;
}
