/* bus/pipe: one node's end of the cluster bus (docs/scaling.md). A thread owns the AMQP
 * connection (bus/amqp); the event loop hands it device batches to publish to their partition
 * queue (`iotad.p<k>`, k = bus_partition(device id, P)) and hears back, per batch, whether the
 * broker confirmed it; the thread consumes every partition queue (quorum queues with single
 * active consumer: one node at a time gets a partition's batches) and hands each delivery to
 * the loop, which settles it (ack once stored and detected, or nack to requeue) when done.
 *
 * While the broker is unreachable the pipe is down: publishes are refused at once (the caller
 * refuses its device), batches in flight are reported unconfirmed (never confirmed twice,
 * never lost silently), and the thread reconnects once a second on its own. Deliveries not
 * settled when a connection is lost go back to their queue (the broker redelivers them); a
 * settle for a lost connection is dropped (its generation is old). */
#ifndef IOTAD_BUS_PIPE_H
#define IOTAD_BUS_PIPE_H

#include "bus/batch.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct bus_pipe bus_pipe;

/* What became of a published batch. */
typedef enum {
    BUS_CONFIRMED, /* the broker has it durably: acknowledge the device */
    BUS_FULL,      /* the broker refused it (nack): its partition queue is at its bound */
    BUS_LOST,      /* the connection was lost before the confirm, or no queue took it: it may
                    * or may not be in the queue */
} bus_outcome;

/* A message from a partition queue (the batches of one partition that one node published in one
 * round), handed to the loop; the receiver owns it (bus_delivery_free) and settles it, all its
 * batches at once, with bus_pipe_settle(gen, tag, msg.n). */
typedef struct bus_delivery {
    struct bus_delivery *next;
    uint64_t gen; /* the connection it came on */
    uint64_t tag; /* its delivery tag on that connection */
    bool redelivered;
    bus_msg msg;
} bus_delivery;

typedef struct {
    const char *url;          /* amqp://user:password@host:port/vhost */
    const char *name;         /* connection name shown by rabbitmqctl (optional) */
    const char *prefix;       /* partition queues <prefix><k> (NULL: "iotad.p") */
    uint32_t partitions;      /* P, >= 1: every node of a cluster must use the same */
    uint16_t prefetch;        /* unsettled deliveries per partition consumer (0: 64) */
    uint64_t queue_max_bytes; /* bound of each partition queue (0: none); every node of a
                               * cluster should use the same: an existing queue keeps the
                               * bound it was declared with */
    bool consume;             /* also consume the partitions (false: publish only) */
    /* loop thread: a publish's outcome (anything but BUS_CONFIRMED must not be acknowledged) */
    void (*on_confirm)(void *arg, void *ctx, bus_outcome outcome);
    void (*on_delivery)(void *arg, bus_delivery *d); /* loop thread; takes d */
    void *arg;
} bus_pipe_options;

/* Counts of batches (one device's points), except msgs_* and malformed (AMQP messages). */
typedef struct {
    bool up;
    uint64_t connects, disconnects;
    uint64_t published, confirmed, unconfirmed; /* unconfirmed: lost in flight or returned */
    uint64_t full;                              /* nacked: the partition queue at its bound */
    uint64_t refused;                           /* publishes refused while down */
    uint64_t delivered, acked, requeued, malformed;
    uint64_t inflight; /* published, not confirmed yet */
    uint64_t msgs_published, msgs_delivered;
} bus_pipe_stats;

int bus_pipe_start(uv_loop_t *loop, const bus_pipe_options *opt, bus_pipe **out);
/* Any thread: connected, queues declared and consumed. */
bool bus_pipe_up(const bus_pipe *p);
/* The last connection error (loop thread; "" when none). */
void bus_pipe_error(bus_pipe *p, char *out, size_t cap);
/* Loop thread. Encodes b (not taken) and queues it for its partition: 0, and on_confirm(ctx)
 * will run exactly once; -1 when down, stopping or b is invalid (on_confirm will not run). The
 * bus thread publishes what is queued for one partition in one round as one message. */
int bus_pipe_publish(bus_pipe *p, const point_batch *b, void *ctx);
/* Loop thread: ack (done) or nack with requeue (not done) one delivery of `batches` batches
 * (its msg.n: counted in the stats). */
void bus_pipe_settle(bus_pipe *p, uint64_t gen, uint64_t tag, uint32_t batches, bool done);
void bus_delivery_free(bus_delivery *d);
/* Loop thread: no more deliveries are handed over (those in flight return to their queue
 * when the connection closes); publishing and settling go on. */
void bus_pipe_pause(bus_pipe *p);
/* Loop thread: sends the settles queued so far, waits (up to 5 s) for the confirms of what is
 * in flight, runs their on_confirm, closes the connection and frees p. */
void bus_pipe_stop(bus_pipe *p);
void bus_pipe_get_stats(bus_pipe *p, bus_pipe_stats *out);

#endif
