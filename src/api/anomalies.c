/* See anomalies.h. All database work of one batch of shard events happens in a single
 * transaction, so an anomaly storm costs one fsync per batch, not one per event. */
#include "api/anomalies.h"

#include "alert/alerts.h"
#include "api/population.h"
#include "core/log.h"
#include "core/server.h"
#include "pipeline/shards.h"
#include "ingest/devstate.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *severity_name(det_level l)
{
    return l >= DET_LEVEL_CRITICAL ? "critical" : l == DET_LEVEL_WARNING ? "warning" : "info";
}

static char *details_json(const shard_event *e)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "score", e->score);
    if (isfinite(e->value)) cJSON_AddNumberToObject(d, "value", e->value);
    if (isfinite(e->lo)) cJSON_AddNumberToObject(d, "expected_lo", e->lo);
    if (isfinite(e->hi)) cJSON_AddNumberToObject(d, "expected_hi", e->hi);
    cJSON *dets = cJSON_Parse(e->detectors[0] ? e->detectors : "[]");
    cJSON_AddItemToObject(d, "detectors", dets ? dets : cJSON_CreateArray());
    cJSON_AddStringToObject(d, "source", e->rule_id ? "rule" : "detectors");
    if (e->rule_id) cJSON_AddNumberToObject(d, "rule_id", (double)e->rule_id);
    cJSON_AddNumberToObject(d, "last_ts", (double)e->ts_ms);
    char *text = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return text;
}

static void broadcast(server *s, const char *anomaly_id, const char *device_id)
{
    if (!ev_wanted(&s->events, EV_ANOMALY)) return;
    dev_live *d = devstate_get(s->devices, device_id);
    cJSON *row = STORE_ANOMALIES(s->st)->event_row(s->st, anomaly_id);
    if (!row) return;
    ev_event e = {.type = EV_ANOMALY, .device_id = device_id, .owner_id = d ? d->owner_id : ""};
    e.u.record = row;
    ev_emit(&s->events, &e);
    cJSON_Delete(row);
}

/* Upserts one detector state (unless its device is gone); false if it failed. */
static bool save_snapshot(server *s, const shard_event *e, int64_t now)
{
    if (STORE_STATE(s->st)->put(s->st, e->device_id, e->metric, e->blob, e->blob_len, now) ==
        STORE_OK)
        return true;
    log_warn("detector_state_save_failed", "device=%s metric=%s", e->device_id, e->metric);
    return false;
}

/* The detection watermark in the database: every log row up to it has been processed by the
 * detectors and their anomalies stored (docs/design.md, "Anomalies survive a crash"). */
#define WATERMARK_KEY "detect.watermark"

/* The watermark is reached in memory: the log rows up to it may go. Once storing anomalies has
 * failed it stays where it was until the next start, which replays from there (the rows are
 * kept; the anomalies found again are stored then, once). */
static void watermark_applied(server *s, int64_t w)
{
    if (w <= s->detect_applied || s->detect_stuck) return;
    s->detect_applied = w;
    if (s->shards) shards_detected(s->shards, w);
}

void anomalies_persist_watermark(server *s)
{
    if (s->detect_applied <= s->detect_persisted) return;
    if (STORE_SETTINGS(s->st)->raise_int(s->st, WATERMARK_KEY, s->detect_applied, util_now_ms()) ==
        STORE_OK)
        s->detect_persisted = s->detect_applied;
}

static bool stored_event(const shard_event *e)
{
    return e->kind == SHARD_EV_OPEN || e->kind == SHARD_EV_UPDATE || e->kind == SHARD_EV_CLOSE ||
           e->kind == SHARD_EV_SNAPSHOT;
}

void anomalies_on_events(void *arg, shard_event *events)
{
    server *s = arg;
    /* what the shards have processed, including the jobs that caused these events */
    int64_t w = s->shards ? shards_watermark(s->shards) : s->detect_applied;
    size_t n = 0, nstored = 0;
    for (shard_event *e = events; e; e = e->next, n++)
        nstored += stored_event(e);
    if (nstored == 0) { /* progress or summaries only: nothing to write */
        for (shard_event *e = events; e; e = e->next)
            if (e->kind == SHARD_EV_SUMMARY && s->population) population_add(s->population, e);
        watermark_applied(s, w);
        return;
    }
    bool *fresh = calloc(n, sizeof *fresh); /* OPEN events that inserted a new anomaly */
    store *st = s->st;
    bool tx = store_begin(st) == STORE_OK;
    int64_t now = util_now_ms();
    size_t i = 0;
    uint64_t snaps = 0; /* detector states written in this transaction */
    for (shard_event *e = events; e; e = e->next, i++) {
        if (e->kind == SHARD_EV_PROGRESS) continue;
        if (e->kind == SHARD_EV_SNAPSHOT) {
            if (save_snapshot(s, e, now))
                snaps++;
            else
                s->m.snapshots_failed++;
            continue;
        }
        if (e->kind == SHARD_EV_SUMMARY) {
            if (s->population) population_add(s->population, e);
            continue;
        }
        char *details = details_json(e);
        if (e->kind == SHARD_EV_OPEN) {
            /* an episode seen again (points replayed after a crash) has the same id: kept once */
            store_anomaly a = {.id = e->anomaly_id,
                               .device_id = e->device_id,
                               .metric = e->metric,
                               .severity = severity_name(e->level),
                               .description = e->description,
                               .details = details,
                               .ts_ms = e->ts_ms,
                               .rule_id = (int64_t)e->rule_id};
            bool inserted = false;
            STORE_ANOMALIES(st)->open(st, &a, &inserted);
            if (inserted) {
                if (fresh) fresh[i] = true;
                s->m.anomalies_opened[e->level >= DET_LEVEL_CRITICAL  ? 2
                                      : e->level == DET_LEVEL_WARNING ? 1
                                                                      : 0]++;
                log_info("anomaly", "id=%s device=%s metric=%s severity=%s description=\"%s\"",
                         e->anomaly_id, e->device_id, e->metric, severity_name(e->level),
                         e->description);
            }
        } else if (e->kind == SHARD_EV_CLOSE) {
            /* the explanation stays as it was at its worst; only the end is recorded */
            STORE_ANOMALIES(st)->close(st, e->anomaly_id, e->ts_ms);
        } else {
            /* a continuing episode: latest explanation; severity only rises */
            STORE_ANOMALIES(st)->update(st, e->anomaly_id, e->ts_ms, details,
                                        severity_name(e->level));
        }
        free(details);
    }
    /* the watermark moves with the anomalies it covers, in the same transaction */
    bool persist = tx && !s->detect_stuck && w > s->detect_persisted;
    if (persist) STORE_SETTINGS(st)->raise_int(st, WATERMARK_KEY, w, now);
    if (tx && store_commit(st) == STORE_OK) {
        if (persist) s->detect_persisted = w;
        s->m.snapshots_saved += snaps;
        watermark_applied(s, w);
    } else {
        if (tx) {
            store_rollback(st);
            s->m.snapshots_failed += snaps; /* rolled back with the rest */
        } else {
            s->m.snapshots_saved += snaps; /* no transaction: each one committed by itself */
        }
        if (!s->detect_stuck)
            log_error("detection_watermark_stuck",
                      "watermark=%lld reason=\"storing anomalies failed\" action=\"points since "
                      "are kept and detected again at the next start\"",
                      (long long)s->detect_applied);
        s->detect_stuck = true;
    }
    i = 0;
    for (shard_event *e = events; e; e = e->next, i++) {
        if (e->kind != SHARD_EV_OPEN && e->kind != SHARD_EV_UPDATE && e->kind != SHARD_EV_CLOSE)
            continue;
        if (e->kind == SHARD_EV_OPEN && fresh && !fresh[i]) continue; /* already known */
        broadcast(s, e->anomaly_id, e->device_id);
        if (e->kind == SHARD_EV_OPEN) alerts_on_anomaly(s, e->anomaly_id);
    }
    free(fresh);
}

int64_t anomalies_saved_watermark(server *s)
{
    int64_t w = store_setting_int(s->st, WATERMARK_KEY, -1);
    if (w >= 0) return w;
    /* The first start with a watermark: 0 for a new database. One from before the watermark
     * existed: everything in its log counts as processed (replaying it would find its anomalies
     * again under new ids). Written at once, so that a crash before the first update replays. */
    w = STORE_SERIES(s->st)->log_head(s->st);
    if (STORE_SETTINGS(s->st)->raise_int(s->st, WATERMARK_KEY, w, util_now_ms()) != STORE_OK)
        log_warn("detection_watermark_unsaved", "watermark=%lld", (long long)w);
    return w;
}

static const char *device_type(void *arg, const char *device_id)
{
    dev_live *d = devstate_get(((server *)arg)->devices, device_id);
    return d ? d->type : NULL;
}

int anomalies_replay(server *s, int64_t after)
{
    s->detect_applied = s->detect_persisted = after;
    int rc = shards_resume(s->shards, s->ts, after, device_type, s);
    if (rc < 0) {
        log_error("detection_replay_failed", "after=%lld rc=%d", (long long)after, rc);
        return rc;
    }
    log_info("detection_replay", "after=%lld points=%d", (long long)after, rc);
    return 0;
}

uint64_t anomalies_detector_points(server *s)
{
    return s->shards ? shards_points_processed(s->shards) : 0;
}

/* Security rules every installation starts with (once; Admins may change or delete them):
 * the sys.* series are counts per 10 s interval. */
static void seed_default_rules(server *s)
{
    store *st = s->st;
    char seeded[8];
    if (STORE_SETTINGS(st)->get(st, "default_rules_seeded", seeded, sizeof seeded) == STORE_OK)
        return;
    static const struct {
        const char *name, *metric, *severity;
        double threshold;
    } defaults[] = {
        {"ACL violation", "sys.acl_violations", "critical", 0},
        {"Authentication failure burst", "sys.auth_failures", "warning", 3},
        {"Malformed payload burst", "sys.bad_payloads", "info", 5},
        {"Connection flood", "sys.connects", "warning", 20},
    };
    int64_t now = util_now_ms();
    if (store_begin(st) != STORE_OK) return;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        store_rule_fields f = {.name = defaults[i].name,
                               .metric = defaults[i].metric,
                               .kind = "above",
                               .severity = defaults[i].severity,
                               .threshold = &defaults[i].threshold};
        STORE_RULES(st)->create(st, &f, "system", now, NULL);
    }
    STORE_SETTINGS(st)->set(st, "default_rules_seeded", "1", now);
    store_commit_or_rollback(st);
}

typedef struct {
    shard_rule *rules;
    size_t n, cap;
    bool oom;
} rule_set;

static void add_rule(void *arg, const store_rule *src)
{
    rule_set *set = arg;
    if (set->oom) return;
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 16;
        shard_rule *grown = realloc(set->rules, cap * sizeof *grown);
        if (!grown) {
            set->oom = true;
            return;
        }
        set->rules = grown;
        set->cap = cap;
    }
    shard_rule *r = &set->rules[set->n];
    memset(r, 0, sizeof *r);
    r->rule.id = (uint64_t)src->id;
    snprintf(r->name, sizeof r->name, "%s", src->name);
    snprintf(r->device_id, sizeof r->device_id, "%s", src->device_id);
    snprintf(r->device_type, sizeof r->device_type, "%s", src->device_type);
    snprintf(r->metric, sizeof r->metric, "%s", src->metric);
    det_rule_kind kind;
    if (det_rule_kind_parse(src->kind, &kind) != 0) return;
    r->rule.kind = kind;
    r->rule.threshold = src->threshold;
    r->rule.for_ms = src->for_ms;
    r->rule.severity = !strcmp(src->severity, "critical")  ? DET_LEVEL_CRITICAL
                       : !strcmp(src->severity, "warning") ? DET_LEVEL_WARNING
                                                           : DET_LEVEL_INFO;
    if (det_rule_validate(&r->rule) == 0) set->n++;
}

int anomalies_load_rules(server *s)
{
    seed_default_rules(s);
    rule_set set = {0};
    if (STORE_RULES(s->st)->scan_enabled(s->st, add_rule, &set) != STORE_OK) {
        free(set.rules);
        return -1;
    }
    if (s->shards) shards_set_rules(s->shards, set.rules, set.n);
    free(set.rules);
    return 0;
}

typedef struct {
    server *s;
    int n;
} preload_ctx;

static void preload_one(void *arg, const char *device_id, const char *metric, const void *blob,
                        size_t len)
{
    preload_ctx *c = arg;
    if (!blob || len == 0) return;
    shards_preload(c->s->shards, device_id, metric, blob, len);
    c->n++;
}

int anomalies_preload_snapshots(server *s)
{
    preload_ctx c = {s, 0};
    if (STORE_STATE(s->st)->scan(s->st, NULL, preload_one, &c) != STORE_OK) return -1;
    log_info("detector_state_loaded", "series=%d", c.n);
    return 0;
}
