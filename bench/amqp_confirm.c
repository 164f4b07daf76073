/* RabbitMQ cost of the cluster pipeline's hop (bench/amqp_confirm.sh starts a throw-away
 * RabbitMQ 3.10): persistent messages of `bytes` bytes published to a quorum queue with
 * publisher confirms, `window` unconfirmed at most, then consumed with a prefetch of `window`
 * and acked in batches (the consumer side of a partition). Prints one JSON object per
 * (message size, window): published and consumed messages/s, and the points/s they carry when
 * a message holds `points` points (an ingest batch).
 *
 * usage: bench_amqp_confirm URL [messages=20000] [bytes=1200,12000] [window=1,64,512]
 *        [points_per_kb=80] */
#include "bus/amqp.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double now_s(void)
{
    return (double)util_mono_ns() / 1e9;
}

static void die(bus_amqp *b, const char *what)
{
    fprintf(stderr, "bench_amqp_confirm: %s: %s\n", what, b ? bus_amqp_error(b) : "");
    exit(1);
}

/* Publishes n messages with at most window unconfirmed; returns seconds. */
static double publish(bus_amqp *b, const char *q, int n, size_t bytes, int window)
{
    char *body = malloc(bytes);
    if (!body) die(NULL, "nomem");
    memset(body, 'x', bytes);
    /* sequence numbers run on across the connection's publishes */
    uint64_t base = bus_amqp_last_seq(b), end = base + (uint64_t)n, confirmed = base, seq = base;
    double t0 = now_s();
    while (confirmed < end) {
        while (seq < end && seq - confirmed < (uint64_t)window)
            if (bus_amqp_publish(b, "", q, body, bytes, true, &seq) != BUS_OK) die(b, "publish");
        bus_ev ev;
        int rc = bus_amqp_poll(b, 5000, &ev);
        if (rc == BUS_ERR) die(b, "poll");
        if (rc == BUS_TIMEOUT) die(b, "no confirm in 5 s");
        if (ev.kind != BUS_EV_CONFIRM) continue;
        if (!ev.ack) die(b, "nack");
        confirmed = ev.tag; /* in order; multiple covers everything up to tag */
    }
    double secs = now_s() - t0;
    free(body);
    return secs;
}

/* Consumes n messages, acking every window/2 (multiple). */
static double consume(bus_amqp *b, const char *q, int n, int window)
{
    char tag[64];
    if (bus_amqp_consume(b, q, (uint16_t)(window > 65535 ? 65535 : window), tag, sizeof tag) !=
        BUS_OK)
        die(b, "consume");
    int got = 0, since_ack = 0, every = window / 2 > 0 ? window / 2 : 1;
    double t0 = now_s();
    while (got < n) {
        bus_ev ev;
        int rc = bus_amqp_poll(b, 5000, &ev);
        if (rc != BUS_OK) die(b, "no delivery in 5 s");
        if (ev.kind != BUS_EV_DELIVERY) continue;
        got++;
        if (++since_ack >= every || got == n) {
            if (bus_amqp_ack(b, ev.tag, true) != BUS_OK) die(b, "ack");
            since_ack = 0;
        }
    }
    double secs = now_s() - t0;
    if (bus_amqp_cancel(b, tag) != BUS_OK) die(b, "cancel");
    return secs;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_amqp_confirm URL [messages] [bytes,...] [window,...] "
                        "[points_per_kb]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    const char *sizes = argc > 3 ? argv[3] : "1200,12000";
    const char *windows = argc > 4 ? argv[4] : "1,64,512";
    double points_per_kb = argc > 5 ? atof(argv[5]) : 80;
    bus_amqp *b = NULL;
    char err[256];
    if (bus_amqp_connect(argv[1], NULL, &b, err, sizeof err) != BUS_OK) {
        fprintf(stderr, "bench_amqp_confirm: %s\n", err);
        return 1;
    }
    char sl[128], wl[128];
    snprintf(sl, sizeof sl, "%s", sizes);
    for (char *s1 = NULL, *sz = strtok_r(sl, ",", &s1); sz; sz = strtok_r(NULL, ",", &s1)) {
        size_t bytes = (size_t)atol(sz);
        snprintf(wl, sizeof wl, "%s", windows);
        for (char *s2 = NULL, *w = strtok_r(wl, ",", &s2); w; w = strtok_r(NULL, ",", &s2)) {
            int window = atoi(w);
            if (window < 1 || bytes < 1) continue;
            char q[64];
            snprintf(q, sizeof q, "bench.%d.%zu.%d", (int)getpid(), bytes, window);
            if (bus_amqp_declare_quorum(b, q, true) != BUS_OK) die(b, "declare");
            int msgs = window == 1 && n > 2000 ? 2000 : n; /* one at a time is slow */
            fprintf(stderr, "%zu B, window %d: %d messages\n", bytes, window, msgs);
            double pub = publish(b, q, msgs, bytes, window);
            double con = consume(b, q, msgs, window);
            double points = points_per_kb * (double)bytes / 1000.0;
            printf("{\"bench\":\"amqp_confirm\",\"queue\":\"quorum\",\"bytes\":%zu,"
                   "\"window\":%d,\"messages\":%d,\"publish_msgs_per_s\":%.0f,"
                   "\"publish_mb_per_s\":%.1f,\"consume_msgs_per_s\":%.0f,"
                   "\"points_per_msg\":%.0f,\"publish_points_per_s\":%.0f,"
                   "\"consume_points_per_s\":%.0f}\n",
                   bytes, window, msgs, msgs / pub, msgs * (double)bytes / pub / 1e6, msgs / con,
                   points, msgs * points / pub, msgs * points / con);
            fflush(stdout);
        }
    }
    bus_amqp_close(b);
    return 0;
}
