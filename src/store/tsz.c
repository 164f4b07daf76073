/* tsz chunk codec. Layout (bits written most significant first):
 *
 *   byte 0      0x10 | mode       version 1; mode 0 = Gorilla XOR values, 1 = decimal values
 *   varint      n                 LEB128 point count (<= TSZ_MAX_POINTS)
 *   bit stream  int stream of the timestamps
 *               values: mode 1: e (4 bits), int stream of m_i where v_i == (double)m_i / 10^e
 *                       mode 0: first value (64 bits), then Gorilla XOR records
 *   padding     zero bits to the byte boundary; nothing may follow
 *
 * An int stream of x_0..x_{n-1}: x_0 as a "bit varint" (7-bit length, then that many bits of
 * zigzag(x_0)); for n >= 2 a transform id (2 bits) and its parameter (bit varint), the class
 * table (2 bits k-1, then k widths of 7 bits, one per prefix code in code order) and one
 * record per transformed value: a truncated-unary prefix naming the class ('0', '10', '110',
 * '111' for k = 4; no prefix for k = 1) followed by `width` bits of the zigzagged value.
 * Transforms (all in wrapping uint64 arithmetic, so every int64 sequence round-trips):
 *   0 delta - D   y_i = (x_i - x_{i-1}) - D, D = median delta     (random walks, steady rates)
 *   1 dod         y_i = d_i - d_{i-1}, parameter d_1              (Gorilla delta-of-delta)
 *   2 grid        y_i = x_i - (x_0 + i*D), D = (x_last - x_0)/(n-1) (independent jitter)
 * The encoder computes the exact cost of each transform with its best class table and keeps
 * the cheapest. A constant or perfectly regular stream costs zero bits per point (k = 1,
 * width 0); a 10 s interval with +-50 ms jitter costs ~8 bits; fixed Gorilla buckets would
 * spend 16. */
#include "store/tsz.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_XOR = 0, MODE_DECIMAL = 1 };
enum { T_DELTA = 0, T_DOD = 1, T_GRID = 2, T_COUNT = 3 };
#define TSZ_VERSION 0x10
#define DEC_MAX_EXP 9

static const double pow10_table[DEC_MAX_EXP + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                    1e5, 1e6, 1e7, 1e8, 1e9};

/* ---- bit writer / reader ------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t cap, len;
    uint64_t acc;  /* pending bits, right-aligned */
    unsigned nacc; /* < 8 between calls */
    bool overflow;
} bitw;

static void bw_put_small(bitw *w, uint64_t v, unsigned n) /* n <= 56 */
{
    if (n == 0) return;
    w->acc = (w->acc << n) | (v & ((UINT64_C(1) << n) - 1));
    w->nacc += n;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        if (w->len < w->cap)
            w->p[w->len++] = (uint8_t)(w->acc >> w->nacc);
        else
            w->overflow = true;
    }
}

static void bw_put(bitw *w, uint64_t v, unsigned n) /* n <= 64 */
{
    if (n > 32) {
        bw_put_small(w, v >> 32, n - 32);
        bw_put_small(w, v & 0xffffffffu, 32);
    } else {
        bw_put_small(w, v, n);
    }
}

static void bw_flush(bitw *w)
{
    if (w->nacc > 0) bw_put_small(w, 0, 8 - w->nacc);
}

typedef struct {
    const uint8_t *p;
    size_t nbits, pos;
    bool err;
} bitr;

static uint64_t br_get(bitr *r, unsigned n) /* n <= 64 */
{
    if (n == 0) return 0;
    if (r->err || n > r->nbits - r->pos) {
        r->err = true;
        return 0;
    }
    uint64_t v = 0;
    size_t pos = r->pos;
    unsigned left = n;
    while (left > 0) {
        unsigned avail = 8 - (unsigned)(pos & 7);
        unsigned k = left < avail ? left : avail;
        unsigned bits = ((unsigned)r->p[pos >> 3] >> (avail - k)) & ((1u << k) - 1);
        v = (v << k) | bits;
        pos += k;
        left -= k;
    }
    r->pos = pos;
    return v;
}

/* ---- integer helpers ------------------------------------------------------------------ */

static inline uint64_t zz(uint64_t u)
{
    return (u << 1) ^ (UINT64_C(0) - (u >> 63));
}

static inline uint64_t unzz(uint64_t z)
{
    return (z >> 1) ^ (UINT64_C(0) - (z & 1));
}

static inline unsigned bitlen(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static void put_bvarint(bitw *w, uint64_t u) /* zigzags u */
{
    uint64_t z = zz(u);
    unsigned l = bitlen(z);
    bw_put(w, l, 7);
    bw_put(w, z, l);
}

static uint64_t get_bvarint(bitr *r)
{
    unsigned l = (unsigned)br_get(r, 7);
    if (l > 64) {
        r->err = true;
        return 0;
    }
    return unzz(br_get(r, l));
}

static unsigned bvarint_bits(uint64_t u)
{
    return 7 + bitlen(zz(u));
}

static int64_t select_median(int64_t *a, size_t n) /* reorders a; n >= 1 */
{
    size_t k = n / 2, lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int64_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

/* ---- class tables ------------------------------------------------------------------- */

typedef struct {
    unsigned k;
    unsigned width[4];    /* per prefix slot, in code order */
    unsigned slot_of[65]; /* bit length -> slot */
    uint64_t bits;        /* header + payload bits */
} classes;

static const unsigned code_len[5][4] = {{0}, {0}, {1, 1}, {1, 2, 2}, {1, 2, 3, 3}};

/* Finds the cheapest table for a bit-length histogram: widths are cut points among the bit
 * lengths present (any other width is dominated), the most frequent class gets the shortest
 * prefix. */
static void choose_classes(const uint32_t hist[65], classes *out)
{
    unsigned lens[65], d = 0;
    uint64_t cum[66]; /* cum[i] = values with bit length <= lens[i-1] */
    cum[0] = 0;
    for (unsigned b = 0; b <= 64; b++) {
        if (!hist[b]) continue;
        lens[d] = b;
        cum[d + 1] = cum[d] + hist[b];
        d++;
    }
    memset(out, 0, sizeof *out);
    out->k = 1;
    if (d == 0) {
        out->bits = 2 + 7;
        return;
    }
    unsigned top = lens[d - 1];
    uint64_t best = UINT64_MAX;
    unsigned best_cut[4] = {0}, best_k = 1;
    /* cuts are indices into lens of each class's top; the last class ends at d-1 */
    unsigned cut[4];
    for (unsigned k = 1; k <= 4 && k <= d; k++) {
        /* enumerate c0 < c1 < c2 < d-1 (k-1 of them) */
        unsigned nc = k - 1;
        for (unsigned i = 0; i < nc; i++)
            cut[i] = i;
        for (;;) {
            uint64_t cnt[4];
            unsigned w[4];
            size_t prev = 0;
            for (unsigned i = 0; i < k; i++) {
                unsigned top_idx = i < nc ? cut[i] : d - 1;
                cnt[i] = cum[top_idx + 1] - cum[prev];
                w[i] = lens[top_idx];
                prev = top_idx + 1;
            }
            /* shortest codes to the largest counts */
            unsigned order[4] = {0, 1, 2, 3};
            for (unsigned i = 1; i < k; i++)
                for (unsigned j = i; j > 0 && cnt[order[j]] > cnt[order[j - 1]]; j--) {
                    unsigned t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
            uint64_t bits = 2 + 7 * k;
            for (unsigned s = 0; s < k; s++)
                bits += cnt[order[s]] * (code_len[k][s] + w[order[s]]);
            if (bits < best) {
                best = bits;
                best_k = k;
                for (unsigned i = 0; i < nc; i++)
                    best_cut[i] = cut[i];
            }
            /* next combination of nc indices out of 0..d-2 */
            if (nc == 0) break;
            int i = (int)nc - 1;
            while (i >= 0 && cut[i] == (d - 1) - nc + (unsigned)i)
                i--;
            if (i < 0) break;
            cut[i]++;
            for (unsigned j = (unsigned)i + 1; j < nc; j++)
                cut[j] = cut[j - 1] + 1;
        }
    }
    /* materialise the best table */
    unsigned k = best_k, nc = k - 1, w[4];
    uint64_t cnt[4];
    size_t prev = 0;
    for (unsigned i = 0; i < k; i++) {
        unsigned top_idx = i < nc ? best_cut[i] : d - 1;
        cnt[i] = cum[top_idx + 1] - cum[prev];
        w[i] = lens[top_idx];
        prev = top_idx + 1;
    }
    unsigned order[4] = {0, 1, 2, 3}, slot_of_class[4];
    for (unsigned i = 1; i < k; i++)
        for (unsigned j = i; j > 0 && cnt[order[j]] > cnt[order[j - 1]]; j--) {
            unsigned t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    out->k = k;
    for (unsigned s = 0; s < k; s++) {
        out->width[s] = w[order[s]];
        slot_of_class[order[s]] = s;
    }
    unsigned cls = 0;
    for (unsigned b = 0; b <= 64; b++) {
        while (cls < k - 1 && b > w[cls])
            cls++;
        out->slot_of[b] = b <= top ? slot_of_class[cls] : 0;
    }
    out->bits = best;
}

/* ---- integer streams ------------------------------------------------------------------ */

/* Fills y (m values) for transform t; returns m. param receives D or d_1. */
static size_t transform(int t, const uint64_t *x, size_t n, uint64_t param, uint64_t *y)
{
    size_t m = 0;
    switch (t) {
    case T_DELTA:
        for (size_t i = 1; i < n; i++)
            y[m++] = zz(x[i] - x[i - 1] - param);
        break;
    case T_DOD:
        for (size_t i = 2; i < n; i++)
            y[m++] = zz((x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]));
        break;
    default: {
        uint64_t g = x[0];
        for (size_t i = 1; i < n; i++) {
            g += param;
            y[m++] = zz(x[i] - g);
        }
        break;
    }
    }
    return m;
}

/* Sum of the bit lengths of transform t's values: the proxy used to pick the transform
 * before the (costlier) class table search. */
static uint64_t transform_bits(int t, const uint64_t *x, size_t n, uint64_t param)
{
    uint64_t bits = 0;
    switch (t) {
    case T_DELTA:
        for (size_t i = 1; i < n; i++)
            bits += bitlen(zz(x[i] - x[i - 1] - param));
        break;
    case T_DOD:
        for (size_t i = 2; i < n; i++)
            bits += bitlen(zz((x[i] - x[i - 1]) - (x[i - 1] - x[i - 2])));
        break;
    default: {
        uint64_t g = x[0];
        for (size_t i = 1; i < n; i++) {
            g += param;
            bits += bitlen(zz(x[i] - g));
        }
        break;
    }
    }
    return bits;
}

/* scratch holds 2n uint64. */
static void enc_ints(bitw *w, const uint64_t *x, size_t n, uint64_t *scratch)
{
    if (n == 0) return;
    put_bvarint(w, x[0]);
    if (n == 1) return;
    uint64_t *y = scratch, *tmp = scratch + n;
    uint64_t params[T_COUNT];
    int64_t *d = (int64_t *)tmp;
    for (size_t i = 1; i < n; i++)
        d[i - 1] = (int64_t)(x[i] - x[i - 1]);
    params[T_DELTA] = (uint64_t)select_median(d, n - 1);
    params[T_DOD] = x[1] - x[0];
    params[T_GRID] = (uint64_t)((int64_t)(x[n - 1] - x[0]) / (int64_t)(n - 1));

    int best_t = 0;
    uint64_t best_bits = UINT64_MAX;
    for (int t = 0; t < T_COUNT; t++) {
        uint64_t bits = bvarint_bits(params[t]) + transform_bits(t, x, n, params[t]);
        if (bits < best_bits) {
            best_bits = bits;
            best_t = t;
        }
    }
    size_t m = transform(best_t, x, n, params[best_t], y);
    uint32_t hist[65] = {0};
    for (size_t i = 0; i < m; i++)
        hist[bitlen(y[i])]++;
    classes best_cls;
    choose_classes(hist, &best_cls);
    bw_put(w, (uint64_t)best_t, 2);
    put_bvarint(w, params[best_t]);
    bw_put(w, best_cls.k - 1, 2);
    for (unsigned s = 0; s < best_cls.k; s++)
        bw_put(w, best_cls.width[s], 7);
    unsigned k = best_cls.k;
    for (size_t i = 0; i < m && !w->overflow; i++) {
        unsigned s = best_cls.slot_of[bitlen(y[i])];
        unsigned plen = code_len[k][s];
        uint64_t prefix = s == k - 1 ? (UINT64_C(1) << plen) - 1 : ((UINT64_C(1) << plen) - 2);
        if (k == 1) plen = 0;
        unsigned width = best_cls.width[s];
        if (plen + width <= 56) {
            bw_put_small(w, (prefix << width) | y[i], plen + width);
        } else {
            bw_put(w, prefix, plen);
            bw_put(w, y[i], width);
        }
    }
}

/* Decodes n values as uint64 into the 8-byte slots at out (int64 or double storage: the slots
 * are written with memcpy so the caller's element type does not matter). */
static void dec_ints(bitr *r, void *out, size_t n)
{
    uint8_t *o = out;
    if (n == 0) return;
    uint64_t x0 = get_bvarint(r), prev = x0, prev2 = 0;
    memcpy(o, &x0, 8);
    if (n == 1 || r->err) return;
    int t = (int)br_get(r, 2);
    uint64_t param = get_bvarint(r), g = x0;
    unsigned k = (unsigned)br_get(r, 2) + 1, width[4];
    for (unsigned s = 0; s < k; s++) {
        width[s] = (unsigned)br_get(r, 7);
        if (width[s] > 64) r->err = true;
    }
    if (t >= T_COUNT) r->err = true;
    if (r->err) return;
    size_t i = 1;
    if (t == T_DOD) {
        prev2 = prev;
        prev = x0 + param;
        memcpy(o + 8, &prev, 8);
        i = 2;
    }
    for (; i < n; i++) {
        unsigned s = 0;
        while (s < k - 1 && br_get(r, 1))
            s++;
        uint64_t y = unzz(br_get(r, width[s])), x;
        if (r->err) return;
        switch (t) {
        case T_DELTA:
            x = prev + param + y;
            break;
        case T_DOD:
            x = prev + (prev - prev2) + y;
            break;
        default:
            g += param;
            x = g + y;
            break;
        }
        memcpy(o + 8 * i, &x, 8);
        prev2 = prev;
        prev = x;
    }
}

/* ---- values ------------------------------------------------------------------------- */

static inline uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Smallest e such that every v == (double)m / 10^e bit for bit with |m| <= 2^53, filling m;
 * -1 if none. */
static int find_decimal(const double *v, size_t n, uint64_t *m)
{
    for (int e = 0; e <= DEC_MAX_EXP; e++) {
        double p = pow10_table[e];
        size_t i = 0;
        for (; i < n; i++) {
            double s = v[i] * p;
            if (!(fabs(s) <= 9007199254740992.0)) break; /* also rejects NaN and inf */
            int64_t mi = (int64_t)s; /* |s| <= 2^53: exact truncation, then round */
            double frac = s - (double)mi;
            if (frac >= 0.5)
                mi++;
            else if (frac <= -0.5)
                mi--;
            double back = (double)mi / p;
            if (dbits(back) != dbits(v[i])) break;
            m[i] = (uint64_t)mi;
        }
        if (i == n) return e;
    }
    return -1;
}

static void enc_xor(bitw *w, const double *v, size_t n)
{
    uint64_t prev = dbits(v[0]);
    bw_put(w, prev, 64);
    unsigned pl = 0, pt = 0;
    bool have = false;
    for (size_t i = 1; i < n && !w->overflow; i++) {
        uint64_t cur = dbits(v[i]), x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bw_put_small(w, 0, 1);
            continue;
        }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        if (lz > 31) lz = 31;
        if (have && lz >= pl && tz >= pt) {
            bw_put_small(w, 2, 2);
            bw_put(w, x >> pt, 64 - pl - pt);
        } else {
            unsigned sig = 64 - lz - tz;
            bw_put_small(w, (UINT64_C(3) << 11) | ((uint64_t)lz << 6) | (sig & 63), 13);
            bw_put(w, x >> tz, sig);
            pl = lz;
            pt = tz;
            have = true;
        }
    }
}

static void dec_xor(bitr *r, double *v, size_t n)
{
    uint64_t prev = br_get(r, 64);
    v[0] = bitsd(prev);
    unsigned pl = 0, pt = 0;
    bool have = false;
    for (size_t i = 1; i < n && !r->err; i++) {
        if (br_get(r, 1)) {
            if (br_get(r, 1)) {
                unsigned lz = (unsigned)br_get(r, 5), sig = (unsigned)br_get(r, 6);
                if (sig == 0) sig = 64;
                if (lz + sig > 64) {
                    r->err = true;
                    return;
                }
                pl = lz;
                pt = 64 - lz - sig;
                have = true;
            } else if (!have) {
                r->err = true;
                return;
            }
            prev ^= br_get(r, 64 - pl - pt) << pt;
        }
        v[i] = bitsd(prev);
    }
}

/* ---- public ------------------------------------------------------------------------- */

size_t tsz_bound(size_t n)
{
    /* header <= 8 bytes, stream headers < 64 bytes, per point <= 67 + 77 bits */
    return 96 + n * 18;
}

static size_t put_varint(uint8_t *out, uint64_t x)
{
    size_t i = 0;
    while (x >= 0x80) {
        out[i++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    out[i++] = (uint8_t)x;
    return i;
}

/* Parses the byte header; returns its length or 0 when malformed. */
static size_t parse_header(const uint8_t *in, size_t len, int *mode, size_t *n)
{
    if (!in || len < 2) return 0;
    if ((in[0] & 0xf0) != TSZ_VERSION || (in[0] & 0x0e) != 0) return 0;
    *mode = in[0] & 1;
    uint64_t x = 0;
    size_t i = 1;
    for (unsigned shift = 0;; shift += 7) {
        if (i >= len || shift > 28) return 0;
        uint8_t b = in[i++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    if (x > TSZ_MAX_POINTS) return 0;
    *n = (size_t)x;
    return i;
}

ssize_t tsz_encode(const int64_t *ts, const double *v, size_t n, uint8_t *out, size_t cap)
{
    if (n > TSZ_MAX_POINTS || !out || cap < 6 || (n > 0 && (!ts || !v))) return -1;
    ssize_t ret = -1;
    uint64_t stack[3 * 256], *heap = NULL, *scratch = stack, *m = stack + 2 * 256;
    if (n > 256) {
        heap = malloc(sizeof(uint64_t) * 3 * n);
        if (!heap) return -1;
        scratch = heap;
        m = heap + 2 * n;
    }
    int e = n > 0 ? find_decimal(v, n, m) : 0;
    int mode = e >= 0 ? MODE_DECIMAL : MODE_XOR;
    out[0] = (uint8_t)(TSZ_VERSION | mode);
    size_t hdr = 1 + put_varint(out + 1, n);
    bitw w = {.p = out, .cap = cap, .len = hdr};
    if (n > 0) {
        enc_ints(&w, (const uint64_t *)(const void *)ts, n, scratch);
        if (mode == MODE_DECIMAL) {
            bw_put(&w, (uint64_t)e, 4);
            enc_ints(&w, m, n, scratch);
        } else {
            enc_xor(&w, v, n);
        }
    }
    bw_flush(&w);
    if (!w.overflow) ret = (ssize_t)w.len;
    free(heap);
    return ret;
}

ssize_t tsz_decode(const uint8_t *in, size_t len, int64_t *ts, double *v, size_t cap)
{
    int mode;
    size_t n;
    size_t hdr = parse_header(in, len, &mode, &n);
    if (hdr == 0 || n > cap || (n > 0 && (!ts || !v))) return -1;
    if (n == 0) return hdr == len ? 0 : -1;
    bitr r = {.p = in + hdr, .nbits = (len - hdr) * 8};
    dec_ints(&r, (uint64_t *)ts, n);
    if (mode == MODE_DECIMAL) {
        unsigned e = (unsigned)br_get(&r, 4);
        if (e > DEC_MAX_EXP) return -1;
        /* decode the scaled integers into v's storage, then convert in place */
        dec_ints(&r, v, n);
        if (r.err) return -1;
        double p = pow10_table[e];
        for (size_t i = 0; i < n; i++) {
            uint64_t mi;
            memcpy(&mi, &v[i], 8);
            v[i] = (double)(int64_t)mi / p;
        }
    } else {
        dec_xor(&r, v, n);
    }
    if (r.err) return -1;
    /* only zero padding up to the byte boundary may follow */
    if (r.nbits - r.pos >= 8) return -1;
    if (br_get(&r, (unsigned)(r.nbits - r.pos)) != 0) return -1;
    return (ssize_t)n;
}

int tsz_count(const uint8_t *in, size_t len)
{
    int mode;
    size_t n;
    if (parse_header(in, len, &mode, &n) == 0) return -1;
    return (int)n;
}
