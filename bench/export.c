/* Forensic export benchmark: stores N points (default 10M: 10 devices x 1 metric x 1M points
 * at 1 s spacing) in a fresh tsdb, then runs the export producer (report/export.c, the code
 * behind GET /api/v1/export) over all of it as NDJSON and CSV, writing to /dev/null and
 * hashing as the server does. Samples the resident set size every piece to show the export
 * runs in constant memory. Prints one JSON object per format on stdout.
 *
 * usage: bench_export [points=10000000] [devices=10] [dir=/tmp] */
#include "core/server.h"
#include "core/util.h"
#include "report/export.h"
#include "store/db.h"
#include "store/sqlite/tsdb.h"
#include "store/sqlite/sqlite.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000)
#define TXN_POINTS 100000

static double now_s(void)
{
    return (double)util_mono_ns() / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_export: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    long long npoints = argc > 1 ? atoll(argv[1]) : 10000000LL;
    int ndev = argc > 2 ? atoi(argv[2]) : 10;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    if (npoints <= 0 || ndev <= 0) die("bad arguments");
    char path[512];
    snprintf(path, sizeof path, "%s/bench_export_%d.db", dir, (int)getpid());
    sqlite3 *wdb = NULL, *rdb = NULL;
    if (db_open(path, DB_SYNC_NORMAL, &wdb) != 0 || db_migrate(wdb) != 0 ||
        db_open(path, DB_SYNC_NORMAL, &rdb) != 0)
        die("open");
    tsdb *ts;
    if (tsdb_open(wdb, rdb, NULL, &ts) != 0) die("tsdb_open");

    /* fill: devices rows (the export walks the devices table) and their points */
    double t_fill = now_s();
    long long per_dev = npoints / ndev;
    char ids[64][UUID_STR_LEN + 1];
    if (ndev > 64) die("at most 64 devices");
    for (int d = 0; d < ndev; d++) {
        util_uuid7(ids[d]);
        if (db_exec(wdb, NULL,
                    "INSERT INTO devices(id, name, created_at, updated_at) VALUES(?, ?, ?, ?)",
                    "ssii", ids[d], "bench", T0, T0) != 0)
            die("insert device");
    }
    for (int d = 0; d < ndev; d++) {
        int64_t sid;
        for (long long i = 0; i < per_dev;) {
            if (db_begin(wdb) != 0) die("begin");
            if (tsdb_series_get_or_create(ts, ids[d], "temperature", &sid) != 0) die("series");
            for (long long k = 0; k < TXN_POINTS && i < per_dev; k++, i++)
                if (tsdb_append(ts, sid, T0 + i * 1000, 20.0 + (double)(i % 1000) * 0.01) < 0)
                    die("append");
            if (tsdb_pre_commit(ts) != 0 || db_commit(wdb) != 0 || tsdb_after_commit(ts) != 0)
                die("commit");
        }
        fprintf(stderr, "filled device %d/%d\n", d + 1, ndev);
    }
    if (tsdb_checkpoint(ts) != 0) die("checkpoint");
    t_fill = now_s() - t_fill;

    server s;
    memset(&s, 0, sizeof s);
    s.db = rdb;
    s.ts = store_sqlite_ts_wrap(ts, wdb);
    int devnull = open("/dev/null", O_WRONLY);
    for (int f = 0; f < 2; f++) {
        export_params p;
        memset(&p, 0, sizeof p);
        p.format = f == 0 ? EXPORT_NDJSON : EXPORT_CSV;
        p.what = EXPORT_ALL;
        p.from_ms = 0;
        p.to_ms = INT64_MAX;
        export_job *e = export_new(&s, &p, "bench");
        if (!e) die("export_new");
        long rss_before = rss_kb(), rss_peak = rss_before, rss_at_10pct = -1;
        unsigned long long bytes = 0, pieces = 0;
        double t = now_s();
        const char *data;
        size_t len;
        int rc;
        do {
            rc = export_next(e, 64 * 1024, &data, &len);
            if (rc < 0) die("export_next");
            if (len && write(devnull, data, len) < 0) die("write");
            bytes += len;
            if (++pieces % 64 == 0) {
                long r = rss_kb();
                if (r > rss_peak) rss_peak = r;
                if (rss_at_10pct < 0 && bytes > 0 && pieces > 64) rss_at_10pct = r;
            }
        } while (rc == 1);
        t = now_s() - t;
        cJSON *m = export_manifest(e);
        double recs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(m, "records"), "point"));
        printf("{\"bench\":\"export\",\"format\":\"%s\",\"points\":%.0f,\"bytes\":%llu,"
               "\"seconds\":%.2f,\"mb_per_s\":%.1f,\"points_per_s\":%.0f,"
               "\"rss_before_kb\":%ld,\"rss_early_kb\":%ld,\"rss_peak_kb\":%ld,"
               "\"rss_growth_kb\":%ld,\"fill_seconds\":%.1f,\"sha256\":\"%s\"}\n",
               f == 0 ? "ndjson" : "csv", recs, bytes, t, (double)bytes / 1e6 / t, recs / t,
               rss_before, rss_at_10pct, rss_peak, rss_peak - rss_before, t_fill,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "sha256")));
        fflush(stdout);
        cJSON_Delete(m);
        export_free(e);
    }
    close(devnull);
    store_ts_close(s.ts);
    tsdb_close(ts);
    db_close(rdb);
    db_close(wdb);
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return 0;
}
