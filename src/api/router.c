/* Request dispatch. Every request goes through api_on_request: match a route, then make the
 * route's authorization decision here, in one place, before any handler runs:
 *   PUBLIC      -> handler decides (login, health, static files)
 *   SESSION     -> a valid session whose role has the route's permission, else 401/403
 *   DEVICE_KEY  -> a valid, unrevoked device API key, else 401
 *   STREAM      -> either of the two
 * Object-level rules (a DeviceOwner sees only own devices) are in api_device_visible. */
#include "api/api.h"

#include "auth/token.h"
#include "core/log.h"
#include "ingest/devstate.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_COOKIE "iotad_session"

static const api_route routes[] = {
    {"GET", "/healthz", API_AUTH_PUBLIC, PERM_PUBLIC, api_health, "Liveness"},
    {"GET", "/readyz", API_AUTH_PUBLIC, PERM_PUBLIC, api_ready, "Readiness"},
    {"GET", "/metrics", API_AUTH_PUBLIC, PERM_PUBLIC, api_metrics, "Prometheus metrics"},
    {"GET", "/api/v1/openapi.json", API_AUTH_PUBLIC, PERM_PUBLIC, api_openapi, "This document"},
    {"POST", "/api/v1/auth/login", API_AUTH_PUBLIC, PERM_PUBLIC, api_login, "Log in"},
    {"POST", "/api/v1/auth/signup", API_AUTH_PUBLIC, PERM_PUBLIC, api_signup,
     "Self-registration (DeviceOwner)"},
    {"POST", "/api/v1/auth/logout", API_AUTH_SESSION, PERM_AUTHENTICATED, api_logout, "Log out"},
    {"GET", "/api/v1/auth/me", API_AUTH_SESSION, PERM_AUTHENTICATED, api_me, "Current user"},
    {"POST", "/api/v1/auth/password", API_AUTH_SESSION, PERM_AUTHENTICATED, api_change_password,
     "Change own password"},
    {"GET", "/api/v1/users", API_AUTH_SESSION, PERM_USERS_ADMIN, api_users_list, "List users"},
    {"POST", "/api/v1/users", API_AUTH_SESSION, PERM_USERS_ADMIN, api_users_create,
     "Create a user"},
    /* before /users/{id}: the first matching route wins */
    {"GET", "/api/v1/users/assignable", API_AUTH_SESSION, PERM_INCIDENT_WORK, api_users_assignable,
     "Analysts and Admins an incident can be assigned to"},
    {"GET", "/api/v1/users/{id}", API_AUTH_SESSION, PERM_USERS_ADMIN, api_users_get, "Get a user"},
    {"PATCH", "/api/v1/users/{id}", API_AUTH_SESSION, PERM_USERS_ADMIN, api_users_update,
     "Update a user (role, name, disabled, password)"},
    {"DELETE", "/api/v1/users/{id}", API_AUTH_SESSION, PERM_USERS_ADMIN, api_users_delete,
     "Delete a user"},
    {"GET", "/api/v1/tokens", API_AUTH_SESSION, PERM_AUTHENTICATED, api_tokens_list,
     "Own API tokens (Admin: ?all=true for every user's)"},
    {"POST", "/api/v1/tokens", API_AUTH_SESSION, PERM_AUTHENTICATED, api_tokens_create,
     "Create an API token for MQTT subscriptions (shown once)"},
    {"DELETE", "/api/v1/tokens/{id}", API_AUTH_SESSION, PERM_AUTHENTICATED, api_tokens_revoke,
     "Revoke an API token (own; Admin: any) and disconnect its subscribers"},
    {"POST", "/api/v1/invites", API_AUTH_SESSION, PERM_USERS_ADMIN, api_invites_create,
     "Create a sign-up invitation"},
    {"GET", "/api/v1/settings", API_AUTH_SESSION, PERM_SETTINGS_ADMIN, api_settings_get,
     "Server settings"},
    {"PATCH", "/api/v1/settings", API_AUTH_SESSION, PERM_SETTINGS_ADMIN, api_settings_update,
     "Change settings"},
    {"GET", "/api/v1/audit", API_AUTH_SESSION, PERM_AUDIT_READ, api_audit_list, "Audit log"},
    {"GET", "/api/v1/audit/verify", API_AUTH_SESSION, PERM_AUDIT_READ, api_audit_verify,
     "Verify the audit hash chain"},
    {"GET", "/api/v1/devices", API_AUTH_SESSION, PERM_DEVICE_READ, api_devices_list,
     "List devices (search, filter, paging)"},
    {"POST", "/api/v1/devices", API_AUTH_SESSION, PERM_DEVICE_WRITE, api_devices_create,
     "Register a device"},
    {"POST", "/api/v1/devices/bulk", API_AUTH_SESSION, PERM_DEVICE_WRITE, api_devices_bulk,
     "Register up to max_bulk_devices devices at once, with their API keys (all or nothing)"},
    {"GET", "/api/v1/devices/{id}", API_AUTH_SESSION, PERM_DEVICE_READ, api_devices_get,
     "Get a device"},
    {"PATCH", "/api/v1/devices/{id}", API_AUTH_SESSION, PERM_DEVICE_WRITE, api_devices_update,
     "Update device metadata"},
    {"DELETE", "/api/v1/devices/{id}", API_AUTH_SESSION, PERM_DEVICE_WRITE, api_devices_delete,
     "Delete a device and its data"},
    {"GET", "/api/v1/devices/{id}/keys", API_AUTH_SESSION, PERM_DEVICE_READ, api_keys_list,
     "List API keys (prefix only)"},
    {"POST", "/api/v1/devices/{id}/keys", API_AUTH_SESSION, PERM_DEVICE_KEYS, api_keys_create,
     "Create an API key (secret shown once)"},
    {"DELETE", "/api/v1/devices/{id}/keys/{key}", API_AUTH_SESSION, PERM_DEVICE_KEYS,
     api_keys_revoke, "Revoke an API key"},
    {"POST", "/api/v1/devices/{id}/keys/{key}/rotate", API_AUTH_SESSION, PERM_DEVICE_KEYS,
     api_keys_rotate, "Rotate an API key (revoke and create)"},
    {"GET", "/api/v1/devices/{id}/metrics", API_AUTH_SESSION, PERM_DEVICE_READ, api_device_metrics,
     "Metrics of a device"},
    {"GET", "/api/v1/devices/{id}/data", API_AUTH_SESSION, PERM_DATA_READ, api_device_data,
     "Points or rollups of a device metric"},
    {"GET", "/api/v1/devices/{id}/events", API_AUTH_SESSION, PERM_DEVICE_READ, api_device_events,
     "Status and security events of a device"},
    {"GET", "/api/v1/events", API_AUTH_SESSION, PERM_DEVICE_READ, api_events_list,
     "Status and security events (filter by category, kind, device, time)"},
    {"GET", "/api/v1/anomalies", API_AUTH_SESSION, PERM_ANOMALY_READ, api_anomalies_list,
     "List anomalies (device, severity, resolved, metric, time; paging)"},
    {"GET", "/api/v1/anomalies/{id}", API_AUTH_SESSION, PERM_ANOMALY_READ, api_anomalies_get,
     "Get an anomaly with its explanation"},
    {"POST", "/api/v1/anomalies/{id}/resolve", API_AUTH_SESSION, PERM_ANOMALY_WORK,
     api_anomalies_resolve, "Resolve, with verdict confirmed|false_positive (feeds the detectors)"},
    {"GET", "/api/v1/rules", API_AUTH_SESSION, PERM_RULES_READ, api_rules_list, "Threshold rules"},
    {"POST", "/api/v1/rules", API_AUTH_SESSION, PERM_RULES_WRITE, api_rules_create,
     "Create a rule (applied at once)"},
    {"PATCH", "/api/v1/rules/{id}", API_AUTH_SESSION, PERM_RULES_WRITE, api_rules_update,
     "Change a rule"},
    {"DELETE", "/api/v1/rules/{id}", API_AUTH_SESSION, PERM_RULES_WRITE, api_rules_delete,
     "Delete a rule"},
    {"POST", "/api/v1/ingest", API_AUTH_DEVICE_KEY, PERM_PUBLIC, api_ingest,
     "Ingest telemetry (JSON, SenML, line protocol)"},
    {"POST", "/api/v2/write", API_AUTH_DEVICE_KEY, PERM_PUBLIC, api_influx_write,
     "InfluxDB v2 write (line protocol; Telegraf influxdb_v2)"},
    {"GET", "/api/v1/stream", API_AUTH_STREAM, PERM_PUBLIC, api_stream,
     "WebSocket live stream (users) / telemetry (devices)"},
};

static const api_route *core_routes(size_t *count)
{
    *count = sizeof routes / sizeof routes[0];
    return routes;
}

/* Route tables of the feature modules, consulted in this order. */
typedef const api_route *(*route_table_fn)(size_t *count);
static const route_table_fn route_tables[] = {core_routes, api_alert_routes, api_report_routes};

const api_route *api_route_get(size_t i)
{
    for (size_t t = 0; t < sizeof route_tables / sizeof route_tables[0]; t++) {
        size_t n;
        const api_route *r = route_tables[t](&n);
        if (i < n) return &r[i];
        i -= n;
    }
    return NULL;
}

/* Matches path against pattern; fills ctx->params. */
static bool match(const char *pattern, const char *path, api_ctx *ctx)
{
    ctx->nparams = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p == '{') {
            const char *pend = strchr(p, '}');
            const char *qend = strchr(q, '/');
            size_t n = qend ? (size_t)(qend - q) : strlen(q);
            if (!pend || n == 0 || n >= sizeof ctx->params[0] || ctx->nparams >= 3) return false;
            memcpy(ctx->params[ctx->nparams], q, n);
            ctx->params[ctx->nparams++][n] = '\0';
            p = pend + 1;
            q += n;
            continue;
        }
        if (*p != *q) return false;
        p++;
        q++;
    }
    return *p == '\0' && (*q == '\0' || (*q == '/' && q[1] == '\0'));
}

/* Resolves a session from "Authorization: Bearer" or the session cookie. */
static bool resolve_session(api_ctx *ctx)
{
    char token[128] = "";
    const char *authz = http_req_header(ctx->req, "authorization");
    ctx->via_cookie = false;
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        snprintf(token, sizeof token, "%s", authz + 7);
    } else if (http_cookie(ctx->req, SESSION_COOKIE, token, sizeof token) != 0) {
        return false;
    } else {
        ctx->via_cookie = true;
    }
    if (!token[0]) return false;
    auth_token_hash(token, ctx->session_hash);
    int64_t now = util_now_ms();
    store_session ses;
    bool ok = false;
    int64_t last_seen = 0;
    int rc = STORE_USERS(ctx->s->st)
                 ->session_get(ctx->s->st, ctx->session_hash, now,
                               now - ctx->s->cfg.session_idle_s * 1000, &ses);
    ctx->store_down = rc == STORE_ERR;
    if (rc == STORE_OK) {
        snprintf(ctx->user_id, sizeof ctx->user_id, "%s", ses.id);
        snprintf(ctx->email, sizeof ctx->email, "%s", ses.email);
        ok = auth_role_parse(ses.role, &ctx->role) == 0;
        last_seen = ses.last_seen_ms;
    }
    /* sliding expiry: last_seen is written at most every idle/60 (1 s for a 60 s limit, a
     * minute for a day), so a session in use never expires and an idle one within 2% */
    int64_t every_ms = ctx->s->cfg.session_idle_s * 1000 / 60;
    if (ok && now - last_seen >= every_ms)
        STORE_USERS(ctx->s->st)->session_touch(ctx->s->st, ctx->session_hash, now);
    ctx->authed = ok;
    if (!ok) ctx->user_id[0] = '\0';
    return ok;
}

bool api_resolve_session(api_ctx *ctx)
{
    return resolve_session(ctx);
}

/* Device API key from X-API-Key, "Authorization: Token" (InfluxDB v2) or "Bearer". */
static bool resolve_device(api_ctx *ctx, transport t)
{
    const char *key = http_req_header(ctx->req, "x-api-key");
    const char *authz = http_req_header(ctx->req, "authorization");
    if (!key && authz && strncasecmp(authz, "Token ", 6) == 0) key = authz + 6;
    if (!key && authz && strncasecmp(authz, "Bearer ", 7) == 0) key = authz + 7;
    char qkey[128];
    if (!key && t == TRANSPORT_WS && api_query(ctx, "api_key", qkey, sizeof qkey)) key = qkey;
    if (!key) {
        /* HTTP: a device-key route (ingest) refused; WS: the stream also takes sessions, so a
         * request with neither is a dashboard's, not a device's */
        if (t == TRANSPORT_HTTP) ctx->s->m.rejected[t][REJECT_AUTH]++;
        return false;
    }
    const char *why = "";
    bool revoked = false;
    ctx->device = devstate_authenticate(ctx->s->devices, NULL, key, strlen(key), &why, &revoked);
    if (!ctx->device) {
        ctx->s->m.rejected[t][REJECT_AUTH]++;
        devstate_security(ctx->s->devices, NULL, NULL, revoked ? SEC_REVOKED_KEY : SEC_AUTH_FAILURE,
                          t, ctx->req->peer, why);
        return false;
    }
    return true;
}

static bool safe_method(const http_request *req)
{
    return !strcmp(req->method_name, "GET") || !strcmp(req->method_name, "HEAD") ||
           !strcmp(req->method_name, "OPTIONS");
}

/* Cross-site request forgery. A browser attaches the session cookie to requests that other
 * sites trigger, so a cookie must not be enough: a state change (and the WebSocket stream)
 * authenticated by the cookie has to come from the dashboard's own origin, as the browser
 * reports it (Sec-Fetch-Site: same-origin, else an Origin naming this host or a trusted
 * origin); a request with neither header is refused. Its body must be JSON, a type no HTML
 * form can send. Requests with a Bearer token or a device key carry no ambient credential and
 * are not checked; public routes (login, sign-up) are refused only when the browser says the
 * request is cross-site. Returns true when the request was refused (and answered). */
static bool csrf_refused(api_ctx *ctx, bool cookie_auth)
{
    const http_request *req = ctx->req;
    if (safe_method(req) && !req->websocket_upgrade) return false;
    const char *site = http_req_header(req, "sec-fetch-site");
    const char *origin = http_req_header(req, "origin");
    bool same = false, known = false;
    if (site) {
        known = true;
        same = strcmp(site, "same-origin") == 0;
    } else if (origin) {
        known = true;
        same = http_origin_matches(origin, http_req_header(req, "host"), req->tls) ||
               http_origin_listed(origin, ctx->s->cfg.trusted_origins);
    }
    if (known ? !same : cookie_auth) {
        ctx->s->m.csrf_refused++;
        api_error(ctx, 403, "cross_origin",
                  "cross-origin request refused (origin %.100s); API clients authenticate with "
                  "an Authorization: Bearer token",
                  origin ? origin
                  : site ? site
                         : "unknown");
        return true;
    }
    if (!cookie_auth || req->websocket_upgrade) return false;
    const char *ct = http_req_header(req, "content-type");
    if ((req->body_len > 0 || ct) &&
        (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';'))) {
        ctx->s->m.csrf_refused++;
        api_error(ctx, 415, "unsupported_media_type",
                  "the request body must be sent as Content-Type: application/json");
        return true;
    }
    return false;
}

void api_on_refused(void *ud, const http_request *req, int status)
{
    server *s = ud;
    api_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.s = s;
    ctx.req = req;
    const api_route *r;
    for (size_t i = 0; (r = api_route_get(i)) != NULL; i++) {
        if (r->auth != API_AUTH_DEVICE_KEY || strcmp(r->method, req->method_name) != 0 ||
            !match(r->pattern, req->path, &ctx))
            continue;
        s->m.rejected[TRANSPORT_HTTP][status == 413   ? REJECT_TOO_LARGE
                                      : status >= 500 ? REJECT_UNAVAILABLE
                                                      : REJECT_PROTOCOL]++;
        return;
    }
    if (status == 413) s->m.api_body_too_large++;
}

void api_on_request(void *ud, http_conn *c, const http_request *req)
{
    server *s = ud;
    api_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.s = s;
    ctx.c = c;
    ctx.req = req;
    s->m.api_requests++;
    if (s->stopping) {
        api_error(&ctx, 503, "unavailable", "server is shutting down");
        return;
    }
    const api_route *route = NULL;
    bool path_matched = false;
    const api_route *r;
    for (size_t i = 0; (r = api_route_get(i)) != NULL; i++) {
        if (!match(r->pattern, req->path, &ctx)) continue;
        path_matched = true;
        if (strcmp(r->method, req->method_name) == 0 ||
            (strcmp(req->method_name, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            route = r;
            break;
        }
    }
    if (!route) {
        if (path_matched) {
            api_error(&ctx, 405, "method_not_allowed", "%s is not allowed on %s", req->method_name,
                      req->path);
        } else if (strncmp(req->path, "/api/", 5) == 0) {
            api_error(&ctx, 404, "not_found", "no such endpoint: %s %s", req->method_name,
                      req->path);
        } else if (strcmp(req->method_name, "GET") == 0 || strcmp(req->method_name, "HEAD") == 0) {
            api_static(&ctx);
        } else {
            api_error(&ctx, 405, "method_not_allowed", "%s is not allowed here", req->method_name);
        }
        return;
    }
    switch (route->auth) {
    case API_AUTH_PUBLIC:
        if (csrf_refused(&ctx, false)) return;
        break;
    case API_AUTH_SESSION:
        if (!resolve_session(&ctx)) {
            if (ctx.store_down) {
                api_store_unavailable(&ctx);
                return;
            }
            api_error(&ctx, 401, "unauthorized", "log in first (session expired or missing)");
            return;
        }
        if (ctx.via_cookie && csrf_refused(&ctx, true)) return;
        if (!auth_role_allows(ctx.role, route->perm)) {
            api_error(&ctx, 403, "forbidden", "the %s role may not do this",
                      auth_role_name(ctx.role));
            return;
        }
        break;
    case API_AUTH_DEVICE_KEY:
        if (!resolve_device(&ctx, TRANSPORT_HTTP)) {
            api_error(&ctx, 401, "unauthorized",
                      "a valid device API key is required (X-API-Key header)");
            return;
        }
        break;
    case API_AUTH_STREAM:
        if (!resolve_session(&ctx) && !resolve_device(&ctx, TRANSPORT_WS)) {
            api_error(&ctx, 401, "unauthorized", "log in or send a device API key");
            return;
        }
        if (ctx.via_cookie && csrf_refused(&ctx, true)) return;
        break;
    }
    route->fn(&ctx);
}
