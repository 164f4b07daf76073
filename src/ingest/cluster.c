/* Cluster mode's ingest path: see cluster.h. */
#include "ingest/cluster.h"

#include "bus/backoff.h"
#include "core/log.h"
#include "core/server.h"
#include "ingest/devstate.h"
#include "store/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A consumed message stored, waiting for the detection watermark to pass its commit. */
typedef struct held {
    struct held *next;
    uint64_t gen, tag;
    uint32_t batches;
    int64_t seq;
} held;

/* A consumed message the store could not take, waiting for the back-off to requeue it. */
typedef struct requeue {
    struct requeue *next;
    uint64_t gen, tag;
    uint32_t batches;
} requeue;

/* How often a round's wait looks whether the store commits again (then it ends at once). */
#define REQUEUE_CHECK_MS 250

struct ingest_cluster {
    server *s;
    bus_pipe *bus;
    held *held, **held_tail; /* in commit order (seq non-decreasing) */
    uint64_t dropped;        /* messages that can never be stored (series limit), acked */
    /* the requeue back-off (bus/backoff.h): failed messages wait, unacked (so the prefetch
     * window holds further deliveries back), then go back to their queues together */
    uv_timer_t *retry; /* its own allocation: freed by its close callback */
    requeue *requeues, **requeues_tail;
    bus_backoff backoff;
    uint64_t round_due; /* uv_now when the waiting messages go back */
    ingest_cluster_requeue_stats rq;
    bool hold_acks; /* tests only (IOTAD_TEST_BUS_HOLD_ACKS=1): never ack, as if killed first */
};

/* A device's batch waiting for its confirm. */
typedef struct {
    server *s;
    ingest_ack_fn ack;
    void *arg;
    transport t;
    size_t n;
} pending;

/* A consumed message in the writer: one job per batch, settled when the last is done. */
typedef struct {
    ingest_cluster *c;
    uint64_t gen, tag;
    uint32_t batches;
    uint32_t left;   /* jobs not done yet */
    bool failed;     /* a job was not stored (the store failing): the message goes back */
    bool stored;     /* a job was stored: acked once detection has passed max_seq */
    int64_t max_seq; /* the latest commit among its jobs */
} consumed;

static void on_confirm(void *arg, void *ctx, bus_outcome outcome)
{
    (void)arg;
    pending *p = ctx;
    bool confirmed = outcome == BUS_CONFIRMED;
    ingest_stored done = {.stored = confirmed ? p->n : 0};
    ingest_error err;
    if (outcome == BUS_FULL) {
        ingest_fail(&err, INGEST_ERR_BUS_FULL, 0,
                    "the cluster bus is full (the device's partition queue is at its bound): "
                    "nothing is acknowledged; retry later");
        p->s->m.rejected[p->t][REJECT_BUS_FULL]++;
    } else if (!confirmed) {
        ingest_fail(&err, INGEST_ERR_UNAVAILABLE, 0,
                    "the cluster bus (RabbitMQ) did not confirm the points: nothing is "
                    "acknowledged; retry later");
        p->s->m.rejected[p->t][REJECT_UNAVAILABLE]++;
    }
    if (p->ack) p->ack(p->arg, confirmed ? NULL : &err, &done);
    free(p);
}

/* The waiting messages go back to their queues now: the round is over. */
static void requeue_now(ingest_cluster *c)
{
    while (c->requeues) {
        requeue *r = c->requeues;
        c->requeues = r->next;
        if (c->bus) bus_pipe_settle(c->bus, r->gen, r->tag, r->batches, false);
        c->rq.requeued++;
        c->rq.waiting--;
        free(r);
    }
    c->requeues_tail = &c->requeues;
    if (c->retry) uv_timer_stop(c->retry);
}

/* During a round: its delay is over, or the store commits again (the writer's probe
 * succeeded: what waits can be stored now). */
static void on_retry(uv_timer_t *t)
{
    ingest_cluster *c = t->data;
    if (uv_now(t->loop) >= c->round_due || !c->s->writer || !writer_failing(c->s->writer, NULL, 0))
        requeue_now(c);
}

/* A message the store could not take: it waits for the round under way, or starts one with
 * the back-off's next delay. Never blocks: a timer ends the round. */
static void requeue_later(ingest_cluster *c, uint64_t gen, uint64_t tag, uint32_t batches)
{
    requeue *r = malloc(sizeof *r);
    if (!r || !c->retry) { /* no memory: at once, as before the back-off */
        free(r);
        if (c->bus) bus_pipe_settle(c->bus, gen, tag, batches, false);
        c->rq.requeued++;
        return;
    }
    *r = (requeue){NULL, gen, tag, batches};
    *c->requeues_tail = r;
    c->requeues_tail = &r->next;
    c->rq.waiting++;
    if (uv_is_active((uv_handle_t *)c->retry)) return;
    uint32_t wait = bus_backoff_next(&c->backoff);
    c->rq.rounds++;
    c->rq.backoff_ms = wait;
    c->round_due = uv_now(c->retry->loop) + wait;
    uint64_t check = wait < REQUEUE_CHECK_MS ? wait : REQUEUE_CHECK_MS;
    uv_timer_start(c->retry, on_retry, check, check);
    if (c->rq.rounds == 1 || wait == c->backoff.max_ms)
        log_warn("bus_requeue_backoff",
                 "waiting=%llu delay_ms=%u round=%u reason=\"the store refused the batches\" "
                 "action=\"requeued after the delay, or as soon as the store commits again\"",
                 (unsigned long long)c->rq.waiting, (unsigned)wait, (unsigned)c->backoff.rounds);
}

/* Every job of a consumed message is done: hold it for the detection watermark, ack it (only
 * batches the store can never take), or send it back to its queue (the store failed: the
 * batches stored already are stored again in place when it comes back). */
static void consumed_done(consumed *m)
{
    ingest_cluster *c = m->c;
    if (m->failed) {
        requeue_later(c, m->gen, m->tag, m->batches);
    } else if (m->stored) {
        held *h = malloc(sizeof *h);
        if (h) { /* out of memory: left unacked, redelivered when the connection closes */
            *h = (held){NULL, m->gen, m->tag, m->batches, m->max_seq};
            *c->held_tail = h;
            c->held_tail = &h->next;
        }
    } else if (c->bus) {
        bus_pipe_settle(c->bus, m->gen, m->tag, m->batches, true);
    }
    free(m);
}

static void on_stored(writer_job *job, int status, void *arg)
{
    consumed *m = arg;
    ingest_cluster *c = m->c;
    server *s = c->s;
    if (status == WRITER_OK) {
        /* the store commits: the back-off starts from its shortest delay again, and what
         * waits for it goes back now */
        if (c->backoff.rounds) {
            bus_backoff_reset(&c->backoff);
            c->rq.backoff_ms = 0;
        }
        if (c->requeues) requeue_now(c);
        ingest_emit_points(s, job);
        m->stored = true;
        if (job->seq > m->max_seq) m->max_seq = job->seq;
    } else if (status == WRITER_E_SERIES_LIMIT) {
        /* it can never be stored: acked (counted and logged), not requeued for ever */
        c->dropped++;
        log_warn("bus_batch_dropped",
                 "device=%s points=%zu reason=\"max_series_per_device\" note=\"acknowledged by "
                 "the ingest node, refused by the store\"",
                 job->device_id, job->n);
    } else { /* the store is failing: back to the queue, tried again */
        m->failed = true;
    }
    if (--m->left == 0) consumed_done(m);
    ingest_to_detectors(s, job, status);
}

/* A message: one writer job per batch, all made before any is submitted (a job that cannot
 * be made leaves the whole message unsettled: redelivered when the connection closes). */
static void on_delivery(void *arg, bus_delivery *d)
{
    ingest_cluster *c = arg;
    server *s = c->s;
    size_t n = d->msg.n;
    consumed *m = malloc(sizeof *m);
    writer_job **jobs = calloc(n, sizeof *jobs);
    size_t made = 0;
    if (m && jobs && s->writer && !s->stopping)
        for (; made < n; made++) {
            bus_batch *b = &d->msg.batches[made];
            jobs[made] = writer_job_new(b->device_id, b->points, b->n, on_stored, m);
            if (!jobs[made]) break;
            b->points = NULL; /* the job's now */
            b->n = 0;
            snprintf(jobs[made]->device_type, sizeof jobs[made]->device_type, "%.*s",
                     (int)sizeof jobs[made]->device_type - 1, b->device_type);
        }
    if (made < n || n == 0) {
        for (size_t i = 0; i < made; i++)
            writer_job_free(jobs[i]);
        free(jobs);
        free(m);
        bus_delivery_free(d);
        return;
    }
    *m = (consumed){c, d->gen, d->tag, (uint32_t)n, (uint32_t)n, false, false, 0};
    bus_delivery_free(d);
    for (size_t i = 0; i < n; i++)
        writer_submit(s->writer, jobs[i]);
    free(jobs);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

int ingest_cluster_start(server *s, uv_loop_t *loop)
{
    const config *cfg = &s->cfg;
    if (!cfg->cluster[0]) return 0;
    if (strncmp(cfg->cluster, "amqp://", 7) != 0) {
        log_error("cluster_url_invalid",
                  "option=cluster expected=\"amqp://user:password@host:port/vhost\"");
        fprintf(stderr, "iotad: --cluster takes amqp://user:password@host:5672/vhost%s\n",
                strncmp(cfg->cluster, "amqps://", 8) == 0 ? " (amqps:// is not supported yet)"
                                                          : "");
        return -1;
    }
    ingest_cluster *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->s = s;
    c->held_tail = &c->held;
    c->requeues_tail = &c->requeues;
    bus_backoff_init(&c->backoff, BUS_BACKOFF_MIN_MS, BUS_BACKOFF_MAX_MS);
    c->retry = malloc(sizeof *c->retry);
    if (c->retry) {
        uv_timer_init(loop, c->retry);
        c->retry->data = c;
    }
    const char *hold = getenv("IOTAD_TEST_BUS_HOLD_ACKS");
    c->hold_acks = hold && !strcmp(hold, "1");
    char name[96], host[64] = "?";
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "iotad %s pid %d", host, (int)getpid());
    bus_pipe_options o = {.url = cfg->cluster,
                          .name = name,
                          .partitions = (uint32_t)cfg->cluster_partitions,
                          .prefetch = (uint16_t)cfg->cluster_prefetch,
                          .queue_max_bytes = (uint64_t)cfg->cluster_queue_max_mb << 20,
                          .consume = true,
                          .on_confirm = on_confirm,
                          .on_delivery = on_delivery,
                          .arg = c};
    if (bus_pipe_start(loop, &o, &c->bus) != 0) {
        if (c->retry) uv_close((uv_handle_t *)c->retry, free_handle);
        free(c);
        return -1;
    }
    s->cluster = c;
    log_info("cluster_bus",
             "partitions=%lld prefetch=%lld queue_max_mb=%lld ack=\"after the broker's confirm\"",
             (long long)cfg->cluster_partitions, (long long)cfg->cluster_prefetch,
             (long long)cfg->cluster_queue_max_mb);
    return 0;
}

ingest_status ingest_cluster_publish(server *s, dev_live *d, ingest_batch *b, transport t,
                                     ingest_ack_fn ack, void *arg, ingest_error *err)
{
    ingest_cluster *c = s->cluster;
    pending *p = malloc(sizeof *p);
    if (!p) return ingest_fail(err, INGEST_ERR_NOMEM, 0, "out of memory");
    *p = (pending){s, ack, arg, t, b->n};
    point_batch pb = {d->id, d->type, b->v, b->n};
    if (!c->bus || bus_pipe_publish(c->bus, &pb, p) != 0) {
        free(p);
        s->m.rejected[t][REJECT_UNAVAILABLE]++;
        return ingest_fail(err, INGEST_ERR_UNAVAILABLE, 0,
                           "the cluster bus (RabbitMQ) is unavailable: nothing was stored; "
                           "retry later");
    }
    return INGEST_OK;
}

void ingest_cluster_detected(server *s, int64_t w)
{
    ingest_cluster *c = s->cluster;
    if (!c || c->hold_acks) return;
    while (c->held && c->held->seq <= w) {
        held *h = c->held;
        c->held = h->next;
        if (c->bus) bus_pipe_settle(c->bus, h->gen, h->tag, h->batches, true);
        free(h);
    }
    if (!c->held) c->held_tail = &c->held;
}

bool ingest_cluster_ready(server *s, char *why, size_t cap)
{
    ingest_cluster *c = s->cluster;
    if (!c) return true;
    if (c->bus && bus_pipe_up(c->bus)) return true;
    char err[200] = "";
    if (c->bus) bus_pipe_error(c->bus, err, sizeof err);
    snprintf(why, cap, "%s", err[0] ? err : "not connected yet");
    return false;
}

bool ingest_cluster_stats(server *s, bus_pipe_stats *out, ingest_cluster_requeue_stats *rq)
{
    ingest_cluster *c = s->cluster;
    if (!c || !c->bus) return false;
    bus_pipe_get_stats(c->bus, out);
    if (rq) *rq = c->rq;
    return true;
}

void ingest_cluster_pause(server *s)
{
    if (s->cluster && s->cluster->bus) bus_pipe_pause(s->cluster->bus);
}

void ingest_cluster_stop(server *s)
{
    ingest_cluster *c = s->cluster;
    if (!c) return;
    bus_pipe_stop(c->bus); /* unacked messages go back to their queues */
    c->bus = NULL;
    while (c->requeues) { /* unsettled: back to their queues with the connection */
        requeue *r = c->requeues;
        c->requeues = r->next;
        free(r);
    }
    if (c->retry) uv_close((uv_handle_t *)c->retry, free_handle);
    while (c->held) {
        held *h = c->held;
        c->held = h->next;
        free(h);
    }
    free(c);
    s->cluster = NULL;
}
