/* bus/batch: the cluster pipeline's message round-trips every point exactly, stays small for
 * regular telemetry, refuses malformed input of every kind, and the partition function is
 * stable (part of the wire contract between nodes of different versions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/batch.h"

static void set_point(ingest_point *p, const char *metric, int64_t ts, double v)
{
    snprintf(p->metric, sizeof p->metric, "%s", metric);
    p->metric_len = (uint16_t)strlen(metric);
    p->ts_ms = ts;
    p->value = v;
}

static void test_round_trip_is_exact_and_compact(void **state)
{
    (void)state;
    enum { N = 3000 };
    ingest_point *pts = calloc(N, sizeof *pts);
    const char *metrics[3] = {"temp", "hum", "power.w"};
    for (int i = 0; i < N; i++) {
        int k = i % 3;
        double v = k == 0 ? 21.5 + (i % 7) * 0.1 : k == 1 ? 40 + i % 5 : 1234.5678 + i;
        set_point(&pts[i], metrics[k], INT64_C(1700000000000) + (i / 3) * 1000, v);
    }
    /* values no decimal form holds exactly: raw doubles */
    set_point(&pts[1], "hum", pts[1].ts_ms, 1.0 / 3.0);
    set_point(&pts[2], "power.w", pts[2].ts_ms, -0.0);
    set_point(&pts[4], "hum", pts[4].ts_ms, 1e300);
    set_point(&pts[5], "power.w", pts[5].ts_ms - 5000, -2.5e-7); /* out of order in time */
    point_batch b = {"0190a6b2-7c1e-7a00-8000-000000000001", "thermostat", pts, N};
    uint8_t *enc;
    size_t len;
    assert_int_equal(bus_batch_encode(&b, 42, &enc, &len), 0);
    /* 1 s apart, 3 metrics, 1-4 decimals: a few bytes per point, not the 152 of a struct */
    assert_true(len < (size_t)N * 8);
    bus_batch d;
    assert_int_equal(bus_batch_decode(enc, len, &d), 0);
    assert_int_equal(d.msg_id, 42);
    assert_string_equal(d.device_id, b.device_id);
    assert_string_equal(d.device_type, "thermostat");
    assert_int_equal(d.n, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(d.points[i].ts_ms, pts[i].ts_ms);
        assert_memory_equal(&d.points[i].value, &pts[i].value, sizeof(double));
        assert_string_equal(d.points[i].metric, pts[i].metric);
        assert_int_equal(d.points[i].metric_len, pts[i].metric_len);
    }
    assert_true(signbit(d.points[2].value));
    bus_batch_free(&d);
    free(enc);
    free(pts);
}

static void test_encode_refuses_what_no_node_may_send(void **state)
{
    (void)state;
    ingest_point p;
    set_point(&p, "temp", 1, 1.0);
    uint8_t *enc;
    size_t len;
    point_batch b = {"dev", "", &p, 1};
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), 0);
    free(enc);
    b.n = 0;
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), -1); /* empty */
    b.n = 1;
    b.device_id = "";
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), -1);
    char long_id[BUS_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    b.device_id = long_id;
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), -1);
    b.device_id = "dev";
    p.value = NAN;
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), -1);
    p.value = 1;
    p.metric_len = 0;
    assert_int_equal(bus_batch_encode(&b, 1, &enc, &len), -1);
    assert_null(enc);
}

static void test_decode_refuses_malformed_input(void **state)
{
    (void)state;
    ingest_point p[2];
    set_point(&p[0], "a", 1000, 1.5);
    set_point(&p[1], "b", 2000, 0.1 + 0.2); /* raw */
    point_batch b = {"dev", "t", p, 2};
    uint8_t *enc;
    size_t len;
    assert_int_equal(bus_batch_encode(&b, 7, &enc, &len), 0);
    bus_batch d;
    /* every strict prefix is refused, and one byte more too */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(bus_batch_decode(enc, cut, &d), -1);
        assert_null(d.points);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 0;
    assert_int_equal(bus_batch_decode(longer, len + 1, &d), -1);
    /* a wrong version, a metric index out of range, an unknown value kind, a NaN */
    memcpy(longer, enc, len);
    longer[2] = 2;
    assert_int_equal(bus_batch_decode(longer, len, &d), -1);
    /* layout: IB 01 | msg 07 | 03 'dev' | 01 't' | 02 | 01 'a' | 01 'b' | 02 | point... */
    size_t first_point = 3 + 1 + 4 + 2 + 1 + 2 + 2 + 1;
    memcpy(longer, enc, len);
    longer[first_point] = 5; /* metric index 5 of 2 */
    assert_int_equal(bus_batch_decode(longer, len, &d), -1);
    memcpy(longer, enc, len);
    longer[first_point + 3] = 9; /* value kind 9 (after index, ts delta of 2 bytes) */
    assert_int_equal(bus_batch_decode(longer, len, &d), -1);
    memcpy(longer, enc, len);
    size_t raw = len - 8; /* the second point's raw double is the last 8 bytes */
    uint64_t nan_bits = UINT64_C(0x7ff8000000000000);
    for (int q = 0; q < 8; q++)
        longer[raw + (size_t)q] = (uint8_t)(nan_bits >> (8 * q));
    assert_int_equal(bus_batch_decode(longer, len, &d), -1);
    /* and the unchanged message still decodes */
    assert_int_equal(bus_batch_decode(enc, len, &d), 0);
    assert_int_equal(d.n, 2);
    bus_batch_free(&d);
    free(longer);
    free(enc);

    /* a count the input cannot hold is refused before allocating for it */
    const uint8_t huge[] = {'I', 'B', 1, 0, 1, 'd', 0, 1, 1, 'm', 0xa0, 0x8d, 0x06};
    assert_int_equal(bus_batch_decode(huge, sizeof huge, &d), -1);
}

/* A message of several batches gives them back in order; a bare batch reads as a message of
 * one; a message with any bad part, a wrong count or trailing bytes is refused whole. */
static void test_messages_carry_several_batches(void **state)
{
    (void)state;
    enum { B = 5 };
    uint8_t *enc[B];
    size_t lens[B];
    char ids[B][16];
    for (int i = 0; i < B; i++) {
        ingest_point p[2];
        set_point(&p[0], "temp", 1000 + i, 20.5 + i);
        set_point(&p[1], "hum", 1000 + i, 40 + i);
        snprintf(ids[i], sizeof ids[i], "dev-%d", i);
        point_batch b = {ids[i], "t", p, i % 2 + 1};
        assert_int_equal(bus_batch_encode(&b, (uint64_t)i + 1, &enc[i], &lens[i]), 0);
    }
    uint8_t *m;
    size_t mlen;
    assert_int_equal(bus_msg_encode((const uint8_t *const *)enc, lens, B, &m, &mlen), 0);
    bus_msg d;
    assert_int_equal(bus_msg_decode(m, mlen, &d), 0);
    assert_int_equal(d.n, B);
    for (int i = 0; i < B; i++) {
        assert_string_equal(d.batches[i].device_id, ids[i]);
        assert_int_equal(d.batches[i].msg_id, i + 1);
        assert_int_equal(d.batches[i].n, i % 2 + 1);
        assert_true(d.batches[i].points[0].value == 20.5 + i);
    }
    bus_msg_free(&d);
    assert_null(d.batches);
    /* a bare batch */
    assert_int_equal(bus_msg_decode(enc[1], lens[1], &d), 0);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.batches[0].device_id, "dev-1");
    assert_int_equal(d.batches[0].n, 2);
    bus_msg_free(&d);
    /* every strict prefix is refused, and one byte more */
    for (size_t cut = 0; cut < mlen; cut++) {
        assert_int_equal(bus_msg_decode(m, cut, &d), -1);
        assert_null(d.batches);
        assert_int_equal(d.n, 0);
    }
    uint8_t *bad = malloc(mlen + 1);
    memcpy(bad, m, mlen);
    bad[mlen] = 0;
    assert_int_equal(bus_msg_decode(bad, mlen + 1, &d), -1);
    /* a count one too high or zero; a wrong version; a bad byte in the last batch */
    memcpy(bad, m, mlen);
    bad[3] = B + 1;
    assert_int_equal(bus_msg_decode(bad, mlen, &d), -1);
    bad[3] = 0;
    assert_int_equal(bus_msg_decode(bad, mlen, &d), -1);
    memcpy(bad, m, mlen);
    bad[2] = 2;
    assert_int_equal(bus_msg_decode(bad, mlen, &d), -1);
    memcpy(bad, m, mlen);
    bad[mlen - lens[B - 1] + 2] = 9; /* the last batch's version byte */
    assert_int_equal(bus_msg_decode(bad, mlen, &d), -1);
    assert_null(d.batches);
    free(bad);
    /* no batches, or more than a message may hold */
    uint8_t *none;
    assert_int_equal(bus_msg_encode((const uint8_t *const *)enc, lens, 0, &none, &mlen), -1);
    assert_int_equal(
        bus_msg_encode((const uint8_t *const *)enc, lens, BUS_MSG_MAX_BATCHES + 1, &none, &mlen),
        -1);
    assert_null(none);
    for (int i = 0; i < B; i++)
        free(enc[i]);
    free(m);
}

static void test_partition_is_stable_and_spread(void **state)
{
    (void)state;
    /* fixed values: changing the function would move every device between nodes of two
     * versions */
    assert_int_equal(bus_partition("", 32), (uint32_t)(UINT64_C(1469598103934665603) % 32));
    assert_int_equal(bus_partition("a", 1), 0);
    uint32_t first = bus_partition("0190a6b2-7c1e-7a00-8000-000000000001", 32);
    assert_int_equal(bus_partition("0190a6b2-7c1e-7a00-8000-000000000001", 32), first);
    enum { P = 32, DEVICES = 32000 };
    int count[P] = {0};
    for (int i = 0; i < DEVICES; i++) {
        char id[64];
        snprintf(id, sizeof id, "0190a6b2-7c1e-7a00-8000-%012d", i);
        uint32_t p = bus_partition(id, P);
        assert_true(p < P);
        count[p]++;
    }
    for (int p = 0; p < P; p++) /* 1000 expected each; well within +-20 % */
        assert_true(count[p] > 800 && count[p] < 1200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_exact_and_compact),
        cmocka_unit_test(test_encode_refuses_what_no_node_may_send),
        cmocka_unit_test(test_decode_refuses_malformed_input),
        cmocka_unit_test(test_messages_carry_several_batches),
        cmocka_unit_test(test_partition_is_stable_and_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
