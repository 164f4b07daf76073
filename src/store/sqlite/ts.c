/* The SQLite back-end's time-series store (store.h's store_ts): the chunk store of tsdb.c on
 * two connections to one database, the loop's handle for reading and one of its own for the
 * writer thread, plus what only SQLite needs around a group commit:
 *   - a gate on the loop's connection (store/db.h): SQLite keeps no queue for its single
 *     write lock, so a loop-thread write waiting for it goes first before each group;
 *   - WAL checkpoints on a thread and connection of their own, so that copying WAL pages into
 *     the database never happens inside a group commit (SQLite's automatic checkpoint runs in
 *     the COMMIT that crosses its threshold, and showed up as ack-latency spikes).
 * The device_data virtual table (device_data.c) is registered on the loop's connection. */
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/device_data.h"
#include "store/sqlite/sqlite_int.h"
#include "store/sqlite/tsdb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    store_ts base;
    tsdb *t;
    sqlite3 *wdb, *rdb;
    bool owned;    /* false: wrapped (store_sqlite_ts_wrap), the caller's tsdb and connections */
    db_gate *gate; /* installed on rdb; NULL when wrapped */
    /* the WAL checkpointer */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cond;
    bool ckpt_running, ckpt_stopping;
    /* the WAL bound (writer thread; see wal_bound) */
    uint64_t wal_max_bytes;
    uint64_t wal_bytes;            /* size of the WAL after the write connection's last commit */
    uint64_t frame_bytes;          /* page size + frame header */
    int64_t wal_next_try_ms;       /* after a catch-up something held off */
    _Atomic uint64_t wal_restarts; /* read by sq_ts_stats */
} sqlite_ts;

static tsdb *T(store_ts *t)
{
    return ((sqlite_ts *)t)->t;
}

/* STORE_TS_E_FULL or _STORE for the write connection's last error, with its text in msg. */
static int write_error(sqlite_ts *s, char *msg, size_t cap)
{
    int code = sqlite3_errcode(s->wdb);
    snprintf(msg, cap, "%s", code == SQLITE_OK ? "out of memory" : sqlite3_errmsg(s->wdb));
    return code == SQLITE_FULL ? STORE_TS_E_FULL : STORE_TS_E_STORE;
}

/* Whether the batch would create series beyond its device's limit (1), not (0), or an error
 * (< 0). Its points are sorted by metric, so each new name is counted once. */
static int over_series_limit(tsdb *t, const store_ts_batch *b, uint64_t max)
{
    uint64_t fresh = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (i > 0 && strcmp(b->points[i].metric, b->points[i - 1].metric) == 0) continue;
        int64_t sid;
        int rc = tsdb_series_find(t, b->device_id, b->points[i].metric, &sid);
        if (rc == TSDB_E_NOT_FOUND)
            fresh++;
        else if (rc != 0)
            return rc;
    }
    if (fresh == 0) return 0;
    uint64_t have;
    int rc = tsdb_device_series(t, b->device_id, &have);
    if (rc != 0) return rc;
    return have + fresh > max;
}

/* ---- WAL bound -------------------------------------------------------------------------
 * The checkpoint thread copies WAL pages into the database every 250 ms, but SQLite starts the
 * WAL over (at the next write transaction) only after a checkpoint has copied every frame, and
 * while commits arrive faster than a pass copies, that never happens: under sustained ingest
 * the WAL grew with everything written (bench/storage_faults.py --wal, 16 MQTT 5 connections
 * for 24 s: 9.8-13.1 MB of WAL for a 4.4-6.1 MB database; 4.3-4.5 MB with a 4 MiB bound; on
 * a full 40 MB disk a quarter of it was WAL). Above wal_max_bytes the writer copies the
 * remaining frames itself between two groups and starts the WAL over at once: a TRUNCATE
 * checkpoint on its own connection, without waiting (no busy handler), that empties the file.
 * Nothing of ingest is being written then, so it completes unless a reader still uses an older
 * snapshot, the checkpoint thread is in a pass or another connection is writing; then it copies
 * what it can (as PASSIVE) and the writer tries again at a group 20 ms or more later. The
 * background pass has copied nearly all of it, so the pause is about one pass's worth of pages.
 * The file can pass the bound by what the groups write until the catch-up succeeds (one group
 * when nothing holds it off). SQLite also starts the WAL over by itself at the first write after
 * a checkpoint copied every frame, on whichever connection writes first (the loop's writes
 * devices, anomalies, ...): journal_size_limit, set on every connection that writes
 * (db_wal_limit), cuts the file back to the bound then. iotad_store_wal_restarts_total counts
 * both: the catch-ups and the start-overs of a WAL above the bound that the write connection's
 * next commit finds (fewer frames than at its last commit). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    sqlite_ts *w = arg;
    uint64_t bytes = (uint64_t)frames * w->frame_bytes;
    if (bytes < w->wal_bytes && w->wal_bytes > w->wal_max_bytes)
        atomic_fetch_add(&w->wal_restarts, 1);
    w->wal_bytes = bytes;
    return SQLITE_OK;
}

static void wal_bound_init(sqlite_ts *w)
{
    if (w->wal_max_bytes == 0) w->wal_max_bytes = 64ull << 20;
    w->frame_bytes = 24 + (uint64_t)db_int(w->wdb, 4096, "PRAGMA page_size", "");
    db_wal_limit(w->wdb, w->wal_max_bytes);
    db_wal_limit(w->rdb, w->wal_max_bytes);     /* the loop's connection writes too */
    sqlite3_wal_hook(w->wdb, on_wal_commit, w); /* replaces the (disabled) auto-checkpoint hook */
}

static void wal_bound(sqlite_ts *w)
{
    if (w->wal_bytes <= w->wal_max_bytes) return;
    int64_t now = util_now_ms();
    if (now < w->wal_next_try_ms) return;
    sqlite3_busy_handler(w->wdb, NULL, NULL); /* never wait for readers: try again later */
    int rc = sqlite3_wal_checkpoint_v2(w->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(w->wdb, DB_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK) { /* every frame copied and the file emptied */
        w->wal_bytes = 0;
        atomic_fetch_add(&w->wal_restarts, 1);
    } else {
        /* a reader holds frames, the checkpoint thread was copying or another connection is
         * writing (SQLITE_BUSY): soon */
        w->wal_next_try_ms = now + 20;
    }
}

static int sq_ts_write(store_ts *st, store_ts_batch *b, size_t n, uint64_t max_series, int64_t *seq,
                       char *msg, size_t cap)
{
    sqlite_ts *s = (sqlite_ts *)st;
    tsdb *t = s->t;
    if (s->ckpt_running) wal_bound(s);
    if (s->gate) db_gate_yield(s->gate, 50);
    if (sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return write_error(s, msg, cap);
    for (size_t k = 0; k < n; k++) {
        store_ts_batch *j = &b[k];
        if (max_series && !j->internal) {
            int over = over_series_limit(t, j, max_series);
            if (over < 0) goto fail;
            if (over) { /* refused whole; the rest of the group goes on */
                j->status = STORE_TS_E_SERIES_LIMIT;
                continue;
            }
        }
        const char *last_metric = NULL;
        int64_t sid = 0;
        for (size_t i = 0; i < j->n; i++) {
            const ingest_point *p = &j->points[i];
            if (!last_metric || strcmp(last_metric, p->metric) != 0) {
                if (tsdb_series_get_or_create(t, j->device_id, p->metric, &sid) != 0) goto fail;
                last_metric = p->metric;
            }
            int arc = tsdb_append(t, sid, p->ts_ms, p->value);
            if (arc < 0) goto fail;
            if (arc == TSDB_DROPPED_TOO_OLD)
                j->too_old++;
            else if (arc == TSDB_REPLACED)
                j->replaced++;
        }
    }
    if (tsdb_pre_commit(t) != 0 || sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    *seq = tsdb_log_last_id(t); /* names this commit for the detectors' watermark */
    tsdb_after_commit(t);
    return 0;
fail:;
    int rc = write_error(s, msg, cap);
    db_rollback(s->wdb);
    tsdb_after_rollback(t);
    return rc;
}

static int sq_ts_delete_device(store_ts *t, const char *device_id)
{
    return tsdb_delete_device(T(t), device_id) == 0 ? 0 : STORE_TS_E_STORE;
}

static int sq_ts_checkpoint(store_ts *t)
{
    return tsdb_checkpoint(T(t)) == 0 ? 0 : STORE_TS_E_STORE;
}

static int sq_ts_delete_before(store_ts *t, int64_t cutoff_ms)
{
    return tsdb_delete_before(T(t), cutoff_ms) == 0 ? 0 : STORE_TS_E_STORE;
}

static int sq_ts_probe(store_ts *t, char *msg, size_t cap)
{
    int rc = tsdb_write_probe(T(t), msg, cap);
    return rc == 0 ? 0 : rc == TSDB_E_FULL ? STORE_TS_E_FULL : STORE_TS_E_STORE;
}

static void sq_ts_log_release(store_ts *t, int64_t upto)
{
    tsdb_log_release(T(t), upto);
}

static int sq_ts_log_scan(store_ts *t, int64_t after, store_ts_log_fn cb, void *arg)
{
    return tsdb_log_scan(T(t), after, cb, arg);
}

static int sq_ts_lookup(store_ts *t, const char *device_id, const char *metric, int64_t *series_id)
{
    return tsdb_series_lookup(T(t), device_id, metric, series_id);
}

static int sq_ts_list_metrics(store_ts *t, const char *device_id, store_ts_metric_fn cb, void *arg)
{
    return tsdb_list_metrics(T(t), device_id, cb, arg);
}

static int sq_ts_query(store_ts *t, int64_t series_id, int64_t from_ms, int64_t to_ms, size_t limit,
                       store_ts_point_fn cb, void *arg, int64_t *next_ts)
{
    return tsdb_query(T(t), series_id, from_ms, to_ms, limit, cb, arg, next_ts);
}

static int sq_ts_rollup(store_ts *t, int64_t series_id, int64_t from_ms, int64_t to_ms,
                        int64_t step_ms, store_ts_bucket_fn cb, void *arg)
{
    return tsdb_rollup(T(t), series_id, from_ms, to_ms, step_ms, cb, arg);
}

static void sq_ts_stats(store_ts *t, store_ts_stats *out)
{
    tsdb_stats x;
    tsdb_get_stats(T(t), &x);
    *out = (store_ts_stats){.series = x.series,
                            .heads_loaded = x.heads_loaded,
                            .head_bytes = x.head_bytes,
                            .points_appended = x.points_appended,
                            .points_dropped = x.points_dropped,
                            .chunks_written = x.chunks_written,
                            .bytes_chunks = x.bytes_chunks,
                            .points_in_chunks = x.points_in_chunks,
                            .log_rows = x.log_rows,
                            .checkpoints = x.checkpoints,
                            .wal_restarts = atomic_load(&((sqlite_ts *)t)->wal_restarts)};
}

/* ---- WAL checkpoints off the commit path ------------------------------------------------ */

static void *checkpoint_main(void *arg)
{
    sqlite_ts *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += 250 * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_mu, &deadline);
        if (s->ckpt_stopping) break;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* PASSIVE: copies what it can without waiting for readers or the writer */
        sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

/* On any failure SQLite's automatic checkpoint stays in place. */
static void start_checkpointer(sqlite_ts *s)
{
    const char *path = sqlite3_db_filename(s->wdb, "main");
    if (!path || !path[0] || db_open(path, DB_SYNC_FULL, &s->ckpt_db) != 0) return;
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cond, NULL);
    if (pthread_create(&s->ckpt_thread, NULL, checkpoint_main, s) != 0) {
        db_close(s->ckpt_db);
        s->ckpt_db = NULL;
        pthread_mutex_destroy(&s->ckpt_mu);
        pthread_cond_destroy(&s->ckpt_cond);
        return;
    }
    s->ckpt_running = true;
    sqlite3_wal_autocheckpoint(s->wdb, 0);
}

static void stop_checkpointer(sqlite_ts *s)
{
    if (!s->ckpt_running) return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stopping = true;
    pthread_cond_signal(&s->ckpt_cond);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    db_close(s->ckpt_db);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cond);
    s->ckpt_running = false;
    sqlite3_wal_autocheckpoint(s->wdb, 1000); /* back to SQLite's default for the close */
}

static void sq_ts_close(store_ts *t)
{
    sqlite_ts *s = (sqlite_ts *)t;
    if (!s->owned) { /* wrapped: the tsdb and its connections are the caller's */
        free(s);
        return;
    }
    stop_checkpointer(s);
    tsdb_close(s->t); /* final checkpoint */
    db_close(s->wdb);
    if (s->gate) {
        sqlite3_busy_timeout(s->rdb, 10000); /* db_open's, instead of the gate's handler */
        free(s->gate);
    }
    free(s);
}

static const store_ts_ops sqlite_ts_ops = {
    .close = sq_ts_close,
    .write = sq_ts_write,
    .delete_device = sq_ts_delete_device,
    .checkpoint = sq_ts_checkpoint,
    .delete_before = sq_ts_delete_before,
    .probe = sq_ts_probe,
    .log_release = sq_ts_log_release,
    .log_scan = sq_ts_log_scan,
    .lookup = sq_ts_lookup,
    .list_metrics = sq_ts_list_metrics,
    .query = sq_ts_query,
    .rollup = sq_ts_rollup,
    .stats = sq_ts_stats,
};

int sqlite_ts_open(store *st, const store_ts_options *opt, store_ts **out, char *err, size_t cap)
{
    *out = NULL;
    sqlite3 *rdb = SQ(st);
    const char *path = sqlite3_db_filename(rdb, "main");
    if (!path || !path[0]) {
        snprintf(err, cap, "the time-series store needs a database file");
        return -1;
    }
    sqlite_ts *s = calloc(1, sizeof *s);
    if (!s || !(s->gate = calloc(1, sizeof *s->gate))) {
        free(s);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    s->base.ops = &sqlite_ts_ops;
    s->rdb = rdb;
    s->owned = true;
    if (db_open(path, opt && opt->full_sync ? DB_SYNC_FULL : DB_SYNC_NORMAL, &s->wdb) != 0) {
        snprintf(err, cap, "opening %s for the writer failed", path);
        free(s->gate);
        free(s);
        return -1;
    }
    db_gate_install(rdb, s->gate, 10000);
    tsdb_options topt;
    tsdb_options_init(&topt);
    if (opt) topt.log_keep_after = opt->log_keep_after;
    int rc = tsdb_open(s->wdb, rdb, &topt, &s->t);
    if (rc != 0) {
        snprintf(err, cap, "opening the time-series store of %s failed (%d)", path, rc);
        sqlite3_busy_timeout(rdb, 10000);
        db_close(s->wdb);
        free(s->gate);
        free(s);
        return -1;
    }
    if (device_data_register(rdb, s->t) != 0) log_warn("device_data_unavailable", "%s", "");
    start_checkpointer(s);
    if (s->ckpt_running) {
        s->wal_max_bytes = opt ? opt->wal_max_bytes : 0;
        wal_bound_init(s);
    }
    *out = &s->base;
    return 0;
}

store_ts *store_sqlite_ts_wrap(tsdb *t, sqlite3 *wdb)
{
    sqlite_ts *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base.ops = &sqlite_ts_ops;
    s->t = t;
    s->wdb = wdb;
    return &s->base;
}
