/* Helpers every back-end gets for free: built from the ops tables of store.h. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

void store_setting_or(store *st, const char *key, const char *def, char *out, size_t cap)
{
    if (STORE_SETTINGS(st)->get(st, key, out, cap) != STORE_OK) snprintf(out, cap, "%s", def);
}

int64_t store_setting_int(store *st, const char *key, int64_t def)
{
    char buf[32];
    if (STORE_SETTINGS(st)->get(st, key, buf, sizeof buf) != STORE_OK) return def;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return *end == '\0' && end != buf ? v : def;
}
