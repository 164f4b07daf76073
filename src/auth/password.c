/* Password hashing with argon2id (libargon2) and the password policy.
 *
 * Hashing uses libargon2's own PHC encoder. Verification parses the PHC string here, strictly
 * and with bounded cost, then recomputes the raw hash with argon2id_hash_raw and compares in
 * constant time: libargon2's argon2id_verify would accept any m/t/p the string asks for, so a
 * corrupted row could make one login allocate 4 TiB or run for hours. */
#include "auth/password.h"

#include "core/log.h"
#include "core/util.h"

#include <argon2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define HASH_LEN 32
#define MIN_SALT 8
#define MAX_SALT 64
#define MIN_HASH 16
#define MAX_HASH 64
#define ENCODED_SCAN_MAX 512 /* longer strings are malformed without further reading */

static const auth_password_cost cost_production = {19456, 2, 1}; /* OWASP 2023, argon2id */
static const auth_password_cost cost_test = {256, 1, 1};

/* Process-wide, set once at start-up (like the log level); atomic so a late change is safe. */
static _Atomic int current_profile = AUTH_COST_PRODUCTION;

auth_password_cost auth_password_profile_cost(auth_cost_profile profile)
{
    return profile == AUTH_COST_TEST ? cost_test : cost_production;
}

void auth_password_set_cost(auth_cost_profile profile)
{
    atomic_store(&current_profile,
                 profile == AUTH_COST_TEST ? AUTH_COST_TEST : AUTH_COST_PRODUCTION);
}

auth_cost_profile auth_password_get_profile(void)
{
    return (auth_cost_profile)atomic_load(&current_profile);
}

auth_cost_profile auth_password_init_from_env(void)
{
    const char *v = getenv("IOTAD_FAST_HASH");
    auth_cost_profile p = (v && strcmp(v, "1") == 0) ? AUTH_COST_TEST : AUTH_COST_PRODUCTION;
    auth_password_set_cost(p);
    if (p == AUTH_COST_TEST)
        log_warn("password_fast_hash",
                 "reason=IOTAD_FAST_HASH=1 m_kib=%u t=%u p=%u "
                 "note=\"test profile, never use in production\"",
                 cost_test.m_kib, cost_test.t, cost_test.p);
    return p;
}

static bool cost_in_bounds(const auth_password_cost *c)
{
    return c->p >= 1 && c->p <= AUTH_PASSWORD_MAX_P && c->t >= 1 && c->t <= AUTH_PASSWORD_MAX_T &&
           c->m_kib >= 8 * c->p && c->m_kib <= AUTH_PASSWORD_MAX_M_KIB;
}

int auth_password_hash_with(const auth_password_cost *cost, const char *pw, size_t len, char *out,
                            size_t cap)
{
    if (!cost || !out || (!pw && len) || len > AUTH_PASSWORD_MAX_INPUT || !cost_in_bounds(cost))
        return -1;
    size_t need = argon2_encodedlen(cost->t, cost->m_kib, cost->p, SALT_LEN, HASH_LEN, Argon2_id);
    if (cap < need) return -1;
    uint8_t salt[SALT_LEN];
    if (util_random(salt, sizeof salt) != 0) {
        log_error("password_hash_failed", "reason=rng");
        return -2;
    }
    int rc = argon2id_hash_encoded(cost->t, cost->m_kib, cost->p, pw, len, salt, sizeof salt,
                                   HASH_LEN, out, cap);
    if (rc != ARGON2_OK) {
        log_error("password_hash_failed", "reason=\"%s\"", argon2_error_message(rc));
        out[0] = '\0';
        return -2;
    }
    return 0;
}

int auth_password_hash(const char *pw, size_t len, char *out, size_t cap)
{
    auth_password_cost c = auth_password_profile_cost(auth_password_get_profile());
    return auth_password_hash_with(&c, pw, len, out, cap);
}

/* ---- PHC string parsing ---- */

typedef struct {
    auth_password_cost cost;
    uint8_t salt[MAX_SALT];
    size_t salt_len;
    uint8_t hash[MAX_HASH];
    size_t hash_len;
} phc;

static bool eat(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0) return false;
    *p += n;
    return true;
}

/* Decimal without sign or leading zeros (PHC rule), at most UINT32_MAX. */
static bool parse_u32(const char **p, const char *end, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;
    while (s + n < end && s[n] >= '0' && s[n] <= '9') {
        v = v * 10 + (uint64_t)(s[n] - '0');
        if (v > UINT32_MAX) return false;
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0')) return false;
    *out = (uint32_t)v;
    *p = s + n;
    return true;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard alphabet, no padding, unused trailing bits must be zero (canonical form).
 * Decodes in[0..n) into out (cap bytes); returns the decoded length or -1. */
static long b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1) return -1;
    size_t olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (olen > cap) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (acc != 0) return -1; /* non-canonical: leftover bits set */
    return (long)o;
}

static int phc_parse(const char *encoded, phc *out)
{
    if (!encoded) return -2;
    size_t n = strnlen(encoded, ENCODED_SCAN_MAX + 1);
    if (n > ENCODED_SCAN_MAX) return -2;
    const char *p = encoded, *end = encoded + n;
    if (!eat(&p, end, "$argon2id$v=19$m=") || !parse_u32(&p, end, &out->cost.m_kib) ||
        !eat(&p, end, ",t=") || !parse_u32(&p, end, &out->cost.t) || !eat(&p, end, ",p=") ||
        !parse_u32(&p, end, &out->cost.p) || !eat(&p, end, "$"))
        return -2;
    if (!cost_in_bounds(&out->cost)) return -2;
    const char *salt = p;
    const char *dollar = memchr(salt, '$', (size_t)(end - salt));
    if (!dollar) return -2;
    long sl = b64_decode(salt, (size_t)(dollar - salt), out->salt, sizeof out->salt);
    if (sl < MIN_SALT) return -2;
    const char *hash = dollar + 1;
    long hl = b64_decode(hash, (size_t)(end - hash), out->hash, sizeof out->hash);
    if (hl < MIN_HASH) return -2;
    out->salt_len = (size_t)sl;
    out->hash_len = (size_t)hl;
    return 0;
}

int auth_password_inspect(const char *encoded, auth_password_cost *out)
{
    phc ph;
    if (phc_parse(encoded, &ph) != 0) return -2;
    if (out) *out = ph.cost;
    return 0;
}

bool auth_password_needs_rehash(const char *encoded)
{
    auth_password_cost c;
    if (auth_password_inspect(encoded, &c) != 0) return true;
    auth_password_cost want = auth_password_profile_cost(auth_password_get_profile());
    return c.m_kib != want.m_kib || c.t != want.t || c.p != want.p;
}

int auth_password_verify(const char *encoded, const char *pw, size_t len)
{
    phc ph;
    if (phc_parse(encoded, &ph) != 0) return -2;
    if ((!pw && len) || len > AUTH_PASSWORD_MAX_INPUT) return -1;
    uint8_t got[MAX_HASH];
    int rc = argon2id_hash_raw(ph.cost.t, ph.cost.m_kib, ph.cost.p, pw, len, ph.salt, ph.salt_len,
                               got, ph.hash_len);
    int result;
    if (rc != ARGON2_OK) {
        log_error("password_verify_failed", "reason=\"%s\"", argon2_error_message(rc));
        result = -3;
    } else {
        result = util_ct_equal(got, ph.hash, ph.hash_len) ? 0 : -1;
    }
    explicit_bzero(got, sizeof got);
    return result;
}

int auth_password_dummy_verify(const char *pw, size_t len)
{
    /* A fixed salt is fine: the result is thrown away, only the time spent matters. */
    static const uint8_t salt[SALT_LEN] = "iotad-dummy-salt";
    auth_password_cost c = auth_password_profile_cost(auth_password_get_profile());
    uint8_t out[HASH_LEN];
    if (len > AUTH_PASSWORD_MAX_INPUT || (!pw && len)) len = 0;
    (void)argon2id_hash_raw(c.t, c.m_kib, c.p, len ? pw : "", len, salt, sizeof salt, out,
                            sizeof out);
    explicit_bzero(out, sizeof out);
    return -1;
}

/* ---- policy ---- */

/* Very common passwords of 10+ characters (shorter ones fail the length rule anyway), from
 * public breach top lists; compared case-insensitively. Deliberately small: this catches the
 * obvious, the throttle handles online guessing. */
static const char *const common_passwords[] = {
    "1234567890",  "0987654321",    "1q2w3e4r5t",   "1q2w3e4r5t6y", "1qaz2wsx3edc", "qwertyuiop",
    "asdfghjkl;",  "zxcvbnm123",    "qazwsxedc1",   "qazwsxedcrfv", "zaq12wsx34",   "password1!",
    "password12",  "password123",   "password1234", "passw0rd123",  "p@ssw0rd123",  "p@ssword123",
    "iloveyou12",  "iloveyou123",   "qwerty1234",   "qwerty12345",  "qwerty123456", "123456789a",
    "a123456789",  "1234567891",    "12345678910",  "123456789abc", "abc1234567",   "abcd123456",
    "abcd1234567", "welcome123",    "welcome1234",  "letmein123",   "changeme123",  "administrator",
    "admin12345",  "admin123456",   "trustno1234",  "football123",  "baseball123",  "sunshine123",
    "princess123", "superman123",   "starwars123",  "dragon1234",   "monkey1234",   "iotad12345",
    "iotadiotad",  "iotadpassword",
};

static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

/* Strict UTF-8 (no overlongs, surrogates or > U+10FFFF). Returns the number of code points,
 * or -1 if invalid or a control character (C0, DEL, C1) is present. */
static long utf8_count(const unsigned char *s, size_t n)
{
    long count = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t extra;
        if (c < 0x80) {
            cp = c;
            extra = 0;
        } else if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            extra = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            extra = 3;
        } else {
            return -1;
        }
        if (n - i - 1 < extra) return -1;
        for (size_t k = 1; k <= extra; k++) {
            unsigned char cc = s[i + k];
            if ((cc & 0xc0) != 0x80) return -1;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return -1;
        i += extra + 1;
        count++;
    }
    return count;
}

static bool repetitive_or_sequential(const char *pw, size_t len)
{
    if (len < 2) return false;
    bool same = true, up = true, down = true;
    for (size_t i = 1; i < len; i++) {
        int d = (unsigned char)pw[i] - (unsigned char)pw[i - 1];
        same = same && d == 0;
        up = up && d == 1;
        down = down && d == -1;
    }
    /* Multi-byte UTF-8 repeats ("ééé...") are caught too: compare whole sequences. */
    if (!same && (unsigned char)pw[0] >= 0x80) {
        size_t cl = 1;
        while (cl < len && ((unsigned char)pw[cl] & 0xc0) == 0x80)
            cl++;
        if (len % cl == 0) {
            same = true;
            for (size_t i = cl; i < len && same; i += cl)
                same = memcmp(pw, pw + i, cl) == 0;
        }
    }
    return same || up || down;
}

int auth_password_policy(const char *pw, size_t len, const char *email, const char **why)
{
    const char *reason = NULL;
    long chars = pw ? utf8_count((const unsigned char *)pw, len) : -1;
    if (chars < 0)
        reason = "password contains invalid or control characters";
    else if (chars < AUTH_PASSWORD_MIN_CHARS)
        reason = "password is too short (at least 10 characters)";
    else if (chars > AUTH_PASSWORD_MAX_CHARS)
        reason = "password is too long (at most 256 characters)";
    else if (repetitive_or_sequential(pw, len))
        reason = "password is a repeated or sequential run of characters";
    if (!reason) {
        for (size_t i = 0; i < sizeof common_passwords / sizeof common_passwords[0]; i++) {
            if (ieq(pw, len, common_passwords[i], strlen(common_passwords[i]))) {
                reason = "password is too common";
                break;
            }
        }
    }
    if (!reason && email && *email) {
        size_t elen = strlen(email);
        const char *at = strrchr(email, '@');
        size_t local = at ? (size_t)(at - email) : elen;
        if (ieq(pw, len, email, elen) || (local > 0 && ieq(pw, len, email, local)))
            reason = "password must not be the same as the email address";
    }
    if (why) *why = reason;
    return reason ? -1 : 0;
}
