/* Forensic export producer (see export.h). A state machine over the record kinds: header,
 * points (devices by id, each device's series, each series paged through tsdb_query), then
 * anomalies, incidents, events and audit entries, each paged by a keyset (no statement stays
 * open between pieces, so the loop thread's connection is free for other requests), then the
 * manifest. Memory: one output buffer of about `want` bytes and the series of one device. */
#include "report/export.h"

#include "core/log.h"
#include "core/server.h"
#include "report/report_int.h"
#include "store/tsdb.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POINT_PAGE 1024
#define ROW_PAGE 256

enum {
    ST_HEADER,
    ST_POINTS,
    ST_ANOMALIES,
    ST_INCIDENTS,
    ST_EVENTS,
    ST_AUDIT,
    ST_MANIFEST,
    ST_DONE
};
enum { R_POINT, R_ANOMALY, R_INCIDENT, R_EVENT, R_AUDIT, R_COUNT };
static const char *const record_names[R_COUNT] = {"point", "anomaly", "incident", "event", "audit"};

typedef struct {
    int64_t id;
    char *metric;
} series_ref;

struct export_job {
    server *s;
    export_params p;
    char id[UUID_STR_LEN + 1];
    int64_t generated_at;
    int state;
    rbuf out;
    EVP_MD_CTX *md;
    uint64_t bytes, records[R_COUNT];
    char sha256[65];
    /* points */
    char dev_cursor[UUID_STR_LEN + 1];
    char device[UUID_STR_LEN + 1];
    series_ref *series;
    size_t nseries, series_cap, series_i;
    int64_t ts_cursor;
    /* SQL keysets */
    int64_t key_ts, key_int;
    char key_text[64];
    bool incidents_linked; /* incidents.anomaly_id exists */
};

static void reset_keys(export_job *e);

int export_what_parse(const char *s, unsigned *out)
{
    static const char *const names[] = {"points", "anomalies", "incidents", "events", "audit"};
    unsigned bits = 0;
    if (!s || !s[0] || strcmp(s, "all") == 0) {
        *out = EXPORT_ALL;
        return 0;
    }
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        bool ok = false;
        for (int i = 0; i < 5; i++)
            if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0) {
                bits |= 1u << i;
                ok = true;
            }
        if (!ok) return -1;
        p += n;
        if (*p == ',') p++;
    }
    *out = bits;
    return bits ? 0 : -1;
}

export_job *export_new(server *s, const export_params *p, const char *export_id)
{
    export_job *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->s = s;
    e->p = *p;
    snprintf(e->id, sizeof e->id, "%s", export_id);
    e->generated_at = util_now_ms();
    e->md = EVP_MD_CTX_new();
    if (!e->md || EVP_DigestInit_ex(e->md, EVP_sha256(), NULL) != 1) {
        export_free(e);
        return NULL;
    }
    e->ts_cursor = p->from_ms;
    reset_keys(e);
    e->incidents_linked = rdb_has_column(s->db, "incidents", "anomaly_id");
    return e;
}

static void clear_series(export_job *e)
{
    for (size_t i = 0; i < e->nseries; i++)
        free(e->series[i].metric);
    e->nseries = e->series_i = 0;
}

void export_free(export_job *e)
{
    if (!e) return;
    clear_series(e);
    free(e->series);
    rbuf_free(&e->out);
    EVP_MD_CTX_free(e->md);
    free(e);
}

void export_progress(const export_job *e, uint64_t *bytes, uint64_t *records)
{
    uint64_t r = 0;
    for (int i = 0; i < R_COUNT; i++)
        r += e->records[i];
    *bytes = e->bytes + (e->state < ST_DONE ? e->out.n : 0);
    *records = r;
}

/* ---- formatting ---- */

static void put_double(rbuf *b, double v)
{
    char num[40];
    if (!isfinite(v)) {
        rbuf_puts(b, "null");
        return;
    }
    /* shortest of %.15g / %.17g that reads back exactly */
    int n = snprintf(num, sizeof num, "%.15g", v);
    if (strtod(num, NULL) != v) n = snprintf(num, sizeof num, "%.17g", v);
    rbuf_put(b, num, (size_t)n);
}

static void put_int(rbuf *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    rbuf_put(b, num, (size_t)n);
}

/* The SQL filter on devices: :devs (comma list), :dtype, :owner. */
#define EXPORT_DEVSET                                                                              \
    "(SELECT id FROM devices WHERE (:devs = '' OR instr(',' || :devs || ',', ',' || id || ',') "   \
    "> 0) AND (:dtype = '' OR type = :dtype) AND (:owner = '' OR owner_id = :owner))"

static sqlite3_stmt *prepare(export_job *e, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(e->s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("export_sql_failed", "id=%s err=\"%s\"", e->id, sqlite3_errmsg(e->s->db));
        sqlite3_finalize(st);
        return NULL;
    }
    struct {
        const char *name;
        const char *v;
    } texts[] = {{":devs", e->p.devices},
                 {":dtype", e->p.device_type},
                 {":owner", e->p.owner_id},
                 {":ktext", e->key_text},
                 {":cursor", e->dev_cursor}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int k = sqlite3_bind_parameter_index(st, texts[i].name);
        if (k > 0) sqlite3_bind_text(st, k, texts[i].v, -1, SQLITE_STATIC);
    }
    struct {
        const char *name;
        int64_t v;
    } ints[] = {{":from", e->p.from_ms},
                {":to", e->p.to_ms},
                {":kts", e->key_ts},
                {":kint", e->key_int},
                {":page", ROW_PAGE},
                {":unfiltered", !e->p.devices[0] && !e->p.device_type[0] && !e->p.owner_id[0]}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int k = sqlite3_bind_parameter_index(st, ints[i].name);
        if (k > 0) sqlite3_bind_int64(st, k, ints[i].v);
    }
    return st;
}

static void csv_text(rbuf *b, const char *s)
{
    rbuf_csv_field(b, s ? s : "");
}

/* One SQL row as a record. Columns 0..3 of every query are ts_, device_id_, name_, value_
 * (the CSV columns); columns whose name ends in '_' are keys, not data. NDJSON: every data
 * column as a member. CSV: the common columns, and the data columns as JSON in detail. */
static void put_row(export_job *e, sqlite3_stmt *st, int rec)
{
    rbuf *b = &e->out;
    int n = sqlite3_column_count(st);
    rbuf row = {0};
    rbuf *j = e->p.format == EXPORT_NDJSON ? b : &row;
    rbuf_puts(j, "{\"type\":");
    rbuf_json_str(j, record_names[rec]);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t nl = strlen(name);
        if (nl == 0 || name[nl - 1] == '_') continue;
        rbuf_put(j, ",", 1);
        rbuf_json_str(j, name);
        rbuf_put(j, ":", 1);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            put_int(j, sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            put_double(j, sqlite3_column_double(st, i));
            break;
        case SQLITE_NULL:
            rbuf_puts(j, "null");
            break;
        default:
            rbuf_json_str(j, (const char *)sqlite3_column_text(st, i));
            break;
        }
    }
    rbuf_puts(j, "}");
    if (e->p.format == EXPORT_NDJSON) {
        rbuf_put(b, "\n", 1);
    } else {
        rbuf_puts(b, record_names[rec]);
        for (int i = 0; i < 4; i++) {
            rbuf_put(b, ",", 1);
            if (sqlite3_column_type(st, i) != SQLITE_NULL)
                csv_text(b, (const char *)sqlite3_column_text(st, i));
        }
        rbuf_put(b, ",", 1);
        csv_text(b, row.p);
        rbuf_put(b, "\n", 1);
        rbuf_free(&row);
    }
    e->records[rec]++;
}

static void header(export_job *e)
{
    rbuf *b = &e->out;
    if (e->p.format == EXPORT_CSV) {
        rbuf_puts(b, "record,ts,device_id,name,value,detail\n");
        return;
    }
    rbuf_puts(b, "{\"type\":\"header\",\"format\":\"iotad-export/1\",\"export_id\":");
    rbuf_json_str(b, e->id);
    rbuf_printf(b, ",\"from\":%lld,\"to\":%lld,\"generated_at\":%lld,\"devices\":",
                (long long)e->p.from_ms, (long long)e->p.to_ms, (long long)e->generated_at);
    rbuf_json_str(b, e->p.devices);
    rbuf_puts(b, ",\"device_type\":");
    rbuf_json_str(b, e->p.device_type);
    rbuf_puts(b, ",\"what\":[");
    bool first = true;
    static const char *const names[] = {"points", "anomalies", "incidents", "events", "audit"};
    for (int i = 0; i < 5; i++)
        if (e->p.what & (1u << i)) {
            if (!first) rbuf_put(b, ",", 1);
            rbuf_json_str(b, names[i]);
            first = false;
        }
    rbuf_puts(b, "],\"created_by\":");
    rbuf_json_str(b, e->p.created_by);
    rbuf_puts(b, "}\n");
}

/* ---- points ---- */

static void metric_cb(void *arg, const char *metric, int64_t series_id)
{
    export_job *e = arg;
    if (e->nseries == e->series_cap) {
        size_t cap = e->series_cap ? e->series_cap * 2 : 16;
        series_ref *np = realloc(e->series, cap * sizeof *np);
        if (!np) return;
        e->series = np;
        e->series_cap = cap;
    }
    rbuf esc = {0};
    rbuf_json_str(&esc, metric);
    if (e->p.format == EXPORT_CSV) { /* CSV: the field form instead */
        rbuf_free(&esc);
        rbuf_csv_field(&esc, metric);
    }
    if (!esc.p) return;
    e->series[e->nseries].id = series_id;
    e->series[e->nseries].metric = esc.p;
    e->nseries++;
}

static void point_cb(void *arg, int64_t ts, double v)
{
    export_job *e = arg;
    rbuf *b = &e->out;
    const char *metric = e->series[e->series_i].metric;
    if (e->p.format == EXPORT_NDJSON) {
        rbuf_puts(b, "{\"type\":\"point\",\"device_id\":\"");
        rbuf_puts(b, e->device); /* a UUID: nothing to escape */
        rbuf_puts(b, "\",\"metric\":");
        rbuf_puts(b, metric);
        rbuf_puts(b, ",\"ts\":");
        put_int(b, ts);
        rbuf_puts(b, ",\"value\":");
        put_double(b, v);
        rbuf_puts(b, "}\n");
    } else {
        rbuf_puts(b, "point,");
        put_int(b, ts);
        rbuf_put(b, ",", 1);
        rbuf_puts(b, e->device);
        rbuf_put(b, ",", 1);
        rbuf_puts(b, metric);
        rbuf_put(b, ",", 1);
        put_double(b, v);
        rbuf_puts(b, ",\n");
    }
    e->records[R_POINT]++;
}

/* Moves to the next device with series; false when there is none. */
static bool next_device(export_job *e)
{
    clear_series(e);
    for (;;) {
        sqlite3_stmt *st = prepare(e, "SELECT id FROM devices WHERE id IN " EXPORT_DEVSET
                                      " AND id > :cursor ORDER BY id LIMIT 1");
        if (!st) return false;
        bool found = sqlite3_step(st) == SQLITE_ROW;
        if (found)
            snprintf(e->device, sizeof e->device, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (!found) return false;
        memcpy(e->dev_cursor, e->device, sizeof e->device);
        tsdb_list_metrics(e->s->ts, e->device, metric_cb, e);
        if (e->nseries) {
            e->series_i = 0;
            e->ts_cursor = e->p.from_ms;
            return true;
        }
    }
}

static int points_step(export_job *e)
{
    if (e->series_i >= e->nseries && !next_device(e)) return 0;
    int64_t next = -1;
    int rc = tsdb_query(e->s->ts, e->series[e->series_i].id, e->ts_cursor, e->p.to_ms, POINT_PAGE,
                        point_cb, e, &next);
    if (rc < 0) {
        log_error("export_points_failed", "id=%s device=%s rc=%d", e->id, e->device, rc);
        return -1;
    }
    if (next >= 0) {
        e->ts_cursor = next;
    } else {
        e->series_i++;
        e->ts_cursor = e->p.from_ms;
    }
    return 1;
}

/* ---- SQL record kinds (keyset paging) ---- */

/* Runs one page; the last row's keys are read back from columns (kts_col, kkey_col). The key
 * column is text (kkey_text) or integer. Returns rows produced, or -1. */
static int sql_page(export_job *e, const char *sql, int rec, int kts_col, int kkey_col,
                    bool key_text)
{
    sqlite3_stmt *st = prepare(e, sql);
    if (!st) return -1;
    int rows = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        put_row(e, st, rec);
        if (kts_col >= 0) e->key_ts = sqlite3_column_int64(st, kts_col);
        if (key_text)
            snprintf(e->key_text, sizeof e->key_text, "%s",
                     (const char *)sqlite3_column_text(st, kkey_col));
        else
            e->key_int = sqlite3_column_int64(st, kkey_col);
        rows++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? rows : -1;
}

static void reset_keys(export_job *e)
{
    e->key_ts = INT64_MIN;
    e->key_int = INT64_MIN;
    e->key_text[0] = '\0';
}

static int anomalies_step(export_job *e)
{
    return sql_page(e,
                    "SELECT a.detected_at AS ts_, a.device_id AS device_id_, a.metric AS name_, "
                    "a.severity AS value_, a.id, a.device_id, a.metric, a.detected_at, "
                    "a.updated_at, a.severity, a.description, a.details, a.resolved, "
                    "a.resolved_at, a.verdict, a.rule_id FROM anomalies a WHERE a.detected_at >= "
                    ":from AND a.detected_at < :to AND a.device_id IN " EXPORT_DEVSET
                    " AND (a.detected_at, a.id) > (:kts, :ktext) ORDER BY a.detected_at, a.id "
                    "LIMIT :page",
                    R_ANOMALY, 0, 4, true);
}

static int incidents_step(export_job *e)
{
    sqlite3 *db = e->s->db;
    if (!rdb_has_column(db, "incidents", "created_at")) return 0;
    /* incidents.* keeps whatever columns the alerts module gives the table; paged by rowid.
     * The device filter goes through the incident's own device_id and/or its anomaly. */
    bool dev = rdb_has_column(db, "incidents", "device_id");
    bool anom = e->incidents_linked;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT i.created_at AS ts_, %s AS device_id_, '' AS name_, '' AS value_, i.rowid "
             "AS key_%s, i.* FROM incidents i %s WHERE i.created_at >= :from AND i.created_at < "
             ":to AND (:unfiltered%s%s) AND i.rowid > :kint ORDER BY i.rowid LIMIT :page",
             dev    ? "i.device_id"
             : anom ? "a.device_id"
                    : "NULL",
             anom ? ", a.device_id AS anomaly_device_id" : "",
             anom ? "LEFT JOIN anomalies a ON a.id = i.anomaly_id" : "",
             dev ? " OR i.device_id IN " EXPORT_DEVSET : "",
             anom ? " OR a.device_id IN " EXPORT_DEVSET : "");
    return sql_page(e, sql, R_INCIDENT, -1, 4, false);
}

static int events_step(export_job *e)
{
    return sql_page(e,
                    "SELECT e.ts AS ts_, e.device_id AS device_id_, e.kind AS name_, e.category "
                    "AS value_, e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, "
                    "e.detail FROM device_events e WHERE e.ts >= :from AND e.ts < :to AND "
                    "(e.device_id IN " EXPORT_DEVSET " OR (e.device_id IS NULL AND :unfiltered)) "
                    "AND e.id > :kint ORDER BY e.id LIMIT :page",
                    R_EVENT, -1, 4, false);
}

static int audit_step(export_job *e)
{
    return sql_page(e,
                    "SELECT l.ts AS ts_, NULL AS device_id_, l.action AS name_, l.actor AS "
                    "value_, l.seq, l.ts, l.actor, l.action, l.target, l.detail, l.peer, "
                    "l.prev_hash, l.hash FROM audit_log l WHERE l.ts >= :from AND l.ts < :to AND "
                    "(:unfiltered OR l.target IN " EXPORT_DEVSET ") AND l.seq > :kint ORDER BY "
                    "l.seq LIMIT :page",
                    R_AUDIT, -1, 4, false);
}

cJSON *export_manifest(const export_job *e)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "manifest");
    cJSON_AddStringToObject(m, "export_id", e->id);
    cJSON_AddStringToObject(m, "format", e->p.format == EXPORT_CSV ? "csv" : "ndjson");
    cJSON_AddStringToObject(m, "algorithm", "sha256");
    cJSON_AddStringToObject(m, "sha256", e->sha256);
    cJSON_AddNumberToObject(m, "bytes", (double)e->bytes);
    cJSON *r = cJSON_AddObjectToObject(m, "records");
    for (int i = 0; i < R_COUNT; i++)
        cJSON_AddNumberToObject(r, record_names[i], (double)e->records[i]);
    cJSON_AddNumberToObject(m, "from", (double)e->p.from_ms);
    cJSON_AddNumberToObject(m, "to", (double)e->p.to_ms);
    cJSON_AddNumberToObject(m, "generated_at", (double)e->generated_at);
    cJSON_AddStringToObject(m, "covers", "every byte before this line");
    return m;
}

static int manifest(export_job *e)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(e->md, md, &mdlen) != 1 || mdlen != 32) return -1;
    util_hex(md, 32, e->sha256);
    cJSON *m = export_manifest(e);
    char *text = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    if (!text) return -1;
    if (e->p.format == EXPORT_NDJSON) {
        rbuf_puts(&e->out, text);
    } else {
        rbuf_printf(&e->out, "manifest,%lld,,sha256,%s,", (long long)e->generated_at, e->sha256);
        rbuf_csv_field(&e->out, text);
    }
    rbuf_put(&e->out, "\n", 1);
    free(text);
    return 0;
}

int export_next(export_job *e, size_t want, const char **data, size_t *len)
{
    e->out.n = 0;
    if (e->state == ST_DONE) {
        *data = "";
        *len = 0;
        return 0;
    }
    int rc = 1;
    while (e->out.n < want && e->state < ST_MANIFEST) {
        int got = 0;
        switch (e->state) {
        case ST_HEADER:
            header(e);
            break;
        case ST_POINTS:
            got = (e->p.what & EXPORT_POINTS) ? points_step(e) : 0;
            break;
        case ST_ANOMALIES:
            got = (e->p.what & EXPORT_ANOMALIES) ? anomalies_step(e) : 0;
            break;
        case ST_INCIDENTS:
            got = (e->p.what & EXPORT_INCIDENTS) ? incidents_step(e) : 0;
            break;
        case ST_EVENTS:
            got = (e->p.what & EXPORT_EVENTS) ? events_step(e) : 0;
            break;
        case ST_AUDIT:
            got = (e->p.what & EXPORT_AUDIT) ? audit_step(e) : 0;
            break;
        default:
            break;
        }
        if (got < 0 || e->out.oom) return -1;
        if (got == 0) { /* this kind is exhausted: the next one starts with fresh keys */
            e->state++;
            reset_keys(e);
        }
    }
    /* everything so far is covered by the hash; the manifest line is not */
    if (e->out.n && EVP_DigestUpdate(e->md, e->out.p, e->out.n) != 1) return -1;
    e->bytes += e->out.n;
    if (e->state == ST_MANIFEST && e->out.n < want) {
        if (manifest(e) != 0) return -1;
        e->state = ST_DONE;
        rc = 0;
    }
    if (e->out.oom) return -1;
    *data = e->out.p ? e->out.p : "";
    *len = e->out.n;
    return rc;
}
