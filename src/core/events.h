/* The event sink: producers (ingest, device state, anomalies, alerts, incidents) announce
 * what happened as typed events; listeners that server.c subscribes (the live-stream hub,
 * later a cluster bus) decide what to do with them. Producers never name a listener, so
 * lower layers need not call up (redis notify.c's keyspace events, mosquitto's MOSQ_EVT_*
 * callbacks). Loop thread only: emit calls every listener synchronously, and what an event
 * points to is valid only during the call. */
#ifndef IOTAD_CORE_EVENTS_H
#define IOTAD_CORE_EVENTS_H

#include "core/point.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    EV_POINTS,        /* a device's points are durable */
    EV_DEVICE_STATUS, /* a device went online or offline */
    EV_ANOMALY,       /* an anomaly was stored or changed */
    EV_ALERT,         /* an alert was stored or changed */
    EV_INCIDENT,      /* an incident was stored or changed */
    EV_TYPE_COUNT
} ev_type;

typedef struct {
    ev_type type;
    const char *device_id; /* "" when the event concerns no device */
    const char *owner_id;  /* the device's owner ("" when none): who besides staff may see it */
    union {
        struct {
            const ingest_point *v;
            size_t n;
        } points; /* EV_POINTS */
        struct {
            bool online;
            int64_t ts_ms;
        } status;            /* EV_DEVICE_STATUS */
        const cJSON *record; /* EV_ANOMALY, EV_ALERT, EV_INCIDENT: the row as the API shows it */
    } u;
} ev_event;

typedef struct {
    void (*on_event)(void *arg, const ev_event *e);
    /* Whether the listener wants events of this type right now (e.g. it has subscribers), so a
     * producer can skip building one; NULL: every event. */
    bool (*wants)(void *arg, ev_type t);
    void *arg;
} ev_listener;

#define EV_MAX_LISTENERS 4

typedef struct {
    ev_listener l[EV_MAX_LISTENERS];
    int n;
} ev_sink;

/* Adds a listener; -1 when the sink is full. */
int ev_subscribe(ev_sink *sink, const ev_listener *l);
/* True when some listener wants events of type t: build the event only then. */
bool ev_wanted(const ev_sink *sink, ev_type t);
/* Hands the event to every listener that wants it. */
void ev_emit(const ev_sink *sink, const ev_event *e);
const char *ev_type_name(ev_type t); /* "points", "device_status", "anomaly", ... */

#endif
