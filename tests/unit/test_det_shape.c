/* Series kinds recognised from the data (shape.c) and how each is scored through det_series:
 * counters by their rate (resets are not anomalies, a rate jump is), discrete series by their
 * states (normal switching is quiet, a stuck or flapping state or a far new value is not),
 * coarse steps by their quantum (a step of one quantum is not an anomaly). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL

static double u01(uint64_t i)
{
    return det_unit(det_mix64(i));
}

/* ---- kind recognition ---- */

static det_shape_kind kind_after(const double *x, int n)
{
    det_shape s;
    det_shape_init(&s);
    for (int i = 0; i < n; i++)
        det_shape_observe(&s, x[i]);
    return (det_shape_kind)s.kind;
}

static void test_monotone_series_with_a_reset_is_a_counter(void **st)
{
    (void)st;
    double x[200];
    double c = 5e10;
    for (int i = 0; i < 200; i++) {
        if (i == 120) c = 1000; /* a reboot */
        c += floor(1e5 * (1 + u01((uint64_t)i)));
        x[i] = c;
    }
    assert_int_equal(kind_after(x, 200), DET_SHAPE_COUNTER);
    /* a series that rises for a while and then falls is a level, even once called a counter */
    det_shape s;
    det_shape_init(&s);
    for (int i = 0; i < 100; i++)
        det_shape_observe(&s, 20 + 0.01 * i);
    assert_int_equal(s.kind, DET_SHAPE_COUNTER);
    assert_int_equal(det_shape_observe(&s, 20.5), 1);
    assert_int_equal(s.kind, DET_SHAPE_LEVEL);
    assert_int_equal(det_shape_quiet(&s), 0);
}

static void test_recurring_few_values_are_discrete(void **st)
{
    (void)st;
    double x[200];
    for (int i = 0; i < 200; i++)
        x[i] = u01((uint64_t)i) < 0.2 ? 1 : 0;
    assert_int_equal(kind_after(x, 200), DET_SHAPE_DISCRETE);
    for (int i = 0; i < 200; i++)
        x[i] = u01((uint64_t)i) < 0.1 ? 20 : 25; /* a frame rate with stalls */
    assert_int_equal(kind_after(x, 200), DET_SHAPE_DISCRETE);
    /* more values than states: a level */
    for (int i = 0; i < 200; i++)
        x[i] = 21 + floor(20 * u01((uint64_t)i)) / 10;
    assert_int_equal(kind_after(x, 200), DET_SHAPE_LEVEL);
}

static void test_quantum_and_quiet_while_undecided(void **st)
{
    (void)st;
    det_shape s;
    det_shape_init(&s);
    for (int i = 0; i < 500; i++) /* a battery rounded to 0.1, slowly falling */
        det_shape_observe(&s, round(10 * (87.0 - i * 0.001)) / 10);
    assert_int_equal(s.kind, DET_SHAPE_LEVEL);
    assert_true(fabs(det_shape_resolution(&s) - 0.1) < 1e-6);
    det_shape_init(&s);
    for (int i = 0; i < 400; i++) /* constant so far: could become a 0/1 state */
        det_shape_observe(&s, 0);
    assert_int_equal(det_shape_quiet(&s), 1);
    det_shape_observe(&s, 1);
    assert_int_equal(det_shape_quiet(&s), 1);
}

static void test_counter_rate_windows_and_resets(void **st)
{
    (void)st;
    det_shape s;
    det_shape_init(&s);
    double r = 0;
    assert_int_equal(det_shape_rate(&s, 0, 1000, &r), 0);
    assert_int_equal(det_shape_rate(&s, 30000, 4000, &r), 0); /* window not yet 60 s */
    assert_int_equal(det_shape_rate(&s, 60000, 7000, &r), 1);
    assert_true(fabs(r - 100) < 1e-9);                      /* 6000 over 60 s */
    assert_int_equal(det_shape_rate(&s, 90000, 50, &r), 0); /* reset: a new window */
    assert_int_equal(det_shape_rate(&s, 150000, 650, &r), 1);
    assert_true(fabs(r - 10) < 1e-9);
    assert_int_equal(det_shape_is_reset(1e11, 5e9), 1);
    assert_int_equal(det_shape_is_reset(1e11, 9.9e10), 0);
}

/* ---- scoring through det_series ---- */

typedef struct {
    int alerts, hot;
    det_result last;
} tally;

static void run(det_series *s, const det_params *p, int64_t t0, int64_t step, int n,
                double (*f)(int i, void *ctx), void *ctx, int base, tally *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n; i++) {
        det_series_update(s, p, t0 + i * step, f(base + i, ctx), &t->last);
        t->alerts += t->last.alert;
        t->hot += t->last.level > DET_LEVEL_NONE;
    }
}

static double bytes_counter(int i, void *ctx)
{
    double *c = ctx; /* ~2e4 B/s with noise, a reset every 3,000 points */
    if (i % 3000 == 0) *c = 0;
    *c += floor(60 * 2e4 * (1 + 0.2 * fabs(u01((uint64_t)i) - 0.5)));
    return *c;
}

static void test_counter_normal_is_quiet_and_a_rate_jump_alerts(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    double c = 1e11;
    tally t;
    run(s, &p, 0, MIN, 8000, bytes_counter, &c, 1, &t);
    assert_int_equal(t.last.shape, DET_SHAPE_COUNTER);
    assert_int_equal(t.alerts, 0);
    /* the live rate: one point every 5 s, the same bytes per second */
    int64_t t0 = 7999 * MIN + 5000;
    int alerts = 0;
    double v = c;
    det_result r;
    for (int i = 0; i < 600; i++) {
        v += floor(5 * 2e4 * (1 + 0.2 * fabs(u01((uint64_t)i + 99) - 0.5)));
        det_series_update(s, &p, t0 + i * 5000, v, &r);
        alerts += r.alert;
    }
    assert_int_equal(alerts, 0);
    /* ten times the rate for five minutes */
    t0 += 600 * 5000;
    for (int i = 0; i < 60 && !alerts; i++) {
        v += 5 * 2e5;
        det_series_update(s, &p, t0 + i * 5000, v, &r);
        alerts += r.alert;
    }
    assert_int_equal(alerts, 1);
    assert_true(isfinite(r.scored) && r.scored > 1e5); /* scored on the rate, per second */
    assert_true(isfinite(r.hi) && r.hi < r.scored);
    free(s);
}

static double door(int i, void *ctx)
{
    (void)ctx; /* open on ~10% of minutes in the day, rarely at night */
    double h = fmod(i / 60.0, 24.0);
    return u01((uint64_t)i) < (h > 8 && h < 18 ? 0.1 : 0.005) ? 1 : 0;
}

static double stuck_open(int i, void *ctx)
{
    (void)i;
    (void)ctx;
    return 1;
}

static double flapping(int i, void *ctx)
{
    (void)ctx;
    return i & 1;
}

static void test_door_normal_is_quiet_stuck_and_flapping_alert(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    tally t;
    run(s, &p, 0, MIN, 7 * 1440, door, NULL, 0, &t);
    assert_int_equal(t.last.shape, DET_SHAPE_DISCRETE);
    assert_int_equal(t.alerts, 0);
    det_series *copy = malloc(sizeof *copy);
    memcpy(copy, s, sizeof *s);
    /* stuck open for an hour */
    run(s, &p, 7 * 1440 * MIN, MIN, 60, stuck_open, NULL, 0, &t);
    assert_true(t.alerts >= 1);
    assert_int_equal(t.last.why, DET_WHY_STUCK);
    assert_true(t.last.held_ms > t.last.usual_ms);
    assert_string_equal(det_series_member_name(s, 1), "stuck_state");
    /* flapping open/closed on every point */
    run(copy, &p, 7 * 1440 * MIN, MIN, 60, flapping, NULL, 0, &t);
    assert_true(t.alerts >= 1);
    /* a snapshot of a discrete series restores exactly */
    uint8_t *buf = malloc(DET_SERIES_SNAP_SIZE);
    size_t n = det_series_snapshot(copy, buf, DET_SERIES_SNAP_SIZE);
    det_series *back = malloc(sizeof *back);
    assert_int_equal(det_series_restore(back, &p, buf, n), 0);
    assert_memory_equal(back, copy, sizeof *copy);
    free(buf);
    free(back);
    free(copy);
    free(s);
}

static double battery(int i, void *ctx)
{
    (void)ctx; /* 0.5% a week, shown with one decimal: a step of 0.1 every ~1.4 days */
    return round(10 * (87.0 - i * 0.5 / (7 * 1440))) / 10;
}

static double battery_drop(int i, void *ctx)
{
    return battery(i, ctx) - 20;
}

static void test_steps_of_one_quantum_are_not_anomalies(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    tally t;
    run(s, &p, 0, MIN, 3 * 7 * 1440, battery, NULL, 0, &t);
    assert_int_equal(t.last.shape, DET_SHAPE_LEVEL);
    assert_int_equal(t.alerts, 0);
    /* a real drop by 20% is */
    run(s, &p, 3 * 7 * 1440 * MIN, MIN, 10, battery_drop, NULL, 3 * 7 * 1440, &t);
    assert_true(t.alerts >= 1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotone_series_with_a_reset_is_a_counter),
        cmocka_unit_test(test_recurring_few_values_are_discrete),
        cmocka_unit_test(test_quantum_and_quiet_while_undecided),
        cmocka_unit_test(test_counter_rate_windows_and_resets),
        cmocka_unit_test(test_counter_normal_is_quiet_and_a_rate_jump_alerts),
        cmocka_unit_test(test_door_normal_is_quiet_stuck_and_flapping_alert),
        cmocka_unit_test(test_steps_of_one_quantum_are_not_anomalies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
