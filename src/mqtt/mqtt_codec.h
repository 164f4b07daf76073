/* MQTT 3.1.1 (protocol level 4) and MQTT 5.0 (level 5) packet codec: pure functions, no I/O,
 * no allocation. Parsers take one complete packet body (the bytes after the fixed header, as
 * framed by mqtt_parse_fixed_header) and fill a struct whose string/binary fields point into
 * the input buffer, so they are valid only as long as that buffer. Every failure returns a
 * distinct negative mqtt_err; mqtt_err_reason() maps it to the MQTT 5 reason code to send.
 * Encoders write into a caller buffer and return the packet length or MQTT_ERR_BUFFER.
 * Client-side encoders/decoders (CONNECT, CONNACK, ...) exist for tests and load generators. */
#ifndef IOTAD_MQTT_CODEC_H
#define IOTAD_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MQTT_V311 4
#define MQTT_V5 5
#define MQTT_MAX_REMAINING 268435455u /* 4-byte variable byte integer limit */
#define MQTT_MAX_HEADER 5             /* type byte + up to 4 length bytes */

typedef enum {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15, /* MQTT 5 only; reserved in 3.1.1 */
} mqtt_packet_type;

/* MQTT 5.0 reason codes (spec section 2.4), named as in the spec. */
typedef enum {
    MQTT_RC_SUCCESS = 0x00,
    MQTT_RC_NORMAL_DISCONNECTION = 0x00,
    MQTT_RC_GRANTED_QOS_0 = 0x00,
    MQTT_RC_GRANTED_QOS_1 = 0x01,
    MQTT_RC_GRANTED_QOS_2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL_MESSAGE = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTHENTICATION = 0x18,
    MQTT_RC_RE_AUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED_ERROR = 0x80,
    MQTT_RC_MALFORMED_PACKET = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
    MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    MQTT_RC_CLIENT_IDENTIFIER_NOT_VALID = 0x85,
    MQTT_RC_BAD_USER_NAME_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_IDENTIFIER_IN_USE = 0x91,
    MQTT_RC_PACKET_IDENTIFIER_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    MQTT_RC_SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2,
} mqtt_reason;

/* MQTT 3.1.1 CONNACK return codes (section 3.2.2.3) and the SUBACK failure code. */
typedef enum {
    MQTT3_CONNACK_ACCEPTED = 0x00,
    MQTT3_CONNACK_UNACCEPTABLE_PROTOCOL_VERSION = 0x01,
    MQTT3_CONNACK_IDENTIFIER_REJECTED = 0x02,
    MQTT3_CONNACK_SERVER_UNAVAILABLE = 0x03,
    MQTT3_CONNACK_BAD_USER_NAME_OR_PASSWORD = 0x04,
    MQTT3_CONNACK_NOT_AUTHORIZED = 0x05,
} mqtt3_connack_code;
#define MQTT3_SUBACK_FAILURE 0x80

/* Codec results. MQTT_NEED_MORE is positive: not an error, the packet is incomplete. */
typedef enum {
    MQTT_OK = 0,
    MQTT_NEED_MORE = 1,
    MQTT_ERR_VARINT = -1,              /* variable byte integer longer than 4 bytes */
    MQTT_ERR_TOO_LARGE = -2,           /* packet larger than the maximum packet size */
    MQTT_ERR_PACKET_TYPE = -3,         /* reserved packet type (0, or 15 in 3.1.1) */
    MQTT_ERR_FLAGS = -4,               /* fixed-header flags invalid for the type */
    MQTT_ERR_TRUNCATED = -5,           /* a field runs past the end of the packet */
    MQTT_ERR_TRAILING = -6,            /* bytes left after the last field */
    MQTT_ERR_UTF8 = -7,                /* ill-formed UTF-8 or U+0000 in a string */
    MQTT_ERR_PROTOCOL_NAME = -8,       /* CONNECT protocol name is not "MQTT" */
    MQTT_ERR_PROTOCOL_VERSION = -9,    /* CONNECT protocol level is not 4 or 5 */
    MQTT_ERR_CONNECT_RESERVED = -10,   /* CONNECT flags reserved bit set */
    MQTT_ERR_WILL_FLAGS = -11,         /* will QoS 3, or will QoS/retain without will flag */
    MQTT_ERR_PASSWORD_FLAG = -12,      /* 3.1.1: password flag without user name flag */
    MQTT_ERR_CLIENT_ID = -13,          /* 3.1.1: empty client id without clean session */
    MQTT_ERR_PROPERTY_ID = -14,        /* property unknown or not allowed in this packet */
    MQTT_ERR_PROPERTY_DUPLICATE = -15, /* property repeated where the spec forbids it */
    MQTT_ERR_PROPERTY_VALUE = -16,     /* property value out of range (e.g. Receive Max 0) */
    MQTT_ERR_PROPERTY_LENGTH = -17,    /* property length beyond the packet / a value */
    MQTT_ERR_AUTH_METHOD = -18,        /* enhanced authentication requested: unsupported */
    MQTT_ERR_AUTH_DATA = -19,          /* authentication data without a method */
    MQTT_ERR_QOS_INVALID = -20,        /* QoS 3 */
    MQTT_ERR_QOS_NOT_SUPPORTED = -21,  /* QoS above the server maximum */
    MQTT_ERR_RETAIN_NOT_SUPPORTED = -22,
    MQTT_ERR_TOPIC_NAME = -23,        /* topic name with wildcard characters */
    MQTT_ERR_TOPIC_EMPTY = -24,       /* empty topic name without a topic alias */
    MQTT_ERR_TOPIC_ALIAS = -25,       /* topic alias 0 or above the maximum */
    MQTT_ERR_PACKET_ID = -26,         /* packet identifier 0 where one is required */
    MQTT_ERR_SUBSCRIPTION_ID = -27,   /* subscription identifier in a client PUBLISH */
    MQTT_ERR_NO_TOPICS = -28,         /* SUBSCRIBE / UNSUBSCRIBE without any topic filter */
    MQTT_ERR_SUBSCRIBE_OPTIONS = -29, /* reserved subscription option bits set */
    MQTT_ERR_RETAIN_HANDLING = -30,   /* retain handling 3 */
    MQTT_ERR_TOPIC_FILTER = -31,      /* empty filter or misplaced wildcard */
    MQTT_ERR_PAYLOAD_FORMAT = -32,    /* payload format indicator 1 but payload not UTF-8 */
    MQTT_ERR_REMAINING_LENGTH = -33,  /* wrong remaining length for the packet type */
    MQTT_ERR_SESSION_EXPIRY = -34,    /* DISCONNECT sets expiry after CONNECT said 0 */
    MQTT_ERR_BUFFER = -35,            /* encoder: output buffer too small */
    MQTT_ERR_ARG = -36,               /* encoder: argument out of range */
    MQTT_ERR_AUTH_PACKET = -37,       /* AUTH packet without enhanced authentication */
} mqtt_err;

/* Short stable name of an mqtt_err ("malformed_varint", ...) for logs and metrics. */
const char *mqtt_err_name(int err);
/* The MQTT 5 reason code a server sends (CONNACK or DISCONNECT) for this error. */
uint8_t mqtt_err_reason(int err);
/* Spec name of a reason code ("Malformed Packet"); "Unknown" if not a defined code. */
const char *mqtt_reason_name(uint8_t reason);
/* Maps a v5 CONNACK reason to the 3.1.1 return code a v4 client understands. */
uint8_t mqtt_connack_v3_code(uint8_t reason_v5);
/* Whether the spec allows this reason code in a packet of this type sent by a server
 * (CONNACK, PUBACK, SUBACK, UNSUBACK, DISCONNECT); strict clients (paho) reject others. */
bool mqtt_reason_allowed(uint8_t packet_type, uint8_t reason);

/* --- Framing --------------------------------------------------------------------------------- */

typedef struct {
    uint8_t type;  /* mqtt_packet_type */
    uint8_t flags; /* low nibble of byte 1 */
    uint8_t header_len;
    uint32_t remaining_len;
} mqtt_fixed_header;

/* Incremental fixed-header parse of buf[0..len): MQTT_OK (complete; the whole packet is
 * header_len + remaining_len bytes), MQTT_NEED_MORE, or an error: MQTT_ERR_PACKET_TYPE,
 * MQTT_ERR_FLAGS, MQTT_ERR_QOS_INVALID, MQTT_ERR_VARINT, or MQTT_ERR_TOO_LARGE when the whole
 * packet would exceed max_packet_size (0 = the protocol limit). Flags are checked as soon as
 * the first byte is there and the size as soon as the length is, so no body is buffered for
 * a packet that will be refused. */
int mqtt_parse_fixed_header(const uint8_t *buf, size_t len, uint32_t max_packet_size,
                            mqtt_fixed_header *out);

/* --- Validators ------------------------------------------------------------------------------ */

/* Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) without U+0000. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);
/* A topic name: non-empty, no '+' or '#'. Returns 0, MQTT_ERR_TOPIC_EMPTY or _TOPIC_NAME. */
int mqtt_topic_name_check(const char *topic, size_t len);
/* A topic filter: non-empty, '+' alone in its level, '#' alone in the last level, and a
 * "$share/<name>/<filter>" shared form with a valid name and filter. Returns 0 or
 * MQTT_ERR_TOPIC_FILTER; reports whether it has wildcards / is a shared subscription. */
int mqtt_topic_filter_check(const char *filter, size_t len, bool *wildcard, bool *shared);
/* Whether topic name topic matches the (valid, non-shared) topic filter, by the rules of
 * MQTT 5.0 4.7: '+' one level, '#' this level and every one below, wildcards at the start
 * never matching a "$..." topic. */
bool mqtt_topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* --- Parsed packets -------------------------------------------------------------------------- */

typedef struct {
    uint8_t protocol_version; /* set as soon as known, even on error (0 before) */
    bool clean_start;
    uint16_t keepalive;
    const char *client_id;
    uint16_t client_id_len;
    bool has_username, has_password;
    const char *username;
    uint16_t username_len;
    const uint8_t *password;
    uint16_t password_len;
    bool will, will_retain;
    uint8_t will_qos;
    const char *will_topic;
    uint16_t will_topic_len;
    const uint8_t *will_payload;
    uint16_t will_payload_len;
    /* MQTT 5 properties (defaults when absent) */
    uint32_t session_expiry;      /* 0 */
    uint16_t receive_maximum;     /* 65535 */
    uint32_t maximum_packet_size; /* 0 = no limit */
    uint16_t topic_alias_maximum; /* 0 */
    bool request_problem_info;    /* true */
    bool request_response_info;   /* false */
    uint32_t user_property_count;
} mqtt_connect;

typedef struct {
    bool dup, retain;
    uint8_t qos;
    const char *topic;
    uint16_t topic_len;
    uint16_t packet_id; /* 0 for QoS 0 */
    const uint8_t *payload;
    size_t payload_len;
    /* MQTT 5 properties */
    bool has_payload_format, has_message_expiry;
    uint8_t payload_format; /* 0 unspecified bytes, 1 UTF-8 */
    uint32_t message_expiry;
    uint16_t topic_alias; /* 0 = none */
    const char *content_type;
    uint16_t content_type_len;
    const char *response_topic;
    uint16_t response_topic_len;
    const uint8_t *correlation_data;
    uint16_t correlation_data_len;
    uint32_t user_property_count;
} mqtt_publish;

/* What this server accepts in PUBLISH; NULL means everything the protocol allows. */
typedef struct {
    uint8_t max_qos; /* 0..2 */
    bool retain_available;
    uint16_t topic_alias_max; /* 0 = topic aliases refused */
} mqtt_limits;

/* PUBACK, PUBREC, PUBREL, PUBCOMP */
typedef struct {
    uint16_t packet_id;
    uint8_t reason; /* 0 when absent (and always for 3.1.1) */
    const char *reason_string;
    uint16_t reason_string_len;
} mqtt_ack;

typedef struct {
    const char *filter;
    uint16_t filter_len;
    uint8_t qos; /* requested maximum QoS */
    bool no_local, retain_as_published;
    uint8_t retain_handling;
    bool valid; /* passes mqtt_topic_filter_check */
    bool wildcard, shared;
} mqtt_topic_filter;

/* SUBSCRIBE and UNSUBSCRIBE. The whole packet is validated by the parser; walk the filters
 * with mqtt_filters_next. */
typedef struct {
    uint16_t packet_id;
    uint32_t subscription_id; /* 0 = none */
    uint32_t user_property_count;
    uint32_t count;    /* number of topic filters (>= 1) */
    bool with_options; /* SUBSCRIBE: each filter is followed by an options byte */
    const uint8_t *filters;
    size_t filters_len;
    size_t pos; /* iterator state */
} mqtt_subscribe;

typedef struct {
    uint8_t reason; /* 0 when absent */
    bool has_session_expiry;
    uint32_t session_expiry;
    const char *reason_string;
    uint16_t reason_string_len;
    const char *server_reference;
    uint16_t server_reference_len;
} mqtt_disconnect;

typedef struct {
    bool session_present;
    uint8_t reason; /* v5 reason, or the 3.1.1 return code */
    bool has_receive_maximum, has_maximum_qos, has_retain_available, has_maximum_packet_size,
        has_topic_alias_maximum, has_wildcard_sub, has_sub_id, has_shared_sub,
        has_server_keep_alive, has_session_expiry;
    uint16_t receive_maximum;
    uint8_t maximum_qos;
    bool retain_available;
    uint32_t maximum_packet_size;
    uint16_t topic_alias_maximum;
    bool wildcard_sub_available, sub_id_available, shared_sub_available;
    uint16_t server_keep_alive;
    uint32_t session_expiry;
    const char *assigned_client_id;
    uint16_t assigned_client_id_len;
    const char *reason_string;
    uint16_t reason_string_len;
} mqtt_connack;

/* SUBACK and UNSUBACK: one reason code per filter (UNSUBACK 3.1.1 has none). */
typedef struct {
    uint16_t packet_id;
    const uint8_t *codes;
    size_t count;
    const char *reason_string;
    uint16_t reason_string_len;
} mqtt_suback;

typedef struct {
    mqtt_fixed_header fh;
    union {
        mqtt_connect connect;
        mqtt_connack connack;
        mqtt_publish publish;
        mqtt_ack ack;
        mqtt_subscribe subscribe; /* SUBSCRIBE and UNSUBSCRIBE */
        mqtt_suback suback;       /* SUBACK and UNSUBACK */
        mqtt_disconnect disconnect;
    } u;
} mqtt_packet;

/* Body parsers: body/len are the remaining_len bytes after the fixed header. */
int mqtt_parse_connect(const uint8_t *body, size_t len, mqtt_connect *out);
/* flags: the fixed-header flags. On MQTT_ERR_PAYLOAD_FORMAT (and the limits errors
 * QOS_NOT_SUPPORTED, RETAIN_NOT_SUPPORTED, TOPIC_ALIAS) out is completely filled, so the
 * caller can still answer the packet id. */
int mqtt_parse_publish(const uint8_t *body, size_t len, uint8_t flags, int version,
                       const mqtt_limits *lim, mqtt_publish *out);
int mqtt_parse_ack(const uint8_t *body, size_t len, int version, mqtt_ack *out);
int mqtt_parse_subscribe(const uint8_t *body, size_t len, int version, mqtt_subscribe *out);
int mqtt_parse_unsubscribe(const uint8_t *body, size_t len, int version, mqtt_subscribe *out);
/* Next topic filter of a parsed SUBSCRIBE/UNSUBSCRIBE: true while there is one. */
bool mqtt_filters_next(mqtt_subscribe *s, mqtt_topic_filter *out);
/* from_server: a DISCONNECT sent by a server may carry a Server Reference, a client's not. */
int mqtt_parse_disconnect(const uint8_t *body, size_t len, int version, bool from_server,
                          mqtt_disconnect *out);
int mqtt_parse_connack(const uint8_t *body, size_t len, int version, mqtt_connack *out);
/* SUBACK (type MQTT_SUBACK) or UNSUBACK (MQTT_UNSUBACK). */
int mqtt_parse_suback(const uint8_t *body, size_t len, int version, uint8_t type, mqtt_suback *out);

/* One complete packet at buf (fixed header included): frames it, then dispatches to the
 * body parser for its type. version is ignored for CONNECT (it carries its own). Returns
 * MQTT_NEED_MORE if buf holds less than a whole packet. PINGREQ/PINGRESP must be empty;
 * AUTH is refused (MQTT_ERR_AUTH_METHOD in v5, MQTT_ERR_PACKET_TYPE in 3.1.1). */
int mqtt_parse_packet(const uint8_t *buf, size_t len, int version, uint32_t max_packet_size,
                      const mqtt_limits *lim, mqtt_packet *out);

/* --- Encoders -------------------------------------------------------------------------------- */

/* Each encoder returns the number of bytes written, MQTT_ERR_BUFFER if cap is too small, or
 * MQTT_ERR_ARG for values the protocol cannot carry. Strings are (pointer, length). */

/* Server -> client */
int mqtt_encode_connack(uint8_t *buf, size_t cap, int version, const mqtt_connack *ack);
/* v5: reason 0 without reason string encodes the short 2-byte form. 3.1.1 ignores reason. */
int mqtt_encode_puback(uint8_t *buf, size_t cap, int version, uint16_t packet_id, uint8_t reason,
                       const char *reason_string, size_t reason_string_len);
/* codes are v5 reason codes; for 3.1.1 any code >= 0x80 becomes 0x80. */
int mqtt_encode_suback(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                       const uint8_t *codes, size_t count);
/* 3.1.1 UNSUBACK carries only the packet id; codes may then be NULL. */
int mqtt_encode_unsuback(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                         const uint8_t *codes, size_t count);
int mqtt_encode_pingresp(uint8_t *buf, size_t cap);
/* v5 carries the reason (and an optional reason string); 3.1.1 is the bare 2-byte packet. */
int mqtt_encode_disconnect(uint8_t *buf, size_t cap, int version, uint8_t reason,
                           const char *reason_string, size_t reason_string_len);

/* Client -> server (tests, benchmarks). Uses the fields of mqtt_connect/mqtt_publish; v5
 * properties are written when they differ from the defaults. */
int mqtt_encode_connect(uint8_t *buf, size_t cap, const mqtt_connect *c);
int mqtt_encode_publish(uint8_t *buf, size_t cap, int version, const mqtt_publish *p);
int mqtt_encode_subscribe(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                          const char *const *filters, const uint8_t *options, size_t count);
int mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, int version, uint16_t packet_id,
                            const char *const *filters, size_t count);
int mqtt_encode_pingreq(uint8_t *buf, size_t cap);

#endif
