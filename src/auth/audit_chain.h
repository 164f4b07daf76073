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
 * Limits: the chain proves rows were not changed relative to each other; truncating the tail
 * (deleting the newest rows) leaves a valid shorter chain. Compare res.last_seq/last_hash with
 * a head recorded elsewhere (log line, backup, external witness) to detect that. */
#ifndef IOTAD_AUTH_AUDIT_CHAIN_H
#define IOTAD_AUTH_AUDIT_CHAIN_H

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

/* Walks the log through next(), which fills *row and stored_hash and returns 1, returns 0 at
 * the end, or a negative value on a read error. Rows must come in seq order starting at 1;
 * row strings need only stay valid until the following call.
 * Returns 0 intact, -1 tampered (first_bad_seq and reason set), -2 read error, -3 out of
 * memory. res may not be NULL. */
int audit_chain_verify(int (*next)(void *arg, audit_row *row, char stored_hash[65]), void *arg,
                       audit_verify_result *res);

#endif
