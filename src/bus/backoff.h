/* bus/backoff: the delay before a message the store could not take goes back to its queue.
 * Requeued at once, a message whose store is failing comes back as fast as the broker can
 * redeliver it (thousands of times a second, each time a decode and a writer job for nothing);
 * held for a while first, it comes back at most once per delay, and the consumer's prefetch
 * window (the held messages are unacked) stops the broker from sending more meanwhile.
 *
 * The schedule: min_ms, then doubling at each requeue round up to max_ms; back to min_ms once
 * the store commits again (bus_backoff_reset). Pure: the caller owns the timer. */
#ifndef IOTAD_BUS_BACKOFF_H
#define IOTAD_BUS_BACKOFF_H

#include <stdint.h>

#define BUS_BACKOFF_MIN_MS 250
#define BUS_BACKOFF_MAX_MS 10000

typedef struct {
    uint32_t min_ms, max_ms;
    uint32_t next_ms; /* the delay the next round gets */
    uint32_t rounds;  /* rounds since the last reset */
} bus_backoff;

/* min_ms >= 1, max_ms >= min_ms (0s: the defaults above). */
void bus_backoff_init(bus_backoff *b, uint32_t min_ms, uint32_t max_ms);
/* A round of requeues starts: the delay it waits, and the next one doubles (capped). */
uint32_t bus_backoff_next(bus_backoff *b);
/* The store committed: the next round waits min_ms again. */
void bus_backoff_reset(bus_backoff *b);

#endif
