/* See population.h. The shards send each series' mean over every data-time bucket
 * (peer_interval_s long) as a SHARD_EV_SUMMARY; here they are gathered per (device type,
 * metric) and bucket. A bucket is judged once every device of the group that is still sending
 * has moved past it (so a backfill of days of data, sent device by device in chunks or all in
 * step, compares the same stretch of time), or after peer_grace_s of waiting. Judging runs the
 * three charts of detect/population.h and turns their episodes into the same open/close events
 * the shards produce, so they are stored, streamed and alerted like any other anomaly. */
#include "api/population.h"

#include "api/anomalies.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/server.h"
#include "pipeline/shards.h"
#include "core/util.h"
#include "detect/population.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTIVE_BUCKETS 16 /* a device that sent none of the last 16 buckets is not waited for */
#define MAX_PENDING 256   /* buckets waiting per group; the oldest is judged beyond this */

static const char *const chart_names[DET_PEER_CHARTS] = {
    [DET_PEER_DEPARTURE] = "population",
    [DET_PEER_DRIFT] = "population_drift",
    [DET_PEER_LEVEL] = "population_level",
};

typedef struct {
    char device_id[40];
    int64_t last_bucket; /* latest bucket the device reported */
    det_peer_state st;
    char anomaly_id[DET_PEER_CHARTS][40];
} member;

typedef struct {
    uint32_t member;
    double value;
} entry;

typedef struct {
    int64_t ts;
    int64_t first_wall_ms;
    entry *e;
    uint32_t n, cap;
} pbucket;

typedef struct {
    char device_type[64];
    char metric[130];
    member *m;
    uint32_t nm, capm;
    hmap *index;   /* device id -> member index + 1 */
    pbucket *pend; /* by ts, oldest first */
    uint32_t npend, cappend;
    int64_t judged_until; /* buckets at or before this are judged: later summaries are late */
} group;

struct population {
    hmap *groups; /* "type\x1fmetric" -> group */
    det_peer_params pp;
    uint64_t late;
};

population *population_new(void)
{
    population *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->groups = hmap_new();
    if (!p->groups) {
        free(p);
        return NULL;
    }
    det_peer_params_default(&p->pp);
    return p;
}

static void free_group(void *v)
{
    group *g = v;
    for (uint32_t i = 0; i < g->npend; i++)
        free(g->pend[i].e);
    free(g->pend);
    free(g->m);
    hmap_free(g->index, NULL);
    free(g);
}

void population_free(population *p)
{
    if (!p) return;
    hmap_free(p->groups, free_group);
    free(p);
}

static group *get_group(population *p, const shard_event *e)
{
    char key[200];
    snprintf(key, sizeof key, "%s\x1f%s", e->device_type, e->metric);
    group *g = hmap_get(p->groups, key);
    if (g) return g;
    g = calloc(1, sizeof *g);
    if (!g || !(g->index = hmap_new())) {
        free(g);
        return NULL;
    }
    snprintf(g->device_type, sizeof g->device_type, "%s", e->device_type);
    snprintf(g->metric, sizeof g->metric, "%s", e->metric);
    g->judged_until = INT64_MIN;
    int ok;
    hmap_put(p->groups, key, g, &ok);
    if (!ok) {
        free_group(g);
        return NULL;
    }
    return g;
}

static int get_member(group *g, const char *device_id, uint32_t *out)
{
    uintptr_t idx = (uintptr_t)hmap_get(g->index, device_id);
    if (idx) {
        *out = (uint32_t)(idx - 1);
        return 0;
    }
    if (g->nm == g->capm) {
        uint32_t cap = g->capm ? 2 * g->capm : 8;
        member *m = realloc(g->m, cap * sizeof *m);
        if (!m) return -1;
        g->m = m;
        g->capm = cap;
    }
    member *m = &g->m[g->nm];
    memset(m, 0, sizeof *m);
    snprintf(m->device_id, sizeof m->device_id, "%s", device_id);
    m->last_bucket = INT64_MIN;
    det_peer_init(&m->st.peer);
    det_peer_track_init(&m->st.track);
    int ok;
    hmap_put(g->index, device_id, (void *)(uintptr_t)(g->nm + 1), &ok);
    if (!ok) return -1;
    *out = g->nm++;
    return 0;
}

static pbucket *get_bucket(group *g, int64_t ts, int64_t now)
{
    uint32_t i = g->npend;
    while (i > 0 && g->pend[i - 1].ts > ts) /* usually the newest: searched from the end */
        i--;
    if (i > 0 && g->pend[i - 1].ts == ts) return &g->pend[i - 1];
    if (g->npend == g->cappend) {
        uint32_t cap = g->cappend ? 2 * g->cappend : 8;
        pbucket *b = realloc(g->pend, cap * sizeof *b);
        if (!b) return NULL;
        g->pend = b;
        g->cappend = cap;
    }
    memmove(&g->pend[i + 1], &g->pend[i], (g->npend - i) * sizeof *g->pend);
    g->npend++;
    pbucket *b = &g->pend[i];
    memset(b, 0, sizeof *b);
    b->ts = ts;
    b->first_wall_ms = now;
    return b;
}

void population_add(population *p, const shard_event *e)
{
    if (!e->device_type[0] || !isfinite(e->value)) return;
    group *g = get_group(p, e);
    uint32_t mi;
    if (!g || get_member(g, e->device_id, &mi) != 0) return;
    if (e->ts_ms > g->m[mi].last_bucket) g->m[mi].last_bucket = e->ts_ms;
    if (e->ts_ms <= g->judged_until) { /* its bucket was judged without it */
        p->late++;
        return;
    }
    pbucket *b = get_bucket(g, e->ts_ms, util_now_ms());
    if (!b) return;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->e[i].member == mi) { /* reported again (e.g. after a restart): the latest */
            b->e[i].value = e->value;
            return;
        }
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 8;
        entry *n = realloc(b->e, cap * sizeof *n);
        if (!n) return;
        b->e = n;
        b->cap = cap;
    }
    b->e[b->n++] = (entry){mi, e->value};
}

typedef struct {
    shard_event *head, *tail; /* in the order they happened: an open before its close */
} event_list;

static shard_event *event_for(event_list *list, shard_ev_kind kind, const group *g, const member *m,
                              int chart, int64_t ts, double value)
{
    shard_event *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->kind = kind;
    snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", m->anomaly_id[chart]);
    snprintf(e->device_id, sizeof e->device_id, "%s", m->device_id);
    snprintf(e->metric, sizeof e->metric, "%s", g->metric);
    snprintf(e->device_type, sizeof e->device_type, "%s", g->device_type);
    e->ts_ms = ts;
    e->value = value;
    e->lo = e->hi = NAN;
    if (list->tail)
        list->tail->next = e;
    else
        list->head = e;
    list->tail = e;
    return e;
}

/* One chart's episode for one device. Returns the new OPEN event (for the caller's
 * explanation) or NULL. */
static shard_event *episode(const population *p, event_list *events, group *g, member *m,
                            det_peer_chart chart, double z, int64_t ts, double value)
{
    double a = fabs(z);
    if (!m->anomaly_id[chart][0] && a >= p->pp.open[chart]) {
        /* the same episode judged again (summaries replayed after a crash) keeps its id */
        char name[256];
        int len = snprintf(name, sizeof name, "%s\x1f%s\x1f%s\x1f%lld", chart_names[chart],
                           m->device_id, g->metric, (long long)ts);
        util_uuid7_named(m->anomaly_id[chart], ts, name,
                         len < 0                     ? 0
                         : (size_t)len < sizeof name ? (size_t)len
                                                     : sizeof name - 1);
        shard_event *e = event_for(events, SHARD_EV_OPEN, g, m, chart, ts, value);
        if (!e) return NULL;
        e->level = a >= p->pp.warn[chart] ? DET_LEVEL_WARNING : DET_LEVEL_INFO;
        e->score = a;
        snprintf(e->detectors, sizeof e->detectors, "[{\"name\":\"%s\",\"score\":%.3f}]",
                 chart_names[chart], a);
        return e;
    }
    if (m->anomaly_id[chart][0] && a < p->pp.close[chart]) {
        event_for(events, SHARD_EV_CLOSE, g, m, chart, ts, value);
        m->anomaly_id[chart][0] = '\0';
    }
    return NULL;
}

static void judge_bucket(population *p, group *g, const pbucket *b, event_list *events)
{
    size_t n = b->n;
    double *x = malloc(n * (7 * sizeof(double) + sizeof(det_peer_out) + sizeof(void *)));
    if (!x) return;
    double *scratch = x + n;
    det_peer_out *out = (det_peer_out *)(scratch + 6 * n);
    det_peer_state **st = (det_peer_state **)(out + n);
    for (size_t i = 0; i < n; i++) {
        x[i] = b->e[i].value;
        st[i] = &g->m[b->e[i].member].st;
    }
    det_peer_bucket info;
    if (det_peer_judge(st, x, n, b->ts, &p->pp, scratch, out, &info) != 0) {
        free(x);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        member *m = &g->m[b->e[i].member];
        const det_peer_track *t = &m->st.track;
        const det_peer_out *o = &out[i];
        shard_event *e;
        if (!isnan(o->drift) &&
            (e = episode(p, events, g, m, DET_PEER_DRIFT, o->drift, b->ts, x[i])) != NULL)
            util_format(e->description, sizeof e->description,
                        "%.40s drifts away from its %zu peers of type %.24s: %+.4g from the peer "
                        "median over the last hour, %+.4g over the last day (%.3g x its usual "
                        "variation %.3g)",
                        g->metric, n - 1, g->device_type, (double)t->fast, (double)t->slow,
                        o->drift, o->drift_scale);
        if (!isnan(o->level) &&
            (e = episode(p, events, g, m, DET_PEER_LEVEL, o->level, b->ts, x[i])) != NULL)
            util_format(e->description, sizeof e->description,
                        "%.40s has been far from all of its %u peers of type %.24s: %+.4g "
                        "(%+.3g%%) from the peer median over the last week (peers' level %.6g); "
                        "%.3g x their spread from the nearest",
                        g->metric, info.n_level - 1, g->device_type, (double)t->lasting,
                        info.ref > 0 ? 100.0 * t->lasting / info.ref : 0.0, info.ref,
                        fabs(o->level));
        if (!isnan(o->departure) &&
            (e = episode(p, events, g, m, DET_PEER_DEPARTURE, o->departure, b->ts, x[i])) != NULL)
            util_format(e->description, sizeof e->description,
                        "%.40s departs from its %zu peers of type %.24s: mean %.6g vs peer median "
                        "%.6g (robust z %.3g)",
                        g->metric, n - 1, g->device_type, x[i], info.median, o->departure_z);
    }
    free(x);
}

/* Whether every device of the group still sending has reported bucket ts or a later one (a
 * series' bucket is reported once its points have moved past it). */
static int all_passed(const group *g, int64_t ts, int64_t bucket_ms)
{
    for (uint32_t i = 0; i < g->nm; i++) {
        int64_t last = g->m[i].last_bucket;
        if (last >= ts - ACTIVE_BUCKETS * bucket_ms && last < ts) return 0;
    }
    return 1;
}

void population_tick(server *s, population *p, int64_t now_ms)
{
    if (!p) return;
    int64_t bucket_ms = s->cfg.peer_interval_s * 1000, grace = s->cfg.peer_grace_s * 1000;
    event_list events = {NULL, NULL};
    size_t it = 0;
    void *v;
    while (hmap_next(p->groups, &it, NULL, &v)) {
        group *g = v;
        while (g->npend > 0) {
            pbucket *b = &g->pend[0];
            if (g->npend <= MAX_PENDING && now_ms - b->first_wall_ms < grace &&
                !all_passed(g, b->ts, bucket_ms))
                break;
            judge_bucket(p, g, b, &events);
            g->judged_until = b->ts;
            free(b->e);
            g->npend--;
            memmove(&g->pend[0], &g->pend[1], g->npend * sizeof *g->pend);
        }
    }
    if (events.head) {
        anomalies_on_events(s, events.head);
        shard_events_free(events.head);
    }
}
