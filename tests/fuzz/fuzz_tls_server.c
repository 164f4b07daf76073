/* libFuzzer driver for the TLS engine (net/tls) as a listener uses it: arbitrary bytes from a
 * client, fed whole and then in small pieces, must end in a handshake in progress, a refusal
 * with a reason, or plaintext, never a crash, an out-of-bounds access or a leak; whatever the
 * engine queues to send can be taken. The certificate is made once, in a temporary file. */
#include "net/tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tls_ctx *ctx;

static void init(void)
{
    char dir[] = "/tmp/iotad-fuzz-tls-XXXXXX", cert[64], key[64], err[256];
    if (!mkdtemp(dir)) abort();
    snprintf(cert, sizeof cert, "%s/c.pem", dir);
    snprintf(key, sizeof key, "%s/k.pem", dir);
    tls_options o = {cert, key, NULL};
    if (tls_self_signed(cert, key, "fuzz", err, sizeof err) != 0 ||
        tls_ctx_new(&o, &ctx, err, sizeof err) != 0)
        abort();
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static void drive(const uint8_t *data, size_t size, size_t piece)
{
    tls_conn *t = tls_conn_new(ctx);
    if (!t) return;
    char buf[4096];
    for (size_t off = 0; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (tls_conn_feed(t, data + off, n) != 0) {
            if (!tls_conn_error(t)[0]) abort(); /* a refusal says why */
            break;
        }
        while (tls_conn_read(t, buf, sizeof buf) > 0) {
        }
        while (tls_conn_take(t, buf, sizeof buf) > 0) {
        }
    }
    tls_conn_write(t, "x", 1);
    tls_conn_close_notify(t);
    while (tls_conn_take(t, buf, sizeof buf) > 0) {
    }
    tls_conn_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) init();
    if (size > 65536) return 0;
    drive(data, size, size ? size : 1);
    drive(data, size, 7);
    return 0;
}
