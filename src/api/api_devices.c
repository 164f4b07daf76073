/* Devices: CRUD with search/filter/paging, API keys (shown once, stored hashed), metrics,
 * points and rollups, and status/security events. DeviceOwners see and change only their
 * own devices (api_device_visible); Analysts see all; Admins change all. */
#include "api/api.h"

#include "auth/token.h"
#include "ingest/devstate.h"
#include "store/db.h"
#include "store/tsdb.h"
#include "store/writer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_COLUMNS                                                                             \
    "id, owner_id, name, type, location, firmware, attributes AS attributes_json, status, "        \
    "last_seen, created_at, updated_at"

static void add_live(api_ctx *ctx, cJSON *dev)
{
    const char *id = json_str(dev, "id");
    dev_live *d = id ? devstate_get(ctx->s->devices, id) : NULL;
    if (!d) return;
    cJSON_ReplaceItemInObject(dev, "status", cJSON_CreateString(d->online ? "online" : "offline"));
    if (d->last_seen_ms > 0)
        cJSON_ReplaceItemInObject(dev, "last_seen", cJSON_CreateNumber((double)d->last_seen_ms));
}

static bool can_write(api_ctx *ctx, const char *owner)
{
    if (ctx->role == ROLE_ADMIN) return true;
    if (ctx->role == ROLE_DEVICE_OWNER && strcmp(owner, ctx->user_id) == 0) return true;
    api_error(ctx, 403, "forbidden", "the %s role may not change this device",
              auth_role_name(ctx->role));
    return false;
}

static const char *validate_meta(const cJSON *body, bool create)
{
    static const char *const text_fields[] = {"name", "type", "location", "firmware"};
    for (size_t i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, text_fields[i]);
        if (!v) continue;
        if (!cJSON_IsString(v)) return "name, type, location and firmware must be strings";
        if (strlen(v->valuestring) > 256) return "text fields are limited to 256 characters";
    }
    const char *name = json_str(body, "name");
    if (create && (!name || !name[0])) return "name is required";
    if (!create && cJSON_GetObjectItemCaseSensitive(body, "name") && (!name || !name[0]))
        return "name must not be empty";
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(body, "attributes");
    if (attrs && !cJSON_IsObject(attrs)) return "attributes must be a JSON object";
    return NULL;
}

static cJSON *load_device(api_ctx *ctx, const char *id)
{
    bool found;
    cJSON *d = db_row_json(ctx->s->db, &found,
                           "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?", "s", id);
    if (d) add_live(ctx, d);
    return d;
}

void api_devices_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 10000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    char q[128] = "", type[128] = "", status[16] = "", owner[64] = "", sort[32] = "name",
         order[8] = "asc";
    api_query(ctx, "q", q, sizeof q);
    api_query(ctx, "type", type, sizeof type);
    api_query(ctx, "status", status, sizeof status);
    api_query(ctx, "owner_id", owner, sizeof owner);
    api_query(ctx, "sort", sort, sizeof sort);
    api_query(ctx, "order", order, sizeof order);
    static const char *const sorts[] = {"name",       "type",      "location",
                                        "created_at", "last_seen", "status"};
    int sort_idx = -1;
    for (int i = 0; i < 6; i++)
        if (strcmp(sort, sorts[i]) == 0) sort_idx = i;
    bool desc = strcmp(order, "desc") == 0;
    if (bad || sort_idx < 0 || (!desc && strcmp(order, "asc") != 0) ||
        (status[0] && strcmp(status, "online") && strcmp(status, "offline"))) {
        api_error(ctx, 400, "bad_request",
                  "limit 1..10000, offset >= 0, sort one of name|type|location|created_at|"
                  "last_seen|status, order asc|desc, status online|offline");
        return;
    }
    if (!auth_scope_all_devices(ctx->role)) snprintf(owner, sizeof owner, "%s", ctx->user_id);
    char like[140];
    snprintf(like, sizeof like, "%%%s%%", q);
    /* the ORDER BY column comes from the fixed list above, never from the request text */
    static const char *const orders[12] = {
        "name ASC",        "type ASC, name",  "location ASC, name",
        "created_at ASC",  "last_seen ASC",   "status ASC, name",
        "name DESC",       "type DESC, name", "location DESC, name",
        "created_at DESC", "last_seen DESC",  "status DESC, name"};
    char sql[1024];
    const char *where = "WHERE (? = '' OR owner_id = ?) AND (? = '' OR type = ?) AND "
                        "(? = '' OR status = ?) AND (? = '' OR name LIKE ? OR location LIKE ? OR "
                        "id = ? OR firmware LIKE ?)";
    snprintf(sql, sizeof sql,
             "SELECT " DEVICE_COLUMNS " FROM devices %s ORDER BY %s LIMIT ? OFFSET ?", where,
             orders[sort_idx + (desc ? 6 : 0)]);
    cJSON *rows = db_rows_json(ctx->s->db, sql, "sssssssssssii", owner, owner, type, type, status,
                               status, q, like, like, q, like, limit, offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM devices %s", where);
    int64_t total = db_int(ctx->s->db, 0, sql, "sssssssssss", owner, owner, type, type, status,
                           status, q, like, like, q, like);
    cJSON *item;
    cJSON_ArrayForEach(item, rows) add_live(ctx, item);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    api_json(ctx, 200, o);
}

void api_devices_create(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *why = validate_meta(body, true);
    if (why) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "%s", why);
        return;
    }
    const char *owner = ctx->user_id;
    const char *req_owner = json_str(body, "owner_id");
    if (req_owner && strcmp(req_owner, ctx->user_id) != 0) {
        if (ctx->role != ROLE_ADMIN) {
            cJSON_Delete(body);
            api_error(ctx, 403, "forbidden", "only an Admin may register devices for others");
            return;
        }
        if (db_int(ctx->s->db, 0, "SELECT COUNT(*) FROM users WHERE id = ?", "s", req_owner) == 0) {
            cJSON_Delete(body);
            api_error(ctx, 400, "bad_request", "owner_id is not a user");
            return;
        }
        owner = req_owner;
    } else if (ctx->role == ROLE_ANALYST) {
        cJSON_Delete(body);
        api_error(ctx, 403, "forbidden", "Analysts do not register devices");
        return;
    }
    char id[UUID_STR_LEN + 1];
    util_uuid7(id);
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(body, "attributes");
    char *attrs_text = attrs ? cJSON_PrintUnformatted(attrs) : NULL;
    const char *type = json_str(body, "type");
    int64_t now = util_now_ms();
    int rc =
        db_exec(ctx->s->db, NULL,
                "INSERT INTO devices(id, owner_id, name, type, location, firmware, attributes,"
                " created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "sssssssii", id, owner, json_str(body, "name"), type && type[0] ? type : "generic",
                json_str(body, "location") ? json_str(body, "location") : "",
                json_str(body, "firmware") ? json_str(body, "firmware") : "",
                attrs_text ? attrs_text : "{}", now, now);
    free(attrs_text);
    if (rc != 0) {
        cJSON_Delete(body);
        api_error(ctx, 500, "internal", "could not store the device");
        return;
    }
    devstate_add(ctx->s->devices, id, owner); /* owner and type point into body */
    devstate_set_type(ctx->s->devices, id, type && type[0] ? type : "generic");
    cJSON_Delete(body);
    api_audit(ctx, "device.create", id, "");
    api_json(ctx, 201, load_device(ctx, id));
}

void api_devices_get(api_ctx *ctx)
{
    if (!api_device_visible(ctx, ctx->params[0], NULL)) return;
    api_json(ctx, 200, load_device(ctx, ctx->params[0]));
}

void api_devices_update(api_ctx *ctx)
{
    const char *id = ctx->params[0];
    char owner[UUID_STR_LEN + 1];
    if (!api_device_visible(ctx, id, owner) || !can_write(ctx, owner)) return;
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *why = validate_meta(body, false);
    const char *new_owner = json_str(body, "owner_id");
    if (!why && new_owner && ctx->role != ROLE_ADMIN) why = "only an Admin may change the owner";
    if (!why && new_owner &&
        db_int(ctx->s->db, 0, "SELECT COUNT(*) FROM users WHERE id = ?", "s", new_owner) == 0)
        why = "owner_id is not a user";
    if (why) {
        cJSON_Delete(body);
        api_error(ctx, strstr(why, "only an Admin") ? 403 : 400,
                  strstr(why, "only an Admin") ? "forbidden" : "bad_request", "%s", why);
        return;
    }
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(body, "attributes");
    char *attrs_text = attrs ? cJSON_PrintUnformatted(attrs) : NULL;
    db_exec(ctx->s->db, NULL,
            "UPDATE devices SET name = COALESCE(?, name), type = COALESCE(?, type), "
            "location = COALESCE(?, location), firmware = COALESCE(?, firmware), "
            "attributes = COALESCE(?, attributes), owner_id = COALESCE(?, owner_id), "
            "updated_at = ? WHERE id = ?",
            "bbbbbbis", json_str(body, "name"), json_str(body, "type"), json_str(body, "location"),
            json_str(body, "firmware"), attrs_text, new_owner, util_now_ms(), id);
    if (new_owner) devstate_set_owner(ctx->s->devices, id, new_owner);
    if (json_str(body, "type")) devstate_set_type(ctx->s->devices, id, json_str(body, "type"));
    char *detail = cJSON_PrintUnformatted(body);
    api_audit(ctx, "device.update", id, detail ? detail : "");
    free(detail);
    free(attrs_text);
    cJSON_Delete(body);
    api_json(ctx, 200, load_device(ctx, id));
}

void api_devices_delete(api_ctx *ctx)
{
    const char *id = ctx->params[0];
    char owner[UUID_STR_LEN + 1];
    if (!api_device_visible(ctx, id, owner) || !can_write(ctx, owner)) return;
    db_exec(ctx->s->db, NULL, "DELETE FROM devices WHERE id = ?", "s", id);
    devstate_remove(ctx->s->devices, id);
    api_audit(ctx, "device.delete", id, "");
    /* the device's points are dropped by the writer thread, which owns the time-series store */
    writer_delete_device(ctx->s->writer, id);
    api_no_content(ctx);
}

void api_keys_list(api_ctx *ctx)
{
    if (!api_device_visible(ctx, ctx->params[0], NULL)) return;
    cJSON *rows = db_rows_json(ctx->s->db,
                               "SELECT id, name, prefix, created_at, revoked_at, last_used_at, "
                               "revoked_at IS NOT NULL AS revoked_bool FROM api_keys "
                               "WHERE device_id = ? ORDER BY created_at",
                               "s", ctx->params[0]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

/* Creates a key row; fills key (the secret, shown once) and returns the key id in id_out. */
static int create_key(api_ctx *ctx, const char *device_id, const char *name, char *key,
                      size_t keycap, char id_out[UUID_STR_LEN + 1], char prefix[16])
{
    char hash[65];
    if (auth_apikey_new(key, keycap, prefix, hash) != 0) return -1;
    util_uuid7(id_out);
    return db_exec(ctx->s->db, NULL,
                   "INSERT INTO api_keys(id, device_id, name, prefix, hash, created_at, created_by)"
                   " VALUES(?, ?, ?, ?, ?, ?, ?)",
                   "sssssis", id_out, device_id, name ? name : "", prefix, hash, util_now_ms(),
                   ctx->user_id);
}

static void key_response(api_ctx *ctx, int status, const char *device_id, const char *id,
                         const char *key, const char *prefix)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "device_id", device_id);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "prefix", prefix);
    cJSON_AddStringToObject(o, "note", "store this key now: it is not shown again");
    api_json(ctx, status, o);
}

void api_keys_create(api_ctx *ctx)
{
    const char *dev = ctx->params[0];
    char owner[UUID_STR_LEN + 1];
    if (!api_device_visible(ctx, dev, owner) || !can_write(ctx, owner)) return;
    const char *name = NULL;
    cJSON *body = NULL;
    if (ctx->req->body_len) {
        body = api_body_json(ctx);
        if (!body) return;
        name = json_str(body, "name");
    }
    char key[128], id[UUID_STR_LEN + 1], prefix[16];
    int rc = create_key(ctx, dev, name, key, sizeof key, id, prefix);
    cJSON_Delete(body);
    if (rc != 0) {
        api_error(ctx, 500, "internal", "could not create the key");
        return;
    }
    api_audit(ctx, "apikey.create", dev, prefix);
    key_response(ctx, 201, dev, id, key, prefix);
    explicit_bzero(key, sizeof key);
}

static bool find_key(api_ctx *ctx, const char *dev, const char *key_id, char prefix[16])
{
    if (db_text(ctx->s->db, prefix, 16,
                "SELECT prefix FROM api_keys WHERE (id = ? OR prefix = ?) AND device_id = ?", "sss",
                key_id, key_id, dev) == 0)
        return true;
    api_error(ctx, 404, "not_found", "no key %s on device %s", key_id, dev);
    return false;
}

void api_keys_revoke(api_ctx *ctx)
{
    const char *dev = ctx->params[0];
    char owner[UUID_STR_LEN + 1], prefix[16];
    if (!api_device_visible(ctx, dev, owner) || !can_write(ctx, owner) ||
        !find_key(ctx, dev, ctx->params[1], prefix))
        return;
    db_exec(ctx->s->db, NULL,
            "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL", "is",
            util_now_ms(), prefix);
    devstate_forget_key(ctx->s->devices, prefix);
    api_audit(ctx, "apikey.revoke", dev, prefix);
    api_no_content(ctx);
}

void api_keys_rotate(api_ctx *ctx)
{
    const char *dev = ctx->params[0];
    char owner[UUID_STR_LEN + 1], prefix[16];
    if (!api_device_visible(ctx, dev, owner) || !can_write(ctx, owner) ||
        !find_key(ctx, dev, ctx->params[1], prefix))
        return;
    char key[128], id[UUID_STR_LEN + 1], new_prefix[16], name[128] = "";
    db_text(ctx->s->db, name, sizeof name, "SELECT name FROM api_keys WHERE prefix = ?", "s",
            prefix);
    if (db_begin(ctx->s->db) != 0) {
        api_error(ctx, 503, "unavailable", "database busy");
        return;
    }
    if (db_exec(ctx->s->db, NULL,
                "UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL", "is",
                util_now_ms(), prefix) != 0 ||
        create_key(ctx, dev, name, key, sizeof key, id, new_prefix) != 0 ||
        db_commit(ctx->s->db) != 0) {
        db_rollback(ctx->s->db);
        api_error(ctx, 500, "internal", "could not rotate the key");
        return;
    }
    devstate_forget_key(ctx->s->devices, prefix);
    char detail[64];
    snprintf(detail, sizeof detail, "old=%s new=%s", prefix, new_prefix);
    api_audit(ctx, "apikey.rotate", dev, detail);
    key_response(ctx, 201, dev, id, key, new_prefix);
    explicit_bzero(key, sizeof key);
}

static void add_metric(void *arg, const char *metric, int64_t series_id)
{
    (void)series_id;
    cJSON_AddItemToArray(arg, cJSON_CreateString(metric));
}

void api_device_metrics(api_ctx *ctx)
{
    if (!api_device_visible(ctx, ctx->params[0], NULL)) return;
    cJSON *arr = cJSON_CreateArray();
    tsdb_list_metrics(ctx->s->ts, ctx->params[0], add_metric, arr);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", arr);
    api_json(ctx, 200, o);
}

typedef struct {
    cJSON *arr;
    const char *metric;
} point_sink;

static void add_point(void *arg, int64_t ts, double v)
{
    point_sink *ps = arg;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "ts", (double)ts);
    cJSON_AddStringToObject(p, "metric", ps->metric);
    cJSON_AddNumberToObject(p, "value", v);
    cJSON_AddItemToArray(ps->arr, p);
}

static void add_bucket(void *arg, int64_t ts, double mn, double mx, double avg, uint64_t count)
{
    point_sink *ps = arg;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "ts", (double)ts);
    cJSON_AddStringToObject(p, "metric", ps->metric);
    cJSON_AddNumberToObject(p, "min", mn);
    cJSON_AddNumberToObject(p, "max", mx);
    cJSON_AddNumberToObject(p, "avg", avg);
    cJSON_AddNumberToObject(p, "count", (double)count);
    cJSON_AddItemToArray(ps->arr, p);
}

static int64_t parse_step(const char *s)
{
    if (!s[0] || strcmp(s, "raw") == 0) return 0;
    if (strcmp(s, "1m") == 0) return 60000;
    if (strcmp(s, "5m") == 0) return 300000;
    if (strcmp(s, "1h") == 0) return 3600000;
    if (strcmp(s, "1d") == 0) return 86400000;
    char *end;
    long long v = strtoll(s, &end, 10);
    return (*end == '\0' && v >= 1000) ? v : -1;
}

void api_device_data(api_ctx *ctx)
{
    const char *dev = ctx->params[0];
    if (!api_device_visible(ctx, dev, NULL)) return;
    char metric[160] = "", step_s[32] = "";
    api_query(ctx, "metric", metric, sizeof metric);
    api_query(ctx, "step", step_s, sizeof step_s);
    bool bad = false;
    int64_t now = util_now_ms(), from, to;
    api_query_time(ctx, "from", now - 3600000, &from, &bad);
    api_query_time(ctx, "to", now + 1, &to, &bad);
    int64_t limit = api_query_int(ctx, "limit", 10000, 1, 100000, &bad);
    int64_t step = parse_step(step_s);
    if (bad || step < 0 || to <= from) {
        api_error(ctx, 400, "bad_request",
                  "from/to: ms, RFC 3339 or -15m/-1h/-7d with from < to; limit 1..100000; "
                  "step raw|1m|5m|1h|1d or ms >= 1000");
        return;
    }
    cJSON *points = cJSON_CreateArray();
    cJSON *names = cJSON_CreateArray();
    if (metric[0]) {
        cJSON_AddItemToArray(names, cJSON_CreateString(metric));
    } else {
        tsdb_list_metrics(ctx->s->ts, dev, add_metric, names);
    }
    int64_t next = -1;
    const cJSON *m;
    cJSON_ArrayForEach(m, names)
    {
        int64_t sid;
        if (tsdb_series_lookup(ctx->s->ts, dev, m->valuestring, &sid) != 0) continue;
        point_sink ps = {points, m->valuestring};
        if (step > 0) {
            tsdb_rollup(ctx->s->ts, sid, from, to, step, add_bucket, &ps);
        } else {
            int64_t n = cJSON_GetArraySize(points);
            int64_t left = limit - n;
            if (left <= 0) break;
            int64_t nx = -1;
            tsdb_query(ctx->s->ts, sid, from, to, (size_t)left, add_point, &ps, &nx);
            if (nx >= 0 && metric[0]) next = nx;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device_id", dev);
    if (metric[0]) cJSON_AddStringToObject(o, "metric", metric);
    cJSON_AddNumberToObject(o, "from", (double)from);
    cJSON_AddNumberToObject(o, "to", (double)to);
    if (step > 0) cJSON_AddNumberToObject(o, "step_ms", (double)step);
    cJSON_AddItemToObject(o, step > 0 ? "buckets" : "points", points);
    if (next >= 0) cJSON_AddNumberToObject(o, "next_from", (double)next);
    cJSON_Delete(names);
    api_json(ctx, 200, o);
}

static void events_query(api_ctx *ctx, const char *device_id)
{
    bool bad = false;
    int64_t now = util_now_ms(), from, to;
    api_query_time(ctx, "from", now - 86400000LL, &from, &bad);
    api_query_time(ctx, "to", now + 1, &to, &bad);
    int64_t limit = api_query_int(ctx, "limit", 200, 1, 10000, &bad);
    char category[32] = "", kind[32] = "";
    api_query(ctx, "category", category, sizeof category);
    api_query(ctx, "kind", kind, sizeof kind);
    if (bad) {
        api_error(ctx, 400, "bad_request", "bad from/to/limit");
        return;
    }
    const char *owner = api_owner_scope(ctx);
    cJSON *rows = db_rows_json(
        ctx->s->db,
        "SELECT e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, e.detail "
        "FROM device_events e LEFT JOIN devices d ON d.id = e.device_id "
        "WHERE e.ts >= ? AND e.ts < ? AND (? = '' OR e.device_id = ?) AND "
        "(? = '' OR e.category = ?) AND (? = '' OR e.kind = ?) AND (? = '' OR d.owner_id = ?) "
        "ORDER BY e.ts DESC, e.id DESC LIMIT ?",
        "iissssssssi", from, to, device_id, device_id, category, category, kind, kind, owner, owner,
        limit);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

void api_device_events(api_ctx *ctx)
{
    if (!api_device_visible(ctx, ctx->params[0], NULL)) return;
    events_query(ctx, ctx->params[0]);
}

void api_events_list(api_ctx *ctx)
{
    char dev[64] = "";
    api_query(ctx, "device_id", dev, sizeof dev);
    if (dev[0] && !api_device_visible(ctx, dev, NULL)) return;
    events_query(ctx, dev);
}
