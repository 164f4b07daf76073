/* Unit tests for the tsdb engine on real SQLite files in temporary directories: queries and
 * paging, rollups against a brute-force reference, checkpoints, crash recovery (a forked
 * child writes and dies without closing), out-of-order points, retention, device deletion,
 * rollback, a reader thread querying while the writer appends, and the log as a record of
 * commits (rows held for a consumer, ids never reused, scans after a mark). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store/sqlite/tsdb.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000)
#define DEV_A "0190a6b2-7c1e-7a00-8000-00000000000a"
#define DEV_B "0190a6b2-7c1e-7a00-8000-00000000000b"

typedef struct {
    char dir[64];
    char path[96];
    sqlite3 *w, *r;
    tsdb *t;
    tsdb_options opt;
} fixture;

static sqlite3 *open_conn(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_OK);
    return db;
}

static void fx_open(fixture *f)
{
    f->w = open_conn(f->path);
    f->r = open_conn(f->path);
    assert_int_equal(tsdb_open(f->w, f->r, &f->opt, &f->t), 0);
}

static void fx_close(fixture *f)
{
    tsdb_close(f->t);
    f->t = NULL;
    assert_int_equal(sqlite3_close(f->w), SQLITE_OK);
    assert_int_equal(sqlite3_close(f->r), SQLITE_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/iotad_tsdb_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    tsdb_options_init(&f->opt);
    f->opt.chunk_points = 32; /* small chunks: most tests cross chunk boundaries */
    sqlite3 *db = open_conn(f->path);
    char *sql = NULL;
    size_t len = strlen(tsdb_schema_sql()) + 32;
    sql = malloc(len);
    assert_non_null(sql);
    snprintf(sql, len, "BEGIN;%sCOMMIT;", tsdb_schema_sql());
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    sqlite3_close(db);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->t) fx_close(f);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void begin(fixture *f)
{
    assert_int_equal(sqlite3_exec(f->w, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
}

static void commit(fixture *f)
{
    assert_int_equal(tsdb_pre_commit(f->t), 0);
    assert_int_equal(sqlite3_exec(f->w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tsdb_after_commit(f->t), 0);
}

static int64_t series(fixture *f, const char *dev, const char *metric)
{
    int64_t id = -1;
    begin(f);
    assert_int_equal(tsdb_series_get_or_create(f->t, dev, metric, &id), 0);
    commit(f);
    return id;
}

/* Appends n points in transactions of per_txn points. */
static void write_points(fixture *f, int64_t sid, const int64_t *ts, const double *v, size_t n,
                         size_t per_txn)
{
    for (size_t i = 0; i < n;) {
        begin(f);
        for (size_t k = 0; k < per_txn && i < n; k++, i++)
            assert_int_equal(tsdb_append(f->t, sid, ts[i], v[i]), 0);
        commit(f);
    }
}

typedef struct {
    int64_t ts[20000];
    double v[20000];
    size_t n;
} collected;

static void collect(void *arg, int64_t ts, double v)
{
    collected *c = arg;
    assert_true(c->n < 20000);
    c->ts[c->n] = ts;
    c->v[c->n] = v;
    c->n++;
}

static collected *query(fixture *f, int64_t sid, int64_t from, int64_t to)
{
    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    int64_t next = 0;
    int n = tsdb_query(f->t, sid, from, to, 0, collect, c, &next);
    assert_int_equal(n, (int)c->n);
    assert_int_equal(next, -1);
    return c;
}

/* Checks that a query of [from, to) returns exactly the reference points in that range. */
static void expect_range(fixture *f, int64_t sid, const int64_t *ts, const double *v, size_t n,
                         int64_t from, int64_t to)
{
    collected *c = query(f, sid, from, to);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < from || ts[i] >= to) continue;
        assert_true(k < c->n);
        assert_int_equal(c->ts[k], ts[i]);
        assert_memory_equal(&c->v[k], &v[i], sizeof(double));
        k++;
    }
    assert_int_equal(k, c->n);
    free(c);
}

static void make_series(int64_t *ts, double *v, size_t n, int64_t step, int seed)
{
    double x = 2000 + seed;
    for (size_t i = 0; i < n; i++) {
        ts[i] = T0 + (int64_t)i * step + (int64_t)((i * 7919 + (size_t)seed) % 41) - 20;
        x += (double)((int)((i * 31 + (size_t)seed) % 11) - 5);
        v[i] = x / 100;
    }
}

static void test_appended_points_are_returned_by_range_queries_in_order(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "temp");
    enum { N = 1000 };
    static int64_t ts[N];
    static double v[N];
    make_series(ts, v, N, 10000, 1);
    write_points(f, sid, ts, v, N, 77);
    expect_range(f, sid, ts, v, N, INT64_MIN, INT64_MAX);
    expect_range(f, sid, ts, v, N, ts[0], ts[N - 1]); /* to is exclusive */
    for (int r = 0; r < 50; r++) {
        int64_t a = ts[(r * 37) % N] + (r % 3) - 1, b = a + (r + 1) * 77777;
        expect_range(f, sid, ts, v, N, a, b);
    }
    expect_range(f, sid, ts, v, N, ts[N - 1] + 1, INT64_MAX); /* empty */
    collected *c = query(f, sid + 1000, INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, 0);
    free(c);
}

static void test_query_pages_with_limit_and_next_ts(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "hum");
    enum { N = 500 };
    static int64_t ts[N];
    static double v[N];
    make_series(ts, v, N, 1000, 2);
    write_points(f, sid, ts, v, N, 100);
    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    int64_t from = INT64_MIN, next = 0;
    int pages = 0;
    do {
        size_t before = c->n;
        int n = tsdb_query(f->t, sid, from, INT64_MAX, 45, collect, c, &next);
        assert_int_equal(n, (int)(c->n - before));
        assert_true(n <= 45);
        if (next != -1) {
            assert_int_equal(n, 45);
            assert_int_equal(next, ts[c->n]);
        }
        from = next;
        pages++;
    } while (next != -1);
    assert_int_equal(pages, (N + 44) / 45);
    assert_int_equal(c->n, N);
    assert_memory_equal(c->ts, ts, sizeof ts);
    assert_memory_equal(c->v, v, sizeof v);
    free(c);
}

typedef struct {
    int64_t bucket[5000];
    double min[5000], max[5000], avg[5000];
    uint64_t count[5000];
    size_t n;
} buckets;

static void collect_bucket(void *arg, int64_t b, double mn, double mx, double avg, uint64_t n)
{
    buckets *r = arg;
    assert_true(r->n < 5000);
    r->bucket[r->n] = b;
    r->min[r->n] = mn;
    r->max[r->n] = mx;
    r->avg[r->n] = avg;
    r->count[r->n] = n;
    r->n++;
}

static int64_t floor_to(int64_t ts, int64_t step)
{
    int64_t r = ts % step;
    return r < 0 ? ts - r - step : ts - r;
}

static void test_rollups_match_a_brute_force_reference(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "power");
    enum { N = 3000 };
    static int64_t ts[N];
    static double v[N];
    make_series(ts, v, N, 7000, 3);
    write_points(f, sid, ts, v, N, 250);
    const int64_t steps[] = {60000, 3600000, 12345, 1};
    const int64_t ranges[][2] = {{INT64_MIN, INT64_MAX},
                                 {T0 + 100000, T0 + 9000000},
                                 {T0 - 5, T0 + 61000},
                                 {T0 + 1000000, T0 + 1000001}};
    buckets *got = calloc(1, sizeof *got), *want = calloc(1, sizeof *want);
    assert_non_null(got);
    assert_non_null(want);
    for (size_t s = 0; s < 4; s++) {
        for (size_t r = 0; r < 4; r++) {
            if (steps[s] == 1 && r == 0) continue; /* too many buckets for the buffers */
            int64_t from = ranges[r][0], to = ranges[r][1];
            memset(want, 0, sizeof *want);
            memset(got, 0, sizeof *got);
            for (size_t i = 0; i < N; i++) {
                if (ts[i] < from || ts[i] >= to) continue;
                int64_t b = floor_to(ts[i], steps[s]);
                if (want->n == 0 || want->bucket[want->n - 1] != b) {
                    want->bucket[want->n] = b;
                    want->min[want->n] = want->max[want->n] = v[i];
                    want->avg[want->n] = 0;
                    want->n++;
                }
                size_t k = want->n - 1;
                want->min[k] = fmin(want->min[k], v[i]);
                want->max[k] = fmax(want->max[k], v[i]);
                want->avg[k] += v[i];
                want->count[k]++;
            }
            for (size_t k = 0; k < want->n; k++)
                want->avg[k] /= (double)want->count[k];
            int n = tsdb_rollup(f->t, sid, from, to, steps[s], collect_bucket, got);
            assert_int_equal(n, (int)want->n);
            assert_int_equal(got->n, want->n);
            for (size_t k = 0; k < want->n; k++) {
                assert_int_equal(got->bucket[k], want->bucket[k]);
                assert_int_equal(got->count[k], want->count[k]);
                assert_true(got->min[k] == want->min[k]);
                assert_true(got->max[k] == want->max[k]);
                assert_true(fabs(got->avg[k] - want->avg[k]) <= 1e-9 * fabs(want->avg[k]));
            }
        }
    }
    assert_int_equal(tsdb_rollup(f->t, sid, T0, T0 + 1, 0, collect_bucket, got), TSDB_E_INVALID);
    free(got);
    free(want);
}

static void test_points_survive_checkpoint_close_and_reopen(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "temp");
    enum { N = 250 };
    static int64_t ts[N];
    static double v[N];
    make_series(ts, v, N, 10000, 4);
    write_points(f, sid, ts, v, 100, 30);
    assert_int_equal(tsdb_checkpoint(f->t), 0);
    tsdb_stats st;
    tsdb_get_stats(f->t, &st);
    /* chunk_points 32: points 96..99 are in the head, written by the last 10-point
     * transaction; the checkpoint keeps only that log row */
    assert_int_equal(st.log_rows, 10);
    expect_range(f, sid, ts, v, 100, INT64_MIN, INT64_MAX);
    write_points(f, sid, ts + 100, v + 100, N - 100, 30);
    fx_close(f);
    fx_open(f);
    expect_range(f, sid, ts, v, N, INT64_MIN, INT64_MAX);
    int64_t again = -1;
    assert_int_equal(tsdb_series_lookup(f->t, DEV_A, "temp", &again), 0);
    assert_int_equal(again, sid);
    /* appends continue the recovered open chunk */
    int64_t more_ts[40];
    double more_v[40];
    for (int i = 0; i < 40; i++) {
        more_ts[i] = ts[N - 1] + 1000 * (i + 1);
        more_v[i] = i;
    }
    write_points(f, sid, more_ts, more_v, 40, 40);
    expect_range(f, sid, more_ts, more_v, 40, ts[N - 1] + 1, INT64_MAX);
    expect_range(f, sid, ts, v, N, INT64_MIN, ts[N - 1] + 1);
}

/* Runs fn in a child process that dies without closing anything (a crash). */
static void crash_child(fixture *f, void (*fn)(fixture *f, void *arg), void *arg)
{
    fx_close(f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx_open(f);
        fn(f, arg);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_open(f);
}

typedef struct {
    int64_t sid[3];
    int64_t ts[3][300];
    double v[3][300];
    size_t n;
    bool checkpoint_midway;
    bool skip_pre_commit;
} crash_plan;

static void crash_writer(fixture *f, void *arg)
{
    crash_plan *p = arg;
    for (size_t i = 0; i < p->n;) {
        if (sqlite3_exec(f->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) _exit(2);
        for (size_t k = 0; k < 25 && i < p->n; k++, i++)
            for (int s = 0; s < 3; s++)
                if (tsdb_append(f->t, p->sid[s], p->ts[s][i], p->v[s][i]) != 0) _exit(3);
        if (!p->skip_pre_commit && tsdb_pre_commit(f->t) != 0) _exit(4);
        if (sqlite3_exec(f->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) _exit(5);
        if (tsdb_after_commit(f->t) != 0) _exit(6);
        if (p->checkpoint_midway && i == 150 && tsdb_checkpoint(f->t) != 0) _exit(7);
    }
    /* an uncommitted transaction is lost with the crash */
    if (sqlite3_exec(f->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) _exit(8);
    if (tsdb_append(f->t, p->sid[0], p->ts[0][p->n - 1] + 1, 1) != 0) _exit(9);
    if (tsdb_pre_commit(f->t) != 0) _exit(10);
}

static void run_crash(fixture *f, size_t n, bool checkpoint_midway, bool skip_pre_commit)
{
    static crash_plan p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.checkpoint_midway = checkpoint_midway;
    p.skip_pre_commit = skip_pre_commit;
    const char *metrics[3] = {"temp", "hum", "count"};
    for (int s = 0; s < 3; s++) {
        p.sid[s] = series(f, s == 2 ? DEV_B : DEV_A, metrics[s]);
        make_series(p.ts[s], p.v[s], n, 10000 + s, 10 + s);
    }
    crash_child(f, crash_writer, &p);
    for (int s = 0; s < 3; s++)
        expect_range(f, p.sid[s], p.ts[s], p.v[s], n, INT64_MIN, INT64_MAX);
    /* and the recovered store keeps working */
    int64_t t1 = p.ts[0][n - 1] + 5000;
    double v1 = 7.5;
    write_points(f, p.sid[0], &t1, &v1, 1, 1);
    collected *c = query(f, p.sid[0], INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, n + 1);
    assert_int_equal(c->ts[n], t1);
    free(c);
}

static void test_crash_with_points_only_in_the_log_recovers_them(void **state)
{
    run_crash(*state, 20, false, false); /* fewer than a chunk: nothing but the log */
}

static void test_crash_after_chunks_and_a_checkpoint_recovers_every_point(void **state)
{
    run_crash(*state, 300, true, false);
}

static void test_commit_without_pre_commit_is_still_durable(void **state)
{
    run_crash(*state, 60, false, true);
}

static int64_t count_rows(sqlite3 *db, const char *sql);

typedef struct {
    int64_t fast, slow;
    int64_t fts[200], sts[10];
    double fv[200], sv[10];
    size_t fn, sn;
} lag_plan;

static void lag_writer(fixture *f, void *arg)
{
    lag_plan *p = arg;
    for (size_t txn = 0; txn < 20; txn++) {
        if (sqlite3_exec(f->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) _exit(2);
        for (size_t k = 0; k < 10; k++, p->fn++)
            if (tsdb_append(f->t, p->fast, p->fts[p->fn], p->fv[p->fn]) != 0) _exit(3);
        if (txn % 5 == 0) {
            if (tsdb_append(f->t, p->slow, p->sts[p->sn], p->sv[p->sn]) != 0) _exit(4);
            p->sn++;
        }
        if (tsdb_pre_commit(f->t) != 0) _exit(5);
        if (sqlite3_exec(f->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) _exit(6);
        if (tsdb_after_commit(f->t) != 0) _exit(7); /* checkpoints when the log reaches 40 */
    }
}

static void
test_checkpoints_bound_the_log_by_writing_lagging_heads_and_recover_exactly(void **state)
{
    fixture *f = *state;
    fx_close(f);
    f->opt.checkpoint_log_points = 40;
    f->opt.keep_idle_heads = true; /* only the log budget may force the slow head out */
    fx_open(f);
    static lag_plan p;
    memset(&p, 0, sizeof p);
    p.fast = series(f, DEV_A, "fast");
    p.slow = series(f, DEV_A, "slow");
    make_series(p.fts, p.fv, 200, 1000, 20);
    make_series(p.sts, p.sv, 10, 50000, 21);
    crash_child(f, lag_writer, &p);
    p.fn = 200;
    p.sn = 4;
    expect_range(f, p.fast, p.fts, p.fv, p.fn, INT64_MIN, INT64_MAX);
    expect_range(f, p.slow, p.sts, p.sv, p.sn, INT64_MIN, INT64_MAX);
    /* the slow series held the log back: the checkpoints wrote its head as an open chunk */
    assert_true(count_rows(f->r, "SELECT coalesce(sum(npoints), 0) FROM points_log") <= 51);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks WHERE series_id = %lld",
             (long long)p.slow);
    assert_int_equal(count_rows(f->r, sql), 1);
}

static void test_rolled_back_transaction_leaves_no_points_or_series(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "temp");
    int64_t ts[40];
    double v[40];
    make_series(ts, v, 40, 1000, 5);
    write_points(f, sid, ts, v, 20, 20);
    begin(f);
    for (int i = 20; i < 40; i++)
        assert_int_equal(tsdb_append(f->t, sid, ts[i], v[i]), 0);
    int64_t ghost = -1;
    assert_int_equal(tsdb_series_get_or_create(f->t, DEV_B, "ghost", &ghost), 0);
    assert_int_equal(tsdb_append(f->t, ghost, T0, 1), 0);
    assert_int_equal(tsdb_pre_commit(f->t), 0);
    assert_int_equal(sqlite3_exec(f->w, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tsdb_after_rollback(f->t), 0);
    expect_range(f, sid, ts, v, 20, INT64_MIN, INT64_MAX);
    int64_t id;
    assert_int_equal(tsdb_series_lookup(f->t, DEV_B, "ghost", &id), TSDB_E_NOT_FOUND);
    assert_int_equal(tsdb_append(f->t, ghost, T0, 1), TSDB_E_NOT_FOUND);
    write_points(f, sid, ts + 20, v + 20, 20, 20); /* the same points go in again */
    expect_range(f, sid, ts, v, 40, INT64_MIN, INT64_MAX);
}

static void test_out_of_order_points_are_merged_and_older_than_a_closed_chunk_dropped(void **state)
{
    fixture *f = *state;
    int64_t sid = series(f, DEV_A, "temp");
    begin(f);
    /* chunk_points = 32: 40 points close one chunk [T0, T0+31s] and leave 8 in the head */
    for (int i = 0; i < 40; i++)
        assert_int_equal(tsdb_append(f->t, sid, T0 + i * 1000, i), 0);
    commit(f);
    assert_int_equal(tsdb_checkpoint(f->t), 0); /* open chunk row keyed T0 + 32 s */
    begin(f);
    /* in the head but out of order: inserted in place */
    assert_int_equal(tsdb_append(f->t, sid, T0 + 35500, 35.5), 0);
    /* same timestamp as a head point: replaces it, and says so */
    assert_int_equal(tsdb_append(f->t, sid, T0 + 36000, -36), TSDB_REPLACED);
    /* at or before the end of the closed chunk: dropped */
    assert_int_equal(tsdb_append(f->t, sid, T0 + 31000, 0), TSDB_DROPPED_TOO_OLD);
    assert_int_equal(tsdb_append(f->t, sid, T0 - 1, 0), TSDB_DROPPED_TOO_OLD);
    /* between the closed chunk and the head start: accepted at the front of the head */
    assert_int_equal(tsdb_append(f->t, sid, T0 + 31500, 31.5), 0);
    commit(f);
    static int64_t ts[50];
    static double v[50];
    size_t n = 0;
    for (int i = 0; i < 40; i++) {
        if (i == 32) {
            ts[n] = T0 + 31500;
            v[n++] = 31.5;
        }
        if (i == 36) {
            ts[n] = T0 + 35500;
            v[n++] = 35.5;
        }
        ts[n] = T0 + i * 1000;
        v[n++] = i == 36 ? -36 : i;
    }
    expect_range(f, sid, ts, v, n, INT64_MIN, INT64_MAX);
    tsdb_stats st;
    tsdb_get_stats(f->t, &st);
    assert_int_equal(st.points_dropped, 2);
    /* the same after a checkpoint and a reopen (open chunk keyed by the moved start) */
    assert_int_equal(tsdb_checkpoint(f->t), 0);
    fx_close(f);
    fx_open(f);
    expect_range(f, sid, ts, v, n, INT64_MIN, INT64_MAX);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(f->r, "SELECT count(*) FROM chunks", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2); /* no stale open chunk row */
    sqlite3_finalize(q);
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void test_retention_drops_old_chunks_and_keeps_recent_points(void **state)
{
    fixture *f = *state;
    int64_t a = series(f, DEV_A, "temp"), b = series(f, DEV_B, "old");
    enum { N = 320 };
    static int64_t ts[N];
    static double v[N];
    for (int i = 0; i < N; i++) {
        ts[i] = T0 + i * 1000;
        v[i] = i;
    }
    write_points(f, a, ts, v, N, 64);
    write_points(f, b, ts, v, 40, 40); /* b: one closed chunk + 8 old points in its head */
    int64_t cutoff = T0 + 200500;
    assert_int_equal(tsdb_delete_before(f->t, cutoff), 0);
    /* chunks are dropped whole: a's chunk [192 s, 223 s] straddles the cutoff and stays */
    expect_range(f, a, ts + 192, v + 192, N - 192, INT64_MIN, INT64_MAX);
    collected *c = query(f, b, INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, 0);
    free(c);
    assert_int_equal(count_rows(f->r, "SELECT count(*) FROM chunks WHERE end_ts < 1700000200500"),
                     0);
    assert_int_equal(count_rows(f->r, "SELECT count(*) FROM points_log"), 0);
    /* older points are refused from now on */
    begin(f);
    assert_int_equal(tsdb_append(f->t, b, T0 + 100, 1), TSDB_DROPPED_TOO_OLD);
    commit(f);
    /* nothing comes back after a restart */
    fx_close(f);
    fx_open(f);
    expect_range(f, a, ts + 192, v + 192, N - 192, INT64_MIN, INT64_MAX);
    c = query(f, b, INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, 0);
    free(c);
}

static void count_metric(void *arg, const char *metric, int64_t sid)
{
    (void)metric;
    (void)sid;
    (*(int *)arg)++;
}

static void test_delete_device_removes_its_series_and_points_only(void **state)
{
    fixture *f = *state;
    int64_t a1 = series(f, DEV_A, "temp"), a2 = series(f, DEV_A, "hum");
    int64_t b1 = series(f, DEV_B, "temp");
    static int64_t ts[100];
    static double v[100];
    make_series(ts, v, 100, 1000, 6);
    write_points(f, a1, ts, v, 100, 50);
    write_points(f, a2, ts, v, 100, 50);
    write_points(f, b1, ts, v, 100, 50);
    assert_int_equal(tsdb_delete_device(f->t, DEV_A), 0);
    int64_t id;
    assert_int_equal(tsdb_series_lookup(f->t, DEV_A, "temp", &id), TSDB_E_NOT_FOUND);
    int count = 0;
    assert_int_equal(tsdb_list_metrics(f->t, DEV_A, count_metric, &count), 0);
    assert_int_equal(count, 0);
    collected *c = query(f, a1, INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, 0);
    free(c);
    expect_range(f, b1, ts, v, 100, INT64_MIN, INT64_MAX);
    assert_int_equal(tsdb_append(f->t, a2, T0 + 1000000, 1), TSDB_E_NOT_FOUND);
    /* the log still held A's points: a restart must not bring them back */
    fx_close(f);
    fx_open(f);
    c = query(f, a2, INT64_MIN, INT64_MAX);
    assert_int_equal(c->n, 0);
    free(c);
    expect_range(f, b1, ts, v, 100, INT64_MIN, INT64_MAX);
    /* a new series of the same name gets a new id */
    int64_t again = series(f, DEV_A, "temp");
    assert_true(again > b1);
}

typedef struct {
    char names[8][16];
    int64_t ids[8];
    int n;
} metric_list;

static void list_metric(void *arg, const char *metric, int64_t sid)
{
    metric_list *l = arg;
    assert_true(l->n < 8);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", metric);
    l->ids[l->n++] = sid;
}

static void test_series_lookup_and_list_metrics_see_committed_series(void **state)
{
    fixture *f = *state;
    int64_t t1 = series(f, DEV_A, "temp"), h1 = series(f, DEV_A, "hum");
    series(f, DEV_B, "temp");
    int64_t same = -1;
    begin(f);
    assert_int_equal(tsdb_series_get_or_create(f->t, DEV_A, "temp", &same), 0);
    commit(f);
    assert_int_equal(same, t1);
    metric_list l = {0};
    assert_int_equal(tsdb_list_metrics(f->t, DEV_A, list_metric, &l), 2);
    assert_string_equal(l.names[0], "hum");
    assert_int_equal(l.ids[0], h1);
    assert_string_equal(l.names[1], "temp");
    assert_int_equal(l.ids[1], t1);
    int64_t id = 0;
    assert_int_equal(tsdb_series_lookup(f->t, DEV_A, "hum", &id), 0);
    assert_int_equal(id, h1);
    assert_int_equal(tsdb_series_lookup(f->t, DEV_A, "nope", &id), TSDB_E_NOT_FOUND);
}

static void test_invalid_arguments_are_refused(void **state)
{
    fixture *f = *state;
    int64_t id;
    char long_name[TSDB_NAME_MAX + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    begin(f);
    assert_int_equal(tsdb_series_get_or_create(f->t, "", "m", &id), TSDB_E_INVALID);
    assert_int_equal(tsdb_series_get_or_create(f->t, DEV_A, long_name, &id), TSDB_E_INVALID);
    assert_int_equal(tsdb_series_get_or_create(f->t, DEV_A,
                                               "a\x1f"
                                               "b",
                                               &id),
                     TSDB_E_INVALID);
    assert_int_equal(tsdb_series_get_or_create(f->t, DEV_A, "m", &id), 0);
    assert_int_equal(tsdb_append(f->t, id, T0, NAN), TSDB_E_INVALID);
    assert_int_equal(tsdb_append(f->t, id, T0, INFINITY), TSDB_E_INVALID);
    commit(f);
    tsdb_options o;
    tsdb_options_init(&o);
    o.chunk_points = 4;
    tsdb *t2 = NULL;
    assert_int_equal(tsdb_open(f->w, f->r, &o, &t2), TSDB_E_INVALID);
    assert_null(t2);
}

static void test_idle_heads_are_unloaded_by_checkpoints_and_reload_on_append(void **state)
{
    fixture *f = *state;
    int64_t a = series(f, DEV_A, "temp"), b = series(f, DEV_B, "temp");
    int64_t ts[20];
    double v[20];
    make_series(ts, v, 20, 1000, 7);
    write_points(f, a, ts, v, 10, 10);
    write_points(f, b, ts, v, 10, 10);
    tsdb_stats st;
    tsdb_get_stats(f->t, &st);
    assert_int_equal(st.heads_loaded, 2);
    assert_int_equal(tsdb_checkpoint(f->t), 0); /* both were active */
    write_points(f, a, ts + 10, v + 10, 5, 5);
    assert_int_equal(tsdb_checkpoint(f->t), 0); /* b idle since the previous one */
    tsdb_get_stats(f->t, &st);
    assert_int_equal(st.heads_loaded, 1);
    expect_range(f, b, ts, v, 10, INT64_MIN, INT64_MAX); /* served from its open chunk */
    write_points(f, b, ts + 10, v + 10, 10, 10);
    expect_range(f, b, ts, v, 20, INT64_MIN, INT64_MAX);
    tsdb_get_stats(f->t, &st);
    assert_int_equal(st.heads_loaded, 2);
}

static void test_stored_chunks_of_regular_telemetry_take_under_3_bytes_per_point(void **state)
{
    fixture *f = *state;
    tsdb_close(f->t);
    f->opt.chunk_points = 120;
    assert_int_equal(tsdb_open(f->w, f->r, &f->opt, &f->t), 0);
    int64_t sid = series(f, DEV_A, "temp");
    enum { N = 1200 };
    static int64_t ts[N];
    static double v[N];
    make_series(ts, v, N, 10000, 8); /* 10 s +-20 ms, 2-decimal random walk */
    write_points(f, sid, ts, v, N, 100);
    tsdb_stats st;
    tsdb_get_stats(f->t, &st);
    assert_int_equal(st.points_appended, N);
    assert_int_equal(st.chunks_written, N / 120);
    assert_int_equal(st.points_in_chunks, N);
    assert_true(st.bytes_chunks <= 3 * st.points_in_chunks);
    expect_range(f, sid, ts, v, N, INT64_MIN, INT64_MAX);
}

/* ---- a reader thread while the writer appends ---------------------------------------- */

typedef struct {
    fixture *f;
    int64_t sid;
    atomic_bool done;
    atomic_int errors;
    int iterations;
} race;

typedef struct {
    int64_t expect;
    int bad;
    size_t n;
} seq_check;

static void check_seq(void *arg, int64_t ts, double v)
{
    seq_check *c = arg;
    /* point i is (T0 + i s, i): the result must be exactly 0, 1, 2, ... with no gap or repeat */
    if (ts != T0 + c->expect * 1000 || v != (double)c->expect) c->bad++;
    c->expect++;
    c->n++;
}

static void *reader_main(void *arg)
{
    race *r = arg;
    size_t last = 0;
    while (!atomic_load(&r->done)) {
        seq_check c = {0};
        int n = tsdb_query(r->f->t, r->sid, INT64_MIN, INT64_MAX, 0, check_seq, &c, NULL);
        if (n < 0 || c.bad || c.n < last) atomic_fetch_add(&r->errors, 1);
        last = c.n;
        r->iterations++;
    }
    return NULL;
}

static void test_concurrent_reader_never_sees_torn_or_missing_points(void **state)
{
    fixture *f = *state;
    race r = {.f = f, .sid = series(f, DEV_A, "temp")};
    int64_t other = series(f, DEV_B, "temp");
    atomic_init(&r.done, false);
    atomic_init(&r.errors, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    int64_t i = 0;
    for (int txn = 0; txn < 300; txn++) {
        begin(f);
        for (int k = 0; k < 23; k++, i++) {
            assert_int_equal(tsdb_append(f->t, r.sid, T0 + i * 1000, (double)i), 0);
            assert_int_equal(tsdb_append(f->t, other, T0 + i * 1000, 1), 0);
        }
        commit(f);
        if (txn % 17 == 0) assert_int_equal(tsdb_checkpoint(f->t), 0);
        if (txn % 50 == 0) usleep(1000);
    }
    atomic_store(&r.done, true);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_true(r.iterations > 10);
    seq_check c = {0};
    assert_int_equal(tsdb_query(f->t, r.sid, INT64_MIN, INT64_MAX, 0, check_seq, &c, NULL), (int)i);
    assert_int_equal(c.bad, 0);
}

typedef struct {
    int points;
    int64_t rows[8];
    int nrows;
    char device[64], metric[64];
} scanned;

static void on_scanned(void *arg, int64_t row, const char *device_id, const char *metric,
                       int64_t ts, double v)
{
    (void)ts;
    (void)v;
    scanned *sc = arg;
    sc->points++;
    if (sc->nrows == 0 || sc->rows[sc->nrows - 1] != row) {
        assert_true(sc->nrows < 8);
        sc->rows[sc->nrows++] = row;
    }
    snprintf(sc->device, sizeof sc->device, "%s", device_id);
    snprintf(sc->metric, sizeof sc->metric, "%s", metric);
}

/* One commit of n points at ts0.. of sid; returns the commit's log row id. */
static int64_t commit_points(fixture *f, int64_t sid, int64_t ts0, int n)
{
    begin(f);
    for (int i = 0; i < n; i++)
        assert_int_equal(tsdb_append(f->t, sid, ts0 + i, i), 0);
    commit(f);
    return tsdb_log_last_id(f->t);
}

static void test_log_rows_not_released_survive_checkpoints_and_restarts(void **state)
{
    fixture *f = *state;
    fx_close(f);
    f->opt.log_keep_after = 0; /* a consumer that has seen nothing yet */
    fx_open(f);
    int64_t sid = series(f, DEV_A, "temp");
    int64_t r1 = commit_points(f, sid, T0, 10);
    int64_t r2 = commit_points(f, sid, T0 + 100, 5);
    assert_true(r2 > r1 && r1 > 0);
    tsdb_log_release(f->t, r1); /* the consumer is done with the first commit */
    /* the full checkpoint of a close writes every head and cuts the log, but only up to r1 */
    fx_close(f);
    f->opt.log_keep_after = r1;
    fx_open(f);
    scanned sc = {0};
    assert_int_equal(tsdb_log_scan(f->t, 0, on_scanned, &sc), 5);
    assert_int_equal(sc.nrows, 1);
    assert_int_equal(sc.rows[0], r2);
    assert_string_equal(sc.device, DEV_A);
    assert_string_equal(sc.metric, "temp");
    memset(&sc, 0, sizeof sc);
    assert_int_equal(tsdb_log_scan(f->t, r2, on_scanned, &sc), 0);
    /* checkpoints while it is held keep it too */
    assert_int_equal(commit_points(f, sid, T0 + 150, 1) > r2, 1);
    assert_int_equal(tsdb_checkpoint(f->t), 0);
    memset(&sc, 0, sizeof sc);
    assert_int_equal(tsdb_log_scan(f->t, r1, on_scanned, &sc), 6);
    /* released, the log empties; new ids still follow the old ones (never reused) */
    int64_t r3 = tsdb_log_last_id(f->t);
    tsdb_log_release(f->t, r3);
    fx_close(f);
    f->opt.log_keep_after = r3;
    fx_open(f);
    memset(&sc, 0, sizeof sc);
    assert_int_equal(tsdb_log_scan(f->t, 0, on_scanned, &sc), 0);
    assert_true(commit_points(f, sid, T0 + 200, 3) > r3);
    static const int64_t want_ts[] = {0,   1,   2,   3,   4,   5,   6,   7,   8,  9,
                                      100, 101, 102, 103, 104, 150, 200, 201, 202};
    static const double want_v[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 0, 0, 1, 2};
    int64_t ts[19];
    for (int i = 0; i < 19; i++)
        ts[i] = T0 + want_ts[i];
    expect_range(f, sid, ts, want_v, 19, 0, INT64_MAX); /* nothing lost or doubled */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_appended_points_are_returned_by_range_queries_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_pages_with_limit_and_next_ts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollups_match_a_brute_force_reference, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_points_survive_checkpoint_close_and_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_with_points_only_in_the_log_recovers_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_crash_after_chunks_and_a_checkpoint_recovers_every_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_without_pre_commit_is_still_durable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_checkpoints_bound_the_log_by_writing_lagging_heads_and_recover_exactly, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_transaction_leaves_no_points_or_series,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_out_of_order_points_are_merged_and_older_than_a_closed_chunk_dropped, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_retention_drops_old_chunks_and_keeps_recent_points,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_device_removes_its_series_and_points_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_lookup_and_list_metrics_see_committed_series,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_idle_heads_are_unloaded_by_checkpoints_and_reload_on_append, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_stored_chunks_of_regular_telemetry_take_under_3_bytes_per_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_rows_not_released_survive_checkpoints_and_restarts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reader_never_sees_torn_or_missing_points,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
