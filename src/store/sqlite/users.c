/* Users, sessions and invitations (tables users, sessions, invites). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define USER_COLUMNS "id, name, email, role, created_at, updated_at, disabled AS disabled_bool"

static int64_t count(store *st)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM users", "");
}

static int create(store *st, const char *id, const char *name, const char *email,
                  const char *password, const char *role, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO users(id, name, email, password, role, created_at, "
                         "updated_at, password_changed_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                         "sssssiii", id, name, email, password, role, now_ms, now_ms, now_ms));
}

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r =
        db_row_json(SQ(st), &found, "SELECT " USER_COLUMNS " FROM users WHERE id = ?", "s", id);
    return sq_found(r, found);
}

static cJSON *profile(store *st, const char *id)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT id, name, email, role, created_at, disabled AS disabled_bool "
                           "FROM users WHERE id = ?",
                           "s", id);
    return sq_found(r, found);
}

static cJSON *list(store *st, const store_user_filter *f, int64_t *total)
{
    char like[DB_LIKE_MAX];
    db_like_pattern(like, sizeof like, f->query, false);
    *total = db_int(SQ(st), 0,
                    "SELECT COUNT(*) FROM users WHERE (? = '' OR role = ?) AND "
                    "(? = '' OR name LIKE ?" DB_LIKE_ESCAPE " OR email LIKE ?" DB_LIKE_ESCAPE ")",
                    "sssss", f->role, f->role, f->query, like, like);
    return db_rows_json(SQ(st),
                        "SELECT " USER_COLUMNS " FROM users WHERE (? = '' OR role = ?) AND "
                        "(? = '' OR name LIKE ?" DB_LIKE_ESCAPE " OR email LIKE ?" DB_LIKE_ESCAPE
                        ") ORDER BY created_at LIMIT ? OFFSET ?",
                        "sssssii", f->role, f->role, f->query, like, like, f->limit, f->offset);
}

static cJSON *assignable(store *st)
{
    return db_rows_json(SQ(st),
                        "SELECT id, name, email, role FROM users WHERE disabled = 0 AND "
                        "role IN ('analyst', 'admin') ORDER BY name",
                        "");
}

static int first_admin(store *st, char *id, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), id, cap,
                              "SELECT id FROM users WHERE role = 'admin' AND disabled = 0 "
                              "ORDER BY created_at, id LIMIT 1",
                              ""));
}

static bool exists(store *st, const char *id)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM users WHERE id = ?", "s", id) > 0;
}

static int64_t admins_other_than(store *st, const char *except_id)
{
    return db_int(SQ(st), 0,
                  "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
                  "s", except_id);
}

static int update(store *st, const char *id, const char *name, const char *role,
                  const bool *disabled, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE users SET name = COALESCE(?, name), role = COALESCE(?, role), "
                         "disabled = COALESCE(?, disabled), updated_at = ? WHERE id = ?",
                         "bbbis", name, role, disabled ? (*disabled ? "1" : "0") : NULL, now_ms,
                         id));
}

static int remove_user(store *st, const char *id)
{
    return sq_rc(db_exec(SQ(st), NULL, "DELETE FROM users WHERE id = ?", "s", id));
}

static int role_of(store *st, const char *id, char *role, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), role, cap,
                              "SELECT role FROM users WHERE id = ? AND disabled = 0", "s", id));
}

static int password_by_email(store *st, const char *email, char *out, size_t cap, char *id_out,
                             size_t id_cap, bool *disabled)
{
    bool found;
    cJSON *r = db_row_json(SQ(st), &found,
                           "SELECT id, password, disabled FROM users WHERE email = ?", "s", email);
    if (!found) {
        cJSON_Delete(r);
        return STORE_NOTFOUND;
    }
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(r, "password");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
    const cJSON *dis = cJSON_GetObjectItemCaseSensitive(r, "disabled");
    snprintf(out, cap, "%s", cJSON_IsString(pw) ? pw->valuestring : "");
    if (id_out) snprintf(id_out, id_cap, "%s", cJSON_IsString(id) ? id->valuestring : "");
    if (disabled) *disabled = cJSON_IsNumber(dis) && dis->valuedouble != 0;
    cJSON_Delete(r);
    return STORE_OK;
}

static int password_by_id(store *st, const char *id, char *out, size_t cap)
{
    return sq_text_rc(
        db_text(SQ(st), out, cap, "SELECT password FROM users WHERE id = ?", "s", id));
}

static int set_password(store *st, const char *id, const char *password, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE users SET password = ?, password_changed_at = ?, updated_at = ? "
                         "WHERE id = ?",
                         "siis", password, now_ms, now_ms, id));
}

static int session_create(store *st, const char *token_hash, const char *user_id, int64_t now_ms,
                          int64_t expires_ms, const char *peer, const char *user_agent)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO sessions(token_hash, user_id, created_at, last_seen, "
                         "expires_at, peer, user_agent) VALUES(?, ?, ?, ?, ?, ?, ?)",
                         "ssiiisb", token_hash, user_id, now_ms, now_ms, expires_ms, peer,
                         user_agent));
}

static int session_get(store *st, const char *token_hash, int64_t now_ms, int64_t idle_after_ms,
                       store_session *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT u.id, u.email, u.role, s.last_seen FROM sessions s "
                           "JOIN users u ON u.id = s.user_id "
                           "WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen > ? "
                           "AND u.disabled = 0",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    sqlite3_bind_text(q, 1, token_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, now_ms);
    sqlite3_bind_int64(q, 3, idle_after_ms);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", sqlite3_column_text(q, 0));
        snprintf(out->email, sizeof out->email, "%s", sqlite3_column_text(q, 1));
        snprintf(out->role, sizeof out->role, "%s", sqlite3_column_text(q, 2));
        out->last_seen_ms = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

static int session_touch(store *st, const char *token_hash, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                         "is", now_ms, token_hash));
}

static int session_delete(store *st, const char *token_hash)
{
    return sq_rc(
        db_exec(SQ(st), NULL, "DELETE FROM sessions WHERE token_hash = ?", "s", token_hash));
}

static int sessions_delete_user(store *st, const char *user_id, const char *keep_hash)
{
    return sq_rc(db_exec(SQ(st), NULL, "DELETE FROM sessions WHERE user_id = ? AND token_hash != ?",
                         "ss", user_id, keep_hash ? keep_hash : ""));
}

static int sessions_sweep(store *st, int64_t now_ms, int64_t idle_before_ms)
{
    return sq_rc(db_exec(SQ(st), NULL, "DELETE FROM sessions WHERE expires_at < ? OR last_seen < ?",
                         "ii", now_ms, idle_before_ms));
}

static int invite_create(store *st, const char *token_hash, const char *email, const char *role,
                         const char *created_by, int64_t now_ms, int64_t expires_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO invites(token_hash, email, role, created_by, created_at, "
                         "expires_at) VALUES(?, ?, ?, ?, ?, ?)",
                         "sbssii", token_hash, email, role, created_by, now_ms, expires_ms));
}

static int invite_use(store *st, const char *token_hash, int64_t now_ms, char *role, size_t cap)
{
    int changes = 0;
    int rc = db_text(SQ(st), role, cap,
                     "SELECT role FROM invites WHERE token_hash = ? AND used_at IS NULL AND "
                     "expires_at > ?",
                     "si", token_hash, now_ms);
    if (rc != 0) return sq_text_rc(rc);
    if (db_exec(SQ(st), &changes,
                "UPDATE invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL", "is",
                now_ms, token_hash) != 0)
        return STORE_ERR;
    return changes == 1 ? STORE_OK : STORE_NOTFOUND;
}

const store_users_ops sqlite_users_ops = {
    .count = count,
    .create = create,
    .get = get,
    .profile = profile,
    .list = list,
    .assignable = assignable,
    .first_admin = first_admin,
    .exists = exists,
    .admins_other_than = admins_other_than,
    .update = update,
    .remove = remove_user,
    .role_of = role_of,
    .password_by_email = password_by_email,
    .password_by_id = password_by_id,
    .set_password = set_password,
    .session_create = session_create,
    .session_get = session_get,
    .session_touch = session_touch,
    .session_delete = session_delete,
    .sessions_delete_user = sessions_delete_user,
    .sessions_sweep = sessions_sweep,
    .invite_create = invite_create,
    .invite_use = invite_use,
};
