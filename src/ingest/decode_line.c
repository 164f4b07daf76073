/* InfluxDB line protocol telemetry decoder.
 *
 * A single forward pass over the bytes with explicit bounds (the input is not NUL-terminated):
 * for each line, the measurement and the kept tags are unescaped once into a name prefix and
 * a "{k=v,...}" suffix; each numeric field then becomes prefix + key + suffix and is pushed
 * straight into the batch with a placeholder time, patched when the line's timestamp has been
 * read. No allocation beyond the batch growth. On any error the batch is cut back to its
 * length at entry. */
#include "ingest/decode_line.h"

#include <stdio.h>
#include <string.h>

#include "ingest/decode_json.h"

/* A name under construction: holds up to one byte more than a valid name so that overlong
 * names are still recognised (and reported) as such. */
typedef struct {
    char b[INGEST_METRIC_MAX + 1];
    size_t n;
} nbuf;

static inline void nb_put(nbuf *nb, char c)
{
    if (nb->n < sizeof nb->b) nb->b[nb->n++] = c;
}

static inline void nb_append(nbuf *nb, const char *s, size_t n)
{
    size_t room = sizeof nb->b - nb->n;
    if (n > room) n = room;
    memcpy(nb->b + nb->n, s, n);
    nb->n += n;
}

typedef struct {
    const char *buf;
    size_t len, pos;
    int line; /* 1-based number of the line pos is on */
    ingest_precision prec;
    int64_t now_ms;
    ingest_batch *out;
    ingest_error *err;
    size_t skipped;
} lctx;

enum { ID_MEASUREMENT, ID_KEY }; /* ID_KEY: tag keys, tag values, field keys */

/* Reads and unescapes an identifier at c->pos into nb, up to an unescaped ',' or ' ' (or '='
 * for keys and tag values), a line end, or the end of input. Returns its length in bytes, which
 * can be more than what fit into nb. */
static size_t read_ident(lctx *c, int kind, nbuf *nb)
{
    const char *b = c->buf;
    size_t p = c->pos, len = c->len, n0 = nb->n, dropped = 0;
    while (p < len) {
        char ch = b[p];
        if (ch == '\\' && p + 1 < len) {
            char nx = b[p + 1];
            if (nx == '\\' || nx == ',' || nx == ' ' || (kind == ID_KEY && nx == '=')) {
                dropped += nb->n == sizeof nb->b;
                nb_put(nb, nx);
                p += 2;
                continue;
            }
        } else if (ch == ',' || ch == ' ' || ch == '\n' || ch == '\r' ||
                   (kind == ID_KEY && ch == '=')) {
            break;
        }
        dropped += nb->n == sizeof nb->b;
        nb_put(nb, ch);
        p++;
    }
    c->pos = p;
    return nb->n - n0 + dropped;
}

static ingest_status lfail(lctx *c, ingest_status st, int line, size_t off, const char *what)
{
    return ingest_fail(c->err, st, off, "line %d: %s", line, what);
}

static int at(const lctx *c, char ch)
{
    return c->pos < c->len && c->buf[c->pos] == ch;
}

static int at_eol(const lctx *c)
{
    return c->pos >= c->len || c->buf[c->pos] == '\n' || c->buf[c->pos] == '\r';
}

static void skip_spaces(lctx *c)
{
    while (at(c, ' '))
        c->pos++;
}

/* A non-string field value. 0 ok, -1 invalid, -2 float overflow, -3 integer out of range. */
static int field_value(const char *s, size_t n, double *out)
{
    if (n == 0) return -1;
    switch (n) {
    case 1:
        if (s[0] == 't' || s[0] == 'T') return *out = 1.0, 0;
        if (s[0] == 'f' || s[0] == 'F') return *out = 0.0, 0;
        break;
    case 4:
        if (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4))
            return *out = 1.0, 0;
        break;
    case 5:
        if (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5))
            return *out = 0.0, 0;
        break;
    default:
        break;
    }
    char last = s[n - 1];
    if (last == 'i' || last == 'u') {
        size_t i = 0;
        int neg = 0;
        if (last == 'i' && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
        if (i == n - 1) return -1;
        /* Magnitude limit: 2^63 for negative int, 2^63-1 for int, 2^64-1 for uint. */
        uint64_t lim = last == 'u' ? UINT64_MAX : neg ? (UINT64_C(1) << 63) : INT64_MAX, v = 0;
        for (; i < n - 1; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            unsigned dg = (unsigned)(s[i] - '0');
            if (v > (lim - dg) / 10) return -3;
            v = v * 10 + dg;
        }
        *out = neg ? -(double)v : (double)v;
        return 0;
    }
    switch (ingest_parse_double(s, n, out)) {
    case 0:
        return 0;
    case -2:
        return -2;
    default:
        return -1;
    }
}

static int to_ms(int64_t v, ingest_precision p, int64_t *ms)
{
    int64_t div = p == INGEST_PRECISION_NS ? 1000000 : p == INGEST_PRECISION_US ? 1000 : 1;
    if (p == INGEST_PRECISION_S) {
        if (v > INGEST_TS_MAX_MS / 1000 || v < 0) return -1;
        v *= 1000;
    } else {
        int64_t q = v / div;
        if (v % div < 0) q--; /* floor */
        v = q;
    }
    if (v < 0 || v > INGEST_TS_MAX_MS) return -1;
    *ms = v;
    return 0;
}

static ingest_status push(lctx *c, int line, size_t off, const nbuf *name, double v)
{
    ingest_status st = INGEST_ERR_METRIC;
    if (ingest_metric_ok(name->b, name->n)) {
        st = ingest_batch_push(c->out, name->b, name->n, 0, v);
        if (st == INGEST_OK) return st;
    }
    char ctx[24];
    snprintf(ctx, sizeof ctx, "line %d", line);
    return ingest_push_error(c->err, st, off, ctx, c->out, name->b, name->n);
}

/* Parses one data line starting at c->pos (not blank, not a comment) through its line end. */
static ingest_status parse_line(lctx *c)
{
    const char *b = c->buf;
    int line = c->line;
    size_t first = c->out->n, start = c->pos;
    nbuf prefix = {.n = 0}, suffix = {.n = 0};
    char msg[sizeof c->err->msg];

    /* measurement */
    if (read_ident(c, ID_MEASUREMENT, &prefix) == 0)
        return lfail(c, INGEST_ERR_SYNTAX, line, start, "missing measurement");
    nb_put(&prefix, '.');

    /* tags */
    while (at(c, ',')) {
        nbuf k = {.n = 0}, v = {.n = 0};
        size_t tag_at = ++c->pos;
        if (read_ident(c, ID_KEY, &k) == 0 || !at(c, '='))
            return lfail(c, INGEST_ERR_SYNTAX, line, tag_at, "invalid tag");
        c->pos++;
        if (read_ident(c, ID_KEY, &v) == 0 || at(c, '='))
            return lfail(c, INGEST_ERR_SYNTAX, line, tag_at, "invalid tag value");
        if ((k.n == 4 && !memcmp(k.b, "host", 4)) || (k.n == 6 && !memcmp(k.b, "device", 6)))
            continue;
        nb_put(&suffix, suffix.n ? ',' : '{');
        nb_append(&suffix, k.b, k.n);
        nb_put(&suffix, '=');
        nb_append(&suffix, v.b, v.n);
    }
    if (suffix.n) nb_put(&suffix, '}');
    if (!at(c, ' ')) return lfail(c, INGEST_ERR_SYNTAX, line, c->pos, "missing fields");
    skip_spaces(c);
    if (at_eol(c)) return lfail(c, INGEST_ERR_SYNTAX, line, c->pos, "missing fields");

    /* fields */
    for (;;) {
        nbuf name = prefix;
        size_t key_at = c->pos;
        if (read_ident(c, ID_KEY, &name) == 0 || !at(c, '='))
            return lfail(c, INGEST_ERR_SYNTAX, line, key_at, "invalid field (expected key=value)");
        c->pos++;
        size_t val_at = c->pos;
        if (at(c, '"')) {
            /* string: skipped, but it may hold escaped quotes and even line breaks */
            size_t p = c->pos + 1;
            int lines = 0;
            while (p < c->len && b[p] != '"') {
                if (b[p] == '\\' && p + 1 < c->len && (b[p + 1] == '"' || b[p + 1] == '\\'))
                    p++;
                else if (b[p] == '\n')
                    lines++;
                p++;
            }
            if (p >= c->len)
                return lfail(c, INGEST_ERR_SYNTAX, line, val_at, "unterminated string field value");
            c->pos = p + 1;
            c->line += lines;
            c->skipped++;
        } else {
            while (c->pos < c->len && b[c->pos] != ',' && b[c->pos] != ' ' && !at_eol(c))
                c->pos++;
            double v;
            int r = field_value(b + val_at, c->pos - val_at, &v);
            if (r != 0) {
                char q[48], k[48];
                ingest_msg_quote(q, sizeof q, b + val_at, c->pos - val_at);
                ingest_msg_quote(k, sizeof k, b + key_at, val_at - 1 - key_at);
                snprintf(msg, sizeof msg,
                         r == -1   ? "invalid field value \"%s\" for %s"
                         : r == -2 ? "field value %s out of range for %s"
                                   : "integer field value %s out of range for %s",
                         q, k);
                return lfail(c, r == -2 ? INGEST_ERR_NONFINITE : INGEST_ERR_SYNTAX, line, val_at,
                             msg);
            }
            nb_append(&name, suffix.b, suffix.n);
            ingest_status st = push(c, line, key_at, &name, v);
            if (st != INGEST_OK) return st;
        }
        if (at(c, ',')) {
            c->pos++;
            continue;
        }
        if (at(c, ' ') || at_eol(c)) break;
        return lfail(c, INGEST_ERR_SYNTAX, line, c->pos, "expected ',' or ' ' after a field value");
    }
    /* a field key given twice is ambiguous: refused, as a repeated key in a JSON "metrics" */
    long dup = ingest_points_duplicate(c->out->v + first, c->out->n - first);
    if (dup == -2) return lfail(c, INGEST_ERR_NOMEM, line, start, "out of memory");
    if (dup >= 0) {
        const ingest_point *p = &c->out->v[first + (size_t)dup];
        char q[48];
        ingest_msg_quote(q, sizeof q, p->metric, p->metric_len);
        snprintf(msg, sizeof msg, "duplicate field (metric \"%s\")", q);
        return lfail(c, INGEST_ERR_SYNTAX, line, start, msg);
    }

    /* timestamp */
    int64_t ts = c->now_ms;
    skip_spaces(c);
    if (!at_eol(c)) {
        size_t ts_at = c->pos, p = c->pos;
        int neg = p < c->len && b[p] == '-';
        uint64_t v = 0;
        int bad = 0;
        for (p += neg; p < c->len && b[p] != ' ' && b[p] != '\n' && b[p] != '\r'; p++) {
            if (b[p] < '0' || b[p] > '9' || v > (uint64_t)INT64_MAX / 10)
                bad = 1;
            else
                v = v * 10 + (unsigned)(b[p] - '0');
        }
        if (v > (uint64_t)INT64_MAX) bad = 1;
        c->pos = p;
        if (bad || p == ts_at + (size_t)neg)
            return lfail(c, INGEST_ERR_TIMESTAMP, line, ts_at, "invalid timestamp");
        if (to_ms(neg ? -(int64_t)v : (int64_t)v, c->prec, &ts) != 0) {
            snprintf(msg, sizeof msg, "timestamp out of range (1970..9999 with precision %s)",
                     ingest_precision_name(c->prec));
            return lfail(c, INGEST_ERR_TIMESTAMP, line, ts_at, msg);
        }
        skip_spaces(c);
        if (!at_eol(c))
            return lfail(c, INGEST_ERR_SYNTAX, line, c->pos, "unexpected text after the timestamp");
    }
    for (size_t i = first; i < c->out->n; i++)
        c->out->v[i].ts_ms = ts;

    /* line end: "\n", "\r\n" or the end of input */
    if (at(c, '\r')) {
        c->pos++;
        if (c->pos < c->len && !at(c, '\n'))
            return lfail(c, INGEST_ERR_SYNTAX, line, c->pos - 1, "stray carriage return");
    }
    if (at(c, '\n')) {
        c->pos++;
        c->line++;
    }
    return INGEST_OK;
}

int ingest_precision_parse(const char *s, ingest_precision *out)
{
    if (!s || !*s || !strcmp(s, "ns"))
        *out = INGEST_PRECISION_NS;
    else if (!strcmp(s, "us"))
        *out = INGEST_PRECISION_US;
    else if (!strcmp(s, "ms"))
        *out = INGEST_PRECISION_MS;
    else if (!strcmp(s, "s"))
        *out = INGEST_PRECISION_S;
    else
        return -1;
    return 0;
}

const char *ingest_precision_name(ingest_precision p)
{
    switch (p) {
    case INGEST_PRECISION_NS:
        return "ns";
    case INGEST_PRECISION_US:
        return "us";
    case INGEST_PRECISION_MS:
        return "ms";
    case INGEST_PRECISION_S:
        return "s";
    }
    return "?";
}

ingest_status ingest_decode_line(const char *buf, size_t len, ingest_precision precision,
                                 int64_t now_ms, ingest_batch *out, ingest_error *err,
                                 size_t *skipped_fields)
{
    lctx c = {.buf = buf,
              .len = len,
              .line = 1,
              .prec = precision,
              .now_ms = now_ms,
              .out = out,
              .err = err};
    size_t n0 = out->n, lines = 0;
    ingest_status st = INGEST_OK;
    if (skipped_fields) *skipped_fields = 0;
    while (c.pos < len) {
        while (at(&c, ' ') || at(&c, '\t'))
            c.pos++;
        if (c.pos >= len) break;
        if (at(&c, '\n') || (at(&c, '\r') && c.pos + 1 < len && buf[c.pos + 1] == '\n')) {
            c.pos += at(&c, '\r') ? 2 : 1;
            c.line++;
            continue;
        }
        if (at(&c, '#')) {
            const char *nl = memchr(buf + c.pos, '\n', len - c.pos);
            c.pos = nl ? (size_t)(nl - buf) : len;
            continue;
        }
        if ((st = parse_line(&c)) != INGEST_OK) goto done;
        lines++;
    }
    if (lines == 0) st = ingest_fail(err, INGEST_ERR_EMPTY, 0, "no data lines in payload");
done:
    if (st != INGEST_OK) {
        out->n = n0;
        return st;
    }
    if (skipped_fields) *skipped_fields = c.skipped;
    return INGEST_OK;
}
