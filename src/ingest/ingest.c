/* Shared ingest path; see ingest.h. */
#include "ingest/ingest.h"

#include "core/server.h"
#include "ingest/cluster.h"
#include "pipeline/shards.h"
#include "ingest/decode_json.h"
#include "ingest/devstate.h"
#include "mqtt/mqtt_server.h"
#include "store/writer.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    server *s;
    ingest_ack_fn ack;
    void *arg;
    transport t;
} ingest_pending;

reject_reason ingest_reject_reason(ingest_status st)
{
    switch (st) {
    case INGEST_ERR_SYNTAX:
        return REJECT_SYNTAX;
    case INGEST_ERR_TYPE:
        return REJECT_TYPE;
    case INGEST_ERR_NONFINITE:
        return REJECT_NONFINITE;
    case INGEST_ERR_TIMESTAMP:
        return REJECT_TIMESTAMP;
    case INGEST_ERR_METRIC:
        return REJECT_METRIC;
    case INGEST_ERR_TOO_MANY:
        return REJECT_TOO_LARGE;
    case INGEST_ERR_EMPTY:
        return REJECT_EMPTY;
    case INGEST_ERR_TOO_DEEP:
        return REJECT_TOO_DEEP;
    case INGEST_ERR_SERIES_LIMIT:
        return REJECT_SERIES_LIMIT;
    case INGEST_ERR_RATE_LIMITED:
        return REJECT_RATE_LIMITED;
    case INGEST_ERR_UNAUTHORIZED:
        return REJECT_AUTH;
    case INGEST_ERR_BUS_FULL:
        return REJECT_BUS_FULL;
    default:
        return REJECT_UNAVAILABLE;
    }
}

void ingest_stored_json(const ingest_stored *done, cJSON *o)
{
    cJSON_AddNumberToObject(o, "accepted", (double)done->stored);
    if (done->replaced) cJSON_AddNumberToObject(o, "replaced", (double)done->replaced);
    if (done->too_old) cJSON_AddNumberToObject(o, "too_old", (double)done->too_old);
}

int ingest_retry_after_s(ingest_status st)
{
    return st == INGEST_ERR_UNAVAILABLE || st == INGEST_ERR_STORAGE_FULL ||
                   st == INGEST_ERR_BUS_FULL
               ? 5
           : st == INGEST_ERR_RATE_LIMITED ? 1
                                           : 0;
}

static ingest_status store_status(int writer_status)
{
    return writer_status == WRITER_OK               ? INGEST_OK
           : writer_status == WRITER_E_FULL         ? INGEST_ERR_STORAGE_FULL
           : writer_status == WRITER_E_SERIES_LIMIT ? INGEST_ERR_SERIES_LIMIT
                                                    : INGEST_ERR_UNAVAILABLE;
}

bool ingest_overloaded(server *s)
{
    return s->writer && writer_overloaded(s->writer);
}

void ingest_reject(server *s, dev_live *d, transport t, const char *peer, const ingest_error *err)
{
    s->m.rejected[t][ingest_reject_reason(err->status)]++;
    if (err->status != INGEST_ERR_NOMEM) /* the server's trouble, not the device's */
        devstate_security(s->devices, d, NULL, SEC_BAD_PAYLOAD, t, peer, err->msg);
}

void ingest_rejected_totals(const server *s, uint64_t out[TRANSPORT_COUNT][REJECT_COUNT])
{
    memcpy(out, s->m.rejected, sizeof s->m.rejected);
    /* what the MQTT listeners refuse on their own, before a packet reaches the application */
    const struct mqtt_server *ls[] = {s->mqtt, s->mqtts};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        if (!ls[i]) continue;
        mqtt_server_stats ms;
        mqtt_server_get_stats(ls[i], &ms);
        uint64_t *m = out[TRANSPORT_MQTT];
        m[REJECT_TOO_LARGE] += ms.too_large; /* larger than mqtt_max_packet */
        m[REJECT_SYNTAX] += ms.payload_format_refused;
        m[REJECT_PROTOCOL] += ms.protocol_errors - ms.too_large; /* too_large is one of them */
        m[REJECT_UNSUPPORTED] += ms.connect_unsupported;
    }
}

void ingest_to_detectors(server *s, writer_job *job, int status)
{
    if (status == 0 && s->shards && !s->stopping) { /* detection runs after the ack */
        point_batch b = {job->device_id, job->device_type, job->points, job->n};
        shards_submit(s->shards, &b, job->seq);
        job->points = NULL; /* the shard's now */
    }
    writer_job_free(job);
}

writer_job *ingest_job_from_batch(const char *device_id, ingest_batch *b, writer_done_fn done,
                                  void *arg)
{
    writer_job *j = writer_job_new(device_id, b->v, b->n, done, arg);
    if (j) {
        b->v = NULL;
        b->n = b->cap = 0;
    }
    return j;
}

void ingest_emit_points(server *s, const writer_job *job)
{
    if (!ev_wanted(&s->events, EV_POINTS)) return;
    dev_live *d = devstate_get(s->devices, job->device_id);
    if (!d) return;
    ev_event e = {.type = EV_POINTS, .device_id = job->device_id, .owner_id = d->owner_id};
    e.u.points.v = job->points;
    e.u.points.n = job->n;
    ev_emit(&s->events, &e);
}

static void on_durable(writer_job *job, int status, void *arg)
{
    ingest_pending *p = arg;
    server *s = p->s;
    if (status == 0) ingest_emit_points(s, job);
    ingest_error err;
    ingest_status st = store_status(status);
    if (st == INGEST_ERR_SERIES_LIMIT)
        ingest_fail(&err, st, 0,
                    "new metric names would give this device more than %lld series "
                    "(max_series_per_device): nothing was stored",
                    (long long)s->cfg.max_series_per_device);
    else if (st != INGEST_OK)
        ingest_fail(&err, st, 0,
                    "the store could not commit the points%s: nothing was stored; "
                    "retry later",
                    st == INGEST_ERR_STORAGE_FULL ? " (disk full)" : "");
    if (st != INGEST_OK) s->m.rejected[p->t][ingest_reject_reason(st)]++;
    ingest_stored done = {
        .stored = job->n - job->too_old, .replaced = job->replaced, .too_old = job->too_old};
    if (p->ack) p->ack(p->arg, st == INGEST_OK ? NULL : &err, &done);
    free(p);
    ingest_to_detectors(s, job, status);
}

/* Refills a token bucket at rate per second up to burst, then takes n if it has them. */
static bool bucket_take(double *tokens, int64_t elapsed_ms, int64_t rate, int64_t burst, size_t n)
{
    if (rate <= 0) return true;
    double have = *tokens + (double)rate * (double)elapsed_ms / 1000.0;
    if (have > (double)burst) have = (double)burst;
    bool ok = have >= (double)n;
    *tokens = ok ? have - (double)n : have;
    return ok;
}

/* Per-device rate limits (points and messages per second, with bursts): a batch is taken whole
 * or refused whole. The defaults are far above any device and above the benchmarks. */
static bool rate_allows(server *s, dev_live *d, size_t points, int64_t now)
{
    const config *c = &s->cfg;
    if (c->ingest_rate_points <= 0 && c->ingest_rate_messages <= 0) return true;
    /* a burst smaller than the largest batch would refuse that batch for ever */
    int64_t burst =
        c->ingest_burst_points > c->max_batch_points ? c->ingest_burst_points : c->max_batch_points;
    if (d->rate_at_ms == 0) { /* first batch: full buckets */
        d->rate_points = (double)burst;
        d->rate_messages = (double)c->ingest_burst_messages;
        d->rate_at_ms = now;
    }
    int64_t elapsed = now > d->rate_at_ms ? now - d->rate_at_ms : 0;
    d->rate_at_ms = now;
    double pts = d->rate_points, msgs = d->rate_messages;
    bool ok = bucket_take(&pts, elapsed, c->ingest_rate_points, burst, points) &&
              bucket_take(&msgs, elapsed, c->ingest_rate_messages, c->ingest_burst_messages, 1);
    if (ok) {
        d->rate_points = pts;
        d->rate_messages = msgs;
    } else { /* refill only: a refused batch takes nothing */
        bucket_take(&d->rate_points, elapsed, c->ingest_rate_points, burst, 0);
        bucket_take(&d->rate_messages, elapsed, c->ingest_rate_messages, c->ingest_burst_messages,
                    0);
    }
    return ok;
}

static void count_accepted(server *s, dev_live *d, transport t, const char *peer, size_t bytes,
                           size_t points)
{
    s->m.points_in[t] += points;
    s->m.messages_in[t]++;
    s->m.bytes_in[t] += bytes;
    devstate_seen(s->devices, d, t, peer, bytes, points);
}

ingest_status ingest_submit(server *s, dev_live *d, ingest_batch *b, transport t, const char *peer,
                            size_t bytes, ingest_ack_fn ack, void *arg, ingest_error *err)
{
    int64_t now = util_now_ms();
    if (s->stopping || !s->writer) {
        s->m.rejected[t][REJECT_UNAVAILABLE]++;
        return ingest_fail(err, INGEST_ERR_UNAVAILABLE, 0, "server is shutting down; retry");
    }
    if (d->deleted) { /* deleted while its connection stayed open or its body was decoded */
        s->m.rejected[t][REJECT_AUTH]++;
        return ingest_fail(err, INGEST_ERR_UNAUTHORIZED, 0, "the device no longer exists");
    }
    ingest_status st = b->n == 0 ? ingest_fail(err, INGEST_ERR_EMPTY, 0, "no points in the payload")
                                 : ingest_check_skew(b, 0, now, s->cfg.ts_max_past_s * 1000,
                                                     s->cfg.ts_max_future_s * 1000, err);
    if (st != INGEST_OK) {
        ingest_reject(s, d, t, peer, err);
        return st;
    }
    if (!rate_allows(s, d, b->n, now)) {
        s->m.rejected[t][REJECT_RATE_LIMITED]++;
        return ingest_fail(err, INGEST_ERR_RATE_LIMITED, 0,
                           "this device sends faster than its rate limit (%lld points/s, %lld "
                           "messages/s); nothing was stored; slow down and retry",
                           (long long)s->cfg.ingest_rate_points,
                           (long long)s->cfg.ingest_rate_messages);
    }
    if (s->cluster) { /* acknowledged once RabbitMQ confirms it (ingest/cluster.h) */
        st = ingest_cluster_publish(s, d, b, t, ack, arg, err);
        if (st == INGEST_OK) count_accepted(s, d, t, peer, bytes, b->n);
        return st;
    }
    char why[128];
    int failing = writer_failing(s->writer, why, sizeof why);
    if (failing) {
        /* the last commit failed: refuse now rather than queue points that cannot be stored */
        s->m.rejected[t][REJECT_UNAVAILABLE]++;
        return ingest_fail(err, store_status(failing), 0,
                           "the store cannot commit (%s): nothing was stored; retry later", why);
    }
    ingest_pending *p = malloc(sizeof *p);
    writer_job *job = p ? ingest_job_from_batch(d->id, b, on_durable, p) : NULL;
    if (!job) {
        free(p);
        s->m.rejected[t][REJECT_UNAVAILABLE]++;
        return ingest_fail(err, INGEST_ERR_NOMEM, 0, "out of memory");
    }
    snprintf(job->device_type, sizeof job->device_type, "%s", d->type);
    p->s = s;
    p->ack = ack;
    p->arg = arg;
    p->t = t;
    count_accepted(s, d, t, peer, bytes, job->n);
    writer_submit(s->writer, job);
    return INGEST_OK;
}
