/* See connlimit.h. Per-address counts live in a string map (address -> count, removed at 0). */
#include "core/connlimit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/hmap.h"

struct connlimit {
    connlimit_options opt;
    hmap *per_addr;
    uint64_t total;
    connlimit_stats st;
};

connlimit *connlimit_new(const connlimit_options *opt)
{
    connlimit *l = calloc(1, sizeof *l);
    if (!l || !(l->per_addr = hmap_new())) {
        free(l);
        return NULL;
    }
    l->opt = *opt;
    if (l->opt.reserve >= l->opt.budget && l->opt.budget) l->opt.reserve = l->opt.budget / 2;
    return l;
}

void connlimit_free(connlimit *l)
{
    if (!l) return;
    hmap_free(l->per_addr, NULL);
    free(l);
}

connlim_result connlimit_acquire(connlimit *l, connlim_class cls, const char *addr)
{
    if (!l) return CONNLIM_OK;
    uint64_t cap = l->opt.budget;
    if (cap && cls != CONNLIM_HTTP) cap -= l->opt.reserve;
    if (cap && l->total >= cap) {
        l->st.refused[cls][CONNLIM_BUDGET]++;
        return CONNLIM_BUDGET;
    }
    uintptr_t n = (uintptr_t)hmap_get(l->per_addr, addr);
    if (l->opt.per_address && n >= l->opt.per_address) {
        l->st.refused[cls][CONNLIM_PER_ADDRESS]++;
        return CONNLIM_PER_ADDRESS;
    }
    int ok = 1;
    hmap_put(l->per_addr, addr, (void *)(n + 1), &ok);
    if (!ok) {
        l->st.refused[cls][CONNLIM_BUDGET]++; /* out of memory: as good as out of room */
        return CONNLIM_BUDGET;
    }
    l->total++;
    l->st.current[cls]++;
    return CONNLIM_OK;
}

void connlimit_release(connlimit *l, connlim_class cls, const char *addr)
{
    if (!l) return;
    uintptr_t n = (uintptr_t)hmap_get(l->per_addr, addr);
    if (n == 0) return; /* not counted */
    if (n == 1)
        hmap_remove(l->per_addr, addr);
    else
        hmap_put(l->per_addr, addr, (void *)(n - 1), NULL);
    l->total--;
    l->st.current[cls]--;
}

void connlimit_get_stats(const connlimit *l, connlimit_stats *out)
{
    if (!l) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = l->st;
    out->addresses = hmap_size(l->per_addr);
}

const char *connlimit_reason_name(connlim_result r)
{
    return r == CONNLIM_PER_ADDRESS ? "per_address" : r == CONNLIM_BUDGET ? "fd_budget" : "ok";
}

unsigned connlimit_fd_budget(unsigned reserve_fds)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 30) return 1u << 30;
    return rl.rlim_cur > reserve_fds ? (unsigned)(rl.rlim_cur - reserve_fds) : 1;
}
