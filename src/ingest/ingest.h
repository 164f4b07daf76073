/* The one path every transport's points take after decoding: validation of timestamps,
 * accounting, the durable write, and after it the live stream and the detectors, then the
 * transport's acknowledgement (PUBACK, HTTP 202, WebSocket ack). */
#ifndef IOTAD_INGEST_INGEST_H
#define IOTAD_INGEST_INGEST_H

#include "core/metrics.h"
#include "ingest/point.h"
#include "store/writer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct server;
struct dev_live;
struct writer_job;

/* err NULL: the points are durable. Otherwise nothing of the batch is stored and err says why
 * (INGEST_ERR_UNAVAILABLE / INGEST_ERR_STORAGE_FULL: the commit failed; INGEST_ERR_SERIES_LIMIT:
 * new metric names beyond the device's limit), with a message for the client: the transport
 * must not acknowledge it as stored. */
typedef struct {
    size_t stored;   /* points of the batch now stored */
    size_t replaced; /* of them, points that replaced an earlier one of the same series and ms */
    size_t too_old;  /* points not stored: older than their series' stored chunks */
} ingest_stored;
/* done: what became of the points (valid when err is NULL). */
typedef void (*ingest_ack_fn)(void *arg, const ingest_error *err, const ingest_stored *done);
/* The acknowledgement's JSON fields: "accepted":stored, and "replaced" / "too_old" when not
 * zero (HTTP 202 and WebSocket acks). */
void ingest_stored_json(const ingest_stored *done, cJSON *o);

/* Checks skew, then queues the batch (taking its points). On a validation error returns the
 * status with err filled, counts and records the rejection, and stores nothing. While the store
 * is failing (or the server stopping) the batch is refused at once, counted, with
 * INGEST_ERR_UNAVAILABLE or INGEST_ERR_STORAGE_FULL. */
ingest_status ingest_submit(struct server *s, struct dev_live *d, ingest_batch *b, transport t,
                            const char *peer, size_t bytes, ingest_ack_fn ack, void *arg,
                            ingest_error *err);
/* Counts and records a rejected payload (decode errors found before ingest_submit). */
void ingest_reject(struct server *s, struct dev_live *d, transport t, const char *peer,
                   const ingest_error *err);
reject_reason ingest_reject_reason(ingest_status st);
/* Every refused message so far, by transport and reason: the application's counts and what
 * the MQTT listeners refused on their own (protocol errors, oversized packets, unsupported
 * CONNECTs). What /metrics and the performance report show. */
void ingest_rejected_totals(const struct server *s, uint64_t out[TRANSPORT_COUNT][REJECT_COUNT]);
/* The Retry-After (seconds) to give with a refusal of st; 0 when retrying cannot help. */
int ingest_retry_after_s(ingest_status st);
/* True while the writer's queue is over queue_max_points: transports stop reading (MQTT
 * connections pause, the bridge leaves its queue) until the writer drains. */
bool ingest_overloaded(struct server *s);
/* Hands a job whose write finished to the detector shards (when durable and the server is
 * running), which take it; otherwise frees it. */
void ingest_to_detectors(struct server *s, struct writer_job *job, int status);

/* The live stream's EV_POINTS for a job's durable points. */
void ingest_emit_points(struct server *s, const struct writer_job *job);

/* A writer job that takes the batch's points (the batch is left empty); NULL when out of
 * memory (the batch keeps them). */
writer_job *ingest_job_from_batch(const char *device_id, ingest_batch *b, writer_done_fn done,
                                  void *arg);

#endif
