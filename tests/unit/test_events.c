/* The event sink: listeners get the events they want, in subscription order; a producer can
 * ask whether anyone wants a type before building an event; the sink refuses a listener too
 * many. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/events.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    bool want[EV_TYPE_COUNT];
    int seen[EV_TYPE_COUNT];
    char last_device[64];
    size_t last_points;
    int order; /* the value of *clock when it last received an event */
    int *clock;
} probe;

static void on_event(void *arg, const ev_event *e)
{
    probe *p = arg;
    p->seen[e->type]++;
    snprintf(p->last_device, sizeof p->last_device, "%s", e->device_id);
    if (e->type == EV_POINTS) p->last_points = e->u.points.n;
    if (p->clock) p->order = ++*p->clock;
}

static bool wants(void *arg, ev_type t)
{
    return ((probe *)arg)->want[t];
}

static void test_listener_gets_only_the_types_it_wants(void **state)
{
    (void)state;
    ev_sink sink = {0};
    probe p = {.want = {[EV_POINTS] = true, [EV_ALERT] = true}};
    ev_listener l = {on_event, wants, &p};
    assert_int_equal(ev_subscribe(&sink, &l), 0);
    assert_true(ev_wanted(&sink, EV_POINTS));
    assert_false(ev_wanted(&sink, EV_ANOMALY));

    ingest_point pts[3] = {{.ts_ms = 1, .value = 2.0}};
    ev_event e = {.type = EV_POINTS, .device_id = "dev-1", .owner_id = ""};
    e.u.points.v = pts;
    e.u.points.n = 3;
    ev_emit(&sink, &e);
    ev_event a = {.type = EV_ANOMALY, .device_id = "dev-2", .owner_id = ""};
    ev_emit(&sink, &a); /* not wanted: not delivered */
    assert_int_equal(p.seen[EV_POINTS], 1);
    assert_int_equal(p.seen[EV_ANOMALY], 0);
    assert_string_equal(p.last_device, "dev-1");
    assert_int_equal(p.last_points, 3);

    p.want[EV_POINTS] = false; /* e.g. the last subscriber left */
    assert_false(ev_wanted(&sink, EV_POINTS));
    ev_emit(&sink, &e);
    assert_int_equal(p.seen[EV_POINTS], 1);
}

static void test_every_listener_in_order_and_null_wants_means_all(void **state)
{
    (void)state;
    ev_sink sink = {0};
    int clock = 0;
    probe first = {.clock = &clock}, second = {.clock = &clock};
    ev_listener l1 = {on_event, NULL, &first};
    ev_listener l2 = {on_event, NULL, &second};
    assert_int_equal(ev_subscribe(&sink, &l1), 0);
    assert_int_equal(ev_subscribe(&sink, &l2), 0);
    for (int t = 0; t < EV_TYPE_COUNT; t++)
        assert_true(ev_wanted(&sink, (ev_type)t));
    ev_event e = {.type = EV_DEVICE_STATUS, .device_id = "d", .owner_id = "o"};
    e.u.status.online = true;
    ev_emit(&sink, &e);
    assert_int_equal(first.seen[EV_DEVICE_STATUS], 1);
    assert_int_equal(second.seen[EV_DEVICE_STATUS], 1);
    assert_true(first.order < second.order);
}

static void test_empty_sink_wants_nothing_and_full_sink_refuses(void **state)
{
    (void)state;
    ev_sink sink = {0};
    assert_false(ev_wanted(&sink, EV_INCIDENT));
    assert_false(ev_wanted(NULL, EV_INCIDENT));
    ev_event e = {.type = EV_INCIDENT, .device_id = "", .owner_id = ""};
    ev_emit(&sink, &e); /* no listener: nothing happens */
    probe p = {0};
    ev_listener l = {on_event, NULL, &p};
    for (int i = 0; i < EV_MAX_LISTENERS; i++)
        assert_int_equal(ev_subscribe(&sink, &l), 0);
    assert_int_equal(ev_subscribe(&sink, &l), -1);
    ev_listener none = {NULL, NULL, NULL};
    ev_sink other = {0};
    assert_int_equal(ev_subscribe(&other, &none), -1);
}

static void test_type_names_are_the_stream_message_types(void **state)
{
    (void)state;
    assert_string_equal(ev_type_name(EV_POINTS), "points");
    assert_string_equal(ev_type_name(EV_DEVICE_STATUS), "device_status");
    assert_string_equal(ev_type_name(EV_ANOMALY), "anomaly");
    assert_string_equal(ev_type_name(EV_ALERT), "alert");
    assert_string_equal(ev_type_name(EV_INCIDENT), "incident");
    assert_string_equal(ev_type_name(EV_TYPE_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_gets_only_the_types_it_wants),
        cmocka_unit_test(test_every_listener_in_order_and_null_wants_means_all),
        cmocka_unit_test(test_empty_sink_wants_nothing_and_full_sink_refuses),
        cmocka_unit_test(test_type_names_are_the_stream_message_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
