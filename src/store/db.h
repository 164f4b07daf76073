/* SQLite helpers shared by the store modules: opening connections with iotad's pragmas,
 * versioned migrations, and parameterised statements described by a bind-type string
 * ("s" text, "i" int64, "d" double, "n" null, "b" text or NULL when the pointer is NULL). */
#ifndef IOTAD_STORE_DB_H
#define IOTAD_STORE_DB_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { DB_SYNC_FULL, DB_SYNC_NORMAL } db_sync;

#define DB_BUSY_TIMEOUT_MS 10000

/* Opens (creating) path with WAL, foreign keys and a busy timeout (DB_BUSY_TIMEOUT_MS). 0 ok, -1
 * error (logged). */
int db_open(const char *path, db_sync sync, sqlite3 **out);
void db_close(sqlite3 *db);
/* PRAGMA journal_size_limit: when SQLite starts the WAL over at a write on this connection, the
 * file is cut back to bytes. Every connection that writes needs it: the first write after a
 * complete checkpoint, on whichever connection, starts the WAL over. */
void db_wal_limit(sqlite3 *db, uint64_t bytes);
/* Applies every migration newer than the stored schema version, each in its own transaction. */
int db_migrate(sqlite3 *db);
int db_schema_version(sqlite3 *db);

/* Runs a statement that returns no rows. Returns 0, DB_ECONSTRAINT on a constraint violation,
 * or -1 on other errors. *changes (optional) gets sqlite3_changes(). */
#define DB_ECONSTRAINT (-19)
int db_exec(sqlite3 *db, int *changes, const char *sql, const char *types, ...);
/* Runs a query and returns its rows as a JSON array of objects keyed by column name
 * (INTEGER -> number, REAL -> number, TEXT -> string, NULL -> null; columns named
 * "*_json" are parsed and embedded as JSON under the name without the suffix,
 * columns named "is_*" become booleans, and "x_bool" becomes boolean "x"). NULL on error. Caller
 * frees. */
cJSON *db_rows_json(sqlite3 *db, const char *sql, const char *types, ...);
/* Like db_rows_json but returns the first row only, or NULL if there is none (*found=false). */
cJSON *db_row_json(sqlite3 *db, bool *found, const char *sql, const char *types, ...);
/* Returns the first column of the first row as int64 (def if no row). */
int64_t db_int(sqlite3 *db, int64_t def, const char *sql, const char *types, ...);
/* Copies the first column of the first row as text into out; 0 found, 1 no row, -1 error. */
int db_text(sqlite3 *db, char *out, size_t cap, const char *sql, const char *types, ...);

/* Fair hand-off of SQLite's single write lock from the writer thread to the loop connection.
 * SQLite keeps no queue for its write lock: a connection that finds it taken sleeps in its
 * busy handler (up to 100 ms at a time) and tries again, while a writer that commits and
 * begins again at once takes it back each time. Under sustained ingest a loop-thread write
 * (a device status change, an API call) waited up to the whole busy timeout, and the event
 * loop with it. With a gate the loop connection polls every 0.5 ms and says that it waits;
 * the writer lets it go first before each new transaction. */
typedef struct db_gate {
    _Atomic int64_t waiting_ns; /* monotonic time of the waiter's last attempt */
    int timeout_ms;
} db_gate;

/* Installs the gate's busy handler on db (replacing the busy timeout). */
void db_gate_install(sqlite3 *db, db_gate *g, int timeout_ms);
/* Writer side, before BEGIN: while a gated connection is waiting (and at most max_ms),
 * sleeps so that it gets the lock first. */
void db_gate_yield(db_gate *g, int max_ms);

/* A LIKE pattern matching text that contains q (or, with prefix, starts with it), q's own
 * '%', '_' and backslash taken literally: write the condition as "col LIKE ?" DB_LIKE_ESCAPE. q
 * longer than fits in cap is cut at a character boundary. */
#define DB_LIKE_ESCAPE " ESCAPE '\\'"
#define DB_LIKE_MAX 260 /* room for 128 bytes of search text, each escaped, and two '%' */
void db_like_pattern(char *out, size_t cap, const char *q, bool prefix);
/* q could be an id (a UUID's 36 hex digits and dashes): a name prefix search looks the id up
 * only then (an OR with the id costs the name range its index order: a sort of every match). */
bool db_id_shaped(const char *q);
int db_begin(sqlite3 *db); /* BEGIN IMMEDIATE */
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

#endif
