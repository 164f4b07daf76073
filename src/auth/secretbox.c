/* See secretbox.h. OpenSSL EVP AES-256-GCM; every buffer that held plaintext or a key is
 * wiped before it is freed or goes out of scope. */
#include "auth/secretbox.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define AAD_PREFIX "iotad-secret v1\n"

bool secretbox_is_sealed(const char *s)
{
    return s && strncmp(s, SECRETBOX_PREFIX, sizeof SECRETBOX_PREFIX - 1) == 0;
}

static int aad(EVP_CIPHER_CTX *c, const char *context)
{
    int n;
    if (EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)AAD_PREFIX,
                         (int)(sizeof AAD_PREFIX - 1)) != 1)
        return -1;
    size_t cl = context ? strlen(context) : 0;
    if (cl && EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)context, (int)cl) != 1)
        return -1;
    return 0;
}

bool secretbox_is_current(const iotad_keys *k, const char *sealed)
{
    if (!secretbox_is_sealed(sealed) || k->n_secret == 0) return false;
    const char *id = sealed + sizeof SECRETBOX_PREFIX - 1, *cur = k->secret[k->n_secret - 1].id;
    size_t n = strlen(cur);
    return strncmp(id, cur, n) == 0 && id[n] == ':';
}

int secretbox_seal(const iotad_keys *k, const char *plain, const char *context, char *out,
                   size_t cap)
{
    size_t pl = strlen(plain);
    if (k->n_secret == 0 || pl > SECRETBOX_PLAIN_MAX) return -1;
    const keys_secret *key = &k->secret[k->n_secret - 1];
    unsigned char raw[NONCE_LEN + SECRETBOX_PLAIN_MAX + TAG_LEN];
    int rc = -1, n = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c || RAND_bytes(raw, NONCE_LEN) != 1 ||
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->key, raw) != 1 || aad(c, context) ||
        EVP_EncryptUpdate(c, raw + NONCE_LEN, &n, (const unsigned char *)plain, (int)pl) != 1 ||
        EVP_EncryptFinal_ex(c, raw + NONCE_LEN + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n + fin) != 1)
        goto done;
    size_t rawlen = NONCE_LEN + (size_t)n + (size_t)fin + TAG_LEN;
    size_t head = sizeof SECRETBOX_PREFIX - 1 + strlen(key->id) + 1;
    if (cap < head + 4 * ((rawlen + 2) / 3) + 1) goto done;
    memcpy(out, SECRETBOX_PREFIX, sizeof SECRETBOX_PREFIX - 1);
    strcpy(out + sizeof SECRETBOX_PREFIX - 1, key->id);
    out[head - 1] = ':';
    EVP_EncodeBlock((unsigned char *)out + head, raw, (int)rawlen);
    rc = 0;
done:
    EVP_CIPHER_CTX_free(c);
    explicit_bzero(raw, sizeof raw);
    return rc;
}

int secretbox_open(const iotad_keys *k, const char *sealed, const char *context, char *out,
                   size_t cap)
{
    if (!secretbox_is_sealed(sealed)) return -1;
    const char *id = sealed + sizeof SECRETBOX_PREFIX - 1;
    const char *colon = strchr(id, ':');
    if (!colon || colon == id || (size_t)(colon - id) >= KEYS_ID_MAX) return -1;
    char idbuf[KEYS_ID_MAX];
    memcpy(idbuf, id, (size_t)(colon - id));
    idbuf[colon - id] = '\0';
    const keys_secret *key = keys_find_secret(k, idbuf);
    const char *b64 = colon + 1;
    size_t bl = strlen(b64);
    if (!key || bl % 4 != 0 || bl < 4 * ((NONCE_LEN + TAG_LEN + 2) / 3) ||
        bl > 4 * ((NONCE_LEN + SECRETBOX_PLAIN_MAX + TAG_LEN + 2) / 3))
        return -1;
    unsigned char raw[NONCE_LEN + SECRETBOX_PLAIN_MAX + TAG_LEN + 3];
    int decoded = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)bl);
    if (decoded < 0) return -1;
    /* EVP_DecodeBlock counts the '=' padding as zero bytes */
    size_t rawlen =
        (size_t)decoded - (bl >= 1 && b64[bl - 1] == '=') - (bl >= 2 && b64[bl - 2] == '=');
    if (rawlen < NONCE_LEN + TAG_LEN) return -1;
    size_t ctlen = rawlen - NONCE_LEN - TAG_LEN;
    if (ctlen + 1 > cap) {
        explicit_bzero(raw, sizeof raw);
        return -2;
    }
    int rc = -1, n = 0, fin = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key->key, raw) == 1 &&
        aad(c, context) == 0 &&
        EVP_DecryptUpdate(c, (unsigned char *)out, &n, raw + NONCE_LEN, (int)ctlen) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ctlen) == 1 &&
        EVP_DecryptFinal_ex(c, (unsigned char *)out + n, &fin) == 1) {
        out[n + fin] = '\0';
        rc = memchr(out, '\0', (size_t)(n + fin)) ? -1 : 0; /* a C string holds no NUL */
    }
    if (rc != 0) explicit_bzero(out, cap);
    EVP_CIPHER_CTX_free(c);
    explicit_bzero(raw, sizeof raw);
    return rc;
}
