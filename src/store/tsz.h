/* tsz: a compact codec for one chunk of (int64 timestamp ms, double value) points.
 *
 * Timestamps and "decimal" values (every value of the chunk is m / 10^e exactly for one
 * e in 0..9) go through an integer-stream coder: the cheapest of three transforms
 * (delta minus the median delta, delta-of-delta, residual from a regular grid) followed by
 * zigzag and up to four bit-width classes chosen per chunk and per stream. Other values
 * use Gorilla XOR. Round trips are bit-exact for every int64 and every double bit pattern
 * (-0.0, NaN payloads, infinities). Decoding never reads out of bounds on any input. */
#ifndef IOTAD_STORE_TSZ_H
#define IOTAD_STORE_TSZ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TSZ_MAX_POINTS (1u << 24)

/* Upper bound of the encoded size of n points (bytes). */
size_t tsz_bound(size_t n);

/* Encodes n points (any order, any values) into out[cap]. Returns the byte length, or -1 when
 * n > TSZ_MAX_POINTS or cap is too small (tsz_bound(n) is always enough). */
ssize_t tsz_encode(const int64_t *ts, const double *v, size_t n, uint8_t *out, size_t cap);

/* Decodes into ts[cap] and v[cap]. Returns the number of points, or -1 when the input is
 * malformed or holds more than cap points. */
ssize_t tsz_decode(const uint8_t *in, size_t len, int64_t *ts, double *v, size_t cap);

/* Number of points announced by the header, or -1 when the header is malformed. */
int tsz_count(const uint8_t *in, size_t len);

#endif
