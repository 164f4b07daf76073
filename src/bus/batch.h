/* bus/batch: the cluster pipeline's message, one device's acknowledged batch of points on its
 * way from the ingest node to the node that holds the device's partition, and the partition
 * function. Both are part of the wire contract between nodes: a node of another version must
 * read the same bytes and pick the same partition.
 *
 * Format (varints are unsigned LEB128, svarints zigzag; ~4-7 bytes per point for regular
 * telemetry):
 *   "IB" 0x01                   magic and version
 *   uvarint msg_id              the publisher's id of the message (tracing, duplicate checks)
 *   uvarint len + bytes         device id (1..BUS_ID_MAX)
 *   uvarint len + bytes         device type (0..BUS_ID_MAX)
 *   uvarint m, m x (uvarint len + bytes)   metric names (1..INGEST_METRIC_MAX, no NUL)
 *   uvarint n, n x point        points (1..BUS_BATCH_MAX_POINTS)
 *   point: uvarint metric index (< m), svarint ts - previous ts (the first: - 0), a byte k:
 *          k <= 6: svarint round(v * 10^k), the value exactly; k = 7: 8 bytes IEEE-754 LE.
 * Decoding checks every length and bound, refuses trailing bytes, non-finite values and
 * timestamps that overflow. */
#ifndef IOTAD_BUS_BATCH_H
#define IOTAD_BUS_BATCH_H

#include "core/point.h"

#include <stddef.h>
#include <stdint.h>

#define BUS_ID_MAX 64
#define BUS_BATCH_MAX_POINTS 100000

typedef struct {
    uint64_t msg_id;
    char device_id[BUS_ID_MAX + 1];
    char device_type[BUS_ID_MAX + 1];
    ingest_point *points; /* owned; in the order they were encoded */
    size_t n;
} bus_batch;

/* Encodes b (1..BUS_BATCH_MAX_POINTS finite points, ids within BUS_ID_MAX) into *out
 * (malloc'ed, caller frees), its length in *len. 0, or -1 (invalid batch, out of memory). */
int bus_batch_encode(const point_batch *b, uint64_t msg_id, uint8_t **out, size_t *len);
/* 0 with out filled (free it with bus_batch_free), or -1 on malformed input (out left empty). */
int bus_batch_decode(const uint8_t *in, size_t len, bus_batch *out);
void bus_batch_free(bus_batch *b);

/* A partition message: the device batches of one partition published together in one round of
 * the bus thread (one AMQP message, one publisher confirm for all of them; the consumer splits
 * it back into one writer job per batch).
 *   "IM" 0x01                   magic and version
 *   uvarint count               batches (1..BUS_MSG_MAX_BATCHES)
 *   count x (uvarint len + bytes)   each an encoded batch as above
 * A bare batch ("IB" 0x01, what nodes published before messages were combined) decodes as a
 * message of one batch. */
#define BUS_MSG_MAX_BATCHES 4096
/* The size a publisher closes a message at (one more batch may take it past). */
#define BUS_MSG_TARGET_BYTES (1u << 20)

typedef struct {
    bus_batch *batches; /* owned */
    size_t n;
} bus_msg;

/* Writes the message of n (1..BUS_MSG_MAX_BATCHES) encoded batches parts[i] (lens[i] bytes)
 * into *out (malloc'ed), its length in *len. 0, or -1 (bad count, out of memory). The parts
 * are not checked: they come from bus_batch_encode. */
int bus_msg_encode(const uint8_t *const *parts, const size_t *lens, size_t n, uint8_t **out,
                   size_t *len);
/* 0 with out filled (free it with bus_msg_free), or -1 on malformed input (out left empty): a
 * message whose batch does not decode is malformed as a whole. */
int bus_msg_decode(const uint8_t *in, size_t len, bus_msg *out);
void bus_msg_free(bus_msg *m);

/* The partition of a device among nparts (>= 1): FNV-1a (64 bit) of the id, modulo nparts. */
uint32_t bus_partition(const char *device_id, uint32_t nparts);

#endif
