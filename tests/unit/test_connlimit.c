/* Connection admission shared by the listeners: per-address caps, one budget, room for HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "core/connlimit.h"

static void test_one_address_gets_at_most_per_address_connections(void **state)
{
    (void)state;
    connlimit *l = connlimit_new(&(connlimit_options){.per_address = 3, .budget = 100});
    for (int i = 0; i < 3; i++)
        assert_int_equal(connlimit_acquire(l, i % 2 ? CONNLIM_HTTP : CONNLIM_MQTT, "10.0.0.1"),
                         CONNLIM_OK); /* both listeners count together */
    assert_int_equal(connlimit_acquire(l, CONNLIM_MQTT, "10.0.0.1"), CONNLIM_PER_ADDRESS);
    assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "10.0.0.1"), CONNLIM_PER_ADDRESS);
    assert_int_equal(connlimit_acquire(l, CONNLIM_MQTT, "10.0.0.2"), CONNLIM_OK);
    connlimit_release(l, CONNLIM_HTTP, "10.0.0.1");
    assert_int_equal(connlimit_acquire(l, CONNLIM_MQTT, "10.0.0.1"), CONNLIM_OK);
    connlimit_stats st;
    connlimit_get_stats(l, &st);
    assert_int_equal(st.addresses, 2);
    assert_int_equal(st.current[CONNLIM_MQTT], 4);
    assert_int_equal(st.current[CONNLIM_HTTP], 0);
    assert_int_equal(st.refused[CONNLIM_MQTT][CONNLIM_PER_ADDRESS], 1);
    assert_int_equal(st.refused[CONNLIM_HTTP][CONNLIM_PER_ADDRESS], 1);
    connlimit_free(l);
}

static void test_budget_keeps_room_for_http(void **state)
{
    (void)state;
    connlimit *l = connlimit_new(&(connlimit_options){.budget = 10, .reserve = 3});
    char addr[32];
    int mqtt = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(addr, sizeof addr, "10.1.0.%d", i);
        if (connlimit_acquire(l, CONNLIM_MQTT, addr) == CONNLIM_OK) mqtt++;
    }
    assert_int_equal(mqtt, 7); /* devices fill the budget up to the HTTP reserve */
    for (int i = 0; i < 3; i++)
        assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "192.168.1.1"), CONNLIM_OK);
    assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "192.168.1.1"), CONNLIM_BUDGET);
    connlimit_release(l, CONNLIM_MQTT, "10.1.0.0");
    assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "192.168.1.2"), CONNLIM_OK);
    connlimit_stats st;
    connlimit_get_stats(l, &st);
    assert_int_equal(st.refused[CONNLIM_MQTT][CONNLIM_BUDGET], 13);
    assert_int_equal(st.refused[CONNLIM_HTTP][CONNLIM_BUDGET], 1);
    connlimit_free(l);
}

static void test_release_of_an_unknown_address_changes_nothing(void **state)
{
    (void)state;
    connlimit *l = connlimit_new(&(connlimit_options){.per_address = 1, .budget = 1});
    connlimit_release(l, CONNLIM_HTTP, "1.2.3.4");
    assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "1.2.3.4"), CONNLIM_OK);
    assert_int_equal(connlimit_acquire(l, CONNLIM_HTTP, "1.2.3.5"), CONNLIM_BUDGET);
    connlimit_free(l);
    assert_true(connlimit_fd_budget(16) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_address_gets_at_most_per_address_connections),
        cmocka_unit_test(test_budget_keeps_room_for_http),
        cmocka_unit_test(test_release_of_an_unknown_address_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
