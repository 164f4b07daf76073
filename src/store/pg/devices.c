/* Devices, API keys and device events (tables devices, api_keys, device_events). */
#include "store/pg/pg_int.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_COLUMNS                                                                             \
    "id, owner_id, name, type, location, firmware, attributes AS attributes_json, status, "        \
    "last_seen, created_at, updated_at"
/* devices of the simulator (their attributes say so) */
#define SIM_WHERE "(iotad_jsonb(attributes)->'simulated' IN ('true'::jsonb, '1'::jsonb))"

static cJSON *get(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = $1",
                           "s", id);
    return pq_found(r, found);
}

static cJSON *list(store *st, const store_device_filter *f, int64_t *total)
{
    static const char *const sorts[] = {"name",       "type",      "location",
                                        "created_at", "last_seen", "status"};
    /* the ORDER BY clause comes from this fixed list, never from the caller's text */
    /* names compare by lower(name) byte by byte, as SQLite's NOCASE: devices_name serves that
     * order and a prefix search (store/pg/schema.c devices_name_v5) */
#define BY_NAME "lower(name) COLLATE \"C\""
    static const char *const orders[12] = {
        BY_NAME " ASC",    "type ASC, " BY_NAME,        "location ASC, " BY_NAME,
        "created_at ASC",  "last_seen ASC NULLS FIRST", "status ASC, " BY_NAME,
        BY_NAME " DESC",   "type DESC, " BY_NAME,       "location DESC, " BY_NAME,
        "created_at DESC", "last_seen DESC NULLS LAST", "status DESC, " BY_NAME};
    int sort_idx = 0;
    for (int i = 0; i < 6; i++)
        if (f->sort && strcmp(f->sort, sorts[i]) == 0) sort_idx = i;
    char like[DB_LIKE_MAX], sql[1024], cap[24];
    db_like_pattern(like, sizeof like, f->query, f->prefix); /* '%' and '_' literal */
    /* The statement is planned with its values, so a "$1 = ''" folds away. A prefix search is a
     * range of devices_name (lower(name) in the "C" collation) in its order, and looks the id
     * up only when the query could be one (an OR would cost the range its order: a sort of
     * every match, 100,000 rows for "f"). $9 is the limit (the count: its cap, NULL for all),
     * $10 the offset. */
    const char *filters = "WHERE ($1 = '' OR owner_id = $2) AND ($3 = '' OR type = $4) AND "
                          "($5 = '' OR status = $6) AND ";
    const char *search =
        !f->prefix               ? "($7 = '' OR name ILIKE $8 OR location ILIKE $8 OR id = $7 OR "
                                   "firmware ILIKE $8)"
        : db_id_shaped(f->query) ? "($7 = '' OR " BY_NAME " LIKE lower($8) OR id = $7)"
                                 : "($7 = '' OR " BY_NAME " LIKE lower($8))";
#undef BY_NAME
    char where[512];
    snprintf(where, sizeof where, "%s%s", filters, search);
    snprintf(sql, sizeof sql,
             "SELECT " DEVICE_COLUMNS " FROM devices %s ORDER BY %s LIMIT $9 OFFSET $10", where,
             orders[sort_idx + (f->desc ? 6 : 0)]);
    cJSON *rows = pg_rows_json(PG(st), sql, "ssssssssii", f->owner, f->owner, f->type, f->type,
                               f->status, f->status, f->query, like, f->limit, f->offset);
    int n = rows ? cJSON_GetArraySize(rows) : 0;
    if (rows && n < f->limit && (n > 0 || f->offset == 0)) {
        *total = f->offset + n; /* the last page: no count needed */
    } else {
        snprintf(cap, sizeof cap, "%lld", (long long)f->count_cap);
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM (SELECT 1 FROM devices %s LIMIT $9) AS matches", where);
        *total = pg_intf(PG(st), 0, sql, "ssssssssb", f->owner, f->owner, f->type, f->type,
                         f->status, f->status, f->query, like, f->count_cap > 0 ? cap : NULL);
    }
    return rows;
}

static int create(store *st, const char *id, const store_device_fields *f, int64_t now_ms)
{
    return pq_rc(pg_execf(
        PG(st), NULL,
        "INSERT INTO devices(id, owner_id, name, type, location, firmware, "
        "attributes, created_at, updated_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        "sbsssssii", id, f->owner_id, f->name ? f->name : "",
        f->type && f->type[0] ? f->type : "generic", f->location ? f->location : "",
        f->firmware ? f->firmware : "", f->attributes ? f->attributes : "{}", now_ms, now_ms));
}

static int update(store *st, const char *id, const store_device_fields *f, int64_t now_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE devices SET name = COALESCE($1, name), type = COALESCE($2, type), "
                 "location = COALESCE($3, location), firmware = COALESCE($4, firmware), "
                 "attributes = COALESCE($5, attributes), owner_id = COALESCE($6, owner_id), "
                 "updated_at = $7 WHERE id = $8",
                 "bbbbbbis", f->name, f->type, f->location, f->firmware, f->attributes, f->owner_id,
                 now_ms, id));
}

static int remove_device(store *st, const char *id)
{
    return pq_rc(pg_execf(PG(st), NULL, "DELETE FROM devices WHERE id = $1", "s", id));
}

static int owner_of(store *st, const char *id, char *owner, size_t cap)
{
    return pq_text_rc(pg_textf(
        PG(st), owner, cap, "SELECT COALESCE(owner_id, '') FROM devices WHERE id = $1", "s", id));
}

static int scan(store *st, store_device_fn fn, void *arg)
{
    PGresult *r = pg_query(PG(st),
                           "SELECT id, COALESCE(owner_id, ''), COALESCE(last_seen, 0), type "
                           "FROM devices",
                           0, NULL);
    if (!r) return STORE_ERR;
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), strtoll(PQgetvalue(r, i, 2), NULL, 10),
           PQgetvalue(r, i, 3));
    PQclear(r);
    return STORE_OK;
}

static int all_offline(store *st)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE devices SET status = 'offline' WHERE status != 'offline'", ""));
}

static int set_status(store *st, const char *id, const char *status, int64_t last_seen_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE devices SET status = $1, last_seen = $2 WHERE id = $3", "sis",
                          status, last_seen_ms, id));
}

static int set_last_seen(store *st, const char *id, int64_t last_seen_ms)
{
    return pq_rc(pg_execf(PG(st), NULL, "UPDATE devices SET last_seen = $1 WHERE id = $2", "is",
                          last_seen_ms, id));
}

static cJSON *simulated(store *st)
{
    return pg_rows_json(
        PG(st),
        "SELECT id, type, CASE WHEN jsonb_typeof(iotad_jsonb(attributes)->'sim_index') = "
        "'number' THEN (iotad_jsonb(attributes)->>'sim_index')::numeric::bigint "
        "END AS idx FROM devices WHERE " SIM_WHERE " ORDER BY created_at, id",
        "");
}

static int event_add(store *st, int64_t ts_ms, const char *device_id, const char *category,
                     const char *kind, const char *transport, const char *peer, const char *detail)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO device_events(ts, device_id, category, kind, transport, "
                          "peer, detail) VALUES($1, $2, $3, $4, $5, $6, $7)",
                          "ibsssbs", ts_ms, device_id, category, kind, transport, peer,
                          detail ? detail : ""));
}

static cJSON *events(store *st, const store_event_filter *f)
{
    return pg_rows_json(
        PG(st),
        "SELECT e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, e.detail "
        "FROM device_events e LEFT JOIN devices d ON d.id = e.device_id "
        "WHERE e.ts >= $1 AND e.ts < $2 AND ($3 = '' OR e.device_id = $4) AND "
        "($5 = '' OR e.category = $6) AND ($7 = '' OR e.kind = $8) AND ($9 = '' OR d.owner_id = "
        "$10) "
        "ORDER BY e.ts DESC, e.id DESC LIMIT $11",
        "iissssssssi", f->from_ms, f->to_ms, f->device_id, f->device_id, f->category, f->category,
        f->kind, f->kind, f->owner, f->owner, f->limit);
}

static int key_create(store *st, const char *id, const char *device_id, const char *name,
                      const char *prefix, const char *hash, const char *created_by, int64_t now_ms)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO api_keys(id, device_id, name, prefix, hash, created_at, "
                          "created_by) VALUES($1, $2, $3, $4, $5, $6, $7)",
                          "sssssis", id, device_id, name ? name : "", prefix, hash, now_ms,
                          created_by));
}

static int key_lookup(store *st, const char *prefix, char *device_id, size_t device_cap, char *hash,
                      size_t hash_cap, int64_t *revoked_at_ms)
{
    const char *p[] = {prefix};
    PGresult *r = pg_query(
        PG(st), "SELECT device_id, hash, revoked_at FROM api_keys WHERE prefix = $1", 1, p);
    if (!r) return STORE_ERR;
    int rc = STORE_NOTFOUND;
    if (PQntuples(r) > 0) {
        snprintf(device_id, device_cap, "%s", PQgetvalue(r, 0, 0));
        snprintf(hash, hash_cap, "%s", PQgetvalue(r, 0, 1));
        *revoked_at_ms = PQgetisnull(r, 0, 2) ? -1 : strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        rc = STORE_OK;
    }
    PQclear(r);
    return rc;
}

static cJSON *keys_list(store *st, const char *device_id)
{
    return pg_rows_json(PG(st),
                        "SELECT id, name, prefix, created_at, revoked_at, last_used_at, "
                        "revoked_at IS NOT NULL AS revoked_bool FROM api_keys "
                        "WHERE device_id = $1 ORDER BY created_at",
                        "s", device_id);
}

static int key_prefix(store *st, const char *device_id, const char *id_or_prefix, char *prefix,
                      size_t cap)
{
    return pq_text_rc(
        pg_textf(PG(st), prefix, cap,
                 "SELECT prefix FROM api_keys WHERE (id = $1 OR prefix = $2) AND device_id = $3",
                 "sss", id_or_prefix, id_or_prefix, device_id));
}

static int key_name(store *st, const char *prefix, char *name, size_t cap)
{
    return pq_text_rc(
        pg_textf(PG(st), name, cap, "SELECT name FROM api_keys WHERE prefix = $1", "s", prefix));
}

static int key_revoke(store *st, const char *prefix, int64_t now_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2 AND revoked_at IS NULL",
                 "is", now_ms, prefix));
}

static cJSON *sim_keys_live(store *st, const char *name)
{
    return pg_rows_json(PG(st),
                        "SELECT prefix FROM api_keys WHERE revoked_at IS NULL AND name = $1"
                        " AND device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                        "s", name);
}

static int sim_keys_retire(store *st, const char *name, int64_t now_ms, int64_t keep_ms)
{
    if (pg_execf(PG(st), NULL,
                 "UPDATE api_keys SET revoked_at = $1 WHERE revoked_at IS NULL AND name = $2 AND "
                 "device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                 "is", now_ms, name) != 0)
        return STORE_ERR;
    return pq_rc(pg_execf(PG(st), NULL,
                          "DELETE FROM api_keys WHERE name = $1 AND revoked_at < $2 AND "
                          "device_id IN (SELECT id FROM devices WHERE " SIM_WHERE ")",
                          "si", name, now_ms - keep_ms));
}

const store_devices_ops pg_devices_ops = {
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
