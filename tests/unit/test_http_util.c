/* HTTP string helpers: status texts, percent-decoding, query parameters, cookies, token lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_util.h"

static void test_status_text_knows_common_codes_and_falls_back(void **state)
{
    (void)state;
    assert_string_equal(http_status_text(200), "OK");
    assert_string_equal(http_status_text(404), "Not Found");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(203), "Non-Authoritative Information");
    assert_string_equal(http_status_text(299), "Unknown");
}

static void test_url_decode_handles_escapes_plus_and_errors(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(http_url_decode("a%20b+c", 7, out, sizeof out, true), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(http_url_decode("a%20b+c", 7, out, sizeof out, false), 5);
    assert_string_equal(out, "a b+c");
    assert_int_equal(http_url_decode("%e2%82%AC", 9, out, sizeof out, false), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(http_url_decode("%2", 2, out, sizeof out, false), HTTP_LOOKUP_MALFORMED);
    assert_int_equal(http_url_decode("%zz", 3, out, sizeof out, false), HTTP_LOOKUP_MALFORMED);
    assert_int_equal(http_url_decode("a%00", 4, out, sizeof out, false), HTTP_LOOKUP_MALFORMED);
    assert_int_equal(http_url_decode("abcd", 4, out, 4, false), HTTP_LOOKUP_TOO_LONG);
    assert_int_equal(http_url_decode("abc", 3, out, 4, false), 3);
}

static void test_query_param_finds_decoded_values(void **state)
{
    (void)state;
    char out[16];
    const char *q = "device=dev%2D1&from=2024-01-01T00%3A00Z&flag&empty=&sp=a+b&device=second";
    assert_int_equal(http_query_param(q, "device", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "dev-1"); /* first occurrence wins */
    assert_int_equal(http_query_param(q, "flag", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "");
    assert_int_equal(http_query_param(q, "empty", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "");
    assert_int_equal(http_query_param(q, "sp", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "a b");
    assert_int_equal(http_query_param(q, "missing", out, sizeof out), HTTP_LOOKUP_NOT_FOUND);
    assert_int_equal(http_query_param(q, "dev", out, sizeof out), HTTP_LOOKUP_NOT_FOUND);
    assert_int_equal(http_query_param(q, "from", out, sizeof out), HTTP_LOOKUP_TOO_LONG);
    assert_int_equal(http_query_param("na%6De=v", "name", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "v");
    assert_int_equal(http_query_param("a=%zz", "a", out, sizeof out), HTTP_LOOKUP_MALFORMED);
    assert_int_equal(http_query_param("", "a", out, sizeof out), HTTP_LOOKUP_NOT_FOUND);
}

static void test_cookie_lookup_matches_whole_names_and_strips_quotes(void **state)
{
    (void)state;
    char out[16];
    const char *h = "xsid=wrong; sid=abc123;theme=\"dark\" ; empty=";
    assert_int_equal(http_cookie_lookup(h, "sid", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "abc123");
    assert_int_equal(http_cookie_lookup(h, "theme", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "dark");
    assert_int_equal(http_cookie_lookup(h, "empty", out, sizeof out), HTTP_LOOKUP_OK);
    assert_string_equal(out, "");
    assert_int_equal(http_cookie_lookup(h, "id", out, sizeof out), HTTP_LOOKUP_NOT_FOUND);
    assert_int_equal(http_cookie_lookup(h, "sid", out, 4), HTTP_LOOKUP_TOO_LONG);
}

static void test_token_list_matches_case_insensitively(void **state)
{
    (void)state;
    assert_true(http_token_list_has("keep-alive, Upgrade", "upgrade"));
    assert_true(http_token_list_has("Upgrade", "upgrade"));
    assert_true(http_token_list_has(" close ", "close"));
    assert_false(http_token_list_has("keep-alive, Upgrade", "upgrad"));
    assert_false(http_token_list_has("", "close"));
    assert_false(http_token_list_has(NULL, "close"));
}

static void test_origin_matches_only_the_same_host_and_port(void **state)
{
    (void)state;
    assert_true(http_origin_matches("http://127.0.0.1:8080", "127.0.0.1:8080", false));
    assert_true(http_origin_matches("http://Example.COM", "example.com", false));
    assert_true(http_origin_matches("http://example.com", "example.com:80", false));
    assert_true(http_origin_matches("https://example.com", "example.com:443", true));
    assert_true(http_origin_matches("https://example.com:8443", "example.com:8443", true));
    assert_true(http_origin_matches("http://[::1]:8080", "[::1]:8080", false));
    /* TLS terminated in front of iotad: the origin is https, the listener plain */
    assert_true(http_origin_matches("https://iot.example", "iot.example", false));
    assert_false(http_origin_matches("http://evil.example", "127.0.0.1:8080", false));
    assert_false(http_origin_matches("http://127.0.0.1:8081", "127.0.0.1:8080", false));
    assert_false(http_origin_matches("http://127.0.0.1", "127.0.0.1:8080", false));
    assert_false(http_origin_matches("http://example.com.evil", "example.com", false));
    assert_false(http_origin_matches("http://example.com", "example.com.evil", false));
    assert_false(http_origin_matches("http://example.com", "example.com", true));
    assert_false(http_origin_matches("null", "example.com", false));
    assert_false(http_origin_matches("file://", "example.com", false));
    assert_false(http_origin_matches("http://", "example.com", false));
    assert_false(http_origin_matches("http://a:99999", "a:99999", false));
    assert_false(http_origin_matches("http://a:", "a", false));
    assert_false(http_origin_matches("http://[::1", "[::1", false));
    assert_false(http_origin_matches(NULL, "a", false));
    assert_false(http_origin_matches("http://a", NULL, false));
    assert_true(http_origin_listed("https://iot.example", "http://x:1, https://iot.example/"));
    assert_true(http_origin_listed("HTTPS://IOT.example/", "https://iot.example"));
    assert_false(http_origin_listed("https://iot.example.evil", "https://iot.example"));
    assert_false(http_origin_listed("https://iot.example", ""));
    assert_false(http_origin_listed(NULL, "https://iot.example"));
}

static void test_accept_encoding_follows_q_values_and_star(void **state)
{
    (void)state;
    assert_true(http_accepts_encoding("gzip, deflate, br", "gzip"));
    assert_true(http_accepts_encoding("gzip, deflate, br", "br"));
    assert_true(http_accepts_encoding("  GZip ;q=0.5", "gzip"));
    assert_false(http_accepts_encoding("gzip;q=0", "gzip"));
    assert_false(http_accepts_encoding("gzip;q=0.000, br", "gzip"));
    assert_false(http_accepts_encoding("deflate", "gzip"));
    assert_false(http_accepts_encoding("gzipx, xgzip", "gzip"));
    assert_true(http_accepts_encoding("*", "br"));
    assert_false(http_accepts_encoding("*;q=0", "br"));
    assert_false(http_accepts_encoding("br;q=0, *", "br")); /* named wins over the star */
    assert_true(http_accepts_encoding("br, *;q=0", "br"));
    assert_false(http_accepts_encoding("gzip;q=abc", "gzip")); /* malformed: ignored */
    assert_false(http_accepts_encoding("gzip;q=2", "gzip"));
    assert_true(http_accepts_encoding("identity;q=1, gzip;level=9;q=1.0", "gzip"));
    assert_false(http_accepts_encoding("", "gzip"));
    assert_false(http_accepts_encoding(NULL, "gzip"));
    assert_false(http_accepts_encoding(",,;q=1,", "gzip"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text_knows_common_codes_and_falls_back),
        cmocka_unit_test(test_url_decode_handles_escapes_plus_and_errors),
        cmocka_unit_test(test_query_param_finds_decoded_values),
        cmocka_unit_test(test_cookie_lookup_matches_whole_names_and_strips_quotes),
        cmocka_unit_test(test_token_list_matches_case_insensitively),
        cmocka_unit_test(test_origin_matches_only_the_same_host_and_port),
        cmocka_unit_test(test_accept_encoding_follows_q_values_and_star),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
