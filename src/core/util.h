/* Small shared helpers: clocks, random bytes, UUIDs, hex, SHA-256, constant-time compare. */
#ifndef IOTAD_CORE_UTIL_H
#define IOTAD_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 36 /* without the NUL */

int64_t util_now_ms(void);              /* wall clock, ms since the Unix epoch */
int64_t util_mono_ns(void);             /* monotonic clock, ns */
int util_random(void *buf, size_t len); /* CSPRNG; 0 ok, -1 on failure */
/* Writes a time-ordered UUIDv7 string (36 chars + NUL) to out[37]. */
void util_uuid7(char out[UUID_STR_LEN + 1]);
/* A UUIDv7-shaped id that is a function of its inputs: ts_ms in the time field, the random
 * bits from SHA-256(name). The same thing (e.g. an anomaly episode seen again when points are
 * replayed after a crash) always gets the same id. */
void util_uuid7_named(char out[UUID_STR_LEN + 1], int64_t ts_ms, const void *name, size_t len);
bool util_uuid_valid(const char *s);
void util_hex(const uint8_t *in, size_t len, char *out); /* out has 2*len+1 bytes */
void util_sha256(const void *data, size_t len, uint8_t out[32]);
void util_sha256_hex(const void *data, size_t len, char out[65]);
/* Constant-time equality of two equal-length buffers. */
bool util_ct_equal(const void *a, const void *b, size_t len);
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out[32]. */
void util_rfc3339(int64_t ms, char out[32]);
/* Parses RFC 3339 (Z or +hh:mm offsets, optional fraction) to ms; 0 ok, -1 invalid. */
int util_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);
/* snprintf into a fixed buffer where cutting a long text is the intent (explanations with
 * user-chosen names), without the compiler's truncation warning at each call. */
void util_format(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
