/* MQTT subscriptions for integrations: Node-RED, Home Assistant and other stock MQTT clients
 * log in to iotad's own MQTT listeners with user name "token" and an API token
 * (api/api_tokens.c) as password, and SUBSCRIBE (QoS 0) to read-only topics:
 *
 *   iotad/anomalies/<device>        an anomaly stored or changed (the API's anomaly row)
 *   iotad/alerts/<device>           an alert stored or changed (the API's alert row)
 *   iotad/incidents/<device>        an incident stored or changed ("none": no device)
 *   iotad/devices/<device>/status   {"device_id","status":"online"|"offline","ts"}
 *   iotad/devices/<device>/points   {"device_id","points":[{"metric","ts","value"}]}
 *
 * Wildcards are allowed; a connection sees what its user's role sees (a DeviceOwner only its
 * own devices). Such a connection may not publish. Delivery is QoS 0 from the event sink
 * (core/events.h), with a bound on each connection's queued output (mqtt_sub_queue_bytes):
 * over it a message is dropped and counted, so a slow subscriber never holds memory or the
 * loop. The hub is a listener of the server's sink; server.c routes "token" logins here. */
#ifndef IOTAD_API_MQTT_SUB_H
#define IOTAD_API_MQTT_SUB_H

#include "core/events.h"
#include "mqtt/mqtt_server.h"

#include <stdbool.h>
#include <stdint.h>

struct server;
typedef struct mqtt_sub_hub mqtt_sub_hub;

typedef struct {
    uint64_t connections;     /* logged in with a token now */
    uint64_t sent, dropped;   /* messages queued to subscribers / dropped (queue full) */
    uint64_t refused_auth;    /* CONNECTs with user name "token" refused */
    uint64_t refused_publish; /* PUBLISH from a token connection */
    uint64_t refused_filters; /* topic filters refused in SUBSCRIBE */
} mqtt_sub_stats;

#define MQTT_SUB_USERNAME "token"

mqtt_sub_hub *mqtt_sub_hub_new(struct server *s);
/* After the MQTT listeners have closed their connections. */
void mqtt_sub_hub_free(mqtt_sub_hub *h);
ev_listener mqtt_sub_listener(mqtt_sub_hub *h);
/* Whether a CONNECT is an integration's (user name "token") rather than a device's. */
bool mqtt_sub_is_token_login(const mqtt_connect_info *info);
/* The on_connect verdict for a token login: authenticates the token (0x86 when unknown,
 * revoked or its user disabled) and on success hands the connection to the hub. */
uint8_t mqtt_sub_connect(mqtt_sub_hub *h, mqtt_conn *c, const mqtt_connect_info *info);
/* Disconnects (0x87 Not authorized) the subscribers logged in with the token of this prefix
 * or, with user_id, every one of that user's (NULL: not this criterion). */
void mqtt_sub_drop(mqtt_sub_hub *h, const char *token_prefix, const char *user_id);
void mqtt_sub_get_stats(const mqtt_sub_hub *h, mqtt_sub_stats *out);

#endif
