/* bus/pipe against a real RabbitMQ 3.10 (the ctest fixture, tests/services.py): batches
 * published from the loop are confirmed once each and come back decoded from their partition
 * queue, those of one partition and one round combined in one message; settled deliveries
 * leave the queues, unsettled ones come back (redelivered) to the next consumer; a pipe that
 * cannot reach its broker refuses publishes at once and says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus/amqp.h"
#include "bus/pipe.h"
#include "helpers.h"

static char url[256];

static int load_url(void **state)
{
    (void)state;
    return th_service_url("IOTAD_TEST_AMQP_URL", url, sizeof url);
}

/* A guard against a hang, not a timing expectation (a loaded two-core machine). */
#define PATIENCE_S 60
#define PARTS 3

typedef struct {
    int confirmed, unconfirmed;
    int ctx_seen[64];
    bus_delivery *dels[64];
    int ndels;
    int nbatches; /* in the deliveries */
} sink;

static void on_confirm(void *arg, void *ctx, bus_outcome outcome)
{
    bool ok = outcome == BUS_CONFIRMED;
    sink *k = arg;
    int i = (int)(intptr_t)ctx;
    assert_true(i >= 0 && i < 64);
    k->ctx_seen[i]++;
    if (ok)
        k->confirmed++;
    else
        k->unconfirmed++;
}

static void on_delivery(void *arg, bus_delivery *d)
{
    sink *k = arg;
    assert_true(k->ndels < 64);
    k->dels[k->ndels++] = d;
    k->nbatches += (int)d->msg.n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until done(arg) or PATIENCE_S; returns done(arg). */
static bool run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tick, 20, 20);
    double end = now_s() + PATIENCE_S;
    bool ok;
    while (!(ok = done(arg)) && now_s() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static bool is_up(void *arg)
{
    return bus_pipe_up(arg);
}

static int want_n;
static bool have_confirms(void *arg)
{
    sink *k = arg;
    return k->confirmed + k->unconfirmed >= want_n;
}
static bool have_deliveries(void *arg)
{
    return ((sink *)arg)->nbatches >= want_n;
}

static bus_pipe *start(uv_loop_t *loop, const char *u, const char *prefix, sink *k, bool consume)
{
    bus_pipe_options o = {.url = u,
                          .name = "test-pipe",
                          .prefix = prefix,
                          .partitions = PARTS,
                          .prefetch = 16,
                          .consume = consume,
                          .on_confirm = on_confirm,
                          .on_delivery = on_delivery,
                          .arg = k};
    bus_pipe *p = NULL;
    assert_int_equal(bus_pipe_start(loop, &o, &p), 0);
    return p;
}

static void publish_one(bus_pipe *p, int i)
{
    char dev[40];
    snprintf(dev, sizeof dev, "device-%02d", i);
    ingest_point pts[3];
    for (int j = 0; j < 3; j++) {
        memset(&pts[j], 0, sizeof pts[j]);
        pts[j].ts_ms = 1700000000000LL + j;
        pts[j].value = i * 10 + j + 0.5;
        pts[j].metric_len = (uint16_t)snprintf(pts[j].metric, sizeof pts[j].metric, "m");
    }
    point_batch b = {dev, "kind", pts, 3};
    assert_int_equal(bus_pipe_publish(p, &b, (void *)(intptr_t)i), 0);
}

static void publish_batches(bus_pipe *p, int n)
{
    for (int i = 0; i < n; i++)
        publish_one(p, i);
}

static void drain_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT); /* the pipe's handle closes */
    assert_int_equal(uv_loop_close(loop), 0);
}

static void unique_prefix(char *out, size_t cap, const char *what)
{
    static unsigned n;
    snprintf(out, cap, "test.pipe.%s.%d.%u.p", what, (int)getpid(), n++);
}

/* Depth of every partition queue, through a connection of its own. */
static uint32_t depth(const char *prefix)
{
    bus_amqp *b = NULL;
    char err[256];
    if (bus_amqp_connect(url, NULL, &b, err, sizeof err) != BUS_OK) fail_msg("%s", err);
    uint32_t total = 0;
    for (int k = 0; k < PARTS; k++) {
        char q[128];
        uint32_t n = 0;
        snprintf(q, sizeof q, "%s%d", prefix, k);
        assert_int_equal(bus_amqp_queue_depth(b, q, &n), BUS_OK);
        total += n;
    }
    bus_amqp_close(b);
    return total;
}

static void test_batches_are_confirmed_once_and_delivered_decoded(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char prefix[96];
    unique_prefix(prefix, sizeof prefix, "ok");
    sink k = {0};
    bus_pipe *p = start(&loop, url, prefix, &k, true);
    assert_true(run_until(&loop, is_up, p));
    publish_batches(p, 40);
    want_n = 40;
    assert_true(run_until(&loop, have_confirms, &k));
    assert_int_equal(k.confirmed, 40);
    assert_int_equal(k.unconfirmed, 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(k.ctx_seen[i], 1);
    assert_true(run_until(&loop, have_deliveries, &k));
    assert_int_equal(k.nbatches, 40);
    bool seen[40] = {0};
    for (int i = 0; i < k.ndels; i++) {
        bus_delivery *d = k.dels[i];
        int last = -1;
        for (size_t j = 0; j < d->msg.n; j++) {
            bus_batch *b = &d->msg.batches[j];
            int dev = atoi(b->device_id + strlen("device-"));
            assert_true(dev >= 0 && dev < 40 && !seen[dev]);
            assert_true(dev > last); /* in the order they were published */
            last = dev;
            seen[dev] = true;
            /* one partition per message */
            assert_int_equal(bus_partition(b->device_id, PARTS),
                             bus_partition(d->msg.batches[0].device_id, PARTS));
            assert_string_equal(b->device_type, "kind");
            assert_int_equal(b->n, 3);
            assert_true(b->points[2].value == dev * 10 + 2.5);
        }
        assert_false(d->redelivered);
        bus_pipe_settle(p, d->gen, d->tag, (uint32_t)d->msg.n, true);
        bus_delivery_free(d);
    }
    bus_pipe_stats st;
    bus_pipe_get_stats(p, &st);
    assert_true(st.up);
    assert_int_equal(st.published, 40);
    assert_int_equal(st.confirmed, 40);
    assert_int_equal(st.delivered, 40);
    assert_int_equal(st.inflight, 0);
    /* one message per partition per round of the bus thread: how many rounds the 40 took
     * depends on the scheduler (3 messages when one round took them all) */
    assert_true(st.msgs_published >= PARTS && st.msgs_published <= 40);
    assert_int_equal(st.msgs_delivered, st.msgs_published);
    assert_int_equal(k.ndels, (int)st.msgs_delivered);
    bus_pipe_stop(p); /* sends the settles before it closes */
    drain_loop(&loop);
    assert_int_equal(depth(prefix), 0);
}

static void test_unsettled_deliveries_come_back_to_the_next_consumer(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char prefix[96];
    unique_prefix(prefix, sizeof prefix, "again");
    sink k = {0};
    bus_pipe *p = start(&loop, url, prefix, &k, true);
    assert_true(run_until(&loop, is_up, p));
    /* one at a time (each confirmed before the next): six messages of one batch */
    for (int i = 0; i < 6; i++) {
        publish_one(p, i);
        want_n = i + 1;
        assert_true(run_until(&loop, have_confirms, &k));
    }
    want_n = 6;
    assert_true(run_until(&loop, have_deliveries, &k));
    assert_int_equal(k.ndels, 6);
    /* one settled, one requeued, four left unsettled when the node goes */
    bus_pipe_settle(p, k.dels[0]->gen, k.dels[0]->tag, 1, true);
    bus_pipe_settle(p, k.dels[1]->gen, k.dels[1]->tag, 1, false);
    for (int i = 0; i < k.ndels; i++)
        bus_delivery_free(k.dels[i]);
    bus_pipe_stop(p);
    drain_loop(&loop);

    uv_loop_init(&loop);
    sink k2 = {0};
    p = start(&loop, url, prefix, &k2, true);
    want_n = 5;
    assert_true(run_until(&loop, have_deliveries, &k2));
    assert_int_equal(k2.ndels, 5);
    int redelivered = 0;
    for (int i = 0; i < k2.ndels; i++) {
        redelivered += k2.dels[i]->redelivered;
        bus_pipe_settle(p, k2.dels[i]->gen, k2.dels[i]->tag, 1, true);
        bus_delivery_free(k2.dels[i]);
    }
    assert_int_equal(redelivered, 5);
    bus_pipe_stop(p);
    drain_loop(&loop);
    assert_int_equal(depth(prefix), 0);
}

static int full_seen;
static void on_confirm_full(void *arg, void *ctx, bus_outcome outcome)
{
    (void)ctx;
    sink *k = arg;
    if (outcome == BUS_CONFIRMED)
        k->confirmed++;
    else
        k->unconfirmed++;
    full_seen += outcome == BUS_FULL;
}

/* Partition queues at their bound: the broker refuses the batch, reported as BUS_FULL (not
 * lost), counted; nothing already in the queue is dropped. */
static void test_a_full_partition_queue_refuses_batches(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char prefix[96];
    unique_prefix(prefix, sizeof prefix, "full");
    sink k = {0};
    full_seen = 0;
    bus_pipe_options o = {.url = url,
                          .prefix = prefix,
                          .partitions = 1,
                          .queue_max_bytes = 100,
                          .consume = false,
                          .on_confirm = on_confirm_full,
                          .arg = &k};
    bus_pipe *p = NULL;
    assert_int_equal(bus_pipe_start(&loop, &o, &p), 0);
    assert_true(run_until(&loop, is_up, p));
    for (int i = 0; i < 8; i++) { /* one at a time: ~40-byte messages, 100 bytes hold 2-3 */
        publish_one(p, i);
        want_n = i + 1;
        assert_true(run_until(&loop, have_confirms, &k));
    }
    assert_true(full_seen >= 1);
    assert_int_equal(k.unconfirmed, full_seen);
    assert_true(k.confirmed >= 1);
    bus_pipe_stats st;
    bus_pipe_get_stats(p, &st);
    assert_int_equal(st.full, (uint64_t)full_seen);
    assert_int_equal(st.unconfirmed, 0);
    assert_int_equal(st.confirmed, (uint64_t)k.confirmed);
    bus_pipe_stop(p);
    drain_loop(&loop);
    bus_amqp *b = NULL;
    char err[256];
    if (bus_amqp_connect(url, NULL, &b, err, sizeof err) != BUS_OK) fail_msg("%s", err);
    char q[128];
    snprintf(q, sizeof q, "%s0", prefix);
    uint32_t n = 0;
    assert_int_equal(bus_amqp_queue_depth(b, q, &n), BUS_OK);
    assert_int_equal(n, (uint32_t)k.confirmed);
    bus_amqp_close(b);
}

static void test_an_unreachable_broker_refuses_publishes_and_says_why(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    sink k = {0};
    /* a port nobody listens on: bound here, never listened to */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char dead[128];
    snprintf(dead, sizeof dead, "amqp://guest:guest@127.0.0.1:%d/", ntohs(a.sin_port));
    bus_pipe *p = start(&loop, dead, NULL, &k, true);
    char err[256] = "";
    for (double end = now_s() + PATIENCE_S; !err[0] && now_s() < end;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        bus_pipe_error(p, err, sizeof err);
        usleep(20000);
    }
    assert_non_null(strstr(err, "connect"));
    assert_false(bus_pipe_up(p));
    ingest_point pt = {.ts_ms = 1, .value = 1, .metric_len = 1, .metric = "m"};
    point_batch b = {"d", "", &pt, 1};
    assert_int_equal(bus_pipe_publish(p, &b, NULL), -1);
    bus_pipe_stats st;
    bus_pipe_get_stats(p, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.connects, 0);
    bus_pipe_stop(p);
    drain_loop(&loop);
    assert_int_equal(k.confirmed + k.unconfirmed, 0); /* a refused publish has no outcome */
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_are_confirmed_once_and_delivered_decoded),
        cmocka_unit_test(test_unsettled_deliveries_come_back_to_the_next_consumer),
        cmocka_unit_test(test_a_full_partition_queue_refuses_batches),
        cmocka_unit_test(test_an_unreachable_broker_refuses_publishes_and_says_why),
    };
    return cmocka_run_group_tests(tests, load_url, NULL);
}
