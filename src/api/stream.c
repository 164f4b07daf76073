/* WebSocket live stream. A user connection is a subscriber: it receives "points",
 * "device_status" (and later "anomaly") events for the devices its role may see, optionally
 * narrowed by {"type":"subscribe","devices":[...]}. A device connection (API key) streams
 * telemetry frames in iotad JSON; each frame is acknowledged with {"type":"ack","seq":n,
 * "accepted":k} once durable, or answered {"type":"error",...}. */
#include "api/stream.h"

#include "api/api.h"
#include "core/log.h"
#include "ingest/decode_json.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"
#include "store/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTER 64

typedef struct subscriber {
    struct subscriber *prev, *next;
    stream_hub *hub;
    ws_conn *ws;
    bool is_device;
    bool closed;
    auth_role role;
    char user_id[UUID_STR_LEN + 1];
    dev_live *device;
    char peer[64];
    uint64_t frames;
    int refs;    /* the connection + one per unacknowledged frame */
    int nfilter; /* 0 = every visible device */
    char filter[MAX_FILTER][UUID_STR_LEN + 1];
} subscriber;

struct stream_hub {
    server *s;
    subscriber *head;
    size_t users; /* subscribers that are users (devices do not receive events) */
};

stream_hub *stream_hub_new(server *s)
{
    stream_hub *h = calloc(1, sizeof *h);
    if (h) h->s = s;
    return h;
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
    if (sub->is_device || sub->closed) return false;
    if (!auth_scope_all_devices(sub->role) && strcmp(owner_id ? owner_id : "", sub->user_id) != 0)
        return false;
    if (sub->nfilter == 0) return true;
    for (int i = 0; i < sub->nfilter; i++)
        if (strcmp(sub->filter[i], device_id) == 0) return true;
    return false;
}

void stream_broadcast(stream_hub *h, const char *device_id, const char *owner_id, const char *json,
                      size_t len)
{
    for (subscriber *sub = h->head; sub; sub = sub->next)
        if (may_see(sub, device_id, owner_id)) ws_send_text(sub->ws, json, len);
}

void stream_publish_points(stream_hub *h, const writer_job *job)
{
    dev_live *d = devstate_get(h->s->devices, job->device_id);
    if (!d) return;
    bool any = false;
    for (subscriber *sub = h->head; sub && !any; sub = sub->next)
        any = may_see(sub, job->device_id, d->owner_id);
    if (!any) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "points");
    cJSON_AddStringToObject(o, "device_id", job->device_id);
    cJSON *arr = cJSON_AddArrayToObject(o, "points");
    size_t n = job->n < 1000 ? job->n : 1000;
    for (size_t i = 0; i < n; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "metric", job->points[i].metric);
        cJSON_AddNumberToObject(p, "ts", (double)job->points[i].ts_ms);
        cJSON_AddNumberToObject(p, "value", job->points[i].value);
        cJSON_AddItemToArray(arr, p);
    }
    if (job->n > n) cJSON_AddNumberToObject(o, "truncated", (double)(job->n - n));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text) stream_broadcast(h, job->device_id, d->owner_id, text, strlen(text));
    free(text);
}

static void send_json(subscriber *sub, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text && !sub->closed) ws_send_text(sub->ws, text, strlen(text));
    free(text);
}

typedef struct {
    subscriber *sub;
    uint64_t seq;
} ws_ack;

static void sub_unref(subscriber *sub)
{
    if (--sub->refs == 0) free(sub);
}

/* {"type":"error","seq":n,"error":status,"message":...} and, when retrying later can help,
 * "retry_after" (seconds): the frame's points are not stored. */
static void send_frame_error(subscriber *sub, uint64_t seq, ingest_status st, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    cJSON_AddStringToObject(o, "error", ingest_status_name(st));
    cJSON_AddStringToObject(o, "message", msg);
    int retry = ingest_retry_after_s(st);
    if (retry) cJSON_AddNumberToObject(o, "retry_after", retry);
    send_json(sub, o);
}

static void on_device_ack(void *arg, ingest_status status, size_t points)
{
    ws_ack *a = arg;
    subscriber *sub = a->sub;
    if (!sub->closed && status != INGEST_OK) {
        send_frame_error(sub, a->seq, status,
                         "the store could not commit the points: nothing "
                         "was stored; retry later");
    } else if (!sub->closed) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "ack");
        cJSON_AddNumberToObject(o, "seq", (double)a->seq);
        cJSON_AddNumberToObject(o, "accepted", (double)points);
        send_json(sub, o);
    }
    free(a);
    sub_unref(sub);
}

static void device_frame(subscriber *sub, const uint8_t *data, size_t len)
{
    server *s = sub->hub->s;
    uint64_t seq = ++sub->frames;
    ingest_batch b;
    ingest_batch_init(&b, (size_t)s->cfg.max_batch_points);
    ingest_error err = {0};
    ingest_status st = ingest_decode_json((const char *)data, len, util_now_ms(), &b, &err);
    ws_ack *a = NULL;
    if (st == INGEST_OK) {
        a = malloc(sizeof *a);
        if (a) {
            a->sub = sub;
            a->seq = seq;
            sub->refs++;
            st = ingest_submit(s, sub->device, &b, TRANSPORT_WS, sub->peer, len, on_device_ack, a,
                               &err);
            if (st != INGEST_OK) {
                sub->refs--;
                free(a);
            }
        } else {
            st = ingest_fail(&err, INGEST_ERR_NOMEM, 0, "out of memory");
        }
    } else {
        ingest_reject(s, sub->device, TRANSPORT_WS, sub->peer, &err);
    }
    if (st != INGEST_OK) send_frame_error(sub, seq, st, err.msg);
    ingest_batch_free(&b);
}

static void user_frame(subscriber *sub, const uint8_t *data, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength((const char *)data, len);
    const char *type = msg ? api_json_str(msg, "type") : NULL;
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

static void on_message(void *ud, ws_conn *w, bool is_text, const uint8_t *data, size_t len)
{
    (void)w;
    subscriber *sub = ud;
    if (sub->is_device)
        device_frame(sub, data, len);
    else
        user_frame(sub, data, len);
    (void)is_text;
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
    if (!sub->is_device && h->users) h->users--;
    if (sub->is_device && sub->device)
        devstate_ws_connected(h->s->devices, sub->device, sub->peer, false);
    sub_unref(sub);
}

void api_stream(api_ctx *ctx)
{
    if (!ctx->req->websocket_upgrade) {
        api_error(ctx, 426, "upgrade_required", "connect with a WebSocket client");
        return;
    }
    subscriber *sub = calloc(1, sizeof *sub);
    if (!sub) {
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    stream_hub *h = ctx->s->hub;
    sub->hub = h;
    sub->refs = 1;
    sub->is_device = ctx->device != NULL && !ctx->authed;
    sub->device = sub->is_device ? ctx->device : NULL;
    sub->role = ctx->role;
    snprintf(sub->user_id, sizeof sub->user_id, "%s", ctx->user_id);
    snprintf(sub->peer, sizeof sub->peer, "%s", ctx->req->peer ? ctx->req->peer : "");
    static const ws_callbacks cb = {on_message, on_close};
    sub->ws = http_ws_accept(ctx->c, ctx->req, NULL, &cb, sub);
    if (!sub->ws) {
        free(sub);
        return;
    }
    sub->next = h->head;
    if (h->head) h->head->prev = sub;
    h->head = sub;
    if (sub->is_device) {
        devstate_ws_connected(ctx->s->devices, sub->device, sub->peer, true);
    } else {
        h->users++;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "hello");
    cJSON_AddStringToObject(o, "mode", sub->is_device ? "device" : "subscriber");
    if (sub->is_device)
        cJSON_AddStringToObject(o, "device_id", sub->device->id);
    else
        cJSON_AddStringToObject(o, "role", auth_role_name(sub->role));
    send_json(sub, o);
}

void stream_close_all(stream_hub *h)
{
    for (subscriber *sub = h->head; sub; sub = sub->next)
        if (!sub->closed) ws_close(sub->ws, 1001, "server shutting down");
}
