/* Loop-side handling of detection: stores anomaly episodes coming from the shards (one row
 * per episode, updated while it continues), streams them, persists detector snapshots, and
 * (re)loads the rules into the shards. */
#ifndef IOTAD_API_ANOMALIES_H
#define IOTAD_API_ANOMALIES_H

#include <stdint.h>

struct server;
struct shard_event;

void anomalies_on_events(void *server, struct shard_event *events);
/* Writes the detection watermark if it moved since it was last written (the 1 s tick and the
 * stop; anomaly batches write it in their own transaction). */
void anomalies_persist_watermark(struct server *s);
/* The detection watermark of the previous run (0 for a new database). */
int64_t anomalies_saved_watermark(struct server *s);
/* At start, before ingest: hands the points committed after the saved watermark (acknowledged
 * but not yet processed when the previous run ended) to the shards, in commit order. */
int anomalies_replay(struct server *s, int64_t after);
/* Points processed by the detector shards so far (for /metrics). */
uint64_t anomalies_detector_points(struct server *s);
/* Reads enabled rules from the database and hands them to the shards. */
int anomalies_load_rules(struct server *s);
/* Feeds saved detector states to the shards (before ingest starts). */
int anomalies_preload_snapshots(struct server *s);

#endif
