/* REST API of incidents: list, get with anomalies and timeline, open from anomalies, assign,
 * change status (a verdict on resolve feeds the detectors), comment, link anomalies. The
 * workflow's rules and automatic incidents are alert/incidents.c. */
#include "api/api.h"

#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "alert/alerts.h"
#include "pipeline/shards.h"
#include "store/store.h"

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
    store_incident_filter f = {.from_ms = from,
                               .to_ms = to,
                               .status = status,
                               .severity = sev,
                               .assigned_to = assignee,
                               .device_id = dev,
                               .owner = owner,
                               .limit = limit,
                               .offset = offset};
    int64_t total = 0;
    cJSON *rows = STORE_INCIDENTS(ctx->s->st)->list(ctx->s->st, &f, &total);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

/* The incident with its anomalies and timeline, if the principal may see it. */
static cJSON *incident_full(api_ctx *ctx, const char *id)
{
    return STORE_INCIDENTS(ctx->s->st)->full(ctx->s->st, id, api_owner_scope(ctx));
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
    if (STORE_USERS(ctx->s->st)->role_of(ctx->s->st, user_id, role, sizeof role) != STORE_OK) {
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

/* 409 naming the open incident the anomaly is already in, for the client to offer it. */
static void refuse_second_incident(api_ctx *ctx, const char *anomaly_id, const char *incident_id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "anomaly_in_incident");
    char msg[200];
    snprintf(msg, sizeof msg, "anomaly %s is already in open incident %s", anomaly_id, incident_id);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "anomaly_id", anomaly_id);
    cJSON_AddStringToObject(o, "incident_id", incident_id);
    api_json(ctx, 409, o);
}

void incident_api_create(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    store *st = ctx->s->st;
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
        cJSON *a = cJSON_IsString(x) ? STORE_ANOMALIES(st)->brief(st, x->valuestring) : NULL;
        if (!a) {
            cJSON_Delete(a);
            api_error(ctx, 404, "not_found", "no anomaly %s",
                      cJSON_IsString(x) ? x->valuestring : "(not a string)");
            goto done;
        }
        char other[UUID_STR_LEN + 1];
        if (STORE_INCIDENTS(st)->open_incident_of(st, x->valuestring, NULL, other, sizeof other) ==
            STORE_OK) {
            cJSON_Delete(a);
            refuse_second_incident(ctx, x->valuestring, other);
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
    bool tx = store_begin(st) == STORE_OK;
    store_incident_new inc = {.id = id,
                              .anomaly_id = json_str(first, "id"),
                              .title = title ? title : json_str(first, "description"),
                              .severity = json_str(first, "severity"),
                              .device_id = json_str(first, "device_id"),
                              .origin = "manual",
                              .assigned_to =
                                  cJSON_IsString(assigned) ? assigned->valuestring : NULL,
                              .created_by = ctx->user_id};
    STORE_INCIDENTS(st)->create(st, &inc, now);
    char *d = incident_detail_json("status", "new", "origin", "manual");
    incident_event(st, id, ctx->user_id, "created", d);
    free(d);
    if (cJSON_IsString(assigned)) {
        d = incident_detail_json("from", NULL, "to", assigned->valuestring);
        incident_event(st, id, ctx->user_id, "assigned", d);
        free(d);
    }
    cJSON_ArrayForEach(x, ids) incident_link_anomaly(st, id, x->valuestring, ctx->user_id);
    char *detail = cJSON_PrintUnformatted(b);
    api_audit(ctx, "incident.create", id, detail ? detail : "");
    free(detail);
    if (tx) store_commit_or_rollback(st);
    incident_broadcast(ctx->s, id);
    api_json(ctx, 201, incident_full(ctx, id));
done:
    cJSON_Delete(first);
    cJSON_Delete(b);
}

/* Loads the status of an incident the principal may work on, or sends 404. */
static bool incident_status(api_ctx *ctx, char *status, size_t cap)
{
    if (STORE_INCIDENTS(ctx->s->st)->status_of(ctx->s->st, ctx->params[0], status, cap) == STORE_OK)
        return true;
    api_error(ctx, 404, "not_found", "no incident %s", ctx->params[0]);
    return false;
}

/* Resolves the incident's anomalies and feeds the verdict to the detectors. */
static void resolve_anomalies(api_ctx *ctx, const char *id, const char *verdict)
{
    store *st = ctx->s->st;
    cJSON *list = STORE_INCIDENTS(st)->unresolved_anomalies(st, id);
    STORE_INCIDENTS(st)->resolve_anomalies(st, id, util_now_ms(), verdict);
    const cJSON *a;
    cJSON_ArrayForEach(a, list)
    {
        const char *metric = json_str(a, "metric");
        if (verdict && metric && ctx->s->shards)
            shards_feedback(ctx->s->shards, json_str(a, "device_id"), metric,
                            strcmp(verdict, "false_positive") == 0 ? DET_VERDICT_FALSE_POSITIVE
                                                                   : DET_VERDICT_CONFIRMED);
        api_audit(ctx, "anomaly.resolve", json_str(a, "id"), verdict ? verdict : "");
        /* an older open incident sharing the anomaly (from before one-open-incident-per-
         * anomaly) must not stay open with nothing open in it */
        alerts_on_anomaly_resolved(ctx->s, json_str(a, "id"), ctx->user_id);
    }
    cJSON_Delete(list);
}

void incident_api_update(api_ctx *ctx)
{
    char cur[24];
    if (!incident_status(ctx, cur, sizeof cur)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    store *st = ctx->s->st;
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
    bool tx = store_begin(st) == STORE_OK;
    char *d;
    if (assigned) {
        char prev[UUID_STR_LEN + 1] = "";
        STORE_INCIDENTS(st)->assignee_of(st, id, prev, sizeof prev);
        const char *to = cJSON_IsString(assigned) ? assigned->valuestring : NULL;
        if (strcmp(prev, to ? to : "") != 0) {
            STORE_INCIDENTS(st)->set_assignee(st, id, to);
            d = incident_detail_json("from", prev[0] ? prev : NULL, "to", to);
            incident_event(st, id, ctx->user_id, to ? "assigned" : "unassigned", d);
            api_audit(ctx, "incident.assign", id, d ? d : "");
            free(d);
        }
    }
    if (title) {
        STORE_INCIDENTS(st)->set_title(st, id, title);
        d = incident_detail_json("title", title, NULL, NULL);
        incident_event(st, id, ctx->user_id, "retitled", d);
        api_audit(ctx, "incident.update", id, d ? d : "");
        free(d);
    }
    if (status) {
        bool reopen = strcmp(cur, "resolved") == 0;
        if (strcmp(status, "investigating") == 0) {
            STORE_INCIDENTS(st)->set_investigating(st, id, now, reopen);
        } else {
            STORE_INCIDENTS(st)->set_resolved(st, id, now, verdict);
            resolve_anomalies(ctx, id, verdict);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "from", cur);
        cJSON_AddStringToObject(o, "to", status);
        if (verdict) cJSON_AddStringToObject(o, "verdict", verdict);
        d = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        incident_event(st, id, ctx->user_id, reopen ? "reopened" : "status_changed", d);
        api_audit(ctx, reopen ? "incident.reopen" : "incident.status", id, d ? d : "");
        free(d);
    }
    if (tx) store_commit_or_rollback(st);
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
    int64_t eid = 0;
    STORE_INCIDENTS(ctx->s->st)
        ->event_add(ctx->s->st, ctx->params[0], ctx->user_id, "comment", d, util_now_ms(), &eid);
    api_audit(ctx, "incident.comment", ctx->params[0], d ? d : "");
    free(d);
    cJSON_Delete(b);
    incident_broadcast(ctx->s, ctx->params[0]);
    api_json(ctx, 201, STORE_INCIDENTS(ctx->s->st)->event_get(ctx->s->st, eid));
}

void incident_api_link(api_ctx *ctx)
{
    char cur[24];
    if (!incident_status(ctx, cur, sizeof cur)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *anomaly_id = json_str(b, "anomaly_id");
    cJSON *an = anomaly_id ? STORE_ANOMALIES(ctx->s->st)->brief(ctx->s->st, anomaly_id) : NULL;
    if (!an) {
        api_error(ctx, 404, "not_found", "no anomaly %s", anomaly_id ? anomaly_id : "(missing)");
        cJSON_Delete(b);
        return;
    }
    cJSON_Delete(an);
    store *st = ctx->s->st;
    char other[UUID_STR_LEN + 1];
    if (STORE_INCIDENTS(st)->open_incident_of(st, anomaly_id, ctx->params[0], other,
                                              sizeof other) == STORE_OK) {
        refuse_second_incident(ctx, anomaly_id, other);
        cJSON_Delete(b);
        return;
    }
    bool tx = store_begin(st) == STORE_OK;
    bool linked = incident_link_anomaly(st, ctx->params[0], anomaly_id, ctx->user_id);
    if (linked) api_audit(ctx, "incident.link", ctx->params[0], anomaly_id);
    if (tx) store_commit_or_rollback(st);
    if (!linked) api_error(ctx, 409, "conflict", "anomaly %s is already linked", anomaly_id);
    cJSON_Delete(b);
    if (!linked) return;
    incident_broadcast(ctx->s, ctx->params[0]);
    api_json(ctx, 200, incident_full(ctx, ctx->params[0]));
}
