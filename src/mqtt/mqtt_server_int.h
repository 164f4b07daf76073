/* Internals shared by the MQTT server files: mqtt_server.c (sockets, buffers, timers, lifecycle)
 * and mqtt_handle.c (what each packet does). Loop thread only. Not a public API. */
#ifndef IOTAD_MQTT_SERVER_INT_H
#define IOTAD_MQTT_SERVER_INT_H

#include "mqtt/mqtt_codec.h"
#include "net/tls.h"
#include "mqtt/mqtt_server.h"

#define READ_BUF_SIZE 65536
#define WRITE_HIGH_WATER 65536 /* queued output that stops reading until it drains */
#define LINGER_MS 2000         /* how long a closing connection waits for the peer's EOF */
#define STOP_LINGER_MS 500
#define REASON_STRING_MAX 256 /* longest reason string iotad sends */

enum { CS_AWAIT_CONNECT, CS_CONNECTED, CS_CLOSING, CS_CLOSED };

typedef struct write_req {
    uv_write_t req;
    struct mqtt_conn *c;
    uint8_t *buf;
    size_t len;
} write_req;

typedef struct mqtt_will_copy {
    char *topic;
    uint8_t *payload;
    uint16_t topic_len, payload_len;
    uint8_t qos;
    bool retain;
} mqtt_will_copy;

struct mqtt_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;     /* CONNECT deadline, then keepalive (1.5 x) */
    bool timer_on;        /* initialised (holds a reference until closed) */
    mqtt_will_copy *will; /* kept from CONNECT until a normal DISCONNECT or the close */
    mqtt_server *srv;     /* valid while the handle is open */
    mqtt_conn *prev, *next;
    mqtt_conn *dirty_next;
    uint32_t refs;
    uint8_t state, version;
    bool reading, dirty, need_drain, paused_app, paused_flow, paused_write;
    bool in_read; /* inside on_read: replies are flushed when it returns */
    bool shutdown_started, request_problem_info, session_expiry_zero;
    uint16_t keepalive, inflight;
    uint32_t client_max_packet; /* 0 = no limit */
    uint64_t accepted_ms, last_rx_ms, close_deadline_ms;
    /* Unprocessed input: one incomplete packet (in_total = its size once the header is
     * known) while reading, or anything left over while paused. */
    uint8_t *in;
    size_t in_len, in_cap, in_total;
    uint8_t *out;
    size_t out_len, out_cap;
    write_req *wreq;      /* at most one write in flight */
    struct tls_conn *tls; /* TLS listener: out holds plaintext until flushed, sealed there */
    void *data;
    const mqtt_callbacks *cb; /* the connection's handler: &srv->cb unless set_handler */
    void *ud;
    char peer[64]; /* "[ipv6]:port" fits */
    char addr[48]; /* the peer's address without the port */
    bool admitted; /* counted in srv->opt.limits */
};

struct mqtt_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t tick;
    uv_idle_t idle;
    mqtt_server_options opt;
    mqtt_callbacks cb;
    void *ud;
    mqtt_conn *conns; /* every connection whose handle is not closed yet */
    mqtt_conn *dirty; /* connections to flush / drain at the next idle callback */
    bool idle_active, stopping, listener_closed, finishing;
    int aux_open;
    int port;
    void (*done)(void *);
    void *done_arg;
    mqtt_server_stats st;
    uint64_t refusal_logged_ms;
    unsigned accepts_this_turn;
    bool accept_deferred;
    uint8_t rbuf[READ_BUF_SIZE];
};

static inline bool conn_active(const mqtt_conn *c)
{
    return c->state == CS_AWAIT_CONNECT || c->state == CS_CONNECTED;
}

static inline bool conn_can_process(const mqtt_conn *c)
{
    return conn_active(c) && !c->paused_app && !c->paused_flow && !c->paused_write;
}

/* mqtt_server.c */

/* Ends the MQTT conversation: for an accepted v5 connection with disconnect_reason >= 0, a
 * DISCONNECT is queued first; on_close is called for accepted connections; queued output is
 * flushed before the socket closes. No-op if already closing. */
void mqtt_srv_close(mqtt_conn *c, mqtt_close_reason why, int disconnect_reason);
/* Queues one encoded packet (n from an encoder; n <= 0 is ignored). False if the connection
 * is closed or out of memory (then it is being closed). */
bool mqtt_srv_out_append(mqtt_conn *c, const uint8_t *p, int n);
/* Room for n more output bytes at c->out + c->out_len; -1 on OOM (the caller closes). */
int mqtt_srv_out_reserve(mqtt_conn *c, size_t n);
/* Accounts for a packet of n bytes just written at c->out + c->out_len. */
void mqtt_srv_out_commit(mqtt_conn *c, size_t n);
/* Stops reading when the connection is paused (resuming goes through mqtt_srv_schedule). */
void mqtt_srv_update_reading(mqtt_conn *c);
/* Flushes (and, if need_drain, processes buffered input) at the next loop iteration. */
void mqtt_srv_schedule(mqtt_conn *c);
/* Accepted CONNECT: the connection's timer now watches 1.5 x keepalive (or nothing). */
void mqtt_srv_arm_keepalive(mqtt_conn *c);
void mqtt_srv_will_free(mqtt_conn *c);

/* mqtt_handle.c */

/* One complete packet; body holds fh->remaining_len bytes. */
void mqtt_srv_handle_packet(mqtt_conn *c, const mqtt_fixed_header *fh, const uint8_t *body);
/* Counts and logs a violation, then closes (v5 connected clients get DISCONNECT reason). */
void mqtt_srv_protocol_error(mqtt_conn *c, int err, uint8_t reason);
/* Queues a v5 DISCONNECT with reason (no-op for 3.1.1). */
void mqtt_srv_send_disconnect(mqtt_conn *c, uint8_t reason);

#endif
