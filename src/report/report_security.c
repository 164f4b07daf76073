/* Security report: anomalies by severity, device, type and time; incidents opened/resolved
 * with time to acknowledge/resolve (when the incident table records them); security events
 * (auth failures, ACL violations, bad payloads) by kind, device and source address;
 * connection floods from the sys.connects series (connects per 10 s interval above a
 * threshold); alerts by channel with failures. Tables another module may not have created
 * (or columns it may not have) are reported as zeros with a note. */
#include "report/report_int.h"

#include "store/tsdb.h"

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

static const char ANOMALY_RANGE[] =
    "a.detected_at >= :from AND a.detected_at < :to AND a.device_id IN " RDB_DEVSET;
static const char EVENT_RANGE[] =
    "e.category = 'security' AND e.ts >= :from AND e.ts < :to AND (e.device_id IN " RDB_DEVSET
    " OR (e.device_id IS NULL AND :unfiltered))";

/* The device filter for a table of another module: through its device_id and/or the
 * anomaly it refers to, whichever columns it has (with neither, only unfiltered reports
 * count its rows). */
static void device_condition(sqlite3 *db, const char *table, const char *alias, char *out,
                             size_t cap)
{
    bool dev = rdb_has_column(db, table, "device_id");
    bool anom = rdb_has_column(db, table, "anomaly_id");
    snprintf(out, cap, "(:unfiltered%s%s%s%s%s%s)", dev ? " OR " : "", dev ? alias : "",
             dev ? ".device_id IN " RDB_DEVSET : "", anom ? " OR " : "", anom ? alias : "",
             anom ? ".anomaly_id IN (SELECT id FROM anomalies WHERE device_id IN " RDB_DEVSET ")"
                  : "");
}

static void incidents_section(report_build *b)
{
    sqlite3 *db = b->s->db;
    cJSON *doc = b->doc;
    static const char *const cols[] = {"measure", "value", NULL};
    if (!rdb_has_table(db, "incidents") || !rdb_has_column(db, "incidents", "created_at")) {
        rdoc_section(doc, "incidents", "Incidents", NULL, cols);
        rdoc_note(doc, "incidents", "no incident table");
        rdoc_sum_int(doc, "incidents_opened", 0);
        rdoc_sum_int(doc, "incidents_resolved", 0);
        return;
    }
    bool has_status = rdb_has_column(db, "incidents", "status");
    const char *ack_col = rdb_has_column(db, "incidents", "acknowledged_at") ? "acknowledged_at"
                          : rdb_has_column(db, "incidents", "acked_at")      ? "acked_at"
                                                                             : NULL;
    const char *res_col = rdb_has_column(db, "incidents", "resolved_at") ? "resolved_at" : NULL;
    char devcond[1024], where[1400];
    device_condition(db, "incidents", "i", devcond, sizeof devcond);
    snprintf(where, sizeof where, "i.created_at >= :from AND i.created_at < :to AND %s", devcond);
    char sql[3072];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM incidents i WHERE %s", where);
    int64_t opened = rdb_int(db, &b->p, sql, 0);
    int64_t resolved = 0, open_now = 0;
    if (has_status) {
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM incidents i WHERE %s AND i.status IN ('resolved','closed')",
                 where);
        resolved = rdb_int(db, &b->p, sql, 0);
        open_now = opened - resolved;
    }
    cJSON *rows = rdoc_section(doc, "incidents", "Incidents", NULL, cols);
    rdoc_row(rows, "si", "opened", opened);
    rdoc_row(rows, "si", "resolved", resolved);
    rdoc_row(rows, "si", "still open", open_now);
    rdoc_sum_int(doc, "incidents_opened", opened);
    rdoc_sum_int(doc, "incidents_resolved", resolved);
    const char *const cols_names[2] = {ack_col, res_col};
    const char *const labels[2] = {"time_to_acknowledge", "time_to_resolve"};
    for (int k = 0; k < 2; k++) {
        char key[64];
        if (!cols_names[k]) {
            snprintf(key, sizeof key, "mean_%s_s", labels[k]);
            rdoc_sum_num(doc, key, NAN);
            continue;
        }
        snprintf(sql, sizeof sql,
                 "SELECT AVG(i.%s - i.created_at) / 1000.0 FROM incidents i WHERE %s AND i.%s IS "
                 "NOT NULL",
                 cols_names[k], where, cols_names[k]);
        double mean = rdb_num(db, &b->p, sql, NAN);
        snprintf(sql, sizeof sql,
                 "SELECT MAX(i.%s - i.created_at) / 1000.0 FROM incidents i WHERE %s AND i.%s IS "
                 "NOT NULL",
                 cols_names[k], where, cols_names[k]);
        double max = rdb_num(db, &b->p, sql, NAN);
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
    if (!ack_col || !res_col)
        rdoc_note(doc, "incidents",
                  "time to acknowledge/resolve needs acknowledged_at/resolved_at on incidents");
}

static void alerts_section(report_build *b)
{
    sqlite3 *db = b->s->db;
    cJSON *doc = b->doc;
    static const char *const cols[] = {"channel", "total", "sent", "failed", "pending", NULL};
    bool ok = rdb_has_table(db, "alerts") && rdb_has_column(db, "alerts", "status");
    const char *chan = !ok                                       ? NULL
                       : rdb_has_column(db, "alerts", "channel") ? "channel"
                       : rdb_has_column(db, "alerts", "method")  ? "method"
                                                                 : NULL;
    const char *tcol = !ok                                          ? NULL
                       : rdb_has_column(db, "alerts", "created_at") ? "created_at"
                       : rdb_has_column(db, "alerts", "sent_at")    ? "sent_at"
                                                                    : NULL;
    if (!chan || !tcol) {
        rdoc_section(doc, "alerts_by_channel", "Alerts by channel", "bar", cols);
        rdoc_note(doc, "alerts_by_channel", "no alert table");
        rdoc_sum_int(doc, "alerts_sent", 0);
        rdoc_sum_int(doc, "alerts_failed", 0);
        return;
    }
    char devcond[1024], where[1400], sql[3072];
    device_condition(db, "alerts", "al", devcond, sizeof devcond);
    snprintf(where, sizeof where, "al.%s >= :from AND al.%s < :to AND %s", tcol, tcol, devcond);
    snprintf(sql, sizeof sql,
             "SELECT al.%s AS channel, COUNT(*) AS total, "
             "SUM(al.status IN ('sent','delivered')) AS sent, "
             "SUM(al.status IN ('failed','dead','error')) AS failed, "
             "SUM(al.status NOT IN ('sent','delivered','failed','dead','error')) AS pending "
             "FROM alerts al WHERE %s GROUP BY al.%s ORDER BY total DESC",
             chan, where, chan);
    rdb_section(db, &b->p, doc, "alerts_by_channel", "Alerts by channel", "bar", sql);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM alerts al WHERE %s AND al.status IN ('sent','delivered')",
             where);
    rdoc_sum_int(doc, "alerts_sent", rdb_int(db, &b->p, sql, 0));
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM alerts al WHERE %s AND al.status IN ('failed','dead','error')",
             where);
    rdoc_sum_int(doc, "alerts_failed", rdb_int(db, &b->p, sql, 0));
}

static int sec_begin(report_build *b)
{
    sqlite3 *db = b->s->db;
    cJSON *doc = b->doc;
    const report_params *p = &b->p;
    b->priv = calloc(1, sizeof(sec_priv));
    if (!b->priv) return -1;
    char sql[4096];

    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM anomalies a WHERE %s", ANOMALY_RANGE);
    rdoc_sum_int(doc, "anomalies", rdb_int(db, p, sql, 0));
    static const char *const sev[] = {"critical", "warning", "info"};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM anomalies a WHERE %s AND a.severity = '%s'",
                 ANOMALY_RANGE, sev[i]);
        snprintf(key, sizeof key, "anomalies_%s", sev[i]);
        rdoc_sum_int(doc, key, rdb_int(db, p, sql, 0));
    }
    snprintf(sql, sizeof sql,
             "WITH s(severity, o) AS (VALUES('critical', 0), ('warning', 1), ('info', 2)) "
             "SELECT s.severity, (SELECT COUNT(*) FROM anomalies a WHERE %s AND a.severity = "
             "s.severity) AS anomalies, (SELECT COUNT(*) FROM anomalies a WHERE %s AND "
             "a.severity = s.severity AND a.resolved = 0) AS open FROM s ORDER BY s.o",
             ANOMALY_RANGE, ANOMALY_RANGE);
    rdb_section(db, p, doc, "anomalies_by_severity", "Anomalies by severity", "bar", sql);
    snprintf(sql, sizeof sql,
             "SELECT a.device_id, d.name AS device_name, COUNT(*) AS anomalies, "
             "SUM(a.severity = 'critical') AS critical, SUM(a.severity = 'warning') AS warning, "
             "SUM(a.severity = 'info') AS info FROM anomalies a JOIN devices d ON d.id = "
             "a.device_id WHERE %s GROUP BY a.device_id ORDER BY anomalies DESC, a.device_id "
             "LIMIT 20",
             ANOMALY_RANGE);
    rdb_section(db, p, doc, "anomalies_by_device", "Anomalies by device (top 20)", "bar", sql);
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN a.metric LIKE 'sys.%%' THEN 'security' WHEN a.rule_id IS NOT NULL "
             "THEN 'rule' ELSE 'detectors' END AS type, COALESCE(a.metric, '') AS metric, "
             "COUNT(*) AS anomalies FROM anomalies a WHERE %s GROUP BY 1, 2 ORDER BY anomalies "
             "DESC, type, metric LIMIT 30",
             ANOMALY_RANGE);
    rdb_section(db, p, doc, "anomalies_by_type", "Anomalies by type and metric", "bar", sql);
    snprintf(sql, sizeof sql,
             "SELECT strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (a.detected_at / :bucket) * :bucket / "
             "1000, 'unixepoch') AS time, COUNT(*) AS anomalies, SUM(a.severity = 'critical') "
             "AS critical FROM anomalies a WHERE %s GROUP BY a.detected_at / :bucket ORDER BY 1",
             ANOMALY_RANGE);
    rdb_section(db, p, doc, "anomalies_over_time", "Anomalies over time", "line", sql);

    incidents_section(b);

    static const char *const kinds[] = {"auth_failure", "revoked_key", "unknown_device",
                                        "acl_violation", "bad_payload"};
    int64_t kc[5];
    for (int i = 0; i < 5; i++) {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM device_events e WHERE %s AND e.kind = '%s'",
                 EVENT_RANGE, kinds[i]);
        kc[i] = rdb_int(db, p, sql, 0);
    }
    rdoc_sum_int(doc, "auth_failures", kc[0] + kc[1] + kc[2]);
    rdoc_sum_int(doc, "acl_violations", kc[3]);
    rdoc_sum_int(doc, "bad_payloads", kc[4]);
    static const char *const ev_cols[] = {"kind", "events", NULL};
    cJSON *rows = rdoc_section(doc, "security_events", "Security events by kind", "bar", ev_cols);
    for (int i = 0; i < 5; i++)
        rdoc_row(rows, "si", kinds[i], kc[i]);
    snprintf(sql, sizeof sql,
             "SELECT e.device_id, COALESCE(d.name, '') AS device_name, COUNT(*) AS events, "
             "SUM(e.kind IN ('auth_failure','revoked_key','unknown_device')) AS auth_failures, "
             "SUM(e.kind = 'acl_violation') AS acl_violations, SUM(e.kind = 'bad_payload') AS "
             "bad_payloads, (SELECT COUNT(*) FROM anomalies a WHERE a.device_id = e.device_id AND "
             "a.detected_at >= :from AND a.detected_at < :to) AS anomalies "
             "FROM device_events e LEFT JOIN devices d ON d.id = e.device_id WHERE %s AND "
             "e.device_id IS NOT NULL GROUP BY e.device_id ORDER BY events DESC, e.device_id "
             "LIMIT 10",
             EVENT_RANGE);
    rdb_section(db, p, doc, "top_offending_devices", "Top offending devices", "bar", sql);
    rdoc_chart_column(doc, "top_offending_devices", "events");
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN substr(e.peer, 1, 1) = '[' THEN substr(e.peer, 2, instr(e.peer, "
             "']') - 2) WHEN instr(e.peer, ':') > 0 THEN substr(e.peer, 1, instr(e.peer, ':') - "
             "1) ELSE e.peer END AS address, COUNT(*) AS events, "
             "SUM(e.kind IN ('auth_failure','revoked_key','unknown_device')) AS auth_failures, "
             "SUM(e.kind = 'acl_violation') AS acl_violations, SUM(e.kind = 'bad_payload') AS "
             "bad_payloads, COUNT(DISTINCT e.device_id) AS devices, "
             "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', MIN(e.ts) / 1000, 'unixepoch') AS first_seen, "
             "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', MAX(e.ts) / 1000, 'unixepoch') AS last_seen "
             "FROM device_events e WHERE %s AND e.peer IS NOT NULL AND e.peer != '' "
             "GROUP BY 1 ORDER BY events DESC, address LIMIT 10",
             EVENT_RANGE);
    rdb_section(db, p, doc, "top_offending_addresses", "Top offending source addresses", "bar",
                sql);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM anomalies a WHERE %s AND a.metric = 'sys.connects'",
             ANOMALY_RANGE);
    rdoc_sum_int(doc, "connection_flood_anomalies", rdb_int(db, p, sql, 0));
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
    if (tsdb_series_lookup(b->s->ts, device_id, "sys.connects", &sid) != 0) return 0;
    flood_acc a = {.threshold = b->p.flood_threshold};
    snprintf(a.r.device_id, sizeof a.r.device_id, "%s", device_id);
    if (tsdb_query(b->s->ts, sid, b->p.from_ms, b->p.to_ms, 0, connects_cb, &a, NULL) < 0)
        return 0; /* logged by tsdb; the device counts as no data */
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
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(b->s->db, "SELECT name FROM devices WHERE id = ?", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(st, 1, pv->top[i].device_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW)
                snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
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
