/* Security report: anomalies by severity, device, type and time; incidents opened/resolved
 * with time to acknowledge/resolve (when the incident table records them); security events
 * (auth failures, ACL violations, bad payloads) by kind, device and source address;
 * connection floods from the sys.connects series (connects per 10 s interval above a
 * threshold); alerts by channel with failures. The aggregates are the store's report queries
 * (security.*). */
#include "report/report_int.h"

#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD_TOP 20

typedef struct {
    char device_id[UUID_STR_LEN + 1];
    int64_t connects, peak, flood_intervals, first_flood_ms;
} flood_row;

typedef struct {
    int64_t connects_total, flood_intervals, devices_with_floods;
    flood_row top[FLOOD_TOP]; /* by flood intervals, then peak */
    size_t ntop;
} sec_priv;

static void incidents_section(report_build *b)
{
    cJSON *doc = b->doc;
    static const char *const cols[] = {"measure", "value", NULL};
    int64_t opened = rq_int(b->s, &b->p, "security.incidents_opened", NULL, 0);
    int64_t resolved = rq_int(b->s, &b->p, "security.incidents_resolved", NULL, 0);
    int64_t open_now = opened - resolved;
    cJSON *rows = rdoc_section(doc, "incidents", "Incidents", NULL, cols);
    rdoc_row(rows, "si", "opened", opened);
    rdoc_row(rows, "si", "resolved", resolved);
    rdoc_row(rows, "si", "still open", open_now);
    rdoc_sum_int(doc, "incidents_opened", opened);
    rdoc_sum_int(doc, "incidents_resolved", resolved);
    static const char *const labels[2] = {"time_to_acknowledge", "time_to_resolve"};
    for (int k = 0; k < 2; k++) {
        char key[64], q[64];
        snprintf(q, sizeof q, "security.%s_mean", labels[k]);
        double mean = rq_num(b->s, &b->p, q, NAN);
        snprintf(q, sizeof q, "security.%s_max", labels[k]);
        double max = rq_num(b->s, &b->p, q, NAN);
        snprintf(key, sizeof key, "mean_%s_s", labels[k]);
        rdoc_sum_num(doc, key, mean);
        snprintf(key, sizeof key, "mean %s (s)", labels[k]);
        for (char *c = key; *c; c++)
            if (*c == '_') *c = ' ';
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, cJSON_CreateString(key));
        cJSON_AddItemToArray(row, isfinite(mean) ? cJSON_CreateNumber(mean) : cJSON_CreateNull());
        cJSON_AddItemToArray(rows, row);
        snprintf(key, sizeof key, "max %s (s)", labels[k]);
        for (char *c = key; *c; c++)
            if (*c == '_') *c = ' ';
        row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, cJSON_CreateString(key));
        cJSON_AddItemToArray(row, isfinite(max) ? cJSON_CreateNumber(max) : cJSON_CreateNull());
        cJSON_AddItemToArray(rows, row);
    }
}

static void alerts_section(report_build *b)
{
    cJSON *doc = b->doc;
    rq_section(b->s, &b->p, doc, "alerts_by_channel", "Alerts by channel", "bar",
               "security.alerts_by_channel");
    rdoc_sum_int(doc, "alerts_sent", rq_int(b->s, &b->p, "security.alerts_sent", NULL, 0));
    rdoc_sum_int(doc, "alerts_failed", rq_int(b->s, &b->p, "security.alerts_failed", NULL, 0));
}

static int sec_begin(report_build *b)
{
    server *srv = b->s;
    cJSON *doc = b->doc;
    const report_params *p = &b->p;
    b->priv = calloc(1, sizeof(sec_priv));
    if (!b->priv) return -1;
    rdoc_sum_int(doc, "anomalies", rq_int(srv, p, "security.anomalies", NULL, 0));
    static const char *const sev[] = {"critical", "warning", "info"};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "anomalies_%s", sev[i]);
        rdoc_sum_int(doc, key, rq_int(srv, p, "security.anomalies_of_severity", sev[i], 0));
    }
    rq_section(srv, p, doc, "anomalies_by_severity", "Anomalies by severity", "bar",
               "security.anomalies_by_severity");
    rq_section(srv, p, doc, "anomalies_by_device", "Anomalies by device (top 20)", "bar",
               "security.anomalies_by_device");
    rq_section(srv, p, doc, "anomalies_by_type", "Anomalies by type and metric", "bar",
               "security.anomalies_by_type");
    rq_section(srv, p, doc, "anomalies_over_time", "Anomalies over time", "line",
               "security.anomalies_over_time");

    incidents_section(b);

    static const char *const kinds[] = {"auth_failure", "revoked_key", "unknown_device",
                                        "acl_violation", "bad_payload"};
    int64_t kc[5];
    for (int i = 0; i < 5; i++)
        kc[i] = rq_int(srv, p, "security.events_of_kind", kinds[i], 0);
    rdoc_sum_int(doc, "auth_failures", kc[0] + kc[1] + kc[2]);
    rdoc_sum_int(doc, "acl_violations", kc[3]);
    rdoc_sum_int(doc, "bad_payloads", kc[4]);
    static const char *const ev_cols[] = {"kind", "events", NULL};
    cJSON *rows = rdoc_section(doc, "security_events", "Security events by kind", "bar", ev_cols);
    for (int i = 0; i < 5; i++)
        rdoc_row(rows, "si", kinds[i], kc[i]);
    rq_section(srv, p, doc, "top_offending_devices", "Top offending devices", "bar",
               "security.top_offending_devices");
    rdoc_chart_column(doc, "top_offending_devices", "events");
    rq_section(srv, p, doc, "top_offending_addresses", "Top offending source addresses", "bar",
               "security.top_offending_addresses");
    rdoc_sum_int(doc, "connection_flood_anomalies",
                 rq_int(srv, p, "security.flood_anomalies", NULL, 0));
    alerts_section(b);
    return 0;
}

typedef struct {
    flood_row r;
    int64_t threshold;
} flood_acc;

static void connects_cb(void *arg, int64_t ts, double v)
{
    flood_acc *a = arg;
    int64_t n = (int64_t)v;
    a->r.connects += n;
    if (n > a->r.peak) a->r.peak = n;
    if (n >= a->threshold) {
        if (a->r.flood_intervals == 0) a->r.first_flood_ms = ts;
        a->r.flood_intervals++;
    }
}

static bool flood_before(const flood_row *x, const flood_row *y)
{
    if (x->flood_intervals != y->flood_intervals) return x->flood_intervals > y->flood_intervals;
    return x->peak > y->peak;
}

static int sec_device(report_build *b, const char *device_id)
{
    sec_priv *pv = b->priv;
    int64_t sid;
    if (STORE_TS(b->s->ts)->lookup(b->s->ts, device_id, "sys.connects", &sid) != 0) return 0;
    flood_acc a = {.threshold = b->p.flood_threshold};
    snprintf(a.r.device_id, sizeof a.r.device_id, "%s", device_id);
    if (STORE_TS(b->s->ts)->query(b->s->ts, sid, b->p.from_ms, b->p.to_ms, 0, connects_cb, &a,
                                  NULL) < 0)
        return 0; /* logged by the store; the device counts as no data */
    pv->connects_total += a.r.connects;
    pv->flood_intervals += a.r.flood_intervals;
    if (a.r.flood_intervals > 0) pv->devices_with_floods++;
    if (a.r.connects == 0) return 0;
    /* bounded top list, insertion sort */
    size_t pos = pv->ntop;
    while (pos > 0 && flood_before(&a.r, &pv->top[pos - 1]))
        pos--;
    if (pos >= FLOOD_TOP) return 0;
    size_t n = pv->ntop < FLOOD_TOP ? pv->ntop : FLOOD_TOP - 1;
    memmove(&pv->top[pos + 1], &pv->top[pos], (n - pos) * sizeof pv->top[0]);
    pv->top[pos] = a.r;
    if (pv->ntop < FLOOD_TOP) pv->ntop++;
    return 0;
}

static int sec_finish(report_build *b)
{
    sec_priv *pv = b->priv;
    static const char *const cols[] = {"device_id",       "device_name", "connects", "peak_per_10s",
                                       "flood_intervals", "first_flood", NULL};
    cJSON *rows = rdoc_section(b->doc, "connection_floods",
                               "Connections per device (sys.connects, floods first)", "bar", cols);
    for (size_t i = 0; i < pv->ntop; i++) {
        char name[260] = "", first[32] = "";
        rq_text(b->s, &b->p, "device.name", pv->top[i].device_id, 0, name, sizeof name);
        if (pv->top[i].flood_intervals) util_rfc3339(pv->top[i].first_flood_ms, first);
        rdoc_row(rows, "ssiiis", pv->top[i].device_id, name, pv->top[i].connects, pv->top[i].peak,
                 pv->top[i].flood_intervals, first[0] ? first : NULL);
    }
    char note[128];
    snprintf(note, sizeof note, "a flood is a 10 s interval with at least %lld connects",
             (long long)b->p.flood_threshold);
    rdoc_note(b->doc, "connection_floods", note);
    rdoc_sum_int(b->doc, "connects", pv->connects_total);
    rdoc_sum_int(b->doc, "connection_flood_intervals", pv->flood_intervals);
    rdoc_sum_int(b->doc, "devices_with_connection_floods", pv->devices_with_floods);
    rdoc_sum_int(b->doc, "flood_threshold_per_10s", b->p.flood_threshold);
    return 0;
}

const report_ops report_security_ops = {"Security report", sec_begin, sec_device, sec_finish, free};
