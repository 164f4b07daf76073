/* Settings (table settings: key, value, updated_at). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

static int get(store *st, const char *key, char *out, size_t cap)
{
    int rc = db_text(SQ(st), out, cap, "SELECT value FROM settings WHERE key = ?", "s", key);
    return rc == 0 ? STORE_OK : rc == 1 ? STORE_NOTFOUND : STORE_ERR;
}

static int set(store *st, const char *key, const char *value, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO settings(key, value, updated_at) VALUES(?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at",
                         "ssi", key, value, now_ms));
}

static int raise_int(store *st, const char *key, int64_t v, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO settings(key, value, updated_at) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), ?2), "
                         "updated_at = ?3",
                         "sii", key, v, now_ms));
}

static cJSON *list(store *st, const char *prefix)
{
    char like[DB_LIKE_MAX];
    db_like_pattern(like, sizeof like, prefix ? prefix : "", true);
    return db_rows_json(
        SQ(st),
        "SELECT key, value, updated_at FROM settings WHERE key LIKE ?" DB_LIKE_ESCAPE
        " ORDER BY key",
        "s", like);
}

const store_settings_ops sqlite_settings_ops = {get, set, raise_int, list};
