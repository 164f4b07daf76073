/* The report builders' aggregates (report/report_*.c) on SQLite: the shared catalog
 * (store/report_catalog.h) in SQLite's dialect, its named parameters bound by name when the
 * statement has them (:unfiltered as 0/1). */
#include "store/sqlite/sqlite_int.h"

#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* SQLite's dialect of the catalog */
#define RQ_ISO(expr) "strftime('%Y-%m-%dT%H:%M:%SZ', " expr ", 'unixepoch')"
#define RQ_GROUP "json_extract(attributes, '$.group')"
#define RQ_STRPOS(str, sub) "instr(" str ", " sub ")"
#include "store/report_catalog.h"

static sqlite3_stmt *prepare(store *st, const char *name, const store_report_scope *sc)
{
    const char *sql = report_catalog_sql(name);
    if (!sql) {
        log_error("report_query_unknown", "name=%s", name);
        return NULL;
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(SQ(st), sql, -1, &q, NULL) != SQLITE_OK) {
        log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
        sqlite3_finalize(q);
        return NULL;
    }
    sq_bind_int(q, ":from", sc->from_ms);
    sq_bind_int(q, ":to", sc->to_ms);
    sq_bind_text(q, ":dtype", sc->device_type);
    sq_bind_text(q, ":dgroup", sc->group);
    sq_bind_text(q, ":dev", sc->device_id);
    sq_bind_text(q, ":owner", sc->owner_id);
    sq_bind_int(q, ":unfiltered",
                !sq_set(sc->device_type) && !sq_set(sc->group) && !sq_set(sc->device_id) &&
                    !sq_set(sc->owner_id));
    sq_bind_int(q, ":bucket", sc->bucket_ms);
    sq_bind_int(q, ":flood", sc->flood_threshold);
    sq_bind_text(q, ":text", sc->text);
    sq_bind_int(q, ":a", sc->a);
    sq_bind_int(q, ":b", sc->b);
    return q;
}

static cJSON *value_json(sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(q, i));
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(q, i);
        return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    }
    case SQLITE_NULL:
        return cJSON_CreateNull();
    default:
        return cJSON_CreateString((const char *)sqlite3_column_text(q, i));
    }
}

static cJSON *table(store *st, const char *name, const store_report_scope *sc)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return NULL;
    cJSON *t = cJSON_CreateObject();
    cJSON *cols = cJSON_AddArrayToObject(t, "columns");
    cJSON *rows = cJSON_AddArrayToObject(t, "rows");
    int n = sqlite3_column_count(q);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(sqlite3_column_name(q, i)));
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(row, value_json(q, i));
        cJSON_AddItemToArray(rows, row);
    }
    if (rc != SQLITE_DONE) {
        log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
        cJSON_Delete(t);
        t = NULL;
    }
    sqlite3_finalize(q);
    return t;
}

/* Steps to the first row: STORE_OK when it has a non-NULL first value. */
static int first_value(store *st, const char *name, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return sqlite3_column_type(q, 0) != SQLITE_NULL ? STORE_OK : STORE_NOTFOUND;
    if (rc == SQLITE_DONE) return STORE_NOTFOUND;
    log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
    return STORE_ERR;
}

static int number(store *st, const char *name, const store_report_scope *sc, double *out)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return STORE_ERR;
    int rc = first_value(st, name, q);
    if (rc == STORE_OK)
        *out = sqlite3_column_type(q, 0) == SQLITE_INTEGER ? (double)sqlite3_column_int64(q, 0)
                                                           : sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    return rc;
}

static int text(store *st, const char *name, const store_report_scope *sc, char *out, size_t cap)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return STORE_ERR;
    int rc = first_value(st, name, q);
    if (rc == STORE_OK) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc;
}

const store_report_queries_ops sqlite_report_queries_ops = {table, number, text};
