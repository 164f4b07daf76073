/* Reports, report schedules and the record of exports (tables reports, report_schedules,
 * exports). */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_COLUMNS                                                                             \
    "id, kind, status, from_ts AS \"from\", to_ts AS \"to\", params AS params_json, "              \
    "schedule_id, created_by, created_at, finished_at, error, sha256"
#define SCHEDULE_COLUMNS                                                                           \
    "id, name, kind, period, params AS params_json, enabled AS is_enabled, next_run, last_run, "   \
    "created_by, created_at"
#define EXPORT_COLUMNS                                                                             \
    "id, created_by, peer, format, params AS params_json, started_at, finished_at, status, "       \
    "bytes, records, sha256, manifest AS manifest_json"

static cJSON *get(store *st, const char *id, bool with_compliance)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " REPORT_COLUMNS " FROM reports WHERE id = $1 AND "
                           "($2::bigint <> 0 OR kind != 'compliance')",
                           "si", id, (int64_t)with_compliance);
    return pq_found(r, found);
}

static cJSON *list(store *st, const char *kind, int64_t schedule_id, bool with_compliance,
                   int64_t limit, int64_t offset, int64_t *total)
{
    const char *where =
        "WHERE ($1::bigint <> 0 OR kind != 'compliance') AND ($2 = '' OR kind = $3) AND "
        "($4 = 0 OR schedule_id = $5)";
    char sql[512];
    int64_t all = with_compliance;
    snprintf(sql, sizeof sql,
             "SELECT " REPORT_COLUMNS " FROM reports %s ORDER BY created_at DESC, id DESC "
             "LIMIT $6 OFFSET $7",
             where);
    cJSON *rows = pg_rows_json(PG(st), sql, "issiiii", all, kind, kind, schedule_id, schedule_id,
                               limit, offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reports %s", where);
    *total = pg_intf(PG(st), 0, sql, "issii", all, kind, kind, schedule_id, schedule_id);
    return rows;
}

static int create(store *st, const store_report_new *r, int64_t now_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "INSERT INTO reports(id, kind, status, params, from_ts, to_ts, "
                 "schedule_id, created_by, created_at) VALUES($1, $2, 'queued', $3, $4, $5, "
                 "NULLIF($6::bigint, 0), $7, $8)",
                 "sssiiisi", r->id, r->kind, r->params, r->from_ms, r->to_ms, r->schedule_id,
                 r->created_by ? r->created_by : "system", now_ms));
}

static int set_running(store *st, const char *id)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "UPDATE reports SET status = 'running' WHERE id = $1", "s", id));
}

static int set_done(store *st, const char *id, const char *document, const char *sha256,
                    int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE reports SET status = 'done', finished_at = $1, document = $2, "
                          "sha256 = $3 WHERE id = $4",
                          "isss", now_ms, document, sha256, id));
}

static int set_failed(store *st, const char *id, const char *error, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE reports SET status = 'failed', finished_at = $1, error = $2 "
                          "WHERE id = $3",
                          "iss", now_ms, error, id));
}

static char *document(store *st, const char *id)
{
    const char *p[] = {id};
    PGresult *q = pg_query(PG(st), "SELECT document FROM reports WHERE id = $1", 1, p);
    if (!q) return NULL;
    char *out = PQntuples(q) > 0 && !PQgetisnull(q, 0, 0) ? strdup(PQgetvalue(q, 0, 0)) : NULL;
    PQclear(q);
    return out;
}

static cJSON *unfinished(store *st)
{
    return pg_rows_json(PG(st),
                        "SELECT id, params, COALESCE(created_by, 'system') AS created_by FROM "
                        "reports WHERE status IN ('queued','running') ORDER BY created_at",
                        "");
}

static cJSON *schedules_list(store *st, bool with_compliance)
{
    return pg_rows_json(PG(st),
                        "SELECT " SCHEDULE_COLUMNS " FROM report_schedules WHERE "
                        "$1::bigint <> 0 OR kind != 'compliance' ORDER BY id",
                        "i", (int64_t)with_compliance);
}

static cJSON *schedule_get(store *st, int64_t id)
{
    bool found;
    cJSON *r = pg_row_json(
        PG(st), &found, "SELECT " SCHEDULE_COLUMNS " FROM report_schedules WHERE id = $1", "i", id);
    return pq_found(r, found);
}

static int schedule_create(store *st, const char *name, const char *kind, const char *period,
                           const char *params, int64_t next_run_ms, const char *created_by,
                           int64_t now_ms, int64_t *id)
{
    int64_t new_id = pg_intf(
        PG(st), -1,
        "INSERT INTO report_schedules(name, kind, period, params, next_run, "
        "created_by, created_at) VALUES($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        "ssssisi", name, kind, period, params ? params : "{}", next_run_ms, created_by, now_ms);
    if (id) *id = new_id > 0 ? new_id : 0;
    if (new_id < 0) return pg_constraint_error(PG(st)) ? STORE_ECONSTRAINT : STORE_ERR;
    return STORE_OK;
}

static int schedule_delete(store *st, int64_t id, bool with_compliance, bool *deleted)
{
    int64_t changes = 0;
    int rc = pg_execf(
        PG(st), &changes,
        "DELETE FROM report_schedules WHERE id = $1 AND ($2::bigint <> 0 OR kind != 'compliance')",
        "ii", id, (int64_t)with_compliance);
    *deleted = rc == 0 && changes > 0;
    return pq_rc(rc);
}

static cJSON *schedules_due(store *st, int64_t now_ms, int64_t limit)
{
    return pg_rows_json(PG(st),
                        "SELECT id FROM report_schedules WHERE enabled = 1 AND next_run <= $1 "
                        "ORDER BY next_run LIMIT $2",
                        "ii", now_ms, limit);
}

static int schedule_ran(store *st, int64_t id, int64_t now_ms, int64_t next_run_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE report_schedules SET last_run = $1, next_run = $2 WHERE id = $3",
                          "iii", now_ms, next_run_ms, id));
}

static cJSON *exports_list(store *st, const char *created_by, int64_t limit)
{
    return pg_rows_json(PG(st),
                        "SELECT " EXPORT_COLUMNS " FROM exports WHERE $1 = '' OR "
                        "created_by = $2 ORDER BY started_at DESC, id DESC LIMIT $3",
                        "ssi", created_by, created_by, limit);
}

static cJSON *export_get(store *st, const char *id, const char *created_by)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " EXPORT_COLUMNS " FROM exports WHERE id = $1 AND ($2 = '' OR "
                           "created_by = $3)",
                           "sss", id, created_by, created_by);
    return pq_found(r, found);
}

static int export_start(store *st, const char *id, const char *created_by, const char *peer,
                        const char *format, const char *params, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO exports(id, created_by, peer, format, params, started_at, "
                          "status) VALUES($1, $2, $3, $4, $5, $6, 'running')",
                          "sssssi", id, created_by, peer, format, params, now_ms));
}

static int export_end(store *st, const char *id, const char *status, int64_t bytes, int64_t records,
                      const char *sha256, const char *manifest, int64_t now_ms)
{
    if (strcmp(status, "done") == 0)
        return pq_rc(pg_execf(PG(st), NULL,
                              "UPDATE exports SET status = 'done', finished_at = $1, bytes = $2, "
                              "records = $3, sha256 = $4, manifest = $5 WHERE id = $6",
                              "iiisbs", now_ms, bytes, records, sha256 ? sha256 : "", manifest,
                              id));
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE exports SET status = $1, finished_at = $2, bytes = $3, records = $4 "
                 "WHERE id = $5",
                 "siiis", status, now_ms, bytes, records, id));
}

const store_reports_ops pg_reports_ops = {
    .get = get,
    .list = list,
    .create = create,
    .set_running = set_running,
    .set_done = set_done,
    .set_failed = set_failed,
    .document = document,
    .unfinished = unfinished,
    .schedules_list = schedules_list,
    .schedule_get = schedule_get,
    .schedule_create = schedule_create,
    .schedule_delete = schedule_delete,
    .schedules_due = schedules_due,
    .schedule_ran = schedule_ran,
    .exports_list = exports_list,
    .export_get = export_get,
    .export_start = export_start,
    .export_end = export_end,
};
