/* InfluxDB line protocol telemetry decoder (what Telegraf's influxdb_v2 output POSTs to
 * /api/v2/write). */
#ifndef IOTAD_INGEST_DECODE_LINE_H
#define IOTAD_INGEST_DECODE_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/point.h"

typedef enum {
    INGEST_PRECISION_NS,
    INGEST_PRECISION_US,
    INGEST_PRECISION_MS,
    INGEST_PRECISION_S
} ingest_precision;

/* "ns", "us", "ms", "s"; NULL or "" -> ns. 0 ok, -1 unknown (out untouched). */
int ingest_precision_parse(const char *s, ingest_precision *out);
const char *ingest_precision_name(ingest_precision p);

/* Decodes `measurement[,tag=v...] field=v[,field=v...] [timestamp]` lines into out,
 * all-or-nothing: on any error out->n is restored, err filled ("line 3: ...", err->offset at
 * the offending byte) and the status returned.
 * - Escapes per the InfluxDB spec: "\," and "\ " in measurements; "\,", "\=", "\ " in tag keys,
 *   tag values and field keys; "\\" -> "\" everywhere; any other backslash is literal.
 *   String field values are double-quoted with \" and \\ escapes and may span lines.
 * - Field values: float (1, -1.5, 1e3), integer 123i, unsigned 123u, booleans
 *   t/T/true/True/TRUE and f/F/false/False/FALSE -> 1/0. String fields are skipped and counted
 *   in *skipped_fields (if non-NULL; set to 0 on error), not an error.
 * - Metric name = measurement "." field, plus "{k=v,k2=v2}" for tags other than host and
 *   device, in the order given; it must pass ingest_metric_valid() and not be reserved, else
 *   INGEST_ERR_METRIC.
 * - Timestamp: integer in the given precision, missing -> now_ms; outside
 *   [0, INGEST_TS_MAX_MS] after conversion -> INGEST_ERR_TIMESTAMP.
 * - Blank lines, "\r\n" line ends and lines starting with '#' are accepted; runs of spaces
 *   between sections too. A payload without any data line is INGEST_ERR_EMPTY; one whose
 *   lines carry only string fields yields INGEST_OK with no points. */
ingest_status ingest_decode_line(const char *buf, size_t len, ingest_precision precision,
                                 int64_t now_ms, ingest_batch *out, ingest_error *err,
                                 size_t *skipped_fields);

#endif
