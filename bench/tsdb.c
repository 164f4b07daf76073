/* tsdb benchmark: 10k series of regular telemetry appended in time order in 10k-point
 * transactions on a WAL database, once with synchronous=NORMAL and once with FULL. Prints
 * JSON lines: append rate, bytes per point (file size after a checkpoint / points), chunk
 * payload per point, query and rollup times over a day of one series, and a reference plain
 * rowid-table insert rate measured in the same run (compare with MEASURED.md).
 *
 * usage: bench_tsdb [series=10000] [points_per_series=1000] [chunk_points=120]
 *                   [checkpoint_log_points=4000000] */
#include "core/util.h"
#include "store/sqlite/tsdb.h"
#include "telemetry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000)
#define TXN_POINTS 10000
#define DAY_POINTS 8640

static double now_s(void)
{
    return (double)util_mono_ns() / 1e9;
}

static int die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_tsdb: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static sqlite3 *open_conn(const char *path, const char *sync)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        die(db, "open");
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", sync);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(db, "pragma");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(db, sql);
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(db, sql);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static void remove_db(const char *path)
{
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

static void nop_point(void *arg, int64_t ts, double v)
{
    (void)ts;
    (void)v;
    (*(size_t *)arg)++;
}

static void nop_bucket(void *arg, int64_t b, double mn, double mx, double avg, uint64_t n)
{
    (void)b;
    (void)mn;
    (void)mx;
    (void)avg;
    (*(size_t *)arg) += n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define REPS 21
static double median_ms(double *v)
{
    qsort(v, REPS, sizeof *v, cmp_double);
    return v[REPS / 2] * 1e3;
}

static void run(const char *dir, const char *sync, int nseries, int per_series, uint32_t chunk,
                uint64_t ckpt)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tsdb_%s.db", dir, sync);
    remove_db(path);
    sqlite3 *w = open_conn(path, sync), *r = open_conn(path, sync);
    exec(w, "BEGIN");
    exec(w, tsdb_schema_sql());
    exec(w, "COMMIT");
    tsdb_options opt;
    tsdb_options_init(&opt);
    opt.chunk_points = chunk;
    opt.checkpoint_log_points = ckpt;
    tsdb *t;
    if (tsdb_open(w, r, &opt, &t) != 0) die(w, "tsdb_open");

    /* one series with a whole day of 10 s points, for the query timings */
    int64_t day_id;
    gen dg;
    gen_init(&dg, 0);
    exec(w, "BEGIN");
    if (tsdb_series_get_or_create(t, "day-device", "temp", &day_id) != 0) die(w, "series");
    for (int i = 0; i < DAY_POINTS; i++)
        if (tsdb_append(t, day_id, T0 + (int64_t)i * 10000 + irand(-50, 50), gen_next(&dg)) < 0)
            die(w, "append");
    if (tsdb_pre_commit(t) != 0) die(w, "pre_commit");
    exec(w, "COMMIT");
    tsdb_after_commit(t);

    gen *gens = calloc((size_t)nseries, sizeof *gens);
    char(*devs)[40] = calloc((size_t)nseries, sizeof *devs);
    if (!gens || !devs) die(NULL, "nomem");
    for (int s = 0; s < nseries; s++) {
        gen_init(&gens[s], s);
        snprintf(devs[s], sizeof devs[s], "0190a6b2-7c1e-7a00-8000-%012d", s / 4);
    }
    static const char *metrics[4] = {"temp", "hum", "energy", "state"};
    uint64_t total = (uint64_t)nseries * (uint64_t)per_series, in_txn = 0;
    double after_commit_s = 0; /* includes the automatic checkpoints */
    double start = now_s();
    exec(w, "BEGIN");
    for (int i = 0; i < per_series; i++) {
        for (int s = 0; s < nseries; s++) {
            int64_t sid;
            /* the writer resolves the series of every message: include that cost */
            if (tsdb_series_get_or_create(t, devs[s], metrics[s % 4], &sid) != 0) die(w, "series");
            int64_t ts = T0 + (int64_t)i * 10000 + s % 1000 +
                         (gens[s].jitter ? irand(-gens[s].jitter, gens[s].jitter) : 0);
            if (tsdb_append(t, sid, ts, gen_next(&gens[s])) < 0) die(w, "append");
            if (++in_txn == TXN_POINTS) {
                if (tsdb_pre_commit(t) != 0) die(w, "pre_commit");
                exec(w, "COMMIT");
                double a = now_s();
                if (tsdb_after_commit(t) != 0) die(w, "after_commit");
                after_commit_s += now_s() - a;
                exec(w, "BEGIN");
                in_txn = 0;
            }
        }
    }
    if (tsdb_pre_commit(t) != 0) die(w, "pre_commit");
    exec(w, "COMMIT");
    tsdb_after_commit(t);
    double append_s = now_s() - start;
    tsdb_stats st;
    tsdb_get_stats(t, &st);
    start = now_s();
    if (tsdb_checkpoint(t) != 0) die(w, "checkpoint");
    double checkpoint_s = now_s() - start;

    /* queries: the day series, raw and rolled up; one main series over its whole range */
    double q_raw[REPS], q_1m[REPS], q_1h[REPS], q_main[REPS];
    size_t got_raw = 0, got_1m = 0, got_main = 0;
    int64_t first_id;
    if (tsdb_series_lookup(t, devs[0], metrics[0], &first_id) != 0) die(r, "lookup");
    for (int k = 0; k < REPS; k++) {
        size_t n = 0;
        double a = now_s();
        tsdb_query(t, day_id, T0 - 60000, T0 + 86400000, 0, nop_point, &n, NULL);
        q_raw[k] = now_s() - a;
        got_raw = n;
        n = 0;
        a = now_s();
        tsdb_rollup(t, day_id, T0 - 60000, T0 + 86400000, 60000, nop_bucket, &n);
        q_1m[k] = now_s() - a;
        got_1m = n;
        n = 0;
        a = now_s();
        tsdb_rollup(t, day_id, T0 - 60000, T0 + 86400000, 3600000, nop_bucket, &n);
        q_1h[k] = now_s() - a;
        n = 0;
        a = now_s();
        tsdb_query(t, first_id, INT64_MIN, INT64_MAX, 0, nop_point, &n, NULL);
        q_main[k] = now_s() - a;
        got_main = n;
    }
    /* sizes after a close: every head written, the log empty (its pages become free pages,
     * reused by the next log: a constant, not a per-point cost) */
    start = now_s();
    tsdb_close(t);
    double close_s = now_s() - start;
    int64_t payload = one_int(r, "SELECT sum(length(data)) FROM chunks");
    int64_t chunk_rows = one_int(r, "SELECT count(*) FROM chunks");
    exec(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    int64_t page = one_int(r, "PRAGMA page_size"), freelist = one_int(r, "PRAGMA freelist_count");
    off_t size = file_size(path);
    uint64_t points = total + DAY_POINTS;
    printf("{\"bench\":\"tsdb_append\",\"synchronous\":\"%s\",\"series\":%d,\"points\":%llu,"
           "\"chunk_points\":%u,\"checkpoint_log_points\":%llu,\"txn_points\":%d,"
           "\"seconds\":%.3f,\"points_per_s\":%.0f,\"after_commit_s\":%.3f,"
           "\"checkpoints\":%llu,\"log_points\":%llu,\"final_checkpoint_s\":%.3f,"
           "\"close_s\":%.3f,\"file_bytes\":%lld,\"bytes_per_point\":%.3f,"
           "\"free_pages_bytes\":%lld,\"bytes_per_point_excl_free\":%.3f,"
           "\"chunk_payload_bytes_per_point\":%.3f,\"chunk_rows\":%lld,"
           "\"closed_chunk_bytes_per_point\":%.3f,\"heads_loaded\":%llu,\"head_bytes\":%llu}\n",
           sync, nseries, (unsigned long long)total, chunk, (unsigned long long)ckpt, TXN_POINTS,
           append_s, (double)total / append_s, after_commit_s, (unsigned long long)st.checkpoints,
           (unsigned long long)st.log_rows, checkpoint_s, close_s, (long long)size,
           (double)size / (double)points, (long long)(freelist * page),
           (double)(size - freelist * page) / (double)points, (double)payload / (double)points,
           (long long)chunk_rows,
           st.points_in_chunks ? (double)st.bytes_chunks / (double)st.points_in_chunks : 0.0,
           (unsigned long long)st.heads_loaded, (unsigned long long)st.head_bytes);
    printf("{\"bench\":\"tsdb_query\",\"synchronous\":\"%s\",\"day_points\":%zu,"
           "\"query_day_raw_ms\":%.3f,\"rollup_day_1m_ms\":%.3f,\"rollup_day_1m_points\":%zu,"
           "\"rollup_day_1h_ms\":%.3f,\"query_main_series_ms\":%.3f,\"main_series_points\":%zu}\n",
           sync, got_raw, median_ms(q_raw), median_ms(q_1m), got_1m, median_ms(q_1h),
           median_ms(q_main), got_main);
    fflush(stdout);
    sqlite3_close(w);
    sqlite3_close(r);
    remove_db(path);
    free(gens);
    free(devs);
}

/* The MEASURED.md reference: points as rows of a plain rowid table, 10k-row transactions. */
static void reference(const char *dir, int nseries, uint64_t total)
{
    char path[256];
    snprintf(path, sizeof path, "%s/reference.db", dir);
    remove_db(path);
    sqlite3 *db = open_conn(path, "NORMAL");
    exec(db, "CREATE TABLE points(series_id INTEGER, ts INTEGER, value REAL)");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO points VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
        die(db, "prepare");
    double start = now_s();
    exec(db, "BEGIN");
    for (uint64_t i = 0; i < total; i++) {
        sqlite3_bind_int64(st, 1, (int64_t)(i % (uint64_t)nseries));
        sqlite3_bind_int64(st, 2, T0 + (int64_t)(i / (uint64_t)nseries) * 10000);
        sqlite3_bind_double(st, 3, (double)(i % 1000) / 10);
        sqlite3_step(st);
        sqlite3_reset(st);
        if ((i + 1) % TXN_POINTS == 0) {
            exec(db, "COMMIT");
            exec(db, "BEGIN");
        }
    }
    exec(db, "COMMIT");
    double secs = now_s() - start;
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("{\"bench\":\"reference_rowid_rows\",\"synchronous\":\"NORMAL\",\"rows\":%llu,"
           "\"rows_per_s\":%.0f,\"bytes_per_row\":%.1f}\n",
           (unsigned long long)total, (double)total / secs, (double)file_size(path) / total);
    remove_db(path);
}

int main(int argc, char **argv)
{
    int nseries = argc > 1 ? atoi(argv[1]) : 10000;
    int per_series = argc > 2 ? atoi(argv[2]) : 1000;
    uint32_t chunk = argc > 3 ? (uint32_t)atoi(argv[3]) : 120;
    uint64_t ckpt = argc > 4 ? strtoull(argv[4], NULL, 10) : 4000000;
    if (nseries <= 0 || per_series <= 0 || chunk < 16) {
        fprintf(stderr, "usage: bench_tsdb [series] [points_per_series] [chunk_points]\n");
        return 2;
    }
    char dir[] = "/tmp/iotad_bench_tsdb_XXXXXX";
    if (!mkdtemp(dir)) die(NULL, "mkdtemp");
    reference(dir, nseries, 1000000);
    run(dir, "NORMAL", nseries, per_series, chunk, ckpt);
    run(dir, "FULL", nseries, per_series, chunk, ckpt);
    rmdir(dir);
    return 0;
}
