/* SenML JSON (RFC 8428) telemetry decoder. */
#ifndef IOTAD_INGEST_DECODE_SENML_H
#define IOTAD_INGEST_DECODE_SENML_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/point.h"

/* Decodes a SenML JSON pack (an array of records) into out, all-or-nothing: on any error
 * out->n is restored, err filled and the status returned.
 * - Base fields bn, bt, bv, bs, bver apply to their record and every later one until
 *   replaced; bu and u (units) and ut are ignored. bver above 10 is refused (RFC 8428 4.4), as
 *   is any field whose label ends in '_' (must-understand extensions we do not know).
 * - Resolved name = bn + n; it must pass ingest_metric_valid() and not be reserved ("sys.").
 * - v (+ bv) and vb (true/false -> 1/0, bv not applied) give a point named <name>.
 * - s (+ bs), the integrated sum, gives a point named <name>.sum, so a record with both v and
 *   s yields two points. A record with neither is allowed only if it has nothing but base
 *   fields (it then sets them and yields no point).
 * - vs (string) and vd (data) values are refused with INGEST_ERR_TYPE naming the metric.
 * - Time: bt + t in seconds (float); below 2^28 it is relative to now_ms (RFC 8428 4.5.3),
 *   so a missing time means now. Resolved times outside [0, INGEST_TS_MAX_MS] are
 *   INGEST_ERR_TIMESTAMP.
 * An empty pack, or one with only base records, is INGEST_ERR_EMPTY. */
ingest_status ingest_decode_senml(const char *buf, size_t len, int64_t now_ms, ingest_batch *out,
                                  ingest_error *err);

#endif
