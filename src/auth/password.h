/* Password hashing (argon2id, PHC string format) and the password policy.
 *
 * Hashes are stored as the standard PHC string produced by libargon2:
 *   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>
 * (base64 without padding, 16-byte random salt, 32-byte hash). Verification reads the cost
 * from the string, so raising the cost later keeps old hashes valid; use
 * auth_password_needs_rehash() after a successful login to upgrade them.
 *
 * Cost profiles: AUTH_COST_PRODUCTION is OWASP's argon2id recommendation (m=19456 KiB, t=2,
 * p=1). AUTH_COST_TEST (m=256 KiB, t=1, p=1) is for test suites only: main.c selects it when
 * the environment has IOTAD_FAST_HASH=1 (auth_password_init_from_env) and logs a warning.
 * The profile is process-wide; set it once at start-up. */
#ifndef IOTAD_AUTH_PASSWORD_H
#define IOTAD_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t m_kib; /* memory, KiB */
    uint32_t t;     /* passes */
    uint32_t p;     /* lanes */
} auth_password_cost;

typedef enum { AUTH_COST_PRODUCTION = 0, AUTH_COST_TEST } auth_cost_profile;

/* Upper bounds accepted by verify (and by hash): an encoded string from a tampered or
 * corrupted database must not make the server allocate gigabytes or spin for minutes. */
#define AUTH_PASSWORD_MAX_M_KIB 262144u /* 256 MiB */
#define AUTH_PASSWORD_MAX_T 16u
#define AUTH_PASSWORD_MAX_P 8u
/* Longest password accepted by hash/verify (the policy's limit, 256 characters, is lower). */
#define AUTH_PASSWORD_MAX_INPUT 4096u
/* Room for an encoded string with our salt/hash sizes and the largest cost; 128 is plenty. */
#define AUTH_PASSWORD_ENCODED_MAX 128u

/* Password policy (NIST SP 800-63B style, no composition rules). */
#define AUTH_PASSWORD_MIN_CHARS 10
#define AUTH_PASSWORD_MAX_CHARS 256

void auth_password_set_cost(auth_cost_profile profile);
auth_cost_profile auth_password_get_profile(void);
/* The cost of a profile, for logs and tests. */
auth_password_cost auth_password_profile_cost(auth_cost_profile profile);
/* Selects AUTH_COST_TEST when IOTAD_FAST_HASH=1, else production; returns the profile chosen. */
auth_cost_profile auth_password_init_from_env(void);

/* Hashes pw[0..len) with the current profile into out (NUL-terminated PHC string).
 * 0 ok; -1 bad arguments (len > AUTH_PASSWORD_MAX_INPUT, cap too small); -2 RNG or argon2
 * failure (e.g. out of memory). */
int auth_password_hash(const char *pw, size_t len, char *out, size_t cap);
/* Same with an explicit cost (must be within the AUTH_PASSWORD_MAX_* bounds). */
int auth_password_hash_with(const auth_password_cost *cost, const char *pw, size_t len, char *out,
                            size_t cap);

/* 0 match, -1 mismatch, -2 malformed or unsupported encoding (only argon2id v=19 with cost
 * within bounds, salt 8..64 bytes, hash 16..64 bytes, canonical unpadded base64), -3 the hash
 * could not be computed (out of memory; logged). Anything but 0 must be treated as a failed
 * login. The comparison is constant-time. encoded may be NULL (-2). */
int auth_password_verify(const char *encoded, const char *pw, size_t len);

/* Parses the cost out of an encoded string without hashing anything.
 * 0 ok, -2 malformed (same rules as verify). */
int auth_password_inspect(const char *encoded, auth_password_cost *out);
/* True when encoded is malformed or its cost differs from the current profile. */
bool auth_password_needs_rehash(const char *encoded);

/* Spends the same time as a verify at the current cost and returns -1. Call it when the
 * account does not exist, so response time does not reveal which emails are registered. */
int auth_password_dummy_verify(const char *pw, size_t len);

/* Checks a new password: 0 acceptable, -1 rejected with *why set to a short static reason
 * suitable for showing to the user. Rules:
 *   - valid UTF-8 with no control characters (NUL, newline, DEL, ...); spaces are allowed;
 *   - length, counted in Unicode code points, from 10 to 256;
 *   - not a single character repeated, nor a run of consecutive ASCII characters ("0123456789",
 *     "abcdefghij", "9876543210");
 *   - not in a small built-in list of very common passwords (case-insensitive);
 *   - not equal (case-insensitive) to the whole email or its local part, when email is given.
 * email may be NULL. why may be NULL. */
int auth_password_policy(const char *pw, size_t len, const char *email, const char **why);

#endif
