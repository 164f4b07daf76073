/* Tests of the forensic export producer (report/export.c) on a real store without a server:
 * the manifest's hash and byte count cover exactly the bytes before it, points come out
 * exactly (values round-trip), paging over many pieces loses nothing, the device filter
 * holds, CSV quoting, and the `what` parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/server.h"
#include "report/export.h"
#include "store/db.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000)

typedef struct {
    char path[128];
    sqlite3 *wdb, *rdb;
    tsdb *ts;
    server s;
    char dev[2][UUID_STR_LEN + 1];
} fixture;

static void append_points(fixture *f, const char *dev, const char *metric, int n)
{
    int64_t sid;
    assert_int_equal(db_begin(f->wdb), 0);
    assert_int_equal(tsdb_series_get_or_create(f->ts, dev, metric, &sid), 0);
    for (int i = 0; i < n; i++)
        assert_true(tsdb_append(f->ts, sid, T0 + i * 1000, i * 0.1) >= 0);
    assert_int_equal(tsdb_pre_commit(f->ts), 0);
    assert_int_equal(db_commit(f->wdb), 0);
    assert_int_equal(tsdb_after_commit(f->ts), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/test_report_export_%d.db", (int)getpid());
    unlink(f->path);
    assert_int_equal(db_open(f->path, DB_SYNC_NORMAL, &f->wdb), 0);
    assert_int_equal(db_migrate(f->wdb), 0);
    assert_int_equal(db_open(f->path, DB_SYNC_NORMAL, &f->rdb), 0);
    assert_int_equal(tsdb_open(f->wdb, f->rdb, NULL, &f->ts), 0);
    for (int d = 0; d < 2; d++) {
        util_uuid7(f->dev[d]);
        assert_int_equal(db_exec(f->wdb, NULL,
                                 "INSERT INTO devices(id, name, created_at, updated_at) "
                                 "VALUES(?, 'd', 0, 0)",
                                 "s", f->dev[d]),
                         0);
    }
    append_points(f, f->dev[0], "temp", 5000);
    append_points(f, f->dev[0], "odd,\"name\"", 3);
    append_points(f, f->dev[1], "temp", 700);
    assert_int_equal(db_exec(f->wdb, NULL,
                             "INSERT INTO device_events(ts, device_id, category, kind, transport,"
                             " peer, detail) VALUES(?, ?, 'security', 'bad_payload', 'http', "
                             "'10.0.0.1:5', 'line\nbreak \"quoted\"')",
                             "is", T0 + 10, f->dev[1]),
                     0);
    f->s.db = f->rdb;
    f->s.st = store_sqlite_wrap(f->rdb);
    assert_non_null(f->s.st);
    f->s.ts = store_sqlite_ts_wrap(f->ts, f->wdb);
    assert_non_null(f->s.ts);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->s.st);
    store_ts_close(f->s.ts);
    tsdb_close(f->ts);
    db_close(f->rdb);
    db_close(f->wdb);
    char p[160];
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

/* Runs an export to the end with small pieces; returns the malloc'd output. */
static char *run(fixture *f, const export_params *p, size_t want, size_t *len, int *pieces)
{
    export_job *e = export_new(&f->s, p, "test-export");
    assert_non_null(e);
    char *all = NULL;
    size_t n = 0;
    int rc, k = 0;
    do {
        const char *data;
        size_t l;
        rc = export_next(e, want, &data, &l);
        assert_true(rc >= 0);
        all = realloc(all, n + l + 1);
        memcpy(all + n, data, l);
        n += l;
        k++;
    } while (rc == 1);
    all[n] = '\0';
    const char *d;
    size_t l;
    assert_int_equal(export_next(e, want, &d, &l), 0); /* finished stays finished */
    assert_int_equal(l, 0);
    export_free(e);
    *len = n;
    if (pieces) *pieces = k;
    return all;
}

static size_t count(const char *hay, const char *needle)
{
    size_t c = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        c++;
    return c;
}

static void params(export_params *p, export_format fmt)
{
    memset(p, 0, sizeof *p);
    p->format = fmt;
    p->what = EXPORT_ALL;
    p->from_ms = 0;
    p->to_ms = INT64_MAX;
}

static void test_manifest_hash_covers_every_byte_before_it(void **state)
{
    fixture *f = *state;
    export_params p;
    params(&p, EXPORT_NDJSON);
    size_t n;
    int pieces;
    char *out = run(f, &p, 4096, &n, &pieces);
    assert_true(pieces >= 5); /* several pieces and tsdb pages: paging was exercised */
    char *last = out + n - 1;
    *last = '\0';
    char *m = strrchr(out, '\n') + 1;
    size_t body = (size_t)(m - out);
    char hex[65], expect[96];
    util_sha256_hex(out, body, hex);
    snprintf(expect, sizeof expect, "\"sha256\":\"%s\"", hex);
    assert_non_null(strstr(m, expect));
    snprintf(expect, sizeof expect, "\"bytes\":%zu", body);
    assert_non_null(strstr(m, expect));
    assert_non_null(strstr(m, "\"point\":5703"));
    assert_int_equal(count(out, "\"type\":\"point\""), 5703);
    assert_int_equal(count(out, "\"type\":\"event\""), 1);
    assert_true(strncmp(out, "{\"type\":\"header\"", 16) == 0);
    /* values round-trip exactly; odd names and texts are escaped */
    assert_non_null(strstr(out, "\"ts\":1700000007000,\"value\":0.70000000000000007}"));
    assert_non_null(strstr(out, "\"metric\":\"odd,\\\"name\\\"\""));
    assert_non_null(strstr(out, "\"detail\":\"line\\nbreak \\\"quoted\\\"\""));
    free(out);
}

static void test_device_filter_and_time_range_hold(void **state)
{
    fixture *f = *state;
    export_params p;
    params(&p, EXPORT_NDJSON);
    snprintf(p.devices, sizeof p.devices, "%s", f->dev[1]);
    p.what = EXPORT_POINTS;
    p.from_ms = T0 + 100000;
    p.to_ms = T0 + 200000;
    size_t n;
    char *out = run(f, &p, 65536, &n, NULL);
    assert_int_equal(count(out, "\"type\":\"point\""), 100);
    assert_null(strstr(out, f->dev[0]));
    assert_non_null(strstr(out, "\"ts\":1700000100000,"));
    assert_null(strstr(out, "\"ts\":1700000200000,"));
    assert_int_equal(count(out, "\"type\":\"event\""), 0);
    free(out);
}

static void test_csv_quotes_and_ends_with_manifest_row(void **state)
{
    fixture *f = *state;
    export_params p;
    params(&p, EXPORT_CSV);
    size_t n;
    char *out = run(f, &p, 1 << 20, &n, NULL);
    assert_true(strncmp(out, "record,ts,device_id,name,value,detail\n", 38) == 0);
    assert_non_null(strstr(out, ",\"odd,\"\"name\"\"\",0.1,\n"));
    assert_int_equal(count(out, "\npoint,"), 5703);
    out[n - 1] = '\0';
    char *m = strrchr(out, '\n') + 1;
    char hex[65], expect[96];
    util_sha256_hex(out, (size_t)(m - out), hex);
    snprintf(expect, sizeof expect, "manifest,");
    assert_true(strncmp(m, expect, 9) == 0);
    snprintf(expect, sizeof expect, ",,sha256,%s,", hex);
    assert_non_null(strstr(m, expect));
    free(out);
}

static void test_what_parser(void **state)
{
    (void)state;
    unsigned w;
    assert_int_equal(export_what_parse("", &w), 0);
    assert_int_equal(w, EXPORT_ALL);
    assert_int_equal(export_what_parse("all", &w), 0);
    assert_int_equal(w, EXPORT_ALL);
    assert_int_equal(export_what_parse("points,audit", &w), 0);
    assert_int_equal(w, EXPORT_POINTS | EXPORT_AUDIT);
    assert_int_equal(export_what_parse("events", &w), 0);
    assert_int_equal(w, EXPORT_EVENTS);
    assert_int_equal(export_what_parse("points,", &w), 0);
    assert_int_equal(export_what_parse("point", &w), -1);
    assert_int_equal(export_what_parse("points,,x", &w), -1);
    assert_int_equal(export_what_parse(",", &w), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_manifest_hash_covers_every_byte_before_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_filter_and_time_range_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_quotes_and_ends_with_manifest_row, setup,
                                        teardown),
        cmocka_unit_test(test_what_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
