/* Cluster mode's ingest path: see cluster.h. */
#include "ingest/cluster.h"

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

struct ingest_cluster {
    server *s;
    bus_pipe *bus;
    held *held, **held_tail; /* in commit order (seq non-decreasing) */
    uint64_t dropped;        /* messages that can never be stored (series limit), acked */
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

/* Every job of a consumed message is done: hold it for the detection watermark, ack it (only
 * batches the store can never take), or send it back to its queue (the store failed: the
 * batches stored already are stored again in place when it comes back). */
static void consumed_done(consumed *m)
{
    ingest_cluster *c = m->c;
    if (m->failed) {
        if (c->bus) bus_pipe_settle(c->bus, m->gen, m->tag, m->batches, false);
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

bool ingest_cluster_stats(server *s, bus_pipe_stats *out)
{
    ingest_cluster *c = s->cluster;
    if (!c || !c->bus) return false;
    bus_pipe_get_stats(c->bus, out);
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
    while (c->held) {
        held *h = c->held;
        c->held = h->next;
        free(h);
    }
    free(c);
    s->cluster = NULL;
}
