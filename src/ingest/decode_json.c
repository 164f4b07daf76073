/* iotad JSON telemetry decoder.
 *
 * jsmn tokenizes the payload into a flat token array (no allocation for up to
 * INGEST_JDOC_STACK_TOKENS tokens, one for bigger payloads). jsmn is lax (it accepts
 * `{"a" 1}`, `[1,]`, bare words, several top-level values, stops at a NUL byte), so
 * ingest_jdoc_parse() then walks the tree and checks every byte between tokens, every literal
 * and every string: what passes is strict JSON. The decoder proper walks the validated tree
 * and pushes points straight into the batch; on any error the batch is cut back to its length
 * at entry. Also here: the number conversion, name checks and skew check the other decoders
 * share (see decode_json.h). */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#include <jsmn.h>

#define INGEST_JSON_INTERNAL
#include "ingest/decode_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_depth.h"
#include "core/util.h"

/* ---- numbers --------------------------------------------------------------------------------- */

static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int ingest_parse_double(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';

    /* Up to 19 significant digits in mant, the rest shift exp10 or set sticky. */
    uint64_t mant = 0;
    int ndig = 0, any = 0, sticky = 0;
    int64_t exp10 = 0;
    for (; i < len && is_digit(s[i]); i++) {
        unsigned dg = (unsigned)(s[i] - '0');
        any = 1;
        if (ndig < 19) {
            if (mant || dg) {
                mant = mant * 10 + dg;
                ndig++;
            }
        } else {
            exp10++;
            sticky |= dg != 0;
        }
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && is_digit(s[i]); i++) {
            unsigned dg = (unsigned)(s[i] - '0');
            any = 1;
            if (ndig < 19) {
                if (mant || dg) {
                    mant = mant * 10 + dg;
                    ndig++;
                }
                exp10--;
            } else {
                sticky |= dg != 0;
            }
        }
    }
    if (!any) return -1;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        int64_t e = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        size_t start = i;
        for (; i < len && is_digit(s[i]); i++)
            if (e < 1000000) e = e * 10 + (s[i] - '0');
        if (i == start) return -1;
        exp10 += eneg ? -e : e;
    }
    if (i != len) return -1;

    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    /* Clinger's fast path: both operands exact, so one IEEE operation rounds correctly. */
    if (!sticky && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / k_pow10[-exp10] : v * k_pow10[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    /* strtod needs a NUL-terminated string: copy short input; for long input use the canonical
     * form <mantissa><sticky 1>e<exp>, which rounds the same except for inputs that are within
     * 1e-19 relative of a rounding boundary. */
    char tmp[72];
    if (len < sizeof tmp) {
        memcpy(tmp, s, len);
        tmp[len] = '\0';
    } else {
        if (exp10 > 100000) exp10 = 100000;
        if (exp10 < -100000) exp10 = -100000;
        snprintf(tmp, sizeof tmp, "%s%" PRIu64 "%se%" PRId64, neg ? "-" : "", mant,
                 sticky ? "1" : "", exp10 - (sticky ? 1 : 0));
    }
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end == tmp || *end != '\0') return -1;
    if (isinf(v) || isnan(v)) return -2;
    *out = v;
    return 0;
}

/* ---- names and messages ------------------------------------------------------------------- */

void ingest_msg_quote(char *dst, size_t cap, const char *s, size_t len)
{
    if (cap == 0) return;
    size_t lim = len > 40 ? 40 : len, o = 0;
    for (size_t i = 0; i < lim && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    for (int k = 0; len > lim && k < 3 && o + 1 < cap; k++)
        dst[o++] = '.';
    dst[o] = '\0';
}

ingest_status ingest_metric_error(ingest_error *err, size_t offset, const char *ctx,
                                  const char *name, size_t len)
{
    char q[48];
    ingest_msg_quote(q, sizeof q, name, len);
    if (len == 0) return ingest_fail(err, INGEST_ERR_METRIC, offset, "%s: empty metric name", ctx);
    if (len > INGEST_METRIC_MAX)
        return ingest_fail(err, INGEST_ERR_METRIC, offset,
                           "%s: metric name \"%s\" is longer than %d bytes", ctx, q,
                           INGEST_METRIC_MAX);
    for (size_t k = 0; k < len; k++)
        if (!ingest_metric_valid(name + k, 1))
            return ingest_fail(err, INGEST_ERR_METRIC, offset,
                               "%s: metric name \"%s\" has an invalid character at byte %zu "
                               "(allowed: A-Z a-z 0-9 _ . : / - { } = ,)",
                               ctx, q, k);
    if (ingest_metric_reserved(name, len))
        return ingest_fail(err, INGEST_ERR_METRIC, offset,
                           "%s: metric name \"%s\" is reserved (\"sys.\" belongs to iotad)", ctx,
                           q);
    return ingest_fail(err, INGEST_ERR_METRIC, offset, "%s: invalid metric name \"%s\"", ctx, q);
}

ingest_status ingest_push_error(ingest_error *err, ingest_status st, size_t offset, const char *ctx,
                                const ingest_batch *out, const char *name, size_t len)
{
    switch (st) {
    case INGEST_ERR_TOO_MANY:
        return ingest_fail(err, st, offset, "%s: too many points (at most %zu per payload)", ctx,
                           out->max);
    case INGEST_ERR_NOMEM:
        return ingest_fail(err, st, offset, "%s: out of memory", ctx);
    case INGEST_ERR_METRIC:
        return ingest_metric_error(err, offset, ctx, name, len);
    case INGEST_ERR_NONFINITE:
        return ingest_fail(err, st, offset, "%s: value is not a finite number", ctx);
    default:
        return ingest_fail(err, st, offset, "%s: %s", ctx, ingest_status_name(st));
    }
}

static void fmt_limit(char *dst, size_t cap, int64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(dst, cap, "%" PRId64 " s", ms / 1000);
    else
        snprintf(dst, cap, "%" PRId64 " ms", ms);
}

ingest_status ingest_check_skew(const ingest_batch *b, size_t from, int64_t now_ms,
                                int64_t max_past_ms, int64_t max_future_ms, ingest_error *err)
{
    for (size_t i = from; i < b->n; i++) {
        const ingest_point *p = &b->v[i];
        /* Differences in uint64: exact for any two int64 values in the right order. */
        int past = max_past_ms > 0 && p->ts_ms < now_ms &&
                   (uint64_t)now_ms - (uint64_t)p->ts_ms > (uint64_t)max_past_ms;
        int future = max_future_ms > 0 && p->ts_ms > now_ms &&
                     (uint64_t)p->ts_ms - (uint64_t)now_ms > (uint64_t)max_future_ms;
        if (!past && !future) continue;
        char when[32], lim[32], q[48];
        util_rfc3339(p->ts_ms, when);
        fmt_limit(lim, sizeof lim, past ? max_past_ms : max_future_ms);
        ingest_msg_quote(q, sizeof q, p->metric, p->metric_len);
        return ingest_fail(err, INGEST_ERR_TIMESTAMP, 0,
                           "point %zu (%s): timestamp %s is more than %s in the %s", i - from, q,
                           when, lim, past ? "past" : "future");
    }
    return INGEST_OK;
}

/* ---- the validated token tree ------------------------------------------------------------- */

static inline int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline size_t skip_ws(const char *b, size_t p, size_t end)
{
    while (p < end && is_ws(b[p]))
        p++;
    return p;
}

/* Byte range of a token in the input, quotes included. */
static inline size_t tok_begin(const jsmntok_t *t)
{
    return (size_t)(t->type == JSMN_STRING ? t->start - 1 : t->start);
}

static inline size_t tok_end(const jsmntok_t *t)
{
    return (size_t)(t->type == JSMN_STRING ? t->end + 1 : t->end);
}

static int json_number_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && is_digit(s[i]))
            i++;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t start = i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start) return 0;
    }
    return i == n;
}

static int has_prefix(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(s, lit, k) == 0;
}

static int literal_ok(const char *s, size_t n)
{
    if (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) return 1;
    if (n == 5 && memcmp(s, "false", 5) == 0) return 1;
    return json_number_ok(s, n);
}

typedef struct {
    const ingest_jdoc *d;
    int i;      /* next token to check */
    size_t bad; /* where the error is */
    const char *why;
} vstate;

static int vfail(vstate *v, size_t at, const char *why)
{
    v->bad = at;
    v->why = why;
    return -1;
}

/* Checks the value starting at byte p, which must be token v->i, and everything inside it. */
static int check_value(vstate *v, size_t p, int depth)
{
    const ingest_jdoc *d = v->d;
    if (v->i >= d->ntok || tok_begin(&d->tok[v->i]) != p) return vfail(v, p, "expected a value");
    const jsmntok_t *t = &d->tok[v->i++];
    switch (t->type) {
    case JSMN_PRIMITIVE:
        if (has_prefix(d->buf + t->start, (size_t)(t->end - t->start), "-Infinity"))
            return vfail(v, (size_t)t->start, "NaN and Infinity are not JSON numbers");
        if (!literal_ok(d->buf + t->start, (size_t)(t->end - t->start)))
            return vfail(v, (size_t)t->start,
                         "invalid literal (expected a number, true, "
                         "false or null)");
        return 0;
    case JSMN_STRING:
        /* jsmn has checked the escapes; JSON also forbids raw control characters. */
        for (int k = t->start; k < t->end; k++)
            if ((unsigned char)d->buf[k] < 0x20)
                return vfail(v, (size_t)k, "control character in string");
        return 0;
    case JSMN_OBJECT:
    case JSMN_ARRAY: {
        int obj = t->type == JSMN_OBJECT;
        const char *sep = obj ? "expected ',' or '}'" : "expected ',' or ']'";
        if (depth >= INGEST_JSON_MAX_DEPTH) return vfail(v, (size_t)t->start, "nesting too deep");
        size_t q = (size_t)t->start + 1, end = (size_t)t->end - 1; /* end: the closing bracket */
        for (int k = 0; k < t->size; k++) {
            q = skip_ws(d->buf, q, end);
            if (k > 0) {
                if (q >= end || d->buf[q] != ',') return vfail(v, q, sep);
                q = skip_ws(d->buf, q + 1, end);
            }
            if (obj) {
                int ki = v->i;
                if (ki >= d->ntok || d->tok[ki].type != JSMN_STRING)
                    return vfail(v, q, "expected a string key");
                if (check_value(v, q, depth + 1)) return -1;
                q = skip_ws(d->buf, tok_end(&d->tok[ki]), end);
                if (q >= end || d->buf[q] != ':') return vfail(v, q, "expected ':'");
                q = skip_ws(d->buf, q + 1, end);
            }
            int vi = v->i;
            if (check_value(v, q, depth + 1)) return -1;
            q = tok_end(&d->tok[vi]);
        }
        q = skip_ws(d->buf, q, end);
        if (q < end && d->buf[q] == ',') /* a trailing comma: say what is missing after it */
            return vfail(v, skip_ws(d->buf, q + 1, end + 1),
                         obj ? "expected a string key" : "expected a value");
        if (q != end) return vfail(v, q, sep);
        return 0;
    }
    default:
        return vfail(v, p, "unexpected token");
    }
}

static ingest_status jsmn_error(const char *buf, size_t len, int r, unsigned pos, ingest_error *err)
{
    if (r == JSMN_ERROR_NOMEM) return ingest_fail(err, INGEST_ERR_NOMEM, 0, "out of memory");
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return ingest_fail(err, INGEST_ERR_SYNTAX, (size_t)(nul - buf),
                           "invalid JSON: NUL byte at offset %zu", (size_t)(nul - buf));
    if (r == JSMN_ERROR_PART || pos >= len)
        return ingest_fail(err, INGEST_ERR_SYNTAX, len, "invalid JSON: unexpected end of input");
    unsigned char c = (unsigned char)buf[pos];
    if (c == '"') /* jsmn rewinds to the opening quote of a string with a bad escape */
        return ingest_fail(err, INGEST_ERR_SYNTAX, pos,
                           "invalid JSON: bad escape in the string at offset %u", pos);
    if ((c == 'N' || c == 'I') &&
        (has_prefix(buf + pos, len - pos, "NaN") || has_prefix(buf + pos, len - pos, "Infinity")))
        return ingest_fail(err, INGEST_ERR_SYNTAX, pos,
                           "invalid JSON: NaN and Infinity are not JSON numbers (offset %u)", pos);
    if (c >= 0x20 && c < 0x7f)
        return ingest_fail(err, INGEST_ERR_SYNTAX, pos,
                           "invalid JSON: unexpected character '%c' at offset %u", c, pos);
    return ingest_fail(err, INGEST_ERR_SYNTAX, pos,
                       "invalid JSON: unexpected byte 0x%02x at offset %u", c, pos);
}

ingest_status ingest_jdoc_parse(ingest_jdoc *d, const char *buf, size_t len, ingest_error *err)
{
    d->buf = buf;
    d->len = len;
    d->tok = d->stack;
    d->ntok = 0;
    if (len > INGEST_JSON_MAX_LEN)
        return ingest_fail(err, INGEST_ERR_SYNTAX, 0, "payload too large (%zu bytes)", len);
    /* Bound the nesting before jsmn runs: its work per closing bracket grows with the depth, so
     * 200 KB of '[' took seconds (issue 11 #5). After this check the whole parse is linear. */
    size_t deep_at;
    if (json_depth_check(buf, len, INGEST_JSON_MAX_DEPTH, &deep_at) != 0)
        return ingest_fail(err, INGEST_ERR_TOO_DEEP, deep_at,
                           "invalid JSON: nested deeper than %d levels at offset %zu",
                           INGEST_JSON_MAX_DEPTH, deep_at);

    jsmn_parser p;
    jsmn_init(&p);
    int r = jsmn_parse(&p, buf, len, d->stack, INGEST_JDOC_STACK_TOKENS);
    if (r == JSMN_ERROR_NOMEM) {
        /* Count, then parse again into an exactly sized heap array. */
        jsmn_init(&p);
        int count = jsmn_parse(&p, buf, len, NULL, 0);
        if (count < 0) return jsmn_error(buf, len, count, p.pos, err);
        if (count <= INGEST_JDOC_STACK_TOKENS) /* cannot happen: the counts agree */
            return ingest_fail(err, INGEST_ERR_NOMEM, 0, "out of memory");
        jsmntok_t *heap = malloc((size_t)count * sizeof *heap);
        if (!heap) return ingest_fail(err, INGEST_ERR_NOMEM, 0, "out of memory");
        d->tok = heap;
        jsmn_init(&p);
        r = jsmn_parse(&p, buf, len, heap, (unsigned)count);
    }
    if (r == JSMN_ERROR_PART) {
        /* Strict jsmn wants a delimiter after a primitive, so a bare top-level scalar ("42")
         * ends "early". Tokenize that case here so that the caller can say what it got. */
        size_t q = skip_ws(buf, 0, len), e = q;
        while (e < len && !is_ws(buf[e]))
            e++;
        if (q < len && !strchr("{[\"", buf[q]) && literal_ok(buf + q, e - q) &&
            skip_ws(buf, e, len) == len) {
            d->tok[0] = (jsmntok_t){
                .type = JSMN_PRIMITIVE, .start = (int)q, .end = (int)e, .size = 0, .parent = -1};
            d->ntok = 1;
            return INGEST_OK;
        }
    }
    if (r < 0) return jsmn_error(buf, len, r, p.pos, err);
    d->ntok = r;
    if (r == 0) {
        if (memchr(buf, '\0', len)) return jsmn_error(buf, len, JSMN_ERROR_INVAL, 0, err);
        size_t q = skip_ws(buf, 0, len);
        if (q != len) return jsmn_error(buf, len, JSMN_ERROR_INVAL, (unsigned)q, err);
        return ingest_fail(err, INGEST_ERR_EMPTY, 0, "empty payload");
    }

    vstate v = {.d = d, .i = 0};
    if (check_value(&v, skip_ws(buf, 0, len), 0))
        return ingest_fail(err, INGEST_ERR_SYNTAX, v.bad, "invalid JSON: %s at offset %zu", v.why,
                           v.bad);
    size_t q = skip_ws(buf, tok_end(&d->tok[0]), len);
    if (q != len || v.i != d->ntok)
        return ingest_fail(err, INGEST_ERR_SYNTAX, q,
                           "invalid JSON: unexpected data after the value at offset %zu", q);
    return INGEST_OK;
}

void ingest_jdoc_free(ingest_jdoc *d)
{
    if (d->tok != d->stack) free(d->tok);
    d->tok = d->stack;
    d->ntok = 0;
}

int ingest_jdoc_skip(const ingest_jdoc *d, int i)
{
    const jsmntok_t *t = &d->tok[i];
    int j = i + 1;
    if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)
        while (j < d->ntok && d->tok[j].start < t->end)
            j++;
    return j;
}

size_t ingest_jdoc_offset(const ingest_jdoc *d, int i)
{
    return tok_begin(&d->tok[i]);
}

const char *ingest_jdoc_kind(const ingest_jdoc *d, int i)
{
    const jsmntok_t *t = &d->tok[i];
    switch (t->type) {
    case JSMN_OBJECT:
        return "an object";
    case JSMN_ARRAY:
        return "an array";
    case JSMN_STRING:
        return "a string";
    default:
        break;
    }
    switch (d->buf[t->start]) {
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

/* Keys and names are short: a plain loop beats a call to memchr. */
static inline int has_backslash(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\\') return 1;
    return 0;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

int ingest_jdoc_string(const ingest_jdoc *d, int i, char *tmp, size_t cap, const char **s,
                       size_t *n)
{
    const jsmntok_t *t = &d->tok[i];
    const char *p = d->buf + t->start;
    size_t len = (size_t)(t->end - t->start), o = 0;
    if (!has_backslash(p, len)) {
        if (len > cap) return -1;
        *s = p;
        *n = len;
        return 0;
    }
    for (size_t k = 0; k < len; k++) {
        char c = p[k];
        if (c == '\\' && k + 1 < len) {
            c = p[++k];
            switch (c) {
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                long cp = k + 5 <= len ? hex4(p + k + 1) : -1;
                if (cp < 0) return -1; /* jsmn has checked this; be safe anyway */
                k += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && k + 7 <= len && p[k + 1] == '\\' &&
                    p[k + 2] == 'u') {
                    long lo = hex4(p + k + 3);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        k += 6;
                    }
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate */
                unsigned char u[4];
                size_t un;
                if (cp < 0x80) {
                    u[0] = (unsigned char)cp;
                    un = 1;
                } else if (cp < 0x800) {
                    u[0] = (unsigned char)(0xC0 | (cp >> 6));
                    u[1] = (unsigned char)(0x80 | (cp & 0x3F));
                    un = 2;
                } else if (cp < 0x10000) {
                    u[0] = (unsigned char)(0xE0 | (cp >> 12));
                    u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    u[2] = (unsigned char)(0x80 | (cp & 0x3F));
                    un = 3;
                } else {
                    u[0] = (unsigned char)(0xF0 | (cp >> 18));
                    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
                    un = 4;
                }
                if (o + un > cap) return -1;
                memcpy(tmp + o, u, un);
                o += un;
                continue;
            }
            default:
                break; /* '"', '\\', '/' stand for themselves */
            }
        }
        if (o >= cap) return -1;
        tmp[o++] = c;
    }
    *s = tmp;
    *n = o;
    return 0;
}

int ingest_jdoc_key_is(const ingest_jdoc *d, int i, const char *lit, size_t n)
{
    const jsmntok_t *t = &d->tok[i];
    size_t len = (size_t)(t->end - t->start);
    const char *p = d->buf + t->start;
    if (len == n && memcmp(p, lit, n) == 0) return 1;
    if (len <= n || !memchr(p, '\\', len)) return 0; /* an escape only makes it shorter */
    char tmp[16];
    const char *s;
    size_t sn;
    return ingest_jdoc_string(d, i, tmp, sizeof tmp, &s, &sn) == 0 && sn == n &&
           memcmp(s, lit, n) == 0;
}

int ingest_jdoc_number(const ingest_jdoc *d, int i, double *out)
{
    const jsmntok_t *t = &d->tok[i];
    char first = d->buf[t->start];
    if (t->type != JSMN_PRIMITIVE || first == 't' || first == 'f' || first == 'n') return -1;
    return ingest_parse_double(d->buf + t->start, (size_t)(t->end - t->start), out) == 0 ? 0 : -2;
}

/* ---- the iotad JSON shapes ------------------------------------------------------------------ */

typedef struct {
    const ingest_jdoc *d;
    ingest_batch *out;
    ingest_error *err;
    int64_t now_ms;
} jctx;

/* "[k].member" (batch item k), or "member" for a top-level object; member may be "". */
static const char *path_of(char *buf, size_t cap, int k, const char *member)
{
    if (k < 0)
        snprintf(buf, cap, "%s", member);
    else
        snprintf(buf, cap, "[%d]%s%s", k, *member ? "." : "", member);
    return buf;
}

/* Fails with "<path>: <message>" (or just the message when the path is empty). */
static ingest_status jfail(jctx *c, ingest_status st, int tok, int k, const char *member,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static ingest_status jfail(jctx *c, ingest_status st, int tok, int k, const char *member,
                           const char *fmt, ...)
{
    char path[96], msg[sizeof c->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    path_of(path, sizeof path, k, member);
    size_t off = ingest_jdoc_offset(c->d, tok);
    if (!path[0]) return ingest_fail(c->err, st, off, "%s", msg);
    return ingest_fail(c->err, st, off, "%s: %s", path, msg);
}

/* Days in month m (1..12) of year y. */
static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

static int two(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* util_parse_rfc3339() plus what it leaves out: the day must exist in its month and a UTC
 * offset must be a real one (hh <= 23, mm <= 59). */
static int rfc3339_strict(const char *s, size_t n, int64_t *ms)
{
    if (util_parse_rfc3339(s, n, ms) != 0) return -1;
    int y = two(s) * 100 + two(s + 2), m = two(s + 5), day = two(s + 8);
    if (day > month_days(y, m)) return -1;
    if (s[n - 1] != 'Z' && s[n - 1] != 'z' && (two(s + n - 5) > 23 || two(s + n - 2) > 59))
        return -1;
    return 0;
}

static ingest_status parse_ts(jctx *c, int ti, int k, int64_t *out)
{
    const jsmntok_t *t = &c->d->tok[ti];
    const char *s = c->d->buf + t->start;
    size_t n = (size_t)(t->end - t->start);
    char q[48];
    if (t->type == JSMN_STRING) {
        int64_t ms;
        ingest_msg_quote(q, sizeof q, s, n);
        if (rfc3339_strict(s, n, &ms) != 0)
            return jfail(c, INGEST_ERR_TIMESTAMP, ti, k, "ts", "invalid RFC 3339 timestamp \"%s\"",
                         q);
        if (ms < 0 || ms > INGEST_TS_MAX_MS)
            return jfail(c, INGEST_ERR_TIMESTAMP, ti, k, "ts",
                         "timestamp \"%s\" is outside 1970..9999", q);
        *out = ms;
        return INGEST_OK;
    }
    if (t->type == JSMN_PRIMITIVE && (s[0] == '-' || is_digit(s[0]))) {
        ingest_msg_quote(q, sizeof q, s, n);
        size_t i = s[0] == '-';
        int64_t v = 0;
        for (; i < n && is_digit(s[i]); i++) {
            if (v > INGEST_TS_MAX_MS)
                return jfail(c, INGEST_ERR_TIMESTAMP, ti, k, "ts",
                             "timestamp %s is outside 1970..9999", q);
            v = v * 10 + (s[i] - '0');
        }
        if (i != n)
            return jfail(c, INGEST_ERR_TIMESTAMP, ti, k, "ts",
                         "expected integer milliseconds since the epoch, got %s", q);
        if (v > INGEST_TS_MAX_MS || (s[0] == '-' && v != 0))
            return jfail(c, INGEST_ERR_TIMESTAMP, ti, k, "ts", "timestamp %s is outside 1970..9999",
                         q);
        *out = v;
        return INGEST_OK;
    }
    return jfail(c, INGEST_ERR_TYPE, ti, k, "ts",
                 "expected integer milliseconds or an RFC 3339 string, got %s",
                 ingest_jdoc_kind(c->d, ti));
}

/* The metric name of string token ti: escapes resolved into tmp when there are any. A name too
 * long to unescape is returned raw (it is too long either way). */
static void metric_name(const ingest_jdoc *d, int ti, char tmp[INGEST_METRIC_MAX + 1],
                        const char **name, size_t *len)
{
    if (ingest_jdoc_string(d, ti, tmp, INGEST_METRIC_MAX, name, len) != 0) {
        *name = d->buf + d->tok[ti].start;
        *len = (size_t)(d->tok[ti].end - d->tok[ti].start);
    }
}

static ingest_status push(jctx *c, int ti, int k, const char *member, const char *name, size_t len,
                          int64_t ts, double v)
{
    ingest_status st = ingest_batch_push(c->out, name, len, ts, v);
    if (st == INGEST_OK) return st;
    char path[64];
    return ingest_push_error(c->err, st, ingest_jdoc_offset(c->d, ti),
                             path_of(path, sizeof path, k, member), c->out, name, len);
}

static ingest_status decode_metrics(jctx *c, int mi, int k, int64_t ts)
{
    const ingest_jdoc *d = c->d;
    const jsmntok_t *mo = &d->tok[mi];
    char path[64], tmp[INGEST_METRIC_MAX + 1], q[48];
    if (mo->type != JSMN_OBJECT)
        return jfail(c, INGEST_ERR_TYPE, mi, k, "metrics", "expected an object, got %s",
                     ingest_jdoc_kind(d, mi));
    size_t first = c->out->n;
    int p = mi + 1;
    for (int m = 0; m < mo->size; m++) {
        int key = p, val = p + 1;
        const char *name;
        size_t len;
        double v;
        metric_name(d, key, tmp, &name, &len);
        if (!ingest_metric_ok(name, len))
            return ingest_metric_error(c->err, ingest_jdoc_offset(d, key),
                                       path_of(path, sizeof path, k, "metrics"), name, len);
        int r = ingest_jdoc_number(d, val, &v);
        if (r != 0) {
            char member[64];
            ingest_msg_quote(q, sizeof q, name, len);
            snprintf(member, sizeof member, "metrics.%s", q);
            if (r == -2)
                return jfail(c, INGEST_ERR_NONFINITE, val, k, member, "number out of range");
            return jfail(c, INGEST_ERR_TYPE, val, k, member, "expected a number, got %s",
                         ingest_jdoc_kind(d, val));
        }
        ingest_status st = push(c, val, k, "metrics", name, len, ts, v);
        if (st != INGEST_OK) return st;
        p = ingest_jdoc_skip(d, val);
    }
    /* one key per metric: a repeated one is ambiguous (JSON leaves it to the reader), so it is
     * refused as SenML refuses a repeated field and line protocol a repeated field key */
    long dup = ingest_points_duplicate(c->out->v + first, c->out->n - first);
    if (dup == -2) return ingest_fail(c->err, INGEST_ERR_NOMEM, 0, "out of memory");
    if (dup < 0) return INGEST_OK;
    p = mi + 1;
    for (long m = 0; m < dup; m++)
        p = ingest_jdoc_skip(d, p + 1);
    ingest_msg_quote(q, sizeof q, c->out->v[first + (size_t)dup].metric,
                     c->out->v[first + (size_t)dup].metric_len);
    return jfail(c, INGEST_ERR_SYNTAX, p, k, "metrics", "duplicate metric \"%s\"", q);
}

static ingest_status decode_single(jctx *c, int oi, int metric_i, int value_i, int k, int64_t ts)
{
    const ingest_jdoc *d = c->d;
    char path[64], tmp[INGEST_METRIC_MAX + 1], q[48];
    const char *name;
    size_t len;
    double v;
    if (metric_i < 0) return jfail(c, INGEST_ERR_TYPE, oi, k, "", "missing \"metric\"");
    if (value_i < 0) return jfail(c, INGEST_ERR_TYPE, oi, k, "", "missing \"value\"");
    if (d->tok[metric_i].type != JSMN_STRING)
        return jfail(c, INGEST_ERR_TYPE, metric_i, k, "metric", "expected a string, got %s",
                     ingest_jdoc_kind(d, metric_i));
    metric_name(d, metric_i, tmp, &name, &len);
    if (!ingest_metric_ok(name, len))
        return ingest_metric_error(c->err, ingest_jdoc_offset(d, metric_i),
                                   path_of(path, sizeof path, k, "metric"), name, len);
    int r = ingest_jdoc_number(d, value_i, &v);
    if (r != 0) {
        ingest_msg_quote(q, sizeof q, name, len);
        if (r == -2)
            return jfail(c, INGEST_ERR_NONFINITE, value_i, k, "value",
                         "number out of range (metric %s)", q);
        return jfail(c, INGEST_ERR_TYPE, value_i, k, "value",
                     "expected a number, got %s (metric %s)", ingest_jdoc_kind(d, value_i), q);
    }
    return push(c, value_i, k, "value", name, len, ts, v);
}

/* One telemetry object: token oi, batch item k (-1 when it is the whole payload). */
static ingest_status decode_object(jctx *c, int oi, int k)
{
    const ingest_jdoc *d = c->d;
    const jsmntok_t *o = &d->tok[oi];
    if (o->type != JSMN_OBJECT) {
        if (k < 0)
            return jfail(c, INGEST_ERR_TYPE, oi, k, "", "expected a JSON object or array, got %s",
                         ingest_jdoc_kind(d, oi));
        return jfail(c, INGEST_ERR_TYPE, oi, k, "", "expected an object, got %s",
                     ingest_jdoc_kind(d, oi));
    }
    static const struct {
        const char *name;
        size_t len;
    } known[] = {{"ts", 2}, {"metrics", 7}, {"metric", 6}, {"value", 5}};
    int at[4] = {-1, -1, -1, -1}; /* value token of each known key */
    int j = oi + 1;
    for (int m = 0; m < o->size; m++) {
        int key = j, val = j + 1;
        for (int w = 0; w < 4; w++) {
            if (!ingest_jdoc_key_is(d, key, known[w].name, known[w].len)) continue;
            if (at[w] >= 0)
                return jfail(c, INGEST_ERR_SYNTAX, key, k, "", "duplicate key \"%s\"",
                             known[w].name);
            at[w] = val;
            break;
        }
        j = ingest_jdoc_skip(d, val);
    }
    int ts_i = at[0], metrics_i = at[1], metric_i = at[2], value_i = at[3];
    int64_t ts = c->now_ms;
    if (ts_i >= 0) {
        ingest_status st = parse_ts(c, ts_i, k, &ts);
        if (st != INGEST_OK) return st;
    }
    if (metrics_i >= 0) {
        if (metric_i >= 0 || value_i >= 0)
            return jfail(c, INGEST_ERR_TYPE, oi, k, "",
                         "use either \"metrics\" or \"metric\"/\"value\", not both");
        return decode_metrics(c, metrics_i, k, ts);
    }
    if (metric_i < 0 && value_i < 0)
        return jfail(c, INGEST_ERR_TYPE, oi, k, "",
                     "expected \"metrics\", or \"metric\" and \"value\"");
    return decode_single(c, oi, metric_i, value_i, k, ts);
}

ingest_status ingest_decode_json(const char *buf, size_t len, int64_t now_ms, ingest_batch *out,
                                 ingest_error *err)
{
    size_t n0 = out->n;
    ingest_jdoc d;
    jctx c = {.d = &d, .out = out, .err = err, .now_ms = now_ms};
    ingest_status st = ingest_jdoc_parse(&d, buf, len, err);
    if (st != INGEST_OK) goto done;
    const jsmntok_t *root = &d.tok[0];
    if (root->type == JSMN_ARRAY) {
        int i = 1;
        for (int k = 0; k < root->size; k++) {
            st = decode_object(&c, i, k);
            if (st != INGEST_OK) goto done;
            i = ingest_jdoc_skip(&d, i);
        }
    } else {
        st = decode_object(&c, 0, -1);
        if (st != INGEST_OK) goto done;
    }
    if (out->n == n0)
        st = ingest_fail(err, INGEST_ERR_EMPTY, 0,
                         root->type == JSMN_ARRAY && root->size == 0 ? "empty array"
                                                                     : "no metrics in payload");
done:
    if (st != INGEST_OK) out->n = n0;
    ingest_jdoc_free(&d);
    return st;
}
