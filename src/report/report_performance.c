/* Performance report: ingest volume and rate from the stored series (data points, and the
 * sys.messages / sys.bytes_in counters the server keeps per device), in time buckets and per
 * device; rejected messages by reason (security events in the range, plus the server's
 * counters since start); commit latency percentiles from the writer's histogram; device
 * availability from the online/offline status events; detector precision from analyst
 * verdicts (confirmed vs false_positive). */
#include "report/report_int.h"

#include "ingest/ingest.h"
#include "store/store.h"
#include "store/writer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOP_N 20
#define MAX_SERIES_PER_DEVICE 4096

typedef struct {
    char device_id[UUID_STR_LEN + 1];
    double value; /* points (volume) or availability */
    int64_t a, b; /* messages; or online ms, outages */
} dev_row;

typedef struct {
    int64_t bucket, first; /* bucket size, start of the first bucket */
    size_t nb;
    int64_t *points, *messages, *bytes;
    int64_t points_total, messages_total, bytes_total, series;
    dev_row top_volume[TOP_N];
    size_t ntop_volume;
    dev_row least_avail[TOP_N];
    size_t nleast;
    int64_t avail_devices, fully_available, outages;
    double avail_sum;
} perf_priv;

static void perf_free(void *p)
{
    perf_priv *pv = p;
    free(pv->points);
    free(pv->messages);
    free(pv->bytes);
    free(pv);
}

/* Inserts into a bounded list ordered by value (descending, or ascending when asc). */
static void top_insert(dev_row *list, size_t *n, const dev_row *r, bool asc)
{
    size_t pos = *n;
    while (pos > 0 && (asc ? r->value < list[pos - 1].value : r->value > list[pos - 1].value))
        pos--;
    if (pos >= TOP_N) return;
    size_t keep = *n < TOP_N ? *n : TOP_N - 1;
    memmove(&list[pos + 1], &list[pos], (keep - pos) * sizeof list[0]);
    list[pos] = *r;
    if (*n < TOP_N) (*n)++;
}

static void latency_section(report_build *b)
{
    writer_stats ws;
    memset(&ws, 0, sizeof ws);
    if (b->s->writer) writer_get_stats(b->s->writer, &ws);
    uint64_t total = 0;
    for (int i = 0; i <= WRITER_LATENCY_BUCKETS; i++)
        total += ws.latency_count[i];
    static const char *const cols[] = {"statistic", "ms", NULL};
    cJSON *rows =
        rdoc_section(b->doc, "commit_latency", "Ingest to durable commit latency", NULL, cols);
    rdoc_note(b->doc, "commit_latency",
              "since the server started; percentiles interpolated within histogram buckets");
    static const double qs[] = {0.5, 0.9, 0.99};
    static const char *const names[] = {"p50", "p90", "p99"};
    for (int q = 0; q < 3; q++) {
        double v = NAN;
        if (total) {
            double target = qs[q] * (double)total, cum = 0, lo = 0;
            for (int i = 0; i <= WRITER_LATENCY_BUCKETS; i++) {
                double hi = i < WRITER_LATENCY_BUCKETS ? writer_latency_bounds_ms[i] : lo * 2;
                double c = (double)ws.latency_count[i];
                if (c > 0 && cum + c >= target) {
                    v = lo + (hi - lo) * ((target - cum) / c);
                    break;
                }
                cum += c;
                lo = hi;
            }
        }
        rdoc_row(rows, "sd", names[q], v);
        char key[32];
        snprintf(key, sizeof key, "commit_latency_%s_ms", names[q]);
        rdoc_sum_num(b->doc, key, v);
    }
    rdoc_row(rows, "sd", "mean", total ? ws.latency_sum_ms / (double)total : NAN);
    rdoc_row(rows, "si", "commits", (int64_t)ws.commits);
    rdoc_row(rows, "si", "batches", (int64_t)total);
}

static int perf_begin(report_build *b)
{
    const report_params *p = &b->p;
    perf_priv *pv = calloc(1, sizeof *pv);
    if (!pv) return -1;
    b->priv = pv;
    pv->bucket = rdb_bucket_ms(p);
    pv->first = (p->from_ms / pv->bucket) * pv->bucket;
    pv->nb = (size_t)((p->to_ms - 1 - pv->first) / pv->bucket + 1);
    pv->points = calloc(pv->nb, sizeof *pv->points);
    pv->messages = calloc(pv->nb, sizeof *pv->messages);
    pv->bytes = calloc(pv->nb, sizeof *pv->bytes);
    if (!pv->points || !pv->messages || !pv->bytes) return -1;

    /* rejected messages: the security events of the range by reason */
    rq_section(b->s, p, b->doc, "rejected_by_reason", "Rejected messages by reason (range)", "bar",
               "performance.rejected_by_reason");
    rdoc_sum_int(b->doc, "rejected_messages",
                 rq_int(b->s, p, "performance.rejected_total", NULL, 0));
    /* and the server's counters since start, which also count what was not stored as events */
    static const char *const rcols[] = {"reason", "mqtt", "http", "websocket", "total", NULL};
    cJSON *rows =
        rdoc_section(b->doc, "rejected_since_start",
                     "Rejected messages by reason (server counters since start)", "bar", rcols);
    uint64_t rejected[TRANSPORT_COUNT][REJECT_COUNT];
    ingest_rejected_totals(b->s, rejected);
    for (int r = 0; r < REJECT_COUNT; r++) {
        int64_t v[TRANSPORT_COUNT];
        for (int t = 0; t < TRANSPORT_COUNT; t++)
            v[t] = (int64_t)rejected[t][r];
        rdoc_row(rows, "siiii", reject_reason_name((reject_reason)r), v[TRANSPORT_MQTT],
                 v[TRANSPORT_HTTP], v[TRANSPORT_WS],
                 v[TRANSPORT_MQTT] + v[TRANSPORT_HTTP] + v[TRANSPORT_WS]);
    }
    rdoc_chart_column(b->doc, "rejected_since_start", "total");
    latency_section(b);

    /* detector precision from analyst verdicts on the range's anomalies */
    rq_section(b->s, p, b->doc, "detector_precision", "Detector precision (analyst feedback)", NULL,
               "performance.precision");
    int64_t conf = rq_int(b->s, p, "performance.verdicts", "confirmed", 0);
    int64_t fp = rq_int(b->s, p, "performance.verdicts", "false_positive", 0);
    rdoc_sum_int(b->doc, "verdicts_confirmed", conf);
    rdoc_sum_int(b->doc, "verdicts_false_positive", fp);
    rdoc_sum_num(b->doc, "detector_precision",
                 conf + fp ? (double)conf / (double)(conf + fp) : NAN);
    return 0;
}

typedef struct {
    int64_t ids[MAX_SERIES_PER_DEVICE];
    unsigned char cls[MAX_SERIES_PER_DEVICE]; /* 0 data, 1 messages, 2 bytes, 3 other sys */
    size_t n;
} series_list;

static void metric_cb(void *arg, const char *metric, int64_t series_id)
{
    series_list *l = arg;
    if (l->n >= MAX_SERIES_PER_DEVICE) return;
    l->ids[l->n] = series_id;
    l->cls[l->n] = strncmp(metric, "sys.", 4) != 0       ? 0
                   : strcmp(metric, "sys.messages") == 0 ? 1
                   : strcmp(metric, "sys.bytes_in") == 0 ? 2
                                                         : 3;
    l->n++;
}

typedef struct {
    perf_priv *pv;
    int cls;
    int64_t total;
} rollup_acc;

static void rollup_cb(void *arg, int64_t bucket_ts, double min, double max, double avg,
                      uint64_t count)
{
    (void)min;
    (void)max;
    rollup_acc *a = arg;
    perf_priv *pv = a->pv;
    if (bucket_ts < pv->first) return;
    size_t i = (size_t)((bucket_ts - pv->first) / pv->bucket);
    if (i >= pv->nb) return;
    int64_t v = a->cls == 0 ? (int64_t)count : (int64_t)llround(avg * (double)count);
    if (a->cls == 0)
        pv->points[i] += v;
    else if (a->cls == 1)
        pv->messages[i] += v;
    else
        pv->bytes[i] += v;
    a->total += v;
}

static void availability(report_build *b, const char *device_id)
{
    perf_priv *pv = b->priv;
    int64_t created = rq_int(b->s, &b->p, "device.created_at", device_id, b->p.from_ms);
    int64_t now = util_now_ms();
    int64_t start = created > b->p.from_ms ? created : b->p.from_ms;
    int64_t end = b->p.to_ms < now ? b->p.to_ms : now;
    if (end <= start) return;
    char kind[32];
    bool online = rq_text(b->s, &b->p, "device.status_before", device_id, start, kind,
                          sizeof kind) == STORE_OK &&
                  strcmp(kind, "online") == 0;
    cJSON *changes = rq_table(b->s, &b->p, "device.status_changes", device_id, start, end);
    if (!changes) return;
    int64_t t = start, up = 0, outages = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(changes, "rows"))
    {
        int64_t ts = (int64_t)cJSON_GetNumberValue(cJSON_GetArrayItem(row, 0));
        const char *k = cJSON_GetStringValue(cJSON_GetArrayItem(row, 1));
        bool on = k && strcmp(k, "online") == 0;
        if (online) up += ts - t;
        if (online && !on) outages++;
        online = on;
        t = ts;
    }
    cJSON_Delete(changes);
    if (online) up += end - t;
    double avail = (double)up / (double)(end - start);
    pv->avail_devices++;
    pv->avail_sum += avail;
    pv->outages += outages;
    if (avail >= 0.9999) pv->fully_available++;
    dev_row r = {.value = avail, .a = up, .b = outages};
    snprintf(r.device_id, sizeof r.device_id, "%s", device_id);
    top_insert(pv->least_avail, &pv->nleast, &r, true);
}

static int perf_device(report_build *b, const char *device_id)
{
    perf_priv *pv = b->priv;
    series_list *l = malloc(sizeof *l);
    if (!l) return -1;
    l->n = 0;
    STORE_TS(b->s->ts)->list_metrics(b->s->ts, device_id, metric_cb, l);
    int64_t points = 0, messages = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->cls[i] == 3) continue;
        rollup_acc a = {.pv = pv, .cls = l->cls[i]};
        if (STORE_TS(b->s->ts)->rollup(b->s->ts, l->ids[i], b->p.from_ms, b->p.to_ms, pv->bucket,
                                       rollup_cb, &a) < 0)
            continue;
        if (l->cls[i] == 0) {
            points += a.total;
            if (a.total) pv->series++;
        } else if (l->cls[i] == 1) {
            messages += a.total;
        } else {
            pv->bytes_total += a.total;
        }
    }
    free(l);
    pv->points_total += points;
    pv->messages_total += messages;
    if (points || messages) {
        dev_row r = {.value = (double)points, .a = messages};
        snprintf(r.device_id, sizeof r.device_id, "%s", device_id);
        top_insert(pv->top_volume, &pv->ntop_volume, &r, false);
    }
    availability(b, device_id);
    return 0;
}

static int perf_finish(report_build *b)
{
    perf_priv *pv = b->priv;
    cJSON *doc = b->doc;
    double span_s = (double)(b->p.to_ms - b->p.from_ms) / 1000.0;
    rdoc_sum_int(doc, "points_stored", pv->points_total);
    rdoc_sum_num(doc, "points_per_second", (double)pv->points_total / span_s);
    rdoc_sum_int(doc, "messages", pv->messages_total);
    rdoc_sum_int(doc, "bytes_in", pv->bytes_total);
    rdoc_sum_int(doc, "series_with_data", pv->series);
    int64_t peak = 0;
    static const char *const vcols[] = {"time", "points", "messages", "bytes_in", NULL};
    cJSON *rows = rdoc_section(doc, "ingest_volume", "Ingest volume over time", "line", vcols);
    for (size_t i = 0; i < pv->nb; i++) {
        if (!pv->points[i] && !pv->messages[i] && !pv->bytes[i]) continue;
        char t[32];
        util_rfc3339(pv->first + (int64_t)i * pv->bucket, t);
        rdoc_row(rows, "siii", t, pv->points[i], pv->messages[i], pv->bytes[i]);
        if (pv->points[i] > peak) peak = pv->points[i];
    }
    rdoc_sum_num(doc, "peak_points_per_second", (double)peak / ((double)pv->bucket / 1000.0));
    char note[96];
    snprintf(note, sizeof note, "bucket %lld s", (long long)(pv->bucket / 1000));
    rdoc_note(doc, "ingest_volume", note);
    static const char *const tcols[] = {"device_id", "device_name", "points", "messages", NULL};
    rows = rdoc_section(doc, "top_devices_by_volume", "Devices by ingest volume (top 20)", "bar",
                        tcols);
    for (size_t i = 0; i < pv->ntop_volume; i++) {
        char name[260];
        rq_text(b->s, &b->p, "device.name", pv->top_volume[i].device_id, 0, name, sizeof name);
        rdoc_row(rows, "ssii", pv->top_volume[i].device_id, name, (int64_t)pv->top_volume[i].value,
                 pv->top_volume[i].a);
    }
    static const char *const acols[] = {"device_id",      "device_name", "availability_pct",
                                        "online_seconds", "outages",     NULL};
    rows = rdoc_section(doc, "least_available_devices",
                        "Device availability (least available first)", "bar", acols);
    for (size_t i = 0; i < pv->nleast; i++) {
        char name[260];
        rq_text(b->s, &b->p, "device.name", pv->least_avail[i].device_id, 0, name, sizeof name);
        rdoc_row(rows, "ssdii", pv->least_avail[i].device_id, name,
                 round(pv->least_avail[i].value * 10000.0) / 100.0, pv->least_avail[i].a / 1000,
                 pv->least_avail[i].b);
    }
    rdoc_note(doc, "least_available_devices",
              "from online/offline status events, over the range (from registration on)");
    rdoc_sum_int(doc, "devices", pv->avail_devices);
    rdoc_sum_num(doc, "mean_availability_pct",
                 pv->avail_devices
                     ? round(pv->avail_sum / (double)pv->avail_devices * 10000.0) / 100.0
                     : NAN);
    rdoc_sum_int(doc, "devices_fully_available", pv->fully_available);
    rdoc_sum_int(doc, "outages", pv->outages);
    return 0;
}

const report_ops report_performance_ops = {"Performance report", perf_begin, perf_device,
                                           perf_finish, perf_free};
