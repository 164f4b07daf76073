/* Users' API tokens (table api_tokens): created, looked up by prefix at MQTT CONNECT, listed,
 * revoked. */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <string.h>

static int create(store *st, const char *id, const char *user_id, const char *name,
                  const char *prefix, const char *hash, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO api_tokens(id, user_id, name, prefix, hash, created_at) "
                         "VALUES(?, ?, ?, ?, ?, ?)",
                         "sssssi", id, user_id, name ? name : "", prefix, hash, now_ms));
}

static int lookup(store *st, const char *prefix, store_token_auth *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT t.id, t.user_id, u.role, t.hash FROM api_tokens t "
                           "JOIN users u ON u.id = t.user_id "
                           "WHERE t.prefix = ? AND t.revoked_at IS NULL AND u.disabled = 0",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    sqlite3_bind_text(q, 1, prefix, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(out->id, sizeof out->id, "%s", sqlite3_column_text(q, 0));
        snprintf(out->user_id, sizeof out->user_id, "%s", sqlite3_column_text(q, 1));
        snprintf(out->role, sizeof out->role, "%s", sqlite3_column_text(q, 2));
        snprintf(out->hash, sizeof out->hash, "%s", sqlite3_column_text(q, 3));
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

static cJSON *list(store *st, const char *user_id)
{
    return db_rows_json(SQ(st),
                        "SELECT t.id, t.user_id, u.email AS user_email, t.name, t.prefix, "
                        "t.created_at, t.last_used_at, t.revoked_at, "
                        "t.revoked_at IS NOT NULL AS revoked_bool FROM api_tokens t "
                        "JOIN users u ON u.id = t.user_id WHERE (? = '' OR t.user_id = ?) "
                        "ORDER BY t.created_at DESC, t.id DESC",
                        "ss", user_id, user_id);
}

static int revoke(store *st, const char *id, const char *user_id, int64_t now_ms, char *prefix,
                  size_t cap)
{
    int rc = db_text(SQ(st), prefix, cap,
                     "SELECT prefix FROM api_tokens WHERE id = ? AND (? = '' OR user_id = ?)",
                     "sss", id, user_id, user_id);
    if (rc != 0) return sq_text_rc(rc);
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                         "is", now_ms, id));
}

static int touch(store *st, const char *prefix, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE api_tokens SET last_used_at = ? WHERE prefix = ?",
                         "is", now_ms, prefix));
}

const store_tokens_ops sqlite_tokens_ops = {
    .create = create,
    .lookup = lookup,
    .list = list,
    .revoke = revoke,
    .touch = touch,
};
