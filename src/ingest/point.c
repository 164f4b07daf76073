/* Point batches shared by all ingest decoders. */
#include "ingest/point.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ingest_batch_init(ingest_batch *b, size_t max_points)
{
    memset(b, 0, sizeof *b);
    b->max = max_points;
}

void ingest_batch_reset(ingest_batch *b)
{
    b->n = 0;
}

void ingest_batch_free(ingest_batch *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

int ingest_metric_valid(const char *metric, size_t len)
{
    if (len == 0 || len > INGEST_METRIC_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)metric[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
        if (strchr("_.:/-{}=,", c) && c != 0) continue;
        return 0;
    }
    return 1;
}

int ingest_metric_reserved(const char *metric, size_t len)
{
    return len >= 4 && memcmp(metric, "sys.", 4) == 0;
}

ingest_status ingest_batch_push(ingest_batch *b, const char *metric, size_t metric_len,
                                int64_t ts_ms, double value)
{
    if (!ingest_metric_valid(metric, metric_len)) return INGEST_ERR_METRIC;
    if (!isfinite(value)) return INGEST_ERR_NONFINITE;
    if (b->max && b->n >= b->max) return INGEST_ERR_TOO_MANY;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        ingest_point *v = realloc(b->v, cap * sizeof *v);
        if (!v) return INGEST_ERR_NOMEM;
        b->v = v;
        b->cap = cap;
    }
    ingest_point *p = &b->v[b->n++];
    p->ts_ms = ts_ms;
    p->value = value;
    p->metric_len = (uint16_t)metric_len;
    memcpy(p->metric, metric, metric_len);
    p->metric[metric_len] = '\0';
    return INGEST_OK;
}

const char *ingest_status_name(ingest_status s)
{
    switch (s) {
    case INGEST_OK:
        return "ok";
    case INGEST_ERR_SYNTAX:
        return "syntax";
    case INGEST_ERR_TYPE:
        return "type";
    case INGEST_ERR_NONFINITE:
        return "nonfinite";
    case INGEST_ERR_TIMESTAMP:
        return "timestamp";
    case INGEST_ERR_METRIC:
        return "metric";
    case INGEST_ERR_TOO_MANY:
        return "too_many";
    case INGEST_ERR_EMPTY:
        return "empty";
    case INGEST_ERR_NOMEM:
        return "nomem";
    case INGEST_ERR_TOO_DEEP:
        return "too_deep";
    case INGEST_ERR_UNAVAILABLE:
        return "unavailable";
    case INGEST_ERR_STORAGE_FULL:
        return "storage_full";
    case INGEST_ERR_SERIES_LIMIT:
        return "series_limit";
    case INGEST_ERR_RATE_LIMITED:
        return "rate_limited";
    case INGEST_ERR_UNAUTHORIZED:
        return "unauthorized";
    case INGEST_ERR_BUS_FULL:
        return "bus_full";
    }
    return "unknown";
}

ingest_status ingest_fail(ingest_error *err, ingest_status status, size_t offset, const char *fmt,
                          ...)
{
    if (err) {
        err->status = status;
        err->offset = offset;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}
