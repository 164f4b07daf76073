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
#include "ingest/devstate.h"
#include "store/audit.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

cJSON *incident_row(sqlite3 *db, const char *id)
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
    const char *dev = json_str(row, "device_id");
    if (dev) snprintf(device_id, sizeof device_id, "%s", dev);
    dev_live *d = device_id[0] ? devstate_get(s->devices, device_id) : NULL;
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

bool incident_link_anomaly(sqlite3 *db, const char *incident_id, const char *anomaly_id,
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
    char *d = incident_detail_json("anomaly_id", anomaly_id, NULL, NULL);
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
    const char *device_id = json_str(an, "device_id");
    char id[UUID_STR_LEN + 1];
    bool created = false;
    bool tx = db_begin(db) == 0;
    if (db_text(db, id, sizeof id,
                "SELECT id FROM incidents WHERE device_id = ? AND origin = 'auto' AND status != "
                "'resolved' ORDER BY created_at DESC LIMIT 1",
                "s", device_id) != 0) {
        util_uuid7(id);
        char title[400];
        snprintf(title, sizeof title, "%s: %s", json_str(an, "device_name"),
                 json_str(an, "description"));
        int64_t now = util_now_ms();
        db_exec(db, NULL,
                "INSERT INTO incidents(id, anomaly_id, status, created_at, title, severity, "
                "device_id, origin, updated_at) VALUES(?, ?, 'new', ?, ?, ?, ?, 'auto', ?)",
                "ssisssi", id, anomaly_id, now, title, json_str(an, "severity"), device_id, now);
        char *d = incident_detail_json("status", "new", "origin", "auto");
        incident_event(db, id, "system", "created", d);
        free(d);
        created = true;
    }
    incident_link_anomaly(db, id, anomaly_id, "system");
    audit_append(db, "system", created ? "incident.create" : "incident.link", id, anomaly_id, NULL);
    if (tx && db_commit(db) != 0) db_rollback(db);
    cJSON_Delete(an);
    log_info(created ? "incident_opened" : "incident_linked", "id=%s anomaly=%s", id, anomaly_id);
    incident_broadcast(s, id);
}
