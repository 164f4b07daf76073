/* The PostgreSQL back-end's schema: the same tables and columns as the SQLite back-end
 * (store/schema.c, alert and report DDL), in PostgreSQL's dialect, as one versioned list of
 * migrations of its own. Choices:
 *   - ids stay text (UUIDv7 strings) and times bigint ms since the epoch, so rows read the same
 *     from both back-ends; flags stay integers (0/1) for the same reason;
 *   - e-mail uniqueness ignores case through a unique index on lower(email) (SQLite: NOCASE);
 *   - integer ids come from identity columns; the audit log stays append-only by trigger;
 *   - time series: tsz chunks (store/tsz.h) in `chunks`, partitioned by day of start_ts
 *     (pg.c creates the partitions ahead and retention drops whole ones), and a durability
 *     log `points_log` of one bytea per commit, tagged with the bus partition that wrote it so
 *     a node taking a partition over replays only that partition's rows (bench/pg_series:
 *     2.04 B/point with 120-point chunks, a day of one series read in ~0.2-2 ms). */
#include "store/pg/pg.h"

static const char initial_v1[] =
    /* text that may not be JSON (devices.attributes): its jsonb, or NULL (SQLite: json_valid) */
    "CREATE FUNCTION iotad_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS"
    " $$BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END$$;"
    "CREATE TABLE users("
    " id text PRIMARY KEY, name text NOT NULL, email text NOT NULL,"
    " password text NOT NULL," /* argon2id PHC string, never plaintext */
    " role text NOT NULL CHECK(role IN ('admin','analyst','device_owner')),"
    " disabled integer NOT NULL DEFAULT 0, created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL, password_changed_at bigint NOT NULL);"
    "CREATE UNIQUE INDEX users_email ON users(lower(email));"
    "CREATE TABLE sessions("
    " token_hash text PRIMARY KEY," /* SHA-256 of the bearer token; the token is never stored */
    " user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created_at bigint NOT NULL, last_seen bigint NOT NULL, expires_at bigint NOT NULL,"
    " peer text, user_agent text);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE invites("
    " token_hash text PRIMARY KEY, email text, role text NOT NULL, created_by text,"
    " created_at bigint NOT NULL, expires_at bigint NOT NULL, used_at bigint);"
    "CREATE TABLE devices("
    " id text PRIMARY KEY, owner_id text REFERENCES users(id) ON DELETE SET NULL,"
    " name text NOT NULL, type text NOT NULL DEFAULT 'generic', location text NOT NULL DEFAULT '',"
    " firmware text NOT NULL DEFAULT '', attributes text NOT NULL DEFAULT '{}',"
    " status text NOT NULL DEFAULT 'offline' CHECK(status IN ('online','offline')),"
    " last_seen bigint, created_at bigint NOT NULL, updated_at bigint NOT NULL,"
    " node text);" /* cluster: the node holding the device's session while online */
    "CREATE INDEX devices_owner ON devices(owner_id);"
    "CREATE INDEX devices_type ON devices(type);"
    "CREATE TABLE api_keys("
    " id text PRIMARY KEY, device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " name text NOT NULL DEFAULT '', prefix text NOT NULL UNIQUE, hash text NOT NULL,"
    " created_at bigint NOT NULL, created_by text, revoked_at bigint, last_used_at bigint);"
    "CREATE INDEX api_keys_device ON api_keys(device_id);"
    "CREATE TABLE device_events("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ts bigint NOT NULL, device_id text,"
    " category text NOT NULL, kind text NOT NULL, transport text, peer text,"
    " detail text NOT NULL DEFAULT '');"
    "CREATE INDEX device_events_device ON device_events(device_id, ts);"
    "CREATE INDEX device_events_ts ON device_events(ts);"
    "CREATE TABLE anomalies("
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE," /* storage order (SQLite: rowid) */
    " id text PRIMARY KEY, device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    " metric text, detected_at bigint NOT NULL, updated_at bigint NOT NULL,"
    " severity text NOT NULL CHECK(severity IN ('critical','warning','info')),"
    " description text NOT NULL, details text NOT NULL DEFAULT '{}',"
    " resolved integer NOT NULL DEFAULT 0, resolved_at bigint, verdict text, rule_id bigint,"
    " flapping integer NOT NULL DEFAULT 0);"
    "CREATE INDEX anomalies_device ON anomalies(device_id, detected_at);"
    "CREATE INDEX anomalies_time ON anomalies(detected_at);"
    "CREATE INDEX anomalies_open ON anomalies(resolved, detected_at);"
    /* the brief's alerts table; the columns after created_at make it the outbox */
    "CREATE TABLE alerts("
    " id text PRIMARY KEY, anomaly_id text REFERENCES anomalies(id) ON DELETE CASCADE,"
    " user_id text REFERENCES users(id) ON DELETE SET NULL, sent_at bigint,"
    " method text NOT NULL CHECK(method IN ('email','sms','webhook')),"
    " status text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL, channel_id text, policy_id text,"
    " recipient text NOT NULL DEFAULT '', device_id text, severity text NOT NULL DEFAULT 'info',"
    " kind text NOT NULL DEFAULT 'anomaly', group_key text, count integer NOT NULL DEFAULT 1,"
    " due_at bigint NOT NULL DEFAULT 0, updated_at bigint, last_error text, payload text,"
    " acked_at bigint, acked_by text);"
    "CREATE INDEX alerts_due ON alerts(status, due_at);"
    "CREATE INDEX alerts_group ON alerts(group_key, due_at);"
    "CREATE INDEX alerts_anomaly ON alerts(anomaly_id);"
    "CREATE INDEX alerts_created ON alerts(created_at);"
    "CREATE TABLE alert_anomalies("
    " alert_id text NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
    " anomaly_id text NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " PRIMARY KEY(alert_id, anomaly_id));"
    "CREATE INDEX alert_anomalies_anomaly ON alert_anomalies(anomaly_id);"
    "CREATE TABLE alert_attempts("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " alert_id text NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,"
    " attempt integer NOT NULL, started_at bigint NOT NULL, duration_ms bigint NOT NULL,"
    " ok integer NOT NULL, code bigint, error text);"
    "CREATE INDEX alert_attempts_alert ON alert_attempts(alert_id);"
    "CREATE TABLE alert_channels("
    " id text PRIMARY KEY, name text NOT NULL,"
    " kind text NOT NULL CHECK(kind IN ('email','sms','webhook')), url text NOT NULL,"
    " config text NOT NULL DEFAULT '{}', secret text NOT NULL DEFAULT '',"
    " enabled integer NOT NULL DEFAULT 1, rate_per_min integer NOT NULL DEFAULT 60,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE TABLE alert_policies("
    " id text PRIMARY KEY, name text NOT NULL, enabled integer NOT NULL DEFAULT 1,"
    " channel_id text NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,"
    " severities text NOT NULL DEFAULT '[\"critical\",\"warning\"]',"
    " device_id text REFERENCES devices(id) ON DELETE CASCADE, device_type text,"
    " users text NOT NULL DEFAULT '[]', roles text NOT NULL DEFAULT '[]',"
    " device_owner integer NOT NULL DEFAULT 0, addresses text NOT NULL DEFAULT '[]',"
    " group_wait_ms bigint NOT NULL DEFAULT 0, group_window_ms bigint NOT NULL DEFAULT 60000,"
    " escalate_after_ms bigint NOT NULL DEFAULT 0, escalate_users text NOT NULL DEFAULT '[]',"
    " escalate_roles text NOT NULL DEFAULT '[]', escalate_addresses text NOT NULL DEFAULT '[]',"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL);"
    "CREATE TABLE alert_contacts("
    " id text PRIMARY KEY, user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " kind text NOT NULL CHECK(kind IN ('email','sms','webhook')), address text NOT NULL,"
    " min_severity text NOT NULL DEFAULT 'info', enabled integer NOT NULL DEFAULT 1,"
    " created_at bigint NOT NULL);"
    "CREATE INDEX alert_contacts_user ON alert_contacts(user_id);"
    "CREATE TABLE alert_escalations("
    " anomaly_id text NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " policy_id text NOT NULL REFERENCES alert_policies(id) ON DELETE CASCADE,"
    " due_at bigint NOT NULL, done integer NOT NULL DEFAULT 0,"
    " PRIMARY KEY(anomaly_id, policy_id));"
    "CREATE TABLE incidents("
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE," /* storage order (SQLite: rowid) */
    " id text PRIMARY KEY, anomaly_id text REFERENCES anomalies(id) ON DELETE SET NULL,"
    " assigned_to text REFERENCES users(id) ON DELETE SET NULL,"
    " status text NOT NULL DEFAULT 'new' CHECK(status IN ('new','investigating','resolved')),"
    " created_at bigint NOT NULL, title text NOT NULL DEFAULT '',"
    " severity text NOT NULL DEFAULT 'info', device_id text,"
    " origin text NOT NULL DEFAULT 'manual', created_by text, updated_at bigint,"
    " acknowledged_at bigint, resolved_at bigint, verdict text);"
    "CREATE INDEX incidents_status ON incidents(status, created_at);"
    "CREATE INDEX incidents_created ON incidents(created_at);"
    "CREATE TABLE incident_anomalies("
    " incident_id text NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
    " anomaly_id text NOT NULL REFERENCES anomalies(id) ON DELETE CASCADE,"
    " added_at bigint NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY," /* SQLite: rowid */
    " PRIMARY KEY(incident_id, anomaly_id));"
    "CREATE INDEX incident_anomalies_anomaly ON incident_anomalies(anomaly_id);"
    "CREATE TABLE incident_events("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " incident_id text NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,"
    " ts bigint NOT NULL, actor text NOT NULL, kind text NOT NULL,"
    " detail text NOT NULL DEFAULT '{}');"
    "CREATE INDEX incident_events_incident ON incident_events(incident_id, id);"
    /* append-only, hash-chained (store/audit.h); seq is assigned by the writer, which holds
     * the chain's lock, so the chain has no gaps */
    "CREATE TABLE audit_log("
    " seq bigint PRIMARY KEY, ts bigint NOT NULL, actor text NOT NULL, action text NOT NULL,"
    " target text NOT NULL DEFAULT '', detail text NOT NULL DEFAULT '', peer text,"
    " prev_hash text NOT NULL, hash text NOT NULL);"
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN RAISE EXCEPTION 'audit_log is append-only'; END$$;"
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();"
    "CREATE TABLE settings(key text PRIMARY KEY, value text NOT NULL, updated_at bigint NOT NULL);"
    "CREATE TABLE rules("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL,"
    " device_id text REFERENCES devices(id) ON DELETE CASCADE, device_type text, metric text,"
    " kind text NOT NULL CHECK(kind IN ('above','below','rate','stale')),"
    " threshold double precision NOT NULL, for_ms bigint NOT NULL DEFAULT 0,"
    " severity text NOT NULL CHECK(severity IN ('critical','warning','info')),"
    " enabled integer NOT NULL DEFAULT 1, created_by text, created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL);"
    "CREATE TABLE detector_state("
    " device_id text NOT NULL REFERENCES devices(id) ON DELETE CASCADE, metric text NOT NULL,"
    " state bytea NOT NULL, updated_at bigint NOT NULL, PRIMARY KEY(device_id, metric));"
    "CREATE TABLE reports("
    " id text PRIMARY KEY, kind text NOT NULL,"
    " status text NOT NULL CHECK(status IN ('queued','running','done','failed')),"
    " params text NOT NULL, from_ts bigint NOT NULL, to_ts bigint NOT NULL,"
    " schedule_id bigint, created_by text, created_at bigint NOT NULL, finished_at bigint,"
    " error text, document text, sha256 text);"
    "CREATE INDEX reports_created ON reports(created_at);"
    "CREATE TABLE report_schedules("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL,"
    " kind text NOT NULL, period text NOT NULL CHECK(period IN ('daily','weekly')),"
    " params text NOT NULL DEFAULT '{}', enabled integer NOT NULL DEFAULT 1,"
    " next_run bigint NOT NULL, last_run bigint, created_by text, created_at bigint NOT NULL);"
    "CREATE TABLE exports("
    " id text PRIMARY KEY, created_by text, peer text, format text NOT NULL, params text NOT NULL,"
    " started_at bigint NOT NULL, finished_at bigint,"
    " status text NOT NULL CHECK(status IN ('running','done','aborted','failed')),"
    " bytes bigint NOT NULL DEFAULT 0, records bigint NOT NULL DEFAULT 0, sha256 text,"
    " manifest text);"
    "CREATE INDEX exports_started ON exports(started_at);"
    /* time series */
    "CREATE TABLE series("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY," /* never reused */
    " device_id text NOT NULL, metric text NOT NULL, created_at bigint NOT NULL,"
    " UNIQUE(device_id, metric));"
    "CREATE TABLE chunks("
    " series_id bigint NOT NULL, start_ts bigint NOT NULL, end_ts bigint NOT NULL,"
    " count integer NOT NULL, data bytea NOT NULL, PRIMARY KEY(series_id, start_ts))"
    " PARTITION BY RANGE (start_ts);"
    "ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL;" /* tsz does not compress */
    "CREATE TABLE points_log("
    " id bigint PRIMARY KEY, part integer NOT NULL DEFAULT 0, npoints integer NOT NULL,"
    " data bytea NOT NULL);"
    "ALTER TABLE points_log ALTER COLUMN data SET STORAGE EXTERNAL;"
    "CREATE INDEX points_log_part ON points_log(part, id);"
    /* cluster: which node holds which bus partition, and the nodes' heartbeats */
    "CREATE TABLE cluster_nodes("
    " id text PRIMARY KEY, started_at bigint NOT NULL, seen_at bigint NOT NULL,"
    " http text, mqtt text);";

/* the syslog alert channel (store/schema.c syslog_v6): a wider CHECK on the channel kind */
static const char syslog_v2[] =
    "ALTER TABLE alerts DROP CONSTRAINT alerts_method_check;"
    "ALTER TABLE alerts ADD CONSTRAINT alerts_method_check"
    " CHECK(method IN ('email','sms','webhook','syslog'));"
    "ALTER TABLE alert_channels DROP CONSTRAINT alert_channels_kind_check;"
    "ALTER TABLE alert_channels ADD CONSTRAINT alert_channels_kind_check"
    " CHECK(kind IN ('email','sms','webhook','syslog'));";

/* the device list's order by name (store/schema.c devices_name_v7) */
static const char devices_name_v3[] = "CREATE INDEX devices_name ON devices(name);";

/* users' API tokens (store/schema.c api_tokens_v8) */
static const char api_tokens_v4[] =
    "CREATE TABLE api_tokens("
    " id text PRIMARY KEY, user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name text NOT NULL DEFAULT '', prefix text NOT NULL UNIQUE, hash text NOT NULL,"
    " created_at bigint NOT NULL, last_used_at bigint, revoked_at bigint);"
    "CREATE INDEX api_tokens_user ON api_tokens(user_id);";

/* Names sort and match without case, byte by byte (as SQLite's NOCASE: store/schema.c
 * devices_name_v9): one index on lower(name) in the "C" collation serves the list's order and
 * the device pickers' prefix search (LIKE 'abc%' is a range of it whatever the database's
 * collation). */
static const char devices_name_v5[] =
    "DROP INDEX devices_name;"
    "CREATE INDEX devices_name ON devices((lower(name) COLLATE \"C\"));";

/* Several nodes on one database: log ids from one sequence (each node's own counter collided
 * with the others'), and each row names its writer (the node id kept in <data_dir>/node.id),
 * so a checkpoint cuts only its own node's rows. */
static const char points_log_writers_v6[] =
    "ALTER TABLE points_log ADD COLUMN writer text NOT NULL DEFAULT '';"
    "CREATE SEQUENCE points_log_ids;"
    "SELECT setval('points_log_ids', COALESCE((SELECT MAX(id) FROM points_log), 0) + 1, false);";

const pg_migration *pg_schema_migrations(size_t *count)
{
    static const pg_migration list[] = {
        {"initial", initial_v1},
        {"syslog_channel", syslog_v2},
        {"devices_name_index", devices_name_v3},
        {"api_tokens", api_tokens_v4},
        {"devices_name_nocase", devices_name_v5},
        {"points_log_writers", points_log_writers_v6},
    };
    *count = sizeof list / sizeof list[0];
    return list;
}
