/* Anomalies (list with filters, get, resolve with an analyst verdict that is fed back to the
 * detectors) and threshold rules (CRUD; every change is pushed to the shards at once). */
#include "api/anomalies.h"
#include "api/api.h"

#include "pipeline/shards.h"
#include "detect/rules.h"
#include "store/db.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ANOMALY_COLUMNS                                                                            \
    "a.id, a.device_id, d.name AS device_name, a.metric, a.detected_at, a.updated_at, "            \
    "a.severity, a.description, a.details AS details_json, a.resolved AS resolved_bool, "          \
    "a.resolved_at, a.verdict, a.rule_id, a.flapping AS flapping_bool"

void api_anomalies_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    int64_t from, to;
    api_query_time(ctx, "from", 0, &from, &bad);
    api_query_time(ctx, "to", INT64_MAX, &to, &bad);
    char dev[64] = "", sev[16] = "", resolved[8] = "", metric[130] = "";
    api_query(ctx, "device_id", dev, sizeof dev);
    api_query(ctx, "severity", sev, sizeof sev);
    api_query(ctx, "resolved", resolved, sizeof resolved);
    api_query(ctx, "metric", metric, sizeof metric);
    if (bad ||
        (sev[0] && strcmp(sev, "critical") && strcmp(sev, "warning") && strcmp(sev, "info")) ||
        (resolved[0] && strcmp(resolved, "true") && strcmp(resolved, "false"))) {
        api_error(ctx, 400, "bad_request",
                  "limit 1..1000, severity critical|warning|info, resolved true|false, from/to "
                  "times");
        return;
    }
    const char *owner = api_owner_scope(ctx);
    int64_t res = resolved[0] ? (strcmp(resolved, "true") == 0) : -1;
    const char *where =
        "FROM anomalies a JOIN devices d ON d.id = a.device_id "
        "WHERE a.detected_at >= ? AND a.detected_at < ? AND (? = '' OR a.device_id = ?)"
        " AND (? = '' OR a.severity = ?) AND (? < 0 OR a.resolved = ?) AND "
        "(? = '' OR a.metric = ?) AND (? = '' OR d.owner_id = ?)";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT " ANOMALY_COLUMNS " %s ORDER BY a.detected_at DESC LIMIT ? OFFSET ?", where);
    cJSON *rows = db_rows_json(ctx->s->db, sql, "iissssiissssii", from, to, dev, dev, sev, sev, res,
                               res, metric, metric, owner, owner, limit, offset);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    int64_t total = db_int(ctx->s->db, 0, sql, "iissssiissss", from, to, dev, dev, sev, sev, res,
                           res, metric, metric, owner, owner);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

/* Loads one anomaly the principal may see, or answers 404. */
static cJSON *visible_anomaly(api_ctx *ctx, const char *id)
{
    bool found;
    const char *owner = api_owner_scope(ctx);
    cJSON *a = db_row_json(ctx->s->db, &found,
                           "SELECT " ANOMALY_COLUMNS " FROM anomalies a JOIN devices d ON d.id = "
                           "a.device_id WHERE a.id = ? AND (? = '' OR d.owner_id = ?)",
                           "sss", id, owner, owner);
    if (!found) api_error(ctx, 404, "not_found", "no anomaly %s", id);
    return a;
}

void api_anomalies_get(api_ctx *ctx)
{
    cJSON *a = visible_anomaly(ctx, ctx->params[0]);
    if (a) api_json(ctx, 200, a);
}

void api_anomalies_resolve(api_ctx *ctx)
{
    cJSON *a = visible_anomaly(ctx, ctx->params[0]);
    if (!a) return;
    const char *verdict = NULL;
    cJSON *body = NULL;
    if (ctx->req->body_len) {
        body = api_body_json(ctx);
        if (!body) {
            cJSON_Delete(a);
            return;
        }
        verdict = json_str(body, "verdict");
        if (verdict && strcmp(verdict, "confirmed") && strcmp(verdict, "false_positive")) {
            cJSON_Delete(a);
            cJSON_Delete(body);
            api_error(ctx, 400, "bad_request", "verdict must be confirmed or false_positive");
            return;
        }
    }
    db_exec(ctx->s->db, NULL,
            "UPDATE anomalies SET resolved = 1, resolved_at = COALESCE(resolved_at, ?), "
            "verdict = COALESCE(?, verdict) WHERE id = ?",
            "ibs", util_now_ms(), verdict, ctx->params[0]);
    const char *metric = json_str(a, "metric");
    if (verdict && metric && ctx->s->shards)
        shards_feedback(ctx->s->shards, json_str(a, "device_id"), metric,
                        strcmp(verdict, "false_positive") == 0 ? DET_VERDICT_FALSE_POSITIVE
                                                               : DET_VERDICT_CONFIRMED);
    api_audit(ctx, "anomaly.resolve", ctx->params[0], verdict ? verdict : "");
    cJSON_Delete(a);
    cJSON_Delete(body);
    cJSON *out = visible_anomaly(ctx, ctx->params[0]);
    if (out) api_json(ctx, 200, out);
}

#define RULE_COLUMNS                                                                               \
    "id, name, device_id, device_type, metric, kind, threshold, for_ms, severity, "                \
    "enabled AS enabled_bool, created_at, updated_at"

void api_rules_list(api_ctx *ctx)
{
    const char *owner = api_owner_scope(ctx);
    cJSON *rows = db_rows_json(ctx->s->db,
                               "SELECT " RULE_COLUMNS " FROM rules r WHERE ? = '' OR "
                               "r.device_id IS NULL OR r.device_id IN "
                               "(SELECT id FROM devices WHERE owner_id = ?) ORDER BY id",
                               "ss", owner, owner);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

/* Validates a rule body (create: all required fields; update: only those present). */
static const char *check_rule(api_ctx *ctx, const cJSON *b, bool create)
{
    const char *kind = json_str(b, "kind"), *sev = json_str(b, "severity");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(b, "threshold");
    const cJSON *for_ms = cJSON_GetObjectItemCaseSensitive(b, "for_ms");
    det_rule_kind k;
    if (create && (!json_str(b, "name") || !kind || !sev))
        return "name, kind, severity are required";
    if (kind && det_rule_kind_parse(kind, &k) != 0)
        return "kind must be above, below, rate or stale";
    if (sev && strcmp(sev, "critical") && strcmp(sev, "warning") && strcmp(sev, "info"))
        return "severity must be critical, warning or info";
    if (thr && (!cJSON_IsNumber(thr) || !isfinite(thr->valuedouble)))
        return "threshold must be a finite number";
    if (create && !thr && kind && strcmp(kind, "stale") != 0) return "threshold is required";
    if (for_ms && (!cJSON_IsNumber(for_ms) || for_ms->valuedouble < 0))
        return "for_ms must be a number >= 0";
    if (create && kind && !strcmp(kind, "stale") && (!for_ms || for_ms->valuedouble <= 0))
        return "a stale rule needs for_ms > 0";
    const char *dev = json_str(b, "device_id");
    if (dev && !api_device_visible(ctx, dev, NULL)) return "";
    return NULL;
}

/* After a rule was written: audit it with the request body, push the rule set to the shards,
 * answer with the stored rule. Takes ownership of b. */
static void rule_written(api_ctx *ctx, const char *action, int64_t id, cJSON *b, int status)
{
    char *detail = cJSON_PrintUnformatted(b);
    char target[32];
    snprintf(target, sizeof target, "%lld", (long long)id);
    api_audit(ctx, action, target, detail ? detail : "");
    free(detail);
    cJSON_Delete(b);
    anomalies_load_rules(ctx->s);
    bool found;
    api_json(ctx, status,
             db_row_json(ctx->s->db, &found, "SELECT " RULE_COLUMNS " FROM rules WHERE id = ?", "i",
                         id));
}

void api_rules_create(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *why = check_rule(ctx, b, true);
    if (why) {
        if (why[0]) api_error(ctx, 400, "bad_request", "%s", why);
        cJSON_Delete(b);
        return;
    }
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(b, "threshold");
    const cJSON *for_ms = cJSON_GetObjectItemCaseSensitive(b, "for_ms");
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(b, "enabled");
    int64_t now = util_now_ms();
    db_exec(ctx->s->db, NULL,
            "INSERT INTO rules(name, device_id, device_type, metric, kind, threshold, for_ms, "
            "severity, enabled, created_by, created_at, updated_at) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "sbbbsdisisii", json_str(b, "name"), json_str(b, "device_id"),
            json_str(b, "device_type"), json_str(b, "metric"), json_str(b, "kind"),
            thr ? thr->valuedouble : 0.0, (int64_t)(for_ms ? for_ms->valuedouble : 0),
            json_str(b, "severity"), (int64_t)(enabled ? cJSON_IsTrue(enabled) : 1), ctx->user_id,
            now, now);
    rule_written(ctx, "rule.create", sqlite3_last_insert_rowid(ctx->s->db), b, 201);
}

static bool rule_exists(api_ctx *ctx, int64_t *id)
{
    char *end;
    *id = strtoll(ctx->params[0], &end, 10);
    if (*end == '\0' && db_int(ctx->s->db, 0, "SELECT COUNT(*) FROM rules WHERE id = ?", "i", *id))
        return true;
    api_error(ctx, 404, "not_found", "no rule %s", ctx->params[0]);
    return false;
}

void api_rules_update(api_ctx *ctx)
{
    int64_t id;
    if (!rule_exists(ctx, &id)) return;
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *why = check_rule(ctx, b, false);
    if (why) {
        if (why[0]) api_error(ctx, 400, "bad_request", "%s", why);
        cJSON_Delete(b);
        return;
    }
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(b, "threshold");
    const cJSON *for_ms = cJSON_GetObjectItemCaseSensitive(b, "for_ms");
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(b, "enabled");
    char thr_s[64] = "", for_s[32] = "", en_s[4] = "";
    if (thr) snprintf(thr_s, sizeof thr_s, "%.17g", thr->valuedouble);
    if (for_ms) snprintf(for_s, sizeof for_s, "%lld", (long long)for_ms->valuedouble);
    if (enabled) snprintf(en_s, sizeof en_s, "%d", cJSON_IsTrue(enabled));
    db_exec(ctx->s->db, NULL,
            "UPDATE rules SET name = COALESCE(?, name), kind = COALESCE(?, kind), "
            "severity = COALESCE(?, severity), metric = COALESCE(?, metric), "
            "device_type = COALESCE(?, device_type), "
            "threshold = COALESCE(CAST(NULLIF(?, '') AS REAL), threshold), "
            "for_ms = COALESCE(CAST(NULLIF(?, '') AS INTEGER), for_ms), "
            "enabled = COALESCE(CAST(NULLIF(?, '') AS INTEGER), enabled), updated_at = ? "
            "WHERE id = ?",
            "bbbbbsssii", json_str(b, "name"), json_str(b, "kind"), json_str(b, "severity"),
            json_str(b, "metric"), json_str(b, "device_type"), thr_s, for_s, en_s, util_now_ms(),
            id);
    rule_written(ctx, "rule.update", id, b, 200);
}

void api_rules_delete(api_ctx *ctx)
{
    int64_t id;
    if (!rule_exists(ctx, &id)) return;
    db_exec(ctx->s->db, NULL, "DELETE FROM rules WHERE id = ?", "i", id);
    api_audit(ctx, "rule.delete", ctx->params[0], "");
    anomalies_load_rules(ctx->s);
    api_no_content(ctx);
}
