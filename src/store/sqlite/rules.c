/* Threshold rules (table rules; integer ids). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

#define RULE_COLUMNS                                                                               \
    "id, name, device_id, device_type, metric, kind, threshold, for_ms, severity, "                \
    "enabled AS enabled_bool, created_at, updated_at"

static cJSON *list(store *st, const char *owner)
{
    return db_rows_json(SQ(st),
                        "SELECT " RULE_COLUMNS " FROM rules r WHERE ? = '' OR "
                        "r.device_id IS NULL OR r.device_id IN "
                        "(SELECT id FROM devices WHERE owner_id = ?) ORDER BY id",
                        "ss", owner, owner);
}

static cJSON *get(store *st, int64_t id)
{
    bool found;
    cJSON *r =
        db_row_json(SQ(st), &found, "SELECT " RULE_COLUMNS " FROM rules WHERE id = ?", "i", id);
    return sq_found(r, found);
}

static bool exists(store *st, int64_t id)
{
    return db_int(SQ(st), 0, "SELECT COUNT(*) FROM rules WHERE id = ?", "i", id) > 0;
}

static int create(store *st, const store_rule_fields *f, const char *created_by, int64_t now_ms,
                  int64_t *id)
{
    int rc = db_exec(SQ(st), NULL,
                     "INSERT INTO rules(name, device_id, device_type, metric, kind, threshold, "
                     "for_ms, severity, enabled, created_by, created_at, updated_at) "
                     "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "sbbbsdisisii", f->name, f->device_id, f->device_type, f->metric, f->kind,
                     f->threshold ? *f->threshold : 0.0, f->for_ms ? *f->for_ms : 0, f->severity,
                     (int64_t)(f->enabled ? *f->enabled : true), created_by, now_ms, now_ms);
    if (rc == 0 && id) *id = sqlite3_last_insert_rowid(SQ(st));
    return sq_rc(rc);
}

static int update(store *st, int64_t id, const store_rule_fields *f, int64_t now_ms)
{
    /* optional numbers travel as text ('' = unchanged) */
    char thr_s[64] = "", for_s[32] = "", en_s[4] = "";
    if (f->threshold) snprintf(thr_s, sizeof thr_s, "%.17g", *f->threshold);
    if (f->for_ms) snprintf(for_s, sizeof for_s, "%lld", (long long)*f->for_ms);
    if (f->enabled) snprintf(en_s, sizeof en_s, "%d", *f->enabled ? 1 : 0);
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE rules SET name = COALESCE(?, name), kind = COALESCE(?, kind), "
                         "severity = COALESCE(?, severity), metric = COALESCE(?, metric), "
                         "device_type = COALESCE(?, device_type), "
                         "threshold = COALESCE(CAST(NULLIF(?, '') AS REAL), threshold), "
                         "for_ms = COALESCE(CAST(NULLIF(?, '') AS INTEGER), for_ms), "
                         "enabled = COALESCE(CAST(NULLIF(?, '') AS INTEGER), enabled), "
                         "updated_at = ? WHERE id = ?",
                         "bbbbbsssii", f->name, f->kind, f->severity, f->metric, f->device_type,
                         thr_s, for_s, en_s, now_ms, id));
}

static int remove_rule(store *st, int64_t id)
{
    return sq_rc(db_exec(SQ(st), NULL, "DELETE FROM rules WHERE id = ?", "i", id));
}

static int scan_enabled(store *st, void (*fn)(void *arg, const store_rule *r), void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT id, name, COALESCE(device_id, ''), COALESCE(device_type, ''), "
                           "COALESCE(metric, ''), kind, threshold, for_ms, severity FROM rules "
                           "WHERE enabled = 1 ORDER BY id",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        store_rule r = {.id = sqlite3_column_int64(q, 0),
                        .name = (const char *)sqlite3_column_text(q, 1),
                        .device_id = (const char *)sqlite3_column_text(q, 2),
                        .device_type = (const char *)sqlite3_column_text(q, 3),
                        .metric = (const char *)sqlite3_column_text(q, 4),
                        .kind = (const char *)sqlite3_column_text(q, 5),
                        .threshold = sqlite3_column_double(q, 6),
                        .for_ms = sqlite3_column_int64(q, 7),
                        .severity = (const char *)sqlite3_column_text(q, 8)};
        fn(arg, &r);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

const store_rules_ops sqlite_rules_ops = {
    .list = list,
    .get = get,
    .exists = exists,
    .create = create,
    .update = update,
    .remove = remove_rule,
    .scan_enabled = scan_enabled,
};
