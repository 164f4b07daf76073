/* The device_data virtual table: the brief's Device_Data shape over the compact store, with
 * device/metric/time constraints pushed down and paging across large series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

#include "store/db.h"
#include "store/sqlite/device_data.h"
#include "store/sqlite/tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char dir[64];
    sqlite3 *db, *wdb;
    tsdb *ts;
} fixture;

static void append(fixture *f, const char *dev, const char *metric, int64_t t0, int n)
{
    int64_t sid;
    assert_int_equal(db_begin(f->wdb), 0);
    assert_int_equal(tsdb_series_get_or_create(f->ts, dev, metric, &sid), 0);
    for (int i = 0; i < n; i++)
        assert_true(tsdb_append(f->ts, sid, t0 + i * 1000LL, i * 0.5) >= 0);
    assert_int_equal(tsdb_pre_commit(f->ts), 0);
    assert_int_equal(db_commit(f->wdb), 0);
    assert_int_equal(tsdb_after_commit(f->ts), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    th_tempdir(f->dir, sizeof f->dir, "dd");
    f->db = th_open_db(f->dir);
    char path[128];
    snprintf(path, sizeof path, "%s/iotad.db", f->dir);
    assert_int_equal(db_open(path, DB_SYNC_NORMAL, &f->wdb), 0);
    assert_int_equal(tsdb_open(f->wdb, f->db, NULL, &f->ts), 0);
    assert_int_equal(device_data_register(f->db, f->ts), 0);
    append(f, "d1", "temp", 1000000, 10000); /* more than one page */
    append(f, "d1", "hum", 1000000, 10);
    append(f, "d2", "temp", 1000000, 5);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tsdb_close(f->ts);
    db_close(f->wdb);
    db_close(f->db);
    th_rmtree(f->dir);
    free(f);
    return 0;
}

static int64_t count(fixture *f, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM device_data %s", where);
    return db_int(f->db, -1, sql, "");
}

static void test_filters_are_pushed_down_and_exact(void **state)
{
    fixture *f = *state;
    assert_int_equal(count(f, ""), 10015);
    assert_int_equal(count(f, "WHERE device_id = 'd1'"), 10010);
    assert_int_equal(count(f, "WHERE device_id = 'd1' AND metric = 'temp'"), 10000);
    assert_int_equal(count(f, "WHERE metric = 'temp'"), 10005);
    assert_int_equal(count(f, "WHERE device_id = 'd1' AND metric = 'temp' AND timestamp >= "
                              "1000000 AND timestamp < 1010000"),
                     10);
    assert_int_equal(count(f, "WHERE device_id = 'd1' AND metric = 'temp' AND timestamp > "
                              "1000000 AND timestamp <= 1010000"),
                     10);
    assert_int_equal(count(f, "WHERE device_id = 'nope'"), 0);
}

static void test_rows_have_the_briefs_shape(void **state)
{
    fixture *f = *state;
    bool found;
    cJSON *row = db_row_json(f->db, &found,
                             "SELECT id, device_id, timestamp, metric, value FROM device_data "
                             "WHERE device_id = 'd2' AND metric = 'temp' ORDER BY timestamp DESC",
                             "");
    assert_true(found);
    assert_string_equal(cJSON_GetObjectItem(row, "device_id")->valuestring, "d2");
    assert_int_equal((int64_t)cJSON_GetObjectItem(row, "timestamp")->valuedouble, 1004000);
    assert_true(cJSON_GetObjectItem(row, "value")->valuedouble == 2.0);
    assert_non_null(strchr(cJSON_GetObjectItem(row, "id")->valuestring, '-'));
    cJSON_Delete(row);
    assert_int_equal(db_int(f->db, -1,
                            "SELECT CAST(SUM(value) * 2 AS INTEGER) FROM device_data "
                            "WHERE device_id = 'd1' AND metric = 'hum'",
                            ""),
                     45);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filters_are_pushed_down_and_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_have_the_briefs_shape, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
