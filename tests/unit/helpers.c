/* Shared unit-test helpers; see helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

#include "store/db.h"
#include "store/pg/pg.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void th_tempdir(char *dir, size_t cap, const char *tag)
{
    assert_true(snprintf(dir, cap, "/tmp/iotad-%s-XXXXXX", tag) < (int)cap);
    assert_non_null(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void th_rmtree(const char *dir)
{
    if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

sqlite3 *th_open_db(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/iotad.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(db_open(path, DB_SYNC_NORMAL, &db), 0);
    assert_int_equal(db_migrate(db), 0);
    return db;
}

void th_assert_point(const ingest_point *p, const char *metric, int64_t ts_ms, double value)
{
    assert_non_null(p);
    assert_string_equal(p->metric, metric);
    assert_int_equal(p->metric_len, strlen(metric));
    assert_int_equal(p->ts_ms, ts_ms);
    assert_true(p->value == value);
}

int th_service_url(const char *key, char *out, size_t cap)
{
    const char *dir = getenv("IOTAD_TEST_SERVICES_DIR");
    if (!dir) return -1;
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/env", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t klen = strlen(key);
    int rc = -1;
    while (rc && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 || line[klen] != '=') continue;
        snprintf(out, cap, "%.*s", (int)strcspn(line + klen + 1, "\r\n"), line + klen + 1);
        rc = out[0] ? 0 : -1;
    }
    fclose(f);
    return rc;
}

void th_pg_fresh_db(char *url, size_t cap)
{
    static unsigned n;
    char base[256], name[64], sql[128], err[256];
    if (th_service_url("IOTAD_TEST_PG_URL", base, sizeof base) != 0)
        fail_msg("no PostgreSQL: run this test through ctest (fixture start_postgres)");
    snprintf(name, sizeof name, "t_%d_%u", (int)getpid(), n++);
    pg_conn *admin = NULL;
    if (pg_connect(base, &admin, err, sizeof err) != 0) fail_msg("connect %s: %s", base, err);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    assert_int_equal(pg_exec(admin, sql), 0);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    assert_int_equal(pg_exec(admin, sql), 0);
    pg_close(admin);
    const char *slash = strrchr(base, '/');
    assert_non_null(slash);
    assert_true(snprintf(url, cap, "%.*s/%s", (int)(slash - base), base, name) < (int)cap);
}
