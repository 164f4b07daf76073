/* libFuzzer driver for secretbox_open: arbitrary stored values (a tampered database) must open
 * or be refused without a crash, an out-of-bounds read or a leak; the input taken as a
 * plaintext must seal and open back to itself, and not open under another context. */
#include "auth/secretbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SECRETBOX_SEALED_MAX) return 0;
    static iotad_keys k;
    if (k.n_secret == 0) {
        memset(&k, 0, sizeof k);
        for (int i = 0; i < 2; i++) {
            strcpy(k.secret[i].id, i ? "2" : "1");
            memset(k.secret[i].key, 0x40 + i, 32);
        }
        k.n_secret = 2;
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[SECRETBOX_PLAIN_MAX + 1];
    int rc = secretbox_open(&k, s, "ctx", out, sizeof out);
    if (rc != 0 && rc != -1 && rc != -2) abort();
    if (strlen(s) <= SECRETBOX_PLAIN_MAX) {
        char sealed[SECRETBOX_SEALED_MAX];
        if (secretbox_seal(&k, s, "ctx", sealed, sizeof sealed) != 0) abort();
        if (secretbox_open(&k, sealed, "ctx", out, sizeof out) != 0 || strcmp(out, s) != 0) abort();
        if (secretbox_open(&k, sealed, "other", out, sizeof out) == 0) abort();
    }
    free(s);
    return 0;
}
