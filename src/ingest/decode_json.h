/* iotad JSON telemetry decoder, plus the helpers the SenML and line-protocol decoders share
 * with it: number conversion, metric-name checks, timestamp range and skew checks, and (for
 * decode_senml.c only) the strict jsmn token tree. */
#ifndef IOTAD_INGEST_DECODE_JSON_H
#define IOTAD_INGEST_DECODE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/point.h"

/* Every decoder refuses timestamps outside [1970-01-01, 9999-12-31T23:59:59.999Z]. */
#define INGEST_TS_MAX_MS INT64_C(253402300799999)
/* JSON and SenML payloads longer than this are refused outright (jsmn uses int offsets). */
#define INGEST_JSON_MAX_LEN ((size_t)1 << 30)
/* Deeper JSON nesting is refused (the accepted shapes need 3 levels). */
#define INGEST_JSON_MAX_DEPTH 32

/* iotad JSON telemetry. Accepted shapes:
 *   {"ts": <int ms since epoch | RFC 3339 string>, "metrics": {"temp": 21.5, "hum": 40}}
 *   {"metric": "temp", "value": 21.5, "ts": ...}                (single point)
 *   [ <either of the above>, ... ]                              (batch)
 * ts is optional (-> now_ms). Unknown keys are ignored; "ts", "metrics", "metric" and "value"
 * may appear once per object. Values must be JSON numbers (true/false -> 1/0).
 * Errors, all-or-nothing (out->n is restored, err filled, the status returned):
 *   SYNTAX    not strict RFC 8259 JSON (NaN and Infinity are not JSON), a duplicate
 *             "ts"/"metrics"/"metric"/"value" key
 *   TOO_DEEP  nesting deeper than INGEST_JSON_MAX_DEPTH, found by a linear pre-scan before any
 *             parsing (so the cost of refusing is one pass, whatever the depth)
 *   TYPE      well-formed but not one of the shapes: wrong member type, missing member,
 *             string/null/object/array as a value ("metrics.temp: expected a number, got a string")
 *   NONFINITE a number that overflows a double (1e999)
 *   TIMESTAMP ts not an integer/RFC 3339 string, or outside [0, INGEST_TS_MAX_MS]
 *   METRIC    empty, longer than INGEST_METRIC_MAX, bad characters, or the reserved "sys." prefix
 *   TOO_MANY  more points than out->max;  EMPTY no point at all;  NOMEM */
ingest_status ingest_decode_json(const char *buf, size_t len, int64_t now_ms, ingest_batch *out,
                                 ingest_error *err);

/* Checks b->v[from..n) against now_ms: a point older than max_past_ms or newer than
 * max_future_ms fails with INGEST_ERR_TIMESTAMP (err->offset = 0: the byte offset is gone by
 * then; the message names the point). A limit <= 0 is not checked. Does not modify b. */
ingest_status ingest_check_skew(const ingest_batch *b, size_t from, int64_t now_ms,
                                int64_t max_past_ms, int64_t max_future_ms, ingest_error *err);

/* ---- Shared by the ingest decoders ---------------------------------------------------------- */

/* Converts [+-]digits[.digits][(e|E)[+-]digits] (at least one mantissa digit; "1." and ".5" are
 * accepted, callers enforce stricter grammars) from a buffer that need not be NUL-terminated.
 * Correctly rounded (exact fast path, else strtod on a bounded copy); inputs of 72+ bytes with
 * more than 19 significant digits may be off by one ulp. 0 ok, -1 not a number, -2 overflows
 * to +-inf (underflow yields 0 or a subnormal, which is accepted). Assumes the "C"
 * LC_NUMERIC (iotad never calls setlocale). */
int ingest_parse_double(const char *s, size_t len, double *out);

/* Metric names a device may send: ingest_metric_valid() and not ingest_metric_reserved(). */
static inline int ingest_metric_ok(const char *name, size_t len)
{
    return ingest_metric_valid(name, len) && !ingest_metric_reserved(name, len);
}

/* For a name that failed ingest_metric_ok(): fills err with "<ctx>: <why>" and returns
 * INGEST_ERR_METRIC. ctx is e.g. "[2].metrics" or "line 3". */
ingest_status ingest_metric_error(ingest_error *err, size_t offset, const char *ctx,
                                  const char *name, size_t len);

/* Writes a client-safe rendering of untrusted bytes into dst (always NUL-terminated): printable
 * ASCII except '"' and '\\' is kept, anything else becomes '?', more than 40 bytes are cut
 * with "...". For echoing metric names and values in error messages. */
void ingest_msg_quote(char *dst, size_t cap, const char *s, size_t len);

/* For a failed ingest_batch_push(): fills err with "<ctx>: ..." for status st (too many
 * points, out of memory, ...) and returns st. */
ingest_status ingest_push_error(ingest_error *err, ingest_status st, size_t offset, const char *ctx,
                                const ingest_batch *out, const char *name, size_t len);

#ifdef INGEST_JSON_INTERNAL
/* ---- decode_json.c and decode_senml.c only: a validated jsmn token tree --------------------
 * jsmn (strict mode, parent links) tokenizes; ingest_jdoc_parse() then checks every byte
 * between tokens, every literal and every string, so what it accepts is strict RFC 8259
 * JSON (one value, no trailing commas, no control characters in strings, no NUL bytes).
 * decode_json.c holds the only jsmn implementation (JSMN_STATIC); here we need its types. */
#ifndef JSMN_PARENT_LINKS
#define JSMN_PARENT_LINKS
#endif
#ifndef JSMN_STRICT
#define JSMN_STRICT
#endif
#ifndef JSMN_H
#define JSMN_HEADER
#endif
#include <jsmn.h>

#define INGEST_JDOC_STACK_TOKENS 256

typedef struct {
    const char *buf;
    size_t len;
    jsmntok_t *tok; /* stack, or heap for documents with more tokens */
    int ntok;
    jsmntok_t stack[INGEST_JDOC_STACK_TOKENS];
} ingest_jdoc;

/* Tokenizes and validates. 0 tokens (empty or all-whitespace input) is INGEST_ERR_EMPTY.
 * d must be released with ingest_jdoc_free() whatever the result. */
ingest_status ingest_jdoc_parse(ingest_jdoc *d, const char *buf, size_t len, ingest_error *err);
void ingest_jdoc_free(ingest_jdoc *d);
/* Index of the token after the value at i and all its descendants. */
int ingest_jdoc_skip(const ingest_jdoc *d, int i);
/* Byte offset of the token in the input (the opening quote for strings). */
size_t ingest_jdoc_offset(const ingest_jdoc *d, int i);
/* "a string", "an object", "an array", "null", "a boolean", "a number": for error messages. */
const char *ingest_jdoc_kind(const ingest_jdoc *d, int i);
/* The content of string token i with escapes resolved: *s points into the input when it has
 * no escape, else into tmp. -1 (nothing set) when the result would exceed cap bytes. */
int ingest_jdoc_string(const ingest_jdoc *d, int i, char *tmp, size_t cap, const char **s,
                       size_t *n);
/* Does key token i equal the literal lit (escapes resolved)? */
int ingest_jdoc_key_is(const ingest_jdoc *d, int i, const char *lit, size_t n);
/* Value token i as a double: numbers only (true, false and null are not numbers).
 * 0 ok; -1 wrong type (use ingest_jdoc_kind for the message); -2 overflows to +-inf. */
int ingest_jdoc_number(const ingest_jdoc *d, int i, double *out);
#endif

#endif
