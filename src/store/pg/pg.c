/* PostgreSQL connection layer: see pg.h. */
#include "store/pg/pg.h"

#include "core/log.h"
#include "core/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Advisory lock keys (one bigint space per database): the migration runner, partition DDL. */
#define LOCK_MIGRATE INT64_C(0x696f7461640001)
#define LOCK_PARTITIONS INT64_C(0x696f7461640002)

struct pg_conn {
    PGconn *conn;
    char err[512];
    char state[6];
    bool reconnect; /* pg_set_reconnect */
    bool in_tx;     /* between pg_begin and pg_commit / pg_rollback */
    uint64_t resets;
};

bool pg_is_url(const char *store)
{
    return store &&
           (strncmp(store, "postgresql://", 13) == 0 || strncmp(store, "postgres://", 11) == 0);
}

static void set_error(pg_conn *c, const PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg) msg = PQerrorMessage(c->conn);
    snprintf(c->err, sizeof c->err, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(c->err);
    while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
        c->err[--n] = '\0';
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!st && PQstatus(c->conn) == CONNECTION_BAD) st = "08006";
    snprintf(c->state, sizeof c->state, "%s", st ? st : "");
}

static void clear_error(pg_conn *c)
{
    c->err[0] = c->state[0] = '\0';
}

/* Notices (NOTICE: relation exists, skipping) go to the debug log, not stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("pg_notice", "msg=\"%.*s\"", (int)strcspn(message, "\n"), message);
}

int pg_connect(const char *url, pg_conn **out, char *err, size_t cap)
{
    *out = NULL;
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    /* connect_timeout bounds a start against a server that does not answer */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "10", "iotad", NULL};
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (!c->conn || PQstatus(c->conn) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password */
        const char *m = c->conn ? PQerrorMessage(c->conn) : "out of memory";
        snprintf(err, cap, "%.*s", (int)strcspn(m, "\n"), m);
        PQfinish(c->conn);
        free(c);
        return -1;
    }
    PQsetNoticeProcessor(c->conn, on_notice, NULL);
    /* UTC, and a statement that hangs (a lock held by a dead peer) does not hang us forever */
    if (pg_exec(c, "SET TIME ZONE 'UTC'; SET lock_timeout = '30s'") != 0) {
        snprintf(err, cap, "%s", c->err);
        pg_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void pg_close(pg_conn *c)
{
    if (!c) return;
    PQfinish(c->conn);
    free(c);
}

PGconn *pg_raw(pg_conn *c)
{
    return c->conn;
}

const char *pg_error(const pg_conn *c)
{
    return c->err;
}

const char *pg_sqlstate(const pg_conn *c)
{
    return c->state;
}

bool pg_constraint_error(const pg_conn *c)
{
    return strcmp(c->state, "23505") == 0 || strcmp(c->state, "23503") == 0;
}

bool pg_broken(const pg_conn *c)
{
    return PQstatus(c->conn) == CONNECTION_BAD || strncmp(c->state, "08", 2) == 0 ||
           strcmp(c->state, "57P01") == 0; /* admin shutdown */
}

void pg_set_reconnect(pg_conn *c, bool on)
{
    c->reconnect = on;
}

uint64_t pg_resets(const pg_conn *c)
{
    return c->resets;
}

bool pg_in_transaction(const pg_conn *c)
{
    if (PQstatus(c->conn) == CONNECTION_BAD) return c->in_tx;
    return PQtransactionStatus(c->conn) != PQTRANS_IDLE;
}

int pg_reset(pg_conn *c)
{
    c->in_tx = false; /* a new connection has no transaction */
    c->resets++;
    PQreset(c->conn);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        set_error(c, NULL);
        return -1;
    }
    clear_error(c);
    int rc = pg_exec(c, "SET TIME ZONE 'UTC'; SET lock_timeout = '30s'");
    if (rc == 0) log_info("pg_reconnected", "resets=%" PRIu64, c->resets);
    return rc;
}

/* With reconnect on and outside a transaction: a statement about to go to a connection known
 * to be gone gets a new one first (true when the connection is usable). */
static bool ready(pg_conn *c)
{
    if (!c->reconnect || c->in_tx || PQstatus(c->conn) != CONNECTION_BAD) return true;
    return pg_reset(c) == 0;
}

/* With reconnect on and outside a transaction: a statement that failed because the server went
 * away (a restart: the connection was found dead only now) is sent once more on a new
 * connection. Only then: in a transaction the caller must roll back and start over. */
static bool retry(pg_conn *c)
{
    return c->reconnect && !c->in_tx && pg_broken(c) && pg_reset(c) == 0;
}

static int exec_once(pg_conn *c, const char *sql)
{
    PGresult *r = PQexec(c->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc)
        set_error(c, r);
    else
        clear_error(c);
    PQclear(r);
    return rc;
}

int pg_exec(pg_conn *c, const char *sql)
{
    if (!ready(c)) return -1;
    int rc = exec_once(c, sql);
    if (rc != 0 && retry(c)) rc = exec_once(c, sql);
    return rc;
}

PGresult *pg_query(pg_conn *c, const char *sql, int n, const char *const *params)
{
    return pg_query_params(c, sql, n, params, NULL, NULL, false);
}

PGresult *pg_query_params(pg_conn *c, const char *sql, int n, const char *const *values,
                          const int *lengths, const int *formats, bool binary_result)
{
    PGresult *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt == 0 ? !ready(c) : !retry(c)) break;
        r = PQexecParams(c->conn, sql, n, NULL, values, lengths, formats, binary_result);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            clear_error(c);
            return r;
        }
        set_error(c, r);
        PQclear(r);
        r = NULL;
    }
    /* a constraint violation is an answer (409), not a failure */
    if (!pg_constraint_error(c))
        log_error("pg_query_failed", "state=%s err=\"%s\" sql=\"%.80s\"", c->state, c->err, sql);
    return NULL;
}

int pg_cmd(pg_conn *c, const char *sql, int n, const char *const *params, int64_t *affected)
{
    PGresult *r = pg_query(c, sql, n, params);
    if (!r) return -1;
    if (affected) *affected = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

int64_t pg_int(pg_conn *c, const char *sql, int n, const char *const *params, int64_t def)
{
    PGresult *r = pg_query(c, sql, n, params);
    if (!r) return def;
    int64_t v = def;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int pg_begin(pg_conn *c)
{
    int rc = pg_exec(c, "BEGIN");
    c->in_tx = rc == 0;
    return rc;
}

int pg_commit(pg_conn *c)
{
    int rc = exec_once(c, "COMMIT"); /* never again on a new connection: the outcome is lost */
    c->in_tx = false;
    return rc;
}

void pg_rollback(pg_conn *c)
{
    char err[sizeof c->err], state[sizeof c->state];
    memcpy(err, c->err, sizeof err); /* keep the error that made us roll back */
    memcpy(state, c->state, sizeof state);
    PQclear(PQexec(c->conn, "ROLLBACK"));
    c->in_tx = false;
    memcpy(c->err, err, sizeof err);
    memcpy(c->state, state, sizeof state);
}

/* ---- migrations ------------------------------------------------------------------------ */

int pg_schema_version(pg_conn *c)
{
    return (int)pg_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", 0, NULL, 0);
}

static int lock_xact(pg_conn *c, int64_t key)
{
    char k[24];
    snprintf(k, sizeof k, "%" PRId64, key);
    const char *p[] = {k};
    return pg_cmd(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, p, NULL);
}

int pg_migrate(pg_conn *c)
{
    size_t n;
    const pg_migration *m = pg_schema_migrations(&n);
    for (;;) {
        /* one transaction per migration, each under the lock: a node that waited finds the
         * migrations applied by the one that held it */
        if (pg_begin(c) != 0 || lock_xact(c, LOCK_MIGRATE) != 0 ||
            pg_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations(version integer PRIMARY "
                       "KEY, name text NOT NULL, applied_at bigint NOT NULL)") != 0)
            goto fail;
        int current = pg_schema_version(c);
        if (pg_error(c)[0]) goto fail;
        if (current > (int)n) {
            snprintf(c->err, sizeof c->err, "database schema %d is newer than this iotad (%zu)",
                     current, n);
            pg_rollback(c);
            log_error("migrate_failed", "backend=postgresql reason=\"%s\"", c->err);
            return -1;
        }
        if (current == (int)n) return pg_commit(c) == 0 ? 0 : -1;
        char v[16], at[24];
        snprintf(v, sizeof v, "%d", current + 1);
        snprintf(at, sizeof at, "%" PRId64, util_now_ms());
        const char *p[] = {v, m[current].name, at};
        if (pg_exec(c, m[current].sql) != 0 ||
            pg_cmd(c, "INSERT INTO schema_migrations(version, name, applied_at) VALUES($1, $2, $3)",
                   3, p, NULL) != 0 ||
            pg_commit(c) != 0) {
            log_error("migrate_failed", "backend=postgresql version=%d name=%s err=\"%s\"",
                      current + 1, m[current].name, c->err);
            pg_rollback(c);
            return -1;
        }
        log_info("migration_applied", "backend=postgresql version=%d name=%s", current + 1,
                 m[current].name);
    }
fail:
    log_error("migrate_failed", "backend=postgresql err=\"%s\"", c->err);
    pg_rollback(c);
    return -1;
}

/* ---- partitions ------------------------------------------------------------------------ */

static int64_t day_floor(int64_t ms)
{
    int64_t d = ms / PG_DAY_MS;
    if (ms % PG_DAY_MS < 0) d--;
    return d * PG_DAY_MS;
}

static void part_name(int64_t day_ms, char *out, size_t cap)
{
    time_t t = (time_t)(day_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "chunks_d%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int pg_partitions_ensure(pg_conn *c, int64_t now_ms, int days_back, int days_ahead)
{
    int64_t today = day_floor(now_ms);
    if (pg_begin(c) != 0 || lock_xact(c, LOCK_PARTITIONS) != 0) goto fail;
    for (int d = -days_back; d <= days_ahead; d++) {
        int64_t from = today + (int64_t)d * PG_DAY_MS;
        char name[40], sql[256];
        part_name(from, name, sizeof name);
        snprintf(sql, sizeof sql,
                 "CREATE TABLE IF NOT EXISTS %s PARTITION OF chunks FOR VALUES FROM (%" PRId64
                 ") TO (%" PRId64 ")",
                 name, from, from + PG_DAY_MS);
        if (pg_exec(c, sql) != 0) goto fail;
    }
    return pg_commit(c) == 0 ? 0 : -1;
fail:
    log_error("partitions_failed", "backend=postgresql err=\"%s\"", c->err);
    pg_rollback(c);
    return -1;
}

int pg_partition_day(pg_conn *c, int64_t ms)
{
    int64_t from = day_floor(ms);
    char name[40], sql[256];
    part_name(from, name, sizeof name);
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS %s PARTITION OF chunks FOR VALUES FROM (%" PRId64
             ") TO (%" PRId64 ")",
             name, from, from + PG_DAY_MS);
    return lock_xact(c, LOCK_PARTITIONS) == 0 && pg_exec(c, sql) == 0 ? 0 : -1;
}

int pg_partitions_drop_before(pg_conn *c, int64_t cutoff_ms, int *dropped)
{
    if (dropped) *dropped = 0;
    if (pg_begin(c) != 0 || lock_xact(c, LOCK_PARTITIONS) != 0) goto fail;
    PGresult *r = pg_query(c,
                           "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
                           "i.inhrelid WHERE i.inhparent = 'chunks'::regclass ORDER BY 1",
                           0, NULL);
    if (!r) goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        int y, mo, d;
        if (sscanf(name, "chunks_d%4d%2d%2d", &y, &mo, &d) != 3) continue;
        struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
        int64_t from = (int64_t)timegm(&tm) * 1000;
        if (from + PG_DAY_MS > cutoff_ms) continue;
        char sql[96];
        snprintf(sql, sizeof sql, "DROP TABLE %s", name);
        if (pg_exec(c, sql) != 0) {
            PQclear(r);
            goto fail;
        }
        if (dropped) (*dropped)++;
    }
    PQclear(r);
    return pg_commit(c) == 0 ? 0 : -1;
fail:
    log_error("partitions_failed", "backend=postgresql err=\"%s\"", c->err);
    pg_rollback(c);
    return -1;
}
