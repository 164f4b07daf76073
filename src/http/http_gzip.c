/* gzip of response bodies (see http_gzip.h). */
#include "http/http_gzip.h"

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

unsigned char *http_gzip(const void *in, size_t len, int level, size_t *out_len)
{
    z_stream z = {0};
    /* 15 window bits + 16: a gzip header and trailer instead of zlib's */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || n >= len) {
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}
