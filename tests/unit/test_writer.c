/* The group-commit writer: completions run on the loop only after the points are durable,
 * batches in any order are stored whole, back-pressure reports and drains, device deletion,
 * and a failing store (a full disk, injected below SQLite) refuses everything until a write
 * succeeds again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store/db.h"
#include "store/sqlite/sqlite.h"
#include "store/writer.h"
#include "ingest/ingest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a full disk: a VFS over the default one whose writes fail with SQLITE_FULL while
 * disk_full is set (what the unix VFS returns for ENOSPC). Registered as the default VFS. */
static _Atomic int disk_full;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
} ff_file;

#define REAL(f) (((ff_file *)(f))->real)
#define M(f) (REAL(f)->pMethods)

static int ff_close(sqlite3_file *f)
{
    return M(f)->xClose(REAL(f));
}
static int ff_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return M(f)->xRead(REAL(f), p, n, off);
}
static int ff_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return atomic_load(&disk_full) ? SQLITE_FULL : M(f)->xWrite(REAL(f), p, n, off);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return M(f)->xTruncate(REAL(f), size);
}
static int ff_sync(sqlite3_file *f, int flags)
{
    return M(f)->xSync(REAL(f), flags);
}
static int ff_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return M(f)->xFileSize(REAL(f), size);
}
static int ff_lock(sqlite3_file *f, int l)
{
    return M(f)->xLock(REAL(f), l);
}
static int ff_unlock(sqlite3_file *f, int l)
{
    return M(f)->xUnlock(REAL(f), l);
}
static int ff_reserved(sqlite3_file *f, int *out)
{
    return M(f)->xCheckReservedLock(REAL(f), out);
}
static int ff_control(sqlite3_file *f, int op, void *arg)
{
    return M(f)->xFileControl(REAL(f), op, arg);
}
static int ff_sector(sqlite3_file *f)
{
    return M(f)->xSectorSize(REAL(f));
}
static int ff_chars(sqlite3_file *f)
{
    return M(f)->xDeviceCharacteristics(REAL(f));
}
static int ff_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
    return M(f)->xShmMap(REAL(f), pg, sz, extend, p);
}
static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return M(f)->xShmLock(REAL(f), off, n, flags);
}
static void ff_shm_barrier(sqlite3_file *f)
{
    M(f)->xShmBarrier(REAL(f));
}
static int ff_shm_unmap(sqlite3_file *f, int del)
{
    return M(f)->xShmUnmap(REAL(f), del);
}
static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return M(f)->xFetch(REAL(f), off, n, p);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return M(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods ff_methods = {
    3,           ff_close,       ff_read,      ff_write,   ff_truncate, ff_sync,  ff_size,
    ff_lock,     ff_unlock,      ff_reserved,  ff_control, ff_sector,   ff_chars, ff_shm_map,
    ff_shm_lock, ff_shm_barrier, ff_shm_unmap, ff_fetch,   ff_unfetch};

static int ff_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    ff_file *ff = (ff_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    ff->base.pMethods = ff->real->pMethods ? &ff_methods : NULL;
    return rc;
}

static void install_full_vfs(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    full_vfs = *real_vfs;
    full_vfs.zName = "iotad-test-full";
    full_vfs.szOsFile = (int)sizeof(ff_file) + real_vfs->szOsFile;
    full_vfs.xOpen = ff_open;
    sqlite3_vfs_register(&full_vfs, 1);
}

typedef struct {
    char dir[64];
    char path[128];
    uv_loop_t loop;
    sqlite3 *db;
    store *st;
    store_ts *ts;
    writer *w;
    int done, failed, drained;
    int last_status;
    int limited; /* completions with WRITER_E_SERIES_LIMIT */
} fixture;

static int setup_with(void **state, size_t queue_max, uint64_t max_series, uint64_t wal_max)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/iotad-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/iotad.db", f->dir);
    uv_loop_init(&f->loop);
    assert_int_equal(db_open(f->path, DB_SYNC_NORMAL, &f->db), 0);
    assert_int_equal(db_migrate(f->db), 0);
    assert_non_null(f->st = store_sqlite_wrap(f->db));
    char err[256];
    assert_int_equal(store_ts_open(f->st, &(store_ts_options){.wal_max_bytes = wal_max}, &f->ts,
                                   err, sizeof err),
                     0);
    writer_options o = {.checkpoint_interval_ms = 60000,
                        .queue_max_points = queue_max,
                        .max_series_per_device = max_series};
    assert_int_equal(writer_start(&f->loop, f->ts, &o, &f->w), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 1000000, 0, 0);
}

static int setup_series_limit(void **state)
{
    return setup_with(state, 1000000, 3, 0);
}

static int setup_small_queue(void **state)
{
    return setup_with(state, 100, 0, 0);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->w) writer_stop(f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    store_ts_close(f->ts);
    store_close(f->st);
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
    f->last_status = status;
    f->limited += status == WRITER_E_SERIES_LIMIT;
    writer_job_free(job);
}

static writer_job *make_job(fixture *f, const char *dev, int64_t ts0, int n, int step)
{
    ingest_batch b;
    ingest_batch_init(&b, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ingest_batch_push(&b, "temp", 4, ts0 + (int64_t)i * step, 20.0 + i), 0);
    writer_job *j = ingest_job_from_batch(dev, &b, on_done, f);
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
    if (STORE_TS(f->ts)->lookup(f->ts, dev, "temp", &sid) != 0) return 0;
    int n = 0;
    int64_t next;
    STORE_TS(f->ts)->query(f->ts, sid, 0, INT64_MAX, 0, count_point, &n, &next);
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

static void test_full_disk_refuses_until_a_write_succeeds(void **state)
{
    fixture *f = *state;
    writer_submit(f->w, make_job(f, "dev-g", 1000, 10, 1));
    run_until(f, 1);
    assert_int_equal(f->done, 1);
    atomic_store(&disk_full, 1);
    writer_submit(f->w, make_job(f, "dev-g", 2000, 10, 1));
    run_until(f, 2);
    assert_int_equal(f->failed, 1);
    assert_int_equal(f->last_status, WRITER_E_FULL);
    char msg[160];
    assert_int_equal(writer_failing(f->w, msg, sizeof msg), WRITER_E_FULL);
    assert_non_null(strstr(msg, "full"));
    /* while it fails, every job is refused (none is acknowledged as stored) */
    for (int j = 0; j < 5; j++)
        writer_submit(f->w, make_job(f, "dev-g", 3000 + j * 100, 10, 1));
    run_until(f, 7);
    assert_int_equal(f->failed, 6);
    assert_int_equal(f->last_status, WRITER_E_FULL);
    writer_stats st;
    writer_get_stats(f->w, &st);
    assert_true(st.failing);
    assert_int_equal(st.refused_points, 60);
    assert_true(st.failures >= 1);
    /* space returns: the idle writer's probe notices, without any ingest */
    atomic_store(&disk_full, 0);
    for (int spins = 0; writer_failing(f->w, NULL, 0) != 0 && spins < 20000; spins++)
        usleep(1000);
    assert_int_equal(writer_failing(f->w, NULL, 0), 0);
    writer_submit(f->w, make_job(f, "dev-g", 9000, 10, 1));
    run_until(f, 8);
    assert_int_equal(f->done, 2);
    assert_int_equal(stored(f, "dev-g"), 20); /* the two acknowledged jobs, nothing else */
    writer_get_stats(f->w, &st);
    assert_false(st.failing);
}

/* A job of one point per named metric. */
static writer_job *metrics_job(fixture *f, const char *dev, const char *const *names, int n)
{
    ingest_batch b;
    ingest_batch_init(&b, 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(ingest_batch_push(&b, names[i], strlen(names[i]), 1000 + i, i), 0);
    writer_job *j = ingest_job_from_batch(dev, &b, on_done, f);
    ingest_batch_free(&b);
    return j;
}

static int metric_count(fixture *f, const char *dev)
{
    uint64_t n = 0;
    int64_t sid;
    const char *all[] = {"a", "b", "c", "d", "e", "sys.x"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        n += STORE_TS(f->ts)->lookup(f->ts, dev, all[i], &sid) == 0;
    return (int)n;
}

static void test_jobs_over_the_series_limit_are_refused_whole(void **state)
{
    fixture *f = *state;
    const char *ab[] = {"a", "b"}, *bcd[] = {"b", "c", "d"}, *c[] = {"c"}, *abc[] = {"a", "b", "c"};
    writer_submit(f->w, metrics_job(f, "dev-h", ab, 2));
    run_until(f, 1);
    assert_int_equal(f->done, 1);
    /* one group: dev-h would reach 4 series (refused, b's point with it), dev-i is alone */
    writer_submit(f->w, metrics_job(f, "dev-h", bcd, 3));
    writer_submit(f->w, metrics_job(f, "dev-i", abc, 3));
    run_until(f, 3);
    assert_int_equal(f->failed, 1);
    assert_int_equal(f->limited, 1);
    assert_int_equal(metric_count(f, "dev-h"), 2);
    assert_int_equal(metric_count(f, "dev-i"), 3);
    assert_int_equal(writer_failing(f->w, NULL, 0), 0); /* a refusal, not a store failure */
    /* up to the limit is fine; iotad's own series never count against it */
    writer_submit(f->w, metrics_job(f, "dev-h", c, 1));
    writer_job *sys = metrics_job(f, "dev-h", (const char *const[]){"sys.x"}, 1);
    sys->internal = true;
    writer_submit(f->w, sys);
    run_until(f, 5);
    assert_int_equal(f->done, 4);
    assert_int_equal(metric_count(f, "dev-h"), 4);
}

static int setup_small_wal(void **state)
{
    return setup_with(state, 100000000, 0, 256 << 10);
}

static long long file_size(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fseek(fp, 0, SEEK_END);
    long long n = ftell(fp);
    fclose(fp);
    return n;
}

/* Back-to-back commits never leave the checkpoint thread a moment with every frame copied, so
 * SQLite never started the WAL over on its own: it grew with everything written. Above
 * wal_max_bytes the writer catches the WAL up between two groups and the next commit starts it
 * over, the file cut back to the bound. How far past the bound the file gets under load depends
 * on the load (a reader's snapshot or the checkpoint thread's pass can hold the catch-up off for
 * a few groups), so this asserts the mechanism with a reader the test controls: while it holds a
 * snapshot nothing can start the WAL over and the file grows with what is written; once it lets
 * go, the writer catches up at a following group (counted), and the file is back within the
 * bound. */
static void test_wal_starts_over_within_the_bound_once_readers_let_go(void **state)
{
    fixture *f = *state;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    const long long bound = 256 << 10;

    sqlite3 *reader;
    assert_int_equal(sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL),
        SQLITE_OK);

    enum { JOBS = 24, POINTS = 40000 };
    for (int j = 0; j < JOBS; j++) /* one job per group: each a commit of its own */
        writer_submit(f->w, make_job(f, "dev-w", 1000000 + (int64_t)j * POINTS, POINTS, 1));
    for (int spins = 0; f->done + f->failed < JOBS && spins < 120000; spins++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(f->done, JOBS);
    /* the reader's snapshot keeps every frame written since it began (at most one start-over,
     * before the first group, if everything had been copied when it began) */
    assert_true(file_size(wal) > 4 * bound);
    store_ts_stats st;
    STORE_TS(f->ts)->stats(f->ts, &st);
    const uint64_t held = st.wal_restarts;

    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* one-point groups until the writer has caught the WAL up: the first attempt can find the
     * checkpoint thread copying (SQLITE_BUSY), then it tries again 20 ms later */
    int jobs = JOBS;
    for (int tries = 0; st.wal_restarts == held && tries < 2000; tries++) {
        usleep(25000);
        writer_submit(f->w, make_job(f, "dev-w", 5000000 + tries, 1, 1));
        run_until(f, ++jobs);
        assert_int_equal(f->done, jobs);
        STORE_TS(f->ts)->stats(f->ts, &st);
    }
    assert_true(st.wal_restarts > held);
    /* the commit that started the WAL over cut the file back to the bound (journal_size_limit) */
    assert_in_range(file_size(wal), 1, bound);
    assert_int_equal(stored(f, "dev-w"), JOBS * POINTS + (jobs - JOBS));
}

int main(void)
{
    install_full_vfs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_completions_arrive_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_starts_over_within_the_bound_once_readers_let_go,
                                        setup_small_wal, teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_reverse_order_is_stored_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_overload_is_reported_and_drains, setup_small_queue,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_device_removes_its_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits_everything_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_refuses_until_a_write_succeeds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jobs_over_the_series_limit_are_refused_whole,
                                        setup_series_limit, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
