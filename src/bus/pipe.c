/* The node's end of the cluster bus: see pipe.h. The loop and the bus thread meet in four
 * lists under one mutex: batches to publish and settles (loop -> thread, the thread woken
 * through a pipe), publish outcomes and deliveries (thread -> loop, through uv_async). The
 * thread alone touches the AMQP connection and the window of publishes awaiting a confirm. */
#include "bus/pipe.h"

#include "bus/amqp.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECONNECT_MS 1000
#define STOP_CONFIRM_MS 5000

/* One device batch on its way: queued by the loop, then part of a message in the window. */
typedef struct pub {
    struct pub *next;
    void *ctx;
    uint32_t partition;
    bus_outcome outcome;
    uint8_t *body; /* the encoded batch, until its message is published */
    size_t len;
} pub;

/* One AMQP message awaiting its confirm: the batches of one partition from one round. */
typedef struct msg {
    pub *pubs;
    size_t n;
    bool returned; /* no queue took it (mandatory): its ack is not a confirm */
} msg;

typedef struct settle {
    struct settle *next;
    uint64_t gen, tag;
    uint32_t batches;
    bool done;
} settle;

struct bus_pipe {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    bus_pipe_options opt;
    char url[1024], name[128], prefix[64];
    int wake[2]; /* loop -> thread */

    uv_mutex_t mu; /* the lists, the stats and the flags below */
    pub *out, **out_tail;
    settle *settles, **settles_tail;
    pub *done, **done_tail;
    bus_delivery *dels, **dels_tail;
    bool stopping, paused;
    bus_pipe_stats st;
    char err[256];
    atomic_bool up;

    /* the bus thread only */
    bus_amqp *conn;
    uint64_t gen;
    pub **part_head, ***part_tail; /* a round's batches, by partition */
    const uint8_t **parts;         /* BUS_MSG_MAX_BATCHES: a message's encoded batches */
    size_t *part_lens;
    msg **win; /* messages awaiting their confirm: win[(start + seq - base) % cap] */
    size_t win_start, win_len, win_cap;
    uint64_t win_base; /* the sequence number of win[start] */
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void queue_name(const bus_pipe *p, char *out, size_t cap, uint32_t k)
{
    snprintf(out, cap, "%s%u", p->prefix, (unsigned)k);
}

/* ---- thread -> loop ---------------------------------------------------------------------- */

/* An outcome for the loop (mu held). */
static void finish_locked(bus_pipe *p, pub *x, bus_outcome outcome)
{
    free(x->body);
    x->body = NULL;
    x->outcome = outcome;
    x->next = NULL;
    *p->done_tail = x;
    p->done_tail = &x->next;
    if (outcome == BUS_CONFIRMED)
        p->st.confirmed++;
    else if (outcome == BUS_FULL)
        p->st.full++;
    else
        p->st.unconfirmed++;
}

static void run_done(bus_pipe *p)
{
    uv_mutex_lock(&p->mu);
    pub *done = p->done;
    bus_delivery *dels = p->dels;
    bool paused = p->paused;
    p->done = NULL;
    p->done_tail = &p->done;
    p->dels = NULL;
    p->dels_tail = &p->dels;
    uv_mutex_unlock(&p->mu);
    while (done) {
        pub *n = done->next;
        p->opt.on_confirm(p->opt.arg, done->ctx, done->outcome);
        free(done);
        done = n;
    }
    while (dels) {
        bus_delivery *n = dels->next;
        dels->next = NULL;
        if (paused || !p->opt.on_delivery)
            bus_delivery_free(dels); /* unsettled: back to its queue when we close */
        else
            p->opt.on_delivery(p->opt.arg, dels);
        dels = n;
    }
}

static void on_async(uv_async_t *h)
{
    run_done(h->data);
}

/* ---- the window of publishes awaiting a confirm (thread) ---------------------------------- */

static int win_push(bus_pipe *p, msg *x)
{
    if (p->win_len == p->win_cap) {
        size_t cap = p->win_cap ? p->win_cap * 2 : 1024;
        msg **nw = malloc(cap * sizeof *nw);
        if (!nw) return -1;
        for (size_t i = 0; i < p->win_len; i++)
            nw[i] = p->win[(p->win_start + i) % p->win_cap];
        free(p->win);
        p->win = nw;
        p->win_cap = cap;
        p->win_start = 0;
    }
    p->win[(p->win_start + p->win_len) % p->win_cap] = x;
    p->win_len++;
    return 0;
}

/* A message's outcome is each of its batches' (mu held); frees it. */
static void finish_msg_locked(bus_pipe *p, msg *m, bus_outcome outcome)
{
    pub *x = m->pubs;
    while (x) {
        pub *n = x->next;
        finish_locked(p, x, outcome);
        x = n;
    }
    p->st.inflight -= m->n;
    free(m);
}

/* Confirms seq (or every seq <= it: multiple) with the broker's verdict (mu held). */
static void win_confirm_locked(bus_pipe *p, uint64_t seq, bool multiple, bool ack)
{
    if (seq < p->win_base) return;
    uint64_t from = multiple ? p->win_base : seq;
    for (uint64_t s = from; s <= seq && s - p->win_base < p->win_len; s++) {
        size_t i = (p->win_start + (size_t)(s - p->win_base)) % p->win_cap;
        if (p->win[i])
            finish_msg_locked(p, p->win[i],
                              !ack                  ? BUS_FULL
                              : p->win[i]->returned ? BUS_LOST
                                                    : BUS_CONFIRMED);
        p->win[i] = NULL;
    }
    while (p->win_len && !p->win[p->win_start]) { /* slide past what is settled */
        p->win_start = (p->win_start + 1) % p->win_cap;
        p->win_len--;
        p->win_base++;
    }
}

/* The message of seq came back (mu held): no queue took it. */
static void win_mark_returned_locked(bus_pipe *p, uint64_t seq)
{
    if (seq < p->win_base || seq - p->win_base >= p->win_len) return;
    msg *m = p->win[(p->win_start + (size_t)(seq - p->win_base)) % p->win_cap];
    if (m) m->returned = true;
}

/* Every publish in flight is unconfirmed (mu held): the connection is gone. */
static void win_fail_locked(bus_pipe *p)
{
    for (size_t i = 0; i < p->win_len; i++) {
        msg **x = &p->win[(p->win_start + i) % p->win_cap];
        if (*x) finish_msg_locked(p, *x, BUS_LOST);
        *x = NULL;
    }
    p->win_len = p->win_start = 0;
    p->win_base = 1;
}

/* ---- connection (thread) ----------------------------------------------------------------- */

static void set_err(bus_pipe *p, const char *what, const char *why)
{
    uv_mutex_lock(&p->mu);
    snprintf(p->err, sizeof p->err, "%s: %.200s", what, why);
    uv_mutex_unlock(&p->mu);
}

/* Declares a partition queue with the configured bound. A queue that exists with another bound
 * (or none) keeps it: the broker refuses to redeclare it otherwise, and taking it over must not
 * need every node stopped. 0, or -1 with the connection's error. */
static int declare_partition(bus_pipe *p, const char *q)
{
    if (bus_amqp_declare_bounded(p->conn, q, true, p->opt.queue_max_bytes) == BUS_OK) return 0;
    char why[256];
    snprintf(why, sizeof why, "%s", bus_amqp_error(p->conn));
    uint32_t depth;
    if (!strstr(why, "PRECONDITION_FAILED") || bus_amqp_queue_depth(p->conn, q, &depth) != BUS_OK)
        return -1;
    log_warn("bus_queue_bound_kept",
             "queue=%s wanted_bytes=%llu reason=\"%s\" action=\"the queue keeps the arguments it "
             "was declared with (delete it, or set a policy, to change them)\"",
             q, (unsigned long long)p->opt.queue_max_bytes, why);
    return 0;
}

static int connect_bus(bus_pipe *p)
{
    char err[256];
    bus_amqp_options o;
    bus_amqp_options_init(&o);
    o.timeout_ms = 3000;
    o.name = p->name[0] ? p->name : NULL;
    if (bus_amqp_connect(p->url, &o, &p->conn, err, sizeof err) != BUS_OK) {
        set_err(p, "connect", err);
        return -1;
    }
    const char *what = "declare";
    for (uint32_t k = 0; k < p->opt.partitions; k++) {
        char q[96], tag[64];
        queue_name(p, q, sizeof q, k);
        if (declare_partition(p, q) != 0) goto bad;
        what = "consume";
        if (p->opt.consume &&
            bus_amqp_consume(p->conn, q, p->opt.prefetch, tag, sizeof tag) != BUS_OK)
            goto bad;
        what = "declare";
    }
    p->gen++;
    p->win_base = 1;
    uv_mutex_lock(&p->mu);
    p->st.connects++;
    p->err[0] = '\0';
    uv_mutex_unlock(&p->mu);
    atomic_store(&p->up, true);
    log_info("bus_connected", "partitions=%u consume=%s", (unsigned)p->opt.partitions,
             p->opt.consume ? "yes" : "no");
    return 0;
bad:
    set_err(p, what, bus_amqp_error(p->conn));
    bus_amqp_close(p->conn);
    p->conn = NULL;
    return -1;
}

/* The connection is gone or broken: what was in flight is unconfirmed. */
static void drop_bus(bus_pipe *p, bool graceful)
{
    if (!graceful) {
        char e[256];
        uv_mutex_lock(&p->mu);
        snprintf(p->err, sizeof p->err, "%s", bus_amqp_error(p->conn));
        snprintf(e, sizeof e, "%s", p->err);
        uv_mutex_unlock(&p->mu);
        log_warn("bus_disconnected", "err=\"%s\" action=\"ingest refused until it is back\"", e);
    }
    atomic_store(&p->up, false);
    bus_amqp_close(p->conn);
    p->conn = NULL;
    uv_mutex_lock(&p->mu);
    if (!graceful) p->st.disconnects++;
    win_fail_locked(p);
    uv_mutex_unlock(&p->mu);
    uv_async_send(&p->async);
}

/* While down: what waits to be published is unconfirmed. */
static void fail_queued(bus_pipe *p)
{
    uv_mutex_lock(&p->mu);
    pub *x = p->out;
    p->out = NULL;
    p->out_tail = &p->out;
    bool any = x != NULL;
    while (x) {
        pub *n = x->next;
        finish_locked(p, x, BUS_LOST);
        x = n;
    }
    settle *s = p->settles; /* for a connection that is gone */
    p->settles = NULL;
    p->settles_tail = &p->settles;
    uv_mutex_unlock(&p->mu);
    while (s) {
        settle *n = s->next;
        free(s);
        s = n;
    }
    if (any) uv_async_send(&p->async);
}

static void handle_delivery(bus_pipe *p, const bus_ev *ev)
{
    bus_delivery *d = calloc(1, sizeof *d);
    if (!d || bus_msg_decode(ev->body, ev->len, &d->msg) != 0) {
        /* a message no node can read: refused without requeue, so it cannot loop */
        free(d);
        log_error("bus_malformed_message", "queue=%s bytes=%zu action=dropped", ev->routing_key,
                  ev->len);
        bus_amqp_nack(p->conn, ev->tag, false, false);
        uv_mutex_lock(&p->mu);
        p->st.malformed++;
        uv_mutex_unlock(&p->mu);
        return;
    }
    d->gen = p->gen;
    d->tag = ev->tag;
    d->redelivered = ev->redelivered;
    uv_mutex_lock(&p->mu);
    p->st.delivered += d->msg.n;
    p->st.msgs_delivered++;
    *p->dels_tail = d;
    p->dels_tail = &d->next;
    uv_mutex_unlock(&p->mu);
}

/* Publishes a partition's batches of this round (a list, in order) as messages of up to
 * BUS_MSG_MAX_BATCHES batches and about BUS_MSG_TARGET_BYTES, each into the window. rc: 0 so
 * far, or -1 (the connection is broken: every batch is unconfirmed). Returns the new rc. */
static int publish_partition(bus_pipe *p, uint32_t k, pub *list, int rc)
{
    char q[96];
    queue_name(p, q, sizeof q, k);
    while (list) {
        /* cut the next message's batches off the list */
        pub **end = &list;
        size_t n = 0, bytes = 0;
        while (*end && n < BUS_MSG_MAX_BATCHES && bytes < BUS_MSG_TARGET_BYTES) {
            p->parts[n] = (*end)->body;
            p->part_lens[n] = (*end)->len;
            bytes += (*end)->len;
            n++;
            end = &(*end)->next;
        }
        pub *first = list;
        list = *end;
        *end = NULL;
        msg *m = rc == 0 ? malloc(sizeof *m) : NULL;
        uint8_t *body = NULL;
        size_t len = 0;
        uint64_t seq;
        if (m) *m = (msg){first, n, false};
        if (m && bus_msg_encode(p->parts, p->part_lens, n, &body, &len) == 0 &&
            bus_amqp_publish_mandatory(p->conn, "", q, body, len, true, &seq) == BUS_OK &&
            win_push(p, m) == 0) {
            for (pub *x = first; x; x = x->next) {
                free(x->body);
                x->body = NULL;
            }
            uv_mutex_lock(&p->mu);
            p->st.published += n;
            p->st.inflight += n;
            p->st.msgs_published++;
            uv_mutex_unlock(&p->mu);
        } else {
            /* a failed publish breaks the connection; out of memory is treated alike (the
             * sequence numbers would no longer match the window) */
            rc = -1;
            uv_mutex_lock(&p->mu);
            if (m) {
                p->st.inflight += n; /* finish_msg_locked takes them off again */
                finish_msg_locked(p, m, BUS_LOST);
            } else {
                while (first) {
                    pub *x = first->next;
                    finish_locked(p, first, BUS_LOST);
                    first = x;
                }
            }
            uv_mutex_unlock(&p->mu);
        }
        free(body);
    }
    return rc;
}

/* One round: settles, publishes, then every event the broker has sent. 0, or -1: the
 * connection is broken. */
static int pump(bus_pipe *p)
{
    uv_mutex_lock(&p->mu);
    pub *out = p->out;
    settle *settles = p->settles;
    p->out = NULL;
    p->out_tail = &p->out;
    p->settles = NULL;
    p->settles_tail = &p->settles;
    uv_mutex_unlock(&p->mu);
    int rc = 0;
    uint64_t acked = 0, requeued = 0;
    while (settles) {
        settle *n = settles->next;
        if (rc == 0 && settles->gen == p->gen) {
            rc = settles->done ? bus_amqp_ack(p->conn, settles->tag, false)
                               : bus_amqp_nack(p->conn, settles->tag, false, true);
            if (settles->done)
                acked += settles->batches;
            else
                requeued += settles->batches;
        }
        free(settles);
        settles = n;
    }
    /* the round's batches by partition, in their order: one message per partition */
    while (out) {
        pub *n = out->next;
        out->next = NULL;
        *p->part_tail[out->partition] = out;
        p->part_tail[out->partition] = &out->next;
        out = n;
    }
    for (uint32_t k = 0; k < p->opt.partitions; k++) {
        pub *list = p->part_head[k];
        p->part_head[k] = NULL;
        p->part_tail[k] = &p->part_head[k];
        if (list) rc = publish_partition(p, k, list, rc);
    }
    bool wake_loop = false;
    for (int i = 0; rc == 0 && i < 100000; i++) {
        bus_ev ev;
        int r = bus_amqp_poll(p->conn, 0, &ev);
        if (r == BUS_TIMEOUT) break;
        if (r != BUS_OK) {
            rc = -1;
            break;
        }
        wake_loop = true;
        if (ev.kind == BUS_EV_CONFIRM) {
            uv_mutex_lock(&p->mu);
            win_confirm_locked(p, ev.tag, ev.multiple, ev.ack);
            uv_mutex_unlock(&p->mu);
        } else if (ev.kind == BUS_EV_DELIVERY) {
            handle_delivery(p, &ev);
        } else if (ev.kind == BUS_EV_RETURNED) { /* its ack follows: not a confirm */
            log_error("bus_message_returned",
                      "queue=%s action=\"refused to the devices (the partition queue is gone), "
                      "reconnecting\"",
                      ev.routing_key);
            uv_mutex_lock(&p->mu);
            win_mark_returned_locked(p, ev.tag);
            uv_mutex_unlock(&p->mu);
            set_err(p, "message returned by the broker (no such queue)", ev.routing_key);
            rc = -1; /* reconnect: the partition queues are declared again */
        } else {     /* a consumer cancelled by the broker (its queue deleted): start over */
            set_err(p, "consumer cancelled by the broker", ev.consumer);
            rc = -1;
        }
    }
    uv_mutex_lock(&p->mu);
    p->st.acked += acked;
    p->st.requeued += requeued;
    uv_mutex_unlock(&p->mu);
    if (wake_loop) uv_async_send(&p->async);
    return rc;
}

static void wait_for(bus_pipe *p, int ms)
{
    struct pollfd fds[2] = {{p->wake[0], POLLIN, 0}, {-1, POLLIN, 0}};
    if (p->conn) fds[1].fd = bus_amqp_fd(p->conn);
    if (poll(fds, 2, ms) > 0 && (fds[0].revents & POLLIN)) {
        char buf[256];
        while (read(p->wake[0], buf, sizeof buf) > 0) {
        }
    }
}

static void thread_main(void *arg)
{
    bus_pipe *p = arg;
    int64_t next_try = 0, stop_deadline = 0;
    for (;;) {
        uv_mutex_lock(&p->mu);
        bool stopping = p->stopping;
        bool idle = !p->out && !p->settles;
        uv_mutex_unlock(&p->mu);
        int64_t now = mono_ms();
        if (stopping && !stop_deadline) stop_deadline = now + STOP_CONFIRM_MS;
        if (!p->conn) {
            if (stopping) {
                fail_queued(p);
                break;
            }
            if (now >= next_try) {
                next_try = now + RECONNECT_MS;
                connect_bus(p);
            }
            if (!p->conn) {
                fail_queued(p);
                wait_for(p, 100);
                continue;
            }
        }
        if (pump(p) != 0) {
            drop_bus(p, false);
            next_try = mono_ms() + RECONNECT_MS / 10; /* try again soon, then once a second */
            continue;
        }
        if (stopping && idle && (p->win_len == 0 || now >= stop_deadline)) {
            drop_bus(p, true); /* what is still unconfirmed is reported so */
            break;
        }
        wait_for(p, stopping ? 10 : 100);
    }
}

/* ---- loop side --------------------------------------------------------------------------- */

static void wake(bus_pipe *p)
{
    char c = 1;
    ssize_t r = write(p->wake[1], &c, 1);
    (void)r; /* full: a wake-up is pending already */
}

static void free_arrays(bus_pipe *p)
{
    free(p->part_head);
    free(p->part_tail);
    free(p->parts);
    free(p->part_lens);
}

int bus_pipe_start(uv_loop_t *loop, const bus_pipe_options *opt, bus_pipe **out)
{
    *out = NULL;
    bus_pipe *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->loop = loop;
    p->opt = *opt;
    if (p->opt.partitions < 1) p->opt.partitions = 1;
    if (p->opt.prefetch == 0) p->opt.prefetch = 64;
    snprintf(p->url, sizeof p->url, "%s", opt->url);
    snprintf(p->name, sizeof p->name, "%s", opt->name ? opt->name : "");
    snprintf(p->prefix, sizeof p->prefix, "%s", opt->prefix ? opt->prefix : "iotad.p");
    p->opt.url = p->url;
    p->opt.name = p->name;
    p->opt.prefix = p->prefix;
    p->out_tail = &p->out;
    p->settles_tail = &p->settles;
    p->done_tail = &p->done;
    p->dels_tail = &p->dels;
    p->win_base = 1;
    p->part_head = calloc(p->opt.partitions, sizeof *p->part_head);
    p->part_tail = calloc(p->opt.partitions, sizeof *p->part_tail);
    p->parts = malloc(BUS_MSG_MAX_BATCHES * sizeof *p->parts);
    p->part_lens = malloc(BUS_MSG_MAX_BATCHES * sizeof *p->part_lens);
    if (!p->part_head || !p->part_tail || !p->parts || !p->part_lens || pipe(p->wake) != 0) {
        free_arrays(p);
        free(p);
        return -1;
    }
    for (uint32_t k = 0; k < p->opt.partitions; k++)
        p->part_tail[k] = &p->part_head[k];
    for (int i = 0; i < 2; i++)
        fcntl(p->wake[i], F_SETFL, fcntl(p->wake[i], F_GETFL) | O_NONBLOCK);
    uv_mutex_init(&p->mu);
    uv_async_init(loop, &p->async, on_async);
    p->async.data = p;
    if (uv_thread_create(&p->thread, thread_main, p) != 0) {
        uv_close((uv_handle_t *)&p->async, NULL);
        return -1; /* p is freed with the loop's handles: not reachable, small */
    }
    *out = p;
    return 0;
}

bool bus_pipe_up(const bus_pipe *p)
{
    return atomic_load(&((bus_pipe *)p)->up);
}

void bus_pipe_error(bus_pipe *p, char *out, size_t cap)
{
    uv_mutex_lock(&p->mu);
    snprintf(out, cap, "%s", p->err);
    uv_mutex_unlock(&p->mu);
}

int bus_pipe_publish(bus_pipe *p, const point_batch *b, void *ctx)
{
    if (!bus_pipe_up(p)) {
        uv_mutex_lock(&p->mu);
        p->st.refused++;
        uv_mutex_unlock(&p->mu);
        return -1;
    }
    pub *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->ctx = ctx;
    x->partition = bus_partition(b->device_id, p->opt.partitions);
    static uint64_t next_id; /* loop thread: the message's id, for tracing */
    if (bus_batch_encode(b, ++next_id, &x->body, &x->len) != 0) {
        free(x);
        return -1;
    }
    uv_mutex_lock(&p->mu);
    bool stopping = p->stopping;
    if (!stopping) {
        *p->out_tail = x;
        p->out_tail = &x->next;
    }
    uv_mutex_unlock(&p->mu);
    if (stopping) {
        free(x->body);
        free(x);
        return -1;
    }
    wake(p);
    return 0;
}

void bus_pipe_settle(bus_pipe *p, uint64_t gen, uint64_t tag, uint32_t batches, bool done)
{
    settle *s = malloc(sizeof *s);
    if (!s) return; /* unsettled: redelivered after the connection closes */
    *s = (settle){NULL, gen, tag, batches, done};
    uv_mutex_lock(&p->mu);
    *p->settles_tail = s;
    p->settles_tail = &s->next;
    uv_mutex_unlock(&p->mu);
    wake(p);
}

void bus_delivery_free(bus_delivery *d)
{
    if (!d) return;
    bus_msg_free(&d->msg);
    free(d);
}

void bus_pipe_pause(bus_pipe *p)
{
    uv_mutex_lock(&p->mu);
    p->paused = true;
    uv_mutex_unlock(&p->mu);
}

static void free_pipe(uv_handle_t *h)
{
    free(h->data);
}

void bus_pipe_stop(bus_pipe *p)
{
    if (!p) return;
    uv_mutex_lock(&p->mu);
    p->stopping = p->paused = true;
    uv_mutex_unlock(&p->mu);
    wake(p);
    uv_thread_join(&p->thread);
    run_done(p); /* the last outcomes; deliveries are freed unsettled */
    free(p->win);
    free_arrays(p);
    close(p->wake[0]);
    close(p->wake[1]);
    uv_mutex_destroy(&p->mu);
    uv_close((uv_handle_t *)&p->async, free_pipe);
}

void bus_pipe_get_stats(bus_pipe *p, bus_pipe_stats *out)
{
    uv_mutex_lock(&p->mu);
    *out = p->st;
    uv_mutex_unlock(&p->mu);
    out->up = bus_pipe_up(p);
}
