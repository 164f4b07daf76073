/* Alerts: the outbox (alerts, alert_anomalies, alert_attempts), channels, policies, contacts
 * and escalations. Policies keep their lists as JSON arrays, matched with json_each. */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALERT_COLUMNS                                                                              \
    "a.id, a.anomaly_id, a.user_id, a.method, a.recipient, a.status, a.attempts, a.created_at, "   \
    "a.sent_at, a.due_at, a.updated_at, a.severity, a.kind, a.count, a.device_id, a.channel_id, "  \
    "a.policy_id, a.last_error, a.acked_at, a.acked_by"
#define CHANNEL_COLUMNS                                                                            \
    "id, name, kind, url, config AS config_json, enabled AS enabled_bool, rate_per_min, "          \
    "(secret != '') AS has_secret_bool, created_at, updated_at"
#define POLICY_COLUMNS                                                                             \
    "id, name, enabled AS enabled_bool, channel_id, severities AS severities_json, device_id, "    \
    "device_type, users AS users_json, roles AS roles_json, device_owner AS device_owner_bool, "   \
    "addresses AS addresses_json, group_wait_ms, group_window_ms, escalate_after_ms, "             \
    "escalate_users AS escalate_users_json, escalate_roles AS escalate_roles_json, "               \
    "escalate_addresses AS escalate_addresses_json, created_at, updated_at"
#define SEV_RANK(col)                                                                              \
    "(CASE " col " WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END)"

static cJSON *row(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found, "SELECT " ALERT_COLUMNS " FROM alerts a WHERE a.id = ?",
                           "s", id);
    return sq_found(r, found);
}

static cJSON *get(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " ALERT_COLUMNS ", a.payload AS payload_json FROM alerts a "
                           "LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = ? AND "
                           "(? = '' OR d.owner_id = ?)",
                           "sss", id, owner, owner);
    return sq_found(r, found);
}

static cJSON *list(store *st, const store_alert_filter *f, int64_t *total)
{
    /* an alert of a grouped storm is visible to an owner through its first anomaly's device */
    const char *where =
        "FROM alerts a LEFT JOIN devices d ON d.id = a.device_id WHERE a.created_at >= ? AND "
        "a.created_at < ? AND (? = '' OR a.status = ?) AND (? = '' OR a.method = ?) AND "
        "(? = '' OR a.anomaly_id = ? OR EXISTS (SELECT 1 FROM alert_anomalies aa WHERE "
        "aa.alert_id = a.id AND aa.anomaly_id = ?)) AND (? = '' OR a.device_id = ?) AND "
        "(? = '' OR a.kind = ?) AND (? = '' OR d.owner_id = ?)";
    char sql[1536];
    snprintf(sql, sizeof sql,
             "SELECT " ALERT_COLUMNS " %s ORDER BY a.created_at DESC LIMIT ? OFFSET ?", where);
    cJSON *rows = db_rows_json(SQ(st), sql, "iisssssssssssssii", f->from_ms, f->to_ms, f->status,
                               f->status, f->method, f->method, f->anomaly_id, f->anomaly_id,
                               f->anomaly_id, f->device_id, f->device_id, f->kind, f->kind,
                               f->owner, f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    *total = db_int(SQ(st), 0, sql, "iisssssssssssss", f->from_ms, f->to_ms, f->status, f->status,
                    f->method, f->method, f->anomaly_id, f->anomaly_id, f->anomaly_id, f->device_id,
                    f->device_id, f->kind, f->kind, f->owner, f->owner);
    return rows;
}

static cJSON *attempts(store *st, const char *id)
{
    return db_rows_json(SQ(st),
                        "SELECT attempt, started_at, duration_ms, ok AS ok_bool, code, error "
                        "FROM alert_attempts WHERE alert_id = ? ORDER BY id",
                        "s", id);
}

static cJSON *anomaly_ids(store *st, const char *id)
{
    return db_rows_json(SQ(st), "SELECT anomaly_id FROM alert_anomalies WHERE alert_id = ?", "s",
                        id);
}

static bool exists(store *st, const char *id)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM alerts WHERE id = ?", "s", id) > 0;
}

static int retry(store *st, const char *id, int64_t now_ms, bool *requeued)
{
    int changed = 0;
    int rc = db_exec(SQ(st), &changed,
                     "UPDATE alerts SET status = 'pending', attempts = 0, due_at = ?, "
                     "updated_at = ? WHERE id = ? AND status = 'dead'",
                     "iis", now_ms, now_ms, id);
    *requeued = rc == 0 && changed == 1;
    return sq_rc(rc);
}

static int ack(store *st, const char *id, const char *user_id, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE alerts SET acked_at = COALESCE(acked_at, ?), acked_by = "
                         "COALESCE(acked_by, ?) WHERE id = ?",
                         "iss", now_ms, user_id, id));
}

static int64_t count_by_status(store *st, const char *status)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM alerts WHERE status = ?", "s", status);
}

static int group_find(store *st, const char *group_key, char *id, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), id, cap,
                              "SELECT id FROM alerts WHERE group_key = ? AND status = 'pending' "
                              "AND attempts = 0 AND payload IS NULL ORDER BY due_at DESC LIMIT 1",
                              "s", group_key));
}

static int group_add(store *st, const char *id, const char *severity, int64_t now_ms, bool *grouped)
{
    int changed = 0;
    int rc =
        db_exec(SQ(st), &changed,
                "UPDATE alerts SET count = count + 1, updated_at = ?, severity = CASE "
                "WHEN " SEV_RANK("?") " > " SEV_RANK("severity") " THEN ? ELSE severity END "
                                                                 "WHERE id = ? AND status = "
                                                                 "'pending' AND payload IS NULL",
                "isss", now_ms, severity, severity, id);
    *grouped = rc == 0 && changed == 1;
    return sq_rc(rc);
}

static int64_t group_last_due(store *st, const char *group_key, int64_t after_ms)
{
    return db_int(SQ(st), 0,
                  "SELECT COALESCE(MAX(due_at), 0) FROM alerts WHERE group_key = ? AND due_at > ?",
                  "si", group_key, after_ms);
}

static int create(store *st, const store_alert_new *a, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO alerts(id, anomaly_id, user_id, method, status, attempts, "
                         "created_at, channel_id, policy_id, recipient, device_id, severity, "
                         "kind, group_key, count, due_at, updated_at) "
                         "VALUES(?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                         "sbbsisbsbsssii", a->id, a->anomaly_id, a->user_id, a->method, now_ms,
                         a->channel_id, a->policy_id, a->recipient, a->device_id, a->severity,
                         a->kind, a->group_key, a->due_ms, now_ms));
}

static int link_anomaly(store *st, const char *alert_id, const char *anomaly_id)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT OR IGNORE INTO alert_anomalies(alert_id, anomaly_id) VALUES(?, ?)",
                         "ss", alert_id, anomaly_id));
}

static cJSON *channel_get(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " CHANNEL_COLUMNS " FROM alert_channels WHERE id = ?", "s", id);
    return sq_found(r, found);
}

static cJSON *channels_list(store *st)
{
    return db_rows_json(SQ(st),
                        "SELECT " CHANNEL_COLUMNS " FROM alert_channels ORDER BY created_at", "");
}

static int channel_create(store *st, const char *id, const store_channel *c, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO alert_channels(id, name, kind, url, config, secret, "
                         "enabled, rate_per_min, created_at, updated_at) "
                         "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         "ssssssiiii", id, c->name, c->kind, c->url, c->config ? c->config : "{}",
                         c->sealed_secret ? c->sealed_secret : "", (int64_t)c->enabled,
                         c->rate_per_min, now_ms, now_ms));
}

static int channel_update(store *st, const char *id, const store_channel *c, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE alert_channels SET name = ?, url = ?, config = ?, enabled = ?, "
                         "rate_per_min = ?, updated_at = ?, secret = CASE WHEN ? THEN ? ELSE "
                         "secret END WHERE id = ?",
                         "sssiiiiss", c->name, c->url, c->config ? c->config : "{}",
                         (int64_t)c->enabled, c->rate_per_min, now_ms,
                         (int64_t)(c->sealed_secret != NULL),
                         c->sealed_secret ? c->sealed_secret : "", id));
}

static int delete_where_id(store *st, const char *sql, const char *id, bool *deleted)
{
    int changed = 0;
    int rc = db_exec(SQ(st), &changed, sql, "s", id);
    *deleted = rc == 0 && changed == 1;
    return sq_rc(rc);
}

static int channel_delete(store *st, const char *id, bool *deleted)
{
    return delete_where_id(st, "DELETE FROM alert_channels WHERE id = ?", id, deleted);
}

static cJSON *channel_secrets(store *st)
{
    return db_rows_json(SQ(st), "SELECT id, secret FROM alert_channels WHERE secret != ''", "");
}

static int channel_set_secret(store *st, const char *id, const char *sealed)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE alert_channels SET secret = ? WHERE id = ?", "ss",
                         sealed, id));
}

static cJSON *policy_get(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT " POLICY_COLUMNS " FROM alert_policies WHERE id = ?", "s", id);
    return sq_found(r, found);
}

static cJSON *policy_ids(store *st)
{
    return db_rows_json(SQ(st), "SELECT id FROM alert_policies ORDER BY created_at", "");
}

static int policy_put(store *st, const store_policy *p, int64_t now_ms)
{
    return sq_rc(db_exec(
        SQ(st), NULL,
        "INSERT INTO alert_policies(id, name, enabled, channel_id, severities, device_id, "
        "device_type, users, roles, device_owner, addresses, group_wait_ms, group_window_ms, "
        "escalate_after_ms, escalate_users, escalate_roles, escalate_addresses, created_at, "
        "updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, enabled = excluded.enabled, "
        "channel_id = excluded.channel_id, severities = excluded.severities, device_id = "
        "excluded.device_id, device_type = excluded.device_type, users = excluded.users, roles = "
        "excluded.roles, device_owner = excluded.device_owner, addresses = excluded.addresses, "
        "group_wait_ms = excluded.group_wait_ms, group_window_ms = excluded.group_window_ms, "
        "escalate_after_ms = excluded.escalate_after_ms, escalate_users = "
        "excluded.escalate_users, escalate_roles = excluded.escalate_roles, escalate_addresses = "
        "excluded.escalate_addresses, updated_at = excluded.updated_at",
        "ssissbbssisiiisssii", p->id, p->name, (int64_t)p->enabled, p->channel_id, p->severities,
        p->device_id, p->device_type, p->users, p->roles, (int64_t)p->device_owner, p->addresses,
        p->group_wait_ms, p->group_window_ms, p->escalate_after_ms, p->escalate_users,
        p->escalate_roles, p->escalate_addresses, now_ms, now_ms));
}

static int policy_delete(store *st, const char *id, bool *deleted)
{
    return delete_where_id(st, "DELETE FROM alert_policies WHERE id = ?", id, deleted);
}

static cJSON *policies_matching(store *st, const char *device_id, const char *device_type,
                                const char *severity)
{
    return db_rows_json(
        SQ(st),
        "SELECT p.id, p.channel_id, c.kind, c.url, p.users, p.roles, p.device_owner, "
        "p.addresses, p.group_wait_ms, p.group_window_ms, p.escalate_after_ms "
        "FROM alert_policies p JOIN alert_channels c ON c.id = p.channel_id "
        "WHERE p.enabled = 1 AND c.enabled = 1 AND (p.device_id IS NULL OR p.device_id = ?1) "
        "AND (p.device_type IS NULL OR p.device_type = ?2) AND EXISTS (SELECT 1 FROM "
        "json_each(p.severities) WHERE value = ?3) ORDER BY p.created_at",
        "sss", device_id, device_type, severity);
}

static cJSON *recipients(store *st, const char *users, const char *roles, const char *owner,
                         const char *channel_kind, int severity_rank, const char *addresses)
{
    return db_rows_json(
        SQ(st),
        "WITH u(id) AS (SELECT value FROM json_each(?1) UNION SELECT id FROM users WHERE "
        "role IN (SELECT value FROM json_each(?2)) UNION SELECT ?3 WHERE ?3 != ''), "
        "uu AS (SELECT users.id, users.email FROM users JOIN u ON u.id = users.id WHERE "
        "users.disabled = 0) "
        "SELECT uu.id AS user_id, c.address FROM uu JOIN alert_contacts c ON c.user_id = uu.id "
        "AND c.kind = ?4 AND c.enabled = 1 AND " SEV_RANK(
            "c.min_severity") " <= ?5 "
                              "UNION SELECT uu.id, uu.email FROM uu WHERE ?4 = 'email' AND NOT "
                              "EXISTS (SELECT 1 FROM "
                              "alert_contacts c WHERE c.user_id = uu.id AND c.kind = 'email') "
                              "UNION SELECT NULL, value FROM json_each(?6) WHERE typeof(value) = "
                              "'text'",
        "ssssis", users, roles, owner ? owner : "", channel_kind, (int64_t)severity_rank,
        addresses);
}

static cJSON *contacts_list(store *st, const char *user_id)
{
    return db_rows_json(SQ(st),
                        "SELECT id, kind, address, min_severity, enabled AS enabled_bool, "
                        "created_at FROM alert_contacts WHERE user_id = ? ORDER BY created_at, id",
                        "s", user_id);
}

static int contacts_clear(store *st, const char *user_id)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "DELETE FROM alert_contacts WHERE user_id = ?", "s", user_id));
}

static int contact_add(store *st, const char *id, const char *user_id, const char *kind,
                       const char *address, const char *min_severity, bool enabled, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO alert_contacts(id, user_id, kind, address, min_severity, "
                         "enabled, created_at) VALUES(?, ?, ?, ?, ?, ?, ?)",
                         "sssssii", id, user_id, kind, address, min_severity, (int64_t)enabled,
                         now_ms));
}

static const char *col(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return t ? t : "";
}

static int due(store *st, int64_t now_ms, int64_t limit,
               void (*fn)(void *arg, const store_due_alert *d), void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT a.id, a.method, a.recipient, a.channel_id, c.url, c.config, "
                           "c.secret, c.rate_per_min, c.enabled FROM alerts a LEFT JOIN "
                           "alert_channels c ON c.id = a.channel_id WHERE a.status = 'pending' "
                           "AND a.due_at <= ? ORDER BY a.due_at LIMIT ?",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, limit);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        store_due_alert d = {.id = col(q, 0),
                             .method = col(q, 1),
                             .recipient = col(q, 2),
                             .channel_id = col(q, 3),
                             .url = col(q, 4),
                             .config = col(q, 5),
                             .secret = col(q, 6),
                             .has_channel = sqlite3_column_type(q, 4) != SQLITE_NULL,
                             .rate_per_min = sqlite3_column_int64(q, 7),
                             .enabled = sqlite3_column_int(q, 8) != 0};
        fn(arg, &d);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

static int claim(store *st, const char *id, int64_t now_ms, int *attempt)
{
    int changed = 0;
    *attempt = 0;
    int rc = db_exec(SQ(st), &changed,
                     "UPDATE alerts SET status = 'sending', attempts = attempts + 1, "
                     "updated_at = ? WHERE id = ? AND status = 'pending'",
                     "is", now_ms, id);
    if (rc != 0) return STORE_ERR;
    if (changed == 1)
        *attempt = (int)db_int(SQ(st), 1, "SELECT attempts FROM alerts WHERE id = ?", "s", id);
    return STORE_OK;
}

static char *payload_get(store *st, const char *id)
{
    sqlite3_stmt *q;
    char *out = NULL;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT payload FROM alerts WHERE id = ? AND payload IS NOT NULL", -1,
                           &q, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) out = strdup(col(q, 0));
    sqlite3_finalize(q);
    return out;
}

static int payload_set(store *st, const char *id, const char *payload)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "UPDATE alerts SET payload = ? WHERE id = ?", "ss", payload, id));
}

static cJSON *payload_alert(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT id, anomaly_id, kind, severity, count, created_at, channel_id, "
                           "device_id FROM alerts WHERE id = ?",
                           "s", id);
    return sq_found(r, found);
}

static cJSON *payload_anomaly(store *st, const char *anomaly_id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT a.id, a.metric, a.severity, a.description, a.detected_at, "
                           "a.details AS details_json, a.flapping AS flapping_bool, d.id AS "
                           "device_id, d.name AS device_name, d.type AS device_type, "
                           "d.location AS device_location FROM anomalies a JOIN devices d ON "
                           "d.id = a.device_id WHERE a.id = ?",
                           "s", anomaly_id);
    return sq_found(r, found);
}

static cJSON *payload_anomalies(store *st, const char *id, int64_t limit)
{
    return db_rows_json(
        SQ(st),
        "SELECT a.id, a.device_id, d.name AS device_name, a.metric, a.severity, "
        "a.description, a.detected_at FROM alert_anomalies aa JOIN anomalies a ON a.id = "
        "aa.anomaly_id JOIN devices d ON d.id = a.device_id WHERE aa.alert_id = ? "
        "ORDER BY a.detected_at LIMIT ?",
        "si", id, limit);
}

static int attempt_add(store *st, const char *id, int attempt, int64_t started_ms,
                       int64_t duration_ms, bool ok, long code, const char *error)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO alert_attempts(alert_id, attempt, started_at, duration_ms, "
                         "ok, code, error) VALUES(?, ?, ?, ?, ?, ?, ?)",
                         "siiiiib", id, (int64_t)attempt, started_ms, duration_ms, (int64_t)ok,
                         (int64_t)code, ok ? NULL : error));
}

static int mark_sent(store *st, const char *id, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE alerts SET status = 'sent', sent_at = ?, updated_at = ?, "
                         "last_error = NULL WHERE id = ?",
                         "iis", now_ms, now_ms, id));
}

static int mark_dead(store *st, const char *id, const char *error, int64_t now_ms,
                     bool only_pending)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         only_pending ? "UPDATE alerts SET status = 'dead', last_error = ?, "
                                        "updated_at = ? WHERE id = ? AND status = 'pending'"
                                      : "UPDATE alerts SET status = 'dead', last_error = ?, "
                                        "updated_at = ? WHERE id = ?",
                         "sis", error, now_ms, id));
}

static int mark_retry(store *st, const char *id, int64_t due_ms, const char *error, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE alerts SET status = 'pending', due_at = ?, updated_at = ?, "
                         "last_error = ? WHERE id = ?",
                         "iiss", due_ms, now_ms, error, id));
}

static int postpone(store *st, const char *id, int64_t due_ms)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "UPDATE alerts SET due_at = ? WHERE id = ?", "is", due_ms, id));
}

static int64_t next_due(store *st)
{
    return db_int(SQ(st), INT64_MAX, "SELECT MIN(due_at) FROM alerts WHERE status = 'pending'", "");
}

static int release(store *st, const char *id, int64_t now_ms, int *count)
{
    int changed = 0;
    int rc = id ? db_exec(SQ(st), &changed,
                          "UPDATE alerts SET status = 'pending', due_at = ? WHERE id = ? AND "
                          "status = 'sending'",
                          "is", now_ms, id)
                : db_exec(SQ(st), &changed,
                          "UPDATE alerts SET status = 'pending', due_at = ? WHERE status = "
                          "'sending'",
                          "i", now_ms);
    if (count) *count = changed;
    return sq_rc(rc);
}

static int escalation_add(store *st, const char *anomaly_id, const char *policy_id, int64_t due_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT OR IGNORE INTO alert_escalations(anomaly_id, policy_id, due_at) "
                         "VALUES(?, ?, ?)",
                         "ssi", anomaly_id, policy_id, due_ms));
}

static cJSON *escalations_due(store *st, int64_t now_ms, int64_t limit)
{
    return db_rows_json(
        SQ(st),
        "SELECT e.anomaly_id, e.policy_id, p.channel_id, c.kind, c.url, p.escalate_users, "
        "p.escalate_roles, p.escalate_addresses, an.device_id, an.severity, "
        "(an.resolved = 1 OR EXISTS (SELECT 1 FROM alert_anomalies aa JOIN alerts al ON "
        "al.id = aa.alert_id WHERE aa.anomaly_id = e.anomaly_id AND al.acked_at IS NOT NULL) OR "
        "EXISTS (SELECT 1 FROM incident_anomalies ia JOIN incidents i ON i.id = ia.incident_id "
        "WHERE ia.anomaly_id = e.anomaly_id AND i.acknowledged_at IS NOT NULL)) AS is_acked "
        "FROM alert_escalations e JOIN alert_policies p ON p.id = e.policy_id "
        "JOIN alert_channels c ON c.id = p.channel_id JOIN anomalies an ON an.id = e.anomaly_id "
        "WHERE e.done = 0 AND e.due_at <= ? ORDER BY e.due_at LIMIT ?",
        "ii", now_ms, limit);
}

static int escalation_done(store *st, const char *anomaly_id, const char *policy_id)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE alert_escalations SET done = 1 WHERE anomaly_id = ? AND "
                         "policy_id = ?",
                         "ss", anomaly_id, policy_id));
}

const store_alerts_ops sqlite_alerts_ops = {
    .row = row,
    .get = get,
    .list = list,
    .attempts = attempts,
    .anomaly_ids = anomaly_ids,
    .exists = exists,
    .retry = retry,
    .ack = ack,
    .count_by_status = count_by_status,
    .group_find = group_find,
    .group_add = group_add,
    .group_last_due = group_last_due,
    .create = create,
    .link_anomaly = link_anomaly,
    .channel_get = channel_get,
    .channels_list = channels_list,
    .channel_create = channel_create,
    .channel_update = channel_update,
    .channel_delete = channel_delete,
    .channel_secrets = channel_secrets,
    .channel_set_secret = channel_set_secret,
    .policy_get = policy_get,
    .policy_ids = policy_ids,
    .policy_put = policy_put,
    .policy_delete = policy_delete,
    .policies_matching = policies_matching,
    .recipients = recipients,
    .contacts_list = contacts_list,
    .contacts_clear = contacts_clear,
    .contact_add = contact_add,
    .due = due,
    .claim = claim,
    .payload_get = payload_get,
    .payload_set = payload_set,
    .payload_alert = payload_alert,
    .payload_anomaly = payload_anomaly,
    .payload_anomalies = payload_anomalies,
    .attempt_add = attempt_add,
    .mark_sent = mark_sent,
    .mark_dead = mark_dead,
    .mark_retry = mark_retry,
    .postpone = postpone,
    .next_due = next_due,
    .release = release,
    .escalation_add = escalation_add,
    .escalations_due = escalations_due,
    .escalation_done = escalation_done,
};
