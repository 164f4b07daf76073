/* The cluster pipeline's batch message and partition function: see batch.h. */
#include "bus/batch.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXP 6

static const double pow10_tab[MAX_EXP + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct {
    uint8_t *b;
    size_t len, cap;
    bool failed;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->b, cap);
        if (!nb) {
            w->failed = true;
            return;
        }
        w->b = nb;
        w->cap = cap;
    }
    memcpy(w->b + w->len, p, n);
    w->len += n;
}

static void put_uvarint(wbuf *w, uint64_t x)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (x >= 0x80) {
        tmp[n++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    tmp[n++] = (uint8_t)x;
    put(w, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static void put_bytes(wbuf *w, const char *s, size_t n)
{
    put_uvarint(w, n);
    put(w, s, n);
}

/* The smallest k <= MAX_EXP with v * 10^k an integer that gives v back exactly; -1: none. */
static int decimal_exp(double v, int64_t *m)
{
    for (int k = 0; k <= MAX_EXP; k++) {
        double x = v * pow10_tab[k];
        if (!(fabs(x) < 9.0e15)) return -1; /* beyond exact integers in a double */
        double r = nearbyint(x);
        if (r / pow10_tab[k] == v && !(r == 0 && signbit(v))) {
            *m = (int64_t)r;
            return k;
        }
    }
    return -1;
}

int bus_batch_encode(const point_batch *b, uint64_t msg_id, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t id_len = b->device_id ? strlen(b->device_id) : 0;
    size_t type_len = b->device_type ? strlen(b->device_type) : 0;
    if (id_len == 0 || id_len > BUS_ID_MAX || type_len > BUS_ID_MAX || b->n == 0 ||
        b->n > BUS_BATCH_MAX_POINTS)
        return -1;
    /* metric dictionary: index of each point's metric (points of one metric are usually
     * adjacent, so a look back at the previous name is the common case) */
    uint32_t *idx = malloc(b->n * sizeof *idx);
    const char **names = malloc(b->n * sizeof *names);
    if (!idx || !names) {
        free(idx);
        free(names);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ingest_point *p = &b->points[i];
        if (p->metric_len == 0 || p->metric_len > INGEST_METRIC_MAX ||
            memchr(p->metric, '\0', p->metric_len) || !isfinite(p->value)) {
            free(idx);
            free(names);
            return -1;
        }
        size_t j = m;
        if (m && strcmp(names[m - 1], p->metric) == 0)
            j = m - 1;
        else
            for (j = 0; j < m && strcmp(names[j], p->metric) != 0; j++) {
            }
        if (j == m) names[m++] = p->metric;
        idx[i] = (uint32_t)j;
    }
    wbuf w = {0};
    put(&w, "IB\x01", 3);
    put_uvarint(&w, msg_id);
    put_bytes(&w, b->device_id, id_len);
    put_bytes(&w, b->device_type ? b->device_type : "", type_len);
    put_uvarint(&w, m);
    for (size_t j = 0; j < m; j++)
        put_bytes(&w, names[j], strlen(names[j]));
    put_uvarint(&w, b->n);
    int64_t prev = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ingest_point *p = &b->points[i];
        int64_t delta;
        if (__builtin_sub_overflow(p->ts_ms, prev, &delta)) w.failed = true;
        put_uvarint(&w, idx[i]);
        put_uvarint(&w, zigzag(delta));
        prev = p->ts_ms;
        int64_t mant;
        int k = decimal_exp(p->value, &mant);
        if (k >= 0) {
            uint8_t kb = (uint8_t)k;
            put(&w, &kb, 1);
            put_uvarint(&w, zigzag(mant));
        } else {
            uint8_t raw[9] = {7};
            uint64_t bits;
            memcpy(&bits, &p->value, 8);
            for (int q = 0; q < 8; q++)
                raw[1 + q] = (uint8_t)(bits >> (8 * q));
            put(&w, raw, 9);
        }
    }
    free(idx);
    free(names);
    if (w.failed) {
        free(w.b);
        return -1;
    }
    *out = w.b;
    *len = w.len;
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} rbuf;

static int get_uvarint(rbuf *r, uint64_t *out)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->len) return -1;
        uint8_t c = r->p[r->pos++];
        if (shift == 63 && c > 1) return -1; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

/* A length-prefixed string of min..max bytes without NUL into out (max + 1 bytes). */
static int get_text(rbuf *r, size_t min, size_t max, char *out)
{
    uint64_t n;
    if (get_uvarint(r, &n) != 0 || n < min || n > max || n > r->len - r->pos) return -1;
    if (memchr(r->p + r->pos, '\0', (size_t)n)) return -1;
    memcpy(out, r->p + r->pos, (size_t)n);
    out[n] = '\0';
    r->pos += (size_t)n;
    return 0;
}

void bus_batch_free(bus_batch *b)
{
    free(b->points);
    b->points = NULL;
    b->n = 0;
}

int bus_batch_decode(const uint8_t *in, size_t len, bus_batch *out)
{
    memset(out, 0, sizeof *out);
    rbuf r = {in, len, 0};
    if (len < 3 || memcmp(in, "IB\x01", 3) != 0) return -1;
    r.pos = 3;
    uint64_t m, n;
    if (get_uvarint(&r, &out->msg_id) != 0 || get_text(&r, 1, BUS_ID_MAX, out->device_id) != 0 ||
        get_text(&r, 0, BUS_ID_MAX, out->device_type) != 0 || get_uvarint(&r, &m) != 0 || m == 0 ||
        m > BUS_BATCH_MAX_POINTS || m > len) /* every name takes >= 2 bytes */
        return -1;
    char(*names)[INGEST_METRIC_MAX + 1] = malloc((size_t)m * sizeof *names);
    uint16_t *lens = malloc((size_t)m * sizeof *lens);
    if (!names || !lens) goto bad;
    for (uint64_t j = 0; j < m; j++) {
        if (get_text(&r, 1, INGEST_METRIC_MAX, names[j]) != 0) goto bad;
        lens[j] = (uint16_t)strlen(names[j]);
    }
    /* each point takes at least 4 bytes: refuse a count the input cannot hold */
    if (get_uvarint(&r, &n) != 0 || n == 0 || n > BUS_BATCH_MAX_POINTS || n > (len - r.pos) / 4)
        goto bad;
    out->points = malloc((size_t)n * sizeof *out->points);
    if (!out->points) goto bad;
    int64_t ts = 0;
    for (uint64_t i = 0; i < n; i++) {
        ingest_point *p = &out->points[i];
        uint64_t j, d, mant;
        if (get_uvarint(&r, &j) != 0 || j >= m || get_uvarint(&r, &d) != 0) goto bad;
        if (__builtin_add_overflow(ts, unzigzag(d), &ts)) goto bad;
        if (r.pos >= r.len) goto bad;
        uint8_t k = r.p[r.pos++];
        double v;
        if (k <= MAX_EXP) {
            if (get_uvarint(&r, &mant) != 0) goto bad;
            v = (double)unzigzag(mant) / pow10_tab[k];
        } else if (k == 7) {
            if (r.len - r.pos < 8) goto bad;
            uint64_t bits = 0;
            for (int q = 0; q < 8; q++)
                bits |= (uint64_t)r.p[r.pos + (size_t)q] << (8 * q);
            r.pos += 8;
            memcpy(&v, &bits, 8);
        } else {
            goto bad;
        }
        if (!isfinite(v)) goto bad;
        p->ts_ms = ts;
        p->value = v;
        p->metric_len = lens[j];
        memcpy(p->metric, names[j], (size_t)lens[j] + 1);
    }
    if (r.pos != r.len) goto bad;
    out->n = (size_t)n;
    free(names);
    free(lens);
    return 0;
bad:
    free(names);
    free(lens);
    bus_batch_free(out);
    memset(out, 0, sizeof *out);
    return -1;
}

/* ---- messages of several batches --------------------------------------------------------- */

int bus_msg_encode(const uint8_t *const *parts, const size_t *lens, size_t n, uint8_t **out,
                   size_t *len)
{
    *out = NULL;
    *len = 0;
    if (n == 0 || n > BUS_MSG_MAX_BATCHES) return -1;
    size_t total = 3 + 10;
    for (size_t i = 0; i < n; i++)
        total += 10 + lens[i];
    wbuf w = {malloc(total), 0, total, false};
    if (!w.b) return -1;
    put(&w, "IM\x01", 3);
    put_uvarint(&w, n);
    for (size_t i = 0; i < n; i++) {
        put_uvarint(&w, lens[i]);
        put(&w, parts[i], lens[i]);
    }
    if (w.failed) {
        free(w.b);
        return -1;
    }
    *out = w.b;
    *len = w.len;
    return 0;
}

void bus_msg_free(bus_msg *m)
{
    for (size_t i = 0; i < m->n; i++)
        bus_batch_free(&m->batches[i]);
    free(m->batches);
    m->batches = NULL;
    m->n = 0;
}

int bus_msg_decode(const uint8_t *in, size_t len, bus_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len >= 3 && memcmp(in, "IB\x01", 3) == 0) { /* a bare batch: a message of one */
        out->batches = malloc(sizeof *out->batches);
        if (!out->batches) return -1;
        if (bus_batch_decode(in, len, &out->batches[0]) != 0) {
            free(out->batches);
            out->batches = NULL;
            return -1;
        }
        out->n = 1;
        return 0;
    }
    if (len < 3 || memcmp(in, "IM\x01", 3) != 0) return -1;
    rbuf r = {in, len, 3};
    uint64_t n;
    /* every batch takes more than 8 bytes: refuse a count the input cannot hold */
    if (get_uvarint(&r, &n) != 0 || n == 0 || n > BUS_MSG_MAX_BATCHES || n > (len - r.pos) / 8)
        return -1;
    out->batches = calloc((size_t)n, sizeof *out->batches);
    if (!out->batches) return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t blen;
        if (get_uvarint(&r, &blen) != 0 || blen > r.len - r.pos ||
            bus_batch_decode(r.p + r.pos, (size_t)blen, &out->batches[i]) != 0)
            goto bad;
        out->n = (size_t)i + 1;
        r.pos += (size_t)blen;
    }
    if (r.pos != r.len) goto bad;
    return 0;
bad:
    bus_msg_free(out);
    return -1;
}

uint32_t bus_partition(const char *device_id, uint32_t nparts)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (const unsigned char *s = (const unsigned char *)device_id; *s; s++) {
        h ^= *s;
        h *= UINT64_C(1099511628211);
    }
    return nparts ? (uint32_t)(h % nparts) : 0;
}
