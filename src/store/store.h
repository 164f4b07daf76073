/* The storage interface: everything iotad keeps in its database, as a table of functions per
 * concern (settings, users and sessions, audit log, ...) behind one handle, so that callers hold
 * no SQL and a second back-end (PostgreSQL) is a new folder beside src/store/sqlite/, not edits
 * across the tree (the shape of redis's ConnectionType and of mosquitto's persist-sqlite plugin:
 * one file per entity behind a function table).
 *
 * A `store` is one connection: a thread uses its own handle (the loop thread's is s->st, the
 * outbox worker opens one, the writer has its own); handles of one database see each other's
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

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- audit log (the hash chain itself is store/audit.h) ---- */
typedef struct {
    /* [{"seq","ts","actor","action","target","detail","peer","hash"}], newest first, rows with
     * seq < before_seq whose action starts with action_prefix. */
    cJSON *(*list)(store *st, int64_t before_seq, const char *action_prefix, int64_t limit);
} store_audit_ops;

/* A back-end: its name and its tables. */
typedef struct store_backend {
    const char *name;
    void (*close)(store *st);
    int (*begin)(store *st); /* a write transaction (taken at once) */
    int (*commit)(store *st);
    void (*rollback)(store *st);
    const store_settings_ops *settings;
    const store_users_ops *users;
    const store_audit_ops *audit;
} store_backend;

/* Every back-end's handle starts with this. */
struct store {
    const store_backend *be;
};

static inline void store_close(store *st)
{
    if (st) st->be->close(st);
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
#define STORE_AUDIT(st) ((st)->be->audit)

/* Generic helpers over the tables (store.c). */
/* The stored setting, or def when there is none. */
void store_setting_or(store *st, const char *key, const char *def, char *out, size_t cap);
/* The stored setting as an integer, or def when there is none or it is not one. */
int64_t store_setting_int(store *st, const char *key, int64_t def);

#endif
