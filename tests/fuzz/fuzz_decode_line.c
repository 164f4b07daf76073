/* libFuzzer driver for the InfluxDB line protocol decoder (precision chosen by the input length).
 * Besides the sanitizers it checks the decoder's contract: all-or-nothing (a pre-existing point
 * survives, nothing is added on error), every produced point finite with a valid, unreserved metric
 * and an in-range time, and error messages that are non-empty printable ASCII; skipped_fields is 0
 * on error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode_json.h"
#include "ingest/decode_line.h"

#include "fuzz_check.h"

#define NOW INT64_C(1700000000000)

static void check_result(ingest_status st, const ingest_batch *b, const ingest_error *e,
                         size_t size)
{
    CHECK(b->n >= 1 && strcmp(b->v[0].metric, "pre") == 0 && b->v[0].value == 42.0);
    if (st != INGEST_OK) {
        CHECK(b->n == 1);
        CHECK(e->status == st);
        CHECK(e->offset <= size);
        CHECK(e->msg[0] != '\0');
        for (const char *p = e->msg; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
        return;
    }
    CHECK(b->n >= 1); /* lines with only string fields yield no point */
    CHECK(b->max == 0 || b->n <= b->max);
    for (size_t i = 1; i < b->n; i++) {
        const ingest_point *p = &b->v[i];
        CHECK(isfinite(p->value));
        CHECK(p->metric_len == strlen(p->metric));
        CHECK(ingest_metric_valid(p->metric, p->metric_len));
        CHECK(!ingest_metric_reserved(p->metric, p->metric_len));
        CHECK(p->ts_ms >= 0 && p->ts_ms <= INGEST_TS_MAX_MS);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_batch b;
    ingest_error e;
    memset(&e, 0, sizeof e);
    ingest_batch_init(&b, size % 3 == 0 ? 4 : 0); /* the max counts the "pre" point too */
    ingest_batch_push(&b, "pre", 3, 1, 42.0);
    size_t skipped = 7;
    ingest_status st = ingest_decode_line((const char *)data, size, (ingest_precision)(size % 4),
                                          NOW, &b, &e, &skipped);
    CHECK(st == INGEST_OK || skipped == 0);
    CHECK(st != INGEST_OK || b.n > 1 || skipped > 0);
    check_result(st, &b, &e, size);
    ingest_batch_free(&b);
    return 0;
}
