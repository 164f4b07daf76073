/* The live stream at /api/v1/stream (WebSocket) for users: the hub. Browsers subscribe to
 * points, device status changes, anomalies, alerts and incidents of the devices their role
 * may see. The hub is an event listener (core/events.h) that server.c subscribes to the
 * server's sink; devices streaming telemetry on the same URL are handed to
 * ingest/ws_ingest.c. */
#ifndef IOTAD_API_STREAM_H
#define IOTAD_API_STREAM_H

#include "core/events.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct stream_hub stream_hub;

stream_hub *stream_hub_new(void);
void stream_hub_free(stream_hub *h);
/* The listener to subscribe to the event sink: renders each event as one JSON message to
 * every subscriber allowed to see its device. */
ev_listener stream_hub_listener(stream_hub *h);
bool stream_has_subscribers(const stream_hub *h);
void stream_close_all(stream_hub *h);
size_t stream_subscriber_count(const stream_hub *h);

/* Points per rendered message; more are counted in "truncated". */
#define STREAM_MAX_POINTS 1000
/* An EV_POINTS event as JSON {"type":type,"device_id":...,"points":[{metric,ts,value}...]}
 * ("type" left out when NULL), shared by the WebSocket stream and the MQTT subscriptions.
 * malloc'd; NULL on allocation failure. */
char *stream_render_points(const ev_event *e, const char *type);

#endif
