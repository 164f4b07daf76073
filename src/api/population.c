/* See population.h. Summaries of one round are collected per (device type, metric); the round
 * is judged two seconds after it was requested, when every shard has answered. Episodes are
 * turned into the same open/close events the shards produce, so they are stored, streamed and
 * alerted like any other anomaly. */
#include "api/population.h"

#include "api/anomalies.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/server.h"
#include "pipeline/shards.h"
#include "core/util.h"
#include "detect/population.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PEERS 5  /* fewer devices of a type: no judgement */
#define Z_OPEN 4.0   /* smoothed |z| that opens an episode */
#define Z_CLOSE 2.0  /* ... and closes it */
#define MIN_ROUNDS 3 /* rounds a device is learned before it can alert */
#define ALPHA 0.3    /* EW rate of the per-device z */
#define JUDGE_AFTER_MS 2000

typedef struct {
    char device_id[40];
    double value;
} member;

typedef struct {
    char device_type[64];
    char metric[130];
    member *m;
    size_t n, cap;
} group;

typedef struct {
    det_peer peer;
    char anomaly_id[40];
} peer_state;

struct population {
    hmap *groups; /* "type\x1fmetric" -> group, this round */
    hmap *peers;  /* "device\x1fmetric" -> peer_state, kept across rounds */
    int64_t requested_ms, last_round_ms;
    bool pending;
};

population *population_new(void)
{
    population *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->groups = hmap_new();
    p->peers = hmap_new();
    if (!p->groups || !p->peers) {
        population_free(p);
        return NULL;
    }
    return p;
}

static void free_group(void *v)
{
    group *g = v;
    free(g->m);
    free(g);
}

void population_free(population *p)
{
    if (!p) return;
    hmap_free(p->groups, free_group);
    hmap_free(p->peers, free);
    free(p);
}

void population_add(population *p, const shard_event *e)
{
    if (!e->device_type[0] || !isfinite(e->value)) return;
    char key[200];
    snprintf(key, sizeof key, "%s\x1f%s", e->device_type, e->metric);
    group *g = hmap_get(p->groups, key);
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g) return;
        snprintf(g->device_type, sizeof g->device_type, "%s", e->device_type);
        snprintf(g->metric, sizeof g->metric, "%s", e->metric);
        int ok;
        hmap_put(p->groups, key, g, &ok);
        if (!ok) {
            free(g);
            return;
        }
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        member *m = realloc(g->m, cap * sizeof *m);
        if (!m) return;
        g->m = m;
        g->cap = cap;
    }
    snprintf(g->m[g->n].device_id, sizeof g->m[0].device_id, "%s", e->device_id);
    g->m[g->n++].value = e->value;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static shard_event *event_for(shard_event **list, shard_ev_kind kind, const group *g,
                              const member *m, const char *anomaly_id, int64_t now)
{
    shard_event *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->kind = kind;
    snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", anomaly_id);
    snprintf(e->device_id, sizeof e->device_id, "%s", m->device_id);
    snprintf(e->metric, sizeof e->metric, "%s", g->metric);
    snprintf(e->device_type, sizeof e->device_type, "%s", g->device_type);
    e->ts_ms = now;
    e->value = m->value;
    e->lo = e->hi = NAN;
    e->next = *list;
    *list = e;
    return e;
}

static void judge_group(population *p, const group *g, int64_t now, shard_event **events)
{
    if (g->n < MIN_PEERS) return;
    double *x = malloc(3 * g->n * sizeof *x);
    if (!x) return;
    double *z = x + g->n, *scratch = z + g->n;
    for (size_t i = 0; i < g->n; i++)
        x[i] = g->m[i].value;
    if (det_peer_zscores(x, g->n, z, scratch) != 0) {
        free(x);
        return;
    }
    memcpy(scratch, x, g->n * sizeof *x);
    qsort(scratch, g->n, sizeof *scratch, cmp_double);
    double median = scratch[g->n / 2];
    for (size_t i = 0; i < g->n; i++) {
        char key[200];
        snprintf(key, sizeof key, "%s\x1f%s", g->m[i].device_id, g->metric);
        peer_state *ps = hmap_get(p->peers, key);
        if (!ps) {
            ps = calloc(1, sizeof *ps);
            if (!ps) continue;
            det_peer_init(&ps->peer);
            int ok;
            hmap_put(p->peers, key, ps, &ok);
            if (!ok) {
                free(ps);
                continue;
            }
        }
        double dev = det_peer_update(&ps->peer, z[i], ALPHA);
        if (!ps->anomaly_id[0] && dev >= Z_OPEN && ps->peer.n >= MIN_ROUNDS) {
            util_uuid7(ps->anomaly_id);
            shard_event *e = event_for(events, SHARD_EV_OPEN, g, &g->m[i], ps->anomaly_id, now);
            if (!e) continue;
            e->level = dev >= 2 * Z_OPEN ? DET_LEVEL_CRITICAL : DET_LEVEL_WARNING;
            e->score = dev;
            snprintf(e->description, sizeof e->description,
                     "%.60s departs from its %zu peers of type %.40s: mean %.6g vs peer median "
                     "%.6g (robust z %.1f)",
                     g->metric, g->n - 1, g->device_type, g->m[i].value, median, z[i]);
            snprintf(e->detectors, sizeof e->detectors,
                     "[{\"name\":\"population\",\"score\":%.3f}]", dev);
        } else if (ps->anomaly_id[0] && dev < Z_CLOSE) {
            event_for(events, SHARD_EV_CLOSE, g, &g->m[i], ps->anomaly_id, now);
            ps->anomaly_id[0] = '\0';
        }
    }
    free(x);
}

void population_tick(server *s, population *p, int64_t now_ms)
{
    if (!s->shards || !p) return;
    int64_t every = s->cfg.peer_interval_s * 1000;
    if (!p->pending && now_ms - p->last_round_ms >= every) {
        p->last_round_ms = p->requested_ms = now_ms;
        p->pending = true;
        shards_request_summaries(s->shards);
        return;
    }
    if (!p->pending || now_ms - p->requested_ms < JUDGE_AFTER_MS) return;
    p->pending = false;
    shard_event *events = NULL;
    size_t it = 0;
    void *v;
    while (hmap_next(p->groups, &it, NULL, &v))
        judge_group(p, v, now_ms, &events);
    hmap_free(p->groups, free_group);
    p->groups = hmap_new();
    if (events) {
        anomalies_on_events(s, events);
        shard_events_free(events);
    }
}
