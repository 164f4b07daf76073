/* Population view: every peer_interval_s the shards report each series' mean since the last
 * round; devices of the same type are compared on the same metric (robust z against the peers'
 * median and MAD, smoothed per device), and a device that persistently departs from its peers
 * gets an anomaly, while a change of the whole fleet (weather, a firmware roll-out) does not. */
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
/* Loop thread, once a second: asks for summaries every interval, judges them shortly after. */
void population_tick(struct server *s, population *p, int64_t now_ms);

#endif
