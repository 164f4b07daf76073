/* Streaming a forensic export over HTTP with back-pressure: the producer (export.c) makes a
 * piece, it is queued on the connection, and once more than HIGH_WATER bytes wait (or a time
 * slice is used up) the stream pauses until the connection has drained. Memory stays at one
 * piece plus the socket's queue whatever the size of the export. The export is recorded in
 * the exports table (with its manifest at the end) and in the audit log (export.create when
 * it starts, export.complete with the SHA-256 or export.abort when the client goes away). */
#include "api/api_export.h"

#include "api/api.h"
#include "core/log.h"
#include "report/export.h"
#include "report/report_int.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define PIECE_BYTES (64 * 1024)
#define HIGH_WATER (256 * 1024)
#define SLICE_NS (15 * 1000000LL)

typedef struct export_stream {
    struct export_stream *next;
    server *s;
    http_conn *c;
    export_job *job;
    char id[UUID_STR_LEN + 1];
    char actor[UUID_STR_LEN + 1];
    char peer[64];
} export_stream;

static void unlink_stream(export_stream *es)
{
    export_stream **head = reports_streams(es->s);
    for (export_stream **pp = head; pp && *pp; pp = &(*pp)->next)
        if (*pp == es) {
            *pp = es->next;
            break;
        }
}

static void finish(export_stream *es, const char *status)
{
    server *s = es->s;
    uint64_t bytes, records;
    export_progress(es->job, &bytes, &records);
    char detail[256];
    if (strcmp(status, "done") == 0) {
        cJSON *m = export_manifest(es->job);
        char *mt = m ? cJSON_PrintUnformatted(m) : NULL;
        const char *sha =
            m ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "sha256")) : "";
        STORE_REPORTS(s->st)->export_end(s->st, es->id, "done", (int64_t)bytes, (int64_t)records,
                                         sha ? sha : "", mt, util_now_ms());
        snprintf(detail, sizeof detail, "{\"sha256\":\"%s\",\"bytes\":%llu,\"records\":%llu}",
                 sha ? sha : "", (unsigned long long)bytes, (unsigned long long)records);
        audit_append(s->st, es->actor, "export.complete", es->id, detail, es->peer);
        log_info("export_done", "id=%s bytes=%llu records=%llu sha256=%s", es->id,
                 (unsigned long long)bytes, (unsigned long long)records, sha ? sha : "");
        free(mt);
        cJSON_Delete(m);
    } else {
        STORE_REPORTS(s->st)->export_end(s->st, es->id, status, (int64_t)bytes, (int64_t)records,
                                         NULL, NULL, util_now_ms());
        snprintf(detail, sizeof detail, "{\"status\":\"%s\",\"bytes\":%llu}", status,
                 (unsigned long long)bytes);
        audit_append(s->st, es->actor, "export.abort", es->id, detail, es->peer);
        log_warn("export_aborted", "id=%s status=%s bytes=%llu", es->id, status,
                 (unsigned long long)bytes);
    }
    unlink_stream(es);
    http_conn_unref(es->c);
    export_free(es->job);
    free(es);
}

static void pump(void *arg, http_conn *c)
{
    export_stream *es = arg;
    if (http_conn_closed(c) || es->s->stopping) {
        finish(es, "aborted");
        return;
    }
    int64_t deadline = util_mono_ns() + SLICE_NS;
    for (;;) {
        const char *data;
        size_t len;
        int rc = export_next(es->job, PIECE_BYTES, &data, &len);
        if (rc < 0) {
            /* the status line is gone: end the stream without a manifest, which a reader
             * detects (no manifest line = incomplete) */
            http_stream_end(c);
            finish(es, "failed");
            return;
        }
        if (len && http_stream_write(c, data, len) < 0) {
            finish(es, "aborted");
            return;
        }
        if (rc == 0) {
            http_stream_end(c);
            finish(es, "done");
            return;
        }
        if (http_conn_queued(c) > HIGH_WATER || util_mono_ns() > deadline) {
            http_conn_on_drain(c, pump, es);
            return;
        }
    }
}

void api_export_sweep(server *s)
{
    export_stream **head = reports_streams(s);
    if (!head) return;
    export_stream *es = *head;
    while (es) {
        export_stream *next = es->next;
        /* a connection closed while waiting for a drain never calls back: end it here */
        if (http_conn_closed(es->c)) finish(es, "aborted");
        es = next;
    }
}

void api_export_stop_all(server *s)
{
    export_stream **head = reports_streams(s);
    while (head && *head) {
        export_stream *es = *head;
        http_conn_on_drain(es->c, NULL, NULL);
        http_stream_end(es->c); /* truncated: no manifest */
        finish(es, "aborted");
    }
}

/* Starts the stream; ctx's request was validated by the handler. */
void api_export_start(api_ctx *ctx, const export_params *p, const char *params_json)
{
    server *s = ctx->s;
    export_stream *es = calloc(1, sizeof *es);
    if (!es) {
        api_error(ctx, 503, "unavailable", "out of memory");
        return;
    }
    es->s = s;
    es->c = ctx->c;
    util_uuid7(es->id);
    snprintf(es->actor, sizeof es->actor, "%s", api_actor(ctx));
    snprintf(es->peer, sizeof es->peer, "%s", ctx->req->peer ? ctx->req->peer : "");
    export_stream **head = reports_streams(s);
    es->job = head ? export_new(s, p, es->id) : NULL;
    if (!es->job) {
        free(es);
        api_error(ctx, 503, "unavailable", "the export could not be started");
        return;
    }
    const char *fmt = p->format == EXPORT_CSV ? "csv" : "ndjson";
    STORE_REPORTS(s->st)->export_start(s->st, es->id, es->actor, es->peer, fmt, params_json,
                                       util_now_ms());
    api_audit(ctx, "export.create", es->id, params_json);
    char headers[512], day[32];
    util_rfc3339(util_now_ms(), day);
    day[10] = '\0';
    snprintf(headers, sizeof headers,
             "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
             "X-Export-Id: %s\r\nContent-Disposition: attachment; "
             "filename=\"iotad-export-%s-%s.%s\"\r\n",
             es->id, day, es->id, fmt);
    http_stream_begin(ctx->c, 200,
                      p->format == EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson",
                      headers);
    http_conn_ref(ctx->c);
    es->next = *head;
    *head = es;
    if (strcmp(ctx->req->method_name, "HEAD") == 0) { /* headers only */
        http_stream_end(ctx->c);
        finish(es, "aborted");
        return;
    }
    pump(es, ctx->c);
}
