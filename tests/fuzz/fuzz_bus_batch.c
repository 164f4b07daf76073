/* libFuzzer driver for the cluster pipeline's batch message (bus/batch.h). Decoding any input
 * must stay in bounds; what decodes is a valid batch (ids and metric names within their
 * limits, finite values), encodes again, and decodes to the same points bit for bit. */
#include "bus/batch.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bus_batch b;
    if (bus_batch_decode(data, size, &b) != 0) {
        CHECK(b.points == NULL && b.n == 0);
        return 0;
    }
    CHECK(b.n >= 1 && b.n <= BUS_BATCH_MAX_POINTS);
    CHECK(b.device_id[0] != '\0' && strlen(b.device_id) <= BUS_ID_MAX);
    CHECK(strlen(b.device_type) <= BUS_ID_MAX);
    for (size_t i = 0; i < b.n; i++) {
        CHECK(isfinite(b.points[i].value));
        CHECK(b.points[i].metric_len >= 1 && b.points[i].metric_len <= INGEST_METRIC_MAX);
        CHECK(strlen(b.points[i].metric) == b.points[i].metric_len);
    }
    point_batch pb = {b.device_id, b.device_type, b.points, b.n};
    uint8_t *enc = NULL;
    size_t len = 0;
    CHECK(bus_batch_encode(&pb, b.msg_id, &enc, &len) == 0);
    bus_batch again;
    CHECK(bus_batch_decode(enc, len, &again) == 0);
    CHECK(again.msg_id == b.msg_id && again.n == b.n);
    CHECK(strcmp(again.device_id, b.device_id) == 0);
    CHECK(strcmp(again.device_type, b.device_type) == 0);
    for (size_t i = 0; i < b.n; i++) {
        CHECK(again.points[i].ts_ms == b.points[i].ts_ms);
        CHECK(memcmp(&again.points[i].value, &b.points[i].value, sizeof(double)) == 0);
        CHECK(strcmp(again.points[i].metric, b.points[i].metric) == 0);
    }
    free(enc);
    bus_batch_free(&again);
    bus_batch_free(&b);
    return 0;
}
