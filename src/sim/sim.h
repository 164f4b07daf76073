/* The simulated device fleet started by `iotad serve --simulate`: registers devices of
 * several types and publishes realistic telemetry over real MQTT and HTTP connections to the
 * server's own listeners, with occasional injected faults and attack-like behaviour. */
#ifndef IOTAD_SIM_SIM_H
#define IOTAD_SIM_SIM_H
struct server;
typedef struct sim sim;
int sim_start(struct server *s, sim **out);
void sim_stop(sim *sm);
#endif
