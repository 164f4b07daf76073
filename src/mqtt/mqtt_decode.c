/* MQTT packet body parsers (3.1.1 and 5.0). Each walks the body with a bounds-checked reader,
 * fills a struct whose strings point into the input, and refuses anything malformed with a
 * distinct mqtt_err: structural checks first, then server policy (mqtt_limits) last, so a
 * policy refusal still leaves the packet (e.g. its packet id) available to the caller. */
#include "mqtt/mqtt_codec_int.h"

#include <string.h>

/* --- CONNECT --------------------------------------------------------------------------------- */

typedef struct {
    mqtt_connect *c;
    bool auth_method, auth_data;
} connect_ctx;

static int connect_prop(void *arg, const mqtt_prop *p)
{
    connect_ctx *x = arg;
    mqtt_connect *c = x->c;
    switch (p->id) {
    case MQTT_PROP_SESSION_EXPIRY:
        c->session_expiry = p->num;
        break;
    case MQTT_PROP_RECEIVE_MAXIMUM:
        c->receive_maximum = (uint16_t)p->num;
        break;
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
        c->maximum_packet_size = p->num;
        break;
    case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
        c->topic_alias_maximum = (uint16_t)p->num;
        break;
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
        c->request_problem_info = p->num != 0;
        break;
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
        c->request_response_info = p->num != 0;
        break;
    case MQTT_PROP_USER_PROPERTY:
        c->user_property_count++;
        break;
    case MQTT_PROP_AUTH_METHOD:
        x->auth_method = true;
        break;
    case MQTT_PROP_AUTH_DATA:
        x->auth_data = true;
        break;
    default:
        break;
    }
    return MQTT_OK;
}

static int will_prop(void *arg, const mqtt_prop *p)
{
    (void)arg;
    if (p->id == MQTT_PROP_RESPONSE_TOPIC &&
        mqtt_topic_name_check((const char *)p->data, p->len) != MQTT_OK)
        return MQTT_ERR_PROPERTY_VALUE;
    return MQTT_OK;
}

int mqtt_parse_connect(const uint8_t *body, size_t len, mqtt_connect *out)
{
    memset(out, 0, sizeof *out);
    out->receive_maximum = 65535;
    out->request_problem_info = true;
    mqtt_rd r = {body, len, 0};
    const uint8_t *name;
    uint16_t name_len;
    uint8_t level, flags;
    int rc = rd_bin(&r, &name, &name_len);
    if (!rc) rc = rd_u8(&r, &level);
    if (rc) return rc;
    bool mqtt = name_len == 4 && memcmp(name, "MQTT", 4) == 0;
    bool mqisdp = name_len == 6 && memcmp(name, "MQIsdp", 6) == 0; /* MQTT 3.1 */
    if (!mqtt && !mqisdp) return MQTT_ERR_PROTOCOL_NAME;
    out->protocol_version = level;
    if (mqisdp || (level != MQTT_V311 && level != MQTT_V5)) return MQTT_ERR_PROTOCOL_VERSION;
    bool v5 = level == MQTT_V5;

    if ((rc = rd_u8(&r, &flags))) return rc;
    if (flags & 0x01) return MQTT_ERR_CONNECT_RESERVED;
    out->clean_start = flags & 0x02;
    out->will = flags & 0x04;
    out->will_qos = (flags >> 3) & 3;
    out->will_retain = flags & 0x20;
    out->has_password = flags & 0x40;
    out->has_username = flags & 0x80;
    if (out->will_qos == 3 || (!out->will && (out->will_qos || out->will_retain)))
        return MQTT_ERR_WILL_FLAGS;
    if (!v5 && out->has_password && !out->has_username) return MQTT_ERR_PASSWORD_FLAG;
    if ((rc = rd_u16(&r, &out->keepalive))) return rc;

    connect_ctx x = {.c = out};
    if (v5 && (rc = mqtt_props_parse(&r, MQTT_PCTX_CONNECT, connect_prop, &x))) return rc;
    if ((rc = rd_str(&r, &out->client_id, &out->client_id_len))) return rc;
    if (out->will) {
        if (v5 && (rc = mqtt_props_parse(&r, MQTT_PCTX_WILL, will_prop, NULL))) return rc;
        if ((rc = rd_str(&r, &out->will_topic, &out->will_topic_len))) return rc;
        if ((rc = mqtt_topic_name_check(out->will_topic, out->will_topic_len))) return rc;
        if ((rc = rd_bin(&r, &out->will_payload, &out->will_payload_len))) return rc;
    }
    if (out->has_username && (rc = rd_str(&r, &out->username, &out->username_len))) return rc;
    if (out->has_password && (rc = rd_bin(&r, &out->password, &out->password_len))) return rc;
    if (rd_left(&r)) return MQTT_ERR_TRAILING;

    /* Policy, after the packet is known to be well formed. */
    if (!v5 && out->client_id_len == 0 && !out->clean_start) return MQTT_ERR_CLIENT_ID;
    if (x.auth_data && !x.auth_method) return MQTT_ERR_AUTH_DATA;
    if (x.auth_method) return MQTT_ERR_AUTH_METHOD;
    return MQTT_OK;
}

/* --- PUBLISH --------------------------------------------------------------------------------- */

typedef struct {
    mqtt_publish *p;
    bool has_alias;
} publish_ctx;

static int publish_prop(void *arg, const mqtt_prop *p)
{
    publish_ctx *x = arg;
    mqtt_publish *pub = x->p;
    switch (p->id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
        pub->has_payload_format = true;
        pub->payload_format = (uint8_t)p->num;
        break;
    case MQTT_PROP_MESSAGE_EXPIRY:
        pub->has_message_expiry = true;
        pub->message_expiry = p->num;
        break;
    case MQTT_PROP_TOPIC_ALIAS:
        x->has_alias = true;
        pub->topic_alias = (uint16_t)p->num;
        break;
    case MQTT_PROP_CONTENT_TYPE:
        pub->content_type = (const char *)p->data;
        pub->content_type_len = p->len;
        break;
    case MQTT_PROP_RESPONSE_TOPIC:
        if (mqtt_topic_name_check((const char *)p->data, p->len) != MQTT_OK)
            return MQTT_ERR_PROPERTY_VALUE;
        pub->response_topic = (const char *)p->data;
        pub->response_topic_len = p->len;
        break;
    case MQTT_PROP_CORRELATION_DATA:
        pub->correlation_data = p->data;
        pub->correlation_data_len = p->len;
        break;
    case MQTT_PROP_SUBSCRIPTION_ID:
        return MQTT_ERR_SUBSCRIPTION_ID; /* server -> client only */
    case MQTT_PROP_USER_PROPERTY:
        pub->user_property_count++;
        break;
    default:
        break;
    }
    return MQTT_OK;
}

int mqtt_parse_publish(const uint8_t *body, size_t len, uint8_t flags, int version,
                       const mqtt_limits *lim, mqtt_publish *out)
{
    memset(out, 0, sizeof *out);
    out->qos = (flags >> 1) & 3;
    out->dup = flags & 0x08;
    out->retain = flags & 0x01;
    if (out->qos == 3) return MQTT_ERR_QOS_INVALID;
    if (out->qos == 0 && out->dup) return MQTT_ERR_FLAGS;
    mqtt_rd r = {body, len, 0};
    int rc = rd_str(&r, &out->topic, &out->topic_len);
    if (rc) return rc;
    if (out->qos > 0) {
        if ((rc = rd_u16(&r, &out->packet_id))) return rc;
        if (out->packet_id == 0) return MQTT_ERR_PACKET_ID;
    }
    publish_ctx x = {.p = out};
    if (version == MQTT_V5 && (rc = mqtt_props_parse(&r, MQTT_PCTX_PUBLISH, publish_prop, &x)))
        return rc;
    out->payload = body + r.off;
    out->payload_len = rd_left(&r);

    if (out->topic_len && (rc = mqtt_topic_name_check(out->topic, out->topic_len))) return rc;
    if (x.has_alias && out->topic_alias == 0) return MQTT_ERR_TOPIC_ALIAS;
    uint16_t alias_max = lim ? lim->topic_alias_max : UINT16_MAX;
    if (x.has_alias && out->topic_alias > alias_max) return MQTT_ERR_TOPIC_ALIAS;
    if (out->topic_len == 0 && !x.has_alias) return MQTT_ERR_TOPIC_EMPTY;
    if (lim && out->qos > lim->max_qos) return MQTT_ERR_QOS_NOT_SUPPORTED;
    if (lim && out->retain && !lim->retain_available) return MQTT_ERR_RETAIN_NOT_SUPPORTED;
    if (out->payload_format == 1 && !mqtt_utf8_valid(out->payload, out->payload_len))
        return MQTT_ERR_PAYLOAD_FORMAT;
    return MQTT_OK;
}

/* --- PUBACK / PUBREC / PUBREL / PUBCOMP ------------------------------------------------------ */

typedef struct {
    const char *s;
    uint16_t len;
} reason_string_ctx;

static int reason_string_prop(void *arg, const mqtt_prop *p)
{
    reason_string_ctx *x = arg;
    if (p->id == MQTT_PROP_REASON_STRING) {
        x->s = (const char *)p->data;
        x->len = p->len;
    }
    return MQTT_OK;
}

/* Reads a v5 property block that may hold a Reason String. */
static int read_reason_props(mqtt_rd *r, unsigned ctx, const char **rs, uint16_t *rs_len)
{
    reason_string_ctx x = {NULL, 0};
    int rc = mqtt_props_parse(r, ctx, reason_string_prop, &x);
    if (rc) return rc;
    *rs = x.s;
    *rs_len = x.len;
    return MQTT_OK;
}

int mqtt_parse_ack(const uint8_t *body, size_t len, int version, mqtt_ack *out)
{
    memset(out, 0, sizeof *out);
    if (len < 2 || (version != MQTT_V5 && len != 2)) return MQTT_ERR_REMAINING_LENGTH;
    mqtt_rd r = {body, len, 0};
    int rc = rd_u16(&r, &out->packet_id);
    if (rc) return rc;
    if (out->packet_id == 0) return MQTT_ERR_PACKET_ID;
    if (rd_left(&r) >= 1 && (rc = rd_u8(&r, &out->reason))) return rc;
    if (rd_left(&r) >= 1 &&
        (rc = read_reason_props(&r, MQTT_PCTX_ACK, &out->reason_string, &out->reason_string_len)))
        return rc;
    if (rd_left(&r)) return MQTT_ERR_TRAILING;
    return MQTT_OK;
}

/* --- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------- */

static int subscribe_prop(void *arg, const mqtt_prop *p)
{
    mqtt_subscribe *s = arg;
    if (p->id == MQTT_PROP_SUBSCRIPTION_ID) s->subscription_id = p->num;
    if (p->id == MQTT_PROP_USER_PROPERTY) s->user_property_count++;
    return MQTT_OK;
}

static int check_options(uint8_t o, int version)
{
    if (version != MQTT_V5 && (o & 0xFC)) return MQTT_ERR_SUBSCRIBE_OPTIONS;
    if (o & 0xC0) return MQTT_ERR_SUBSCRIBE_OPTIONS;
    if ((o & 3) == 3) return MQTT_ERR_QOS_INVALID;
    if (((o >> 4) & 3) == 3) return MQTT_ERR_RETAIN_HANDLING;
    return MQTT_OK;
}

static int parse_sub(const uint8_t *body, size_t len, int version, bool with_options,
                     mqtt_subscribe *out)
{
    memset(out, 0, sizeof *out);
    out->with_options = with_options;
    mqtt_rd r = {body, len, 0};
    int rc = rd_u16(&r, &out->packet_id);
    if (rc) return rc;
    if (out->packet_id == 0) return MQTT_ERR_PACKET_ID;
    unsigned ctx = with_options ? MQTT_PCTX_SUBSCRIBE : MQTT_PCTX_UNSUBSCRIBE;
    if (version == MQTT_V5 && (rc = mqtt_props_parse(&r, ctx, subscribe_prop, out))) return rc;
    out->filters = body + r.off;
    out->filters_len = rd_left(&r);
    while (rd_left(&r)) {
        const char *f;
        uint16_t flen;
        if ((rc = rd_str(&r, &f, &flen))) return rc;
        if (with_options) {
            uint8_t o;
            if ((rc = rd_u8(&r, &o))) return rc;
            if ((rc = check_options(o, version))) return rc;
        }
        out->count++;
    }
    if (out->count == 0) return MQTT_ERR_NO_TOPICS;
    return MQTT_OK;
}

int mqtt_parse_subscribe(const uint8_t *body, size_t len, int version, mqtt_subscribe *out)
{
    return parse_sub(body, len, version, true, out);
}

int mqtt_parse_unsubscribe(const uint8_t *body, size_t len, int version, mqtt_subscribe *out)
{
    return parse_sub(body, len, version, false, out);
}

bool mqtt_filters_next(mqtt_subscribe *s, mqtt_topic_filter *out)
{
    mqtt_rd r = {s->filters, s->filters_len, s->pos};
    const char *f;
    uint16_t flen;
    memset(out, 0, sizeof *out);
    /* The parser validated the list; the checks here only guard misuse. */
    if (!rd_left(&r) || rd_str(&r, &f, &flen) != MQTT_OK) return false;
    out->filter = f;
    out->filter_len = flen;
    if (s->with_options) {
        uint8_t o;
        if (rd_u8(&r, &o) != MQTT_OK) return false;
        out->qos = o & 3;
        out->no_local = o & 0x04;
        out->retain_as_published = o & 0x08;
        out->retain_handling = (o >> 4) & 3;
    }
    out->valid = mqtt_topic_filter_check(f, flen, &out->wildcard, &out->shared) == MQTT_OK;
    s->pos = r.off;
    return true;
}

/* --- DISCONNECT ------------------------------------------------------------------------------ */

typedef struct {
    mqtt_disconnect *d;
    bool from_server;
} disconnect_ctx;

static int disconnect_prop(void *arg, const mqtt_prop *p)
{
    disconnect_ctx *x = arg;
    switch (p->id) {
    case MQTT_PROP_SESSION_EXPIRY:
        x->d->has_session_expiry = true;
        x->d->session_expiry = p->num;
        break;
    case MQTT_PROP_REASON_STRING:
        x->d->reason_string = (const char *)p->data;
        x->d->reason_string_len = p->len;
        break;
    case MQTT_PROP_SERVER_REFERENCE:
        if (!x->from_server) return MQTT_ERR_PROPERTY_ID;
        x->d->server_reference = (const char *)p->data;
        x->d->server_reference_len = p->len;
        break;
    default:
        break;
    }
    return MQTT_OK;
}

int mqtt_parse_disconnect(const uint8_t *body, size_t len, int version, bool from_server,
                          mqtt_disconnect *out)
{
    memset(out, 0, sizeof *out);
    if (version != MQTT_V5) return len == 0 ? MQTT_OK : MQTT_ERR_REMAINING_LENGTH;
    mqtt_rd r = {body, len, 0};
    int rc;
    if (rd_left(&r) >= 1 && (rc = rd_u8(&r, &out->reason))) return rc;
    disconnect_ctx x = {out, from_server};
    if (rd_left(&r) >= 1 && (rc = mqtt_props_parse(&r, MQTT_PCTX_DISCONNECT, disconnect_prop, &x)))
        return rc;
    if (rd_left(&r)) return MQTT_ERR_TRAILING;
    return MQTT_OK;
}

/* --- CONNACK / SUBACK / UNSUBACK (client side) ----------------------------------------------- */

static int connack_prop(void *arg, const mqtt_prop *p)
{
    mqtt_connack *a = arg;
    switch (p->id) {
    case MQTT_PROP_RECEIVE_MAXIMUM:
        a->has_receive_maximum = true;
        a->receive_maximum = (uint16_t)p->num;
        break;
    case MQTT_PROP_MAXIMUM_QOS:
        a->has_maximum_qos = true;
        a->maximum_qos = (uint8_t)p->num;
        break;
    case MQTT_PROP_RETAIN_AVAILABLE:
        a->has_retain_available = true;
        a->retain_available = p->num;
        break;
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
        a->has_maximum_packet_size = true;
        a->maximum_packet_size = p->num;
        break;
    case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
        a->has_topic_alias_maximum = true;
        a->topic_alias_maximum = (uint16_t)p->num;
        break;
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
        a->has_wildcard_sub = true;
        a->wildcard_sub_available = p->num;
        break;
    case MQTT_PROP_SUB_ID_AVAILABLE:
        a->has_sub_id = true;
        a->sub_id_available = p->num;
        break;
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        a->has_shared_sub = true;
        a->shared_sub_available = p->num;
        break;
    case MQTT_PROP_SERVER_KEEP_ALIVE:
        a->has_server_keep_alive = true;
        a->server_keep_alive = (uint16_t)p->num;
        break;
    case MQTT_PROP_SESSION_EXPIRY:
        a->has_session_expiry = true;
        a->session_expiry = p->num;
        break;
    case MQTT_PROP_ASSIGNED_CLIENT_ID:
        a->assigned_client_id = (const char *)p->data;
        a->assigned_client_id_len = p->len;
        break;
    case MQTT_PROP_REASON_STRING:
        a->reason_string = (const char *)p->data;
        a->reason_string_len = p->len;
        break;
    default:
        break;
    }
    return MQTT_OK;
}

int mqtt_parse_connack(const uint8_t *body, size_t len, int version, mqtt_connack *out)
{
    memset(out, 0, sizeof *out);
    if (len < 2 || (version != MQTT_V5 && len != 2)) return MQTT_ERR_REMAINING_LENGTH;
    mqtt_rd r = {body, len, 0};
    uint8_t flags;
    int rc = rd_u8(&r, &flags);
    if (!rc) rc = rd_u8(&r, &out->reason);
    if (rc) return rc;
    if (flags & 0xFE) return MQTT_ERR_FLAGS;
    out->session_present = flags & 1;
    if (version == MQTT_V5 && rd_left(&r) &&
        (rc = mqtt_props_parse(&r, MQTT_PCTX_CONNACK, connack_prop, out)))
        return rc;
    if (rd_left(&r)) return MQTT_ERR_TRAILING;
    return MQTT_OK;
}

int mqtt_parse_suback(const uint8_t *body, size_t len, int version, uint8_t type, mqtt_suback *out)
{
    memset(out, 0, sizeof *out);
    mqtt_rd r = {body, len, 0};
    int rc = rd_u16(&r, &out->packet_id);
    if (rc) return rc;
    if (out->packet_id == 0) return MQTT_ERR_PACKET_ID;
    if (version != MQTT_V5 && type == MQTT_UNSUBACK)
        return rd_left(&r) ? MQTT_ERR_REMAINING_LENGTH : MQTT_OK;
    if (version == MQTT_V5 && (rc = read_reason_props(&r, MQTT_PCTX_SUBACK, &out->reason_string,
                                                      &out->reason_string_len)))
        return rc;
    out->codes = body + r.off;
    out->count = rd_left(&r);
    if (out->count == 0) return MQTT_ERR_NO_TOPICS;
    return MQTT_OK;
}

/* --- Whole packets --------------------------------------------------------------------------- */

int mqtt_parse_packet(const uint8_t *buf, size_t len, int version, uint32_t max_packet_size,
                      const mqtt_limits *lim, mqtt_packet *out)
{
    memset(out, 0, sizeof *out);
    int rc = mqtt_parse_fixed_header(buf, len, max_packet_size, &out->fh);
    if (rc) return rc;
    size_t total = (size_t)out->fh.header_len + out->fh.remaining_len;
    if (len < total) return MQTT_NEED_MORE;
    const uint8_t *body = buf + out->fh.header_len;
    size_t blen = out->fh.remaining_len;
    switch (out->fh.type) {
    case MQTT_CONNECT:
        return mqtt_parse_connect(body, blen, &out->u.connect);
    case MQTT_CONNACK:
        return mqtt_parse_connack(body, blen, version, &out->u.connack);
    case MQTT_PUBLISH:
        return mqtt_parse_publish(body, blen, out->fh.flags, version, lim, &out->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return mqtt_parse_ack(body, blen, version, &out->u.ack);
    case MQTT_SUBSCRIBE:
        return mqtt_parse_subscribe(body, blen, version, &out->u.subscribe);
    case MQTT_UNSUBSCRIBE:
        return mqtt_parse_unsubscribe(body, blen, version, &out->u.subscribe);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return mqtt_parse_suback(body, blen, version, out->fh.type, &out->u.suback);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        return blen == 0 ? MQTT_OK : MQTT_ERR_REMAINING_LENGTH;
    case MQTT_DISCONNECT:
        return mqtt_parse_disconnect(body, blen, version, false, &out->u.disconnect);
    case MQTT_AUTH:
        return version == MQTT_V5 ? MQTT_ERR_AUTH_PACKET : MQTT_ERR_PACKET_TYPE;
    default:
        return MQTT_ERR_PACKET_TYPE;
    }
}
