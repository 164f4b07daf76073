/* Tests of auth/token: session token and API key formats, uniqueness, storage hashes and the
 * strict API key parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/token.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static bool is_lower_hex64(const char *h)
{
    if (strlen(h) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f'))) return false;
    return true;
}

static void test_session_token_is_43_base64url_chars_with_matching_hash(void **state)
{
    char tok[64], hash[65], again[65];
    assert_int_equal(auth_token_new(tok, sizeof tok, hash), 0);
    assert_int_equal(strlen(tok), AUTH_TOKEN_LEN);
    for (size_t i = 0; i < AUTH_TOKEN_LEN; i++) {
        char c = tok[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        assert_true(ok);
    }
    assert_true(auth_token_format_ok(tok, strlen(tok)));
    assert_true(is_lower_hex64(hash));
    auth_token_hash(tok, again);
    assert_string_equal(hash, again);
    char direct[65];
    util_sha256_hex(tok, strlen(tok), direct);
    assert_string_equal(hash, direct); /* the stored hash is plain SHA-256 of the token */
}

static void test_session_token_hash_is_stable_known_value(void **state)
{
    char h[65];
    auth_token_hash("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_session_tokens_are_unique(void **state)
{
    enum { N = 1000 };
    char(*toks)[AUTH_TOKEN_LEN + 1] = calloc(N, sizeof *toks);
    assert_non_null(toks);
    char hash[65];
    for (int i = 0; i < N; i++)
        assert_int_equal(auth_token_new(toks[i], sizeof toks[i], hash), 0);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(toks[i], toks[j]);
    free(toks);
}

static void test_session_token_refuses_small_buffer(void **state)
{
    char tok[AUTH_TOKEN_LEN], hash[65];
    assert_int_equal(auth_token_new(tok, sizeof tok, hash), -1);
    assert_string_equal(tok, "");
    char exact[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_token_new(exact, sizeof exact, hash), 0);
}

static void test_token_format_check_rejects_garbage(void **state)
{
    char tok[64], hash[65];
    assert_int_equal(auth_token_new(tok, sizeof tok, hash), 0);
    assert_false(auth_token_format_ok(tok, AUTH_TOKEN_LEN - 1));
    assert_false(auth_token_format_ok(NULL, 0));
    assert_false(auth_token_format_ok("", 0));
    char bad[AUTH_TOKEN_LEN + 1];
    memcpy(bad, tok, sizeof bad);
    bad[5] = '+'; /* standard base64, not base64url */
    assert_false(auth_token_format_ok(bad, AUTH_TOKEN_LEN));
    memcpy(bad, tok, sizeof bad);
    bad[5] = '=';
    assert_false(auth_token_format_ok(bad, AUTH_TOKEN_LEN));
    memcpy(bad, tok, sizeof bad);
    bad[AUTH_TOKEN_LEN - 1] = 'B'; /* value 1: low bits set, not a 32-byte encoding */
    assert_false(auth_token_format_ok(bad, AUTH_TOKEN_LEN));
    char longer[AUTH_TOKEN_LEN + 2];
    memcpy(longer, tok, AUTH_TOKEN_LEN);
    longer[AUTH_TOKEN_LEN] = 'A';
    longer[AUTH_TOKEN_LEN + 1] = '\0';
    assert_false(auth_token_format_ok(longer, AUTH_TOKEN_LEN + 1));
}

static void test_apikey_has_documented_format(void **state)
{
    char key[80], prefix[16], hash[65];
    assert_int_equal(auth_apikey_new(key, sizeof key, prefix, hash), 0);
    assert_int_equal(strlen(key), AUTH_APIKEY_LEN);
    assert_int_equal(strncmp(key, "iotad_", 6), 0);
    assert_int_equal(key[14], '_');
    assert_int_equal(strlen(prefix), AUTH_APIKEY_PREFIX_LEN);
    assert_memory_equal(key + 6, prefix, AUTH_APIKEY_PREFIX_LEN);
    for (size_t i = 6; i < AUTH_APIKEY_LEN; i++) {
        if (i == 14) continue;
        char c = key[i];
        assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
    }
    char direct[65];
    util_sha256_hex(key, strlen(key), direct);
    assert_string_equal(hash, direct); /* hash of the whole key, prefix included */
    char parsed[16];
    assert_int_equal(auth_apikey_parse(key, strlen(key), parsed), 0);
    assert_string_equal(parsed, prefix);
}

static void test_apikeys_and_prefixes_are_unique(void **state)
{
    enum { N = 1000 };
    char(*keys)[AUTH_APIKEY_LEN + 1] = calloc(N, sizeof *keys);
    char(*prefixes)[16] = calloc(N, sizeof *prefixes);
    assert_non_null(keys);
    assert_non_null(prefixes);
    char hash[65];
    int counts[62] = {0};
    for (int i = 0; i < N; i++) {
        assert_int_equal(auth_apikey_new(keys[i], sizeof keys[i], prefixes[i], hash), 0);
        for (int k = 15; k < AUTH_APIKEY_LEN; k++) {
            char c = keys[i][k];
            int v = c <= '9' ? c - '0' : c <= 'Z' ? c - 'A' + 10 : c - 'a' + 36;
            counts[v]++;
        }
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            assert_string_not_equal(keys[i], keys[j]);
            assert_string_not_equal(prefixes[i], prefixes[j]);
        }
    /* 32000 secret characters over 62 symbols: about 516 each; every symbol must appear
     * and none wildly over-represented (a broken generator would show here). */
    for (int v = 0; v < 62; v++) {
        assert_true(counts[v] > 350);
        assert_true(counts[v] < 700);
    }
    free(keys);
    free(prefixes);
}

static void test_apikey_refuses_small_buffer(void **state)
{
    char key[AUTH_APIKEY_LEN], prefix[16], hash[65];
    assert_int_equal(auth_apikey_new(key, sizeof key, prefix, hash), -1);
    assert_string_equal(key, "");
}

static void test_apikey_parser_rejects_malformed_keys(void **state)
{
    static const char *const bad[] = {
        "",
        "iotad_",
        "iotad_abcd1234_",
        "iotad_abcd1234_0123456789abcdef0123456789abcde",  /* 31-char secret */
        "IOTAD_abcd1234_0123456789abcdef0123456789abcdef", /* tag is case-sensitive */
        "iotid_abcd1234_0123456789abcdef0123456789abcdef",
        "iotad_abcd123_0123456789abcdef0123456789abcdefX",  /* 7-char prefix */
        "iotad_abcd12345_0123456789abcdef0123456789abcdef", /* 9-char prefix */
        "iotad_abcd1234-0123456789abcdef0123456789abcdef",  /* wrong separator */
        "iotad_abcd1234_0123456789abcdef0123456789abcde_",  /* '_' in secret */
        "iotad_abcd1234_0123456789abcdef0123456789abcde+",
        "iotad_abcd1234_0123456789abcdef0123456789abcdef ", /* trailing space */
        " iotad_abcd1234_0123456789abcdef0123456789abcdef",
        "iotad_ab-d1234_0123456789abcdef0123456789abcdef",
        "iotad_abcd1234_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", /* 65 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char prefix[16] = "junk";
        if (auth_apikey_parse(bad[i], strlen(bad[i]), prefix) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_string_equal(prefix, "");
    }
    const char nul[] = "iotad_abcd1234_0123456789abcdef\0"
                       "123456789abcdef";
    assert_int_equal(auth_apikey_parse(nul, sizeof nul - 1, NULL), -1);
    assert_int_equal(auth_apikey_parse(NULL, 0, NULL), -1);
}

static void test_apikey_parser_accepts_longer_secrets_up_to_64(void **state)
{
    const char *k32 = "iotad_abcd1234_0123456789abcdef0123456789ABCDEF";
    const char *k64 =
        "iotad_ABCD1234_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char prefix[16];
    assert_int_equal(auth_apikey_parse(k32, strlen(k32), prefix), 0);
    assert_string_equal(prefix, "abcd1234");
    assert_int_equal(auth_apikey_parse(k64, strlen(k64), prefix), 0);
    assert_string_equal(prefix, "ABCD1234");
}

static void test_apikey_verify_matches_only_the_issued_key(void **state)
{
    char key[80], prefix[16], hash[65];
    assert_int_equal(auth_apikey_new(key, sizeof key, prefix, hash), 0);
    size_t n = strlen(key);
    assert_true(auth_apikey_verify(key, n, hash));
    char other[80];
    memcpy(other, key, n + 1);
    other[n - 1] = other[n - 1] == 'a' ? 'b' : 'a';
    assert_false(auth_apikey_verify(other, n, hash));
    assert_false(auth_apikey_verify(key, n - 1, hash));
    assert_false(auth_apikey_verify(key, n, "short"));
    assert_false(auth_apikey_verify(key, n, NULL));
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)((hash[i] >= 'a' && hash[i] <= 'f') ? hash[i] - 32 : hash[i]);
    assert_false(auth_apikey_verify(key, n, upper)); /* stored form is lower-case hex */
    char again[65];
    auth_apikey_hash(key, n, again);
    assert_string_equal(again, hash);
}

static void test_apitoken_has_documented_format_and_is_no_apikey(void **state)
{
    char tok[80], prefix[16], hash[65];
    assert_int_equal(auth_apitoken_new(tok, sizeof tok, prefix, hash), 0);
    assert_int_equal(strlen(tok), AUTH_APITOKEN_LEN);
    assert_int_equal(strncmp(tok, "iotad_tok_", 10), 0);
    assert_memory_equal(tok + 10, prefix, AUTH_APIKEY_PREFIX_LEN);
    assert_int_equal(tok[18], '_');
    char direct[65];
    util_sha256_hex(tok, strlen(tok), direct);
    assert_string_equal(hash, direct);
    char parsed[16];
    assert_int_equal(auth_apitoken_parse(tok, strlen(tok), parsed), 0);
    assert_string_equal(parsed, prefix);
    assert_true(auth_apitoken_verify(tok, strlen(tok), hash));
    /* neither kind passes for the other */
    assert_int_equal(auth_apikey_parse(tok, strlen(tok), NULL), -1);
    char key[80], kprefix[16], khash[65];
    assert_int_equal(auth_apikey_new(key, sizeof key, kprefix, khash), 0);
    assert_int_equal(auth_apitoken_parse(key, strlen(key), NULL), -1);
    assert_false(auth_apitoken_verify(key, strlen(key), khash));
    /* small buffer, tampered token */
    char small[AUTH_APITOKEN_LEN];
    assert_int_equal(auth_apitoken_new(small, sizeof small, prefix, hash), -1);
    assert_string_equal(small, "");
    tok[AUTH_APITOKEN_LEN - 1] = tok[AUTH_APITOKEN_LEN - 1] == 'a' ? 'b' : 'a';
    assert_false(auth_apitoken_verify(tok, strlen(tok), direct));
    const char *bad = "iotad_tok_abcd1234_0123456789abcdef0123456789abcde"; /* 31 */
    assert_int_equal(auth_apitoken_parse(bad, strlen(bad), prefix), -1);
    assert_string_equal(prefix, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_token_is_43_base64url_chars_with_matching_hash),
        cmocka_unit_test(test_session_token_hash_is_stable_known_value),
        cmocka_unit_test(test_session_tokens_are_unique),
        cmocka_unit_test(test_session_token_refuses_small_buffer),
        cmocka_unit_test(test_token_format_check_rejects_garbage),
        cmocka_unit_test(test_apikey_has_documented_format),
        cmocka_unit_test(test_apikeys_and_prefixes_are_unique),
        cmocka_unit_test(test_apikey_refuses_small_buffer),
        cmocka_unit_test(test_apikey_parser_rejects_malformed_keys),
        cmocka_unit_test(test_apikey_parser_accepts_longer_secrets_up_to_64),
        cmocka_unit_test(test_apikey_verify_matches_only_the_issued_key),
        cmocka_unit_test(test_apitoken_has_documented_format_and_is_no_apikey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
