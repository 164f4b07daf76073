/* Anomalies (list with filters, get, resolve with an analyst verdict that is fed back to the
 * detectors) and threshold rules (CRUD; every change is pushed to the shards at once). */
#include "alert/alerts.h"
#include "api/anomalies.h"
#include "api/api.h"

#include "pipeline/shards.h"
#include "detect/rules.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    store_anomaly_filter f = {.from_ms = from,
                              .to_ms = to,
                              .device_id = dev,
                              .severity = sev,
                              .metric = metric,
                              .resolved = (int)res,
                              .owner = owner,
                              .limit = limit,
                              .offset = offset};
    int64_t total = 0;
    cJSON *rows = STORE_ANOMALIES(ctx->s->st)->list(ctx->s->st, &f, &total);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

/* Loads one anomaly the principal may see, or answers 404. */
static cJSON *visible_anomaly(api_ctx *ctx, const char *id)
{
    const char *owner = api_owner_scope(ctx);
    cJSON *a = STORE_ANOMALIES(ctx->s->st)->get(ctx->s->st, id, owner);
    if (!a) api_error(ctx, 404, "not_found", "no anomaly %s", id);
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
    STORE_ANOMALIES(ctx->s->st)->resolve(ctx->s->st, ctx->params[0], util_now_ms(), verdict);
    const char *metric = json_str(a, "metric");
    if (verdict && metric && ctx->s->shards)
        shards_feedback(ctx->s->shards, json_str(a, "device_id"), metric,
                        strcmp(verdict, "false_positive") == 0 ? DET_VERDICT_FALSE_POSITIVE
                                                               : DET_VERDICT_CONFIRMED);
    api_audit(ctx, "anomaly.resolve", ctx->params[0], verdict ? verdict : "");
    alerts_on_anomaly_resolved(ctx->s, ctx->params[0], ctx->user_id);
    cJSON_Delete(a);
    cJSON_Delete(body);
    cJSON *out = visible_anomaly(ctx, ctx->params[0]);
    if (out) api_json(ctx, 200, out);
}

void api_rules_list(api_ctx *ctx)
{
    const char *owner = api_owner_scope(ctx);
    cJSON *rows = STORE_RULES(ctx->s->st)->list(ctx->s->st, owner);
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
    api_json(ctx, status, STORE_RULES(ctx->s->st)->get(ctx->s->st, id));
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
    double thr_v = thr ? thr->valuedouble : 0.0;
    int64_t for_v = (int64_t)(for_ms ? for_ms->valuedouble : 0);
    bool en_v = enabled ? cJSON_IsTrue(enabled) : true;
    store_rule_fields f = {.name = json_str(b, "name"),
                           .device_id = json_str(b, "device_id"),
                           .device_type = json_str(b, "device_type"),
                           .metric = json_str(b, "metric"),
                           .kind = json_str(b, "kind"),
                           .severity = json_str(b, "severity"),
                           .threshold = &thr_v,
                           .for_ms = &for_v,
                           .enabled = &en_v};
    int64_t id = 0;
    STORE_RULES(ctx->s->st)->create(ctx->s->st, &f, ctx->user_id, util_now_ms(), &id);
    rule_written(ctx, "rule.create", id, b, 201);
}

static bool rule_exists(api_ctx *ctx, int64_t *id)
{
    char *end;
    *id = strtoll(ctx->params[0], &end, 10);
    if (*end == '\0' && STORE_RULES(ctx->s->st)->exists(ctx->s->st, *id)) return true;
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
    double thr_v = thr ? thr->valuedouble : 0.0;
    int64_t for_v = (int64_t)(for_ms ? for_ms->valuedouble : 0);
    bool en_v = enabled && cJSON_IsTrue(enabled);
    store_rule_fields f = {.name = json_str(b, "name"),
                           .device_type = json_str(b, "device_type"),
                           .metric = json_str(b, "metric"),
                           .kind = json_str(b, "kind"),
                           .severity = json_str(b, "severity"),
                           .threshold = thr ? &thr_v : NULL,
                           .for_ms = for_ms ? &for_v : NULL,
                           .enabled = enabled ? &en_v : NULL};
    STORE_RULES(ctx->s->st)->update(ctx->s->st, id, &f, util_now_ms());
    rule_written(ctx, "rule.update", id, b, 200);
}

void api_rules_delete(api_ctx *ctx)
{
    int64_t id;
    if (!rule_exists(ctx, &id)) return;
    STORE_RULES(ctx->s->st)->remove(ctx->s->st, id);
    api_audit(ctx, "rule.delete", ctx->params[0], "");
    anomalies_load_rules(ctx->s);
    api_no_content(ctx);
}
