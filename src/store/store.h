/* The storage interface: everything iotad keeps in its database, as a table of functions per
 * concern (settings, users and sessions, audit log, ...) behind one handle, so that callers hold
 * no SQL and a second back-end (PostgreSQL) is a new folder beside src/store/sqlite/, not edits
 * across the tree (the shape of redis's ConnectionType and of mosquitto's persist-sqlite plugin:
 * one file per entity behind a function table).
 *
 * A `store` is one connection: a thread uses its own handle (the loop thread's is s->st, the
 * outbox worker opens one with store_open_peer); handles of one database see each other's
 * committed writes. Conventions every back-end keeps:
 *   - ids are text (UUIDv7 strings, 36 characters, time-ordered), except the integer ids of
 *     rules, report schedules and audit rows;
 *   - times are int64 milliseconds since the Unix epoch (UTC), everywhere;
 *   - rows the API shows are returned as cJSON objects with the documented member names and
 *     JSON types (numbers, strings, booleans, null), caller frees;
 *   - results: STORE_OK (0), STORE_NOTFOUND (1), STORE_ERR (-1), STORE_ECONSTRAINT (a unique or
 *     foreign key violation: the caller answers 409 / 422);
 *   - transactions are explicit: store_begin/commit/rollback group several calls into one
 *     atomic, durable unit; outside one, every call is its own transaction.
 * The wrappers below are the API; the ops tables are what a back-end implements. */
#ifndef IOTAD_STORE_STORE_H
#define IOTAD_STORE_STORE_H

#include "core/point.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { STORE_OK = 0, STORE_NOTFOUND = 1, STORE_ERR = -1, STORE_ECONSTRAINT = -19 };

#define STORE_ID_LEN 36 /* a UUID string */

typedef struct store store;

/* ---- settings: key/value pairs changed at run time (key <= 64 bytes, value text) ---- */
typedef struct {
    /* STORE_OK with the value in out, STORE_NOTFOUND, STORE_ERR */
    int (*get)(store *st, const char *key, char *out, size_t cap);
    int (*set)(store *st, const char *key, const char *value, int64_t now_ms); /* upsert */
    /* Raises an integer setting to v (never lowers it; creates it when missing). */
    int (*raise_int)(store *st, const char *key, int64_t v, int64_t now_ms);
    /* [{"key","value","updated_at"}] ordered by key; prefix "" for all. NULL on error. */
    cJSON *(*list)(store *st, const char *prefix);
} store_settings_ops;

/* ---- users, sessions, invitations ---- */
typedef struct {
    char id[STORE_ID_LEN + 1], email[256], role[32];
    int64_t last_seen_ms;
} store_session;

typedef struct {
    const char *role;  /* "" any */
    const char *query; /* "" any: substring of name or e-mail */
    int64_t limit, offset;
} store_user_filter;

typedef struct {
    /* Number of users (any state). */
    int64_t (*count)(store *st);
    /* STORE_OK, STORE_ECONSTRAINT (e-mail taken), STORE_ERR. password is a PHC string. */
    int (*create)(store *st, const char *id, const char *name, const char *email,
                  const char *password, const char *role, int64_t now_ms);
    /* {"id","name","email","role","created_at","updated_at","disabled"} or NULL (none). */
    cJSON *(*get)(store *st, const char *id);
    /* {"id","name","email","role","created_at","disabled"} of a user id, or NULL. */
    cJSON *(*profile)(store *st, const char *id);
    /* Rows as get(); *total = matching rows without paging. */
    cJSON *(*list)(store *st, const store_user_filter *f, int64_t *total);
    /* [{"id","name","email","role"}] of enabled Analysts and Admins, by name. */
    cJSON *(*assignable)(store *st);
    /* The oldest enabled Admin (the simulator's devices belong to it). */
    int (*first_admin)(store *st, char *id, size_t cap);
    /* Whether a user with this id exists. */
    bool (*exists)(store *st, const char *id);
    /* Enabled Admins other than except_id. */
    int64_t (*admins_other_than)(store *st, const char *except_id);
    /* NULL arguments leave the field as it is. */
    int (*update)(store *st, const char *id, const char *name, const char *role,
                  const bool *disabled, int64_t now_ms);
    int (*remove)(store *st, const char *id);
    /* The role of an enabled user (STORE_NOTFOUND: none or disabled). */
    int (*role_of)(store *st, const char *id, char *role, size_t cap);
    /* The stored password (PHC string) of a user looked up by e-mail or by id; *disabled
     * (may be NULL) tells whether the account is disabled. STORE_NOTFOUND: no such user. */
    int (*password_by_email)(store *st, const char *email, char *out, size_t cap, char *id_out,
                             size_t id_cap, bool *disabled);
    int (*password_by_id)(store *st, const char *id, char *out, size_t cap);
    int (*set_password)(store *st, const char *id, const char *password, int64_t now_ms);

    /* Sessions, keyed by the SHA-256 of their token (the token is never stored). */
    int (*session_create)(store *st, const char *token_hash, const char *user_id, int64_t now_ms,
                          int64_t expires_ms, const char *peer, const char *user_agent);
    /* The live session (not expired, seen after idle_after_ms, user enabled). */
    int (*session_get)(store *st, const char *token_hash, int64_t now_ms, int64_t idle_after_ms,
                       store_session *out);
    int (*session_touch)(store *st, const char *token_hash, int64_t now_ms);
    int (*session_delete)(store *st, const char *token_hash);
    /* Every session of a user except keep_hash (NULL: all). */
    int (*sessions_delete_user)(store *st, const char *user_id, const char *keep_hash);
    /* Sessions expired or idle since before idle_before_ms. */
    int (*sessions_sweep)(store *st, int64_t now_ms, int64_t idle_before_ms);

    /* Invitations (token hashes). email may be NULL. */
    int (*invite_create)(store *st, const char *token_hash, const char *email, const char *role,
                         const char *created_by, int64_t now_ms, int64_t expires_ms);
    /* Marks an unused, unexpired invitation used and gives its role; STORE_NOTFOUND else. */
    int (*invite_use)(store *st, const char *token_hash, int64_t now_ms, char *role, size_t cap);
} store_users_ops;

/* ---- API tokens: users' long-lived credentials for integrations (MQTT subscriptions) ----
 * Stored as prefix + SHA-256 of the whole token (auth/token.h); a token acts with its user's
 * current role, and only while the user is enabled. */
typedef struct {
    char id[STORE_ID_LEN + 1], user_id[STORE_ID_LEN + 1], role[32], hash[65];
} store_token_auth;

typedef struct {
    /* STORE_OK, STORE_ECONSTRAINT (the prefix is taken, or no such user), STORE_ERR. */
    int (*create)(store *st, const char *id, const char *user_id, const char *name,
                  const char *prefix, const char *hash, int64_t now_ms);
    /* The unrevoked token with this prefix of an enabled user, with the user's role:
     * STORE_OK, STORE_NOTFOUND, STORE_ERR. */
    int (*lookup)(store *st, const char *prefix, store_token_auth *out);
    /* [{"id","user_id","user_email","name","prefix","created_at","last_used_at","revoked_at",
     * "revoked"}] of one user (user_id "": every user's), newest first. */
    cJSON *(*list)(store *st, const char *user_id);
    /* Revokes token id of user_id ("" any user; a revoked one stays revoked, keeping its
     * time): STORE_OK with its prefix, STORE_NOTFOUND, STORE_ERR. */
    int (*revoke)(store *st, const char *id, const char *user_id, int64_t now_ms, char *prefix,
                  size_t cap);
    int (*touch)(store *st, const char *prefix, int64_t now_ms); /* last_used_at */
} store_tokens_ops;

/* ---- devices, their API keys and their status/security events ---- */
typedef struct {
    const char *owner;  /* "" any, else only this owner's devices */
    const char *type;   /* "" any */
    const char *status; /* "" any, "online", "offline" (as stored) */
    const char *query;  /* "" any: substring of name, location, firmware, or the exact id */
    bool prefix;        /* query matches the start of the name (an index range) or the exact id */
    const char *sort;   /* name | type | location | created_at | last_seen | status */
    bool desc;
    int64_t limit, offset;
    /* >0: *total counts matches up to count_cap only (a lower bound when it reaches it);
     * 0: exact. A page shorter than limit gives the exact total without counting. */
    int64_t count_cap;
} store_device_filter;

/* Device metadata; on update a NULL member is left as it is, on create it takes its default
 * ("generic" type, "" texts, "{}" attributes). attributes is a JSON object's text. */
typedef struct {
    const char *owner_id, *name, *type, *location, *firmware, *attributes;
} store_device_fields;

typedef struct {
    int64_t from_ms, to_ms;
    const char *device_id, *category, *kind; /* "" any */
    const char *owner;                       /* "" any, else devices of this owner */
    int64_t limit;
} store_event_filter;

typedef void (*store_device_fn)(void *arg, const char *id, const char *owner_id,
                                int64_t last_seen_ms, const char *type);

typedef struct {
    /* {"id","owner_id","name","type","location","firmware","attributes" (object),"status",
     * "last_seen","created_at","updated_at"} or NULL */
    cJSON *(*get)(store *st, const char *id);
    /* Rows as get(), sorted by f->sort (ties by name); *total ignores paging. */
    cJSON *(*list)(store *st, const store_device_filter *f, int64_t *total);
    int (*create)(store *st, const char *id, const store_device_fields *f, int64_t now_ms);
    int (*update)(store *st, const char *id, const store_device_fields *f, int64_t now_ms);
    int (*remove)(store *st, const char *id); /* keys, events and states go with it */
    /* The owner ("" none); STORE_NOTFOUND when there is no such device. */
    int (*owner_of)(store *st, const char *id, char *owner, size_t cap);
    /* Calls fn for every device (loading the live device state at start). */
    int (*scan)(store *st, store_device_fn fn, void *arg);
    int (*all_offline)(store *st); /* nobody is connected right after a start */
    int (*set_status)(store *st, const char *id, const char *status, int64_t last_seen_ms);
    int (*set_last_seen)(store *st, const char *id, int64_t last_seen_ms);
    /* [{"id","type","idx"}] of the simulator's devices (attributes.simulated true,
     * idx = attributes.sim_index), oldest first. */
    cJSON *(*simulated)(store *st);

    /* Events (device_id NULL: not tied to a known device). */
    int (*event_add)(store *st, int64_t ts_ms, const char *device_id, const char *category,
                     const char *kind, const char *transport, const char *peer, const char *detail);
    /* [{"id","ts","device_id","category","kind","transport","peer","detail"}], newest first. */
    cJSON *(*events)(store *st, const store_event_filter *f);

    /* API keys: stored as prefix + SHA-256 of the secret. */
    int (*key_create)(store *st, const char *id, const char *device_id, const char *name,
                      const char *prefix, const char *hash, const char *created_by,
                      int64_t now_ms); /* STORE_ECONSTRAINT: the prefix is taken */
    /* The key with this prefix: its device, hash and revocation time (-1: live). */
    int (*key_lookup)(store *st, const char *prefix, char *device_id, size_t device_cap, char *hash,
                      size_t hash_cap, int64_t *revoked_at_ms);
    /* [{"id","name","prefix","created_at","revoked_at","last_used_at","revoked"}] */
    cJSON *(*keys_list)(store *st, const char *device_id);
    /* The prefix of the device's key given by id or prefix. */
    int (*key_prefix)(store *st, const char *device_id, const char *id_or_prefix, char *prefix,
                      size_t cap);
    int (*key_name)(store *st, const char *prefix, char *name, size_t cap);
    int (*key_revoke)(store *st, const char *prefix, int64_t now_ms);
    /* Keys named name on the simulator's devices: [{"prefix"}] of the live ones; retire revokes
     * them and deletes those revoked before now - keep_ms. */
    cJSON *(*sim_keys_live)(store *st, const char *name);
    int (*sim_keys_retire)(store *st, const char *name, int64_t now_ms, int64_t keep_ms);
} store_devices_ops;

/* ---- detector state: one opaque snapshot per (device, series) ---- */
typedef void (*store_state_fn)(void *arg, const char *device_id, const char *metric,
                               const void *blob, size_t len);
typedef struct {
    /* Stores the snapshot unless the device is gone (then nothing, STORE_OK). */
    int (*put)(store *st, const char *device_id, const char *metric, const void *blob, size_t len,
               int64_t now_ms);
    /* Every snapshot (metric NULL) or those of one metric. */
    int (*scan)(store *st, const char *metric, store_state_fn fn, void *arg);
} store_state_ops;

/* ---- anomalies ---- */
typedef struct {
    const char *id, *device_id, *metric, *severity, *description;
    const char *details; /* JSON object text */
    int64_t ts_ms;
    int64_t rule_id; /* 0: found by the detectors */
} store_anomaly;

typedef struct {
    int64_t from_ms, to_ms;                    /* detected_at */
    const char *device_id, *severity, *metric; /* "" any */
    int resolved;                              /* -1 any, 0, 1 */
    const char *owner;                         /* "" any, else devices of this owner */
    int64_t limit, offset;
} store_anomaly_filter;

typedef struct {
    /* {"id","device_id","device_name","metric","detected_at","updated_at","severity",
     * "description","details" (object),"resolved","resolved_at","verdict","rule_id",
     * "flapping","incident_id","incident_status","incident_title"} (the anomaly's open incident,
     * else its latest resolved one, else nulls) when visible to owner ("" any), else NULL. */
    cJSON *(*get)(store *st, const char *id, const char *owner);
    /* Rows as get(), newest first; *total ignores paging. */
    cJSON *(*list)(store *st, const store_anomaly_filter *f, int64_t *total);
    /* {"device_id","metric","severity","detected_at","type","owner_id"} (the device's type and
     * owner, "" when none) or NULL: what the alert policies match on. */
    cJSON *(*context)(store *st, const char *id);
    /* Other anomalies of the series detected after since_ms (only flapping ones if asked). */
    int64_t (*recent_count)(store *st, const char *device_id, const char *metric, int64_t since_ms,
                            const char *except_id, bool flapping_only);
    int (*set_flapping)(store *st, const char *id);
    /* {"id","device_id","device_name","severity","description"} or NULL. */
    cJSON *(*brief)(store *st, const char *id);
    /* The row the live stream sends: as get() without device_name and flapping. */
    cJSON *(*event_row)(store *st, const char *id);
    /* A new episode, unless its id is known (a replay after a crash) or its device is gone;
     * *inserted tells which. */
    int (*open)(store *st, const store_anomaly *a, bool *inserted);
    /* A continuing episode: latest explanation, severity only rises. */
    int (*update)(store *st, const char *id, int64_t ts_ms, const char *details,
                  const char *severity);
    /* The episode ended: details gain "ended": 1 and "ended_at". */
    int (*close)(store *st, const char *id, int64_t ts_ms);
    /* Resolves (keeping an earlier resolution time); verdict NULL keeps the old one. */
    int (*resolve)(store *st, const char *id, int64_t now_ms, const char *verdict);
    /* Anomalies in storage order (a monotonic sequence; the alert policies keep a watermark
     * in it): the sequence of one, the highest, and ids after a sequence. */
    int64_t (*seq_of)(store *st, const char *id);
    int64_t (*max_seq)(store *st);
    cJSON *(*ids_after)(store *st, int64_t seq, int64_t limit); /* [{"id"}] */
} store_anomalies_ops;

/* ---- threshold rules (integer ids) ---- */
typedef struct {
    const char *name, *device_id, *device_type, *metric, *kind, *severity; /* NULL: unchanged */
    const double *threshold;
    const int64_t *for_ms;
    const bool *enabled;
} store_rule_fields;

typedef struct {
    int64_t id;
    const char *name, *device_id, *device_type, *metric, *kind, *severity; /* "" when NULL */
    double threshold;
    int64_t for_ms;
} store_rule;

typedef struct {
    /* [{"id","name","device_id","device_type","metric","kind","threshold","for_ms","severity",
     * "enabled","created_at","updated_at"}]: every rule (owner "") or the global ones and those
     * of the owner's devices. */
    cJSON *(*list)(store *st, const char *owner);
    cJSON *(*get)(store *st, int64_t id);
    bool (*exists)(store *st, int64_t id);
    /* Missing threshold/for_ms: 0; missing enabled: true. *id gets the new rule's id. */
    int (*create)(store *st, const store_rule_fields *f, const char *created_by, int64_t now_ms,
                  int64_t *id);
    int (*update)(store *st, int64_t id, const store_rule_fields *f, int64_t now_ms);
    int (*remove)(store *st, int64_t id);
    /* Calls fn for every enabled rule, by id. */
    int (*scan_enabled)(store *st, void (*fn)(void *arg, const store_rule *r), void *arg);
} store_rules_ops;

/* ---- time series: what a plain handle answers about them (the store itself is store_ts) ---- */
typedef struct {
    /* The id of the newest row of the durability log stored now (0: none); log ids grow with
     * every commit and are never reused. */
    int64_t (*log_head)(store *st);
} store_series_ops;

/* ---- the time-series store: series, their points, the durability log ----
 * One per server, opened on the loop's handle (store_ts_open): the back-end opens what else it
 * needs (the SQLite one a second connection for the writer thread, store/sqlite/tsdb.c). The
 * ingest writer (store/writer.c) is its only writer: one thread that writes a group of batches
 * per transaction (write) and does the housekeeping between groups; any thread may call the
 * readers. A series is named by (device id, metric) and known by an integer id.
 * Results: 0, or negative (STORE_TS_E_*; a lookup of a missing series is negative too). */
typedef struct store_ts store_ts;

enum {
    STORE_TS_E_STORE = -1,        /* not stored: the commit failed (I/O error, ...) */
    STORE_TS_E_FULL = -2,         /* not stored: the disk or the database's size limit is full */
    STORE_TS_E_SERIES_LIMIT = -3, /* this batch not stored: over max_series_per_device */
};

typedef struct {
    int64_t log_keep_after; /* log rows above this are kept until released (0: none) */
    bool full_sync;         /* commits durable on power loss (else only on process crash) */
    uint64_t wal_max_bytes; /* SQLite: the WAL starts over above this (0: 64 MiB; ts.c) */
    /* PostgreSQL: this node's id (<data_dir>/node.id), naming its rows of the shared log so
     * that its checkpoints cut only those; NULL or "" for a single node */
    const char *writer;
} store_ts_options;

/* One device's points in a write. In: points sorted by metric, then time
 * (ingest_points_sort); internal (iotad's own sys.* series) is exempt from the series limit.
 * Out: status 0 or STORE_TS_E_SERIES_LIMIT (this batch not stored; the others are), the
 * points that replaced an earlier one (same series and ms) and those dropped as older than
 * their series' stored chunks. */
typedef struct {
    const char *device_id;
    const ingest_point *points;
    size_t n;
    bool internal;
    int status;
    uint32_t replaced, too_old;
} store_ts_batch;

typedef struct {
    uint64_t series;           /* series known in memory */
    uint64_t heads_loaded;     /* series whose newest points are in memory */
    uint64_t head_bytes;       /* their memory */
    uint64_t points_appended;  /* accepted since open */
    uint64_t points_dropped;   /* older than their series' stored chunks, since open */
    uint64_t chunks_written;   /* full chunks written since open */
    uint64_t bytes_chunks;     /* their encoded size */
    uint64_t points_in_chunks; /* their points */
    uint64_t log_rows;         /* points in the durability log (since the last checkpoint) */
    uint64_t checkpoints;
    uint64_t wal_restarts; /* SQLite: times a WAL above wal_max_bytes started over (ts.c) */
} store_ts_stats;

typedef void (*store_ts_point_fn)(void *arg, int64_t ts, double v);
typedef void (*store_ts_bucket_fn)(void *arg, int64_t bucket_ts, double min, double max, double avg,
                                   uint64_t count);
typedef void (*store_ts_metric_fn)(void *arg, const char *metric, int64_t series_id);
typedef void (*store_ts_log_fn)(void *arg, int64_t row, const char *device_id, const char *metric,
                                int64_t ts, double v);

typedef struct {
    /* Final checkpoint, then frees everything the store opened. */
    void (*close)(store_ts *t);

    /* Writer thread. */
    /* One transaction with the points of n batches (devices over max_series_per_device,
     * 0 = no limit, are refused one by one): 0 once durable, with *seq the log row id naming
     * the commit; else STORE_TS_E_STORE or _FULL with the error text in msg (rolled back). */
    int (*write)(store_ts *t, store_ts_batch *b, size_t n, uint64_t max_series_per_device,
                 int64_t *seq, char *msg, size_t cap);
    int (*delete_device)(store_ts *t, const char *device_id); /* every series, own txn */
    int (*checkpoint)(store_ts *t); /* makes the in-memory state durable, empties the log */
    /* Retention: drops what ends before cutoff_ms and refuses older points from now on. */
    int (*delete_before)(store_ts *t, int64_t cutoff_ms);
    /* A small write that leaves the data as it was: whether commits can succeed again after a
     * failure. 0, STORE_TS_E_FULL or STORE_TS_E_STORE with the error text in msg. */
    int (*probe)(store_ts *t, char *msg, size_t cap);

    /* The log as a record of commits (docs/design.md): rows <= upto are no longer needed (any
     * thread); the points of the rows after `after`, in row order (at start-up, before the
     * writer appends): the number of points or negative. */
    void (*log_release)(store_ts *t, int64_t upto);
    int (*log_scan)(store_ts *t, int64_t after, store_ts_log_fn cb, void *arg);

    /* Readers (any thread). */
    int (*lookup)(store_ts *t, const char *device_id, const char *metric, int64_t *series_id);
    /* cb for each metric of the device, by name: the count or negative. */
    int (*list_metrics)(store_ts *t, const char *device_id, store_ts_metric_fn cb, void *arg);
    /* Raw points from_ms <= ts < to_ms, ascending, at most limit (0 = no limit); *next_ts
     * (may be NULL) gets the first point's time left out, or -1. The count or negative. */
    int (*query)(store_ts *t, int64_t series_id, int64_t from_ms, int64_t to_ms, size_t limit,
                 store_ts_point_fn cb, void *arg, int64_t *next_ts);
    /* Aggregates in buckets aligned to multiples of step_ms since the epoch, one call per
     * non-empty bucket, ascending: the count or negative. */
    int (*rollup)(store_ts *t, int64_t series_id, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                  store_ts_bucket_fn cb, void *arg);
    void (*stats)(store_ts *t, store_ts_stats *out);
} store_ts_ops;

/* Every back-end's time-series store starts with this. */
struct store_ts {
    const store_ts_ops *ops;
};

/* ---- incidents: status, assignment, linked anomalies and a timeline ---- */
typedef struct {
    int64_t from_ms, to_ms;  /* created_at */
    const char *status;      /* "" any, "open" (not resolved), new|investigating|resolved */
    const char *severity;    /* "" any */
    const char *assigned_to; /* "" any, "none" unassigned, else a user id */
    const char *device_id;   /* "" any: incidents with an anomaly of this device */
    const char *owner;       /* "" any, else incidents involving one of the owner's devices */
    int64_t limit, offset;
} store_incident_filter;

typedef struct {
    const char *id, *anomaly_id, *title, *severity, *device_id;
    const char *origin;      /* "auto" | "manual" */
    const char *assigned_to; /* NULL: unassigned */
    const char *created_by;  /* NULL for automatic ones */
} store_incident_new;

typedef struct {
    /* {"id","title","status","severity","device_id","device_name","anomaly_id","assigned_to",
     * "assignee_name","origin","created_by","created_at","updated_at","acknowledged_at",
     * "resolved_at","verdict","time_to_acknowledge_ms","time_to_resolve_ms","anomaly_count"}
     * or NULL */
    cJSON *(*get)(store *st, const char *id);
    /* get() plus "anomalies" (the linked ones the owner may see) and "timeline", when the
     * incident involves the owner's devices ("" any); else NULL. */
    cJSON *(*full)(store *st, const char *id, const char *owner);
    cJSON *(*list)(store *st, const store_incident_filter *f, int64_t *total);
    int (*status_of)(store *st, const char *id, char *status, size_t cap);
    int64_t (*count_by_status)(store *st, const char *status);
    int (*create)(store *st, const store_incident_new *n, int64_t now_ms);
    /* The newest unresolved automatic incident of a device. */
    int (*open_auto_for)(store *st, const char *device_id, char *id, size_t cap);
    /* Links an anomaly (raising the incident's severity to the anomaly's when higher);
     * *linked false when it was linked already. */
    int (*link)(store *st, const char *incident_id, const char *anomaly_id, int64_t now_ms,
                bool *linked);
    bool (*anomaly_linked)(store *st, const char *anomaly_id); /* to any incident */
    /* The open (unresolved) incident other than except (NULL: none excepted) the anomaly is
     * linked to, the oldest if several: STORE_OK with its id, STORE_NOTFOUND. One anomaly is in
     * at most one open incident; the API refuses a second one. */
    int (*open_incident_of)(store *st, const char *anomaly_id, const char *except, char *id,
                            size_t cap);
    /* [{"anomaly_id"}] linked to the incident, in link order, at most limit. */
    cJSON *(*anomaly_ids)(store *st, const char *id, int64_t limit);
    /* The open incidents linked to the anomaly that have no unresolved anomaly left:
     * [{"id","status","verdict"}], verdict false_positive when every linked anomaly was judged
     * so, else confirmed when one was, else null. */
    cJSON *(*settled_by)(store *st, const char *anomaly_id);
    /* Appends a timeline entry (and touches updated_at); *event_id (may be NULL) gets its id. */
    int (*event_add)(store *st, const char *incident_id, const char *actor, const char *kind,
                     const char *detail_json, int64_t now_ms, int64_t *event_id);
    cJSON *(*event_get)(store *st, int64_t event_id); /* {"id","ts","actor","kind","detail"} */
    int (*assignee_of)(store *st, const char *id, char *user_id, size_t cap); /* "" none */
    int (*set_assignee)(store *st, const char *id, const char *user_id);      /* NULL: unassign */
    int (*set_title)(store *st, const char *id, const char *title);
    /* investigating: acknowledged at now unless already; reopen clears resolution and verdict */
    int (*set_investigating)(store *st, const char *id, int64_t now_ms, bool reopen);
    int (*set_resolved)(store *st, const char *id, int64_t now_ms, const char *verdict);
    /* [{"id","device_id","metric"}] of the linked anomalies not resolved yet. */
    cJSON *(*unresolved_anomalies)(store *st, const char *id);
    /* Resolves every linked anomaly (keeping earlier resolution times; verdict NULL keeps). */
    int (*resolve_anomalies)(store *st, const char *id, int64_t now_ms, const char *verdict);
} store_incidents_ops;

/* ---- alerts: the outbox, channels, policies, contacts, escalations ---- */
typedef struct {
    int64_t from_ms, to_ms;                                      /* created_at */
    const char *status, *method, *anomaly_id, *device_id, *kind; /* "" any */
    const char *owner; /* "" any, else alerts of the owner's devices */
    int64_t limit, offset;
} store_alert_filter;

typedef struct {
    const char *id, *anomaly_id, *user_id, *method, *channel_id, *policy_id, *recipient;
    const char *device_id, *severity, *kind, *group_key; /* anomaly_id, user_id, policy_id,
                                                           device_id may be NULL */
    int64_t due_ms;
} store_alert_new;

typedef struct {
    const char *name, *kind, *url, *config; /* config: JSON object text */
    const char *sealed_secret;              /* "" none; update: NULL keeps the stored one */
    bool enabled;
    int64_t rate_per_min;
} store_channel;

typedef struct {
    const char *id, *name, *channel_id, *device_id, *device_type; /* device_*: NULL any */
    bool enabled, device_owner;
    /* JSON array texts */
    const char *severities, *users, *roles, *addresses, *escalate_users, *escalate_roles,
        *escalate_addresses;
    int64_t group_wait_ms, group_window_ms, escalate_after_ms;
} store_policy;

typedef struct {
    const char *id, *method, *recipient, *channel_id, *url, *config, *secret;
    bool has_channel, enabled;
    int64_t rate_per_min;
} store_due_alert;

typedef struct {
    /* Outbox rows. The row: {"id","anomaly_id","user_id","method","recipient","status",
     * "attempts","created_at","sent_at","due_at","updated_at","severity","kind","count",
     * "device_id","channel_id","policy_id","last_error","acked_at","acked_by"}. */
    cJSON *(*row)(store *st, const char *id);
    /* row() plus "payload" (object), when the alert's device is the owner's ("" any). */
    cJSON *(*get)(store *st, const char *id, const char *owner);
    cJSON *(*list)(store *st, const store_alert_filter *f, int64_t *total);
    /* [{"attempt","started_at","duration_ms","ok","code","error"}] */
    cJSON *(*attempts)(store *st, const char *id);
    cJSON *(*anomaly_ids)(store *st, const char *id); /* [{"anomaly_id"}] */
    bool (*exists)(store *st, const char *id);
    /* A dead-lettered alert back to pending; *requeued false when it was not dead. */
    int (*retry)(store *st, const char *id, int64_t now_ms, bool *requeued);
    int (*ack)(store *st, const char *id, const char *user_id, int64_t now_ms);
    int64_t (*count_by_status)(store *st, const char *status);
    /* Grouping: the pending row of a group not yet frozen; adding to it (count + 1, severity
     * rises) may lose a race with the worker: *grouped tells. */
    int (*group_find)(store *st, const char *group_key, char *id, size_t cap);
    int (*group_add)(store *st, const char *id, const char *severity, int64_t now_ms,
                     bool *grouped);
    int64_t (*group_last_due)(store *st, const char *group_key, int64_t after_ms);
    int (*create)(store *st, const store_alert_new *a, int64_t now_ms);
    int (*link_anomaly)(store *st, const char *alert_id, const char *anomaly_id); /* once */

    /* Channels. The row: {"id","name","kind","url","config" (object),"enabled",
     * "rate_per_min","has_secret","created_at","updated_at"} (never the secret). */
    cJSON *(*channel_get)(store *st, const char *id);
    cJSON *(*channels_list)(store *st);
    int (*channel_create)(store *st, const char *id, const store_channel *c, int64_t now_ms);
    int (*channel_update)(store *st, const char *id, const store_channel *c, int64_t now_ms);
    int (*channel_delete)(store *st, const char *id, bool *deleted);
    /* [{"id","secret"}] of the channels with a secret; re-sealing one. */
    cJSON *(*channel_secrets)(store *st);
    int (*channel_set_secret)(store *st, const char *id, const char *sealed);

    /* Policies. The row: every store_policy field (arrays as JSON) plus created_at,
     * updated_at. */
    cJSON *(*policy_get)(store *st, const char *id);
    cJSON *(*policy_ids)(store *st); /* [{"id"}], oldest first */
    int (*policy_put)(store *st, const store_policy *p, int64_t now_ms); /* create or replace */
    int (*policy_delete)(store *st, const char *id, bool *deleted);
    /* The enabled policies (with an enabled channel) for an anomaly of this device, type and
     * severity: [{"id","channel_id","kind","url","users","roles","device_owner","addresses",
     * "group_wait_ms","group_window_ms","escalate_after_ms"}] (arrays as JSON text). */
    cJSON *(*policies_matching)(store *st, const char *device_id, const char *device_type,
                                const char *severity);
    /* The addresses to notify on a channel kind: the users (JSON array of ids), the users of
     * the roles (JSON array), the owner ("" none) through their enabled contacts of that kind
     * admitting the severity rank (e-mail falls back to the account address), plus literal
     * addresses (JSON array). [{"user_id" (or null),"address"}] */
    cJSON *(*recipients)(store *st, const char *users, const char *roles, const char *owner,
                         const char *channel_kind, int severity_rank, const char *addresses);

    /* Contacts of a user: [{"id","kind","address","min_severity","enabled","created_at"}]. */
    cJSON *(*contacts_list)(store *st, const char *user_id);
    int (*contacts_clear)(store *st, const char *user_id);
    int (*contact_add)(store *st, const char *id, const char *user_id, const char *kind,
                       const char *address, const char *min_severity, bool enabled, int64_t now_ms);

    /* Delivery (the outbox worker, on its own handle). */
    /* Calls fn for the pending rows due at now, oldest first, at most limit: the row and its
     * channel (has_channel false when the channel was deleted; the secret as stored). */
    int (*due)(store *st, int64_t now_ms, int64_t limit,
               void (*fn)(void *arg, const store_due_alert *d), void *arg);
    /* pending -> sending with attempts + 1; *attempt gets the new count, 0 when the row was
     * no longer pending. */
    int (*claim)(store *st, const char *id, int64_t now_ms, int *attempt);
    /* The frozen payload (malloc'ed, NULL when not frozen yet) and freezing it. */
    char *(*payload_get)(store *st, const char *id);
    int (*payload_set)(store *st, const char *id, const char *payload);
    /* What a payload is built from: the alert {"id","anomaly_id","kind","severity","count",
     * "created_at","channel_id","device_id"}, its anomaly {"id","metric","severity",
     * "description","detected_at","details" (object),"flapping","device_id","device_name",
     * "device_type","device_location"}, and the anomalies grouped into it [{"id","device_id",
     * "device_name","metric","severity","description","detected_at"}] (at most limit). */
    cJSON *(*payload_alert)(store *st, const char *id);
    cJSON *(*payload_anomaly)(store *st, const char *anomaly_id);
    cJSON *(*payload_anomalies)(store *st, const char *id, int64_t limit);
    int (*attempt_add)(store *st, const char *id, int attempt, int64_t started_ms,
                       int64_t duration_ms, bool ok, long code, const char *error);
    int (*mark_sent)(store *st, const char *id, int64_t now_ms);
    /* dead-lettered (only_pending: unless no longer pending) */
    int (*mark_dead)(store *st, const char *id, const char *error, int64_t now_ms,
                     bool only_pending);
    int (*mark_retry)(store *st, const char *id, int64_t due_ms, const char *error, int64_t now_ms);
    int (*postpone)(store *st, const char *id, int64_t due_ms);
    int64_t (*next_due)(store *st); /* INT64_MAX: nothing pending */
    /* sending -> pending (a transfer abandoned at stop: id; every one at start: id NULL);
     * *count (may be NULL) gets how many. */
    int (*release)(store *st, const char *id, int64_t now_ms, int *count);

    /* Escalations of critical anomalies (once per anomaly and policy). */
    int (*escalation_add)(store *st, const char *anomaly_id, const char *policy_id, int64_t due_ms);
    /* Due ones: [{"anomaly_id","policy_id","channel_id","kind","url","escalate_users",
     * "escalate_roles","escalate_addresses","device_id","severity","is_acked" (bool)}] */
    cJSON *(*escalations_due)(store *st, int64_t now_ms, int64_t limit);
    int (*escalation_done)(store *st, const char *anomaly_id, const char *policy_id);
} store_alerts_ops;

/* ---- reports (built documents), their schedules, and the record of forensic exports ---- */
typedef struct {
    const char *id, *kind, *params; /* params: JSON object text */
    int64_t from_ms, to_ms;
    int64_t schedule_id; /* 0: on demand */
    const char *created_by;
} store_report_new;

typedef struct {
    /* Report rows: {"id","kind","status","from","to","params" (object),"schedule_id",
     * "created_by","created_at","finished_at","error","sha256"}; compliance reports only when
     * with_compliance. */
    cJSON *(*get)(store *st, const char *id, bool with_compliance);
    cJSON *(*list)(store *st, const char *kind, int64_t schedule_id, bool with_compliance,
                   int64_t limit, int64_t offset, int64_t *total);
    int (*create)(store *st, const store_report_new *r, int64_t now_ms); /* queued */
    int (*set_running)(store *st, const char *id);
    int (*set_done)(store *st, const char *id, const char *document, const char *sha256,
                    int64_t now_ms);
    int (*set_failed)(store *st, const char *id, const char *error, int64_t now_ms);
    char *(*document)(store *st, const char *id); /* malloc'ed JSON text, NULL if none */
    /* [{"id","params","created_by"}] of the builds left queued or running, oldest first. */
    cJSON *(*unfinished)(store *st);

    /* Schedules (integer ids): {"id","name","kind","period","params" (object),"enabled",
     * "next_run","last_run","created_by","created_at"}. */
    cJSON *(*schedules_list)(store *st, bool with_compliance);
    cJSON *(*schedule_get)(store *st, int64_t id);
    int (*schedule_create)(store *st, const char *name, const char *kind, const char *period,
                           const char *params, int64_t next_run_ms, const char *created_by,
                           int64_t now_ms, int64_t *id);
    int (*schedule_delete)(store *st, int64_t id, bool with_compliance, bool *deleted);
    /* [{"id"}] of the enabled schedules due at now, at most limit, soonest first. */
    cJSON *(*schedules_due)(store *st, int64_t now_ms, int64_t limit);
    int (*schedule_ran)(store *st, int64_t id, int64_t now_ms, int64_t next_run_ms);

    /* Exports: {"id","created_by","peer","format","params" (object),"started_at",
     * "finished_at","status","bytes","records","sha256","manifest" (object)}; created_by ""
     * any. */
    cJSON *(*exports_list)(store *st, const char *created_by, int64_t limit);
    cJSON *(*export_get)(store *st, const char *id, const char *created_by);
    int (*export_start)(store *st, const char *id, const char *created_by, const char *peer,
                        const char *format, const char *params, int64_t now_ms);
    /* status done (with sha256 and manifest), aborted or failed */
    int (*export_end)(store *st, const char *id, const char *status, int64_t bytes, int64_t records,
                      const char *sha256, const char *manifest, int64_t now_ms);
} store_reports_ops;

/* ---- report queries: the aggregates the report builders read ----
 * A catalog of named queries over a scope (the report's range and device filter); each
 * back-end has the same names (store/sqlite/report_queries.c lists them with what they
 * return). The builders only choose queries and shape the document. */
typedef struct store_report_scope {
    int64_t from_ms, to_ms;
    const char *device_type, *group, *device_id, *owner_id; /* device filter, "" any */
    int64_t bucket_ms;                                      /* chart bucket */
    int64_t flood_threshold;                                /* connects per interval */
    const char *text; /* a query's own argument (a device id, a severity, a kind) */
    int64_t a, b;     /* a query's own numbers (a seq, a time range) */
} store_report_scope;

typedef struct {
    /* {"columns":["name",...],"rows":[[v,...],...]} or NULL (unknown query, error). */
    cJSON *(*table)(store *st, const char *name, const store_report_scope *sc);
    /* The first value of the first row: STORE_OK, STORE_NOTFOUND (no row, or NULL),
     * STORE_ERR (unknown query, error). */
    int (*number)(store *st, const char *name, const store_report_scope *sc, double *out);
    int (*text)(store *st, const char *name, const store_report_scope *sc, char *out, size_t cap);
} store_report_queries_ops;

/* ---- export rows: the forensic export's records, a page at a time ----
 * The export (report/export.c) pages through each kind by a keyset, so no statement stays
 * open between pieces and the connection stays free for other requests. */
enum { STORE_EXPORT_ANOMALIES, STORE_EXPORT_INCIDENTS, STORE_EXPORT_EVENTS, STORE_EXPORT_AUDIT };

typedef enum { STORE_NULL, STORE_INT, STORE_REAL, STORE_TEXT } store_value_type;
typedef struct {
    store_value_type type;
    int64_t i;     /* STORE_INT */
    double r;      /* STORE_REAL */
    const char *s; /* STORE_TEXT, valid during the callback */
} store_value;

typedef struct {
    int64_t from_ms, to_ms;
    const char *devices;     /* comma-separated ids, "" any */
    const char *device_type; /* "" any */
    const char *owner_id;    /* "" any */
} store_export_scope;

/* Where the previous page of a kind ended; zeroed (= {0}) to start from its first row. The
 * back-end keeps the last row's keys here. */
typedef struct {
    bool started;
    int64_t ts, id;
    char text[64];
} store_export_cursor;

/* One row: n columns with their names. Columns 0..3 are the record's time, device id, name
 * and value (named ts_, device_id_, name_, value_: the CSV columns); a name ending in '_' is
 * not a data column. The others are the record's fields (NDJSON members). */
typedef void (*store_row_fn)(void *arg, int n, const char *const *names, const store_value *v);

typedef struct {
    /* The scope's next device after `after` ("" for the first), by id: STORE_OK with its id,
     * STORE_NOTFOUND (no more), STORE_ERR. */
    int (*next_device)(store *st, const store_export_scope *sc, const char *after, char *out,
                       size_t cap);
    /* Up to `limit` rows of a kind (STORE_EXPORT_*) after the cursor, in key order, each given
     * to row(); the cursor moves to the last. The rows given, or STORE_ERR. The fields per kind:
     *   anomalies (by detected_at, id): id, device_id, metric, detected_at, updated_at,
     *     severity, description, details, resolved, resolved_at, verdict, rule_id;
     *   incidents (in storage order): anomaly_device_id and every column of the incident;
     *     the device filter through the incident's device and its anomaly's;
     *   events (by id): id, ts, device_id, category, kind, transport, peer, detail; events
     *     without a device only when the scope has no device filter;
     *   audit (by seq): seq, ts, actor, action, target, detail, peer, prev_hash, hash; with a
     *     device filter, the entries whose target is one of the devices. */
    int (*page)(store *st, int kind, const store_export_scope *sc, store_export_cursor *cur,
                int limit, store_row_fn row, void *arg);
} store_export_ops;

/* ---- audit log (the hash chain itself is store/audit.h) ---- */
typedef struct {
    /* [{"seq","ts","actor","action","target","detail","peer","hash"}], newest first, rows with
     * seq < before_seq whose action starts with action_prefix. */
    cJSON *(*list)(store *st, int64_t before_seq, const char *action_prefix, int64_t limit);
    /* What the hash chain (store/audit.c) needs. The newest row's seq and hash: STORE_OK,
     * STORE_NOTFOUND (an empty log), STORE_ERR. */
    int (*head)(store *st, int64_t *seq, char *hash, size_t cap);
    /* Appends a row as given (its hash computed by store/audit.c); peer may be NULL. */
    int (*insert)(store *st, int64_t seq, int64_t ts_ms, const char *actor, const char *action,
                  const char *target, const char *detail, const char *peer, const char *prev_hash,
                  const char *hash);
    /* Up to limit rows with seq > after_seq, oldest first: [{"seq","ts","actor","action",
     * "target","detail","peer","prev_hash","hash"}], NULL on error. */
    cJSON *(*rows_after)(store *st, int64_t after_seq, int64_t limit);
} store_audit_ops;

/* A back-end: its name and its tables. */
typedef struct store_backend {
    const char *name;
    /* Another handle to the same database, for another thread (full_sync: every commit
     * durable on power loss; else only on process crash). */
    int (*open_peer)(store *st, bool full_sync, store **out);
    void (*close)(store *st);
    int (*begin)(store *st); /* a write transaction (taken at once) */
    int (*commit)(store *st);
    void (*rollback)(store *st);
    const store_settings_ops *settings;
    const store_users_ops *users;
    const store_tokens_ops *tokens;
    const store_audit_ops *audit;
    const store_devices_ops *devices;
    const store_state_ops *state;
    const store_anomalies_ops *anomalies;
    const store_rules_ops *rules;
    const store_series_ops *series;
    const store_incidents_ops *incidents;
    const store_alerts_ops *alerts;
    const store_reports_ops *reports;
    const store_report_queries_ops *report_queries;
    const store_export_ops *exports;
    /* Opens the time-series store of the database st is connected to (st stays the caller's
     * and must outlive it). 0, or -1 with the reason in err. */
    int (*ts_open)(store *st, const store_ts_options *opt, store_ts **out, char *err, size_t cap);
    /* Whether a transaction is open on this handle (store_begin without its end). */
    bool (*in_transaction)(store *st);
} store_backend;

/* Every back-end's handle starts with this. */
struct store {
    const store_backend *be;
};

static inline void store_close(store *st)
{
    if (st) st->be->close(st);
}
static inline int store_open_peer(store *st, bool full_sync, store **out)
{
    return st->be->open_peer(st, full_sync, out);
}
static inline int store_begin(store *st)
{
    return st->be->begin(st);
}
static inline int store_commit(store *st)
{
    return st->be->commit(st);
}
static inline void store_rollback(store *st)
{
    st->be->rollback(st);
}
/* Commits, or rolls back when the commit fails; the commit's result. */
static inline int store_commit_or_rollback(store *st)
{
    int rc = st->be->commit(st);
    if (rc != 0) st->be->rollback(st);
    return rc;
}

#define STORE_SETTINGS(st) ((st)->be->settings)
#define STORE_USERS(st) ((st)->be->users)
#define STORE_TOKENS(st) ((st)->be->tokens)
#define STORE_AUDIT(st) ((st)->be->audit)
#define STORE_DEVICES(st) ((st)->be->devices)
#define STORE_STATE(st) ((st)->be->state)
#define STORE_ANOMALIES(st) ((st)->be->anomalies)
#define STORE_RULES(st) ((st)->be->rules)
#define STORE_SERIES(st) ((st)->be->series)
#define STORE_INCIDENTS(st) ((st)->be->incidents)
#define STORE_ALERTS(st) ((st)->be->alerts)
#define STORE_REPORTS(st) ((st)->be->reports)
#define STORE_REPORT_QUERIES(st) ((st)->be->report_queries)
#define STORE_EXPORTS(st) ((st)->be->exports)

/* The time-series store of st's database (store_ts_ops). A back-end without one: -1 with
 * the reason in err, never a crash. */
static inline int store_ts_open(store *st, const store_ts_options *opt, store_ts **out, char *err,
                                size_t cap)
{
    *out = NULL;
    if (!st->be->ts_open) {
        snprintf(err, cap, "the %s back-end has no time-series store", st->be->name);
        return -1;
    }
    return st->be->ts_open(st, opt, out, err, cap);
}
static inline void store_ts_close(store_ts *t)
{
    if (t) t->ops->close(t);
}
#define STORE_TS(t) ((t)->ops)

/* Generic helpers over the tables (store.c). */
/* The stored setting, or def when there is none. */
void store_setting_or(store *st, const char *key, const char *def, char *out, size_t cap);
/* The stored setting as an integer, or def when there is none or it is not one. */
int64_t store_setting_int(store *st, const char *key, int64_t def);

#endif
