/* Users, sessions and invitations (tables users, sessions, invites). */
#include "store/pg/pg_int.h"

#include "core/json.h"

#include <stdio.h>
#include <string.h>

#define USER_COLUMNS "id, name, email, role, created_at, updated_at, disabled AS disabled_bool"

static int64_t count(store *st)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM users", "");
}

static int create(store *st, const char *id, const char *name, const char *email,
                  const char *password, const char *role, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO users(id, name, email, password, role, created_at, "
                          "updated_at, password_changed_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
                          "sssssiii", id, name, email, password, role, now_ms, now_ms, now_ms));
}

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r =
        pg_row_json(PG(st), &found, "SELECT " USER_COLUMNS " FROM users WHERE id = $1", "s", id);
    return pq_found(r, found);
}

static cJSON *profile(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT id, name, email, role, created_at, disabled AS disabled_bool "
                           "FROM users WHERE id = $1",
                           "s", id);
    return pq_found(r, found);
}

static cJSON *list(store *st, const store_user_filter *f, int64_t *total)
{
    char like[DB_LIKE_MAX];
    db_like_pattern(like, sizeof like, f->query, false); /* '%' and '_' literal ('\\' escapes) */
    *total = pg_intf(PG(st), 0,
                     "SELECT COUNT(*) FROM users WHERE ($1 = '' OR role = $2) AND "
                     "($3 = '' OR name ILIKE $4 OR email ILIKE $5)",
                     "sssss", f->role, f->role, f->query, like, like);
    return pg_rows_json(PG(st),
                        "SELECT " USER_COLUMNS " FROM users WHERE ($1 = '' OR role = $2) AND "
                        "($3 = '' OR name ILIKE $4 OR email ILIKE $5) "
                        "ORDER BY created_at LIMIT $6 OFFSET $7",
                        "sssssii", f->role, f->role, f->query, like, like, f->limit, f->offset);
}

static cJSON *assignable(store *st)
{
    return pg_rows_json(PG(st),
                        "SELECT id, name, email, role FROM users WHERE disabled = 0 AND "
                        "role IN ('analyst', 'admin') ORDER BY name",
                        "");
}

static int first_admin(store *st, char *id, size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), id, cap,
                               "SELECT id FROM users WHERE role = 'admin' AND disabled = 0 "
                               "ORDER BY created_at, id LIMIT 1",
                               ""));
}

static bool exists(store *st, const char *id)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM users WHERE id = $1", "s", id) > 0;
}

static int64_t admins_other_than(store *st, const char *except_id)
{
    return pg_intf(PG(st), 0,
                   "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != $1",
                   "s", except_id);
}

static int update(store *st, const char *id, const char *name, const char *role,
                  const bool *disabled, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE users SET name = COALESCE($1, name), role = COALESCE($2, role), "
                          "disabled = COALESCE($3, disabled), updated_at = $4 WHERE id = $5",
                          "bbbis", name, role, disabled ? (*disabled ? "1" : "0") : NULL, now_ms,
                          id));
}

static int remove_user(store *st, const char *id)
{
    return pq_rc(pg_execf(PG(st), NULL, "DELETE FROM users WHERE id = $1", "s", id));
}

static int role_of(store *st, const char *id, char *role, size_t cap)
{
    return pq_text_rc(pg_textf(PG(st), role, cap,
                               "SELECT role FROM users WHERE id = $1 AND disabled = 0", "s", id));
}

static int password_by_email(store *st, const char *email, char *out, size_t cap, char *id_out,
                             size_t id_cap, bool *disabled)
{
    bool found;
    cJSON *r = pg_row_json(
        PG(st), &found, "SELECT id, password, disabled FROM users WHERE lower(email) = lower($1)",
        "s", email);
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
    return pq_text_rc(
        pg_textf(PG(st), out, cap, "SELECT password FROM users WHERE id = $1", "s", id));
}

static int set_password(store *st, const char *id, const char *password, int64_t now_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE users SET password = $1, password_changed_at = $2, updated_at = $3 "
                 "WHERE id = $4",
                 "siis", password, now_ms, now_ms, id));
}

static int session_create(store *st, const char *token_hash, const char *user_id, int64_t now_ms,
                          int64_t expires_ms, const char *peer, const char *user_agent)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO sessions(token_hash, user_id, created_at, last_seen, "
                          "expires_at, peer, user_agent) VALUES($1, $2, $3, $4, $5, $6, $7)",
                          "ssiiisb", token_hash, user_id, now_ms, now_ms, expires_ms, peer,
                          user_agent));
}

static int session_get(store *st, const char *token_hash, int64_t now_ms, int64_t idle_after_ms,
                       store_session *out)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT u.id, u.email, u.role, s.last_seen FROM sessions s "
                           "JOIN users u ON u.id = s.user_id "
                           "WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen > $3 "
                           "AND u.disabled = 0",
                           "sii", token_hash, now_ms, idle_after_ms);
    if (!found) {
        int rc = r || pg_error(PG(st))[0] == '\0' ? STORE_NOTFOUND : STORE_ERR;
        cJSON_Delete(r);
        return rc;
    }
    snprintf(out->id, sizeof out->id, "%s", json_str(r, "id"));
    snprintf(out->email, sizeof out->email, "%s", json_str(r, "email"));
    snprintf(out->role, sizeof out->role, "%s", json_str(r, "role"));
    out->last_seen_ms =
        (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "last_seen"));
    cJSON_Delete(r);
    return STORE_OK;
}

static int session_touch(store *st, const char *token_hash, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE sessions SET last_seen = $1 WHERE token_hash = $2",
                          "is", now_ms, token_hash));
}

static int session_delete(store *st, const char *token_hash)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "DELETE FROM sessions WHERE token_hash = $1", "s", token_hash));
}

static int sessions_delete_user(store *st, const char *user_id, const char *keep_hash)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "DELETE FROM sessions WHERE user_id = $1 AND token_hash != $2", "ss",
                          user_id, keep_hash ? keep_hash : ""));
}

static int sessions_sweep(store *st, int64_t now_ms, int64_t idle_before_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "DELETE FROM sessions WHERE expires_at < $1 OR last_seen < $2", "ii",
                          now_ms, idle_before_ms));
}

static int invite_create(store *st, const char *token_hash, const char *email, const char *role,
                         const char *created_by, int64_t now_ms, int64_t expires_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO invites(token_hash, email, role, created_by, created_at, "
                          "expires_at) VALUES($1, $2, $3, $4, $5, $6)",
                          "sbssii", token_hash, email, role, created_by, now_ms, expires_ms));
}

static int invite_use(store *st, const char *token_hash, int64_t now_ms, char *role, size_t cap)
{
    int64_t changes = 0;
    int rc = pg_textf(PG(st), role, cap,
                      "SELECT role FROM invites WHERE token_hash = $1 AND used_at IS NULL AND "
                      "expires_at > $2",
                      "si", token_hash, now_ms);
    if (rc != 0) return pq_text_rc(rc);
    if (pg_execf(PG(st), &changes,
                 "UPDATE invites SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL", "is",
                 now_ms, token_hash) != 0)
        return STORE_ERR;
    return changes == 1 ? STORE_OK : STORE_NOTFOUND;
}

const store_users_ops pg_users_ops = {
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
