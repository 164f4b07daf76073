/* The report builders' aggregates (report/report_*.c), as a catalog of named queries over a
 * scope. Statements use named parameters, bound when present: :from :to (range), :dtype
 * :dgroup :dev :owner (device filter), :unfiltered (1 when no device filter is set), :bucket
 * (chart bucket in ms), :flood, and a query's own :text, :a, :b. */
#include "store/sqlite/sqlite_int.h"

#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* the devices a report covers */
#define DEVSET                                                                                     \
    "(SELECT id FROM devices WHERE (:dtype = '' OR type = :dtype) AND (:dgroup = '' OR "           \
    "json_extract(attributes, '$.group') = :dgroup) AND (:dev = '' OR id = :dev) AND "             \
    "(:owner = '' OR owner_id = :owner))"
#define ANOMALY_RANGE "a.detected_at >= :from AND a.detected_at < :to AND a.device_id IN " DEVSET
#define EVENT_RANGE                                                                                \
    "e.category = 'security' AND e.ts >= :from AND e.ts < :to AND (e.device_id IN " DEVSET         \
    " OR (e.device_id IS NULL AND :unfiltered))"
/* rows of incidents / alerts count for a filtered report through their device or anomaly */
#define LINKED(alias)                                                                              \
    "(:unfiltered OR " alias ".device_id IN " DEVSET " OR " alias ".anomaly_id IN (SELECT id "     \
    "FROM anomalies WHERE device_id IN " DEVSET "))"
#define INCIDENT_RANGE "i.created_at >= :from AND i.created_at < :to AND " LINKED("i")
#define ALERT_RANGE "al.created_at >= :from AND al.created_at < :to AND " LINKED("al")
#define ISO(expr) "strftime('%Y-%m-%dT%H:%M:%SZ', " expr ", 'unixepoch')"

/* audit rows of the range whose action matches cond, newest last, with the e-mails of users */
#define AUDIT_ROWS(cond)                                                                           \
    "SELECT l.seq, " ISO("l.ts / 1000") " AS time, l.action, COALESCE(u.email, l.actor) AS "       \
                                        "actor, COALESCE(t.email, l.target) AS target, l.detail, " \
                                        "COALESCE(l.peer, '') AS peer FROM "                       \
                                        "audit_log l LEFT JOIN users u ON u.id = l.actor LEFT "    \
                                        "JOIN users t ON t.id = l.target WHERE "                   \
                                        "l.ts >= :from AND l.ts < :to AND (" cond                  \
                                        ") ORDER BY l.seq LIMIT 1000"
#define AUDIT_COUNT(cond)                                                                          \
    "SELECT COUNT(*) FROM audit_log l WHERE l.ts >= :from AND l.ts < :to AND (" cond ")"
#define USERS                                                                                      \
    "l.action LIKE 'user.%' OR l.action IN ('invite.create', 'auth.signup', "                      \
    "'auth.password_changed')"
#define LOGINS                                                                                     \
    "l.action LIKE 'auth.login%' OR l.action = 'auth.logout' OR "                                  \
    "l.action = 'auth.password_change_failed'"
#define KEYS "l.action LIKE 'apikey.%'"
#define CONFIG                                                                                     \
    "l.action LIKE 'settings.%' OR l.action LIKE 'rule.%' OR l.action LIKE 'device.%' OR "         \
    "l.action LIKE 'report_schedule.%' OR l.action LIKE 'channel.%' OR l.action LIKE 'policy.%'"
#define EXPORTS "l.action LIKE 'export.%' OR l.action LIKE 'report.%'"
#define SECURITY_KINDS                                                                             \
    "('bad_payload','auth_failure','revoked_key','unknown_device','acl_violation')"

typedef struct {
    const char *name, *sql;
} query;

static const query catalog[] = {
    /* the device walk of every report */
    {"report.devices", "SELECT COUNT(*) FROM " DEVSET},
    {"report.next_device",
     "SELECT id FROM devices WHERE id IN " DEVSET " AND id > :text ORDER BY id LIMIT 1"},
    {"device.name", "SELECT name FROM devices WHERE id = :text"},
    {"device.created_at", "SELECT created_at FROM devices WHERE id = :text"},
    /* the device's status before :a, and its changes in [:a, :b) */
    {"device.status_before", "SELECT kind FROM device_events WHERE device_id = :text AND "
                             "category = 'status' AND ts < :a ORDER BY ts DESC, id DESC LIMIT 1"},
    {"device.status_changes", "SELECT ts, kind FROM device_events WHERE device_id = :text AND "
                              "category = 'status' AND ts >= :a AND ts < :b ORDER BY ts, id"},

    /* compliance */
    {"compliance.count.all", AUDIT_COUNT("1")},
    {"compliance.count.logins", AUDIT_COUNT("l.action = 'auth.login'")},
    {"compliance.count.login_failures", AUDIT_COUNT("l.action = 'auth.login_failed'")},
    {"compliance.count.login_lockouts", AUDIT_COUNT("l.action = 'auth.login_locked'")},
    {"compliance.count.users_created",
     AUDIT_COUNT("l.action IN ('user.create', 'auth.signup', 'user.bootstrap_admin')")},
    {"compliance.count.role_changes", AUDIT_COUNT("l.action = 'user.role_change'")},
    {"compliance.count.users_deleted", AUDIT_COUNT("l.action = 'user.delete'")},
    {"compliance.count.api_keys_created", AUDIT_COUNT("l.action = 'apikey.create'")},
    {"compliance.count.api_keys_revoked", AUDIT_COUNT("l.action = 'apikey.revoke'")},
    {"compliance.count.api_keys_rotated", AUDIT_COUNT("l.action = 'apikey.rotate'")},
    {"compliance.count.configuration_changes", AUDIT_COUNT(CONFIG)},
    {"compliance.count.data_exports", AUDIT_COUNT("l.action = 'export.create'")},
    {"compliance.count.reports_generated", AUDIT_COUNT("l.action = 'report.generate'")},
    {"compliance.actions", "SELECT l.action, COUNT(*) AS entries FROM audit_log l WHERE l.ts >= "
                           ":from AND l.ts < :to GROUP BY l.action ORDER BY entries DESC, "
                           "l.action"},
    {"compliance.logins_by_account",
     "SELECT COALESCE(u.email, CASE WHEN l.detail LIKE 'email=%' THEN substr(l.detail, 7) ELSE "
     "l.actor END) AS account, SUM(l.action = 'auth.login') AS logins, "
     "SUM(l.action = 'auth.login_failed') AS failures, SUM(l.action = 'auth.login_locked') AS "
     "lockouts, COUNT(DISTINCT l.peer) AS addresses FROM audit_log l LEFT JOIN users u ON u.id = "
     "l.target AND l.action = 'auth.login' WHERE l.ts >= :from AND l.ts < :to AND l.action IN "
     "('auth.login', 'auth.login_failed', 'auth.login_locked') GROUP BY 1 ORDER BY failures "
     "DESC, logins DESC LIMIT 50"},
    {"compliance.rows.user_changes", AUDIT_ROWS(USERS)},
    {"compliance.rows.logins", AUDIT_ROWS(LOGINS)},
    {"compliance.rows.api_keys", AUDIT_ROWS(KEYS)},
    {"compliance.rows.configuration_changes", AUDIT_ROWS(CONFIG)},
    {"compliance.rows.data_exports", AUDIT_ROWS(EXPORTS)},
    {"audit.count", "SELECT COUNT(*) FROM audit_log"},
    {"audit.head", "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"},
    {"audit.row", "SELECT ts, actor, action, target, detail, COALESCE(peer, '') AS peer FROM "
                  "audit_log WHERE seq = :a"},

    /* performance */
    {"performance.rejected_by_reason",
     "WITH k(reason, kind) AS (VALUES('bad payload', 'bad_payload'), "
     "('authentication', 'auth_failure'), ('revoked key', 'revoked_key'), "
     "('unknown device', 'unknown_device'), ('ACL violation', 'acl_violation')) "
     "SELECT k.reason, (SELECT COUNT(*) FROM device_events e WHERE e.category = "
     "'security' AND e.kind = k.kind AND e.ts >= :from AND e.ts < :to AND "
     "(e.device_id IN " DEVSET " OR (e.device_id IS NULL AND :unfiltered))) AS messages FROM k"},
    {"performance.rejected_total",
     "SELECT COUNT(*) FROM device_events e WHERE e.category = 'security' AND e.kind "
     "IN " SECURITY_KINDS " AND e.ts >= :from AND e.ts < :to AND (e.device_id IN " DEVSET
     " OR (e.device_id IS NULL AND :unfiltered))"},
    {"performance.precision",
     "WITH a AS (SELECT CASE WHEN metric LIKE 'sys.%' THEN 'security' WHEN rule_id IS NOT "
     "NULL THEN 'rule' ELSE 'detectors' END AS source, verdict FROM anomalies WHERE "
     "detected_at >= :from AND detected_at < :to AND device_id IN " DEVSET "), "
     "g AS (SELECT source, COUNT(*) AS anomalies, COALESCE(SUM(verdict = 'confirmed'), 0) AS "
     "confirmed, COALESCE(SUM(verdict = 'false_positive'), 0) AS false_positive FROM a "
     "GROUP BY source UNION ALL "
     "SELECT 'all', COUNT(*), COALESCE(SUM(verdict = 'confirmed'), 0), "
     "COALESCE(SUM(verdict = 'false_positive'), 0) FROM a) "
     "SELECT source, anomalies, confirmed, false_positive, anomalies - confirmed - "
     "false_positive AS unreviewed, CASE WHEN confirmed + false_positive > 0 THEN "
     "ROUND(1.0 * confirmed / (confirmed + false_positive), 4) END AS precision FROM g"},
    /* anomalies of the range with the verdict :text */
    {"performance.verdicts", "SELECT COUNT(*) FROM anomalies WHERE detected_at >= :from AND "
                             "detected_at < :to AND device_id IN " DEVSET " AND verdict = :text"},

    /* security: anomalies */
    {"security.anomalies", "SELECT COUNT(*) FROM anomalies a WHERE " ANOMALY_RANGE},
    {"security.anomalies_of_severity",
     "SELECT COUNT(*) FROM anomalies a WHERE " ANOMALY_RANGE " AND a.severity = :text"},
    {"security.anomalies_by_severity",
     "WITH s(severity, o) AS (VALUES('critical', 0), ('warning', 1), ('info', 2)) "
     "SELECT s.severity, (SELECT COUNT(*) FROM anomalies a WHERE " ANOMALY_RANGE
     " AND a.severity = s.severity) AS anomalies, (SELECT COUNT(*) FROM anomalies a "
     "WHERE " ANOMALY_RANGE
     " AND a.severity = s.severity AND a.resolved = 0) AS open FROM s ORDER BY s.o"},
    {"security.anomalies_by_device",
     "SELECT a.device_id, d.name AS device_name, COUNT(*) AS anomalies, "
     "SUM(a.severity = 'critical') AS critical, SUM(a.severity = 'warning') AS warning, "
     "SUM(a.severity = 'info') AS info FROM anomalies a JOIN devices d ON d.id = "
     "a.device_id WHERE " ANOMALY_RANGE " GROUP BY a.device_id ORDER BY anomalies DESC, "
     "a.device_id LIMIT 20"},
    {"security.anomalies_by_type",
     "SELECT CASE WHEN a.metric LIKE 'sys.%' THEN 'security' WHEN a.rule_id IS NOT NULL "
     "THEN 'rule' ELSE 'detectors' END AS type, COALESCE(a.metric, '') AS metric, "
     "COUNT(*) AS anomalies FROM anomalies a WHERE " ANOMALY_RANGE " GROUP BY 1, 2 ORDER BY "
     "anomalies DESC, type, metric LIMIT 30"},
    {"security.anomalies_over_time",
     "SELECT " ISO("(a.detected_at / :bucket) * :bucket / 1000") " AS time, COUNT(*) AS "
                                                                 "anomalies, SUM(a.severity = "
                                                                 "'critical') AS critical FROM "
                                                                 "anomalies a WHERE " ANOMALY_RANGE
                                                                 " GROUP BY a.detected_at / "
                                                                 ":bucket ORDER BY 1"},
    {"security.flood_anomalies",
     "SELECT COUNT(*) FROM anomalies a WHERE " ANOMALY_RANGE " AND a.metric = 'sys.connects'"},
    /* security: incidents (times in s) */
    {"security.incidents_opened", "SELECT COUNT(*) FROM incidents i WHERE " INCIDENT_RANGE},
    {"security.incidents_resolved", "SELECT COUNT(*) FROM incidents i WHERE " INCIDENT_RANGE
                                    " AND i.status IN ('resolved','closed')"},
    {"security.time_to_acknowledge_mean",
     "SELECT AVG(i.acknowledged_at - i.created_at) / 1000.0 FROM incidents i WHERE " INCIDENT_RANGE
     " AND i.acknowledged_at IS NOT NULL"},
    {"security.time_to_acknowledge_max",
     "SELECT MAX(i.acknowledged_at - i.created_at) / 1000.0 FROM incidents i WHERE " INCIDENT_RANGE
     " AND i.acknowledged_at IS NOT NULL"},
    {"security.time_to_resolve_mean",
     "SELECT AVG(i.resolved_at - i.created_at) / 1000.0 FROM incidents i WHERE " INCIDENT_RANGE
     " AND i.resolved_at IS NOT NULL"},
    {"security.time_to_resolve_max",
     "SELECT MAX(i.resolved_at - i.created_at) / 1000.0 FROM incidents i WHERE " INCIDENT_RANGE
     " AND i.resolved_at IS NOT NULL"},
    /* security: events */
    {"security.events_of_kind",
     "SELECT COUNT(*) FROM device_events e WHERE " EVENT_RANGE " AND e.kind = :text"},
    {"security.top_offending_devices",
     "SELECT e.device_id, COALESCE(d.name, '') AS device_name, COUNT(*) AS events, "
     "SUM(e.kind IN ('auth_failure','revoked_key','unknown_device')) AS auth_failures, "
     "SUM(e.kind = 'acl_violation') AS acl_violations, SUM(e.kind = 'bad_payload') AS "
     "bad_payloads, (SELECT COUNT(*) FROM anomalies a WHERE a.device_id = e.device_id AND "
     "a.detected_at >= :from AND a.detected_at < :to) AS anomalies "
     "FROM device_events e LEFT JOIN devices d ON d.id = e.device_id WHERE " EVENT_RANGE
     " AND e.device_id IS NOT NULL GROUP BY e.device_id ORDER BY events DESC, e.device_id "
     "LIMIT 10"},
    {"security.top_offending_addresses",
     "SELECT CASE WHEN substr(e.peer, 1, 1) = '[' THEN substr(e.peer, 2, instr(e.peer, "
     "']') - 2) WHEN instr(e.peer, ':') > 0 THEN substr(e.peer, 1, instr(e.peer, ':') - "
     "1) ELSE e.peer END AS address, COUNT(*) AS events, "
     "SUM(e.kind IN ('auth_failure','revoked_key','unknown_device')) AS auth_failures, "
     "SUM(e.kind = 'acl_violation') AS acl_violations, SUM(e.kind = 'bad_payload') AS "
     "bad_payloads, COUNT(DISTINCT e.device_id) AS devices, " ISO(
         "MIN(e.ts) / 1000") " AS first_seen, " ISO("MAX(e.ts) / 1000") " AS last_seen FROM "
                                                                        "device_events e "
                                                                        "WHERE " EVENT_RANGE
                                                                        " AND e.peer IS NOT NULL "
                                                                        "AND e.peer != '' GROUP BY "
                                                                        "1 ORDER BY events DESC, "
                                                                        "address LIMIT 10"},
    /* security: alerts */
    {"security.alerts_by_channel",
     "SELECT al.method AS channel, COUNT(*) AS total, "
     "SUM(al.status IN ('sent','delivered')) AS sent, "
     "SUM(al.status IN ('failed','dead','error')) AS failed, "
     "SUM(al.status NOT IN ('sent','delivered','failed','dead','error')) AS pending "
     "FROM alerts al WHERE " ALERT_RANGE " GROUP BY al.method ORDER BY total DESC"},
    {"security.alerts_sent",
     "SELECT COUNT(*) FROM alerts al WHERE " ALERT_RANGE " AND al.status IN ('sent','delivered')"},
    {"security.alerts_failed", "SELECT COUNT(*) FROM alerts al WHERE " ALERT_RANGE
                               " AND al.status IN ('failed','dead','error')"},
};

static sqlite3_stmt *prepare(store *st, const char *name, const store_report_scope *sc)
{
    const char *sql = NULL;
    for (size_t i = 0; i < sizeof catalog / sizeof catalog[0] && !sql; i++)
        if (strcmp(catalog[i].name, name) == 0) sql = catalog[i].sql;
    if (!sql) {
        log_error("report_query_unknown", "name=%s", name);
        return NULL;
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(SQ(st), sql, -1, &q, NULL) != SQLITE_OK) {
        log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
        sqlite3_finalize(q);
        return NULL;
    }
    sq_bind_int(q, ":from", sc->from_ms);
    sq_bind_int(q, ":to", sc->to_ms);
    sq_bind_text(q, ":dtype", sc->device_type);
    sq_bind_text(q, ":dgroup", sc->group);
    sq_bind_text(q, ":dev", sc->device_id);
    sq_bind_text(q, ":owner", sc->owner_id);
    sq_bind_int(q, ":unfiltered",
                !sq_set(sc->device_type) && !sq_set(sc->group) && !sq_set(sc->device_id) &&
                    !sq_set(sc->owner_id));
    sq_bind_int(q, ":bucket", sc->bucket_ms);
    sq_bind_int(q, ":flood", sc->flood_threshold);
    sq_bind_text(q, ":text", sc->text);
    sq_bind_int(q, ":a", sc->a);
    sq_bind_int(q, ":b", sc->b);
    return q;
}

static cJSON *value_json(sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER:
        return cJSON_CreateNumber((double)sqlite3_column_int64(q, i));
    case SQLITE_FLOAT: {
        double v = sqlite3_column_double(q, i);
        return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    }
    case SQLITE_NULL:
        return cJSON_CreateNull();
    default:
        return cJSON_CreateString((const char *)sqlite3_column_text(q, i));
    }
}

static cJSON *table(store *st, const char *name, const store_report_scope *sc)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return NULL;
    cJSON *t = cJSON_CreateObject();
    cJSON *cols = cJSON_AddArrayToObject(t, "columns");
    cJSON *rows = cJSON_AddArrayToObject(t, "rows");
    int n = sqlite3_column_count(q);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(sqlite3_column_name(q, i)));
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(row, value_json(q, i));
        cJSON_AddItemToArray(rows, row);
    }
    if (rc != SQLITE_DONE) {
        log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
        cJSON_Delete(t);
        t = NULL;
    }
    sqlite3_finalize(q);
    return t;
}

/* Steps to the first row: STORE_OK when it has a non-NULL first value. */
static int first_value(store *st, const char *name, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return sqlite3_column_type(q, 0) != SQLITE_NULL ? STORE_OK : STORE_NOTFOUND;
    if (rc == SQLITE_DONE) return STORE_NOTFOUND;
    log_error("report_sql_failed", "query=%s err=\"%s\"", name, sqlite3_errmsg(SQ(st)));
    return STORE_ERR;
}

static int number(store *st, const char *name, const store_report_scope *sc, double *out)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return STORE_ERR;
    int rc = first_value(st, name, q);
    if (rc == STORE_OK)
        *out = sqlite3_column_type(q, 0) == SQLITE_INTEGER ? (double)sqlite3_column_int64(q, 0)
                                                           : sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    return rc;
}

static int text(store *st, const char *name, const store_report_scope *sc, char *out, size_t cap)
{
    sqlite3_stmt *q = prepare(st, name, sc);
    if (!q) return STORE_ERR;
    int rc = first_value(st, name, q);
    if (rc == STORE_OK) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc;
}

const store_report_queries_ops sqlite_report_queries_ops = {table, number, text};
