/* The telemetry point as a value: what the decoders produce (ingest/point.h), the store
 * writes and the detectors read. A type only, so every layer may hold one. */
#ifndef IOTAD_CORE_POINT_H
#define IOTAD_CORE_POINT_H

#include <stddef.h>
#include <stdint.h>

#define INGEST_METRIC_MAX 128 /* bytes, without the NUL */

typedef struct {
    int64_t ts_ms; /* ms since the Unix epoch */
    double value;  /* always finite */
    uint16_t metric_len;
    char metric[INGEST_METRIC_MAX + 1]; /* NUL-terminated, validated by ingest_metric_valid */
} ingest_point;

/* A device's durable points on their way to detection: a view (the points are not owned),
 * ordered by time within each metric. Defined here, below ingest and the pipeline, because
 * ingest hands batches to the pipeline through a callback and the pipeline must not depend on
 * ingest. */
typedef struct {
    const char *device_id;
    const char *device_type; /* "" unknown */
    const ingest_point *points;
    size_t n;
} point_batch;

/* Orders points by metric, then timestamp, stably (of two points of one series with the same
 * timestamp the later one stays later, so it still wins in the store): the order the store
 * appends fastest in. O(n) when already ordered; else sorts 24-byte keys, not the 152-byte
 * points, and moves each point once. Returns 0, or -1 out of memory (p unchanged). */
int ingest_points_sort(ingest_point *p, size_t n);
/* The first of p[0..n) whose metric name an earlier one has (a name repeated inside one
 * object or line), or -1; -2 out of memory. O(n log n). */
long ingest_points_duplicate(const ingest_point *p, size_t n);

#endif
