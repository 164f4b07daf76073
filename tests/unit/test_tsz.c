/* Unit tests for the tsz chunk codec: bit-exact round trips on every kind of series, size
 * on regular telemetry, and safety of decoding damaged or arbitrary input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/tsz.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1700000000000)
#define MAXN 4096

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double urand(void)
{
    return (double)(rng() >> 11) * (1.0 / 9007199254740992.0);
}

static int irand(int lo, int hi) /* inclusive */
{
    return lo + (int)(rng() % (uint64_t)(hi - lo + 1));
}

typedef struct {
    int64_t ts[MAXN];
    double v[MAXN];
    int64_t ts2[MAXN];
    double v2[MAXN];
    uint8_t buf[MAXN * 18 + 128];
} bufs;

/* Encodes, decodes, checks bit equality; returns the encoded length. */
static size_t roundtrip(bufs *b, size_t n)
{
    ssize_t len = tsz_encode(b->ts, b->v, n, b->buf, sizeof b->buf);
    assert_true(len > 0);
    assert_true((size_t)len <= tsz_bound(n));
    assert_int_equal(tsz_count(b->buf, (size_t)len), (int)n);
    memset(b->ts2, 0xab, sizeof b->ts2);
    memset(b->v2, 0xab, sizeof b->v2);
    ssize_t m = tsz_decode(b->buf, (size_t)len, b->ts2, b->v2, MAXN);
    assert_int_equal(m, (ssize_t)n);
    assert_memory_equal(b->ts, b->ts2, n * sizeof(int64_t));
    assert_memory_equal(b->v, b->v2, n * sizeof(double));
    return (size_t)len;
}

static bufs *new_bufs(void)
{
    bufs *b = calloc(1, sizeof *b);
    assert_non_null(b);
    return b;
}

static void fill_regular(bufs *b, size_t n, int64_t step, int jitter)
{
    for (size_t i = 0; i < n; i++)
        b->ts[i] = T0 + (int64_t)i * step + (jitter ? irand(-jitter, jitter) : 0);
}

static void fill_walk(bufs *b, size_t n, double start, int decimals, int max_step)
{
    double scale = pow(10, decimals), x = round(start * scale);
    for (size_t i = 0; i < n; i++) {
        x += irand(-max_step, max_step);
        b->v[i] = x / scale;
    }
}

static void test_regular_constant_chunk_round_trips_in_under_half_a_byte_per_point(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, 120, 10000, 0);
    for (size_t i = 0; i < 120; i++)
        b->v[i] = 21.5;
    size_t len = roundtrip(b, 120);
    assert_true(len * 2 <= 120);
    free(b);
}

static void test_jittered_random_walk_with_decimals_round_trips_under_3_bytes_per_point(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    for (int decimals = 1; decimals <= 2; decimals++) {
        for (int rep = 0; rep < 20; rep++) {
            fill_regular(b, 120, 10000, 50);
            fill_walk(b, 120, 21.37, decimals, 10);
            size_t len = roundtrip(b, 120);
            assert_true(len <= 3 * 120);
        }
    }
    free(b);
}

static void test_regular_telemetry_profiles_stay_under_3_bytes_per_point(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    size_t total = 0, points = 0;
    for (int profile = 0; profile < 6; profile++) {
        size_t n = 120;
        switch (profile) {
        case 0: /* exact 10 s, 2-decimal walk */
            fill_regular(b, n, 10000, 0);
            fill_walk(b, n, 1013.25, 2, 5);
            break;
        case 1: /* 10 s +-100 ms jitter, 1-decimal walk */
            fill_regular(b, n, 10000, 100);
            fill_walk(b, n, 55.0, 1, 3);
            break;
        case 2: { /* drifting clock, monotonic counter with random increments */
            int64_t ts = T0;
            double c = 1234567;
            for (size_t i = 0; i < n; i++) {
                ts += 10000 + irand(-20, 20);
                c += irand(0, 200);
                b->ts[i] = ts;
                b->v[i] = c;
            }
            break;
        }
        case 3: /* constant with jitter */
            fill_regular(b, n, 10000, 30);
            for (size_t i = 0; i < n; i++)
                b->v[i] = 1.0;
            break;
        case 4: /* 1 s interval, 2-decimal percentages */
            fill_regular(b, n, 1000, 5);
            fill_walk(b, n, 42.17, 2, 25);
            break;
        default: /* 60 s, steady counter */
            fill_regular(b, n, 60000, 0);
            for (size_t i = 0; i < n; i++)
                b->v[i] = 5000.0 + 17.0 * (double)i;
            break;
        }
        size_t len = roundtrip(b, n);
        assert_true(len <= 3 * n);
        total += len;
        points += n;
    }
    assert_true(total * 10 <= points * 15); /* <= 1.5 B/pt on average */
    free(b);
}

static void test_random_doubles_round_trip_bit_exact(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, 500, 1000, 400);
    for (size_t i = 0; i < 500; i++) {
        uint64_t bits = rng();
        memcpy(&b->v[i], &bits, 8); /* any bit pattern: NaNs, infinities, subnormals */
    }
    roundtrip(b, 500);
    for (size_t i = 0; i < 500; i++)
        b->v[i] = (urand() - 0.5) * 1e6;
    roundtrip(b, 500);
    free(b);
}

static void test_negative_zero_and_special_values_round_trip_bit_exact(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    const double specials[] = {-0.0, 0.0,     -1.5,     INFINITY,    -INFINITY,
                               NAN,  DBL_MAX, -DBL_MAX, DBL_MIN / 4, 1e-310};
    size_t n = sizeof specials / sizeof specials[0];
    fill_regular(b, n, 10000, 0);
    memcpy(b->v, specials, sizeof specials);
    roundtrip(b, n);
    /* a lone -0.0 among decimal values must not become +0.0 */
    fill_regular(b, 50, 10000, 0);
    for (size_t i = 0; i < 50; i++)
        b->v[i] = (double)i / 10;
    b->v[7] = -0.0;
    roundtrip(b, 50);
    uint64_t bits;
    memcpy(&bits, &b->v2[7], 8);
    assert_true(bits == UINT64_C(0x8000000000000000));
    free(b);
}

static void test_negative_values_and_timestamps_round_trip(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    for (size_t i = 0; i < 200; i++) {
        b->ts[i] = -T0 + (int64_t)i * 333;
        b->v[i] = -40.0 - (double)irand(0, 500) / 100;
    }
    roundtrip(b, 200);
    free(b);
}

static void test_huge_timestamp_and_value_ranges_round_trip(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    const int64_t ts[] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MAX - 1, INT64_MIN + 1, 1, 42};
    size_t n = sizeof ts / sizeof ts[0];
    memcpy(b->ts, ts, sizeof ts);
    for (size_t i = 0; i < n; i++)
        b->v[i] = i % 2 ? 9007199254740992.0 : -9007199254740993.0;
    roundtrip(b, n);
    /* unsorted timestamps with wide random gaps */
    for (size_t i = 0; i < 300; i++) {
        b->ts[i] = (int64_t)rng();
        b->v[i] = (double)(int64_t)(rng() >> 12) / 1000;
    }
    roundtrip(b, 300);
    free(b);
}

static void test_counters_and_integer_values_use_the_decimal_coder(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, 240, 15000, 0);
    for (size_t i = 0; i < 240; i++)
        b->v[i] = 1e12 + (double)(i * 1000);
    size_t len = roundtrip(b, 240);
    assert_true(len < 40); /* steady counter and regular clock: header only */
    assert_int_equal(b->buf[0] & 1, 1);
    free(b);
}

static void test_single_point_and_empty_chunks_round_trip(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    b->ts[0] = T0;
    b->v[0] = 3.14;
    size_t len = roundtrip(b, 1);
    assert_true(len < 16);
    len = roundtrip(b, 0);
    assert_true(len <= 2);
    free(b);
}

static void test_max_chunk_round_trips(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, MAXN, 10000, 200);
    fill_walk(b, MAXN, 0, 3, 1000);
    size_t len = roundtrip(b, MAXN);
    assert_true(len <= 3 * MAXN);
    free(b);
}

static void test_out_of_order_and_duplicate_timestamps_round_trip(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    for (size_t i = 0; i < 100; i++) {
        b->ts[i] = T0 + irand(-5, 5) * 1000;
        b->v[i] = irand(0, 3);
    }
    roundtrip(b, 100);
    free(b);
}

static void test_too_small_buffers_are_refused(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, 100, 10000, 10);
    fill_walk(b, 100, 10, 1, 5);
    ssize_t len = tsz_encode(b->ts, b->v, 100, b->buf, sizeof b->buf);
    assert_true(len > 0);
    for (size_t cap = 0; cap < (size_t)len; cap++)
        assert_int_equal(tsz_encode(b->ts, b->v, 100, b->buf, cap), -1);
    len = tsz_encode(b->ts, b->v, 100, b->buf, sizeof b->buf);
    assert_int_equal(tsz_decode(b->buf, (size_t)len, b->ts2, b->v2, 99), -1);
    assert_int_equal(tsz_decode(b->buf, (size_t)len, b->ts2, b->v2, 100), 100);
    free(b);
}

static void test_truncated_or_extended_input_is_refused(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    fill_regular(b, 120, 10000, 50);
    fill_walk(b, 120, 20, 2, 7);
    ssize_t len = tsz_encode(b->ts, b->v, 120, b->buf, sizeof b->buf);
    assert_true(len > 0);
    for (ssize_t l = 0; l < len; l++)
        assert_int_equal(tsz_decode(b->buf, (size_t)l, b->ts2, b->v2, MAXN), -1);
    b->buf[len] = 0xff;
    assert_int_equal(tsz_decode(b->buf, (size_t)len + 1, b->ts2, b->v2, MAXN), -1);
    assert_int_equal(tsz_count(b->buf, 1), -1);
    assert_int_equal(tsz_count(NULL, 0), -1);
    free(b);
}

static void test_corrupted_and_random_input_never_crashes(void **st)
{
    (void)st;
    bufs *b = new_bufs();
    for (int rep = 0; rep < 200; rep++) {
        size_t n = (size_t)irand(1, 300);
        fill_regular(b, n, irand(1, 20000), irand(0, 100));
        if (rep % 2)
            fill_walk(b, n, 0, irand(0, 4), irand(0, 100));
        else
            for (size_t i = 0; i < n; i++)
                b->v[i] = urand();
        ssize_t len = tsz_encode(b->ts, b->v, n, b->buf, sizeof b->buf);
        assert_true(len > 0);
        /* flip bits: decoding may fail or produce other points, but stays in bounds */
        for (int f = 0; f < 20; f++) {
            uint8_t *copy = malloc((size_t)len);
            assert_non_null(copy);
            memcpy(copy, b->buf, (size_t)len);
            copy[rng() % (uint64_t)len] ^= (uint8_t)(1u << (rng() % 8));
            ssize_t m = tsz_decode(copy, (size_t)len, b->ts2, b->v2, MAXN);
            assert_true(m >= -1 && m <= MAXN);
            free(copy);
        }
    }
    /* pure garbage, including claims of many points */
    for (int rep = 0; rep < 2000; rep++) {
        size_t len = (size_t)irand(0, 64);
        uint8_t *g = malloc(len ? len : 1);
        assert_non_null(g);
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)rng();
        if (len && rep % 2) g[0] = (uint8_t)(0x10 | (rng() & 1));
        ssize_t m = tsz_decode(g, len, b->ts2, b->v2, MAXN);
        assert_true(m >= -1 && m <= MAXN);
        free(g);
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_constant_chunk_round_trips_in_under_half_a_byte_per_point),
        cmocka_unit_test(
            test_jittered_random_walk_with_decimals_round_trips_under_3_bytes_per_point),
        cmocka_unit_test(test_regular_telemetry_profiles_stay_under_3_bytes_per_point),
        cmocka_unit_test(test_random_doubles_round_trip_bit_exact),
        cmocka_unit_test(test_negative_zero_and_special_values_round_trip_bit_exact),
        cmocka_unit_test(test_negative_values_and_timestamps_round_trip),
        cmocka_unit_test(test_huge_timestamp_and_value_ranges_round_trip),
        cmocka_unit_test(test_counters_and_integer_values_use_the_decimal_coder),
        cmocka_unit_test(test_single_point_and_empty_chunks_round_trip),
        cmocka_unit_test(test_max_chunk_round_trips),
        cmocka_unit_test(test_out_of_order_and_duplicate_timestamps_round_trip),
        cmocka_unit_test(test_too_small_buffers_are_refused),
        cmocka_unit_test(test_truncated_or_extended_input_is_refused),
        cmocka_unit_test(test_corrupted_and_random_input_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
