/* Session tokens and device API keys: generation, strict format checks, storage hashes.
 *
 * Session token: 32 random bytes as unpadded base64url (43 characters), handed to the client
 * once (cookie or bearer); the server stores only SHA-256(token) as 64 lowercase hex and finds
 * the session by that hash.
 *
 * API key: "iotad_<prefix>_<secret>", prefix 8 and secret 32 base62 characters (~190 bits of
 * entropy), 47 characters in all. The store keeps the 8-character prefix (shown in the UI and
 * used to find the row; it is UNIQUE in the schema, so retry generation on a collision) and
 * SHA-256 hex of the whole key. The parser accepts secrets of 32..64 characters so keys can
 * grow later without a format change.
 *
 * API token (a user's long-lived credential for integrations, e.g. MQTT subscriptions from
 * Node-RED): "iotad_tok_<prefix>_<secret>", the same prefix and secret as an API key behind
 * another tag (51 characters), so neither kind ever parses as the other. Stored the same way:
 * the prefix (UNIQUE) and the SHA-256 hex of the whole token. */
#ifndef IOTAD_AUTH_TOKEN_H
#define IOTAD_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_TOKEN_LEN 43 /* characters, without the NUL */

#define AUTH_APIKEY_TAG "iotad_"
#define AUTH_APIKEY_PREFIX_LEN 8
#define AUTH_APIKEY_SECRET_LEN 32 /* what auth_apikey_new generates */
#define AUTH_APIKEY_SECRET_MAX 64 /* the longest secret auth_apikey_parse accepts */
#define AUTH_APIKEY_LEN 47        /* 6 + 8 + 1 + 32, without the NUL */
#define AUTH_APIKEY_MAX_LEN (6 + 8 + 1 + AUTH_APIKEY_SECRET_MAX)

/* Writes a new token (AUTH_TOKEN_LEN chars + NUL; cap must be > AUTH_TOKEN_LEN) and its
 * storage hash. 0 ok, -1 cap too small or RNG failure (out is then an empty string). */
int auth_token_new(char *token_out, size_t cap, char hash_hex_out[65]);
/* SHA-256 hex of the NUL-terminated token, for the session lookup. */
void auth_token_hash(const char *token, char out[65]);
/* True when token[0..len) has exactly the shape auth_token_new produces. Check this before
 * hashing a client-supplied value so garbage never reaches the database. */
bool auth_token_format_ok(const char *token, size_t len);

/* Writes a new key (AUTH_APIKEY_LEN chars + NUL; cap must be > AUTH_APIKEY_LEN), its prefix
 * (8 chars + NUL) and the SHA-256 hex of the whole key. 0 ok, -1 cap too small or RNG failure. */
int auth_apikey_new(char *key_out, size_t cap, char prefix_out[16], char hash_out[65]);
/* Validates key[0..len) strictly ("iotad_", 8 base62, "_", 32..64 base62, nothing else) and
 * copies the prefix. 0 ok, -1 malformed (prefix_out is then ""). prefix_out may be NULL. */
int auth_apikey_parse(const char *key, size_t len, char prefix_out[16]);
/* SHA-256 hex of key[0..len). */
void auth_apikey_hash(const char *key, size_t len, char out[65]);
/* True when key[0..len) is well formed and hashes to stored_hash (64 hex chars), compared in
 * constant time. */
bool auth_apikey_verify(const char *key, size_t len, const char *stored_hash);

#define AUTH_APITOKEN_TAG "iotad_tok_"
#define AUTH_APITOKEN_LEN 51 /* 10 + 8 + 1 + 32, without the NUL */
#define AUTH_APITOKEN_MAX_LEN (10 + 8 + 1 + AUTH_APIKEY_SECRET_MAX)

/* As auth_apikey_new / _parse / _verify, for API tokens (cap must be > AUTH_APITOKEN_LEN). */
int auth_apitoken_new(char *token_out, size_t cap, char prefix_out[16], char hash_out[65]);
int auth_apitoken_parse(const char *token, size_t len, char prefix_out[16]);
bool auth_apitoken_verify(const char *token, size_t len, const char *stored_hash);

#endif
