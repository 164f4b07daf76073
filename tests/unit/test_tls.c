/* Tests of net/tls: a real OpenSSL client (memory BIOs) against the server engine: handshake,
 * data both ways (one byte to a megabyte, byte-by-byte delivery), output written before the
 * handshake ends, close_notify, garbage refused, certificate reload keeping old connections,
 * the self-signed certificate verifying for its names, bad files reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], cert[128], key[128], cert2[128], key2[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/iotad-tls-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cert2, sizeof cert2, "%s/cert2.pem", dir);
    snprintf(key2, sizeof key2, "%s/key2.pem", dir);
    char err[256];
    if (tls_self_signed(cert, key, "iotad.test", err, sizeof err) != 0) return -1;
    if (tls_self_signed(cert2, key2, "other.test", err, sizeof err) != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cert);
    unlink(key);
    unlink(cert2);
    unlink(key2);
    rmdir(dir);
    return 0;
}

typedef struct {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} client;

static void client_new(client *c, const char *ca, const char *host)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, ca, NULL), 1);
    c->ssl = SSL_new(c->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(c->rbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_tlsext_host_name(c->ssl, host);
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(c->ssl), host, 0);
    SSL_set_connect_state(c->ssl);
}

static void client_free(client *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
}

/* Moves bytes both ways until neither side has anything to send; byte_by_byte feeds the
 * server one byte at a time. Returns false when the server refused input. */
static bool pump_any(client *c, tls_conn *s, bool byte_by_byte)
{
    bool ok = true;
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        SSL_do_handshake(c->ssl);
        char buf[65536];
        int n;
        while ((n = BIO_read(c->wbio, buf, sizeof buf)) > 0) {
            moved = true;
            if (byte_by_byte) {
                for (int i = 0; i < n; i++)
                    ok = tls_conn_feed(s, buf + i, 1) == 0 && ok;
            } else {
                ok = tls_conn_feed(s, buf, (size_t)n) == 0 && ok;
            }
        }
        size_t k;
        while ((k = tls_conn_take(s, buf, sizeof buf)) > 0) {
            moved = true;
            assert_int_equal(BIO_write(c->rbio, buf, (int)k), (int)k);
        }
        if (!moved) return ok;
    }
    fail_msg("no quiescence");
    return false;
}

static void pump(client *c, tls_conn *s, bool byte_by_byte)
{
    assert_true(pump_any(c, s, byte_by_byte));
}

static tls_ctx *server_ctx(void)
{
    tls_options o = {cert, key, NULL};
    tls_ctx *ctx = NULL;
    char err[256];
    assert_int_equal(tls_ctx_new(&o, &ctx, err, sizeof err), 0);
    return ctx;
}

/* Reads everything the server has decrypted into out; returns the count. */
static size_t server_read_all(tls_conn *s, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while ((n = tls_conn_read(s, out + got, cap - got)) > 0)
        got += (size_t)n;
    assert_true(n == 0);
    return got;
}

static void test_handshake_and_data_both_ways(void **state)
{
    (void)state;
    tls_ctx *ctx = server_ctx();
    for (int mode = 0; mode < 2; mode++) {
        client c;
        client_new(&c, cert, "iotad.test");
        tls_conn *s = tls_conn_new(ctx);
        assert_non_null(s);
        pump(&c, s, mode == 1);
        assert_int_equal(SSL_is_init_finished(c.ssl), 1);
        assert_true(tls_conn_established(s));
        char desc[96];
        tls_conn_describe(s, desc, sizeof desc);
        assert_non_null(strstr(desc, "TLSv1.3"));
        /* client -> server */
        assert_int_equal(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
        pump(&c, s, mode == 1);
        char got[64];
        assert_int_equal(server_read_all(s, got, sizeof got), 18);
        assert_memory_equal(got, "GET / HTTP/1.1\r\n\r\n", 18);
        /* server -> client: one megabyte in several writes */
        static char big[1 << 20], back[1 << 20];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)(i * 7);
        assert_int_equal(tls_conn_write(s, big, 1), 0);
        assert_int_equal(tls_conn_write(s, big + 1, sizeof big - 1), 0);
        assert_true(tls_conn_pending(s) > sizeof big); /* records add their overhead */
        pump(&c, s, false);
        size_t r = 0;
        int n;
        while (r < sizeof back && (n = SSL_read(c.ssl, back + r, (int)(sizeof back - r))) > 0)
            r += (size_t)n;
        assert_int_equal(r, sizeof big);
        assert_memory_equal(back, big, sizeof big);
        /* the client closes: the server reads -2 */
        SSL_shutdown(c.ssl);
        pump(&c, s, false);
        assert_int_equal(tls_conn_read(s, got, sizeof got), -2);
        tls_conn_free(s);
        client_free(&c);
    }
    tls_ctx_free(ctx);
}

static void test_output_before_the_handshake_is_held(void **state)
{
    (void)state;
    tls_ctx *ctx = server_ctx();
    client c;
    client_new(&c, cert, "iotad.test");
    tls_conn *s = tls_conn_new(ctx);
    assert_int_equal(tls_conn_write(s, "early", 5), 0);
    assert_int_equal(tls_conn_pending(s), 0); /* nothing leaves in clear */
    pump(&c, s, false);
    char got[16];
    int n = SSL_read(c.ssl, got, sizeof got);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "early", 5);
    tls_conn_close_notify(s);
    pump(&c, s, false);
    assert_int_equal(SSL_read(c.ssl, got, sizeof got), 0);
    assert_int_equal(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
    tls_conn_free(s);
    client_free(&c);
    tls_ctx_free(ctx);
}

static void test_garbage_and_plain_http_fail_the_handshake(void **state)
{
    (void)state;
    tls_ctx *ctx = server_ctx();
    /* plain HTTP, and a plain MQTT CONNECT, sent to a TLS port */
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char mqtt[] = "\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04"
                               "abcd";
    const char *inputs[] = {http, mqtt};
    size_t lens[] = {sizeof http - 1, sizeof mqtt - 1};
    for (size_t i = 0; i < 2; i++) {
        tls_conn *s = tls_conn_new(ctx);
        assert_int_equal(tls_conn_feed(s, inputs[i], lens[i]), -1);
        assert_true(strlen(tls_conn_error(s)) > 0);
        char buf[8];
        assert_int_equal(tls_conn_read(s, buf, sizeof buf), -1);
        assert_int_equal(tls_conn_write(s, "x", 1), -1);
        tls_conn_free(s);
    }
    /* a client that does not trust the certificate gives up; the server sees the alert */
    client c;
    client_new(&c, cert2, "iotad.test");
    tls_conn *s = tls_conn_new(ctx);
    assert_false(pump_any(&c, s, false));
    assert_int_not_equal(SSL_is_init_finished(c.ssl), 1);
    char buf[8];
    assert_true(tls_conn_read(s, buf, sizeof buf) < 0);
    tls_conn_free(s);
    client_free(&c);
    tls_ctx_free(ctx);
    ERR_clear_error();
}

static void test_reload_serves_the_new_certificate_to_new_connections(void **state)
{
    (void)state;
    tls_ctx *ctx = server_ctx();
    client old;
    client_new(&old, cert, "iotad.test");
    tls_conn *so = tls_conn_new(ctx);
    pump(&old, so, false);
    assert_true(tls_conn_established(so));
    /* the files change (a renewed certificate) and SIGHUP reloads them */
    char err[256];
    assert_int_equal(rename(cert2, cert), 0);
    assert_int_equal(rename(key2, key), 0);
    assert_int_equal(tls_ctx_reload(ctx, err, sizeof err), 0);
    char desc[512];
    tls_ctx_describe(ctx, desc, sizeof desc);
    assert_non_null(strstr(desc, "other.test"));
    client fresh;
    client_new(&fresh, cert, "other.test");
    tls_conn *sn = tls_conn_new(ctx);
    pump(&fresh, sn, false);
    assert_true(tls_conn_established(sn));
    /* the old connection still works */
    assert_int_equal(tls_conn_write(so, "still", 5), 0);
    pump(&old, so, false);
    char got[8];
    assert_int_equal(SSL_read(old.ssl, got, sizeof got), 5);
    /* a broken file keeps the old certificate in use */
    FILE *f = fopen(cert, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    assert_int_equal(tls_ctx_reload(ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, cert));
    tls_ctx_describe(ctx, desc, sizeof desc);
    assert_non_null(strstr(desc, "other.test"));
    tls_conn_free(so);
    tls_conn_free(sn);
    client_free(&old);
    client_free(&fresh);
    tls_ctx_free(ctx);
    /* restore the fixture files for the other tests */
    assert_int_equal(tls_self_signed(cert, key, "iotad.test", err, sizeof err), 0);
    assert_int_equal(tls_self_signed(cert2, key2, "other.test", err, sizeof err), 0);
}

static void test_self_signed_certificate_and_files(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(cert, "r");
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    assert_int_equal(X509_check_host(x, "iotad.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "evil.test", 0, 0, NULL), 0);
    X509_free(x);
    tls_options bad = {"/nonexistent/cert.pem", key, NULL};
    tls_ctx *ctx = NULL;
    char err[256];
    assert_int_equal(tls_ctx_new(&bad, &ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    /* a FIFO (or a device) as certificate, key or CA: refused at once, not read forever */
    char fifo[] = "/tmp/iotad-tls-fifo-XXXXXX";
    assert_non_null(mkdtemp(fifo));
    char fifo_path[64];
    snprintf(fifo_path, sizeof fifo_path, "%s/cert.pem", fifo);
    assert_int_equal(mkfifo(fifo_path, 0600), 0);
    tls_options fifo_cert = {fifo_path, key, NULL};
    assert_int_equal(tls_ctx_new(&fifo_cert, &ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    tls_options zero_key = {cert, "/dev/zero", NULL};
    assert_int_equal(tls_ctx_new(&zero_key, &ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, "TLS key /dev/zero: not a regular file"));
    tls_options fifo_ca = {cert, key, fifo_path};
    assert_int_equal(tls_ctx_new(&fifo_ca, &ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, "TLS client CA file"));
    unlink(fifo_path);
    rmdir(fifo);
    tls_options mismatch = {cert, key2, NULL};
    assert_int_equal(tls_ctx_new(&mismatch, &ctx, err, sizeof err), -1);
    assert_non_null(strstr(err, key2));
    assert_null(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data_both_ways),
        cmocka_unit_test(test_output_before_the_handshake_is_held),
        cmocka_unit_test(test_garbage_and_plain_http_fail_the_handshake),
        cmocka_unit_test(test_reload_serves_the_new_certificate_to_new_connections),
        cmocka_unit_test(test_self_signed_certificate_and_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
