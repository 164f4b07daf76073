/* Incidents: the analysts' unit of work. Opened automatically for anomalies at or above the
 * alerts.auto_incident severity (an open automatic incident of the same device absorbs
 * further anomalies) or by hand from one or more anomalies. Status new -> investigating ->
 * resolved, and reopen (resolved -> investigating); anything else is 409. Only Analysts and
 * Admins may be assigned. Every change, comment and linked anomaly is a timeline entry
 * (incident_events), an audit log entry and a live "incident" event on the stream. Resolving
 * with a verdict resolves the linked anomalies and feeds the verdict to the detectors. */
#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "core/log.h"
#include "pipeline/shards.h"
#include "ingest/devstate.h"
#include "store/audit.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void incident_event(sqlite3 *db, const char *incident_id, const char *actor, const char *kind,
                    const char *detail_json)
{
    int64_t now = util_now_ms();
    db_exec(
        db, NULL,
        "INSERT INTO incident_events(incident_id, ts, actor, kind, detail) VALUES(?, ?, ?, ?, ?)",
        "sisss", incident_id, now, actor, kind, detail_json ? detail_json : "{}");
    db_exec(db, NULL, "UPDATE incidents SET updated_at = ? WHERE id = ?", "is", now, incident_id);
}

static cJSON *incident_row(sqlite3 *db, const char *id)
{
    bool found;
    cJSON *r =
        db_row_json(db, &found, "SELECT " INCIDENT_COLUMNS INCIDENT_FROM "WHERE i.id = ?", "s", id);
    if (!found) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

void incident_broadcast(server *s, const char *incident_id)
{
    if (!ev_wanted(&s->events, EV_INCIDENT)) return;
    cJSON *row = incident_row(s->db, incident_id);
    if (!row) return;
    char device_id[UUID_STR_LEN + 1] = "";
    const char *dev = api_json_str(row, "device_id");
    if (dev) snprintf(device_id, sizeof device_id, "%s", dev);
    dev_live *d = device_id[0] ? devstate_get(s->devices, device_id) : NULL;
    ev_event e = {.type = EV_INCIDENT, .device_id = device_id, .owner_id = d ? d->owner_id : ""};
    e.u.record = row;
    ev_emit(&s->events, &e);
    cJSON_Delete(row);
}

static char *json_detail(const char *k1, const char *v1, const char *k2, const char *v2)
{
    cJSON *o = cJSON_CreateObject();
    if (k1) v1 ? cJSON_AddStringToObject(o, k1, v1) : cJSON_AddNullToObject(o, k1);
    if (k2) v2 ? cJSON_AddStringToObject(o, k2, v2) : cJSON_AddNullToObject(o, k2);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

/* Links an anomaly (raising the incident's severity); false if it was linked already. */
static bool link_anomaly(sqlite3 *db, const char *incident_id, const char *anomaly_id,
                         const char *actor)
{
    int changed = 0;
    db_exec(db, &changed,
            "INSERT OR IGNORE INTO incident_anomalies(incident_id, anomaly_id, added_at) "
            "VALUES(?, ?, ?)",
            "ssi", incident_id, anomaly_id, util_now_ms());
    if (changed != 1) return false;
    db_exec(
        db, NULL,
        "UPDATE incidents SET severity = (SELECT a.severity FROM anomalies a WHERE a.id = ?1 "
        "AND " SEV_RANK("a.severity") " > " SEV_RANK(
            "incidents.severity") ") WHERE id = ?2 AND "
                                  "EXISTS (SELECT 1 FROM anomalies a WHERE a.id = ?1 AND " SEV_RANK(
                                      "a.severity") " > " SEV_RANK("incidents.severity") ")",
        "ss", anomaly_id, incident_id);
    char *d = json_detail("anomaly_id", anomaly_id, NULL, NULL);
    incident_event(db, incident_id, actor, "anomaly_linked", d);
    free(d);
    return true;
}

void incident_auto(server *s, const char *anomaly_id)
{
    sqlite3 *db = s->db;
    if (db_int(db, 0, "SELECT COUNT(*) FROM incident_anomalies WHERE anomaly_id = ?", "s",
               anomaly_id) > 0)
        return;
    bool found;
    cJSON *an = db_row_json(db, &found,
                            "SELECT a.device_id, a.severity, a.description, d.name AS device_name "
                            "FROM anomalies a JOIN devices d ON d.id = a.device_id WHERE a.id = ?",
                            "s", anomaly_id);
    if (!found) {
        cJSON_Delete(an);
        return;
    }
    const char *device_id = api_json_str(an, "device_id");
    char id[UUID_STR_LEN + 1];
    bool created = false;
    bool tx = db_begin(db) == 0;
    if (db_text(db, id, sizeof id,
                "SELECT id FROM incidents WHERE device_id = ? AND origin = 'auto' AND status != "
                "'resolved' ORDER BY created_at DESC LIMIT 1",
                "s", device_id) != 0) {
        util_uuid7(id);
        char title[400];
        snprintf(title, sizeof title, "%s: %s", api_json_str(an, "device_name"),
                 api_json_str(an, "description"));
        int64_t now = util_now_ms();
        db_exec(db, NULL,
                "INSERT INTO incidents(id, anomaly_id, status, created_at, title, severity, "
                "device_id, origin, updated_at) VALUES(?, ?, 'new', ?, ?, ?, ?, 'auto', ?)",
                "ssisssi", id, anomaly_id, now, title, api_json_str(an, "severity"), device_id,
                now);
        char *d = json_detail("status", "new", "origin", "auto");
        incident_event(db, id, "system", "created", d);
        free(d);
        created = true;
    }
    link_anomaly(db, id, anomaly_id, "system");
    audit_append(db, "system", created ? "incident.create" : "incident.link", id, anomaly_id, NULL);
    if (tx && db_commit(db) != 0) db_rollback(db);
    cJSON_Delete(an);
    log_info(created ? "incident_opened" : "incident_linked", "id=%s anomaly=%s", id, anomaly_id);
    incident_broadcast(s, id);
}

/* ---- API ------------------------------------------------------------------------------ */

void incident_api_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 50, 1, 500, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    int64_t from, to;
    api_query_time(ctx, "from", 0, &from, &bad);
    api_query_time(ctx, "to", INT64_MAX, &to, &bad);
    char status[24] = "", sev[16] = "", dev[64] = "", assignee[64] = "";
    api_query(ctx, "status", status, sizeof status);
    api_query(ctx, "severity", sev, sizeof sev);
    api_query(ctx, "device_id", dev, sizeof dev);
    api_query(ctx, "assigned_to", assignee, sizeof assignee);
    if (bad ||
        (status[0] && strcmp(status, "new") && strcmp(status, "investigating") &&
         strcmp(status, "resolved") && strcmp(status, "open")) ||
        (sev[0] && !alert_severity_rank(sev))) {
        api_error(ctx, 400, "bad_request",
                  "status new|investigating|resolved|open, severity critical|warning|info, "
                  "limit 1..500, from/to times");
        return;
    }
    if (strcmp(assignee, "me") == 0) snprintf(assignee, sizeof assignee, "%s", ctx->user_id);
    const char *owner = api_owner_scope(ctx);
    const char *where = INCIDENT_FROM
        "WHERE i.created_at >= ? AND i.created_at < ? AND (? = '' OR i.status = ? OR (? = 'open' "
        "AND i.status != 'resolved')) AND (? = '' OR i.severity = ?) AND (? = '' OR (? = 'none' "
        "AND i.assigned_to IS NULL) OR i.assigned_to = ?) AND (? = '' OR EXISTS (SELECT 1 FROM "
        "incident_anomalies ia2 JOIN anomalies a2 ON a2.id = ia2.anomaly_id WHERE "
        "ia2.incident_id = i.id AND a2.device_id = ?)) AND " INCIDENT_VISIBLE;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " INCIDENT_COLUMNS " %s ORDER BY i.created_at DESC LIMIT ? OFFSET ?", where);
    cJSON *rows =
        db_rows_json(ctx->s->db, sql, "iissssssssssssii", from, to, status, status, status, sev,
                     sev, assignee, assignee, assignee, dev, dev, owner, owner, limit, offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    int64_t total = db_int(ctx->s->db, 0, sql, "iissssssssssss", from, to, status, status, status,
                           sev, sev, assignee, assignee, assignee, dev, dev, owner, owner);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

/* The incident with its anomalies and timeline, if the principal may see it. */
static cJSON *incident_full(api_ctx *ctx, const char *id)
{
    const char *owner = api_owner_scope(ctx);
    bool found;
    cJSON *r =
        db_row_json(ctx->s->db, &found,
                    "SELECT " INCIDENT_COLUMNS INCIDENT_FROM "WHERE i.id = ? AND " INCIDENT_VISIBLE,
                    "sss", id, owner, owner);
    if (!found) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON *an = db_rows_json(
        ctx->s->db,
        "SELECT a.id, a.device_id, d.name AS device_name, a.metric, a.severity, a.description, "
        "a.detected_at, a.resolved AS resolved_bool, a.verdict, ia.added_at FROM "
        "incident_anomalies "
        "ia JOIN anomalies a ON a.id = ia.anomaly_id JOIN devices d ON d.id = a.device_id WHERE "
        "ia.incident_id = ? AND (? = '' OR d.owner_id = ?) ORDER BY ia.added_at",
        "sss", id, owner, owner);
    cJSON_AddItemToObject(r, "anomalies", an ? an : cJSON_CreateArray());
    cJSON *tl = db_rows_json(ctx->s->db,
                             "SELECT e.id, e.ts, e.actor, u.name AS actor_name, e.kind, "
                             "e.detail AS detail_json FROM incident_events e LEFT JOIN users u ON "
                             "u.id = e.actor WHERE e.incident_id = ? ORDER BY e.id",
                             "s", id);
    cJSON_AddItemToObject(r, "timeline", tl ? tl : cJSON_CreateArray());
    return r;
}

void incident_api_get(api_ctx *ctx)
{
    cJSON *r = incident_full(ctx, ctx->params[0]);
    if (!r) {
        api_error(ctx, 404, "not_found", "no incident %s", ctx->params[0]);
        return;
    }
    api_json(ctx, 200, r);
}

/* Assignee check: an enabled Analyst or Admin. Sends the error and returns false otherwise. */
static bool assignee_ok(api_ctx *ctx, const char *user_id)
{
    char role[32];
    if (db_text(ctx->s->db, role, sizeof role,
                "SELECT role FROM users WHERE id = ? AND disabled = 0", "s", user_id) != 0) {
        api_error(ctx, 422, "invalid_assignee", "no active user %s", user_id);
        return false;
    }
    if (strcmp(role, "analyst") != 0 && strcmp(role, "admin") != 0) {
        api_error(ctx, 422, "invalid_assignee", "only Analysts and Admins can be assigned (%s)",
                  role);
        return false;
    }
    return true;
}

void incident_api_create(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    sqlite3 *db = ctx->s->db;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(b, "anomaly_ids");
    const cJSON *assigned = cJSON_GetObjectItemCaseSensitive(b, "assigned_to");
    const char *title = api_json_str(b, "title");
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : 0;
    cJSON *first = NULL;
    if (n < 1 || n > 100 || (title && strlen(title) > 300) ||
        (assigned && !cJSON_IsNull(assigned) && !cJSON_IsString(assigned))) {
        api_error(ctx, 400, "bad_request",
                  "anomaly_ids: 1..100 anomaly ids; title up to 300 characters; assigned_to a "
                  "user id");
        goto done;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, ids)
    {
        bool found;
        cJSON *a = cJSON_IsString(x) ? db_row_json(db, &found,
                                                   "SELECT a.id, a.device_id, a.severity, "
                                                   "a.description FROM anomalies a WHERE a.id = ?",
                                                   "s", x->valuestring)
                                     : NULL;
        if (!a || !found) {
            cJSON_Delete(a);
            api_error(ctx, 404, "not_found", "no anomaly %s",
                      cJSON_IsString(x) ? x->valuestring : "(not a string)");
            goto done;
        }
        if (!first)
            first = a;
        else
            cJSON_Delete(a);
    }
    if (cJSON_IsString(assigned) && !assignee_ok(ctx, assigned->valuestring)) goto done;
    char id[UUID_STR_LEN + 1];
    util_uuid7(id);
    int64_t now = util_now_ms();
    bool tx = db_begin(db) == 0;
    db_exec(db, NULL,
            "INSERT INTO incidents(id, anomaly_id, assigned_to, status, created_at, title, "
            "severity, device_id, origin, created_by, updated_at) "
            "VALUES(?, ?, ?, 'new', ?, ?, ?, ?, 'manual', ?, ?)",
            "ssbissssi", id, api_json_str(first, "id"),
            cJSON_IsString(assigned) ? assigned->valuestring : NULL, now,
            title ? title : api_json_str(first, "description"), api_json_str(first, "severity"),
            api_json_str(first, "device_id"), ctx->user_id, now);
    char *d = json_detail("status", "new", "origin", "manual");
    incident_event(db, id, ctx->user_id, "created", d);
    free(d);
    if (cJSON_IsString(assigned)) {
        d = json_detail("from", NULL, "to", assigned->valuestring);
        incident_event(db, id, ctx->user_id, "assigned", d);
        free(d);
    }
    cJSON_ArrayForEach(x, ids) link_anomaly(db, id, x->valuestring, ctx->user_id);
    char *detail = cJSON_PrintUnformatted(b);
    api_audit(ctx, "incident.create", id, detail ? detail : "");
    free(detail);
    if (tx && db_commit(db) != 0) db_rollback(db);
    incident_broadcast(ctx->s, id);
    api_json(ctx, 201, incident_full(ctx, id));
done:
    cJSON_Delete(first);
    cJSON_Delete(b);
}

/* Loads the status of an incident the principal may work on, or sends 404. */
static bool incident_status(api_ctx *ctx, char *status, size_t cap)
{
    if (db_text(ctx->s->db, status, cap, "SELECT status FROM incidents WHERE id = ?", "s",
                ctx->params[0]) == 0)
        return true;
    api_error(ctx, 404, "not_found", "no incident %s", ctx->params[0]);
    return false;
}

/* Resolves the incident's anomalies and feeds the verdict to the detectors. */
static void resolve_anomalies(api_ctx *ctx, const char *id, const char *verdict)
{
    sqlite3 *db = ctx->s->db;
    cJSON *list = db_rows_json(db,
                               "SELECT a.id, a.device_id, a.metric FROM incident_anomalies ia "
                               "JOIN anomalies a ON a.id = ia.anomaly_id WHERE ia.incident_id = ? "
                               "AND a.resolved = 0",
                               "s", id);
    db_exec(db, NULL,
            "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, ?), "
            "verdict = COALESCE(?, verdict) WHERE id IN (SELECT anomaly_id FROM "
            "incident_anomalies WHERE incident_id = ?)",
            "ibs", util_now_ms(), verdict, id);
    const cJSON *a;
    cJSON_ArrayForEach(a, list)
    {
        const char *metric = api_json_str(a, "metric");
        if (verdict && metric && ctx->s->shards)
            shards_feedback(ctx->s->shards, api_json_str(a, "device_id"), metric,
                            strcmp(verdict, "false_positive") == 0 ? DET_VERDICT_FALSE_POSITIVE
                                                                   : DET_VERDICT_CONFIRMED);
        api_audit(ctx, "anomaly.resolve", api_json_str(a, "id"), verdict ? verdict : "");
    }
    cJSON_Delete(list);
}

void incident_api_update(api_ctx *ctx)
{
    char cur[24];
    if (!incident_status(ctx, cur, sizeof cur)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    sqlite3 *db = ctx->s->db;
    const char *id = ctx->params[0];
    const char *status = api_json_str(b, "status");
    const char *verdict = api_json_str(b, "verdict");
    const char *title = api_json_str(b, "title");
    const cJSON *assigned = cJSON_GetObjectItemCaseSensitive(b, "assigned_to");
    if ((cJSON_GetObjectItemCaseSensitive(b, "status") && !status) ||
        (status && strcmp(status, "new") && strcmp(status, "investigating") &&
         strcmp(status, "resolved")) ||
        (verdict && strcmp(verdict, "confirmed") && strcmp(verdict, "false_positive")) ||
        (title && (!title[0] || strlen(title) > 300)) ||
        (assigned && !cJSON_IsNull(assigned) && !cJSON_IsString(assigned)) ||
        (!status && !verdict && !title && !assigned)) {
        api_error(ctx, 400, "bad_request",
                  "status new|investigating|resolved, verdict confirmed|false_positive (with "
                  "status resolved), title 1..300 characters, assigned_to a user id or null");
        goto done;
    }
    if (verdict && !(status && strcmp(status, "resolved") == 0)) {
        api_error(ctx, 400, "bad_request", "a verdict is given when resolving");
        goto done;
    }
    if (status && !incident_transition_ok(cur, status)) {
        api_error(ctx, 409, "invalid_transition", "an incident cannot go from %s to %s", cur,
                  status);
        goto done;
    }
    if (cJSON_IsString(assigned) && !assignee_ok(ctx, assigned->valuestring)) goto done;
    int64_t now = util_now_ms();
    bool tx = db_begin(db) == 0;
    char *d;
    if (assigned) {
        char prev[UUID_STR_LEN + 1] = "";
        db_text(db, prev, sizeof prev,
                "SELECT COALESCE(assigned_to, '') FROM incidents WHERE id = ?", "s", id);
        const char *to = cJSON_IsString(assigned) ? assigned->valuestring : NULL;
        if (strcmp(prev, to ? to : "") != 0) {
            db_exec(db, NULL, "UPDATE incidents SET assigned_to = ? WHERE id = ?", "bs", to, id);
            d = json_detail("from", prev[0] ? prev : NULL, "to", to);
            incident_event(db, id, ctx->user_id, to ? "assigned" : "unassigned", d);
            api_audit(ctx, "incident.assign", id, d ? d : "");
            free(d);
        }
    }
    if (title) {
        db_exec(db, NULL, "UPDATE incidents SET title = ? WHERE id = ?", "ss", title, id);
        d = json_detail("title", title, NULL, NULL);
        incident_event(db, id, ctx->user_id, "retitled", d);
        api_audit(ctx, "incident.update", id, d ? d : "");
        free(d);
    }
    if (status) {
        bool reopen = strcmp(cur, "resolved") == 0;
        if (strcmp(status, "investigating") == 0) {
            db_exec(db, NULL,
                    "UPDATE incidents SET status = 'investigating', acknowledged_at = "
                    "COALESCE(acknowledged_at, ?), resolved_at = NULL, verdict = CASE WHEN ? THEN "
                    "NULL ELSE verdict END WHERE id = ?",
                    "iis", now, (int64_t)reopen, id);
        } else {
            db_exec(db, NULL,
                    "UPDATE incidents SET status = 'resolved', resolved_at = ?, verdict = ?, "
                    "acknowledged_at = COALESCE(acknowledged_at, ?) WHERE id = ?",
                    "ibis", now, verdict, now, id);
            resolve_anomalies(ctx, id, verdict);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "from", cur);
        cJSON_AddStringToObject(o, "to", status);
        if (verdict) cJSON_AddStringToObject(o, "verdict", verdict);
        d = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        incident_event(db, id, ctx->user_id, reopen ? "reopened" : "status_changed", d);
        api_audit(ctx, reopen ? "incident.reopen" : "incident.status", id, d ? d : "");
        free(d);
    }
    if (tx && db_commit(db) != 0) db_rollback(db);
    incident_broadcast(ctx->s, id);
    api_json(ctx, 200, incident_full(ctx, id));
done:
    cJSON_Delete(b);
}

void incident_api_comment(api_ctx *ctx)
{
    char cur[24];
    if (!incident_status(ctx, cur, sizeof cur)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *text = api_json_str(b, "text");
    if (!text || !text[0] || strlen(text) > 4000) {
        api_error(ctx, 400, "bad_request", "text: 1..4000 characters");
        cJSON_Delete(b);
        return;
    }
    char *d = json_detail("text", text, NULL, NULL);
    incident_event(ctx->s->db, ctx->params[0], ctx->user_id, "comment", d);
    int64_t eid = sqlite3_last_insert_rowid(ctx->s->db);
    api_audit(ctx, "incident.comment", ctx->params[0], d ? d : "");
    free(d);
    cJSON_Delete(b);
    incident_broadcast(ctx->s, ctx->params[0]);
    bool found;
    api_json(ctx, 201,
             db_row_json(ctx->s->db, &found,
                         "SELECT id, ts, actor, kind, detail AS detail_json FROM incident_events "
                         "WHERE id = ?",
                         "i", eid));
}

void incident_api_link(api_ctx *ctx)
{
    char cur[24];
    if (!incident_status(ctx, cur, sizeof cur)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *anomaly_id = api_json_str(b, "anomaly_id");
    if (!anomaly_id ||
        !db_int(ctx->s->db, 0, "SELECT COUNT(*) FROM anomalies WHERE id = ?", "s", anomaly_id)) {
        api_error(ctx, 404, "not_found", "no anomaly %s", anomaly_id ? anomaly_id : "(missing)");
        cJSON_Delete(b);
        return;
    }
    bool tx = db_begin(ctx->s->db) == 0;
    bool linked = link_anomaly(ctx->s->db, ctx->params[0], anomaly_id, ctx->user_id);
    if (linked) api_audit(ctx, "incident.link", ctx->params[0], anomaly_id);
    if (tx && db_commit(ctx->s->db) != 0) db_rollback(ctx->s->db);
    if (!linked) api_error(ctx, 409, "conflict", "anomaly %s is already linked", anomaly_id);
    cJSON_Delete(b);
    if (!linked) return;
    incident_broadcast(ctx->s, ctx->params[0]);
    api_json(ctx, 200, incident_full(ctx, ctx->params[0]));
}
