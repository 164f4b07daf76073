/* Alerts: the outbox (alerts, alert_anomalies, alert_attempts), channels, policies, contacts
 * and escalations. Policies keep their lists as JSON arrays (text), read as jsonb. Claims take
 * the row with FOR UPDATE SKIP LOCKED: with several nodes running the outbox worker, exactly
 * one sends each alert and none waits for another's lock. */
#include "store/pg/pg_int.h"

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
    cJSON *r = pg_row_json(PG(st), &found, "SELECT " ALERT_COLUMNS " FROM alerts a WHERE a.id = $1",
                           "s", id);
    return pq_found(r, found);
}

static cJSON *get(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " ALERT_COLUMNS ", a.payload AS payload_json FROM alerts a "
                           "LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = $1 AND "
                           "($2 = '' OR d.owner_id = $3)",
                           "sss", id, owner, owner);
    return pq_found(r, found);
}

static cJSON *list(store *st, const store_alert_filter *f, int64_t *total)
{
    /* an alert of a grouped storm is visible to an owner through its first anomaly's device */
    const char *where =
        "FROM alerts a LEFT JOIN devices d ON d.id = a.device_id WHERE a.created_at >= $1 AND "
        "a.created_at < $2 AND ($3 = '' OR a.status = $4) AND ($5 = '' OR a.method = $6) AND "
        "($7 = '' OR a.anomaly_id = $8 OR EXISTS (SELECT 1 FROM alert_anomalies aa WHERE "
        "aa.alert_id = a.id AND aa.anomaly_id = $9)) AND ($10 = '' OR a.device_id = $11) AND "
        "($12 = '' OR a.kind = $13) AND ($14 = '' OR d.owner_id = $15)";
    char sql[1536];
    snprintf(sql, sizeof sql,
             "SELECT " ALERT_COLUMNS " %s ORDER BY a.created_at DESC LIMIT $16 OFFSET $17", where);
    cJSON *rows = pg_rows_json(PG(st), sql, "iisssssssssssssii", f->from_ms, f->to_ms, f->status,
                               f->status, f->method, f->method, f->anomaly_id, f->anomaly_id,
                               f->anomaly_id, f->device_id, f->device_id, f->kind, f->kind,
                               f->owner, f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    *total = pg_intf(PG(st), 0, sql, "iisssssssssssss", f->from_ms, f->to_ms, f->status, f->status,
                     f->method, f->method, f->anomaly_id, f->anomaly_id, f->anomaly_id,
                     f->device_id, f->device_id, f->kind, f->kind, f->owner, f->owner);
    return rows;
}

static cJSON *attempts(store *st, const char *id)
{
    return pg_rows_json(PG(st),
                        "SELECT attempt, started_at, duration_ms, ok AS ok_bool, code, error "
                        "FROM alert_attempts WHERE alert_id = $1 ORDER BY id",
                        "s", id);
}

static cJSON *anomaly_ids(store *st, const char *id)
{
    return pg_rows_json(PG(st), "SELECT anomaly_id FROM alert_anomalies WHERE alert_id = $1", "s",
                        id);
}

static bool exists(store *st, const char *id)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM alerts WHERE id = $1", "s", id) > 0;
}

static int retry(store *st, const char *id, int64_t now_ms, bool *requeued)
{
    int64_t changed = 0;
    int rc = pg_execf(PG(st), &changed,
                      "UPDATE alerts SET status = 'pending', attempts = 0, due_at = $1, "
                      "updated_at = $2 WHERE id = $3 AND status = 'dead'",
                      "iis", now_ms, now_ms, id);
    *requeued = rc == 0 && changed == 1;
    return pq_rc(rc);
}

static int ack(store *st, const char *id, const char *user_id, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE alerts SET acked_at = COALESCE(acked_at, $1), acked_by = "
                          "COALESCE(acked_by, $2) WHERE id = $3",
                          "iss", now_ms, user_id, id));
}

static int64_t count_by_status(store *st, const char *status)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM alerts WHERE status = $1", "s", status);
}

static int group_find(store *st, const char *group_key, char *id, size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), id, cap,
                               "SELECT id FROM alerts WHERE group_key = $1 AND status = 'pending' "
                               "AND attempts = 0 AND payload IS NULL ORDER BY due_at DESC LIMIT 1",
                               "s", group_key));
}

static int group_add(store *st, const char *id, const char *severity, int64_t now_ms, bool *grouped)
{
    int64_t changed = 0;
    int rc =
        pg_execf(PG(st), &changed,
                 "UPDATE alerts SET count = count + 1, updated_at = $1, severity = CASE "
                 "WHEN " SEV_RANK("$2") " > " SEV_RANK("severity") " THEN $3 ELSE severity END "
                                                                   "WHERE id = $4 AND status = "
                                                                   "'pending' AND payload IS NULL",
                 "isss", now_ms, severity, severity, id);
    *grouped = rc == 0 && changed == 1;
    return pq_rc(rc);
}

static int64_t group_last_due(store *st, const char *group_key, int64_t after_ms)
{
    return pg_intf(
        PG(st), 0,
        "SELECT COALESCE(MAX(due_at), 0) FROM alerts WHERE group_key = $1 AND due_at > $2", "si",
        group_key, after_ms);
}

static int create(store *st, const store_alert_new *a, int64_t now_ms)
{
    return pq_rc(pg_execf(
        PG(st), NULL,
        "INSERT INTO alerts(id, anomaly_id, user_id, method, status, attempts, "
        "created_at, channel_id, policy_id, recipient, device_id, severity, "
        "kind, group_key, count, due_at, updated_at) "
        "VALUES($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14)",
        "sbbsisbsbsssii", a->id, a->anomaly_id, a->user_id, a->method, now_ms, a->channel_id,
        a->policy_id, a->recipient, a->device_id, a->severity, a->kind, a->group_key, a->due_ms,
        now_ms));
}

static int link_anomaly(store *st, const char *alert_id, const char *anomaly_id)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO alert_anomalies(alert_id, anomaly_id) VALUES($1, $2) "
                          "ON CONFLICT DO NOTHING",
                          "ss", alert_id, anomaly_id));
}

static cJSON *channel_get(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " CHANNEL_COLUMNS " FROM alert_channels WHERE id = $1", "s", id);
    return pq_found(r, found);
}

static cJSON *channels_list(store *st)
{
    return pg_rows_json(PG(st),
                        "SELECT " CHANNEL_COLUMNS " FROM alert_channels ORDER BY created_at", "");
}

static int channel_create(store *st, const char *id, const store_channel *c, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO alert_channels(id, name, kind, url, config, secret, "
                          "enabled, rate_per_min, created_at, updated_at) "
                          "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                          "ssssssiiii", id, c->name, c->kind, c->url, c->config ? c->config : "{}",
                          c->sealed_secret ? c->sealed_secret : "", (int64_t)c->enabled,
                          c->rate_per_min, now_ms, now_ms));
}

static int channel_update(store *st, const char *id, const store_channel *c, int64_t now_ms)
{
    return pq_rc(pg_execf(
        PG(st), NULL,
        "UPDATE alert_channels SET name = $1, url = $2, config = $3, enabled = $4, "
        "rate_per_min = $5, updated_at = $6, secret = CASE WHEN $7::bigint <> 0 THEN $8 ELSE "
        "secret END WHERE id = $9",
        "sssiiiiss", c->name, c->url, c->config ? c->config : "{}", (int64_t)c->enabled,
        c->rate_per_min, now_ms, (int64_t)(c->sealed_secret != NULL),
        c->sealed_secret ? c->sealed_secret : "", id));
}

static int delete_where_id(store *st, const char *sql, const char *id, bool *deleted)
{
    int64_t changed = 0;
    int rc = pg_execf(PG(st), &changed, sql, "s", id);
    *deleted = rc == 0 && changed == 1;
    return pq_rc(rc);
}

static int channel_delete(store *st, const char *id, bool *deleted)
{
    return delete_where_id(st, "DELETE FROM alert_channels WHERE id = $1", id, deleted);
}

static cJSON *channel_secrets(store *st)
{
    return pg_rows_json(PG(st), "SELECT id, secret FROM alert_channels WHERE secret != ''", "");
}

static int channel_set_secret(store *st, const char *id, const char *sealed)
{
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE alert_channels SET secret = $1 WHERE id = $2", "ss",
                          sealed, id));
}

static cJSON *policy_get(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT " POLICY_COLUMNS " FROM alert_policies WHERE id = $1", "s", id);
    return pq_found(r, found);
}

static cJSON *policy_ids(store *st)
{
    return pg_rows_json(PG(st), "SELECT id FROM alert_policies ORDER BY created_at", "");
}

static int policy_put(store *st, const store_policy *p, int64_t now_ms)
{
    return pq_rc(pg_execf(
        PG(st), NULL,
        "INSERT INTO alert_policies(id, name, enabled, channel_id, severities, device_id, "
        "device_type, users, roles, device_owner, addresses, group_wait_ms, group_window_ms, "
        "escalate_after_ms, escalate_users, escalate_roles, escalate_addresses, created_at, "
        "updated_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
        "$17, $18, $19) "
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
    return delete_where_id(st, "DELETE FROM alert_policies WHERE id = $1", id, deleted);
}

static cJSON *policies_matching(store *st, const char *device_id, const char *device_type,
                                const char *severity)
{
    return pg_rows_json(
        PG(st),
        "SELECT p.id, p.channel_id, c.kind, c.url, p.users, p.roles, p.device_owner, "
        "p.addresses, p.group_wait_ms, p.group_window_ms, p.escalate_after_ms "
        "FROM alert_policies p JOIN alert_channels c ON c.id = p.channel_id "
        "WHERE p.enabled = 1 AND c.enabled = 1 AND (p.device_id IS NULL OR p.device_id = $1) "
        "AND (p.device_type IS NULL OR p.device_type = $2) AND "
        "jsonb_exists(iotad_jsonb(p.severities), $3) ORDER BY p.created_at",
        "sss", device_id, device_type, severity);
}

static cJSON *recipients(store *st, const char *users, const char *roles, const char *owner,
                         const char *channel_kind, int severity_rank, const char *addresses)
{
    return pg_rows_json(
        PG(st),
        "WITH u(id) AS (SELECT jsonb_array_elements_text(COALESCE(iotad_jsonb($1), '[]')) "
        "UNION SELECT id FROM users WHERE role IN (SELECT "
        "jsonb_array_elements_text(COALESCE(iotad_jsonb($2), '[]'))) UNION SELECT $3::text "
        "WHERE $3::text <> ''), "
        "uu AS (SELECT users.id, users.email FROM users JOIN u ON u.id = users.id WHERE "
        "users.disabled = 0) "
        "SELECT uu.id AS user_id, c.address FROM uu JOIN alert_contacts c ON c.user_id = uu.id "
        "AND c.kind = $4 AND c.enabled = 1 AND " SEV_RANK(
            "c.min_severity") " <= $5::int "
                              "UNION SELECT uu.id, uu.email FROM uu WHERE $4 = 'email' AND NOT "
                              "EXISTS (SELECT 1 FROM "
                              "alert_contacts c WHERE c.user_id = uu.id AND c.kind = 'email') "
                              "UNION SELECT NULL, e.value #>> '{}' FROM "
                              "jsonb_array_elements(COALESCE(iotad_jsonb($6), '[]')) e(value) "
                              "WHERE jsonb_typeof(e.value) = 'string'",
        "ssssis", users, roles, owner ? owner : "", channel_kind, (int64_t)severity_rank,
        addresses);
}

static cJSON *contacts_list(store *st, const char *user_id)
{
    return pg_rows_json(PG(st),
                        "SELECT id, kind, address, min_severity, enabled AS enabled_bool, "
                        "created_at FROM alert_contacts WHERE user_id = $1 ORDER BY created_at, id",
                        "s", user_id);
}

static int contacts_clear(store *st, const char *user_id)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "DELETE FROM alert_contacts WHERE user_id = $1", "s", user_id));
}

static int contact_add(store *st, const char *id, const char *user_id, const char *kind,
                       const char *address, const char *min_severity, bool enabled, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO alert_contacts(id, user_id, kind, address, min_severity, "
                          "enabled, created_at) VALUES($1, $2, $3, $4, $5, $6, $7)",
                          "sssssii", id, user_id, kind, address, min_severity, (int64_t)enabled,
                          now_ms));
}

static int due(store *st, int64_t now_ms, int64_t limit,
               void (*fn)(void *arg, const store_due_alert *d), void *arg)
{
    PGresult *q = NULL;
    char now[24], lim[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    const char *p[] = {now, lim};
    q = pg_query(PG(st),
                 "SELECT a.id, a.method, a.recipient, COALESCE(a.channel_id, ''), c.url, "
                 "COALESCE(c.config, ''), COALESCE(c.secret, ''), COALESCE(c.rate_per_min, 0), "
                 "COALESCE(c.enabled, 0) FROM alerts a LEFT JOIN alert_channels c ON "
                 "c.id = a.channel_id WHERE a.status = 'pending' AND a.due_at <= $1 "
                 "ORDER BY a.due_at LIMIT $2",
                 2, p);
    if (!q) return STORE_ERR;
    for (int i = 0; i < PQntuples(q); i++) {
        store_due_alert d = {.id = PQgetvalue(q, i, 0),
                             .method = PQgetvalue(q, i, 1),
                             .recipient = PQgetvalue(q, i, 2),
                             .channel_id = PQgetvalue(q, i, 3),
                             .url = PQgetvalue(q, i, 4), /* "" when NULL */
                             .config = PQgetvalue(q, i, 5),
                             .secret = PQgetvalue(q, i, 6),
                             .has_channel = !PQgetisnull(q, i, 4),
                             .rate_per_min = strtoll(PQgetvalue(q, i, 7), NULL, 10),
                             .enabled = strtoll(PQgetvalue(q, i, 8), NULL, 10) != 0};
        fn(arg, &d);
    }
    PQclear(q);
    return STORE_OK;
}

static int claim(store *st, const char *id, int64_t now_ms, int *attempt)
{
    *attempt = 0;
    /* a row another node holds locked is skipped: that node is claiming it */
    int64_t n = pg_intf(PG(st), -1,
                        "UPDATE alerts SET status = 'sending', attempts = attempts + 1, "
                        "updated_at = $1 WHERE id = (SELECT id FROM alerts WHERE id = $2 AND "
                        "status = 'pending' FOR UPDATE SKIP LOCKED) RETURNING attempts",
                        "is", now_ms, id);
    if (n < 0) return pg_error(PG(st))[0] ? STORE_ERR : STORE_OK; /* no row: not pending */
    *attempt = (int)n;
    return STORE_OK;
}

static char *payload_get(store *st, const char *id)
{
    const char *p[] = {id};
    PGresult *q =
        pg_query(PG(st), "SELECT payload FROM alerts WHERE id = $1 AND payload IS NOT NULL", 1, p);
    if (!q) return NULL;
    char *out = PQntuples(q) > 0 ? strdup(PQgetvalue(q, 0, 0)) : NULL;
    PQclear(q);
    return out;
}

static int payload_set(store *st, const char *id, const char *payload)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "UPDATE alerts SET payload = $1 WHERE id = $2", "ss", payload, id));
}

static cJSON *payload_alert(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT id, anomaly_id, kind, severity, count, created_at, channel_id, "
                           "device_id FROM alerts WHERE id = $1",
                           "s", id);
    return pq_found(r, found);
}

static cJSON *payload_anomaly(store *st, const char *anomaly_id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT a.id, a.metric, a.severity, a.description, a.detected_at, "
                           "a.details AS details_json, a.flapping AS flapping_bool, d.id AS "
                           "device_id, d.name AS device_name, d.type AS device_type, "
                           "d.location AS device_location FROM anomalies a JOIN devices d ON "
                           "d.id = a.device_id WHERE a.id = $1",
                           "s", anomaly_id);
    return pq_found(r, found);
}

static cJSON *payload_anomalies(store *st, const char *id, int64_t limit)
{
    return pg_rows_json(
        PG(st),
        "SELECT a.id, a.device_id, d.name AS device_name, a.metric, a.severity, "
        "a.description, a.detected_at FROM alert_anomalies aa JOIN anomalies a ON a.id = "
        "aa.anomaly_id JOIN devices d ON d.id = a.device_id WHERE aa.alert_id = $1 "
        "ORDER BY a.detected_at LIMIT $2",
        "si", id, limit);
}

static int attempt_add(store *st, const char *id, int attempt, int64_t started_ms,
                       int64_t duration_ms, bool ok, long code, const char *error)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO alert_attempts(alert_id, attempt, started_at, duration_ms, "
                          "ok, code, error) VALUES($1, $2, $3, $4, $5, $6, $7)",
                          "siiiiib", id, (int64_t)attempt, started_ms, duration_ms, (int64_t)ok,
                          (int64_t)code, ok ? NULL : error));
}

static int mark_sent(store *st, const char *id, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE alerts SET status = 'sent', sent_at = $1, updated_at = $2, "
                          "last_error = NULL WHERE id = $3",
                          "iis", now_ms, now_ms, id));
}

static int mark_dead(store *st, const char *id, const char *error, int64_t now_ms,
                     bool only_pending)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          only_pending ? "UPDATE alerts SET status = 'dead', last_error = $1, "
                                         "updated_at = $2 WHERE id = $3 AND status = 'pending'"
                                       : "UPDATE alerts SET status = 'dead', last_error = $1, "
                                         "updated_at = $2 WHERE id = $3",
                          "sis", error, now_ms, id));
}

static int mark_retry(store *st, const char *id, int64_t due_ms, const char *error, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE alerts SET status = 'pending', due_at = $1, updated_at = $2, "
                          "last_error = $3 WHERE id = $4",
                          "iiss", due_ms, now_ms, error, id));
}

static int postpone(store *st, const char *id, int64_t due_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "UPDATE alerts SET due_at = $1 WHERE id = $2", "is", due_ms, id));
}

static int64_t next_due(store *st)
{
    return pg_intf(PG(st), INT64_MAX, "SELECT MIN(due_at) FROM alerts WHERE status = 'pending'",
                   "");
}

static int release(store *st, const char *id, int64_t now_ms, int *count)
{
    int64_t changed = 0;
    int rc = id ? pg_execf(PG(st), &changed,
                           "UPDATE alerts SET status = 'pending', due_at = $1 WHERE id = $2 AND "
                           "status = 'sending'",
                           "is", now_ms, id)
                : pg_execf(PG(st), &changed,
                           "UPDATE alerts SET status = 'pending', due_at = $1 WHERE status = "
                           "'sending'",
                           "i", now_ms);
    if (count) *count = (int)changed;
    return pq_rc(rc);
}

static int escalation_add(store *st, const char *anomaly_id, const char *policy_id, int64_t due_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO alert_escalations(anomaly_id, policy_id, due_at) "
                          "VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                          "ssi", anomaly_id, policy_id, due_ms));
}

static cJSON *escalations_due(store *st, int64_t now_ms, int64_t limit)
{
    return pg_rows_json(
        PG(st),
        "SELECT e.anomaly_id, e.policy_id, p.channel_id, c.kind, c.url, p.escalate_users, "
        "p.escalate_roles, p.escalate_addresses, an.device_id, an.severity, "
        "(an.resolved = 1 OR EXISTS (SELECT 1 FROM alert_anomalies aa JOIN alerts al ON "
        "al.id = aa.alert_id WHERE aa.anomaly_id = e.anomaly_id AND al.acked_at IS NOT NULL) OR "
        "EXISTS (SELECT 1 FROM incident_anomalies ia JOIN incidents i ON i.id = ia.incident_id "
        "WHERE ia.anomaly_id = e.anomaly_id AND i.acknowledged_at IS NOT NULL)) AS is_acked "
        "FROM alert_escalations e JOIN alert_policies p ON p.id = e.policy_id "
        "JOIN alert_channels c ON c.id = p.channel_id JOIN anomalies an ON an.id = e.anomaly_id "
        "WHERE e.done = 0 AND e.due_at <= $1 ORDER BY e.due_at LIMIT $2",
        "ii", now_ms, limit);
}

static int escalation_done(store *st, const char *anomaly_id, const char *policy_id)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE alert_escalations SET done = 1 WHERE anomaly_id = $1 AND "
                          "policy_id = $2",
                          "ss", anomaly_id, policy_id));
}

const store_alerts_ops pg_alerts_ops = {
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
