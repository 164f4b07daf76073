/* Schema of iotad's embedded database. Ids are UUIDv7 strings (time-ordered, so inserts stay
 * append-like); times are integer ms since the epoch. The brief's tables (users, devices,
 * device_data, anomalies, alerts, incidents) keep their names and columns; time series are
 * stored compactly by the tsdb module and device_data is exposed by the API. */
#include "store/schema.h"

#include "store/sqlite/tsdb.h"

static const char core_v1[] =
    "CREATE TABLE users("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " password TEXT NOT NULL," /* argon2id PHC string, never plaintext */
    " role TEXT NOT NULL CHECK(role IN ('admin','analyst','device_owner')),"
    " disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL, password_changed_at INTEGER NOT NULL);"
    "CREATE TABLE sessions("
    " token_hash TEXT PRIMARY KEY," /* SHA-256 of the bearer token; the token is never stored */
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    " peer TEXT, user_agent TEXT);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE invites("
    " token_hash TEXT PRIMARY KEY, email TEXT, role TEXT NOT NULL, created_by TEXT,"
    " created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER);"
    "CREATE TABLE devices("
    " id TEXT PRIMARY KEY, owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,"
    " name TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'generic', location TEXT NOT NULL DEFAULT '',"
    " firmware TEXT NOT NULL DEFAULT '', attributes TEXT NOT NULL DEFAULT '{}',"
    " status TEXT NOT NULL DEFAULT 'offline' CHECK(status IN ('online','offline')),"
    " last_seen INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX devices_owner ON devices(owner_id);"
    "CREATE INDEX devices_type ON devices(type);"
    "CREATE TABLE api_keys("
    " id TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', prefix TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, created_by TEXT, revoked_at INTEGER, last_used_at INTEGER);"
    "CREATE INDEX api_keys_device ON api_keys(device_id);"
    /* Device status changes and security events (auth failures, ACL violations, bad payloads,
     * connects) in one append-only table, time-ordered. */
    "CREATE TABLE device_events("
    " id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, device_id TEXT, category TEXT NOT NULL,"
    " kind TEXT NOT NULL, transport TEXT, peer TEXT, detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX device_events_device ON device_events(device_id, ts);"
    "CREATE INDEX device_events_ts ON device_events(ts);"
    "CREATE TABLE anomalies("
    " id TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " metric TEXT, detected_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " severity TEXT NOT NULL CHECK(severity IN ('critical','warning','info')),"
    " description TEXT NOT NULL, details TEXT NOT NULL DEFAULT '{}',"
    " resolved INTEGER NOT NULL DEFAULT 0, resolved_at INTEGER, verdict TEXT);"
    "CREATE INDEX anomalies_device ON anomalies(device_id, detected_at);"
    "CREATE INDEX anomalies_time ON anomalies(detected_at);"
    "CREATE TABLE alerts("
    " id TEXT PRIMARY KEY, anomaly_id TEXT REFERENCES anomalies(id) ON DELETE CASCADE,"
    " user_id TEXT REFERENCES users(id) ON DELETE SET NULL, sent_at INTEGER,"
    " method TEXT NOT NULL CHECK(method IN ('email','sms','webhook')),"
    " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE incidents("
    " id TEXT PRIMARY KEY, anomaly_id TEXT REFERENCES anomalies(id) ON DELETE SET NULL,"
    " assigned_to TEXT REFERENCES users(id) ON DELETE SET NULL,"
    " status TEXT NOT NULL DEFAULT 'new' CHECK(status IN ('new','investigating','resolved')),"
    " created_at INTEGER NOT NULL);"
    /* Append-only, hash-chained: hash = SHA-256(prev_hash, canonical row). Never updated. */
    "CREATE TABLE audit_log("
    " seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    " target TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', peer TEXT,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT "
    "NULL);";

/* Detection: threshold rules (managed over the API, applied without restart) and detector
 * state snapshots (so a restart does not mean learning from scratch). */
static const char detection_v3[] =
    "CREATE TABLE rules("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, device_id TEXT REFERENCES devices(id) ON DELETE "
    "CASCADE,"
    " device_type TEXT, metric TEXT,"
    " kind TEXT NOT NULL CHECK(kind IN ('above','below','rate','stale')),"
    " threshold REAL NOT NULL, for_ms INTEGER NOT NULL DEFAULT 0,"
    " severity TEXT NOT NULL CHECK(severity IN ('critical','warning','info')),"
    " enabled INTEGER NOT NULL DEFAULT 1, created_by TEXT, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE detector_state("
    " device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE, metric TEXT NOT NULL,"
    " state BLOB NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY(device_id, metric));"
    "ALTER TABLE anomalies ADD COLUMN rule_id INTEGER;"
    "CREATE INDEX anomalies_open ON anomalies(resolved, detected_at);";

/* The alerts table is the brief's; the columns after created_at make it the outbox:
 * due_at (next attempt), group_key/count (grouping), payload (frozen at the first attempt so
 * every retry sends the same bytes under the same Idempotency-Key = id). */
static const char alerts_v4[] =
    "ALTER TABLE alerts ADD COLUMN channel_id TEXT;"
    "ALTER TABLE alerts ADD COLUMN policy_id TEXT;"
    "ALTER TABLE alerts ADD COLUMN recipient TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE alerts ADD COLUMN device_id TEXT;"
    "ALTER TABLE alerts ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';"
    "ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'anomaly';"
    "ALTER TABLE alerts ADD COLUMN group_key TEXT;"
    "ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE alerts ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE alerts ADD COLUMN updated_at INTEGER;"
    "ALTER TABLE alerts ADD COLUMN last_error TEXT;"
    "ALTER TABLE alerts ADD COLUMN payload TEXT;"
    "ALTER TABLE alerts ADD COLUMN acked_at INTEGER;"
    "ALTER TABLE alerts ADD COLUMN acked_by TEXT;"
    "CREATE INDEX alerts_due ON alerts(status, due_at);"
    "CREATE INDEX alerts_group ON alerts(group_key, due_at);"
    "CREATE INDEX alerts_anomaly ON alerts(anomaly_id);"
    "CREATE INDEX alerts_created ON alerts(created_at);"
    /* every anomaly a (grouped) alert speaks for */
    "CREATE TABLE alert_anomalies("
    " alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
    " anomaly_id TEXT NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " PRIMARY KEY(alert_id, anomaly_id));"
    "CREATE INDEX alert_anomalies_anomaly ON alert_anomalies(anomaly_id);"
    "CREATE TABLE alert_attempts("
    " id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
    " attempt INTEGER NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " ok INTEGER NOT NULL, code INTEGER, error TEXT);"
    "CREATE INDEX alert_attempts_alert ON alert_attempts(alert_id);"
    /* secret: SMTP password, SMS gateway token, webhook HMAC key; never returned by the API */
    "CREATE TABLE alert_channels("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK(kind IN ('email','sms','webhook')), url TEXT NOT NULL,"
    " config TEXT NOT NULL DEFAULT '{}', secret TEXT NOT NULL DEFAULT '',"
    " enabled INTEGER NOT NULL DEFAULT 1, rate_per_min INTEGER NOT NULL DEFAULT 60,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE alert_policies("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,"
    " channel_id TEXT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,"
    " severities TEXT NOT NULL DEFAULT '[\"critical\",\"warning\"]',"
    " device_id TEXT REFERENCES devices(id) ON DELETE CASCADE, device_type TEXT,"
    " users TEXT NOT NULL DEFAULT '[]', roles TEXT NOT NULL DEFAULT '[]',"
    " device_owner INTEGER NOT NULL DEFAULT 0, addresses TEXT NOT NULL DEFAULT '[]',"
    " group_wait_ms INTEGER NOT NULL DEFAULT 0, group_window_ms INTEGER NOT NULL DEFAULT 60000,"
    " escalate_after_ms INTEGER NOT NULL DEFAULT 0, escalate_users TEXT NOT NULL DEFAULT '[]',"
    " escalate_roles TEXT NOT NULL DEFAULT '[]', escalate_addresses TEXT NOT NULL DEFAULT '[]',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    /* per-user contacts and preferences: which address, from which severity */
    "CREATE TABLE alert_contacts("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK(kind IN ('email','sms','webhook')), address TEXT NOT NULL,"
    " min_severity TEXT NOT NULL DEFAULT 'info', enabled INTEGER NOT NULL DEFAULT 1,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX alert_contacts_user ON alert_contacts(user_id);"
    "CREATE TABLE alert_escalations("
    " anomaly_id TEXT NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " policy_id TEXT NOT NULL REFERENCES alert_policies(id) ON DELETE CASCADE,"
    " due_at INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(anomaly_id, policy_id));"
    "ALTER TABLE anomalies ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE incidents ADD COLUMN title TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE incidents ADD COLUMN severity TEXT NOT NULL DEFAULT 'info';"
    "ALTER TABLE incidents ADD COLUMN device_id TEXT;"
    "ALTER TABLE incidents ADD COLUMN origin TEXT NOT NULL DEFAULT 'manual';"
    "ALTER TABLE incidents ADD COLUMN created_by TEXT;"
    "ALTER TABLE incidents ADD COLUMN updated_at INTEGER;"
    "ALTER TABLE incidents ADD COLUMN acknowledged_at INTEGER;"
    "ALTER TABLE incidents ADD COLUMN resolved_at INTEGER;"
    "ALTER TABLE incidents ADD COLUMN verdict TEXT;"
    "CREATE INDEX incidents_status ON incidents(status, created_at);"
    "CREATE INDEX incidents_created ON incidents(created_at);"
    "CREATE TABLE incident_anomalies("
    " incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
    " anomaly_id TEXT NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " added_at INTEGER NOT NULL, PRIMARY KEY(incident_id, anomaly_id));"
    "CREATE INDEX incident_anomalies_anomaly ON incident_anomalies(anomaly_id);"
    "CREATE TABLE incident_events("
    " id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE "
    "CASCADE, ts INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX incident_events_incident ON incident_events(incident_id, id);";

/* reports, their schedules and every forensic export */
static const char reports_v5[] =
    "CREATE TABLE reports("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " status TEXT NOT NULL CHECK(status IN ('queued','running','done','failed')),"
    " params TEXT NOT NULL, from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL,"
    " schedule_id INTEGER, created_by TEXT, created_at INTEGER NOT NULL, finished_at INTEGER,"
    " error TEXT, document TEXT, sha256 TEXT);"
    "CREATE INDEX reports_created ON reports(created_at);"
    "CREATE TABLE report_schedules("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,"
    " period TEXT NOT NULL CHECK(period IN ('daily','weekly')), params TEXT NOT NULL DEFAULT '{}',"
    " enabled INTEGER NOT NULL DEFAULT 1, next_run INTEGER NOT NULL, last_run INTEGER,"
    " created_by TEXT, created_at INTEGER NOT NULL);"
    /* every forensic export with its manifest (the hash proves the bytes later) */
    "CREATE TABLE exports("
    " id TEXT PRIMARY KEY, created_by TEXT, peer TEXT, format TEXT NOT NULL, params TEXT NOT NULL,"
    " started_at INTEGER NOT NULL, finished_at INTEGER,"
    " status TEXT NOT NULL CHECK(status IN ('running','done','aborted','failed')),"
    " bytes INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0, sha256 TEXT,"
    " manifest TEXT);"
    "CREATE INDEX exports_started ON exports(started_at);";

/* The syslog alert channel: a channel kind is a CHECK constraint, which SQLite cannot alter,
 * so alerts and alert_channels are rebuilt (db_migrate runs migrations with foreign keys off,
 * so dropping the old tables cascades nothing and the references by name stay valid). */
static const char syslog_v6[] =
    "CREATE TABLE alerts_v6("
    " id TEXT PRIMARY KEY, anomaly_id TEXT REFERENCES anomalies(id) ON DELETE CASCADE,"
    " user_id TEXT REFERENCES users(id) ON DELETE SET NULL, sent_at INTEGER,"
    " method TEXT NOT NULL CHECK(method IN ('email','sms','webhook','syslog')),"
    " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, channel_id TEXT, policy_id TEXT,"
    " recipient TEXT NOT NULL DEFAULT '', device_id TEXT, severity TEXT NOT NULL DEFAULT 'info',"
    " kind TEXT NOT NULL DEFAULT 'anomaly', group_key TEXT, count INTEGER NOT NULL DEFAULT 1,"
    " due_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER, last_error TEXT, payload TEXT,"
    " acked_at INTEGER, acked_by TEXT);"
    "INSERT INTO alerts_v6 SELECT id, anomaly_id, user_id, sent_at, method, status, attempts,"
    " created_at, channel_id, policy_id, recipient, device_id, severity, kind, group_key, count,"
    " due_at, updated_at, last_error, payload, acked_at, acked_by FROM alerts;"
    "DROP TABLE alerts;"
    "ALTER TABLE alerts_v6 RENAME TO alerts;"
    "CREATE INDEX alerts_due ON alerts(status, due_at);"
    "CREATE INDEX alerts_group ON alerts(group_key, due_at);"
    "CREATE INDEX alerts_anomaly ON alerts(anomaly_id);"
    "CREATE INDEX alerts_created ON alerts(created_at);"
    "CREATE TABLE alert_channels_v6("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK(kind IN ('email','sms','webhook','syslog')), url TEXT NOT NULL,"
    " config TEXT NOT NULL DEFAULT '{}', secret TEXT NOT NULL DEFAULT '',"
    " enabled INTEGER NOT NULL DEFAULT 1, rate_per_min INTEGER NOT NULL DEFAULT 60,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "INSERT INTO alert_channels_v6 SELECT id, name, kind, url, config, secret, enabled,"
    " rate_per_min, created_at, updated_at FROM alert_channels;"
    "DROP TABLE alert_channels;"
    "ALTER TABLE alert_channels_v6 RENAME TO alert_channels;";

/* The device list's default order and the dashboard's paging walk devices by name: without
 * an index every page sorted the whole table (bench/devices_bulk.mjs, "list"). */
static const char devices_name_v7[] = "CREATE INDEX devices_name ON devices(name);";

/* Users' API tokens for integrations (MQTT subscriptions): as api_keys, a visible prefix and
 * the SHA-256 of the whole token; they go with their user. */
static const char api_tokens_v8[] =
    "CREATE TABLE api_tokens("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', prefix TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER);"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);";

/* Names sort and match without case (the dashboard sorts so, PostgreSQL's collations mostly do),
 * and a NOCASE index serves both that order and a name prefix search (LIKE 'abc%' is an index
 * range only on a NOCASE index): the device pickers' search at 100,000 devices. */
static const char devices_name_v9[] = "DROP INDEX devices_name;"
                                      "CREATE INDEX devices_name ON devices(name COLLATE NOCASE);";

const schema_migration *schema_migrations(size_t *count)
{
    static schema_migration list[9];
    list[0] = (schema_migration){"core_tables", core_v1};
    list[1] = (schema_migration){"time_series", tsdb_schema_sql()};
    list[2] = (schema_migration){"detection", detection_v3};
    list[3] = (schema_migration){"alerts_incidents", alerts_v4};
    list[4] = (schema_migration){"reports", reports_v5};
    list[5] = (schema_migration){"syslog_channel", syslog_v6};
    list[6] = (schema_migration){"devices_name_index", devices_name_v7};
    list[7] = (schema_migration){"api_tokens", api_tokens_v8};
    list[8] = (schema_migration){"devices_name_nocase", devices_name_v9};
    *count = sizeof list / sizeof list[0];
    return list;
}
