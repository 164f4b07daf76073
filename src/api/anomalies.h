/* Loop-side handling of detection: stores anomaly episodes coming from the shards (one row
 * per episode, updated while it continues), streams them, persists detector snapshots, and
 * (re)loads the rules into the shards. */
#ifndef IOTAD_API_ANOMALIES_H
#define IOTAD_API_ANOMALIES_H

struct server;
struct shard_event;

void anomalies_on_events(void *server, struct shard_event *events);
/* Reads enabled rules from the database and hands them to the shards. */
int anomalies_load_rules(struct server *s);
/* Feeds saved detector states to the shards (before ingest starts). */
int anomalies_preload_snapshots(struct server *s);

#endif
