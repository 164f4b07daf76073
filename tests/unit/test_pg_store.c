/* store/pg against a real PostgreSQL 15 (started by the ctest fixture: tests/services.py):
 * migrations applied once when several nodes start at once, the schema's rules (append-only
 * audit log, e-mail unique without case, constraint errors told apart), daily partitions made
 * ahead and dropped by retention, errors and a lost connection. Each test works in a database
 * of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "store/pg/pg.h"

static char base_url[256]; /* .../postgres */

static int load_url(void **state)
{
    (void)state;
    return th_service_url("IOTAD_TEST_PG_URL", base_url, sizeof base_url);
}

static pg_conn *connect_to(const char *url)
{
    pg_conn *c = NULL;
    char err[256] = "";
    if (pg_connect(url, &c, err, sizeof err) != 0) fail_msg("connect %s: %s", url, err);
    return c;
}

typedef struct {
    const char *url;
    int rc;
} migrate_arg;

static void *migrate_thread(void *p)
{
    migrate_arg *a = p;
    pg_conn *c = connect_to(a->url);
    a->rc = pg_migrate(c);
    pg_close(c);
    return NULL;
}

static void test_migrations_apply_once_with_nodes_starting_together(void **state)
{
    (void)state;
    char url[300];
    th_pg_fresh_db(url, sizeof url);
    enum { NODES = 4 };
    pthread_t t[NODES];
    migrate_arg a[NODES];
    for (int i = 0; i < NODES; i++) {
        a[i] = (migrate_arg){url, -2};
        assert_int_equal(pthread_create(&t[i], NULL, migrate_thread, &a[i]), 0);
    }
    for (int i = 0; i < NODES; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, 0);
    }
    pg_conn *c = connect_to(url);
    size_t n;
    pg_schema_migrations(&n);
    assert_int_equal(pg_schema_version(c), (int)n);
    assert_int_equal(pg_int(c, "SELECT count(*) FROM schema_migrations", 0, NULL, -1), (int64_t)n);
    /* the brief's tables are there */
    const char *tables[] = {"users",     "devices",   "anomalies", "alerts",
                            "incidents", "audit_log", "series",    "chunks"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const char *p[] = {tables[i]};
        assert_int_equal(pg_int(c, "SELECT count(*) FROM pg_tables WHERE tablename = $1", 1, p, -1),
                         1);
    }
    assert_int_equal(pg_migrate(c), 0); /* again: nothing to do */
    /* a database from a newer iotad is refused */
    char v[16];
    snprintf(v, sizeof v, "%zu", n + 1);
    const char *p[] = {v};
    assert_int_equal(pg_cmd(c,
                            "INSERT INTO schema_migrations(version, name, applied_at) "
                            "VALUES($1, 'future', 0)",
                            1, p, NULL),
                     0);
    assert_int_equal(pg_migrate(c), -1);
    assert_non_null(strstr(pg_error(c), "newer"));
    pg_close(c);
}

static void test_schema_rules_and_constraint_errors(void **state)
{
    (void)state;
    char url[300];
    th_pg_fresh_db(url, sizeof url);
    pg_conn *c = connect_to(url);
    assert_int_equal(pg_migrate(c), 0);
    const char *u1[] = {"u1", "Ann@Example.com"}, *u2[] = {"u2", "ann@example.COM"};
    const char *ins = "INSERT INTO users(id, name, email, password, role, created_at, updated_at,"
                      " password_changed_at) VALUES($1, 'n', $2, 'x', 'admin', 0, 0, 0)";
    assert_int_equal(pg_cmd(c, ins, 2, u1, NULL), 0);
    assert_int_equal(pg_cmd(c, ins, 2, u2, NULL), -1); /* same address, other case */
    assert_true(pg_constraint_error(c));
    assert_string_equal(pg_sqlstate(c), "23505");
    /* a device of a user that does not exist: a foreign-key violation, also a constraint */
    assert_int_equal(pg_exec(c, "INSERT INTO devices(id, owner_id, name, created_at, updated_at)"
                                " VALUES('d1', 'nobody', 'd', 0, 0)"),
                     -1);
    assert_true(pg_constraint_error(c));
    /* a syntax error is not */
    assert_int_equal(pg_exec(c, "SELEC 1"), -1);
    assert_false(pg_constraint_error(c));
    assert_false(pg_broken(c));

    /* the audit log only grows */
    assert_int_equal(pg_exec(c, "INSERT INTO audit_log(seq, ts, actor, action, prev_hash, hash)"
                                " VALUES(1, 0, 'a', 'x', '', 'h')"),
                     0);
    assert_int_equal(pg_exec(c, "UPDATE audit_log SET actor = 'b'"), -1);
    assert_non_null(strstr(pg_error(c), "append-only"));
    assert_int_equal(pg_exec(c, "DELETE FROM audit_log"), -1);
    assert_int_equal(pg_exec(c, "TRUNCATE audit_log"), -1);
    assert_int_equal(pg_int(c, "SELECT count(*) FROM audit_log", 0, NULL, -1), 1);

    /* a transaction rolled back leaves nothing, and keeps the error that caused it */
    assert_int_equal(pg_begin(c), 0);
    assert_int_equal(pg_exec(c, "INSERT INTO settings VALUES('k', 'v', 0)"), 0);
    assert_int_equal(pg_exec(c, "INSERT INTO settings VALUES('k', 'v', 0)"), -1);
    pg_rollback(c);
    assert_string_equal(pg_sqlstate(c), "23505");
    assert_int_equal(pg_int(c, "SELECT count(*) FROM settings", 0, NULL, -1), 0);
    pg_close(c);
}

#define DAY PG_DAY_MS
#define NOW (INT64_C(1764720000000) + 5 * 3600 * 1000) /* 2025-12-03 05:00 UTC */

static void insert_chunk(pg_conn *c, int64_t series, int64_t start)
{
    char s[24], t[24];
    snprintf(s, sizeof s, "%lld", (long long)series);
    snprintf(t, sizeof t, "%lld", (long long)start);
    const char *p[] = {s, t};
    assert_int_equal(pg_cmd(c,
                            "INSERT INTO chunks(series_id, start_ts, end_ts, count, data)"
                            " VALUES($1, $2, $2, 1, '\\x00')",
                            2, p, NULL),
                     0);
}

static void test_partitions_ahead_and_retention_by_dropping_days(void **state)
{
    (void)state;
    char url[300];
    th_pg_fresh_db(url, sizeof url);
    pg_conn *c = connect_to(url);
    assert_int_equal(pg_migrate(c), 0);
    assert_int_equal(pg_partitions_ensure(c, NOW, 3, 2), 0);
    assert_int_equal(pg_partitions_ensure(c, NOW, 3, 2), 0); /* idempotent */
    const char *count = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass";
    assert_int_equal(pg_int(c, count, 0, NULL, -1), 6); /* 3 back, today, 2 ahead */
    const char *one[] = {"chunks_d20251203"};
    assert_int_equal(pg_int(c, "SELECT count(*) FROM pg_class WHERE relname = $1", 1, one, -1), 1);

    int64_t today = NOW - NOW % DAY;
    insert_chunk(c, 1, today - 3 * DAY);       /* oldest day */
    insert_chunk(c, 1, today - 2 * DAY + 500); /* second oldest */
    insert_chunk(c, 1, today + 10);
    insert_chunk(c, 2, today + 2 * DAY + DAY - 1); /* last ms of the last day */
    /* outside every partition: refused, never silently kept */
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)(today + 3 * DAY));
    const char *p[] = {s};
    assert_int_equal(pg_cmd(c,
                            "INSERT INTO chunks(series_id, start_ts, end_ts, count, data)"
                            " VALUES(3, $1, $1, 1, '\\x00')",
                            1, p, NULL),
                     -1);

    /* retention to today - 2 days + 1 h: only the oldest day ends before it */
    int dropped = -1;
    assert_int_equal(pg_partitions_drop_before(c, today - 2 * DAY + 3600000, &dropped), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(pg_int(c, "SELECT count(*) FROM chunks", 0, NULL, -1), 3);
    assert_int_equal(pg_int(c, count, 0, NULL, -1), 5);
    assert_int_equal(pg_partitions_drop_before(c, today, &dropped), 0);
    assert_int_equal(dropped, 2);
    assert_int_equal(pg_int(c, "SELECT count(*) FROM chunks", 0, NULL, -1), 2);
    pg_close(c);
}

static void test_connection_errors_and_a_lost_connection(void **state)
{
    (void)state;
    pg_conn *c = NULL;
    char err[256];
    assert_int_equal(pg_connect("postgresql://postgres@127.0.0.1:1/x", &c, err, sizeof err), -1);
    assert_null(c);
    assert_non_null(strstr(err, "127.0.0.1"));
    char url[300];
    snprintf(url, sizeof url, "%s_no_such_db", base_url);
    assert_int_equal(pg_connect(url, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    assert_true(pg_is_url("postgresql://h/db"));
    assert_true(pg_is_url("postgres://h/db"));
    assert_false(pg_is_url("sqlite:data"));
    assert_false(pg_is_url(NULL));

    /* the server ends our backend (as a restart would): seen as broken, then reconnected */
    c = connect_to(base_url);
    pg_conn *killer = connect_to(base_url);
    int64_t pid = pg_int(c, "SELECT pg_backend_pid()", 0, NULL, -1);
    char pids[24];
    snprintf(pids, sizeof pids, "%lld", (long long)pid);
    const char *p[] = {pids};
    assert_int_equal(pg_int(killer, "SELECT pg_terminate_backend($1::int)::int", 1, p, -1), 1);
    assert_int_equal(pg_int(c, "SELECT 1", 0, NULL, -1), -1);
    assert_true(pg_broken(c));
    assert_int_equal(pg_reset(c), 0);
    assert_int_equal(pg_int(c, "SELECT 1", 0, NULL, -1), 1);
    assert_false(pg_broken(c));
    pg_close(killer);
    pg_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_apply_once_with_nodes_starting_together),
        cmocka_unit_test(test_schema_rules_and_constraint_errors),
        cmocka_unit_test(test_partitions_ahead_and_retention_by_dropping_days),
        cmocka_unit_test(test_connection_errors_and_a_lost_connection),
    };
    return cmocka_run_group_tests(tests, load_url, NULL);
}
