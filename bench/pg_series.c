/* PostgreSQL time-series layout benchmark: the layouts a PostgreSQL back-end could use for
 * points, measured on one server in one run (bench/pg_series.sh starts a throw-away
 * PostgreSQL 15 with fsync on):
 *
 *   chunks  tsz chunks (the SQLite back-end's codec, store/tsz.h) of chunk_points points, one
 *           row per chunk in a table partitioned by day (range of start_ts), primary key
 *           (series_id, start_ts), written with COPY ... (FORMAT binary);
 *   rows    one row per point (series_id, ts, value), partitioned by day, primary key
 *           (series_id, ts), COPY binary: the plain layout, for reference;
 *   log     the durability log of the SQLite back-end: one bytea row per commit holding the
 *           commit's points (~6 B per point), each commit synchronous (fsync).
 *
 * For each: write rate (points/s), bytes per point on disk (pg_total_relation_size over the
 * partitions: heap, index, TOAST, free-space and visibility maps), and the read-back of one
 * day of one series (10 s and 1 s intervals: 8640 and 86400 points) through libpq with binary
 * results, decoded into (ts, value) arrays (median and p99 of 51 runs, ms).
 *
 * usage: bench_pg_series URL [series=1000] [points_per_series=8640] [chunk_points=120,360,720]
 * Prints one JSON object per line. */
#include "core/util.h"
#include "store/tsz.h"
#include "telemetry.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1700006400000) /* a UTC midnight */
#define DAY_MS INT64_C(86400000)
#define TXN_POINTS 10000
#define REPS 51

static PGconn *conn;

static double now_s(void)
{
    return (double)util_mono_ns() / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_pg_series: %s: %s\n", what, PQerrorMessage(conn));
    exit(1);
}

static void exec(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(sql);
    PQclear(r);
}

static int64_t one_int(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(sql);
    int64_t v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* ---- COPY binary ---------------------------------------------------------------------- */
typedef struct {
    uint8_t *b;
    size_t len, cap;
} buf;

static void put(buf *w, const void *p, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2;
        w->b = realloc(w->b, w->cap);
        if (!w->b) die("nomem");
    }
    memcpy(w->b + w->len, p, n);
    w->len += n;
}
static void put16(buf *w, int16_t v)
{
    uint16_t x = htons((uint16_t)v);
    put(w, &x, 2);
}
static void put32(buf *w, int32_t v)
{
    uint32_t x = htonl((uint32_t)v);
    put(w, &x, 4);
}
static void put64(buf *w, int64_t v)
{
    uint64_t x = htobe64((uint64_t)v);
    put(w, &x, 8);
}
static void field64(buf *w, int64_t v)
{
    put32(w, 8);
    put64(w, v);
}
static void field_f8(buf *w, double v)
{
    int64_t bits;
    memcpy(&bits, &v, 8);
    field64(w, bits);
}

static void copy_begin(buf *w, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) die(sql);
    PQclear(r);
    w->len = 0;
    put(w, "PGCOPY\n\377\r\n\0", 11);
    put32(w, 0);
    put32(w, 0);
}

static void copy_flush(buf *w)
{
    if (w->len && PQputCopyData(conn, (const char *)w->b, (int)w->len) != 1) die("copy data");
    w->len = 0;
}

static void copy_end(buf *w)
{
    put16(w, -1);
    copy_flush(w);
    if (PQputCopyEnd(conn, NULL) != 1) die("copy end");
    PGresult *r;
    while ((r = PQgetResult(conn))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("copy");
        PQclear(r);
    }
}

/* ---- layouts -------------------------------------------------------------------------- */
static void partitions(const char *table, int days)
{
    char sql[512];
    for (int d = -1; d <= days; d++) {
        int64_t from = T0 + d * DAY_MS;
        snprintf(sql, sizeof sql,
                 "CREATE TABLE %s_%d PARTITION OF %s FOR VALUES FROM (%lld) TO (%lld)", table,
                 d + 1, table, (long long)from, (long long)(from + DAY_MS));
        exec(sql);
    }
}

static int64_t table_bytes(const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('%s')", table);
    return one_int(sql);
}

static void schema(void)
{
    exec("DROP SCHEMA IF EXISTS bench_pg_series CASCADE");
    exec("CREATE SCHEMA bench_pg_series");
    exec("SET search_path = bench_pg_series");
    exec("CREATE TABLE chunks(series_id bigint NOT NULL, start_ts bigint NOT NULL,"
         " end_ts bigint NOT NULL, count integer NOT NULL, data bytea NOT NULL,"
         " PRIMARY KEY (series_id, start_ts)) PARTITION BY RANGE (start_ts)");
    exec("ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL"); /* tsz: incompressible */
    exec("CREATE TABLE points(series_id bigint NOT NULL, ts bigint NOT NULL,"
         " value double precision NOT NULL, PRIMARY KEY (series_id, ts))"
         " PARTITION BY RANGE (ts)");
    exec("CREATE TABLE points_log(id bigserial PRIMARY KEY, npoints integer NOT NULL,"
         " data bytea NOT NULL)");
    exec("ALTER TABLE points_log ALTER COLUMN data SET STORAGE EXTERNAL");
}

/* Series s, point i: 10 s apart plus the series' jitter, like bench_tsdb. */
static int64_t ts_of(const gen *g, int s, int i, int64_t step)
{
    return T0 + (int64_t)i * step + s % 1000 + (g->jitter ? irand(-g->jitter, g->jitter) : 0);
}

/* Writes nseries x per_series points as chunks of chunk_points with COPY, TXN_POINTS points
 * of chunks per transaction, in time order across series (as heads fill). */
static double write_chunks(int nseries, int per_series, int chunk, int64_t step, int64_t sid0)
{
    int64_t *ts = malloc(sizeof *ts * (size_t)nseries * (size_t)chunk);
    double *v = malloc(sizeof *v * (size_t)nseries * (size_t)chunk);
    gen *g = calloc((size_t)nseries, sizeof *g);
    uint8_t *enc = malloc(tsz_bound((size_t)chunk));
    if (!ts || !v || !g || !enc) die("nomem");
    for (int s = 0; s < nseries; s++)
        gen_init(&g[s], s);
    buf w = {0};
    double start = now_s();
    int in_txn = 0;
    exec("BEGIN");
    copy_begin(&w, "COPY chunks FROM STDIN (FORMAT binary)");
    for (int base = 0; base < per_series; base += chunk) {
        int n = per_series - base < chunk ? per_series - base : chunk;
        for (int s = 0; s < nseries; s++) {
            int64_t *t = ts + (size_t)s * (size_t)chunk;
            double *x = v + (size_t)s * (size_t)chunk;
            int64_t prev = INT64_MIN;
            for (int i = 0; i < n; i++) {
                t[i] = ts_of(&g[s], s, base + i, step);
                if (t[i] <= prev) t[i] = prev + 1;
                prev = t[i];
                x[i] = gen_next(&g[s]);
            }
            ssize_t len = tsz_encode(t, x, (size_t)n, enc, tsz_bound((size_t)chunk));
            if (len < 0) die("encode");
            put16(&w, 5);
            field64(&w, sid0 + s);
            field64(&w, t[0]);
            field64(&w, t[n - 1]);
            put32(&w, 4);
            put32(&w, n);
            put32(&w, (int32_t)len);
            put(&w, enc, (size_t)len);
            if (w.len > 1 << 20) copy_flush(&w);
            in_txn += n;
            if (in_txn >= TXN_POINTS) {
                copy_end(&w);
                exec("COMMIT");
                exec("BEGIN");
                copy_begin(&w, "COPY chunks FROM STDIN (FORMAT binary)");
                in_txn = 0;
            }
        }
    }
    copy_end(&w);
    exec("COMMIT");
    double secs = now_s() - start;
    free(w.b);
    free(ts);
    free(v);
    free(g);
    free(enc);
    return secs;
}

static double write_rows(int nseries, int per_series, int64_t step)
{
    gen *g = calloc((size_t)nseries, sizeof *g);
    if (!g) die("nomem");
    for (int s = 0; s < nseries; s++)
        gen_init(&g[s], s);
    buf w = {0};
    double start = now_s();
    int in_txn = 0;
    exec("BEGIN");
    copy_begin(&w, "COPY points FROM STDIN (FORMAT binary)");
    for (int i = 0; i < per_series; i++) {
        for (int s = 0; s < nseries; s++) {
            put16(&w, 3);
            field64(&w, s);
            field64(&w, T0 + (int64_t)i * step + s % 1000);
            field_f8(&w, gen_next(&g[s]));
            if (w.len > 1 << 20) copy_flush(&w);
            if (++in_txn == TXN_POINTS) {
                copy_end(&w);
                exec("COMMIT");
                exec("BEGIN");
                copy_begin(&w, "COPY points FROM STDIN (FORMAT binary)");
                in_txn = 0;
            }
        }
    }
    copy_end(&w);
    exec("COMMIT");
    double secs = now_s() - start;
    free(w.b);
    free(g);
    return secs;
}

/* One durable commit per TXN_POINTS points: a bytea of ~6 B per point (random bytes: the
 * varint log does not compress much either, and STORAGE EXTERNAL skips compression). */
static double write_log(uint64_t total)
{
    size_t len = (size_t)TXN_POINTS * 6;
    uint8_t *data = malloc(len);
    if (!data) die("nomem");
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)rng();
    exec("SET synchronous_commit = on");
    PGresult *r =
        PQprepare(conn, "log", "INSERT INTO points_log(npoints, data) VALUES($1, $2)", 2, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("prepare log");
    PQclear(r);
    char np[16];
    snprintf(np, sizeof np, "%d", TXN_POINTS);
    const char *vals[2] = {np, (const char *)data};
    int lens[2] = {0, (int)len}, fmts[2] = {0, 1};
    double start = now_s();
    for (uint64_t done = 0; done < total; done += TXN_POINTS) {
        r = PQexecPrepared(conn, "log", 2, vals, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) die("log insert");
        PQclear(r);
    }
    double secs = now_s() - start;
    free(data);
    return secs;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads [from, from + day) of one series, REPS times: median and p99 in ms, points read. */
static void read_day(const char *layout, int64_t sid, int64_t from, double *med, double *p99,
                     size_t *points)
{
    static int64_t ts[200000];
    static double v[200000];
    char a[32], b[32], c[32];
    snprintf(a, sizeof a, "%lld", (long long)sid);
    snprintf(b, sizeof b, "%lld", (long long)from);
    snprintf(c, sizeof c, "%lld", (long long)(from + DAY_MS));
    const char *vals[3] = {a, b, c};
    bool chunks = strcmp(layout, "chunks") == 0;
    /* a chunk starting before from may still hold points of the day: at most one per series
     * (chunks of a series do not overlap), found by the end_ts bound */
    const char *sql = chunks ? "SELECT data FROM chunks WHERE series_id = $1 AND start_ts < $3"
                               " AND end_ts >= $2 ORDER BY start_ts"
                             : "SELECT ts, value FROM points WHERE series_id = $1 AND ts >= $2"
                               " AND ts < $3 ORDER BY ts";
    PGresult *r = PQprepare(conn, layout, sql, 3, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die("prepare read");
    PQclear(r);
    double t[REPS];
    for (int k = 0; k < REPS; k++) {
        double s0 = now_s();
        r = PQexecPrepared(conn, layout, 3, vals, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) die("read");
        size_t n = 0;
        int rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            if (chunks) {
                ssize_t got =
                    tsz_decode((const uint8_t *)PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
                               ts + n, v + n, sizeof ts / sizeof ts[0] - n);
                if (got < 0) die("decode");
                n += (size_t)got;
            } else {
                uint64_t x, y;
                memcpy(&x, PQgetvalue(r, i, 0), 8);
                memcpy(&y, PQgetvalue(r, i, 1), 8);
                ts[n] = (int64_t)be64toh(x);
                y = be64toh(y);
                memcpy(&v[n], &y, 8);
                n++;
            }
        }
        PQclear(r);
        t[k] = now_s() - s0;
        *points = n;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    *med = t[REPS / 2] * 1e3;
    *p99 = t[REPS - 1] * 1e3;
    char dealloc[64];
    snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", layout);
    exec(dealloc);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pg_series URL [series] [points_per_series] "
                        "[chunk_points,...]\n");
        return 2;
    }
    int nseries = argc > 2 ? atoi(argv[2]) : 1000;
    int per_series = argc > 3 ? atoi(argv[3]) : 8640;
    const char *chunk_list = argc > 4 ? argv[4] : "120,360,720";
    conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK) die("connect");
    exec("SET client_min_messages = warning");
    int days = (int)((int64_t)per_series * 10000 / DAY_MS) + 1;
    uint64_t total = (uint64_t)nseries * (uint64_t)per_series;

    char list[256];
    snprintf(list, sizeof list, "%s", chunk_list);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int chunk = atoi(tok);
        if (chunk < 16 || chunk > 4096) continue;
        schema();
        partitions("chunks", days);
        fprintf(stderr, "chunks of %d: %llu points\n", chunk, (unsigned long long)total);
        double secs = write_chunks(nseries, per_series, chunk, 10000, 0);
        /* the read-back series: a day at 10 s and a day at 1 s */
        write_chunks(1, 8640, chunk, 10000, 1000000);
        write_chunks(1, 86400, chunk, 1000, 2000000);
        exec("VACUUM ANALYZE chunks");
        int64_t bytes = table_bytes("chunks");
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT sum(length(data)) FROM chunks WHERE series_id < %d",
                 nseries);
        int64_t payload = one_int(sql);
        double m10, p10, m1, p1;
        size_t n10, n1;
        read_day("chunks", 1000000, T0, &m10, &p10, &n10);
        read_day("chunks", 2000000, T0, &m1, &p1, &n1);
        printf("{\"bench\":\"pg_series\",\"layout\":\"chunks\",\"chunk_points\":%d,"
               "\"series\":%d,\"points\":%llu,\"write_s\":%.3f,\"points_per_s\":%.0f,"
               "\"bytes_per_point\":%.3f,\"payload_bytes_per_point\":%.3f,"
               "\"read_day_10s_points\":%zu,\"read_day_10s_ms\":%.3f,\"read_day_10s_p99_ms\":%.3f,"
               "\"read_day_1s_points\":%zu,\"read_day_1s_ms\":%.3f,\"read_day_1s_p99_ms\":%.3f}\n",
               chunk, nseries, (unsigned long long)total, secs, (double)total / secs,
               (double)bytes / (double)(total + 8640 + 86400), (double)payload / (double)total, n10,
               m10, p10, n1, m1, p1);
        fflush(stdout);
    }

    /* rows: a tenth of the series is enough for bytes per point and the rate */
    schema();
    partitions("points", days);
    int rseries = nseries / 10 ? nseries / 10 : 1;
    uint64_t rtotal = (uint64_t)rseries * (uint64_t)per_series;
    fprintf(stderr, "rows: %llu points\n", (unsigned long long)rtotal);
    double rsecs = write_rows(rseries, per_series, 10000);
    exec("VACUUM ANALYZE points");
    int64_t rbytes = table_bytes("points");
    double rm, rp;
    size_t rn;
    read_day("rows", 0, T0, &rm, &rp, &rn);
    printf("{\"bench\":\"pg_series\",\"layout\":\"rows\",\"series\":%d,\"points\":%llu,"
           "\"write_s\":%.3f,\"points_per_s\":%.0f,\"bytes_per_point\":%.3f,"
           "\"read_day_10s_points\":%zu,\"read_day_10s_ms\":%.3f,\"read_day_10s_p99_ms\":%.3f}\n",
           rseries, (unsigned long long)rtotal, rsecs, (double)rtotal / rsecs,
           (double)rbytes / (double)rtotal, rn, rm, rp);
    fflush(stdout);

    uint64_t ltotal = 200 * TXN_POINTS;
    fprintf(stderr, "log: %llu points\n", (unsigned long long)ltotal);
    double lsecs = write_log(ltotal);
    printf("{\"bench\":\"pg_series\",\"layout\":\"log\",\"txn_points\":%d,\"commits\":%d,"
           "\"write_s\":%.3f,\"points_per_s\":%.0f,\"commits_per_s\":%.1f}\n",
           TXN_POINTS, (int)(ltotal / TXN_POINTS), lsecs, (double)ltotal / lsecs,
           (double)(ltotal / TXN_POINTS) / lsecs);
    exec("DROP SCHEMA bench_pg_series CASCADE");
    PQfinish(conn);
    return 0;
}
