/* The PostgreSQL back-end's time-series store (store.h's store_ts). The layout bench/pg_series
 * measured (2.04 B/point with 120-point chunks, a day of one series read in ~0.2 ms):
 *   - `series` (id, device_id, metric): every series, loaded into memory at open;
 *   - `chunks` (series_id, start_ts, end_ts, count, data): tsz chunks (store/tsz.h) of up to
 *     CHUNK_POINTS points, partitioned by UTC day of start_ts (a day's partition is created
 *     the first time a chunk starts in it; retention drops whole days, then the few chunks
 *     left before the cut);
 *   - `points_log` (id, npoints, data, writer): one row per commit with the commit's points
 *     (series id, time, value), the durability log and the record of commits the detectors
 *     replay. Several nodes may write one database: ids come from the sequence points_log_ids,
 *     `writer` names the node (store_ts_options.writer), and a node replays and cuts only its
 *     own rows (and a single node's unnamed ones from before).
 * One writer (the ingest writer's thread, on a connection of its own): a group commit appends
 * its points to the series' heads in memory and writes one log row plus the chunks the group
 * filled (one multi-row statement), in one transaction. A checkpoint writes every changed head
 * as an open chunk (replaced as it grows: the row of its first point) and deletes the log rows
 * nobody needs any more. Recovery (at open, and after a failed transaction) reloads the series,
 * replays the log into the heads, and continues a series' open chunk at its first append.
 * Readers (any thread, one reading connection under a mutex) merge the chunks of the range with
 * the head in memory; a point that is in both (an open chunk, or a chunk committed while the
 * reader looked) is the same series and millisecond, kept once, the memory's copy winning.
 * Every statement is parameterised; the partition DDL names a day by its date only. */
#include "core/hmap.h"
#include "core/log.h"
#include "core/util.h"
#include "store/pg/pg_int.h"
#include "store/tsz.h"

#include <endian.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_POINTS 120
#define NONE INT64_MIN
#define NAME_MAX_BYTES 256

typedef struct pseries {
    int64_t id;
    char *device, *metric;
    /* writer only */
    bool loaded;      /* its open chunk (if any) was read into the head, and floor is known */
    bool dirty;       /* head changed since the last checkpoint */
    int64_t floor;    /* points must be > floor: the end of its latest full chunk */
    int64_t open_key; /* start_ts of the row holding an older copy of the head, or NONE */
    uint32_t sealed;  /* points at the head's front written as full chunks this transaction */
    /* the head: written by the writer under mu, read under mu */
    uint32_t n, cap;
    int64_t *ts;
    double *v;
} pseries;

typedef struct {
    store_ts base;
    char url[512];
    pg_conn *w, *r; /* the writer's and the readers' connections */
    pthread_mutex_t mu, rmu;
    hmap *by_name; /* "device\x1fmetric" -> pseries (under mu) */
    pseries **by_id;
    size_t nid, capid;            /* ids are dense enough: by_id is indexed by id */
    int64_t next_log_id;          /* writer: one above its last log row's id */
    char writer_id[64];           /* names this node's log rows (store_ts_options.writer) */
    _Atomic int64_t log_released; /* rows <= this may go */
    int64_t retention_floor;      /* writer */
    int64_t known_days[64];       /* partitions known to exist (writer), a small cache */
    size_t nknown;
    pseries **touched; /* writer: series appended to in this transaction */
    size_t ntouched, captouched;
    uint8_t *log; /* writer: this transaction's log row */
    size_t loglen, logcap;
    uint32_t logn;
    store_ts_stats st;  /* under mu */
    bool replay_failed; /* writer: recover */
} pg_ts;

/* ---- memory ---------------------------------------------------------------------------- */

static void series_free(void *p)
{
    pseries *s = p;
    if (!s) return;
    free(s->device);
    free(s->metric);
    free(s->ts);
    free(s->v);
    free(s);
}

static void key_of(const char *device, const char *metric, char *out, size_t cap)
{
    snprintf(out, cap, "%s\x1f%s", device, metric);
}

static pseries *by_id(pg_ts *t, int64_t id)
{
    return id >= 0 && (size_t)id < t->nid ? t->by_id[id] : NULL;
}

/* Under mu. */
static int remember(pg_ts *t, int64_t id, const char *device, const char *metric, pseries **out)
{
    if (id < 0) return -1;
    if ((size_t)id >= t->capid) {
        size_t cap = t->capid ? t->capid : 1024;
        while (cap <= (size_t)id)
            cap *= 2;
        pseries **nb = realloc(t->by_id, cap * sizeof *nb);
        if (!nb) return -1;
        memset(nb + t->capid, 0, (cap - t->capid) * sizeof *nb);
        t->by_id = nb;
        t->capid = cap;
    }
    pseries *s = calloc(1, sizeof *s);
    if (!s || !(s->device = strdup(device)) || !(s->metric = strdup(metric))) {
        series_free(s);
        return -1;
    }
    s->id = id;
    s->floor = NONE;
    s->open_key = NONE;
    char key[2 * NAME_MAX_BYTES + 2];
    key_of(device, metric, key, sizeof key);
    int ok = 1;
    series_free(hmap_put(t->by_name, key, s, &ok));
    if (!ok) {
        series_free(s);
        return -1;
    }
    t->by_id[id] = s;
    if ((size_t)id >= t->nid) t->nid = (size_t)id + 1;
    t->st.series++;
    if (out) *out = s;
    return 0;
}

/* Drops every series from memory (under mu). */
static void forget_all(pg_ts *t)
{
    hmap_free(t->by_name, series_free);
    t->by_name = hmap_new();
    free(t->by_id);
    t->by_id = NULL;
    t->nid = t->capid = 0;
    t->st.series = t->st.heads_loaded = t->st.head_bytes = 0;
}

/* ---- the head: sorted, one point per ms ------------------------------------------------ */

static int head_reserve(pg_ts *t, pseries *s, uint32_t n)
{
    if (n <= s->cap) return 0;
    uint32_t cap = s->cap ? s->cap : 16;
    while (cap < n)
        cap *= 2;
    int64_t *ts = realloc(s->ts, cap * sizeof *ts);
    if (!ts) return -1;
    s->ts = ts;
    double *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -1;
    s->v = v;
    t->st.head_bytes += (uint64_t)(cap - s->cap) * 16;
    s->cap = cap;
    return 0;
}

/* 0 appended, 1 (TSDB_DROPPED_TOO_OLD's meaning) dropped, 2 replaced, -1 no memory. Under mu. */
static int head_put(pg_ts *t, pseries *s, int64_t ts, double v)
{
    if ((s->floor != NONE && ts <= s->floor) || ts < t->retention_floor) return 1;
    uint32_t lo = 0, hi = s->n;
    if (s->n > 0 && ts > s->ts[s->n - 1]) {
        lo = s->n;
    } else {
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (s->ts[mid] < ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < s->n && s->ts[lo] == ts) {
            s->v[lo] = v;
            s->dirty = true;
            return 2;
        }
    }
    if (head_reserve(t, s, s->n + 1) != 0) return -1;
    memmove(s->ts + lo + 1, s->ts + lo, (s->n - lo) * sizeof *s->ts);
    memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof *s->v);
    s->ts[lo] = ts;
    s->v[lo] = v;
    s->n++;
    s->dirty = true;
    return 0;
}

/* ---- statements -------------------------------------------------------------------------- */

static int64_t be64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return (int64_t)be64toh(x);
}

static PGresult *q(pg_conn *c, const char *sql, int n, const char *const *vals, const int *lens,
                   const int *fmts, int binary_result)
{
    return pg_query_params(c, sql, n, vals, lens, fmts, binary_result != 0);
}

/* A reader's statement (under rmu): once more on a new connection when the server went away
 * (a restart of PostgreSQL), so readers recover by themselves as the writer does. */
static PGresult *rq(pg_ts *t, const char *sql, int n, const char *const *vals)
{
    PGresult *r = q(t->r, sql, n, vals, NULL, NULL, 1);
    if (!r && pg_broken(t->r) && pg_reset(t->r) == 0) r = q(t->r, sql, n, vals, NULL, NULL, 1);
    return r;
}

/* The day partition of chunks holding ms exists (in the writer's open transaction). */
static int ensure_day(pg_ts *t, int64_t ms)
{
    int64_t day = ms / PG_DAY_MS - (ms % PG_DAY_MS < 0);
    for (size_t i = 0; i < t->nknown; i++)
        if (t->known_days[i] == day) return 0;
    if (pg_partition_day(t->w, day * PG_DAY_MS) != 0) return -1;
    if (t->nknown == sizeof t->known_days / sizeof t->known_days[0]) t->nknown = 0;
    t->known_days[t->nknown++] = day;
    return 0;
}

/* The series' open chunk becomes its head (the first append of a series since open). */
static int load_head(pg_ts *t, pseries *s)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, s->id);
    const char *p[] = {id};
    PGresult *r = q(t->w,
                    "SELECT start_ts, end_ts, count, data FROM chunks WHERE series_id = $1 "
                    "ORDER BY start_ts DESC LIMIT 2",
                    1, p, NULL, NULL, 1);
    if (!r) return -1;
    int rc = 0;
    int rows = PQntuples(r);
    if (rows > 0) {
        int32_t count;
        memcpy(&count, PQgetvalue(r, 0, 2), 4);
        count = (int32_t)be32toh((uint32_t)count);
        if (count < CHUNK_POINTS) { /* an open chunk: continue it */
            const uint8_t *d = (const uint8_t *)PQgetvalue(r, 0, 3);
            int len = PQgetlength(r, 0, 3);
            int n = tsz_count(d, (size_t)len);
            pthread_mutex_lock(&t->mu);
            if (n < 0 || head_reserve(t, s, (uint32_t)n + s->n) != 0) {
                rc = -1;
            } else {
                int64_t *ots = malloc(((size_t)n + 1) * sizeof *ots);
                double *ov = malloc(((size_t)n + 1) * sizeof *ov);
                ssize_t got = ots && ov ? tsz_decode(d, (size_t)len, ots, ov, (size_t)n) : -1;
                if (got < 0) rc = -1;
                /* the head may hold replayed points already: they win */
                for (ssize_t i = 0; rc == 0 && i < got; i++)
                    if (head_put(t, s, ots[i], ov[i]) < 0) rc = -1;
                free(ots);
                free(ov);
                s->open_key = be64(PQgetvalue(r, 0, 0));
            }
            pthread_mutex_unlock(&t->mu);
            if (rows > 1) s->floor = be64(PQgetvalue(r, 1, 1));
        } else {
            s->floor = be64(PQgetvalue(r, 0, 1));
        }
    }
    PQclear(r);
    if (rc == 0) {
        s->loaded = true;
        t->st.heads_loaded++;
    }
    return rc;
}

/* ---- recovery ---------------------------------------------------------------------------- */

static int load_series(pg_ts *t)
{
    PGresult *r =
        q(t->w, "SELECT id, device_id, metric FROM series ORDER BY id", 0, NULL, NULL, NULL, 0);
    if (!r) return -1;
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    forget_all(t);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = remember(t, strtoll(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1),
                      PQgetvalue(r, i, 2), NULL);
    pthread_mutex_unlock(&t->mu);
    PQclear(r);
    return rc;
}

/* Calls fn for every point of the log rows after `after` on connection c: the points or -1. */
static int scan_log(pg_ts *t, pg_conn *c, int64_t after,
                    void (*fn)(void *arg, int64_t row, int64_t sid, int64_t ts, double v),
                    void *arg)
{
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    const char *p[] = {a, t->writer_id};
    /* this node's rows (and a single node's from before writers were named): another node's
     * points are its own to replay (here they would make a stale copy of its open chunks) */
    PGresult *r = q(c,
                    "SELECT id, data FROM points_log WHERE id > $1 AND writer IN ($2, '') "
                    "ORDER BY id",
                    2, p, NULL, NULL, 1);
    if (!r) return -1;
    int total = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t row = be64(PQgetvalue(r, i, 0));
        const char *d = PQgetvalue(r, i, 1);
        int len = PQgetlength(r, i, 1);
        for (int off = 0; off + 24 <= len; off += 24) {
            int64_t bits = be64(d + off + 16);
            double v;
            memcpy(&v, &bits, 8);
            fn(arg, row, be64(d + off), be64(d + off + 8), v);
            total++;
        }
    }
    PQclear(r);
    return total;
}

static void replay_point(void *arg, int64_t row, int64_t sid, int64_t ts, double v)
{
    (void)row;
    pg_ts *t = arg;
    pseries *s = by_id(t, sid);
    if (!s) return; /* its device was deleted */
    if (!s->loaded && load_head(t, s) != 0) {
        t->replay_failed = true;
        return;
    }
    pthread_mutex_lock(&t->mu);
    if (head_put(t, s, ts, v) == 0) t->st.points_appended++;
    pthread_mutex_unlock(&t->mu);
}

static int recover(pg_ts *t)
{
    t->nknown = 0;
    t->ntouched = 0;
    if (load_series(t) != 0) return -1;
    int64_t max = pg_intf(t->w, -1, "SELECT COALESCE(MAX(id), 0) FROM points_log", "");
    if (max < 0) return -1;
    int64_t keep = atomic_load(&t->log_released);
    if (max + 1 > t->next_log_id) t->next_log_id = max + 1;
    if (keep + 1 > t->next_log_id) t->next_log_id = keep + 1;
    /* the log's points go into the heads, each series' open chunk loaded first */
    t->replay_failed = false;
    if (scan_log(t, t->w, 0, replay_point, t) < 0 || t->replay_failed) return -1;
    return 0;
}

/* ---- writer ------------------------------------------------------------------------------ */

static int series_get_or_create(pg_ts *t, const char *device, const char *metric, int64_t now,
                                pseries **out)
{
    char key[2 * NAME_MAX_BYTES + 2];
    key_of(device, metric, key, sizeof key);
    pthread_mutex_lock(&t->mu);
    pseries *s = hmap_get(t->by_name, key);
    pthread_mutex_unlock(&t->mu);
    if (!s) {
        char nowb[24];
        snprintf(nowb, sizeof nowb, "%" PRId64, now);
        const char *p[] = {device, metric, nowb};
        PGresult *r = q(t->w,
                        "INSERT INTO series(device_id, metric, created_at) VALUES($1, $2, $3) "
                        "ON CONFLICT (device_id, metric) DO UPDATE SET metric = EXCLUDED.metric "
                        "RETURNING id",
                        3, p, NULL, NULL, 0);
        if (!r) return -1;
        int64_t id = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        pthread_mutex_lock(&t->mu);
        int rc = remember(t, id, device, metric, &s);
        pthread_mutex_unlock(&t->mu);
        if (rc != 0) return -1;
    }
    if (!s->loaded && load_head(t, s) != 0) return -1;
    *out = s;
    return 0;
}

static int touch(pg_ts *t, pseries *s)
{
    for (size_t i = t->ntouched; i > 0 && i + 8 > t->ntouched; i--) /* recent ones: cheap */
        if (t->touched[i - 1] == s) return 0;
    if (t->ntouched == t->captouched) {
        size_t cap = t->captouched ? t->captouched * 2 : 256;
        pseries **nt = realloc(t->touched, cap * sizeof *nt);
        if (!nt) return -1;
        t->touched = nt;
        t->captouched = cap;
    }
    t->touched[t->ntouched++] = s;
    return 0;
}

static int log_put(pg_ts *t, int64_t sid, int64_t ts, double v)
{
    if (t->loglen + 24 > t->logcap) {
        size_t cap = t->logcap ? t->logcap * 2 : 64 * 1024;
        uint8_t *nb = realloc(t->log, cap);
        if (!nb) return -1;
        t->log = nb;
        t->logcap = cap;
    }
    uint64_t x[3];
    uint64_t bits;
    memcpy(&bits, &v, 8);
    x[0] = htobe64((uint64_t)sid);
    x[1] = htobe64((uint64_t)ts);
    x[2] = htobe64(bits);
    memcpy(t->log + t->loglen, x, 24);
    t->loglen += 24;
    t->logn++;
    return 0;
}

/* Growing text buffers for the array parameters of one multi-row statement. */
typedef struct {
    char *p;
    size_t n, cap;
} tbuf;

static int tb_add(tbuf *b, const char *s, size_t len)
{
    if (b->n + len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 2)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

static int tb_num(tbuf *b, int64_t x)
{
    char s[24];
    int len = snprintf(s, sizeof s, "%s%" PRId64, b->n > 1 ? "," : "", x);
    return tb_add(b, s, (size_t)len);
}

static int tb_hex(tbuf *b, const uint8_t *d, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (b->n > 1 && tb_add(b, ",", 1) != 0) return -1;
    if (tb_add(b, "", 0) != 0 || b->n + 2 * len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + 2 * len + 2)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return -1;
        b->p = np;
        b->cap = cap;
    }
    for (size_t i = 0; i < len; i++) {
        b->p[b->n++] = hex[d[i] >> 4];
        b->p[b->n++] = hex[d[i] & 15];
    }
    b->p[b->n] = '\0';
    return 0;
}

typedef struct {
    tbuf sid, start, end, count, data; /* chunk rows to upsert */
    tbuf dsid, dkey;                   /* rows to delete (a head's older copy at another key) */
    uint8_t *enc;
    size_t enccap;
    size_t rows, dels;
} chunk_rows;

static void rows_init(chunk_rows *c)
{
    memset(c, 0, sizeof *c);
    tbuf *all[] = {&c->sid, &c->start, &c->end, &c->count, &c->data, &c->dsid, &c->dkey};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tb_add(all[i], "{", 1);
}

static void rows_free(chunk_rows *c)
{
    tbuf *all[] = {&c->sid, &c->start, &c->end, &c->count, &c->data, &c->dsid, &c->dkey};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->p);
    free(c->enc);
}

/* Adds the chunk of s's head points [from, from + n) keyed by its first point. */
static int rows_add(pg_ts *t, chunk_rows *c, pseries *s, uint32_t from, uint32_t n)
{
    size_t need = tsz_bound(n);
    if (need > c->enccap) {
        uint8_t *nb = realloc(c->enc, need);
        if (!nb) return -1;
        c->enc = nb;
        c->enccap = need;
    }
    ssize_t len = tsz_encode(s->ts + from, s->v + from, n, c->enc, c->enccap);
    if (len < 0 || ensure_day(t, s->ts[from]) != 0) return -1;
    if (tb_num(&c->sid, s->id) || tb_num(&c->start, s->ts[from]) ||
        tb_num(&c->end, s->ts[from + n - 1]) || tb_num(&c->count, n) ||
        tb_hex(&c->data, c->enc, (size_t)len))
        return -1;
    c->rows++;
    if (s->open_key != NONE && s->open_key != s->ts[from]) { /* its older copy goes */
        if (tb_num(&c->dsid, s->id) || tb_num(&c->dkey, s->open_key)) return -1;
        c->dels++;
    }
    return 0;
}

static int rows_write(pg_ts *t, chunk_rows *c)
{
    tbuf *all[] = {&c->sid, &c->start, &c->end, &c->count, &c->data, &c->dsid, &c->dkey};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (tb_add(all[i], "}", 1) != 0) return -1;
    if (c->dels) {
        const char *p[] = {c->dsid.p, c->dkey.p};
        PGresult *r = q(t->w,
                        "DELETE FROM chunks c USING unnest($1::bigint[], $2::bigint[]) AS u(s, k) "
                        "WHERE c.series_id = u.s AND c.start_ts = u.k",
                        2, p, NULL, NULL, 0);
        if (!r) return -1;
        PQclear(r);
    }
    if (c->rows) {
        const char *p[] = {c->sid.p, c->start.p, c->end.p, c->count.p, c->data.p};
        PGresult *r =
            q(t->w,
              "INSERT INTO chunks(series_id, start_ts, end_ts, count, data) "
              "SELECT s, a, e, n, decode(h, 'hex') FROM unnest($1::bigint[], "
              "$2::bigint[], $3::bigint[], $4::integer[], $5::text[]) AS u(s, a, e, n, h) "
              "ON CONFLICT (series_id, start_ts) DO UPDATE SET end_ts = EXCLUDED.end_ts, "
              "count = EXCLUDED.count, data = EXCLUDED.data",
              5, p, NULL, NULL, 0);
        if (!r) return -1;
        PQclear(r);
    }
    return 0;
}

/* STORE_TS_E_FULL (disk full, or the database's limits) or _STORE, with the text in msg. */
static int write_error(pg_ts *t, char *msg, size_t cap)
{
    const char *e = pg_error(t->w);
    snprintf(msg, cap, "%s", e[0] ? e : "out of memory");
    const char *st = pg_sqlstate(t->w);
    return strncmp(st, "53", 2) == 0 ? STORE_TS_E_FULL : STORE_TS_E_STORE;
}

/* After a failed transaction: its points are gone, so is what memory made of them. */
static void rollback(pg_ts *t)
{
    pg_rollback(t->w);
    if (pg_broken(t->w)) pg_reset(t->w);
    t->loglen = 0;
    t->logn = 0;
    if (recover(t) != 0) log_error("pg_ts_reload_failed", "err=\"%s\"", pg_error(t->w));
}

static int begin(pg_ts *t)
{
    if (pg_begin(t->w) == 0) return 0;
    if (!pg_broken(t->w) || pg_reset(t->w) != 0) return -1;
    if (recover(t) != 0) return -1; /* a new connection: the old one's state is unknown */
    return pg_begin(t->w);
}

static int over_series_limit(pg_ts *t, const store_ts_batch *b, uint64_t max)
{
    uint64_t fresh = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (i > 0 && strcmp(b->points[i].metric, b->points[i - 1].metric) == 0) continue;
        char key[2 * NAME_MAX_BYTES + 2];
        key_of(b->device_id, b->points[i].metric, key, sizeof key);
        pthread_mutex_lock(&t->mu);
        fresh += hmap_get(t->by_name, key) == NULL;
        pthread_mutex_unlock(&t->mu);
    }
    if (fresh == 0) return 0;
    int64_t have =
        pg_intf(t->w, -1, "SELECT COUNT(*) FROM series WHERE device_id = $1", "s", b->device_id);
    if (have < 0) return -1;
    return (uint64_t)have + fresh > max;
}

static int pq_ts_write(store_ts *ts, store_ts_batch *b, size_t n, uint64_t max_series, int64_t *seq,
                       char *msg, size_t cap)
{
    pg_ts *t = (pg_ts *)ts;
    t->loglen = 0;
    t->logn = 0;
    t->ntouched = 0;
    if (begin(t) != 0) return write_error(t, msg, cap);
    int64_t now = util_now_ms();
    chunk_rows rows;
    rows_init(&rows);
    for (size_t k = 0; k < n; k++) {
        store_ts_batch *j = &b[k];
        if (max_series && !j->internal) {
            int over = over_series_limit(t, j, max_series);
            if (over < 0) goto fail;
            if (over) {
                j->status = STORE_TS_E_SERIES_LIMIT;
                continue;
            }
        }
        const char *last = NULL;
        pseries *s = NULL;
        for (size_t i = 0; i < j->n; i++) {
            const ingest_point *p = &j->points[i];
            if (!last || strcmp(last, p->metric) != 0) {
                if (series_get_or_create(t, j->device_id, p->metric, now, &s) != 0 ||
                    touch(t, s) != 0)
                    goto fail;
                last = p->metric;
            }
            pthread_mutex_lock(&t->mu);
            int rc = head_put(t, s, p->ts_ms, p->value);
            if (rc == 0 || rc == 2) t->st.points_appended++;
            if (rc == 1) t->st.points_dropped++;
            pthread_mutex_unlock(&t->mu);
            if (rc < 0) goto fail;
            if (rc == 1) {
                j->too_old++;
                continue;
            }
            if (rc == 2) j->replaced++;
            if (log_put(t, s->id, p->ts_ms, p->value) != 0) goto fail;
        }
    }
    /* the chunks the group filled */
    for (size_t i = 0; i < t->ntouched; i++) {
        pseries *s = t->touched[i];
        while (s->n - s->sealed >= CHUNK_POINTS) {
            if (rows_add(t, &rows, s, s->sealed, CHUNK_POINTS) != 0) goto fail;
            s->open_key = NONE;
            s->sealed += CHUNK_POINTS;
        }
    }
    if (rows_write(t, &rows) != 0) goto fail;
    /* the row's id comes from the database's sequence: other nodes write the log too */
    int64_t id = t->next_log_id - 1;
    if (t->logn > 0) {
        char nb[24];
        snprintf(nb, sizeof nb, "%" PRIu32, t->logn);
        const char *p[] = {nb, (const char *)t->log, t->writer_id};
        int lens[] = {0, (int)t->loglen, 0};
        int fmts[] = {0, 1, 0};
        PGresult *r = q(t->w,
                        "INSERT INTO points_log(id, npoints, data, writer) "
                        "VALUES(nextval('points_log_ids'), $1, $2, $3) RETURNING id",
                        3, p, lens, fmts, 0);
        if (!r) goto fail;
        id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
        PQclear(r);
        if (id < 0) goto fail;
    }
    if (pg_commit(t->w) != 0) goto fail;
    if (id + 1 > t->next_log_id) t->next_log_id = id + 1;
    *seq = t->next_log_id - 1;
    /* the sealed points are in chunks now: the heads keep the rest */
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->ntouched; i++) {
        pseries *s = t->touched[i];
        if (s->sealed == 0) continue;
        t->st.chunks_written += s->sealed / CHUNK_POINTS;
        t->st.points_in_chunks += s->sealed;
        s->floor = s->ts[s->sealed - 1];
        memmove(s->ts, s->ts + s->sealed, (s->n - s->sealed) * sizeof *s->ts);
        memmove(s->v, s->v + s->sealed, (s->n - s->sealed) * sizeof *s->v);
        s->n -= s->sealed;
        s->sealed = 0;
    }
    t->st.log_rows += t->logn;
    pthread_mutex_unlock(&t->mu);
    rows_free(&rows);
    return 0;
fail:;
    int rc = write_error(t, msg, cap);
    rows_free(&rows);
    for (size_t i = 0; i < t->ntouched; i++)
        t->touched[i]->sealed = 0;
    rollback(t);
    return rc;
}

static int own_txn_end(pg_ts *t, int ok, const char *what)
{
    if (ok == 0 && pg_commit(t->w) == 0) return 0;
    log_error("pg_ts_txn_failed", "op=%s err=\"%s\"", what, pg_error(t->w));
    rollback(t);
    return STORE_TS_E_STORE;
}

static int pq_ts_checkpoint(store_ts *ts)
{
    pg_ts *t = (pg_ts *)ts;
    if (begin(t) != 0) return STORE_TS_E_STORE;
    chunk_rows rows;
    rows_init(&rows);
    int rc = 0;
    size_t it = 0;
    const char *k;
    void *val;
    /* the writer is the only one that changes heads: no lock needed to read them here */
    while (rc == 0 && hmap_next(t->by_name, &it, &k, &val)) {
        pseries *s = val;
        if (s->dirty && s->n > 0) rc = rows_add(t, &rows, s, 0, s->n);
    }
    if (rc == 0) rc = rows_write(t, &rows);
    rows_free(&rows);
    int64_t upto = t->next_log_id - 1, keep = atomic_load(&t->log_released);
    if (keep < upto) upto = keep;
    /* only this node's rows: another node's are its own to cut (its heads hold their points) */
    if (rc == 0)
        rc = pg_execf(t->w, NULL, "DELETE FROM points_log WHERE id <= $1 AND writer IN ($2, '')",
                      "is", upto, t->writer_id);
    if (own_txn_end(t, rc, "checkpoint") != 0) return STORE_TS_E_STORE;
    it = 0;
    pthread_mutex_lock(&t->mu);
    while (hmap_next(t->by_name, &it, &k, &val)) {
        pseries *s = val;
        if (s->dirty && s->n > 0) s->open_key = s->ts[0];
        s->dirty = false;
    }
    t->st.log_rows = 0;
    t->st.checkpoints++;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int pq_ts_delete_before(store_ts *ts, int64_t cutoff_ms)
{
    pg_ts *t = (pg_ts *)ts;
    if (pg_partitions_drop_before(t->w, cutoff_ms, NULL) != 0) return STORE_TS_E_STORE;
    t->nknown = 0;
    if (begin(t) != 0) return STORE_TS_E_STORE;
    /* start_ts < cut as well: only the cut's own day is read (the partitions are by start) */
    int rc = pg_execf(t->w, NULL, "DELETE FROM chunks WHERE start_ts < $1 AND end_ts < $1", "i",
                      cutoff_ms);
    if (own_txn_end(t, rc, "retention") != 0) return STORE_TS_E_STORE;
    if (cutoff_ms > t->retention_floor) t->retention_floor = cutoff_ms;
    return 0;
}

static int pq_ts_delete_device(store_ts *ts, const char *device_id)
{
    pg_ts *t = (pg_ts *)ts;
    if (begin(t) != 0) return STORE_TS_E_STORE;
    int rc = pg_execf(t->w, NULL,
                      "DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE "
                      "device_id = $1)",
                      "s", device_id);
    if (rc == 0)
        rc = pg_execf(t->w, NULL, "DELETE FROM series WHERE device_id = $1", "s", device_id);
    if (own_txn_end(t, rc, "delete_device") != 0) return STORE_TS_E_STORE;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nid; i++) {
        pseries *s = t->by_id[i];
        if (!s || strcmp(s->device, device_id) != 0) continue;
        char key[2 * NAME_MAX_BYTES + 2];
        key_of(s->device, s->metric, key, sizeof key);
        hmap_remove(t->by_name, key);
        t->by_id[i] = NULL;
        t->st.series--;
        series_free(s);
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int pq_ts_probe(store_ts *ts, char *msg, size_t cap)
{
    pg_ts *t = (pg_ts *)ts;
    if (pg_broken(t->w) && pg_reset(t->w) != 0) return write_error(t, msg, cap);
    if (pg_exec(t->w, "BEGIN; INSERT INTO points_log(id, npoints, data) VALUES(0, 0, ''::bytea);"
                      "DELETE FROM points_log WHERE id = 0; COMMIT") == 0)
        return 0;
    int rc = write_error(t, msg, cap);
    pg_rollback(t->w);
    return rc;
}

/* ---- the log ----------------------------------------------------------------------------- */

static void pq_ts_log_release(store_ts *ts, int64_t upto)
{
    pg_ts *t = (pg_ts *)ts;
    int64_t cur = atomic_load(&t->log_released);
    while (upto > cur && !atomic_compare_exchange_weak(&t->log_released, &cur, upto))
        ;
}

typedef struct {
    pg_ts *t;
    store_ts_log_fn cb;
    void *arg;
} log_scan_ctx;

static void scan_point(void *arg, int64_t row, int64_t sid, int64_t ts, double v)
{
    log_scan_ctx *c = arg;
    pthread_mutex_lock(&c->t->mu);
    pseries *s = by_id(c->t, sid);
    pthread_mutex_unlock(&c->t->mu);
    if (s) c->cb(c->arg, row, s->device, s->metric, ts, v);
}

static int pq_ts_log_scan(store_ts *ts, int64_t after, store_ts_log_fn cb, void *arg)
{
    pg_ts *t = (pg_ts *)ts;
    log_scan_ctx c = {t, cb, arg};
    pthread_mutex_lock(&t->rmu);
    int n = scan_log(t, t->r, after, scan_point, &c);
    pthread_mutex_unlock(&t->rmu);
    return n < 0 ? STORE_TS_E_STORE : n;
}

/* ---- readers ----------------------------------------------------------------------------- */

static int pq_ts_lookup(store_ts *ts, const char *device_id, const char *metric, int64_t *series_id)
{
    pg_ts *t = (pg_ts *)ts;
    char key[2 * NAME_MAX_BYTES + 2];
    key_of(device_id, metric, key, sizeof key);
    pthread_mutex_lock(&t->mu);
    pseries *s = hmap_get(t->by_name, key);
    if (s) *series_id = s->id;
    pthread_mutex_unlock(&t->mu);
    if (s) return 0;
    /* a series another node made after this one opened: its chunks are readable here (not
     * remembered: only the writer adds series to memory) */
    const char *p[] = {device_id, metric};
    pthread_mutex_lock(&t->rmu);
    PGresult *r = rq(t, "SELECT id FROM series WHERE device_id = $1 AND metric = $2", 2, p);
    int rc = r && PQntuples(r) == 1 ? 0 : STORE_TS_E_STORE;
    if (rc == 0) *series_id = be64(PQgetvalue(r, 0, 0));
    PQclear(r);
    pthread_mutex_unlock(&t->rmu);
    return rc;
}

typedef struct {
    char *metric;
    int64_t id;
} metric_entry;

static int cmp_metric(const void *a, const void *b)
{
    return strcmp(((const metric_entry *)a)->metric, ((const metric_entry *)b)->metric);
}

/* From the database: the device's series include those other nodes made after this one
 * opened. */
static int pq_ts_list_metrics(store_ts *ts, const char *device_id, store_ts_metric_fn cb, void *arg)
{
    pg_ts *t = (pg_ts *)ts;
    const char *p[] = {device_id};
    pthread_mutex_lock(&t->rmu);
    PGresult *r = rq(t, "SELECT metric, id FROM series WHERE device_id = $1", 1, p);
    int n = r ? PQntuples(r) : 0;
    metric_entry *v = r && n > 0 ? calloc((size_t)n, sizeof *v) : NULL;
    int rc = !r || (n > 0 && !v) ? -1 : 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!(v[i].metric = strdup(PQgetvalue(r, i, 0)))) rc = -1;
        v[i].id = be64(PQgetvalue(r, i, 1));
    }
    PQclear(r);
    pthread_mutex_unlock(&t->rmu);
    if (rc == 0 && n > 1) qsort(v, (size_t)n, sizeof *v, cmp_metric);
    for (int i = 0; v && i < n; i++) {
        if (rc == 0) cb(arg, v[i].metric, v[i].id);
        free(v[i].metric);
    }
    free(v);
    return rc == 0 ? n : STORE_TS_E_STORE;
}

typedef struct {
    int64_t *ts;
    double *v;
    uint8_t *mem; /* 1: from memory (wins over a stored copy) */
    size_t n, cap;
} pts;

static int pts_add(pts *p, int64_t ts, double v, uint8_t mem)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        int64_t *nt = realloc(p->ts, cap * sizeof *nt);
        if (!nt) return -1;
        p->ts = nt;
        double *nv = realloc(p->v, cap * sizeof *nv);
        if (!nv) return -1;
        p->v = nv;
        uint8_t *nm = realloc(p->mem, cap);
        if (!nm) return -1;
        p->mem = nm;
        p->cap = cap;
    }
    p->ts[p->n] = ts;
    p->v[p->n] = v;
    p->mem[p->n++] = mem;
    return 0;
}

static void pts_free(pts *p)
{
    free(p->ts);
    free(p->v);
    free(p->mem);
}

/* Sorts by time (index order), keeping one point per ms: memory's, else the later chunk's. */
static size_t *pts_order(pts *p, size_t *out_n)
{
    size_t *ix = malloc((p->n ? p->n : 1) * sizeof *ix);
    if (!ix) return NULL;
    for (size_t i = 0; i < p->n; i++)
        ix[i] = i;
    /* insertion-merge friendly: the chunks come in start order and are nearly sorted */
    for (size_t i = 1; i < p->n; i++) {
        size_t x = ix[i], j = i;
        while (j > 0 &&
               (p->ts[ix[j - 1]] > p->ts[x] || (p->ts[ix[j - 1]] == p->ts[x] && ix[j - 1] > x))) {
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = x;
    }
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (m > 0 && p->ts[ix[m - 1]] == p->ts[ix[i]]) {
            if (p->mem[ix[m - 1]] && !p->mem[ix[i]]) continue;
            ix[m - 1] = ix[i]; /* the later one (memory, added last) wins */
            continue;
        }
        ix[m++] = ix[i];
    }
    *out_n = m;
    return ix;
}

/* The points of [from, to): the stored chunks, then the head (added after them), if this
 * node has the series in memory. */
static int gather(pg_ts *t, int64_t sid, int64_t from, int64_t to, pts *p)
{
    pthread_mutex_lock(&t->mu);
    pseries *s = by_id(t, sid);
    int rc = 0;
    pts mem = {0};
    if (s)
        for (uint32_t i = 0; i < s->n && rc == 0; i++)
            if (s->ts[i] >= from && s->ts[i] < to) rc = pts_add(&mem, s->ts[i], s->v[i], 1);
    pthread_mutex_unlock(&t->mu);
    /* not in memory: a series another node writes (lookup found it in the database), read
     * from its chunks (its newest points are in that node's memory until its checkpoint) */
    char a[24], b[24], c[24];
    snprintf(a, sizeof a, "%" PRId64, sid);
    snprintf(b, sizeof b, "%" PRId64, to);
    snprintf(c, sizeof c, "%" PRId64, from);
    const char *par[] = {a, b, c};
    pthread_mutex_lock(&t->rmu);
    PGresult *r = rq(t,
                     "SELECT data FROM chunks WHERE series_id = $1 AND start_ts < $2 AND "
                     "end_ts >= $3 ORDER BY start_ts",
                     3, par);
    pthread_mutex_unlock(&t->rmu);
    if (!r) rc = -1;
    int64_t *cts = NULL;
    double *cv = NULL;
    for (int i = 0; r && rc == 0 && i < PQntuples(r); i++) {
        const uint8_t *d = (const uint8_t *)PQgetvalue(r, i, 0);
        int len = PQgetlength(r, i, 0);
        int cnt = tsz_count(d, (size_t)len);
        if (cnt < 0) continue;
        int64_t *nts = realloc(cts, ((size_t)cnt + 1) * sizeof *nts);
        double *nv = nts ? realloc(cv, ((size_t)cnt + 1) * sizeof *nv) : NULL;
        if (nts) cts = nts;
        if (!nts || !nv) {
            rc = -1;
            break;
        }
        cv = nv;
        ssize_t got = tsz_decode(d, (size_t)len, cts, cv, (size_t)cnt);
        for (ssize_t k = 0; k < got && rc == 0; k++)
            if (cts[k] >= from && cts[k] < to) rc = pts_add(p, cts[k], cv[k], 0);
    }
    free(cts);
    free(cv);
    if (r) PQclear(r);
    for (size_t i = 0; i < mem.n && rc == 0; i++)
        rc = pts_add(p, mem.ts[i], mem.v[i], 1);
    pts_free(&mem);
    return rc == 0 ? 0 : STORE_TS_E_STORE;
}

static int pq_ts_query(store_ts *ts, int64_t series_id, int64_t from_ms, int64_t to_ms,
                       size_t limit, store_ts_point_fn cb, void *arg, int64_t *next_ts)
{
    pg_ts *t = (pg_ts *)ts;
    if (next_ts) *next_ts = -1;
    pts p = {0};
    if (gather(t, series_id, from_ms, to_ms, &p) != 0) {
        pts_free(&p);
        return STORE_TS_E_STORE;
    }
    size_t m;
    size_t *ix = pts_order(&p, &m);
    if (!ix) {
        pts_free(&p);
        return STORE_TS_E_STORE;
    }
    size_t out = limit && m > limit ? limit : m;
    for (size_t i = 0; i < out; i++)
        cb(arg, p.ts[ix[i]], p.v[ix[i]]);
    if (next_ts && out < m) *next_ts = p.ts[ix[out]];
    free(ix);
    pts_free(&p);
    return (int)out;
}

static int pq_ts_rollup(store_ts *ts, int64_t series_id, int64_t from_ms, int64_t to_ms,
                        int64_t step_ms, store_ts_bucket_fn cb, void *arg)
{
    if (step_ms <= 0) return STORE_TS_E_STORE;
    pg_ts *t = (pg_ts *)ts;
    pts p = {0};
    if (gather(t, series_id, from_ms, to_ms, &p) != 0) {
        pts_free(&p);
        return STORE_TS_E_STORE;
    }
    size_t m;
    size_t *ix = pts_order(&p, &m);
    if (!ix) {
        pts_free(&p);
        return STORE_TS_E_STORE;
    }
    int buckets = 0;
    for (size_t i = 0; i < m;) {
        int64_t x = p.ts[ix[i]];
        int64_t b = x / step_ms * step_ms;
        if (x % step_ms < 0) b -= step_ms;
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        uint64_t cnt = 0;
        for (; i < m && p.ts[ix[i]] >= b && p.ts[ix[i]] < b + step_ms; i++) {
            double v = p.v[ix[i]];
            if (v < mn) mn = v;
            if (v > mx) mx = v;
            sum += v;
            cnt++;
        }
        cb(arg, b, mn, mx, sum / (double)cnt, cnt);
        buckets++;
    }
    free(ix);
    pts_free(&p);
    return buckets;
}

static void pq_ts_stats(store_ts *ts, store_ts_stats *out)
{
    pg_ts *t = (pg_ts *)ts;
    pthread_mutex_lock(&t->mu);
    *out = t->st;
    pthread_mutex_unlock(&t->mu);
}

static void pq_ts_close(store_ts *ts)
{
    pg_ts *t = (pg_ts *)ts;
    if (pq_ts_checkpoint(ts) != 0) log_warn("pg_ts_close_checkpoint_failed", "%s", "");
    pg_close(t->w);
    pg_close(t->r);
    hmap_free(t->by_name, series_free);
    free(t->by_id);
    free(t->touched);
    free(t->log);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->rmu);
    free(t);
}

static const store_ts_ops pg_ts_ops = {
    .close = pq_ts_close,
    .write = pq_ts_write,
    .delete_device = pq_ts_delete_device,
    .checkpoint = pq_ts_checkpoint,
    .delete_before = pq_ts_delete_before,
    .probe = pq_ts_probe,
    .log_release = pq_ts_log_release,
    .log_scan = pq_ts_log_scan,
    .lookup = pq_ts_lookup,
    .list_metrics = pq_ts_list_metrics,
    .query = pq_ts_query,
    .rollup = pq_ts_rollup,
    .stats = pq_ts_stats,
};

int pg_ts_open(store *st, const store_ts_options *opt, store_ts **out, char *err, size_t cap)
{
    *out = NULL;
    pg_ts *t = calloc(1, sizeof *t);
    if (!t || !(t->by_name = hmap_new())) {
        free(t);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    t->base.ops = &pg_ts_ops;
    snprintf(t->url, sizeof t->url, "%s", ((pg_store *)st)->url);
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->rmu, NULL);
    t->retention_floor = INT64_MIN;
    t->next_log_id = 1;
    snprintf(t->writer_id, sizeof t->writer_id, "%s", opt && opt->writer ? opt->writer : "");
    atomic_init(&t->log_released, opt && opt->log_keep_after > 0 ? opt->log_keep_after : 0);
    if (opt && opt->log_keep_after > 0) t->next_log_id = opt->log_keep_after + 1;
    err[0] = '\0';
    int rc = pg_connect(t->url, &t->w, err, cap);
    if (rc == 0) rc = pg_connect(t->url, &t->r, err, cap);
    /* the days a backfill writes into exist before it starts (later days: at their first chunk) */
    if (rc == 0) rc = pg_partitions_ensure(t->w, util_now_ms(), 8, 1);
    if (rc == 0) rc = recover(t);
    if (rc != 0) {
        if (!err[0]) snprintf(err, cap, "opening the time-series store: %s", pg_error(t->w));
        pg_close(t->w);
        pg_close(t->r);
        hmap_free(t->by_name, series_free);
        free(t->by_id);
        pthread_mutex_destroy(&t->mu);
        pthread_mutex_destroy(&t->rmu);
        free(t);
        return -1;
    }
    *out = &t->base;
    return 0;
}
