/* REST API of incidents: list, get with anomalies and timeline, open from anomalies, assign,
 * change status (a verdict on resolve feeds the detectors), comment, link anomalies. The
 * workflow's rules and automatic incidents are alert/incidents.c. */
#include "api/api.h"

#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "pipeline/shards.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const char *title = json_str(b, "title");
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
            "ssbissssi", id, json_str(first, "id"),
            cJSON_IsString(assigned) ? assigned->valuestring : NULL, now,
            title ? title : json_str(first, "description"), json_str(first, "severity"),
            json_str(first, "device_id"), ctx->user_id, now);
    char *d = incident_detail_json("status", "new", "origin", "manual");
    incident_event(db, id, ctx->user_id, "created", d);
    free(d);
    if (cJSON_IsString(assigned)) {
        d = incident_detail_json("from", NULL, "to", assigned->valuestring);
        incident_event(db, id, ctx->user_id, "assigned", d);
        free(d);
    }
    cJSON_ArrayForEach(x, ids) incident_link_anomaly(db, id, x->valuestring, ctx->user_id);
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
        const char *metric = json_str(a, "metric");
        if (verdict && metric && ctx->s->shards)
            shards_feedback(ctx->s->shards, json_str(a, "device_id"), metric,
                            strcmp(verdict, "false_positive") == 0 ? DET_VERDICT_FALSE_POSITIVE
                                                                   : DET_VERDICT_CONFIRMED);
        api_audit(ctx, "anomaly.resolve", json_str(a, "id"), verdict ? verdict : "");
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
    const char *status = json_str(b, "status");
    const char *verdict = json_str(b, "verdict");
    const char *title = json_str(b, "title");
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
            d = incident_detail_json("from", prev[0] ? prev : NULL, "to", to);
            incident_event(db, id, ctx->user_id, to ? "assigned" : "unassigned", d);
            api_audit(ctx, "incident.assign", id, d ? d : "");
            free(d);
        }
    }
    if (title) {
        db_exec(db, NULL, "UPDATE incidents SET title = ? WHERE id = ?", "ss", title, id);
        d = incident_detail_json("title", title, NULL, NULL);
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
    const char *text = json_str(b, "text");
    if (!text || !text[0] || strlen(text) > 4000) {
        api_error(ctx, 400, "bad_request", "text: 1..4000 characters");
        cJSON_Delete(b);
        return;
    }
    char *d = incident_detail_json("text", text, NULL, NULL);
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
    const char *anomaly_id = json_str(b, "anomaly_id");
    if (!anomaly_id ||
        !db_int(ctx->s->db, 0, "SELECT COUNT(*) FROM anomalies WHERE id = ?", "s", anomaly_id)) {
        api_error(ctx, 404, "not_found", "no anomaly %s", anomaly_id ? anomaly_id : "(missing)");
        cJSON_Delete(b);
        return;
    }
    bool tx = db_begin(ctx->s->db) == 0;
    bool linked = incident_link_anomaly(ctx->s->db, ctx->params[0], anomaly_id, ctx->user_id);
    if (linked) api_audit(ctx, "incident.link", ctx->params[0], anomaly_id);
    if (tx && db_commit(ctx->s->db) != 0) db_rollback(ctx->s->db);
    if (!linked) api_error(ctx, 409, "conflict", "anomaly %s is already linked", anomaly_id);
    cJSON_Delete(b);
    if (!linked) return;
    incident_broadcast(ctx->s, ctx->params[0]);
    api_json(ctx, 200, incident_full(ctx, ctx->params[0]));
}
