/* Internals shared by the files of the alerts module: the module state (one per server),
 * its settings, and the functions each file offers the others. */
#ifndef IOTAD_ALERT_ALERT_INT_H
#define IOTAD_ALERT_ALERT_INT_H

#include "alert/ssrf.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"
#include "core/server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Settings, from the settings table (keys "alerts.<name>", managed over
 * /api/v1/alert-settings) with defaults; allow_private also from IOTAD_ALERT_ALLOW_PRIVATE. */
typedef struct {
    char public_url[256];   /* dashboard base for links; "" = http://<http_listen> */
    char allow_nets[512];   /* SSRF allow-list, CIDRs */
    char auto_incident[16]; /* lowest severity opening an incident by itself, or "off" */
    int64_t flap_window_ms; /* episodes of one series within this window ... */
    int64_t flap_threshold; /* ... at least this many: flapping, notified once */
    int64_t retry_base_ms;  /* first retry delay (doubles, jittered) */
    int64_t retry_max_ms;   /* cap of the retry delay */
    int64_t max_attempts;   /* then the alert is dead-lettered */
    int64_t timeout_ms;     /* per delivery attempt */
    bool allow_private;
} alert_settings;

typedef struct alert_note alert_note; /* worker -> loop: stream events */

typedef struct alerts {
    server *s;
    char default_url[160];  /* link base when alerts.public_url is not set */
    uv_timer_t timer;       /* loop: escalations, 1 s */
    uv_async_t async;       /* worker -> loop: stream notes */
    uv_timer_t batch_timer; /* loop: new anomalies are handled in batches, next tick */
    char (*batch)[UUID_STR_LEN + 1];
    size_t nbatch, batch_cap;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu; /* guards everything below */
    alert_settings set;
    alert_allow allow;
    bool stop;
    void *multi;  /* CURLM of the worker; curl_multi_wakeup is thread-safe */
    void *worker; /* outbox.c's worker state */
    alert_note *notes;
    /* counters since start, exported by alerts_metrics_text */
    uint64_t created, grouped, suppressed_flapping, attempts, sent, failed_attempts, dead,
        rate_limited, ssrf_refused, escalated;
} alerts;

alerts *alerts_of(server *s);
/* Settings: loads (db of the caller's thread) and copies out under the lock. */
void alerts_settings_load(alerts *a, store *db);
void alerts_settings_get(alerts *a, alert_settings *out);
/* Wakes the delivery worker (new or changed outbox rows). */
void alerts_wake(alerts *a);
/* Pushes an "alert" event of an outbox row to the stream (loop thread). */
void alerts_broadcast_alert(server *s, const char *alert_id);

/* outbox.c: the delivery worker. */
int alert_outbox_start(alerts *a);
void alert_outbox_stop(alerts *a);
int alert_outbox_wakeup(void *multi);
/* Worker thread: queues an "alert changed" note for the loop (stream). */
void alert_outbox_note(alerts *a, const char *alert_id);
/* Builds the frozen payload (JSON) of an alert row from its anomalies; caller frees. */
char *alert_payload_build(store *db, const char *alert_id, const char *public_url);

/* policy.c: policies -> outbox rows (loop thread, inside the caller's transaction). */
/* Applies the policies to a batch of new anomalies in one transaction, advances the
 * alerts.anomaly_watermark setting, then announces and wakes the worker. */
void alert_policy_apply(alerts *a, char (*ids)[UUID_STR_LEN + 1], size_t n);
void alert_escalations_tick(alerts *a);
/* Queues one alert row; returns 0 and its id in id_out (may be NULL). */
int alert_enqueue(alerts *a, store *st, const char *anomaly_id, const char *policy_id,
                  const char *channel_id, const char *method, const char *user_id,
                  const char *recipient, const char *severity, const char *device_id,
                  const char *kind, int64_t group_wait_ms, int64_t group_window_ms, char *id_out);

/* incidents.c */
/* Opens an incident for the anomaly, or links it to the open automatic incident of the
 * same device. Loop thread; broadcasts. */
void incident_auto(server *s, const char *anomaly_id);
/* Appends a timeline entry. */
void incident_event(store *st, const char *incident_id, const char *actor, const char *kind,
                    const char *detail_json);
void incident_broadcast(server *s, const char *incident_id);
/* Links an anomaly (raising the incident's severity); false if it was linked already. */
bool incident_link_anomaly(store *st, const char *incident_id, const char *anomaly_id,
                           const char *actor);
/* {"k1":v1,"k2":v2} (NULL value: null; NULL key: left out); caller frees. */
char *incident_detail_json(const char *k1, const char *v1, const char *k2, const char *v2);

/* The columns of an alert as the API and the live stream show it (table alias "a"). */
#define ALERT_COLUMNS                                                                              \
    "a.id, a.anomaly_id, a.user_id, a.method, a.recipient, a.status, a.attempts, a.created_at, "   \
    "a.sent_at, a.due_at, a.updated_at, a.severity, a.kind, a.count, a.device_id, a.channel_id, "  \
    "a.policy_id, a.last_error, a.acked_at, a.acked_by"

#endif
