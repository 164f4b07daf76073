/* See tls.h. One SSL per connection with a memory BIO on each side; the contexts are
 * reference-counted by OpenSSL, so a reload can drop the old SSL_CTX while connections made
 * with it live on. Every OpenSSL error queue entry is consumed where it is produced, so an
 * error on one connection never shows up as the reason on another. */
#include "net/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HELD_MAX (1u << 20) /* plaintext written before the handshake ended */

struct tls_ctx {
    SSL_CTX *ssl;
    char cert_file[512], key_file[512], client_ca_file[512];
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool established, failed;
    char *held;
    size_t held_len;
    char err[160];
};

/* The first queued OpenSSL error (or fallback) into out; empties the queue. */
static void take_error(char *out, size_t cap, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e) {
        ERR_error_string_n(e, out, cap);
    } else {
        snprintf(out, cap, "%s", fallback);
    }
    ERR_clear_error();
}

/* OpenSSL opens the files blocking: a FIFO named as a certificate or key would hang the start,
 * or the loop at a reload. One that is there and not a regular file is refused first; one that
 * cannot be opened is left to OpenSSL's own message. */
static int not_regular(const char *what, const char *path, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return 0;
    struct stat st;
    int bad = fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
    close(fd);
    if (bad) snprintf(err, errcap, "%s %s: not a regular file", what, path);
    return bad;
}

static SSL_CTX *build_ctx(const tls_ctx *c, char *err, size_t errcap)
{
    if (not_regular("TLS certificate", c->cert_file, err, errcap) ||
        not_regular("TLS key", c->key_file, err, errcap) ||
        (c->client_ca_file[0] && not_regular("TLS client CA file", c->client_ca_file, err, errcap)))
        return NULL;
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (!ssl) {
        take_error(err, errcap, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    /* idle connections (thousands of devices) keep no 16 KB record buffers */
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(ssl, 1);
    if (SSL_CTX_use_certificate_chain_file(ssl, c->cert_file) != 1) {
        char why[200];
        take_error(why, sizeof why, "unreadable");
        snprintf(err, errcap, "TLS certificate %s: %s", c->cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ssl, c->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl) != 1) {
        char why[200];
        take_error(why, sizeof why, "does not match the certificate");
        snprintf(err, errcap, "TLS key %s: %s", c->key_file, why);
        goto fail;
    }
    if (c->client_ca_file[0]) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->client_ca_file);
        if (!names || SSL_CTX_load_verify_locations(ssl, c->client_ca_file, NULL) != 1) {
            char why[200];
            take_error(why, sizeof why, "no certificates");
            snprintf(err, errcap, "TLS client CA file %s: %s", c->client_ca_file, why);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ssl, names);
        /* asked for, not required: devices may still use keys; one presented must verify */
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        static const unsigned char sid[] = "iotad";
        SSL_CTX_set_session_id_context(ssl, sid, sizeof sid - 1);
    }
    ERR_clear_error();
    return ssl;
fail:
    SSL_CTX_free(ssl);
    ERR_clear_error();
    return NULL;
}

int tls_ctx_new(const tls_options *opt, tls_ctx **out, char *err, size_t errcap)
{
    *out = NULL;
    tls_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    snprintf(c->cert_file, sizeof c->cert_file, "%s", opt->cert_file ? opt->cert_file : "");
    snprintf(c->key_file, sizeof c->key_file, "%s", opt->key_file ? opt->key_file : "");
    snprintf(c->client_ca_file, sizeof c->client_ca_file, "%s",
             opt->client_ca_file ? opt->client_ca_file : "");
    c->ssl = build_ctx(c, err, errcap);
    if (!c->ssl) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int tls_ctx_reload(tls_ctx *c, char *err, size_t errcap)
{
    SSL_CTX *n = build_ctx(c, err, errcap);
    if (!n) return -1;
    SSL_CTX_free(c->ssl); /* connections made with it hold their own reference */
    c->ssl = n;
    return 0;
}

void tls_ctx_free(tls_ctx *c)
{
    if (!c) return;
    SSL_CTX_free(c->ssl);
    free(c);
}

void tls_ctx_describe(tls_ctx *c, char *out, size_t cap)
{
    X509 *x = SSL_CTX_get0_certificate(c->ssl);
    char subject[256] = "?", until[64] = "?";
    if (x) {
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
        BIO *b = BIO_new(BIO_s_mem());
        if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
            int n = BIO_read(b, until, sizeof until - 1);
            until[n > 0 ? n : 0] = '\0';
        }
        BIO_free(b);
    }
    snprintf(out, cap, "subject=\"%s\" not_after=\"%s\"", subject, until);
}

/* --- self-signed certificate -------------------------------------------------------------- */

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int rc = e && X509_add_ext(x, e, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(e);
    return rc;
}

int tls_self_signed(const char *cert_file, const char *key_file, const char *host, char *err,
                    size_t errcap)
{
    int rc = -1;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    FILE *cf = NULL, *kf = NULL;
    unsigned char serial[16];
    char san[600];
    snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
    if (!pk || !x || RAND_bytes(serial, sizeof serial) != 1) goto done;
    serial[0] &= 0x7f; /* a positive serial */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(x);
    if (!ok || X509_set_version(x, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 825L * 86400) ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"iotad", -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)host, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pk) != 1 ||
        add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        add_ext(x, NID_ext_key_usage, "serverAuth") ||
        add_ext(x, NID_subject_key_identifier, "hash") || add_ext(x, NID_subject_alt_name, san) ||
        X509_sign(x, pk, EVP_sha256()) == 0)
        goto done;
    int kfd = open(key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    kf = kfd >= 0 ? fdopen(kfd, "w") : NULL;
    if (!kf && kfd >= 0) close(kfd);
    cf = fopen(cert_file, "w");
    if (!kf || !cf || PEM_write_PrivateKey(kf, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_X509(cf, x) != 1)
        goto done;
    rc = 0;
done:
    if (kf && fclose(kf) != 0) rc = -1;
    if (cf && fclose(cf) != 0) rc = -1;
    if (rc != 0) take_error(err, errcap, "cannot create a self-signed certificate");
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

/* --- connections --------------------------------------------------------------------------- */

tls_conn *tls_conn_new(tls_ctx *c)
{
    tls_conn *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ssl = SSL_new(c->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    /* an empty memory BIO reports "retry", not EOF */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_free(tls_conn *t)
{
    if (!t) return;
    SSL_free(t->ssl);
    if (t->held) explicit_bzero(t->held, t->held_len);
    free(t->held);
    free(t);
}

static int fail(tls_conn *t, const char *fallback)
{
    t->failed = true;
    if (!t->err[0]) take_error(t->err, sizeof t->err, fallback);
    ERR_clear_error();
    return -1;
}

/* Writes plaintext into records: SSL_write on a memory BIO takes everything at once. */
static int seal(tls_conn *t, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int chunk = len > 1u << 30 ? 1 << 30 : (int)len;
        int n = SSL_write(t->ssl, p, chunk);
        if (n <= 0) return fail(t, "write failed");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int handshake(tls_conn *t)
{
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->established = true;
        if (t->held_len) {
            int rc = seal(t, t->held, t->held_len);
            explicit_bzero(t->held, t->held_len);
            free(t->held);
            t->held = NULL;
            t->held_len = 0;
            return rc;
        }
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    return fail(t, "handshake failed");
}

int tls_conn_feed(tls_conn *t, const void *data, size_t len)
{
    if (t->failed) return -1;
    if (len && BIO_write(t->rbio, data, (int)len) != (int)len) return fail(t, "out of memory");
    return t->established ? 0 : handshake(t);
}

ssize_t tls_conn_read(tls_conn *t, void *buf, size_t cap)
{
    if (t->failed) return -1;
    if (!t->established) {
        if (handshake(t) != 0) return -1;
        if (!t->established) return 0;
    }
    if (cap == 0) return 0;
    int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return -2;
    return fail(t, "read failed");
}

bool tls_conn_readable(const tls_conn *t)
{
    return !t->failed && (SSL_has_pending(t->ssl) || BIO_ctrl_pending(t->rbio) > 0);
}

int tls_conn_write(tls_conn *t, const void *data, size_t len)
{
    if (t->failed) return -1;
    if (t->established) return seal(t, data, len);
    if (len > HELD_MAX - t->held_len) return fail(t, "too much output before the handshake");
    char *h = realloc(t->held, t->held_len + len);
    if (!h) return fail(t, "out of memory");
    memcpy(h + t->held_len, data, len);
    t->held = h;
    t->held_len += len;
    return 0;
}

size_t tls_conn_pending(const tls_conn *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t tls_conn_take(tls_conn *t, void *buf, size_t cap)
{
    size_t have = BIO_ctrl_pending(t->wbio);
    if (have == 0 || cap == 0) return 0;
    int n = BIO_read(t->wbio, buf, (int)(have < cap ? have : cap));
    return n > 0 ? (size_t)n : 0;
}

void tls_conn_close_notify(tls_conn *t)
{
    if (t->established && !t->failed) SSL_shutdown(t->ssl);
    ERR_clear_error();
}

bool tls_conn_established(const tls_conn *t)
{
    return t->established;
}

int tls_conn_peer_cn(const tls_conn *t, char *out, size_t cap)
{
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (!x || SSL_get_verify_result(t->ssl) != X509_V_OK) return -1;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
    if (n <= 0 || (size_t)n >= cap || memchr(out, '\0', (size_t)n)) return -1;
    return 0;
}

const char *tls_conn_error(const tls_conn *t)
{
    return t->err;
}

void tls_conn_describe(const tls_conn *t, char *out, size_t cap)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    snprintf(out, cap, "%s %s", SSL_get_version(t->ssl), c ? SSL_CIPHER_get_name(c) : "-");
}
