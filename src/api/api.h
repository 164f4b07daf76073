/* REST API plumbing shared by the handlers: the request context (who is asking, with
 * which role), the route table with one authorization decision per route, and JSON
 * response helpers. Handlers live in api_<concern>.c. */
#ifndef IOTAD_API_API_H
#define IOTAD_API_API_H

#include "api/api_ctx.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef void (*api_handler)(api_ctx *ctx);

typedef enum {
    API_AUTH_PUBLIC,     /* anyone: the route decides itself (login, health, static) */
    API_AUTH_SESSION,    /* a user session with the route's permission */
    API_AUTH_DEVICE_KEY, /* a device API key (ingest) */
    API_AUTH_STREAM,     /* a user session or a device key (WebSocket) */
} api_auth_kind;

typedef struct api_route {
    const char *method;
    const char *pattern; /* "/api/v1/devices/{id}" */
    api_auth_kind auth;
    auth_perm perm; /* for API_AUTH_SESSION */
    api_handler fn;
    const char *summary;
} api_route;

/* Every route of the server (core, alerts/incidents, reports), for dispatch and for
 * /api/v1/openapi.json: route i, or NULL past the last. */
const api_route *api_route_get(size_t i);
/* The http_callbacks.on_request of the server. */
void api_on_request(void *ud, http_conn *c, const http_request *req);
/* The http_callbacks.on_refused: counts what the HTTP server refused before routing, on the
 * ingest routes in iotad_ingest_rejected_total (413: too_large, 5xx: unavailable, else:
 * protocol), a body over max_body_bytes on another route in iotad_api_bodies_refused_total. */
void api_on_refused(void *ud, const http_request *req, int status);

/* For PUBLIC routes that accept a session too: resolves one from the Bearer token or the
 * cookie into ctx (user, role); false when there is none or it expired. */
bool api_resolve_session(api_ctx *ctx);

/* Handlers, grouped by file. */
void api_health(api_ctx *ctx);
void api_ready(api_ctx *ctx);
void api_metrics(api_ctx *ctx);
void api_openapi(api_ctx *ctx);
void api_static(api_ctx *ctx);
/* What the static handler makes of a request path (pure; the fuzz target for HTTP requests
 * runs it on every parsed request): BAD for anything that is not a plain absolute path
 * ("..", '\\', too long, not starting with '/'); else rel gets the file path under web_dir
 * ("/" -> "/index.html") and the kind says how a missing file is answered. */
typedef enum {
    API_STATIC_BAD = -1,
    API_STATIC_ASSET, /* /assets/...: hashed build output, cached for a year; 404 if missing */
    API_STATIC_FILE,  /* a name with an extension: 404 if missing */
    API_STATIC_ROUTE, /* a client-side route: index.html if missing */
} api_static_kind;
api_static_kind api_static_target(const char *path, char *rel, size_t cap);
void api_login(api_ctx *ctx);
void api_logout(api_ctx *ctx);
void api_me(api_ctx *ctx);
void api_signup(api_ctx *ctx);
void api_change_password(api_ctx *ctx);
void api_users_list(api_ctx *ctx);
void api_users_create(api_ctx *ctx);
void api_users_get(api_ctx *ctx);
void api_users_assignable(api_ctx *ctx);
void api_users_update(api_ctx *ctx);
void api_users_delete(api_ctx *ctx);
void api_invites_create(api_ctx *ctx);
void api_tokens_list(api_ctx *ctx);
void api_tokens_create(api_ctx *ctx);
void api_tokens_revoke(api_ctx *ctx);
void api_settings_get(api_ctx *ctx);
void api_settings_update(api_ctx *ctx);
void api_audit_list(api_ctx *ctx);
void api_audit_verify(api_ctx *ctx);
void api_devices_list(api_ctx *ctx);
void api_devices_create(api_ctx *ctx);
void api_devices_bulk(api_ctx *ctx);
void api_devices_get(api_ctx *ctx);
void api_devices_update(api_ctx *ctx);
void api_devices_delete(api_ctx *ctx);
void api_keys_list(api_ctx *ctx);
void api_keys_create(api_ctx *ctx);
void api_keys_revoke(api_ctx *ctx);
void api_keys_rotate(api_ctx *ctx);
void api_device_metrics(api_ctx *ctx);
void api_device_data(api_ctx *ctx);
void api_device_events(api_ctx *ctx);
void api_events_list(api_ctx *ctx);
void api_ingest(api_ctx *ctx);
void api_influx_write(api_ctx *ctx);
void api_stream(api_ctx *ctx);
void api_anomalies_list(api_ctx *ctx);
void api_anomalies_get(api_ctx *ctx);
void api_anomalies_resolve(api_ctx *ctx);
void api_rules_list(api_ctx *ctx);
void api_rules_create(api_ctx *ctx);
void api_rules_update(api_ctx *ctx);
void api_rules_delete(api_ctx *ctx);
/* Alerts, channels, policies, contacts (api_alerts.c) and incidents (api_incidents.c). */
void alert_api_list(api_ctx *ctx);
void alert_api_get(api_ctx *ctx);
void alert_api_retry(api_ctx *ctx);
void alert_api_ack(api_ctx *ctx);
void alert_api_channels_list(api_ctx *ctx);
void alert_api_channels_create(api_ctx *ctx);
void alert_api_channels_update(api_ctx *ctx);
void alert_api_channels_delete(api_ctx *ctx);
void alert_api_channels_test(api_ctx *ctx);
void alert_api_policies_list(api_ctx *ctx);
void alert_api_policies_create(api_ctx *ctx);
void alert_api_policies_update(api_ctx *ctx);
void alert_api_policies_delete(api_ctx *ctx);
void alert_api_contacts_list(api_ctx *ctx);
void alert_api_contacts_put(api_ctx *ctx);
void alert_api_settings_get(api_ctx *ctx);
void alert_api_settings_update(api_ctx *ctx);
void incident_api_list(api_ctx *ctx);
void incident_api_create(api_ctx *ctx);
void incident_api_get(api_ctx *ctx);
void incident_api_update(api_ctx *ctx);
void incident_api_comment(api_ctx *ctx);
void incident_api_link(api_ctx *ctx);

/* Route tables of alerts and incidents (api_alerts.c) and reports (api_reports.c). */
const api_route *api_alert_routes(size_t *count);
const api_route *api_report_routes(size_t *count);
/* Shared by sign-up and Admin user creation (api_auth.c). */
void api_create_account(api_ctx *ctx, const cJSON *body, const char *role, int kind);

/* Applies the settings an Admin changed over the API (settings table) to s->cfg; at start,
 * before the modules that read them. 0 ok, -1 when a stored value was refused (err says
 * which; the configured value stays). */
int api_settings_load(server *s, char *err, size_t errcap);

#endif
