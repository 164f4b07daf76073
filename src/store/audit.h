/* The append-only audit log: every auth event and privileged change, chained by hashes that
 * are keyed (HMAC) with a key outside the database, and anchored by signed checkpoints written
 * outside it (auth/audit_chain.h has the formats). */
#ifndef IOTAD_STORE_AUDIT_H
#define IOTAD_STORE_AUDIT_H

#include "auth/audit_chain.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends one entry (in its own transaction unless one is open). actor is a user id,
 * "device:<id>", "system" or "anonymous"; detail is free text or JSON. 0 ok. */
int audit_append(store *st, const char *actor, const char *action, const char *target,
                 const char *detail, const char *peer);

/* Process-wide keying of new rows: rows from seq keyed_from on are MACed with key. Set once at
 * start-up, before any thread appends (the key is copied). NULL key: unkeyed (SHA-256). */
void audit_set_keying(const uint8_t key[32], int64_t keyed_from);

/* The binding of a key to a database: the setting 'audit.binding' holds
 * "<keyed_from>:<hex HMAC-SHA-256(key, "iotad-audit-binding v1\n<keyed_from>")>", so the
 * seq from which rows are keyed cannot be moved without the key.
 * audit_binding_read: 0 found and valid (*keyed_from set), 1 none, -1 made with another key
 * (or altered), -2 database error. */
int audit_binding_read(store *st, const uint8_t key[32], int64_t *keyed_from);
/* Whether the database has a binding (its log was keyed once: it needs its key). */
bool audit_is_bound(store *st);
/* Reads the binding, or creates it when there is none (keyed from the next seq; an
 * "audit.keyed" row records it). Same results as audit_binding_read, plus *created. */
int audit_bind(store *st, const uint8_t key[32], int64_t *keyed_from, bool *created);

/* seq and hash of the newest row (0 and the genesis hash for an empty log). 0 ok, -1 error. */
int audit_head(store *st, int64_t *seq, char hash[65]);

/* Signs the head and appends the checkpoint line to path (O_APPEND, fsync) and to the log,
 * when the head moved past *last_seq (start with -1 to always write). 1 written, 0 nothing
 * new, -1 error (logged). */
int audit_checkpoint_write(store *st, const uint8_t seed[32], const char *path, int64_t *last_seq);

/* Reads the checkpoint lines of path, checks every signature with pub, and returns them
 * sorted by seq in *out (caller frees). 0 ok (a missing file is 0 checkpoints when
 * missing_ok); -1 with err (unreadable, malformed line, bad signature: a forged or damaged
 * anchor is itself a finding). */
int audit_checkpoints_load(const char *path, const uint8_t pub[32], bool missing_ok,
                           audit_checkpoint **out, size_t *n, char *err, size_t errcap);

/* Verifies the whole chain with keying and checkpoints (either may be NULL/0).
 * Returns 0 intact, 1 broken (bad_seq/why set), -1 error. */
int audit_verify_db_ex(store *st, const audit_keying *keying, const audit_checkpoint *cps,
                       size_t ncps, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap);
/* The chain with the process-wide keying, against the signed checkpoints of cp_path (checked
 * with pub; a missing file is none). *ncps / *last_cp_seq describe them. Returns 0 intact,
 * 1 broken (bad_seq/why set, also for a forged or damaged checkpoint file), -1 error. */
int audit_verify_anchored(store *st, const char *cp_path, const uint8_t pub[32], int64_t *rows,
                          int64_t *bad_seq, size_t *ncps, int64_t *last_cp_seq, char *why,
                          size_t whycap);
/* audit_verify_db_ex with the process-wide keying and no checkpoints. */
int audit_verify_db(store *st, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap);

#endif
