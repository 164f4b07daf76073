/* Tests of auth/secretbox: seal/open round trips, a value sealed by an independent AES-GCM
 * implementation (Python cryptography) opens, and every kind of tampering, a wrong context or
 * a missing key is refused without output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/secretbox.h"

#include <stdio.h>
#include <string.h>

static void two_keys(iotad_keys *k)
{
    memset(k, 0, sizeof *k);
    strcpy(k->secret[0].id, "1");
    memset(k->secret[0].key, 0x40, 32);
    strcpy(k->secret[1].id, "2");
    memset(k->secret[1].key, 0x41, 32);
    k->n_secret = 2;
}

static void test_seal_open_round_trip_with_the_current_key(void **state)
{
    (void)state;
    iotad_keys k;
    two_keys(&k);
    char sealed[SECRETBOX_SEALED_MAX], out[600];
    assert_int_equal(secretbox_seal(&k, "smtp-password", "chan-1", sealed, sizeof sealed), 0);
    assert_true(secretbox_is_sealed(sealed));
    assert_non_null(strstr(sealed, "enc:v1:2:")); /* the newest key seals */
    assert_null(strstr(sealed, "smtp-password"));
    assert_int_equal(secretbox_open(&k, sealed, "chan-1", out, sizeof out), 0);
    assert_string_equal(out, "smtp-password");
    /* the same plaintext seals differently each time (random nonce) */
    char again[SECRETBOX_SEALED_MAX];
    assert_int_equal(secretbox_seal(&k, "smtp-password", "chan-1", again, sizeof again), 0);
    assert_string_not_equal(sealed, again);
    assert_int_equal(secretbox_seal(&k, "", "chan-1", sealed, sizeof sealed), 0);
    assert_int_equal(secretbox_open(&k, sealed, "chan-1", out, sizeof out), 0);
    assert_string_equal(out, "");
}

static void test_value_sealed_by_python_cryptography_opens(void **state)
{
    (void)state;
    iotad_keys k;
    two_keys(&k);
    char out[64];
    /* AESGCM(b"\x40"*32).encrypt(bytes(range(12)), b"webhook-secret",
     *                            b"iotad-secret v1\nctx"), nonce prepended, base64 */
    const char *v = "enc:v1:1:AAECAwQFBgcICQoLRSybRpbj0EO9XLVoANz2XJ/KUt/gwfqUVEP44AG1";
    assert_int_equal(secretbox_open(&k, v, "ctx", out, sizeof out), 0);
    assert_string_equal(out, "webhook-secret");
}

static void test_tampering_wrong_context_and_unknown_keys_are_refused(void **state)
{
    (void)state;
    iotad_keys k;
    two_keys(&k);
    char sealed[SECRETBOX_SEALED_MAX], out[600];
    assert_int_equal(secretbox_seal(&k, "token-123", "chan-1", sealed, sizeof sealed), 0);
    assert_int_equal(secretbox_open(&k, sealed, "chan-2", out, sizeof out), -1);
    assert_string_equal(out, ""); /* nothing of a failed open is left */
    size_t n = strlen(sealed);
    for (size_t i = strlen("enc:v1:2:"); i < n; i += 3) {
        char t[SECRETBOX_SEALED_MAX];
        strcpy(t, sealed);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(secretbox_open(&k, t, "chan-1", out, sizeof out), 0);
    }
    char other[SECRETBOX_SEALED_MAX];
    strcpy(other, sealed);
    other[7] = '1'; /* claims the other key */
    assert_int_equal(secretbox_open(&k, other, "chan-1", out, sizeof out), -1);
    other[7] = '9'; /* a key the file does not have */
    assert_int_equal(secretbox_open(&k, other, "chan-1", out, sizeof out), -1);
    const char *bad[] = {"",
                         "plain",
                         "enc:v1:",
                         "enc:v1:1",
                         "enc:v1:1:",
                         "enc:v1::AAAA",
                         "enc:v1:1:!!!!",
                         "enc:v1:1:AAAA",
                         "enc:v2:1:AAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(secretbox_open(&k, bad[i], "chan-1", out, sizeof out), -1);
    /* the output buffer must hold the plaintext */
    assert_int_equal(secretbox_open(&k, sealed, "chan-1", out, 4), -2);
}

static void test_limits(void **state)
{
    (void)state;
    iotad_keys k;
    two_keys(&k);
    static char big[SECRETBOX_PLAIN_MAX + 2], sealed[SECRETBOX_SEALED_MAX],
        out[SECRETBOX_PLAIN_MAX + 1];
    memset(big, 'x', SECRETBOX_PLAIN_MAX);
    big[SECRETBOX_PLAIN_MAX] = '\0';
    assert_int_equal(secretbox_seal(&k, big, "c", sealed, sizeof sealed), 0);
    assert_int_equal(secretbox_open(&k, sealed, "c", out, sizeof out), 0);
    assert_int_equal(strlen(out), SECRETBOX_PLAIN_MAX);
    big[SECRETBOX_PLAIN_MAX] = 'x';
    big[SECRETBOX_PLAIN_MAX + 1] = '\0';
    assert_int_equal(secretbox_seal(&k, big, "c", sealed, sizeof sealed), -1);
    assert_int_equal(secretbox_seal(&k, "x", "c", sealed, 20), -1); /* out too small */
    k.n_secret = 0;
    assert_int_equal(secretbox_seal(&k, "x", "c", sealed, sizeof sealed), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_round_trip_with_the_current_key),
        cmocka_unit_test(test_value_sealed_by_python_cryptography_opens),
        cmocka_unit_test(test_tampering_wrong_context_and_unknown_keys_are_refused),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
