/* Request helpers every handler uses: JSON responses and errors, the parsed body (bounded),
 * query parameters, the principal (actor, audit entry, device visibility, owner scope). The
 * dispatcher (router.c) fills the api_ctx; handlers in api_<concern>.c only read it. */
#include "api/api_ctx.h"

#include "core/json_depth.h"
#include "core/log.h"
#include "http/http_gzip.h"
#include "http/http_util.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON answers; gzip (level 4: ~10x smaller for the device list at ~20 ms per 3 MB) when the
 * client accepts it and the body is worth it. */
static void send_json_text_h(api_ctx *ctx, int status, const char *extra, const char *text,
                             size_t len)
{
#define JSON_HEADERS                                                                               \
    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"                               \
    "Content-Security-Policy: " API_CSP_API "\r\nVary: Accept-Encoding\r\n"
    size_t zlen;
    unsigned char *z =
        len >= HTTP_GZIP_MIN_BYTES &&
                http_accepts_encoding(http_req_header(ctx->req, "Accept-Encoding"), "gzip")
            ? http_gzip(text, len, 4, &zlen)
            : NULL;
    if (z) {
        ctx->s->m.api_gzip_responses++;
        ctx->s->m.api_gzip_saved_bytes += len - zlen;
        char h[512];
        snprintf(h, sizeof h, JSON_HEADERS "Content-Encoding: gzip\r\n%s", extra);
        http_respond(ctx->c, status, "application/json", h, z, zlen);
        free(z);
        return;
    }
    char h[512];
    snprintf(h, sizeof h, JSON_HEADERS "%s", extra);
    http_respond(ctx->c, status, "application/json", h, text, len);
#undef JSON_HEADERS
}

static void send_json_text(api_ctx *ctx, int status, const char *text, size_t len)
{
    send_json_text_h(ctx, status, "", text, len);
}

void api_store_unavailable(api_ctx *ctx)
{
    static const char body[] = "{\"error\":\"store_unavailable\",\"message\":\"the database "
                               "cannot be reached; try again shortly\"}";
    send_json_text_h(ctx, 503, "Retry-After: 5\r\n", body, sizeof body - 1);
}

void api_json(api_ctx *ctx, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    if (text) {
        send_json_text(ctx, status, text, strlen(text));
        free(text);
    } else {
        send_json_text(ctx, 500, "{\"error\":\"internal\",\"message\":\"encoding failed\"}", 49);
    }
    cJSON_Delete(body);
}

void api_error(api_ctx *ctx, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    if (status == 401 || status == 403) ctx->s->m.api_denied++;
    api_json(ctx, status, o);
}

void api_no_content(api_ctx *ctx)
{
    http_respond(ctx->c, 204, NULL, NULL, NULL, 0);
}

cJSON *api_body_json(api_ctx *ctx)
{
    /* Bounded before cJSON sees it: parsing runs on the event loop, and cJSON allocates a
     * node per value (a 32 MiB body of "[1,1,..." would cost ~1 GB) and recurses per level. */
    const http_request *req = ctx->req;
    size_t deep_at;
    if (req->body_len > (size_t)ctx->s->cfg.api_max_body_bytes) {
        ctx->s->m.api_body_too_large++;
        api_error(ctx, 413, "too_large", "the request body is larger than %lld bytes",
                  (long long)ctx->s->cfg.api_max_body_bytes);
        return NULL;
    }
    if (json_depth_check(req->body, req->body_len, API_JSON_MAX_DEPTH, &deep_at) != 0) {
        ctx->s->m.api_body_too_deep++;
        api_error(ctx, 400, "bad_request",
                  "the request body is nested deeper than %d levels (offset %zu)",
                  API_JSON_MAX_DEPTH, deep_at);
        return NULL;
    }
    cJSON *j = req->body_len ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        api_error(ctx, 400, "bad_request", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

bool api_query(api_ctx *ctx, const char *name, char *out, size_t cap)
{
    return http_query_param(ctx->req->query, name, out, cap) == 0;
}

int64_t api_query_int(api_ctx *ctx, const char *name, int64_t def, int64_t min, int64_t max,
                      bool *bad)
{
    char buf[32];
    if (!api_query(ctx, name, buf, sizeof buf) || !buf[0]) return def;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end || v < min || v > max) {
        *bad = true;
        return def;
    }
    return v;
}

bool api_query_time(api_ctx *ctx, const char *name, int64_t def, int64_t *out, bool *bad)
{
    char buf[64];
    *out = def;
    if (!api_query(ctx, name, buf, sizeof buf) || !buf[0]) return false;
    size_t n = strlen(buf);
    if (buf[0] == '-' && n >= 3) { /* relative: -15m, -1h, -7d, -30s */
        char *end;
        long long v = strtoll(buf + 1, &end, 10);
        int64_t unit = *end == 's'   ? 1000
                       : *end == 'm' ? 60000
                       : *end == 'h' ? 3600000
                       : *end == 'd' ? 86400000
                                     : 0;
        if (unit && end[1] == '\0' && v >= 0) {
            *out = util_now_ms() - v * unit;
            return true;
        }
    }
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end == '\0' && end != buf) {
        *out = v;
        return true;
    }
    if (util_parse_rfc3339(buf, n, out) == 0) return true;
    *bad = true;
    return false;
}

const char *api_actor(const api_ctx *ctx)
{
    if (ctx->user_id[0]) return ctx->user_id;
    return "anonymous";
}

void api_audit(api_ctx *ctx, const char *action, const char *target, const char *detail)
{
    if (audit_append(ctx->s->st, api_actor(ctx), action, target, detail, ctx->req->peer) != 0)
        log_error("audit_append_failed", "action=%s target=%s", action, target ? target : "");
}

bool api_device_visible(api_ctx *ctx, const char *device_id, char *owner_out)
{
    char owner[UUID_STR_LEN + 1] = "";
    int rc = util_uuid_valid(device_id)
                 ? STORE_DEVICES(ctx->s->st)->owner_of(ctx->s->st, device_id, owner, sizeof owner)
                 : STORE_NOTFOUND;
    if (rc == STORE_OK && (auth_scope_all_devices(ctx->role) || strcmp(owner, ctx->user_id) == 0)) {
        if (owner_out) memcpy(owner_out, owner, sizeof owner);
        return true;
    }
    api_error(ctx, 404, "not_found", "no device %s", device_id);
    return false;
}

const char *api_owner_scope(const api_ctx *ctx)
{
    return auth_scope_all_devices(ctx->role) ? "" : ctx->user_id;
}
