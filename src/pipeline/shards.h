/* Detector shards: N worker threads, each owning a disjoint set of devices (hash of the
 * device id) with their per-series detector state and rule state. Durable points arrive from
 * the loop; anomaly episodes (open / update / close) go back to the loop through uv_async,
 * where they are stored and streamed. Rules, analyst feedback and snapshot requests travel
 * the same queues, so a shard's state is only ever touched by its own thread. */
#ifndef IOTAD_PIPELINE_SHARDS_H
#define IOTAD_PIPELINE_SHARDS_H

#include "pipeline/series_proc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct store_ts;
typedef struct shards shards;

typedef void (*shards_event_fn)(void *arg, shard_event *events); /* loop thread; frees nothing */

typedef struct {
    unsigned threads;        /* 0: one */
    int64_t sys_interval_ms; /* interval of the sys.* counters (the security detector's unit) */
    int64_t peer_bucket_ms;  /* data-time buckets of the SHARD_EV_SUMMARY events */
    /* shards_detected passes the watermark on to this (e.g. to let the store's log go) */
    void (*on_detected)(void *arg, int64_t watermark);
    void *on_detected_arg;
} shards_options;

int shards_start(uv_loop_t *loop, const shards_options *opt, shards_event_fn on_events, void *arg,
                 shards **out);
/* Before points flow: a saved detector state to resume a series from (copied). */
void shards_preload(shards *sh, const char *device_id, const char *metric, const uint8_t *blob,
                    size_t len);
/* Hands a device's durable points to its shard (loop thread): b's strings are copied, its
 * points (malloc'ed) are taken over and freed once processed. device_type may be "". seq is the
 * log row id of the commit that stored them (store_ts write's seq); batches arrive in seq order. */
void shards_submit(shards *sh, const point_batch *b, int64_t seq);
/* The detection watermark (loop thread). Every job with seq <= it has been processed and the
 * events it caused handed to on_events (the progress of each shard travels with its events,
 * and is applied before on_events is called, so inside on_events the watermark covers exactly
 * the events delivered so far). Starts at the value given to shards_resume_from. */
int64_t shards_watermark(const shards *sh);
/* Before any submit: the watermark of the previous run (jobs up to it need no detection), and
 * the replay of what the store committed after it (writer_log_replay), in commit order.
 * device_type gives a device's type ("" or NULL for a device deleted since: skipped). Returns
 * the number of points replayed or a negative error. */
int shards_resume(shards *sh, struct store_ts *ts, int64_t watermark,
                  const char *(*device_type)(void *arg, const char *device_id), void *arg);
/* The events up to this watermark are stored: passed to opt.on_detected (loop thread). */
void shards_detected(shards *sh, int64_t watermark);
/* Replaces every shard's rule set (copied). */
void shards_set_rules(shards *sh, const shard_rule *rules, size_t n);
/* Analyst verdict on the latest episode of a series. */
void shards_feedback(shards *sh, const char *device_id, const char *metric, det_verdict v);
/* Asks every shard to emit SHARD_EV_SNAPSHOT events for the series changed since the last
 * request (periodic persistence). */
void shards_request_snapshots(shards *sh);
/* Stops the threads after their queues are processed; the final snapshots of every series
 * are delivered through on_events before this returns. */
void shards_stop(shards *sh);
uint64_t shards_points_processed(shards *sh);

#endif
