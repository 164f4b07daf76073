/* store/pg: the PostgreSQL back-end's connection layer (libpq): connections by URL, statements
 * with text parameters, errors kept with their SQLSTATE, explicit transactions, the migration
 * runner and the daily partitions of the time series.
 *
 * Migrations are applied in one transaction each under a transaction-scoped advisory lock, so
 * any number of nodes starting at once against one database apply each exactly once (the
 * others wait, then find it applied). A connection belongs to one thread. */
#ifndef IOTAD_STORE_PG_PG_H
#define IOTAD_STORE_PG_PG_H

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pg_conn pg_conn;

typedef struct {
    const char *name;
    const char *sql;
} pg_migration;

/* The back-end's migrations (store/pg/schema.c). Append only. */
const pg_migration *pg_schema_migrations(size_t *count);

/* Whether a --store value names PostgreSQL (postgresql:// or postgres://). */
bool pg_is_url(const char *store);

/* 0, or -1 with the reason in err (the password never appears in it). */
int pg_connect(const char *url, pg_conn **out, char *err, size_t cap);
void pg_close(pg_conn *c);
PGconn *pg_raw(pg_conn *c);

/* The last error's text and SQLSTATE ("" when none, "08006"-like for a lost connection). */
const char *pg_error(const pg_conn *c);
const char *pg_sqlstate(const pg_conn *c);
/* The last error was a unique or foreign-key violation (the caller answers 409 / 422). */
bool pg_constraint_error(const pg_conn *c);
/* The connection is gone (server restarted, network): reconnect with pg_reset. */
bool pg_broken(const pg_conn *c);
/* Reconnects with the same parameters: 0 or -1. */
int pg_reset(pg_conn *c);
/* Reconnect by itself (off by default): outside a transaction (pg_begin .. pg_commit /
 * pg_rollback), a statement for a connection found gone (a restart of PostgreSQL) goes to a
 * new one, and one that fails because the server went away is sent once more on a new one.
 * Inside a transaction a lost connection fails the statement; the caller rolls back, and the
 * next statement after it reconnects. For handles whose statements stand alone (the API's);
 * the time-series writer reconnects itself (it reloads its state on a new connection). */
void pg_set_reconnect(pg_conn *c, bool on);
/* How many times the connection was made again (pg_reset). */
uint64_t pg_resets(const pg_conn *c);
/* Between pg_begin and its end (on a lost connection: whether one was open). */
bool pg_in_transaction(const pg_conn *c);

/* One or more statements without parameters (DDL, SET, BEGIN...). 0 or -1. */
int pg_exec(pg_conn *c, const char *sql);
/* A statement with n text parameters (NULL = SQL NULL); the result (PQclear it) or NULL. */
PGresult *pg_query(pg_conn *c, const char *sql, int n, const char *const *params);
/* A statement with n parameters given as PQexecParams takes them (lengths and formats may be
 * NULL: text), results in binary when binary_result; the result (PQclear it) or NULL. */
PGresult *pg_query_params(pg_conn *c, const char *sql, int n, const char *const *values,
                          const int *lengths, const int *formats, bool binary_result);
/* A statement that returns no rows; *affected (may be NULL) gets the row count. 0 or -1. */
int pg_cmd(pg_conn *c, const char *sql, int n, const char *const *params, int64_t *affected);
/* The first column of the first row as an integer, def when there is no row or it is NULL;
 * def as well on error (pg_error tells). */
int64_t pg_int(pg_conn *c, const char *sql, int n, const char *const *params, int64_t def);

/* The same statement helpers as store/db.h for SQLite, so the two back-ends read alike:
 * parameters described by a type string ("s" text, "i" int64, "d" double, "n" NULL, "b" text
 * or NULL when the pointer is NULL), at most 32. */
#define PG_ECONSTRAINT (-19) /* a unique or foreign-key violation */
/* 0, PG_ECONSTRAINT or -1; *changes (may be NULL) gets the rows affected. */
int pg_execf(pg_conn *c, int64_t *changes, const char *sql, const char *types, ...);
/* Rows as a JSON array of objects keyed by column name, converted as db_rows_json does:
 * integers and floats -> numbers, text -> strings, NULL -> null, boolean -> true/false,
 * "*_json" columns parsed and embedded under the name without the suffix, "is_*" columns
 * and "x_bool" (as "x") as booleans. NULL on error. */
cJSON *pg_rows_json(pg_conn *c, const char *sql, const char *types, ...);
/* The first row, or NULL with *found false when there is none (also NULL on error). */
cJSON *pg_row_json(pg_conn *c, bool *found, const char *sql, const char *types, ...);
/* The first column of the first row as int64, def when there is no row, NULL or an error. */
int64_t pg_intf(pg_conn *c, int64_t def, const char *sql, const char *types, ...);
/* The first column of the first row as text into out: 0 found, 1 no row (or NULL), -1 error. */
int pg_textf(pg_conn *c, char *out, size_t cap, const char *sql, const char *types, ...);

int pg_begin(pg_conn *c);
int pg_commit(pg_conn *c);
void pg_rollback(pg_conn *c);

/* Applies the migrations not applied yet. 0, or -1 (also when the database is newer). */
int pg_migrate(pg_conn *c);
int pg_schema_version(pg_conn *c);

#define PG_DAY_MS INT64_C(86400000)
/* The partitions of `chunks` for every UTC day from now - days_back to now + days_ahead
 * (created when missing; safe when several nodes do it at once). 0 or -1. */
int pg_partitions_ensure(pg_conn *c, int64_t now_ms, int days_back, int days_ahead);
/* Inside the caller's transaction: the partition of `chunks` for the UTC day holding ms
 * (created when missing, under the partition DDL lock). 0 or -1. */
int pg_partition_day(pg_conn *c, int64_t ms);
/* Retention: drops the partitions whose whole day ends at or before cutoff_ms; *dropped (may
 * be NULL) gets how many. 0 or -1. */
int pg_partitions_drop_before(pg_conn *c, int64_t cutoff_ms, int *dropped);

#endif
