/* Open-addressing hash map with string keys. Capacity is a power of two kept under 70% load
 * (live + tombstones), so a probe sequence always ends at an empty slot. */
#include "core/hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key; /* NULL = empty; TOMBSTONE = deleted */
    void *value;
    uint64_t hash;
} slot;

struct hmap {
    slot *slots;
    size_t cap, live, used; /* used = live + tombstones */
};

static char tombstone_marker;
#define TOMBSTONE (&tombstone_marker)

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

hmap *hmap_new(void)
{
    hmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof(slot));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void hmap_free(hmap *m, void (*free_value)(void *))
{
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++) {
        slot *s = &m->slots[i];
        if (s->key && s->key != TOMBSTONE) {
            free(s->key);
            if (free_value) free_value(s->value);
        }
    }
    free(m->slots);
    free(m);
}

static slot *find(const hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0) return s;
    }
}

void *hmap_get(const hmap *m, const char *key)
{
    slot *s = find(m, key, fnv1a(key));
    return s ? s->value : NULL;
}

static int grow(hmap *m)
{
    size_t ncap = m->live * 2 >= m->cap / 2 ? m->cap * 2 : m->cap; /* rehash drops tombstones */
    slot *ns = calloc(ncap, sizeof(slot));
    if (!ns) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        slot *s = &m->slots[i];
        if (!s->key || s->key == TOMBSTONE) continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->live;
    return 0;
}

void *hmap_put(hmap *m, const char *key, void *value, int *ok)
{
    if (ok) *ok = 1;
    uint64_t h = fnv1a(key);
    slot *s = find(m, key, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 10 >= m->cap * 7 && grow(m) != 0) {
        if (ok) *ok = 0;
        return NULL;
    }
    char *k = strdup(key);
    if (!k) {
        if (ok) *ok = 0;
        return NULL;
    }
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!m->slots[i].key) m->used++;
    m->slots[i] = (slot){k, value, h};
    m->live++;
    return NULL;
}

void *hmap_remove(hmap *m, const char *key)
{
    slot *s = find(m, key, fnv1a(key));
    if (!s) return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    m->live--;
    return v;
}

size_t hmap_size(const hmap *m)
{
    return m->live;
}

int hmap_next(const hmap *m, size_t *it, const char **key, void **value)
{
    while (*it < m->cap) {
        slot *s = &m->slots[(*it)++];
        if (s->key && s->key != TOMBSTONE) {
            if (key) *key = s->key;
            if (value) *value = s->value;
            return 1;
        }
    }
    return 0;
}
