/* Regular telemetry for the storage benchmarks (bench_tsdb, bench_pg_series): a xorshift
 * generator and per-series value models, so both measure bytes per point on the same data. */
#ifndef IOTAD_BENCH_TELEMETRY_H
#define IOTAD_BENCH_TELEMETRY_H

#include <stdint.h>

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static inline int irand(int lo, int hi)
{
    return lo + (int)(rng() % (uint64_t)(hi - lo + 1));
}

/* Per-series generator of regular telemetry; kind = s % 5. */
typedef struct {
    double x;     /* scaled integer state */
    double scale; /* 10^decimals */
    int jitter;   /* +- ms */
    int kind;
} gen;

static inline void gen_init(gen *g, int s)
{
    g->kind = s % 5;
    switch (g->kind) {
    case 0:
        g->scale = 100, g->jitter = 50, g->x = 2137;
        break; /* 2 decimals, jitter */
    case 1:
        g->scale = 10, g->jitter = 0, g->x = 550;
        break; /* 1 decimal */
    case 2:
        g->scale = 1, g->jitter = 20, g->x = 1e6;
        break; /* counter */
    case 3:
        g->scale = 1, g->jitter = 0, g->x = 1;
        break; /* constant */
    default:
        g->scale = 100, g->jitter = 5, g->x = 10132;
        break; /* 2 decimals */
    }
}

static inline double gen_next(gen *g)
{
    switch (g->kind) {
    case 2:
        g->x += irand(0, 300);
        break;
    case 3:
        break;
    default:
        g->x += irand(-5, 5);
        break;
    }
    return g->x / g->scale;
}

#endif
