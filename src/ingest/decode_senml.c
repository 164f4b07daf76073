/* SenML JSON (RFC 8428) telemetry decoder.
 *
 * The pack is tokenized and checked as strict JSON by ingest_jdoc_parse() (decode_json.c);
 * then each record is scanned once to locate its fields, base fields update the running base
 * state, and the resolved name/time/value become points pushed straight into the batch.
 * On any error the batch is cut back to its length at entry. */
#define INGEST_JSON_INTERNAL
#include "ingest/decode_senml.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ingest/decode_json.h"

#define SENML_VERSION 10
#define SENML_REL_LIMIT 268435456.0 /* 2^28 s: smaller resolved times are relative to now */

enum {
    F_BN,
    F_BT,
    F_BU,
    F_BV,
    F_BS,
    F_BVER,
    F_N,
    F_U,
    F_V,
    F_VS,
    F_VB,
    F_VD,
    F_S,
    F_T,
    F_UT,
    F_COUNT,
    F_FIRST_REGULAR = F_N, /* base fields come first */
};

static const struct {
    const char *name;
    size_t len;
} k_fields[F_COUNT] = {
    [F_BN] = {"bn", 2}, [F_BT] = {"bt", 2},     [F_BU] = {"bu", 2}, [F_BV] = {"bv", 2},
    [F_BS] = {"bs", 2}, [F_BVER] = {"bver", 4}, [F_N] = {"n", 1},   [F_U] = {"u", 1},
    [F_V] = {"v", 1},   [F_VS] = {"vs", 2},     [F_VB] = {"vb", 2}, [F_VD] = {"vd", 2},
    [F_S] = {"s", 1},   [F_T] = {"t", 1},       [F_UT] = {"ut", 2},
};

typedef struct {
    const ingest_jdoc *d;
    ingest_batch *out;
    ingest_error *err;
    int64_t now_ms;
    /* base state, carried from record to record */
    char bn[INGEST_METRIC_MAX + 1];
    size_t bn_len;
    double bt, bv, bs;
} sctx;

/* Fails with "[k].<field>: <message>" ("[k]: ..." when field is NULL). */
static ingest_status sfail(sctx *c, ingest_status st, int tok, int k, const char *field,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static ingest_status sfail(sctx *c, ingest_status st, int tok, int k, const char *field,
                           const char *fmt, ...)
{
    char msg[sizeof c->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t off = ingest_jdoc_offset(c->d, tok);
    if (field) return ingest_fail(c->err, st, off, "[%d].%s: %s", k, field, msg);
    return ingest_fail(c->err, st, off, "[%d]: %s", k, msg);
}

/* For error messages: the client-safe rendering of s, in q. */
static const char *quoted(char *q, size_t cap, const char *s, size_t n)
{
    ingest_msg_quote(q, cap, s, n);
    return q;
}

static int field_of(const char *s, size_t n)
{
    for (int f = 0; f < F_COUNT; f++)
        if (k_fields[f].len == n && memcmp(k_fields[f].name, s, n) == 0) return f;
    return -1;
}

/* A numeric field (no booleans). */
static ingest_status num_field(sctx *c, int tok, int k, int f, ingest_status range_status,
                               double *out)
{
    int r = ingest_jdoc_number(c->d, tok, out);
    if (r == -2) return sfail(c, range_status, tok, k, k_fields[f].name, "number out of range");
    if (r != 0)
        return sfail(c, INGEST_ERR_TYPE, tok, k, k_fields[f].name, "expected a number, got %s",
                     ingest_jdoc_kind(c->d, tok));
    return INGEST_OK;
}

static ingest_status apply_base(sctx *c, const int at[F_COUNT], int k)
{
    const ingest_jdoc *d = c->d;
    ingest_status st;
    if (at[F_BVER] >= 0) {
        double ver;
        if ((st = num_field(c, at[F_BVER], k, F_BVER, INGEST_ERR_SYNTAX, &ver))) return st;
        if (ver < 1 || ver != floor(ver))
            return sfail(c, INGEST_ERR_SYNTAX, at[F_BVER], k, "bver",
                         "expected a positive integer");
        if (ver > SENML_VERSION)
            return sfail(c, INGEST_ERR_SYNTAX, at[F_BVER], k, "bver",
                         "SenML version %.0f is not supported (at most %d)", ver, SENML_VERSION);
    }
    if (at[F_BN] >= 0) {
        int t = at[F_BN];
        const char *s;
        size_t n;
        if (d->tok[t].type != JSMN_STRING)
            return sfail(c, INGEST_ERR_TYPE, t, k, "bn", "expected a string, got %s",
                         ingest_jdoc_kind(d, t));
        if (ingest_jdoc_string(d, t, c->bn, INGEST_METRIC_MAX, &s, &n) != 0) {
            char ctx[32];
            snprintf(ctx, sizeof ctx, "[%d].bn", k);
            return ingest_metric_error(c->err, ingest_jdoc_offset(d, t), ctx,
                                       d->buf + d->tok[t].start,
                                       (size_t)(d->tok[t].end - d->tok[t].start));
        }
        if (s != c->bn) memcpy(c->bn, s, n);
        c->bn_len = n;
    }
    if (at[F_BT] >= 0 && (st = num_field(c, at[F_BT], k, F_BT, INGEST_ERR_TIMESTAMP, &c->bt)))
        return st;
    if (at[F_BV] >= 0 && (st = num_field(c, at[F_BV], k, F_BV, INGEST_ERR_NONFINITE, &c->bv)))
        return st;
    if (at[F_BS] >= 0 && (st = num_field(c, at[F_BS], k, F_BS, INGEST_ERR_NONFINITE, &c->bs)))
        return st;
    return INGEST_OK;
}

/* Resolved time in ms: bt + t seconds, relative to now below 2^28 (RFC 8428 4.5.3). */
static ingest_status resolve_time(sctx *c, const int at[F_COUNT], int k, int64_t *out)
{
    double t = 0;
    ingest_status st;
    if (at[F_T] >= 0 && (st = num_field(c, at[F_T], k, F_T, INGEST_ERR_TIMESTAMP, &t))) return st;
    double tt = c->bt + t;
    int tok = at[F_T] >= 0 ? at[F_T] : at[F_BT] >= 0 ? at[F_BT] : 0;
    int64_t ms = -1;
    if (!isfinite(tt)) {
        ms = -1;
    } else if (tt < SENML_REL_LIMIT) {
        /* |tt| < 1e13 s keeps tt * 1000 well inside int64; further away is out of range. */
        int64_t rel;
        if (tt > -1e13 && !__builtin_add_overflow(c->now_ms, (int64_t)llround(tt * 1000.0), &rel))
            ms = rel;
    } else if (tt * 1000.0 < (double)INGEST_TS_MAX_MS + 1) {
        ms = (int64_t)llround(tt * 1000.0);
    }
    if (ms < 0 || ms > INGEST_TS_MAX_MS)
        return sfail(c, INGEST_ERR_TIMESTAMP, tok, k, at[F_T] >= 0 ? "t" : NULL,
                     "time %.15g s resolves outside 1970..9999", tt);
    *out = ms;
    return INGEST_OK;
}

static ingest_status push(sctx *c, int tok, int k, const char *name, size_t len, int64_t ts,
                          double v)
{
    ingest_status st = ingest_batch_push(c->out, name, len, ts, v);
    if (st == INGEST_OK) return st;
    char ctx[32];
    snprintf(ctx, sizeof ctx, "[%d]", k);
    return ingest_push_error(c->err, st, ingest_jdoc_offset(c->d, tok), ctx, c->out, name, len);
}

static ingest_status decode_record(sctx *c, int ri, int k)
{
    const ingest_jdoc *d = c->d;
    const jsmntok_t *r = &d->tok[ri];
    ingest_status st;
    char q[48];
    if (r->type != JSMN_OBJECT)
        return sfail(c, INGEST_ERR_TYPE, ri, k, NULL, "expected a SenML record (an object), got %s",
                     ingest_jdoc_kind(d, ri));

    /* Locate the fields (value token of each, -1 when absent). */
    int at[F_COUNT];
    int regular = 0;
    for (int f = 0; f < F_COUNT; f++)
        at[f] = -1;
    int j = ri + 1;
    for (int m = 0; m < r->size; m++) {
        int key = j, val = j + 1;
        char tmp[16];
        const char *s;
        size_t n;
        int f = -1;
        if (ingest_jdoc_string(d, key, tmp, sizeof tmp, &s, &n) == 0) {
            f = field_of(s, n);
        } else { /* too long for a known label; only its last byte matters */
            s = d->buf + d->tok[key].start;
            n = (size_t)(d->tok[key].end - d->tok[key].start);
        }
        if (f >= 0) {
            if (at[f] >= 0)
                return sfail(c, INGEST_ERR_SYNTAX, key, k, NULL, "duplicate field \"%s\"",
                             k_fields[f].name);
            at[f] = val;
            regular |= f >= F_FIRST_REGULAR;
        } else if (n > 0 && s[n - 1] == '_') {
            ingest_msg_quote(q, sizeof q, s, n);
            return sfail(c, INGEST_ERR_SYNTAX, key, k, NULL,
                         "unsupported must-understand field \"%s\"", q);
        }
        j = ingest_jdoc_skip(d, val);
    }

    if ((st = apply_base(c, at, k))) return st;
    int nvalues = (at[F_V] >= 0) + (at[F_VB] >= 0) + (at[F_VS] >= 0) + (at[F_VD] >= 0);
    if (nvalues > 1)
        return sfail(c, INGEST_ERR_SYNTAX, ri, k, NULL, "more than one of v, vb, vs, vd");
    if (nvalues == 0 && at[F_S] < 0) {
        if (!regular) return INGEST_OK; /* a record of base fields only */
        return sfail(c, INGEST_ERR_TYPE, ri, k, NULL, "record has no value (v, vb or s)");
    }

    /* Resolved name bn + n, with room for the ".sum" suffix and for reporting overlong names. */
    char name[2 * INGEST_METRIC_MAX + 8];
    size_t len = c->bn_len;
    memcpy(name, c->bn, c->bn_len);
    if (at[F_N] >= 0) {
        int t = at[F_N];
        const char *s;
        size_t n;
        if (d->tok[t].type != JSMN_STRING)
            return sfail(c, INGEST_ERR_TYPE, t, k, "n", "expected a string, got %s",
                         ingest_jdoc_kind(d, t));
        if (ingest_jdoc_string(d, t, name + len, INGEST_METRIC_MAX + 1, &s, &n) != 0) {
            s = d->buf + d->tok[t].start; /* too long either way; report it raw */
            n = (size_t)(d->tok[t].end - d->tok[t].start);
            if (n > INGEST_METRIC_MAX + 1) n = INGEST_METRIC_MAX + 1;
        }
        if (s != name + len) memcpy(name + len, s, n);
        len += n;
    }
    int name_tok = at[F_N] >= 0 ? at[F_N] : at[F_BN] >= 0 ? at[F_BN] : ri;
    if (!ingest_metric_ok(name, len)) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "[%d]", k);
        return ingest_metric_error(c->err, ingest_jdoc_offset(d, name_tok), ctx, name, len);
    }
    if (at[F_VS] >= 0)
        return sfail(c, INGEST_ERR_TYPE, at[F_VS], k, "vs",
                     "string values are not supported (metric %s)", quoted(q, sizeof q, name, len));
    if (at[F_VD] >= 0)
        return sfail(c, INGEST_ERR_TYPE, at[F_VD], k, "vd",
                     "data values are not supported (metric %s)", quoted(q, sizeof q, name, len));

    int64_t ts = 0;
    if ((st = resolve_time(c, at, k, &ts))) return st;

    if (at[F_V] >= 0) {
        double v;
        int t = at[F_V];
        int rc = ingest_jdoc_number(d, t, &v);
        if (rc == -1)
            return sfail(c, INGEST_ERR_TYPE, t, k, "v", "expected a number, got %s (metric %s)",
                         ingest_jdoc_kind(d, t), quoted(q, sizeof q, name, len));
        v += c->bv;
        if (rc == -2 || !isfinite(v))
            return sfail(c, INGEST_ERR_NONFINITE, t, k, "v", "number out of range (metric %s)",
                         quoted(q, sizeof q, name, len));
        if ((st = push(c, t, k, name, len, ts, v))) return st;
    } else if (at[F_VB] >= 0) {
        int t = at[F_VB];
        const jsmntok_t *vb = &d->tok[t];
        char first = d->buf[vb->start];
        if (vb->type != JSMN_PRIMITIVE || (first != 't' && first != 'f'))
            return sfail(c, INGEST_ERR_TYPE, t, k, "vb", "expected a boolean, got %s (metric %s)",
                         ingest_jdoc_kind(d, t), quoted(q, sizeof q, name, len));
        if ((st = push(c, t, k, name, len, ts, first == 't' ? 1.0 : 0.0))) return st;
    }
    if (at[F_S] >= 0) {
        double s;
        int t = at[F_S];
        int rc = ingest_jdoc_number(d, t, &s);
        if (rc == -1)
            return sfail(c, INGEST_ERR_TYPE, t, k, "s", "expected a number, got %s (metric %s)",
                         ingest_jdoc_kind(d, t), quoted(q, sizeof q, name, len));
        s += c->bs;
        if (rc == -2 || !isfinite(s))
            return sfail(c, INGEST_ERR_NONFINITE, t, k, "s", "number out of range (metric %s)",
                         quoted(q, sizeof q, name, len));
        memcpy(name + len, ".sum", 4);
        if (!ingest_metric_ok(name, len + 4)) {
            char ctx[32];
            snprintf(ctx, sizeof ctx, "[%d].s", k);
            return ingest_metric_error(c->err, ingest_jdoc_offset(d, t), ctx, name, len + 4);
        }
        if ((st = push(c, t, k, name, len + 4, ts, s))) return st;
    }
    return INGEST_OK;
}

ingest_status ingest_decode_senml(const char *buf, size_t len, int64_t now_ms, ingest_batch *out,
                                  ingest_error *err)
{
    size_t n0 = out->n;
    ingest_jdoc d;
    sctx c = {.d = &d, .out = out, .err = err, .now_ms = now_ms};
    ingest_status st = ingest_jdoc_parse(&d, buf, len, err);
    if (st != INGEST_OK) goto done;
    const jsmntok_t *root = &d.tok[0];
    if (root->type != JSMN_ARRAY) {
        st = ingest_fail(err, INGEST_ERR_TYPE, 0,
                         "expected a SenML pack (an array of records), got %s",
                         ingest_jdoc_kind(&d, 0));
        goto done;
    }
    int i = 1;
    for (int k = 0; k < root->size; k++) {
        if ((st = decode_record(&c, i, k))) goto done;
        i = ingest_jdoc_skip(&d, i);
    }
    if (out->n == n0)
        st = ingest_fail(err, INGEST_ERR_EMPTY, 0,
                         root->size == 0 ? "empty SenML pack" : "no values in SenML pack");
done:
    if (st != INGEST_OK) out->n = n0;
    ingest_jdoc_free(&d);
    return st;
}
