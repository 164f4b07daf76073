/* gzip (RFC 1952) of a response body in memory, with zlib, for clients that send
 * Accept-Encoding: gzip. */
#ifndef IOTAD_HTTP_GZIP_H
#define IOTAD_HTTP_GZIP_H

#include <stddef.h>

/* Bodies shorter than this are sent as they are: the header and a round trip cost more. */
#define HTTP_GZIP_MIN_BYTES 1024

/* The gzip stream of in[0..len) at zlib level `level` (1 fast .. 9 small), malloc'ed, its size
 * in *out_len; NULL when out of memory or when it would not be smaller than the input. */
unsigned char *http_gzip(const void *in, size_t len, int level, size_t *out_len);

#endif
