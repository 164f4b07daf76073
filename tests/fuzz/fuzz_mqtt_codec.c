/* libFuzzer driver for the MQTT codec. The first input byte picks the protocol version, the
 * server limits and the max packet size; the rest is parsed three ways: as a stream of packets
 * (as the server frames them), by every body parser directly, and by the validators.
 * Accepted CONNECT and PUBLISH packets are re-encoded and re-parsed, and must round-trip. */
#include "mqtt/mqtt_codec.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

static uint8_t out[300000];

static bool same(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
    const uint8_t *b = p;
    return n == 0 || (b >= buf && b + n <= buf + len);
}

static void round_trip_connect(const mqtt_connect *c)
{
    int n = mqtt_encode_connect(out, sizeof out, c);
    CHECK(n > 0);
    mqtt_packet p;
    CHECK(mqtt_parse_packet(out, (size_t)n, 0, 0, NULL, &p) == MQTT_OK);
    const mqtt_connect *r = &p.u.connect;
    CHECK(r->protocol_version == c->protocol_version && r->clean_start == c->clean_start);
    CHECK(r->keepalive == c->keepalive);
    CHECK(same(r->client_id, r->client_id_len, c->client_id, c->client_id_len));
    CHECK(r->has_username == c->has_username && r->has_password == c->has_password);
    CHECK(same(r->username, r->username_len, c->username, c->username_len));
    CHECK(same(r->password, r->password_len, c->password, c->password_len));
    CHECK(r->will == c->will && r->will_qos == c->will_qos && r->will_retain == c->will_retain);
    CHECK(same(r->will_topic, r->will_topic_len, c->will_topic, c->will_topic_len));
    CHECK(same(r->will_payload, r->will_payload_len, c->will_payload, c->will_payload_len));
    if (c->protocol_version == MQTT_V5) {
        CHECK(r->session_expiry == c->session_expiry);
        CHECK(r->receive_maximum == c->receive_maximum);
        CHECK(r->maximum_packet_size == c->maximum_packet_size);
        CHECK(r->topic_alias_maximum == c->topic_alias_maximum);
        CHECK(r->request_problem_info == c->request_problem_info);
        CHECK(r->request_response_info == c->request_response_info);
    }
}

static void round_trip_publish(const mqtt_publish *pub, uint8_t flags, int version,
                               const mqtt_limits *lim)
{
    int n = mqtt_encode_publish(out, sizeof out, version, pub);
    CHECK(n > 0);
    mqtt_packet p;
    CHECK(mqtt_parse_packet(out, (size_t)n, version, 0, lim, &p) == MQTT_OK);
    const mqtt_publish *r = &p.u.publish;
    CHECK(p.fh.flags == flags);
    CHECK(r->qos == pub->qos && r->dup == pub->dup && r->retain == pub->retain);
    CHECK(r->packet_id == pub->packet_id);
    CHECK(same(r->topic, r->topic_len, pub->topic, pub->topic_len));
    CHECK(same(r->payload, r->payload_len, pub->payload, pub->payload_len));
    if (version == MQTT_V5) {
        CHECK(r->has_payload_format == pub->has_payload_format);
        CHECK(r->payload_format == pub->payload_format);
        CHECK(r->has_message_expiry == pub->has_message_expiry);
        CHECK(r->message_expiry == pub->message_expiry);
        CHECK(r->topic_alias == pub->topic_alias);
        CHECK(same(r->content_type, r->content_type_len, pub->content_type, pub->content_type_len));
        CHECK(same(r->response_topic, r->response_topic_len, pub->response_topic,
                   pub->response_topic_len));
        CHECK(same(r->correlation_data, r->correlation_data_len, pub->correlation_data,
                   pub->correlation_data_len));
    }
}

static void walk_filters(mqtt_subscribe *s, const uint8_t *buf, size_t len)
{
    mqtt_topic_filter f;
    uint32_t n = 0;
    while (mqtt_filters_next(s, &f)) {
        CHECK(inside(f.filter, f.filter_len, buf, len));
        CHECK(f.qos < 3 && f.retain_handling < 3);
        if (f.valid && !f.shared) {
            /* a valid filter without wildcards matches itself, as a topic name */
            if (!f.wildcard)
                CHECK(mqtt_topic_matches(f.filter, f.filter_len, f.filter, f.filter_len));
            (void)mqtt_topic_matches(f.filter, f.filter_len, "iotad/devices/x/status", 22);
            (void)mqtt_topic_matches("iotad/+/#", 9, f.filter, f.filter_len);
        }
        n++;
    }
    CHECK(n == s->count);
}

/* The server's framing loop: packet after packet until the input runs out or one fails. */
static void parse_stream(const uint8_t *d, size_t n, int version, uint32_t maxp,
                         const mqtt_limits *lim)
{
    size_t off = 0;
    while (off < n) {
        mqtt_packet p;
        int rc = mqtt_parse_packet(d + off, n - off, version, maxp, lim, &p);
        if (rc == MQTT_NEED_MORE) break;
        mqtt_fixed_header fh;
        int frc = mqtt_parse_fixed_header(d + off, n - off, maxp, &fh);
        if (frc != MQTT_OK) {
            CHECK(rc == frc);
            break;
        }
        size_t total = (size_t)fh.header_len + fh.remaining_len;
        CHECK(total <= n - off);
        CHECK(maxp == 0 || total <= maxp);
        /* every strict prefix of the header is "need more", never an error */
        for (size_t k = 1; k < fh.header_len; k++)
            CHECK(mqtt_parse_fixed_header(d + off, k, maxp, &fh) == MQTT_NEED_MORE);
        CHECK(rc <= 0);
        if (rc == MQTT_OK) {
            CHECK(mqtt_err_reason(rc) == 0);
            switch (p.fh.type) {
            case MQTT_CONNECT:
                round_trip_connect(&p.u.connect);
                break;
            case MQTT_PUBLISH:
                CHECK(inside(p.u.publish.payload, p.u.publish.payload_len, d, n));
                round_trip_publish(&p.u.publish, p.fh.flags, version, lim);
                break;
            case MQTT_SUBSCRIBE:
            case MQTT_UNSUBSCRIBE:
                walk_filters(&p.u.subscribe, d, n);
                break;
            case MQTT_SUBACK:
            case MQTT_UNSUBACK:
                CHECK(inside(p.u.suback.codes, p.u.suback.count, d, n));
                break;
            default:
                break;
            }
        } else {
            CHECK(mqtt_err_reason(rc) >= 0x80);
            CHECK(strcmp(mqtt_err_name(rc), "unknown") != 0);
        }
        off += total;
    }
}

/* Every body parser on the raw bytes, as if they were a body of that type. */
static void parse_bodies(const uint8_t *d, size_t n, int version, uint8_t flags,
                         const mqtt_limits *lim)
{
    mqtt_connect c;
    if (mqtt_parse_connect(d, n, &c) == MQTT_OK) round_trip_connect(&c);
    mqtt_publish pub;
    uint8_t pflags = flags & 0x0F;
    if (((pflags >> 1) & 3) == 3) pflags &= ~0x04;
    if (mqtt_parse_publish(d, n, pflags, version, lim, &pub) == MQTT_OK) {
        CHECK(inside(pub.topic, pub.topic_len, d, n));
        CHECK(inside(pub.payload, pub.payload_len, d, n));
        round_trip_publish(&pub, pflags, version, lim);
    }
    mqtt_ack a;
    mqtt_parse_ack(d, n, version, &a);
    mqtt_subscribe s;
    if (mqtt_parse_subscribe(d, n, version, &s) == MQTT_OK) walk_filters(&s, d, n);
    if (mqtt_parse_unsubscribe(d, n, version, &s) == MQTT_OK) walk_filters(&s, d, n);
    mqtt_disconnect disc;
    mqtt_parse_disconnect(d, n, version, false, &disc);
    mqtt_parse_disconnect(d, n, version, true, &disc);
    mqtt_connack ca;
    if (mqtt_parse_connack(d, n, version, &ca) == MQTT_OK && ca.maximum_qos <= 1) {
        int k = mqtt_encode_connack(out, sizeof out, version, &ca);
        CHECK(k > 0);
    }
    mqtt_suback sa;
    mqtt_parse_suback(d, n, version, MQTT_SUBACK, &sa);
    mqtt_parse_suback(d, n, version, MQTT_UNSUBACK, &sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    int version = (ctl & 1) ? MQTT_V5 : MQTT_V311;
    mqtt_limits lim = {.max_qos = (uint8_t)(((ctl >> 1) & 3) % 3),
                       .retain_available = (ctl & 0x08) != 0,
                       .topic_alias_max = (ctl & 0x10) ? 10 : 0};
    const mqtt_limits *lp = (ctl & 0x20) ? &lim : NULL;
    uint32_t maxp = (ctl & 0x40) ? 128 : 0;

    parse_stream(data, size, version, maxp, lp);
    parse_bodies(data, size, version, (uint8_t)(ctl >> 4), lp);

    for (uint8_t t = MQTT_CONNECT; t <= MQTT_AUTH; t++)
        mqtt_reason_allowed(t, ctl);
    CHECK(mqtt_reason_name(ctl) != NULL);
    CHECK(mqtt_connack_v3_code(ctl) <= MQTT3_CONNACK_NOT_AUTHORIZED);
    mqtt_utf8_valid(data, size);
    bool wc, sh;
    mqtt_topic_filter_check((const char *)data, size, &wc, &sh);
    mqtt_topic_name_check((const char *)data, size);
    return 0;
}
