/* Settings (table settings: key, value, updated_at). */
#include "store/pg/pg_int.h"

#include <stdio.h>

static int get(store *st, const char *key, char *out, size_t cap)
{
    return pq_text_rc(
        pg_textf(PG(st), out, cap, "SELECT value FROM settings WHERE key = $1", "s", key));
}

static int set(store *st, const char *key, const char *value, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO settings(key, value, updated_at) VALUES($1, $2, $3) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                          "updated_at = excluded.updated_at",
                          "ssi", key, value, now_ms));
}

/* A stored value that is not an integer counts as 0, as SQLite's CAST does. */
static int raise_int(store *st, const char *key, int64_t v, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO settings(key, value, updated_at) VALUES($1, $2, $3) "
                          "ON CONFLICT(key) DO UPDATE SET value = GREATEST(CASE WHEN "
                          "settings.value ~ '^-?[0-9]{1,18}$' THEN settings.value::bigint ELSE 0 "
                          "END, $2::bigint)::text, updated_at = $3",
                          "sii", key, v, now_ms));
}

static cJSON *list(store *st, const char *prefix)
{
    char like[80];
    snprintf(like, sizeof like, "%s%%", prefix ? prefix : "");
    return pg_rows_json(PG(st),
                        "SELECT key, value, updated_at FROM settings WHERE key LIKE $1 "
                        "ORDER BY key",
                        "s", like);
}

const store_settings_ops pg_settings_ops = {get, set, raise_int, list};
