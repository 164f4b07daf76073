/* The request context of a REST handler (who is asking, with which role, the route's
 * parameters) and the helpers handlers answer with. */
#ifndef IOTAD_API_API_CTX_H
#define IOTAD_API_API_CTX_H

#include "auth/rbac.h"
#include "core/json.h"
#include "core/server.h"
#include "core/util.h"
#include "http/http_server.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

struct dev_live;

typedef struct api_ctx {
    server *s;
    http_conn *c;
    const http_request *req;
    /* the principal: a user session, or a device API key on ingest routes */
    bool authed;
    auth_role role;
    char user_id[UUID_STR_LEN + 1];
    char email[256];
    char session_hash[65];
    bool via_cookie; /* the session came from the cookie (a browser): CSRF rules apply */
    bool store_down; /* the session could not be looked up: the store failed (not a bad token) */
    struct dev_live *device;
    char params[3][128]; /* {placeholders} of the route pattern, in order */
    int nparams;
} api_ctx;

/* Content-Security-Policy of the dashboard's pages, and of every API response (which no
 * browser should render or frame). */
#define API_CSP_DASHBOARD                                                                          \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "                      \
    "worker-src 'self' blob:; frame-src blob:; object-src 'none'; base-uri 'self'; "               \
    "form-action 'self'; "                                                                         \
    "frame-ancestors 'none'"
#define API_CSP_API "default-src 'none'; frame-ancestors 'none'"

/* Responses. Each sends exactly one response. api_json takes ownership of body. */
void api_json(api_ctx *ctx, int status, cJSON *body);
void api_error(api_ctx *ctx, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_no_content(api_ctx *ctx);
/* 503 store_unavailable + Retry-After: the store failed (PostgreSQL restarting...), so the
 * request could not be answered; the client tries again later. */
void api_store_unavailable(api_ctx *ctx);

/* Request helpers. */
/* Parsed body or NULL (the error already sent): 413 over api_max_body_bytes, 400 when nested
 * deeper than API_JSON_MAX_DEPTH or not a JSON object. */
#define API_JSON_MAX_DEPTH 32
cJSON *api_body_json(api_ctx *ctx);
bool api_query(api_ctx *ctx, const char *name, char *out, size_t cap);
int64_t api_query_int(api_ctx *ctx, const char *name, int64_t def, int64_t min, int64_t max,
                      bool *bad);
/* Parses a time query parameter: ms since the epoch, RFC 3339, or relative "-1h", "-15m". */
bool api_query_time(api_ctx *ctx, const char *name, int64_t def, int64_t *out, bool *bad);
const char *api_actor(const api_ctx *ctx); /* user id or "anonymous" */
void api_audit(api_ctx *ctx, const char *action, const char *target, const char *detail);

/* Devices visible to the principal: all for Analyst/Admin, own for DeviceOwner.
 * Returns false (and sends 404) when the device does not exist or may not be seen. */
bool api_device_visible(api_ctx *ctx, const char *device_id, char *owner_out);
/* The owner filter for list queries: "" (every device) for Analyst/Admin, else the caller's id. */
const char *api_owner_scope(const api_ctx *ctx);

#endif
