/* Population view: devices of the same type compared on the same metric over data-time
 * buckets (peer_interval_s): a device departing from its peers, drifting away from them, or far
 * from all of them for its whole life gets an anomaly, while a change of the whole fleet
 * (weather, a firmware roll-out) does not. The charts are in detect/population.h. */
#ifndef IOTAD_API_POPULATION_H
#define IOTAD_API_POPULATION_H

#include <stdint.h>

struct server;
struct shard_event;
typedef struct population population;

population *population_new(void);
void population_free(population *p);
/* Loop thread: one SHARD_EV_SUMMARY event. */
void population_add(population *p, const struct shard_event *e);
/* Loop thread, once a second: judges the buckets every device has moved past (or that waited
 * peer_grace_s). */
void population_tick(struct server *s, population *p, int64_t now_ms);

#endif
