/* The PostgreSQL back-end's table and handles; the concerns are in the files beside this one
 * (the time-series store: ts.c). */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>

static void pq_close(store *st)
{
    pg_store *s = (pg_store *)st;
    pg_close(s->c);
    free(s);
}

static int pq_open_peer(store *st, bool full_sync, store **out)
{
    (void)full_sync; /* every commit is durable (synchronous_commit) */
    char err[256];
    return store_pg_open(((pg_store *)st)->url, out, err, sizeof err) == 0 ? STORE_OK : STORE_ERR;
}

static int pq_begin(store *st)
{
    return pg_begin(PG(st)) == 0 ? STORE_OK : STORE_ERR;
}

static int pq_commit(store *st)
{
    return pg_commit(PG(st)) == 0 ? STORE_OK : STORE_ERR;
}

static void pq_rollback(store *st)
{
    pg_rollback(PG(st));
}

static bool pq_in_transaction(store *st)
{
    return pg_in_transaction(PG(st));
}

static const store_backend pg_backend = {
    .name = "postgresql",
    .open_peer = pq_open_peer,
    .close = pq_close,
    .begin = pq_begin,
    .commit = pq_commit,
    .rollback = pq_rollback,
    .settings = &pg_settings_ops,
    .users = &pg_users_ops,
    .tokens = &pg_tokens_ops,
    .audit = &pg_audit_ops,
    .devices = &pg_devices_ops,
    .state = &pg_state_ops,
    .anomalies = &pg_anomalies_ops,
    .rules = &pg_rules_ops,
    .incidents = &pg_incidents_ops,
    .alerts = &pg_alerts_ops,
    .reports = &pg_reports_ops,
    .report_queries = &pg_report_queries_ops,
    .series = &pg_series_ops,
    .exports = &pg_export_ops,
    .ts_open = pg_ts_open,
    .in_transaction = pq_in_transaction,
};

int store_pg_open(const char *url, store **out, char *err, size_t cap)
{
    *out = NULL;
    pg_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if ((size_t)snprintf(s->url, sizeof s->url, "%s", url) >= sizeof s->url) {
        snprintf(err, cap, "store URL longer than %zu bytes", sizeof s->url - 1);
        free(s);
        return -1;
    }
    if (pg_connect(url, &s->c, err, cap) != 0) {
        free(s);
        return -1;
    }
    pg_set_reconnect(s->c, true); /* its statements stand alone or in pg_begin/pg_commit */
    if (pg_migrate(s->c) != 0) {
        snprintf(err, cap, "migrations: %s", pg_error(s->c));
        pg_close(s->c);
        free(s);
        return -1;
    }
    s->base.be = &pg_backend;
    *out = &s->base;
    return 0;
}

/* pg.c's key space ('iotad', n): 1 migrations, 2 partitions, 3 the audit log, 4 start-up */
#define LOCK_STARTUP "29677418195451908"

int store_pg_startup_lock(store *st, bool take)
{
    const char *p[] = {LOCK_STARTUP};
    return pg_cmd(PG(st),
                  take ? "SELECT pg_advisory_lock($1::bigint)"
                       : "SELECT pg_advisory_unlock($1::bigint)",
                  1, p, NULL);
}

pg_conn *store_pg_conn(store *st)
{
    return st && st->be == &pg_backend ? PG(st) : NULL;
}
