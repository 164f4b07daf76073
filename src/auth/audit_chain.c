/* Audit log hash chain: canonical encoding of a row, the chained SHA-256 or HMAC-SHA-256,
 * Ed25519-signed checkpoints, and a streaming verifier that stops at the first broken link.
 * The digest is fed field by field through one EVP context, so rows of any size hash without
 * building the canonical text in memory. */
#include "auth/audit_chain.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* One hashing context: a plain digest or an HMAC, fed the same way. */
typedef struct {
    EVP_MD_CTX *md;
    EVP_MAC_CTX *mac;
} hasher;

static int feed(hasher *h, const void *p, size_t n)
{
    return (h->mac ? EVP_MAC_update(h->mac, p, n) : EVP_DigestUpdate(h->md, p, n)) == 1 ? 0 : -1;
}

static int feed_field(hasher *h, const char *s, size_t n)
{
    char len[24];
    int k = snprintf(len, sizeof len, "%zu:", n);
    if (feed(h, len, (size_t)k) || feed(h, s, n) || feed(h, ";", 1)) return -1;
    return 0;
}

static int feed_str(hasher *h, const char *s)
{
    return s ? feed_field(h, s, strlen(s)) : feed(h, "-;", 2);
}

static int feed_int(hasher *h, int64_t v)
{
    char num[24];
    int k = snprintf(num, sizeof num, "%" PRId64, v);
    return feed_field(h, num, (size_t)k);
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int audit_chain_mac(const uint8_t *key, const char prev_hex[65], const audit_row *row,
                    char out_hex[65])
{
    int rc = -1;
    uint8_t md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    unsigned int mdlen_u = 0;
    out_hex[0] = '\0';
    hasher h = {NULL, NULL};
    EVP_MAC *mac = NULL;
    if (key) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        h.mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
        if (!h.mac || EVP_MAC_init(h.mac, key, 32, params) != 1) goto done;
    } else {
        h.md = EVP_MD_CTX_new();
        if (!h.md || EVP_DigestInit_ex(h.md, EVP_sha256(), NULL) != 1) goto done;
    }
    if (feed(&h, prev_hex, strnlen(prev_hex, 64)) || feed(&h, "\n", 1) || feed_int(&h, row->seq) ||
        feed_int(&h, row->ts_ms) || feed_str(&h, row->actor) || feed_str(&h, row->action) ||
        feed_str(&h, row->target) || feed_str(&h, row->detail) || feed_str(&h, row->peer))
        goto done;
    if (key ? EVP_MAC_final(h.mac, md, &mdlen, sizeof md) != 1
            : EVP_DigestFinal_ex(h.md, md, &mdlen_u) != 1)
        goto done;
    if ((key ? mdlen : mdlen_u) != 32) goto done;
    to_hex(md, 32, out_hex);
    rc = 0;
done:
    EVP_MAC_CTX_free(h.mac);
    EVP_MAC_free(mac);
    EVP_MD_CTX_free(h.md);
    return rc;
}

int audit_chain_hash(const char prev_hex[65], const audit_row *row, char out_hex[65])
{
    return audit_chain_mac(NULL, prev_hex, row, out_hex);
}

/* --- checkpoints ------------------------------------------------------------------------ */

#define CP_MAGIC "iotad-audit-checkpoint v1 "

static int signed_text(int64_t ts_ms, int64_t seq, const char head[65], char *out, size_t cap)
{
    int n =
        snprintf(out, cap, CP_MAGIC "ts=%" PRId64 " seq=%" PRId64 " head=%.64s", ts_ms, seq, head);
    return n > 0 && (size_t)n < cap ? n : -1;
}

int audit_checkpoint_format(const uint8_t seed[32], int64_t ts_ms, int64_t seq, const char head[65],
                            char *out, size_t cap)
{
    char text[AUDIT_CHECKPOINT_LINE_MAX];
    int n = signed_text(ts_ms, seq, head, text, sizeof text);
    if (n < 0 || strnlen(head, 65) != 64) return -1;
    uint8_t sig[64];
    size_t siglen = sizeof sig;
    int rc = -1;
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (pk && c && EVP_DigestSignInit(c, NULL, NULL, NULL, pk) == 1 &&
        EVP_DigestSign(c, sig, &siglen, (const unsigned char *)text, (size_t)n) == 1 &&
        siglen == 64 && (size_t)n + 5 + 128 < cap) {
        memcpy(out, text, (size_t)n);
        memcpy(out + n, " sig=", 5);
        to_hex(sig, 64, out + n + 5);
        rc = 0;
    }
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(pk);
    return rc;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads "<name>=<digits>" at *p (within end); advances past it. */
static int take_int(const char **p, const char *end, const char *name, int64_t *out)
{
    size_t nl = strlen(name);
    if ((size_t)(end - *p) <= nl || memcmp(*p, name, nl) != 0) return -1;
    const char *q = *p + nl;
    int64_t v = 0;
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        if (digits++ >= 18) return -1;
        v = v * 10 + (*q++ - '0');
    }
    if (!digits) return -1;
    *out = v;
    *p = q;
    return 0;
}

/* Reads "<name>=<2n lowercase hex>" at *p into out (n bytes) or, with text, as a string. */
static int take_hex(const char **p, const char *end, const char *name, size_t n, uint8_t *out,
                    char *text)
{
    size_t nl = strlen(name);
    if ((size_t)(end - *p) < nl + 2 * n || memcmp(*p, name, nl) != 0) return -1;
    const char *q = *p + nl;
    for (size_t i = 0; i < n; i++) {
        int a = hexval(q[2 * i]), b = hexval(q[2 * i + 1]);
        if (a < 0 || b < 0) return -1;
        if (out) out[i] = (uint8_t)(a * 16 + b);
    }
    if (text) {
        memcpy(text, q, 2 * n);
        text[2 * n] = '\0';
    }
    *p = q + 2 * n;
    return 0;
}

int audit_checkpoint_parse(const char *line, size_t len, audit_checkpoint *out)
{
    memset(out, 0, sizeof *out);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    const char *p = line, *end = line + len;
    size_t ml = sizeof CP_MAGIC - 1;
    if (len < ml || memcmp(p, CP_MAGIC, ml) != 0) return -1;
    p += ml;
    if (take_int(&p, end, "ts=", &out->ts_ms) || p == end || *p++ != ' ' ||
        take_int(&p, end, "seq=", &out->seq) || p == end || *p++ != ' ' ||
        take_hex(&p, end, "head=", 32, NULL, out->head) || p == end || *p++ != ' ' ||
        take_hex(&p, end, "sig=", 64, out->sig, NULL) || p != end)
        return -1;
    return 0;
}

int audit_checkpoint_verify(const uint8_t pub[32], const audit_checkpoint *cp)
{
    char text[AUDIT_CHECKPOINT_LINE_MAX];
    int n = signed_text(cp->ts_ms, cp->seq, cp->head, text, sizeof text);
    if (n < 0) return -1;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int rc = pk && c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk) == 1 &&
                     EVP_DigestVerify(c, cp->sig, 64, (const unsigned char *)text, (size_t)n) == 1
                 ? 0
                 : -1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(pk);
    return rc;
}

static bool hex64_equal(const char *a, const char *b)
{
    return strnlen(a, 65) == 64 && strnlen(b, 65) == 64 && memcmp(a, b, 64) == 0;
}

static int fail(audit_verify_result *res, int64_t seq, const char *reason, int rc)
{
    res->first_bad_seq = seq;
    res->reason = reason;
    return rc;
}

int audit_chain_verify_ex(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                          const audit_keying *keying, const audit_checkpoint *cps, size_t ncps,
                          audit_verify_result *res)
{
    memset(res, 0, sizeof *res);
    memcpy(res->last_hash, AUDIT_CHAIN_GENESIS, 65);
    size_t cp = 0;
    for (;;) {
        audit_row row;
        char stored[65];
        memset(&row, 0, sizeof row);
        memset(stored, 0, sizeof stored);
        int got = next(arg, &row, stored);
        int64_t expect = res->last_seq + 1;
        if (got == 0) break;
        if (got < 0) return fail(res, expect, "read error", -2);
        stored[64] = '\0';
        if (row.seq != expect) return fail(res, expect, "sequence gap", -1);
        if (row.prev_hash && !hex64_equal(row.prev_hash, res->last_hash))
            return fail(res, row.seq, "prev link broken", -1);
        char computed[65];
        bool keyed = keying && keying->key && row.seq >= keying->keyed_from;
        if (audit_chain_mac(keyed ? keying->key : NULL, res->last_hash, &row, computed) != 0)
            return fail(res, row.seq, "out of memory", -3);
        if (!hex64_equal(computed, stored)) return fail(res, row.seq, "hash mismatch", -1);
        while (cp < ncps && cps[cp].seq < row.seq)
            cp++; /* checkpoints of seq 0 (an empty log) or duplicates passed already */
        for (; cp < ncps && cps[cp].seq == row.seq; cp++)
            if (!hex64_equal(cps[cp].head, stored))
                return fail(res, row.seq, "differs from signed checkpoint (rewritten)", -1);
        memcpy(res->last_hash, stored, 65);
        res->last_seq = row.seq;
        res->rows++;
    }
    if (ncps && cps[ncps - 1].seq > res->last_seq)
        return fail(res, res->last_seq + 1, "tail cut: the log ends before a signed checkpoint",
                    -1);
    return 0;
}

int audit_chain_verify(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                       audit_verify_result *res)
{
    return audit_chain_verify_ex(next, arg, NULL, NULL, 0, res);
}
