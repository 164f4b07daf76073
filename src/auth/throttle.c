/* Login throttle: a hash map from keyed-hash of the key to an entry, plus an intrusive doubly
 * linked list in touch order (head = most recent) so eviction of the least recently touched
 * entry is O(1). Every entry is in both structures, or in neither. */
#include "auth/throttle.h"

#include "core/hmap.h"
#include "core/util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KEY_HEX 32 /* 128-bit truncated HMAC, hex */

typedef struct entry {
    char id[KEY_HEX + 1];
    uint32_t failures;
    int64_t window_start;
    int64_t locked_until; /* 0 = not locked */
    struct entry *prev, *next;
} entry;

struct auth_throttle {
    auth_throttle_options opt;
    uint8_t secret[32];
    hmap *map;
    entry *head, *tail;
};

void auth_throttle_options_default(auth_throttle_options *opt)
{
    opt->max_failures = 5;
    opt->window_ms = 15 * 60 * 1000;
    opt->lockout_ms = 15 * 60 * 1000;
    opt->max_entries = 65536;
}

auth_throttle *auth_throttle_new(const auth_throttle_options *opt)
{
    auth_throttle_options o;
    auth_throttle_options_default(&o);
    if (opt) {
        if (opt->window_ms < 0 || opt->lockout_ms < 0) return NULL;
        if (opt->max_failures) o.max_failures = opt->max_failures;
        if (opt->window_ms) o.window_ms = opt->window_ms;
        if (opt->lockout_ms) o.lockout_ms = opt->lockout_ms;
        if (opt->max_entries) o.max_entries = opt->max_entries;
    }
    auth_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->opt = o;
    t->map = hmap_new();
    if (!t->map || util_random(t->secret, sizeof t->secret) != 0) {
        auth_throttle_free(t);
        return NULL;
    }
    return t;
}

void auth_throttle_free(auth_throttle *t)
{
    if (!t) return;
    hmap_free(t->map, free);
    explicit_bzero(t->secret, sizeof t->secret);
    free(t);
}

static void key_id(const auth_throttle *t, const char *key, char out[KEY_HEX + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), t->secret, (int)sizeof t->secret, (const unsigned char *)key, strlen(key),
         md, &mdlen);
    util_hex(md, KEY_HEX / 2, out);
}

static void list_unlink(auth_throttle *t, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(auth_throttle *t, entry *e)
{
    e->prev = NULL;
    e->next = t->head;
    if (t->head) t->head->prev = e;
    t->head = e;
    if (!t->tail) t->tail = e;
}

static void touch(auth_throttle *t, entry *e)
{
    if (t->head == e) return;
    list_unlink(t, e);
    list_push_front(t, e);
}

static void drop(auth_throttle *t, entry *e)
{
    list_unlink(t, e);
    hmap_remove(t->map, e->id);
    free(e);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int auth_throttle_check(auth_throttle *t, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    if (retry_after_ms) *retry_after_ms = 0;
    char id[KEY_HEX + 1];
    key_id(t, key, id);
    entry *e = hmap_get(t->map, id);
    if (!e || !e->locked_until) return 0;
    if (e->locked_until > now_ms) {
        touch(t, e);
        if (retry_after_ms) *retry_after_ms = e->locked_until - now_ms;
        return -1;
    }
    /* The lockout has passed: start afresh. */
    e->locked_until = 0;
    e->failures = 0;
    e->window_start = now_ms;
    return 0;
}

int auth_throttle_failure(auth_throttle *t, const char *key, int64_t now_ms)
{
    char id[KEY_HEX + 1];
    key_id(t, key, id);
    entry *e = hmap_get(t->map, id);
    if (!e) {
        if (hmap_size(t->map) >= t->opt.max_entries && t->tail) drop(t, t->tail);
        e = calloc(1, sizeof *e);
        if (!e) return -1;
        memcpy(e->id, id, sizeof e->id);
        e->window_start = now_ms;
        int ok = 1;
        hmap_put(t->map, e->id, e, &ok);
        if (!ok) {
            free(e);
            return -1;
        }
        list_push_front(t, e);
    } else {
        touch(t, e);
    }
    if (e->locked_until) {
        if (e->locked_until > now_ms) return 0; /* already locked; do not extend */
        e->locked_until = 0;
        e->failures = 0;
        e->window_start = now_ms;
    }
    if (now_ms - e->window_start >= t->opt.window_ms) {
        e->failures = 0;
        e->window_start = now_ms;
    }
    e->failures++;
    if (e->failures >= t->opt.max_failures) {
        e->locked_until = add_sat(now_ms, t->opt.lockout_ms);
        return 1;
    }
    return 0;
}

void auth_throttle_success(auth_throttle *t, const char *key)
{
    char id[KEY_HEX + 1];
    key_id(t, key, id);
    entry *e = hmap_get(t->map, id);
    if (e) drop(t, e);
}

void auth_throttle_sweep(auth_throttle *t, int64_t now_ms)
{
    for (entry *e = t->head, *next; e; e = next) {
        next = e->next;
        bool idle = e->locked_until ? e->locked_until <= now_ms
                                    : now_ms - e->window_start >= t->opt.window_ms;
        if (idle) drop(t, e);
    }
}

size_t auth_throttle_size(const auth_throttle *t)
{
    return hmap_size(t->map);
}
