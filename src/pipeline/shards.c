/* Detector shards; see shards.h. Each shard is a thread with a message queue (mutex +
 * condition variable) around a series processor (series_proc.h: the per-series state, rules
 * and episodes). Events for the loop are batched per message and handed over with one
 * uv_async_send. */
#include "pipeline/shards.h"

#include "core/log.h"
#include "core/util.h"
#include "store/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { MSG_POINTS, MSG_RULES, MSG_FEEDBACK, MSG_SNAPSHOT } msg_kind;

typedef struct msg {
    struct msg *next;
    msg_kind kind;
    ingest_point *points; /* MSG_POINTS: owned */
    size_t npoints;
    char device_type[64];
    shard_rule *rules;
    size_t nrules;
    char device_id[40];
    char metric[130];
    det_verdict verdict;
} msg;

typedef struct shard {
    struct shards *owner;
    unsigned index;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    msg *head, *tail;
    bool stopping;
    sproc *proc;                  /* shard thread only (preload: before points flow) */
    shard_event *out, *out_tail;  /* events taken from proc, flushed per message */
    uint64_t processed, reported; /* shard thread: jobs processed, and the count last reported */
    /* loop thread: the jobs handed over and not yet reported processed, as runs of equal seq
     * (end = the submitted count after the run's last job) */
    struct seq_run {
        int64_t seq;
        uint64_t end;
    } * runs;
    size_t runs_head, runs_len, runs_cap;
    uint64_t submitted;
} shard;

struct shards {
    shards_options opt;
    sproc_params params;
    uv_loop_t *loop;
    uv_async_t async;
    shards_event_fn on_events;
    void *arg;
    pthread_mutex_t mu; /* guards ready */
    shard_event *ready, *ready_tail;
    unsigned n;
    shard *shard;
    _Atomic uint64_t processed;
    int64_t max_seq; /* loop thread: the largest seq handed over (or resumed from) */
};

static shard *shard_for(shards *sh, const char *device_id)
{
    return &sh->shard[sproc_hash(device_id) % sh->n];
}

static void push_msg(shard *s, msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* Appends the shard's progress after the events its jobs caused (same list, same order). */
static void report_progress(shard *s)
{
    if (s->processed == s->reported) return;
    shard_event *e = calloc(1, sizeof *e);
    if (!e) return; /* reported with the next batch */
    e->kind = SHARD_EV_PROGRESS;
    e->shard = s->index;
    e->count = s->processed;
    s->reported = s->processed;
    if (s->out_tail)
        s->out_tail->next = e;
    else
        s->out = e;
    s->out_tail = e;
}

static void flush_events(shard *s)
{
    shard_event *tail = NULL, *ev = sproc_take_events(s->proc, &tail);
    if (ev) {
        if (s->out_tail)
            s->out_tail->next = ev;
        else
            s->out = ev;
        s->out_tail = tail;
    }
    report_progress(s);
    if (!s->out) return;
    shards *sh = s->owner;
    pthread_mutex_lock(&sh->mu);
    if (sh->ready_tail)
        sh->ready_tail->next = s->out;
    else
        sh->ready = s->out;
    sh->ready_tail = s->out_tail;
    pthread_mutex_unlock(&sh->mu);
    s->out = s->out_tail = NULL;
    uv_async_send(&sh->async);
}

static void handle(shard *s, msg *m)
{
    switch (m->kind) {
    case MSG_POINTS: {
        point_batch b = {m->device_id, m->device_type, m->points, m->npoints};
        atomic_fetch_add(&s->owner->processed, sproc_points(s->proc, &b));
        s->processed++;
        break;
    }
    case MSG_RULES:
        sproc_set_rules(s->proc, m->rules, m->nrules);
        m->rules = NULL;
        break;
    case MSG_FEEDBACK:
        sproc_feedback(s->proc, m->device_id, m->metric, m->verdict);
        break;
    case MSG_SNAPSHOT:
        sproc_snapshot(s->proc, true);
        break;
    }
    free(m->points);
    free(m->rules);
    free(m);
}

static void *shard_main(void *arg)
{
    shard *s = arg;
    int64_t last_tick = util_now_ms();
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping) {
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 1;
            pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
            if (!s->head) break;
        }
        msg *m = s->head;
        s->head = s->tail = NULL;
        bool stop = s->stopping && !m;
        pthread_mutex_unlock(&s->mu);
        while (m) {
            msg *next = m->next;
            handle(s, m);
            m = next;
        }
        int64_t now = util_now_ms();
        if (now - last_tick >= 1000) {
            last_tick = now;
            sproc_tick(s->proc, now);
        }
        if (stop) sproc_snapshot(s->proc, false);
        flush_events(s);
        pthread_mutex_lock(&s->mu);
        if (stop) break;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Loop thread: a shard reports `done` jobs processed; its runs up to there are finished. */
static void progress(shards *sh, unsigned index, uint64_t done)
{
    if (index >= sh->n) return;
    shard *s = &sh->shard[index];
    while (s->runs_len && s->runs[s->runs_head].end <= done) {
        s->runs_head++;
        s->runs_len--;
    }
    if (!s->runs_len) s->runs_head = 0;
}

static void deliver(shards *sh)
{
    pthread_mutex_lock(&sh->mu);
    shard_event *ev = sh->ready;
    sh->ready = sh->ready_tail = NULL;
    pthread_mutex_unlock(&sh->mu);
    if (!ev) return;
    for (shard_event *e = ev; e; e = e->next)
        if (e->kind == SHARD_EV_PROGRESS) progress(sh, e->shard, e->count);
    sh->on_events(sh->arg, ev);
    shard_events_free(ev);
}

int64_t shards_watermark(const shards *sh)
{
    int64_t w = sh->max_seq;
    for (unsigned i = 0; i < sh->n; i++) {
        const shard *s = &sh->shard[i];
        if (s->runs_len && s->runs[s->runs_head].seq - 1 < w) w = s->runs[s->runs_head].seq - 1;
    }
    return w;
}

typedef struct {
    shards *sh;
    const char *(*device_type)(void *arg, const char *device_id);
    void *arg;
} resume_ctx;

static void resume_job(void *arg, writer_job *job)
{
    resume_ctx *c = arg;
    const char *type = c->device_type(c->arg, job->device_id);
    if (type) { /* else a device deleted since: nothing to detect */
        shards_submit(c->sh, &(point_batch){job->device_id, type, job->points, job->n}, job->seq);
        job->points = NULL;
    }
    writer_job_free(job);
}

int shards_resume(shards *sh, struct store_ts *ts, int64_t watermark,
                  const char *(*device_type)(void *arg, const char *device_id), void *arg)
{
    if (watermark > sh->max_seq) sh->max_seq = watermark;
    resume_ctx c = {sh, device_type, arg};
    return writer_log_replay(ts, watermark, resume_job, &c);
}

void shards_detected(shards *sh, int64_t watermark)
{
    if (sh->opt.on_detected) sh->opt.on_detected(sh->opt.on_detected_arg, watermark);
}

/* Loop thread: one more job with this seq handed to s. Out of memory, the job goes untracked
 * (the watermark may pass it before it is processed: only a crash in that window loses it). */
static void note_submitted(shards *sh, shard *s, int64_t seq)
{
    s->submitted++;
    if (seq > sh->max_seq) sh->max_seq = seq;
    if (s->runs_len && s->runs[s->runs_head + s->runs_len - 1].seq == seq) {
        s->runs[s->runs_head + s->runs_len - 1].end = s->submitted;
        return;
    }
    if (s->runs_head + s->runs_len == s->runs_cap) {
        if (s->runs_head > 0) { /* slide the live runs to the front */
            memmove(s->runs, s->runs + s->runs_head, s->runs_len * sizeof *s->runs);
            s->runs_head = 0;
        } else {
            size_t cap = s->runs_cap ? s->runs_cap * 2 : 64;
            struct seq_run *r = realloc(s->runs, cap * sizeof *r);
            if (!r) {
                log_warn("detection_watermark_untracked", "seq=%lld", (long long)seq);
                return;
            }
            s->runs = r;
            s->runs_cap = cap;
        }
    }
    s->runs[s->runs_head + s->runs_len++] = (struct seq_run){seq, s->submitted};
}

static void on_async(uv_async_t *h)
{
    deliver(h->data);
}

int shards_start(uv_loop_t *loop, const shards_options *opt, shards_event_fn on_events, void *arg,
                 shards **out)
{
    shards *sh = calloc(1, sizeof *sh);
    if (!sh) return -1;
    sh->loop = loop;
    sh->n = opt->threads ? opt->threads : 1;
    sh->opt = *opt;
    sh->on_events = on_events;
    sh->arg = arg;
    sproc_params_init(&sh->params, opt->sys_interval_ms, opt->peer_bucket_ms);
    pthread_mutex_init(&sh->mu, NULL);
    sh->shard = calloc(sh->n, sizeof *sh->shard);
    if (!sh->shard) {
        free(sh);
        return -1;
    }
    uv_async_init(loop, &sh->async, on_async);
    sh->async.data = sh;
    for (unsigned i = 0; i < sh->n; i++) {
        shard *s = &sh->shard[i];
        s->owner = sh;
        s->index = i;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cond, NULL);
        s->proc = sproc_new(&sh->params);
        if (!s->proc) {
            for (unsigned k = 0; k <= i; k++) {
                sproc_free(sh->shard[k].proc);
                pthread_mutex_destroy(&sh->shard[k].mu);
                pthread_cond_destroy(&sh->shard[k].cond);
            }
            uv_close((uv_handle_t *)&sh->async, NULL);
            free(sh->shard);
            free(sh);
            return -1;
        }
    }
    for (unsigned i = 0; i < sh->n; i++)
        pthread_create(&sh->shard[i].thread, NULL, shard_main, &sh->shard[i]);
    *out = sh;
    return 0;
}

void shards_preload(shards *sh, const char *device_id, const char *metric, const uint8_t *blob,
                    size_t len)
{
    shard *s = shard_for(sh, device_id);
    pthread_mutex_lock(&s->mu); /* the thread reads preload only while handling points */
    sproc_preload(s->proc, device_id, metric, blob, len);
    pthread_mutex_unlock(&s->mu);
}

/* Truncating copy (NULL: ""): once per job, so without snprintf's formatting. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void shards_submit(shards *sh, const point_batch *b, int64_t seq)
{
    msg *m = calloc(1, sizeof *m);
    if (!m) {
        free((void *)b->points);
        return;
    }
    shard *s = shard_for(sh, b->device_id);
    note_submitted(sh, s, seq);
    m->kind = MSG_POINTS;
    m->points = (ingest_point *)b->points;
    m->npoints = b->n;
    copy_str(m->device_id, sizeof m->device_id, b->device_id);
    copy_str(m->device_type, sizeof m->device_type, b->device_type);
    push_msg(s, m);
}

void shards_set_rules(shards *sh, const shard_rule *rules, size_t n)
{
    for (unsigned i = 0; i < sh->n; i++) {
        msg *m = calloc(1, sizeof *m);
        shard_rule *copy = n ? malloc(n * sizeof *copy) : NULL;
        if (!m || (n && !copy)) {
            free(m);
            free(copy);
            continue;
        }
        if (n) memcpy(copy, rules, n * sizeof *copy);
        m->kind = MSG_RULES;
        m->rules = copy;
        m->nrules = n;
        push_msg(&sh->shard[i], m);
    }
}

void shards_feedback(shards *sh, const char *device_id, const char *metric, det_verdict v)
{
    msg *m = calloc(1, sizeof *m);
    if (!m) return;
    m->kind = MSG_FEEDBACK;
    m->verdict = v;
    snprintf(m->device_id, sizeof m->device_id, "%s", device_id);
    snprintf(m->metric, sizeof m->metric, "%s", metric);
    push_msg(shard_for(sh, device_id), m);
}

static void broadcast_msg(shards *sh, msg_kind kind)
{
    for (unsigned i = 0; i < sh->n; i++) {
        msg *m = calloc(1, sizeof *m);
        if (!m) continue;
        m->kind = kind;
        push_msg(&sh->shard[i], m);
    }
}

void shards_request_snapshots(shards *sh)
{
    broadcast_msg(sh, MSG_SNAPSHOT);
}

static void free_shards(uv_handle_t *h)
{
    shards *sh = h->data;
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

void shards_stop(shards *sh)
{
    for (unsigned i = 0; i < sh->n; i++) {
        shard *s = &sh->shard[i];
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    for (unsigned i = 0; i < sh->n; i++)
        pthread_join(sh->shard[i].thread, NULL);
    deliver(sh); /* final snapshots and events */
    for (unsigned i = 0; i < sh->n; i++) {
        shard *s = &sh->shard[i];
        sproc_free(s->proc);
        shard_events_free(s->out);
        free(s->runs);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
    }
    free(sh->shard);
    uv_close((uv_handle_t *)&sh->async, free_shards);
}

uint64_t shards_points_processed(shards *sh)
{
    return atomic_load(&sh->processed);
}
