/* WebSocket live stream for users. A user connection is a subscriber: it receives "points",
 * "device_status", "anomaly", "alert" and "incident" events for the devices its role may see,
 * optionally narrowed by {"type":"subscribe","devices":[...]}. The events come from the
 * server's event sink (core/events.h); a connection made with a device API key is handed to
 * the device ingest adapter (ingest/ws_ingest.c). */
#include "api/stream.h"

#include "api/api.h"
#include "ingest/ws_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTER 64

typedef struct subscriber {
    struct subscriber *prev, *next;
    stream_hub *hub;
    ws_conn *ws;
    bool closed;
    auth_role role;
    char user_id[UUID_STR_LEN + 1];
    int nfilter; /* 0 = every visible device */
    char filter[MAX_FILTER][UUID_STR_LEN + 1];
} subscriber;

struct stream_hub {
    subscriber *head;
    size_t users;
};

stream_hub *stream_hub_new(void)
{
    return calloc(1, sizeof(stream_hub));
}

void stream_hub_free(stream_hub *h)
{
    free(h);
}

bool stream_has_subscribers(const stream_hub *h)
{
    return h && h->users > 0;
}

size_t stream_subscriber_count(const stream_hub *h)
{
    return h ? h->users : 0;
}

static bool may_see(const subscriber *sub, const char *device_id, const char *owner_id)
{
    if (sub->closed) return false;
    if (!auth_scope_all_devices(sub->role) && strcmp(owner_id ? owner_id : "", sub->user_id) != 0)
        return false;
    if (sub->nfilter == 0) return true;
    for (int i = 0; i < sub->nfilter; i++)
        if (strcmp(sub->filter[i], device_id) == 0) return true;
    return false;
}

static void broadcast(stream_hub *h, const char *device_id, const char *owner_id, const char *json,
                      size_t len)
{
    for (subscriber *sub = h->head; sub; sub = sub->next)
        if (may_see(sub, device_id, owner_id)) ws_send_text(sub->ws, json, len);
}

char *stream_render_points(const ev_event *e, const char *type)
{
    cJSON *o = cJSON_CreateObject();
    if (type) cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "device_id", e->device_id);
    cJSON *arr = cJSON_AddArrayToObject(o, "points");
    size_t n = e->u.points.n < STREAM_MAX_POINTS ? e->u.points.n : STREAM_MAX_POINTS;
    for (size_t i = 0; i < n; i++) {
        const ingest_point *pt = &e->u.points.v[i];
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "metric", pt->metric);
        cJSON_AddNumberToObject(p, "ts", (double)pt->ts_ms);
        cJSON_AddNumberToObject(p, "value", pt->value);
        cJSON_AddItemToArray(arr, p);
    }
    if (e->u.points.n > n) cJSON_AddNumberToObject(o, "truncated", (double)(e->u.points.n - n));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static char *render_status(const ev_event *e)
{
    char ts[32];
    util_rfc3339(e->u.status.ts_ms, ts);
    size_t cap = 128 + strlen(e->device_id);
    char *text = malloc(cap);
    if (text)
        snprintf(
            text, cap,
            "{\"type\":\"device_status\",\"device_id\":\"%s\",\"status\":\"%s\",\"ts\":\"%s\"}",
            e->device_id, e->u.status.online ? "online" : "offline", ts);
    return text;
}

/* {"type":"anomaly","anomaly":{...row...}} (likewise alert, incident) */
static char *render_record(const ev_event *e)
{
    char *row = e->u.record ? cJSON_PrintUnformatted(e->u.record) : NULL;
    if (!row) return NULL;
    const char *name = ev_type_name(e->type);
    size_t cap = strlen(row) + 2 * strlen(name) + 32;
    char *text = malloc(cap);
    if (text) snprintf(text, cap, "{\"type\":\"%s\",\"%s\":%s}", name, name, row);
    free(row);
    return text;
}

static void on_event(void *arg, const ev_event *e)
{
    stream_hub *h = arg;
    const char *device_id = e->device_id ? e->device_id : "";
    const char *owner_id = e->owner_id ? e->owner_id : "";
    bool any = false;
    for (subscriber *sub = h->head; sub && !any; sub = sub->next)
        any = may_see(sub, device_id, owner_id);
    if (!any) return;
    char *text = e->type == EV_POINTS          ? stream_render_points(e, "points")
                 : e->type == EV_DEVICE_STATUS ? render_status(e)
                                               : render_record(e);
    if (text) broadcast(h, device_id, owner_id, text, strlen(text));
    free(text);
}

static bool wants(void *arg, ev_type t)
{
    (void)t;
    return stream_has_subscribers(arg);
}

ev_listener stream_hub_listener(stream_hub *h)
{
    return (ev_listener){.on_event = on_event, .wants = wants, .arg = h};
}

static void send_json(subscriber *sub, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text && !sub->closed) ws_send_text(sub->ws, text, strlen(text));
    free(text);
}

static void on_message(void *ud, ws_conn *w, bool is_text, const uint8_t *data, size_t len)
{
    (void)w;
    (void)is_text;
    subscriber *sub = ud;
    cJSON *msg = cJSON_ParseWithLength((const char *)data, len);
    const char *type = msg ? json_str(msg, "type") : NULL;
    if (!type || strcmp(type, "subscribe") != 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "error");
        cJSON_AddStringToObject(o, "message",
                                "expected {\"type\":\"subscribe\",\"devices\":[ids] or []}");
        send_json(sub, o);
        cJSON_Delete(msg);
        return;
    }
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(msg, "devices");
    sub->nfilter = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, devs)
    {
        if (cJSON_IsString(d) && util_uuid_valid(d->valuestring) && sub->nfilter < MAX_FILTER)
            snprintf(sub->filter[sub->nfilter++], sizeof sub->filter[0], "%s", d->valuestring);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "subscribed");
    cJSON_AddNumberToObject(o, "devices", sub->nfilter);
    send_json(sub, o);
    cJSON_Delete(msg);
}

static void on_close(void *ud, ws_conn *w)
{
    (void)w;
    subscriber *sub = ud;
    stream_hub *h = sub->hub;
    sub->closed = true;
    if (sub->prev)
        sub->prev->next = sub->next;
    else if (h->head == sub)
        h->head = sub->next;
    if (sub->next) sub->next->prev = sub->prev;
    if (h->users) h->users--;
    free(sub);
}

void api_stream(api_ctx *ctx)
{
    if (!ctx->req->websocket_upgrade) {
        api_error(ctx, 426, "upgrade_required", "connect with a WebSocket client");
        return;
    }
    if (ctx->device != NULL && !ctx->authed) { /* a device streaming telemetry */
        if (ws_ingest_accept(ctx->s->ws_ingest, ctx->c, ctx->req, ctx->device) == WS_INGEST_NOMEM)
            api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    subscriber *sub = calloc(1, sizeof *sub);
    if (!sub) {
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    stream_hub *h = ctx->s->hub;
    sub->hub = h;
    sub->role = ctx->role;
    snprintf(sub->user_id, sizeof sub->user_id, "%s", ctx->user_id);
    static const ws_callbacks cb = {on_message, on_close, NULL};
    sub->ws = http_ws_accept(ctx->c, ctx->req, NULL, &cb, sub);
    if (!sub->ws) {
        free(sub);
        return;
    }
    sub->next = h->head;
    if (h->head) h->head->prev = sub;
    h->head = sub;
    h->users++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "hello");
    cJSON_AddStringToObject(o, "mode", "subscriber");
    cJSON_AddStringToObject(o, "role", auth_role_name(sub->role));
    send_json(sub, o);
}

void stream_close_all(stream_hub *h)
{
    for (subscriber *sub = h ? h->head : NULL; sub; sub = sub->next)
        if (!sub->closed) ws_close(sub->ws, 1001, "server shutting down");
}
