/* Users' API tokens (table api_tokens), as store/sqlite/tokens.c. */
#include "store/pg/pg_int.h"

#include "core/json.h"

#include <stdio.h>
#include <string.h>

static int create(store *st, const char *id, const char *user_id, const char *name,
                  const char *prefix, const char *hash, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO api_tokens(id, user_id, name, prefix, hash, created_at) "
                          "VALUES($1, $2, $3, $4, $5, $6)",
                          "sssssi", id, user_id, name ? name : "", prefix, hash, now_ms));
}

static int lookup(store *st, const char *prefix, store_token_auth *out)
{
    const char *p[] = {prefix};
    PGresult *r = pg_query(PG(st),
                           "SELECT t.id, t.user_id, u.role, t.hash FROM api_tokens t "
                           "JOIN users u ON u.id = t.user_id "
                           "WHERE t.prefix = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
                           1, p);
    if (!r) return STORE_ERR;
    int rc = STORE_NOTFOUND;
    if (PQntuples(r) > 0) {
        snprintf(out->id, sizeof out->id, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->user_id, sizeof out->user_id, "%s", PQgetvalue(r, 0, 1));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(r, 0, 2));
        snprintf(out->hash, sizeof out->hash, "%s", PQgetvalue(r, 0, 3));
        rc = STORE_OK;
    }
    PQclear(r);
    return rc;
}

static cJSON *list(store *st, const char *user_id)
{
    return pg_rows_json(PG(st),
                        "SELECT t.id, t.user_id, u.email AS user_email, t.name, t.prefix, "
                        "t.created_at, t.last_used_at, t.revoked_at, "
                        "t.revoked_at IS NOT NULL AS revoked_bool FROM api_tokens t "
                        "JOIN users u ON u.id = t.user_id WHERE ($1 = '' OR t.user_id = $1) "
                        "ORDER BY t.created_at DESC, t.id DESC",
                        "s", user_id);
}

static int revoke(store *st, const char *id, const char *user_id, int64_t now_ms, char *prefix,
                  size_t cap)
{
    int rc = pg_textf(PG(st), prefix, cap,
                      "SELECT prefix FROM api_tokens WHERE id = $1 AND ($2 = '' OR user_id = $2)",
                      "ss", id, user_id);
    if (rc != 0) return pq_text_rc(rc);
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) "
                          "WHERE id = $2",
                          "is", now_ms, id));
}

static int touch(store *st, const char *prefix, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE api_tokens SET last_used_at = $1 WHERE prefix = $2",
                          "is", now_ms, prefix));
}

const store_tokens_ops pg_tokens_ops = {
    .create = create,
    .lookup = lookup,
    .list = list,
    .revoke = revoke,
    .touch = touch,
};
