/* Schema of iotad's embedded database. Ids are UUIDv7 strings (time-ordered, so inserts stay
 * append-like); times are integer ms since the epoch. The brief's tables (users, devices,
 * device_data, anomalies, alerts, incidents) keep their names and columns; time series are
 * stored compactly by the tsdb module and device_data is exposed by the API. */
#include "store/schema.h"

#include "alert/alerts.h"
#include "report/reports.h"
#include "store/tsdb.h"

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

const schema_migration *schema_migrations(size_t *count)
{
    static schema_migration list[5];
    list[0] = (schema_migration){"core_tables", core_v1};
    list[1] = (schema_migration){"time_series", tsdb_schema_sql()};
    list[2] = (schema_migration){"detection", detection_v3};
    list[3] = (schema_migration){"alerts_incidents", alert_schema_sql()};
    list[4] = (schema_migration){"reports", report_schema_sql()};
    *count = sizeof list / sizeof list[0];
    return list;
}
