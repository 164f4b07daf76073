/* The detector shards (pipeline/shards.c) with their threads and a real libuv loop: every
 * submitted point is processed and the detection watermark never passes a job that is not, the
 * events reach the loop thread in each device's order, rules apply across shards, snapshots are
 * taken on request (only what learned since) and at stop (everything), work queued before a
 * stop is finished, and the watermark is handed to on_detected. The per-series logic itself is
 * tested in test_series_proc.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

#include "pipeline/shards.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_JOBS 64

typedef struct {
    shard_ev_kind kind;
    char device_id[40];
    char metric[130];
    char device_type[64];
    uint64_t rule_id;
    int64_t ts_ms;
    size_t blob_len;
} seen_event;

typedef struct {
    uv_loop_t loop;
    shards *sh;
    pthread_t loop_thread;
    seen_event ev[512];
    size_t nev;
    /* the jobs handed over: seq and point count, to check the watermark's promise */
    int64_t job_seq[MAX_JOBS];
    size_t job_points[MAX_JOBS];
    size_t njobs;
    int64_t last_watermark;
    int64_t detected; /* what on_detected got */
    bool off_loop;    /* on_events ran on another thread */
    bool broken;      /* the watermark moved back or passed an unprocessed job */
    bool timed_out;
} fixture;

static void on_events(void *arg, shard_event *events)
{
    fixture *f = arg;
    if (!pthread_equal(pthread_self(), f->loop_thread)) f->off_loop = true;
    /* Inside on_events the watermark covers exactly what was delivered: every job with a seq
     * up to it has been processed, so the points processed are at least theirs. */
    int64_t w = shards_watermark(f->sh);
    size_t due = 0;
    for (size_t i = 0; i < f->njobs; i++)
        if (f->job_seq[i] <= w) due += f->job_points[i];
    if (w < f->last_watermark || shards_points_processed(f->sh) < due) f->broken = true;
    f->last_watermark = w;
    for (shard_event *e = events; e; e = e->next) {
        if (f->nev == sizeof f->ev / sizeof f->ev[0]) break;
        seen_event *s = &f->ev[f->nev++];
        s->kind = e->kind;
        snprintf(s->device_id, sizeof s->device_id, "%s", e->device_id);
        snprintf(s->metric, sizeof s->metric, "%s", e->metric);
        snprintf(s->device_type, sizeof s->device_type, "%s", e->device_type);
        s->rule_id = e->rule_id;
        s->ts_ms = e->ts_ms;
        s->blob_len = e->blob_len;
    }
}

static void on_detected(void *arg, int64_t watermark)
{
    ((fixture *)arg)->detected = watermark;
}

static fixture *start(unsigned threads)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->loop_thread = pthread_self();
    f->detected = -1;
    shards_options opt = {.threads = threads, .on_detected = on_detected, .on_detected_arg = f};
    assert_int_equal(shards_start(&f->loop, &opt, on_events, f, &f->sh), 0);
    return f;
}

/* Stops the shards (the final events are delivered before shards_stop returns), closes the
 * loop and frees the fixture. */
static void stop(fixture *f)
{
    shards_stop(f->sh);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

/* One batch: n points of metric, values v[i], at ts0 + i s; seq is the commit's log row id. */
static void submit(fixture *f, const char *device, const char *type, const char *metric,
                   int64_t ts0, const double *v, size_t n, int64_t seq)
{
    ingest_point *pts = calloc(n, sizeof *pts);
    assert_non_null(pts);
    for (size_t i = 0; i < n; i++) {
        snprintf(pts[i].metric, sizeof pts[i].metric, "%s", metric);
        pts[i].metric_len = (uint16_t)strlen(metric);
        pts[i].ts_ms = ts0 + (int64_t)i * 1000;
        pts[i].value = v[i];
    }
    assert_true(f->njobs < MAX_JOBS);
    f->job_seq[f->njobs] = seq;
    f->job_points[f->njobs++] = n;
    shards_submit(f->sh, &(point_batch){device, type, pts, n}, seq); /* pts are the shard's */
}

static void on_guard(uv_timer_t *t)
{
    ((fixture *)t->data)->timed_out = true;
}

/* Runs the loop until the watermark reaches seq. The guard only turns a hang into a failure
 * (a generous 120 s on a loaded machine); nothing here depends on how fast the shards are. */
static void wait_watermark(fixture *f, int64_t seq)
{
    uv_timer_t guard;
    uv_timer_init(&f->loop, &guard);
    guard.data = f;
    uv_timer_start(&guard, on_guard, 120000, 0);
    while (shards_watermark(f->sh) < seq && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_false(f->timed_out);
}

static size_t count(const fixture *f, shard_ev_kind kind, const char *device, const char *metric)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nev; i++)
        if (f->ev[i].kind == kind && (!device || strcmp(f->ev[i].device_id, device) == 0) &&
            (!metric || strcmp(f->ev[i].metric, metric) == 0))
            n++;
    return n;
}

static size_t count_rule(const fixture *f, shard_ev_kind kind, uint64_t rule_id)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nev; i++)
        if (f->ev[i].kind == kind && f->ev[i].rule_id == rule_id) n++;
    return n;
}

static void device_name(char *out, size_t cap, int i)
{
    snprintf(out, cap, "01900000-0000-7000-8000-%012d", i);
}

static const double calm[4] = {20, 21, 20, 21};

static void test_every_point_is_processed_and_the_watermark_keeps_its_promise(void **state)
{
    (void)state;
    fixture *f = start(3);
    assert_int_equal(shards_watermark(f->sh), 0);
    /* 24 devices over three shards; two jobs share each commit (seq), as a group commit does */
    char dev[40];
    size_t total = 0;
    for (int i = 0; i < 24; i++) {
        device_name(dev, sizeof dev, i);
        submit(f, dev, "meter", "power", 1700000000000, calm, 4, 1 + i / 2);
        total += 4;
    }
    wait_watermark(f, 12);
    assert_int_equal(shards_watermark(f->sh), 12);
    assert_int_equal(shards_points_processed(f->sh), total);
    assert_false(f->broken);
    assert_false(f->off_loop);
    /* the shards report their progress with the events (consumers skip these) */
    assert_true(count(f, SHARD_EV_PROGRESS, NULL, NULL) >= 1);
    /* on_detected gets what the caller says is stored */
    shards_detected(f->sh, shards_watermark(f->sh));
    assert_int_equal(f->detected, 12);
    stop(f);
}

static shard_rule above(uint64_t id, const char *metric, double threshold)
{
    shard_rule r;
    memset(&r, 0, sizeof r);
    r.rule.id = id;
    r.rule.kind = DET_RULE_ABOVE;
    r.rule.severity = DET_LEVEL_WARNING;
    r.rule.threshold = threshold;
    snprintf(r.name, sizeof r.name, "hot%llu", (unsigned long long)id);
    snprintf(r.metric, sizeof r.metric, "%s", metric);
    return r;
}

static void test_rules_apply_on_every_shard_and_events_keep_each_devices_order(void **state)
{
    (void)state;
    fixture *f = start(2);
    shard_rule r = above(5, "temp", 30);
    shards_set_rules(f->sh, &r, 1); /* copied: the caller's rule may go */
    memset(&r, 0, sizeof r);
    /* four devices (both shards): each goes over, back, and over again, one job at a time */
    static const double seq_values[4] = {20, 35, 25, 40};
    char dev[40];
    int64_t seq = 0;
    for (int step = 0; step < 4; step++)
        for (int i = 0; i < 4; i++) {
            device_name(dev, sizeof dev, 100 + i);
            submit(f, dev, "thermostat", "temp", 1700000000000 + step * 1000, &seq_values[step], 1,
                   ++seq);
        }
    wait_watermark(f, seq);
    assert_false(f->broken);
    for (int i = 0; i < 4; i++) {
        device_name(dev, sizeof dev, 100 + i);
        /* OPEN at 35, CLOSE at 25, OPEN at 40, in that order, with the job's device type */
        shard_ev_kind want[3] = {SHARD_EV_OPEN, SHARD_EV_CLOSE, SHARD_EV_OPEN};
        int64_t want_ts[3] = {1700000001000, 1700000002000, 1700000003000};
        size_t k = 0;
        for (size_t e = 0; e < f->nev; e++) {
            const seen_event *s = &f->ev[e];
            if (strcmp(s->device_id, dev) != 0 || s->rule_id != 5) continue;
            if (s->kind != SHARD_EV_OPEN && s->kind != SHARD_EV_CLOSE) continue;
            assert_true(k < 3);
            assert_int_equal(s->kind, want[k]);
            assert_int_equal(s->ts_ms, want_ts[k]);
            assert_string_equal(s->device_type, "thermostat");
            assert_string_equal(s->metric, "temp");
            k++;
        }
        assert_int_equal(k, 3);
    }
    /* a rule set without the rule: the next point over 30 opens nothing */
    shards_set_rules(f->sh, NULL, 0);
    size_t opens = count_rule(f, SHARD_EV_OPEN, 5);
    static const double hot = 50;
    device_name(dev, sizeof dev, 100);
    submit(f, dev, "thermostat", "temp", 1700000010000, &hot, 1, ++seq);
    wait_watermark(f, seq);
    assert_int_equal(count_rule(f, SHARD_EV_OPEN, 5), opens);
    assert_false(f->off_loop);
    stop(f);
}

static void test_snapshots_on_request_only_what_learned_and_at_stop_everything(void **state)
{
    (void)state;
    fixture *f = start(1); /* one queue: a later job is a barrier for an earlier request */
    char a[40], b[40];
    device_name(a, sizeof a, 200);
    device_name(b, sizeof b, 201);
    submit(f, a, "meter", "power", 1700000000000, calm, 4, 1);
    submit(f, a, "meter", "volts", 1700000000000, calm, 4, 2);
    wait_watermark(f, 2);
    shards_request_snapshots(f->sh);
    submit(f, b, "meter", "power", 1700000000000, calm, 4, 3);
    wait_watermark(f, 3);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "power"), 1);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "volts"), 1);
    for (size_t i = 0; i < f->nev; i++)
        if (f->ev[i].kind == SHARD_EV_SNAPSHOT) assert_true(f->ev[i].blob_len > 0);
    /* again: only b's series learned since */
    shards_request_snapshots(f->sh);
    submit(f, b, "meter", "volts", 1700000000000, calm, 4, 4);
    wait_watermark(f, 4);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "power"), 1);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "volts"), 1);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, b, "power"), 1);
    /* stop: every series, delivered before shards_stop returns */
    shards_stop(f->sh);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "power"), 2);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, a, "volts"), 2);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, b, "power"), 2);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, b, "volts"), 1);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static void test_stop_finishes_the_queued_work(void **state)
{
    (void)state;
    fixture *f = start(2);
    char dev[40];
    static double v[200];
    for (size_t i = 0; i < 200; i++)
        v[i] = 20 + (double)(i % 7);
    for (int i = 0; i < 40; i++) {
        device_name(dev, sizeof dev, 300 + i % 10);
        submit(f, dev, "meter", "power", 1700000000000 + (int64_t)(i / 10) * 200000, v, 200, i + 1);
    }
    shards_stop(f->sh); /* no wait: the queues are processed before the threads end */
    assert_int_equal(shards_points_processed(f->sh), 40 * 200);
    assert_false(f->broken);
    assert_int_equal(count(f, SHARD_EV_SNAPSHOT, NULL, "power"), 10);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_point_is_processed_and_the_watermark_keeps_its_promise),
        cmocka_unit_test(test_rules_apply_on_every_shard_and_events_keep_each_devices_order),
        cmocka_unit_test(test_snapshots_on_request_only_what_learned_and_at_stop_everything),
        cmocka_unit_test(test_stop_finishes_the_queued_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
