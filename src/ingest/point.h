/* A decoded telemetry point and a bounded batch of them: what every ingest decoder
 * (JSON, SenML, InfluxDB line protocol) produces and the store consumes. */
#ifndef IOTAD_INGEST_POINT_H
#define IOTAD_INGEST_POINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/point.h"

typedef struct {
    ingest_point *v;
    size_t n, cap;
    size_t max; /* refuse to grow past this many points (0 = unlimited) */
} ingest_batch;

typedef enum {
    INGEST_OK = 0,
    INGEST_ERR_SYNTAX,    /* not well-formed JSON / SenML / line protocol */
    INGEST_ERR_TYPE,      /* a value or timestamp of the wrong type */
    INGEST_ERR_NONFINITE, /* NaN or +-Inf */
    INGEST_ERR_TIMESTAMP, /* unparseable timestamp or outside the allowed skew */
    INGEST_ERR_METRIC,    /* empty, too long, bad characters, or the reserved "sys." prefix */
    INGEST_ERR_TOO_MANY,  /* more points than batch->max */
    INGEST_ERR_EMPTY,     /* no point at all */
    INGEST_ERR_NOMEM,
    INGEST_ERR_TOO_DEEP,     /* JSON nested deeper than INGEST_JSON_MAX_DEPTH */
    INGEST_ERR_UNAVAILABLE,  /* not stored: the store is failing or the server is stopping */
    INGEST_ERR_STORAGE_FULL, /* not stored: the store's disk is full */
    INGEST_ERR_SERIES_LIMIT, /* would take the device over max_series_per_device */
    INGEST_ERR_RATE_LIMITED, /* the device sends faster than its configured rate */
    INGEST_ERR_UNAUTHORIZED, /* the device was deleted after it authenticated */
    INGEST_ERR_BUS_FULL, /* cluster mode: the partition queue is at its bound (the broker refused
                          * it); nothing stored, retry once the consumers catch up */
} ingest_status;

typedef struct {
    ingest_status status;
    size_t offset; /* byte offset in the input where the problem was found */
    char msg[160]; /* human-readable, safe to return to the client */
} ingest_error;

void ingest_batch_init(ingest_batch *b, size_t max_points);
void ingest_batch_reset(ingest_batch *b); /* n = 0, keeps the memory */
void ingest_batch_free(ingest_batch *b);
/* Appends one point; copies the metric name. Validates the name and finiteness. */
ingest_status ingest_batch_push(ingest_batch *b, const char *metric, size_t metric_len,
                                int64_t ts_ms, double value);
/* Metric names: 1..128 bytes of [A-Za-z0-9_.:/-] plus {}=, for tag suffixes. */
int ingest_metric_valid(const char *metric, size_t len);
/* The "sys." prefix is reserved for iotad's own security telemetry. */
int ingest_metric_reserved(const char *metric, size_t len);
const char *ingest_status_name(ingest_status s); /* "syntax", "type", ... for metrics labels */
/* Sets err->status/offset/msg (printf-style msg) and returns status. */
ingest_status ingest_fail(ingest_error *err, ingest_status status, size_t offset, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

#endif
