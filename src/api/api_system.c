/* Health, readiness, Prometheus metrics, the OpenAPI document and the dashboard's static
 * files. */
#include "api/api.h"

#include "alert/alerts.h"
#include "api/anomalies.h"
#include "api/mqtt_sub.h"
#include "api/stream.h"
#include "core/looplag.h"
#include "ingest/cluster.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"
#include "mqtt/mqtt_server.h"
#include "store/store.h"
#include "store/writer.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void api_health(api_ctx *ctx)
{
    const char *body = "{\"status\":\"ok\"}";
    http_respond(ctx->c, 200, "application/json", NULL, body, strlen(body));
}

/* Ready = ingest would be stored now: started, not stopping, queue not full, and the store's
 * last write succeeded (a failing store is probed every second, so readiness comes back on its
 * own when e.g. disk space does). */
void api_ready(api_ctx *ctx)
{
    server *s = ctx->s;
    char err[160] = "";
    int failing = s->writer ? writer_failing(s->writer, err, sizeof err) : 0;
    char bus_err[200] = "";
    bool bus_ok = ingest_cluster_ready(s, bus_err, sizeof bus_err);
    const char *reason = !s->ready || s->stopping       ? "starting or stopping"
                         : failing == WRITER_E_FULL     ? "store_full"
                         : failing                      ? "store_failing"
                         : !bus_ok                      ? "cluster_bus_unavailable"
                         : writer_overloaded(s->writer) ? "ingest queue full"
                                                        : NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", reason ? "not_ready" : "ready");
    if (reason) cJSON_AddStringToObject(o, "reason", reason);
    if (failing)
        cJSON_AddStringToObject(o, "error", err);
    else if (!bus_ok)
        cJSON_AddStringToObject(o, "error", bus_err);
    api_json(ctx, reason ? 503 : 200, o);
}

/* A growable text buffer for the metrics page. */
typedef struct {
    char *p;
    size_t n, cap;
} textbuf;

static void tb_printf(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->p && t->n + (size_t)n < t->cap) {
            t->n += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 8192) + (size_t)n;
        char *np = realloc(t->p, cap);
        if (!np) return;
        t->p = np;
        t->cap = cap;
    }
}

#define COUNTER(name, help) tb_printf(&t, "# HELP " name " " help "\n# TYPE " name " counter\n")
#define GAUGE(name, help) tb_printf(&t, "# HELP " name " " help "\n# TYPE " name " gauge\n")

/* /metrics is public unless metrics_token is set; then it needs that token as a Bearer token
 * (Prometheus: authorization.credentials) or the session of an Analyst or Admin (the
 * dashboard's overview). */
static bool metrics_allowed(api_ctx *ctx)
{
    const char *want = ctx->s->cfg.metrics_token;
    if (!want[0]) return true;
    const char *authz = http_req_header(ctx->req, "authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *got = authz + 7;
        size_t n = strlen(want);
        if (strlen(got) == n && CRYPTO_memcmp(got, want, n) == 0) return true;
    }
    return api_resolve_session(ctx) && auth_scope_all_devices(ctx->role);
}

/* Space on the data directory's file system and the database's own size, for the
 * "disk filling" alert (the store refuses writes when the file system is full). */
static void data_dir_metrics(const server *s, textbuf *tp)
{
    textbuf t = *tp;
    struct statvfs vfs;
    if (statvfs(s->cfg.data_dir, &vfs) == 0) {
        GAUGE("iotad_data_dir_available_bytes",
              "Space left for iotad on the data directory's file system.");
        tb_printf(&t, "iotad_data_dir_available_bytes %llu\n",
                  (unsigned long long)vfs.f_bavail * vfs.f_frsize);
        GAUGE("iotad_data_dir_size_bytes", "Size of the data directory's file system.");
        tb_printf(&t, "iotad_data_dir_size_bytes %llu\n",
                  (unsigned long long)vfs.f_blocks * vfs.f_frsize);
    }
    unsigned long long bytes = 0;
    static const char *const files[] = {"iotad.db", "iotad.db-wal"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[CONFIG_STR_MAX + 32];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", s->cfg.data_dir, files[i]);
        if (stat(path, &st) == 0) bytes += (unsigned long long)st.st_size;
    }
    GAUGE("iotad_database_bytes", "Size of the database files (iotad.db and its WAL).");
    tb_printf(&t, "iotad_database_bytes %llu\n", bytes);
    *tp = t;
}

void api_metrics(api_ctx *ctx)
{
    server *s = ctx->s;
    if (!metrics_allowed(ctx)) {
        api_error(ctx, 401, "unauthorized",
                  "/metrics needs the metrics token (Authorization: Bearer) or an Analyst or "
                  "Admin session");
        return;
    }
    textbuf t = {0};
    COUNTER("iotad_ingest_points_total", "Points accepted, by transport.");
    for (int i = 0; i < TRANSPORT_COUNT; i++)
        tb_printf(&t, "iotad_ingest_points_total{transport=\"%s\"} %llu\n",
                  transport_name((transport)i), (unsigned long long)s->m.points_in[i]);
    COUNTER("iotad_ingest_messages_total", "Messages/requests accepted, by transport.");
    for (int i = 0; i < TRANSPORT_COUNT; i++)
        tb_printf(&t, "iotad_ingest_messages_total{transport=\"%s\"} %llu\n",
                  transport_name((transport)i), (unsigned long long)s->m.messages_in[i]);
    COUNTER("iotad_ingest_bytes_total", "Payload bytes accepted, by transport.");
    for (int i = 0; i < TRANSPORT_COUNT; i++)
        tb_printf(&t, "iotad_ingest_bytes_total{transport=\"%s\"} %llu\n",
                  transport_name((transport)i), (unsigned long long)s->m.bytes_in[i]);
    mqtt_server_stats ms = {0}, mts = {0}; /* mts: the TLS listener, when configured */
    if (s->mqtt) mqtt_server_get_stats(s->mqtt, &ms);
    if (s->mqtts) mqtt_server_get_stats(s->mqtts, &mts);
    uint64_t rejected[TRANSPORT_COUNT][REJECT_COUNT];
    ingest_rejected_totals(s, rejected);
    COUNTER("iotad_ingest_rejected_total", "Messages rejected, by transport and reason.");
    for (int i = 0; i < TRANSPORT_COUNT; i++)
        for (int r = 0; r < REJECT_COUNT; r++)
            tb_printf(&t, "iotad_ingest_rejected_total{transport=\"%s\",reason=\"%s\"} %llu\n",
                      transport_name((transport)i), reject_reason_name((reject_reason)r),
                      (unsigned long long)rejected[i][r]);
    writer_stats ws;
    writer_get_stats(s->writer, &ws);
    GAUGE("iotad_queue_points", "Points waiting for the writer.");
    tb_printf(&t, "iotad_queue_points %llu\n", (unsigned long long)ws.queued_points);
    GAUGE("iotad_queue_jobs", "Batches waiting for the writer.");
    tb_printf(&t, "iotad_queue_jobs %llu\n", (unsigned long long)ws.queued_jobs);
    COUNTER("iotad_ingest_backpressure_pauses_total",
            "MQTT connections paused because the ingest queue was full.");
    tb_printf(&t, "iotad_ingest_backpressure_pauses_total %llu\n",
              (unsigned long long)s->m.backpressure_pauses);
    if (s->m.bridge.on) { /* bridge mode (ingest/bridge.c), when configured */
        GAUGE("iotad_bridge_connected", "1 while connected to the bridged broker, else 0.");
        tb_printf(&t, "iotad_bridge_connected %d\n", s->m.bridge.connected ? 1 : 0);
        COUNTER("iotad_bridge_connects_total", "Successful connections to the bridged broker.");
        tb_printf(&t, "iotad_bridge_connects_total %llu\n",
                  (unsigned long long)s->m.bridge.connects);
        COUNTER("iotad_bridge_connect_failures_total",
                "Failed or refused connection attempts to the bridged broker.");
        tb_printf(&t, "iotad_bridge_connect_failures_total %llu\n",
                  (unsigned long long)s->m.bridge.connect_failures);
        COUNTER("iotad_bridge_messages_total", "Messages from the bridged broker, by result.");
        for (int r = 0; r < BRIDGE_RESULT_COUNT; r++)
            tb_printf(&t, "iotad_bridge_messages_total{result=\"%s\"} %llu\n",
                      bridge_result_name((bridge_result)r),
                      (unsigned long long)s->m.bridge.messages[r]);
        GAUGE("iotad_bridge_queue_messages", "Bridged messages waiting to be ingested.");
        tb_printf(&t, "iotad_bridge_queue_messages %llu\n", (unsigned long long)s->m.bridge.queued);
    }
    bus_pipe_stats bs;
    if (ingest_cluster_stats(s, &bs)) { /* cluster mode (ingest/cluster.c), when configured */
        GAUGE("iotad_bus_connected", "1 while connected to the cluster bus (RabbitMQ), else 0.");
        tb_printf(&t, "iotad_bus_connected %d\n", bs.up ? 1 : 0);
        COUNTER("iotad_bus_connects_total", "Connections to the cluster bus, and losses of one.");
        tb_printf(&t, "iotad_bus_connects_total %llu\n", (unsigned long long)bs.connects);
        tb_printf(&t, "iotad_bus_disconnects_total %llu\n", (unsigned long long)bs.disconnects);
        COUNTER("iotad_bus_published_total",
                "Batches published to partition queues, by outcome (confirmed: acknowledged to "
                "the device; unconfirmed: lost in flight; bus_full: refused by the broker, the "
                "partition queue at its bound; refused: the bus was down).");
        tb_printf(&t, "iotad_bus_published_total{outcome=\"confirmed\"} %llu\n",
                  (unsigned long long)bs.confirmed);
        tb_printf(&t, "iotad_bus_published_total{outcome=\"unconfirmed\"} %llu\n",
                  (unsigned long long)bs.unconfirmed);
        tb_printf(&t, "iotad_bus_published_total{outcome=\"refused\"} %llu\n",
                  (unsigned long long)bs.refused);
        tb_printf(&t, "iotad_bus_published_total{outcome=\"bus_full\"} %llu\n",
                  (unsigned long long)bs.full);
        GAUGE("iotad_bus_inflight", "Batches published and not confirmed yet.");
        tb_printf(&t, "iotad_bus_inflight %llu\n", (unsigned long long)bs.inflight);
        COUNTER("iotad_bus_consumed_total",
                "Batches taken from partition queues, by outcome (acked once stored and "
                "detected, requeued when the store failed; malformed: messages dropped).");
        tb_printf(&t, "iotad_bus_consumed_total{outcome=\"delivered\"} %llu\n",
                  (unsigned long long)bs.delivered);
        tb_printf(&t, "iotad_bus_consumed_total{outcome=\"acked\"} %llu\n",
                  (unsigned long long)bs.acked);
        tb_printf(&t, "iotad_bus_consumed_total{outcome=\"requeued\"} %llu\n",
                  (unsigned long long)bs.requeued);
        tb_printf(&t, "iotad_bus_consumed_total{outcome=\"malformed\"} %llu\n",
                  (unsigned long long)bs.malformed);
        COUNTER("iotad_bus_messages_total",
                "AMQP messages on the partition queues (each carries the batches of one partition "
                "from one round of a node's bus thread), published or delivered.");
        tb_printf(&t, "iotad_bus_messages_total{direction=\"published\"} %llu\n",
                  (unsigned long long)bs.msgs_published);
        tb_printf(&t, "iotad_bus_messages_total{direction=\"delivered\"} %llu\n",
                  (unsigned long long)bs.msgs_delivered);
    }
    COUNTER("iotad_store_commits_total", "Group commits.");
    tb_printf(&t, "iotad_store_commits_total %llu\n", (unsigned long long)ws.commits);
    COUNTER("iotad_store_points_total", "Points made durable.");
    tb_printf(&t, "iotad_store_points_total %llu\n", (unsigned long long)ws.points);
    COUNTER("iotad_store_points_dropped_total",
            "Late points older than the stored chunks of their series (not stored).");
    tb_printf(&t, "iotad_store_points_dropped_total %llu\n",
              (unsigned long long)ws.dropped_too_old);
    COUNTER("iotad_store_commit_failures_total", "Failed group commits.");
    tb_printf(&t, "iotad_store_commit_failures_total %llu\n", (unsigned long long)ws.failures);
    COUNTER("iotad_store_refused_points_total",
            "Points queued for the writer but not stored because the store was failing.");
    tb_printf(&t, "iotad_store_refused_points_total %llu\n", (unsigned long long)ws.refused_points);
    GAUGE("iotad_store_failing", "1 while commits fail (ingest is refused), else 0.");
    tb_printf(&t, "iotad_store_failing %d\n", ws.failing ? 1 : 0);
    COUNTER("iotad_detector_points_total", "Points processed by the detector shards.");
    tb_printf(&t, "iotad_detector_points_total %llu\n",
              (unsigned long long)anomalies_detector_points(s));
    COUNTER("iotad_detector_state_saves_total",
            "Detector state snapshots written to the database (periodically and at a stop).");
    tb_printf(&t, "iotad_detector_state_saves_total{outcome=\"saved\"} %llu\n",
              (unsigned long long)s->m.snapshots_saved);
    tb_printf(&t, "iotad_detector_state_saves_total{outcome=\"failed\"} %llu\n",
              (unsigned long long)s->m.snapshots_failed);
    GAUGE("iotad_detection_watermark", "Log row up to which every committed point has been "
                                       "processed by the detectors, its anomalies stored.");
    tb_printf(&t, "iotad_detection_watermark %lld\n", (long long)s->detect_applied);
    tb_printf(&t, "# HELP iotad_commit_latency_seconds Ingest submit to durable commit.\n"
                  "# TYPE iotad_commit_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < WRITER_LATENCY_BUCKETS; b++) {
        cum += ws.latency_count[b];
        tb_printf(&t, "iotad_commit_latency_seconds_bucket{le=\"%g\"} %llu\n",
                  writer_latency_bounds_ms[b] / 1000.0, (unsigned long long)cum);
    }
    cum += ws.latency_count[WRITER_LATENCY_BUCKETS];
    tb_printf(&t, "iotad_commit_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
              (unsigned long long)cum);
    tb_printf(&t, "iotad_commit_latency_seconds_sum %g\n", ws.latency_sum_ms / 1000.0);
    tb_printf(&t, "iotad_commit_latency_seconds_count %llu\n", (unsigned long long)cum);

    tb_printf(&t, "# HELP iotad_event_loop_lag_seconds How late each event loop ran a timer due "
                  "every 100 ms: what a callback or packet due then waited (main: HTTP, "
                  "WebSocket, API; device: MQTT listeners, the writer's completions).\n"
                  "# TYPE iotad_event_loop_lag_seconds histogram\n");
    looplag_stats lag[2];
    static const char *const lag_names[2] = {"main", "device"};
    looplag_get_stats(s->lag_main, &lag[0]);
    looplag_get_stats(s->lag_dev, &lag[1]);
    for (int l = 0; l < 2; l++) {
        uint64_t lcum = 0;
        for (int b = 0; b < LOOPLAG_BUCKETS; b++) {
            lcum += lag[l].buckets[b];
            tb_printf(&t, "iotad_event_loop_lag_seconds_bucket{loop=\"%s\",le=\"%g\"} %llu\n",
                      lag_names[l], looplag_bounds_s[b], (unsigned long long)lcum);
        }
        tb_printf(&t, "iotad_event_loop_lag_seconds_bucket{loop=\"%s\",le=\"+Inf\"} %llu\n",
                  lag_names[l], (unsigned long long)lag[l].count);
        tb_printf(&t, "iotad_event_loop_lag_seconds_sum{loop=\"%s\"} %.6f\n", lag_names[l],
                  lag[l].sum_ns / 1e9);
        tb_printf(&t, "iotad_event_loop_lag_seconds_count{loop=\"%s\"} %llu\n", lag_names[l],
                  (unsigned long long)lag[l].count);
    }
    GAUGE("iotad_event_loop_lag_max_seconds",
          "The most each event loop ran late over the last 30 to 60 s.");
    for (int l = 0; l < 2; l++)
        tb_printf(&t, "iotad_event_loop_lag_max_seconds{loop=\"%s\"} %.6f\n", lag_names[l],
                  lag[l].max_ns / 1e9);

    http_server_stats hs = {0};
    if (s->http) http_server_get_stats(s->http, &hs);
    GAUGE("iotad_connections", "Open connections, by listener.");
    tb_printf(&t, "iotad_connections{listener=\"mqtt\"} %llu\n",
              (unsigned long long)ms.connections_current);
    tb_printf(&t, "iotad_connections{listener=\"http\"} %llu\n",
              (unsigned long long)hs.connections_current);
    if (s->mqtts || s->https) {
        http_server_stats hts = {0};
        if (s->https) http_server_get_stats(s->https, &hts);
        tb_printf(&t, "iotad_connections{listener=\"mqtts\"} %llu\n",
                  (unsigned long long)mts.connections_current);
        tb_printf(&t, "iotad_connections{listener=\"https\"} %llu\n",
                  (unsigned long long)hts.connections_current);
    }
    tb_printf(&t, "iotad_connections{listener=\"websocket\"} %llu\n",
              (unsigned long long)hs.ws_current);
    COUNTER("iotad_connections_refused_total",
            "TCP connections closed at accept by the limits, by listener and reason.");
    tb_printf(&t,
              "iotad_connections_refused_total{listener=\"http\",reason=\"per_address\"} %llu\n",
              (unsigned long long)hs.refused_per_address);
    tb_printf(&t, "iotad_connections_refused_total{listener=\"http\",reason=\"fd_budget\"} %llu\n",
              (unsigned long long)hs.refused_budget);
    tb_printf(&t,
              "iotad_connections_refused_total{listener=\"mqtt\",reason=\"per_address\"} %llu\n",
              (unsigned long long)ms.refused_per_address);
    tb_printf(&t, "iotad_connections_refused_total{listener=\"mqtt\",reason=\"fd_budget\"} %llu\n",
              (unsigned long long)ms.refused_budget);
    COUNTER("iotad_http_header_timeouts_total",
            "HTTP requests whose header did not arrive within http_header_timeout_s (408).");
    tb_printf(&t, "iotad_http_header_timeouts_total %llu\n",
              (unsigned long long)hs.header_timeouts);
    COUNTER("iotad_mqtt_connects_refused_total", "MQTT CONNECTs refused.");
    tb_printf(&t, "iotad_mqtt_connects_refused_total %llu\n",
              (unsigned long long)ms.connect_refused);
    COUNTER("iotad_mqtt_protocol_errors_total", "MQTT connections closed for protocol errors.");
    tb_printf(&t, "iotad_mqtt_protocol_errors_total %llu\n",
              (unsigned long long)ms.protocol_errors);
    COUNTER("iotad_mqtt_keepalive_timeouts_total",
            "MQTT and MQTTS connections closed for silence: no CONNECT within 10 s, or no "
            "packet within 1.5 x keepalive.");
    tb_printf(&t, "iotad_mqtt_keepalive_timeouts_total{phase=\"connect\"} %llu\n",
              (unsigned long long)(ms.connect_timeouts + mts.connect_timeouts));
    tb_printf(&t, "iotad_mqtt_keepalive_timeouts_total{phase=\"session\"} %llu\n",
              (unsigned long long)(ms.keepalive_timeouts + mts.keepalive_timeouts));
    COUNTER("iotad_mqtt_wills_total",
            "MQTT wills recorded as device events (a connection ended without DISCONNECT).");
    tb_printf(&t, "iotad_mqtt_wills_total %llu\n",
              (unsigned long long)(ms.wills_published + mts.wills_published));
    COUNTER("iotad_api_bodies_refused_total",
            "API request bodies refused before parsing (api_max_body_bytes, nesting; "
            "max_body_bytes outside the ingest routes).");
    tb_printf(&t, "iotad_api_bodies_refused_total{reason=\"too_large\"} %llu\n",
              (unsigned long long)s->m.api_body_too_large);
    tb_printf(&t, "iotad_api_bodies_refused_total{reason=\"too_deep\"} %llu\n",
              (unsigned long long)s->m.api_body_too_deep);
    COUNTER("iotad_api_rollups_refused_total",
            "Data requests refused for spanning more than max_rollup_buckets buckets.");
    tb_printf(&t, "iotad_api_rollups_refused_total %llu\n",
              (unsigned long long)s->m.rollups_refused);
    COUNTER("iotad_devices_bulk_total",
            "Devices registered through POST /api/v1/devices/bulk (outcome=created), and bulk "
            "requests refused whole (outcome=refused: an invalid item or over max_bulk_devices).");
    tb_printf(&t, "iotad_devices_bulk_total{outcome=\"created\"} %llu\n",
              (unsigned long long)s->m.bulk_devices_created);
    tb_printf(&t, "iotad_devices_bulk_total{outcome=\"refused\"} %llu\n",
              (unsigned long long)s->m.bulk_devices_refused);
    GAUGE("iotad_decode_pending", "Large HTTP ingest bodies waiting for or in decoding.");
    tb_printf(&t, "iotad_decode_pending %llu\n",
              (unsigned long long)(s->m.decode_submitted - s->m.decode_done));
    COUNTER("iotad_decode_tasks_total", "HTTP ingest bodies decoded off the event loop.");
    tb_printf(&t, "iotad_decode_tasks_total %llu\n", (unsigned long long)s->m.decode_done);
    GAUGE("iotad_http_body_bytes", "HTTP request bodies held in memory (http_bodies_max_bytes).");
    tb_printf(&t, "iotad_http_body_bytes %llu\n", (unsigned long long)hs.body_bytes_held);
    COUNTER("iotad_http_bodies_refused_total",
            "HTTP requests answered 503 because http_bodies_max_bytes was reached.");
    tb_printf(&t, "iotad_http_bodies_refused_total %llu\n", (unsigned long long)hs.bodies_refused);
    COUNTER("iotad_http_requests_total", "HTTP requests.");
    tb_printf(&t, "iotad_http_requests_total %llu\n", (unsigned long long)hs.requests);
    COUNTER("iotad_logins_total", "Login attempts by outcome.");
    tb_printf(&t, "iotad_logins_total{outcome=\"ok\"} %llu\n", (unsigned long long)s->m.logins_ok);
    tb_printf(&t, "iotad_logins_total{outcome=\"failed\"} %llu\n",
              (unsigned long long)s->m.logins_failed);
    tb_printf(&t, "iotad_logins_total{outcome=\"locked\"} %llu\n",
              (unsigned long long)s->m.logins_locked);
    COUNTER("iotad_api_denied_total", "API requests answered 401/403.");
    tb_printf(&t, "iotad_api_denied_total %llu\n", (unsigned long long)s->m.api_denied);
    COUNTER("iotad_api_gzip_responses_total", "JSON answers sent gzip-compressed.");
    tb_printf(&t, "iotad_api_gzip_responses_total %llu\n",
              (unsigned long long)s->m.api_gzip_responses);
    COUNTER("iotad_api_gzip_saved_bytes_total", "Bytes gzip saved on JSON answers.");
    tb_printf(&t, "iotad_api_gzip_saved_bytes_total %llu\n",
              (unsigned long long)s->m.api_gzip_saved_bytes);
    COUNTER("iotad_api_csrf_refused_total",
            "Browser requests refused as cross-origin or with a non-JSON body.");
    tb_printf(&t, "iotad_api_csrf_refused_total %llu\n", (unsigned long long)s->m.csrf_refused);
    COUNTER("iotad_signups_total", "Self-registrations by outcome.");
    tb_printf(&t, "iotad_signups_total{outcome=\"created\"} %llu\n",
              (unsigned long long)s->m.signups_ok);
    tb_printf(&t, "iotad_signups_total{outcome=\"rate_limited\"} %llu\n",
              (unsigned long long)s->m.signups_limited);
    size_t online = 0, total = devstate_count(s->devices, &online);
    GAUGE("iotad_devices", "Registered devices, by status.");
    tb_printf(&t, "iotad_devices{status=\"online\"} %zu\n", online);
    tb_printf(&t, "iotad_devices{status=\"offline\"} %zu\n", total - online);
    store_ts_stats ts;
    STORE_TS(s->ts)->stats(s->ts, &ts);
    COUNTER("iotad_store_wal_restarts_total",
            "Times the SQLite WAL, above wal_max_mb, started over (its file emptied or cut back).");
    tb_printf(&t, "iotad_store_wal_restarts_total %llu\n", (unsigned long long)ts.wal_restarts);
    COUNTER("iotad_security_intervals_total", "Intervals of the per-device sys.* counters.");
    tb_printf(&t, "iotad_security_intervals_total %llu\n", (unsigned long long)s->m.sys_intervals);
    COUNTER("iotad_security_points_total",
            "sys.* points written (non-zero counters, and each return to zero once).");
    tb_printf(&t, "iotad_security_points_total %llu\n", (unsigned long long)s->m.sys_points);
    GAUGE("iotad_series", "Time series.");
    tb_printf(&t, "iotad_series %llu\n", (unsigned long long)ts.series);
    GAUGE("iotad_stream_subscribers", "Live stream subscribers.");
    tb_printf(&t, "iotad_stream_subscribers %zu\n", stream_subscriber_count(s->hub));
    mqtt_sub_stats sst;
    mqtt_sub_get_stats(s->mqtt_subs, &sst);
    GAUGE("iotad_mqtt_subscribers", "MQTT connections logged in with an API token.");
    tb_printf(&t, "iotad_mqtt_subscribers %llu\n", (unsigned long long)sst.connections);
    COUNTER("iotad_mqtt_sub_messages_total",
            "Messages to API-token MQTT subscribers, by outcome (dropped: the subscriber's "
            "queued output was over mqtt_sub_queue_bytes).");
    tb_printf(&t, "iotad_mqtt_sub_messages_total{outcome=\"sent\"} %llu\n",
              (unsigned long long)sst.sent);
    tb_printf(&t, "iotad_mqtt_sub_messages_total{outcome=\"dropped\"} %llu\n",
              (unsigned long long)sst.dropped);
    COUNTER("iotad_mqtt_sub_refused_total",
            "API-token MQTT refusals: CONNECTs (auth), PUBLISHes (publish), topic filters "
            "(subscribe).");
    tb_printf(&t, "iotad_mqtt_sub_refused_total{reason=\"auth\"} %llu\n",
              (unsigned long long)sst.refused_auth);
    tb_printf(&t, "iotad_mqtt_sub_refused_total{reason=\"publish\"} %llu\n",
              (unsigned long long)sst.refused_publish);
    tb_printf(&t, "iotad_mqtt_sub_refused_total{reason=\"subscribe\"} %llu\n",
              (unsigned long long)sst.refused_filters);
    COUNTER("iotad_anomalies_total", "Anomalies opened, by severity.");
    static const char *const severities[] = {"info", "warning", "critical"};
    for (int i = 0; i < 3; i++)
        tb_printf(&t, "iotad_anomalies_total{severity=\"%s\"} %llu\n", severities[i],
                  (unsigned long long)s->m.anomalies_opened[i]);
    data_dir_metrics(s, &t);
    GAUGE("iotad_start_time_seconds", "Start time of the process since the Unix epoch.");
    tb_printf(&t, "iotad_start_time_seconds %.3f\n", (double)s->started_ms / 1000.0);
    char *alert_text = NULL;
    if (alerts_metrics_text(s, &alert_text) == 0 && alert_text) tb_printf(&t, "%s", alert_text);
    free(alert_text);
    http_respond(ctx->c, 200, "text/plain; version=0.0.4", NULL, t.p, t.n);
    free(t.p);
}

void api_openapi(api_ctx *ctx)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.0.3");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "iotad API");
    cJSON_AddStringToObject(info, "version", "1");
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    const api_route *r;
    for (size_t i = 0; (r = api_route_get(i)) != NULL; i++) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(paths, r->pattern);
        if (!p) p = cJSON_AddObjectToObject(paths, r->pattern);
        char method[16];
        size_t ml = strlen(r->method);
        for (size_t k = 0; k <= ml && k < sizeof method; k++)
            method[k] = (char)(r->method[k] >= 'A' && r->method[k] <= 'Z' ? r->method[k] + 32
                                                                          : r->method[k]);
        cJSON *op = cJSON_AddObjectToObject(p, method);
        cJSON_AddStringToObject(op, "summary", r->summary);
        const char *auth = r->auth == API_AUTH_PUBLIC       ? "public"
                           : r->auth == API_AUTH_DEVICE_KEY ? "device_key"
                           : r->auth == API_AUTH_STREAM     ? "session_or_device_key"
                                                            : "session";
        cJSON_AddStringToObject(op, "x-auth", auth);
        if (r->auth == API_AUTH_SESSION) {
            cJSON *roles = cJSON_AddArrayToObject(op, "x-roles");
            for (int role = ROLE_DEVICE_OWNER; role <= ROLE_ADMIN; role++)
                if (auth_role_allows((auth_role)role, r->perm))
                    cJSON_AddItemToArray(roles,
                                         cJSON_CreateString(auth_role_name((auth_role)role)));
        }
    }
    api_json(ctx, 200, doc);
}

static const char *mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return "application/octet-stream";
    static const char *const map[][2] = {{".html", "text/html; charset=utf-8"},
                                         {".js", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},
                                         {".json", "application/json"},
                                         {".svg", "image/svg+xml"},
                                         {".png", "image/png"},
                                         {".ico", "image/x-icon"},
                                         {".woff2", "font/woff2"},
                                         {".txt", "text/plain; charset=utf-8"},
                                         {".map", "application/json"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = got;
    return 0;
}

api_static_kind api_static_target(const char *path, char *rel, size_t cap)
{
    if (!path || path[0] != '/' || strstr(path, "..") || strchr(path, '\\') || strlen(path) > 512)
        return API_STATIC_BAD;
    snprintf(rel, cap, "%s", strcmp(path, "/") == 0 ? "/index.html" : path);
    if (strncmp(rel, "/assets/", 8) == 0) return API_STATIC_ASSET;
    /* A last segment with a dot names a file ("/favicon.ico"); one without is a client-side
     * route of the single-page app ("/devices/42"), answered with index.html if missing. */
    const char *last = strrchr(rel, '/');
    return strchr(last ? last : rel, '.') ? API_STATIC_FILE : API_STATIC_ROUTE;
}

/* The dashboard loads only its own scripts (no inline script, no eval); inline styles stay
 * allowed for the UI library's injected <style> (scroll lock). */
static const char page_headers[] =
    "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\nReferrer-Policy: same-origin\r\n"
    "Content-Security-Policy: " API_CSP_DASHBOARD "\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n";

/* The precompressed variant of `file` the client accepts (file.br, else file.gz, as the
 * dashboard build writes them), read into *body: its coding, or NULL when there is none. */
static const char *read_encoded(api_ctx *ctx, const char *file, char **body, size_t *len)
{
    static const char *const enc[][2] = {{"br", ".br"}, {"gzip", ".gz"}};
    const char *accept = http_req_header(ctx->req, "Accept-Encoding");
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
        char alt[1100];
        if (!http_accepts_encoding(accept, enc[i][0])) continue;
        snprintf(alt, sizeof alt, "%s%s", file, enc[i][1]);
        if (read_file(alt, body, len) == 0) return enc[i][0];
    }
    return NULL;
}

void api_static(api_ctx *ctx)
{
    const char *path = ctx->req->path;
    char rel_buf[520];
    api_static_kind kind = api_static_target(path, rel_buf, sizeof rel_buf);
    if (kind == API_STATIC_BAD) {
        api_error(ctx, 400, "bad_request", "invalid path");
        return;
    }
    char file[1024];
    const char *rel = rel_buf;
    snprintf(file, sizeof file, "%s%s", ctx->s->cfg.web_dir, rel);
    char *body = NULL;
    size_t len = 0;
    bool asset = kind == API_STATIC_ASSET;
    const char *encoding = read_encoded(ctx, file, &body, &len);
    if (!encoding && read_file(file, &body, &len) != 0) {
        if (kind != API_STATIC_ROUTE) {
            /* plain text, never cached: a chunk of an older build asked for after an upgrade
             * must fail as a missing file (the dashboard then reloads), not be stored */
            static const char msg[] = "404 not found\n";
            http_respond(ctx->c, 404, "text/plain; charset=utf-8",
                         "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n", msg,
                         sizeof msg - 1);
            return;
        }
        /* client-side routes of the single-page app */
        snprintf(file, sizeof file, "%s/index.html", ctx->s->cfg.web_dir);
        rel = "/index.html";
        encoding = read_encoded(ctx, file, &body, &len);
        if (!encoding && read_file(file, &body, &len) != 0) {
            const char *msg = "<!doctype html><title>iotad</title><h1>iotad</h1><p>The dashboard "
                              "is not built. Run <code>make web</code>, or use the API under "
                              "<code>/api/v1</code>.</p>";
            http_respond(ctx->c, 200, "text/html; charset=utf-8", page_headers, msg, strlen(msg));
            return;
        }
    }
    char headers[1024];
    snprintf(headers, sizeof headers, "%s%s%s%sVary: Accept-Encoding\r\n",
             asset ? "Cache-Control: public, max-age=31536000, immutable\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                   : page_headers,
             encoding ? "Content-Encoding: " : "", encoding ? encoding : "",
             encoding ? "\r\n" : "");
    http_respond(ctx->c, 200, mime_type(rel), headers, body, len);
    free(body);
}
