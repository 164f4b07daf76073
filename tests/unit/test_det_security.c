/* Security detectors: auth-failure bursts, floods, ACL violations, new source addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/security.h"

#include <math.h>

static void test_auth_failure_burst_is_critical_after_a_quiet_baseline(void **st)
{
    (void)st;
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    for (int i = 0; i < 100; i++) {
        det_burst_update(&b, DET_SEC_AUTH_FAILURES, i % 10 == 0 ? 1 : 0, &r);
        assert_int_equal(r.level, DET_LEVEL_NONE);
    }
    det_burst_update(&b, DET_SEC_AUTH_FAILURES, 40, &r);
    assert_int_equal(r.level, DET_LEVEL_CRITICAL);
    /* a sustained attack keeps alerting: the burst is barely learned */
    det_burst_update(&b, DET_SEC_AUTH_FAILURES, 40, &r);
    assert_true(r.level >= DET_LEVEL_WARNING);
}

static void test_small_counts_never_alert_below_the_minimum(void **st)
{
    (void)st;
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    for (int i = 0; i < 50; i++)
        det_burst_update(&b, DET_SEC_AUTH_FAILURES, 0, &r);
    det_burst_update(&b, DET_SEC_AUTH_FAILURES, 3, &r);
    assert_int_equal(r.level, DET_LEVEL_NONE);
}

static void test_connection_flood_against_a_busy_baseline(void **st)
{
    (void)st;
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    for (int i = 0; i < 200; i++)
        det_burst_update(&b, DET_SEC_CONNECTIONS, 30 + i % 5, &r);
    assert_int_equal(r.level, DET_LEVEL_NONE);
    det_burst_update(&b, DET_SEC_CONNECTIONS, 300, &r);
    assert_int_equal(r.level, DET_LEVEL_CRITICAL);
    assert_true(r.expected > 25 && r.expected < 40);
}

static void test_any_acl_violation_warns(void **st)
{
    (void)st;
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    det_burst_update(&b, DET_SEC_ACL_VIOLATIONS, 1, &r);
    assert_true(r.level >= DET_LEVEL_WARNING);
    det_burst_update(&b, DET_SEC_ACL_VIOLATIONS, 0, &r);
    assert_int_equal(r.level, DET_LEVEL_NONE);
}

static void test_new_source_address_is_flagged_after_learning(void **st)
{
    (void)st;
    det_addrset a;
    det_addrset_init(&a);
    for (int i = 0; i < 50; i++)
        assert_int_equal(det_addrset_observe(&a, 1000 + i % 3, 20), 0);
    assert_int_equal(det_addrset_observe(&a, 1001, 20), 0);
    assert_int_equal(det_addrset_observe(&a, 777777, 20), 1);
    assert_int_equal(det_addrset_observe(&a, 777777, 20), 0); /* now known */
}

static void test_metric_names_map_to_detectors_and_poisson_tail_is_sane(void **st)
{
    (void)st;
    det_sec_kind k;
    assert_int_equal(det_sec_kind_of("sys.auth_failures", &k), 0);
    assert_int_equal(k, DET_SEC_AUTH_FAILURES);
    assert_int_equal(det_sec_kind_of("temperature", &k), -1);
    assert_true(fabs(det_poisson_tail(1, 1.0) - (1 - exp(-1.0))) < 1e-12);
    assert_true(det_poisson_tail(0, 3.0) == 1.0);
    assert_true(det_poisson_tail(60, 2.0) < 1e-40 && det_poisson_tail(60, 2.0) > 0);
    assert_true(fabs(det_poisson_tail(1000, 1000) - 0.5) < 0.02);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_failure_burst_is_critical_after_a_quiet_baseline),
        cmocka_unit_test(test_small_counts_never_alert_below_the_minimum),
        cmocka_unit_test(test_connection_flood_against_a_busy_baseline),
        cmocka_unit_test(test_any_acl_violation_warns),
        cmocka_unit_test(test_new_source_address_is_flagged_after_learning),
        cmocka_unit_test(test_metric_names_map_to_detectors_and_poisson_tail_is_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
