/* Tests of auth/password: argon2id hashing and verification (round trip, known answers from
 * the argon2 reference test suite, malformed encodings), cost profiles and the policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/password.h"

#include <argon2.h>
#include <stdlib.h>
#include <string.h>

static int use_test_profile(void **state)
{
    auth_password_set_cost(AUTH_COST_TEST);
    return 0;
}

static int verify_str(const char *encoded, const char *pw)
{
    return auth_password_verify(encoded, pw, strlen(pw));
}

static void test_hash_then_verify_round_trip(void **state)
{
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    const char *pw = "correct horse battery staple";
    assert_int_equal(auth_password_hash(pw, strlen(pw), enc, sizeof enc), 0);
    assert_int_equal(strncmp(enc, "$argon2id$v=19$m=256,t=1,p=1$", 29), 0);
    assert_int_equal(verify_str(enc, pw), 0);
}

static void test_verify_with_wrong_password_is_mismatch(void **state)
{
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    const char *pw = "correct horse battery staple";
    assert_int_equal(auth_password_hash(pw, strlen(pw), enc, sizeof enc), 0);
    assert_int_equal(verify_str(enc, "correct horse battery stapler"), -1);
    assert_int_equal(verify_str(enc, "Correct horse battery staple"), -1);
    assert_int_equal(verify_str(enc, ""), -1);
    /* Length is explicit: a prefix of the right password is a different password. */
    assert_int_equal(auth_password_verify(enc, pw, strlen(pw) - 1), -1);
}

static void test_password_with_embedded_nul_is_hashed_in_full(void **state)
{
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    const char pw[] = "abc\0defghijk";
    assert_int_equal(auth_password_hash(pw, sizeof pw - 1, enc, sizeof enc), 0);
    assert_int_equal(auth_password_verify(enc, pw, sizeof pw - 1), 0);
    assert_int_equal(auth_password_verify(enc, "abc", 3), -1);
}

static void test_same_password_hashes_differently_each_time(void **state)
{
    char a[AUTH_PASSWORD_ENCODED_MAX], b[AUTH_PASSWORD_ENCODED_MAX];
    assert_int_equal(auth_password_hash("same password", 13, a, sizeof a), 0);
    assert_int_equal(auth_password_hash("same password", 13, b, sizeof b), 0);
    assert_string_not_equal(a, b); /* random salt */
    assert_int_equal(verify_str(a, "same password"), 0);
    assert_int_equal(verify_str(b, "same password"), 0);
}

static void test_production_profile_uses_owasp_cost(void **state)
{
    auth_password_set_cost(AUTH_COST_PRODUCTION);
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    assert_int_equal(auth_password_hash("a production password", 21, enc, sizeof enc), 0);
    assert_int_equal(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    assert_int_equal(verify_str(enc, "a production password"), 0);
    auth_password_cost c = auth_password_profile_cost(AUTH_COST_PRODUCTION);
    assert_int_equal(c.m_kib, 19456);
    assert_int_equal(c.t, 2);
    assert_int_equal(c.p, 1);
    auth_password_set_cost(AUTH_COST_TEST);
}

static void test_our_hash_is_accepted_by_libargon2(void **state)
{
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    assert_int_equal(auth_password_hash("interop check", 13, enc, sizeof enc), 0);
    assert_int_equal(argon2id_verify(enc, "interop check", 13), ARGON2_OK);
    assert_int_equal(argon2id_verify(enc, "interop checK", 13), ARGON2_VERIFY_MISMATCH);
}

/* Vectors from the argon2 reference implementation's src/test.c (password "password",
 * salt "somesalt"): an independent check that we decode salt, hash and cost correctly. */
static void test_verify_accepts_reference_test_vectors(void **state)
{
    const char *m64m =
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    const char *m256 =
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
    assert_int_equal(verify_str(m64m, "password"), 0);
    assert_int_equal(verify_str(m64m, "passwore"), -1);
    assert_int_equal(verify_str(m256, "password"), 0);
    assert_int_equal(verify_str(m256, "Password"), -1);
}

static void test_verify_accepts_other_salt_and_hash_lengths(void **state)
{
    char enc[160];
    assert_int_equal(argon2id_hash_encoded(1, 64, 1, "pw", 2, "8bytesal", 8, 16, enc, sizeof enc),
                     ARGON2_OK);
    assert_int_equal(verify_str(enc, "pw"), 0);
    assert_int_equal(
        argon2id_hash_encoded(1, 64, 2, "pw", 2, "0123456789abcdef0123", 20, 64, enc, sizeof enc),
        ARGON2_OK);
    assert_int_equal(verify_str(enc, "pw"), 0);
    assert_int_equal(verify_str(enc, "pX"), -1);
}

static void test_malformed_encodings_are_rejected(void **state)
{
    static const char *const bad[] = {
        "",
        "password",
        "$argon2id$",
        /* other variants and versions */
        "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$ARGON2ID$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* cost fields: order, zeros, leading zeros, bounds, overflow, signs */
        "$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=0,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=0256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=+256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=0$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=17,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=9$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=7,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=16,t=2,p=4$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=262145,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/"
        "4",
        "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/"
        "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1,keyid=x$c29tZXNhbHQ$nf65EOgLrQMR/"
        "uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* salt and hash */
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",
        "$argon2id$v=19$m=256,t=2,p=1$$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNh$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZX-hbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/5",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4$",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4 ",
        " $argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (verify_str(bad[i], "password") != -2) fail_msg("accepted: %s", bad[i]);
        auth_password_cost c;
        assert_int_equal(auth_password_inspect(bad[i], &c), -2);
    }
    assert_int_equal(auth_password_verify(NULL, "password", 8), -2);
}

static void test_overlong_encoding_is_rejected_without_reading_it_all(void **state)
{
    size_t n = 100000;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'A', n);
    memcpy(s, "$argon2id$v=19$m=256,t=2,p=1$", 29);
    s[n] = '\0';
    assert_int_equal(verify_str(s, "password"), -2);
    free(s);
}

static void test_inspect_reads_cost_and_needs_rehash_follows_profile(void **state)
{
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    assert_int_equal(auth_password_hash("rehash me please", 16, enc, sizeof enc), 0);
    auth_password_cost c = {0, 0, 0};
    assert_int_equal(auth_password_inspect(enc, &c), 0);
    assert_int_equal(c.m_kib, 256);
    assert_int_equal(c.t, 1);
    assert_int_equal(c.p, 1);
    assert_false(auth_password_needs_rehash(enc));
    auth_password_set_cost(AUTH_COST_PRODUCTION);
    assert_true(auth_password_needs_rehash(enc));
    assert_int_equal(verify_str(enc, "rehash me please"), 0); /* old hashes keep working */
    auth_password_set_cost(AUTH_COST_TEST);
    assert_true(auth_password_needs_rehash("garbage"));
}

static void test_hash_refuses_small_buffer_and_huge_input(void **state)
{
    char small[40];
    assert_int_equal(auth_password_hash("a password", 10, small, sizeof small), -1);
    char enc[AUTH_PASSWORD_ENCODED_MAX];
    static char big[AUTH_PASSWORD_MAX_INPUT + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(auth_password_hash(big, sizeof big, enc, sizeof enc), -1);
    assert_int_equal(auth_password_hash(big, AUTH_PASSWORD_MAX_INPUT, enc, sizeof enc), 0);
    assert_int_equal(auth_password_verify(enc, big, AUTH_PASSWORD_MAX_INPUT), 0);
    assert_int_equal(auth_password_verify(enc, big, sizeof big), -1);
    auth_password_cost too_big = {AUTH_PASSWORD_MAX_M_KIB + 1, 1, 1};
    assert_int_equal(auth_password_hash_with(&too_big, "pw", 2, enc, sizeof enc), -1);
}

static void test_env_fast_hash_selects_test_profile(void **state)
{
    setenv("IOTAD_FAST_HASH", "1", 1);
    assert_int_equal(auth_password_init_from_env(), AUTH_COST_TEST);
    assert_int_equal(auth_password_get_profile(), AUTH_COST_TEST);
    setenv("IOTAD_FAST_HASH", "0", 1);
    assert_int_equal(auth_password_init_from_env(), AUTH_COST_PRODUCTION);
    unsetenv("IOTAD_FAST_HASH");
    assert_int_equal(auth_password_init_from_env(), AUTH_COST_PRODUCTION);
    auth_password_set_cost(AUTH_COST_TEST);
}

static void test_dummy_verify_always_fails(void **state)
{
    assert_int_equal(auth_password_dummy_verify("anything at all", 15), -1);
    assert_int_equal(auth_password_dummy_verify(NULL, 0), -1);
}

/* ---- policy ---- */

static const char *policy(const char *pw, const char *email)
{
    const char *why = "unset";
    int rc = auth_password_policy(pw, strlen(pw), email, &why);
    if (rc == 0) {
        assert_null(why);
        return NULL;
    }
    assert_int_equal(rc, -1);
    assert_non_null(why);
    return why;
}

static void test_policy_accepts_reasonable_passwords(void **state)
{
    assert_null(policy("tr0ub4dor&3x", NULL));
    assert_null(policy("correct horse battery staple", "alice@example.com"));
    assert_null(policy("qz7!kw2mpx", NULL));           /* exactly 10 */
    assert_null(policy("lowercaseonlybutlong", NULL)); /* no composition rules */
    /* 10 code points, 20 bytes: length counts characters, not bytes */
    assert_null(policy("\xc3\xa9\xc3\xa8\xc3\xaa\xc3\xab\xc3\xa0\xc3\xa2\xc3\xa4\xc3\xae\xc3\xaf"
                       "\xc3\xb4",
                       NULL));
    assert_null(policy("\xf0\x9f\x94\x91 emoji key!", NULL));
}

static void test_policy_rejects_short_passwords(void **state)
{
    assert_non_null(policy("", NULL));
    assert_non_null(policy("qz7!kw2mp", NULL)); /* 9 */
    assert_string_equal(policy("short", NULL), "password is too short (at least 10 characters)");
    /* 9 code points in 18 bytes */
    assert_non_null(
        policy("\xc3\xa9\xc3\xa8\xc3\xaa\xc3\xab\xc3\xa0\xc3\xa2\xc3\xa4\xc3\xae\xc3\xaf", NULL));
}

static void test_policy_length_limit_is_256_characters(void **state)
{
    char pw[300];
    for (size_t i = 0; i < sizeof pw; i++)
        pw[i] = (char)('a' + (i * 7) % 26);
    const char *why = NULL;
    assert_int_equal(auth_password_policy(pw, 256, NULL, &why), 0);
    assert_int_equal(auth_password_policy(pw, 257, NULL, &why), -1);
    assert_string_equal(why, "password is too long (at most 256 characters)");
}

static void test_policy_rejects_invalid_utf8_and_control_characters(void **state)
{
    const char *why = NULL;
    const char nul[] = "goodpass\0word";
    assert_int_equal(auth_password_policy(nul, sizeof nul - 1, NULL, &why), -1);
    assert_non_null(policy("tab\tinside password", NULL));
    assert_non_null(policy("newline\ninside pw", NULL));
    assert_non_null(policy("del\x7finside password", NULL));
    assert_non_null(policy("bad utf8 \xff\xfe here", NULL));
    assert_non_null(policy("overlong \xc0\xaf slash!", NULL));
    assert_non_null(policy("surrogate \xed\xa0\x80 here", NULL));
    assert_non_null(policy("truncated sequence \xe2\x82", NULL));
    assert_non_null(policy("c1 control \xc2\x85 here", NULL));
    assert_int_equal(auth_password_policy(NULL, 0, NULL, &why), -1);
}

static void test_policy_rejects_common_passwords_case_insensitively(void **state)
{
    assert_string_equal(policy("password123", NULL), "password is too common");
    assert_string_equal(policy("Password123", NULL), "password is too common");
    assert_non_null(policy("QWERTYUIOP", NULL));
    assert_non_null(policy("1q2w3e4r5t", NULL));
    assert_non_null(policy("administrator", NULL));
    assert_null(policy("password123 but longer", NULL));
}

static void test_policy_rejects_repeated_and_sequential_runs(void **state)
{
    const char *rep = "password is a repeated or sequential run of characters";
    assert_string_equal(policy("aaaaaaaaaaaa", NULL), rep);
    assert_string_equal(policy("0123456789", NULL), rep);
    assert_string_equal(policy("abcdefghijklm", NULL), rep);
    assert_string_equal(policy("9876543210", NULL), rep);
    assert_string_equal(policy("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                               "\xc3\xa9\xc3\xa9",
                               NULL),
                        rep);
    assert_null(policy("abcdefghijkk", NULL));
}

static void test_policy_rejects_password_equal_to_email_or_local_part(void **state)
{
    const char *same = "password must not be the same as the email address";
    assert_string_equal(policy("alice.smith", "alice.smith@example.com"), same);
    assert_string_equal(policy("Alice.Smith", "alice.smith@example.com"), same);
    assert_string_equal(policy("bob@example.org", "bob@example.org"), same);
    assert_null(policy("alice.smith!2024", "alice.smith@example.com"));
    assert_null(policy("alice.smith", NULL));
    assert_null(policy("alice.smith", ""));
}

static void test_policy_why_may_be_null(void **state)
{
    assert_int_equal(auth_password_policy("short", 5, NULL, NULL), -1);
    assert_int_equal(auth_password_policy("long enough pass", 16, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hash_then_verify_round_trip, use_test_profile),
        cmocka_unit_test_setup(test_verify_with_wrong_password_is_mismatch, use_test_profile),
        cmocka_unit_test_setup(test_password_with_embedded_nul_is_hashed_in_full, use_test_profile),
        cmocka_unit_test_setup(test_same_password_hashes_differently_each_time, use_test_profile),
        cmocka_unit_test_setup(test_production_profile_uses_owasp_cost, use_test_profile),
        cmocka_unit_test_setup(test_our_hash_is_accepted_by_libargon2, use_test_profile),
        cmocka_unit_test_setup(test_verify_accepts_reference_test_vectors, use_test_profile),
        cmocka_unit_test_setup(test_verify_accepts_other_salt_and_hash_lengths, use_test_profile),
        cmocka_unit_test_setup(test_malformed_encodings_are_rejected, use_test_profile),
        cmocka_unit_test_setup(test_overlong_encoding_is_rejected_without_reading_it_all,
                               use_test_profile),
        cmocka_unit_test_setup(test_inspect_reads_cost_and_needs_rehash_follows_profile,
                               use_test_profile),
        cmocka_unit_test_setup(test_hash_refuses_small_buffer_and_huge_input, use_test_profile),
        cmocka_unit_test_setup(test_env_fast_hash_selects_test_profile, use_test_profile),
        cmocka_unit_test_setup(test_dummy_verify_always_fails, use_test_profile),
        cmocka_unit_test(test_policy_accepts_reasonable_passwords),
        cmocka_unit_test(test_policy_rejects_short_passwords),
        cmocka_unit_test(test_policy_length_limit_is_256_characters),
        cmocka_unit_test(test_policy_rejects_invalid_utf8_and_control_characters),
        cmocka_unit_test(test_policy_rejects_common_passwords_case_insensitively),
        cmocka_unit_test(test_policy_rejects_repeated_and_sequential_runs),
        cmocka_unit_test(test_policy_rejects_password_equal_to_email_or_local_part),
        cmocka_unit_test(test_policy_why_may_be_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
