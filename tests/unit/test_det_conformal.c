/* Conformal tail: calibrated p-values on usual scores, a record is rare by how far it goes past
 * the top scores, a value that recurs stops alarming, memory is bounded (old records are
 * forgotten after two epochs), warm-up has no opinion, crafted states are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/conformal.h"

#include <math.h>
#include <string.h>

static double rnd(uint64_t i)
{
    return det_unit(det_mix64(i));
}

static void test_usual_scores_get_usual_p_values(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    int small = 0;
    for (int i = 0; i < 3000; i++) {
        double p = det_conf_update(&c, rnd((uint64_t)i), 50);
        if (i < 50) assert_true(p == 1.0); /* warm-up: no opinion */
        if (p < 1e-3) small++;
    }
    /* exchangeable scores: p < 1e-3 about 1e-3 of the time (records, at most a few) */
    assert_true(small <= 6);
}

static void test_a_record_is_rare_by_its_distance_past_the_top(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    for (int i = 0; i < 2000; i++)
        det_conf_update(&c, rnd((uint64_t)i), 50);
    det_conf a = c, b = c;
    double p_near = det_conf_update(&a, 1.001, 50); /* just past the largest (~1) */
    double p_far = det_conf_update(&b, 5.0, 50);
    assert_true(p_near <= 1.0 / 2000 + 1e-9);
    assert_true(p_far < 1e-12);
    assert_true(p_far < p_near);
}

static void test_a_value_that_recurs_stops_alarming(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    double first = 1, last = 1;
    for (int i = 0; i < 3000; i++) {
        double x = i % 288 == 100 ? 8.0 : rnd((uint64_t)i); /* a daily step the model misses */
        double p = det_conf_update(&c, x, 50);
        if (i == 100) first = p; /* its first occurrence (after the warm-up) */
        if (i == 100 + 288 * 10) last = p;
    }
    assert_true(first < 1e-6);
    assert_true(last > 1e-3); /* the 10th time it is one of the ten largest: no longer rare */
}

static void test_memory_is_bounded(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    det_conf_update(&c, 0.5, 50);
    det_conf_update(&c, 100.0, 50); /* an early outlier */
    for (uint32_t i = 0; i < 3 * DET_CONF_EPOCH; i++)
        det_conf_update(&c, 0.5 * rnd(i), 50);
    /* after two epochs the outlier is forgotten: a value of 50 is a record again */
    assert_true(det_conf_update(&c, 50.0, 50) < 1e-6);
    assert_true(c.n[0] + c.n[1] <= 2 * DET_CONF_EPOCH);
}

static void test_no_opinion_and_bad_input(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    for (int i = 0; i < 100; i++)
        det_conf_update(&c, rnd((uint64_t)i), 50);
    det_conf before = c;
    assert_true(det_conf_update(&c, -1.0, 50) == 1.0);
    assert_true(det_conf_update(&c, NAN, 50) == 1.0);
    assert_memory_equal(&before, &c, sizeof c); /* nothing learned */
    double p = det_conf_update(&c, INFINITY, 50);
    assert_true(p >= 0 && p < 1e-6);
    assert_int_equal(det_conf_validate(&c), 0);
}

static void test_validate_refuses_crafted_states(void **st)
{
    (void)st;
    det_conf c;
    det_conf_init(&c);
    for (int i = 0; i < 100; i++)
        det_conf_update(&c, rnd((uint64_t)i), 50);
    assert_int_equal(det_conf_validate(&c), 0);
    det_conf bad = c;
    bad.cnt[0] = DET_CONF_K + 1;
    assert_int_equal(det_conf_validate(&bad), -1);
    bad = c;
    bad.top[0][0] = NAN;
    assert_int_equal(det_conf_validate(&bad), -1);
    bad = c;
    bad.top[0][1] = bad.top[0][0] + 1; /* not descending */
    assert_int_equal(det_conf_validate(&bad), -1);
    bad = c;
    bad.n[1] = DET_CONF_EPOCH + 1;
    assert_int_equal(det_conf_validate(&bad), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usual_scores_get_usual_p_values),
        cmocka_unit_test(test_a_record_is_rare_by_its_distance_past_the_top),
        cmocka_unit_test(test_a_value_that_recurs_stops_alarming),
        cmocka_unit_test(test_memory_is_bounded),
        cmocka_unit_test(test_no_opinion_and_bad_input),
        cmocka_unit_test(test_validate_refuses_crafted_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
