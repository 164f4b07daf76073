/* Incidents (tables incidents, incident_anomalies, incident_events). */
#include "store/pg/pg_int.h"

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
/* a DeviceOwner sees incidents that involve one of their devices (a, b: two parameters, both
 * the owner id or '') */
#define INCIDENT_VISIBLE(a, b)                                                                     \
    "(" a " = '' OR EXISTS (SELECT 1 FROM incident_anomalies ia JOIN anomalies an ON an.id = "     \
    "ia.anomaly_id JOIN devices dv ON dv.id = an.device_id WHERE ia.incident_id = i.id AND "       \
    "dv.owner_id = " b "))"
#define SEV_RANK(col)                                                                              \
    "(CASE " col " WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END)"

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " INCIDENT_COLUMNS INCIDENT_FROM "WHERE i.id = $1", "s", id);
    return pq_found(r, found);
}

static cJSON *full(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " INCIDENT_COLUMNS INCIDENT_FROM
                           "WHERE i.id = $1 AND " INCIDENT_VISIBLE("$2", "$3"),
                           "sss", id, owner, owner);
    if (!found) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON *an = pg_rows_json(
        PG(st),
        "SELECT a.id, a.device_id, d.name AS device_name, a.metric, a.severity, a.description, "
        "a.detected_at, a.resolved AS resolved_bool, a.verdict, ia.added_at FROM "
        "incident_anomalies "
        "ia JOIN anomalies a ON a.id = ia.anomaly_id JOIN devices d ON d.id = a.device_id WHERE "
        "ia.incident_id = $1 AND ($2 = '' OR d.owner_id = $3) ORDER BY ia.added_at",
        "sss", id, owner, owner);
    cJSON_AddItemToObject(r, "anomalies", an ? an : cJSON_CreateArray());
    cJSON *tl = pg_rows_json(PG(st),
                             "SELECT e.id, e.ts, e.actor, u.name AS actor_name, e.kind, "
                             "e.detail AS detail_json FROM incident_events e LEFT JOIN users u ON "
                             "u.id = e.actor WHERE e.incident_id = $1 ORDER BY e.id",
                             "s", id);
    cJSON_AddItemToObject(r, "timeline", tl ? tl : cJSON_CreateArray());
    return r;
}

static cJSON *list(store *st, const store_incident_filter *f, int64_t *total)
{
    const char *where = INCIDENT_FROM
        "WHERE i.created_at >= $1 AND i.created_at < $2 AND ($3 = '' OR i.status = $4 OR "
        "($5 = 'open' AND i.status != 'resolved')) AND ($6 = '' OR i.severity = $7) AND "
        "($8 = '' OR ($9 = 'none' AND i.assigned_to IS NULL) OR i.assigned_to = $10) AND "
        "($11 = '' OR EXISTS (SELECT 1 FROM incident_anomalies ia2 JOIN anomalies a2 ON "
        "a2.id = ia2.anomaly_id WHERE ia2.incident_id = i.id AND a2.device_id = $12)) "
        "AND " INCIDENT_VISIBLE("$13", "$14");
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " INCIDENT_COLUMNS " %s ORDER BY i.created_at DESC LIMIT $15 OFFSET $16",
             where);
    cJSON *rows = pg_rows_json(PG(st), sql, "iissssssssssssii", f->from_ms, f->to_ms, f->status,
                               f->status, f->status, f->severity, f->severity, f->assigned_to,
                               f->assigned_to, f->assigned_to, f->device_id, f->device_id, f->owner,
                               f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    *total = pg_intf(PG(st), 0, sql, "iissssssssssss", f->from_ms, f->to_ms, f->status, f->status,
                     f->status, f->severity, f->severity, f->assigned_to, f->assigned_to,
                     f->assigned_to, f->device_id, f->device_id, f->owner, f->owner);
    return rows;
}

static int status_of(store *st, const char *id, char *status, size_t cap)
{
    return pq_text_rc(
        pg_textf(PG(st), status, cap, "SELECT status FROM incidents WHERE id = $1", "s", id));
}

static int64_t count_by_status(store *st, const char *status)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM incidents WHERE status = $1", "s", status);
}

static int create(store *st, const store_incident_new *n, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO incidents(id, anomaly_id, assigned_to, status, created_at, "
                          "title, severity, device_id, origin, created_by, updated_at) "
                          "VALUES($1, $2, $3, 'new', $4, $5, $6, $7, $8, $9, $10)",
                          "ssbissssbi", n->id, n->anomaly_id, n->assigned_to, now_ms, n->title,
                          n->severity, n->device_id, n->origin, n->created_by, now_ms));
}

static int open_auto_for(store *st, const char *device_id, char *id, size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), id, cap,
                               "SELECT id FROM incidents WHERE device_id = $1 AND origin = 'auto' "
                               "AND status != 'resolved' ORDER BY created_at DESC LIMIT 1",
                               "s", device_id));
}

static int link(store *st, const char *incident_id, const char *anomaly_id, int64_t now_ms,
                bool *linked)
{
    int64_t changed = 0;
    *linked = false;
    if (pg_execf(PG(st), &changed,
                 "INSERT INTO incident_anomalies(incident_id, anomaly_id, added_at) "
                 "VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                 "ssi", incident_id, anomaly_id, now_ms) != 0)
        return STORE_ERR;
    if (changed != 1) return STORE_OK;
    *linked = true;
    return pq_rc(pg_execf(
        PG(st), NULL,
        "UPDATE incidents SET severity = (SELECT a.severity FROM anomalies a WHERE a.id = $1 "
        "AND " SEV_RANK("a.severity") " > " SEV_RANK(
            "incidents.severity") ") WHERE id = $2 AND "
                                  "EXISTS (SELECT 1 FROM anomalies a WHERE a.id = $1 AND " SEV_RANK(
                                      "a.severity") " > " SEV_RANK("incidents.severity") ")",
        "ss", anomaly_id, incident_id));
}

static bool anomaly_linked(store *st, const char *anomaly_id)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM incident_anomalies WHERE anomaly_id = $1", "s",
                   anomaly_id) > 0;
}

static int open_incident_of(store *st, const char *anomaly_id, const char *except, char *id,
                            size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), id, cap,
                               "SELECT ia.incident_id FROM incident_anomalies ia JOIN incidents i "
                               "ON i.id = ia.incident_id WHERE ia.anomaly_id = $1 AND i.status != "
                               "'resolved' AND i.id != $2 ORDER BY i.created_at LIMIT 1",
                               "ss", anomaly_id, except ? except : ""));
}

static cJSON *anomaly_ids(store *st, const char *id, int64_t limit)
{
    return pg_rows_json(PG(st),
                        "SELECT anomaly_id FROM incident_anomalies WHERE incident_id = $1 "
                        "ORDER BY added_at, seq LIMIT $2",
                        "si", id, limit);
}

static cJSON *settled_by(store *st, const char *anomaly_id)
{
    return pg_rows_json(
        PG(st),
        "SELECT i.id, i.status, (SELECT CASE WHEN COUNT(*) FILTER (WHERE b.verdict = "
        "'false_positive') = COUNT(*) THEN 'false_positive' WHEN COUNT(*) FILTER (WHERE b.verdict "
        "= 'confirmed') > 0 THEN 'confirmed' END FROM incident_anomalies ib JOIN anomalies b ON "
        "b.id = ib.anomaly_id WHERE ib.incident_id = i.id) AS verdict FROM incident_anomalies ia "
        "JOIN incidents i ON i.id = ia.incident_id WHERE ia.anomaly_id = $1 AND i.status != "
        "'resolved' AND NOT EXISTS (SELECT 1 FROM incident_anomalies ib JOIN anomalies b ON b.id "
        "= ib.anomaly_id WHERE ib.incident_id = i.id AND b.resolved = 0)",
        "s", anomaly_id);
}

static int event_add(store *st, const char *incident_id, const char *actor, const char *kind,
                     const char *detail_json, int64_t now_ms, int64_t *event_id)
{
    int64_t id =
        pg_intf(PG(st), -1,
                "INSERT INTO incident_events(incident_id, ts, actor, kind, detail) "
                "VALUES($1, $2, $3, $4, $5) RETURNING id",
                "sisss", incident_id, now_ms, actor, kind, detail_json ? detail_json : "{}");
    if (event_id) *event_id = id > 0 ? id : 0;
    if (id < 0) return pg_constraint_error(PG(st)) ? STORE_ECONSTRAINT : STORE_ERR;
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE incidents SET updated_at = $1 WHERE id = $2", "is",
                          now_ms, incident_id));
}

static cJSON *event_get(store *st, int64_t event_id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT id, ts, actor, kind, detail AS detail_json FROM "
                           "incident_events WHERE id = $1",
                           "i", event_id);
    return pq_found(r, found);
}

static int assignee_of(store *st, const char *id, char *user_id, size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), user_id, cap,
                               "SELECT COALESCE(assigned_to, '') FROM incidents WHERE id = $1", "s",
                               id));
}

static int set_assignee(store *st, const char *id, const char *user_id)
{
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE incidents SET assigned_to = $1 WHERE id = $2", "bs",
                          user_id, id));
}

static int set_title(store *st, const char *id, const char *title)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "UPDATE incidents SET title = $1 WHERE id = $2", "ss", title, id));
}

static int set_investigating(store *st, const char *id, int64_t now_ms, bool reopen)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE incidents SET status = 'investigating', acknowledged_at = "
                          "COALESCE(acknowledged_at, $1), resolved_at = NULL, verdict = CASE WHEN "
                          "$2::bigint <> 0 THEN NULL ELSE verdict END WHERE id = $3",
                          "iis", now_ms, (int64_t)reopen, id));
}

static int set_resolved(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE incidents SET status = 'resolved', resolved_at = $1, verdict = $2, "
                 "acknowledged_at = COALESCE(acknowledged_at, $3) WHERE id = $4",
                 "ibis", now_ms, verdict, now_ms, id));
}

static cJSON *unresolved_anomalies(store *st, const char *id)
{
    return pg_rows_json(PG(st),
                        "SELECT a.id, a.device_id, a.metric FROM incident_anomalies ia "
                        "JOIN anomalies a ON a.id = ia.anomaly_id WHERE ia.incident_id = $1 "
                        "AND a.resolved = 0",
                        "s", id);
}

static int resolve_anomalies(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, "
                 "$1), verdict = COALESCE($2, verdict) WHERE id IN (SELECT anomaly_id FROM "
                 "incident_anomalies WHERE incident_id = $3)",
                 "ibs", now_ms, verdict, id));
}

const store_incidents_ops pg_incidents_ops = {
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
