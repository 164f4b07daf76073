/* User administration (Admin only, enforced by the router), invitations, settings and the
 * audit log. Every change is written to the audit log. */
#include "api/api.h"

#include "auth/token.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void api_users_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    char role[32] = "", q[128] = "";
    api_query(ctx, "role", role, sizeof role);
    api_query(ctx, "q", q, sizeof q);
    if (bad) {
        api_error(ctx, 400, "bad_request", "limit must be 1..1000 and offset >= 0");
        return;
    }
    store_user_filter f = {.role = role, .query = q, .limit = limit, .offset = offset};
    int64_t total = 0;
    cJSON *rows = STORE_USERS(ctx->s->st)->list(ctx->s->st, &f, &total);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

void api_users_create(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *role_s = json_str(body, "role");
    auth_role role;
    if (!role_s || auth_role_parse(role_s, &role) != 0 || role == ROLE_NONE) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "role must be admin, analyst or device_owner");
        return;
    }
    api_create_account(ctx, body, auth_role_name(role), 3);
    cJSON_Delete(body);
}

void api_users_assignable(api_ctx *ctx)
{
    cJSON *rows = STORE_USERS(ctx->s->st)->assignable(ctx->s->st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

static cJSON *get_user(api_ctx *ctx, const char *id)
{
    cJSON *u = STORE_USERS(ctx->s->st)->get(ctx->s->st, id);
    if (!u) api_error(ctx, 404, "not_found", "no user %s", id);
    return u;
}

void api_users_get(api_ctx *ctx)
{
    cJSON *u = get_user(ctx, ctx->params[0]);
    if (u) api_json(ctx, 200, u);
}

static int64_t admins_left(api_ctx *ctx, const char *except_id)
{
    return STORE_USERS(ctx->s->st)->admins_other_than(ctx->s->st, except_id);
}

void api_users_update(api_ctx *ctx)
{
    const char *id = ctx->params[0];
    cJSON *u = get_user(ctx, id);
    if (!u) return;
    bool was_admin = strcmp(json_str(u, "role"), "admin") == 0;
    cJSON_Delete(u);
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *name = json_str(body, "name");
    const char *role_s = json_str(body, "role");
    const cJSON *disabled = cJSON_GetObjectItemCaseSensitive(body, "disabled");
    auth_role role = ROLE_NONE;
    if (role_s && (auth_role_parse(role_s, &role) != 0 || role == ROLE_NONE)) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "role must be admin, analyst or device_owner");
        return;
    }
    if (disabled && !cJSON_IsBool(disabled)) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "disabled must be a boolean");
        return;
    }
    bool demote = was_admin && ((role_s && role != ROLE_ADMIN) || cJSON_IsTrue(disabled));
    if (demote && admins_left(ctx, id) == 0) {
        cJSON_Delete(body);
        api_error(ctx, 409, "last_admin", "the last active Admin cannot be demoted or disabled");
        return;
    }
    int64_t now = util_now_ms();
    bool off = cJSON_IsTrue(disabled);
    STORE_USERS(ctx->s->st)
        ->update(ctx->s->st, id, name, role_s ? auth_role_name(role) : NULL, disabled ? &off : NULL,
                 now);
    if (off || role_s) { /* privileges changed: end the user's sessions and subscriptions */
        STORE_USERS(ctx->s->st)->sessions_delete_user(ctx->s->st, id, NULL);
        if (ctx->s->drop_subscribers) ctx->s->drop_subscribers(ctx->s, NULL, id);
    }
    char *detail = cJSON_PrintUnformatted(body);
    api_audit(ctx, role_s ? "user.role_change" : "user.update", id, detail ? detail : "");
    free(detail);
    cJSON_Delete(body);
    cJSON *out = get_user(ctx, id);
    if (out) api_json(ctx, 200, out);
}

void api_users_delete(api_ctx *ctx)
{
    const char *id = ctx->params[0];
    cJSON *u = get_user(ctx, id);
    if (!u) return;
    bool is_admin = strcmp(json_str(u, "role"), "admin") == 0;
    cJSON_Delete(u);
    if (is_admin && admins_left(ctx, id) == 0) {
        api_error(ctx, 409, "last_admin", "the last active Admin cannot be deleted");
        return;
    }
    STORE_USERS(ctx->s->st)->remove(ctx->s->st, id);
    if (ctx->s->drop_subscribers) ctx->s->drop_subscribers(ctx->s, NULL, id);
    api_audit(ctx, "user.delete", id, "");
    api_no_content(ctx);
}

void api_invites_create(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    const char *role_s = json_str(body, "role");
    const char *email = json_str(body, "email");
    auth_role role = ROLE_DEVICE_OWNER;
    if (role_s && (auth_role_parse(role_s, &role) != 0 || role == ROLE_NONE)) {
        cJSON_Delete(body);
        api_error(ctx, 400, "bad_request", "role must be admin, analyst or device_owner");
        return;
    }
    char token[128], hash[65];
    auth_token_new(token, sizeof token, hash);
    int64_t now = util_now_ms(), expires = now + 7 * 86400000LL;
    STORE_USERS(ctx->s->st)
        ->invite_create(ctx->s->st, hash, email, auth_role_name(role), ctx->user_id, now, expires);
    char detail[300];
    snprintf(detail, sizeof detail, "role=%s email=%s", auth_role_name(role), email ? email : "");
    api_audit(ctx, "invite.create", "", detail);
    cJSON_Delete(body);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "invite", token);
    cJSON_AddStringToObject(o, "role", auth_role_name(role));
    cJSON_AddNumberToObject(o, "expires_at", (double)expires);
    api_json(ctx, 201, o);
}

/* Settings an Admin changes at run time. Each is a configuration key: validated by the
 * configuration table (the same bounds as the flag), stored in the settings table, where it
 * wins over the configuration from then on (restarts included), and applied at once. */
static const char *const runtime_settings[] = {"signup", "session_idle_s", "retention_days",
                                               "offline_timeout_s"};
#define N_RUNTIME (sizeof runtime_settings / sizeof runtime_settings[0])

static int64_t cfg_int(const config *c, const char *key)
{
    return !strcmp(key, "session_idle_s")   ? c->session_idle_s
           : !strcmp(key, "retention_days") ? c->retention_days
                                            : c->offline_timeout_s;
}

int api_settings_load(server *s, char *err, size_t errcap)
{
    int rc = 0;
    for (size_t i = 0; i < N_RUNTIME; i++) {
        char v[CONFIG_STR_MAX], msg[256];
        if (STORE_SETTINGS(s->st)->get(s->st, runtime_settings[i], v, sizeof v) != STORE_OK)
            continue;
        if (s->setting_set(&s->cfg, runtime_settings[i], v, CONFIG_SRC_SETTINGS, msg, sizeof msg) !=
            0) {
            snprintf(err, errcap, "%s", msg); /* the configured value stays */
            rc = -1;
        }
    }
    return rc;
}

void api_settings_get(api_ctx *ctx)
{
    const config *c = &ctx->s->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "signup", c->signup);
    for (size_t i = 1; i < N_RUNTIME; i++)
        cJSON_AddNumberToObject(o, runtime_settings[i], (double)cfg_int(c, runtime_settings[i]));
    api_json(ctx, 200, o);
}

void api_settings_update(api_ctx *ctx)
{
    cJSON *body = api_body_json(ctx);
    if (!body) return;
    /* validate every field on a copy first: all are applied, or none */
    config next = ctx->s->cfg;
    char values[N_RUNTIME][CONFIG_STR_MAX];
    bool given[N_RUNTIME] = {false};
    const cJSON *f;
    cJSON_ArrayForEach(f, body)
    {
        size_t i = 0;
        while (i < N_RUNTIME && strcmp(runtime_settings[i], f->string) != 0)
            i++;
        if (i == N_RUNTIME) {
            api_error(ctx, 400, "bad_request",
                      "unknown setting '%.64s' (settings: signup, session_idle_s, "
                      "retention_days, offline_timeout_s)",
                      f->string);
            cJSON_Delete(body);
            return;
        }
        bool is_str = i == 0;
        if (is_str ? !cJSON_IsString(f)
                   : (!cJSON_IsNumber(f) || f->valuedouble != (double)(long long)f->valuedouble)) {
            api_error(ctx, 400, "bad_request", "%s must be %s", f->string,
                      is_str ? "a string" : "an integer");
            cJSON_Delete(body);
            return;
        }
        if (is_str)
            snprintf(values[i], sizeof values[i], "%s", f->valuestring);
        else
            snprintf(values[i], sizeof values[i], "%lld", (long long)f->valuedouble);
        char err[256];
        if (ctx->s->setting_set(&next, f->string, values[i], CONFIG_SRC_SETTINGS, err,
                                sizeof err) != 0) {
            api_error(ctx, 400, "bad_request", "%s", err);
            cJSON_Delete(body);
            return;
        }
        given[i] = true;
    }
    cJSON_Delete(body);
    int64_t now = util_now_ms();
    store *st = ctx->s->st;
    if (store_begin(st) != STORE_OK) {
        api_error(ctx, 503, "unavailable", "the settings could not be stored; retry");
        return;
    }
    int rc = 0;
    for (size_t i = 0; i < N_RUNTIME && rc == 0; i++) {
        if (!given[i]) continue;
        rc = STORE_SETTINGS(st)->set(st, runtime_settings[i], values[i], now);
        char detail[2 * CONFIG_STR_MAX];
        snprintf(detail, sizeof detail, "%s=%.*s", runtime_settings[i], CONFIG_STR_MAX - 1,
                 values[i]);
        if (rc == 0)
            rc = audit_append(ctx->s->st, api_actor(ctx), "settings.update", runtime_settings[i],
                              detail, ctx->req->peer);
    }
    if (rc != 0 || store_commit(st) != STORE_OK) {
        store_rollback(st);
        api_error(ctx, 503, "unavailable", "the settings could not be stored; retry");
        return;
    }
    ctx->s->cfg = next;
    for (size_t i = 0; i < N_RUNTIME; i++)
        if (given[i] && ctx->s->setting_changed)
            ctx->s->setting_changed(ctx->s, runtime_settings[i]);
    api_settings_get(ctx);
}

void api_audit_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    int64_t before = api_query_int(ctx, "before_seq", INT64_MAX, 1, INT64_MAX, &bad);
    char action[64] = "";
    api_query(ctx, "action", action, sizeof action);
    if (bad) {
        api_error(ctx, 400, "bad_request", "limit must be 1..1000, before_seq >= 1");
        return;
    }
    cJSON *rows = STORE_AUDIT(ctx->s->st)->list(ctx->s->st, before, action, limit);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

void api_audit_verify(api_ctx *ctx)
{
    server *s = ctx->s;
    int64_t rows = 0, bad_seq = 0, last_cp = 0;
    size_t ncps = 0;
    char why[600];
    int rc = audit_verify_anchored(s->st, s->checkpoint_path, s->audit_pub, &rows, &bad_seq, &ncps,
                                   &last_cp, why, sizeof why);
    if (rc < 0) {
        api_error(ctx, 500, "internal", "could not read the audit log");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "intact", rc == 0);
    cJSON_AddNumberToObject(o, "rows", (double)rows);
    cJSON_AddNumberToObject(o, "keyed_from", (double)s->audit_keyed_from);
    cJSON_AddNumberToObject(o, "checkpoints", (double)ncps);
    if (ncps) cJSON_AddNumberToObject(o, "last_checkpoint_seq", (double)last_cp);
    if (rc != 0) {
        cJSON_AddNumberToObject(o, "first_bad_seq", (double)bad_seq);
        cJSON_AddStringToObject(o, "reason", why);
    }
    api_json(ctx, 200, o);
}
