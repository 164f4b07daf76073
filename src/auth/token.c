/* Session tokens and API keys. Randomness from util_random (OpenSSL's CSPRNG), hashes from
 * util_sha256_hex.
 *
 * Why a plain SHA-256 and not argon2 for these: a password is low-entropy and chosen by a
 * person, so its stored hash must be slow to make offline guessing expensive. Tokens and API
 * keys are 190+ bits from a CSPRNG: no dictionary exists and brute force of 2^190 is out of
 * reach whatever the hash speed, so a fast hash loses nothing, and it keeps per-request
 * authentication (every MQTT connect, every HTTP ingest) at microseconds instead of tens of
 * milliseconds of argon2. It also makes the hash a usable database lookup key. */
#include "auth/token.h"

#include "core/util.h"

#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#define TOKEN_BYTES 32

static int b64url_value(char c)
{
    const char *p = c ? memchr(b64url, c, 64) : NULL;
    return p ? (int)(p - b64url) : -1;
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int auth_token_new(char *token_out, size_t cap, char hash_hex_out[65])
{
    if (!token_out || cap <= AUTH_TOKEN_LEN) {
        if (token_out && cap) token_out[0] = '\0';
        return -1;
    }
    uint8_t b[TOKEN_BYTES + 1]; /* one spare zero byte so the last group reads safely */
    if (util_random(b, TOKEN_BYTES) != 0) {
        token_out[0] = '\0';
        return -1;
    }
    b[TOKEN_BYTES] = 0;
    size_t o = 0;
    for (size_t i = 0; i < TOKEN_BYTES; i += 3) {
        uint32_t v =
            (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | (i + 2 < TOKEN_BYTES ? b[i + 2] : 0);
        token_out[o++] = b64url[(v >> 18) & 63];
        token_out[o++] = b64url[(v >> 12) & 63];
        token_out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < TOKEN_BYTES) token_out[o++] = b64url[v & 63];
    }
    token_out[o] = '\0'; /* o == AUTH_TOKEN_LEN */
    util_sha256_hex(token_out, o, hash_hex_out);
    explicit_bzero(b, sizeof b);
    return 0;
}

void auth_token_hash(const char *token, char out[65])
{
    util_sha256_hex(token, strlen(token), out);
}

bool auth_token_format_ok(const char *token, size_t len)
{
    if (!token || len != AUTH_TOKEN_LEN) return false;
    for (size_t i = 0; i < len; i++)
        if (b64url_value(token[i]) < 0) return false;
    /* 43 chars carry 258 bits for 256: the last character's two low bits are always zero. */
    return (b64url_value(token[len - 1]) & 3) == 0;
}

/* Uniform base62 characters by rejection sampling (248 = 4 * 62), so no character is more
 * likely than another. */
static int random_base62(char *out, size_t n)
{
    uint8_t buf[64];
    size_t o = 0;
    while (o < n) {
        if (util_random(buf, sizeof buf) != 0) return -1;
        for (size_t i = 0; i < sizeof buf && o < n; i++)
            if (buf[i] < 248) out[o++] = base62[buf[i] % 62];
    }
    explicit_bzero(buf, sizeof buf);
    return 0;
}

/* A key of the shape tag + 8 base62 + "_" + 32 base62 (device API keys and user API tokens
 * differ only in their tag). */
static int key_new(const char *tag, size_t total, char *key_out, size_t cap, char prefix_out[16],
                   char hash_out[65])
{
    if (!key_out || cap <= total) {
        if (key_out && cap) key_out[0] = '\0';
        return -1;
    }
    const size_t taglen = strlen(tag);
    memcpy(key_out, tag, taglen);
    char *prefix = key_out + taglen;
    char *secret = prefix + AUTH_APIKEY_PREFIX_LEN + 1;
    if (random_base62(prefix, AUTH_APIKEY_PREFIX_LEN) != 0 ||
        random_base62(secret, AUTH_APIKEY_SECRET_LEN) != 0) {
        explicit_bzero(key_out, total);
        key_out[0] = '\0';
        return -1;
    }
    prefix[AUTH_APIKEY_PREFIX_LEN] = '_';
    key_out[total] = '\0';
    memcpy(prefix_out, prefix, AUTH_APIKEY_PREFIX_LEN);
    prefix_out[AUTH_APIKEY_PREFIX_LEN] = '\0';
    util_sha256_hex(key_out, total, hash_out);
    return 0;
}

static int key_parse(const char *tag, const char *key, size_t len, char prefix_out[16])
{
    const size_t taglen = strlen(tag);
    const size_t min = taglen + AUTH_APIKEY_PREFIX_LEN + 1 + AUTH_APIKEY_SECRET_LEN;
    const size_t max = taglen + AUTH_APIKEY_PREFIX_LEN + 1 + AUTH_APIKEY_SECRET_MAX;
    if (prefix_out) prefix_out[0] = '\0';
    if (!key || len < min || len > max) return -1;
    if (memcmp(key, tag, taglen) != 0) return -1;
    for (size_t i = taglen; i < len; i++) {
        bool sep = i == taglen + AUTH_APIKEY_PREFIX_LEN;
        if (sep ? key[i] != '_' : !is_base62(key[i])) return -1;
    }
    if (prefix_out) {
        memcpy(prefix_out, key + taglen, AUTH_APIKEY_PREFIX_LEN);
        prefix_out[AUTH_APIKEY_PREFIX_LEN] = '\0';
    }
    return 0;
}

int auth_apikey_new(char *key_out, size_t cap, char prefix_out[16], char hash_out[65])
{
    return key_new(AUTH_APIKEY_TAG, AUTH_APIKEY_LEN, key_out, cap, prefix_out, hash_out);
}

int auth_apikey_parse(const char *key, size_t len, char prefix_out[16])
{
    return key_parse(AUTH_APIKEY_TAG, key, len, prefix_out);
}

void auth_apikey_hash(const char *key, size_t len, char out[65])
{
    util_sha256_hex(key, len, out);
}

bool auth_apikey_verify(const char *key, size_t len, const char *stored_hash)
{
    if (!stored_hash || strnlen(stored_hash, 65) != 64) return false;
    if (auth_apikey_parse(key, len, NULL) != 0) return false;
    char h[65];
    auth_apikey_hash(key, len, h);
    return util_ct_equal(h, stored_hash, 64);
}

int auth_apitoken_new(char *token_out, size_t cap, char prefix_out[16], char hash_out[65])
{
    return key_new(AUTH_APITOKEN_TAG, AUTH_APITOKEN_LEN, token_out, cap, prefix_out, hash_out);
}

int auth_apitoken_parse(const char *token, size_t len, char prefix_out[16])
{
    return key_parse(AUTH_APITOKEN_TAG, token, len, prefix_out);
}

bool auth_apitoken_verify(const char *token, size_t len, const char *stored_hash)
{
    if (!stored_hash || strnlen(stored_hash, 65) != 64) return false;
    if (auth_apitoken_parse(token, len, NULL) != 0) return false;
    char h[65];
    util_sha256_hex(token, len, h);
    return util_ct_equal(h, stored_hash, 64);
}
