/* Per-series pipeline: fits 4 KB, alerts once per episode with an explanation, is deterministic
 * (and by default independent of the seed), snapshots/restores exactly, rejects corrupt, crafted
 * and older-format snapshots, adapts to false-positive feedback, keeps a learning day (only
 * Warning and above in a series' first 20 hours) and a daily routine of surprises (a surprise as
 * high as at this time on earlier days is only Info). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/series.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP 60000LL

static double normal_x(int i)
{
    return 50.0 + 5.0 * sin(i * 0.01) + (det_unit(det_mix64((uint64_t)i)) - 0.5);
}

static void feed(det_series *s, const det_params *p, int from, int to)
{
    det_result r;
    for (int i = from; i < to; i++)
        det_series_update(s, p, i * STEP, normal_x(i), &r);
}

static void test_state_fits_in_4k(void **st)
{
    (void)st;
    assert_true(sizeof(det_series) <= 4096);
}

static void test_spike_opens_one_episode_with_an_explanation(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    assert_int_equal(det_series_init(s, &p, 1), 0);
    feed(s, &p, 0, 3000);
    det_result r;
    det_series_update(s, &p, 3000 * STEP, 90.0, &r);
    assert_int_equal(r.alert, 1);
    assert_true(r.level >= DET_LEVEL_INFO);
    assert_true(r.score >= p.alert_info && r.score <= 1.0);
    assert_true(r.contributors != 0);
    assert_true(isfinite(r.lo) && isfinite(r.hi) && r.hi < 90.0);
    int alerts = 0;
    for (int i = 3001; i < 3020; i++) {
        det_series_update(s, &p, i * STEP, 90.0, &r);
        alerts += r.alert;
    }
    assert_int_equal(alerts, 0); /* the continuing anomaly stays in the same episode */
    free(s);
}

static void test_quiet_series_raises_no_alert(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r;
    int alerts = 0;
    for (int i = 0; i < 20000; i++) {
        det_series_update(s, &p, i * STEP, normal_x(i), &r);
        alerts += r.alert;
    }
    assert_true(alerts <= 2);
    free(s);
}

/* A spike that recurs every 37 points in a zero series becomes normal: its episode closes, and
   spikes suddenly coming five times as often open a new one. */
static void test_recurring_spike_is_learned_and_denser_spikes_alert_again(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r;
    int quiet = 0, alerts = 0;
    for (int i = 0; i < 6000; i++) {
        int dense = i >= 5000 && i < 5200;
        double x = (dense ? i % 7 == 0 : i % 37 == 0) ? 5.0 : 0.0;
        det_series_update(s, &p, i * STEP, x, &r);
        if (i >= 4000 && i < 5000 && !r.in_episode) quiet++;
        if (i >= 5000 && i < 5200) alerts += r.alert;
    }
    assert_true(quiet > 500);
    assert_true(alerts >= 1);
    free(s);
}

/* Noise with a spike every 300 points (too seldom for the likelihood's bulk): the spikes are
   learned by their height and go quiet; a spike twice as high still alerts. */
static void test_rare_recurring_spike_goes_quiet_and_a_higher_one_alerts(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r;
    int late = 0, big = 0;
    for (int i = 0; i < 20000; i++) {
        double x = det_unit(det_mix64((uint64_t)i)) + (i > 0 && i % 300 == 0 ? 5.0 : 0.0);
        if (i == 15150) x = 10.0;
        det_series_update(s, &p, i * STEP, x, &r);
        if (i >= 10000 && i < 15000) late += r.alert;
        if (i >= 15150 && i < 15160) big += r.alert;
    }
    assert_int_equal(late, 0);
    assert_int_equal(big, 1);
    /* without the peak rule the same spikes alert every time */
    p.lik_peak_h = 0;
    det_series_init(s, &p, 1);
    late = 0;
    for (int i = 0; i < 15000; i++) {
        double x = det_unit(det_mix64((uint64_t)i)) + (i > 0 && i % 300 == 0 ? 5.0 : 0.0);
        det_series_update(s, &p, i * STEP, x, &r);
        if (i >= 10000) late += r.alert;
    }
    assert_true(late >= 10);
    free(s);
}

static void test_same_seed_and_input_give_identical_results(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    det_series_init(a, &p, 5);
    det_series_init(b, &p, 5);
    feed(a, &p, 0, 1500);
    feed(b, &p, 0, 1500);
    assert_memory_equal(a, b, sizeof *a);
    free(a);
    free(b);
}

static void test_restored_series_continues_exactly(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    uint8_t *buf = malloc(DET_SERIES_SNAP_SIZE);
    det_series_init(a, &p, 3);
    feed(a, &p, 0, 2000);
    assert_int_equal(det_series_snapshot(a, buf, DET_SERIES_SNAP_SIZE - 1), 0);
    size_t n = det_series_snapshot(a, buf, DET_SERIES_SNAP_SIZE);
    assert_int_equal(n, DET_SERIES_SNAP_SIZE);
    memset(b, 0xAB, sizeof *b);
    assert_int_equal(det_series_restore(b, &p, buf, n), 0);
    for (int i = 2000; i < 2500; i++) {
        det_result ra, rb;
        double x = i == 2300 ? 95.0 : normal_x(i);
        det_series_update(a, &p, i * STEP, x, &ra);
        det_series_update(b, &p, i * STEP, x, &rb);
        assert_true(ra.score == rb.score);
        assert_int_equal(ra.alert, rb.alert);
    }
    free(a);
    free(b);
    free(buf);
}

static void test_corrupt_or_truncated_snapshot_is_refused_and_resets(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    uint8_t *buf = malloc(DET_SERIES_SNAP_SIZE);
    det_series_init(a, &p, 3);
    feed(a, &p, 0, 1000);
    size_t n = det_series_snapshot(a, buf, DET_SERIES_SNAP_SIZE);
    buf[n / 2] ^= 0x40;
    det_series_init(b, &p, 3);
    feed(b, &p, 0, 10);
    assert_int_equal(det_series_restore(b, &p, buf, n), -1);
    assert_int_equal(b->n, 0);
    buf[n / 2] ^= 0x40;
    assert_int_equal(det_series_restore(b, &p, buf, n - 1), -1);
    buf[0] ^= 1; /* magic */
    assert_int_equal(det_series_restore(b, &p, buf, n), -1);
    buf[0] ^= 1;
    assert_int_equal(det_series_restore(b, &p, buf, n), 0);
    assert_int_equal(b->n, 1000);
    free(a);
    free(b);
    free(buf);
}

/* Rewrites the payload checksum so only the semantic checks can refuse the snapshot. */
static void reseal(uint8_t *buf, size_t n)
{
    uint32_t h = det_fnv1a(buf + DET_SNAP_HEADER, n - DET_SNAP_HEADER);
    memcpy(buf + 12, &h, sizeof h);
}

static void test_snapshot_with_overlapping_members_is_refused(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    uint8_t *buf = malloc(DET_SERIES_SNAP_SIZE);
    det_series_init(a, &p, 3);
    feed(a, &p, 0, 500);
    /* member 1 placed over member 0: each state would validate on its own, but updates of one
       would corrupt the other (a crafted snapshot must not get that far) */
    a->ens.off[1] = a->ens.off[0];
    size_t n = det_series_snapshot(a, buf, DET_SERIES_SNAP_SIZE);
    reseal(buf, n);
    det_series_init(b, &p, 3);
    assert_int_equal(det_series_restore(b, &p, buf, n), -1);
    assert_int_equal(b->n, 0);
    free(a);
    free(b);
    free(buf);
}

static void test_snapshot_of_an_older_format_is_refused(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a);
    uint8_t *buf = malloc(DET_SERIES_SNAP_SIZE);
    det_series_init(a, &p, 3);
    feed(a, &p, 0, 500);
    size_t n = det_series_snapshot(a, buf, DET_SERIES_SNAP_SIZE);
    uint16_t version;
    memcpy(&version, buf + 4, sizeof version);
    assert_true(version >= 2); /* bumped when the state layout changed */
    version--; /* the format before (v8: a counter's increments grid not in the shape) */
    memcpy(buf + 4, &version, sizeof version);
    assert_int_equal(det_series_restore(a, &p, buf, n), -1);
    assert_int_equal(a->n, 0); /* the series relearns */
    free(a);
    free(buf);
}

/* The fuzz seeds of det_snapshot (tests/fuzz/corpus/det_snapshot/series_*) are snapshots of real
 * series; a seed of an older format is refused at the header and the fuzzer never gets past the
 * version check with it. Each must restore under the current format. A seed is a series of one
 * kind (a level, a counter, a discrete state) after n points; IOTAD_WRITE_SEEDS=1 rewrites them
 * (after a format bump: `IOTAD_WRITE_SEEDS=1 build-test/test_det_series`). */
static double seed_x(const char *kind, int i)
{
    if (strcmp(kind, "counter") == 0) return 1000.0 + 7.0 * i + (i % 3); /* monotone */
    if (strcmp(kind, "discrete") == 0) return (i / 7) % 3 == 0 ? 1.0 : 0.0;
    return normal_x(i);
}

static void seed_path(char *out, size_t cap, const char *name)
{
    /* the sources' root from this file's path (CMake compiles it by its absolute path) */
    const char *self = __FILE__, *tail = "tests/unit/test_det_series.c";
    size_t n = strlen(self), t = strlen(tail);
    assert_true(n >= t && strcmp(self + n - t, tail) == 0);
    snprintf(out, cap, "%.*stests/fuzz/corpus/det_snapshot/%s", (int)(n - t), self, name);
}

static void test_fuzz_seed_snapshots_match_the_current_format(void **st)
{
    (void)st;
    static const struct {
        const char *name, *kind;
        int n, shape; /* the kind the series must have been recognised as */
    } seeds[] = {
        {"series_0_points", "level", 0, DET_SHAPE_LEVEL},
        {"series_50_points", "level", 50, DET_SHAPE_LEVEL},
        {"series_400_points", "level", 400, DET_SHAPE_LEVEL},
        {"series_3000_points", "level", 3000, DET_SHAPE_LEVEL},
        {"series_counter_400_points", "counter", 400, DET_SHAPE_COUNTER},
        {"series_discrete_600_points", "discrete", 600, DET_SHAPE_DISCRETE},
    };
    det_params p;
    det_params_default(&p);
    static det_series s_, *s = &s_; /* static: a failure leaves nothing to free */
    static uint8_t buf[DET_SERIES_SNAP_SIZE + 1];
    int write = getenv("IOTAD_WRITE_SEEDS") && strcmp(getenv("IOTAD_WRITE_SEEDS"), "1") == 0;
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        char path[4096];
        seed_path(path, sizeof path, seeds[k].name);
        if (write) {
            det_series_init(s, &p, 7);
            det_result r;
            for (int i = 0; i < seeds[k].n; i++)
                det_series_update(s, &p, i * STEP, seed_x(seeds[k].kind, i), &r);
            size_t n = det_series_snapshot(s, buf, DET_SERIES_SNAP_SIZE);
            assert_int_equal(n, DET_SERIES_SNAP_SIZE);
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(buf, 1, n, f), n);
            assert_int_equal(fclose(f), 0);
        }
        FILE *f = fopen(path, "rb");
        if (!f) fail_msg("%s missing: IOTAD_WRITE_SEEDS=1 build-test/test_det_series", path);
        size_t n = fread(buf, 1, DET_SERIES_SNAP_SIZE + 1, f);
        fclose(f);
        if (n != DET_SERIES_SNAP_SIZE || det_series_restore(s, &p, buf, n) != 0)
            fail_msg("%s is not a snapshot of the current format (%zu bytes, %zu expected): "
                     "regenerate with IOTAD_WRITE_SEEDS=1 build-test/test_det_series",
                     path, n, (size_t)DET_SERIES_SNAP_SIZE);
        assert_int_equal(s->n, (uint32_t)seeds[k].n);
        assert_int_equal(s->shape.kind, seeds[k].shape);
    }
}

static double noise_at(int i)
{
    return det_unit(det_mix64((uint64_t)i)) - 0.5;
}

/* Noise around 20, one point a minute, plus `bump` for one point at minute `at`: the alerts. */
static int bumped_day(det_series *s, const det_params *p, int at, double bump, det_result *first)
{
    det_result r;
    int alerts = 0;
    for (int i = 0; i < 1440; i++) {
        det_series_update(s, p, i * STEP, 20.0 + noise_at(i) + (i == at ? bump : 0.0), &r);
        if (r.alert && alerts++ == 0) *first = r;
    }
    return alerts;
}

/* In a series' first learn_h (20) hours of data only Warning and above alert: a first day,
   before any daily pattern is learned, gives Info-level noise. */
static void test_the_learning_day_raises_only_warning_and_above(void **st)
{
    (void)st;
    det_params p, off;
    det_params_default(&p);
    off = p;
    off.learn_h = 0;
    det_series *s = malloc(sizeof *s);
    det_result r;
    /* a 0.6 bump at hour 14 scores Info (0.6): an alert without the learning day, none with it */
    det_series_init(s, &off, 1);
    assert_int_equal(bumped_day(s, &off, 14 * 60, 0.6, &r), 1);
    assert_int_equal(r.level, DET_LEVEL_INFO);
    det_series_init(s, &p, 1);
    assert_int_equal(bumped_day(s, &p, 14 * 60, 0.6, &r), 0);
    /* twice that is Critical, and alerts while learning */
    det_series_init(s, &p, 1);
    assert_int_equal(bumped_day(s, &p, 14 * 60, 1.2, &r), 1);
    assert_int_equal(r.level, DET_LEVEL_CRITICAL);
    free(s);
}

/* A step that happens every day at 07:00 (an HVAC starting for the day) is Critical on the
   first day and only Info on the following ones (the routine: as surprising at this time on
   earlier days); the same step at another time of day is still Critical. */
static void test_a_daily_surprise_at_the_same_time_is_info_after_the_first_day(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r, at7[4], at15 = {0};
    int n7 = 0, n15 = 0, other = 0;
    for (int i = 0; i < 4 * 1440; i++) {
        int m = i % 1440;
        double x = 20.0 + noise_at(i);
        if (m >= 7 * 60 && m < 8 * 60) x += 10.0;
        if (i >= 1440 + 15 * 60 && i < 1440 + 16 * 60) x += 10.0; /* day 2, 15:00 */
        det_series_update(s, &p, i * STEP, x, &r);
        if (!r.alert) continue;
        if (m == 7 * 60 && n7 < 4)
            at7[n7++] = r;
        else if (i == 1440 + 15 * 60 && n15++ == 0)
            at15 = r;
        else
            other++;
    }
    assert_int_equal(n7, 4);
    assert_int_equal(at7[0].level, DET_LEVEL_CRITICAL);
    assert_int_equal(at7[0].routine, 0);
    for (int d = 1; d < 4; d++) {
        assert_int_equal(at7[d].level, DET_LEVEL_INFO);
        assert_int_equal(at7[d].routine, 1);
        assert_true(at7[d].score >= p.alert_critical); /* the score itself is unchanged */
    }
    assert_int_equal(n15, 1);
    assert_int_equal(at15.level, DET_LEVEL_CRITICAL);
    assert_int_equal(at15.routine, 0);
    assert_int_equal(other, 0);
    /* off: every morning is Critical */
    p.routine_tol = -1;
    det_series_init(s, &p, 1);
    n7 = 0;
    for (int i = 0; i < 4 * 1440; i++) {
        int m = i % 1440;
        double x = 20.0 + noise_at(i) + (m >= 7 * 60 && m < 8 * 60 ? 10.0 : 0.0);
        det_series_update(s, &p, i * STEP, x, &r);
        if (r.alert && m == 7 * 60) n7 += r.level == DET_LEVEL_CRITICAL;
    }
    assert_int_equal(n7, 4);
    free(s);
}

static void test_default_pipeline_does_not_depend_on_the_seed(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    det_series_init(a, &p, 1);
    det_series_init(b, &p, 0xDEADBEEF);
    for (int i = 0; i < 3000; i++) {
        det_result ra, rb;
        double x = i % 700 == 699 ? 90.0 : normal_x(i);
        det_series_update(a, &p, i * STEP, x, &ra);
        det_series_update(b, &p, i * STEP, x, &rb);
        assert_true(ra.score == rb.score);
        assert_int_equal(ra.alert, rb.alert);
    }
    free(a);
    free(b);
}

static void test_false_positive_feedback_silences_the_same_pattern(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *base = malloc(sizeof *base), *t = malloc(sizeof *t);
    det_series_init(base, &p, 9);
    feed(base, &p, 0, 3000);
    /* find a spike the default decision alerts on, below the top of the scale */
    double spike = 0;
    det_result r;
    for (double m = 2.0; m < 60.0 && spike == 0; m += 0.5) {
        memcpy(t, base, sizeof *t);
        det_series_update(t, &p, 3000 * STEP, normal_x(3000) + m, &r);
        if (r.alert && r.score < 0.95) spike = m;
    }
    assert_true(spike > 0);
    memcpy(t, base, sizeof *t);
    for (int i = 0; i < 4; i++)
        det_series_feedback(t, DET_VERDICT_FALSE_POSITIVE);
    det_series_update(t, &p, 3000 * STEP, normal_x(3000) + spike, &r);
    assert_int_equal(r.alert, 0);
    /* confirmations undo it */
    memcpy(t, base, sizeof *t);
    det_series_feedback(t, DET_VERDICT_FALSE_POSITIVE);
    det_series_feedback(t, DET_VERDICT_CONFIRMED);
    det_series_update(t, &p, 3000 * STEP, normal_x(3000) + spike, &r);
    assert_int_equal(r.alert, 1);
    free(base);
    free(t);
}

static void test_non_finite_value_is_ignored(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    feed(s, &p, 0, 100);
    det_result r;
    det_series_update(s, &p, 100 * STEP, NAN, &r);
    assert_true(r.score == 0 && r.alert == 0);
    assert_int_equal(s->n, 100);
    assert_string_equal(det_series_member_name(s, 0), "robust");
    assert_string_equal(det_level_name(DET_LEVEL_CRITICAL), "critical");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_fits_in_4k),
        cmocka_unit_test(test_spike_opens_one_episode_with_an_explanation),
        cmocka_unit_test(test_quiet_series_raises_no_alert),
        cmocka_unit_test(test_recurring_spike_is_learned_and_denser_spikes_alert_again),
        cmocka_unit_test(test_rare_recurring_spike_goes_quiet_and_a_higher_one_alerts),
        cmocka_unit_test(test_same_seed_and_input_give_identical_results),
        cmocka_unit_test(test_restored_series_continues_exactly),
        cmocka_unit_test(test_corrupt_or_truncated_snapshot_is_refused_and_resets),
        cmocka_unit_test(test_snapshot_with_overlapping_members_is_refused),
        cmocka_unit_test(test_snapshot_of_an_older_format_is_refused),
        cmocka_unit_test(test_fuzz_seed_snapshots_match_the_current_format),
        cmocka_unit_test(test_the_learning_day_raises_only_warning_and_above),
        cmocka_unit_test(test_a_daily_surprise_at_the_same_time_is_info_after_the_first_day),
        cmocka_unit_test(test_default_pipeline_does_not_depend_on_the_seed),
        cmocka_unit_test(test_false_positive_feedback_silences_the_same_pattern),
        cmocka_unit_test(test_non_finite_value_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
