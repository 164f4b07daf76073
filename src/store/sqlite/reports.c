/* Reports, report schedules and the record of exports (tables reports, report_schedules,
 * exports). */
#include "store/sqlite/sqlite_int.h"

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
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " REPORT_COLUMNS " FROM reports WHERE id = ? AND "
                           "(? OR kind != 'compliance')",
                           "si", id, (int64_t)with_compliance);
    return sq_found(r, found);
}

static cJSON *list(store *st, const char *kind, int64_t schedule_id, bool with_compliance,
                   int64_t limit, int64_t offset, int64_t *total)
{
    const char *where = "WHERE (? OR kind != 'compliance') AND (? = '' OR kind = ?) AND "
                        "(? = 0 OR schedule_id = ?)";
    char sql[512];
    int64_t all = with_compliance;
    snprintf(sql, sizeof sql,
             "SELECT " REPORT_COLUMNS " FROM reports %s ORDER BY created_at DESC, id DESC "
             "LIMIT ? OFFSET ?",
             where);
    cJSON *rows = db_rows_json(SQ(st), sql, "issiiii", all, kind, kind, schedule_id, schedule_id,
                               limit, offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM reports %s", where);
    *total = db_int(SQ(st), 0, sql, "issii", all, kind, kind, schedule_id, schedule_id);
    return rows;
}

static int create(store *st, const store_report_new *r, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO reports(id, kind, status, params, from_ts, to_ts, "
                         "schedule_id, created_by, created_at) VALUES(?, ?, 'queued', ?, ?, ?, "
                         "NULLIF(?, 0), ?, ?)",
                         "sssiiisi", r->id, r->kind, r->params, r->from_ms, r->to_ms,
                         r->schedule_id, r->created_by ? r->created_by : "system", now_ms));
}

static int set_running(store *st, const char *id)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "UPDATE reports SET status = 'running' WHERE id = ?", "s", id));
}

static int set_done(store *st, const char *id, const char *document, const char *sha256,
                    int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE reports SET status = 'done', finished_at = ?, document = ?, "
                         "sha256 = ? WHERE id = ?",
                         "isss", now_ms, document, sha256, id));
}

static int set_failed(store *st, const char *id, const char *error, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE reports SET status = 'failed', finished_at = ?, error = ? "
                         "WHERE id = ?",
                         "iss", now_ms, error, id));
}

static char *document(store *st, const char *id)
{
    sqlite3_stmt *q;
    char *out = NULL;
    if (sqlite3_prepare_v2(SQ(st), "SELECT document FROM reports WHERE id = ?", -1, &q, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        out = malloc(n + 1);
        if (out) {
            memcpy(out, t, n);
            out[n] = '\0';
        }
    }
    sqlite3_finalize(q);
    return out;
}

static cJSON *unfinished(store *st)
{
    return db_rows_json(SQ(st),
                        "SELECT id, params, COALESCE(created_by, 'system') AS created_by FROM "
                        "reports WHERE status IN ('queued','running') ORDER BY created_at",
                        "");
}

static cJSON *schedules_list(store *st, bool with_compliance)
{
    return db_rows_json(SQ(st),
                        "SELECT " SCHEDULE_COLUMNS " FROM report_schedules WHERE "
                        "? OR kind != 'compliance' ORDER BY id",
                        "i", (int64_t)with_compliance);
}

static cJSON *schedule_get(store *st, int64_t id)
{
    bool found;
    cJSON *r = db_row_json(
        SQ(st), &found, "SELECT " SCHEDULE_COLUMNS " FROM report_schedules WHERE id = ?", "i", id);
    return sq_found(r, found);
}

static int schedule_create(store *st, const char *name, const char *kind, const char *period,
                           const char *params, int64_t next_run_ms, const char *created_by,
                           int64_t now_ms, int64_t *id)
{
    int rc = db_exec(SQ(st), NULL,
                     "INSERT INTO report_schedules(name, kind, period, params, next_run, "
                     "created_by, created_at) VALUES(?, ?, ?, ?, ?, ?, ?)",
                     "ssssisi", name, kind, period, params ? params : "{}", next_run_ms, created_by,
                     now_ms);
    if (id) *id = rc == 0 ? sqlite3_last_insert_rowid(SQ(st)) : 0;
    return sq_rc(rc);
}

static int schedule_delete(store *st, int64_t id, bool with_compliance, bool *deleted)
{
    int changes = 0;
    int rc = db_exec(SQ(st), &changes,
                     "DELETE FROM report_schedules WHERE id = ? AND (? OR kind != 'compliance')",
                     "ii", id, (int64_t)with_compliance);
    *deleted = rc == 0 && changes > 0;
    return sq_rc(rc);
}

static cJSON *schedules_due(store *st, int64_t now_ms, int64_t limit)
{
    return db_rows_json(SQ(st),
                        "SELECT id FROM report_schedules WHERE enabled = 1 AND next_run <= ? "
                        "ORDER BY next_run LIMIT ?",
                        "ii", now_ms, limit);
}

static int schedule_ran(store *st, int64_t id, int64_t now_ms, int64_t next_run_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE report_schedules SET last_run = ?, next_run = ? WHERE id = ?",
                         "iii", now_ms, next_run_ms, id));
}

static cJSON *exports_list(store *st, const char *created_by, int64_t limit)
{
    return db_rows_json(SQ(st),
                        "SELECT " EXPORT_COLUMNS " FROM exports WHERE ? = '' OR "
                        "created_by = ? ORDER BY started_at DESC, id DESC LIMIT ?",
                        "ssi", created_by, created_by, limit);
}

static cJSON *export_get(store *st, const char *id, const char *created_by)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " EXPORT_COLUMNS " FROM exports WHERE id = ? AND (? = '' OR "
                           "created_by = ?)",
                           "sss", id, created_by, created_by);
    return sq_found(r, found);
}

static int export_start(store *st, const char *id, const char *created_by, const char *peer,
                        const char *format, const char *params, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO exports(id, created_by, peer, format, params, started_at, "
                         "status) VALUES(?, ?, ?, ?, ?, ?, 'running')",
                         "sssssi", id, created_by, peer, format, params, now_ms));
}

static int export_end(store *st, const char *id, const char *status, int64_t bytes, int64_t records,
                      const char *sha256, const char *manifest, int64_t now_ms)
{
    if (strcmp(status, "done") == 0)
        return sq_rc(db_exec(SQ(st), NULL,
                             "UPDATE exports SET status = 'done', finished_at = ?, bytes = ?, "
                             "records = ?, sha256 = ?, manifest = ? WHERE id = ?",
                             "iiisbs", now_ms, bytes, records, sha256 ? sha256 : "", manifest, id));
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE exports SET status = ?, finished_at = ?, bytes = ?, records = ? "
                         "WHERE id = ?",
                         "siiis", status, now_ms, bytes, records, id));
}

const store_reports_ops sqlite_reports_ops = {
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
