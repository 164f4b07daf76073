/* Devices, API keys and device events (tables devices, api_keys, device_events). */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>
#include <string.h>

#define DEVICE_COLUMNS                                                                             \
    "id, owner_id, name, type, location, firmware, attributes AS attributes_json, status, "        \
    "last_seen, created_at, updated_at"
/* devices of the simulator (their attributes say so) */
#define SIM_WHERE                                                                                  \
    "(CASE WHEN json_valid(attributes) THEN json_extract(attributes, '$.simulated') END = 1)"

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r =
        db_row_json(SQ(st), &found, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?", "s", id);
    return sq_found(r, found);
}

/* The list's SQL holds only the filters given (a "? = '' OR ..." per filter cost a row visit
 * each: 0.3 s at 100,000 devices for the plain listing's count); parameters are numbered so
 * every call binds the same seven: ?1 owner, ?2 type, ?3 status, ?4 query, ?5 its LIKE
 * pattern, ?6 limit, ?7 offset (the count: ?6 its cap). Names compare without case
 * (devices_name is a NOCASE index: store/schema.c devices_name_v9). */
static void list_where(const store_device_filter *f, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    const char *terms[4] = {0};
    int k = 0;
    if (f->owner[0]) terms[k++] = "owner_id = ?1";
    if (f->type[0]) terms[k++] = "type = ?2";
    if (f->status[0]) terms[k++] = "status = ?3";
    if (f->query[0])
        terms[k++] = f->prefix
                         ? (db_id_shaped(f->query) ? "(name LIKE ?5" DB_LIKE_ESCAPE " OR id = ?4)"
                                                   : "name LIKE ?5" DB_LIKE_ESCAPE)
                         : "(name LIKE ?5" DB_LIKE_ESCAPE " OR location LIKE ?5" DB_LIKE_ESCAPE
                           " OR id = ?4 OR firmware LIKE ?5" DB_LIKE_ESCAPE ")";
    for (int i = 0; i < k && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " AND " : "WHERE ", terms[i]);
}

static cJSON *list(store *st, const store_device_filter *f, int64_t *total)
{
    static const char *const sorts[] = {"name",       "type",      "location",
                                        "created_at", "last_seen", "status"};
    /* the ORDER BY clause comes from this fixed list, never from the caller's text */
#define BY_NAME "name COLLATE NOCASE"
    static const char *const orders[12] = {
        BY_NAME " ASC",    "type ASC, " BY_NAME,  "location ASC, " BY_NAME,
        "created_at ASC",  "last_seen ASC",       "status ASC, " BY_NAME,
        BY_NAME " DESC",   "type DESC, " BY_NAME, "location DESC, " BY_NAME,
        "created_at DESC", "last_seen DESC",      "status DESC, " BY_NAME};
    int sort_idx = 0;
    for (int i = 0; i < 6; i++)
        if (f->sort && strcmp(f->sort, sorts[i]) == 0) sort_idx = i;
    char like[DB_LIKE_MAX], where[512], sql[1024];
    /* q=% finds a '%', not every device */
    db_like_pattern(like, sizeof like, f->query, f->prefix);
    list_where(f, where, sizeof where);
    const char *order = orders[sort_idx + (f->desc ? 6 : 0)];
    /* A substring search matches few rows: sorting them beats walking every row through the
     * name index (which SQLite, without statistics, would take for the ORDER BY): "+name" keeps
     * the index for the listing and the prefix search (bench/devices_bulk.py: 100k devices). */
    if (sort_idx == 0 && f->query[0] && !f->prefix)
        order = f->desc ? "+name COLLATE NOCASE DESC" : "+name COLLATE NOCASE ASC";
#undef BY_NAME
    snprintf(sql, sizeof sql,
             "SELECT " DEVICE_COLUMNS " FROM devices %s ORDER BY %s LIMIT ?6 OFFSET ?7", where,
             order);
    cJSON *rows = db_rows_json(SQ(st), sql, "sssssii", f->owner, f->type, f->status, f->query, like,
                               f->limit, f->offset);
    int n = rows ? cJSON_GetArraySize(rows) : 0;
    if (rows && n < f->limit && (n > 0 || f->offset == 0)) {
        *total = f->offset + n; /* the last page: no count needed */
    } else if (!where[0]) {
        *total = db_int(SQ(st), 0, "SELECT COUNT(*) FROM devices", "");
    } else {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM (SELECT 1 FROM devices %s LIMIT ?6)",
                 where);
        *total = db_int(SQ(st), 0, sql, "sssssi", f->owner, f->type, f->status, f->query, like,
                        f->count_cap > 0 ? f->count_cap : (int64_t)-1);
    }
    return rows;
}

static int create(store *st, const char *id, const store_device_fields *f, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO devices(id, owner_id, name, type, location, firmware, "
                         "attributes, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         "sbsssssii", id, f->owner_id, f->name ? f->name : "",
                         f->type && f->type[0] ? f->type : "generic",
                         f->location ? f->location : "", f->firmware ? f->firmware : "",
                         f->attributes ? f->attributes : "{}", now_ms, now_ms));
}

static int update(store *st, const char *id, const store_device_fields *f, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE devices SET name = COALESCE(?, name), type = COALESCE(?, type), "
                         "location = COALESCE(?, location), firmware = COALESCE(?, firmware), "
                         "attributes = COALESCE(?, attributes), owner_id = COALESCE(?, owner_id), "
                         "updated_at = ? WHERE id = ?",
                         "bbbbbbis", f->name, f->type, f->location, f->firmware, f->attributes,
                         f->owner_id, now_ms, id));
}

static int remove_device(store *st, const char *id)
{
    return sq_rc(db_exec(SQ(st), NULL, "DELETE FROM devices WHERE id = ?", "s", id));
}

static int owner_of(store *st, const char *id, char *owner, size_t cap)
{
    return sq_text_rc(db_text(SQ(st), owner, cap,
                              "SELECT COALESCE(owner_id, '') FROM devices WHERE id = ?", "s", id));
}

static int scan(store *st, store_device_fn fn, void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT id, COALESCE(owner_id, ''), last_seen, type FROM devices", -1,
                           &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn(arg, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
           sqlite3_column_int64(q, 2), (const char *)sqlite3_column_text(q, 3));
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

static int all_offline(store *st)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "UPDATE devices SET status = 'offline' WHERE status != 'offline'", ""));
}

static int set_status(store *st, const char *id, const char *status, int64_t last_seen_ms)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE devices SET status = ?, last_seen = ? WHERE id = ?",
                         "sis", status, last_seen_ms, id));
}

static int set_last_seen(store *st, const char *id, int64_t last_seen_ms)
{
    return sq_rc(db_exec(SQ(st), NULL, "UPDATE devices SET last_seen = ? WHERE id = ?", "is",
                         last_seen_ms, id));
}

static cJSON *simulated(store *st)
{
    return db_rows_json(SQ(st),
                        "SELECT id, type, CAST(json_extract(attributes, '$.sim_index') "
                        "AS INTEGER) AS idx FROM devices WHERE " SIM_WHERE
                        " ORDER BY created_at, id",
                        "");
}

static int event_add(store *st, int64_t ts_ms, const char *device_id, const char *category,
                     const char *kind, const char *transport, const char *peer, const char *detail)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO device_events(ts, device_id, category, kind, transport, "
                         "peer, detail) VALUES(?, ?, ?, ?, ?, ?, ?)",
                         "ibsssbs", ts_ms, device_id, category, kind, transport, peer,
                         detail ? detail : ""));
}

static cJSON *events(store *st, const store_event_filter *f)
{
    return db_rows_json(
        SQ(st),
        "SELECT e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, e.detail "
        "FROM device_events e LEFT JOIN devices d ON d.id = e.device_id "
        "WHERE e.ts >= ? AND e.ts < ? AND (? = '' OR e.device_id = ?) AND "
        "(? = '' OR e.category = ?) AND (? = '' OR e.kind = ?) AND (? = '' OR d.owner_id = ?) "
        "ORDER BY e.ts DESC, e.id DESC LIMIT ?",
        "iissssssssi", f->from_ms, f->to_ms, f->device_id, f->device_id, f->category, f->category,
        f->kind, f->kind, f->owner, f->owner, f->limit);
}

static int key_create(store *st, const char *id, const char *device_id, const char *name,
                      const char *prefix, const char *hash, const char *created_by, int64_t now_ms)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO api_keys(id, device_id, name, prefix, hash, created_at, "
                         "created_by) VALUES(?, ?, ?, ?, ?, ?, ?)",
                         "sssssis", id, device_id, name ? name : "", prefix, hash, now_ms,
                         created_by));
}

static int key_lookup(store *st, const char *prefix, char *device_id, size_t device_cap, char *hash,
                      size_t hash_cap, int64_t *revoked_at_ms)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "SELECT device_id, hash, revoked_at FROM api_keys WHERE prefix = ?", -1,
                           &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    sqlite3_bind_text(q, 1, prefix, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(device_id, device_cap, "%s", sqlite3_column_text(q, 0));
        snprintf(hash, hash_cap, "%s", sqlite3_column_text(q, 1));
        *revoked_at_ms = sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 2);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

static cJSON *keys_list(store *st, const char *device_id)
{
    return db_rows_json(SQ(st),
                        "SELECT id, name, prefix, created_at, revoked_at, last_used_at, "
                        "revoked_at IS NOT NULL AS revoked_bool FROM api_keys "
                        "WHERE device_id = ? ORDER BY created_at",
                        "s", device_id);
}

static int key_prefix(store *st, const char *device_id, const char *id_or_prefix, char *prefix,
                      size_t cap)
{
    return sq_text_rc(
        db_text(SQ(st), prefix, cap,
                "SELECT prefix FROM api_keys WHERE (id = ? OR prefix = ?) AND device_id = ?", "sss",
                id_or_prefix, id_or_prefix, device_id));
}

static int key_name(store *st, const char *prefix, char *name, size_t cap)
{
    return sq_text_rc(
        db_text(SQ(st), name, cap, "SELECT name FROM api_keys WHERE prefix = ?", "s", prefix));
}

static int key_revoke(store *st, const char *prefix, int64_t now_ms)
{
    return sq_rc(db_exec(
        SQ(st), NULL, "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL",
        "is", now_ms, prefix));
}

static cJSON *sim_keys_live(store *st, const char *name)
{
    return db_rows_json(SQ(st),
                        "SELECT prefix FROM api_keys WHERE revoked_at IS NULL AND name = ?"
                        " AND device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                        "s", name);
}

static int sim_keys_retire(store *st, const char *name, int64_t now_ms, int64_t keep_ms)
{
    if (db_exec(SQ(st), NULL,
                "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL AND name = ? AND "
                "device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                "is", now_ms, name) != 0)
        return STORE_ERR;
    return sq_rc(db_exec(SQ(st), NULL,
                         "DELETE FROM api_keys WHERE name = ? AND revoked_at < ? AND "
                         "device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                         "si", name, now_ms - keep_ms));
}

const store_devices_ops sqlite_devices_ops = {
    .get = get,
    .list = list,
    .create = create,
    .update = update,
    .remove = remove_device,
    .owner_of = owner_of,
    .scan = scan,
    .all_offline = all_offline,
    .set_status = set_status,
    .set_last_seen = set_last_seen,
    .simulated = simulated,
    .event_add = event_add,
    .events = events,
    .key_create = key_create,
    .key_lookup = key_lookup,
    .keys_list = keys_list,
    .key_prefix = key_prefix,
    .key_name = key_name,
    .key_revoke = key_revoke,
    .sim_keys_live = sim_keys_live,
    .sim_keys_retire = sim_keys_retire,
};
