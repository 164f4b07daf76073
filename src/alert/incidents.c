/* Incidents: the analysts' unit of work. Opened automatically for anomalies at or above the
 * alerts.auto_incident severity (an open automatic incident of the same device absorbs
 * further anomalies) or by hand from one or more anomalies. Status new -> investigating ->
 * resolved, and reopen (resolved -> investigating); anything else is 409. Only Analysts and
 * Admins may be assigned. Every change, comment and linked anomaly is a timeline entry
 * (incident_events), an audit log entry and a live "incident" event on the stream. Resolving
 * with a verdict resolves the linked anomalies and feeds the verdict to the detectors. */
#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "alert/alerts.h"
#include "core/log.h"
#include "ingest/devstate.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void incident_event(store *st, const char *incident_id, const char *actor, const char *kind,
                    const char *detail_json)
{
    STORE_INCIDENTS(st)->event_add(st, incident_id, actor, kind, detail_json, util_now_ms(), NULL);
}

void incident_broadcast(server *s, const char *incident_id)
{
    if (!ev_wanted(&s->events, EV_INCIDENT)) return;
    cJSON *row = STORE_INCIDENTS(s->st)->get(s->st, incident_id);
    if (!row) return;
    char device_id[UUID_STR_LEN + 1] = "";
    const char *dev = json_str(row, "device_id");
    if (dev) snprintf(device_id, sizeof device_id, "%s", dev);
    dev_live *d = device_id[0] ? devstate_get(s->devices, device_id) : NULL;
    /* the linked anomalies, so that views listing anomalies can show their incident live */
    cJSON *ids = cJSON_AddArrayToObject(row, "anomaly_ids");
    cJSON *linked = STORE_INCIDENTS(s->st)->anomaly_ids(s->st, incident_id, 500);
    const cJSON *x;
    cJSON_ArrayForEach(x, linked)
        cJSON_AddItemToArray(ids, cJSON_CreateString(json_str(x, "anomaly_id")));
    cJSON_Delete(linked);
    ev_event e = {.type = EV_INCIDENT, .device_id = device_id, .owner_id = d ? d->owner_id : ""};
    e.u.record = row;
    ev_emit(&s->events, &e);
    cJSON_Delete(row);
}

char *incident_detail_json(const char *k1, const char *v1, const char *k2, const char *v2)
{
    cJSON *o = cJSON_CreateObject();
    if (k1) v1 ? cJSON_AddStringToObject(o, k1, v1) : cJSON_AddNullToObject(o, k1);
    if (k2) v2 ? cJSON_AddStringToObject(o, k2, v2) : cJSON_AddNullToObject(o, k2);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

bool incident_link_anomaly(store *st, const char *incident_id, const char *anomaly_id,
                           const char *actor)
{
    bool linked = false;
    STORE_INCIDENTS(st)->link(st, incident_id, anomaly_id, util_now_ms(), &linked);
    if (!linked) return false;
    char *d = incident_detail_json("anomaly_id", anomaly_id, NULL, NULL);
    incident_event(st, incident_id, actor, "anomaly_linked", d);
    free(d);
    return true;
}

void alerts_on_anomaly_resolved(server *s, const char *anomaly_id, const char *actor)
{
    store *st = s->st;
    cJSON *done = STORE_INCIDENTS(st)->settled_by(st, anomaly_id);
    if (!done || !cJSON_GetArraySize(done)) {
        cJSON_Delete(done);
        return;
    }
    int64_t now = util_now_ms();
    bool tx = store_begin(st) == STORE_OK;
    const cJSON *x;
    cJSON_ArrayForEach(x, done)
    {
        const char *id = json_str(x, "id"), *verdict = json_str(x, "verdict");
        STORE_INCIDENTS(st)->set_resolved(st, id, now, verdict);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "from", json_str(x, "status"));
        cJSON_AddStringToObject(o, "to", "resolved");
        if (verdict) cJSON_AddStringToObject(o, "verdict", verdict);
        cJSON_AddStringToObject(o, "reason", "anomalies_resolved");
        char *d = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        incident_event(st, id, actor, "status_changed", d);
        audit_append(s->st, actor, "incident.status", id, d, NULL);
        free(d);
    }
    if (tx) store_commit_or_rollback(st);
    cJSON_ArrayForEach(x, done)
    {
        log_info("incident_settled", "id=%s anomaly=%s", json_str(x, "id"), anomaly_id);
        incident_broadcast(s, json_str(x, "id"));
    }
    cJSON_Delete(done);
}

/* Short: "boiler-1: temperature high" (the rule's name) or "boiler-1: unusual temp"; the
 * anomaly's full description is one click away. */
static void incident_auto_title(store *st, const cJSON *an, char *title, size_t cap)
{
    const char *device = json_str(an, "device_name");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(an, "rule_id");
    cJSON *rule = cJSON_IsNumber(rid) ? STORE_RULES(st)->get(st, (int64_t)rid->valuedouble) : NULL;
    const char *name = json_str(rule, "name");
    if (name && name[0])
        snprintf(title, cap, "%s: %s", device, name);
    else
        snprintf(title, cap, "%s: unusual %s", device, json_str(an, "metric"));
    cJSON_Delete(rule);
}

void incident_auto(server *s, const char *anomaly_id)
{
    store *st = s->st;
    if (STORE_INCIDENTS(st)->anomaly_linked(st, anomaly_id)) return;
    cJSON *an = STORE_ANOMALIES(st)->get(st, anomaly_id, "");
    if (!an) return;
    /* resolved before its turn came (an analyst was quicker than the policy pass) */
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(an, "resolved"))) {
        cJSON_Delete(an);
        return;
    }
    const char *device_id = json_str(an, "device_id");
    char id[UUID_STR_LEN + 1];
    bool created = false;
    bool tx = store_begin(st) == STORE_OK;
    if (STORE_INCIDENTS(st)->open_auto_for(st, device_id, id, sizeof id) != STORE_OK) {
        util_uuid7(id);
        char title[400];
        incident_auto_title(st, an, title, sizeof title);
        store_incident_new n = {.id = id,
                                .anomaly_id = anomaly_id,
                                .title = title,
                                .severity = json_str(an, "severity"),
                                .device_id = device_id,
                                .origin = "auto"};
        STORE_INCIDENTS(st)->create(st, &n, util_now_ms());
        char *d = incident_detail_json("status", "new", "origin", "auto");
        incident_event(st, id, "system", "created", d);
        free(d);
        created = true;
    }
    incident_link_anomaly(st, id, anomaly_id, "system");
    audit_append(s->st, "system", created ? "incident.create" : "incident.link", id, anomaly_id,
                 NULL);
    if (tx) store_commit_or_rollback(st);
    cJSON_Delete(an);
    log_info(created ? "incident_opened" : "incident_linked", "id=%s anomaly=%s", id, anomaly_id);
    incident_broadcast(s, id);
}
