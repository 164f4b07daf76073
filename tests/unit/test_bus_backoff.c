/* bus/backoff: the requeue delay's schedule (250 ms doubling to 10 s, reset by a commit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bus/backoff.h"

static void test_doubles_from_250_ms_to_10_s_and_stays(void **state)
{
    (void)state;
    bus_backoff b;
    bus_backoff_init(&b, 0, 0);
    const uint32_t want[] = {250, 500, 1000, 2000, 4000, 8000, 10000, 10000, 10000};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_int_equal(bus_backoff_next(&b), want[i]);
    assert_int_equal(b.rounds, 9);
}

static void test_a_commit_starts_the_schedule_again(void **state)
{
    (void)state;
    bus_backoff b;
    bus_backoff_init(&b, 0, 0);
    for (int i = 0; i < 20; i++)
        bus_backoff_next(&b);
    bus_backoff_reset(&b);
    assert_int_equal(b.rounds, 0);
    assert_int_equal(bus_backoff_next(&b), 250);
    assert_int_equal(bus_backoff_next(&b), 500);
}

static void test_other_bounds(void **state)
{
    (void)state;
    bus_backoff b;
    bus_backoff_init(&b, 3, 10); /* a cap that is not a doubling of the start */
    assert_int_equal(bus_backoff_next(&b), 3);
    assert_int_equal(bus_backoff_next(&b), 6);
    assert_int_equal(bus_backoff_next(&b), 10);
    assert_int_equal(bus_backoff_next(&b), 10);
    bus_backoff_init(&b, 500, 100); /* a cap below the start: the start */
    assert_int_equal(bus_backoff_next(&b), 500);
    assert_int_equal(bus_backoff_next(&b), 500);
    bus_backoff_init(&b, 1, UINT32_MAX); /* no overflow past 2^31 */
    for (int i = 0; i < 40; i++)
        assert_true(bus_backoff_next(&b) >= 1);
    assert_int_equal(bus_backoff_next(&b), UINT32_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_from_250_ms_to_10_s_and_stays),
        cmocka_unit_test(test_a_commit_starts_the_schedule_again),
        cmocka_unit_test(test_other_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
