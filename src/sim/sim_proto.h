/* Client side of the two wire protocols the simulated devices speak, as pure functions over
 * caller buffers: MQTT 3.1.1 / 5 packets (CONNECT, PUBLISH, PINGREQ, DISCONNECT out; CONNACK,
 * PUBACK, PINGRESP, DISCONNECT in) and HTTP/1.1 ingest requests and responses. The simulator's
 * libuv connections (sim.c) frame and send what these produce. */
#ifndef IOTAD_SIM_SIM_PROTO_H
#define IOTAD_SIM_SIM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MQTT_CONNECT 1
#define SIM_MQTT_CONNACK 2
#define SIM_MQTT_PUBLISH 3
#define SIM_MQTT_PUBACK 4
#define SIM_MQTT_PINGREQ 12
#define SIM_MQTT_PINGRESP 13
#define SIM_MQTT_DISCONNECT 14

/* Each encoder returns the packet length, or 0 when cap is too small or a field is too long.
 * version is 4 (MQTT 3.1.1) or 5. */
size_t sim_mqtt_connect(uint8_t *buf, size_t cap, int version, const char *client_id,
                        const char *username, const char *password, uint16_t keepalive_s);
size_t sim_mqtt_publish(uint8_t *buf, size_t cap, int version, const char *topic, int qos,
                        uint16_t packet_id, const void *payload, size_t payload_len);
size_t sim_mqtt_pingreq(uint8_t *buf, size_t cap);
size_t sim_mqtt_disconnect(uint8_t *buf, size_t cap, int version);

typedef struct {
    uint8_t type; /* SIM_MQTT_* */
    uint8_t rc;   /* CONNACK return/reason code, PUBACK/DISCONNECT reason (v5), else 0 */
    uint16_t packet_id;
    bool session_present;
} sim_mqtt_packet;

/* Parses one packet from the server at the start of buf. Returns the bytes it took (> 0),
 * 0 when more bytes are needed, -1 when the bytes are not a packet a server may send. */
int sim_mqtt_parse(const uint8_t *buf, size_t len, int version, sim_mqtt_packet *out);
/* True when a CONNACK code means "accepted". */
bool sim_mqtt_connack_ok(uint8_t rc);

/* The request line and headers of POST <path> with a JSON body of body_len bytes (the caller
 * appends the body). Returns the header length, or 0 when cap is too small. */
size_t sim_http_request(char *buf, size_t cap, const char *host, const char *path,
                        const char *api_key, size_t body_len);
/* Parses one response at the start of buf. Returns the bytes it took (> 0; headers and
 * Content-Length body), 0 when more are needed, -1 on a malformed or unsupported (chunked)
 * response. *keep_alive is false when the server will close the connection. */
int sim_http_response(const char *buf, size_t len, int *status, bool *keep_alive);

#endif
