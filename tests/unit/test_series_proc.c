/* The per-series detection without threads (pipeline/series_proc.c): rules fire and clear
 * with deterministic episode ids, stale rules fire on the clock, the detectors open an episode
 * on a spike after learning, a daily routine is Info after its first day, a snapshot resumes a
 * series, the peer buckets report their mean, feedback reaches only known series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

#include "pipeline/series_proc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEV "01900000-0000-7000-8000-0000000000d1"

static sproc *new_proc(void)
{
    sproc_params p;
    sproc_params_init(&p, 0, 60000);
    sproc *s = sproc_new(&p);
    assert_non_null(s);
    return s;
}

/* Runs n points of one metric, ts0 + i*step, value v(i). */
static void feed(sproc *s, const char *metric, int64_t ts0, int64_t step, size_t n,
                 double (*v)(size_t i))
{
    ingest_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        snprintf(pts[i].metric, sizeof pts[i].metric, "%s", metric);
        pts[i].metric_len = (uint16_t)strlen(metric);
        pts[i].ts_ms = ts0 + (int64_t)i * step;
        pts[i].value = v(i);
    }
    point_batch b = {DEV, "thermostat", pts, n};
    assert_int_equal(sproc_points(s, &b), n);
    th_assert_point(&b.points[0], metric, ts0, v(0));
    free(pts);
}

static void one(sproc *s, const char *metric, int64_t ts, double value)
{
    ingest_point p = {.ts_ms = ts, .value = value};
    snprintf(p.metric, sizeof p.metric, "%s", metric);
    p.metric_len = (uint16_t)strlen(metric);
    point_batch b = {DEV, "thermostat", &p, 1};
    assert_int_equal(sproc_points(s, &b), 1);
}

static shard_rule *rule(uint64_t id, det_rule_kind kind, double threshold, int64_t for_ms)
{
    shard_rule *r = calloc(1, sizeof *r);
    r->rule.id = id;
    r->rule.kind = kind;
    r->rule.severity = DET_LEVEL_WARNING;
    r->rule.threshold = threshold;
    r->rule.for_ms = for_ms;
    snprintf(r->name, sizeof r->name, "r%llu", (unsigned long long)id);
    snprintf(r->metric, sizeof r->metric, "temp");
    return r;
}

/* The events of a kind (and, rule_id >= 0, of that rule), counted; the first one returned. */
static const shard_event *find(const shard_event *ev, shard_ev_kind kind, long rule_id, int *count)
{
    const shard_event *first = NULL;
    *count = 0;
    for (; ev; ev = ev->next)
        if (ev->kind == kind && (rule_id < 0 || ev->rule_id == (uint64_t)rule_id)) {
            if (!first) first = ev;
            (*count)++;
        }
    return first;
}

static double twenty(size_t i)
{
    (void)i;
    return 20.0;
}

static void test_rule_fires_clears_with_the_same_id_on_replay(void **state)
{
    (void)state;
    char first_id[40] = "";
    for (int run = 0; run < 2; run++) {
        sproc *s = new_proc();
        sproc_set_rules(s, rule(7, DET_RULE_ABOVE, 30, 0), 1);
        one(s, "temp", 1000, 20);
        one(s, "temp", 2000, 35); /* fires */
        one(s, "temp", 3000, 36); /* still firing: nothing new */
        one(s, "temp", 4000, 25); /* clears */
        shard_event *ev = sproc_take_events(s, NULL);
        int n;
        const shard_event *open = find(ev, SHARD_EV_OPEN, 7, &n);
        assert_int_equal(n, 1);
        assert_non_null(open);
        assert_int_equal(open->ts_ms, 2000);
        assert_int_equal(open->level, DET_LEVEL_WARNING);
        assert_string_equal(open->device_id, DEV);
        assert_string_equal(open->device_type, "thermostat");
        assert_non_null(strstr(open->description, "rule 'r7': temp = 35 above 30"));
        const shard_event *close = find(ev, SHARD_EV_CLOSE, 7, &n);
        assert_int_equal(n, 1);
        assert_string_equal(close->anomaly_id, open->anomaly_id);
        assert_int_equal(close->ts_ms, 4000);
        /* the same points again (a replay after a crash): the same episode id */
        if (run == 0)
            snprintf(first_id, sizeof first_id, "%s", open->anomaly_id);
        else
            assert_string_equal(open->anomaly_id, first_id);
        shard_events_free(ev);
        assert_null(sproc_take_events(s, NULL)); /* taken */
        sproc_free(s);
    }
}

static void test_stale_rule_fires_on_the_clock_and_clears_with_data(void **state)
{
    (void)state;
    sproc *s = new_proc();
    sproc_set_rules(s, rule(3, DET_RULE_STALE, 0, 5000), 1);
    one(s, "temp", 10000, 20);
    sproc_tick(s, 12000); /* 2 s of silence: fine */
    int n;
    shard_event *ev = sproc_take_events(s, NULL);
    assert_null(find(ev, SHARD_EV_OPEN, 3, &n));
    shard_events_free(ev);
    sproc_tick(s, 16000); /* 6 s: fires */
    ev = sproc_take_events(s, NULL);
    const shard_event *open = find(ev, SHARD_EV_OPEN, 3, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(open->description, "silent for more than 5 s"));
    shard_events_free(ev);
    one(s, "temp", 17000, 21); /* data again: clears */
    ev = sproc_take_events(s, NULL);
    find(ev, SHARD_EV_CLOSE, 3, &n);
    assert_int_equal(n, 1);
    shard_events_free(ev);
    /* no rules: a tick does nothing */
    sproc_set_rules(s, NULL, 0);
    sproc_tick(s, 100000);
    assert_null(sproc_take_events(s, NULL));
    sproc_free(s);
}

static double wave(size_t i)
{
    return 20.0 + sin((double)i * 0.3) + 0.1 * (double)(i % 7);
}

static void test_detectors_open_an_episode_on_a_spike_after_learning(void **state)
{
    (void)state;
    sproc *s = new_proc();
    feed(s, "temp", 0, 10000, 3000, wave); /* learns ~8 h of a steady signal */
    int n;
    shard_event *ev = sproc_take_events(s, NULL);
    find(ev, SHARD_EV_OPEN, -1, &n);
    int opened_while_learning = n;
    shard_events_free(ev);
    one(s, "temp", 3000 * 10000LL, 500.0); /* far outside */
    ev = sproc_take_events(s, NULL);
    const shard_event *open = find(ev, SHARD_EV_OPEN, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(open->rule_id, 0);
    assert_true(open->level >= DET_LEVEL_WARNING);
    assert_true(open->value == 500.0);
    assert_non_null(strstr(open->detectors, "\"name\""));
    assert_true(opened_while_learning <= 2); /* a steady signal is not anomalous */
    shard_events_free(ev);
    assert_int_equal(sproc_series_count(s), 1);
    sproc_free(s);
}

static double mornings(size_t i) /* a point a minute; +10 every day from 07:00 to 08:00 */
{
    size_t m = i % 1440;
    return 20.0 + 0.3 * sin((double)i * 0.7) + (m >= 420 && m < 480 ? 10.0 : 0.0);
}

/* What happens every day at the same time is Critical once, then Info, and says why. */
static void test_a_daily_routine_is_info_after_the_first_day_and_says_so(void **state)
{
    (void)state;
    sproc *s = new_proc();
    feed(s, "temp", 0, 60000, 3 * 1440, mornings);
    shard_event *ev = sproc_take_events(s, NULL);
    int n, morning = 0;
    find(ev, SHARD_EV_OPEN, 0, &n);
    assert_int_equal(n, 3);
    for (const shard_event *e = ev; e; e = e->next) {
        if (e->kind != SHARD_EV_OPEN) continue;
        assert_int_equal(e->ts_ms % (1440 * 60000LL), 420 * 60000LL); /* each at 07:00 */
        if (morning++ == 0) {
            assert_int_equal(e->level, DET_LEVEL_CRITICAL);
            assert_null(strstr(e->description, "earlier days"));
        } else {
            assert_int_equal(e->level, DET_LEVEL_INFO);
            assert_non_null(strstr(e->description, "at this time on earlier days"));
        }
    }
    shard_events_free(ev);
    sproc_free(s);
}

static void test_snapshot_resumes_a_series_in_another_processor(void **state)
{
    (void)state;
    sproc *a = new_proc();
    feed(a, "temp", 0, 10000, 3000, wave);
    shard_events_free(sproc_take_events(a, NULL));
    sproc_snapshot(a, true);
    shard_event *ev = sproc_take_events(a, NULL);
    int n;
    const shard_event *snap = find(ev, SHARD_EV_SNAPSHOT, -1, &n);
    assert_int_equal(n, 1);
    assert_non_null(snap->blob);
    assert_true(snap->blob_len > 0);
    sproc *b = new_proc();
    sproc_preload(b, DEV, "temp", snap->blob, snap->blob_len);
    sproc_preload(b, DEV, "(addresses)", snap->blob, snap->blob_len); /* not a series: ignored */
    shard_events_free(ev);
    sproc_snapshot(a, true); /* nothing learned since: nothing */
    assert_null(sproc_take_events(a, NULL));
    /* the resumed series knows the signal at once: the spike is an anomaly on its first point */
    one(b, "temp", 3000 * 10000LL, 500.0);
    ev = sproc_take_events(b, NULL);
    find(ev, SHARD_EV_OPEN, 0, &n);
    assert_int_equal(n, 1);
    shard_events_free(ev);
    /* a fresh one has learned nothing yet: no episode */
    sproc *c = new_proc();
    one(c, "temp", 3000 * 10000LL, 500.0);
    ev = sproc_take_events(c, NULL);
    find(ev, SHARD_EV_OPEN, 0, &n);
    assert_int_equal(n, 0);
    shard_events_free(ev);
    sproc_free(a);
    sproc_free(b);
    sproc_free(c);
}

static void test_peer_bucket_reports_the_mean_when_data_moves_on(void **state)
{
    (void)state;
    sproc *s = new_proc();
    one(s, "temp", 0, 10);
    one(s, "temp", 30000, 20);
    one(s, "temp", 59000, 30);
    int n;
    shard_event *ev = sproc_take_events(s, NULL);
    find(ev, SHARD_EV_SUMMARY, -1, &n);
    assert_int_equal(n, 0); /* the first minute is still open */
    shard_events_free(ev);
    one(s, "temp", 61000, 40); /* next minute: the first is reported */
    ev = sproc_take_events(s, NULL);
    const shard_event *sum = find(ev, SHARD_EV_SUMMARY, -1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(sum->ts_ms, 0);
    assert_true(fabs(sum->value - 20.0) < 1e-9);
    assert_true(sum->score == 3); /* points in the bucket */
    shard_events_free(ev);
    sproc_free(s);
}

static void test_feedback_reaches_only_known_series(void **state)
{
    (void)state;
    sproc *s = new_proc();
    assert_false(sproc_feedback(s, DEV, "temp", DET_VERDICT_FALSE_POSITIVE));
    feed(s, "temp", 0, 10000, 10, twenty);
    assert_true(sproc_feedback(s, DEV, "temp", DET_VERDICT_FALSE_POSITIVE));
    shard_events_free(sproc_take_events(s, NULL));
    sproc_snapshot(s, true); /* feedback changed the state: it is saved */
    int n;
    shard_event *ev = sproc_take_events(s, NULL);
    find(ev, SHARD_EV_SNAPSHOT, -1, &n);
    assert_int_equal(n, 1);
    shard_events_free(ev);
    sproc_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_fires_clears_with_the_same_id_on_replay),
        cmocka_unit_test(test_stale_rule_fires_on_the_clock_and_clears_with_data),
        cmocka_unit_test(test_detectors_open_an_episode_on_a_spike_after_learning),
        cmocka_unit_test(test_a_daily_routine_is_info_after_the_first_day_and_says_so),
        cmocka_unit_test(test_snapshot_resumes_a_series_in_another_processor),
        cmocka_unit_test(test_peer_bucket_reports_the_mean_when_data_moves_on),
        cmocka_unit_test(test_feedback_reaches_only_known_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
