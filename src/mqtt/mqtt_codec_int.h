/* Internals shared by the MQTT codec files (mqtt_codec.c, mqtt_decode.c, mqtt_encode.c): a
 * bounds-checked reader, a counting writer, and the MQTT 5 property walker. Not a public API. */
#ifndef IOTAD_MQTT_CODEC_INT_H
#define IOTAD_MQTT_CODEC_INT_H

#include "mqtt/mqtt_codec.h"

#include <string.h>

/* --- Reader: every read checks the remaining length first. ----------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, off;
} mqtt_rd;

static inline size_t rd_left(const mqtt_rd *r)
{
    return r->len - r->off;
}

static inline int rd_u8(mqtt_rd *r, uint8_t *v)
{
    if (rd_left(r) < 1) return MQTT_ERR_TRUNCATED;
    *v = r->p[r->off++];
    return MQTT_OK;
}

static inline int rd_u16(mqtt_rd *r, uint16_t *v)
{
    if (rd_left(r) < 2) return MQTT_ERR_TRUNCATED;
    *v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return MQTT_OK;
}

static inline int rd_u32(mqtt_rd *r, uint32_t *v)
{
    if (rd_left(r) < 4) return MQTT_ERR_TRUNCATED;
    const uint8_t *b = r->p + r->off;
    *v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    r->off += 4;
    return MQTT_OK;
}

/* Binary data: 2-byte length + bytes. */
static inline int rd_bin(mqtt_rd *r, const uint8_t **p, uint16_t *n)
{
    uint16_t len;
    int rc = rd_u16(r, &len);
    if (rc) return rc;
    if (rd_left(r) < len) return MQTT_ERR_TRUNCATED;
    *p = r->p + r->off;
    *n = len;
    r->off += len;
    return MQTT_OK;
}

/* UTF-8 encoded string: binary data that must be valid UTF-8 without U+0000. */
static inline int rd_str(mqtt_rd *r, const char **s, uint16_t *n)
{
    const uint8_t *p;
    int rc = rd_bin(r, &p, n);
    if (rc) return rc;
    if (!mqtt_utf8_valid(p, *n)) return MQTT_ERR_UTF8;
    *s = (const char *)p;
    return MQTT_OK;
}

/* Variable byte integer, at most 4 bytes. */
int mqtt_rd_varint(mqtt_rd *r, uint32_t *v);

/* --- Properties ------------------------------------------------------------------------------ */

/* Where a property block appears; a property's table entry lists the contexts it may be in. */
enum {
    MQTT_PCTX_CONNECT = 1u << 0,
    MQTT_PCTX_WILL = 1u << 1,
    MQTT_PCTX_PUBLISH = 1u << 2,
    MQTT_PCTX_ACK = 1u << 3, /* PUBACK, PUBREC, PUBREL, PUBCOMP */
    MQTT_PCTX_SUBSCRIBE = 1u << 4,
    MQTT_PCTX_UNSUBSCRIBE = 1u << 5,
    MQTT_PCTX_DISCONNECT = 1u << 6,
    MQTT_PCTX_CONNACK = 1u << 7,
    MQTT_PCTX_SUBACK = 1u << 8, /* SUBACK and UNSUBACK */
    MQTT_PCTX_AUTH = 1u << 9,
};

enum {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

typedef struct {
    uint8_t id;
    uint32_t num;        /* byte, two/four byte integer, variable byte integer */
    const uint8_t *data; /* string, binary data, or a user property's name */
    uint16_t len;
    const uint8_t *data2; /* a user property's value */
    uint16_t len2;
} mqtt_prop;

/* Reads the property length and every property of one block for context ctx, checking the
 * identifier is allowed there, each value's type and range (booleans 0/1, non-zero maxima),
 * and that only User Property repeats; calls cb for each (cb may return an error). */
int mqtt_props_parse(mqtt_rd *r, unsigned ctx, int (*cb)(void *arg, const mqtt_prop *p), void *arg);

/* --- Writer: with p == NULL it only counts, which sizes a packet before writing it. ---------- */

typedef struct {
    uint8_t *p;
    size_t cap, len;
} mqtt_wr;

static inline void wr_u8(mqtt_wr *w, uint8_t v)
{
    if (w->p && w->len < w->cap) w->p[w->len] = v;
    w->len++;
}

static inline void wr_u16(mqtt_wr *w, uint16_t v)
{
    wr_u8(w, (uint8_t)(v >> 8));
    wr_u8(w, (uint8_t)v);
}

static inline void wr_u32(mqtt_wr *w, uint32_t v)
{
    wr_u16(w, (uint16_t)(v >> 16));
    wr_u16(w, (uint16_t)v);
}

static inline void wr_raw(mqtt_wr *w, const void *data, size_t n)
{
    if (w->p && n && n <= w->cap && w->len <= w->cap - n) memcpy(w->p + w->len, data, n);
    w->len += n;
}

/* Callers check n <= 65535 beforehand. */
static inline void wr_bin(mqtt_wr *w, const void *data, size_t n)
{
    wr_u16(w, (uint16_t)n);
    wr_raw(w, data, n);
}

static inline void wr_varint(mqtt_wr *w, uint32_t v)
{
    do {
        uint8_t b = v % 128;
        v /= 128;
        if (v) b |= 0x80;
        wr_u8(w, b);
    } while (v);
}

static inline size_t varint_size(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

#endif
