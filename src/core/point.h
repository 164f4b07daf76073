/* The telemetry point as a value: what the decoders produce (ingest/point.h), the store
 * writes and the detectors read. A type only, so every layer may hold one. */
#ifndef IOTAD_CORE_POINT_H
#define IOTAD_CORE_POINT_H

#include <stdint.h>

#define INGEST_METRIC_MAX 128 /* bytes, without the NUL */

typedef struct {
    int64_t ts_ms; /* ms since the Unix epoch */
    double value;  /* always finite */
    uint16_t metric_len;
    char metric[INGEST_METRIC_MAX + 1]; /* NUL-terminated, validated by ingest_metric_valid */
} ingest_point;

#endif
