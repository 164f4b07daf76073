/* API tokens: a user's long-lived credentials for integrations. Node-RED or Home Assistant
 * logs in to iotad's MQTT listener with username "token" and the token as password and
 * subscribes to the read-only iotad/... topics (api/mqtt_sub.c), seeing what the user's role
 * sees. The token is shown once, at creation; the store keeps its prefix and SHA-256.
 *
 *   POST   /api/v1/tokens        {"name"}: a token for the caller
 *   GET    /api/v1/tokens        the caller's tokens (an Admin: ?all=true for everyone's)
 *   DELETE /api/v1/tokens/{id}   revokes one of the caller's (an Admin: anyone's); live MQTT
 *                                subscriptions on it are disconnected at once */
#include "api/api.h"

#include "auth/token.h"
#include "core/log.h"
#include "store/store.h"

#include <string.h>

#define TOKEN_NAME_MAX 100

void api_tokens_create(api_ctx *ctx)
{
    const char *name = "";
    cJSON *body = NULL;
    if (ctx->req->body_len) {
        body = api_body_json(ctx);
        if (!body) return;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "name");
        if (n && !cJSON_IsString(n)) {
            cJSON_Delete(body);
            api_error(ctx, 400, "invalid", "name must be a string");
            return;
        }
        if (n) name = n->valuestring;
        if (strlen(name) > TOKEN_NAME_MAX) {
            cJSON_Delete(body);
            api_error(ctx, 400, "invalid", "name is limited to %d characters", TOKEN_NAME_MAX);
            return;
        }
    }
    char token[AUTH_APITOKEN_LEN + 1], prefix[16], hash[65], id[UUID_STR_LEN + 1];
    int rc = STORE_ERR;
    /* a prefix collision (8 base62 characters) is rare but possible: draw again */
    for (int attempt = 0; attempt < 3 && rc != STORE_OK; attempt++) {
        if (auth_apitoken_new(token, sizeof token, prefix, hash) != 0) break;
        util_uuid7(id);
        rc = STORE_TOKENS(ctx->s->st)
                 ->create(ctx->s->st, id, ctx->user_id, name, prefix, hash, util_now_ms());
        if (rc != STORE_ECONSTRAINT) break;
    }
    if (rc != STORE_OK) {
        cJSON_Delete(body);
        explicit_bzero(token, sizeof token);
        api_error(ctx, 500, "internal", "could not create the token");
        return;
    }
    api_audit(ctx, "token.create", ctx->user_id, prefix);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "user_id", ctx->user_id);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "prefix", prefix);
    cJSON_AddStringToObject(o, "token", token);
    cJSON_AddStringToObject(o, "note", "store this token now: it is not shown again");
    cJSON_Delete(body);
    explicit_bzero(token, sizeof token);
    api_json(ctx, 201, o);
}

void api_tokens_list(api_ctx *ctx)
{
    char all[8] = "";
    bool every = api_query(ctx, "all", all, sizeof all) && strcmp(all, "true") == 0;
    if (every && ctx->role != ROLE_ADMIN) {
        api_error(ctx, 403, "forbidden", "only an Admin may list every user's tokens");
        return;
    }
    cJSON *rows = STORE_TOKENS(ctx->s->st)->list(ctx->s->st, every ? "" : ctx->user_id);
    if (!rows) {
        api_error(ctx, 500, "internal", "could not list the tokens");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows);
    api_json(ctx, 200, o);
}

void api_tokens_revoke(api_ctx *ctx)
{
    const char *id = ctx->params[0];
    char prefix[16];
    int rc = util_uuid_valid(id)
                 ? STORE_TOKENS(ctx->s->st)
                       ->revoke(ctx->s->st, id, ctx->role == ROLE_ADMIN ? "" : ctx->user_id,
                                util_now_ms(), prefix, sizeof prefix)
                 : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) {
        api_error(ctx, 404, "not_found", "no token %s", id);
        return;
    }
    if (rc != STORE_OK) {
        api_error(ctx, 500, "internal", "could not revoke the token");
        return;
    }
    if (ctx->s->drop_subscribers) ctx->s->drop_subscribers(ctx->s, prefix, NULL);
    api_audit(ctx, "token.revoke", id, prefix);
    api_no_content(ctx);
}
