/* Hash chain of the append-only audit log: each row's hash covers the previous row's hash, so
 * editing, deleting or reordering any row breaks every later link.
 *
 *   hash(row) = hex(SHA-256(prev_hex || "\n" || canonical(row)))
 *   prev_hex of the first row (seq 1) = AUDIT_CHAIN_GENESIS (64 zeros)
 *
 * canonical(row) is the fields seq, ts_ms, actor, action, target, detail, peer in that order,
 * each encoded as  <byte length in decimal> ":" <bytes> ";"  and a NULL string as  "-;".
 * Integers are written in decimal ("-" for negatives). Example (seq 1, ts 1700000000000,
 * actor "u1", action "login", target "", detail "ok", peer NULL):
 *   1:1;13:1700000000000;2:u1;5:login;0:;2:ok;-;
 * Length prefixes make the encoding unambiguous whatever bytes the fields hold.
 *
 * Keyed chain: from seq `keyed_from` on, the hash is an HMAC-SHA-256 under a key kept outside
 * the database (auth/keyfile.h) instead of a plain SHA-256, over the same input:
 *   hash(row) = hex(HMAC-SHA-256(key, prev_hex || "\n" || canonical(row)))
 * so whoever can write the database but lacks the key cannot recompute the hashes after an
 * edit. Rows before keyed_from (written before the key existed) keep their plain SHA-256.
 *
 * Anchors: a chain, keyed or not, still verifies after its newest rows are cut off, and a
 * thief of the key could rehash it. Checkpoints fix both: a line
 *   iotad-audit-checkpoint v1 ts=<ms> seq=<n> head=<64 hex> sig=<128 hex>
 * where sig is the Ed25519 signature of everything before " sig=", written outside the
 * database (a file, the log). Verification with the checkpoints finds a row whose hash differs
 * from a signed head (rewritten) and a log that ends before a signed seq (cut tail). */
#ifndef IOTAD_AUTH_AUDIT_CHAIN_H
#define IOTAD_AUTH_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_CHAIN_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct {
    int64_t seq; /* 1, 2, 3, ... with no gaps */
    int64_t ts_ms;
    const char *actor;  /* user id, "system", "device:<id>" ... */
    const char *action; /* "user.create", "login.failed" ... */
    const char *target;
    const char *detail;
    const char *peer; /* client address or NULL; hashed like the other fields */
    /* Optional, for verification only: the prev_hash stored with the row (the schema keeps
     * it). When non-NULL, verify checks it against the previous row's hash and reports
     * "prev link broken"; it is not part of canonical(row) (it is the chain input). */
    const char *prev_hash;
} audit_row;

typedef struct {
    int64_t first_bad_seq; /* 0 when intact; for a gap, the seq that was expected */
    const char *reason;    /* NULL when intact; "sequence gap", "prev link broken",
                              "hash mismatch", "read error", "out of memory" */
    int64_t rows;          /* rows checked and found good */
    int64_t last_seq;      /* seq of the last good row (0 for an empty log) */
    char last_hash[65];    /* its hash (AUDIT_CHAIN_GENESIS for an empty log) */
} audit_verify_result;

/* Writes hash(row) given the previous row's hash into out_hex (64 hex + NUL).
 * 0 ok, -1 out of memory (out_hex is then ""). */
int audit_chain_hash(const char prev_hex[65], const audit_row *row, char out_hex[65]);
/* The keyed form: HMAC-SHA-256 under key (32 bytes); key NULL = audit_chain_hash. */
int audit_chain_mac(const uint8_t *key, const char prev_hex[65], const audit_row *row,
                    char out_hex[65]);

/* How a chain is hashed: rows with seq >= keyed_from are MACed with key (NULL: none are). */
typedef struct {
    const uint8_t *key;
    int64_t keyed_from;
} audit_keying;

/* A signed checkpoint of the chain's head. */
typedef struct {
    int64_t ts_ms;
    int64_t seq;
    char head[65];
    uint8_t sig[64];
} audit_checkpoint;

#define AUDIT_CHECKPOINT_LINE_MAX 320 /* the longest line (18-digit ts and seq) is 273 */
/* Signs (seq, head) at ts_ms with the Ed25519 private key seed and writes the checkpoint line
 * (no newline) into out. 0 ok, -1 error. */
int audit_checkpoint_format(const uint8_t seed[32], int64_t ts_ms, int64_t seq, const char head[65],
                            char *out, size_t cap);
/* Parses one checkpoint line (trailing "\r\n" allowed) without checking the signature.
 * 0 ok, -1 malformed. */
int audit_checkpoint_parse(const char *line, size_t len, audit_checkpoint *out);
/* 0 when the signature is valid for the Ed25519 public key, -1 otherwise. */
int audit_checkpoint_verify(const uint8_t pub[32], const audit_checkpoint *cp);

/* Walks the log through next(), which fills *row and stored_hash and returns 1, returns 0 at
 * the end, or a negative value on a read error. Rows must come in seq order starting at 1;
 * row strings need only stay valid until the following call.
 * Returns 0 intact, -1 tampered (first_bad_seq and reason set), -2 read error, -3 out of
 * memory. res may not be NULL. */
int audit_chain_verify(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                       audit_verify_result *res);
/* The same with keying (NULL: unkeyed) and signed checkpoints sorted by seq (may be NULL/0):
 * a row at a checkpoint's seq must carry its head ("differs from signed checkpoint"), and the
 * log must reach the last checkpoint ("tail cut: ..."; first_bad_seq is then the first
 * missing seq). */
int audit_chain_verify_ex(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                          const audit_keying *keying, const audit_checkpoint *cps, size_t ncps,
                          audit_verify_result *res);

#endif
