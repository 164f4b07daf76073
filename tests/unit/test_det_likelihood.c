/* Anomaly likelihood: calibrated q for usual scores, tiny q for an unusual run, spikes that keep
 * coming stop being anomalous, warm-up stays silent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/likelihood.h"

#include <math.h>

static double rnd(uint64_t i)
{
    return det_unit(det_mix64(i));
}

static void test_usual_scores_are_not_anomalous_and_a_run_of_high_ones_is(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_lik s;
    det_lik_init(&s);
    double qmin = 1;
    for (int i = 0; i < 5000; i++) {
        double q = det_lik_update(&s, &p, rnd(i));
        if (i > 1000 && q < qmin) qmin = q;
    }
    assert_true(det_lik_score(qmin) < 0.5);
    double q = 1;
    for (int i = 0; i < 10; i++)
        q = det_lik_update(&s, &p, 20.0);
    assert_true(det_lik_score(q) > 0.9);
}

/* Usual raw scores; from point 2000 on, a spike every 100 points (so ~10% of the short-term
 * averages sit in the tail: too many to be a tail). */
static double spiky_score(int i)
{
    return i >= 2000 && i % 100 == 0 ? 20.0 : rnd((uint64_t)i);
}

static double min_q_after(det_lik *s, const det_params *p, int learn, int look)
{
    det_lik_init(s);
    for (int i = 0; i < learn; i++)
        det_lik_update(s, p, spiky_score(i));
    double qmin = 1;
    for (int i = learn; i < learn + look; i++) {
        double q = det_lik_update(s, p, spiky_score(i));
        if (q < qmin) qmin = q;
    }
    return qmin;
}

static void test_spikes_that_keep_coming_stop_being_anomalous(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    assert_true(p.lik_fmax > 0 && p.lik_fmax < 0.1);
    p.lik_short = 10; /* a spike then lifts 10% of the short-term averages (the premise) */
    det_lik s;
    /* at first a spike is news */
    assert_true(det_lik_score(min_q_after(&s, &p, 2000, 10)) > 0.9);
    /* after 60 of them it is part of the distribution */
    assert_true(det_lik_score(min_q_after(&s, &p, 8000, 100)) < 0.5);
    /* the peak rule alone learns them too (they never go past the usual spikes) */
    p.lik_fmax = 0;
    assert_true(det_lik_score(min_q_after(&s, &p, 8000, 100)) < 0.5);
    /* without either rule the bulk never learns them and every spike looks like the first */
    p.lik_peak_h = 0;
    assert_true(det_lik_score(min_q_after(&s, &p, 8000, 100)) > 0.7);
}

/* Usual raw scores (uniform in [0, 1)), from point 1200 on a spike of 20 every 300 points (4 % of
 * the 12-point averages: too few to be part of the bulk); at point `big` (0: none) a spike of 40.
 * Returns the highest score of points [from, to). */
static double rare_spikes_max(const det_params *p, int from, int to, int big)
{
    det_lik s;
    det_lik_init(&s);
    double best = 0;
    for (int i = 0; i < to; i++) {
        double raw = rnd((uint64_t)i);
        if (i >= 1200 && i % 300 == 0) raw = 20.0;
        if (big && i == big) raw = 40.0;
        double v = det_lik_score(det_lik_update(&s, p, raw));
        if (i >= from && v > best) best = v;
    }
    return best;
}

static void test_rare_recurring_spikes_are_learned_by_height_and_a_higher_one_alarms(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    assert_true(p.lik_peak_h > 300);
    /* the first spikes are news */
    assert_true(rare_spikes_max(&p, 1200, 1212, 0) > 0.9);
    /* after a few of them a spike of the usual height is quiet */
    assert_true(rare_spikes_max(&p, 4000, 8000, 0) < p.alert_info);
    /* one twice as high is not */
    assert_true(rare_spikes_max(&p, 6000, 6012, 6000) > 0.9);
    /* without the peak rule every one of them alarms like the first */
    p.lik_peak_h = 0;
    assert_true(rare_spikes_max(&p, 7800, 7812, 0) > 0.9);
}

/* Usual raw scores (uniform in [0, 1)), then a surprise of 2 points at 2.5 x the usual largest:
 * returns the highest score around it, and in *usual the highest score of the usual stretch. */
static double short_surprise(const det_params *p, double *usual)
{
    det_lik s;
    det_lik_init(&s);
    *usual = 0;
    double best = 0;
    for (int i = 0; i < 5020; i++) {
        double raw = i >= 5000 && i < 5002 ? 2.5 : rnd((uint64_t)i);
        double v = det_lik_score(det_lik_update(&s, p, raw));
        if (i > 1000 && i < 5000 && v > *usual) *usual = v;
        if (i >= 5000 && v > best) best = v;
    }
    return best;
}

static void test_shorter_average_finds_a_brief_surprise_the_longer_one_dilutes(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    assert_true(p.lik_short2 > 0 && p.lik_short2 < p.lik_short);
    double usual;
    assert_true(short_surprise(&p, &usual) > p.alert_info);
    assert_true(usual < p.alert_info);
    /* the 12-point average alone dilutes it below the alert threshold */
    p.lik_short2 = 0;
    assert_true(short_surprise(&p, &usual) < p.alert_info);
    assert_true(usual < p.alert_info);
}

/* det_lik_update_k(..., 0), for a stream that is already a window count (a discrete series'
 * changes over 16 points): exactly the lik_short average alone, with no Bonferroni factor 2 for
 * a shorter average that adds nothing. */
static void test_without_the_shorter_average_q_is_the_long_average_alone(void **st)
{
    (void)st;
    det_params p, p1;
    det_params_default(&p);
    p1 = p;
    p1.lik_short2 = 0;
    det_lik a, b;
    det_lik_init(&a);
    det_lik_init(&b);
    for (int i = 0; i < 6000; i++) {
        double raw = i % 500 < 3 ? 3.0 + (i % 1500) / 500 : rnd((uint64_t)i);
        assert_true(det_lik_update_k(&a, &p, raw, 0) == det_lik_update(&b, &p1, raw));
    }
}

static void test_warmup_reports_q_one(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_lik s;
    det_lik_init(&s);
    for (uint32_t i = 0; i < p.warmup; i++)
        assert_true(det_lik_update(&s, &p, i % 7 ? 0.1 : 50.0) == 1.0);
}

static void test_negative_raw_is_ignored(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_lik s;
    det_lik_init(&s);
    assert_true(det_lik_update(&s, &p, -1.0) == 1.0);
    assert_int_equal(s.n, 0);
}

static void test_score_scale_matches_numenta_log_scale(void **st)
{
    (void)st;
    assert_true(fabs(det_lik_score(1e-5) - 0.5) < 1e-3);
    assert_true(det_lik_score(1.0) < 1e-6);
    assert_true(det_lik_score(1e-20) == 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usual_scores_are_not_anomalous_and_a_run_of_high_ones_is),
        cmocka_unit_test(test_spikes_that_keep_coming_stop_being_anomalous),
        cmocka_unit_test(test_rare_recurring_spikes_are_learned_by_height_and_a_higher_one_alarms),
        cmocka_unit_test(test_shorter_average_finds_a_brief_surprise_the_longer_one_dilutes),
        cmocka_unit_test(test_without_the_shorter_average_q_is_the_long_average_alone),
        cmocka_unit_test(test_warmup_reports_q_one),
        cmocka_unit_test(test_negative_raw_is_ignored),
        cmocka_unit_test(test_score_scale_matches_numenta_log_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
