/* MQTT device endpoint policy: CONNECT authentication (username = device id, password =
 * API key), the per-device topic ACL (devices/{id}/telemetry), payload decoding, PUBACK
 * after durability, and back-pressure (reading pauses while the ingest queue is full). */
#ifndef IOTAD_INGEST_MQTT_INGEST_H
#define IOTAD_INGEST_MQTT_INGEST_H

#include "mqtt/mqtt_server.h"

struct server;
const mqtt_callbacks *mqtt_ingest_callbacks(void);
/* Resumes connections paused by back-pressure (called when the writer drains). */
void mqtt_ingest_resume_all(struct server *s);

#endif
