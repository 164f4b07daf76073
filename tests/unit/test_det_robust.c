/* Robust seasonal baseline: learns a daily profile, scores spikes, follows level shifts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/robust.h"

#include <math.h>

#define MIN5 300000LL

static double noise(uint64_t i)
{
    return det_unit(det_mix64(i)) - 0.5; /* uniform, sd ~0.29 */
}

static double daily(int64_t ts)
{
    double h = fmod((double)ts / 3600000.0, 24.0);
    return h >= 9 && h < 18 ? 70.0 : 20.0;
}

static void test_daily_pattern_is_learned_and_spike_scores_high(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    int64_t ts = 0;
    double zmax_normal = 0;
    for (int i = 0; i < 288 * 10; i++, ts += MIN5) {
        double z = det_robust_update(&s, &p, ts, daily(ts) + noise(i));
        if (i > 288 * 7 && z > zmax_normal) zmax_normal = z;
    }
    /* after a week the 09:00 step is expected, not anomalous */
    assert_true(zmax_normal < 6.0);
    assert_true(fabs(det_robust_predict(&s, ts + 10 * 3600000LL) - 70.0) < 3.0);
    double z = det_robust_update(&s, &p, ts, daily(ts) + 30.0);
    assert_true(z > 20.0);
}

static void test_night_value_during_the_day_is_anomalous(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    int64_t ts = 0;
    for (int i = 0; i < 288 * 10; i++, ts += MIN5)
        det_robust_update(&s, &p, ts, daily(ts) + noise(i));
    while (daily(ts) != 70.0)
        ts += MIN5;
    assert_true(det_robust_update(&s, &p, ts, 20.0) > 10.0);
}

static void test_level_shift_is_absorbed(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    int64_t ts = 0;
    int i = 0;
    for (; i < 2000; i++, ts += 60000)
        det_robust_update(&s, &p, ts, 10.0 + noise(i));
    double first = det_robust_update(&s, &p, ts, 20.0 + noise(i));
    double last = 0;
    for (int k = 0; k < 300; k++, i++, ts += 60000)
        last = det_robust_update(&s, &p, ts, 20.0 + noise(i));
    assert_true(first > 10.0);
    assert_true(last < 4.0);
}

static double aux_of(const det_robust *s)
{
    return det_robust_vt.aux(s);
}

static void test_persistent_small_deviation_raises_the_shift_stream(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    int64_t ts = 0;
    int i = 0;
    double usual = 0;
    for (; i < 2000; i++, ts += 60000) {
        det_robust_update(&s, &p, ts, 10.0 + noise(i));
        if (i >= 1900 && aux_of(&s) > usual) usual = aux_of(&s);
    }
    /* each point only ~2 scales off: no single point is extreme, but they all lean one way */
    double point_max = 0, shifted = 0;
    for (int k = 0; k < 30; k++, i++, ts += 60000) {
        double z = det_robust_update(&s, &p, ts, 10.0 + 2.0 * s.scale_n + noise(i));
        if (z > point_max) point_max = z;
        if (aux_of(&s) > shifted) shifted = aux_of(&s);
    }
    assert_true(point_max < 4.0);
    assert_true(shifted > 2.0 * usual);
    assert_true(shifted > 0.5);
}

static void test_shift_stream_is_silent_when_disabled(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    p.shift_alpha = 0;
    det_robust s;
    det_robust_init(&s, &p, 1);
    for (int i = 0; i < 100; i++)
        det_robust_update(&s, &p, i * 60000LL, 10.0 + noise(i));
    assert_true(aux_of(&s) < 0);
}

static void test_warmup_reports_no_opinion_and_expected_range_follows(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    double lo, hi;
    assert_true(det_robust_update(&s, &p, 0, 5.0) < 0);
    assert_int_equal(det_robust_vt.expected(&s, &lo, &hi), -1);
    for (int i = 1; i < 500; i++)
        det_robust_update(&s, &p, i * 1000LL, 5.0 + noise(i));
    assert_int_equal(det_robust_vt.expected(&s, &lo, &hi), 0);
    assert_true(lo < 5.0 && hi > 5.0 && hi - lo < 5.0);
}

/* Zeros with a recurring spike: every spike is clipped when the scales learn, so without the
   floor from the unclipped mean |residual| the scale shrank each cycle and the z of the same
   spike grew without bound (1e9 and more after ~20 cycles); now it settles at a few hundred. */
static void test_recurring_spike_in_a_zero_series_keeps_a_bounded_z(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    double z_early = 0, z_mid = 0, z_late = 0;
    for (int i = 0; i < 37 * 60; i++) {
        double z = det_robust_update(&s, &p, i * MIN5, i % 37 == 0 ? 5.0 : 0.0);
        if (i == 37 * 10) z_early = z;
        if (i == 37 * 30) z_mid = z;
        if (i == 37 * 59) z_late = z;
    }
    assert_true(z_early > 10.0); /* still a clear outlier against the zeros */
    assert_true(isfinite(z_late) && z_late < 1e3);
    assert_true(z_late <= 1.05 * z_mid); /* it settles instead of growing 2.5x per cycle */
    assert_int_equal(det_robust_vt.validate(&s), 0);
}

/* Weekdays busy from 8 to 20 h, weekends quiet; day 0 (1970-01-01) was a Thursday. */
static double weekly(int64_t day, int hour, int holiday)
{
    int weekday = (int)((day + 3) % 7); /* 0 = Monday */
    if (weekday >= 5 || holiday) return 30.0;
    return hour >= 8 && hour < 20 ? 100.0 : 20.0;
}

static void test_a_holiday_on_a_weekday_raises_the_calendar_stream(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    uint64_t i = 0;
    double ordinary = 0, holiday = 0;
    const int64_t days = 7 * 8, holiday_day = days - 3; /* a Thursday of the last week */
    for (int64_t day = 0; day < days; day++) {
        for (int hour = 0; hour < 24; hour++, i++) {
            int64_t ts = (day * 24 + hour) * 3600000LL;
            det_robust_update(&s, &p, ts, weekly(day, hour, day == holiday_day) + 2 * noise(i));
            if (day >= days - 14 && day != holiday_day && s.d_raw > ordinary) ordinary = s.d_raw;
            if (day == holiday_day && s.d_raw > holiday) holiday = s.d_raw;
        }
    }
    /* each hour of the holiday looks like a weekend hour, which the point models have seen;
     * the day as a whole is far from any earlier Thursday */
    assert_true(holiday > 2.0 * ordinary);
    assert_true(isfinite(holiday));
}

static void test_flat_signal_gives_finite_scores(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_robust s;
    det_robust_init(&s, &p, 1);
    double z = 0;
    for (int i = 0; i < 1000; i++)
        z = det_robust_update(&s, &p, i * 1000LL, 3.0);
    assert_true(isfinite(z) && z < 1e-3);
    assert_true(det_robust_update(&s, &p, 1001000LL, 4.0) > 10.0);
    assert_int_equal(det_robust_vt.validate(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_pattern_is_learned_and_spike_scores_high),
        cmocka_unit_test(test_night_value_during_the_day_is_anomalous),
        cmocka_unit_test(test_level_shift_is_absorbed),
        cmocka_unit_test(test_persistent_small_deviation_raises_the_shift_stream),
        cmocka_unit_test(test_shift_stream_is_silent_when_disabled),
        cmocka_unit_test(test_warmup_reports_no_opinion_and_expected_range_follows),
        cmocka_unit_test(test_flat_signal_gives_finite_scores),
        cmocka_unit_test(test_recurring_spike_in_a_zero_series_keeps_a_bounded_z),
        cmocka_unit_test(test_a_holiday_on_a_weekday_raises_the_calendar_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
