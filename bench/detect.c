/* Detection throughput: the default per-series pipeline (det_series: robust baseline with its
 * level-shift stream, AR forecaster, likelihood, conformal tails, alert decision) over many series
 * fed in random
 * order, as a server shard sees them, so the state is cold in cache as in production.
 * Usage: bench_detect [series=100000] [points=20000000] [seed=1]
 * Prints one JSON line: points/s (wall clock, and per CPU-second of this one thread, which is
 * the one-core figure on a shared machine), bytes of state per series, snapshot bytes. */
#include "detect/series.h"

#include "core/util.h"

#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    size_t nseries = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    size_t npoints = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    if (nseries == 0 || npoints == 0) return 2;
    det_params p;
    det_params_default(&p);
    det_series *s = malloc(nseries * sizeof *s);
    uint32_t *order = malloc(nseries * sizeof *order);
    if (!s || !order) {
        fprintf(stderr, "bench_detect: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < nseries; i++) {
        if (det_series_init(&s[i], &p, det_mix64(seed + i)) != 0) {
            fprintf(stderr, "bench_detect: det_series_init failed\n");
            return 1;
        }
        order[i] = (uint32_t)i;
    }
    /* warm every series past its warm-up so the measured path is the steady state (the
     * likelihood warm-up is shortened here only to keep the run to seconds; the density
     * member's first window still has to pass) */
    p.warmup = 60;
    int64_t ts = 1700000000000LL;
    uint64_t rng = seed;
    det_result r;
    unsigned long long alerts = 0;
    for (uint32_t k = 0; k < p.hst_window + 20; k++, ts += 60000)
        for (size_t i = 0; i < nseries; i++)
            det_series_update(&s[i], &p, ts,
                              20.0 + sin((double)k * 0.05 + (double)i) + det_unit(det_mix64(rng++)),
                              &r);
    size_t done = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int64_t t0 = util_mono_ns();
    while (done < npoints) {
        for (size_t i = nseries - 1; i > 0; i--) { /* a fresh random order per round */
            size_t j = (size_t)(det_mix64(rng++) % (i + 1));
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (size_t i = 0; i < nseries && done < npoints; i++, done++) {
            uint32_t id = order[i];
            uint64_t h = det_mix64(rng++);
            double x = 20.0 + sin((double)(done / nseries) * 0.05 + id) + det_unit(h) +
                       ((h & 0x3FFF) == 0 ? 15.0 : 0.0);
            det_series_update(&s[id], &p, ts, x, &r);
            alerts += (unsigned)r.alert;
        }
        ts += 60000;
    }
    int64_t t1 = util_mono_ns();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double secs = (double)(t1 - t0) / 1e9;
    /* CPU time of this thread: the one-core figure even when the machine is shared */
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("{\"bench\":\"detect\",\"series\":%zu,\"points\":%zu,\"seconds\":%.3f,"
           "\"cpu_seconds\":%.3f,\"points_per_sec\":%.0f,\"points_per_cpu_sec\":%.0f,"
           "\"state_bytes_per_series\":%zu,\"snapshot_bytes\":%zu,\"alerts\":%llu}\n",
           nseries, done, secs, cpu, (double)done / secs, (double)done / cpu, sizeof(det_series),
           (size_t)DET_SERIES_SNAP_SIZE, alerts);
    free(s);
    free(order);
    return 0;
}
