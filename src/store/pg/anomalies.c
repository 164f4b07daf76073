/* Anomalies (table anomalies; its identity column seq is the storage sequence). */
#include "store/pg/pg_int.h"

#include <stdio.h>

#define ANOMALY_COLUMNS                                                                            \
    "a.id, a.device_id, d.name AS device_name, a.metric, a.detected_at, a.updated_at, "            \
    "a.severity, a.description, a.details AS details_json, a.resolved AS resolved_bool, "          \
    "a.resolved_at, a.verdict, a.rule_id, a.flapping AS flapping_bool, inc.id AS incident_id, "    \
    "inc.status AS incident_status, inc.title AS incident_title"
/* The incident an anomaly is in: its open one (at most one), else the latest resolved one. */
#define ANOMALY_FROM                                                                               \
    " FROM anomalies a JOIN devices d ON d.id = a.device_id LEFT JOIN incidents inc ON inc.id = "  \
    "(SELECT ia.incident_id FROM incident_anomalies ia JOIN incidents i ON i.id = "                \
    "ia.incident_id WHERE ia.anomaly_id = a.id ORDER BY i.status = 'resolved', i.created_at DESC " \
    "LIMIT 1) "

static cJSON *get(store *st, const char *id, const char *owner)
{
    bool found;
    cJSON *a = pg_row_json(PG(st), &found,
                           "SELECT " ANOMALY_COLUMNS ANOMALY_FROM
                           "WHERE a.id = $1 AND ($2 = '' OR d.owner_id = $3)",
                           "sss", id, owner, owner);
    return pq_found(a, found);
}

static cJSON *list(store *st, const store_anomaly_filter *f, int64_t *total)
{
    const char *where =
        "WHERE a.detected_at >= $1 AND a.detected_at < $2 AND ($3 = '' OR a.device_id = $4)"
        " AND ($5 = '' OR a.severity = $6) AND ($7 < 0 OR a.resolved = $8) AND "
        "($9 = '' OR a.metric = $10) AND ($11 = '' OR d.owner_id = $12)";
    char sql[2048];
    int64_t res = f->resolved;
    snprintf(sql, sizeof sql,
             "SELECT " ANOMALY_COLUMNS ANOMALY_FROM
             "%s ORDER BY a.detected_at DESC LIMIT $13 OFFSET $14",
             where);
    cJSON *rows = pg_rows_json(PG(st), sql, "iissssiissssii", f->from_ms, f->to_ms, f->device_id,
                               f->device_id, f->severity, f->severity, res, res, f->metric,
                               f->metric, f->owner, f->owner, f->limit, f->offset);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM anomalies a JOIN devices d ON d.id = a.device_id %s", where);
    *total =
        pg_intf(PG(st), 0, sql, "iissssiissss", f->from_ms, f->to_ms, f->device_id, f->device_id,
                f->severity, f->severity, res, res, f->metric, f->metric, f->owner, f->owner);
    return rows;
}

static cJSON *context(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT a.device_id, COALESCE(a.metric, '') AS metric, a.severity, "
                           "a.detected_at, d.type, COALESCE(d.owner_id, '') AS owner_id "
                           "FROM anomalies a JOIN devices d ON d.id = a.device_id WHERE a.id = $1",
                           "s", id);
    return pq_found(r, found);
}

static int64_t recent_count(store *st, const char *device_id, const char *metric, int64_t since_ms,
                            const char *except_id, bool flapping_only)
{
    return pg_intf(PG(st), 0,
                   flapping_only
                       ? "SELECT COUNT(*) FROM anomalies WHERE device_id = $1 AND "
                         "COALESCE(metric, '') = $2 AND detected_at > $3 AND id != $4 AND "
                         "flapping = 1"
                       : "SELECT COUNT(*) FROM anomalies WHERE device_id = $1 AND "
                         "COALESCE(metric, '') = $2 AND detected_at > $3 AND id != $4",
                   "ssis", device_id, metric, since_ms, except_id);
}

static int set_flapping(store *st, const char *id)
{
    return pq_rc(
        pg_execf(PG(st), NULL, "UPDATE anomalies SET flapping = 1 WHERE id = $1", "s", id));
}

static cJSON *brief(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT a.id, a.device_id, d.name AS device_name, a.severity, "
                           "a.description FROM anomalies a JOIN devices d ON d.id = a.device_id "
                           "WHERE a.id = $1",
                           "s", id);
    return pq_found(r, found);
}

static cJSON *event_row(store *st, const char *id)
{
    bool found;
    cJSON *r = pg_row_json(PG(st), &found,
                           "SELECT id, device_id, metric, detected_at, updated_at, severity, "
                           "description, details AS details_json, resolved AS resolved_bool, "
                           "resolved_at, verdict, rule_id FROM anomalies WHERE id = $1",
                           "s", id);
    return pq_found(r, found);
}

static int open_anomaly(store *st, const store_anomaly *a, bool *inserted)
{
    int64_t changes = 0;
    int rc =
        pg_execf(PG(st), &changes,
                 "INSERT INTO anomalies(id, device_id, metric, detected_at, updated_at,"
                 " severity, description, details, rule_id) "
                 "SELECT $1, $2, $3, $4::bigint, $5::bigint, $6, $7, $8, NULLIF($9::bigint, 0) "
                 "WHERE EXISTS (SELECT 1 FROM devices WHERE id = $10) "
                 "ON CONFLICT(id) DO NOTHING",
                 "sssiisssis", a->id, a->device_id, a->metric, a->ts_ms, a->ts_ms, a->severity,
                 a->description, a->details ? a->details : "{}", a->rule_id, a->device_id);
    *inserted = rc == 0 && changes > 0;
    return pq_rc(rc);
}

static int update(store *st, const char *id, int64_t ts_ms, const char *details,
                  const char *severity)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE anomalies SET updated_at = $1, details = $2, "
                 "severity = CASE WHEN $3 = 'critical' OR severity = 'critical' THEN 'critical'"
                 " WHEN $4 = 'warning' OR severity = 'warning' THEN 'warning' ELSE 'info' END "
                 "WHERE id = $5",
                 "issss", ts_ms, details ? details : "{}", severity, severity, id));
}

static int close_anomaly(store *st, const char *id, int64_t ts_ms)
{
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE anomalies SET updated_at = $1, details = (COALESCE(iotad_jsonb(details), "
                 "'{}'::jsonb) || jsonb_build_object('ended', 1, 'ended_at', $2::bigint))::text "
                 "WHERE id = $3",
                 "iis", ts_ms, ts_ms, id));
}

static int resolve(store *st, const char *id, int64_t now_ms, const char *verdict)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, "
                          "$1), verdict = COALESCE($2, verdict) WHERE id = $3",
                          "ibs", now_ms, verdict, id));
}

static int64_t seq_of(store *st, const char *id)
{
    return pg_intf(PG(st), 0, "SELECT seq FROM anomalies WHERE id = $1", "s", id);
}

static int64_t max_seq(store *st)
{
    return pg_intf(PG(st), 0, "SELECT COALESCE(MAX(seq), 0) FROM anomalies", "");
}

static cJSON *ids_after(store *st, int64_t seq, int64_t limit)
{
    return pg_rows_json(PG(st), "SELECT id FROM anomalies WHERE seq > $1 ORDER BY seq LIMIT $2",
                        "ii", seq, limit);
}

const store_anomalies_ops pg_anomalies_ops = {
    .get = get,
    .list = list,
    .context = context,
    .recent_count = recent_count,
    .set_flapping = set_flapping,
    .brief = brief,
    .event_row = event_row,
    .open = open_anomaly,
    .update = update,
    .close = close_anomaly,
    .resolve = resolve,
    .seq_of = seq_of,
    .max_seq = max_seq,
    .ids_after = ids_after,
};
