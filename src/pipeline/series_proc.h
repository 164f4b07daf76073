/* A shard's detection without its thread: the per-series state (the det_series ensemble or
 * the security detector, the rules that apply, the open anomaly episodes), each device's
 * multivariate row and the peer-comparison buckets, driven by batches of points and clock
 * ticks, answering with events (episode open / update / close, snapshots, summaries). Pure: no
 * threads, no I/O, no clock of its own (time comes with the points and with sproc_tick), so
 * it is unit-tested on its own (tests/unit/test_series_proc.c); pipeline/shards.c runs one per
 * thread. Not thread-safe: one owner at a time. */
#ifndef IOTAD_PIPELINE_SERIES_PROC_H
#define IOTAD_PIPELINE_SERIES_PROC_H

#include "core/point.h"
#include "detect/mvar.h"
#include "detect/rules.h"
#include "detect/series.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SHARD_EV_OPEN,
    SHARD_EV_UPDATE,
    SHARD_EV_CLOSE,
    SHARD_EV_SNAPSHOT,
    SHARD_EV_SUMMARY, /* peer comparison: a series' mean (value) and point count (score) over
                         the data-time bucket starting at ts_ms */
    SHARD_EV_PROGRESS /* internal: a shard's processed job count; consumers skip it */
} shard_ev_kind;

/* A rule as configured: which series it applies to, and the pure rule itself. */
typedef struct {
    det_rule rule;
    char name[96];
    char device_id[40];   /* "" = any device */
    char device_type[64]; /* "" = any type */
    char metric[130];     /* "" = any metric */
} shard_rule;

typedef struct shard_event {
    struct shard_event *next;
    shard_ev_kind kind;
    char anomaly_id[40];
    char device_id[40];
    char metric[130];
    char device_type[64];
    int64_t ts_ms;
    det_level level;
    double value, score, lo, hi;
    uint64_t rule_id; /* 0 for the detectors */
    char description[256];
    char detectors[256]; /* JSON array of {"name","score"} */
    uint8_t *blob;       /* SHARD_EV_SNAPSHOT: det_series snapshot, owned */
    size_t blob_len;
    unsigned shard; /* SHARD_EV_PROGRESS: which shard */
    uint64_t count; /* SHARD_EV_PROGRESS: jobs it has processed */
} shard_event;

typedef struct {
    det_params params;
    det_mv_params mv_params;
    int64_t sys_interval_ms; /* interval of the sys.* counters (the security detector's unit) */
    int64_t peer_bucket_ms;  /* data-time buckets of the SHARD_EV_SUMMARY events */
} sproc_params;

/* The defaults, with the given intervals (<= 0: DET_SEC_INTERVAL_MS and one minute). */
void sproc_params_init(sproc_params *p, int64_t sys_interval_ms, int64_t peer_bucket_ms);

typedef struct sproc sproc;

sproc *sproc_new(const sproc_params *p); /* NULL when out of memory */
void sproc_free(sproc *s);
/* A saved state to resume a series from when its first point comes (copied). States that are
 * not a series' (a metric starting with '(') or that do not fit its detector are ignored. */
void sproc_preload(sproc *s, const char *device_id, const char *metric, const uint8_t *blob,
                   size_t len);
/* Replaces the rule set (takes ownership of rules, malloc'ed; NULL/0 for none). The state of
 * a rule that stays is kept. */
void sproc_set_rules(sproc *s, shard_rule *rules, size_t n);
/* Runs a device's points (ordered by time within each metric) through its series, its rules,
 * its multivariate row and the peer buckets. Returns the number of points processed. */
size_t sproc_points(sproc *s, const point_batch *b);
/* Clock tick: stale rules (no point for their for_ms) fire or clear at now_ms. */
void sproc_tick(sproc *s, int64_t now_ms);
/* Analyst verdict on the series' latest episode; false when the series is unknown here. */
bool sproc_feedback(sproc *s, const char *device_id, const char *metric, det_verdict v);
/* SHARD_EV_SNAPSHOT events for every series (or those that learned since the last call). */
void sproc_snapshot(sproc *s, bool only_dirty);
/* The events built since the last call, oldest first (NULL: none); the caller owns them
 * (shard_events_free), *tail (may be NULL) gets the last. */
shard_event *sproc_take_events(sproc *s, shard_event **tail);
size_t sproc_series_count(const sproc *s);
void shard_events_free(shard_event *ev);
/* The hash that places a device on a shard (FNV-1a). */
uint32_t sproc_hash(const char *key);

#endif
