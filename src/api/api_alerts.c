/* REST API of alerts (outbox rows with their delivery attempts, dead letters, retry, ack),
 * notification channels and alert policies (Admin), own contacts and preferences (every
 * user), and delivery settings. Channel secrets are write-only: stored for the worker, never
 * returned (responses say has_secret). */
#include "api/api.h"

#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "alert/cef.h"
#include "alert/channel.h"
#include "alert/template.h"
#include "store/store.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void alert_api_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    int64_t from, to;
    api_query_time(ctx, "from", 0, &from, &bad);
    api_query_time(ctx, "to", INT64_MAX, &to, &bad);
    char status[16] = "", method[16] = "", anomaly[64] = "", dev[64] = "", kind[16] = "";
    api_query(ctx, "status", status, sizeof status);
    api_query(ctx, "method", method, sizeof method);
    api_query(ctx, "anomaly_id", anomaly, sizeof anomaly);
    api_query(ctx, "device_id", dev, sizeof dev);
    api_query(ctx, "kind", kind, sizeof kind);
    if (bad || (status[0] && strcmp(status, "pending") && strcmp(status, "sending") &&
                strcmp(status, "sent") && strcmp(status, "dead"))) {
        api_error(ctx, 400, "bad_request",
                  "status pending|sending|sent|dead, limit 1..1000, from/to times");
        return;
    }
    const char *owner = api_owner_scope(ctx);
    store_alert_filter f = {.from_ms = from,
                            .to_ms = to,
                            .status = status,
                            .method = method,
                            .anomaly_id = anomaly,
                            .device_id = dev,
                            .kind = kind,
                            .owner = owner,
                            .limit = limit,
                            .offset = offset};
    int64_t total = 0;
    cJSON *rows = STORE_ALERTS(ctx->s->st)->list(ctx->s->st, &f, &total);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

static cJSON *visible_alert(api_ctx *ctx, const char *id)
{
    cJSON *r = STORE_ALERTS(ctx->s->st)->get(ctx->s->st, id, api_owner_scope(ctx));
    if (!r) {
        api_error(ctx, 404, "not_found", "no alert %s", id);
        return NULL;
    }
    return r;
}

void alert_api_get(api_ctx *ctx)
{
    cJSON *r = visible_alert(ctx, ctx->params[0]);
    if (!r) return;
    cJSON *att = STORE_ALERTS(ctx->s->st)->attempts(ctx->s->st, ctx->params[0]);
    cJSON_AddItemToObject(r, "attempts_log", att ? att : cJSON_CreateArray());
    cJSON *an = STORE_ALERTS(ctx->s->st)->anomaly_ids(ctx->s->st, ctx->params[0]);
    cJSON *ids = cJSON_AddArrayToObject(r, "anomaly_ids");
    const cJSON *x;
    cJSON_ArrayForEach(x, an)
        cJSON_AddItemToArray(ids, cJSON_CreateString(json_str(x, "anomaly_id")));
    cJSON_Delete(an);
    api_json(ctx, 200, r);
}

void alert_api_retry(api_ctx *ctx)
{
    bool requeued = false;
    STORE_ALERTS(ctx->s->st)->retry(ctx->s->st, ctx->params[0], util_now_ms(), &requeued);
    if (!requeued) {
        if (STORE_ALERTS(ctx->s->st)->exists(ctx->s->st, ctx->params[0]))
            api_error(ctx, 409, "conflict", "only dead-lettered alerts can be retried");
        else
            api_error(ctx, 404, "not_found", "no alert %s", ctx->params[0]);
        return;
    }
    api_audit(ctx, "alert.retry", ctx->params[0], "");
    alerts *a = alerts_of(ctx->s);
    if (a) alerts_wake(a);
    alerts_broadcast_alert(ctx->s, ctx->params[0]);
    cJSON *r = visible_alert(ctx, ctx->params[0]);
    if (r) api_json(ctx, 200, r);
}

void alert_api_ack(api_ctx *ctx)
{
    cJSON *r = visible_alert(ctx, ctx->params[0]);
    if (!r) return;
    cJSON_Delete(r);
    STORE_ALERTS(ctx->s->st)->ack(ctx->s->st, ctx->params[0], ctx->user_id, util_now_ms());
    api_audit(ctx, "alert.ack", ctx->params[0], "");
    alerts_broadcast_alert(ctx->s, ctx->params[0]);
    r = visible_alert(ctx, ctx->params[0]);
    if (r) api_json(ctx, 200, r);
}

/* ---- channels ------------------------------------------------------------------------- */

static const char *tpl_probe(void *arg, const char *name, size_t len)
{
    (void)arg;
    if ((len == 4 && !memcmp(name, "from", 4)) || (len == 2 && !memcmp(name, "to", 2)) ||
        (len == 4 && !memcmp(name, "body", 4)))
        return "x";
    return NULL;
}

/* The config of a syslog channel (channel_syslog.c); NULL ok or the reason. */
static const char *check_syslog_config(const cJSON *cfg)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, cfg)
    {
        const char *k = x->string;
        if (!strcmp(k, "facility")) {
            bool ok = cJSON_IsNumber(x)
                          ? x->valuedouble >= 0 && x->valuedouble <= 23 &&
                                x->valuedouble == (int)x->valuedouble
                          : cJSON_IsString(x) && alert_syslog_facility(x->valuestring) >= 0;
            if (!ok) return "facility: 0..23 or a name (user, daemon, auth, local0 .. local7, ...)";
        } else if (!strcmp(k, "hostname")) {
            if (!cJSON_IsString(x) || strlen(x->valuestring) > 64)
                return "hostname: up to 64 "
                       "characters";
            for (const char *c = x->valuestring; *c; c++)
                if (*c <= 32 || *c >= 127) return "hostname: printable ASCII without spaces";
        } else if (!strcmp(k, "framing")) {
            if (!cJSON_IsString(x) ||
                (strcmp(x->valuestring, "octet-counting") && strcmp(x->valuestring, "newline")))
                return "framing: octet-counting or newline";
        } else if (!strcmp(k, "max_bytes")) {
            if (!cJSON_IsNumber(x) || x->valuedouble < ALERT_SYSLOG_MIN_BYTES ||
                x->valuedouble > 65535)
                return "max_bytes: 480..65535";
        } else if (!strcmp(k, "ca_pem")) {
            if (!cJSON_IsString(x) || !alert_pem_has_cert(x->valuestring))
                return "ca_pem: PEM text with at least one CA certificate";
        } else {
            return "config: facility, hostname, framing, max_bytes, ca_pem";
        }
    }
    return NULL;
}

/* Validates a complete channel (after merging an update); NULL ok or the reason. */
static const char *check_channel(api_ctx *ctx, const cJSON *c, char *why, size_t cap)
{
    const char *name = json_str(c, "name"), *kind = json_str(c, "kind");
    const char *url = json_str(c, "url");
    const cJSON *cfgj = cJSON_GetObjectItemCaseSensitive(c, "config");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(c, "rate_per_min");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(c, "secret");
    if (!name || !name[0] || strlen(name) > 100) return "name: 1..100 characters";
    if (!kind || (strcmp(kind, "email") && strcmp(kind, "sms") && strcmp(kind, "webhook") &&
                  strcmp(kind, "syslog")))
        return "kind must be email, sms, webhook or syslog";
    if (!url || strlen(url) > 1000) return "url is required (up to 1000 characters)";
    if (cfgj && !cJSON_IsObject(cfgj)) return "config must be an object";
    if (rate && (!cJSON_IsNumber(rate) || rate->valuedouble < 0 || rate->valuedouble > 100000))
        return "rate_per_min: 0 (unlimited) .. 100000";
    if (secret && !cJSON_IsNull(secret) &&
        (!cJSON_IsString(secret) || strlen(secret->valuestring) > 500))
        return "secret: a string up to 500 characters";
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    const char *res = NULL;
    bool syslog = !strcmp(kind, "syslog");
    if (!u || curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        res = "url is not a valid absolute URL";
    } else if (syslog                   ? !alert_syslog_default_port(scheme)
               : !strcmp(kind, "email") ? (strcmp(scheme, "smtp") && strcmp(scheme, "smtps"))
                                        : (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
        res = syslog                   ? "a syslog channel needs a udp://, tcp:// or tls:// url"
              : !strcmp(kind, "email") ? "an email channel needs an smtp:// or smtps:// url"
                                       : "this channel needs an http:// or https:// url";
    } else {
        /* literal addresses are checked now; names are checked at every delivery */
        char h[256];
        alert_host_unbracket(host, h, sizeof h);
        uint8_t addr[16];
        const char *cls = NULL;
        alerts *a = alerts_of(ctx->s);
        alert_allow allow;
        memset(&allow, 0, sizeof allow);
        if (a) {
            pthread_mutex_lock(&a->mu);
            allow = a->allow;
            pthread_mutex_unlock(&a->mu);
        }
        alert_own own;
        alert_own_load(&own);
        if (alert_addr_parse(h, addr) == 0 && !alert_addr_permitted(&allow, &own, addr, &cls)) {
            snprintf(why, cap,
                     "url points to a non-public address (%s); allow it in alert-settings "
                     "allow_nets first",
                     cls);
            res = why;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (res) return res;
    if (syslog) return check_syslog_config(cfgj);
    const char *tmpl = cfgj ? json_str(cfgj, "body_template") : NULL;
    if (tmpl) {
        char out[2048];
        int n = alert_template_render(tmpl, strlen(tmpl), tpl_probe, NULL, ALERT_ESC_NONE, out,
                                      sizeof out);
        if (n == ALERT_TPL_EUNKNOWN) return "body_template: placeholders are {from} {to} {body}";
        if (n < 0) return "body_template: malformed (use {{ and }} for literal braces)";
    }
    return NULL;
}

static cJSON *channel_row(api_ctx *ctx, const char *id)
{
    return STORE_ALERTS(ctx->s->st)->channel_get(ctx->s->st, id);
}

void alert_api_channels_list(api_ctx *ctx)
{
    cJSON *rows = STORE_ALERTS(ctx->s->st)->channels_list(ctx->s->st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

/* Overlays the body on the stored channel (update) or on defaults (create) and stores it. */
static void channel_save(api_ctx *ctx, const char *id, bool create)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    cJSON *cur = create ? cJSON_CreateObject() : channel_row(ctx, id);
    char why[256];
    const char *err = NULL;
    const cJSON *x;
    cJSON_ArrayForEach(x, b)
    {
        if (strcmp(x->string, "name") && strcmp(x->string, "kind") && strcmp(x->string, "url") &&
            strcmp(x->string, "config") && strcmp(x->string, "secret") &&
            strcmp(x->string, "enabled") && strcmp(x->string, "rate_per_min")) {
            snprintf(why, sizeof why, "unknown field %s", x->string);
            err = why;
            break;
        }
        if (!create && strcmp(x->string, "kind") == 0) {
            err = "the kind of a channel cannot change";
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(cur, x->string);
        cJSON_AddItemToObject(cur, x->string, cJSON_Duplicate(x, 1));
    }
    if (!err) err = check_channel(ctx, cur, why, sizeof why);
    if (err) {
        api_error(ctx, 400, "bad_request", "%s", err);
        goto done;
    }
    const cJSON *cfgj = cJSON_GetObjectItemCaseSensitive(cur, "config");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(cur, "rate_per_min");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(cur, "enabled");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(b, "secret");
    char *config_text = cfgj ? cJSON_PrintUnformatted(cfgj) : strdup("{}");
    int64_t now = util_now_ms();
    char new_id[UUID_STR_LEN + 1];
    if (create) {
        util_uuid7(new_id);
        id = new_id;
    }
    /* stored sealed (AES-256-GCM, key outside the database), bound to the channel's id */
    char sealed[SERVER_SEALED_MAX] = "";
    const server_secrets *box = &ctx->s->secrets;
    if (cJSON_IsString(secret) && secret->valuestring[0] &&
        box->seal(box->keys, secret->valuestring, id, sealed, sizeof sealed) != 0) {
        free(config_text);
        api_error(ctx, 500, "internal", "the secret could not be sealed");
        goto done;
    }
    store_channel ch = {.name = json_str(cur, "name"),
                        .kind = json_str(cur, "kind"),
                        .url = json_str(cur, "url"),
                        .config = config_text ? config_text : "{}",
                        .sealed_secret = create || secret ? sealed : NULL,
                        .enabled = en ? cJSON_IsTrue(en) : true,
                        .rate_per_min = (int64_t)(rate ? rate->valuedouble : 60)};
    if (create)
        STORE_ALERTS(ctx->s->st)->channel_create(ctx->s->st, id, &ch, now);
    else
        STORE_ALERTS(ctx->s->st)->channel_update(ctx->s->st, id, &ch, now);
    free(config_text);
    explicit_bzero(sealed, sizeof sealed);
    /* audit without the secret */
    cJSON_DeleteItemFromObjectCaseSensitive(b, "secret");
    if (secret) cJSON_AddStringToObject(b, "secret", "(changed)");
    char *detail = cJSON_PrintUnformatted(b);
    api_audit(ctx, create ? "channel.create" : "channel.update", id, detail ? detail : "");
    free(detail);
    alerts *a = alerts_of(ctx->s);
    if (a) alerts_wake(a);
    api_json(ctx, create ? 201 : 200, channel_row(ctx, id));
done:
    cJSON_Delete(cur);
    cJSON_Delete(b);
}

void alert_api_channels_create(api_ctx *ctx)
{
    channel_save(ctx, NULL, true);
}

void alert_api_channels_update(api_ctx *ctx)
{
    cJSON *r = channel_row(ctx, ctx->params[0]);
    if (!r) {
        api_error(ctx, 404, "not_found", "no channel %s", ctx->params[0]);
        return;
    }
    cJSON_Delete(r);
    channel_save(ctx, ctx->params[0], false);
}

void alert_api_channels_delete(api_ctx *ctx)
{
    bool deleted = false;
    STORE_ALERTS(ctx->s->st)->channel_delete(ctx->s->st, ctx->params[0], &deleted);
    if (!deleted) {
        api_error(ctx, 404, "not_found", "no channel %s", ctx->params[0]);
        return;
    }
    api_audit(ctx, "channel.delete", ctx->params[0], "");
    api_no_content(ctx);
}

void alert_api_channels_test(api_ctx *ctx)
{
    cJSON *ch = channel_row(ctx, ctx->params[0]);
    if (!ch) {
        api_error(ctx, 404, "not_found", "no channel %s", ctx->params[0]);
        return;
    }
    cJSON *b = ctx->req->body_len ? api_body_json(ctx) : cJSON_CreateObject();
    if (!b) {
        cJSON_Delete(ch);
        return;
    }
    const char *kind = json_str(ch, "kind");
    /* webhook and syslog: the endpoint; e-mail and SMS: an address to try */
    bool endpoint = !strcmp(kind, "webhook") || !strcmp(kind, "syslog");
    const char *to = endpoint ? json_str(ch, "url") : json_str(b, "to");
    alerts *a = alerts_of(ctx->s);
    char id[UUID_STR_LEN + 1] = "";
    if (!to || !to[0] || strlen(to) > 300) {
        api_error(ctx, 400, "bad_request", "to: the address or number to send the test to");
    } else if (!a || alert_enqueue(a, ctx->s->st, NULL, NULL, ctx->params[0], kind, ctx->user_id,
                                   to, "info", NULL, "test", 0, 0, id) != 0) {
        api_error(ctx, 503, "unavailable", "alert delivery is not running");
    } else {
        api_audit(ctx, "channel.test", ctx->params[0], to);
        alerts_wake(a);
        cJSON *r = visible_alert(ctx, id);
        if (r) api_json(ctx, 202, r);
    }
    cJSON_Delete(b);
    cJSON_Delete(ch);
}

/* ---- policies ------------------------------------------------------------------------- */

static cJSON *policy_row(api_ctx *ctx, const char *id)
{
    return STORE_ALERTS(ctx->s->st)->policy_get(ctx->s->st, id);
}

static bool string_array(const cJSON *a, size_t max_len, const char *const *allowed)
{
    if (!a) return true;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > 50) return false;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsString(x) || !x->valuestring[0] || strlen(x->valuestring) > max_len)
            return false;
        if (allowed) {
            bool ok = false;
            for (int i = 0; allowed[i] && !ok; i++)
                ok = strcmp(allowed[i], x->valuestring) == 0;
            if (!ok) return false;
        }
    }
    return true;
}

static const char *check_policy(api_ctx *ctx, const cJSON *p)
{
    static const char *const sevs[] = {"critical", "warning", "info", NULL};
    static const char *const roles[] = {"admin", "analyst", "device_owner", NULL};
    const char *name = json_str(p, "name"), *ch = json_str(p, "channel_id");
    if (!name || !name[0] || strlen(name) > 100) return "name: 1..100 characters";
    cJSON *chrow = ch ? STORE_ALERTS(ctx->s->st)->channel_get(ctx->s->st, ch) : NULL;
    bool ch_ok = chrow != NULL;
    cJSON_Delete(chrow);
    if (!ch_ok) return "channel_id: an existing channel";
    if (!string_array(cJSON_GetObjectItemCaseSensitive(p, "severities"), 16, sevs))
        return "severities: an array of critical|warning|info";
    if (!string_array(cJSON_GetObjectItemCaseSensitive(p, "roles"), 16, roles) ||
        !string_array(cJSON_GetObjectItemCaseSensitive(p, "escalate_roles"), 16, roles))
        return "roles: an array of admin|analyst|device_owner";
    if (!string_array(cJSON_GetObjectItemCaseSensitive(p, "users"), 64, NULL) ||
        !string_array(cJSON_GetObjectItemCaseSensitive(p, "escalate_users"), 64, NULL))
        return "users: an array of user ids";
    if (!string_array(cJSON_GetObjectItemCaseSensitive(p, "addresses"), 254, NULL) ||
        !string_array(cJSON_GetObjectItemCaseSensitive(p, "escalate_addresses"), 254, NULL))
        return "addresses: an array of e-mail addresses or phone numbers";
    static const char *const nums[] = {"group_wait_ms", "group_window_ms", "escalate_after_ms"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, nums[i]);
        if (n && (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 7 * 86400000.0))
            return "group_wait_ms, group_window_ms, escalate_after_ms: 0 .. 7 days in ms";
    }
    const char *dev = json_str(p, "device_id");
    char dev_owner[64];
    if (dev && STORE_DEVICES(ctx->s->st)->owner_of(ctx->s->st, dev, dev_owner, sizeof dev_owner) !=
                   STORE_OK)
        return "device_id: an existing device";
    return NULL;
}

static char *json_or(const cJSON *p, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    return v && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : strdup(def);
}

static int64_t num_or(const cJSON *p, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static void policy_save(api_ctx *ctx, const char *id, bool create)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    cJSON *cur = create ? cJSON_CreateObject() : policy_row(ctx, id);
    static const char *const fields[] = {"name",
                                         "enabled",
                                         "channel_id",
                                         "severities",
                                         "device_id",
                                         "device_type",
                                         "users",
                                         "roles",
                                         "device_owner",
                                         "addresses",
                                         "group_wait_ms",
                                         "group_window_ms",
                                         "escalate_after_ms",
                                         "escalate_users",
                                         "escalate_roles",
                                         "escalate_addresses",
                                         NULL};
    const char *err = NULL;
    char why[128];
    const cJSON *x;
    cJSON_ArrayForEach(x, b)
    {
        bool known = false;
        for (int i = 0; fields[i] && !known; i++)
            known = strcmp(fields[i], x->string) == 0;
        if (!known) {
            snprintf(why, sizeof why, "unknown field %s", x->string);
            err = why;
            break;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(cur, x->string);
        cJSON_AddItemToObject(cur, x->string, cJSON_Duplicate(x, 1));
    }
    if (!err) err = check_policy(ctx, cur);
    if (err) {
        api_error(ctx, 400, "bad_request", "%s", err);
        goto done;
    }
    char *sev = json_or(cur, "severities", "[\"critical\",\"warning\"]");
    char *users = json_or(cur, "users", "[]"), *roles = json_or(cur, "roles", "[]");
    char *addrs = json_or(cur, "addresses", "[]"), *eu = json_or(cur, "escalate_users", "[]");
    char *er = json_or(cur, "escalate_roles", "[]");
    char *ea = json_or(cur, "escalate_addresses", "[]");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(cur, "enabled");
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(cur, "device_owner");
    int64_t now = util_now_ms();
    char new_id[UUID_STR_LEN + 1];
    if (create) {
        util_uuid7(new_id);
        id = new_id;
    }
    store_policy pol = {.id = id,
                        .name = json_str(cur, "name"),
                        .channel_id = json_str(cur, "channel_id"),
                        .device_id = json_str(cur, "device_id"),
                        .device_type = json_str(cur, "device_type"),
                        .enabled = en ? cJSON_IsTrue(en) : true,
                        .device_owner = own && cJSON_IsTrue(own),
                        .severities = sev,
                        .users = users,
                        .roles = roles,
                        .addresses = addrs,
                        .escalate_users = eu,
                        .escalate_roles = er,
                        .escalate_addresses = ea,
                        .group_wait_ms = num_or(cur, "group_wait_ms", 0),
                        .group_window_ms = num_or(cur, "group_window_ms", 60000),
                        .escalate_after_ms = num_or(cur, "escalate_after_ms", 0)};
    int rc = STORE_ALERTS(ctx->s->st)->policy_put(ctx->s->st, &pol, now);
    free(sev);
    free(users);
    free(roles);
    free(addrs);
    free(eu);
    free(er);
    free(ea);
    if (rc != 0) {
        api_error(ctx, 500, "internal", "could not store the policy");
        goto done;
    }
    char *detail = cJSON_PrintUnformatted(b);
    api_audit(ctx, create ? "policy.create" : "policy.update", id, detail ? detail : "");
    free(detail);
    api_json(ctx, create ? 201 : 200, policy_row(ctx, id));
done:
    cJSON_Delete(cur);
    cJSON_Delete(b);
}

void alert_api_policies_list(api_ctx *ctx)
{
    cJSON *ids = STORE_ALERTS(ctx->s->st)->policy_ids(ctx->s->st);
    cJSON *items = cJSON_CreateArray();
    const cJSON *x;
    cJSON_ArrayForEach(x, ids)
    {
        cJSON *r = policy_row(ctx, json_str(x, "id"));
        if (r) cJSON_AddItemToArray(items, r);
    }
    cJSON_Delete(ids);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", items);
    api_json(ctx, 200, o);
}

void alert_api_policies_create(api_ctx *ctx)
{
    policy_save(ctx, NULL, true);
}

void alert_api_policies_update(api_ctx *ctx)
{
    cJSON *r = policy_row(ctx, ctx->params[0]);
    if (!r) {
        api_error(ctx, 404, "not_found", "no policy %s", ctx->params[0]);
        return;
    }
    cJSON_Delete(r);
    policy_save(ctx, ctx->params[0], false);
}

void alert_api_policies_delete(api_ctx *ctx)
{
    bool deleted = false;
    STORE_ALERTS(ctx->s->st)->policy_delete(ctx->s->st, ctx->params[0], &deleted);
    if (!deleted) {
        api_error(ctx, 404, "not_found", "no policy %s", ctx->params[0]);
        return;
    }
    api_audit(ctx, "policy.delete", ctx->params[0], "");
    api_no_content(ctx);
}

/* ---- own contacts --------------------------------------------------------------------- */

static void contacts_send(api_ctx *ctx, int status)
{
    cJSON *rows = STORE_ALERTS(ctx->s->st)->contacts_list(ctx->s->st, ctx->user_id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, status, o);
}

void alert_api_contacts_list(api_ctx *ctx)
{
    contacts_send(ctx, 200);
}

static bool address_ok(const char *kind, const char *addr)
{
    size_t n = strlen(addr);
    if (n == 0 || n > 254) return false;
    if (!strcmp(kind, "email")) {
        const char *at = strchr(addr, '@');
        if (!at || at == addr || !at[1] || strchr(at + 1, '@')) return false;
        for (const char *p = addr; *p; p++)
            if (isspace((unsigned char)*p) || *p == '<' || *p == '>' || *p == ',') return false;
        return true;
    }
    if (!strcmp(kind, "sms")) {
        if (addr[0] != '+' || n < 4 || n > 16) return false;
        for (const char *p = addr + 1; *p; p++)
            if (!isdigit((unsigned char)*p)) return false;
        return true;
    }
    return false;
}

void alert_api_contacts_put(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(b, "contacts"), *c;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > 20) {
        api_error(ctx, 400, "bad_request", "contacts: an array of up to 20 contacts");
        goto done;
    }
    cJSON_ArrayForEach(c, list)
    {
        const char *kind = json_str(c, "kind"), *addr = json_str(c, "address");
        const char *min = json_str(c, "min_severity");
        if (!kind || (strcmp(kind, "email") && strcmp(kind, "sms")) || !addr ||
            !address_ok(kind, addr) || (min && !alert_severity_rank(min))) {
            api_error(ctx, 400, "bad_request",
                      "each contact: kind email|sms, address (e-mail, or +E.164 number), "
                      "min_severity info|warning|critical");
            goto done;
        }
    }
    store *st = ctx->s->st;
    bool tx = store_begin(st) == STORE_OK;
    STORE_ALERTS(st)->contacts_clear(st, ctx->user_id);
    int64_t now = util_now_ms();
    cJSON_ArrayForEach(c, list)
    {
        char id[UUID_STR_LEN + 1];
        util_uuid7(id);
        const char *min = json_str(c, "min_severity");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(c, "enabled");
        STORE_ALERTS(st)->contact_add(st, id, ctx->user_id, json_str(c, "kind"),
                                      json_str(c, "address"), min ? min : "info",
                                      en ? cJSON_IsTrue(en) : true, now);
    }
    char *detail = cJSON_PrintUnformatted(list);
    api_audit(ctx, "contacts.update", ctx->user_id, detail ? detail : "");
    free(detail);
    if (tx) store_commit_or_rollback(st);
    contacts_send(ctx, 200);
done:
    cJSON_Delete(b);
}

/* ---- settings ------------------------------------------------------------------------- */

void alert_api_settings_get(api_ctx *ctx)
{
    alerts *a = alerts_of(ctx->s);
    if (!a) {
        api_error(ctx, 503, "unavailable", "alert delivery is not running");
        return;
    }
    alert_settings st;
    pthread_mutex_lock(&a->mu);
    st = a->set;
    pthread_mutex_unlock(&a->mu);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "public_url", st.public_url);
    cJSON_AddStringToObject(o, "allow_nets", st.allow_nets);
    cJSON_AddBoolToObject(o, "allow_private", st.allow_private);
    cJSON_AddStringToObject(o, "auto_incident", st.auto_incident);
    cJSON_AddNumberToObject(o, "flap_window_ms", (double)st.flap_window_ms);
    cJSON_AddNumberToObject(o, "flap_threshold", (double)st.flap_threshold);
    cJSON_AddNumberToObject(o, "retry_base_ms", (double)st.retry_base_ms);
    cJSON_AddNumberToObject(o, "retry_max_ms", (double)st.retry_max_ms);
    cJSON_AddNumberToObject(o, "max_attempts", (double)st.max_attempts);
    cJSON_AddNumberToObject(o, "timeout_ms", (double)st.timeout_ms);
    api_json(ctx, 200, o);
}

void alert_api_settings_update(api_ctx *ctx)
{
    alerts *a = alerts_of(ctx->s);
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    static const struct {
        const char *key;
        int64_t min, max; /* numbers; min > max marks a string */
    } keys[] = {{"public_url", 1, 0},           {"allow_nets", 1, 0},
                {"auto_incident", 1, 0},        {"flap_window_ms", 0, 86400000},
                {"flap_threshold", 0, 1000},    {"retry_base_ms", 10, 3600000},
                {"retry_max_ms", 10, 86400000}, {"max_attempts", 1, 100},
                {"timeout_ms", 100, 120000}};
    const cJSON *x;
    const char *err = NULL;
    char why[160];
    cJSON_ArrayForEach(x, b)
    {
        size_t i = 0;
        while (i < sizeof keys / sizeof keys[0] && strcmp(keys[i].key, x->string))
            i++;
        if (i == sizeof keys / sizeof keys[0]) {
            snprintf(why, sizeof why, "unknown setting %s", x->string);
            err = why;
        } else if (keys[i].min > keys[i].max) {
            if (!cJSON_IsString(x) || strlen(x->valuestring) > 250) {
                err = "string settings: up to 250 characters";
            } else if (!strcmp(x->string, "allow_nets")) {
                alert_allow tmp;
                memset(&tmp, 0, sizeof tmp);
                if (alert_allow_parse(x->valuestring, &tmp) != 0)
                    err = "allow_nets: comma-separated addresses or CIDR networks";
            } else if (!strcmp(x->string, "auto_incident") && strcmp(x->valuestring, "off") &&
                       !alert_severity_rank(x->valuestring)) {
                err = "auto_incident: critical|warning|info|off";
            } else if (!strcmp(x->string, "public_url") && x->valuestring[0] &&
                       strncmp(x->valuestring, "http://", 7) &&
                       strncmp(x->valuestring, "https://", 8)) {
                err = "public_url: an http(s) URL";
            }
        } else if (!cJSON_IsNumber(x) || x->valuedouble < (double)keys[i].min ||
                   x->valuedouble > (double)keys[i].max) {
            snprintf(why, sizeof why, "%s: a number in %lld..%lld", x->string,
                     (long long)keys[i].min, (long long)keys[i].max);
            err = why;
        }
        if (err) break;
    }
    if (err || !a) {
        if (err)
            api_error(ctx, 400, "bad_request", "%s", err);
        else
            api_error(ctx, 503, "unavailable", "alert delivery is not running");
        cJSON_Delete(b);
        return;
    }
    int64_t now = util_now_ms();
    cJSON_ArrayForEach(x, b)
    {
        char key[64], val[300];
        snprintf(key, sizeof key, "alerts.%s", x->string);
        if (cJSON_IsString(x))
            snprintf(val, sizeof val, "%s", x->valuestring);
        else
            snprintf(val, sizeof val, "%lld", (long long)x->valuedouble);
        STORE_SETTINGS(ctx->s->st)->set(ctx->s->st, key, val, now);
    }
    char *detail = cJSON_PrintUnformatted(b);
    api_audit(ctx, "alert_settings.update", "", detail ? detail : "");
    free(detail);
    cJSON_Delete(b);
    alerts_settings_load(a, ctx->s->st);
    alerts_wake(a);
    alert_api_settings_get(ctx);
}

static const api_route routes[] = {
    {"GET", "/api/v1/alerts", API_AUTH_SESSION, PERM_ALERT_READ, alert_api_list,
     "List alerts (status incl. dead, method, anomaly, device, time; paging)"},
    {"GET", "/api/v1/alerts/{id}", API_AUTH_SESSION, PERM_ALERT_READ, alert_api_get,
     "Get an alert with its delivery attempts"},
    {"POST", "/api/v1/alerts/{id}/retry", API_AUTH_SESSION, PERM_CHANNELS_ADMIN, alert_api_retry,
     "Requeue a dead-lettered alert"},
    {"POST", "/api/v1/alerts/{id}/ack", API_AUTH_SESSION, PERM_INCIDENT_WORK, alert_api_ack,
     "Acknowledge an alert (stops its escalation)"},
    {"GET", "/api/v1/alert-channels", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_channels_list, "Notification channels (secrets never returned)"},
    {"POST", "/api/v1/alert-channels", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_channels_create, "Create a channel (email SMTP, SMS gateway, webhook)"},
    {"PATCH", "/api/v1/alert-channels/{id}", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_channels_update, "Change a channel"},
    {"DELETE", "/api/v1/alert-channels/{id}", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_channels_delete, "Delete a channel (and its policies)"},
    {"POST", "/api/v1/alert-channels/{id}/test", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_channels_test, "Queue a test message on a channel"},
    {"GET", "/api/v1/alert-policies", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_policies_list, "Alert policies"},
    {"POST", "/api/v1/alert-policies", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_policies_create, "Create a policy (severities, devices, recipients, grouping)"},
    {"PATCH", "/api/v1/alert-policies/{id}", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_policies_update, "Change a policy"},
    {"DELETE", "/api/v1/alert-policies/{id}", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_policies_delete, "Delete a policy"},
    {"GET", "/api/v1/alert-settings", API_AUTH_SESSION, PERM_CHANNELS_ADMIN, alert_api_settings_get,
     "Alert delivery settings"},
    {"PATCH", "/api/v1/alert-settings", API_AUTH_SESSION, PERM_CHANNELS_ADMIN,
     alert_api_settings_update, "Change alert delivery settings"},
    {"GET", "/api/v1/me/contacts", API_AUTH_SESSION, PERM_AUTHENTICATED, alert_api_contacts_list,
     "Own alert contacts and preferences"},
    {"PUT", "/api/v1/me/contacts", API_AUTH_SESSION, PERM_AUTHENTICATED, alert_api_contacts_put,
     "Replace own alert contacts and preferences"},
    {"GET", "/api/v1/incidents", API_AUTH_SESSION, PERM_INCIDENT_READ, incident_api_list,
     "List incidents (status, assignee, severity, device, time; paging)"},
    {"POST", "/api/v1/incidents", API_AUTH_SESSION, PERM_INCIDENT_WORK, incident_api_create,
     "Open an incident from one or more anomalies"},
    {"GET", "/api/v1/incidents/{id}", API_AUTH_SESSION, PERM_INCIDENT_READ, incident_api_get,
     "Get an incident with its anomalies and timeline"},
    {"PATCH", "/api/v1/incidents/{id}", API_AUTH_SESSION, PERM_INCIDENT_WORK, incident_api_update,
     "Assign, change status (verdict on resolve), retitle"},
    {"POST", "/api/v1/incidents/{id}/comments", API_AUTH_SESSION, PERM_INCIDENT_WORK,
     incident_api_comment, "Comment on an incident"},
    {"POST", "/api/v1/incidents/{id}/anomalies", API_AUTH_SESSION, PERM_INCIDENT_WORK,
     incident_api_link, "Link an anomaly to an incident"},
};

const api_route *api_alert_routes(size_t *count)
{
    *count = sizeof routes / sizeof routes[0];
    return routes;
}
