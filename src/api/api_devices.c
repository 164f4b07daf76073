/* Devices: CRUD with search/filter/paging, API keys (shown once, stored hashed), metrics,
 * points and rollups, and status/security events. DeviceOwners see and change only their
 * own devices (api_device_visible); Analysts see all; Admins change all. */
#include "api/api.h"

#include "auth/token.h"
#include "ingest/devstate.h"
#include "store/store.h"
#include "store/writer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int create_key(api_ctx *ctx, const char *device_id, const char *name, char *key,
                      size_t keycap, char id_out[UUID_STR_LEN + 1], char prefix[16]);

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

#define SEARCH_COUNT_CAP 1000

static cJSON *load_device(api_ctx *ctx, const char *id)
{
    cJSON *d = STORE_DEVICES(ctx->s->st)->get(ctx->s->st, id);
    if (d) add_live(ctx, d);
    return d;
}

/* How far a search counts its matches: 1,000, or past the page asked for (so a client paging
 * through more always sees that there is a next page). */
static int64_t search_count_cap(int64_t offset, int64_t limit)
{
    int64_t want = offset > INT64_MAX - limit - 1 ? INT64_MAX : offset + limit + 1;
    return want > SEARCH_COUNT_CAP ? want : SEARCH_COUNT_CAP;
}

void api_devices_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 10000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    char q[128] = "", type[128] = "", status[16] = "", owner[64] = "", sort[32] = "name",
         order[8] = "asc", match[16] = "contains";
    api_query(ctx, "q", q, sizeof q);
    api_query(ctx, "match", match, sizeof match);
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
    bool prefix = strcmp(match, "prefix") == 0;
    if (bad || sort_idx < 0 || (!desc && strcmp(order, "asc") != 0) ||
        (status[0] && strcmp(status, "online") && strcmp(status, "offline")) ||
        (!prefix && strcmp(match, "contains") != 0)) {
        api_error(ctx, 400, "bad_request",
                  "limit 1..10000, offset >= 0, sort one of name|type|location|created_at|"
                  "last_seen|status, order asc|desc, status online|offline, "
                  "match contains|prefix");
        return;
    }
    if (!auth_scope_all_devices(ctx->role)) snprintf(owner, sizeof owner, "%s", ctx->user_id);
    store_device_filter f = {.owner = owner,
                             .type = type,
                             .status = status,
                             .query = q,
                             .prefix = prefix,
                             .sort = sorts[sort_idx],
                             .desc = desc,
                             .limit = limit,
                             .offset = offset,
                             /* a search counts its matches only so far (a substring search
                              * reads every row once more to count them) */
                             .count_cap = q[0] ? search_count_cap(offset, limit) : 0};
    int64_t total = 0;
    cJSON *rows = STORE_DEVICES(ctx->s->st)->list(ctx->s->st, &f, &total);
    cJSON *item;
    cJSON_ArrayForEach(item, rows) add_live(ctx, item);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    /* the count stopped at the cap: total is a lower bound */
    cJSON_AddBoolToObject(o, "total_capped", f.count_cap > 0 && total >= f.count_cap);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON_AddNumberToObject(o, "offset", (double)offset);
    api_json(ctx, 200, o);
}

/* Why a device to register is refused (NULL: it is not); *code is "forbidden" (403) or
 * "bad_request" (400). An Admin may register devices for any user (owner_id), others only for
 * themselves; Analysts register none (also refused by the route). Single and bulk registration
 * apply these same rules. */
static const char *registration_problem(api_ctx *ctx, const cJSON *dev, const char **code)
{
    *code = "bad_request";
    if (!cJSON_IsObject(dev)) return "each device must be a JSON object";
    const char *why = validate_meta(dev, true);
    if (why) return why;
    const char *req_owner = json_str(dev, "owner_id");
    if (cJSON_GetObjectItemCaseSensitive(dev, "owner_id") && !req_owner)
        return "owner_id must be a string";
    if (req_owner && strcmp(req_owner, ctx->user_id) != 0) {
        if (ctx->role != ROLE_ADMIN) {
            *code = "forbidden";
            return "only an Admin may register devices for others";
        }
        if (!STORE_USERS(ctx->s->st)->exists(ctx->s->st, req_owner))
            return "owner_id is not a user";
    } else if (ctx->role == ROLE_ANALYST) {
        *code = "forbidden";
        return "Analysts do not register devices";
    }
    return NULL;
}

/* Stores a device that passed registration_problem under a new id (written to id). */
static int insert_device(api_ctx *ctx, const cJSON *dev, int64_t now, char id[UUID_STR_LEN + 1])
{
    const char *owner = json_str(dev, "owner_id");
    util_uuid7(id);
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(dev, "attributes");
    char *attrs_text = attrs ? cJSON_PrintUnformatted(attrs) : NULL;
    store_device_fields fields = {.owner_id = owner ? owner : ctx->user_id,
                                  .name = json_str(dev, "name"),
                                  .type = json_str(dev, "type"),
                                  .location = json_str(dev, "location"),
                                  .firmware = json_str(dev, "firmware"),
                                  .attributes = attrs_text};
    int rc = STORE_DEVICES(ctx->s->st)->create(ctx->s->st, id, &fields, now);
    free(attrs_text);
    return rc;
}

/* A registered device becomes known to ingest (after its transaction committed). */
static void device_known(api_ctx *ctx, const char *id, const char *owner, const char *type)
{
    devstate_add(ctx->s->devices, id, owner ? owner : ctx->user_id);
    devstate_set_type(ctx->s->devices, id, type && type[0] ? type : "generic");
}

void api_devices_create(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *code, *why = registration_problem(ctx, body, &code);
    if (why) {
        cJSON_Delete(body);
        api_error(ctx, strcmp(code, "forbidden") == 0 ? 403 : 400, code, "%s", why);
        return;
    }
    char id[UUID_STR_LEN + 1];
    if (insert_device(ctx, body, util_now_ms(), id) != STORE_OK) {
        cJSON_Delete(body);
        api_error(ctx, 500, "internal", "could not store the device");
        return;
    }
    device_known(ctx, id, json_str(body, "owner_id"), json_str(body, "type"));
    cJSON_Delete(body);
    api_audit(ctx, "device.create", id, "");
    api_json(ctx, 201, load_device(ctx, id));
}

/* Registers one valid bulk item inside the open transaction and adds its result to out. */
static int bulk_create_one(api_ctx *ctx, const cJSON *item, int index, bool with_key, int64_t now,
                           cJSON *out)
{
    const char *owner = json_str(item, "owner_id"), *type = json_str(item, "type");
    char id[UUID_STR_LEN + 1];
    int rc = insert_device(ctx, item, now, id);
    if (rc != STORE_OK) return -1;
    api_audit(ctx, "device.create", id, "bulk");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "index", index);
    cJSON_AddStringToObject(r, "status", "created");
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "name", json_str(item, "name"));
    cJSON_AddStringToObject(r, "type", type && type[0] ? type : "generic");
    cJSON_AddStringToObject(r, "owner_id", owner ? owner : ctx->user_id);
    cJSON_AddItemToArray(out, r);
    if (!with_key) return 0;
    char key[128], key_id[UUID_STR_LEN + 1], prefix[16];
    rc = create_key(ctx, id, json_str(item, "key_name"), key, sizeof key, key_id, prefix);
    if (rc == STORE_OK) {
        api_audit(ctx, "apikey.create", id, prefix);
        cJSON *k = cJSON_AddObjectToObject(r, "key");
        cJSON_AddStringToObject(k, "id", key_id);
        cJSON_AddStringToObject(k, "key", key);
        cJSON_AddStringToObject(k, "prefix", prefix);
    }
    explicit_bzero(key, sizeof key);
    return rc == STORE_OK ? 0 : -1;
}

/* POST /api/v1/devices/bulk {"devices": [{name, type, ...}, ...], "keys": true}: up to
 * max_bulk_devices devices in one transaction, all or nothing (names are not unique, so a
 * client retrying a partly registered batch would register its devices twice). Every item is
 * checked first; one bad item refuses the whole request with a result per item. Each device
 * gets an API key unless "keys" is false: the secret is in this answer only, stored hashed. */
void api_devices_bulk(api_ctx *ctx)
{
    if (ctx->role == ROLE_ANALYST) {
        api_error(ctx, 403, "forbidden", "Analysts do not register devices");
        return;
    }
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(body, "devices");
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(body, "keys");
    int n = cJSON_IsArray(devs) ? cJSON_GetArraySize(devs) : 0;
    if (n == 0 || (keys && !cJSON_IsBool(keys))) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request",
                  "expected {\"devices\": [non-empty array of devices], \"keys\": true|false}");
        return;
    }
    if (n > ctx->s->cfg.max_bulk_devices) {
        cJSON_Delete(body);
        ctx->s->m.bulk_devices_refused++;
        api_error(ctx, 413, "too_many",
                  "%d devices in one request, more than max_bulk_devices (%lld)", n,
                  (long long)ctx->s->cfg.max_bulk_devices);
        return;
    }
    bool with_key = !keys || cJSON_IsTrue(keys);
    cJSON *results = cJSON_CreateArray();
    int bad = 0, i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, devs)
    {
        const char *code, *why = registration_problem(ctx, item, &code);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "index", i++);
        cJSON_AddStringToObject(r, "status", why ? "error" : "valid");
        if (why) {
            cJSON_AddStringToObject(r, "error", code);
            cJSON_AddStringToObject(r, "message", why);
            bad++;
        }
        cJSON_AddItemToArray(results, r);
    }
    if (bad) {
        cJSON_Delete(body);
        ctx->s->m.bulk_devices_refused++;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", "bad_request");
        char msg[160];
        snprintf(msg, sizeof msg, "%d of %d devices are invalid: none was registered", bad, n);
        cJSON_AddStringToObject(o, "message", msg);
        cJSON_AddItemToObject(o, "results", results);
        api_json(ctx, 400, o);
        return;
    }
    cJSON_Delete(results);
    store *st = ctx->s->st;
    if (store_begin(st) != STORE_OK) {
        cJSON_Delete(body);
        api_error(ctx, 503, "unavailable", "database busy");
        return;
    }
    cJSON *created = cJSON_CreateArray();
    int64_t now = util_now_ms();
    int rc = 0;
    i = 0;
    cJSON_ArrayForEach(item, devs)
    {
        if ((rc = bulk_create_one(ctx, item, i++, with_key, now, created)) != 0) break;
    }
    if (rc != 0 || store_commit(st) != STORE_OK) {
        store_rollback(st);
        cJSON_Delete(body);
        cJSON_Delete(created);
        api_error(ctx, 500, "internal", "could not store the devices: none was registered");
        return;
    }
    cJSON *r;
    cJSON_ArrayForEach(r, created)
    {
        device_known(ctx, json_str(r, "id"), json_str(r, "owner_id"), json_str(r, "type"));
    }
    ctx->s->m.bulk_devices_created += (uint64_t)n;
    cJSON_Delete(body);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "created", n);
    cJSON_AddItemToObject(o, "items", created);
    cJSON_AddStringToObject(o, "note",
                            with_key ? "store the keys now: they are not shown again"
                                     : "no keys were created (\"keys\": false)");
    api_json(ctx, 201, o);
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
    if (!why && new_owner && !STORE_USERS(ctx->s->st)->exists(ctx->s->st, new_owner))
        why = "owner_id is not a user";
    if (why) {
        cJSON_Delete(body);
        api_error(ctx, strstr(why, "only an Admin") ? 403 : 400,
                  strstr(why, "only an Admin") ? "forbidden" : "bad_request", "%s", why);
        return;
    }
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(body, "attributes");
    char *attrs_text = attrs ? cJSON_PrintUnformatted(attrs) : NULL;
    store_device_fields fields = {.owner_id = new_owner,
                                  .name = json_str(body, "name"),
                                  .type = json_str(body, "type"),
                                  .location = json_str(body, "location"),
                                  .firmware = json_str(body, "firmware"),
                                  .attributes = attrs_text};
    STORE_DEVICES(ctx->s->st)->update(ctx->s->st, id, &fields, util_now_ms());
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
    STORE_DEVICES(ctx->s->st)->remove(ctx->s->st, id);
    devstate_remove(ctx->s->devices, id);
    api_audit(ctx, "device.delete", id, "");
    /* the device's points are dropped by the writer thread, which owns the time-series store */
    writer_delete_device(ctx->s->writer, id);
    api_no_content(ctx);
}

void api_keys_list(api_ctx *ctx)
{
    if (!api_device_visible(ctx, ctx->params[0], NULL)) return;
    cJSON *rows = STORE_DEVICES(ctx->s->st)->keys_list(ctx->s->st, ctx->params[0]);
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
    return STORE_DEVICES(ctx->s->st)
        ->key_create(ctx->s->st, id_out, device_id, name, prefix, hash, ctx->user_id,
                     util_now_ms());
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
    if (STORE_DEVICES(ctx->s->st)->key_prefix(ctx->s->st, dev, key_id, prefix, 16) == STORE_OK)
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
    STORE_DEVICES(ctx->s->st)->key_revoke(ctx->s->st, prefix, util_now_ms());
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
    store *st = ctx->s->st;
    STORE_DEVICES(st)->key_name(st, prefix, name, sizeof name);
    if (store_begin(st) != STORE_OK) {
        api_error(ctx, 503, "unavailable", "database busy");
        return;
    }
    if (STORE_DEVICES(st)->key_revoke(st, prefix, util_now_ms()) != STORE_OK ||
        create_key(ctx, dev, name, key, sizeof key, id, new_prefix) != STORE_OK ||
        store_commit(st) != STORE_OK) {
        store_rollback(st);
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
    STORE_TS(ctx->s->ts)->list_metrics(ctx->s->ts, ctx->params[0], add_metric, arr);
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

/* Buckets of `step` (aligned to multiples of step since the epoch, as the stores cut them)
 * that [from, to) touches. */
static int64_t buckets_spanned(int64_t from, int64_t to, int64_t step)
{
    int64_t a = from / step - (from % step < 0), b = (to - 1) / step - ((to - 1) % step < 0);
    return b - a + 1;
}

/* A rollup request spanning more than max_rollup_buckets buckets per series is refused whole,
 * before any data is read, with the smallest step the range allows (clamping it silently
 * would hand a chart buckets of a width it did not ask for). */
static bool rollup_within_cap(api_ctx *ctx, int64_t from, int64_t to, int64_t step)
{
    int64_t cap = ctx->s->cfg.max_rollup_buckets;
    int64_t n = buckets_spanned(from, to, step);
    if (n <= cap) return true;
    /* the smallest whole second that fits, plus the one bucket an unaligned start adds */
    uint64_t span = (uint64_t)to - (uint64_t)from; /* to > from; may pass INT64_MAX */
    int64_t min_step = (int64_t)(span / (uint64_t)(cap - 1) / 1000 + 1) * 1000;
    while (min_step < INT64_MAX / 2 && buckets_spanned(from, to, min_step) > cap)
        min_step *= 2;
    ctx->s->m.rollups_refused++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", "too_many_buckets");
    char msg[256];
    snprintf(msg, sizeof msg,
             "from/to with step %lld ms spans %lld buckets per series, more than "
             "max_rollup_buckets (%lld): use step >= %lld ms or a shorter range",
             (long long)step, (long long)n, (long long)cap, (long long)min_step);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddNumberToObject(o, "buckets", (double)n);
    cJSON_AddNumberToObject(o, "max_buckets", (double)cap);
    cJSON_AddNumberToObject(o, "min_step_ms", (double)min_step);
    api_json(ctx, 400, o);
    return false;
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
    /* The default window ends where ingest stops accepting timestamps, not at now: a device
     * whose points run ahead of the server's clock (or that sends faster than one point per
     * ms with its own timestamps) must read back what it was acknowledged (read-your-writes;
     * docs/design.md). `to` is exclusive. */
    int64_t future_ms = ctx->s->cfg.ts_max_future_s * 1000;
    api_query_time(ctx, "to", future_ms > 0 ? now + future_ms + 1 : INT64_MAX, &to, &bad);
    int64_t limit = api_query_int(ctx, "limit", 10000, 1, 100000, &bad);
    int64_t step = parse_step(step_s);
    if (bad || step < 0 || to <= from) {
        api_error(ctx, 400, "bad_request",
                  "from/to: ms, RFC 3339 or -15m/-1h/-7d with from < to; limit 1..100000; "
                  "step raw|1m|5m|1h|1d or ms >= 1000");
        return;
    }
    if (step > 0 && !rollup_within_cap(ctx, from, to, step)) return;
    cJSON *points = cJSON_CreateArray();
    cJSON *names = cJSON_CreateArray();
    if (metric[0]) {
        cJSON_AddItemToArray(names, cJSON_CreateString(metric));
    } else {
        STORE_TS(ctx->s->ts)->list_metrics(ctx->s->ts, dev, add_metric, names);
    }
    int64_t next = -1;
    const cJSON *m;
    cJSON_ArrayForEach(m, names)
    {
        int64_t sid;
        if (STORE_TS(ctx->s->ts)->lookup(ctx->s->ts, dev, m->valuestring, &sid) != 0) continue;
        point_sink ps = {points, m->valuestring};
        if (step > 0) {
            STORE_TS(ctx->s->ts)->rollup(ctx->s->ts, sid, from, to, step, add_bucket, &ps);
        } else {
            int64_t n = cJSON_GetArraySize(points);
            int64_t left = limit - n;
            if (left <= 0) break;
            int64_t nx = -1;
            STORE_TS(ctx->s->ts)
                ->query(ctx->s->ts, sid, from, to, (size_t)left, add_point, &ps, &nx);
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
    store_event_filter f = {.from_ms = from,
                            .to_ms = to,
                            .device_id = device_id,
                            .category = category,
                            .kind = kind,
                            .owner = owner,
                            .limit = limit};
    cJSON *rows = STORE_DEVICES(ctx->s->st)->events(ctx->s->st, &f);
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
