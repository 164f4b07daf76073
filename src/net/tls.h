/* TLS for the listeners: OpenSSL with memory BIOs, so the listeners keep their libuv streams
 * and buffers and only pass bytes through here. No I/O and no libuv in this module:
 *
 *   socket --ciphertext--> tls_conn_feed() ... tls_conn_read() --plaintext--> parser
 *   writer --plaintext--> tls_conn_write() ... tls_conn_take() --ciphertext--> socket
 *
 * Handshake records, alerts and TLS 1.3 session tickets come out of tls_conn_take() in order
 * with the application records, so a listener sends whatever it takes, as it takes it.
 *
 * A tls_ctx holds the certificate and key of one or more listeners (TLS 1.2 and 1.3, server
 * cipher preference, no compression, no renegotiation); tls_ctx_reload swaps in new files
 * (SIGHUP) for the next handshakes while established connections keep theirs. With a client
 * CA file, clients are asked for a certificate; one that is presented must verify, and its
 * subject CN is available to the application (devices authenticated by certificate). */
#ifndef IOTAD_NET_TLS_H
#define IOTAD_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    const char *cert_file;      /* PEM: certificate, then its chain */
    const char *key_file;       /* PEM private key */
    const char *client_ca_file; /* PEM CAs of client certificates, or NULL/"" for none */
} tls_options;

typedef struct tls_ctx tls_ctx;
typedef struct tls_conn tls_conn;

/* Loads certificate and key (and client CAs). 0 ok; -1 with err (file, reason). */
int tls_ctx_new(const tls_options *opt, tls_ctx **out, char *err, size_t errcap);
/* Re-reads the files given at creation; on failure the old ones stay in use. 0 ok, -1 + err. */
int tls_ctx_reload(tls_ctx *c, char *err, size_t errcap);
/* Frees the context; connections made from it stay valid (they hold their own reference). */
void tls_ctx_free(tls_ctx *c);
/* Subject and notAfter of the current certificate, for the log. */
void tls_ctx_describe(tls_ctx *c, char *out, size_t cap);

/* Writes a self-signed certificate (EC P-256, SHA-256, valid 825 days, CN and DNS SAN =
 * host, plus IP SANs 127.0.0.1 and ::1) and its key (0600) to the two paths.
 * 0 ok, -1 + err. */
int tls_self_signed(const char *cert_file, const char *key_file, const char *host, char *err,
                    size_t errcap);

/* A server-side connection. NULL when out of memory. */
tls_conn *tls_conn_new(tls_ctx *c);
void tls_conn_free(tls_conn *t);
/* Ciphertext from the peer; advances the handshake. 0 ok, -1 fatal (tls_conn_error). */
int tls_conn_feed(tls_conn *t, const void *data, size_t len);
/* Plaintext received: > 0 bytes copied into buf, 0 none now, -1 fatal error, -2 the peer
 * closed (close_notify). */
ssize_t tls_conn_read(tls_conn *t, void *buf, size_t cap);
/* True while decrypted or undecrypted input waits (call tls_conn_read again). */
bool tls_conn_readable(const tls_conn *t);
/* Plaintext to send: sealed into records now, or held until the handshake completes.
 * 0 ok, -1 fatal. */
int tls_conn_write(tls_conn *t, const void *data, size_t len);
/* Bytes of ciphertext waiting to be sent (tls_conn_take). */
size_t tls_conn_pending(const tls_conn *t);
/* Moves up to cap bytes of waiting ciphertext into buf; returns the count. */
size_t tls_conn_take(tls_conn *t, void *buf, size_t cap);
/* Queues close_notify (take and send it before closing the socket). */
void tls_conn_close_notify(tls_conn *t);
bool tls_conn_established(const tls_conn *t);
/* The verified client certificate's subject CN into out: 0, or -1 when there is none. */
int tls_conn_peer_cn(const tls_conn *t, char *out, size_t cap);
/* Why the connection failed ("" if it did not); static or owned by t. */
const char *tls_conn_error(const tls_conn *t);
/* Negotiated protocol and cipher ("TLSv1.3 TLS_AES_128_GCM_SHA256"), for the log. */
void tls_conn_describe(const tls_conn *t, char *out, size_t cap);

#endif
