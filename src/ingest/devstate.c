/* Device liveness and security telemetry. All on the loop thread. Status transitions are
 * stored (devices.status, device_events) and streamed; counters are flushed every
 * sys_interval_s (10 s) as sys.* points through the normal ingest writer, so the detectors watch
 * security behaviour as they watch sensor values. A counter becomes a point only when it is
 * non-zero or was non-zero in the previous interval (the return to zero is recorded once): an
 * idle device stores nothing and costs the detectors nothing, and the security detectors learn
 * the skipped zeros from the timestamps. Source addresses are learned per device (a few
 * fingerprints, saved in detector_state as metric "(addresses)") and a known device that
 * shows up from a new address raises an anomaly at once. */
#include "ingest/devstate.h"

#include "auth/token.h"
#include "core/hmap.h"
#include "core/log.h"
#include "core/server.h"
#include "pipeline/shards.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "store/writer.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_PER_SECOND 50      /* device_events rows written per second at most */
#define ADDR_LEARN 10             /* connections and messages learned before a new address alerts */
#define ADDR_METRIC "(addresses)" /* detector_state row holding a device's address set */

typedef struct {
    char device_id[UUID_STR_LEN + 1];
    char hash[65];
    bool revoked;
} key_entry;

struct devstate {
    server *s;
    hmap *devices;        /* id -> dev_live */
    hmap *keys;           /* prefix -> key_entry */
    dev_live **graveyard; /* removed devices, freed with the devstate (connections may hold them) */
    size_t ngraveyard;
    int64_t last_flush_ms;
    int64_t event_window_ms;
    unsigned events_in_window, events_dropped;
    devstate_events_fn on_events;
    void *events_arg;
};

const char *sec_event_name(sec_event ev)
{
    static const char *const names[] = {"auth_failure",   "acl_violation", "bad_payload",
                                        "unknown_device", "revoked_key",   "connect"};
    return ev <= SEC_CONNECT ? names[ev] : "unknown";
}

devstate *devstate_new(server *s)
{
    devstate *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->s = s;
    ds->devices = hmap_new();
    ds->keys = hmap_new();
    ds->last_flush_ms = util_now_ms();
    if (!ds->devices || !ds->keys) {
        devstate_free(ds);
        return NULL;
    }
    return ds;
}

void devstate_free(devstate *ds)
{
    if (!ds) return;
    hmap_free(ds->devices, free);
    hmap_free(ds->keys, free);
    for (size_t i = 0; i < ds->ngraveyard; i++)
        free(ds->graveyard[i]);
    free(ds->graveyard);
    free(ds);
}

void devstate_add(devstate *ds, const char *device_id, const char *owner_id)
{
    dev_live *d = hmap_get(ds->devices, device_id);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d) return;
        snprintf(d->id, sizeof d->id, "%s", device_id);
        int ok;
        hmap_put(ds->devices, device_id, d, &ok);
        if (!ok) {
            free(d);
            return;
        }
    }
    snprintf(d->owner_id, sizeof d->owner_id, "%s", owner_id ? owner_id : "");
}

void devstate_set_owner(devstate *ds, const char *device_id, const char *owner_id)
{
    dev_live *d = hmap_get(ds->devices, device_id);
    if (d) snprintf(d->owner_id, sizeof d->owner_id, "%s", owner_id ? owner_id : "");
}

void devstate_remove(devstate *ds, const char *device_id)
{
    dev_live *d = hmap_remove(ds->devices, device_id);
    if (d) {
        d->deleted = true;
        d->online = false;
        dev_live **g = realloc(ds->graveyard, (ds->ngraveyard + 1) * sizeof *g);
        if (g) {
            ds->graveyard = g;
            g[ds->ngraveyard++] = d;
        }
    }
    /* cached keys of the device become unreachable: drop them all (rare operation) */
    size_t it = 0;
    const char *k;
    void *v;
    char prefixes[64][16];
    int n = 0;
    while (hmap_next(ds->keys, &it, &k, &v) && n < 64) {
        if (strcmp(((key_entry *)v)->device_id, device_id) == 0)
            snprintf(prefixes[n++], sizeof prefixes[0], "%s", k);
    }
    for (int i = 0; i < n; i++)
        free(hmap_remove(ds->keys, prefixes[i]));
}

void devstate_set_type(devstate *ds, const char *device_id, const char *type)
{
    dev_live *d = hmap_get(ds->devices, device_id);
    if (d) snprintf(d->type, sizeof d->type, "%s", type ? type : "");
}

dev_live *devstate_get(devstate *ds, const char *device_id)
{
    return hmap_get(ds->devices, device_id);
}

size_t devstate_count(devstate *ds, size_t *online)
{
    size_t it = 0, on = 0;
    void *v;
    while (hmap_next(ds->devices, &it, NULL, &v))
        if (((dev_live *)v)->online) on++;
    if (online) *online = on;
    return hmap_size(ds->devices);
}

static void load_device(void *arg, const char *id, const char *owner_id, int64_t last_seen_ms,
                        const char *type)
{
    devstate *ds = arg;
    devstate_add(ds, id, owner_id);
    dev_live *d = hmap_get(ds->devices, id);
    if (d) {
        d->last_seen_ms = d->last_seen_stored_ms = last_seen_ms;
        snprintf(d->type, sizeof d->type, "%s", type);
    }
}

static void load_addresses(void *arg, const char *device_id, const char *metric, const void *blob,
                           size_t len)
{
    (void)metric;
    dev_live *d = hmap_get(((devstate *)arg)->devices, device_id);
    if (d && blob && det_addrset_restore(&d->addrs, blob, len) != 0)
        log_warn("address_set_restore_failed", "device=%s action=relearn", d->id);
}

int devstate_load(devstate *ds)
{
    store *st = ds->s->st;
    if (STORE_DEVICES(st)->scan(st, load_device, ds) != STORE_OK) return -1;
    STORE_STATE(st)->scan(st, ADDR_METRIC, load_addresses, ds);
    /* Nobody is connected right after a start: every device begins offline. */
    STORE_DEVICES(st)->all_offline(st);
    return 0;
}

dev_live *devstate_authenticate(devstate *ds, const char *device_id, const char *key,
                                size_t key_len, const char **why, bool *revoked)
{
    char prefix[16];
    *revoked = false;
    if (auth_apikey_parse(key, key_len, prefix) != 0) {
        *why = "malformed API key";
        return NULL;
    }
    key_entry *e = hmap_get(ds->keys, prefix);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            *why = "out of memory";
            return NULL;
        }
        int64_t revoked_at = -1;
        if (STORE_DEVICES(ds->s->st)->key_lookup(ds->s->st, prefix, e->device_id,
                                                 sizeof e->device_id, e->hash, sizeof e->hash,
                                                 &revoked_at) != STORE_OK) {
            free(e);
            *why = "unknown API key";
            return NULL;
        }
        e->revoked = revoked_at >= 0;
        int ok;
        hmap_put(ds->keys, prefix, e, &ok);
        if (!ok) {
            free(e);
            *why = "out of memory";
            return NULL;
        }
    }
    char hash[65];
    auth_apikey_hash(key, key_len, hash);
    if (!util_ct_equal(hash, e->hash, 64)) {
        *why = "wrong API key";
        return NULL;
    }
    if (e->revoked) {
        *revoked = true;
        *why = "revoked API key";
        return NULL;
    }
    if (device_id && strcmp(device_id, e->device_id) != 0) {
        *why = "API key belongs to another device";
        return NULL;
    }
    dev_live *d = hmap_get(ds->devices, e->device_id);
    if (!d) *why = "device no longer exists";
    return d;
}

void devstate_forget_key(devstate *ds, const char *prefix)
{
    free(hmap_remove(ds->keys, prefix));
}

static void record_event(devstate *ds, const char *device_id, const char *category,
                         const char *kind, transport t, const char *peer, const char *detail)
{
    int64_t now = util_now_ms();
    if (now - ds->event_window_ms >= 1000) {
        if (ds->events_dropped)
            log_warn("device_events_rate_limited", "dropped=%u", ds->events_dropped);
        ds->event_window_ms = now;
        ds->events_in_window = ds->events_dropped = 0;
    }
    if (++ds->events_in_window > EVENTS_PER_SECOND && strcmp(category, "status") != 0) {
        ds->events_dropped++;
        return;
    }
    STORE_DEVICES(ds->s->st)->event_add(ds->s->st, now, device_id, category, kind,
                                        transport_name(t), peer, detail);
}

void devstate_event(devstate *ds, dev_live *d, const char *category, const char *kind, transport t,
                    const char *peer, const char *detail)
{
    record_event(ds, d->id, category, kind, t, peer, detail);
}

static void set_status(devstate *ds, dev_live *d, bool online, transport t, const char *peer,
                       const char *reason)
{
    if (d->online == online) return;
    d->online = online;
    int64_t now = util_now_ms();
    const char *status = online ? "online" : "offline";
    STORE_DEVICES(ds->s->st)->set_status(ds->s->st, d->id, status,
                                         d->last_seen_ms ? d->last_seen_ms : now);
    d->last_seen_stored_ms = d->last_seen_ms;
    record_event(ds, d->id, "status", status, t, peer, reason);
    log_info("device_status", "device=%s status=%s transport=%s reason=\"%s\"", d->id, status,
             transport_name(t), reason ? reason : "");
    ev_event e = {.type = EV_DEVICE_STATUS, .device_id = d->id, .owner_id = d->owner_id};
    e.u.status.online = online;
    e.u.status.ts_ms = now;
    ev_emit(&ds->s->events, &e);
}

/* The host part of "a.b.c.d:port" / "[v6]:port" into host; hashes of the address and of its
 * network (IPv4 /24, IPv6 /64; an IPv4-mapped IPv6 address counts as IPv4). -1 if unparsable. */
static int peer_fingerprints(const char *peer, char *host, size_t cap, uint64_t *addr,
                             uint64_t *net)
{
    const char *colon = strrchr(peer, ':');
    const char *start = peer;
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        start++;
        n -= 2;
    }
    if (n == 0 || n >= cap) return -1;
    memcpy(host, start, n);
    host[n] = '\0';
    uint8_t b[16];
    size_t len, netlen;
    if (inet_pton(AF_INET, host, b) == 1) {
        len = 4;
        netlen = 3;
    } else if (inet_pton(AF_INET6, host, b) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            memmove(b, b + 12, 4);
            len = 4;
            netlen = 3;
        } else {
            len = 16;
            netlen = 8;
        }
    } else {
        return -1;
    }
    uint64_t h = 1469598103934665603ULL, hn = 0;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
        if (i + 1 == netlen) hn = h;
    }
    *addr = h ^ len;
    *net = hn ^ (len << 8);
    return 0;
}

static void new_address_anomaly(devstate *ds, dev_live *d, transport t, const char *host,
                                det_addr_verdict v)
{
    int known = det_addrset_count(&d->addrs) - 1;
    char text[256];
    snprintf(text, sizeof text,
             "connected from %s: %s (%d known address%s, learned over %u connections and "
             "messages)",
             host,
             v == DET_ADDR_NEW_NETWORK ? "a network it never used before"
                                       : "a new address in a network it used before",
             known, known == 1 ? "" : "es", (unsigned)d->addrs.seen - 1);
    record_event(ds, d->id, "security", "new_source_address", t, host, text);
    log_warn("security_event",
             "kind=new_source_address device=%s transport=%s peer=%s detail=\"%s\"", d->id,
             transport_name(t), host, text);
    if (!ds->on_events) return;
    shard_event *open = calloc(1, sizeof *open), *close = calloc(1, sizeof *close);
    if (!open || !close) {
        free(open);
        free(close);
        return;
    }
    open->kind = SHARD_EV_OPEN;
    util_uuid7(open->anomaly_id);
    snprintf(open->device_id, sizeof open->device_id, "%s", d->id);
    snprintf(open->metric, sizeof open->metric, "sys.new_sources");
    snprintf(open->device_type, sizeof open->device_type, "%s", d->type);
    open->ts_ms = util_now_ms();
    /* a new network is worth a look; roaming devices and neighbours in a known network less */
    open->level =
        v == DET_ADDR_NEW_NETWORK && !d->addrs.roaming ? DET_LEVEL_WARNING : DET_LEVEL_INFO;
    open->value = open->lo = open->hi = NAN;
    open->score = 1;
    snprintf(open->description, sizeof open->description, "%s", text);
    snprintf(open->detectors, sizeof open->detectors, "[{\"name\":\"security\",\"score\":1}]");
    /* one event, not a state: the episode ends where it starts */
    *close = *open;
    close->kind = SHARD_EV_CLOSE;
    close->next = NULL;
    open->next = close;
    ds->on_events(ds->events_arg, open);
    shard_events_free(open);
}

static void note_peer(devstate *ds, dev_live *d, transport t, const char *peer)
{
    char host[64];
    uint64_t addr, net;
    if (!peer || peer_fingerprints(peer, host, sizeof host, &addr, &net) != 0) return;
    int before = det_addrset_count(&d->addrs);
    det_addr_verdict v = det_addrset_observe(&d->addrs, addr, net, ADDR_LEARN);
    /* the set changed (a new address, or learning just ended): save it at the next flush */
    if (det_addrset_count(&d->addrs) != before || d->addrs.seen == ADDR_LEARN)
        d->addrs_dirty = true;
    if (v == DET_ADDR_KNOWN) return;
    d->addrs_dirty = true;
    d->new_sources++;
    d->active = true;
    new_address_anomaly(ds, d, t, host, v);
}

void devstate_seen(devstate *ds, dev_live *d, transport t, const char *peer, size_t bytes,
                   size_t points)
{
    d->last_seen_ms = util_now_ms();
    d->messages++;
    d->bytes_in += bytes;
    d->points += points;
    d->active = true;
    note_peer(ds, d, t, peer);
    if (!d->online) set_status(ds, d, true, t, peer, "data received");
}

void devstate_mqtt_connected(devstate *ds, dev_live *d, const char *peer)
{
    d->mqtt_conns++;
    d->connects++;
    d->active = true;
    d->last_seen_ms = util_now_ms();
    note_peer(ds, d, TRANSPORT_MQTT, peer);
    set_status(ds, d, true, TRANSPORT_MQTT, peer, "mqtt connected");
}

void devstate_mqtt_disconnected(devstate *ds, dev_live *d, const char *reason)
{
    if (d->mqtt_conns > 0) d->mqtt_conns--;
    if (d->mqtt_conns == 0 && d->ws_conns == 0)
        set_status(ds, d, false, TRANSPORT_MQTT, NULL, reason);
}

void devstate_ws_connected(devstate *ds, dev_live *d, const char *peer, bool connected)
{
    if (connected) {
        d->ws_conns++;
        d->connects++;
        d->active = true;
        d->last_seen_ms = util_now_ms();
        note_peer(ds, d, TRANSPORT_WS, peer);
        set_status(ds, d, true, TRANSPORT_WS, peer, "websocket connected");
    } else {
        if (d->ws_conns > 0) d->ws_conns--;
        if (d->ws_conns == 0 && d->mqtt_conns == 0)
            set_status(ds, d, false, TRANSPORT_WS, NULL, "websocket closed");
    }
}

void devstate_security(devstate *ds, dev_live *d, const char *device_hint, sec_event ev,
                       transport t, const char *peer, const char *detail)
{
    if (d) {
        d->active = true;
        switch (ev) {
        case SEC_AUTH_FAILURE:
        case SEC_REVOKED_KEY:
            d->auth_failures++;
            break;
        case SEC_ACL_VIOLATION:
            d->acl_violations++;
            break;
        case SEC_BAD_PAYLOAD:
            d->bad_payloads++;
            break;
        default:
            break;
        }
    }
    record_event(ds, d ? d->id : NULL, "security", sec_event_name(ev), t, peer, detail);
    log_warn("security_event", "kind=%s device=%s transport=%s peer=%s detail=\"%s\"",
             sec_event_name(ev), d ? d->id : (device_hint ? device_hint : "-"), transport_name(t),
             peer ? peer : "-", detail ? detail : "");
}

/* Security series are durable first, then watched by the detectors like any other series. */
static void sys_durable(writer_job *job, int status, void *arg)
{
    ingest_to_detectors(arg, job, status);
}

static void flush_sys(devstate *ds, dev_live *d, int64_t now)
{
    static const char *const names[] = {
        "sys.connects", "sys.auth_failures", "sys.acl_violations", "sys.bad_payloads",
        "sys.messages", "sys.bytes_in",      "sys.new_sources"};
    const double v[] = {d->connects, d->auth_failures,    d->acl_violations, d->bad_payloads,
                        d->messages, (double)d->bytes_in, d->new_sources};
    uint8_t nonzero = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] != 0) nonzero |= (uint8_t)(1u << i);
    uint8_t emit = nonzero | d->sys_nonzero;
    d->sys_nonzero = nonzero;
    d->connects = d->auth_failures = d->acl_violations = d->bad_payloads = d->messages = 0;
    d->new_sources = 0;
    d->bytes_in = d->points = 0;
    d->active = false;
    if (!emit) return;
    ingest_batch b;
    ingest_batch_init(&b, 0);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (emit & (1u << i)) ingest_batch_push(&b, names[i], strlen(names[i]), now, v[i]);
    writer_job *j = ingest_job_from_batch(d->id, &b, sys_durable, ds->s);
    if (j) j->internal = true; /* iotad's own series: never refused for the device's limit */
    if (j) {
        snprintf(j->device_type, sizeof j->device_type, "%s", d->type);
        ds->s->m.sys_points += j->n;
        writer_submit(ds->s->writer, j);
    }
    ingest_batch_free(&b);
}

static void save_addresses(devstate *ds, dev_live *d)
{
    uint8_t blob[DET_ADDRSET_SNAP_SIZE];
    size_t n = det_addrset_snapshot(&d->addrs, blob, sizeof blob);
    if (!n) return;
    if (STORE_STATE(ds->s->st)->put(ds->s->st, d->id, ADDR_METRIC, blob, n, util_now_ms()) ==
        STORE_OK)
        d->addrs_dirty = false;
    else
        log_warn("address_set_save_failed", "device=%s", d->id);
}

void devstate_tick(devstate *ds, int64_t now_ms)
{
    int64_t timeout = ds->s->cfg.offline_timeout_s * 1000;
    bool flush = now_ms - ds->last_flush_ms >= ds->s->cfg.sys_interval_s * 1000;
    if (flush) {
        ds->last_flush_ms = now_ms;
        ds->s->m.sys_intervals++;
    }
    size_t it = 0;
    void *v;
    /* one transaction for the whole sweep: one fsync instead of one per device */
    bool tx = flush && store_begin(ds->s->st) == STORE_OK;
    while (hmap_next(ds->devices, &it, NULL, &v)) {
        dev_live *d = v;
        if (d->online && d->mqtt_conns == 0 && d->ws_conns == 0 &&
            now_ms - d->last_seen_ms > timeout)
            set_status(ds, d, false, TRANSPORT_HTTP, NULL, "no data within offline_timeout");
        if (!flush) continue;
        if ((d->active || d->sys_nonzero) && ds->s->writer) flush_sys(ds, d, now_ms);
        if (d->addrs_dirty) save_addresses(ds, d);
        if (d->last_seen_ms > d->last_seen_stored_ms) {
            STORE_DEVICES(ds->s->st)->set_last_seen(ds->s->st, d->id, d->last_seen_ms);
            d->last_seen_stored_ms = d->last_seen_ms;
        }
    }
    if (tx) store_commit_or_rollback(ds->s->st);
}

void devstate_on_events(devstate *ds, devstate_events_fn fn, void *arg)
{
    ds->on_events = fn;
    ds->events_arg = arg;
}

void devstate_save(devstate *ds)
{
    size_t it = 0;
    void *v;
    bool tx = store_begin(ds->s->st) == STORE_OK;
    while (hmap_next(ds->devices, &it, NULL, &v))
        if (((dev_live *)v)->addrs_dirty) save_addresses(ds, v);
    if (tx) store_commit_or_rollback(ds->s->st);
}
