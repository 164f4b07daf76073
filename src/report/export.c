/* Forensic export producer (see export.h). A state machine over the record kinds: header,
 * points (devices by id, each device's series, each series paged through the time-series store's
 * query), then anomalies, incidents, events and audit entries, each paged by a keyset (no statement
 * stays open between pieces, so the loop thread's connection is free for other requests), then the
 * manifest. Memory: one output buffer of about `want` bytes and the series of one device. */
#include "report/export.h"

#include "core/log.h"
#include "core/server.h"
#include "report/report_int.h"
#include "store/store.h"

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
    store_export_cursor cursor; /* where the current stored kind's last page ended */
};

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

static store_export_scope scope(const export_job *e)
{
    return (store_export_scope){.from_ms = e->p.from_ms,
                                .to_ms = e->p.to_ms,
                                .devices = e->p.devices,
                                .device_type = e->p.device_type,
                                .owner_id = e->p.owner_id};
}

static void csv_text(rbuf *b, const char *s)
{
    rbuf_csv_field(b, s ? s : "");
}

static void put_value(rbuf *b, const store_value *v)
{
    switch (v->type) {
    case STORE_INT:
        put_int(b, v->i);
        break;
    case STORE_REAL:
        put_double(b, v->r);
        break;
    case STORE_NULL:
        rbuf_puts(b, "null");
        break;
    default:
        rbuf_json_str(b, v->s);
        break;
    }
}

/* One stored row as a record (store_row_fn). Columns 0..3 of every kind are ts_, device_id_,
 * name_, value_ (the CSV columns); columns whose name ends in '_' are keys, not data. NDJSON:
 * every data column as a member. CSV: the common columns, and the data columns as JSON in
 * detail. */
typedef struct {
    export_job *e;
    int rec;
} row_ctx;

static void put_row(void *arg, int n, const char *const *names, const store_value *v)
{
    row_ctx *c = arg;
    export_job *e = c->e;
    rbuf *b = &e->out;
    rbuf row = {0};
    rbuf *j = e->p.format == EXPORT_NDJSON ? b : &row;
    rbuf_puts(j, "{\"type\":");
    rbuf_json_str(j, record_names[c->rec]);
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        if (nl == 0 || names[i][nl - 1] == '_') continue;
        rbuf_put(j, ",", 1);
        rbuf_json_str(j, names[i]);
        rbuf_put(j, ":", 1);
        put_value(j, &v[i]);
    }
    rbuf_puts(j, "}");
    if (e->p.format == EXPORT_NDJSON) {
        rbuf_put(b, "\n", 1);
    } else {
        rbuf_puts(b, record_names[c->rec]);
        for (int i = 0; i < 4 && i < n; i++) {
            rbuf_put(b, ",", 1);
            if (v[i].type == STORE_TEXT)
                csv_text(b, v[i].s);
            else if (v[i].type == STORE_INT)
                put_int(b, v[i].i);
            else if (v[i].type == STORE_REAL)
                put_double(b, v[i].r);
        }
        rbuf_put(b, ",", 1);
        csv_text(b, row.p);
        rbuf_put(b, "\n", 1);
        rbuf_free(&row);
    }
    e->records[c->rec]++;
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
    store_export_scope sc = scope(e);
    for (;;) {
        int rc = STORE_EXPORTS(e->s->st)->next_device(e->s->st, &sc, e->dev_cursor, e->device,
                                                      sizeof e->device);
        if (rc != STORE_OK) return false;
        memcpy(e->dev_cursor, e->device, sizeof e->device);
        STORE_TS(e->s->ts)->list_metrics(e->s->ts, e->device, metric_cb, e);
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
    int rc = STORE_TS(e->s->ts)->query(e->s->ts, e->series[e->series_i].id, e->ts_cursor,
                                       e->p.to_ms, POINT_PAGE, point_cb, e, &next);
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

/* ---- stored record kinds (keyset paging) ---- */

/* One page of a kind (STORE_EXPORT_*) as records of rec; the rows produced, or -1. */
static int rows_step(export_job *e, int kind, int rec)
{
    store_export_scope sc = scope(e);
    row_ctx c = {e, rec};
    int rows =
        STORE_EXPORTS(e->s->st)->page(e->s->st, kind, &sc, &e->cursor, ROW_PAGE, put_row, &c);
    return rows >= 0 ? rows : -1;
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
            got = (e->p.what & EXPORT_ANOMALIES) ? rows_step(e, STORE_EXPORT_ANOMALIES, R_ANOMALY)
                                                 : 0;
            break;
        case ST_INCIDENTS:
            got = (e->p.what & EXPORT_INCIDENTS) ? rows_step(e, STORE_EXPORT_INCIDENTS, R_INCIDENT)
                                                 : 0;
            break;
        case ST_EVENTS:
            got = (e->p.what & EXPORT_EVENTS) ? rows_step(e, STORE_EXPORT_EVENTS, R_EVENT) : 0;
            break;
        case ST_AUDIT:
            got = (e->p.what & EXPORT_AUDIT) ? rows_step(e, STORE_EXPORT_AUDIT, R_AUDIT) : 0;
            break;
        default:
            break;
        }
        if (got < 0 || e->out.oom) return -1;
        if (got == 0) { /* this kind is exhausted: the next one starts from its first row */
            e->state++;
            e->cursor = (store_export_cursor){0};
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
