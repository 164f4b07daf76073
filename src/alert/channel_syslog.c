/* Syslog channel for SIEMs: one RFC 5424 message with a CEF body (cef.c) per alert, to
 *   udp://host[:514]   one datagram (RFC 5426; delivery cannot be confirmed),
 *   tcp://host[:514]   RFC 6587 framing,
 *   tls://host[:6514]  RFC 5425: TLS 1.2+, the server certificate verified against the
 *                      system CAs or config.ca_pem, and its name (or IP) checked.
 * Stream framing is octet counting ("LEN MSG", config.framing "octet-counting", the default)
 * or a trailing LF ("newline"). A connection carries one message and is closed after it;
 * the alert is delivered once the whole message is written. Other config: facility (name or
 * 0..23, default local0), hostname (default: this host's name), max_bytes (480..65535,
 * default 2048 over UDP, 8192 over TCP). Non-blocking: the worker polls the socket with its
 * curl transfers (outbox.c) and bounds the whole exchange with the attempt timeout. */
#include "alert/cef.h"
#include "alert/channel.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { S_NONE, S_CONNECTING, S_HANDSHAKE, S_WRITING, S_DONE };

int alert_syslog_default_port(const char *scheme)
{
    if (!scheme) return 0;
    if (!strcmp(scheme, "udp") || !strcmp(scheme, "tcp")) return 514;
    if (!strcmp(scheme, "tls")) return 6514;
    return 0;
}

void alert_syslog_close(alert_job *j)
{
    if (j->sstate == S_NONE) return;
    if (j->ssl) {
        SSL_shutdown(j->ssl); /* one close_notify, not waited for */
        SSL_free(j->ssl);
        j->ssl = NULL;
    }
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    j->sstate = S_NONE;
}

static const char *cfg_str(const cJSON *c, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* Adds the certificates of PEM text to st; returns how many. */
static int pem_add_certs(X509_STORE *st, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(st, x) == 1) n++;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the text reads as an error */
    return n;
}

bool alert_pem_has_cert(const char *pem)
{
    X509_STORE *st = X509_STORE_new();
    int n = st ? pem_add_certs(st, pem) : 0;
    X509_STORE_free(st);
    return n > 0;
}

/* The TLS client of a tls:// channel: verifies the chain (config.ca_pem, else the system
 * store) and the host name or address in the url. */
static SSL *tls_client(alert_job *j, char *err, size_t errcap)
{
    char *host = NULL;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, j->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        snprintf(err, errcap, "invalid url");
        return NULL;
    }
    char h[256];
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2) /* [v6] */
        snprintf(h, sizeof h, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(h, sizeof h, "%s", host);
    curl_free(host);
    curl_url_cleanup(u);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    if (!ctx) goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const char *pem = cfg_str(j->config, "ca_pem");
    if (pem) {
        if (!pem_add_certs(SSL_CTX_get_cert_store(ctx), pem)) {
            SSL_CTX_free(ctx);
            snprintf(err, errcap, "ca_pem holds no certificate");
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        goto fail;
    }
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its reference */
    ctx = NULL;
    if (!ssl || SSL_set_fd(ssl, j->fd) != 1) goto fail;
    unsigned char bin[16];
    bool ip = inet_pton(AF_INET, h, bin) == 1 || inet_pton(AF_INET6, h, bin) == 1;
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h) != 1
           : (SSL_set_tlsext_host_name(ssl, h) != 1 || SSL_set1_host(ssl, h) != 1))
        goto fail;
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    snprintf(err, errcap, "tls setup failed: %s", ERR_reason_error_string(ERR_get_error()));
    ERR_clear_error();
    return NULL;
}

int alert_syslog_setup(alert_job *j, int64_t now_ms, char *err, size_t errcap)
{
    bool udp = !strncmp(j->url, "udp://", 6), tls = !strncmp(j->url, "tls://", 6);
    if (!udp && !tls && strncmp(j->url, "tcp://", 6)) {
        snprintf(err, errcap, "a syslog channel needs a udp://, tcp:// or tls:// url");
        return -1;
    }
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j->config, "max_bytes");
    size_t max = udp ? 2048 : 8192;
    if (cJSON_IsNumber(mb) && mb->valuedouble >= ALERT_SYSLOG_MIN_BYTES && mb->valuedouble <= 65535)
        max = (size_t)mb->valuedouble;
    char hostname[256] = "";
    const char *hn = cfg_str(j->config, "hostname");
    if (hn)
        snprintf(hostname, sizeof hostname, "%s", hn);
    else if (gethostname(hostname, sizeof hostname - 1) != 0)
        hostname[0] = '\0';
    const cJSON *fj = cJSON_GetObjectItemCaseSensitive(j->config, "facility");
    int fac = cJSON_IsNumber(fj)
                  ? (fj->valuedouble >= 0 && fj->valuedouble <= 23 ? (int)fj->valuedouble : -1)
                  : alert_syslog_facility(cfg_str(j->config, "facility"));
    alert_syslog_opts o = {fac < 0 || fac > 23 ? 16 : fac, hostname, now_ms, max};
    const char *framing = cfg_str(j->config, "framing");
    bool lf = framing && !strcmp(framing, "newline");
    j->body = malloc(max + 32);
    if (!j->body) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    char *msg = malloc(max + 1);
    if (!msg) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    size_t n = alert_syslog_format(j->p, &o, msg);
    if (udp)
        j->body_len = (size_t)snprintf(j->body, max + 32, "%s", msg);
    else if (lf)
        j->body_len = (size_t)snprintf(j->body, max + 32, "%s\n", msg);
    else
        j->body_len = (size_t)snprintf(j->body, max + 32, "%zu %s", n, msg);
    free(msg);
    j->fd = socket(j->addr.ss_family,
                   (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (j->fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -2;
    }
    j->sstate = S_CONNECTING;
    if (udp) { /* a datagram to a non-blocking socket is sent or refused at once */
        ssize_t w = sendto(j->fd, j->body, j->body_len, MSG_NOSIGNAL,
                           (const struct sockaddr *)&j->addr, j->addrlen);
        int e = errno;
        alert_syslog_close(j);
        if (w == (ssize_t)j->body_len) return 1;
        snprintf(err, errcap, "udp send: %s", w < 0 ? strerror(e) : "short write");
        return w < 0 && e == EMSGSIZE ? -1 : -2; /* too big for a datagram: lower max_bytes */
    }
    if (connect(j->fd, (const struct sockaddr *)&j->addr, j->addrlen) != 0 &&
        errno != EINPROGRESS) {
        snprintf(err, errcap, "connect: %s", strerror(errno));
        return -2;
    }
    j->events = POLLOUT;
    if (tls && !(j->ssl = tls_client(j, err, errcap))) return -1;
    return 0;
}

int alert_syslog_step(alert_job *j, char *err, size_t errcap, bool *permanent)
{
    *permanent = false;
    if (j->sstate == S_CONNECTING) {
        struct pollfd pf = {j->fd, POLLOUT, 0};
        if (poll(&pf, 1, 0) == 0) return 0;
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) e = errno;
        if (e) {
            snprintf(err, errcap, "connect: %s", strerror(e));
            return -1;
        }
        j->sstate = j->ssl ? S_HANDSHAKE : S_WRITING;
    }
    if (j->sstate == S_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_connect(j->ssl);
        if (r != 1) {
            int e = SSL_get_error(j->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                j->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                return 0;
            }
            long v = SSL_get_verify_result(j->ssl);
            if (v != X509_V_OK)
                snprintf(err, errcap, "tls: certificate verify failed: %s",
                         X509_verify_cert_error_string(v));
            else
                snprintf(err, errcap, "tls handshake: %s",
                         ERR_peek_error() ? ERR_reason_error_string(ERR_peek_error())
                                          : "connection closed");
            ERR_clear_error();
            return -1;
        }
        j->sstate = S_WRITING;
    }
    if (j->sstate == S_WRITING) {
        while (j->sent < j->body_len) {
            const char *p = j->body + j->sent;
            size_t left = j->body_len - j->sent;
            ssize_t w;
            if (j->ssl) {
                ERR_clear_error();
                int r = SSL_write(j->ssl, p, (int)left);
                if (r <= 0) {
                    int e = SSL_get_error(j->ssl, r);
                    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                        j->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                        return 0;
                    }
                    snprintf(err, errcap, "tls write failed");
                    ERR_clear_error();
                    return -1;
                }
                w = r;
            } else {
                w = send(j->fd, p, left, MSG_NOSIGNAL);
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    j->events = POLLOUT;
                    return 0;
                }
                if (w < 0) {
                    snprintf(err, errcap, "send: %s", strerror(errno));
                    return -1;
                }
            }
            j->sent += (size_t)w;
        }
        alert_syslog_close(j);
        j->sstate = S_DONE;
        return 1;
    }
    return j->sstate == S_DONE ? 1 : -1;
}
