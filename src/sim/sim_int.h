/* Internals shared by sim.c (start-up on the server's loop thread: provisioning devices and
 * keys, starting and stopping the thread) and sim_client.c (the simulator thread: its own
 * uv_loop_t, one TCP client per device, fault injection). Nothing here is used by other
 * modules. */
#ifndef IOTAD_SIM_SIM_INT_H
#define IOTAD_SIM_SIM_INT_H

#include "auth/token.h"
#include "core/util.h"
#include "sim/sim.h"
#include "sim/sim_models.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define SIM_INTERVAL_MS 5000 /* telemetry period of every device (jittered +-10%) */
#define SIM_BURST_FACTOR 20  /* a compromised camera's rate multiplier */
#define SIM_TICK_MS 100      /* scheduler resolution */
#define SIM_KEEPALIVE_S 30   /* MQTT keep-alive; PINGREQ after half of it idle */
#define SIM_MAX_INFLIGHT 8   /* unacknowledged QoS 1 PUBLISHes per device */
#define SIM_HTTP_QUEUE 12    /* samples an HTTP device holds while a POST is pending */
#define SIM_CONNECT_TIMEOUT_MS 10000
#define SIM_HTTP_TIMEOUT_MS 30000
#define SIM_BACKOFF_MIN_MS 1000
#define SIM_BACKOFF_MAX_MS 30000
#define SIM_WARMUP_MS (5 * 60000) /* no data faults or dropouts before this */
#define SIM_RBUF 4096
#define SIM_KEY_NAME "simulator" /* api_keys.name of the keys the simulator creates */

typedef struct sim_conn sim_conn;

typedef struct sim_dev {
    struct sim *sim;
    size_t index;
    char id[UUID_STR_LEN + 1];
    char key[AUTH_APIKEY_MAX_LEN + 1];
    char name[96];
    char topic[96];
    sim_type type;
    bool mqtt;
    int version;  /* MQTT 4 (3.1.1) or 5 */
    int qos;      /* 0 or 1 */
    size_t batch; /* HTTP: samples per POST */
    sim_model model;
    sim_rng rng;                  /* behaviour: jitter, faults */
    struct sockaddr_in home;      /* source address (loopback) */
    struct sockaddr_in alt;       /* the new source of a new_source fault */
    struct sockaddr_in probe_src; /* where an auth-failure burst comes from */
    sim_conn *conn;
    uint64_t next_sample, reconnect_at, dropout_until, burst_until, next_probe;
    uint32_t backoff_ms;
    uint16_t last_pid;
    int inflight;
    int probes_left;         /* auth-failure burst in progress */
    const char *acl_pending; /* set (to the trigger): the next sample goes to another topic */
    const char *bad_pending; /* set (to the trigger): the next payload is malformed */
    bool alt_source;         /* the next connection comes from a new address */
    size_t nq;               /* HTTP queue */
    int64_t *qts;
    sim_sample *q;
    uint64_t sent, acked, rejected, dropped;
} sim_dev;

struct sim {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    uv_timer_t tick;
    bool loop_ready, thread_started, stopping;
    struct sockaddr_storage mqtt_addr, http_addr;
    bool bind_sources; /* targets are on 127.0.0.0/8: devices use their own source address */
    char http_host[80];
    sim_dev *devs;
    size_t ndev;
    sim_conn *conns; /* every open connection (device and probe) */
    sim_rng rng;
    uint64_t started, next_roll, next_stats;
    int opening;                /* next entry of the opening attack schedule */
    int backfill_days;          /* history to send before going live (a new fleet), 0 = none */
    atomic_bool stop_requested; /* set by the server's thread; read while backfilling */
};

/* sim_client.c: the simulator thread. Called on the server's loop thread before the thread
 * starts: initialises the loop, timer and async handles. 0 ok. */
int sim_client_init(struct sim *sm);
void sim_client_thread(void *arg);
/* From the server's loop thread: asks the thread to close everything and return. */
void sim_client_request_stop(struct sim *sm);
/* When the thread could not be started: closes the handles and the loop on this thread. */
void sim_client_abort(struct sim *sm);

/* sim_backfill.c, on the simulator thread before its loop runs: sends every device's last `days`
 * of telemetry through the HTTP ingest (stepping the models, so live data continues from
 * there). 0 ok, -1 when the server refused or went away (the simulator then just goes live). */
int sim_backfill(struct sim *sm, int days);

#endif
