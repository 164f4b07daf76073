/* Time-aware detection: irregular sampling, gaps, bursts of late points and duplicate timestamps
 * are normal for IoT series. A gap of hours is not an anomaly by itself and does not reset
 * learning; late and duplicate points are scored but not learned from; a real anomaly is still
 * found in gappy and irregular series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/robust.h"
#include "detect/series.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN 60000LL
#define DAY (1440 * MIN)

static double noise(uint64_t i)
{
    return det_unit(det_mix64(i)) - 0.5;
}

/* A thermostat: 21 degrees +- 3 over the day, 0.05 noise, one point a minute. */
static double room(int64_t ts)
{
    return 21.0 + 3.0 * sin(2 * M_PI * (double)(ts % DAY) / (double)DAY) +
           0.05 * noise((uint64_t)(ts / 1000));
}

/* Max score over [from, to) minutes, one point a minute. */
static double run(det_series *s, const det_params *p, int64_t from, int64_t to, int *alerts)
{
    det_result r;
    double mx = 0;
    for (int64_t t = from; t < to; t += MIN) {
        det_series_update(s, p, t, room(t), &r);
        if (r.score > mx) mx = r.score;
        if (alerts) *alerts += r.alert;
    }
    return mx;
}

static void test_a_two_hour_gap_is_not_an_anomaly_and_keeps_what_was_learned(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s), *ref = malloc(sizeof *ref);
    det_series_init(s, &p, 1);
    /* 20 hours of data: the daily profile is not trusted yet, the level model is in use */
    int alerts = 0;
    run(s, &p, 0, 20 * 60 * MIN, NULL);
    uint32_t n = s->n;
    const det_robust *rb = det_ensemble_member(&s->ens, 0);
    float scale = rb->scale_n;
    /* the same series without gap handling (for contrast) */
    det_params nogap = p;
    nogap.gap_k = 1e12;
    det_series_init(ref, &nogap, 1);
    run(ref, &nogap, 0, 20 * 60 * MIN, NULL);

    /* two hours without data; the room warmed by ~1.5 degrees meanwhile */
    int64_t back = 22 * 60 * MIN;
    double mx = run(s, &p, back, back + 60 * MIN, &alerts);
    int ref_alerts = 0;
    double ref_mx = run(ref, &nogap, back, back + 60 * MIN, &ref_alerts);
    assert_int_equal(alerts, 0);
    assert_true(mx < p.alert_info);
    assert_true(ref_alerts >= 1 && ref_mx >= p.alert_warning); /* what a naive level model does */
    /* learning continued: nothing was reset */
    assert_int_equal(s->n, n + 60);
    rb = det_ensemble_member(&s->ens, 0);
    assert_true(rb->scale_n > 0.5 * scale && rb->scale_n < 2.0 * scale);
    assert_true(fabs(s->dt_med - (double)MIN) < 0.05 * MIN); /* one gap does not move it */
    free(s);
    free(ref);
}

static void test_an_anomaly_right_after_a_gap_is_still_found(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    run(s, &p, 0, 20 * 60 * MIN, NULL);
    det_result r;
    int64_t back = 22 * 60 * MIN;
    det_series_update(s, &p, back, room(back), &r);
    int alerts = 0;
    for (int64_t t = back + MIN; t < back + 30 * MIN; t += MIN) { /* the heating fails: +15 */
        det_series_update(s, &p, t, room(t) + 15.0, &r);
        alerts += r.alert;
    }
    assert_int_equal(alerts, 1);
    free(s);
}

static void test_irregular_sampling_is_quiet_and_a_spike_is_found(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r;
    int64_t t = 0;
    int alerts = 0;
    for (int i = 0; i < 6000; i++) { /* intervals of 10 s to 3 min, at random */
        t += 10000 + (int64_t)(170000 * det_unit(det_mix64(1000000u + (uint64_t)i)));
        det_series_update(s, &p, t, room(t), &r);
        if (i > 1000) alerts += r.alert;
    }
    assert_int_equal(alerts, 0);
    t += 60000;
    det_series_update(s, &p, t, room(t) + 8.0, &r);
    assert_int_equal(r.alert, 1);
    free(s);
}

/* A device that sleeps from 22:00 to 04:00 every night, for ten days. */
static void nightly(det_series *s, const det_params *p, int *alerts_after_resume, int *alerts,
                    double *max_alert_score)
{
    det_result r;
    for (int d = 0; d < 10; d++)
        for (int64_t t = d * DAY + 4 * 60 * MIN; t < d * DAY + 22 * 60 * MIN; t += MIN) {
            det_series_update(s, p, t, room(t), &r);
            if (!r.alert || d == 0) continue;
            (*alerts)++;
            if (t - (d * DAY + 4 * 60 * MIN) < 30 * MIN) (*alerts_after_resume)++;
            if (r.score > *max_alert_score) *max_alert_score = r.score;
        }
}

static void test_nightly_gaps_of_hours_are_not_anomalies(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    int resume = 0, all = 0;
    double mx = 0;
    nightly(s, &p, &resume, &all, &mx);
    assert_int_equal(resume, 0); /* waking up after six hours is not an anomaly (first 30 min) */
    /* one info-level alert remains on day 3, when the daily profile takes over from the level
       model (the conformal tail meets z-scores of a sharper model; not a gap effect) */
    assert_true(all <= 1);
    assert_true(mx < p.alert_warning);
    /* without gap handling, every morning raised an alert (the reported Critical) */
    det_params nogap = p;
    nogap.gap_k = 1e12;
    det_series_init(s, &nogap, 1);
    resume = all = 0;
    mx = 0;
    nightly(s, &nogap, &resume, &all, &mx);
    assert_true(resume >= 8 && mx >= p.alert_critical);
    free(s);
}

static void test_late_and_duplicate_points_are_scored_but_not_learned(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    run(s, &p, 0, 3000 * MIN, NULL);
    det_series before = *s;
    det_result r;
    int alerts = 0;
    int64_t last = 2999 * MIN;
    for (int i = 0; i < 20; i++) { /* a re-sent last point, then a burst of late ones */
        det_series_update(s, &p, last, room(last), &r);
        alerts += r.alert;
        det_series_update(s, &p, last - (i + 1) * MIN, room(last - (i + 1) * MIN), &r);
        alerts += r.alert;
    }
    assert_int_equal(alerts, 0);
    assert_int_equal(s->late, 40);
    assert_int_equal(s->n, before.n);
    assert_memory_equal(&s->ens, &before.ens, sizeof s->ens); /* nothing learned */
    /* a late point far off its expected value is still an anomaly */
    det_series_update(s, &p, last - 30 * MIN, room(last - 30 * MIN) + 20.0, &r);
    assert_int_equal(r.alert, 1);
    /* and in-order points continue as before */
    det_series_update(s, &p, last + MIN, room(last + MIN), &r);
    assert_int_equal(s->n, before.n + 1);
    free(s);
}

/* A door: open for one point on ~10 % of the daytime minutes, rarely at night (runs of a minute or
 * two open, minutes to hours closed). */
static double door_at(int64_t ts)
{
    double h = (double)(ts % DAY) / (60.0 * MIN);
    return det_unit(det_mix64((uint64_t)(ts / MIN) + 7)) < (h > 8 && h < 18 ? 0.1 : 0.005) ? 1 : 0;
}

static int door_gap_alerts(const det_params *p, det_result *last)
{
    det_series *s = malloc(sizeof *s);
    det_series_init(s, p, 1);
    det_result r;
    int64_t t = 0;
    for (; t < 4 * DAY + 10 * 60 * MIN; t += MIN) /* four days, to 10:00 */
        det_series_update(s, p, t, door_at(t), &r);
    assert_int_equal(r.shape, DET_SHAPE_DISCRETE);
    det_series_update(s, p, t, 1, &r); /* open when it goes silent, */
    t += 2 * 60 * MIN;                 /* for two hours, */
    int alerts = 0;
    for (int i = 0; i < 2; i++, t += MIN) { /* and open again when it comes back */
        det_series_update(s, p, t, 1, &r);
        alerts += r.alert;
        *last = r;
    }
    free(s);
    return alerts;
}

static void test_a_gap_does_not_make_a_state_look_stuck(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_result r;
    /* the run counts the time it was seen: open for a minute before the gap and one after */
    assert_int_equal(door_gap_alerts(&p, &r), 0);
    assert_true(r.held_ms <= 3 * MIN);
    /* without gap handling the two unseen hours counted as held open: stuck */
    det_params nogap = p;
    nogap.gap_k = 1e12;
    assert_true(door_gap_alerts(&nogap, &r) >= 1);
    assert_int_equal(r.why, DET_WHY_STUCK);
}

/* An energy meter printed to 0.001 kWh, one point a minute: 1 kW at night, 6 kW from 09:00 to
 * 17:00 with a ramp of an hour, +-3 % noise. */
static double kw_at(int64_t ts)
{
    double h = (double)(ts % DAY) / (60.0 * MIN);
    double ramp = h < 8 ? 0 : (h < 9 ? h - 8 : (h < 17 ? 1 : (h < 18 ? 18 - h : 0)));
    return (1.0 + 5.0 * ramp) * (1 + 0.03 * noise((uint64_t)(ts / MIN) + 3));
}

static void test_a_meter_whose_load_rose_during_a_gap_is_not_an_anomaly(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(sizeof *s);
    det_series_init(s, &p, 1);
    det_result r;
    double kwh = 1000;
    int64_t t = 0;
    for (; t < 4 * DAY + 7 * 60 * MIN; t += MIN) { /* four days, to 07:00 (night load) */
        kwh += kw_at(t) / 60.0;
        det_series_update(s, &p, t, round(kwh * 1000) / 1000, &r);
    }
    assert_int_equal(r.shape, DET_SHAPE_COUNTER);
    /* the rate's resolution is the values' grid (0.001 kWh over the window), not the smallest
       increment (~0.016 kWh a minute at night) */
    assert_true(fabs(det_shape_resolution(&s->shape) - 0.001 / 60) < 1e-7);
    /* silent 07:00 - 10:00, while the load rose to 6 kW: the meter counted on */
    for (int64_t g = t; g < t + 3 * 60 * MIN; g += MIN)
        kwh += kw_at(g) / 60.0;
    t += 3 * 60 * MIN;
    int alerts = 0;
    for (int i = 0; i < 30; i++, t += MIN) {
        kwh += kw_at(t) / 60.0;
        det_series_update(s, &p, t, round(kwh * 1000) / 1000, &r);
        alerts += r.alert && r.level >= DET_LEVEL_INFO;
    }
    assert_int_equal(alerts, 0);
    free(s);
}

/* Air quality: a daily cycle, a slow wandering component (an hour's time constant) and noise,
 * one point a minute. */
static double air_at(int64_t ts, double *slow)
{
    uint64_t i = (uint64_t)(ts / MIN);
    *slow = 0.983 * *slow + 3.0 * noise(i * 2 + 11); /* AR(1), ~1 h, sd ~ 6.5 */
    return 80 + 25 * sin(2 * M_PI * (double)(ts % DAY) / (double)DAY) + *slow +
           6 * noise(i * 2 + 12);
}

static void test_a_seasonal_series_after_a_gap_is_not_an_anomaly(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    int alerts = 0;
    for (int seed = 0; seed < 8; seed++) { /* eight gaps at different hours */
        det_series *s = malloc(sizeof *s);
        det_series_init(s, &p, 1);
        det_result r;
        double slow = 0;
        int64_t t = 0, gap_at = 3 * DAY + (2 + 3 * seed) * 60 * MIN;
        for (; t < gap_at; t += MIN)
            det_series_update(s, &p, t, round(air_at(t, &slow)), &r);
        for (; t < gap_at + 2 * 60 * MIN; t += MIN) /* two silent hours, the air goes on */
            air_at(t, &slow);
        for (int i = 0; i < 30; i++, t += MIN) {
            det_series_update(s, &p, t, round(air_at(t, &slow)), &r);
            alerts += r.alert;
        }
        free(s);
    }
    assert_int_equal(alerts, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_two_hour_gap_is_not_an_anomaly_and_keeps_what_was_learned),
        cmocka_unit_test(test_an_anomaly_right_after_a_gap_is_still_found),
        cmocka_unit_test(test_irregular_sampling_is_quiet_and_a_spike_is_found),
        cmocka_unit_test(test_nightly_gaps_of_hours_are_not_anomalies),
        cmocka_unit_test(test_late_and_duplicate_points_are_scored_but_not_learned),
        cmocka_unit_test(test_a_gap_does_not_make_a_state_look_stuck),
        cmocka_unit_test(test_a_meter_whose_load_rose_during_a_gap_is_not_an_anomaly),
        cmocka_unit_test(test_a_seasonal_series_after_a_gap_is_not_an_anomaly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
