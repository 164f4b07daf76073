/* Login throttling: after max_failures failed attempts on one key within window_ms, the key
 * is locked for lockout_ms. In memory, bounded, for one thread (the event loop).
 *
 * Keys are opaque strings; the API calls it with "email:<addr>" and "ip:<addr>" and refuses a
 * login if either is locked. Memory is bounded by max_entries: when full, the entry touched
 * least recently is evicted (a check on a locked key counts as a touch, so an attacker who
 * keeps hammering a locked account keeps it locked; an attacker who sprays max_entries fresh
 * keys can evict an idle lockout, which is why the per-IP key is checked too).
 *
 * Keys are stored as a keyed hash (HMAC-SHA-256 with a per-instance random key, truncated to
 * 128 bits): memory per entry is fixed, no email address sits in the table, and an attacker
 * cannot choose keys that collide in the hash map.
 *
 * Times are caller-supplied milliseconds; pass a monotonic clock (util_mono_ns()/1000000) so a
 * wall-clock step cannot lengthen or shorten a lockout. */
#ifndef IOTAD_AUTH_THROTTLE_H
#define IOTAD_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t max_failures; /* failures within window_ms that lock the key; default 5 */
    int64_t window_ms;     /* default 15 min */
    int64_t lockout_ms;    /* default 15 min */
    size_t max_entries;    /* default 65536 (about 10 MB at most) */
} auth_throttle_options;

typedef struct auth_throttle auth_throttle;

/* Fills in the defaults. */
void auth_throttle_options_default(auth_throttle_options *opt);
/* opt may be NULL (all defaults); a zero field takes its default. Returns NULL on negative
 * durations or when out of memory / RNG failure. Free with auth_throttle_free. */
auth_throttle *auth_throttle_new(const auth_throttle_options *opt);
void auth_throttle_free(auth_throttle *t);

/* 0 allowed, -1 locked; *retry_after_ms (may be NULL) gets the time left, 0 when allowed. */
int auth_throttle_check(auth_throttle *t, const char *key, int64_t now_ms, int64_t *retry_after_ms);
/* Records a failed attempt. Returns 1 if this failure locked the key (worth an audit entry),
 * 0 recorded, -1 out of memory (nothing recorded). Failures while locked do not extend the
 * lockout. */
int auth_throttle_failure(auth_throttle *t, const char *key, int64_t now_ms);
/* A successful login clears the key's failures. */
void auth_throttle_success(auth_throttle *t, const char *key);
/* Drops entries whose window and lockout have both passed; call it from a periodic timer. */
void auth_throttle_sweep(auth_throttle *t, int64_t now_ms);
/* Number of keys tracked. */
size_t auth_throttle_size(const auth_throttle *t);

#endif
