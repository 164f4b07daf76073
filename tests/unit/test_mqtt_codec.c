/* MQTT codec tests: framing, every packet parser (including bytes captured from paho-mqtt 1.6
 * and mosquitto_pub 2.0.11), each refusal path with its distinct error and reason code, and
 * encoder round trips through the matching parser. */
#include "mqtt/mqtt_codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* --- helpers --------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Hex to bytes; anything that is not a hex digit (spaces) is skipped. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex && n < cap; hex++) {
        int v = hexval(*hex);
        if (v < 0) continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* Parses one whole packet given as hex. */
static int parse_hex(const char *hex, int version, const mqtt_limits *lim, mqtt_packet *p,
                     uint8_t *buf, size_t cap)
{
    size_t n = unhex(hex, buf, cap);
    return mqtt_parse_packet(buf, n, version, 0, lim, p);
}

static const mqtt_limits server_limits_v5 = {.max_qos = 1, .retain_available = false};

/* --- framing --------------------------------------------------------------------------------- */

static void test_fixed_header_needs_more_until_length_complete(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 0x80, 0x01};
    mqtt_fixed_header fh;
    assert_int_equal(mqtt_parse_fixed_header(b, 0, 0, &fh), MQTT_NEED_MORE);
    assert_int_equal(mqtt_parse_fixed_header(b, 1, 0, &fh), MQTT_NEED_MORE);
    assert_int_equal(mqtt_parse_fixed_header(b, 2, 0, &fh), MQTT_NEED_MORE);
    assert_int_equal(mqtt_parse_fixed_header(b, 3, 0, &fh), MQTT_OK);
    assert_int_equal(fh.type, MQTT_PUBLISH);
    assert_int_equal(fh.header_len, 3);
    assert_int_equal(fh.remaining_len, 128);
}

static void test_fixed_header_accepts_the_four_byte_maximum(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    mqtt_fixed_header fh;
    assert_int_equal(mqtt_parse_fixed_header(b, sizeof b, 0, &fh), MQTT_OK);
    assert_int_equal(fh.remaining_len, MQTT_MAX_REMAINING);
    assert_int_equal(fh.header_len, 5);
}

static void test_fixed_header_with_five_length_bytes_is_malformed(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    mqtt_fixed_header fh;
    assert_int_equal(mqtt_parse_fixed_header(b, sizeof b, 0, &fh), MQTT_ERR_VARINT);
    assert_int_equal(mqtt_err_reason(MQTT_ERR_VARINT), MQTT_RC_MALFORMED_PACKET);
}

static void test_fixed_header_over_max_packet_size_is_too_large(void **state)
{
    (void)state;
    /* remaining 126 + 2 header bytes = 128 total: exactly the limit passes, one more fails */
    const uint8_t ok[] = {0x30, 126};
    const uint8_t big[] = {0x30, 127};
    mqtt_fixed_header fh;
    assert_int_equal(mqtt_parse_fixed_header(ok, sizeof ok, 128, &fh), MQTT_OK);
    assert_int_equal(mqtt_parse_fixed_header(big, sizeof big, 128, &fh), MQTT_ERR_TOO_LARGE);
    assert_int_equal(mqtt_err_reason(MQTT_ERR_TOO_LARGE), MQTT_RC_PACKET_TOO_LARGE);
    /* refused from the header alone, before any body byte is there */
    const uint8_t huge[] = {0x30, 0xFF, 0xFF, 0x7F};
    assert_int_equal(mqtt_parse_fixed_header(huge, sizeof huge, 262144, &fh), MQTT_ERR_TOO_LARGE);
}

static void test_fixed_header_reserved_type_and_bad_flags_are_refused(void **state)
{
    (void)state;
    mqtt_fixed_header fh;
    const uint8_t t0[] = {0x00, 0x00};
    const uint8_t sub_flags0[] = {0x80, 0x00};
    const uint8_t ping_flags1[] = {0xC1, 0x00};
    const uint8_t pub_qos3[] = {0x36, 0x00};
    const uint8_t pub_dup_qos0[] = {0x38, 0x00};
    assert_int_equal(mqtt_parse_fixed_header(t0, 2, 0, &fh), MQTT_ERR_PACKET_TYPE);
    assert_int_equal(mqtt_parse_fixed_header(sub_flags0, 2, 0, &fh), MQTT_ERR_FLAGS);
    assert_int_equal(mqtt_parse_fixed_header(ping_flags1, 2, 0, &fh), MQTT_ERR_FLAGS);
    assert_int_equal(mqtt_parse_fixed_header(pub_qos3, 2, 0, &fh), MQTT_ERR_QOS_INVALID);
    assert_int_equal(mqtt_parse_fixed_header(pub_dup_qos0, 2, 0, &fh), MQTT_ERR_FLAGS);
    /* flags are checked from the first byte alone */
    assert_int_equal(mqtt_parse_fixed_header(sub_flags0, 1, 0, &fh), MQTT_ERR_FLAGS);
}

static void test_parse_packet_needs_whole_packet(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = unhex("c000", buf, sizeof buf);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, 1, 4, 0, NULL, &p), MQTT_NEED_MORE);
    assert_int_equal(mqtt_parse_packet(buf, n, 4, 0, NULL, &p), MQTT_OK);
    assert_int_equal(p.fh.type, MQTT_PINGREQ);
    n = unhex("3005000161", buf, sizeof buf); /* says 5, holds 3 */
    assert_int_equal(mqtt_parse_packet(buf, n, 4, 0, NULL, &p), MQTT_NEED_MORE);
}

/* --- validators ----------------------------------------------------------------------------- */

static void test_utf8_validation_follows_rfc3629_and_refuses_nul(void **state)
{
    (void)state;
    uint8_t b[8];
    assert_true(mqtt_utf8_valid((const uint8_t *)"abc", 3));
    assert_true(mqtt_utf8_valid(b, unhex("c3a9", b, 8)));      /* é */
    assert_true(mqtt_utf8_valid(b, unhex("e282ac", b, 8)));    /* € */
    assert_true(mqtt_utf8_valid(b, unhex("f09f9880", b, 8)));  /* emoji */
    assert_true(mqtt_utf8_valid(b, unhex("f48fbfbf", b, 8)));  /* U+10FFFF */
    assert_false(mqtt_utf8_valid(b, unhex("00", b, 8)));       /* U+0000 */
    assert_false(mqtt_utf8_valid(b, unhex("c080", b, 8)));     /* overlong NUL */
    assert_false(mqtt_utf8_valid(b, unhex("e08080", b, 8)));   /* overlong */
    assert_false(mqtt_utf8_valid(b, unhex("eda080", b, 8)));   /* surrogate D800 */
    assert_false(mqtt_utf8_valid(b, unhex("f4908080", b, 8))); /* > U+10FFFF */
    assert_false(mqtt_utf8_valid(b, unhex("e282", b, 8)));     /* truncated */
    assert_false(mqtt_utf8_valid(b, unhex("80", b, 8)));       /* lone continuation */
    assert_false(mqtt_utf8_valid(b, unhex("c341", b, 8)));     /* bad continuation */
    assert_false(mqtt_utf8_valid(b, unhex("ff", b, 8)));
}

static void test_topic_name_and_filter_rules(void **state)
{
    (void)state;
    bool wc, sh;
    assert_int_equal(mqtt_topic_name_check("a/b", 3), MQTT_OK);
    assert_int_equal(mqtt_topic_name_check("", 0), MQTT_ERR_TOPIC_EMPTY);
    assert_int_equal(mqtt_topic_name_check("a/+", 3), MQTT_ERR_TOPIC_NAME);
    assert_int_equal(mqtt_topic_name_check("a/#", 3), MQTT_ERR_TOPIC_NAME);

    assert_int_equal(mqtt_topic_filter_check("a/b", 3, &wc, &sh), MQTT_OK);
    assert_false(wc);
    assert_false(sh);
    assert_int_equal(mqtt_topic_filter_check("#", 1, &wc, &sh), MQTT_OK);
    assert_true(wc);
    assert_int_equal(mqtt_topic_filter_check("a/+/c/#", 7, &wc, &sh), MQTT_OK);
    assert_true(wc);
    assert_int_equal(mqtt_topic_filter_check("+", 1, &wc, &sh), MQTT_OK);
    assert_int_equal(mqtt_topic_filter_check("/", 1, &wc, &sh), MQTT_OK);
    assert_int_equal(mqtt_topic_filter_check("", 0, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("a/#/b", 5, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("a#", 2, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("a+/b", 4, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("$share/g/a/b", 12, &wc, &sh), MQTT_OK);
    assert_true(sh);
    assert_false(wc);
    assert_int_equal(mqtt_topic_filter_check("$share/g/#", 10, &wc, &sh), MQTT_OK);
    assert_true(sh);
    assert_true(wc);
    assert_int_equal(mqtt_topic_filter_check("$share/g", 8, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("$share//a", 9, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("$share/+/a", 10, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
    assert_int_equal(mqtt_topic_filter_check("$share/g/", 9, &wc, &sh), MQTT_ERR_TOPIC_FILTER);
}

/* --- CONNECT -------------------------------------------------------------------------------- */

static void test_connect_from_paho_v311_is_parsed(void **state)
{
    (void)state;
    uint8_t buf[128];
    mqtt_packet p;
    assert_int_equal(parse_hex("101e00044d51545404c2003c0000000464657631000a7365637265742d6b6579",
                               0, NULL, &p, buf, sizeof buf),
                     MQTT_OK);
    const mqtt_connect *c = &p.u.connect;
    assert_int_equal(c->protocol_version, 4);
    assert_true(c->clean_start);
    assert_int_equal(c->keepalive, 60);
    assert_int_equal(c->client_id_len, 0);
    assert_true(c->has_username);
    assert_memory_equal(c->username, "dev1", 4);
    assert_true(c->has_password);
    assert_int_equal(c->password_len, 10);
    assert_memory_equal(c->password, "secret-key", 10);
    assert_false(c->will);
}

static void test_connect_from_mosquitto_pub_v5_is_parsed(void **state)
{
    (void)state;
    uint8_t buf[128];
    mqtt_packet p;
    assert_int_equal(
        parse_hex("101000044d5154540502003c032100140000", 0, NULL, &p, buf, sizeof buf), MQTT_OK);
    const mqtt_connect *c = &p.u.connect;
    assert_int_equal(c->protocol_version, 5);
    assert_true(c->clean_start);
    assert_int_equal(c->receive_maximum, 20);
    assert_int_equal(c->client_id_len, 0); /* v5: the server assigns one */
    assert_true(c->request_problem_info);
    assert_int_equal(c->maximum_packet_size, 0);
}

static void test_connect_v5_round_trip_with_properties_and_will(void **state)
{
    (void)state;
    mqtt_connect in = {
        .protocol_version = 5,
        .clean_start = false,
        .keepalive = 300,
        .client_id = "dev-42",
        .client_id_len = 6,
        .has_username = true,
        .username = "u",
        .username_len = 1,
        .has_password = true,
        .password = (const uint8_t *)"\x00\x01p",
        .password_len = 3,
        .will = true,
        .will_qos = 1,
        .will_topic = "dev/42/status",
        .will_topic_len = 13,
        .will_payload = (const uint8_t *)"offline",
        .will_payload_len = 7,
        .session_expiry = 3600,
        .receive_maximum = 10,
        .maximum_packet_size = 4096,
        .topic_alias_maximum = 5,
        .request_problem_info = false,
        .request_response_info = true,
    };
    uint8_t buf[256];
    int n = mqtt_encode_connect(buf, sizeof buf, &in);
    assert_true(n > 0);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 0, 0, NULL, &p), MQTT_OK);
    const mqtt_connect *c = &p.u.connect;
    assert_int_equal(c->protocol_version, 5);
    assert_false(c->clean_start);
    assert_int_equal(c->keepalive, 300);
    assert_int_equal(c->client_id_len, 6);
    assert_memory_equal(c->client_id, "dev-42", 6);
    assert_int_equal(c->password_len, 3);
    assert_memory_equal(c->password, "\x00\x01p", 3);
    assert_true(c->will);
    assert_int_equal(c->will_qos, 1);
    assert_memory_equal(c->will_topic, "dev/42/status", 13);
    assert_int_equal(c->will_payload_len, 7);
    assert_int_equal(c->session_expiry, 3600);
    assert_int_equal(c->receive_maximum, 10);
    assert_int_equal(c->maximum_packet_size, 4096);
    assert_int_equal(c->topic_alias_maximum, 5);
    assert_false(c->request_problem_info);
    assert_true(c->request_response_info);
    /* the client id points into the input buffer, no copy */
    assert_true((const uint8_t *)c->client_id > buf && (const uint8_t *)c->client_id < buf + n);
}

static void test_connect_refusals_have_distinct_errors(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int err;
        uint8_t reason;
    } cases[] = {
        /* protocol name "MQTX" */
        {"100c00044d5154580402003c0000", MQTT_ERR_PROTOCOL_NAME, 0x84},
        /* MQTT 3.1 (MQIsdp, level 3) and level 6 */
        {"100e00064d514973647003 02003c0000", MQTT_ERR_PROTOCOL_VERSION, 0x84},
        {"100c00044d5154540602003c0000", MQTT_ERR_PROTOCOL_VERSION, 0x84},
        /* reserved flag bit */
        {"100c00044d5154540403003c0000", MQTT_ERR_CONNECT_RESERVED, 0x81},
        /* will QoS 3, will retain without will flag */
        {"100c00044d515454041e003c0000", MQTT_ERR_WILL_FLAGS, 0x81},
        {"100c00044d5154540422003c0000", MQTT_ERR_WILL_FLAGS, 0x81},
        /* 3.1.1 password without user name */
        {"100e00044d5154540442003c000000017a", MQTT_ERR_PASSWORD_FLAG, 0x81},
        /* 3.1.1 empty client id without clean session */
        {"100c00044d5154540400003c0000", MQTT_ERR_CLIENT_ID, 0x85},
        /* client id is not UTF-8 / contains U+0000 */
        {"100e00044d5154540402003c0002c328", MQTT_ERR_UTF8, 0x81},
        {"100d00044d5154540402003c000100", MQTT_ERR_UTF8, 0x81},
        /* trailing byte after the payload */
        {"100d00044d5154540402003c000000", MQTT_ERR_TRAILING, 0x81},
        /* client id length beyond the packet */
        {"100c00044d5154540402003c0005", MQTT_ERR_TRUNCATED, 0x81},
        /* will topic with a wildcard */
        {"101400044d5154540406003c00000003612f2b0000", MQTT_ERR_TOPIC_NAME, 0x90},
        /* v5: authentication method (enhanced auth is not supported) */
        {"101500044d5154540502003c0615000353435200000", MQTT_ERR_AUTH_METHOD, 0x8C},
        /* v5: authentication data without a method */
        {"101300044d5154540502003c04160001780000", MQTT_ERR_AUTH_DATA, 0x82},
        /* v5: receive maximum 0 */
        {"101200044d5154540502003c03210000 0000", MQTT_ERR_PROPERTY_VALUE, 0x82},
        /* v5: maximum packet size 0 */
        {"101400044d5154540502003c05270000000000 00", MQTT_ERR_PROPERTY_VALUE, 0x82},
        /* v5: request problem information 2 */
        {"101100044d5154540502003c0217020000", MQTT_ERR_PROPERTY_VALUE, 0x82},
        /* v5: session expiry twice */
        {"101b00044d5154540502003c0a110000000111000000020000", MQTT_ERR_PROPERTY_DUPLICATE, 0x82},
        /* v5: topic alias (0x23) is not a CONNECT property */
        {"101200044d5154540502003c03230001 0000", MQTT_ERR_PROPERTY_ID, 0x81},
        /* v5: property length beyond the packet */
        {"101000044d5154540502003c090000", MQTT_ERR_PROPERTY_LENGTH, 0x81},
        /* v5: a value cut by the property length */
        {"101100044d5154540502003c0221000000", MQTT_ERR_PROPERTY_LENGTH, 0x81},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[128];
        size_t n = unhex(cases[i].hex, buf, sizeof buf);
        mqtt_connect c;
        mqtt_fixed_header fh;
        assert_int_equal(mqtt_parse_fixed_header(buf, n, 0, &fh), MQTT_OK);
        int rc = mqtt_parse_connect(buf + fh.header_len, n - fh.header_len, &c);
        if (rc != cases[i].err) print_error("case %zu: got %s\n", i, mqtt_err_name(rc));
        assert_int_equal(rc, cases[i].err);
        assert_int_equal(mqtt_err_reason(rc), cases[i].reason);
    }
}

static void
test_connect_v5_allows_password_without_username_and_repeated_user_properties(void **state)
{
    (void)state;
    uint8_t buf[128];
    mqtt_packet p;
    /* props: user property (a,b) twice; password flag only */
    assert_int_equal(parse_hex("101e00044d5154540542003c0e260001610001622600016100016200000001"
                               "7a",
                               0, NULL, &p, buf, sizeof buf),
                     MQTT_OK);
    assert_int_equal(p.u.connect.user_property_count, 2);
    assert_false(p.u.connect.has_username);
    assert_true(p.u.connect.has_password);
    assert_int_equal(p.u.connect.password_len, 1);
}

static void test_connect_reports_version_even_when_refused(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    assert_int_equal(parse_hex("101000044d5154540503003c030000000000", 0, NULL, &p, buf, 64),
                     MQTT_ERR_CONNECT_RESERVED);
    assert_int_equal(p.u.connect.protocol_version, 5);
}

/* --- PUBLISH --------------------------------------------------------------------------------- */

static void test_publish_from_real_clients_is_parsed(void **state)
{
    (void)state;
    uint8_t buf[128];
    mqtt_packet p;
    /* paho 1.6 and mosquitto_pub 2.0.11, QoS 1, v3.1.1 */
    assert_int_equal(parse_hex("3222001173656e736f72732f646576312f74656d7000017b2274656d70223a"
                               "32312e357d",
                               4, NULL, &p, buf, sizeof buf),
                     MQTT_OK);
    assert_int_equal(p.u.publish.qos, 1);
    assert_int_equal(p.u.publish.packet_id, 1);
    assert_memory_equal(p.u.publish.topic, "sensors/dev1/temp", 17);
    assert_int_equal(p.u.publish.payload_len, 13);
    assert_memory_equal(p.u.publish.payload, "{\"temp\":21.5}", 13);
    assert_ptr_equal(p.u.publish.payload, buf + 2 + 2 + 17 + 2);
    /* v5: same plus an empty property block */
    assert_int_equal(parse_hex("3223001173656e736f72732f646576312f74656d700001007b2274656d7022"
                               "3a32312e357d",
                               5, &server_limits_v5, &p, buf, sizeof buf),
                     MQTT_OK);
    assert_int_equal(p.u.publish.packet_id, 1);
    assert_int_equal(p.u.publish.payload_len, 13);
}

static void test_publish_v5_round_trip_with_properties(void **state)
{
    (void)state;
    mqtt_publish in = {
        .qos = 1,
        .dup = true,
        .topic = "t/1",
        .topic_len = 3,
        .packet_id = 777,
        .payload = (const uint8_t *)"21.5",
        .payload_len = 4,
        .has_payload_format = true,
        .payload_format = 1,
        .has_message_expiry = true,
        .message_expiry = 60,
        .content_type = "text/plain",
        .content_type_len = 10,
        .response_topic = "r/1",
        .response_topic_len = 3,
        .correlation_data = (const uint8_t *)"\x01\x02",
        .correlation_data_len = 2,
    };
    uint8_t buf[256];
    int n = mqtt_encode_publish(buf, sizeof buf, 5, &in);
    assert_true(n > 0);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 5, 0, &server_limits_v5, &p), MQTT_OK);
    const mqtt_publish *o = &p.u.publish;
    assert_int_equal(o->qos, 1);
    assert_true(o->dup);
    assert_false(o->retain);
    assert_int_equal(o->packet_id, 777);
    assert_true(o->has_payload_format);
    assert_int_equal(o->payload_format, 1);
    assert_int_equal(o->message_expiry, 60);
    assert_int_equal(o->content_type_len, 10);
    assert_memory_equal(o->content_type, "text/plain", 10);
    assert_memory_equal(o->response_topic, "r/1", 3);
    assert_int_equal(o->correlation_data_len, 2);
    assert_int_equal(o->payload_len, 4);
    assert_memory_equal(o->payload, "21.5", 4);
}

static void test_publish_qos0_with_empty_payload_is_accepted(void **state)
{
    (void)state;
    uint8_t buf[32];
    mqtt_packet p;
    assert_int_equal(parse_hex("3003000161", 4, NULL, &p, buf, sizeof buf), MQTT_OK);
    assert_int_equal(p.u.publish.qos, 0);
    assert_int_equal(p.u.publish.packet_id, 0);
    assert_int_equal(p.u.publish.payload_len, 0);
}

static void test_publish_refusals_have_distinct_errors(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int version;
        int err;
        uint8_t reason;
    } cases[] = {
        /* wildcard in topic name */
        {"3005000361 2f2b", 4, MQTT_ERR_TOPIC_NAME, 0x90},
        {"3005000361 2f23", 4, MQTT_ERR_TOPIC_NAME, 0x90},
        /* empty topic without alias */
        {"30020000", 4, MQTT_ERR_TOPIC_EMPTY, 0x82},
        {"3003000000", 5, MQTT_ERR_TOPIC_EMPTY, 0x82},
        /* packet id 0 at QoS 1 */
        {"3205000161 0000", 4, MQTT_ERR_PACKET_ID, 0x82},
        /* QoS 2: not supported by this server */
        {"3406000161 000100", 5, MQTT_ERR_QOS_NOT_SUPPORTED, 0x9B},
        /* v5 retain while Retain Available = 0 */
        {"3104000161 00", 5, MQTT_ERR_RETAIN_NOT_SUPPORTED, 0x9A},
        /* v5 topic alias while Topic Alias Maximum = 0, and alias 0 */
        {"3007000161 03230001", 5, MQTT_ERR_TOPIC_ALIAS, 0x94},
        {"3007000161 03230000", 5, MQTT_ERR_TOPIC_ALIAS, 0x94},
        /* v5 subscription identifier from a client */
        {"3006000161 020b01", 5, MQTT_ERR_SUBSCRIPTION_ID, 0x82},
        /* v5 message expiry twice */
        {"300e000161 0a02000000010200000001", 5, MQTT_ERR_PROPERTY_DUPLICATE, 0x82},
        /* v5 payload format 2 */
        {"3006000161 020102", 5, MQTT_ERR_PROPERTY_VALUE, 0x82},
        /* v5 response topic with a wildcard */
        {"3009000161 05 08 0002 612b", 5, MQTT_ERR_PROPERTY_VALUE, 0x82},
        /* v5 session expiry is not a PUBLISH property */
        {"3009000161 051100000001", 5, MQTT_ERR_PROPERTY_ID, 0x81},
        /* v5 payload says UTF-8 but is not */
        {"3007000161 020101ff", 5, MQTT_ERR_PAYLOAD_FORMAT, 0x99},
        /* topic not UTF-8 */
        {"30040002c328", 4, MQTT_ERR_UTF8, 0x81},
        /* topic longer than the packet */
        {"30030005 61", 4, MQTT_ERR_TRUNCATED, 0x81},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64];
        mqtt_packet p;
        int rc = parse_hex(cases[i].hex, cases[i].version, &server_limits_v5, &p, buf, sizeof buf);
        if (rc != cases[i].err) print_error("case %zu: got %s\n", i, mqtt_err_name(rc));
        assert_int_equal(rc, cases[i].err);
        assert_int_equal(mqtt_err_reason(rc), cases[i].reason);
    }
}

static void test_publish_policy_refusal_still_reports_packet_id(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    assert_int_equal(parse_hex("340600012b002a00", 5, &server_limits_v5, &p, buf, 64),
                     MQTT_ERR_TOPIC_NAME);
    /* payload format invalid at QoS 1: the id is there to PUBACK 0x99 */
    assert_int_equal(parse_hex("3209000161002a020101ff", 5, &server_limits_v5, &p, buf, 64),
                     MQTT_ERR_PAYLOAD_FORMAT);
    assert_int_equal(p.u.publish.packet_id, 42);
    assert_int_equal(p.u.publish.qos, 1);
    assert_int_equal(parse_hex("3406000161002a00", 5, &server_limits_v5, &p, buf, 64),
                     MQTT_ERR_QOS_NOT_SUPPORTED);
    assert_int_equal(p.u.publish.packet_id, 42);
}

static void test_publish_without_limits_accepts_qos2_retain_and_alias(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    assert_int_equal(parse_hex("3509000161002a03230005", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.publish.qos, 2);
    assert_true(p.u.publish.retain);
    assert_int_equal(p.u.publish.topic_alias, 5);
    /* alias only, empty topic: allowed by the protocol */
    assert_int_equal(parse_hex("3006000003230005", 5, NULL, &p, buf, 64), MQTT_OK);
    /* 3.1.1 has no retain restriction here */
    assert_int_equal(parse_hex("3103000161", 4, &server_limits_v5, &p, buf, 64),
                     MQTT_ERR_RETAIN_NOT_SUPPORTED);
    mqtt_limits v3 = {.max_qos = 1, .retain_available = true};
    assert_int_equal(parse_hex("3103000161", 4, &v3, &p, buf, 64), MQTT_OK);
    assert_true(p.u.publish.retain);
}

/* --- acks, subscribe, disconnect ------------------------------------------------------------ */

static void test_puback_parse_checks_length_per_version(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    assert_int_equal(parse_hex("40020007", 4, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.ack.packet_id, 7);
    assert_int_equal(parse_hex("4003000710", 4, NULL, &p, buf, 64), MQTT_ERR_REMAINING_LENGTH);
    assert_int_equal(parse_hex("4003000710", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.ack.reason, 0x10);
    assert_int_equal(parse_hex("40090007870 51f00026f6b", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.ack.reason, 0x87);
    assert_int_equal(p.u.ack.reason_string_len, 2);
    assert_int_equal(parse_hex("40020000", 4, NULL, &p, buf, 64), MQTT_ERR_PACKET_ID);
    assert_int_equal(parse_hex("4001 00", 5, NULL, &p, buf, 64), MQTT_ERR_REMAINING_LENGTH);
}

static void test_subscribe_filters_are_iterated_with_validity(void **state)
{
    (void)state;
    const char *filters[] = {"a/b", "a/+/c", "$share/g/x", "a/#/b"};
    const uint8_t opts[] = {1, 0, 1, 0x2c}; /* last: QoS 0, retain-as-published, handling 2 */
    uint8_t buf[128];
    for (int v = 4; v <= 5; v++) {
        int n = mqtt_encode_subscribe(buf, sizeof buf, v, 9, filters, opts, v == 5 ? 4 : 3);
        assert_true(n > 0);
        mqtt_packet p;
        assert_int_equal(mqtt_parse_packet(buf, (size_t)n, v, 0, NULL, &p), MQTT_OK);
        mqtt_subscribe *s = &p.u.subscribe;
        assert_int_equal(s->packet_id, 9);
        assert_int_equal(s->count, v == 5 ? 4 : 3);
        mqtt_topic_filter f;
        assert_true(mqtt_filters_next(s, &f));
        assert_memory_equal(f.filter, "a/b", 3);
        assert_int_equal(f.qos, 1);
        assert_true(f.valid);
        assert_false(f.wildcard);
        assert_true(mqtt_filters_next(s, &f));
        assert_true(f.valid && f.wildcard);
        assert_true(mqtt_filters_next(s, &f));
        assert_true(f.valid && f.shared);
        if (v == 5) {
            assert_true(mqtt_filters_next(s, &f));
            assert_false(f.valid);
            assert_true(f.retain_as_published);
            assert_int_equal(f.retain_handling, 2);
        }
        assert_false(mqtt_filters_next(s, &f));
    }
}

static void test_subscribe_refusals_have_distinct_errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    /* no filter at all */
    assert_int_equal(parse_hex("82020001", 4, NULL, &p, buf, 64), MQTT_ERR_NO_TOPICS);
    assert_int_equal(parse_hex("8203000100", 5, NULL, &p, buf, 64), MQTT_ERR_NO_TOPICS);
    /* 3.1.1: option bits other than QoS are reserved */
    assert_int_equal(parse_hex("8206000100016104", 4, NULL, &p, buf, 64),
                     MQTT_ERR_SUBSCRIBE_OPTIONS);
    /* v5: bits 6-7 reserved; retain handling 3; QoS 3 */
    assert_int_equal(parse_hex("820700010000016140", 5, NULL, &p, buf, 64),
                     MQTT_ERR_SUBSCRIBE_OPTIONS);
    assert_int_equal(parse_hex("820700010000016130", 5, NULL, &p, buf, 64),
                     MQTT_ERR_RETAIN_HANDLING);
    assert_int_equal(parse_hex("820700010000016103", 5, NULL, &p, buf, 64), MQTT_ERR_QOS_INVALID);
    /* missing options byte */
    assert_int_equal(parse_hex("8205000100 0161", 4, NULL, &p, buf, 64), MQTT_ERR_TRUNCATED);
    /* packet id 0 */
    assert_int_equal(parse_hex("8206000000016100", 4, NULL, &p, buf, 64), MQTT_ERR_PACKET_ID);
    /* v5 subscription identifier 0 */
    assert_int_equal(parse_hex("820900010 20b00000161 00", 5, NULL, &p, buf, 64),
                     MQTT_ERR_PROPERTY_VALUE);
    /* v5 subscription identifier accepted */
    assert_int_equal(parse_hex("82090001020b05000161 00", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.subscribe.subscription_id, 5);
    /* UNSUBSCRIBE: none, then one */
    assert_int_equal(parse_hex("a2020001", 4, NULL, &p, buf, 64), MQTT_ERR_NO_TOPICS);
    assert_int_equal(parse_hex("a205000100 0161", 4, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.subscribe.count, 1);
}

static void test_disconnect_parse_per_version_and_direction(void **state)
{
    (void)state;
    uint8_t buf[64];
    mqtt_packet p;
    assert_int_equal(parse_hex("e000", 4, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(parse_hex("e00100", 4, NULL, &p, buf, 64), MQTT_ERR_REMAINING_LENGTH);
    assert_int_equal(parse_hex("e000", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.disconnect.reason, 0);
    assert_int_equal(parse_hex("e00104", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_int_equal(p.u.disconnect.reason, 4);
    assert_int_equal(parse_hex("e00700051100000e10", 5, NULL, &p, buf, 64), MQTT_OK);
    assert_true(p.u.disconnect.has_session_expiry);
    assert_int_equal(p.u.disconnect.session_expiry, 3600);
    /* Server Reference: only a server may send it */
    size_t n = unhex("e007 9c 05 1c 0002 6869", buf, 64);
    mqtt_disconnect d;
    assert_int_equal(mqtt_parse_disconnect(buf + 2, n - 2, 5, false, &d), MQTT_ERR_PROPERTY_ID);
    assert_int_equal(mqtt_parse_disconnect(buf + 2, n - 2, 5, true, &d), MQTT_OK);
    assert_int_equal(d.server_reference_len, 2);
}

static void test_ping_and_auth_rules(void **state)
{
    (void)state;
    uint8_t buf[16];
    mqtt_packet p;
    assert_int_equal(parse_hex("c00100", 4, NULL, &p, buf, 16), MQTT_ERR_REMAINING_LENGTH);
    assert_int_equal(parse_hex("f000", 5, NULL, &p, buf, 16), MQTT_ERR_AUTH_PACKET);
    assert_int_equal(mqtt_err_reason(MQTT_ERR_AUTH_PACKET), MQTT_RC_PROTOCOL_ERROR);
    assert_int_equal(parse_hex("f000", 4, NULL, &p, buf, 16), MQTT_ERR_PACKET_TYPE);
}

/* --- encoders ------------------------------------------------------------------------------- */

static void test_connack_v311_encodes_mapped_return_codes(void **state)
{
    (void)state;
    uint8_t buf[16];
    mqtt_connack a = {.session_present = true, .reason = 0};
    assert_int_equal(mqtt_encode_connack(buf, sizeof buf, 4, &a), 4);
    assert_memory_equal(buf, "\x20\x02\x01\x00", 4);
    a.reason = MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    assert_int_equal(mqtt_encode_connack(buf, sizeof buf, 4, &a), 4);
    /* a refusal never claims a session */
    assert_memory_equal(buf, "\x20\x02\x00\x04", 4);
}

static void test_connack_v3_code_mapping(void **state)
{
    (void)state;
    assert_int_equal(mqtt_connack_v3_code(0x00), 0);
    assert_int_equal(mqtt_connack_v3_code(0x84), 1);
    assert_int_equal(mqtt_connack_v3_code(0x85), 2);
    assert_int_equal(mqtt_connack_v3_code(0x88), 3);
    assert_int_equal(mqtt_connack_v3_code(0x89), 3);
    assert_int_equal(mqtt_connack_v3_code(0x97), 3);
    assert_int_equal(mqtt_connack_v3_code(0x86), 4);
    assert_int_equal(mqtt_connack_v3_code(0x87), 5);
    assert_int_equal(mqtt_connack_v3_code(0x8A), 5);
    assert_int_equal(mqtt_connack_v3_code(0x8C), 5);
    assert_int_equal(mqtt_connack_v3_code(0x80), 3);
}

static void test_connack_v5_round_trip_with_server_properties(void **state)
{
    (void)state;
    mqtt_connack a = {
        .reason = 0,
        .has_receive_maximum = true,
        .receive_maximum = 1024,
        .has_maximum_qos = true,
        .maximum_qos = 1,
        .has_retain_available = true,
        .retain_available = false,
        .has_maximum_packet_size = true,
        .maximum_packet_size = 262144,
        .has_topic_alias_maximum = true,
        .topic_alias_maximum = 0,
        .has_wildcard_sub = true,
        .has_shared_sub = true,
        .has_server_keep_alive = true,
        .server_keep_alive = 120,
        .has_session_expiry = true,
        .session_expiry = 0,
        .assigned_client_id = "iotad-1",
        .assigned_client_id_len = 7,
        .reason_string = "ok",
        .reason_string_len = 2,
    };
    uint8_t buf[128];
    int n = mqtt_encode_connack(buf, sizeof buf, 5, &a);
    assert_true(n > 0);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 5, 0, NULL, &p), MQTT_OK);
    const mqtt_connack *o = &p.u.connack;
    assert_int_equal(o->reason, 0);
    assert_true(o->has_receive_maximum);
    assert_int_equal(o->receive_maximum, 1024);
    assert_true(o->has_maximum_qos);
    assert_int_equal(o->maximum_qos, 1);
    assert_true(o->has_retain_available);
    assert_false(o->retain_available);
    assert_int_equal(o->maximum_packet_size, 262144);
    assert_true(o->has_topic_alias_maximum);
    assert_int_equal(o->topic_alias_maximum, 0);
    assert_true(o->has_wildcard_sub);
    assert_false(o->wildcard_sub_available);
    assert_true(o->has_shared_sub);
    assert_false(o->shared_sub_available);
    assert_false(o->has_sub_id);
    assert_int_equal(o->server_keep_alive, 120);
    assert_true(o->has_session_expiry);
    assert_int_equal(o->assigned_client_id_len, 7);
    assert_memory_equal(o->assigned_client_id, "iotad-1", 7);
    assert_int_equal(o->reason_string_len, 2);
    /* Maximum QoS 2 cannot be sent (the property only carries 0 or 1) */
    a.maximum_qos = 2;
    assert_int_equal(mqtt_encode_connack(buf, sizeof buf, 5, &a), MQTT_ERR_ARG);
}

static void test_puback_encodings_per_version(void **state)
{
    (void)state;
    uint8_t buf[64];
    assert_int_equal(mqtt_encode_puback(buf, sizeof buf, 4, 0x1234, 0x87, "x", 1), 4);
    assert_memory_equal(buf, "\x40\x02\x12\x34", 4);
    assert_int_equal(mqtt_encode_puback(buf, sizeof buf, 5, 0x1234, 0, NULL, 0), 4);
    assert_memory_equal(buf, "\x40\x02\x12\x34", 4);
    assert_int_equal(mqtt_encode_puback(buf, sizeof buf, 5, 0x1234, 0x97, NULL, 0), 5);
    assert_memory_equal(buf, "\x40\x03\x12\x34\x97", 5);
    int n = mqtt_encode_puback(buf, sizeof buf, 5, 0x1234, 0x99, "bad json", 8);
    assert_int_equal(n, 2 + 2 + 1 + 1 + 3 + 8);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 5, 0, NULL, &p), MQTT_OK);
    assert_int_equal(p.fh.type, MQTT_PUBACK);
    assert_int_equal(p.u.ack.packet_id, 0x1234);
    assert_int_equal(p.u.ack.reason, 0x99);
    assert_memory_equal(p.u.ack.reason_string, "bad json", 8);
    assert_int_equal(mqtt_encode_puback(buf, sizeof buf, 5, 0, 0, NULL, 0), MQTT_ERR_ARG);
}

static void test_suback_and_unsuback_encodings(void **state)
{
    (void)state;
    uint8_t buf[64];
    const uint8_t codes[] = {0x87, 0xA2, 0x01};
    int n = mqtt_encode_suback(buf, sizeof buf, 4, 5, codes, 3);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "\x90\x05\x00\x05\x80\x80\x01", 7);
    n = mqtt_encode_suback(buf, sizeof buf, 5, 5, codes, 3);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 5, 0, NULL, &p), MQTT_OK);
    assert_int_equal(p.u.suback.count, 3);
    assert_memory_equal(p.u.suback.codes, codes, 3);
    n = mqtt_encode_unsuback(buf, sizeof buf, 4, 6, NULL, 0);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "\xb0\x02\x00\x06", 4);
    const uint8_t nse[] = {0x11};
    n = mqtt_encode_unsuback(buf, sizeof buf, 5, 6, nse, 1);
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 5, 0, NULL, &p), MQTT_OK);
    assert_int_equal(p.fh.type, MQTT_UNSUBACK);
    assert_int_equal(p.u.suback.codes[0], 0x11);
}

static void test_pingresp_and_disconnect_encodings(void **state)
{
    (void)state;
    uint8_t buf[64];
    assert_int_equal(mqtt_encode_pingresp(buf, sizeof buf), 2);
    assert_memory_equal(buf, "\xd0\x00", 2);
    assert_int_equal(mqtt_encode_disconnect(buf, sizeof buf, 4, 0x8B, "x", 1), 2);
    assert_memory_equal(buf, "\xe0\x00", 2);
    assert_int_equal(mqtt_encode_disconnect(buf, sizeof buf, 5, 0, NULL, 0), 2);
    assert_int_equal(mqtt_encode_disconnect(buf, sizeof buf, 5, 0x9B, NULL, 0), 3);
    assert_memory_equal(buf, "\xe0\x01\x9b", 3);
    int n = mqtt_encode_disconnect(buf, sizeof buf, 5, 0x8B, "bye", 3);
    mqtt_disconnect d;
    assert_int_equal(mqtt_parse_disconnect(buf + 2, (size_t)n - 2, 5, true, &d), MQTT_OK);
    assert_int_equal(d.reason, 0x8B);
    assert_memory_equal(d.reason_string, "bye", 3);
}

static void test_encoders_refuse_small_buffers(void **state)
{
    (void)state;
    uint8_t buf[64];
    assert_int_equal(mqtt_encode_pingresp(buf, 1), MQTT_ERR_BUFFER);
    assert_int_equal(mqtt_encode_puback(buf, 3, 4, 1, 0, NULL, 0), MQTT_ERR_BUFFER);
    mqtt_connack a = {.reason = 0, .reason_string = "abcdef", .reason_string_len = 6};
    int n = mqtt_encode_connack(buf, sizeof buf, 5, &a);
    assert_true(n > 0);
    assert_int_equal(mqtt_encode_connack(buf, (size_t)n - 1, 5, &a), MQTT_ERR_BUFFER);
    mqtt_publish pub = {
        .topic = "t", .topic_len = 1, .payload = (const uint8_t *)"x", .payload_len = 1};
    assert_int_equal(mqtt_encode_publish(buf, 5, 4, &pub), MQTT_ERR_BUFFER);
    assert_int_equal(mqtt_encode_publish(buf, 6, 4, &pub), 6);
}

static void test_large_publish_round_trips_with_multibyte_length(void **state)
{
    (void)state;
    static uint8_t payload[70000], buf[70100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)i;
    mqtt_publish in = {.qos = 1,
                       .packet_id = 3,
                       .topic = "big",
                       .topic_len = 3,
                       .payload = payload,
                       .payload_len = sizeof payload};
    int n = mqtt_encode_publish(buf, sizeof buf, 4, &in);
    assert_true(n > 0);
    mqtt_packet p;
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 4, 0, NULL, &p), MQTT_OK);
    assert_int_equal(p.fh.header_len, 4);
    assert_int_equal(p.u.publish.payload_len, sizeof payload);
    assert_memory_equal(p.u.publish.payload, payload, sizeof payload);
    assert_int_equal(mqtt_parse_packet(buf, (size_t)n, 4, 65536, NULL, &p), MQTT_ERR_TOO_LARGE);
}

static void test_reason_codes_are_checked_per_packet_type(void **state)
{
    (void)state;
    assert_true(mqtt_reason_allowed(MQTT_CONNACK, MQTT_RC_BAD_USER_NAME_OR_PASSWORD));
    assert_false(mqtt_reason_allowed(MQTT_CONNACK, MQTT_RC_SERVER_SHUTTING_DOWN));
    assert_true(mqtt_reason_allowed(MQTT_PUBACK, MQTT_RC_QUOTA_EXCEEDED));
    assert_false(mqtt_reason_allowed(MQTT_PUBACK, MQTT_RC_PACKET_TOO_LARGE));
    assert_true(mqtt_reason_allowed(MQTT_SUBACK, MQTT_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED));
    assert_false(mqtt_reason_allowed(MQTT_SUBACK, MQTT_RC_NO_SUBSCRIPTION_EXISTED));
    assert_true(mqtt_reason_allowed(MQTT_UNSUBACK, MQTT_RC_NO_SUBSCRIPTION_EXISTED));
    assert_true(mqtt_reason_allowed(MQTT_DISCONNECT, MQTT_RC_KEEP_ALIVE_TIMEOUT));
    assert_false(mqtt_reason_allowed(MQTT_DISCONNECT, MQTT_RC_BAD_USER_NAME_OR_PASSWORD));
    assert_false(mqtt_reason_allowed(MQTT_PINGRESP, 0));
}

static void test_error_names_are_distinct_and_reasons_named(void **state)
{
    (void)state;
    for (int a = MQTT_ERR_AUTH_PACKET; a <= MQTT_ERR_VARINT; a++) {
        assert_string_not_equal(mqtt_err_name(a), "unknown");
        assert_true(mqtt_err_reason(a) >= 0x80);
        for (int b = a + 1; b <= MQTT_ERR_VARINT; b++)
            assert_string_not_equal(mqtt_err_name(a), mqtt_err_name(b));
    }
    assert_string_equal(mqtt_reason_name(0x81), "Malformed Packet");
    assert_string_equal(mqtt_reason_name(0x95), "Packet too large");
    assert_string_equal(mqtt_reason_name(0x9A), "Retain not supported");
    assert_string_equal(mqtt_reason_name(0x33), "Unknown");
}

static bool matches(const char *f, const char *t)
{
    return mqtt_topic_matches(f, strlen(f), t, strlen(t));
}

static void test_topic_filters_match_by_the_mqtt_rules(void **state)
{
    (void)state;
    assert_true(matches("iotad/anomalies/d1", "iotad/anomalies/d1"));
    assert_false(matches("iotad/anomalies/d1", "iotad/anomalies/d2"));
    assert_false(matches("iotad/anomalies/d", "iotad/anomalies/d1"));
    assert_false(matches("iotad/anomalies/d1", "iotad/anomalies/d"));
    assert_true(matches("iotad/anomalies/+", "iotad/anomalies/d1"));
    assert_true(matches("iotad/+/d1", "iotad/alerts/d1"));
    assert_false(matches("iotad/anomalies/+", "iotad/anomalies/d1/x"));
    assert_false(matches("iotad/anomalies/+", "iotad/anomalies"));
    assert_true(matches("iotad/#", "iotad/devices/d1/status"));
    assert_true(matches("iotad/#", "iotad")); /* '#' includes the parent level */
    assert_true(matches("#", "iotad/alerts/x"));
    assert_true(matches("iotad/devices/+/status", "iotad/devices/d1/status"));
    assert_false(matches("iotad/devices/+/status", "iotad/devices/d1/points"));
    assert_true(matches("iotad/devices/+/+", "iotad/devices/d1/points"));
    assert_true(matches("+/+", "a/")); /* '+' matches an empty level */
    assert_true(matches("a/+/c", "a//c"));
    assert_false(matches("a/b/c", "a/b"));
    assert_false(matches("a/b", "a/b/c"));
    assert_false(matches("#", "$SYS/x")); /* wildcards at the start never match "$..." */
    assert_false(matches("+/x", "$SYS/x"));
    assert_true(matches("$SYS/#", "$SYS/x"));
    assert_false(matches("A/b", "a/b")); /* case-sensitive */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_header_needs_more_until_length_complete),
        cmocka_unit_test(test_fixed_header_accepts_the_four_byte_maximum),
        cmocka_unit_test(test_fixed_header_with_five_length_bytes_is_malformed),
        cmocka_unit_test(test_fixed_header_over_max_packet_size_is_too_large),
        cmocka_unit_test(test_fixed_header_reserved_type_and_bad_flags_are_refused),
        cmocka_unit_test(test_parse_packet_needs_whole_packet),
        cmocka_unit_test(test_utf8_validation_follows_rfc3629_and_refuses_nul),
        cmocka_unit_test(test_topic_name_and_filter_rules),
        cmocka_unit_test(test_connect_from_paho_v311_is_parsed),
        cmocka_unit_test(test_connect_from_mosquitto_pub_v5_is_parsed),
        cmocka_unit_test(test_connect_v5_round_trip_with_properties_and_will),
        cmocka_unit_test(test_connect_refusals_have_distinct_errors),
        cmocka_unit_test(
            test_connect_v5_allows_password_without_username_and_repeated_user_properties),
        cmocka_unit_test(test_connect_reports_version_even_when_refused),
        cmocka_unit_test(test_publish_from_real_clients_is_parsed),
        cmocka_unit_test(test_publish_v5_round_trip_with_properties),
        cmocka_unit_test(test_publish_qos0_with_empty_payload_is_accepted),
        cmocka_unit_test(test_publish_refusals_have_distinct_errors),
        cmocka_unit_test(test_publish_policy_refusal_still_reports_packet_id),
        cmocka_unit_test(test_publish_without_limits_accepts_qos2_retain_and_alias),
        cmocka_unit_test(test_puback_parse_checks_length_per_version),
        cmocka_unit_test(test_subscribe_filters_are_iterated_with_validity),
        cmocka_unit_test(test_subscribe_refusals_have_distinct_errors),
        cmocka_unit_test(test_disconnect_parse_per_version_and_direction),
        cmocka_unit_test(test_ping_and_auth_rules),
        cmocka_unit_test(test_connack_v311_encodes_mapped_return_codes),
        cmocka_unit_test(test_connack_v3_code_mapping),
        cmocka_unit_test(test_connack_v5_round_trip_with_server_properties),
        cmocka_unit_test(test_puback_encodings_per_version),
        cmocka_unit_test(test_suback_and_unsuback_encodings),
        cmocka_unit_test(test_pingresp_and_disconnect_encodings),
        cmocka_unit_test(test_encoders_refuse_small_buffers),
        cmocka_unit_test(test_large_publish_round_trips_with_multibyte_length),
        cmocka_unit_test(test_reason_codes_are_checked_per_packet_type),
        cmocka_unit_test(test_error_names_are_distinct_and_reasons_named),
        cmocka_unit_test(test_topic_filters_match_by_the_mqtt_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
