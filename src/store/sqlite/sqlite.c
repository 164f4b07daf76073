/* The SQLite back-end's table and handles; the concerns are in the files beside this one. */
#include "store/sqlite/sqlite_int.h"

#include <stdlib.h>

static void sq_close(store *st)
{
    sqlite_store *s = (sqlite_store *)st;
    if (s->owned) db_close(s->db);
    free(s);
}

static int sq_open_peer(store *st, bool full_sync, store **out)
{
    const char *path = sqlite3_db_filename(SQ(st), "main");
    return path && path[0] ? store_sqlite_open(path, full_sync, out) : STORE_ERR;
}

static int sq_begin(store *st)
{
    return db_begin(SQ(st)) == 0 ? STORE_OK : STORE_ERR;
}

static int sq_commit(store *st)
{
    return db_commit(SQ(st)) == 0 ? STORE_OK : STORE_ERR;
}

static void sq_rollback(store *st)
{
    db_rollback(SQ(st));
}

static bool sq_in_transaction(store *st)
{
    return !sqlite3_get_autocommit(SQ(st));
}

static const store_backend sqlite_backend = {
    .name = "sqlite",
    .open_peer = sq_open_peer,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .settings = &sqlite_settings_ops,
    .users = &sqlite_users_ops,
    .tokens = &sqlite_tokens_ops,
    .audit = &sqlite_audit_ops,
    .devices = &sqlite_devices_ops,
    .state = &sqlite_state_ops,
    .anomalies = &sqlite_anomalies_ops,
    .rules = &sqlite_rules_ops,
    .series = &sqlite_series_ops,
    .incidents = &sqlite_incidents_ops,
    .alerts = &sqlite_alerts_ops,
    .reports = &sqlite_reports_ops,
    .report_queries = &sqlite_report_queries_ops,
    .exports = &sqlite_export_ops,
    .ts_open = sqlite_ts_open,
    .in_transaction = sq_in_transaction,
};

store *store_sqlite_wrap(sqlite3 *db)
{
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base.be = &sqlite_backend;
    s->db = db;
    return &s->base;
}

int store_sqlite_open(const char *path, bool full_sync, store **out)
{
    sqlite3 *db;
    if (db_open(path, full_sync ? DB_SYNC_FULL : DB_SYNC_NORMAL, &db) != 0) return -1;
    store *st = store_sqlite_wrap(db);
    if (!st) {
        db_close(db);
        return -1;
    }
    ((sqlite_store *)st)->owned = true;
    *out = st;
    return 0;
}

sqlite3 *store_sqlite_db(store *st)
{
    return st && st->be == &sqlite_backend ? SQ(st) : NULL;
}
