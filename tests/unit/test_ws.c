/* WebSocket codec: RFC 6455 examples (accept key, section 5.7 frames), fragmentation, control
 * frames, limits and the close codes the parser reports for each protocol violation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/ws.h"

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d}; /* the RFC's example mask */

/* Builds one frame (masked with MASK if masked) into out; returns its length. */
static size_t frame(uint8_t *out, bool fin, int op, const void *payload, size_t len, bool masked)
{
    size_t h = ws_frame_header(out, fin, op, len, masked ? MASK : NULL);
    if (len) memcpy(out + h, payload, len);
    if (masked) ws_mask(out + h, len, MASK, 0);
    return h + len;
}

/* Feeds the whole buffer and returns the first event (or NONE). */
static ws_event feed_all(ws_parser *p, uint8_t *buf, size_t len, size_t *used)
{
    ws_event ev;
    size_t pos = 0;
    do {
        pos += ws_parser_feed(p, buf + pos, len - pos, &ev);
    } while (ev.type == WS_EV_NONE && pos < len);
    if (used) *used = pos;
    return ev;
}

static void test_accept_key_matches_rfc_example(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_key_rejects_keys_that_are_not_16_bytes(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_accept_key("abc", 3, out), -1);
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
    assert_false(ws_key_valid("dGhlIHNhbXBsZSBub25j!Q==", 24));
    assert_true(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
}

static void test_masked_hello_from_rfc_decodes_on_server(void **state)
{
    (void)state;
    uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_parser p;
    ws_parser_init(&p, true, 1024);
    ws_event ev;
    size_t used = ws_parser_feed(&p, f, sizeof f, &ev);
    assert_int_equal(used, sizeof f);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "Hello", 5);
    ws_parser_free(&p);
}

static void test_unmasked_hello_from_rfc_decodes_on_client_and_is_refused_by_server(void **state)
{
    (void)state;
    uint8_t f[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    uint8_t g[sizeof f];
    memcpy(g, f, sizeof f);
    ws_parser p;
    ws_parser_init(&p, false, 1024);
    ws_event ev = feed_all(&p, f, sizeof f, NULL);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_memory_equal(ev.data, "Hello", 5);
    ws_parser_free(&p);

    ws_parser_init(&p, true, 1024);
    ev = feed_all(&p, g, sizeof g, NULL);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, WS_CLOSE_PROTOCOL);
    assert_true(p.done);
    ws_parser_free(&p);
}

static void test_fragmented_rfc_hello_is_reassembled(void **state)
{
    (void)state;
    /* RFC 6455 5.7: "Hel" + "lo" as two unmasked fragments, read by a client. */
    uint8_t f[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    ws_parser p;
    ws_parser_init(&p, false, 1024);
    ws_event ev = feed_all(&p, f, sizeof f, NULL);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "Hello", 5);
    ws_parser_free(&p);
}

static void test_frame_header_length_encodings_match_rfc(void **state)
{
    (void)state;
    uint8_t h[WS_MAX_HEADER];
    assert_int_equal(ws_frame_header(h, true, WS_OP_BINARY, 256, NULL), 4);
    uint8_t want256[] = {0x82, 0x7E, 0x01, 0x00};
    assert_memory_equal(h, want256, 4);
    assert_int_equal(ws_frame_header(h, true, WS_OP_BINARY, 65536, NULL), 10);
    uint8_t want64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h, want64k, 10);
    assert_int_equal(ws_frame_header(h, true, WS_OP_PING, 5, MASK), 6);
    assert_int_equal(h[1], 0x85);
}

static void test_byte_by_byte_feeding_gives_the_same_message(void **state)
{
    (void)state;
    uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    uint8_t buf[400];
    size_t n = frame(buf, false, WS_OP_TEXT, payload, 100, true);
    n += frame(buf + n, true, WS_OP_CONT, payload + 100, 200, true);
    ws_parser p;
    ws_parser_init(&p, true, 4096);
    ws_event ev = {0};
    size_t i = 0;
    for (; i < n; i++) {
        size_t used = ws_parser_feed(&p, buf + i, 1, &ev);
        assert_int_equal(used, 1);
        if (ev.type != WS_EV_NONE) break;
    }
    assert_int_equal(i, n - 1);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 300);
    assert_memory_equal(ev.data, payload, 300);
    ws_parser_free(&p);
}

static void test_ping_between_fragments_is_delivered_without_breaking_the_message(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = frame(buf, false, WS_OP_BINARY, "ab", 2, true);
    n += frame(buf + n, true, WS_OP_PING, "hi", 2, true);
    n += frame(buf + n, true, WS_OP_CONT, "cd", 2, true);
    ws_parser p;
    ws_parser_init(&p, true, 64);
    size_t used;
    ws_event ev = feed_all(&p, buf, n, &used);
    assert_int_equal(ev.type, WS_EV_PING);
    assert_memory_equal(ev.data, "hi", 2);
    ev = feed_all(&p, buf + used, n - used, NULL);
    assert_int_equal(ev.type, WS_EV_BINARY);
    assert_int_equal(ev.len, 4);
    assert_memory_equal(ev.data, "abcd", 4);
    ws_parser_free(&p);
}

static void expect_error(uint8_t *buf, size_t n, size_t max, uint16_t code)
{
    ws_parser p;
    ws_parser_init(&p, true, max);
    ws_event ev = feed_all(&p, buf, n, NULL);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, code);
    /* The parser takes no more input once it failed. */
    ws_event ev2;
    assert_int_equal(ws_parser_feed(&p, buf, n, &ev2), 0);
    assert_int_equal(ev2.type, WS_EV_NONE);
    ws_parser_free(&p);
}

static void test_protocol_violations_close_with_1002(void **state)
{
    (void)state;
    uint8_t buf[512];
    uint8_t big[200] = {0};
    size_t n;
    n = frame(buf, true, WS_OP_PING, big, 126, true); /* control frame > 125 bytes */
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    n = frame(buf, false, WS_OP_PING, "x", 1, true); /* fragmented control frame */
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_CONT, "x", 1, true); /* continuation without a start */
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    n = frame(buf, false, WS_OP_TEXT, "x", 1, true); /* new message inside a message */
    n += frame(buf + n, true, WS_OP_TEXT, "y", 1, true);
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, 0x3, "x", 1, true); /* reserved opcode */
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_TEXT, "x", 1, true);
    buf[0] |= 0x40; /* RSV1 without an extension */
    expect_error(buf, n, 1024, WS_CLOSE_PROTOCOL);
    uint8_t huge[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}; /* 64-bit MSB set */
    expect_error(huge, sizeof huge, 1024, WS_CLOSE_PROTOCOL);
}

static void test_messages_over_the_limit_close_with_1009(void **state)
{
    (void)state;
    uint8_t buf[512];
    uint8_t payload[200] = {0};
    size_t n = frame(buf, true, WS_OP_BINARY, payload, 101, true);
    expect_error(buf, n, 100, WS_CLOSE_TOO_BIG);
    n = frame(buf, false, WS_OP_BINARY, payload, 60, true);
    n += frame(buf + n, true, WS_OP_CONT, payload, 60, true);
    expect_error(buf, n, 100, WS_CLOSE_TOO_BIG);
}

static void test_invalid_utf8_text_closes_with_1007(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, true, WS_OP_TEXT, "\xc0\xaf", 2, true);
    expect_error(buf, n, 1024, WS_CLOSE_INVALID_DATA);
    n = frame(buf, false, WS_OP_TEXT, "ok", 2, true);
    n += frame(buf + n, true, WS_OP_CONT, "\xed\xa0\x80", 3, true); /* surrogate */
    expect_error(buf, n, 1024, WS_CLOSE_INVALID_DATA);
}

static void test_code_point_split_across_fragments_is_valid(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = frame(buf, false, WS_OP_TEXT, "\xe2\x82", 2, true); /* U+20AC, split */
    n += frame(buf + n, true, WS_OP_CONT, "\xac", 1, true);
    ws_parser p;
    ws_parser_init(&p, true, 64);
    ws_event ev = feed_all(&p, buf, n, NULL);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_memory_equal(ev.data, "\xe2\x82\xac", 3);
    ws_parser_free(&p);
}

static void test_close_frames_report_code_and_reason_or_refuse_bad_codes(void **state)
{
    (void)state;
    uint8_t buf[64];
    ws_parser p;
    ws_event ev;
    size_t n = frame(buf, true, WS_OP_CLOSE,
                     "\x03\xe8"
                     "bye",
                     5, true);
    ws_parser_init(&p, true, 64);
    ev = feed_all(&p, buf, n, NULL);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    assert_int_equal(ev.len, 3);
    assert_memory_equal(ev.data, "bye", 3);
    assert_true(p.done);
    ws_parser_free(&p);

    n = frame(buf, true, WS_OP_CLOSE, NULL, 0, true);
    ws_parser_init(&p, true, 64);
    ev = feed_all(&p, buf, n, NULL);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, WS_CLOSE_NO_STATUS);
    ws_parser_free(&p);

    n = frame(buf, true, WS_OP_CLOSE, "\x03", 1, true);
    expect_error(buf, n, 64, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_CLOSE, "\x03\xed", 2, true); /* 1005 must not be sent */
    expect_error(buf, n, 64, WS_CLOSE_PROTOCOL);
    n = frame(buf, true, WS_OP_CLOSE, "\x03\xe8\xff", 3, true); /* reason not UTF-8 */
    expect_error(buf, n, 64, WS_CLOSE_INVALID_DATA);
}

static void test_utf8_validator_refuses_overlongs_surrogates_and_out_of_range(void **state)
{
    (void)state;
    assert_true(ws_utf8_valid((const uint8_t *)"plain ascii text, long enough", 29));
    assert_true(ws_utf8_valid((const uint8_t *)"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11));
    assert_true(ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
    assert_false(ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(ws_utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3));     /* overlong */
    assert_false(ws_utf8_valid((const uint8_t *)"\xed\xbf\xbf", 3));     /* surrogate */
    assert_false(ws_utf8_valid((const uint8_t *)"abcdefgh\xce", 9));     /* truncated */
    assert_false(ws_utf8_valid((const uint8_t *)"\x80", 1));
    assert_false(ws_utf8_valid((const uint8_t *)"\xff", 1));
}

static void test_mask_with_offset_equals_masking_in_one_go(void **state)
{
    (void)state;
    uint8_t a[37], b[37];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    ws_mask(a, sizeof a, MASK, 0);
    ws_mask(b, 5, MASK, 0);
    ws_mask(b + 5, 13, MASK, 5);
    ws_mask(b + 18, 19, MASK, 18);
    assert_memory_equal(a, b, sizeof a);
    ws_mask(a, sizeof a, MASK, 0);
    assert_int_equal(a[36], (uint8_t)(36 * 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_matches_rfc_example),
        cmocka_unit_test(test_accept_key_rejects_keys_that_are_not_16_bytes),
        cmocka_unit_test(test_masked_hello_from_rfc_decodes_on_server),
        cmocka_unit_test(test_unmasked_hello_from_rfc_decodes_on_client_and_is_refused_by_server),
        cmocka_unit_test(test_fragmented_rfc_hello_is_reassembled),
        cmocka_unit_test(test_frame_header_length_encodings_match_rfc),
        cmocka_unit_test(test_byte_by_byte_feeding_gives_the_same_message),
        cmocka_unit_test(test_ping_between_fragments_is_delivered_without_breaking_the_message),
        cmocka_unit_test(test_protocol_violations_close_with_1002),
        cmocka_unit_test(test_messages_over_the_limit_close_with_1009),
        cmocka_unit_test(test_invalid_utf8_text_closes_with_1007),
        cmocka_unit_test(test_code_point_split_across_fragments_is_valid),
        cmocka_unit_test(test_close_frames_report_code_and_reason_or_refuse_bad_codes),
        cmocka_unit_test(test_utf8_validator_refuses_overlongs_surrogates_and_out_of_range),
        cmocka_unit_test(test_mask_with_offset_equals_masking_in_one_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
