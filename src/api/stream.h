/* The live stream at /api/v1/stream (WebSocket). Browsers subscribe to points, device
 * status changes and anomalies of the devices their role may see; devices stream telemetry
 * as JSON frames (acknowledged once durable). */
#ifndef IOTAD_API_STREAM_H
#define IOTAD_API_STREAM_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct http_conn;
struct writer_job;
typedef struct stream_hub stream_hub;

stream_hub *stream_hub_new(struct server *s);
void stream_hub_free(stream_hub *h);
bool stream_has_subscribers(const stream_hub *h);
/* Sends one JSON event to every subscriber allowed to see device_id (owned by owner_id). */
void stream_broadcast(stream_hub *h, const char *device_id, const char *owner_id, const char *json,
                      size_t len);
/* Publishes the points of a durable ingest job to subscribers of its device. */
void stream_publish_points(stream_hub *h, const struct writer_job *job);
void stream_close_all(stream_hub *h);
size_t stream_subscriber_count(const stream_hub *h);

#endif
