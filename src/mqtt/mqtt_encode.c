/* MQTT packet encoders. Each packet body is produced by one function run twice: first with a
 * counting writer (no buffer) to learn the remaining length and property lengths, then for
 * real. Server -> client packets (CONNACK, PUBACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT)
 * are what iotad sends; client -> server ones serve tests and load generators. */
#include "mqtt/mqtt_codec_int.h"

#include <limits.h>
#include <string.h>

typedef void (*body_fn)(mqtt_wr *w, const void *arg);

/* Writes fixed header + body into buf; the body function must be deterministic. */
static int emit(uint8_t *buf, size_t cap, uint8_t byte1, body_fn fn, const void *arg)
{
    mqtt_wr count = {NULL, 0, 0};
    fn(&count, arg);
    if (count.len > MQTT_MAX_REMAINING) return MQTT_ERR_ARG;
    size_t total = 1 + varint_size((uint32_t)count.len) + count.len;
    if (total > cap || total > INT_MAX) return MQTT_ERR_BUFFER;
    mqtt_wr w = {buf, cap, 0};
    wr_u8(&w, byte1);
    wr_varint(&w, (uint32_t)count.len);
    fn(&w, arg);
    return (int)w.len;
}

/* A property block: length (counted with a dry run) then the properties. */
static void wr_props(mqtt_wr *w, body_fn fn, const void *arg)
{
    mqtt_wr count = {NULL, 0, 0};
    if (fn) fn(&count, arg);
    wr_varint(w, (uint32_t)count.len);
    if (fn) fn(w, arg);
}

static void wp_u8(mqtt_wr *w, uint8_t id, uint8_t v)
{
    wr_u8(w, id);
    wr_u8(w, v);
}

static void wp_u16(mqtt_wr *w, uint8_t id, uint16_t v)
{
    wr_u8(w, id);
    wr_u16(w, v);
}

static void wp_u32(mqtt_wr *w, uint8_t id, uint32_t v)
{
    wr_u8(w, id);
    wr_u32(w, v);
}

static void wp_str(mqtt_wr *w, uint8_t id, const char *s, size_t n)
{
    wr_u8(w, id);
    wr_bin(w, s, n);
}

static bool str_ok(const char *s, size_t n)
{
    return n <= UINT16_MAX && (s || n == 0);
}

/* --- CONNACK --------------------------------------------------------------------------------- */

typedef struct {
    int version;
    const mqtt_connack *a;
} connack_arg;

static void connack_props(mqtt_wr *w, const void *arg)
{
    const mqtt_connack *a = arg;
    if (a->has_session_expiry) wp_u32(w, MQTT_PROP_SESSION_EXPIRY, a->session_expiry);
    if (a->has_receive_maximum) wp_u16(w, MQTT_PROP_RECEIVE_MAXIMUM, a->receive_maximum);
    if (a->has_maximum_qos) wp_u8(w, MQTT_PROP_MAXIMUM_QOS, a->maximum_qos);
    if (a->has_retain_available) wp_u8(w, MQTT_PROP_RETAIN_AVAILABLE, a->retain_available);
    if (a->has_maximum_packet_size)
        wp_u32(w, MQTT_PROP_MAXIMUM_PACKET_SIZE, a->maximum_packet_size);
    if (a->assigned_client_id)
        wp_str(w, MQTT_PROP_ASSIGNED_CLIENT_ID, a->assigned_client_id, a->assigned_client_id_len);
    if (a->has_topic_alias_maximum)
        wp_u16(w, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, a->topic_alias_maximum);
    if (a->reason_string)
        wp_str(w, MQTT_PROP_REASON_STRING, a->reason_string, a->reason_string_len);
    if (a->has_wildcard_sub) wp_u8(w, MQTT_PROP_WILDCARD_SUB_AVAILABLE, a->wildcard_sub_available);
    if (a->has_sub_id) wp_u8(w, MQTT_PROP_SUB_ID_AVAILABLE, a->sub_id_available);
    if (a->has_shared_sub) wp_u8(w, MQTT_PROP_SHARED_SUB_AVAILABLE, a->shared_sub_available);
    if (a->has_server_keep_alive) wp_u16(w, MQTT_PROP_SERVER_KEEP_ALIVE, a->server_keep_alive);
}

static void connack_body(mqtt_wr *w, const void *arg)
{
    const connack_arg *x = arg;
    bool v5 = x->version == MQTT_V5;
    uint8_t code = v5 ? x->a->reason : mqtt_connack_v3_code(x->a->reason);
    /* A refused CONNECT never has a session. */
    wr_u8(w, x->a->session_present && code == 0 ? 1 : 0);
    wr_u8(w, code);
    if (v5) wr_props(w, connack_props, x->a);
}

int mqtt_encode_connack(uint8_t *buf, size_t cap, int version, const mqtt_connack *ack)
{
    if (ack->maximum_qos > 1 || !str_ok(ack->reason_string, ack->reason_string_len) ||
        !str_ok(ack->assigned_client_id, ack->assigned_client_id_len))
        return MQTT_ERR_ARG;
    connack_arg x = {version, ack};
    return emit(buf, cap, MQTT_CONNACK << 4, connack_body, &x);
}

/* --- PUBACK ---------------------------------------------------------------------------------- */

typedef struct {
    int version;
    uint16_t packet_id;
    uint8_t reason;
    const char *rs;
    size_t rs_len;
} ack_arg;

static void reason_props(mqtt_wr *w, const void *arg)
{
    const ack_arg *x = arg;
    if (x->rs) wp_str(w, MQTT_PROP_REASON_STRING, x->rs, x->rs_len);
}

static void puback_body(mqtt_wr *w, const void *arg)
{
    const ack_arg *x = arg;
    wr_u16(w, x->packet_id);
    if (x->version != MQTT_V5 || (x->reason == 0 && !x->rs)) return; /* short form */
    wr_u8(w, x->reason);
    if (x->rs) wr_props(w, reason_props, x);
}

int mqtt_encode_puback(uint8_t *buf, size_t cap, int version, uint16_t packet_id, uint8_t reason,
                       const char *reason_string, size_t reason_string_len)
{
    if (packet_id == 0 || !str_ok(reason_string, reason_string_len)) return MQTT_ERR_ARG;
    ack_arg x = {version, packet_id, reason, reason_string, reason_string_len};
    return emit(buf, cap, MQTT_PUBACK << 4, puback_body, &x);
}

/* --- SUBACK / UNSUBACK ----------------------------------------------------------------------- */

typedef struct {
    int version;
    uint16_t packet_id;
    const uint8_t *codes;
    size_t count;
    bool unsuback;
} suback_arg;

static void suback_body(mqtt_wr *w, const void *arg)
{
    const suback_arg *x = arg;
    wr_u16(w, x->packet_id);
    if (x->version != MQTT_V5) {
        if (x->unsuback) return; /* 3.1.1 UNSUBACK: packet id only */
        for (size_t i = 0; i < x->count; i++)
            wr_u8(w, x->codes[i] >= 0x80 ? MQTT3_SUBACK_FAILURE : x->codes[i]);
        return;
    }
    wr_props(w, NULL, NULL);
    wr_raw(w, x->codes, x->count);
}

int mqtt_encode_suback(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                       const uint8_t *codes, size_t count)
{
    if (packet_id == 0 || count == 0 || !codes || count > MQTT_MAX_REMAINING) return MQTT_ERR_ARG;
    suback_arg x = {version, packet_id, codes, count, false};
    return emit(buf, cap, MQTT_SUBACK << 4, suback_body, &x);
}

int mqtt_encode_unsuback(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                         const uint8_t *codes, size_t count)
{
    if (packet_id == 0 || count > MQTT_MAX_REMAINING) return MQTT_ERR_ARG;
    if (version == MQTT_V5 && (count == 0 || !codes)) return MQTT_ERR_ARG;
    suback_arg x = {version, packet_id, codes, count, true};
    return emit(buf, cap, MQTT_UNSUBACK << 4, suback_body, &x);
}

/* --- PINGREQ / PINGRESP / DISCONNECT --------------------------------------------------------- */

static int encode_empty(uint8_t *buf, size_t cap, uint8_t type)
{
    if (cap < 2) return MQTT_ERR_BUFFER;
    buf[0] = (uint8_t)(type << 4);
    buf[1] = 0;
    return 2;
}

int mqtt_encode_pingresp(uint8_t *buf, size_t cap)
{
    return encode_empty(buf, cap, MQTT_PINGRESP);
}

int mqtt_encode_pingreq(uint8_t *buf, size_t cap)
{
    return encode_empty(buf, cap, MQTT_PINGREQ);
}

static void disconnect_body(mqtt_wr *w, const void *arg)
{
    const ack_arg *x = arg;
    if (x->reason == 0 && !x->rs) return; /* normal disconnection: empty body */
    wr_u8(w, x->reason);
    if (x->rs) wr_props(w, reason_props, x);
}

int mqtt_encode_disconnect(uint8_t *buf, size_t cap, int version, uint8_t reason,
                           const char *reason_string, size_t reason_string_len)
{
    if (version != MQTT_V5) return encode_empty(buf, cap, MQTT_DISCONNECT);
    if (!str_ok(reason_string, reason_string_len)) return MQTT_ERR_ARG;
    ack_arg x = {version, 0, reason, reason_string, reason_string_len};
    return emit(buf, cap, MQTT_DISCONNECT << 4, disconnect_body, &x);
}

/* --- CONNECT (client side) ------------------------------------------------------------------- */

static void connect_props(mqtt_wr *w, const void *arg)
{
    const mqtt_connect *c = arg;
    if (c->session_expiry) wp_u32(w, MQTT_PROP_SESSION_EXPIRY, c->session_expiry);
    if (c->receive_maximum && c->receive_maximum != 65535)
        wp_u16(w, MQTT_PROP_RECEIVE_MAXIMUM, c->receive_maximum);
    if (c->maximum_packet_size) wp_u32(w, MQTT_PROP_MAXIMUM_PACKET_SIZE, c->maximum_packet_size);
    if (c->topic_alias_maximum) wp_u16(w, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, c->topic_alias_maximum);
    if (!c->request_problem_info) wp_u8(w, MQTT_PROP_REQUEST_PROBLEM_INFO, 0);
    if (c->request_response_info) wp_u8(w, MQTT_PROP_REQUEST_RESPONSE_INFO, 1);
}

static void connect_body(mqtt_wr *w, const void *arg)
{
    const mqtt_connect *c = arg;
    bool v5 = c->protocol_version == MQTT_V5;
    wr_bin(w, "MQTT", 4);
    wr_u8(w, c->protocol_version);
    uint8_t flags =
        (uint8_t)((c->clean_start ? 0x02 : 0) | (c->will ? 0x04 : 0) |
                  ((c->will ? c->will_qos & 3 : 0) << 3) | (c->will && c->will_retain ? 0x20 : 0) |
                  (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));
    wr_u8(w, flags);
    wr_u16(w, c->keepalive);
    if (v5) wr_props(w, connect_props, c);
    wr_bin(w, c->client_id, c->client_id_len);
    if (c->will) {
        if (v5) wr_props(w, NULL, NULL);
        wr_bin(w, c->will_topic, c->will_topic_len);
        wr_bin(w, c->will_payload, c->will_payload_len);
    }
    if (c->has_username) wr_bin(w, c->username, c->username_len);
    if (c->has_password) wr_bin(w, c->password, c->password_len);
}

int mqtt_encode_connect(uint8_t *buf, size_t cap, const mqtt_connect *c)
{
    if (c->protocol_version != MQTT_V311 && c->protocol_version != MQTT_V5) return MQTT_ERR_ARG;
    if ((c->client_id_len && !c->client_id) || (c->will_topic_len && !c->will_topic) ||
        (c->will_payload_len && !c->will_payload) || (c->username_len && !c->username) ||
        (c->password_len && !c->password))
        return MQTT_ERR_ARG;
    return emit(buf, cap, MQTT_CONNECT << 4, connect_body, c);
}

/* --- PUBLISH (client side) ------------------------------------------------------------------- */

typedef struct {
    int version;
    const mqtt_publish *p;
} publish_arg;

static void publish_props(mqtt_wr *w, const void *arg)
{
    const mqtt_publish *p = arg;
    if (p->has_payload_format) wp_u8(w, MQTT_PROP_PAYLOAD_FORMAT, p->payload_format);
    if (p->has_message_expiry) wp_u32(w, MQTT_PROP_MESSAGE_EXPIRY, p->message_expiry);
    if (p->topic_alias) wp_u16(w, MQTT_PROP_TOPIC_ALIAS, p->topic_alias);
    if (p->content_type) wp_str(w, MQTT_PROP_CONTENT_TYPE, p->content_type, p->content_type_len);
    if (p->response_topic)
        wp_str(w, MQTT_PROP_RESPONSE_TOPIC, p->response_topic, p->response_topic_len);
    if (p->correlation_data)
        wp_str(w, MQTT_PROP_CORRELATION_DATA, (const char *)p->correlation_data,
               p->correlation_data_len);
}

static void publish_body(mqtt_wr *w, const void *arg)
{
    const publish_arg *x = arg;
    wr_bin(w, x->p->topic, x->p->topic_len);
    if (x->p->qos) wr_u16(w, x->p->packet_id);
    if (x->version == MQTT_V5) wr_props(w, publish_props, x->p);
    wr_raw(w, x->p->payload, x->p->payload_len);
}

int mqtt_encode_publish(uint8_t *buf, size_t cap, int version, const mqtt_publish *p)
{
    if (p->qos > 2 || (p->qos && p->packet_id == 0) || (p->topic_len && !p->topic) ||
        (p->payload_len && !p->payload))
        return MQTT_ERR_ARG;
    uint8_t byte1 = (uint8_t)((MQTT_PUBLISH << 4) | (p->dup && p->qos ? 0x08 : 0) | (p->qos << 1) |
                              (p->retain ? 1 : 0));
    publish_arg x = {version, p};
    return emit(buf, cap, byte1, publish_body, &x);
}

/* --- SUBSCRIBE / UNSUBSCRIBE (client side) --------------------------------------------------- */

typedef struct {
    int version;
    uint16_t packet_id;
    const char *const *filters;
    const uint8_t *options;
    size_t count;
} sub_arg;

static void sub_body(mqtt_wr *w, const void *arg)
{
    const sub_arg *x = arg;
    wr_u16(w, x->packet_id);
    if (x->version == MQTT_V5) wr_props(w, NULL, NULL);
    for (size_t i = 0; i < x->count; i++) {
        wr_bin(w, x->filters[i], strlen(x->filters[i]));
        if (x->options) wr_u8(w, x->options[i]);
    }
}

static int encode_sub(uint8_t *buf, size_t cap, uint8_t byte1, const sub_arg *x)
{
    if (x->packet_id == 0 || x->count == 0 || !x->filters) return MQTT_ERR_ARG;
    for (size_t i = 0; i < x->count; i++)
        if (!x->filters[i] || strlen(x->filters[i]) > UINT16_MAX) return MQTT_ERR_ARG;
    return emit(buf, cap, byte1, sub_body, x);
}

int mqtt_encode_subscribe(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                          const char *const *filters, const uint8_t *options, size_t count)
{
    if (!options) return MQTT_ERR_ARG;
    sub_arg x = {version, packet_id, filters, options, count};
    return encode_sub(buf, cap, (MQTT_SUBSCRIBE << 4) | 0x2, &x);
}

int mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                            const char *const *filters, size_t count)
{
    sub_arg x = {version, packet_id, filters, NULL, count};
    return encode_sub(buf, cap, (MQTT_UNSUBSCRIBE << 4) | 0x2, &x);
}
