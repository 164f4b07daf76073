/* bus/amqp: a small AMQP 0-9-1 client (rabbitmq-c) for the cluster bus.
 *
 * One connection, two channels: channel 1 publishes in confirm mode (every publish gets a
 * sequence number, confirmed by the broker with an ack once the message is safe: for a quorum
 * queue, written to a majority of its replicas), channel 2 consumes with a prefetch window and
 * explicit acks. Everything the broker sends (deliveries, confirms, cancellations) comes out of
 * bus_amqp_poll, one event at a time, so one thread drives both directions without callbacks.
 *
 * Not thread-safe: one thread owns a connection. Calls block for at most the configured
 * timeout. Any BUS_ERR means the connection is unusable (lost, closed by the broker, a channel
 * error): close it and connect again; unconfirmed publishes are then unknown (publish them
 * again: consumers must tolerate duplicates), unacked deliveries go back to their queue. */
#ifndef IOTAD_BUS_AMQP_H
#define IOTAD_BUS_AMQP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { BUS_OK = 0, BUS_TIMEOUT = 1, BUS_ERR = -1 };

typedef struct bus_amqp bus_amqp;

typedef struct {
    int heartbeat_s;  /* AMQP heartbeat (default 10; 0 none) */
    int timeout_ms;   /* connect, handshake and each RPC (default 5000) */
    const char *name; /* connection_name client property (rabbitmqctl list_connections) */
} bus_amqp_options;

void bus_amqp_options_init(bus_amqp_options *opt);

/* url: amqp://user:password@host:port/vhost. BUS_OK or BUS_ERR with the reason in err. */
int bus_amqp_connect(const char *url, const bus_amqp_options *opt, bus_amqp **out, char *err,
                     size_t cap);
void bus_amqp_close(bus_amqp *b);
/* The reason of the last BUS_ERR. */
const char *bus_amqp_error(const bus_amqp *b);
/* The socket, for poll() in the owning thread (readable: call bus_amqp_poll). */
int bus_amqp_fd(const bus_amqp *b);

/* ---- declarations (idempotent; a conflicting existing declaration is a BUS_ERR) ---- */
/* A durable quorum queue; single_active: one consumer at a time receives, the others wait and
 * take over in order when it goes away (its unacked messages are redelivered to the next). */
int bus_amqp_declare_quorum(bus_amqp *b, const char *queue, bool single_active);
/* The same with a bound: max_bytes (> 0) of message bodies ready in the queue
 * (x-max-length-bytes), beyond which the broker refuses publishes (x-overflow reject-publish:
 * a nack to the publisher's confirm) instead of dropping old messages. */
int bus_amqp_declare_bounded(bus_amqp *b, const char *queue, bool single_active,
                             uint64_t max_bytes);
/* An exchange (type "topic", "direct", "fanout"), durable or not. */
int bus_amqp_declare_exchange(bus_amqp *b, const char *exchange, const char *type, bool durable);
/* A server-named, exclusive, auto-deleted queue (gone with the connection): its name in name. */
int bus_amqp_declare_private(bus_amqp *b, char *name, size_t cap);
int bus_amqp_bind(bus_amqp *b, const char *queue, const char *exchange, const char *key);
/* Messages in the queue that no consumer holds (passive declare). */
int bus_amqp_queue_depth(bus_amqp *b, const char *queue, uint32_t *messages);

/* ---- publishing (confirm mode) ---- */
/* exchange "" is the default exchange (key = queue name). persistent: delivery mode 2.
 * *seq gets the sequence number its confirm will carry (1, 2, ...). */
int bus_amqp_publish(bus_amqp *b, const char *exchange, const char *key, const void *body,
                     size_t len, bool persistent, uint64_t *seq);
/* The same, mandatory: a message no queue takes (the queue is gone) comes back as a
 * BUS_EV_RETURNED (its tag = *seq) before its confirm (an ack: the broker is done with it). */
int bus_amqp_publish_mandatory(bus_amqp *b, const char *exchange, const char *key, const void *body,
                               size_t len, bool persistent, uint64_t *seq);
/* Sequence numbers not confirmed yet are those above the last confirmed one: publishes are
 * confirmed in order, but an ack or nack with multiple covers every seq <= its tag. */
uint64_t bus_amqp_last_seq(const bus_amqp *b);

/* ---- consuming ---- */
/* Starts a consumer on the queue (prefetch: unacked deliveries at most, for the whole
 * consuming channel; 0 unlimited). Its tag in tag (cap >= 64). */
int bus_amqp_consume(bus_amqp *b, const char *queue, uint16_t prefetch, char *tag, size_t cap);
int bus_amqp_cancel(bus_amqp *b, const char *tag);
int bus_amqp_ack(bus_amqp *b, uint64_t delivery_tag, bool multiple);
int bus_amqp_nack(bus_amqp *b, uint64_t delivery_tag, bool multiple, bool requeue);

typedef enum {
    BUS_EV_DELIVERY,  /* a message for one of our consumers */
    BUS_EV_CONFIRM,   /* the broker took (ack) or refused (nack) publishes */
    BUS_EV_CANCELLED, /* the broker cancelled a consumer (its queue was deleted, ...) */
    BUS_EV_RETURNED,  /* a mandatory publish no queue took (tag: its seq, 0 if unknown) */
} bus_ev_kind;

typedef struct {
    bus_ev_kind kind;
    uint64_t tag;  /* delivery tag (DELIVERY) or publish sequence number (CONFIRM) */
    bool multiple; /* CONFIRM: covers every seq <= tag not confirmed yet */
    bool ack;      /* CONFIRM: true ack, false nack */
    bool redelivered;
    char consumer[64];
    char routing_key[256];
    const void *body; /* DELIVERY: valid until the next call on the connection */
    size_t len;
} bus_ev;

/* Waits up to timeout_ms (0: only what is already buffered or readable at once) for the next
 * event: BUS_OK with *ev, BUS_TIMEOUT, or BUS_ERR (connection lost or closed). */
int bus_amqp_poll(bus_amqp *b, int timeout_ms, bus_ev *ev);

#endif
