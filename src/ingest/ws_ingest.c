/* WebSocket device ingest; see ws_ingest.h. A connection is freed when the socket is gone
 * and every frame it sent has been acknowledged (refs: the connection + one per frame). */
#include "ingest/ws_ingest.h"

#include "core/server.h"
#include "core/util.h"
#include "ingest/decode_json.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ws_device {
    struct ws_device *prev, *next;
    ws_ingest *owner;
    ws_conn *ws;
    bool closed;
    dev_live *device;
    char peer[64];
    uint64_t frames;
    int refs; /* the connection + one per unacknowledged frame */
} ws_device;

struct ws_ingest {
    server *s;
    ws_device *head;
};

ws_ingest *ws_ingest_new(server *s)
{
    ws_ingest *w = calloc(1, sizeof *w);
    if (w) w->s = s;
    return w;
}

void ws_ingest_free(ws_ingest *w)
{
    free(w);
}

static void send_json(ws_device *dev, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text && !dev->closed) ws_send_text(dev->ws, text, strlen(text));
    free(text);
}

typedef struct {
    ws_device *dev;
    uint64_t seq;
} ws_ack;

static void dev_unref(ws_device *dev)
{
    if (--dev->refs == 0) free(dev);
}

/* {"type":"error","seq":n,"error":status,"message":...} and, when retrying later can help,
 * "retry_after" (seconds): the frame's points are not stored. */
static void send_frame_error(ws_device *dev, uint64_t seq, ingest_status st, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    cJSON_AddStringToObject(o, "error", ingest_status_name(st));
    cJSON_AddStringToObject(o, "message", msg);
    int retry = ingest_retry_after_s(st);
    if (retry) cJSON_AddNumberToObject(o, "retry_after", retry);
    send_json(dev, o);
}

static void on_device_ack(void *arg, const ingest_error *err, const ingest_stored *done)
{
    ws_ack *a = arg;
    ws_device *dev = a->dev;
    if (!dev->closed && err) {
        send_frame_error(dev, a->seq, err->status, err->msg);
    } else if (!dev->closed) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "ack");
        cJSON_AddNumberToObject(o, "seq", (double)a->seq);
        ingest_stored_json(done, o);
        send_json(dev, o);
    }
    free(a);
    dev_unref(dev);
}

static void on_message(void *ud, ws_conn *w, bool is_text, const uint8_t *data, size_t len)
{
    (void)w;
    (void)is_text;
    ws_device *dev = ud;
    server *s = dev->owner->s;
    uint64_t seq = ++dev->frames;
    ingest_batch b;
    ingest_batch_init(&b, (size_t)s->cfg.max_batch_points);
    ingest_error err = {0};
    ingest_status st = ingest_decode_json((const char *)data, len, util_now_ms(), &b, &err);
    ws_ack *a = NULL;
    if (st == INGEST_OK) {
        a = malloc(sizeof *a);
        if (a) {
            a->dev = dev;
            a->seq = seq;
            dev->refs++;
            st = ingest_submit(s, dev->device, &b, TRANSPORT_WS, dev->peer, len, on_device_ack, a,
                               &err);
            if (st != INGEST_OK) {
                dev->refs--;
                free(a);
            }
        } else {
            st = ingest_fail(&err, INGEST_ERR_NOMEM, 0, "out of memory");
            ingest_reject(s, dev->device, TRANSPORT_WS, dev->peer, &err);
        }
    } else {
        ingest_reject(s, dev->device, TRANSPORT_WS, dev->peer, &err);
    }
    if (st != INGEST_OK) send_frame_error(dev, seq, st, err.msg);
    ingest_batch_free(&b);
}

/* A frame that breaks WebSocket (the connection closes): a refused message all the same. */
static void on_protocol_error(void *ud, ws_conn *w, uint16_t code)
{
    (void)w;
    ws_device *dev = ud;
    dev->owner->s->m.rejected[TRANSPORT_WS][code == WS_CLOSE_TOO_BIG        ? REJECT_TOO_LARGE
                                            : code == WS_CLOSE_INVALID_DATA ? REJECT_SYNTAX
                                                                            : REJECT_PROTOCOL]++;
}

static void on_close(void *ud, ws_conn *w)
{
    (void)w;
    ws_device *dev = ud;
    ws_ingest *owner = dev->owner;
    dev->closed = true;
    if (dev->prev)
        dev->prev->next = dev->next;
    else if (owner->head == dev)
        owner->head = dev->next;
    if (dev->next) dev->next->prev = dev->prev;
    devstate_ws_connected(owner->s->devices, dev->device, dev->peer, false);
    dev_unref(dev);
}

int ws_ingest_accept(ws_ingest *w, http_conn *c, const http_request *req, dev_live *d)
{
    ws_device *dev = calloc(1, sizeof *dev);
    if (!dev) return WS_INGEST_NOMEM;
    dev->owner = w;
    dev->refs = 1;
    dev->device = d;
    snprintf(dev->peer, sizeof dev->peer, "%s", req->peer ? req->peer : "");
    static const ws_callbacks cb = {on_message, on_close, on_protocol_error};
    dev->ws = http_ws_accept(c, req, NULL, &cb, dev);
    if (!dev->ws) {
        free(dev);
        return WS_INGEST_REFUSED;
    }
    dev->next = w->head;
    if (w->head) w->head->prev = dev;
    w->head = dev;
    devstate_ws_connected(w->s->devices, d, dev->peer, true);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "hello");
    cJSON_AddStringToObject(o, "mode", "device");
    cJSON_AddStringToObject(o, "device_id", d->id);
    send_json(dev, o);
    return 0;
}

void ws_ingest_close_all(ws_ingest *w)
{
    for (ws_device *dev = w ? w->head : NULL; dev; dev = dev->next)
        if (!dev->closed) ws_close(dev->ws, 1001, "server shutting down");
}
