/* bus/amqp against a real RabbitMQ 3.10 (started by the ctest fixture: tests/services.py):
 * publisher confirms, quorum queues with a single active consumer and the hand-over of unacked
 * messages, requeue on nack, topic routing, refused declarations, connection errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/amqp.h"
#include "helpers.h"

static char url[256];

static int load_url(void **state)
{
    (void)state;
    return th_service_url("IOTAD_TEST_AMQP_URL", url, sizeof url);
}

static bus_amqp *connect_ok(const char *name)
{
    bus_amqp_options opt;
    bus_amqp_options_init(&opt);
    opt.name = name;
    char err[256] = "";
    bus_amqp *b = NULL;
    int rc = bus_amqp_connect(url, &opt, &b, err, sizeof err);
    if (rc != BUS_OK) fail_msg("connect %s: %s", url, err);
    return b;
}

/* A queue name of its own per test run: reruns against one broker never meet old messages. */
static void unique(char *out, size_t cap, const char *what)
{
    static unsigned n;
    snprintf(out, cap, "test.%s.%d.%u", what, (int)getpid(), n++);
}

/* A guard against a hang, not a timing expectation: a broker started a moment ago on a loaded
 * two-core machine has been seen to take more than 10 s to deliver. */
#define PATIENCE_S 60

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls until an event of the kind comes (other kinds are ignored), at most PATIENCE_S. */
static int next_of(bus_amqp *b, bus_ev_kind kind, bus_ev *ev)
{
    for (double end = now_s() + PATIENCE_S; now_s() < end;) {
        int rc = bus_amqp_poll(b, 100, ev);
        if (rc == BUS_ERR) return BUS_ERR;
        if (rc == BUS_OK && ev->kind == kind) return BUS_OK;
    }
    return BUS_TIMEOUT;
}

static void publish_n(bus_amqp *b, const char *queue, int n)
{
    for (int i = 0; i < n; i++) {
        char body[32];
        int len = snprintf(body, sizeof body, "m%d", i);
        uint64_t seq;
        assert_int_equal(bus_amqp_publish(b, "", queue, body, (size_t)len, true, &seq), BUS_OK);
    }
}

/* Waits for the broker's confirms up to seq; true when every one was an ack. */
static bool confirmed(bus_amqp *b, uint64_t upto)
{
    uint64_t done = 0;
    bool all_acked = true;
    bus_ev ev;
    while (done < upto) {
        if (next_of(b, BUS_EV_CONFIRM, &ev) != BUS_OK) fail_msg("no confirm");
        all_acked &= ev.ack;
        done = ev.tag; /* confirms come in order; multiple covers everything up to tag */
    }
    return all_acked;
}

static void test_publish_is_confirmed_and_consumed_in_order(void **state)
{
    (void)state;
    bus_amqp *b = connect_ok("test-confirm");
    char q[64], tag[64];
    unique(q, sizeof q, "confirm");
    assert_int_equal(bus_amqp_declare_quorum(b, q, true), BUS_OK);
    assert_int_equal(bus_amqp_declare_quorum(b, q, true), BUS_OK); /* idempotent */
    publish_n(b, q, 50);
    assert_int_equal(bus_amqp_last_seq(b), 50);
    assert_true(confirmed(b, 50));
    uint32_t depth = 0;
    assert_int_equal(bus_amqp_queue_depth(b, q, &depth), BUS_OK);
    assert_int_equal(depth, 50);

    assert_int_equal(bus_amqp_consume(b, q, 100, tag, sizeof tag), BUS_OK);
    bus_ev ev;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(next_of(b, BUS_EV_DELIVERY, &ev), BUS_OK);
        char want[32];
        snprintf(want, sizeof want, "m%d", i);
        assert_int_equal(ev.len, strlen(want));
        assert_memory_equal(ev.body, want, ev.len);
        assert_string_equal(ev.consumer, tag);
        assert_string_equal(ev.routing_key, q);
        assert_false(ev.redelivered);
    }
    assert_int_equal(bus_amqp_ack(b, ev.tag, true), BUS_OK); /* all 50 at once */
    assert_int_equal(bus_amqp_cancel(b, tag), BUS_OK);
    assert_int_equal(bus_amqp_queue_depth(b, q, &depth), BUS_OK);
    assert_int_equal(depth, 0);
    bus_amqp_close(b);
}

/* Two consumers on a single-active-consumer queue: only the first gets messages; when it goes
 * away with messages unacked, the second gets them again, marked redelivered, then the rest. */
static void test_single_active_consumer_hands_over_unacked(void **state)
{
    (void)state;
    bus_amqp *a = connect_ok("test-sac-a"), *b = connect_ok("test-sac-b"),
             *pub = connect_ok("test-sac-pub");
    char q[64], ta[64], tb[64];
    unique(q, sizeof q, "sac");
    assert_int_equal(bus_amqp_declare_quorum(pub, q, true), BUS_OK);
    assert_int_equal(bus_amqp_consume(a, q, 10, ta, sizeof ta), BUS_OK);
    assert_int_equal(bus_amqp_consume(b, q, 10, tb, sizeof tb), BUS_OK);
    publish_n(pub, q, 10);
    assert_true(confirmed(pub, 10));

    bus_ev ev;
    /* a takes all 10 and acks the first 4 */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(next_of(a, BUS_EV_DELIVERY, &ev), BUS_OK);
        if (i == 3) assert_int_equal(bus_amqp_ack(a, ev.tag, true), BUS_OK);
    }
    assert_int_equal(bus_amqp_poll(b, 300, &ev), BUS_TIMEOUT); /* b waits */
    bus_amqp_close(a); /* 6 unacked go back to the queue, b becomes active */

    /* b: m4..m9 again (redelivered), in order */
    for (int i = 4; i < 10; i++) {
        assert_int_equal(next_of(b, BUS_EV_DELIVERY, &ev), BUS_OK);
        char want[8];
        snprintf(want, sizeof want, "m%d", i);
        assert_int_equal(ev.len, strlen(want));
        assert_memory_equal(ev.body, want, ev.len);
        assert_true(ev.redelivered);
        assert_string_equal(ev.consumer, tb);
        assert_int_equal(bus_amqp_ack(b, ev.tag, false), BUS_OK);
    }
    /* and what comes next, first-hand */
    publish_n(pub, q, 3);
    assert_true(confirmed(pub, 13));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(next_of(b, BUS_EV_DELIVERY, &ev), BUS_OK);
        assert_false(ev.redelivered);
        assert_int_equal(bus_amqp_ack(b, ev.tag, false), BUS_OK);
    }
    assert_int_equal(bus_amqp_poll(b, 300, &ev), BUS_TIMEOUT); /* nothing more */
    uint32_t depth = 1;
    assert_int_equal(bus_amqp_queue_depth(pub, q, &depth), BUS_OK);
    assert_int_equal(depth, 0);
    bus_amqp_close(b);
    bus_amqp_close(pub);
}

static void test_nack_requeues(void **state)
{
    (void)state;
    bus_amqp *b = connect_ok("test-nack");
    char q[64], tag[64];
    unique(q, sizeof q, "nack");
    assert_int_equal(bus_amqp_declare_quorum(b, q, false), BUS_OK);
    publish_n(b, q, 1);
    assert_true(confirmed(b, 1));
    assert_int_equal(bus_amqp_consume(b, q, 1, tag, sizeof tag), BUS_OK);
    bus_ev ev;
    assert_int_equal(next_of(b, BUS_EV_DELIVERY, &ev), BUS_OK);
    assert_false(ev.redelivered);
    assert_int_equal(bus_amqp_nack(b, ev.tag, false, true), BUS_OK);
    assert_int_equal(next_of(b, BUS_EV_DELIVERY, &ev), BUS_OK);
    assert_true(ev.redelivered);
    assert_memory_equal(ev.body, "m0", 2);
    assert_int_equal(bus_amqp_ack(b, ev.tag, false), BUS_OK);
    bus_amqp_close(b);
}

static void test_topic_exchange_routes_by_pattern(void **state)
{
    (void)state;
    bus_amqp *b = connect_ok("test-topic");
    char ex[64], q1[128], q2[128], t1[64], t2[64];
    unique(ex, sizeof ex, "live");
    assert_int_equal(bus_amqp_declare_exchange(b, ex, "topic", false), BUS_OK);
    assert_int_equal(bus_amqp_declare_private(b, q1, sizeof q1), BUS_OK);
    assert_int_equal(bus_amqp_declare_private(b, q2, sizeof q2), BUS_OK);
    assert_int_equal(bus_amqp_bind(b, q1, ex, "point.#"), BUS_OK);
    assert_int_equal(bus_amqp_bind(b, q2, ex, "#"), BUS_OK);
    assert_int_equal(bus_amqp_consume(b, q1, 0, t1, sizeof t1), BUS_OK);
    assert_int_equal(bus_amqp_consume(b, q2, 0, t2, sizeof t2), BUS_OK);
    uint64_t seq;
    assert_int_equal(bus_amqp_publish(b, ex, "point.dev1", "p", 1, false, &seq), BUS_OK);
    assert_int_equal(bus_amqp_publish(b, ex, "anomaly.dev1", "a", 1, false, &seq), BUS_OK);
    /* deliveries and confirms interleave on one connection: take both as they come */
    int to1 = 0, to2 = 0;
    /* confirms may come out of order (seq 2 reaches its one queue before seq 1 its two):
     * a bit per confirmed seq, every seq <= tag for a confirm with multiple */
    unsigned confirmed = 0;
    bus_ev ev;
    for (double end = now_s() + PATIENCE_S; now_s() < end && (to1 + to2 < 3 || confirmed != 0x6);) {
        int rc = bus_amqp_poll(b, 100, &ev);
        assert_int_not_equal(rc, BUS_ERR);
        if (rc != BUS_OK) continue;
        if (ev.kind == BUS_EV_CONFIRM) {
            assert_true(ev.ack);
            assert_in_range(ev.tag, 1, 2);
            for (uint64_t t = ev.multiple ? 1 : ev.tag; t <= ev.tag; t++)
                confirmed |= 1u << t;
            continue;
        }
        if (strcmp(ev.consumer, t1) == 0) {
            to1++;
            assert_string_equal(ev.routing_key, "point.dev1");
        } else {
            to2++;
        }
        assert_int_equal(bus_amqp_ack(b, ev.tag, false), BUS_OK);
    }
    assert_int_equal(confirmed, 0x6);
    assert_int_equal(to1, 1);
    assert_int_equal(to2, 2);
    assert_int_equal(bus_amqp_poll(b, 200, &ev), BUS_TIMEOUT);
    bus_amqp_close(b);
}

/* A declaration the broker refuses (a classic queue redeclared as a quorum queue) is an error
 * on its own channel: the connection keeps publishing and consuming. */
static void test_refused_declaration_keeps_the_connection(void **state)
{
    (void)state;
    bus_amqp *b = connect_ok("test-refused");
    char q[64], other[64];
    unique(q, sizeof q, "refused");
    unique(other, sizeof other, "after");
    assert_int_equal(bus_amqp_declare_quorum(b, q, false), BUS_OK);
    assert_int_equal(bus_amqp_declare_quorum(b, q, true), BUS_ERR); /* arguments differ */
    assert_non_null(strstr(bus_amqp_error(b), "PRECONDITION_FAILED"));
    uint32_t depth;
    assert_int_equal(bus_amqp_queue_depth(b, "test.no.such.queue", &depth), BUS_ERR);
    assert_non_null(strstr(bus_amqp_error(b), "NOT_FOUND"));
    assert_int_equal(bus_amqp_declare_quorum(b, other, false), BUS_OK);
    publish_n(b, other, 3);
    assert_true(confirmed(b, 3));
    assert_int_equal(bus_amqp_queue_depth(b, other, &depth), BUS_OK);
    assert_int_equal(depth, 3);
    bus_amqp_close(b);
}

static void test_connect_errors_are_clear(void **state)
{
    (void)state;
    bus_amqp *b = NULL;
    char err[256];
    assert_int_equal(bus_amqp_connect("http://x", NULL, &b, err, sizeof err), BUS_ERR);
    assert_non_null(strstr(err, "bad AMQP URL"));
    assert_null(b);

    /* wrong password: the broker closes the connection during the handshake */
    char bad[300];
    const char *at = strchr(url, '@');
    assert_non_null(at);
    snprintf(bad, sizeof bad, "amqp://guest:wrong%s", at);
    assert_int_equal(bus_amqp_connect(bad, NULL, &b, err, sizeof err), BUS_ERR);
    assert_non_null(strstr(err, "login"));

    /* nothing listening: a closed loopback port */
    assert_int_equal(bus_amqp_connect("amqp://guest:guest@127.0.0.1:1/", NULL, &b, err, sizeof err),
                     BUS_ERR);
    assert_non_null(strstr(err, "connect to 127.0.0.1:1"));
}

/* A bounded queue refuses publishes once full (a nack, nothing dropped); a mandatory publish
 * no queue takes comes back with its sequence number before its ack; a redeclaration with
 * another bound is refused (the connection stays usable). */
static void test_bounded_queue_nacks_and_unroutable_comes_back(void **state)
{
    (void)state;
    bus_amqp *b = connect_ok("test-bound");
    char q[64];
    unique(q, sizeof q, "bound");
    assert_int_equal(bus_amqp_declare_bounded(b, q, true, 1000), BUS_OK);
    assert_int_equal(bus_amqp_declare_bounded(b, q, true, 1000), BUS_OK); /* idempotent */
    char body[400];
    memset(body, 'x', sizeof body);
    int acks = 0, nacks = 0;
    for (int i = 0; i < 10; i++) { /* one at a time: each confirm before the next publish */
        uint64_t seq;
        assert_int_equal(bus_amqp_publish_mandatory(b, "", q, body, sizeof body, true, &seq),
                         BUS_OK);
        bus_ev ev;
        assert_int_equal(next_of(b, BUS_EV_CONFIRM, &ev), BUS_OK);
        assert_int_equal(ev.tag, seq);
        if (ev.ack)
            acks++;
        else
            nacks++;
    }
    /* 1000 bytes hold two or three 400-byte messages; the rest are refused */
    assert_true(acks >= 2 && acks <= 3);
    assert_int_equal(nacks, 10 - acks);
    uint32_t depth = 0;
    assert_int_equal(bus_amqp_queue_depth(b, q, &depth), BUS_OK);
    assert_int_equal(depth, (uint32_t)acks);
    /* another bound: refused, the connection goes on */
    assert_int_equal(bus_amqp_declare_bounded(b, q, true, 2000), BUS_ERR);
    assert_non_null(strstr(bus_amqp_error(b), "PRECONDITION_FAILED"));
    assert_int_equal(bus_amqp_queue_depth(b, q, &depth), BUS_OK);
    /* unroutable and mandatory: returned (with its seq), then acked */
    char gone[64];
    unique(gone, sizeof gone, "nosuchqueue");
    uint64_t seq;
    assert_int_equal(bus_amqp_publish_mandatory(b, "", gone, "x", 1, true, &seq), BUS_OK);
    bus_ev ev;
    assert_int_equal(next_of(b, BUS_EV_RETURNED, &ev), BUS_OK);
    assert_int_equal(ev.tag, seq);
    assert_string_equal(ev.routing_key, gone);
    assert_int_equal(next_of(b, BUS_EV_CONFIRM, &ev), BUS_OK);
    assert_int_equal(ev.tag, seq);
    assert_true(ev.ack);
    bus_amqp_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_is_confirmed_and_consumed_in_order),
        cmocka_unit_test(test_single_active_consumer_hands_over_unacked),
        cmocka_unit_test(test_nack_requeues),
        cmocka_unit_test(test_topic_exchange_routes_by_pattern),
        cmocka_unit_test(test_refused_declaration_keeps_the_connection),
        cmocka_unit_test(test_connect_errors_are_clear),
        cmocka_unit_test(test_bounded_queue_nacks_and_unroutable_comes_back),
    };
    return cmocka_run_group_tests(tests, load_url, NULL);
}
