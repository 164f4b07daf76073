/* Bridge mode: iotad subscribes to an existing MQTT broker (Mosquitto, EMQX, HiveMQ) and
 * ingests what devices publish there, with the same decoding, limits and detection as its own
 * MQTT listener, so devices need not move. Several iotad instances share the load through an
 * MQTT 5 shared subscription ($share/<group>/<filter>): the broker hands each message to one of
 * them. libmosquitto runs the client on a thread of its own; messages cross to the loop thread
 * through a bounded queue (a full queue stops the client reading: TCP back-pressure to the
 * broker, which keeps the messages in the session). */
#ifndef IOTAD_INGEST_BRIDGE_H
#define IOTAD_INGEST_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
typedef struct bridge bridge;

/* Where to connect, from bridge_url: mqtt://host[:1883] or mqtts://host[:8883]
 * (IPv6 literals in brackets). 0, or -1 with a message in err. */
typedef struct {
    char host[256];
    int port;
    bool tls;
} bridge_endpoint;
int bridge_parse_url(const char *url, bridge_endpoint *out, char *err, size_t errcap);

/* A topic filter with exactly one '+' level, the device id ("devices/+/telemetry",
 * "site1/+/up"); no '#'. 0, or -1 with a message in err. */
int bridge_check_filter(const char *filter, char *err, size_t errcap);
/* The device id a topic names under filter (the level matched by '+'), copied to out
 * (NUL-terminated); its length, or -1 if the topic does not match or the level does not fit. */
int bridge_topic_device(const char *filter, const char *topic, size_t topic_len, char *out,
                        size_t cap);

/* Starts the client from s->cfg (bridge_url, bridge_topic, ...); its counters are in
 * s->m.bridge (/metrics). 0, or -1 after logging why (bad configuration: iotad does not
 * start). A broker that cannot be reached is retried with
 * back-off; it does not stop the start. */
int bridge_start(struct server *s, bridge **out);
/* Called when the ingest queue has room again (writer drain): handles queued messages. */
void bridge_resume(bridge *b);
/* Disconnects (the broker keeps the session's messages for the next start), stops the
 * client thread, ingests what was already received (before the writer stops), and frees b
 * once the loop has closed its handle. Loop thread. */
void bridge_stop(bridge *b);

#endif
