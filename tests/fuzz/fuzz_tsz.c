/* libFuzzer driver for the tsz codec. Each input is used twice:
 *  1. as an encoded chunk: decoding must stay in bounds; if it succeeds, tsz_count agrees and
 *     re-encoding the points then decoding them again gives the same bits;
 *  2. as raw points (8-byte timestamp, 8-byte value pairs): encode then decode must give
 *     them back bit for bit. */
#include "store/tsz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 1024

static int64_t ts[MAXN], ts2[MAXN];
static double v[MAXN], v2[MAXN];
static uint8_t buf[96 + MAXN * 18];

static void check_roundtrip(size_t n)
{
    ssize_t len = tsz_encode(ts, v, n, buf, sizeof buf);
    if (len < 0 || (size_t)len > tsz_bound(n)) abort();
    if (tsz_count(buf, (size_t)len) != (int)n) abort();
    ssize_t m = tsz_decode(buf, (size_t)len, ts2, v2, MAXN);
    if (m != (ssize_t)n) abort();
    if (memcmp(ts, ts2, n * sizeof *ts) != 0 || memcmp(v, v2, n * sizeof *v) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ssize_t n = tsz_decode(data, size, ts, v, MAXN);
    if (n >= 0) {
        if (tsz_count(data, size) != (int)n) abort();
        check_roundtrip((size_t)n);
    }
    size_t np = size / 16;
    if (np > MAXN) np = MAXN;
    for (size_t i = 0; i < np; i++) {
        memcpy(&ts[i], data + 16 * i, 8);
        memcpy(&v[i], data + 16 * i + 8, 8);
    }
    check_roundtrip(np);
    return 0;
}
