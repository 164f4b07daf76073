/* The append-only, hash-chained audit log: every auth event and privileged change. */
#ifndef IOTAD_STORE_AUDIT_H
#define IOTAD_STORE_AUDIT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Appends one entry (in its own transaction unless one is open). actor is a user id,
 * "device:<id>", "system" or "anonymous"; detail is free text or JSON. 0 ok. */
int audit_append(sqlite3 *db, const char *actor, const char *action, const char *target,
                 const char *detail, const char *peer);
/* Verifies the whole chain. Returns 0 intact, 1 broken (bad_seq/why set), -1 error. */
int audit_verify_db(sqlite3 *db, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap);

#endif
