/* Security detectors: auth-failure bursts, floods, ACL violations, new source addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/security.h"

#include <math.h>
#include <string.h>

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
    /* learning: two addresses of one network, another network */
    for (int i = 0; i < 50; i++)
        assert_int_equal(det_addrset_observe(&a, 1000 + i % 2, 10, 20), DET_ADDR_KNOWN);
    assert_int_equal(det_addrset_observe(&a, 1001, 10, 20), DET_ADDR_KNOWN);
    /* a neighbour in a known network, then a network never used */
    assert_int_equal(det_addrset_observe(&a, 1002, 10, 20), DET_ADDR_NEW_ADDRESS);
    assert_int_equal(det_addrset_observe(&a, 777777, 99, 20), DET_ADDR_NEW_NETWORK);
    assert_int_equal(det_addrset_observe(&a, 777777, 99, 20), DET_ADDR_KNOWN); /* now known */
    assert_int_equal(det_addrset_count(&a), 4);
}

static void test_new_address_while_learning_is_not_flagged(void **st)
{
    (void)st;
    det_addrset a;
    det_addrset_init(&a);
    assert_int_equal(det_addrset_observe(&a, 1, 1, 3), DET_ADDR_KNOWN);
    assert_int_equal(det_addrset_observe(&a, 2, 2, 3), DET_ADDR_KNOWN);
    assert_int_equal(det_addrset_observe(&a, 2, 2, 3), DET_ADDR_KNOWN);
    assert_int_equal(det_addrset_observe(&a, 3, 3, 3), DET_ADDR_NEW_NETWORK);
}

static void test_a_roaming_device_is_not_flagged_inside_its_networks(void **st)
{
    (void)st;
    det_addrset a;
    det_addrset_init(&a);
    /* a DHCP pool: many addresses of one network while learning */
    for (uint64_t i = 0; i < 20; i++)
        det_addrset_observe(&a, 100 + i % 5, 7, 20);
    assert_int_equal(a.roaming, 1);
    assert_int_equal(det_addrset_observe(&a, 200, 7, 20), DET_ADDR_KNOWN);
    /* a new network is still reported (the caller makes it informational) */
    assert_int_equal(det_addrset_observe(&a, 300, 8, 20), DET_ADDR_NEW_NETWORK);
}

static void test_address_set_snapshot_round_trips_and_refuses_garbage(void **st)
{
    (void)st;
    det_addrset a, b;
    det_addrset_init(&a);
    for (int i = 0; i < 30; i++)
        det_addrset_observe(&a, 5 + i % 2, 1, 10);
    uint8_t buf[DET_ADDRSET_SNAP_SIZE];
    assert_int_equal(det_addrset_snapshot(&a, buf, sizeof buf), sizeof buf);
    assert_int_equal(det_addrset_restore(&b, buf, sizeof buf), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(det_addrset_observe(&b, 9, 2, 10), DET_ADDR_NEW_NETWORK);
    buf[0] ^= 1;
    assert_int_equal(det_addrset_restore(&b, buf, sizeof buf), -1);
    assert_int_equal(det_addrset_count(&b), 0);
    assert_int_equal(det_addrset_restore(&b, buf, 7), -1);
}

static void test_skipped_quiet_intervals_are_learned_as_zeros(void **st)
{
    (void)st;
    /* a device that sent 30 messages per interval, then went quiet for an hour: the intervals
       of silence were never stored, but the baseline has learned them */
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    int64_t ts = 1700000000000;
    for (int i = 0; i < 100; i++, ts += DET_SEC_INTERVAL_MS)
        det_burst_update_at(&b, DET_SEC_MESSAGES, ts, DET_SEC_INTERVAL_MS, 30, &r);
    assert_true(b.rate > 25);
    ts += 359 * (int64_t)DET_SEC_INTERVAL_MS; /* 359 intervals skipped, then this one */
    det_burst_update_at(&b, DET_SEC_MESSAGES, ts, DET_SEC_INTERVAL_MS, 0, &r);
    assert_true(b.rate < 0.01 * 30);
    assert_int_equal(b.n, 100 + 360);
    /* a repeated timestamp skips nothing */
    float rate = b.rate;
    det_burst_update_at(&b, DET_SEC_MESSAGES, ts, DET_SEC_INTERVAL_MS, 0, &r);
    assert_true(b.rate <= rate);
    assert_int_equal(b.n, 100 + 361);
    /* after the silence, a burst stands out again */
    det_burst_update_at(&b, DET_SEC_MESSAGES, ts + DET_SEC_INTERVAL_MS, DET_SEC_INTERVAL_MS, 300,
                        &r);
    assert_int_equal(r.level, DET_LEVEL_CRITICAL);
}

static void test_severity_follows_the_ratio_to_the_baseline(void **st)
{
    (void)st;
    /* a busy device: 1,000 messages per interval. 1,300 is improbable under Poisson but only
       1.3x normal: not an alert; 2,500 warns; 6,000 is critical */
    det_burst b;
    det_burst_init(&b);
    det_sec_result r;
    for (int i = 0; i < 100; i++)
        det_burst_update(&b, DET_SEC_MESSAGES, 1000, &r);
    det_burst_update(&b, DET_SEC_MESSAGES, 1300, &r);
    assert_true(r.q < 1e-9);
    assert_int_equal(r.level, DET_LEVEL_NONE);
    det_burst_update(&b, DET_SEC_MESSAGES, 2500, &r);
    assert_int_equal(r.level, DET_LEVEL_WARNING);
    det_burst_update(&b, DET_SEC_MESSAGES, 6000, &r);
    assert_int_equal(r.level, DET_LEVEL_CRITICAL);
}

static void test_burst_snapshot_round_trips_and_refuses_garbage(void **st)
{
    (void)st;
    det_burst b, c;
    det_burst_init(&b);
    det_sec_result r;
    for (int i = 0; i < 20; i++)
        det_burst_update_at(&b, DET_SEC_CONNECTIONS, 1000 + i * DET_SEC_INTERVAL_MS,
                            DET_SEC_INTERVAL_MS, 3, &r);
    uint8_t buf[DET_BURST_SNAP_SIZE];
    assert_int_equal(det_burst_snapshot(&b, buf, sizeof buf), sizeof buf);
    assert_int_equal(det_burst_restore(&c, buf, sizeof buf), 0);
    assert_int_equal(c.n, b.n);
    assert_true(c.rate == b.rate && c.last_ts == b.last_ts);
    float nan = NAN;
    memcpy(buf + 8, &nan, 4);
    assert_int_equal(det_burst_restore(&c, buf, sizeof buf), -1);
    assert_int_equal(c.n, 0);
    assert_int_equal(det_burst_restore(&c, buf, 3000), -1);
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
        cmocka_unit_test(test_new_address_while_learning_is_not_flagged),
        cmocka_unit_test(test_a_roaming_device_is_not_flagged_inside_its_networks),
        cmocka_unit_test(test_address_set_snapshot_round_trips_and_refuses_garbage),
        cmocka_unit_test(test_skipped_quiet_intervals_are_learned_as_zeros),
        cmocka_unit_test(test_severity_follows_the_ratio_to_the_baseline),
        cmocka_unit_test(test_burst_snapshot_round_trips_and_refuses_garbage),
        cmocka_unit_test(test_metric_names_map_to_detectors_and_poisson_tail_is_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
