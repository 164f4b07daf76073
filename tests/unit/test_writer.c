/* The group-commit writer: completions run on the loop only after the points are durable,
 * batches in any order are stored whole, back-pressure reports and drains, device deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store/db.h"
#include "store/tsdb.h"
#include "store/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char path[128];
    uv_loop_t loop;
    sqlite3 *db, *wdb;
    tsdb *ts;
    writer *w;
    int done, failed, drained;
} fixture;

static int setup_with(void **state, size_t queue_max)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/iotad-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/iotad.db", f->dir);
    uv_loop_init(&f->loop);
    assert_int_equal(db_open(f->path, DB_SYNC_NORMAL, &f->db), 0);
    assert_int_equal(db_migrate(f->db), 0);
    assert_int_equal(db_open(f->path, DB_SYNC_NORMAL, &f->wdb), 0);
    assert_int_equal(tsdb_open(f->wdb, f->db, NULL, &f->ts), 0);
    writer_options o = {.checkpoint_interval_ms = 60000, .queue_max_points = queue_max};
    assert_int_equal(writer_start(&f->loop, f->wdb, f->ts, &o, &f->w), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 1000000);
}

static int setup_small_queue(void **state)
{
    return setup_with(state, 100);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->w) writer_stop(f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    tsdb_close(f->ts);
    db_close(f->wdb);
    db_close(f->db);
    uv_loop_close(&f->loop);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void on_done(writer_job *job, int status, void *arg)
{
    fixture *f = arg;
    if (status == 0)
        f->done++;
    else
        f->failed++;
    writer_job_free(job);
}

static writer_job *make_job(fixture *f, const char *dev, int64_t ts0, int n, int step)
{
    ingest_batch b;
    ingest_batch_init(&b, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ingest_batch_push(&b, "temp", 4, ts0 + (int64_t)i * step, 20.0 + i), 0);
    writer_job *j = writer_job_from_batch(dev, &b, on_done, f);
    ingest_batch_free(&b);
    return j;
}

static void run_until(fixture *f, int jobs)
{
    for (int spins = 0; f->done + f->failed < jobs && spins < 10000; spins++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void count_point(void *arg, int64_t ts, double v)
{
    (void)ts;
    (void)v;
    (*(int *)arg)++;
}

static int stored(fixture *f, const char *dev)
{
    int64_t sid;
    if (tsdb_series_lookup(f->ts, dev, "temp", &sid) != 0) return 0;
    int n = 0;
    int64_t next;
    tsdb_query(f->ts, sid, 0, INT64_MAX, 0, count_point, &n, &next);
    return n;
}

static void test_completions_arrive_after_commit(void **state)
{
    fixture *f = *state;
    for (int j = 0; j < 50; j++)
        writer_submit(f->w, make_job(f, "dev-a", 1000000 + j * 100, 10, 10));
    run_until(f, 50);
    assert_int_equal(f->done, 50);
    assert_int_equal(f->failed, 0);
    assert_int_equal(stored(f, "dev-a"), 500);
    writer_stats st;
    writer_get_stats(f->w, &st);
    assert_int_equal(st.points, 500);
    assert_true(st.commits >= 1 && st.commits <= 50); /* grouped */
    assert_int_equal(st.queued_points, 0);
}

static void test_batch_in_reverse_order_is_stored_whole(void **state)
{
    fixture *f = *state;
    writer_submit(f->w, make_job(f, "dev-b", 5000000, 1000, -1000));
    run_until(f, 1);
    assert_int_equal(f->done, 1);
    assert_int_equal(stored(f, "dev-b"), 1000);
    writer_stats st;
    writer_get_stats(f->w, &st);
    assert_int_equal(st.dropped_too_old, 0);
}

static void on_drain(void *arg)
{
    ((fixture *)arg)->drained++;
}

static void test_overload_is_reported_and_drains(void **state)
{
    fixture *f = *state;
    writer_on_drain(f->w, on_drain, f);
    for (int j = 0; j < 20; j++)
        writer_submit(f->w, make_job(f, "dev-c", 1000 + j * 100, 10, 1));
    assert_true(writer_overloaded(f->w));
    run_until(f, 20);
    for (int spins = 0; f->drained == 0 && spins < 1000; spins++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(f->done, 20);
    assert_false(writer_overloaded(f->w));
    assert_int_equal(f->drained, 1);
}

static void test_delete_device_removes_its_series(void **state)
{
    fixture *f = *state;
    writer_submit(f->w, make_job(f, "dev-d", 1000, 10, 1000));
    run_until(f, 1);
    assert_int_equal(stored(f, "dev-d"), 10);
    writer_delete_device(f->w, "dev-d");
    writer_submit(f->w, make_job(f, "dev-e", 1000, 5, 1000)); /* a marker to wait on */
    run_until(f, 2);
    assert_int_equal(stored(f, "dev-d"), 0);
    assert_int_equal(stored(f, "dev-e"), 5);
}

static void test_stop_commits_everything_queued(void **state)
{
    fixture *f = *state;
    for (int j = 0; j < 30; j++)
        writer_submit(f->w, make_job(f, "dev-f", 1000 + j * 10, 10, 1));
    writer_stop(f->w); /* without running the loop in between */
    f->w = NULL;
    assert_int_equal(f->done, 30);
    assert_int_equal(stored(f, "dev-f"), 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_completions_arrive_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_reverse_order_is_stored_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overload_is_reported_and_drains, setup_small_queue,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_device_removes_its_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits_everything_queued, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
