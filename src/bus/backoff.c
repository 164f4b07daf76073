/* The requeue back-off's schedule: see backoff.h. */
#include "bus/backoff.h"

void bus_backoff_init(bus_backoff *b, uint32_t min_ms, uint32_t max_ms)
{
    b->min_ms = min_ms ? min_ms : BUS_BACKOFF_MIN_MS;
    b->max_ms = max_ms ? max_ms : BUS_BACKOFF_MAX_MS;
    if (b->max_ms < b->min_ms) b->max_ms = b->min_ms;
    bus_backoff_reset(b);
}

uint32_t bus_backoff_next(bus_backoff *b)
{
    uint32_t d = b->next_ms;
    b->next_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
    b->rounds++;
    return d;
}

void bus_backoff_reset(bus_backoff *b)
{
    b->next_ms = b->min_ms;
    b->rounds = 0;
}
