/* Audit log hash chain: canonical encoding of a row, the chained SHA-256, and a streaming
 * verifier that stops at the first broken link. The digest is fed field by field through one
 * EVP context, so rows of any size hash without building the canonical text in memory. */
#include "auth/audit_chain.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int feed(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

static int feed_field(EVP_MD_CTX *ctx, const char *s, size_t n)
{
    char len[24];
    int k = snprintf(len, sizeof len, "%zu:", n);
    if (feed(ctx, len, (size_t)k) || feed(ctx, s, n) || feed(ctx, ";", 1)) return -1;
    return 0;
}

static int feed_str(EVP_MD_CTX *ctx, const char *s)
{
    return s ? feed_field(ctx, s, strlen(s)) : feed(ctx, "-;", 2);
}

static int feed_int(EVP_MD_CTX *ctx, int64_t v)
{
    char num[24];
    int k = snprintf(num, sizeof num, "%" PRId64, v);
    return feed_field(ctx, num, (size_t)k);
}

int audit_chain_hash(const char prev_hex[65], const audit_row *row, char out_hex[65])
{
    static const char digits[] = "0123456789abcdef";
    int rc = -1;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out_hex[0] = '\0';
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return -1;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) goto done;
    if (feed(ctx, prev_hex, strnlen(prev_hex, 64)) || feed(ctx, "\n", 1) ||
        feed_int(ctx, row->seq) || feed_int(ctx, row->ts_ms) || feed_str(ctx, row->actor) ||
        feed_str(ctx, row->action) || feed_str(ctx, row->target) || feed_str(ctx, row->detail) ||
        feed_str(ctx, row->peer))
        goto done;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) goto done;
    for (unsigned i = 0; i < 32; i++) {
        out_hex[2 * i] = digits[md[i] >> 4];
        out_hex[2 * i + 1] = digits[md[i] & 15];
    }
    out_hex[64] = '\0';
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
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

int audit_chain_verify(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                       audit_verify_result *res)
{
    memset(res, 0, sizeof *res);
    memcpy(res->last_hash, AUDIT_CHAIN_GENESIS, 65);
    for (;;) {
        audit_row row;
        char stored[65];
        memset(&row, 0, sizeof row);
        memset(stored, 0, sizeof stored);
        int got = next(arg, &row, stored);
        int64_t expect = res->last_seq + 1;
        if (got == 0) return 0;
        if (got < 0) return fail(res, expect, "read error", -2);
        stored[64] = '\0';
        if (row.seq != expect) return fail(res, expect, "sequence gap", -1);
        if (row.prev_hash && !hex64_equal(row.prev_hash, res->last_hash))
            return fail(res, row.seq, "prev link broken", -1);
        char computed[65];
        if (audit_chain_hash(res->last_hash, &row, computed) != 0)
            return fail(res, row.seq, "out of memory", -3);
        if (!hex64_equal(computed, stored)) return fail(res, row.seq, "hash mismatch", -1);
        memcpy(res->last_hash, stored, 65);
        res->last_seq = row.seq;
        res->rows++;
    }
}
