/* HTTP ingest: POST /api/v1/ingest (iotad JSON, SenML by Content-Type
 * application/senml+json, InfluxDB line protocol by text/plain) and the InfluxDB v2 write
 * path POST /api/v2/write?precision= (Telegraf's influxdb_v2 output, token = device key).
 * The response is sent once the points are durable: 202 {"accepted": n} (204 for v2).
 *
 * Bodies larger than INLINE_DECODE_BYTES are decoded on the decode worker threads, never on
 * the event loop (a 100k-point batch takes tens of ms to decode; 64 of them in a row stalled
 * every other client). While a body waits for and goes through decoding it counts against
 * the HTTP server's body budget (max_body_bytes_total: 503 + Retry-After when full); it is
 * released as soon as the points are out. An ingest queue that is already full is answered
 * 503 before any decoding. */
#include "api/api.h"

#include "core/log.h"
#include "ingest/decode_json.h"
#include "ingest/decode_line.h"
#include "ingest/decode_senml.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"
#include "store/writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INLINE_DECODE_BYTES (64 * 1024)

typedef enum { FMT_JSON, FMT_SENML, FMT_LINE } body_format;

/* One request's decoding: everything the worker needs, copied from the request, and the
 * result for the loop. The worker touches nothing else. */
typedef struct {
    server *s;
    http_conn *c;
    const http_request *req;
    struct dev_live *device;
    body_format fmt;
    ingest_precision prec;
    bool influx;
    int64_t now_ms;
    size_t bytes;
    ingest_batch b;
    ingest_error err;
    ingest_status st;
} decode_job;

typedef struct {
    http_conn *c;
    bool influx;
} http_ack;

static int http_status(ingest_status st)
{
    switch (st) {
    case INGEST_ERR_TOO_MANY:
        return 413;
    case INGEST_ERR_STORAGE_FULL:
        return 507;
    case INGEST_ERR_NOMEM:
    case INGEST_ERR_UNAVAILABLE:
    case INGEST_ERR_BUS_FULL:
        return 503;
    case INGEST_ERR_SERIES_LIMIT:
        return 422;
    case INGEST_ERR_RATE_LIMITED:
        return 429;
    case INGEST_ERR_UNAUTHORIZED:
        return 401;
    default:
        return 400;
    }
}

/* Answers a refused batch (nothing of it is stored): 400 bad data, 413 too many points, 503 or
 * 507 (disk full) with Retry-After when the store cannot take it now. */
static void refuse(http_conn *c, const ingest_error *err, bool influx)
{
    ingest_status st = err->status;
    int status = http_status(st);
    bool bad_data = status == 400 || status == 413;
    cJSON *o = cJSON_CreateObject();
    /* InfluxDB clients read "code"/"message"; ours read "error"/"message" */
    cJSON_AddStringToObject(o, influx ? "code" : "error",
                            influx && bad_data ? "invalid" : ingest_status_name(st));
    cJSON_AddStringToObject(o, "message", err->msg);
    if (bad_data) cJSON_AddNumberToObject(o, "offset", (double)err->offset);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char headers[96] = "Cache-Control: no-store\r\n";
    int retry = ingest_retry_after_s(st);
    if (retry)
        snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "Retry-After: %d\r\n",
                 retry);
    http_respond(c, status, "application/json", headers, text ? text : "{}",
                 text ? strlen(text) : 2);
    free(text);
}

static void on_ack(void *arg, const ingest_error *err, const ingest_stored *done)
{
    http_ack *a = arg;
    if (!http_conn_closed(a->c)) {
        if (err) {
            refuse(a->c, err, a->influx);
        } else if (a->influx) {
            http_respond(a->c, 204, NULL, NULL, NULL, 0);
        } else {
            cJSON *o = cJSON_CreateObject();
            ingest_stored_json(done, o);
            char *body = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            http_respond(a->c, 202, "application/json", NULL, body ? body : "{}",
                         body ? strlen(body) : 2);
            free(body);
        }
    }
    http_conn_unref(a->c);
    free(a);
}

/* 503 + Retry-After when the ingest queue is full (counted); false otherwise. */
static bool refuse_if_overloaded(api_ctx *ctx)
{
    server *s = ctx->s;
    if (!writer_overloaded(s->writer)) return false;
    s->m.rejected[TRANSPORT_HTTP][REJECT_UNAVAILABLE]++;
    const char *msg = "{\"error\":\"overloaded\",\"message\":\"ingest queue full; retry\"}";
    http_respond(ctx->c, 503, "application/json", "Retry-After: 1\r\n", msg, strlen(msg));
    return true;
}

static void submit(api_ctx *ctx, ingest_batch *b, bool influx, size_t bytes)
{
    ingest_error err = {0};
    server *s = ctx->s;
    if (refuse_if_overloaded(ctx)) return;
    http_ack *a = malloc(sizeof *a);
    if (!a) {
        s->m.rejected[TRANSPORT_HTTP][REJECT_UNAVAILABLE]++;
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    a->c = ctx->c;
    a->influx = influx;
    http_conn_ref(ctx->c);
    if (ingest_submit(s, ctx->device, b, TRANSPORT_HTTP, ctx->req->peer, bytes, on_ack, a, &err) !=
        INGEST_OK) {
        http_conn_unref(ctx->c);
        free(a);
        refuse(ctx->c, &err, influx);
    }
}

/* Pure: no server state, so it runs on a worker as well as on the loop. */
static void decode_body(decode_job *j, const char *body, size_t len)
{
    size_t skipped = 0;
    switch (j->fmt) {
    case FMT_SENML:
        j->st = ingest_decode_senml(body, len, j->now_ms, &j->b, &j->err);
        break;
    case FMT_LINE:
        j->st = ingest_decode_line(body, len, j->prec, j->now_ms, &j->b, &j->err,
                                   j->influx ? &skipped : NULL);
        break;
    case FMT_JSON:
        j->st = ingest_decode_json(body, len, j->now_ms, &j->b, &j->err);
        break;
    }
}

/* Loop thread, with the batch decoded: refuse or submit. */
static void decode_finish(decode_job *j)
{
    api_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.s = j->s;
    ctx.c = j->c;
    ctx.req = j->req;
    ctx.device = j->device;
    if (j->st != INGEST_OK) {
        ingest_reject(j->s, j->device, TRANSPORT_HTTP, j->req->peer, &j->err);
        refuse(j->c, &j->err, j->influx);
    } else { /* a device deleted meanwhile is refused (401) by ingest_submit */
        submit(&ctx, &j->b, j->influx, j->bytes);
    }
}

static void decode_work(void *arg)
{
    decode_job *j = arg;
    decode_body(j, j->req->body, j->req->body_len);
    /* in the store's order here, so the writer finds nothing to sort */
    if (j->st == INGEST_OK && ingest_points_sort(j->b.v, j->b.n) != 0)
        j->st = ingest_fail(&j->err, INGEST_ERR_NOMEM, 0, "out of memory");
}

static void decode_done(void *arg)
{
    decode_job *j = arg;
    j->s->m.decode_done++;
    http_conn_release_body(j->c); /* decoded: the body leaves the budget */
    if (!http_conn_closed(j->c)) decode_finish(j);
    http_conn_unref(j->c);
    ingest_batch_free(&j->b);
    free(j);
}

/* Decodes now (small bodies) or on a worker (large ones), then submits. */
static void ingest_body(api_ctx *ctx, body_format fmt, ingest_precision prec, bool influx)
{
    server *s = ctx->s;
    if (refuse_if_overloaded(ctx)) return;
    decode_job *j = calloc(1, sizeof *j);
    if (!j) {
        s->m.rejected[TRANSPORT_HTTP][REJECT_UNAVAILABLE]++;
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    j->s = s;
    j->c = ctx->c;
    j->req = ctx->req;
    j->device = ctx->device;
    j->fmt = fmt;
    j->prec = prec;
    j->influx = influx;
    j->now_ms = util_now_ms();
    j->bytes = ctx->req->body_len;
    ingest_batch_init(&j->b, (size_t)s->cfg.max_batch_points);
    if (ctx->req->body_len > INLINE_DECODE_BYTES && s->offload &&
        s->offload(s->decoders, decode_work, decode_done, j) == 0) {
        http_conn_ref(ctx->c);
        s->m.decode_submitted++;
        return;
    }
    decode_body(j, ctx->req->body, ctx->req->body_len);
    decode_finish(j);
    ingest_batch_free(&j->b);
    free(j);
}

static bool content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static bool precision_from_query(api_ctx *ctx, const char *def, ingest_precision *prec)
{
    char prec_s[8];
    snprintf(prec_s, sizeof prec_s, "%s", def);
    api_query(ctx, "precision", prec_s, sizeof prec_s);
    return ingest_precision_parse(prec_s, prec) == 0;
}

void api_ingest(api_ctx *ctx)
{
    const char *ct = http_req_header(ctx->req, "content-type");
    ingest_precision prec = INGEST_PRECISION_MS;
    if (content_type_is(ct, "application/senml+json")) {
        ingest_body(ctx, FMT_SENML, prec, false);
    } else if (content_type_is(ct, "text/plain")) {
        if (!precision_from_query(ctx, "ms", &prec)) {
            ctx->s->m.rejected[TRANSPORT_HTTP][REJECT_SYNTAX]++;
            api_error(ctx, 400, "bad_request", "precision must be ns, us, ms or s");
            return;
        }
        ingest_body(ctx, FMT_LINE, prec, false);
    } else if (!ct || content_type_is(ct, "application/json") ||
               content_type_is(ct, "application/x-www-form-urlencoded")) {
        /* curl -d sends the form type by default: its body is taken as JSON too */
        ingest_body(ctx, FMT_JSON, prec, false);
    } else {
        ctx->s->m.rejected[TRANSPORT_HTTP][REJECT_SYNTAX]++;
        api_error(ctx, 415, "unsupported_media_type",
                  "use application/json, application/senml+json or text/plain (line protocol)");
    }
}

void api_influx_write(api_ctx *ctx)
{
    ingest_precision prec;
    if (!precision_from_query(ctx, "ns", &prec)) {
        ctx->s->m.rejected[TRANSPORT_HTTP][REJECT_SYNTAX]++;
        ingest_error err = {0};
        ingest_fail(&err, INGEST_ERR_SYNTAX, 0, "precision must be ns, us, ms or s");
        refuse(ctx->c, &err, true);
        return;
    }
    ingest_body(ctx, FMT_LINE, prec, true);
}
