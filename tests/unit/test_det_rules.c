/* Threshold rules: hold times, one event per episode, rate of change, staleness, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/rules.h"

#include <math.h>

static void test_above_fires_only_after_hold_time_and_clears_once(void **st)
{
    (void)st;
    det_rule r = {.id = 1,
                  .kind = DET_RULE_ABOVE,
                  .severity = DET_LEVEL_WARNING,
                  .threshold = 80,
                  .for_ms = 10000};
    det_rule_state s;
    det_rule_state_init(&s);
    assert_int_equal(det_rule_eval(&r, &s, 0, 85), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 5000, 86), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 10000, 87), DET_RULE_FIRED);
    assert_int_equal(det_rule_eval(&r, &s, 11000, 90), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 12000, 70), DET_RULE_CLEARED);
    assert_int_equal(det_rule_eval(&r, &s, 13000, 70), DET_RULE_QUIET);
}

static void test_dip_below_threshold_restarts_the_hold_time(void **st)
{
    (void)st;
    det_rule r = {
        .kind = DET_RULE_ABOVE, .severity = DET_LEVEL_INFO, .threshold = 80, .for_ms = 10000};
    det_rule_state s;
    det_rule_state_init(&s);
    det_rule_eval(&r, &s, 0, 85);
    det_rule_eval(&r, &s, 6000, 75);
    assert_int_equal(det_rule_eval(&r, &s, 12000, 85), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 22000, 85), DET_RULE_FIRED);
}

static void test_below_with_zero_hold_fires_at_once(void **st)
{
    (void)st;
    det_rule r = {
        .kind = DET_RULE_BELOW, .severity = DET_LEVEL_CRITICAL, .threshold = 5, .for_ms = 0};
    det_rule_state s;
    det_rule_state_init(&s);
    assert_int_equal(det_rule_eval(&r, &s, 0, 6), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 1000, 4), DET_RULE_FIRED);
}

static void test_rate_of_change_uses_elapsed_seconds(void **st)
{
    (void)st;
    det_rule r = {.kind = DET_RULE_RATE, .severity = DET_LEVEL_WARNING, .threshold = 2.0};
    det_rule_state s;
    det_rule_state_init(&s);
    assert_int_equal(det_rule_eval(&r, &s, 0, 10), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 10000, 25), DET_RULE_QUIET); /* 1.5/s */
    assert_int_equal(det_rule_eval(&r, &s, 11000, 20), DET_RULE_FIRED); /* 5/s */
    assert_int_equal(det_rule_eval(&r, &s, 21000, 21), DET_RULE_CLEARED);
}

static void test_stale_fires_on_tick_and_clears_on_next_point(void **st)
{
    (void)st;
    det_rule r = {.kind = DET_RULE_STALE, .severity = DET_LEVEL_WARNING, .for_ms = 60000};
    det_rule_state s;
    det_rule_state_init(&s);
    assert_int_equal(det_rule_tick(&r, &s, 1000000), DET_RULE_QUIET); /* never seen: no claim */
    det_rule_eval(&r, &s, 0, 1);
    assert_int_equal(det_rule_tick(&r, &s, 30000), DET_RULE_QUIET);
    assert_int_equal(det_rule_tick(&r, &s, 61000), DET_RULE_FIRED);
    assert_int_equal(det_rule_tick(&r, &s, 62000), DET_RULE_QUIET);
    assert_int_equal(det_rule_eval(&r, &s, 63000, 1), DET_RULE_CLEARED);
}

static void test_invalid_rules_are_refused(void **st)
{
    (void)st;
    det_rule r = {.kind = DET_RULE_ABOVE, .severity = DET_LEVEL_INFO, .threshold = 1};
    assert_int_equal(det_rule_validate(&r), 0);
    r.threshold = NAN;
    assert_int_equal(det_rule_validate(&r), -1);
    r.threshold = 1;
    r.severity = DET_LEVEL_NONE;
    assert_int_equal(det_rule_validate(&r), -1);
    r.severity = DET_LEVEL_INFO;
    r.kind = DET_RULE_STALE;
    assert_int_equal(det_rule_validate(&r), -1); /* stale needs a silence length */
    r.kind = (det_rule_kind)42;
    assert_int_equal(det_rule_validate(&r), -1);
    det_rule_kind k;
    assert_int_equal(det_rule_kind_parse("rate", &k), 0);
    assert_int_equal(k, DET_RULE_RATE);
    assert_int_equal(det_rule_kind_parse("nope", &k), -1);
    assert_string_equal(det_rule_kind_name(DET_RULE_STALE), "stale");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_above_fires_only_after_hold_time_and_clears_once),
        cmocka_unit_test(test_dip_below_threshold_restarts_the_hold_time),
        cmocka_unit_test(test_below_with_zero_hold_fires_at_once),
        cmocka_unit_test(test_rate_of_change_uses_elapsed_seconds),
        cmocka_unit_test(test_stale_fires_on_tick_and_clears_on_next_point),
        cmocka_unit_test(test_invalid_rules_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
