/* HTTP ingest: POST /api/v1/ingest (iotad JSON, SenML by Content-Type
 * application/senml+json, InfluxDB line protocol by text/plain) and the InfluxDB v2 write
 * path POST /api/v2/write?precision= (Telegraf's influxdb_v2 output, token = device key).
 * The response is sent once the points are durable: 202 {"accepted": n} (204 for v2). */
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
        return 503;
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

static void on_ack(void *arg, ingest_status status, size_t points)
{
    http_ack *a = arg;
    if (!http_conn_closed(a->c)) {
        if (status != INGEST_OK) {
            ingest_error err;
            ingest_fail(&err, status, 0,
                        "the store could not commit the points%s: nothing was "
                        "stored; retry later",
                        status == INGEST_ERR_STORAGE_FULL ? " (disk full)" : "");
            refuse(a->c, &err, a->influx);
        } else if (a->influx) {
            http_respond(a->c, 204, NULL, NULL, NULL, 0);
        } else {
            char body[64];
            int n = snprintf(body, sizeof body, "{\"accepted\":%zu}", points);
            http_respond(a->c, 202, "application/json", NULL, body, (size_t)n);
        }
    }
    http_conn_unref(a->c);
    free(a);
}

static void submit(api_ctx *ctx, ingest_batch *b, bool influx)
{
    ingest_error err = {0};
    server *s = ctx->s;
    if (writer_overloaded(s->writer)) {
        s->m.rejected[TRANSPORT_HTTP][REJECT_UNAVAILABLE]++;
        const char *msg = "{\"error\":\"overloaded\",\"message\":\"ingest queue full; retry\"}";
        http_respond(ctx->c, 503, "application/json", "Retry-After: 1\r\n", msg, strlen(msg));
        return;
    }
    http_ack *a = malloc(sizeof *a);
    if (!a) {
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    a->c = ctx->c;
    a->influx = influx;
    http_conn_ref(ctx->c);
    if (ingest_submit(s, ctx->device, b, TRANSPORT_HTTP, ctx->req->peer, ctx->req->body_len, on_ack,
                      a, &err) != INGEST_OK) {
        http_conn_unref(ctx->c);
        free(a);
        refuse(ctx->c, &err, influx);
    }
}

static bool content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void api_ingest(api_ctx *ctx)
{
    const char *ct = http_req_header(ctx->req, "content-type");
    ingest_batch b;
    ingest_batch_init(&b, (size_t)ctx->s->cfg.max_batch_points);
    ingest_error err = {0};
    int64_t now = util_now_ms();
    ingest_status st;
    if (content_type_is(ct, "application/senml+json")) {
        st = ingest_decode_senml(ctx->req->body, ctx->req->body_len, now, &b, &err);
    } else if (content_type_is(ct, "text/plain")) {
        char prec_s[8] = "ms";
        api_query(ctx, "precision", prec_s, sizeof prec_s);
        ingest_precision prec;
        if (ingest_precision_parse(prec_s, &prec) != 0) {
            ingest_batch_free(&b);
            api_error(ctx, 400, "bad_request", "precision must be ns, us, ms or s");
            return;
        }
        st = ingest_decode_line(ctx->req->body, ctx->req->body_len, prec, now, &b, &err, NULL);
    } else if (!ct || content_type_is(ct, "application/json") ||
               content_type_is(ct, "application/x-www-form-urlencoded")) {
        /* curl -d sends the form type by default: its body is taken as JSON too */
        st = ingest_decode_json(ctx->req->body, ctx->req->body_len, now, &b, &err);
    } else {
        ingest_batch_free(&b);
        api_error(ctx, 415, "unsupported_media_type",
                  "use application/json, application/senml+json or text/plain (line protocol)");
        return;
    }
    if (st != INGEST_OK) {
        ingest_reject(ctx->s, ctx->device, TRANSPORT_HTTP, ctx->req->peer, &err);
        refuse(ctx->c, &err, false);
    } else {
        submit(ctx, &b, false);
    }
    ingest_batch_free(&b);
}

void api_influx_write(api_ctx *ctx)
{
    char prec_s[8] = "ns";
    api_query(ctx, "precision", prec_s, sizeof prec_s);
    ingest_precision prec;
    ingest_batch b;
    ingest_batch_init(&b, (size_t)ctx->s->cfg.max_batch_points);
    ingest_error err = {0};
    if (ingest_precision_parse(prec_s, &prec) != 0) {
        ingest_fail(&err, INGEST_ERR_SYNTAX, 0, "precision must be ns, us, ms or s");
        refuse(ctx->c, &err, true);
        return;
    }
    size_t skipped = 0;
    ingest_status st = ingest_decode_line(ctx->req->body, ctx->req->body_len, prec, util_now_ms(),
                                          &b, &err, &skipped);
    if (st != INGEST_OK) {
        ingest_reject(ctx->s, ctx->device, TRANSPORT_HTTP, ctx->req->peer, &err);
        refuse(ctx->c, &err, true);
    } else {
        submit(ctx, &b, true);
    }
    ingest_batch_free(&b);
}
