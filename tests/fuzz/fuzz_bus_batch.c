/* libFuzzer driver for the cluster pipeline's batch message and the partition message that
 * carries several (bus/batch.h). Decoding any input must stay in bounds; what decodes is a
 * valid batch (ids and metric names within their limits, finite values), encodes again, and
 * decodes to the same points bit for bit; a message, likewise for each of its batches. */
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

/* A partition message (bus_msg_decode): what decodes holds 1..BUS_MSG_MAX_BATCHES valid
 * batches, and the message made again from them decodes to the same. */
static void check_msg(const uint8_t *data, size_t size)
{
    bus_msg m;
    if (bus_msg_decode(data, size, &m) != 0) {
        CHECK(m.batches == NULL && m.n == 0);
        return;
    }
    CHECK(m.n >= 1 && m.n <= BUS_MSG_MAX_BATCHES);
    const uint8_t **parts = calloc(m.n, sizeof *parts);
    size_t *lens = calloc(m.n, sizeof *lens);
    CHECK(parts && lens);
    for (size_t i = 0; i < m.n; i++) {
        bus_batch *b = &m.batches[i];
        CHECK(b->n >= 1 && b->n <= BUS_BATCH_MAX_POINTS && b->device_id[0] != '\0');
        point_batch pb = {b->device_id, b->device_type, b->points, b->n};
        uint8_t *enc;
        CHECK(bus_batch_encode(&pb, b->msg_id, &enc, &lens[i]) == 0);
        parts[i] = enc;
    }
    uint8_t *enc;
    size_t len;
    CHECK(bus_msg_encode(parts, lens, m.n, &enc, &len) == 0);
    bus_msg again;
    CHECK(bus_msg_decode(enc, len, &again) == 0);
    CHECK(again.n == m.n);
    for (size_t i = 0; i < m.n; i++) {
        CHECK(strcmp(again.batches[i].device_id, m.batches[i].device_id) == 0);
        CHECK(again.batches[i].n == m.batches[i].n);
        for (size_t j = 0; j < again.batches[i].n; j++)
            CHECK(memcmp(&again.batches[i].points[j].value, &m.batches[i].points[j].value,
                         sizeof(double)) == 0);
        free((void *)parts[i]);
    }
    free(enc);
    free(parts);
    free(lens);
    bus_msg_free(&again);
    bus_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_msg(data, size);
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
