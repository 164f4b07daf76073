/* The server context: everything one running iotad owns, passed explicitly to every
 * subsystem (no globals), so tests can build one. Lives on the event-loop thread. Only the
 * type: src/server.c (the composition root, server.h) creates and wires what it points to. */
#ifndef IOTAD_CORE_SERVER_H
#define IOTAD_CORE_SERVER_H

#include "core/config.h"
#include "core/events.h"
#include "core/hmap.h"
#include "core/metrics.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <uv.h>

struct http_server;
struct mqtt_server;
struct tls_ctx;
struct writer;
struct store_ts;
struct auth_throttle;
struct stream_hub;
struct mqtt_sub_hub;
struct ws_ingest;
struct devstate;
struct sim;
struct iotad_keys_s;
struct bridge;

/* Secrets at rest, wired by server.c to auth/secretbox with the key file's keys, so the
 * modules that store secrets (alert channels) seal and open them without depending on auth/.
 * Results as secretbox_seal / secretbox_open. */
#define SERVER_SEALED_MAX 6000 /* a sealed secret of up to 4096 bytes fits */
typedef struct server_secrets {
    void *keys;
    int (*seal)(void *keys, const char *plain, const char *context, char *out, size_t cap);
    int (*open)(void *keys, const char *sealed, const char *context, char *out, size_t cap);
    bool (*current)(void *keys, const char *sealed); /* sealed with the key that seals now */
} server_secrets;

struct workers;
struct db_gate;

/* Runs work(arg) on a background thread of pool, then done(arg) on the loop thread.
 * 0, or -1 (then neither runs). */
typedef int (*server_offload_fn)(struct workers *pool, void (*work)(void *arg),
                                 void (*done)(void *arg), void *arg);

typedef struct server {
    config cfg;
    uv_loop_t *loop;
    /* the device loop (core/subloop.h), on the loop thread and served first: the MQTT
     * listeners and the writer's completions, so that a burst of HTTP events (a slowloris)
     * does not hold back PUBACKs */
    struct subloop *devloop;
    /* event-loop lag (core/looplag.h) of the main and the device loop */
    struct looplag *lag_main, *lag_dev;
    sqlite3 *db;         /* loop thread: API reads/writes and time-series queries */
    struct store *st;    /* loop thread: the storage interface over db (store/store.h) */
    struct store_ts *ts; /* the time-series store (store/store.h); written by the writer only */
    struct writer *writer;
    struct http_server *http;
    int http_port; /* the port the HTTP listener is bound to (0 before it is) */
    struct mqtt_server *mqtt;
    struct http_server *https; /* TLS listeners, when configured */
    struct mqtt_server *mqtts;
    struct tls_ctx *tls; /* their certificate; SIGHUP reloads it */
    struct auth_throttle *throttle;
    struct auth_throttle *signups;  /* sign-up attempts per source address */
    ev_sink events;                 /* what happened, for the listeners server.c subscribes */
    struct stream_hub *hub;         /* live stream to users (a listener of events) */
    struct mqtt_sub_hub *mqtt_subs; /* MQTT subscriptions of API tokens (a listener of events) */
    struct ws_ingest *ws_ingest;    /* devices streaming over WebSocket */
    struct devstate *devices;       /* live device state and security counters */
    struct sim *sim;
    struct shards *shards;
    struct workers *decoders;      /* large HTTP ingest bodies are decoded here (api_ingest.c) */
    server_offload_fn offload;     /* submits to decoders (wired by server.c); NULL: inline */
    struct reports_state *reports; /* src/report/reports.c */
    struct alerts *alerts;         /* src/alert/alerts.c */
    struct population *population; /* src/api/population.c */
    struct bridge *bridge;         /* bridge mode: ingest from another broker (bridge_url) */
    /* cluster mode: the RabbitMQ bus (ingest/cluster.h); NULL without */
    struct ingest_cluster *cluster;
    void *mqtt_paused;         /* MQTT connections paused by back-pressure (ingest/mqtt_ingest.c) */
    struct iotad_keys_s *keys; /* from the key file; read-only after start (any thread) */
    server_secrets secrets;    /* seal/open with keys (any thread) */
    /* run-time settings (PATCH /settings), wired by server.c: validation by the configuration
     * table (config_set), and telling the module that uses a changed value */
    int (*setting_set)(config *c, const char *key, const char *value, config_source src, char *err,
                       size_t errcap);
    void (*setting_changed)(struct server *s, const char *key);
    /* credentials changed (api/api_tokens.c, api/api_users.c): the MQTT subscribers logged in
     * with the token of this prefix, or any of this user's (NULL: not this criterion), are
     * disconnected; wired by server.c to api/mqtt_sub.c, may be NULL */
    void (*drop_subscribers)(struct server *s, const char *token_prefix, const char *user_id);
    int keys_lock_fd; /* flock held on the key file while running */
    char key_path[CONFIG_STR_MAX + 32];
    char checkpoint_path[CONFIG_STR_MAX + 32];
    int64_t audit_checkpointed; /* seq of the last checkpoint written */
    bool audit_anchored;        /* keys bound: checkpoints are written */
    int64_t audit_keyed_from;
    uint8_t audit_pub[32];    /* Ed25519 public key of the checkpoints */
    struct connlimit *limits; /* connection admission shared by the listeners */
    metrics m;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick; /* 1 s housekeeping */
    bool handles_on; /* tick and signal handles initialised (a failed start may not get there) */
    bool ready, stopping;
    /* detection watermark (api/anomalies.c): applied = reached with its anomalies stored,
     * persisted = written to the database; stuck after a failed anomaly transaction */
    int64_t detect_applied, detect_persisted;
    bool detect_stuck;
    int64_t started_ms;
    int exit_code;
} server;

#endif
