/* Cluster mode's ingest path (`--cluster amqp://...`, docs/scaling.md): a node publishes each
 * accepted batch to its device's partition queue and acknowledges the device once RabbitMQ has
 * confirmed it; the node that holds a partition (single active consumer) stores its batches
 * through the writer, hands them to the detectors, and acks each message once the detection
 * watermark has passed its commit (the points stored, their anomalies stored). A crash before
 * the ack redelivers the message: storing is idempotent (one point per series and ms) and
 * anomaly ids are deterministic, so nothing is counted twice. */
#ifndef IOTAD_INGEST_CLUSTER_H
#define IOTAD_INGEST_CLUSTER_H

#include "bus/pipe.h"
#include "ingest/ingest.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ingest_cluster ingest_cluster;

/* Starts the bus when cfg.cluster is set (s->cluster; NULL without), its outcomes and
 * deliveries run on loop (the loop thread's device loop): 0, or -1 (a bad URL, printed). An
 * unreachable broker is not an error: ingest is refused until it is reachable. */
int ingest_cluster_start(struct server *s, uv_loop_t *loop);
/* Loop thread, from ingest_submit: publishes the batch (its points are copied, the batch is
 * left to the caller); ack runs once the broker confirmed it (or with INGEST_ERR_UNAVAILABLE
 * when it did not). A refusal (the bus is down) returns INGEST_ERR_UNAVAILABLE with err. */
ingest_status ingest_cluster_publish(struct server *s, struct dev_live *d, ingest_batch *b,
                                     transport t, ingest_ack_fn ack, void *arg, ingest_error *err);
/* The detection watermark reached w: acks the messages whose points are detected. */
void ingest_cluster_detected(struct server *s, int64_t w);
/* Whether ingest through the bus is possible now; why (cap bytes) when not. */
bool ingest_cluster_ready(struct server *s, char *why, size_t cap);
/* The bus's counters for /metrics: false without cluster mode. */
bool ingest_cluster_stats(struct server *s, bus_pipe_stats *out);
/* Stop taking deliveries (first thing of a graceful stop). */
void ingest_cluster_pause(struct server *s);
/* After the writer and the detectors have stopped: acks what they finished, waits for the
 * confirms in flight, closes the bus. */
void ingest_cluster_stop(struct server *s);

#endif
