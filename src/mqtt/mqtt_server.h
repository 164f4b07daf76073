/* The built-in MQTT device endpoint: a libuv TCP server speaking MQTT 3.1.1 and 5.0 for
 * devices that publish telemetry (QoS 0 and 1). It is not a broker: it keeps no sessions,
 * refuses QoS 2 and, in MQTT 5, retained messages. SUBSCRIBE is answered with failure codes
 * unless the connection's handler has on_subscribe; the application then delivers QoS 0
 * messages to the connection itself (mqtt_conn_publish), e.g. read-only event topics for
 * integrations. Everything runs on the loop thread; all functions here must be
 * called from it. QoS 1 PUBLISH is acknowledged by the application (mqtt_conn_puback), which
 * may do so later, e.g. once the points are durable. The process must ignore SIGPIPE (libuv
 * writes with write(2)); mqtt_server_start logs a warning if it does not. */
#ifndef IOTAD_MQTT_SERVER_H
#define IOTAD_MQTT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/connlimit.h"

typedef struct mqtt_server mqtt_server;
typedef struct mqtt_conn mqtt_conn;

typedef enum {
    MQTT_CLOSE_CLIENT_DISCONNECT, /* the client sent DISCONNECT */
    MQTT_CLOSE_PEER_GONE,         /* EOF or reset without DISCONNECT */
    MQTT_CLOSE_SOCKET_ERROR,      /* read/write error, or out of memory */
    MQTT_CLOSE_KEEPALIVE_TIMEOUT, /* nothing received for 1.5 x keepalive */
    MQTT_CLOSE_PROTOCOL_ERROR,    /* malformed or forbidden packet (too large, QoS 2, ...) */
    MQTT_CLOSE_SERVER_DISCONNECT, /* mqtt_conn_disconnect */
    MQTT_CLOSE_SERVER_STOP,       /* mqtt_server_stop */
} mqtt_close_reason;

const char *mqtt_close_reason_name(mqtt_close_reason why); /* "client_disconnect", ... */

typedef struct {
    int protocol_version;  /* 4 or 5 */
    const char *client_id; /* not NUL-terminated; the assigned id if the client sent none */
    size_t client_id_len;
    const char *username; /* NULL if absent */
    size_t username_len;
    const uint8_t *password; /* NULL if absent */
    size_t password_len;
    bool clean_start;
    uint16_t keepalive;      /* effective: may be lowered by max_keepalive (v5) */
    bool client_id_assigned; /* v5 empty client id: the server made one up */
    bool will;               /* a will message was given (see on_will) */
    uint32_t session_expiry; /* v5, as requested (iotad keeps no sessions) */
    const char *peer;        /* "ip:port" */
} mqtt_connect_info;

typedef struct {
    const char *topic;
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t qos;
    uint16_t packet_id; /* 0 for QoS 0 */
    bool retain;        /* only ever true for 3.1.1 clients */
    bool dup;
    /* MQTT 5 properties */
    const char *content_type; /* NULL if absent */
    size_t content_type_len;
    int payload_format;      /* -1 absent, 0 bytes, 1 UTF-8 (already validated) */
    uint32_t message_expiry; /* 0 if absent */
} mqtt_publish_info;

typedef struct {
    const char *topic; /* not NUL-terminated */
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    uint8_t qos;
    bool retain;
} mqtt_will_info;

typedef struct {
    const char *filter; /* not NUL-terminated; valid UTF-8, checked by mqtt_topic_filter_check */
    size_t filter_len;
    uint8_t qos;      /* requested maximum QoS */
    bool valid;       /* a well-formed filter */
    bool wildcard;    /* contains '+' or '#' */
    bool shared;      /* "$share/..." */
    bool unsubscribe; /* UNSUBSCRIBE rather than SUBSCRIBE */
} mqtt_sub_info;

typedef struct {
    /* CONNECT validated. Return an MQTT5 reason code: 0 accepts; e.g. 0x86 Bad user name or
     * password, 0x87 Not authorized, 0x85 Client Identifier not valid. The server maps it to a
     * 3.1.1 return code for v4 clients, sends CONNACK, and closes on failure. May call
     * mqtt_conn_set_data. on_close follows only for accepted connections. */
    uint8_t (*on_connect)(void *ud, mqtt_conn *c, const mqtt_connect_info *info);
    /* PUBLISH (QoS 0 or 1) from an accepted connection; topic/payload valid only during the
     * call. For QoS 1 the application MUST later call mqtt_conn_puback(c, packet_id, reason)
     * exactly once, possibly asynchronously; it holds a reference (mqtt_conn_ref/unref)
     * meanwhile. */
    void (*on_publish)(void *ud, mqtt_conn *c, const mqtt_publish_info *pub);
    /* The accepted connection is gone. After this, mqtt_conn_puback on it is a harmless
     * no-op; memory lives until the last unref. May run inside mqtt_conn_disconnect and
     * mqtt_server_stop. */
    void (*on_close)(void *ud, mqtt_conn *c, mqtt_close_reason why);
    /* Optional. An accepted connection that gave a will ends other than by a normal
     * DISCONNECT (MQTT 5: reason 0x04 keeps the will) or a server stop: its will, valid during
     * the call, just before on_close. iotad delivers wills to nobody (it is not a broker); the
     * application records them. */
    void (*on_will)(void *ud, mqtt_conn *c, const mqtt_will_info *will, mqtt_close_reason why);
    /* Optional. One topic filter of a SUBSCRIBE (unsubscribe false) or UNSUBSCRIBE (true),
     * valid during the call. Return the SUBACK code: 0x00 granted (QoS 0: the only QoS this
     * server delivers) or a failure (0x87 Not authorized, 0x8F Topic Filter invalid, 0x97
     * Quota exceeded, 0x9E shared subscriptions not supported, ...); for UNSUBSCRIBE 0x00 or
     * 0x11 No subscription existed. NULL: every subscription is refused. With it, CONNACK
     * tells v5 clients that wildcard subscriptions are available. */
    uint8_t (*on_subscribe)(void *ud, mqtt_conn *c, const mqtt_sub_info *f);
} mqtt_callbacks;

typedef struct {
    size_t max_packet_size;      /* whole packet, bytes; 0 = 256 KiB */
    uint16_t receive_maximum;    /* QoS 1 in flight per connection; 0 = 1024 */
    uint16_t max_keepalive;      /* seconds; 0 = no limit. v5 clients asking for more (or 0)
                                    are told Server Keep Alive; v3 ones are refused (0x02) */
    unsigned max_connections;    /* 0 = no limit */
    unsigned connect_timeout_ms; /* first packet must be a complete CONNECT; 0 = 10 s */
    connlimit *limits;           /* shared admission (per address, descriptor budget); NULL: none */
    struct tls_ctx *tls;         /* MQTT over TLS (net/tls.h) with this context, or NULL */
    size_t max_queued_bytes;     /* mqtt_conn_publish drops a message while more output than
                                    this waits for the socket; 0 = 1 MiB */
} mqtt_server_options;

typedef struct {
    uint64_t connections_current, connections_total; /* TCP connections */
    uint64_t sessions_current;                       /* accepted MQTT connections */
    uint64_t connect_refused; /* CONNECT refused, over max_connections, or bad CONNECT */
    uint64_t refused_per_address, refused_budget; /* TCP connections refused by limits */
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t publish_in;
    uint64_t protocol_errors, keepalive_timeouts, connect_timeouts, too_large;
    uint64_t payload_format_refused; /* PUBLISH refused 0x99: payload not the UTF-8 it claims */
    uint64_t connect_unsupported;    /* well-formed CONNECT refused for what it asks: protocol
                                      * version, client id, will QoS 2 or retain, keepalive */
    uint64_t wills_published;        /* handed to on_will */
    uint64_t keepalive_late_ms_max;  /* most a keepalive close came after its 1.5 x deadline */
    uint64_t publish_out;            /* mqtt_conn_publish: queued */
    uint64_t publish_out_dropped;    /* mqtt_conn_publish: dropped (queue full, too large) */
    uint64_t memory_bytes; /* held by open connections: structs + buffers (computed on call) */
} mqtt_server_stats;

/* Binds addr_port (numeric: "0.0.0.0:1883", "127.0.0.1:0", "[::1]:1883", ":1883") and starts
 * accepting. opt may be NULL for defaults; cb is copied. Returns 0 or a negative libuv error
 * (UV_EINVAL for a bad address, UV_EADDRINUSE, ...). On failure *out is NULL and nothing is
 * left to stop (a handle may still close on the next loop run). */
int mqtt_server_start(uv_loop_t *loop, const char *addr_port, const mqtt_server_options *opt,
                      const mqtt_callbacks *cb, void *ud, mqtt_server **out);
int mqtt_server_port(const mqtt_server *s); /* actual bound port (for port 0) */
/* Stops accepting and closes every connection (v5: DISCONNECT 0x8B Server shutting down);
 * calls done(arg) once every handle is closed, then frees the server. */
void mqtt_server_stop(mqtt_server *s, void (*done)(void *), void *arg);
/* TLS listeners: the subject CN of the client certificate the connection presented and
 * that verified against the client CAs, into out; 0, or -1 when there is none. */
int mqtt_conn_tls_peer_cn(const mqtt_conn *c, char *out, size_t cap);
/* Counters; memory_bytes walks the connections (O(n), meant for a metrics scrape). */
void mqtt_server_get_stats(const mqtt_server *s, mqtt_server_stats *out);

/* Acknowledges a QoS 1 PUBLISH. reason is a v5 PUBACK code (0 success, 0x87 not authorized,
 * 0x90 topic name invalid, 0x99 payload format invalid, 0x97 quota exceeded, ...; others are
 * sent as 0x80); reason_string (v5 only, NUL-terminated, may be NULL) is sent if the client
 * allows problem information. 3.1.1 PUBACKs carry no reason, so a 3.1.1 client gets a PUBACK
 * only for success (reason < 0x80); for a failure its connection is closed instead (what was
 * queued before, e.g. earlier PUBACKs, is still sent). The packet is queued and flushed with
 * others at the end of the loop iteration. */
void mqtt_conn_puback(mqtt_conn *c, uint16_t packet_id, uint8_t reason, const char *reason_string);
/* Hands an accepted connection to another handler: from now on its on_publish, on_subscribe,
 * on_close and on_will go to cb (kept by pointer: it must outlive the connection) with ud.
 * Meant for on_connect, which picks the handler by credentials. */
void mqtt_conn_set_handler(mqtt_conn *c, const mqtt_callbacks *cb, void *ud);
/* Queues a QoS 0 PUBLISH to the client (topic: a topic name, payload: any bytes). 0 queued,
 * MQTT_PUBLISH_DROPPED when more than max_queued_bytes of output is already waiting or the
 * packet exceeds the client's Maximum Packet Size (the message is lost: QoS 0), -1 when the
 * connection is not open or the arguments are invalid. Flushed at the end of the loop
 * iteration, with other packets. */
enum { MQTT_PUBLISH_DROPPED = 1 };
int mqtt_conn_publish(mqtt_conn *c, const char *topic, size_t topic_len, const void *payload,
                      size_t payload_len);
/* Bytes of output waiting for the socket (queued plus in a write). */
size_t mqtt_conn_queued_bytes(const mqtt_conn *c);
/* v5 sends DISCONNECT with reason, v3 just closes. */
void mqtt_conn_disconnect(mqtt_conn *c, uint8_t reason);
void mqtt_conn_ref(mqtt_conn *c);
void mqtt_conn_unref(mqtt_conn *c);
void mqtt_conn_set_data(mqtt_conn *c, void *data);
void *mqtt_conn_get_data(const mqtt_conn *c);
const char *mqtt_conn_peer(const mqtt_conn *c); /* "ip:port" or "[ip6]:port" */
int mqtt_conn_version(const mqtt_conn *c);      /* 4 or 5; 0 before CONNECT */
bool mqtt_conn_is_open(const mqtt_conn *c);     /* accepted and not closed */
/* Back-pressure: stop/start reading from this connection (nested calls do not count). */
void mqtt_conn_pause(mqtt_conn *c);
void mqtt_conn_resume(mqtt_conn *c);

#endif
