/* MQTT codec foundations: fixed-header framing (incremental, size-checked before any body is
 * buffered), UTF-8 / topic validation, the MQTT 5 property walker with its per-packet table,
 * and the error / reason-code tables. Packet bodies are in mqtt_decode.c and mqtt_encode.c. */
#include "mqtt/mqtt_codec_int.h"

#include "core/utf8.h"

#include <string.h>

/* --- Errors and reason codes ----------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t reason;
} err_table[] = {
    [0] = {"ok", MQTT_RC_SUCCESS},
    [1] = {"malformed_varint", MQTT_RC_MALFORMED_PACKET},
    [2] = {"packet_too_large", MQTT_RC_PACKET_TOO_LARGE},
    [3] = {"bad_packet_type", MQTT_RC_MALFORMED_PACKET},
    [4] = {"bad_header_flags", MQTT_RC_MALFORMED_PACKET},
    [5] = {"truncated", MQTT_RC_MALFORMED_PACKET},
    [6] = {"trailing_bytes", MQTT_RC_MALFORMED_PACKET},
    [7] = {"bad_utf8", MQTT_RC_MALFORMED_PACKET},
    [8] = {"bad_protocol_name", MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION},
    [9] = {"unsupported_protocol_version", MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION},
    [10] = {"connect_reserved_flag", MQTT_RC_MALFORMED_PACKET},
    [11] = {"bad_will_flags", MQTT_RC_MALFORMED_PACKET},
    [12] = {"password_without_username", MQTT_RC_MALFORMED_PACKET},
    [13] = {"client_id_rejected", MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID},
    [14] = {"bad_property_id", MQTT_RC_MALFORMED_PACKET},
    [15] = {"duplicate_property", MQTT_RC_PROTOCOL_ERROR},
    [16] = {"bad_property_value", MQTT_RC_PROTOCOL_ERROR},
    [17] = {"bad_property_length", MQTT_RC_MALFORMED_PACKET},
    [18] = {"auth_method_unsupported", MQTT_RC_BAD_AUTHENTICATION_METHOD},
    [19] = {"auth_data_without_method", MQTT_RC_PROTOCOL_ERROR},
    [20] = {"bad_qos", MQTT_RC_MALFORMED_PACKET},
    [21] = {"qos_not_supported", MQTT_RC_QOS_NOT_SUPPORTED},
    [22] = {"retain_not_supported", MQTT_RC_RETAIN_NOT_SUPPORTED},
    [23] = {"topic_name_invalid", MQTT_RC_TOPIC_NAME_INVALID},
    [24] = {"topic_empty", MQTT_RC_PROTOCOL_ERROR},
    [25] = {"topic_alias_invalid", MQTT_RC_TOPIC_ALIAS_INVALID},
    [26] = {"packet_id_zero", MQTT_RC_PROTOCOL_ERROR},
    [27] = {"subscription_id_from_client", MQTT_RC_PROTOCOL_ERROR},
    [28] = {"no_topic_filters", MQTT_RC_PROTOCOL_ERROR},
    [29] = {"bad_subscribe_options", MQTT_RC_MALFORMED_PACKET},
    [30] = {"bad_retain_handling", MQTT_RC_PROTOCOL_ERROR},
    [31] = {"topic_filter_invalid", MQTT_RC_TOPIC_FILTER_INVALID},
    [32] = {"payload_format_invalid", MQTT_RC_PAYLOAD_FORMAT_INVALID},
    [33] = {"bad_remaining_length", MQTT_RC_MALFORMED_PACKET},
    [34] = {"session_expiry_after_zero", MQTT_RC_PROTOCOL_ERROR},
    [35] = {"buffer_too_small", MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR},
    [36] = {"bad_argument", MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR},
    [37] = {"unexpected_auth", MQTT_RC_PROTOCOL_ERROR},
};

const char *mqtt_err_name(int err)
{
    if (err == MQTT_NEED_MORE) return "need_more";
    if (err > 0 || -err >= (int)(sizeof err_table / sizeof err_table[0])) return "unknown";
    return err_table[-err].name;
}

uint8_t mqtt_err_reason(int err)
{
    if (err >= 0) return MQTT_RC_SUCCESS;
    if (-err >= (int)(sizeof err_table / sizeof err_table[0])) return MQTT_RC_UNSPECIFIED_ERROR;
    return err_table[-err].reason;
}

const char *mqtt_reason_name(uint8_t reason)
{
    switch (reason) {
    case 0x00:
        return "Success";
    case 0x01:
        return "Granted QoS 1";
    case 0x02:
        return "Granted QoS 2";
    case 0x04:
        return "Disconnect with Will Message";
    case 0x10:
        return "No matching subscribers";
    case 0x11:
        return "No subscription existed";
    case 0x18:
        return "Continue authentication";
    case 0x19:
        return "Re-authenticate";
    case 0x80:
        return "Unspecified error";
    case 0x81:
        return "Malformed Packet";
    case 0x82:
        return "Protocol Error";
    case 0x83:
        return "Implementation specific error";
    case 0x84:
        return "Unsupported Protocol Version";
    case 0x85:
        return "Client Identifier not valid";
    case 0x86:
        return "Bad User Name or Password";
    case 0x87:
        return "Not authorized";
    case 0x88:
        return "Server unavailable";
    case 0x89:
        return "Server busy";
    case 0x8A:
        return "Banned";
    case 0x8B:
        return "Server shutting down";
    case 0x8C:
        return "Bad authentication method";
    case 0x8D:
        return "Keep Alive timeout";
    case 0x8E:
        return "Session taken over";
    case 0x8F:
        return "Topic Filter invalid";
    case 0x90:
        return "Topic Name invalid";
    case 0x91:
        return "Packet Identifier in use";
    case 0x92:
        return "Packet Identifier not found";
    case 0x93:
        return "Receive Maximum exceeded";
    case 0x94:
        return "Topic Alias invalid";
    case 0x95:
        return "Packet too large";
    case 0x96:
        return "Message rate too high";
    case 0x97:
        return "Quota exceeded";
    case 0x98:
        return "Administrative action";
    case 0x99:
        return "Payload format invalid";
    case 0x9A:
        return "Retain not supported";
    case 0x9B:
        return "QoS not supported";
    case 0x9C:
        return "Use another server";
    case 0x9D:
        return "Server moved";
    case 0x9E:
        return "Shared Subscriptions not supported";
    case 0x9F:
        return "Connection rate exceeded";
    case 0xA0:
        return "Maximum connect time";
    case 0xA1:
        return "Subscription Identifiers not supported";
    case 0xA2:
        return "Wildcard Subscriptions not supported";
    default:
        return "Unknown";
    }
}

uint8_t mqtt_connack_v3_code(uint8_t reason_v5)
{
    switch (reason_v5) {
    case MQTT_RC_SUCCESS:
        return MQTT3_CONNACK_ACCEPTED;
    case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION:
        return MQTT3_CONNACK_UNACCEPTABLE_PROTOCOL_VERSION;
    case MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID:
        return MQTT3_CONNACK_IDENTIFIER_REJECTED;
    case MQTT_RC_BAD_USER_NAME_OR_PASSWORD:
        return MQTT3_CONNACK_BAD_USER_NAME_OR_PASSWORD;
    case MQTT_RC_NOT_AUTHORIZED:
    case MQTT_RC_BANNED:
    case MQTT_RC_BAD_AUTHENTICATION_METHOD:
        return MQTT3_CONNACK_NOT_AUTHORIZED;
    default:
        /* Server unavailable / busy / quota / rate / moved and every other failure: the
         * 3.1.1 client can only be told the service is unavailable. */
        return MQTT3_CONNACK_SERVER_UNAVAILABLE;
    }
}

bool mqtt_reason_allowed(uint8_t packet_type, uint8_t reason)
{
    /* MQTT 5.0 sections 3.2.2.2, 3.4.2.1, 3.9.3, 3.11.3 and 3.14.2.1. */
    static const uint8_t connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                      0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                      0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    static const uint8_t puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    static const uint8_t suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                     0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    static const uint8_t unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    static const uint8_t disconnect[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
                                         0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A,
                                         0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    const uint8_t *set;
    size_t n;
    switch (packet_type) {
    case MQTT_CONNACK:
        set = connack, n = sizeof connack;
        break;
    case MQTT_PUBACK:
        set = puback, n = sizeof puback;
        break;
    case MQTT_SUBACK:
        set = suback, n = sizeof suback;
        break;
    case MQTT_UNSUBACK:
        set = unsuback, n = sizeof unsuback;
        break;
    case MQTT_DISCONNECT:
        set = disconnect, n = sizeof disconnect;
        break;
    default:
        return false;
    }
    return memchr(set, reason, n) != NULL;
}

/* --- Framing --------------------------------------------------------------------------------- */

static int check_flags(uint8_t type, uint8_t flags)
{
    switch (type) {
    case 0:
        return MQTT_ERR_PACKET_TYPE;
    case MQTT_PUBLISH: {
        uint8_t qos = (flags >> 1) & 3;
        if (qos == 3) return MQTT_ERR_QOS_INVALID;
        if (qos == 0 && (flags & 0x08)) return MQTT_ERR_FLAGS; /* DUP must be 0 for QoS 0 */
        return MQTT_OK;
    }
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 0x2 ? MQTT_OK : MQTT_ERR_FLAGS;
    default:
        return flags == 0 ? MQTT_OK : MQTT_ERR_FLAGS;
    }
}

int mqtt_parse_fixed_header(const uint8_t *buf, size_t len, uint32_t max_packet_size,
                            mqtt_fixed_header *out)
{
    if (len < 1) return MQTT_NEED_MORE;
    uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0F;
    int rc = check_flags(type, flags);
    if (rc) return rc;
    uint32_t value = 0, mult = 1;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len) return MQTT_NEED_MORE;
        uint8_t b = buf[i];
        value += (uint32_t)(b & 0x7F) * mult;
        if (!(b & 0x80)) {
            uint64_t total = (uint64_t)value + i + 1;
            uint64_t max = max_packet_size ? max_packet_size : (uint64_t)MQTT_MAX_REMAINING + 5;
            if (total > max) return MQTT_ERR_TOO_LARGE;
            out->type = type;
            out->flags = flags;
            out->header_len = (uint8_t)(i + 1);
            out->remaining_len = value;
            return MQTT_OK;
        }
        mult *= 128;
    }
    return MQTT_ERR_VARINT;
}

int mqtt_rd_varint(mqtt_rd *r, uint32_t *v)
{
    uint32_t value = 0, mult = 1;
    for (int i = 0; i < 4; i++) {
        uint8_t b;
        int rc = rd_u8(r, &b);
        if (rc) return rc;
        value += (uint32_t)(b & 0x7F) * mult;
        if (!(b & 0x80)) {
            *v = value;
            return MQTT_OK;
        }
        mult *= 128;
    }
    return MQTT_ERR_VARINT;
}

/* --- Validators ------------------------------------------------------------------------------ */

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
    return utf8_valid(s, len, false);
}

int mqtt_topic_name_check(const char *topic, size_t len)
{
    if (len == 0) return MQTT_ERR_TOPIC_EMPTY;
    if (memchr(topic, '+', len) || memchr(topic, '#', len)) return MQTT_ERR_TOPIC_NAME;
    return MQTT_OK;
}

/* Levels are split on '/': a level holding '+' or '#' must be exactly that character, and
 * '#' must be the last level. */
static int filter_levels_check(const char *f, size_t len, bool *wildcard)
{
    if (len == 0) return MQTT_ERR_TOPIC_FILTER;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && f[i] != '/') continue;
        size_t n = i - start;
        const char *lvl = f + start;
        bool plus = memchr(lvl, '+', n) != NULL, hash = memchr(lvl, '#', n) != NULL;
        if (plus || hash) {
            if (n != 1) return MQTT_ERR_TOPIC_FILTER;
            if (hash && i != len) return MQTT_ERR_TOPIC_FILTER;
            *wildcard = true;
        }
        start = i + 1;
    }
    return MQTT_OK;
}

int mqtt_topic_filter_check(const char *filter, size_t len, bool *wildcard, bool *shared)
{
    bool wc = false, sh = false;
    int rc;
    static const char prefix[] = "$share/";
    const size_t plen = sizeof prefix - 1;
    if (len >= plen && memcmp(filter, prefix, plen) == 0) {
        sh = true;
        const char *name = filter + plen;
        size_t rest = len - plen;
        const char *slash = memchr(name, '/', rest);
        size_t nlen = slash ? (size_t)(slash - name) : rest;
        if (!slash || nlen == 0 || memchr(name, '+', nlen) || memchr(name, '#', nlen))
            rc = MQTT_ERR_TOPIC_FILTER;
        else
            rc = filter_levels_check(slash + 1, rest - nlen - 1, &wc);
    } else {
        rc = filter_levels_check(filter, len, &wc);
    }
    if (wildcard) *wildcard = wc;
    if (shared) *shared = sh;
    return rc;
}

/* The length of the level starting at p (up to the next '/' or the end). */
static size_t level_len(const char *p, size_t left)
{
    const char *slash = memchr(p, '/', left);
    return slash ? (size_t)(slash - p) : left;
}

bool mqtt_topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    /* MQTT 5.0 4.7.2: a filter starting with a wildcard does not match "$..." topics */
    if (tlen && topic[0] == '$' && flen && (filter[0] == '+' || filter[0] == '#')) return false;
    size_t fi = 0, ti = 0;
    for (;;) {
        size_t fl = level_len(filter + fi, flen - fi);
        if (fl == 1 && filter[fi] == '#') return true; /* this level, all below, or none */
        size_t tl = level_len(topic + ti, tlen - ti);
        if (!(fl == 1 && filter[fi] == '+') &&
            (fl != tl || memcmp(filter + fi, topic + ti, fl) != 0))
            return false;
        bool fmore = fi + fl < flen, tmore = ti + tl < tlen;
        fi += fl + 1;
        ti += tl + 1;
        if (!fmore && !tmore) return true;
        if (!fmore) return false;
        if (!tmore) /* "a/#" matches "a" */
            return flen - fi == 1 && filter[fi] == '#';
    }
}

/* --- Properties ------------------------------------------------------------------------------ */

enum { PT_NONE = 0, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

#define C_PUBWILL (MQTT_PCTX_PUBLISH | MQTT_PCTX_WILL)
#define C_REASON                                                                                   \
    (MQTT_PCTX_CONNACK | MQTT_PCTX_ACK | MQTT_PCTX_SUBACK | MQTT_PCTX_DISCONNECT | MQTT_PCTX_AUTH)
#define C_ALL 0x3FFu

static const struct {
    uint8_t type;
    uint16_t ctx;
} prop_table[MQTT_PROP_SHARED_SUB_AVAILABLE + 1] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = {PT_BYTE, C_PUBWILL},
    [MQTT_PROP_MESSAGE_EXPIRY] = {PT_U32, C_PUBWILL},
    [MQTT_PROP_CONTENT_TYPE] = {PT_STR, C_PUBWILL},
    [MQTT_PROP_RESPONSE_TOPIC] = {PT_STR, C_PUBWILL},
    [MQTT_PROP_CORRELATION_DATA] = {PT_BIN, C_PUBWILL},
    [MQTT_PROP_SUBSCRIPTION_ID] = {PT_VARINT, MQTT_PCTX_PUBLISH | MQTT_PCTX_SUBSCRIBE},
    [MQTT_PROP_SESSION_EXPIRY] = {PT_U32,
                                  MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK | MQTT_PCTX_DISCONNECT},
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = {PT_STR, MQTT_PCTX_CONNACK},
    [MQTT_PROP_SERVER_KEEP_ALIVE] = {PT_U16, MQTT_PCTX_CONNACK},
    [MQTT_PROP_AUTH_METHOD] = {PT_STR, MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK | MQTT_PCTX_AUTH},
    [MQTT_PROP_AUTH_DATA] = {PT_BIN, MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK | MQTT_PCTX_AUTH},
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = {PT_BYTE, MQTT_PCTX_CONNECT},
    [MQTT_PROP_WILL_DELAY] = {PT_U32, MQTT_PCTX_WILL},
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = {PT_BYTE, MQTT_PCTX_CONNECT},
    [MQTT_PROP_RESPONSE_INFO] = {PT_STR, MQTT_PCTX_CONNACK},
    [MQTT_PROP_SERVER_REFERENCE] = {PT_STR, MQTT_PCTX_CONNACK | MQTT_PCTX_DISCONNECT},
    [MQTT_PROP_REASON_STRING] = {PT_STR, C_REASON},
    [MQTT_PROP_RECEIVE_MAXIMUM] = {PT_U16, MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK},
    [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {PT_U16, MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK},
    [MQTT_PROP_TOPIC_ALIAS] = {PT_U16, MQTT_PCTX_PUBLISH},
    [MQTT_PROP_MAXIMUM_QOS] = {PT_BYTE, MQTT_PCTX_CONNACK},
    [MQTT_PROP_RETAIN_AVAILABLE] = {PT_BYTE, MQTT_PCTX_CONNACK},
    [MQTT_PROP_USER_PROPERTY] = {PT_PAIR, C_ALL},
    [MQTT_PROP_MAXIMUM_PACKET_SIZE] = {PT_U32, MQTT_PCTX_CONNECT | MQTT_PCTX_CONNACK},
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {PT_BYTE, MQTT_PCTX_CONNACK},
    [MQTT_PROP_SUB_ID_AVAILABLE] = {PT_BYTE, MQTT_PCTX_CONNACK},
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = {PT_BYTE, MQTT_PCTX_CONNACK},
};

/* A truncated value inside a property block is a bad property length, not a short packet. */
static int prop_err(int rc)
{
    return rc == MQTT_ERR_TRUNCATED ? MQTT_ERR_PROPERTY_LENGTH : rc;
}

static int prop_value_check(const mqtt_prop *p)
{
    switch (p->id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
    case MQTT_PROP_MAXIMUM_QOS:
    case MQTT_PROP_RETAIN_AVAILABLE:
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
    case MQTT_PROP_SUB_ID_AVAILABLE:
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        return p->num > 1 ? MQTT_ERR_PROPERTY_VALUE : MQTT_OK;
    case MQTT_PROP_RECEIVE_MAXIMUM:
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
    case MQTT_PROP_SUBSCRIPTION_ID:
        return p->num == 0 ? MQTT_ERR_PROPERTY_VALUE : MQTT_OK;
    default:
        return MQTT_OK;
    }
}

int mqtt_props_parse(mqtt_rd *r, unsigned ctx, int (*cb)(void *arg, const mqtt_prop *p), void *arg)
{
    uint32_t plen;
    int rc = mqtt_rd_varint(r, &plen);
    if (rc) return rc;
    if (plen > rd_left(r)) return MQTT_ERR_PROPERTY_LENGTH;
    mqtt_rd pr = {r->p + r->off, plen, 0};
    r->off += plen;
    uint64_t seen = 0;
    while (rd_left(&pr) > 0) {
        uint32_t id;
        rc = mqtt_rd_varint(&pr, &id);
        if (rc) return prop_err(rc);
        if (id > MQTT_PROP_SHARED_SUB_AVAILABLE || prop_table[id].type == PT_NONE ||
            !(prop_table[id].ctx & ctx))
            return MQTT_ERR_PROPERTY_ID;
        if (id != MQTT_PROP_USER_PROPERTY) {
            if (seen & (1ull << id)) return MQTT_ERR_PROPERTY_DUPLICATE;
            seen |= 1ull << id;
        }
        mqtt_prop p = {.id = (uint8_t)id};
        uint8_t b;
        uint16_t w;
        const char *s;
        switch (prop_table[id].type) {
        case PT_BYTE:
            rc = rd_u8(&pr, &b);
            p.num = b;
            break;
        case PT_U16:
            rc = rd_u16(&pr, &w);
            p.num = w;
            break;
        case PT_U32:
            rc = rd_u32(&pr, &p.num);
            break;
        case PT_VARINT:
            rc = mqtt_rd_varint(&pr, &p.num);
            break;
        case PT_STR:
            rc = rd_str(&pr, &s, &p.len);
            if (!rc) p.data = (const uint8_t *)s;
            break;
        case PT_BIN:
            rc = rd_bin(&pr, &p.data, &p.len);
            break;
        case PT_PAIR:
            rc = rd_str(&pr, &s, &p.len);
            if (rc) break;
            p.data = (const uint8_t *)s;
            rc = rd_str(&pr, &s, &p.len2);
            if (!rc) p.data2 = (const uint8_t *)s;
            break;
        default:
            rc = MQTT_ERR_PROPERTY_ID;
            break;
        }
        if (rc) return prop_err(rc);
        rc = prop_value_check(&p);
        if (rc) return rc;
        if (cb) {
            rc = cb(arg, &p);
            if (rc) return rc;
        }
    }
    return MQTT_OK;
}
