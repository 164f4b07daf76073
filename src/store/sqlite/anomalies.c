/* Anomalies (table anomalies; its rowid is the storage sequence). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

#define ANOMALY_COLUMNS                                                                            \
    "a.id, a.device_id, d.name AS device_name, a.metric, a.detected_at, a.updated_at, "            \
    "a.severity, a.description, a.details AS details_json, a.resolved AS resolved_bool, "          \
    "a.resolved_at, a.verdict, a.rule_id, a.flapping AS flapping_bool, inc.id AS incident_id, "    \
    "inc.status AS incident_status, inc.title AS incident_title"
/* The incident an anomaly is in: its open one (at most one), else the latest resolved one. */
#define ANOMALY_FROM                                                                               \
    " FROM anomalies a JOIN devices d ON d.id = a.device_id LEFT JOIN incidents inc ON inc.id = "  \
    "(SELECT ia.incident_id FROM incident_anomalies ia JOIN incidents i ON i.id = "                \
    "ia.incident_id WHERE ia.anomaly_id = a.id ORDER BY i.status = 'resolved', i.created_at DESC " \
    "LIMIT 1) "

static cJSON *get(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *a = db_row_json(SQ(st), &found,
                           "SELECT " ANOMALY_COLUMNS ANOMALY_FROM
                           "WHERE a.id = ? AND (? = '' OR d.owner_id = ?)",
                           "sss", id, owner, owner);
    return sq_found(a, found);
}

static cJSON *list(store *st, const store_anomaly_filter *f, int64_t *total)
{
    const char *where =
        "WHERE a.detected_at >= ? AND a.detected_at < ? AND (? = '' OR a.device_id = ?)"
        " AND (? = '' OR a.severity = ?) AND (? < 0 OR a.resolved = ?) AND "
        "(? = '' OR a.metric = ?) AND (? = '' OR d.owner_id = ?)";
    char sql[2048];
    int64_t res = f->resolved;
    snprintf(sql, sizeof sql,
             "SELECT " ANOMALY_COLUMNS ANOMALY_FROM
             "%s ORDER BY a.detected_at DESC LIMIT ? OFFSET ?",
             where);
    cJSON *rows = db_rows_json(SQ(st), sql, "iissssiissssii", f->from_ms, f->to_ms, f->device_id,
                               f->device_id, f->severity, f->severity, res, res, f->metric,
                               f->metric, f->owner, f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM anomalies a JOIN devices d ON d.id = a.device_id %s", where);
    *total =
        db_int(SQ(st), 0, sql, "iissssiissss", f->from_ms, f->to_ms, f->device_id, f->device_id,
               f->severity, f->severity, res, res, f->metric, f->metric, f->owner, f->owner);
    return rows;
}

static cJSON *context(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT a.device_id, COALESCE(a.metric, '') AS metric, a.severity, "
                           "a.detected_at, d.type, COALESCE(d.owner_id, '') AS owner_id "
                           "FROM anomalies a JOIN devices d ON d.id = a.device_id WHERE a.id = ?",
                           "s", id);
    return sq_found(r, found);
}

static int64_t recent_count(store *st, const char *device_id, const char *metric, int64_t since_ms,
                            const char *except_id, bool flapping_only)
{
    return db_int(SQ(st), 0,
                  flapping_only ? "SELECT COUNT(*) FROM anomalies WHERE device_id = ? AND "
                                  "COALESCE(metric, '') = ? AND detected_at > ? AND id != ? AND "
                                  "flapping = 1"
                                : "SELECT COUNT(*) FROM anomalies WHERE device_id = ? AND "
                                  "COALESCE(metric, '') = ? AND detected_at > ? AND id != ?",
                  "ssis", device_id, metric, since_ms, except_id);
}

static int set_flapping(store *st, const char *id)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE anomalies SET flapping = 1 WHERE id = ?", "s", id));
}

static cJSON *brief(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT a.id, a.device_id, d.name AS device_name, a.severity, "
                           "a.description FROM anomalies a JOIN devices d ON d.id = a.device_id "
                           "WHERE a.id = ?",
                           "s", id);
    return sq_found(r, found);
}

static cJSON *event_row(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT id, device_id, metric, detected_at, updated_at, severity, "
                           "description, details AS details_json, resolved AS resolved_bool, "
                           "resolved_at, verdict, rule_id FROM anomalies WHERE id = ?",
                           "s", id);
    return sq_found(r, found);
}

static int open_anomaly(store *st, const store_anomaly *a, bool *inserted)
{
    int changes = 0;
    int rc = db_exec(SQ(st), &changes,
                     "INSERT INTO anomalies(id, device_id, metric, detected_at, updated_at,"
                     " severity, description, details, rule_id) "
                     "SELECT ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0) "
                     "WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?) "
                     "ON CONFLICT(id) DO NOTHING",
                     "sssiisssis", a->id, a->device_id, a->metric, a->ts_ms, a->ts_ms, a->severity,
                     a->description, a->details ? a->details : "{}", a->rule_id, a->device_id);
    *inserted = rc == 0 && changes > 0;
    return sq_rc(rc);
}

static int update(store *st, const char *id, int64_t ts_ms, const char *details,
                  const char *severity)
{
    return sq_rc(
        db_exec(SQ(st), NULL,
                "UPDATE anomalies SET updated_at = ?, details = ?, "
                "severity = CASE WHEN ? = 'critical' OR severity = 'critical' THEN 'critical'"
                " WHEN ? = 'warning' OR severity = 'warning' THEN 'warning' ELSE 'info' END "
                "WHERE id = ?",
                "issss", ts_ms, details ? details : "{}", severity, severity, id));
}

static int close_anomaly(store *st, const char *id, int64_t ts_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE anomalies SET updated_at = ?, details = json_set(details, "
                         "'$.ended', 1, '$.ended_at', ?) WHERE id = ?",
                         "iis", ts_ms, ts_ms, id));
}

static int resolve(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, "
                         "?), verdict = COALESCE(?, verdict) WHERE id = ?",
                         "ibs", now_ms, verdict, id));
}

static int64_t seq_of(store *st, const char *id)
{
    return db_int(SQ(st), 0, "SELECT rowid FROM anomalies WHERE id = ?", "s", id);
}

static int64_t max_seq(store *st)
{
    return db_int(SQ(st), 0, "SELECT COALESCE(MAX(rowid), 0) FROM anomalies", "");
}

static cJSON *ids_after(store *st, int64_t seq, int64_t limit)
{
    return db_rows_json(SQ(st), "SELECT id FROM anomalies WHERE rowid > ? ORDER BY rowid LIMIT ?",
                        "ii", seq, limit);
}

const store_anomalies_ops sqlite_anomalies_ops = {
    .get = get,
    .list = list,
    .context = context,
    .recent_count = recent_count,
    .set_flapping = set_flapping,
    .brief = brief,
    .event_row = event_row,
    .open = open_anomaly,
    .update = update,
    .close = close_anomaly,
    .resolve = resolve,
    .seq_of = seq_of,
    .max_seq = max_seq,
    .ids_after = ids_after,
};
