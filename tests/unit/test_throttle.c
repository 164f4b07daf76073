/* Tests of auth/throttle: lockout after N failures within the window, expiry, success
 * clearing, independent keys, bounded memory with least-recently-touched eviction, sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/throttle.h"

#include <stdio.h>
#include <string.h>

#define MIN (60 * 1000)

static auth_throttle *make(size_t max_entries)
{
    auth_throttle_options o;
    auth_throttle_options_default(&o);
    o.max_entries = max_entries;
    auth_throttle *t = auth_throttle_new(&o);
    assert_non_null(t);
    return t;
}

static void fail_n(auth_throttle *t, const char *key, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        assert_true(auth_throttle_failure(t, key, now) >= 0);
}

static void test_defaults_are_5_failures_15_minutes(void **state)
{
    auth_throttle_options o;
    auth_throttle_options_default(&o);
    assert_int_equal(o.max_failures, 5);
    assert_int_equal(o.window_ms, 15 * MIN);
    assert_int_equal(o.lockout_ms, 15 * MIN);
    assert_true(o.max_entries > 0);
}

static void test_unknown_key_is_allowed(void **state)
{
    auth_throttle *t = auth_throttle_new(NULL);
    assert_non_null(t);
    int64_t retry = 123;
    assert_int_equal(auth_throttle_check(t, "email:a@example.com", 1000, &retry), 0);
    assert_int_equal(retry, 0);
    assert_int_equal(auth_throttle_size(t), 0); /* a check alone stores nothing */
    auth_throttle_free(t);
}

static void test_fifth_failure_locks_the_key(void **state)
{
    auth_throttle *t = make(0);
    const char *k = "email:victim@example.com";
    int64_t now = 1000000;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(auth_throttle_failure(t, k, now + i), 0);
        assert_int_equal(auth_throttle_check(t, k, now + i, NULL), 0);
    }
    assert_int_equal(auth_throttle_failure(t, k, now + 4), 1); /* this one locks */
    int64_t retry = 0;
    assert_int_equal(auth_throttle_check(t, k, now + 5, &retry), -1);
    assert_int_equal(retry, 15 * MIN - 1);
    auth_throttle_free(t);
}

static void test_lockout_expires_after_lockout_ms(void **state)
{
    auth_throttle *t = make(0);
    const char *k = "ip:192.0.2.7";
    int64_t now = 5000;
    fail_n(t, k, 5, now);
    int64_t retry = 0;
    assert_int_equal(auth_throttle_check(t, k, now + 15 * MIN - 1, &retry), -1);
    assert_int_equal(retry, 1);
    assert_int_equal(auth_throttle_check(t, k, now + 15 * MIN, &retry), 0);
    assert_int_equal(retry, 0);
    /* A fresh start: one more failure does not lock again. */
    assert_int_equal(auth_throttle_failure(t, k, now + 15 * MIN + 1), 0);
    assert_int_equal(auth_throttle_check(t, k, now + 15 * MIN + 2, NULL), 0);
    auth_throttle_free(t);
}

static void test_failures_while_locked_do_not_extend_lockout(void **state)
{
    auth_throttle *t = make(0);
    const char *k = "email:x@example.com";
    fail_n(t, k, 5, 0);
    assert_int_equal(auth_throttle_failure(t, k, 10 * MIN), 0);
    int64_t retry = 0;
    assert_int_equal(auth_throttle_check(t, k, 10 * MIN, &retry), -1);
    assert_int_equal(retry, 5 * MIN);
    assert_int_equal(auth_throttle_check(t, k, 15 * MIN, NULL), 0);
    auth_throttle_free(t);
}

static void test_failures_outside_window_do_not_accumulate(void **state)
{
    auth_throttle *t = make(0);
    const char *k = "email:slow@example.com";
    fail_n(t, k, 4, 0);
    /* The window (15 min from the first failure) has passed: the count restarts. */
    assert_int_equal(auth_throttle_failure(t, k, 15 * MIN), 0);
    assert_int_equal(auth_throttle_check(t, k, 15 * MIN, NULL), 0);
    fail_n(t, k, 3, 15 * MIN + 1);
    assert_int_equal(auth_throttle_check(t, k, 15 * MIN + 2, NULL), 0);
    assert_int_equal(auth_throttle_failure(t, k, 15 * MIN + 3), 1);
    assert_int_equal(auth_throttle_check(t, k, 15 * MIN + 4, NULL), -1);
    auth_throttle_free(t);
}

static void test_success_clears_failures(void **state)
{
    auth_throttle *t = make(0);
    const char *k = "email:ok@example.com";
    fail_n(t, k, 4, 0);
    auth_throttle_success(t, k);
    assert_int_equal(auth_throttle_size(t), 0);
    fail_n(t, k, 4, 1);
    assert_int_equal(auth_throttle_check(t, k, 2, NULL), 0);
    assert_int_equal(auth_throttle_failure(t, k, 3), 1);
    auth_throttle_success(t, "email:never-seen@example.com"); /* harmless */
    assert_int_equal(auth_throttle_check(t, k, 4, NULL), -1);
    auth_throttle_free(t);
}

static void test_keys_are_independent(void **state)
{
    auth_throttle *t = make(0);
    fail_n(t, "email:a@example.com", 5, 0);
    assert_int_equal(auth_throttle_check(t, "email:a@example.com", 1, NULL), -1);
    assert_int_equal(auth_throttle_check(t, "email:b@example.com", 1, NULL), 0);
    assert_int_equal(auth_throttle_check(t, "ip:a@example.com", 1, NULL), 0);
    assert_int_equal(auth_throttle_check(t, "email:A@example.com", 1, NULL), 0); /* exact keys */
    auth_throttle_free(t);
}

static void test_custom_options_are_honoured(void **state)
{
    auth_throttle_options o = {.max_failures = 2, .window_ms = 1000, .lockout_ms = 500};
    auth_throttle *t = auth_throttle_new(&o);
    assert_non_null(t);
    assert_int_equal(auth_throttle_failure(t, "k", 0), 0);
    assert_int_equal(auth_throttle_failure(t, "k", 1), 1);
    int64_t retry = 0;
    assert_int_equal(auth_throttle_check(t, "k", 2, &retry), -1);
    assert_int_equal(retry, 499);
    assert_int_equal(auth_throttle_check(t, "k", 501, NULL), 0);
    auth_throttle_free(t);
    auth_throttle_options neg = {.window_ms = -1};
    assert_null(auth_throttle_new(&neg));
}

static void test_entries_are_bounded_and_least_recent_is_evicted(void **state)
{
    auth_throttle *t = make(100);
    fail_n(t, "email:victim@example.com", 5, 0);
    char key[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "ip:10.0.%d.%d", i / 256, i % 256);
        assert_true(auth_throttle_failure(t, key, 1 + i) >= 0);
        assert_true(auth_throttle_size(t) <= 100);
        /* The attacker keeps hitting the locked account: it stays the most recently touched. */
        assert_int_equal(auth_throttle_check(t, "email:victim@example.com", 1 + i, NULL), -1);
    }
    assert_int_equal(auth_throttle_size(t), 100);
    /* The oldest sprayed keys were evicted, the newest kept. */
    fail_n(t, "ip:10.0.3.231", 4, 2000); /* i = 999: newest, had 1 failure -> now 5 */
    assert_int_equal(auth_throttle_check(t, "ip:10.0.3.231", 2001, NULL), -1);
    fail_n(t, "ip:10.0.0.0", 4, 2000); /* i = 0: evicted long ago, starts from 0 -> 4 */
    assert_int_equal(auth_throttle_check(t, "ip:10.0.0.0", 2001, NULL), 0);
    auth_throttle_free(t);
}

static void test_idle_entry_is_evicted_before_recent_ones(void **state)
{
    auth_throttle *t = make(3);
    fail_n(t, "a", 1, 0);
    fail_n(t, "b", 1, 1);
    fail_n(t, "c", 1, 2);
    fail_n(t, "a", 1, 3); /* a is now most recent; b is the least recent */
    fail_n(t, "d", 1, 4); /* evicts b */
    assert_int_equal(auth_throttle_size(t), 3);
    fail_n(t, "a", 3, 5); /* a had 2 -> 5: locked, so it survived */
    assert_int_equal(auth_throttle_check(t, "a", 6, NULL), -1);
    fail_n(t, "b", 4, 7); /* b was evicted: 4 failures from scratch, not locked */
    assert_int_equal(auth_throttle_check(t, "b", 8, NULL), 0);
    auth_throttle_free(t);
}

static void test_sweep_drops_only_expired_entries(void **state)
{
    auth_throttle *t = make(0);
    fail_n(t, "locked", 5, 0);
    fail_n(t, "counting", 2, 10 * MIN);
    fail_n(t, "stale", 1, 0);
    assert_int_equal(auth_throttle_size(t), 3);
    auth_throttle_sweep(t, 15 * MIN); /* lock and stale window over; counting still live */
    assert_int_equal(auth_throttle_size(t), 1);
    fail_n(t, "counting", 3, 15 * MIN);
    assert_int_equal(auth_throttle_check(t, "counting", 15 * MIN, NULL), -1);
    auth_throttle_sweep(t, 30 * MIN + 1);
    assert_int_equal(auth_throttle_size(t), 0);
    auth_throttle_free(t);
}

static void test_long_keys_work(void **state)
{
    auth_throttle *t = make(0);
    char key[5000];
    memset(key, 'x', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    fail_n(t, key, 5, 0);
    assert_int_equal(auth_throttle_check(t, key, 1, NULL), -1);
    key[4000] = 'y';
    assert_int_equal(auth_throttle_check(t, key, 1, NULL), 0);
    auth_throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_5_failures_15_minutes),
        cmocka_unit_test(test_unknown_key_is_allowed),
        cmocka_unit_test(test_fifth_failure_locks_the_key),
        cmocka_unit_test(test_lockout_expires_after_lockout_ms),
        cmocka_unit_test(test_failures_while_locked_do_not_extend_lockout),
        cmocka_unit_test(test_failures_outside_window_do_not_accumulate),
        cmocka_unit_test(test_success_clears_failures),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_custom_options_are_honoured),
        cmocka_unit_test(test_entries_are_bounded_and_least_recent_is_evicted),
        cmocka_unit_test(test_idle_entry_is_evicted_before_recent_ones),
        cmocka_unit_test(test_sweep_drops_only_expired_entries),
        cmocka_unit_test(test_long_keys_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
