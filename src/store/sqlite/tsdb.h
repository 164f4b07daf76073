/* tsdb: iotad's time-series store on SQLite. Points of a series are kept in an in-memory head,
 * written as tsz chunks once the head is full, and made durable at commit by a batched
 * log; queries merge the chunks on disk with the heads in memory. See tsdb.c for the design.
 *
 * Threads: one writer thread calls the write functions on the write connection; any other
 * thread may call the reader functions (they use the read connection, serialised by an
 * internal mutex). Both connections must be in WAL mode and belong to the caller, who
 * closes them after tsdb_close. */
#ifndef IOTAD_STORE_TSDB_H
#define IOTAD_STORE_TSDB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsdb tsdb;

enum {
    TSDB_OK = 0,
    /* tsdb_append: the point is at or before the end of the series' last closed chunk (or
     * before the retention cutoff). It was not stored; this is not a failure of the
     * transaction, so callers check `< 0` for errors. */
    TSDB_DROPPED_TOO_OLD = 1,
    /* tsdb_append: the series had a point with this timestamp; its value was replaced (one
     * point per series and millisecond, the last written wins). Not a failure either. */
    TSDB_REPLACED = 2,
    TSDB_E_NOT_FOUND = -1,
    TSDB_E_DB = -2, /* SQLite error (logged); after a failed write, roll back */
    TSDB_E_NOMEM = -3,
    TSDB_E_INVALID = -4, /* bad argument: empty/oversized names, non-finite value, step <= 0 */
    TSDB_E_FULL = -5,    /* tsdb_write_probe: the disk or the database's size limit is full */
};

#define TSDB_NAME_MAX 256 /* bytes of a device id or metric name */

typedef struct {
    uint32_t chunk_points;          /* points per chunk, 16..4096 (default 120) */
    uint64_t checkpoint_log_points; /* tsdb_after_commit checkpoints once the log holds this many
                                     * points; 0 = only explicit checkpoints (default 4M) */
    bool keep_idle_heads;           /* false (default): a checkpoint unloads the heads of series
                                     * not appended to since the previous checkpoint */
    int64_t log_keep_after;         /* log rows with ids above this are kept (see tsdb_log_release)
                                     * and new rows get larger ids; 0 = none kept (default) */
} tsdb_options;

void tsdb_options_init(tsdb_options *opt);

/* The DDL of the series, chunks and points_log tables, run once by the migration runner. */
const char *tsdb_schema_sql(void);

/* Opens the store on two connections to the same database and recovers: replays the log
 * into the heads, then checkpoints. opt may be NULL (defaults). */
int tsdb_open(sqlite3 *wdb, sqlite3 *rdb, const tsdb_options *opt, tsdb **out);
/* Final checkpoint, then frees everything. Does not close the connections. */
void tsdb_close(tsdb *t);

/* ---- writer thread ---------------------------------------------------------------------
 * Group commit protocol: BEGIN; series_get_or_create/append...; tsdb_pre_commit; COMMIT;
 * tsdb_after_commit. On a failed transaction: ROLLBACK; tsdb_after_rollback. */
int tsdb_series_get_or_create(tsdb *t, const char *device_id, const char *metric,
                              int64_t *series_id);
/* Like tsdb_series_get_or_create but never creates: TSDB_E_NOT_FOUND when the series does
 * not exist. */
int tsdb_series_find(tsdb *t, const char *device_id, const char *metric, int64_t *series_id);
/* The number of series of the device (cached after the first call; series created since are
 * counted). */
int tsdb_device_series(tsdb *t, const char *device_id, uint64_t *count);
/* Appends one point. Out of order points newer than the series' last closed chunk are
 * inserted in place; a point with the timestamp of a stored head point replaces its value
 * (last write wins). Older points return TSDB_DROPPED_TOO_OLD. The point is visible to
 * readers at once and durable after the commit. */
int tsdb_append(tsdb *t, int64_t series_id, int64_t ts_ms, double value);
/* Writes the transaction's points to the log (one row). Call just before COMMIT. */
int tsdb_pre_commit(tsdb *t);
/* Call after COMMIT succeeded. Releases committed chunks, and if tsdb_pre_commit was skipped
 * writes the log in its own transaction (durable before returning, but one more fsync).
 * Runs a checkpoint when the log is over opt.checkpoint_log_points. */
int tsdb_after_commit(tsdb *t);
/* Call after ROLLBACK: drops the in-memory state and reloads it from the database. */
int tsdb_after_rollback(tsdb *t);
/* A small write transaction that leaves the data as it was: tells whether commits can succeed
 * again after a failure. 0, TSDB_E_FULL or TSDB_E_DB with the error text in err. */
int tsdb_write_probe(tsdb *t, char *err, size_t cap);
/* These three run their own transaction (no caller transaction may be open). */
/* Writes every modified head as an open chunk and empties the log. */
int tsdb_checkpoint(tsdb *t);
/* Retention: drops the chunks that end before cutoff_ms (a chunk straddling the cutoff stays
 * whole) and refuses older appends from now on. */
int tsdb_delete_before(tsdb *t, int64_t cutoff_ms);
/* Drops every series of the device with its points. */
int tsdb_delete_device(tsdb *t, const char *device_id);

/* ---- the log as a record of commits ---------------------------------------------------
 * Each commit's points are one or more log rows with increasing ids, never reused, so a row id
 * names a commit for consumers that must see every committed point once (the detectors: see
 * docs/design.md). Rows with ids above the release mark are kept by checkpoints, full ones
 * too, until the consumer releases them. */
/* Writer thread, after a commit: the id of the newest log row (0 if none was ever written). */
int64_t tsdb_log_last_id(tsdb *t);
/* Any thread: rows with ids <= upto are no longer needed by the consumer (never moves back). */
void tsdb_log_release(tsdb *t, int64_t upto);
/* Reader: calls cb for every point of the log rows with ids > after, in id order (points
 * of deleted series are left out). Returns the number of points or a negative error. Call
 * before the writer thread starts appending (at start-up). */
int tsdb_log_scan(tsdb *t, int64_t after,
                  void (*cb)(void *arg, int64_t row, const char *device_id, const char *metric,
                             int64_t ts, double v),
                  void *arg);

/* ---- reader thread(s) ----------------------------------------------------------------- */
/* 0 and *series_id set, TSDB_E_NOT_FOUND, or another negative error. */
int tsdb_series_lookup(tsdb *t, const char *device_id, const char *metric, int64_t *series_id);
/* Calls cb for each metric of the device, by name. Returns the count or a negative error. */
int tsdb_list_metrics(tsdb *t, const char *device_id,
                      void (*cb)(void *arg, const char *metric, int64_t series_id), void *arg);
/* Raw points with from_ms <= ts < to_ms, ascending, at most limit (0 = no limit). *next_ts
 * (optional) receives the timestamp of the first point left out, to continue from, or -1.
 * Returns the number of points passed to cb or a negative error. Points of the current
 * write transaction may be visible before it commits. */
int tsdb_query(tsdb *t, int64_t series_id, int64_t from_ms, int64_t to_ms, size_t limit,
               void (*cb)(void *arg, int64_t ts, double v), void *arg, int64_t *next_ts);
/* Aggregates over [from_ms, to_ms) in buckets aligned to multiples of step_ms since the epoch
 * (bucket_ts = floor(ts / step) * step), one callback per non-empty bucket, ascending.
 * Returns the number of buckets or a negative error. */
int tsdb_rollup(tsdb *t, int64_t series_id, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                void (*cb)(void *arg, int64_t bucket_ts, double min, double max, double avg,
                           uint64_t count),
                void *arg);

typedef struct {
    uint64_t series;           /* series known in memory */
    uint64_t heads_loaded;     /* series whose head is in memory */
    uint64_t head_bytes;       /* memory of the loaded heads' point arrays */
    uint64_t points_appended;  /* accepted by tsdb_append since open */
    uint64_t points_dropped;   /* TSDB_DROPPED_TOO_OLD since open */
    uint64_t chunks_written;   /* full chunks written since open */
    uint64_t bytes_chunks;     /* their encoded size */
    uint64_t points_in_chunks; /* their points */
    uint64_t log_rows;         /* points in the durability log (since the last checkpoint) */
    uint64_t checkpoints;
} tsdb_stats;
void tsdb_get_stats(tsdb *t, tsdb_stats *out);

#endif
