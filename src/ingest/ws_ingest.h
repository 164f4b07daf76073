/* Devices streaming telemetry over a WebSocket (/api/v1/stream with an API key): each text
 * frame is iotad JSON, acknowledged with {"type":"ack","seq":n,"accepted":k} once durable or
 * answered {"type":"error",...}. The transport adapter beside mqtt_ingest.c; the API route
 * hands it the upgraded request. */
#ifndef IOTAD_INGEST_WS_INGEST_H
#define IOTAD_INGEST_WS_INGEST_H

#include "http/http_server.h"

struct server;
struct dev_live;
typedef struct ws_ingest ws_ingest;

ws_ingest *ws_ingest_new(struct server *s);
void ws_ingest_free(ws_ingest *w);
/* Switches the request to WebSocket for device d (authenticated by its key) and greets it.
 * 0: accepted; WS_INGEST_NOMEM: nothing sent (the caller answers); WS_INGEST_REFUSED: not a
 * valid upgrade, answered 400. */
enum { WS_INGEST_NOMEM = -1, WS_INGEST_REFUSED = -2 };
int ws_ingest_accept(ws_ingest *w, http_conn *c, const http_request *req, struct dev_live *d);
/* Starts the close handshake of every device connection (server stop). */
void ws_ingest_close_all(ws_ingest *w);

#endif
