/* Incidents (tables incidents, incident_anomalies, incident_events). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

#define INCIDENT_COLUMNS                                                                           \
    "i.id, i.title, i.status, i.severity, i.device_id, d.name AS device_name, i.anomaly_id, "      \
    "i.assigned_to, u.name AS assignee_name, i.origin, i.created_by, i.created_at, i.updated_at, " \
    "i.acknowledged_at, i.resolved_at, i.verdict, "                                                \
    "(i.acknowledged_at - i.created_at) AS time_to_acknowledge_ms, "                               \
    "(i.resolved_at - i.created_at) AS time_to_resolve_ms, "                                       \
    "(SELECT COUNT(*) FROM incident_anomalies ia WHERE ia.incident_id = i.id) AS anomaly_count"
#define INCIDENT_FROM                                                                              \
    " FROM incidents i LEFT JOIN devices d ON d.id = i.device_id LEFT JOIN users u ON "            \
    "u.id = i.assigned_to "
/* a DeviceOwner sees incidents that involve one of their devices (?: owner id or '') */
#define INCIDENT_VISIBLE                                                                           \
    "(? = '' OR EXISTS (SELECT 1 FROM incident_anomalies ia JOIN anomalies an ON an.id = "         \
    "ia.anomaly_id JOIN devices dv ON dv.id = an.device_id WHERE ia.incident_id = i.id AND "       \
    "dv.owner_id = ?))"
#define SEV_RANK(col)                                                                              \
    "(CASE " col " WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END)"

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " INCIDENT_COLUMNS INCIDENT_FROM "WHERE i.id = ?", "s", id);
    return sq_found(r, found);
}

static cJSON *full(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *r =
        db_row_json(SQ(st), &found,
                    "SELECT " INCIDENT_COLUMNS INCIDENT_FROM "WHERE i.id = ? AND " INCIDENT_VISIBLE,
                    "sss", id, owner, owner);
    if (!found) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON *an = db_rows_json(
        SQ(st),
        "SELECT a.id, a.device_id, d.name AS device_name, a.metric, a.severity, a.description, "
        "a.detected_at, a.resolved AS resolved_bool, a.verdict, ia.added_at FROM "
        "incident_anomalies "
        "ia JOIN anomalies a ON a.id = ia.anomaly_id JOIN devices d ON d.id = a.device_id WHERE "
        "ia.incident_id = ? AND (? = '' OR d.owner_id = ?) ORDER BY ia.added_at",
        "sss", id, owner, owner);
    cJSON_AddItemToObject(r, "anomalies", an ? an : cJSON_CreateArray());
    cJSON *tl = db_rows_json(SQ(st),
                             "SELECT e.id, e.ts, e.actor, u.name AS actor_name, e.kind, "
                             "e.detail AS detail_json FROM incident_events e LEFT JOIN users u ON "
                             "u.id = e.actor WHERE e.incident_id = ? ORDER BY e.id",
                             "s", id);
    cJSON_AddItemToObject(r, "timeline", tl ? tl : cJSON_CreateArray());
    return r;
}

static cJSON *list(store *st, const store_incident_filter *f, int64_t *total)
{
    const char *where = INCIDENT_FROM
        "WHERE i.created_at >= ? AND i.created_at < ? AND (? = '' OR i.status = ? OR (? = 'open' "
        "AND i.status != 'resolved')) AND (? = '' OR i.severity = ?) AND (? = '' OR (? = 'none' "
        "AND i.assigned_to IS NULL) OR i.assigned_to = ?) AND (? = '' OR EXISTS (SELECT 1 FROM "
        "incident_anomalies ia2 JOIN anomalies a2 ON a2.id = ia2.anomaly_id WHERE "
        "ia2.incident_id = i.id AND a2.device_id = ?)) AND " INCIDENT_VISIBLE;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " INCIDENT_COLUMNS " %s ORDER BY i.created_at DESC LIMIT ? OFFSET ?", where);
    cJSON *rows = db_rows_json(SQ(st), sql, "iissssssssssssii", f->from_ms, f->to_ms, f->status,
                               f->status, f->status, f->severity, f->severity, f->assigned_to,
                               f->assigned_to, f->assigned_to, f->device_id, f->device_id, f->owner,
                               f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    *total = db_int(SQ(st), 0, sql, "iissssssssssss", f->from_ms, f->to_ms, f->status, f->status,
                    f->status, f->severity, f->severity, f->assigned_to, f->assigned_to,
                    f->assigned_to, f->device_id, f->device_id, f->owner, f->owner);
    return rows;
}

static int status_of(store *st, const char *id, char *status, size_t cap)
{
    return sq_text_rc(
        db_text(SQ(st), status, cap, "SELECT status FROM incidents WHERE id = ?", "s", id));
}

static int64_t count_by_status(store *st, const char *status)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM incidents WHERE status = ?", "s", status);
}

static int create(store *st, const store_incident_new *n, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO incidents(id, anomaly_id, assigned_to, status, created_at, "
                         "title, severity, device_id, origin, created_by, updated_at) "
                         "VALUES(?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?)",
                         "ssbissssbi", n->id, n->anomaly_id, n->assigned_to, now_ms, n->title,
                         n->severity, n->device_id, n->origin, n->created_by, now_ms));
}

static int open_auto_for(store *st, const char *device_id, char *id, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), id, cap,
                              "SELECT id FROM incidents WHERE device_id = ? AND origin = 'auto' "
                              "AND status != 'resolved' ORDER BY created_at DESC LIMIT 1",
                              "s", device_id));
}

static int link(store *st, const char *incident_id, const char *anomaly_id, int64_t now_ms,
                bool *linked)
{
    int changed = 0;
    *linked = false;
    if (db_exec(SQ(st), &changed,
                "INSERT OR IGNORE INTO incident_anomalies(incident_id, anomaly_id, added_at) "
                "VALUES(?, ?, ?)",
                "ssi", incident_id, anomaly_id, now_ms) != 0)
        return STORE_ERR;
    if (changed != 1) return STORE_OK;
    *linked = true;
    return sq_rc(db_exec(
        SQ(st), NULL,
        "UPDATE incidents SET severity = (SELECT a.severity FROM anomalies a WHERE a.id = ?1 "
        "AND " SEV_RANK("a.severity") " > " SEV_RANK(
            "incidents.severity") ") WHERE id = ?2 AND "
                                  "EXISTS (SELECT 1 FROM anomalies a WHERE a.id = ?1 AND " SEV_RANK(
                                      "a.severity") " > " SEV_RANK("incidents.severity") ")",
        "ss", anomaly_id, incident_id));
}

static bool anomaly_linked(store *st, const char *anomaly_id)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM incident_anomalies WHERE anomaly_id = ?", "s",
                  anomaly_id) > 0;
}

static int open_incident_of(store *st, const char *anomaly_id, const char *except, char *id,
                            size_t cap)
{
    return sq_text_rc(db_text(SQ(st), id, cap,
                              "SELECT ia.incident_id FROM incident_anomalies ia JOIN incidents i "
                              "ON i.id = ia.incident_id WHERE ia.anomaly_id = ? AND i.status != "
                              "'resolved' AND i.id != ? ORDER BY i.created_at LIMIT 1",
                              "ss", anomaly_id, except ? except : ""));
}

static cJSON *anomaly_ids(store *st, const char *id, int64_t limit)
{
    return db_rows_json(SQ(st),
                        "SELECT anomaly_id FROM incident_anomalies WHERE incident_id = ? "
                        "ORDER BY added_at, rowid LIMIT ?",
                        "si", id, limit);
}

static cJSON *settled_by(store *st, const char *anomaly_id)
{
    return db_rows_json(
        SQ(st),
        "SELECT i.id, i.status, (SELECT CASE WHEN SUM(b.verdict = 'false_positive') = COUNT(*) "
        "THEN 'false_positive' WHEN SUM(b.verdict = 'confirmed') > 0 THEN 'confirmed' END FROM "
        "incident_anomalies ib JOIN anomalies b ON b.id = ib.anomaly_id WHERE ib.incident_id = "
        "i.id) AS verdict FROM incident_anomalies ia JOIN incidents i ON i.id = ia.incident_id "
        "WHERE ia.anomaly_id = ? AND i.status != 'resolved' AND NOT EXISTS (SELECT 1 FROM "
        "incident_anomalies ib JOIN anomalies b ON b.id = ib.anomaly_id WHERE ib.incident_id = "
        "i.id AND b.resolved = 0)",
        "s", anomaly_id);
}

static int event_add(store *st, const char *incident_id, const char *actor, const char *kind,
                     const char *detail_json, int64_t now_ms, int64_t *event_id)
{
    int rc = db_exec(
        SQ(st), NULL,
        "INSERT INTO incident_events(incident_id, ts, actor, kind, detail) VALUES(?, ?, ?, ?, ?)",
        "sisss", incident_id, now_ms, actor, kind, detail_json ? detail_json : "{}");
    if (event_id) *event_id = rc == 0 ? sqlite3_last_insert_rowid(SQ(st)) : 0;
    if (rc != 0) return sq_rc(rc);
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE incidents SET updated_at = ? WHERE id = ?", "is",
                         now_ms, incident_id));
}

static cJSON *event_get(store *st, int64_t event_id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT id, ts, actor, kind, detail AS detail_json FROM "
                           "incident_events WHERE id = ?",
                           "i", event_id);
    return sq_found(r, found);
}

static int assignee_of(store *st, const char *id, char *user_id, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), user_id, cap,
                              "SELECT COALESCE(assigned_to, '') FROM incidents WHERE id = ?", "s",
                              id));
}

static int set_assignee(store *st, const char *id, const char *user_id)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE incidents SET assigned_to = ? WHERE id = ?", "bs",
                         user_id, id));
}

static int set_title(store *st, const char *id, const char *title)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "UPDATE incidents SET title = ? WHERE id = ?", "ss", title, id));
}

static int set_investigating(store *st, const char *id, int64_t now_ms, bool reopen)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE incidents SET status = 'investigating', acknowledged_at = "
                         "COALESCE(acknowledged_at, ?), resolved_at = NULL, verdict = CASE WHEN "
                         "? THEN NULL ELSE verdict END WHERE id = ?",
                         "iis", now_ms, (int64_t)reopen, id));
}

static int set_resolved(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE incidents SET status = 'resolved', resolved_at = ?, verdict = ?, "
                         "acknowledged_at = COALESCE(acknowledged_at, ?) WHERE id = ?",
                         "ibis", now_ms, verdict, now_ms, id));
}

static cJSON *unresolved_anomalies(store *st, const char *id)
{
    return db_rows_json(SQ(st),
                        "SELECT a.id, a.device_id, a.metric FROM incident_anomalies ia "
                        "JOIN anomalies a ON a.id = ia.anomaly_id WHERE ia.incident_id = ? "
                        "AND a.resolved = 0",
                        "s", id);
}

static int resolve_anomalies(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, "
                         "?), verdict = COALESCE(?, verdict) WHERE id IN (SELECT anomaly_id FROM "
                         "incident_anomalies WHERE incident_id = ?)",
                         "ibs", now_ms, verdict, id));
}

const store_incidents_ops sqlite_incidents_ops = {
    .get = get,
    .full = full,
    .list = list,
    .status_of = status_of,
    .count_by_status = count_by_status,
    .create = create,
    .open_auto_for = open_auto_for,
    .link = link,
    .anomaly_linked = anomaly_linked,
    .open_incident_of = open_incident_of,
    .anomaly_ids = anomaly_ids,
    .settled_by = settled_by,
    .event_add = event_add,
    .event_get = event_get,
    .assignee_of = assignee_of,
    .set_assignee = set_assignee,
    .set_title = set_title,
    .set_investigating = set_investigating,
    .set_resolved = set_resolved,
    .unresolved_anomalies = unresolved_anomalies,
    .resolve_anomalies = resolve_anomalies,
};
