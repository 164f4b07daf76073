/* Event-loop lag: how late a loop runs what is due, measured by a timer's lateness.
 *
 * A timer on the loop is due every period_ms; when its callback runs, the time past its due
 * time is what any callback, timer or packet due then waited for: a loop blocked in a long
 * callback (JSON decoding, a burst of reads) or, for the device subloop (core/subloop.h), run
 * late by the main loop. One timer callback per period: the measurement costs nothing
 * measurable. The timer does not keep its loop alive. */
#ifndef IOTAD_CORE_LOOPLAG_H
#define IOTAD_CORE_LOOPLAG_H

#include <stdint.h>
#include <uv.h>

#define LOOPLAG_BUCKETS 11
/* Upper bounds of the histogram buckets, seconds (Prometheus "le"); a last one is +Inf. */
extern const double looplag_bounds_s[LOOPLAG_BUCKETS];

typedef struct looplag looplag;

typedef struct {
    uint64_t count;                        /* lateness samples */
    uint64_t buckets[LOOPLAG_BUCKETS + 1]; /* per bucket (not cumulative); the last: +Inf */
    uint64_t sum_ns;                       /* of every sample */
    uint64_t max_ns;                       /* the most, over the last 30 to 60 s */
} looplag_stats;

/* 0, or a negative libuv error (nothing started). period_ms: 0 is 100. */
int looplag_start(uv_loop_t *loop, unsigned period_ms, looplag **out);
/* Stops the timer and frees the measurement once its handle has closed (on a loop run). */
void looplag_stop(looplag *l);
/* Zeros when l is NULL. */
void looplag_get_stats(const looplag *l, looplag_stats *out);

#endif
