/* The report builders' query catalog (store_report_queries_ops), written once for both
 * back-ends: one statement per name, in the SQL both SQLite and PostgreSQL read, with named
 * parameters :from :to (range, ms), :dtype :dgroup :dev :owner (device filter, "" any),
 * :unfiltered (true when no device filter is set), :bucket (chart bucket in ms), :flood, and
 * a query's own :text, :a, :b. SQLite binds them by name (store/sqlite/report_queries.c);
 * PostgreSQL numbers them ($1::type...) in order of first use (store/pg/report_queries.c).
 *
 * The few places where the dialects differ are macros the including file defines first:
 *   RQ_ISO(expr)          seconds since the epoch -> "YYYY-MM-DDTHH:MM:SSZ"
 *   RQ_GROUP              the device's attribute "group" (attributes is JSON text)
 *   RQ_STRPOS(str, sub)   1-based position of sub in str, 0 when absent
 * Everything else sticks to what both read: counts of a condition are SUM(CASE ...) (SQLite
 * sums booleans, PostgreSQL does not), a GROUP BY names every non-aggregated column, charts
 * group by their output column. Included by one file per back-end only. */
#ifndef IOTAD_STORE_REPORT_CATALOG_H
#define IOTAD_STORE_REPORT_CATALOG_H

#if !defined(RQ_ISO) || !defined(RQ_GROUP) || !defined(RQ_STRPOS)
#error "define RQ_ISO, RQ_GROUP and RQ_STRPOS (the back-end's dialect) before the catalog"
#endif

#include <stddef.h>
#include <string.h>

/* how many rows satisfy a condition (NULL over no rows, as SUM) */
#define RQ_COUNT_IF(cond) "SUM(CASE WHEN " cond " THEN 1 ELSE 0 END)"

/* the devices a report covers */
#define DEVSET                                                                                     \
    "(SELECT id FROM devices WHERE (:dtype = '' OR type = :dtype) AND (:dgroup = '' OR " RQ_GROUP  \
    " = :dgroup) AND (:dev = '' OR id = :dev) AND (:owner = '' OR owner_id = :owner))"
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

/* audit rows of the range whose action matches cond, newest last, with the e-mails of users */
#define AUDIT_ROWS(cond)                                                                           \
    "SELECT l.seq, " RQ_ISO("l.ts / 1000") " AS time, l.action, COALESCE(u.email, l.actor) AS "    \
                                           "actor, COALESCE(t.email, l.target) AS target, "        \
                                           "l.detail, COALESCE(l.peer, '') AS peer FROM "          \
                                           "audit_log l LEFT JOIN users u ON u.id = l.actor LEFT " \
                                           "JOIN users t ON t.id = l.target WHERE "                \
                                           "l.ts >= :from AND l.ts < :to AND (" cond               \
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
#define AUTH_FAILURE_KINDS "e.kind IN ('auth_failure','revoked_key','unknown_device')"

typedef struct {
    const char *name, *sql;
} report_query;

/* clang-format off: the statements read as SQL, one clause after another */
/* The catalog, laid out as SQL, one clause after another. */
/* clang-format off */
static const report_query report_catalog[] = {
    /* the device walk of every report */
    {"report.devices", "SELECT COUNT(*) FROM " DEVSET " AS ds"},
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
    {"compliance.count.all", AUDIT_COUNT("1 = 1")},
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
     "l.actor END) AS account, "
     RQ_COUNT_IF("l.action = 'auth.login'") " AS logins, "
     RQ_COUNT_IF("l.action = 'auth.login_failed'") " AS failures, "
     RQ_COUNT_IF("l.action = 'auth.login_locked'") " AS lockouts, "
     "COUNT(DISTINCT l.peer) AS addresses FROM audit_log l LEFT JOIN users u ON u.id = "
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
     "g AS (SELECT source, COUNT(*) AS anomalies, "
     "COALESCE(" RQ_COUNT_IF("verdict = 'confirmed'") ", 0) AS confirmed, "
     "COALESCE(" RQ_COUNT_IF("verdict = 'false_positive'") ", 0) AS false_positive FROM a "
     "GROUP BY source UNION ALL "
     "SELECT 'all', COUNT(*), COALESCE(" RQ_COUNT_IF("verdict = 'confirmed'") ", 0), "
     "COALESCE(" RQ_COUNT_IF("verdict = 'false_positive'") ", 0) FROM a) "
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
     "WHERE " ANOMALY_RANGE " AND a.severity = s.severity AND a.resolved = 0) AS open FROM s "
     "ORDER BY s.o"},
    {"security.anomalies_by_device",
     "SELECT a.device_id, d.name AS device_name, COUNT(*) AS anomalies, "
     RQ_COUNT_IF("a.severity = 'critical'") " AS critical, "
     RQ_COUNT_IF("a.severity = 'warning'") " AS warning, "
     RQ_COUNT_IF("a.severity = 'info'") " AS info FROM anomalies a JOIN devices d ON d.id = "
     "a.device_id WHERE " ANOMALY_RANGE " GROUP BY a.device_id, d.name ORDER BY 3 DESC, "
     "a.device_id LIMIT 20"},
    {"security.anomalies_by_type",
     "SELECT CASE WHEN a.metric LIKE 'sys.%' THEN 'security' WHEN a.rule_id IS NOT NULL "
     "THEN 'rule' ELSE 'detectors' END AS type, COALESCE(a.metric, '') AS metric, "
     "COUNT(*) AS anomalies FROM anomalies a WHERE " ANOMALY_RANGE " GROUP BY 1, 2 ORDER BY "
     "3 DESC, 1, 2 LIMIT 30"},
    {"security.anomalies_over_time",
     "SELECT " RQ_ISO("(a.detected_at / :bucket) * :bucket / 1000") " AS time, COUNT(*) AS "
     "anomalies, " RQ_COUNT_IF("a.severity = 'critical'") " AS critical FROM anomalies a WHERE "
     ANOMALY_RANGE " GROUP BY 1 ORDER BY 1"},
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
     RQ_COUNT_IF(AUTH_FAILURE_KINDS) " AS auth_failures, "
     RQ_COUNT_IF("e.kind = 'acl_violation'") " AS acl_violations, "
     RQ_COUNT_IF("e.kind = 'bad_payload'") " AS bad_payloads, (SELECT COUNT(*) FROM anomalies a "
     "WHERE a.device_id = e.device_id AND a.detected_at >= :from AND a.detected_at < :to) AS "
     "anomalies FROM device_events e LEFT JOIN devices d ON d.id = e.device_id WHERE " EVENT_RANGE
     " AND e.device_id IS NOT NULL GROUP BY e.device_id, d.name ORDER BY 3 DESC, e.device_id "
     "LIMIT 10"},
    {"security.top_offending_addresses",
     "SELECT CASE WHEN substr(e.peer, 1, 1) = '[' THEN substr(e.peer, 2, "
     RQ_STRPOS("e.peer", "']'") " - 2) WHEN " RQ_STRPOS("e.peer", "':'") " > 0 THEN "
     "substr(e.peer, 1, " RQ_STRPOS("e.peer", "':'") " - 1) ELSE e.peer END AS address, "
     "COUNT(*) AS events, " RQ_COUNT_IF(AUTH_FAILURE_KINDS) " AS auth_failures, "
     RQ_COUNT_IF("e.kind = 'acl_violation'") " AS acl_violations, "
     RQ_COUNT_IF("e.kind = 'bad_payload'") " AS bad_payloads, COUNT(DISTINCT e.device_id) AS "
     "devices, " RQ_ISO("MIN(e.ts) / 1000") " AS first_seen, " RQ_ISO("MAX(e.ts) / 1000")
     " AS last_seen FROM device_events e WHERE " EVENT_RANGE " AND e.peer IS NOT NULL AND "
     "e.peer != '' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"},
    /* security: alerts */
    {"security.alerts_by_channel",
     "SELECT al.method AS channel, COUNT(*) AS total, "
     RQ_COUNT_IF("al.status IN ('sent','delivered')") " AS sent, "
     RQ_COUNT_IF("al.status IN ('failed','dead','error')") " AS failed, "
     RQ_COUNT_IF("al.status NOT IN ('sent','delivered','failed','dead','error')") " AS pending "
     "FROM alerts al WHERE " ALERT_RANGE " GROUP BY al.method ORDER BY 2 DESC"},
    {"security.alerts_sent",
     "SELECT COUNT(*) FROM alerts al WHERE " ALERT_RANGE " AND al.status IN ('sent','delivered')"},
    {"security.alerts_failed", "SELECT COUNT(*) FROM alerts al WHERE " ALERT_RANGE
                               " AND al.status IN ('failed','dead','error')"},
};
/* clang-format on */

/* The statement of a name, NULL when the catalog has none. */
static inline const char *report_catalog_sql(const char *name)
{
    for (size_t i = 0; i < sizeof report_catalog / sizeof report_catalog[0]; i++)
        if (strcmp(report_catalog[i].name, name) == 0) return report_catalog[i].sql;
    return NULL;
}

#endif
