/* Live device state on the loop thread: which devices exist (and who owns them), API-key
 * authentication with a cache, online/offline status from MQTT sessions and last-seen
 * timeouts, and per-device security counters flushed every interval as sys.* series. */
#ifndef IOTAD_INGEST_DEVSTATE_H
#define IOTAD_INGEST_DEVSTATE_H

#include "core/metrics.h"
#include "core/util.h"
#include "detect/security.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct shard_event;
typedef struct devstate devstate;

typedef struct dev_live {
    char id[UUID_STR_LEN + 1];
    char owner_id[UUID_STR_LEN + 1];
    char type[64];
    bool online;
    int mqtt_conns, ws_conns;
    int64_t last_seen_ms, last_seen_stored_ms;
    /* security counters of the current interval */
    uint32_t connects, auth_failures, acl_violations, bad_payloads, messages, new_sources;
    uint64_t bytes_in, points;
    det_addrset addrs;   /* source addresses learned for the device */
    uint8_t sys_nonzero; /* bit i: sys.* counter i was non-zero in the last flushed interval */
    bool addrs_dirty;    /* address set changed since it was saved */
    bool active;         /* anything happened this interval */
    bool deleted;        /* removed while connections may still point here */
    /* ingest rate limits (ingest.c): token buckets and when they were last filled */
    double rate_points, rate_messages;
    int64_t rate_at_ms;
} dev_live;

typedef enum {
    SEC_AUTH_FAILURE,
    SEC_ACL_VIOLATION,
    SEC_BAD_PAYLOAD,
    SEC_UNKNOWN_DEVICE,
    SEC_REVOKED_KEY,
    SEC_CONNECT,
} sec_event;

devstate *devstate_new(struct server *s);
void devstate_free(devstate *ds);
int devstate_load(devstate *ds); /* reads every device from the database */
dev_live *devstate_get(devstate *ds, const char *device_id);
void devstate_add(devstate *ds, const char *device_id, const char *owner_id);
void devstate_set_owner(devstate *ds, const char *device_id, const char *owner_id);
void devstate_set_type(devstate *ds, const char *device_id, const char *type);
void devstate_remove(devstate *ds, const char *device_id);
size_t devstate_count(devstate *ds, size_t *online);

/* Checks an API key. If device_id is non-NULL the key must belong to that device.
 * Returns the device, or NULL with *why set ("unknown key", "revoked key", ...). */
dev_live *devstate_authenticate(devstate *ds, const char *device_id, const char *key,
                                size_t key_len, const char **why, bool *revoked);
void devstate_forget_key(devstate *ds, const char *prefix); /* after revoke/rotate */

/* Activity: marks the device online (emitting a status event on change). */
void devstate_seen(devstate *ds, dev_live *d, transport t, const char *peer, size_t bytes,
                   size_t points);
void devstate_mqtt_connected(devstate *ds, dev_live *d, const char *peer);
void devstate_mqtt_disconnected(devstate *ds, dev_live *d, const char *reason);
void devstate_ws_connected(devstate *ds, dev_live *d, const char *peer, bool connected);
/* Security event: counted for the device (when known) and recorded in device_events
 * (rate-limited so that an attacker cannot flood the database). */
void devstate_security(devstate *ds, dev_live *d, const char *device_hint, sec_event ev,
                       transport t, const char *peer, const char *detail);
/* Once a second: offline timeouts; every interval: sys.* series (only the counters that are
 * non-zero, or were non-zero in the previous interval: a silent device stores nothing),
 * last_seen and learned source addresses. */
void devstate_tick(devstate *ds, int64_t now_ms);
/* Where anomalies found here go (a known device connecting from a new address): the events
 * are the shards' kind, handed over and freed after the call. */
typedef void (*devstate_events_fn)(void *arg, struct shard_event *events);
void devstate_on_events(devstate *ds, devstate_events_fn fn, void *arg);
/* Writes the learned source addresses that changed (at a stop; the tick does it otherwise). */
void devstate_save(devstate *ds);
const char *sec_event_name(sec_event ev);
/* Records a device event (GET /devices/{id}/events), rate-limited with the security events. */
void devstate_event(devstate *ds, dev_live *d, const char *category, const char *kind, transport t,
                    const char *peer, const char *detail);

#endif
