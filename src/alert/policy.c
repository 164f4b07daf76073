/* Alert policies: which anomalies go to whom by which channel. For a new anomaly episode
 * (loop thread): flap detection on its series, then every enabled policy whose severities,
 * device and device type match queues one outbox row per recipient; recipients are the
 * policy's users, the users of its roles and optionally the device's owner (through their
 * contacts and severity preferences), plus literal addresses; a webhook policy has one
 * recipient, its endpoint. Grouping: within a policy's window, further anomalies for the same
 * recipient are counted into one pending row instead of new messages. Escalation: an
 * unacknowledged critical anomaly is re-sent to the escalation recipients after the delay. */
#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "core/log.h"
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEV_RANK(col)                                                                              \
    "(CASE " col " WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END)"

int alert_enqueue(alerts *a, sqlite3 *db, const char *anomaly_id, const char *policy_id,
                  const char *channel_id, const char *method, const char *user_id,
                  const char *recipient, const char *severity, const char *device_id,
                  const char *kind, int64_t group_wait_ms, int64_t group_window_ms, char *id_out)
{
    int64_t now = util_now_ms();
    char key[600];
    snprintf(key, sizeof key, "%s|%s|%s|%s", policy_id ? policy_id : "", channel_id,
             strcmp(kind, "escalation") == 0 || strcmp(kind, "test") == 0 ? kind : "", recipient);
    char id[UUID_STR_LEN + 1] = "";
    bool grouping = group_window_ms > 0 || group_wait_ms > 0;
    if (grouping && anomaly_id) {
        if (db_text(db, id, sizeof id,
                    "SELECT id FROM alerts WHERE group_key = ? AND status = 'pending' AND "
                    "attempts = 0 AND payload IS NULL ORDER BY due_at DESC LIMIT 1",
                    "s", key) == 0) {
            int changed = 0;
            db_exec(db, &changed,
                    "UPDATE alerts SET count = count + 1, updated_at = ?, severity = CASE "
                    "WHEN " SEV_RANK("?") " > " SEV_RANK(
                        "severity") " THEN ? ELSE severity END "
                                    "WHERE id = ? AND status = 'pending' AND "
                                    "payload IS NULL",
                    "isss", now, severity, severity, id);
            if (changed == 1) {
                db_exec(db, NULL,
                        "INSERT OR IGNORE INTO alert_anomalies(alert_id, anomaly_id) VALUES(?, ?)",
                        "ss", id, anomaly_id);
                pthread_mutex_lock(&a->mu);
                a->grouped++;
                pthread_mutex_unlock(&a->mu);
                if (id_out) id_out[0] = '\0'; /* nothing new to announce */
                return 0;
            }
        }
    }
    int64_t due = now + (grouping ? group_wait_ms : 0);
    if (grouping && group_window_ms > 0) {
        int64_t last = db_int(db, 0,
                              "SELECT COALESCE(MAX(due_at), 0) FROM alerts WHERE group_key = ? "
                              "AND due_at > ?",
                              "si", key, now - group_window_ms);
        if (last > 0 && last + group_window_ms > due) due = last + group_window_ms;
    }
    util_uuid7(id);
    int rc = db_exec(db, NULL,
                     "INSERT INTO alerts(id, anomaly_id, user_id, method, status, attempts, "
                     "created_at, channel_id, policy_id, recipient, device_id, severity, kind, "
                     "group_key, count, due_at, updated_at) "
                     "VALUES(?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                     "sbbsisbsbsssii", id, anomaly_id, user_id, method, now, channel_id, policy_id,
                     recipient, device_id, severity, kind, key, due, now);
    if (rc != 0) {
        log_error("alert_enqueue_failed", "anomaly=%s channel=%s recipient=%s",
                  anomaly_id ? anomaly_id : "", channel_id, recipient);
        return -1;
    }
    if (anomaly_id)
        db_exec(db, NULL,
                "INSERT OR IGNORE INTO alert_anomalies(alert_id, anomaly_id) VALUES(?, ?)", "ss",
                id, anomaly_id);
    pthread_mutex_lock(&a->mu);
    a->created++;
    pthread_mutex_unlock(&a->mu);
    if (id_out) memcpy(id_out, id, sizeof id);
    return 0;
}

#define ANNOUNCE_MAX 256
typedef struct {
    char ids[ANNOUNCE_MAX][UUID_STR_LEN + 1]; /* alerts queued, announced after commit */
    int n;
} queued;

/* Queues one alert per recipient of (users, roles, owner, addresses) on a channel. */
static void enqueue_recipients(alerts *a, const char *anomaly_id, const char *policy_id,
                               const char *channel_id, const char *channel_kind,
                               const char *channel_url, const char *users, const char *roles,
                               const char *owner, const char *addresses, const char *severity,
                               const char *device_id, const char *kind, int64_t wait_ms,
                               int64_t window_ms, queued *q)
{
    sqlite3 *db = a->s->db;
    char id[UUID_STR_LEN + 1];
    if (strcmp(channel_kind, "webhook") == 0) {
        if (alert_enqueue(a, db, anomaly_id, policy_id, channel_id, "webhook", NULL, channel_url,
                          severity, device_id, kind, wait_ms, window_ms, id) == 0 &&
            id[0] && q->n < ANNOUNCE_MAX)
            memcpy(q->ids[q->n++], id, sizeof id);
        return;
    }
    /* users of the policy (explicit, by role, the device owner), with their contacts of
     * this channel's kind whose preference admits the severity; e-mail falls back to the
     * account address when the user has no e-mail contact */
    sqlite3_stmt *st;
    const char *sql =
        "WITH u(id) AS (SELECT value FROM json_each(?1) UNION SELECT id FROM users WHERE "
        "role IN (SELECT value FROM json_each(?2)) UNION SELECT ?3 WHERE ?3 != ''), "
        "uu AS (SELECT users.id, users.email FROM users JOIN u ON u.id = users.id WHERE "
        "users.disabled = 0) "
        "SELECT uu.id, c.address FROM uu JOIN alert_contacts c ON c.user_id = uu.id AND "
        "c.kind = ?4 AND c.enabled = 1 AND " SEV_RANK(
            "c.min_severity") " <= ?5 "
                              "UNION SELECT uu.id, uu.email FROM uu WHERE ?4 = 'email' AND NOT "
                              "EXISTS (SELECT 1 FROM "
                              "alert_contacts c WHERE c.user_id = uu.id AND c.kind = 'email') "
                              "UNION SELECT NULL, value FROM json_each(?6) WHERE typeof(value) = "
                              "'text'";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("alert_recipients_failed", "err=\"%s\"", sqlite3_errmsg(db));
        return;
    }
    sqlite3_bind_text(st, 1, users, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, roles, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, owner ? owner : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, channel_kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, alert_severity_rank(severity));
    sqlite3_bind_text(st, 6, addresses, -1, SQLITE_STATIC);
    char seen[32][256];
    int nseen = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        const char *addr = (const char *)sqlite3_column_text(st, 1);
        if (!addr || !addr[0]) continue;
        bool dup = false;
        for (int i = 0; i < nseen && !dup; i++)
            dup = strcmp(seen[i], addr) == 0;
        if (dup) continue;
        if (nseen < 32) snprintf(seen[nseen++], sizeof seen[0], "%s", addr);
        if (alert_enqueue(a, db, anomaly_id, policy_id, channel_id, channel_kind, uid, addr,
                          severity, device_id, kind, wait_ms, window_ms, id) == 0 &&
            id[0] && q->n < ANNOUNCE_MAX)
            memcpy(q->ids[q->n++], id, sizeof id);
    }
    sqlite3_finalize(st);
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

/* One anomaly, inside the caller's transaction. Returns true when it should open (or join)
 * an incident. */
static bool apply_one(alerts *a, const char *anomaly_id, const alert_settings *stp, queued *q)
{
    server *s = a->s;
    sqlite3 *db = s->db;
    bool found;
    cJSON *an = db_row_json(db, &found,
                            "SELECT a.device_id, COALESCE(a.metric, '') AS metric, a.severity, "
                            "a.detected_at, d.type, COALESCE(d.owner_id, '') AS owner_id "
                            "FROM anomalies a JOIN devices d ON d.id = a.device_id WHERE a.id = ?",
                            "s", anomaly_id);
    if (!found) {
        cJSON_Delete(an);
        return false;
    }
    char device_id[64], metric[160], severity[16], type[80], owner[64];
    snprintf(device_id, sizeof device_id, "%s", json_str(an, "device_id"));
    snprintf(metric, sizeof metric, "%s", json_str(an, "metric"));
    snprintf(severity, sizeof severity, "%s", json_str(an, "severity"));
    snprintf(type, sizeof type, "%s", json_str(an, "type"));
    snprintf(owner, sizeof owner, "%s", json_str(an, "owner_id"));
    int64_t detected =
        (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(an, "detected_at"));
    cJSON_Delete(an);
    const alert_settings st = *stp;

    /* flapping: the series opened flap_threshold episodes within the window; the first
     * flapping episode is notified (as such), the following ones are not */
    const char *kind = "anomaly";
    bool suppress = false;
    if (st.flap_threshold > 1 && st.flap_window_ms > 0) {
        int64_t since = detected - st.flap_window_ms;
        int64_t prev = db_int(db, 0,
                              "SELECT COUNT(*) FROM anomalies WHERE device_id = ? AND "
                              "COALESCE(metric, '') = ? AND detected_at > ? AND id != ?",
                              "ssis", device_id, metric, since, anomaly_id);
        if (prev + 1 >= st.flap_threshold) {
            kind = "flapping";
            db_exec(db, NULL, "UPDATE anomalies SET flapping = 1 WHERE id = ?", "s", anomaly_id);
            suppress = db_int(db, 0,
                              "SELECT COUNT(*) FROM anomalies WHERE device_id = ? AND "
                              "COALESCE(metric, '') = ? AND detected_at > ? AND id != ? AND "
                              "flapping = 1",
                              "ssis", device_id, metric, since, anomaly_id) > 0;
        }
    }
    if (suppress) {
        pthread_mutex_lock(&a->mu);
        a->suppressed_flapping++;
        pthread_mutex_unlock(&a->mu);
        log_info("alert_suppressed", "anomaly=%s reason=flapping device=%s metric=%s", anomaly_id,
                 device_id, metric);
    } else {
        sqlite3_stmt *ps;
        const char *sql =
            "SELECT p.id, p.channel_id, c.kind, c.url, p.users, p.roles, p.device_owner, "
            "p.addresses, p.group_wait_ms, p.group_window_ms, p.escalate_after_ms "
            "FROM alert_policies p JOIN alert_channels c ON c.id = p.channel_id "
            "WHERE p.enabled = 1 AND c.enabled = 1 AND (p.device_id IS NULL OR p.device_id = ?1) "
            "AND (p.device_type IS NULL OR p.device_type = ?2) AND EXISTS (SELECT 1 FROM "
            "json_each(p.severities) WHERE value = ?3) ORDER BY p.created_at";
        if (sqlite3_prepare_v2(db, sql, -1, &ps, NULL) == SQLITE_OK) {
            sqlite3_bind_text(ps, 1, device_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(ps, 2, type, -1, SQLITE_STATIC);
            sqlite3_bind_text(ps, 3, severity, -1, SQLITE_STATIC);
            while (sqlite3_step(ps) == SQLITE_ROW) {
                enqueue_recipients(a, anomaly_id, col(ps, 0), col(ps, 1), col(ps, 2), col(ps, 3),
                                   col(ps, 4), col(ps, 5), sqlite3_column_int(ps, 6) ? owner : "",
                                   col(ps, 7), severity, device_id, kind,
                                   sqlite3_column_int64(ps, 8), sqlite3_column_int64(ps, 9), q);
                int64_t esc = sqlite3_column_int64(ps, 10);
                if (esc > 0 && strcmp(severity, "critical") == 0)
                    db_exec(db, NULL,
                            "INSERT OR IGNORE INTO alert_escalations(anomaly_id, policy_id, "
                            "due_at) VALUES(?, ?, ?)",
                            "ssi", anomaly_id, col(ps, 0), util_now_ms() + esc);
            }
            sqlite3_finalize(ps);
        } else {
            log_error("alert_policies_failed", "err=\"%s\"", sqlite3_errmsg(db));
        }
    }
    int auto_rank = alert_severity_rank(st.auto_incident);
    return auto_rank > 0 && alert_severity_rank(severity) >= auto_rank;
}

void alert_policy_apply(alerts *a, char (*ids)[UUID_STR_LEN + 1], size_t n)
{
    server *s = a->s;
    sqlite3 *db = s->db;
    alert_settings st;
    alerts_settings_get(a, &st);
    queued *q = calloc(1, sizeof *q);
    bool *incident = calloc(n ? n : 1, sizeof *incident);
    if (!q || !incident) {
        free(q);
        free(incident);
        log_error("alert_policy_failed", "reason=%s count=%zu", "out of memory", n);
        return;
    }
    /* a storm costs one transaction (one fsync) per batch, not one per anomaly */
    bool tx = db_begin(db) == 0;
    for (size_t i = 0; i < n; i++)
        incident[i] = apply_one(a, ids[i], &st, q);
    for (size_t i = 0; i < n; i++)
        if (incident[i]) incident_auto(s, ids[i]);
    /* the watermark: anomalies inserted after it are (re)considered at the next start */
    int64_t mark = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t r = db_int(db, 0, "SELECT rowid FROM anomalies WHERE id = ?", "s", ids[i]);
        if (r > mark) mark = r;
    }
    if (mark > 0)
        db_exec(db, NULL,
                "INSERT INTO settings(key, value, updated_at) VALUES('alerts.anomaly_watermark', "
                "?1, ?2) ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), ?1), "
                "updated_at = ?2",
                "ii", mark, util_now_ms());
    if (tx && db_commit(db) != 0) db_rollback(db);
    for (int i = 0; i < q->n; i++)
        alerts_broadcast_alert(s, db, q->ids[i]);
    if (q->n) alerts_wake(a);
    free(q);
    free(incident);
}

void alert_escalations_tick(alerts *a)
{
    sqlite3 *db = a->s->db;
    int64_t now = util_now_ms();
    cJSON *due = db_rows_json(
        db,
        "SELECT e.anomaly_id, e.policy_id, p.channel_id, c.kind, c.url, p.escalate_users, "
        "p.escalate_roles, p.escalate_addresses, an.device_id, an.severity, "
        "(an.resolved = 1 OR EXISTS (SELECT 1 FROM alert_anomalies aa JOIN alerts al ON "
        "al.id = aa.alert_id WHERE aa.anomaly_id = e.anomaly_id AND al.acked_at IS NOT NULL) OR "
        "EXISTS (SELECT 1 FROM incident_anomalies ia JOIN incidents i ON i.id = ia.incident_id "
        "WHERE ia.anomaly_id = e.anomaly_id AND i.acknowledged_at IS NOT NULL)) AS is_acked "
        "FROM alert_escalations e JOIN alert_policies p ON p.id = e.policy_id "
        "JOIN alert_channels c ON c.id = p.channel_id JOIN anomalies an ON an.id = e.anomaly_id "
        "WHERE e.done = 0 AND e.due_at <= ? ORDER BY e.due_at LIMIT 100",
        "i", now);
    int n = cJSON_GetArraySize(due);
    if (n <= 0) {
        cJSON_Delete(due);
        return;
    }
    queued q = {.n = 0};
    bool tx = db_begin(db) == 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, due)
    {
        const char *anomaly_id = json_str(e, "anomaly_id");
        const char *policy_id = json_str(e, "policy_id");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_acked"))) {
            enqueue_recipients(a, anomaly_id, policy_id, json_str(e, "channel_id"),
                               json_str(e, "kind"), json_str(e, "url"),
                               json_str(e, "escalate_users"), json_str(e, "escalate_roles"), "",
                               json_str(e, "escalate_addresses"), json_str(e, "severity"),
                               json_str(e, "device_id"), "escalation", 0, 0, &q);
            pthread_mutex_lock(&a->mu);
            a->escalated++;
            pthread_mutex_unlock(&a->mu);
            log_info("alert_escalated", "anomaly=%s policy=%s", anomaly_id, policy_id);
        }
        db_exec(db, NULL,
                "UPDATE alert_escalations SET done = 1 WHERE anomaly_id = ? AND policy_id = ?",
                "ss", anomaly_id, policy_id);
    }
    if (tx && db_commit(db) != 0) db_rollback(db);
    cJSON_Delete(due);
    for (int i = 0; i < q.n; i++)
        alerts_broadcast_alert(a->s, db, q.ids[i]);
    if (q.n) alerts_wake(a);
}
