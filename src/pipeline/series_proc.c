/* Per-series detection; see series_proc.h. The state is a hash map from "device_id/metric" to
 * the series (sseries) and one from device id to its multivariate row (sdevice). */
#include "pipeline/series_proc.h"

#include "core/hmap.h"
#include "core/log.h"
#include "core/util.h"
#include "detect/security.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES_RULES 8
#define UPDATE_EVERY_MS 5000 /* an open episode's record is refreshed at most this often */

typedef struct {
    uint64_t rule_id;
    det_rule_state st;
    char anomaly_id[40];
} rule_slot;

typedef struct {
    det_series *det; /* NULL for a sys.* series: it keeps only the security detector's bytes */
    det_burst burst; /* sys.* series: the learned rate of its counts */
    bool sys;
    char device_id[40];
    char metric[130];
    char anomaly_id[40]; /* open detector episode, "" if none */
    det_level level;
    double peak;
    int64_t last_emit_ms;
    bool dirty;     /* learned since the last snapshot */
    int64_t bucket; /* start of the data-time bucket being summed for the peer comparison */
    double bucket_sum;
    uint32_t bucket_n;
    rule_slot *rules; /* the rules that apply, nrules of them (bind_rules) */
    int nrules;
    uint64_t rules_version;
    char device_type[64];
} sseries;

/* The multivariate detector of one device: all its (non-sys) metrics as one row. The metric
 * set is fixed by the first message (sorted, at most DET_MV_MAX_DIM); each durable job gives
 * one row, its latest value per metric, missing metrics carried forward. */
#define MV_WARMUP 300 /* rows learned (and the second half calibrated) before scoring */
typedef struct {
    det_mv mv;
    uint32_t d;
    char metric[DET_MV_MAX_DIM][130];
    double last[DET_MV_MAX_DIM];
    uint32_t have; /* bit i: metric i seen at least once */
    char anomaly_id[40];
    char device_id[40];
} sdevice;

struct sproc {
    sproc_params p;
    hmap *series;      /* "device_id/metric" -> sseries */
    hmap *devices;     /* device id -> sdevice */
    hmap *preload;     /* "device_id/metric" -> blob (len-prefixed), until the series appears */
    shard_rule *rules; /* the rule set, nrules of them */
    size_t nrules;
    uint64_t rules_version;
    shard_event *out, *out_tail; /* events built since the last sproc_take_events */
};

uint32_t sproc_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

static shard_event *new_event(sproc *s, shard_ev_kind kind, const sseries *ss)
{
    shard_event *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->kind = kind;
    snprintf(e->device_id, sizeof e->device_id, "%s", ss->device_id);
    snprintf(e->metric, sizeof e->metric, "%s", ss->metric);
    snprintf(e->device_type, sizeof e->device_type, "%s", ss->device_type);
    if (s->out_tail)
        s->out_tail->next = e;
    else
        s->out = e;
    s->out_tail = e;
    return e;
}

static bool rule_matches(const shard_rule *r, const sseries *ss)
{
    return (!r->device_id[0] || strcmp(r->device_id, ss->device_id) == 0) &&
           (!r->device_type[0] || strcmp(r->device_type, ss->device_type) == 0) &&
           (!r->metric[0] || strcmp(r->metric, ss->metric) == 0);
}

/* Re-derives which rules apply to the series when the rule set changed. */
static void bind_rules(sproc *s, sseries *ss)
{
    if (ss->rules_version == s->rules_version) return;
    rule_slot now[MAX_SERIES_RULES];
    int n = 0;
    for (size_t i = 0; i < s->nrules && n < MAX_SERIES_RULES; i++) {
        if (!rule_matches(&s->rules[i], ss)) continue;
        rule_slot *slot = &now[n++];
        memset(slot, 0, sizeof *slot);
        slot->rule_id = s->rules[i].rule.id;
        det_rule_state_init(&slot->st);
        for (int k = 0; k < ss->nrules; k++) /* keep the state of rules that stayed */
            if (ss->rules[k].rule_id == slot->rule_id) *slot = ss->rules[k];
    }
    /* sized to the rules that apply (most series: none or one), not to the maximum */
    rule_slot *slots = n ? malloc((size_t)n * sizeof *slots) : NULL;
    if (n && !slots) return; /* keep the old binding; retried on the next point */
    if (n) memcpy(slots, now, (size_t)n * sizeof *slots);
    free(ss->rules);
    ss->rules = slots;
    ss->nrules = n;
    ss->rules_version = s->rules_version;
}

static const shard_rule *find_rule(sproc *s, uint64_t id)
{
    for (size_t i = 0; i < s->nrules; i++)
        if (s->rules[i].rule.id == id) return &s->rules[i];
    return NULL;
}

static void series_free(void *v)
{
    sseries *ss = v;
    if (ss) {
        free(ss->det);
        free(ss->rules);
    }
    free(ss);
}

static sseries *get_series(sproc *s, const char *device_id, const char *metric,
                           const char *device_type)
{
    char key[180];
    snprintf(key, sizeof key, "%s/%s", device_id, metric);
    sseries *ss = hmap_get(s->series, key);
    if (ss) return ss;
    ss = calloc(1, sizeof *ss);
    if (!ss) return NULL;
    snprintf(ss->device_id, sizeof ss->device_id, "%s", device_id);
    snprintf(ss->metric, sizeof ss->metric, "%s", metric);
    snprintf(ss->device_type, sizeof ss->device_type, "%s", device_type ? device_type : "");
    ss->sys = strncmp(metric, "sys.", 4) == 0;
    if (ss->sys) {
        det_burst_init(&ss->burst);
    } else if ((ss->det = malloc(sizeof *ss->det)) != NULL) {
        det_series_init(ss->det, &s->p.params, det_mix64(sproc_hash(key)));
    } else {
        free(ss);
        return NULL;
    }
    uint8_t *blob = s->preload ? hmap_remove(s->preload, key) : NULL;
    if (blob) {
        size_t len;
        memcpy(&len, blob, sizeof len);
        int rc = ss->det ? det_series_restore(ss->det, &s->p.params, blob + sizeof len, len)
                         : det_burst_restore(&ss->burst, blob + sizeof len, len);
        if (rc != 0) log_warn("detector_restore_failed", "series=%s action=relearn", key);
        free(blob);
    }
    int ok;
    hmap_put(s->series, key, ss, &ok);
    if (!ok) {
        series_free(ss);
        return NULL;
    }
    return ss;
}

/* An episode's id is a function of what it is and where it starts (the source, the series,
 * the first point's time), so the same episode found again when acknowledged points are
 * replayed after a crash gets the same id, and is stored and alerted once. */
static void episode_id(char out[40], const char *source, uint64_t rule_id, const char *device_id,
                       const char *metric, int64_t ts)
{
    char name[320];
    int n = snprintf(name, sizeof name, "%s\x1f%llu\x1f%s\x1f%s\x1f%lld", source,
                     (unsigned long long)rule_id, device_id, metric, (long long)ts);
    util_uuid7_named(out, ts, name,
                     n < 0                     ? 0
                     : (size_t)n < sizeof name ? (size_t)n
                                               : sizeof name - 1);
}

static void describe_detectors(const sseries *ss, const det_result *r, char *out, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "[");
    for (size_t i = 0; i < r->n_members && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s{\"name\":\"%s\",\"score\":%.3f}", i ? "," : "",
                              det_series_member_name(ss->det, i), r->member_score[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

/* The value, the low and the high end of a range with as many significant digits as it takes
 * to tell them apart (a counter at 1.08781e+11 against 1.0875e+11 .. 1.08796e+11 needs more
 * than %g's six). */
static void distinct_digits(double v, double lo, double hi, char *a, char *b, char *c, size_t cap)
{
    for (int d = 6; d <= 17; d++) {
        snprintf(a, cap, "%.*g", d, v);
        snprintf(b, cap, "%.*g", d, lo);
        snprintf(c, cap, "%.*g", d, hi);
        if (strcmp(a, b) != 0 && strcmp(a, c) != 0 && strcmp(b, c) != 0) return;
    }
}

static void human_ms(double ms, char *out, size_t cap)
{
    if (ms < 120e3)
        snprintf(out, cap, "%.0f s", ms / 1e3);
    else if (ms < 2 * 3600e3)
        snprintf(out, cap, "%.0f min", ms / 60e3);
    else
        snprintf(out, cap, "%.1f h", ms / 3600e3);
}

/* The expected range stored with the anomaly is about the value (the chart's band): none for a
 * counter (its range is about the rate, in the text) or a discrete series. */
static void band_of(const det_result *r, double *lo, double *hi)
{
    *lo = r->shape == DET_SHAPE_LEVEL ? r->lo : NAN;
    *hi = r->shape == DET_SHAPE_LEVEL ? r->hi : NAN;
}

/* An opening anomaly's text, about what scored: a discrete series' state (rare, held too long,
 * changing too often), a counter's rate per second, or a level against the band of the member
 * that gives it when the value lies outside that band (inside it, another member scored: the
 * text says so instead of printing a band the value does not break). */
static void describe_point(const sseries *ss, const det_result *r, double x, char *out, size_t cap)
{
    char v[32], lo[32], hi[32], held[24], usual[24];
    if (r->shape == DET_SHAPE_DISCRETE) {
        snprintf(v, sizeof v, "%.10g", x);
        human_ms(r->held_ms, held, sizeof held);
        human_ms(r->usual_ms, usual, sizeof usual);
        if (r->why == DET_WHY_STUCK)
            util_format(out, cap,
                        "%s = %s for %s, longer than its longest usual run (%s) (score %.2f)",
                        ss->metric, v, held, usual, r->score);
        else if (r->why == DET_WHY_FLAP)
            util_format(out, cap, "%s changes state far more often than usual (score %.2f)",
                        ss->metric, r->score);
        else
            util_format(out, cap, "%s = %s: a state it rarely or never takes (score %.2f)",
                        ss->metric, v, r->score);
        return;
    }
    const char *what = r->shape == DET_SHAPE_COUNTER ? " rate" : "";
    const char *unit = r->shape == DET_SHAPE_COUNTER ? "/s" : "";
    double y = r->shape == DET_SHAPE_COUNTER ? r->scored : x;
    if (isfinite(r->lo) && isfinite(r->hi) && (y < r->lo || y > r->hi)) {
        distinct_digits(y, r->lo, r->hi, v, lo, hi, sizeof v);
        util_format(out, cap, "%s%s = %s%s outside the expected range %s .. %s%s (score %.2f)",
                    ss->metric, what, v, unit, lo, hi, unit, r->score);
        return;
    }
    snprintf(v, sizeof v, "%.10g", y);
    util_format(out, cap, "%s%s = %s%s: a change its recent pattern did not predict (score %.2f)",
                ss->metric, what, v, unit, r->score);
}

static void detector_point(sproc *s, sseries *ss, int64_t ts, double x)
{
    det_result r;
    det_series_update(ss->det, &s->p.params, ts, x, &r);
    ss->dirty = true;
    if (r.alert && r.level > DET_LEVEL_NONE && !ss->anomaly_id[0]) {
        episode_id(ss->anomaly_id, "detectors", 0, ss->device_id, ss->metric, ts);
        ss->level = r.level;
        ss->peak = r.score;
        ss->last_emit_ms = ts;
        shard_event *e = new_event(s, SHARD_EV_OPEN, ss);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
        e->ts_ms = ts;
        e->level = r.level;
        e->value = x;
        e->score = r.score;
        band_of(&r, &e->lo, &e->hi);
        describe_detectors(ss, &r, e->detectors, sizeof e->detectors);
        describe_point(ss, &r, x, e->description, sizeof e->description);
        if (r.routine) { /* why it is only Info (series.h: the routine) */
            size_t n = strlen(e->description);
            snprintf(e->description + n, sizeof e->description - n,
                     "; as surprising at this time on earlier days, so info");
        }
        return;
    }
    if (!ss->anomaly_id[0]) return;
    if (!r.in_episode) {
        shard_event *e = new_event(s, SHARD_EV_CLOSE, ss);
        if (e) {
            snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
            e->ts_ms = ts;
            e->level = ss->level;
            e->score = ss->peak;
            e->value = x;
        }
        ss->anomaly_id[0] = '\0';
        return;
    }
    bool worse = r.level > ss->level;
    if (r.score > ss->peak) ss->peak = r.score;
    if (worse || (r.level > DET_LEVEL_NONE && ts - ss->last_emit_ms >= UPDATE_EVERY_MS)) {
        if (worse) ss->level = r.level;
        ss->last_emit_ms = ts;
        shard_event *e = new_event(s, SHARD_EV_UPDATE, ss);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
        e->ts_ms = ts;
        e->level = ss->level;
        e->value = x;
        e->score = ss->peak;
        band_of(&r, &e->lo, &e->hi);
        describe_detectors(ss, &r, e->detectors, sizeof e->detectors);
    }
}

static void rule_event(sproc *s, sseries *ss, rule_slot *slot, det_rule_event ev, int64_t ts,
                       double x)
{
    const shard_rule *r = find_rule(s, slot->rule_id);
    if (!r || ev == DET_RULE_QUIET) return;
    if (ev == DET_RULE_FIRED) {
        episode_id(slot->anomaly_id, "rule", r->rule.id, ss->device_id, ss->metric, ts);
        shard_event *e = new_event(s, SHARD_EV_OPEN, ss);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", slot->anomaly_id);
        e->ts_ms = ts;
        e->level = r->rule.severity;
        e->value = x;
        e->score = 1;
        e->lo = e->hi = NAN;
        e->rule_id = r->rule.id;
        static const char *const verbs[] = {"above", "below", "changing faster than",
                                            "silent for more than"};
        if (r->rule.kind == DET_RULE_STALE)
            util_format(e->description, sizeof e->description,
                        "rule '%s': %s silent for more than %lld s", r->name, ss->metric,
                        (long long)(r->rule.for_ms / 1000));
        else { /* "for N s" only when the rule waits: "for 0 s" reads as noise */
            char held[48] = "";
            if (r->rule.for_ms >= 1000)
                snprintf(held, sizeof held, " for %lld s", (long long)(r->rule.for_ms / 1000));
            util_format(e->description, sizeof e->description, "rule '%s': %s = %.6g %s %.6g%s%s",
                        r->name, ss->metric, x, verbs[r->rule.kind], r->rule.threshold,
                        r->rule.kind == DET_RULE_RATE ? "/s" : "", held);
        }
        snprintf(e->detectors, sizeof e->detectors, "[{\"name\":\"rule\",\"score\":1}]");
    } else if (slot->anomaly_id[0]) {
        shard_event *e = new_event(s, SHARD_EV_CLOSE, ss);
        if (e) {
            snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", slot->anomaly_id);
            e->ts_ms = ts;
            e->level = r->rule.severity;
            e->value = x;
            e->rule_id = r->rule.id;
        }
        slot->anomaly_id[0] = '\0';
    }
}

/* The peer comparison's input: the series' mean over each data-time bucket, sent as a
 * SHARD_EV_SUMMARY when the series' points move past the bucket. A point older than the
 * bucket being summed is left out (its bucket was already reported). */
static void peer_point(sproc *s, sseries *ss, int64_t ts, double x)
{
    int64_t len = s->p.peer_bucket_ms;
    if (!isfinite(x)) return;
    int64_t b = ts - ((ts % len) + len) % len;
    if (b > ss->bucket) {
        if (ss->bucket_n) {
            shard_event *e = new_event(s, SHARD_EV_SUMMARY, ss);
            if (e) {
                e->ts_ms = ss->bucket;
                e->value = ss->bucket_sum / ss->bucket_n;
                e->score = ss->bucket_n;
            }
        }
        ss->bucket = b;
        ss->bucket_sum = 0;
        ss->bucket_n = 0;
    }
    if (b == ss->bucket) {
        ss->bucket_sum += x;
        ss->bucket_n++;
    }
}

/* Whether a rule names this series' metric: then the rule speaks for it, and the learned
 * baseline only learns (one anomaly per event, not one from the rule and one from the burst). */
static bool rule_names_metric(sproc *s, const sseries *ss)
{
    for (int k = 0; k < ss->nrules; k++) {
        const shard_rule *r = find_rule(s, ss->rules[k].rule_id);
        if (r && strcmp(r->metric, ss->metric) == 0) return true;
    }
    return false;
}

/* A sys.* count: the security detector (bytes per series, no ensemble). */
static void security_point(sproc *s, sseries *ss, int64_t ts, double x)
{
    det_sec_kind kind;
    if (det_sec_kind_of(ss->metric, &kind) != 0 || kind == DET_SEC_NEW_ADDRESS) return;
    det_sec_result r;
    det_burst_update_at(&ss->burst, kind, ts, s->p.sys_interval_ms, x, &r);
    ss->dirty = true;
    bind_rules(s, ss);
    if (rule_names_metric(s, ss)) r.level = DET_LEVEL_NONE;
    if (r.level >= DET_LEVEL_WARNING && !ss->anomaly_id[0]) {
        episode_id(ss->anomaly_id, "security", 0, ss->device_id, ss->metric, ts);
        ss->level = r.level;
        ss->peak = x;
        shard_event *e = new_event(s, SHARD_EV_OPEN, ss);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
        e->ts_ms = ts;
        e->level = r.level;
        e->value = x;
        e->score = r.q > 1e-12 ? -log10(r.q) / 12 : 1;
        e->lo = e->hi = NAN;
        int sec = (int)(s->p.sys_interval_ms / 1000);
        util_format(e->description, sizeof e->description,
                    "%s = %.6g in %d s against a learned %.2g per %d s (%.0fx; Poisson tail %.1e)",
                    ss->metric, x, sec, r.expected, sec, x / (r.expected > 0.1 ? r.expected : 0.1),
                    r.q);
        util_format(e->detectors, sizeof e->detectors, "[{\"name\":\"security\",\"score\":%.3f}]",
                    e->score);
    } else if (ss->anomaly_id[0] && r.level == DET_LEVEL_NONE) {
        shard_event *e = new_event(s, SHARD_EV_CLOSE, ss);
        if (e) {
            snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
            e->ts_ms = ts;
            e->level = ss->level;
            e->value = x;
        }
        ss->anomaly_id[0] = '\0';
    } else if (ss->anomaly_id[0] && (r.level > ss->level || x > ss->peak)) {
        ss->level = r.level > ss->level ? r.level : ss->level;
        ss->peak = x > ss->peak ? x : ss->peak;
        shard_event *e = new_event(s, SHARD_EV_UPDATE, ss);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", ss->anomaly_id);
        e->ts_ms = ts;
        e->level = ss->level;
        e->value = x;
        e->score = r.q > 1e-12 ? -log10(r.q) / 12 : 1;
        e->lo = e->hi = NAN;
        util_format(e->detectors, sizeof e->detectors, "[{\"name\":\"security\",\"score\":%.3f}]",
                    e->score);
    }
}

static int cmp_metric(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* A device whose first job had fewer than two metrics: nothing multivariate, and it costs the
 * map entry only (an sdevice is ~7.5 KB). */
static char not_multivariate;

static void device_free(void *v)
{
    if (v != &not_multivariate) free(v);
}

/* Fixes the device's metric set from its first job with a non-sys metric (sorted, sys.*
 * excluded): NULL if the device has no multivariate detector. */
static sdevice *get_device(sproc *s, const point_batch *job)
{
    void *found = hmap_get(s->devices, job->device_id);
    if (found) return found == &not_multivariate ? NULL : found;
    char metric[DET_MV_MAX_DIM][130];
    uint32_t d = 0;
    for (size_t i = 0; i < job->n && d < DET_MV_MAX_DIM; i++) {
        const char *m = job->points[i].metric;
        if (strncmp(m, "sys.", 4) == 0) continue;
        bool seen = false;
        for (uint32_t k = 0; k < d && !seen; k++)
            seen = strcmp(metric[k], m) == 0;
        if (!seen) snprintf(metric[d++], sizeof metric[0], "%s", m);
    }
    if (d == 0) return NULL; /* only security counters: decide on a later job */
    sdevice *dv = d >= 2 ? calloc(1, sizeof *dv) : NULL;
    if (dv) {
        snprintf(dv->device_id, sizeof dv->device_id, "%s", job->device_id);
        dv->d = d;
        memcpy(dv->metric, metric, sizeof metric);
        qsort(dv->metric, dv->d, sizeof dv->metric[0], cmp_metric);
        if (det_mv_init(&dv->mv, dv->d) != 0) {
            free(dv);
            dv = NULL;
        }
    }
    int ok;
    hmap_put(s->devices, job->device_id, dv ? (void *)dv : &not_multivariate, &ok);
    if (!ok) {
        free(dv);
        return NULL;
    }
    return dv;
}

static void device_row(sproc *s, const point_batch *job)
{
    sdevice *dv = get_device(s, job);
    if (!dv) return;
    int64_t ts = 0;
    for (size_t i = 0; i < job->n; i++) {
        const ingest_point *p = &job->points[i];
        for (uint32_t k = 0; k < dv->d; k++) {
            if (strcmp(dv->metric[k], p->metric) != 0) continue;
            dv->last[k] = p->value; /* points are ordered by time within a metric */
            dv->have |= 1u << k;
            if (p->ts_ms > ts) ts = p->ts_ms;
            break;
        }
    }
    if (dv->have != (1u << dv->d) - 1 || ts == 0) return; /* not every metric seen yet */
    det_mv_out r;
    det_mv_update_at(&dv->mv, &s->p.mv_params, ts, dv->last, &r);
    sseries pseudo; /* events are keyed by device and a metric name: name the device row */
    memset(&pseudo, 0, sizeof pseudo);
    snprintf(pseudo.device_id, sizeof pseudo.device_id, "%s", dv->device_id);
    snprintf(pseudo.metric, sizeof pseudo.metric, "%s", "(multivariate)");
    if (r.alarm && !dv->anomaly_id[0]) {
        episode_id(dv->anomaly_id, "multivariate", 0, dv->device_id, "", ts);
        shard_event *e = new_event(s, SHARD_EV_OPEN, &pseudo);
        if (!e) return;
        snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", dv->anomaly_id);
        e->ts_ms = ts;
        e->level = r.z > 2 * s->p.mv_params.k_on ? DET_LEVEL_CRITICAL : DET_LEVEL_WARNING;
        e->value = dv->last[r.contrib];
        e->score = r.z;
        e->lo = e->hi = NAN;
        util_format(e->description, sizeof e->description,
                    "the device's metrics together depart from their learned joint behaviour "
                    "(T2/d %.1f); largest deviation in %s = %.6g",
                    r.t2, dv->metric[r.contrib], dv->last[r.contrib]);
        util_format(e->detectors, sizeof e->detectors,
                    "[{\"name\":\"multivariate\",\"score\":%.3f}]", r.z);
    } else if (!r.alarm && dv->anomaly_id[0]) {
        shard_event *e = new_event(s, SHARD_EV_CLOSE, &pseudo);
        if (e) {
            snprintf(e->anomaly_id, sizeof e->anomaly_id, "%s", dv->anomaly_id);
            e->ts_ms = ts;
        }
        dv->anomaly_id[0] = '\0';
    }
}

size_t sproc_points(sproc *s, const point_batch *job)
{
    device_row(s, job);
    sseries *ss = NULL;
    for (size_t i = 0; i < job->n; i++) {
        const ingest_point *p = &job->points[i];
        if (!ss || strcmp(ss->metric, p->metric) != 0)
            ss = get_series(s, job->device_id, p->metric, job->device_type);
        if (!ss) continue;
        if (ss->sys) {
            security_point(s, ss, p->ts_ms, p->value);
        } else {
            detector_point(s, ss, p->ts_ms, p->value);
            peer_point(s, ss, p->ts_ms, p->value);
        }
        bind_rules(s, ss);
        for (int k = 0; k < ss->nrules; k++) {
            const shard_rule *r = find_rule(s, ss->rules[k].rule_id);
            if (r)
                rule_event(s, ss, &ss->rules[k],
                           det_rule_eval(&r->rule, &ss->rules[k].st, p->ts_ms, p->value), p->ts_ms,
                           p->value);
        }
    }
    return job->n;
}

void sproc_tick(sproc *s, int64_t now)
{
    if (!s->nrules) return;
    size_t it = 0;
    void *v;
    while (hmap_next(s->series, &it, NULL, &v)) {
        sseries *ss = v;
        bind_rules(s, ss);
        for (int k = 0; k < ss->nrules; k++) {
            const shard_rule *r = find_rule(s, ss->rules[k].rule_id);
            if (r && r->rule.kind == DET_RULE_STALE)
                rule_event(s, ss, &ss->rules[k], det_rule_tick(&r->rule, &ss->rules[k].st, now),
                           now, NAN);
        }
    }
}

void sproc_snapshot(sproc *s, bool only_dirty)
{
    size_t it = 0;
    void *v;
    while (hmap_next(s->series, &it, NULL, &v)) {
        sseries *ss = v;
        if (only_dirty && !ss->dirty) continue;
        size_t cap = ss->det ? DET_SERIES_SNAP_SIZE : DET_BURST_SNAP_SIZE;
        uint8_t *blob = malloc(cap);
        size_t n = !blob     ? 0
                   : ss->det ? det_series_snapshot(ss->det, blob, cap)
                             : det_burst_snapshot(&ss->burst, blob, cap);
        shard_event *e = n ? new_event(s, SHARD_EV_SNAPSHOT, ss) : NULL;
        if (!e) {
            free(blob);
            continue;
        }
        e->blob = blob;
        e->blob_len = n;
        ss->dirty = false;
    }
}

void sproc_params_init(sproc_params *p, int64_t sys_interval_ms, int64_t peer_bucket_ms)
{
    memset(p, 0, sizeof *p);
    det_params_default(&p->params);
    det_mv_params_from(&p->mv_params, &p->params, MV_WARMUP);
    p->sys_interval_ms = sys_interval_ms > 0 ? sys_interval_ms : DET_SEC_INTERVAL_MS;
    p->peer_bucket_ms = peer_bucket_ms > 0 ? peer_bucket_ms : 60000;
}

sproc *sproc_new(const sproc_params *p)
{
    sproc *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->series = hmap_new();
    s->devices = hmap_new();
    s->preload = hmap_new();
    if (!s->series || !s->devices || !s->preload) {
        sproc_free(s);
        return NULL;
    }
    return s;
}

void sproc_free(sproc *s)
{
    if (!s) return;
    if (s->series) hmap_free(s->series, series_free);
    if (s->devices) hmap_free(s->devices, device_free);
    if (s->preload) hmap_free(s->preload, free);
    free(s->rules);
    shard_events_free(s->out);
    free(s);
}

void sproc_preload(sproc *s, const char *device_id, const char *metric, const uint8_t *blob,
                   size_t len)
{
    /* not a series (e.g. a device's learned addresses), or a sys.* series' state from before
       it had its own detector (a full ensemble's: it would sit here unused) */
    if (metric[0] == '(' || (strncmp(metric, "sys.", 4) == 0 && len != DET_BURST_SNAP_SIZE)) return;
    char key[180];
    snprintf(key, sizeof key, "%s/%s", device_id, metric);
    uint8_t *copy = malloc(sizeof len + len);
    if (!copy) return;
    memcpy(copy, &len, sizeof len);
    memcpy(copy + sizeof len, blob, len);
    free(hmap_put(s->preload, key, copy, NULL));
}

void sproc_set_rules(sproc *s, shard_rule *rules, size_t n)
{
    free(s->rules);
    s->rules = rules;
    s->nrules = n;
    s->rules_version++;
}

bool sproc_feedback(sproc *s, const char *device_id, const char *metric, det_verdict v)
{
    char key[180];
    snprintf(key, sizeof key, "%s/%s", device_id, metric);
    sseries *ss = hmap_get(s->series, key);
    if (!ss || !ss->det) return false;
    det_series_feedback(ss->det, v);
    ss->dirty = true;
    log_info("detector_feedback", "series=%s verdict=%s fp_bias=%.2f", key,
             v == DET_VERDICT_FALSE_POSITIVE ? "false_positive" : "confirmed",
             (double)ss->det->fp_bias);
    return true;
}

shard_event *sproc_take_events(sproc *s, shard_event **tail)
{
    shard_event *ev = s->out;
    if (tail) *tail = s->out_tail;
    s->out = s->out_tail = NULL;
    return ev;
}

size_t sproc_series_count(const sproc *s)
{
    return hmap_size(s->series);
}

void shard_events_free(shard_event *ev)
{
    while (ev) {
        shard_event *next = ev->next;
        free(ev->blob);
        free(ev);
        ev = next;
    }
}
