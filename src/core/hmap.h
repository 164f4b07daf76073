/* A string-keyed open-addressing hash map (linear probing, FNV-1a, tombstones) owning
 * copies of its keys. Values are opaque pointers owned by the caller. Not thread-safe. */
#ifndef IOTAD_CORE_HMAP_H
#define IOTAD_CORE_HMAP_H

#include <stddef.h>

typedef struct hmap hmap;

hmap *hmap_new(void);
/* Frees the map and its key copies; calls free_value on each value if non-NULL. */
void hmap_free(hmap *m, void (*free_value)(void *));
void *hmap_get(const hmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). -1 cast on allocation failure
 * is avoided: returns NULL and sets *ok = 0 when ok is given. */
void *hmap_put(hmap *m, const char *key, void *value, int *ok);
void *hmap_remove(hmap *m, const char *key);
size_t hmap_size(const hmap *m);
/* Iteration: for (size_t it = 0; hmap_next(m, &it, &k, &v);) ... Do not modify during it. */
int hmap_next(const hmap *m, size_t *it, const char **key, void **value);

#endif
