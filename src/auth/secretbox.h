/* Secrets at rest: AES-256-GCM with a key from the key file (auth/keyfile.h), never stored
 * in the database. A sealed secret is text, so it fits the TEXT columns it replaces:
 *
 *   enc:v1:<key id>:<base64(nonce[12] || ciphertext || tag[16])>
 *
 * The nonce is random per seal (96 bits; a key seals far fewer than 2^32 secrets). The
 * additional authenticated data is "iotad-secret v1\n" + context, where the caller passes what
 * the secret belongs to (a channel id), so a sealed value copied to another row does not
 * open. The key id says which key of the file sealed it, which is what lets
 * `iotad secrets rotate` re-seal with a new key while old values still open. */
#ifndef IOTAD_AUTH_SECRETBOX_H
#define IOTAD_AUTH_SECRETBOX_H

#include "auth/keyfile.h"

#include <stdbool.h>
#include <stddef.h>

#define SECRETBOX_PREFIX "enc:v1:"
/* Longest plaintext sealed; the sealed text of that is under SECRETBOX_SEALED_MAX. */
#define SECRETBOX_PLAIN_MAX 4096
#define SECRETBOX_SEALED_MAX (8 + KEYS_ID_MAX + (12 + SECRETBOX_PLAIN_MAX + 16) * 4 / 3 + 8)

/* True when s has the sealed form's prefix (it may still fail to open). */
bool secretbox_is_sealed(const char *s);
/* Seals plain (NUL-terminated, <= SECRETBOX_PLAIN_MAX bytes) with the current key of k into
 * out (cap bytes). 0 ok, -1 too long / no key / crypto failure. */
int secretbox_seal(const iotad_keys *k, const char *plain, const char *context, char *out,
                   size_t cap);
/* True when sealed was sealed with the key that seals now (nothing to re-seal). */
bool secretbox_is_current(const iotad_keys *k, const char *sealed);
/* Opens a sealed value into out (cap bytes, NUL-terminated). 0 ok; -1 malformed, unknown key
 * id or authentication failure (wrong key, wrong context, tampered); -2 out too small. */
int secretbox_open(const iotad_keys *k, const char *sealed, const char *context, char *out,
                   size_t cap);

#endif
