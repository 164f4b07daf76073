/* The ingest writer: one thread, the only writer of the time-series store (store.h's
 * store_ts, any back-end), that turns queued point batches into group commits. Producers (the event
 * loop) submit jobs; after the transaction holding a job's points is durable, the job's completion
 * runs on the loop thread (that is where MQTT PUBACKs and HTTP 202s are sent). */
#ifndef IOTAD_STORE_WRITER_H
#define IOTAD_STORE_WRITER_H

#include "core/point.h"
#include "store/store.h"

#include <stdint.h>
#include <uv.h>

typedef struct writer writer;
typedef struct writer_job writer_job;

enum { WRITER_OP_POINTS = 0, WRITER_OP_DELETE_DEVICE = 1 };

/* A job's status once the writer is done with it. */
enum {
    WRITER_OK = 0,                     /* durable */
    WRITER_E_STORE = STORE_TS_E_STORE, /* not stored: the commit failed (I/O error, ...) */
    WRITER_E_FULL = STORE_TS_E_FULL,   /* not stored: the disk (or the database's size limit)
                                          is full */
    WRITER_E_SERIES_LIMIT = STORE_TS_E_SERIES_LIMIT, /* this job not stored: it would take its
                                   device over max_series_per_device (the rest of the group is) */
};

typedef void (*writer_done_fn)(writer_job *job, int status, void *arg);

struct writer_job {
    writer_job *next;
    char device_id[40];
    char device_type[64]; /* for rule matching in the detector shards */
    ingest_point *points; /* owned by the job */
    size_t n;
    int op;        /* WRITER_OP_* */
    int status;    /* WRITER_OK or a WRITER_E_* (not stored) */
    int64_t seq;   /* once durable: the log row id of its commit (store_ts write's *seq) */
    bool internal; /* iotad's own series (sys.*): exempt from max_series_per_device */
    /* once durable: points that replaced an earlier one (same series and ms), and points
     * not stored because they are older than their series' stored chunks */
    uint32_t replaced, too_old;
    int64_t submit_ns; /* for the commit-latency histogram */
    writer_done_fn done;
    void *arg;
};

typedef struct {
    int64_t checkpoint_interval_ms;
    int64_t retention_ms; /* 0 = keep forever */
    size_t queue_max_points;
    uint64_t max_series_per_device; /* 0 = no limit */
} writer_options;

#define WRITER_LATENCY_BUCKETS 14
typedef struct {
    uint64_t commits, points, jobs, failures;
    uint64_t refused_points;  /* points not stored because the store was failing */
    bool failing;             /* commits fail: ingest is refused until a write succeeds again */
    uint64_t dropped_too_old; /* late points older than the stored chunks of their series */
    uint64_t queued_points, queued_jobs;
    /* commit latency (submit -> durable) histogram, upper bounds in ms */
    uint64_t latency_count[WRITER_LATENCY_BUCKETS + 1];
    double latency_sum_ms;
} writer_stats;
extern const double writer_latency_bounds_ms[WRITER_LATENCY_BUCKETS];

/* Store failure. After a failed commit the writer stops trying: queued and new jobs are
 * refused at once (status WRITER_E_*) and a small write is probed once a second, idle or not;
 * the first write that succeeds ends the failure. The log gets one line when the failure
 * starts, one every 30 s while it lasts and one when it ends, however many jobs are refused. */

/* Starts the thread, from now on the only one that writes to ts. */
int writer_start(uv_loop_t *loop, store_ts *ts, const writer_options *opt, writer **out);
/* Creates a job for n points (malloc'ed); the job owns them once created (NULL: not created,
 * the caller keeps them). ingest_job_from_batch (ingest/ingest.h) makes one from a batch. */
writer_job *writer_job_new(const char *device_id, ingest_point *points, size_t n,
                           writer_done_fn done, void *arg);
void writer_job_free(writer_job *job);
/* Loop thread. Never blocks; the job is always accepted. Returns the points now queued so the
 * caller can apply back-pressure (pause readers) above queue_max_points. */
size_t writer_submit(writer *w, writer_job *job);
bool writer_overloaded(const writer *w);
/* Any thread. 0 while commits succeed, else the WRITER_E_* of the failure; msg (optional,
 * cap bytes) gets the store's error text. */
int writer_failing(writer *w, char *msg, size_t cap);
/* Called on the loop thread when the queue drains below half of queue_max_points after
 * having been overloaded. */
void writer_on_drain(writer *w, void (*cb)(void *arg), void *arg);
/* Queues the deletion of every series of a device (done by the writer thread). */
void writer_delete_device(writer *w, const char *device_id);
void writer_get_stats(writer *w, writer_stats *out);
/* Any thread: points older than retention_ms are deleted from the next housekeeping pass on
 * (0 = keep forever). */
void writer_set_retention(writer *w, int64_t retention_ms);
/* Before the writer starts: the points of the commits after log row `after` (acknowledged,
 * maybe never seen by their consumer) as jobs, one per device and log row, seq = the row, in
 * commit order; each is handed to cb, which takes it. Returns the number of points or a
 * negative error. */
int writer_log_replay(store_ts *ts, int64_t after, void (*cb)(void *arg, writer_job *job),
                      void *arg);
/* Commits everything queued, runs the remaining completions, stops the thread (loop thread). */
void writer_stop(writer *w);

#endif
