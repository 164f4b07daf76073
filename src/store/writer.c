/* Group commit. The loop thread appends jobs to a mutex-protected list and signals the
 * writer; the writer takes the whole list, writes every point in one transaction (one call of
 * the time-series store's write, store.h), commits, and hands the list back through uv_async
 * to the loop, which runs the completions. Points arriving while a commit is in progress form
 * the next group, so the batch size grows with the load and each fsync is shared by every job
 * in it. Housekeeping (checkpoints, retention) runs on the same thread between groups, since
 * the store has one writer. What a back-end needs around a commit (SQLite: its write lock's
 * gate, WAL checkpoints) is the back-end's (store/sqlite/ts.c). */
#include "store/writer.h"

#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double writer_latency_bounds_ms[WRITER_LATENCY_BUCKETS] = {
    0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

struct writer {
    uv_loop_t *loop;
    store_ts *ts;
    writer_options opt;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    writer_job *queue_head, *queue_tail; /* guarded by mu */
    writer_job *done_head, *done_tail;   /* guarded by mu */
    size_t queued_points;                /* guarded by mu */
    size_t queued_jobs;
    bool stopping;
    uv_async_t async;
    bool overloaded; /* loop thread only */
    void (*drain_cb)(void *);
    void *drain_arg;
    writer_stats stats;      /* guarded by mu */
    bool retention_changed;  /* guarded by mu */
    store_ts_batch *batches; /* writer thread: the group's jobs as the store's batches */
    size_t batches_cap;
    uint64_t dropped; /* writer thread: points older than the series' stored chunks */
    /* Store failure (see writer.h). fail_status and fail_msg are written under mu by the
     * writer thread; the loop reads fail_status without the lock (at every submit) and
     * fail_msg with it. The rest is writer-thread only. */
    _Atomic int fail_status; /* 0 or WRITER_E_* */
    char fail_msg[160];
    int64_t fail_since_ms, next_probe_ms, next_report_ms;
    uint64_t fail_refused_points; /* during the current failure */
};

#define PROBE_EVERY_MS 1000
#define FAILING_REPORT_EVERY_MS 30000

writer_job *writer_job_new(const char *device_id, ingest_point *points, size_t n,
                           writer_done_fn done, void *arg)
{
    writer_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    snprintf(j->device_id, sizeof j->device_id, "%s", device_id);
    j->points = points;
    j->n = n;
    j->done = done;
    j->arg = arg;
    return j;
}

void writer_job_free(writer_job *job)
{
    if (!job) return;
    free(job->points);
    free(job);
}

static void record_latency(writer_stats *st, int64_t submit_ns, int64_t now_ns)
{
    double ms = (double)(now_ns - submit_ns) / 1e6;
    int b = 0;
    while (b < WRITER_LATENCY_BUCKETS && ms > writer_latency_bounds_ms[b])
        b++;
    st->latency_count[b]++;
    st->latency_sum_ms += ms;
}

/* Deletions run in their own transactions, before the group. */
static void delete_devices(writer *w, writer_job *head)
{
    for (writer_job *j = head; j; j = j->next)
        if (j->op == WRITER_OP_DELETE_DEVICE &&
            STORE_TS(w->ts)->delete_device(w->ts, j->device_id) != 0)
            log_error("delete_device_failed", "device=%s", j->device_id);
}

/* Writes one group in a transaction. Returns WRITER_OK when durable, else a WRITER_E_* with
 * the error text in msg (the transaction is rolled back; logging is the caller's). */
static int write_group(writer *w, writer_job *head, size_t *points, char *msg, size_t cap)
{
    *points = 0;
    delete_devices(w, head);
    /* Batches may arrive in any order; the store appends fastest (and keeps everything) when
     * each series grows in time. Sorted before the transaction: it holds SQLite's write lock,
     * which the loop's own writes wait for. (Large HTTP batches arrive sorted already.) */
    size_t n = 0;
    for (writer_job *j = head; j; j = j->next) {
        if (j->op != WRITER_OP_POINTS) continue;
        if (ingest_points_sort(j->points, j->n) != 0) {
            snprintf(msg, cap, "out of memory");
            return WRITER_E_STORE;
        }
        n++;
    }
    if (n > w->batches_cap) {
        size_t ncap = n < 64 ? 64 : n * 2;
        store_ts_batch *nb = realloc(w->batches, ncap * sizeof *nb);
        if (!nb) {
            snprintf(msg, cap, "out of memory");
            return WRITER_E_STORE;
        }
        w->batches = nb;
        w->batches_cap = ncap;
    }
    size_t k = 0;
    for (writer_job *j = head; j; j = j->next)
        if (j->op == WRITER_OP_POINTS)
            w->batches[k++] = (store_ts_batch){
                .device_id = j->device_id, .points = j->points, .n = j->n, .internal = j->internal};
    int64_t seq = 0;
    int rc =
        STORE_TS(w->ts)->write(w->ts, w->batches, n, w->opt.max_series_per_device, &seq, msg, cap);
    if (rc != 0) return rc;
    k = 0;
    for (writer_job *j = head; j; j = j->next) {
        j->seq = seq;
        if (j->op != WRITER_OP_POINTS) continue;
        store_ts_batch *bt = &w->batches[k++];
        if (bt->status != 0) {
            j->status = bt->status;
            continue;
        }
        j->replaced = bt->replaced;
        j->too_old = bt->too_old;
        w->dropped += bt->too_old;
        *points += j->n;
    }
    return WRITER_OK;
}

/* ---- store failure ---------------------------------------------------------------------- */

static bool is_failing(writer *w)
{
    return atomic_load(&w->fail_status) != 0;
}

/* Writer thread: a write (a group or a probe) failed with status rc. */
static void store_failed(writer *w, int rc, const char *msg, size_t points)
{
    int64_t now = util_now_ms();
    pthread_mutex_lock(&w->mu);
    bool first = w->fail_status == 0;
    w->fail_status = rc;
    snprintf(w->fail_msg, sizeof w->fail_msg, "%s", msg);
    w->stats.failing = true;
    pthread_mutex_unlock(&w->mu);
    w->fail_refused_points += points;
    w->next_probe_ms = now + PROBE_EVERY_MS;
    if (first) {
        w->fail_since_ms = now;
        w->next_report_ms = now + FAILING_REPORT_EVERY_MS;
        log_error("store_failing", "err=\"%s\" full=%s points=%zu action=refusing_ingest", msg,
                  rc == WRITER_E_FULL ? "yes" : "no", points);
    } else if (now >= w->next_report_ms) {
        w->next_report_ms = now + FAILING_REPORT_EVERY_MS;
        log_warn("store_still_failing", "err=\"%s\" for_s=%lld refused_points=%llu", msg,
                 (long long)((now - w->fail_since_ms) / 1000),
                 (unsigned long long)w->fail_refused_points);
    }
}

/* Writer thread: a write succeeded. */
static void store_ok(writer *w)
{
    if (!is_failing(w)) return;
    pthread_mutex_lock(&w->mu);
    w->fail_status = 0;
    w->stats.failing = false;
    pthread_mutex_unlock(&w->mu);
    log_info("store_recovered", "after_ms=%lld refused_points=%llu",
             (long long)(util_now_ms() - w->fail_since_ms),
             (unsigned long long)w->fail_refused_points);
    w->fail_refused_points = 0;
}

/* Writer thread, while failing and idle: one small write once a second, so that readiness
 * comes back when space does, without waiting for (refused) ingest. */
static void probe(writer *w)
{
    int64_t now = util_now_ms();
    if (now < w->next_probe_ms) return;
    char msg[160];
    int rc = STORE_TS(w->ts)->probe(w->ts, msg, sizeof msg);
    if (rc == 0)
        store_ok(w);
    else
        store_failed(w, rc, msg, 0);
}

static void housekeeping(writer *w, int64_t *last_checkpoint_ms, int64_t *last_retention_ms)
{
    if (is_failing(w)) {
        probe(w); /* checkpoints and retention need the writes that fail */
        return;
    }
    int64_t now = util_now_ms();
    if (now - *last_checkpoint_ms >= w->opt.checkpoint_interval_ms) {
        *last_checkpoint_ms = now;
        if (STORE_TS(w->ts)->checkpoint(w->ts) != 0) log_warn("checkpoint_failed", "%s", "");
    }
    pthread_mutex_lock(&w->mu);
    int64_t retention_ms = w->opt.retention_ms; /* writer_set_retention changes it */
    bool changed = w->retention_changed;
    w->retention_changed = false;
    pthread_mutex_unlock(&w->mu);
    if (retention_ms > 0 && (changed || now - *last_retention_ms >= 60000)) {
        *last_retention_ms = now;
        if (STORE_TS(w->ts)->delete_before(w->ts, now - retention_ms) != 0)
            log_warn("retention_failed", "%s", "");
    }
}

#define GROUP_MAX_POINTS 65536

static void *writer_main(void *arg)
{
    writer *w = arg;
    int64_t last_checkpoint = util_now_ms(), last_retention = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue_head && !w->stopping) {
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 1;
            pthread_cond_timedwait(&w->cond, &w->mu, &deadline);
            if (!w->queue_head) {
                pthread_mutex_unlock(&w->mu);
                housekeeping(w, &last_checkpoint, &last_retention);
                pthread_mutex_lock(&w->mu);
            }
        }
        if (!w->queue_head && w->stopping) break;
        /* One group is the queue, up to GROUP_MAX_POINTS (at least one job): a transaction
         * holds SQLite's write lock, and the loop's own writes wait for it. */
        writer_job *head = w->queue_head, *tail = head;
        size_t njobs = 1, group_points = head->n;
        while (tail->next && group_points + tail->next->n <= GROUP_MAX_POINTS) {
            tail = tail->next;
            group_points += tail->n;
            njobs++;
        }
        w->queue_head = tail->next;
        if (!w->queue_head) w->queue_tail = NULL;
        tail->next = NULL;
        pthread_mutex_unlock(&w->mu);

        size_t points = 0, submitted = 0;
        for (writer_job *j = head; j; j = j->next)
            submitted += j->n;
        int rc;
        char msg[160];
        bool tried = !is_failing(w) || util_now_ms() >= w->next_probe_ms;
        if (!tried) {
            /* refused without trying: the last write failed less than a second ago */
            delete_devices(w, head);
            rc = atomic_load(&w->fail_status);
            w->fail_refused_points += submitted;
        } else if ((rc = write_group(w, head, &points, msg, sizeof msg)) == WRITER_OK) {
            store_ok(w);
        } else {
            store_failed(w, rc, msg, submitted);
        }
        int64_t now_ns = util_mono_ns();
        for (writer_job *j = head; j; j = j->next)
            if (j->status == WRITER_OK) j->status = rc;

        pthread_mutex_lock(&w->mu);
        for (writer_job *j = head; j; j = j->next) {
            w->queued_points -= j->n;
            if (rc == WRITER_OK) record_latency(&w->stats, j->submit_ns, now_ns);
        }
        w->queued_jobs -= njobs;
        w->stats.commits += tried;
        w->stats.dropped_too_old = w->dropped;
        w->stats.jobs += njobs;
        if (rc == WRITER_OK) {
            w->stats.points += points;
        } else {
            w->stats.failures += tried;
            w->stats.refused_points += submitted;
        }
        if (w->done_tail)
            w->done_tail->next = head;
        else
            w->done_head = head;
        w->done_tail = tail;
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
        housekeeping(w, &last_checkpoint, &last_retention);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void run_completions(writer *w)
{
    pthread_mutex_lock(&w->mu);
    writer_job *j = w->done_head;
    w->done_head = w->done_tail = NULL;
    size_t queued = w->queued_points;
    pthread_mutex_unlock(&w->mu);
    while (j) {
        writer_job *next = j->next;
        j->next = NULL;
        if (j->done)
            j->done(j, j->status, j->arg);
        else
            writer_job_free(j);
        j = next;
    }
    if (w->overloaded && queued < w->opt.queue_max_points / 2) {
        w->overloaded = false;
        if (w->drain_cb) w->drain_cb(w->drain_arg);
    }
}

static void on_async(uv_async_t *h)
{
    run_completions(h->data);
}

int writer_start(uv_loop_t *loop, store_ts *ts, const writer_options *opt, writer **out)
{
    writer *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->loop = loop;
    w->ts = ts;
    w->opt = *opt;
    if (w->opt.checkpoint_interval_ms <= 0) w->opt.checkpoint_interval_ms = 10000;
    if (w->opt.queue_max_points == 0) w->opt.queue_max_points = 1000000;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        uv_close((uv_handle_t *)&w->async, NULL);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

size_t writer_submit(writer *w, writer_job *job)
{
    job->next = NULL;
    job->submit_ns = util_mono_ns();
    pthread_mutex_lock(&w->mu);
    if (w->queue_tail)
        w->queue_tail->next = job;
    else
        w->queue_head = job;
    w->queue_tail = job;
    w->queued_points += job->n;
    w->queued_jobs++;
    size_t queued = w->queued_points;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (queued >= w->opt.queue_max_points) w->overloaded = true;
    return queued;
}

void writer_delete_device(writer *w, const char *device_id)
{
    writer_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->op = WRITER_OP_DELETE_DEVICE;
    snprintf(j->device_id, sizeof j->device_id, "%s", device_id);
    writer_submit(w, j);
}

bool writer_overloaded(const writer *w)
{
    return w->overloaded;
}

int writer_failing(writer *w, char *msg, size_t cap)
{
    int rc = atomic_load(&w->fail_status);
    if (rc && msg && cap) {
        pthread_mutex_lock(&w->mu);
        snprintf(msg, cap, "%s", w->fail_msg);
        pthread_mutex_unlock(&w->mu);
    }
    return rc;
}

void writer_on_drain(writer *w, void (*cb)(void *arg), void *arg)
{
    w->drain_cb = cb;
    w->drain_arg = arg;
}

void writer_set_retention(writer *w, int64_t retention_ms)
{
    pthread_mutex_lock(&w->mu);
    w->opt.retention_ms = retention_ms;
    w->retention_changed = true; /* a pass at the next housekeeping, not a minute later */
    pthread_mutex_unlock(&w->mu);
}

void writer_get_stats(writer *w, writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    out->queued_points = w->queued_points;
    out->queued_jobs = w->queued_jobs;
    pthread_mutex_unlock(&w->mu);
}

typedef struct {
    ingest_point *v; /* the points of one log row and device, handed to a job */
    size_t n, cap;
    char device[40];
    int64_t row;
    void (*cb)(void *arg, writer_job *job);
    void *arg;
} replay_ctx;

static void replay_flush(replay_ctx *c)
{
    if (c->n == 0) return;
    writer_job *j = writer_job_new(c->device, c->v, c->n, NULL, NULL);
    c->n = 0;
    if (!j) return; /* out of memory: the points are dropped from the replay, v is reused */
    c->v = NULL;
    c->cap = 0;
    j->seq = c->row;
    c->cb(c->arg, j);
}

static void replay_point(void *arg, int64_t row, const char *device_id, const char *metric,
                         int64_t ts, double v)
{
    replay_ctx *c = arg;
    if (row != c->row || strcmp(device_id, c->device) != 0) {
        replay_flush(c);
        c->row = row;
        snprintf(c->device, sizeof c->device, "%s", device_id);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        ingest_point *nv = realloc(c->v, cap * sizeof *nv);
        if (!nv) return;
        c->v = nv;
        c->cap = cap;
    }
    ingest_point *p = &c->v[c->n++];
    size_t len = strlen(metric);
    if (len > INGEST_METRIC_MAX) len = INGEST_METRIC_MAX;
    memcpy(p->metric, metric, len);
    p->metric[len] = '\0';
    p->metric_len = (uint16_t)len;
    p->ts_ms = ts;
    p->value = v;
}

int writer_log_replay(store_ts *ts, int64_t after, void (*cb)(void *arg, writer_job *job),
                      void *arg)
{
    replay_ctx c = {.cb = cb, .arg = arg};
    int rc = STORE_TS(ts)->log_scan(ts, after, replay_point, &c);
    replay_flush(&c);
    free(c.v);
    return rc;
}

static void free_writer(uv_handle_t *h)
{
    writer *w = h->data;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    free(w->batches);
    free(w);
}

void writer_stop(writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    run_completions(w);
    uv_close((uv_handle_t *)&w->async, free_writer);
}
