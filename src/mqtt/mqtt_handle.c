/* What the MQTT server does with each packet once framed, split by packet as in Mosquitto:
 * CONNECT (validation, policy, the application's verdict, CONNACK with server limits),
 * PUBLISH (limits, receive maximum, on_publish, 3.1.1 flow control), SUBSCRIBE/UNSUBSCRIBE
 * (always refused: iotad delivers nothing to devices), PINGREQ, DISCONNECT, and PUBACK
 * from the application. Replies are queued; the I/O side (mqtt_server.c) flushes them. */
#include "core/log.h"
#include "core/util.h"
#include "mqtt/mqtt_server_int.h"

#include <stdlib.h>
#include <string.h>

/* Keeps s valid-UTF-8 while cutting it to at most max bytes (never splits a character). */
static size_t utf8_clip(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* --- Replies --------------------------------------------------------------------------------- */

/* A v5 packet with a reason string must not exceed the client's Maximum Packet Size; the
 * string is what gets dropped. */
static bool fits_client(const mqtt_conn *c, int n)
{
    return c->client_max_packet == 0 || (uint32_t)n <= c->client_max_packet;
}

void mqtt_srv_send_disconnect(mqtt_conn *c, uint8_t reason)
{
    if (c->version != 5) return;
    if (!mqtt_reason_allowed(MQTT_DISCONNECT, reason)) reason = MQTT_RC_UNSPECIFIED_ERROR;
    uint8_t buf[128];
    const char *rs = mqtt_reason_name(reason);
    /* Reason string always: paho 1.6 only reads the reason code when properties follow. */
    int n = mqtt_encode_disconnect(buf, sizeof buf, 5, reason, rs, strlen(rs));
    if (n < 0 || !fits_client(c, n)) n = mqtt_encode_disconnect(buf, sizeof buf, 5, reason, 0, 0);
    mqtt_srv_out_append(c, buf, n);
}

static void send_connack(mqtt_conn *c, int version, const mqtt_connack *ack)
{
    uint8_t buf[512];
    int n = mqtt_encode_connack(buf, sizeof buf, version, ack);
    if ((n < 0 || !fits_client(c, n)) && ack->reason_string) {
        mqtt_connack a = *ack;
        a.reason_string = NULL;
        a.reason_string_len = 0;
        n = mqtt_encode_connack(buf, sizeof buf, version, &a);
    }
    mqtt_srv_out_append(c, buf, n);
}

static void send_connack_refusal(mqtt_conn *c, int version, uint8_t reason)
{
    mqtt_server *s = c->srv;
    s->st.connect_refused++;
    mqtt_connack a = {.reason = reason};
    if (version == 5) {
        a.reason_string = mqtt_reason_name(reason);
        a.reason_string_len = (uint16_t)strlen(a.reason_string);
    }
    send_connack(c, version, &a);
}

/* A framing or protocol violation: v5 clients get a DISCONNECT with the reason code. */
void mqtt_srv_protocol_error(mqtt_conn *c, int err, uint8_t reason)
{
    mqtt_server *s = c->srv;
    s->st.protocol_errors++;
    if (err == MQTT_ERR_TOO_LARGE) s->st.too_large++;
    log_info("mqtt_protocol_error", "peer=%s version=%d error=%s reason=0x%02x", c->peer,
             c->version, err ? mqtt_err_name(err) : "-", reason);
    mqtt_srv_close(c, MQTT_CLOSE_PROTOCOL_ERROR, reason);
}

/* --- Packets ---------------------------------------------------------------------------------- */

static void handle_connect(mqtt_conn *c, const uint8_t *body, size_t len)
{
    mqtt_server *s = c->srv;
    mqtt_connect ci;
    int rc = mqtt_parse_connect(body, len, &ci);
    if (rc) {
        uint8_t reason = mqtt_err_reason(rc);
        log_info("mqtt_connect_refused", "peer=%s version=%d error=%s", c->peer,
                 ci.protocol_version, mqtt_err_name(rc));
        if (reason == MQTT_RC_MALFORMED_PACKET || reason == MQTT_RC_PROTOCOL_ERROR)
            s->st.protocol_errors++;
        else
            s->st.connect_unsupported++;
        if (rc == MQTT_ERR_PROTOCOL_VERSION) {
            /* Unknown level: answer in the 3.1.1 format, which every version understands. */
            send_connack_refusal(c, 4, reason);
        } else if (ci.protocol_version == 5 && rc != MQTT_ERR_PROTOCOL_NAME) {
            c->version = 5;
            send_connack_refusal(c, 5, reason);
        } else if (rc == MQTT_ERR_CLIENT_ID) {
            send_connack_refusal(c, 4, reason);
        } else {
            s->st.connect_refused++; /* malformed 3.1.1 CONNECT: close without CONNACK */
        }
        mqtt_srv_close(c, MQTT_CLOSE_PROTOCOL_ERROR, -1);
        return;
    }
    c->version = ci.protocol_version;
    bool v5 = c->version == 5;
    c->request_problem_info = ci.request_problem_info;
    c->client_max_packet = v5 ? ci.maximum_packet_size : 0;
    c->session_expiry_zero = ci.session_expiry == 0;

    uint8_t refuse = 0;
    if (v5 && ci.will && ci.will_qos > 1) refuse = MQTT_RC_QOS_NOT_SUPPORTED;
    if (v5 && ci.will && ci.will_retain) refuse = MQTT_RC_RETAIN_NOT_SUPPORTED;
    uint16_t ka = ci.keepalive;
    bool ka_changed = false;
    if (s->opt.max_keepalive && (ka == 0 || ka > s->opt.max_keepalive)) {
        if (v5) {
            ka = s->opt.max_keepalive;
            ka_changed = true;
        } else {
            refuse = MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID; /* 3.1.1 can't be told: as Mosquitto */
        }
    }
    if (refuse) {
        s->st.connect_unsupported++;
        log_info("mqtt_connect_refused", "peer=%s version=%d reason=0x%02x", c->peer, c->version,
                 refuse);
        send_connack_refusal(c, c->version, refuse);
        mqtt_srv_close(c, MQTT_CLOSE_PROTOCOL_ERROR, -1);
        return;
    }

    char assigned[40];
    mqtt_connect_info info = {
        .protocol_version = c->version,
        .client_id = ci.client_id,
        .client_id_len = ci.client_id_len,
        .username = ci.has_username ? ci.username : NULL,
        .username_len = ci.username_len,
        .password = ci.has_password ? ci.password : NULL,
        .password_len = ci.password_len,
        .clean_start = ci.clean_start,
        .keepalive = ka,
        .will = ci.will,
        .session_expiry = ci.session_expiry,
        .peer = c->peer,
    };
    if (ci.client_id_len == 0 && v5) {
        uint8_t rnd[12];
        if (util_random(rnd, sizeof rnd) != 0) {
            uint64_t t = (uint64_t)util_mono_ns() ^ (uintptr_t)c;
            memcpy(rnd, &t, 8);
            memset(rnd + 8, 0, 4);
        }
        memcpy(assigned, "iotad-", 6);
        util_hex(rnd, sizeof rnd, assigned + 6);
        info.client_id = assigned;
        info.client_id_len = strlen(assigned);
        info.client_id_assigned = true;
    }
    c->keepalive = ka;
    uint8_t reason = s->cb.on_connect ? s->cb.on_connect(s->ud, c, &info) : 0;
    bool subscribable = c->cb->on_subscribe != NULL; /* on_connect may have set a handler */
    if (c->state != CS_AWAIT_CONNECT) return;        /* the application closed it */
    if (!mqtt_reason_allowed(MQTT_CONNACK, reason)) reason = MQTT_RC_UNSPECIFIED_ERROR;
    if (reason != 0) {
        log_info("mqtt_connect_refused", "peer=%s version=%d reason=0x%02x", c->peer, c->version,
                 reason);
        send_connack_refusal(c, c->version, reason);
        mqtt_srv_close(c, MQTT_CLOSE_PROTOCOL_ERROR, -1);
        return;
    }
    c->state = CS_CONNECTED;
    s->st.sessions_current++;
    mqtt_srv_arm_keepalive(c);
    if (ci.will && (c->will = calloc(1, sizeof *c->will)) != NULL) {
        c->will->topic = malloc(ci.will_topic_len ? ci.will_topic_len : 1);
        c->will->payload = malloc(ci.will_payload_len ? ci.will_payload_len : 1);
        if (!c->will->topic || !c->will->payload) {
            mqtt_srv_will_free(c);
        } else {
            memcpy(c->will->topic, ci.will_topic, ci.will_topic_len);
            memcpy(c->will->payload, ci.will_payload, ci.will_payload_len);
            c->will->topic_len = ci.will_topic_len;
            c->will->payload_len = ci.will_payload_len;
            c->will->qos = ci.will_qos;
            c->will->retain = ci.will_retain;
        }
    }
    mqtt_connack a = {.reason = 0};
    if (v5) {
        a.has_receive_maximum = true;
        a.receive_maximum = s->opt.receive_maximum;
        a.has_maximum_qos = true;
        a.maximum_qos = 1;
        a.has_retain_available = true;
        a.retain_available = false;
        a.has_maximum_packet_size = true;
        a.maximum_packet_size = (uint32_t)s->opt.max_packet_size;
        a.has_topic_alias_maximum = true;
        a.topic_alias_maximum = 0;
        a.has_wildcard_sub = true;
        a.wildcard_sub_available = subscribable;
        a.has_sub_id = true;
        a.sub_id_available = false;
        a.has_shared_sub = true;
        a.shared_sub_available = false;
        a.has_server_keep_alive = ka_changed;
        a.server_keep_alive = ka;
        /* No session state is kept: say so when the client asked for one. */
        a.has_session_expiry = ci.session_expiry != 0;
        a.session_expiry = 0;
        if (info.client_id_assigned) {
            a.assigned_client_id = info.client_id;
            a.assigned_client_id_len = (uint16_t)info.client_id_len;
        }
    }
    send_connack(c, c->version, &a);
    log_debug("mqtt_connected", "peer=%s version=%d keepalive=%u", c->peer, c->version, ka);
}

static void handle_publish(mqtt_conn *c, const mqtt_fixed_header *fh, const uint8_t *body)
{
    mqtt_server *s = c->srv;
    mqtt_limits lim = {.max_qos = 1, .retain_available = c->version != 5, .topic_alias_max = 0};
    mqtt_publish p;
    int rc = mqtt_parse_publish(body, fh->remaining_len, fh->flags, c->version, &lim, &p);
    if (rc == MQTT_ERR_PAYLOAD_FORMAT) {
        /* Well formed but the payload is not the UTF-8 it claims: refuse this message only. */
        s->st.payload_format_refused++;
        if (p.qos == 1) {
            uint8_t buf[16];
            mqtt_srv_out_append(c, buf,
                                mqtt_encode_puback(buf, sizeof buf, c->version, p.packet_id,
                                                   MQTT_RC_PAYLOAD_FORMAT_INVALID, NULL, 0));
        }
        return;
    }
    if (rc) {
        mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
        return;
    }
    if (p.qos == 1 && c->inflight >= s->opt.receive_maximum) {
        mqtt_srv_protocol_error(c, 0, MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED);
        return;
    }
    s->st.publish_in++;
    if (p.qos == 1) c->inflight++;
    mqtt_publish_info info = {
        .topic = p.topic,
        .topic_len = p.topic_len,
        .payload = p.payload,
        .payload_len = p.payload_len,
        .qos = p.qos,
        .packet_id = p.packet_id,
        .retain = p.retain,
        .dup = p.dup,
        .content_type = p.content_type,
        .content_type_len = p.content_type_len,
        .payload_format = p.has_payload_format ? p.payload_format : -1,
        .message_expiry = p.has_message_expiry ? p.message_expiry : 0,
    };
    if (c->cb->on_publish) {
        c->cb->on_publish(c->ud, c, &info);
    } else if (p.qos == 1) {
        mqtt_conn_puback(c, p.packet_id, 0, NULL);
    }
    /* 3.1.1 has no Receive Maximum: hold the client back by not reading. */
    if (c->version != 5 && conn_active(c) && c->inflight >= s->opt.receive_maximum &&
        !c->paused_flow) {
        c->paused_flow = true;
        mqtt_srv_update_reading(c);
    }
}

static void handle_subscribe(mqtt_conn *c, const mqtt_fixed_header *fh, const uint8_t *body)
{
    mqtt_subscribe sub;
    int rc = fh->type == MQTT_SUBSCRIBE
                 ? mqtt_parse_subscribe(body, fh->remaining_len, c->version, &sub)
                 : mqtt_parse_unsubscribe(body, fh->remaining_len, c->version, &sub);
    if (rc) {
        mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
        return;
    }
    /* Without an on_subscribe every subscription fails, with the most precise reason. */
    size_t need = 16 + sub.count;
    if (mqtt_srv_out_reserve(c, need)) {
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return;
    }
    uint8_t stack_codes[64];
    uint8_t *codes = sub.count <= sizeof stack_codes ? stack_codes : malloc(sub.count);
    if (!codes) {
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return;
    }
    mqtt_topic_filter f;
    size_t i = 0;
    bool unsub = fh->type == MQTT_UNSUBSCRIBE;
    while (i < sub.count && mqtt_filters_next(&sub, &f)) {
        if (c->cb->on_subscribe) {
            mqtt_sub_info si = {.filter = f.filter,
                                .filter_len = f.filter_len,
                                .qos = f.qos,
                                .valid = f.valid,
                                .wildcard = f.wildcard,
                                .shared = f.shared,
                                .unsubscribe = unsub};
            uint8_t code = c->cb->on_subscribe(c->ud, c, &si);
            if (!mqtt_reason_allowed(unsub ? MQTT_UNSUBACK : MQTT_SUBACK, code))
                code = MQTT_RC_UNSPECIFIED_ERROR;
            codes[i++] = code;
            if (!conn_active(c)) break; /* the application closed it */
        } else if (unsub)
            codes[i++] = MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        else if (!f.valid)
            codes[i++] = MQTT_RC_TOPIC_FILTER_INVALID;
        else if (f.shared)
            codes[i++] = MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED;
        else if (f.wildcard)
            codes[i++] = MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED;
        else
            codes[i++] = MQTT_RC_NOT_AUTHORIZED;
    }
    /* on_subscribe may have closed the connection or queued output of its own */
    if (!conn_active(c) || mqtt_srv_out_reserve(c, need)) {
        if (codes != stack_codes) free(codes);
        if (conn_active(c)) mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return;
    }
    int n = fh->type == MQTT_SUBSCRIBE
                ? mqtt_encode_suback(c->out + c->out_len, c->out_cap - c->out_len, c->version,
                                     sub.packet_id, codes, i)
                : mqtt_encode_unsuback(c->out + c->out_len, c->out_cap - c->out_len, c->version,
                                       sub.packet_id, codes, i);
    if (codes != stack_codes) free(codes);
    if (n > 0) mqtt_srv_out_commit(c, (size_t)n);
    if (!c->cb->on_subscribe)
        log_debug("mqtt_subscribe_refused", "peer=%s filters=%zu", c->peer, i);
}

static void handle_disconnect(mqtt_conn *c, const uint8_t *body, size_t len)
{
    mqtt_disconnect d;
    int rc = mqtt_parse_disconnect(body, len, c->version, false, &d);
    if (!rc && d.has_session_expiry && d.session_expiry && c->session_expiry_zero)
        rc = MQTT_ERR_SESSION_EXPIRY;
    if (rc) {
        mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
        return;
    }
    if (d.reason) log_debug("mqtt_client_disconnect", "peer=%s reason=0x%02x", c->peer, d.reason);
    if (!(c->version == 5 && d.reason == MQTT_RC_DISCONNECT_WITH_WILL_MESSAGE))
        mqtt_srv_will_free(c);
    mqtt_srv_close(c, MQTT_CLOSE_CLIENT_DISCONNECT, -1);
}

void mqtt_srv_handle_packet(mqtt_conn *c, const mqtt_fixed_header *fh, const uint8_t *body)
{
    mqtt_server *s = c->srv;
    s->st.packets_in++;
    c->last_rx_ms = uv_now(s->loop);
    if (c->state == CS_AWAIT_CONNECT) {
        handle_connect(c, body, fh->remaining_len);
        return;
    }
    uint8_t buf[16];
    int rc;
    switch (fh->type) {
    case MQTT_PUBLISH:
        handle_publish(c, fh, body);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        handle_subscribe(c, fh, body);
        break;
    case MQTT_PINGREQ:
        if (fh->remaining_len != 0)
            mqtt_srv_protocol_error(c, MQTT_ERR_REMAINING_LENGTH, MQTT_RC_MALFORMED_PACKET);
        else
            mqtt_srv_out_append(c, buf, mqtt_encode_pingresp(buf, sizeof buf));
        break;
    case MQTT_DISCONNECT:
        handle_disconnect(c, body, fh->remaining_len);
        break;
    case MQTT_PUBACK: {
        /* We never send QoS 1 messages; a stray PUBACK is harmless once checked. */
        mqtt_ack a;
        rc = mqtt_parse_ack(body, fh->remaining_len, c->version, &a);
        if (rc) mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
        break;
    }
    case MQTT_AUTH:
        rc = c->version == 5 ? MQTT_ERR_AUTH_PACKET : MQTT_ERR_PACKET_TYPE;
        mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
        break;
    default:
        /* A second CONNECT, QoS 2 flow packets, or server-to-client packets. */
        mqtt_srv_protocol_error(c, 0, MQTT_RC_PROTOCOL_ERROR);
        break;
    }
}

/* --- PUBACK from the application ---------------------------------------------------------- */

void mqtt_conn_puback(mqtt_conn *c, uint16_t packet_id, uint8_t reason, const char *reason_string)
{
    if (!c || c->state != CS_CONNECTED) return;
    mqtt_server *s = c->srv;
    if (c->inflight) c->inflight--;
    if (!mqtt_reason_allowed(MQTT_PUBACK, reason)) reason = MQTT_RC_UNSPECIFIED_ERROR;
    if (c->version != 5 && reason >= 0x80) {
        /* A 3.1.1 PUBACK has no reason code: the client would read it as "stored". Closing the
         * connection is the only refusal 3.1.1 has; the client publishes again later. */
        log_debug("mqtt_publish_refused",
                  "peer=%s version=4 packet_id=%u reason=0x%02x action=close", c->peer, packet_id,
                  reason);
        mqtt_srv_close(c, MQTT_CLOSE_SERVER_DISCONNECT, reason);
        return;
    }
    const char *rs = c->request_problem_info ? reason_string : NULL;
    size_t rs_len = 0;
    if (rs) {
        rs_len = utf8_clip(rs, strlen(rs), REASON_STRING_MAX);
        if (!mqtt_utf8_valid((const uint8_t *)rs, rs_len)) rs = NULL, rs_len = 0;
    }
    uint8_t buf[REASON_STRING_MAX + 32];
    int n = mqtt_encode_puback(buf, sizeof buf, c->version, packet_id, reason, rs, rs_len);
    if (n > 0 && !fits_client(c, n))
        n = mqtt_encode_puback(buf, sizeof buf, c->version, packet_id, reason, NULL, 0);
    if (!mqtt_srv_out_append(c, buf, n)) return;
    if (c->paused_flow && c->inflight < s->opt.receive_maximum) {
        c->paused_flow = false;
        c->need_drain = true;
    }
    if (c->need_drain || !c->in_read) mqtt_srv_schedule(c);
}
