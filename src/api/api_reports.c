/* The reports and exports API:
 *   GET  /api/v1/reports/{security|performance|compliance}?from&to&device_type&group&device_id
 *        &format=json|csv|pdf[&section=id]       generated now (small ranges)
 *   POST /api/v1/reports {kind, from, to, ...}   queued build, 202 + id; progress at
 *   GET  /api/v1/reports/{id}, result at GET /api/v1/reports/{id}/download?format=...
 *   GET  /api/v1/reports                         stored reports (on-demand and scheduled)
 *   GET|POST /api/v1/reports/schedules, DELETE /api/v1/reports/schedules/{id}
 *   GET  /api/v1/export?from&to&device_id=a,b&device_type&what=&format=ndjson|csv  streamed
 *   GET  /api/v1/exports, GET /api/v1/exports/{id}   recorded exports and their manifests
 * Reports: Analyst and Admin; compliance reports (they show the audit log) Admin only.
 * Exports: DeviceOwners too, limited to their own devices; audit entries only for Admins. */
#include "api/api.h"
#include "api/api_export.h"
#include "core/log.h"
#include "report/export.h"
#include "report/report_int.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

/* ---- parameters ---- */

static bool json_time(const cJSON *v, int64_t *out)
{
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        *out = (int64_t)v->valuedouble;
        return true;
    }
    return cJSON_IsString(v) &&
           util_parse_rfc3339(v->valuestring, strlen(v->valuestring), out) == 0;
}

/* A text query parameter: true when present. A value too long for out, or malformed, sets
 * *bad instead of being cut or ignored (a filter must never silently widen). */
static bool query_text(api_ctx *ctx, const char *name, char *out, size_t cap, bool *bad)
{
    int rc = http_query_param(ctx->req->query, name, out, cap);
    if (rc == HTTP_LOOKUP_OK) return true;
    if (rc != HTTP_LOOKUP_NOT_FOUND) *bad = true;
    return false;
}

static bool compliance_allowed(api_ctx *ctx)
{
    if (auth_role_allows(ctx->role, PERM_AUDIT_READ)) return true;
    api_error(ctx, 403, "forbidden", "compliance reports show the audit log: Admin only");
    return false;
}

/* Filters common to the query string and JSON bodies; sends 400/404 and returns false. */
static bool check_filters(api_ctx *ctx, report_params *p)
{
    if (!STORE_REPORT_QUERIES(ctx->s->st)) {
        api_error(ctx, 501, "not_implemented",
                  "reports are not available on the %s store yet (its report query catalog is "
                  "not built); the SQLite store has them",
                  ctx->s->st->be->name);
        return false;
    }
    if (p->from_ms >= p->to_ms) {
        api_error(ctx, 400, "bad_request", "from must be before to");
        return false;
    }
    if (p->device_id[0] && !api_device_visible(ctx, p->device_id, NULL)) return false;
    return true;
}

static bool query_params(api_ctx *ctx, report_kind kind, report_params *p)
{
    bool bad = false;
    int64_t now = util_now_ms(), from, to;
    api_query_time(ctx, "to", now, &to, &bad);
    api_query_time(ctx, "from", to - DAY_MS, &from, &bad);
    report_params_init(p, kind, from, to);
    p->flood_threshold = api_query_int(ctx, "flood_threshold", 20, 1, 1000000, &bad);
    if (!query_text(ctx, "device_type", p->device_type, sizeof p->device_type, &bad))
        p->device_type[0] = '\0';
    if (!query_text(ctx, "group", p->group, sizeof p->group, &bad)) p->group[0] = '\0';
    if (!query_text(ctx, "device_id", p->device_id, sizeof p->device_id, &bad))
        p->device_id[0] = '\0';
    if (bad) {
        api_error(ctx, 400, "bad_request",
                  "from/to: ms, RFC 3339 or -24h; flood_threshold 1..1000000; device_id a "
                  "device; device_type/group text");
        return false;
    }
    return check_filters(ctx, p);
}

static bool body_params(api_ctx *ctx, const cJSON *b, report_params *p)
{
    report_kind kind;
    if (report_kind_parse(json_str(b, "kind"), &kind) != 0) {
        api_error(ctx, 400, "bad_request", "kind must be security, performance or compliance");
        return false;
    }
    int64_t now = util_now_ms(), from, to = now;
    const cJSON *jf = cJSON_GetObjectItemCaseSensitive(b, "from");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(b, "to");
    if ((jt && !json_time(jt, &to)) || (jf && !json_time(jf, &from))) {
        api_error(ctx, 400, "bad_request", "from/to must be ms since the epoch or RFC 3339");
        return false;
    }
    if (!jf) from = to - DAY_MS;
    cJSON *pj = cJSON_Duplicate(b, true);
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "from");
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "to");
    cJSON_AddNumberToObject(pj, "from", (double)from);
    cJSON_AddNumberToObject(pj, "to", (double)to);
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "owner_id"); /* never from the client */
    int rc = report_params_from_json(pj, p);
    cJSON_Delete(pj);
    if (rc != 0) {
        api_error(ctx, 400, "bad_request",
                  "from must be before to; device_type, group, device_id are short strings");
        return false;
    }
    return check_filters(ctx, p);
}

/* ---- rendering ---- */

static void send_doc(api_ctx *ctx, cJSON *doc, const char *format, const char *section)
{
    char fname[160], day[32], headers[320];
    util_rfc3339((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "from")), day);
    day[10] = '\0';
    snprintf(fname, sizeof fname, "iotad-%s-report-%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "kind")), day);
    if (strcmp(format, "json") == 0) {
        api_json(ctx, 200, doc);
        return;
    }
    if (strcmp(format, "csv") == 0) {
        size_t len;
        char *csv = report_render_csv(doc, section, &len);
        cJSON_Delete(doc);
        if (!csv) {
            api_error(ctx, 404, "not_found", "no section %s in this report", section);
            return;
        }
        snprintf(headers, sizeof headers,
                 "Cache-Control: no-store\r\nContent-Disposition: attachment; "
                 "filename=\"%s.csv\"\r\n",
                 fname);
        http_respond(ctx->c, 200, "text/csv; charset=utf-8", headers, csv, len);
        free(csv);
        return;
    }
    size_t len;
    unsigned char *pdf = report_render_pdf(doc, &len);
    cJSON_Delete(doc);
    if (!pdf) {
        api_error(ctx, 500, "internal", "the PDF could not be rendered");
        return;
    }
    snprintf(headers, sizeof headers,
             "Cache-Control: no-store\r\nContent-Disposition: attachment; filename=\"%s.pdf\"\r\n",
             fname);
    http_respond(ctx->c, 200, "application/pdf", headers, pdf, len);
    free(pdf);
}

static bool query_format(api_ctx *ctx, char *fmt, size_t cap)
{
    bool bad = false;
    if (!query_text(ctx, "format", fmt, cap, &bad)) snprintf(fmt, cap, "%s", bad ? "?" : "json");
    if (strcmp(fmt, "json") && strcmp(fmt, "csv") && strcmp(fmt, "pdf")) {
        api_error(ctx, 400, "bad_request", "format must be json, csv or pdf");
        return false;
    }
    return true;
}

static void report_now(api_ctx *ctx, report_kind kind)
{
    report_params p;
    char fmt[8], section[64] = "";
    if (!query_format(ctx, fmt, sizeof fmt) || !query_params(ctx, kind, &p)) return;
    api_query(ctx, "section", section, sizeof section);
    cJSON *doc = report_generate(ctx->s, &p);
    if (!doc) {
        api_error(ctx, 500, "internal", "the report could not be built");
        return;
    }
    char detail[200];
    snprintf(detail, sizeof detail, "{\"kind\":\"%s\",\"from\":%lld,\"to\":%lld,\"format\":\"%s\"}",
             report_kind_name(kind), (long long)p.from_ms, (long long)p.to_ms, fmt);
    api_audit(ctx, "report.generate", "", detail);
    send_doc(ctx, doc, fmt, section);
}

static void api_report_security(api_ctx *ctx)
{
    report_now(ctx, REPORT_SECURITY);
}

static void api_report_performance(api_ctx *ctx)
{
    report_now(ctx, REPORT_PERFORMANCE);
}

static void api_report_compliance(api_ctx *ctx)
{
    report_now(ctx, REPORT_COMPLIANCE);
}

/* ---- queued and stored reports ---- */

static void add_progress(api_ctx *ctx, cJSON *r)
{
    const char *id = json_str(r, "id"), *status = json_str(r, "status");
    double prog = status && strcmp(status, "done") == 0 ? 1.0 : 0.0;
    if (id) reports_job_progress(ctx->s, id, &prog);
    cJSON_AddNumberToObject(r, "progress", round(prog * 1000.0) / 1000.0);
}

static void api_reports_create(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    report_params p;
    bool ok = body_params(ctx, b, &p);
    cJSON_Delete(b);
    if (!ok || (p.kind == REPORT_COMPLIANCE && !compliance_allowed(ctx))) return;
    char id[UUID_STR_LEN + 1];
    if (reports_queue(ctx->s, &p, ctx->user_id, 0, id) != 0) {
        api_error(ctx, 500, "internal", "the report could not be queued");
        return;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "{\"kind\":\"%s\",\"from\":%lld,\"to\":%lld}",
             report_kind_name(p.kind), (long long)p.from_ms, (long long)p.to_ms);
    api_audit(ctx, "report.generate", id, detail);
    cJSON *r = STORE_REPORTS(ctx->s->st)->get(ctx->s->st, id, true);
    if (!r) {
        api_error(ctx, 500, "internal", "the report could not be read back");
        return;
    }
    add_progress(ctx, r);
    api_json(ctx, 202, r);
}

static void api_reports_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    int64_t offset = api_query_int(ctx, "offset", 0, 0, INT64_MAX, &bad);
    int64_t sched = api_query_int(ctx, "schedule_id", 0, 0, INT64_MAX, &bad);
    char kind[16] = "";
    api_query(ctx, "kind", kind, sizeof kind);
    report_kind k;
    if (bad || (kind[0] && report_kind_parse(kind, &k) != 0)) {
        api_error(ctx, 400, "bad_request", "limit 1..1000, kind security|performance|compliance");
        return;
    }
    bool all = auth_role_allows(ctx->role, PERM_AUDIT_READ);
    int64_t total = 0;
    cJSON *rows =
        STORE_REPORTS(ctx->s->st)->list(ctx->s->st, kind, sched, all, limit, offset, &total);
    cJSON *r;
    cJSON_ArrayForEach(r, rows) add_progress(ctx, r);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "total", (double)total);
    api_json(ctx, 200, o);
}

static cJSON *visible_report(api_ctx *ctx)
{
    cJSON *r = STORE_REPORTS(ctx->s->st)
                   ->get(ctx->s->st, ctx->params[0], auth_role_allows(ctx->role, PERM_AUDIT_READ));
    if (!r) {
        api_error(ctx, 404, "not_found", "no report %s", ctx->params[0]);
        return NULL;
    }
    return r;
}

static void api_reports_get(api_ctx *ctx)
{
    cJSON *r = visible_report(ctx);
    if (!r) return;
    add_progress(ctx, r);
    api_json(ctx, 200, r);
}

static void api_reports_download(api_ctx *ctx)
{
    char fmt[8], section[64] = "";
    if (!query_format(ctx, fmt, sizeof fmt)) return;
    api_query(ctx, "section", section, sizeof section);
    cJSON *r = visible_report(ctx);
    if (!r) return;
    const char *status = json_str(r, "status");
    if (!status || strcmp(status, "done") != 0) {
        api_error(ctx, 409, "not_ready", "the report is %s", status ? status : "unknown");
        cJSON_Delete(r);
        return;
    }
    cJSON_Delete(r);
    char *text = STORE_REPORTS(ctx->s->st)->document(ctx->s->st, ctx->params[0]);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!doc) {
        api_error(ctx, 500, "internal", "the stored report could not be read");
        return;
    }
    send_doc(ctx, doc, fmt, section);
}

/* ---- schedules ---- */

static void api_schedules_list(api_ctx *ctx)
{
    cJSON *rows = STORE_REPORTS(ctx->s->st)
                      ->schedules_list(ctx->s->st, auth_role_allows(ctx->role, PERM_AUDIT_READ));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

static void api_schedules_create(api_ctx *ctx)
{
    cJSON *b = api_body_json(ctx);
    if (!b) return;
    const char *name = json_str(b, "name"), *period = json_str(b, "period");
    const cJSON *run_now = cJSON_GetObjectItemCaseSensitive(b, "run_now");
    report_params p;
    cJSON *pb = cJSON_Duplicate(b, true);
    cJSON_AddNumberToObject(pb, "from", 0);
    cJSON_AddNumberToObject(pb, "to", 1); /* placeholders: each run sets its own period */
    bool ok = false;
    if (!period || (strcmp(period, "daily") && strcmp(period, "weekly")))
        api_error(ctx, 400, "bad_request", "period must be daily or weekly");
    else if (!name || !name[0] || strlen(name) > 200)
        api_error(ctx, 400, "bad_request", "name is required (up to 200 characters)");
    else if (run_now && !cJSON_IsBool(run_now))
        api_error(ctx, 400, "bad_request", "run_now must be a boolean");
    else
        ok = body_params(ctx, pb, &p) && (p.kind != REPORT_COMPLIANCE || compliance_allowed(ctx));
    cJSON_Delete(pb);
    if (!ok) {
        cJSON_Delete(b);
        return;
    }
    cJSON *pj = report_params_json(&p);
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "from");
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "to");
    char *params = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    int64_t now = util_now_ms();
    /* the first run is right away (covering the last complete period) unless run_now=false */
    int64_t next = run_now && cJSON_IsFalse(run_now) ? reports_next_run(period, now) : now;
    int64_t id = 0;
    int rc = STORE_REPORTS(ctx->s->st)
                 ->schedule_create(ctx->s->st, name, report_kind_name(p.kind), period, params, next,
                                   ctx->user_id, now, &id);
    free(params);
    if (rc != 0) {
        cJSON_Delete(b);
        api_error(ctx, 500, "internal", "the schedule could not be stored");
        return;
    }
    char *detail = cJSON_PrintUnformatted(b);
    char target[32];
    snprintf(target, sizeof target, "%lld", (long long)id);
    api_audit(ctx, "report_schedule.create", target, detail ? detail : "");
    free(detail);
    cJSON_Delete(b);
    api_json(ctx, 201, STORE_REPORTS(ctx->s->st)->schedule_get(ctx->s->st, id));
}

static void api_schedules_delete(api_ctx *ctx)
{
    char *end;
    long long id = strtoll(ctx->params[0], &end, 10);
    bool deleted = false;
    if (*end == '\0' && end != ctx->params[0])
        STORE_REPORTS(ctx->s->st)
            ->schedule_delete(ctx->s->st, (int64_t)id, auth_role_allows(ctx->role, PERM_AUDIT_READ),
                              &deleted);
    if (!deleted) {
        api_error(ctx, 404, "not_found", "no schedule %s", ctx->params[0]);
        return;
    }
    api_audit(ctx, "report_schedule.delete", ctx->params[0], "");
    api_no_content(ctx);
}

/* ---- exports ---- */

static void api_export(api_ctx *ctx)
{
    bool bad = false;
    export_params p;
    memset(&p, 0, sizeof p);
    int64_t now = util_now_ms();
    api_query_time(ctx, "to", now, &p.to_ms, &bad);
    api_query_time(ctx, "from", p.to_ms - DAY_MS, &p.from_ms, &bad);
    char fmt[16], what[128];
    if (!query_text(ctx, "format", fmt, sizeof fmt, &bad)) snprintf(fmt, sizeof fmt, "ndjson");
    bool what_given = query_text(ctx, "what", what, sizeof what, &bad) && what[0];
    if (!what_given) what[0] = '\0';
    if (!query_text(ctx, "device_type", p.device_type, sizeof p.device_type, &bad))
        p.device_type[0] = '\0';
    if (!query_text(ctx, "device_id", p.devices, sizeof p.devices, &bad)) p.devices[0] = '\0';
    if (bad || p.from_ms >= p.to_ms || (strcmp(fmt, "ndjson") && strcmp(fmt, "csv")) ||
        export_what_parse(what, &p.what) != 0) {
        api_error(ctx, 400, "bad_request",
                  "from < to (ms, RFC 3339 or -24h); format ndjson|csv; what: any of "
                  "points,anomalies,incidents,events,audit; device_id: up to ~50 ids, "
                  "comma-separated");
        return;
    }
    p.format = strcmp(fmt, "csv") == 0 ? EXPORT_CSV : EXPORT_NDJSON;
    /* every listed device must exist and be visible to the caller */
    char *save = NULL, list[EXPORT_DEVICES_MAX];
    snprintf(list, sizeof list, "%s", p.devices);
    int ntok = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save), ntok++)
        if (!api_device_visible(ctx, tok, NULL)) return;
    if (p.devices[0] && ntok == 0) {
        api_error(ctx, 400, "bad_request", "device_id is empty");
        return;
    }
    if (!auth_scope_all_devices(ctx->role))
        snprintf(p.owner_id, sizeof p.owner_id, "%s", ctx->user_id);
    if ((p.what & EXPORT_AUDIT) && !auth_role_allows(ctx->role, PERM_AUDIT_READ)) {
        if (what_given && strcmp(what, "all") != 0) {
            api_error(ctx, 403, "forbidden", "audit entries are for Admins");
            return;
        }
        p.what &= ~(unsigned)EXPORT_AUDIT;
    }
    snprintf(p.created_by, sizeof p.created_by, "%s", ctx->user_id);
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddNumberToObject(pj, "from", (double)p.from_ms);
    cJSON_AddNumberToObject(pj, "to", (double)p.to_ms);
    cJSON_AddStringToObject(pj, "devices", p.devices);
    cJSON_AddStringToObject(pj, "device_type", p.device_type);
    cJSON_AddStringToObject(pj, "owner_id", p.owner_id);
    cJSON_AddNumberToObject(pj, "what", p.what);
    cJSON_AddStringToObject(pj, "format", fmt);
    char *params = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    api_export_start(ctx, &p, params ? params : "{}");
    free(params);
}

static void api_exports_list(api_ctx *ctx)
{
    bool bad = false;
    int64_t limit = api_query_int(ctx, "limit", 100, 1, 1000, &bad);
    if (bad) {
        api_error(ctx, 400, "bad_request", "limit 1..1000");
        return;
    }
    const char *mine = ctx->role == ROLE_ADMIN ? "" : ctx->user_id;
    cJSON *rows = STORE_REPORTS(ctx->s->st)->exports_list(ctx->s->st, mine, limit);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "items", rows ? rows : cJSON_CreateArray());
    api_json(ctx, 200, o);
}

static void api_exports_get(api_ctx *ctx)
{
    const char *mine = ctx->role == ROLE_ADMIN ? "" : ctx->user_id;
    cJSON *r = STORE_REPORTS(ctx->s->st)->export_get(ctx->s->st, ctx->params[0], mine);
    if (!r) {
        api_error(ctx, 404, "not_found", "no export %s", ctx->params[0]);
        return;
    }
    api_json(ctx, 200, r);
}

static const api_route routes[] = {
    {"GET", "/api/v1/reports/security", API_AUTH_SESSION, PERM_REPORTS_READ, api_report_security,
     "Security report now (json|csv|pdf; from, to, device_type, group, device_id)"},
    {"GET", "/api/v1/reports/performance", API_AUTH_SESSION, PERM_REPORTS_READ,
     api_report_performance, "Performance report now (json|csv|pdf)"},
    {"GET", "/api/v1/reports/compliance", API_AUTH_SESSION, PERM_AUDIT_READ, api_report_compliance,
     "Compliance audit report now, with audit-chain verification"},
    {"GET", "/api/v1/reports/schedules", API_AUTH_SESSION, PERM_REPORTS_READ, api_schedules_list,
     "Report schedules"},
    {"POST", "/api/v1/reports/schedules", API_AUTH_SESSION, PERM_REPORTS_READ, api_schedules_create,
     "Schedule a daily or weekly report"},
    {"DELETE", "/api/v1/reports/schedules/{id}", API_AUTH_SESSION, PERM_REPORTS_READ,
     api_schedules_delete, "Delete a report schedule"},
    {"GET", "/api/v1/reports", API_AUTH_SESSION, PERM_REPORTS_READ, api_reports_list,
     "Stored reports (queued, scheduled)"},
    {"POST", "/api/v1/reports", API_AUTH_SESSION, PERM_REPORTS_READ, api_reports_create,
     "Queue a report build (large ranges; poll its progress)"},
    {"GET", "/api/v1/reports/{id}", API_AUTH_SESSION, PERM_REPORTS_READ, api_reports_get,
     "Status and progress of a stored report"},
    {"GET", "/api/v1/reports/{id}/download", API_AUTH_SESSION, PERM_REPORTS_READ,
     api_reports_download, "Download a stored report (json|csv|pdf)"},
    {"GET", "/api/v1/export", API_AUTH_SESSION, PERM_DATA_READ, api_export,
     "Forensic export, streamed (ndjson|csv) with a SHA-256 manifest as the last line"},
    {"GET", "/api/v1/exports", API_AUTH_SESSION, PERM_DATA_READ, api_exports_list,
     "Recorded exports with their manifests"},
    {"GET", "/api/v1/exports/{id}", API_AUTH_SESSION, PERM_DATA_READ, api_exports_get,
     "One export's manifest"},
};

const api_route *api_report_routes(size_t *count)
{
    *count = sizeof routes / sizeof routes[0];
    return routes;
}
