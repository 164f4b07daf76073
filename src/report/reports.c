/* The reports module at run time: its tables (migration 5), the queue of report builds run a
 * slice at a time on the event loop (so a year of data never stalls ingest or the API, and
 * GET /reports/{id} can show progress), the daily/weekly schedules checked once a second,
 * and the housekeeping of streamed exports. Builds survive a restart: a report still queued
 * or running in the table is started again. */
#include "report/reports.h"

#include "core/json.h"
#include "core/log.h"
#include "report/export.h"
#include "report/report_int.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define SLICE_MS 20 /* work per loop turn for a queued build */

typedef struct report_job {
    struct report_job *next;
    char id[UUID_STR_LEN + 1];
    char created_by[UUID_STR_LEN + 1];
    report_build *b;
    bool started;
} report_job;

typedef struct reports_state {
    server *s;
    uv_timer_t tick, work;
    report_job *jobs, **jobs_tail;
    struct export_stream *streams;
    bool running;
    int open_handles; /* freed when both timers are closed */
} reports_state;

/* The module's state hangs off the server context (s->reports). */
static reports_state *state_of(server *s)
{
    return s->reports;
}

struct export_stream **reports_streams(server *s)
{
    reports_state *st = state_of(s);
    return st ? &st->streams : NULL;
}

/* ---- periods ---- */

#define DAY_MS 86400000LL
#define WEEK_MS (7 * DAY_MS)
#define MONDAY_OFFSET (4 * DAY_MS) /* 1970-01-05 was a Monday */

static int64_t floor_to(int64_t t, int64_t unit, int64_t offset)
{
    int64_t x = t - offset;
    int64_t q = x / unit;
    if (x % unit < 0) q--;
    return q * unit + offset;
}

int64_t reports_next_run(const char *period, int64_t now_ms)
{
    if (strcmp(period, "weekly") == 0) return floor_to(now_ms, WEEK_MS, MONDAY_OFFSET) + WEEK_MS;
    return floor_to(now_ms, DAY_MS, 0) + DAY_MS;
}

void reports_period(const char *period, int64_t run_ms, int64_t *from_ms, int64_t *to_ms)
{
    if (strcmp(period, "weekly") == 0) {
        *to_ms = floor_to(run_ms, WEEK_MS, MONDAY_OFFSET);
        *from_ms = *to_ms - WEEK_MS;
    } else {
        *to_ms = floor_to(run_ms, DAY_MS, 0);
        *from_ms = *to_ms - DAY_MS;
    }
}

/* ---- queued builds ---- */

static void work_cb(uv_timer_t *t);

static void kick(reports_state *st)
{
    if (st->running && st->jobs && !uv_is_active((uv_handle_t *)&st->work))
        uv_timer_start(&st->work, work_cb, 0, 0);
}

static void job_free(report_job *j)
{
    report_build_free(j->b);
    free(j);
}

static int enqueue(reports_state *st, const char *id, const report_params *p,
                   const char *created_by)
{
    report_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->created_by, sizeof j->created_by, "%s", created_by ? created_by : "system");
    j->b = report_build_new(st->s, p);
    if (!j->b) {
        free(j);
        return -1;
    }
    *st->jobs_tail = j;
    st->jobs_tail = &j->next;
    kick(st);
    return 0;
}

int reports_queue(server *s, const report_params *p, const char *created_by, int64_t schedule_id,
                  char id_out[UUID_STR_LEN + 1])
{
    reports_state *st = state_of(s);
    if (!st) return -1;
    util_uuid7(id_out);
    cJSON *pj = report_params_json(p);
    char *params = pj ? cJSON_PrintUnformatted(pj) : NULL;
    cJSON_Delete(pj);
    if (!params) return -1;
    store_report_new r = {.id = id_out,
                          .kind = report_kind_name(p->kind),
                          .params = params,
                          .from_ms = p->from_ms,
                          .to_ms = p->to_ms,
                          .schedule_id = schedule_id,
                          .created_by = created_by};
    int rc = STORE_REPORTS(s->st)->create(s->st, &r, util_now_ms());
    free(params);
    if (rc != 0) return -1;
    if (enqueue(st, id_out, p, created_by) != 0) {
        STORE_REPORTS(s->st)->set_failed(s->st, id_out, "out of memory", util_now_ms());
        return -1;
    }
    return 0;
}

bool reports_job_progress(server *s, const char *id, double *progress)
{
    reports_state *st = state_of(s);
    for (report_job *j = st ? st->jobs : NULL; j; j = j->next)
        if (strcmp(j->id, id) == 0) {
            *progress = j->started ? report_build_progress(j->b) : 0.0;
            return true;
        }
    return false;
}

static void finish_job(reports_state *st, report_job *j, int rc)
{
    server *s = st->s;
    cJSON *doc = rc == 0 ? report_build_take(j->b) : NULL;
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text) {
        char sha[65];
        util_sha256_hex(text, strlen(text), sha);
        STORE_REPORTS(s->st)->set_done(s->st, j->id, text, sha, util_now_ms());
        char detail[160];
        snprintf(detail, sizeof detail, "{\"kind\":\"%s\",\"sha256\":\"%s\"}",
                 report_kind_name(j->b->p.kind), sha);
        audit_append(s->st, j->created_by, "report.complete", j->id, detail, NULL);
        log_info("report_done", "id=%s kind=%s bytes=%zu", j->id, report_kind_name(j->b->p.kind),
                 strlen(text));
        free(text);
    } else {
        STORE_REPORTS(s->st)->set_failed(
            s->st, j->id, "the report could not be built (see the server log)", util_now_ms());
        log_error("report_failed", "id=%s kind=%s", j->id, report_kind_name(j->b->p.kind));
    }
}

static void work_cb(uv_timer_t *t)
{
    reports_state *st = t->data;
    report_job *j = st->jobs;
    if (!j || !st->running) return;
    if (!j->started) {
        j->started = true;
        STORE_REPORTS(st->s->st)->set_running(st->s->st, j->id);
    }
    int rc = report_build_step(j->b, SLICE_MS);
    if (rc != 1) {
        finish_job(st, j, rc);
        st->jobs = j->next;
        if (!st->jobs) st->jobs_tail = &st->jobs;
        job_free(j);
    }
    kick(st);
}

/* Restarts the builds a previous run left queued or running. */
static void resume_jobs(reports_state *st)
{
    cJSON *rows = STORE_REPORTS(st->s->st)->unfinished(st->s->st);
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        const char *id = json_str(row, "id");
        cJSON *pj = cJSON_Parse(json_str(row, "params") ? json_str(row, "params") : "");
        report_params p;
        if (id && pj && report_params_from_json(pj, &p) == 0 &&
            enqueue(st, id, &p, json_str(row, "created_by")) == 0)
            log_info("report_resumed", "id=%s", id);
        cJSON_Delete(pj);
    }
    cJSON_Delete(rows);
}

/* ---- schedules ---- */

static void run_schedules(reports_state *st, int64_t now)
{
    server *s = st->s;
    int64_t ids[16];
    int n = 0;
    cJSON *due = STORE_REPORTS(s->st)->schedules_due(s->st, now, 16);
    const cJSON *d;
    cJSON_ArrayForEach(d, due)
    {
        if (n < 16) ids[n++] = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "id"));
    }
    cJSON_Delete(due);
    for (int i = 0; i < n; i++) {
        cJSON *row = STORE_REPORTS(s->st)->schedule_get(s->st, ids[i]);
        const char *period = row ? json_str(row, "period") : NULL;
        if (!row || !period) {
            cJSON_Delete(row);
            continue;
        }
        /* the period is always the last complete day/week before this run */
        int64_t from, to;
        reports_period(period, now, &from, &to);
        report_params p;
        cJSON *pj = cJSON_GetObjectItemCaseSensitive(row, "params");
        cJSON_DeleteItemFromObjectCaseSensitive(pj, "from");
        cJSON_DeleteItemFromObjectCaseSensitive(pj, "to");
        cJSON_DeleteItemFromObjectCaseSensitive(pj, "kind");
        if (pj) {
            cJSON_AddNumberToObject(pj, "from", (double)from);
            cJSON_AddNumberToObject(pj, "to", (double)to);
            cJSON_AddItemToObject(pj, "kind", cJSON_CreateString(json_str(row, "kind")));
        }
        char id[UUID_STR_LEN + 1];
        if (pj && report_params_from_json(pj, &p) == 0 &&
            reports_queue(s, &p,
                          json_str(row, "created_by") ? json_str(row, "created_by") : "system",
                          ids[i], id) == 0) {
            char detail[96];
            snprintf(detail, sizeof detail, "{\"schedule_id\":%lld,\"kind\":\"%s\"}",
                     (long long)ids[i], report_kind_name(p.kind));
            audit_append(s->st, "system", "report.generate", id, detail, NULL);
            log_info("report_scheduled_run", "schedule=%lld report=%s", (long long)ids[i], id);
        } else {
            log_error("report_schedule_failed", "schedule=%lld", (long long)ids[i]);
        }
        STORE_REPORTS(s->st)->schedule_ran(s->st, ids[i], now, reports_next_run(period, now));
        cJSON_Delete(row);
    }
}

static void tick_cb(uv_timer_t *t)
{
    reports_state *st = t->data;
    if (!st->running) return;
    run_schedules(st, util_now_ms());
}

int reports_start(server *s)
{
    reports_state *st = calloc(1, sizeof *st);
    if (!st) return -1;
    st->s = s;
    st->jobs_tail = &st->jobs;
    st->running = true;
    uv_timer_init(s->loop, &st->tick);
    uv_timer_init(s->loop, &st->work);
    st->tick.data = st->work.data = st;
    s->reports = st;
    uv_timer_start(&st->tick, tick_cb, 1000, 1000);
    resume_jobs(st);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    reports_state *st = h->data;
    if (--st->open_handles == 0) free(st);
}

void reports_stop(server *s)
{
    reports_state *st = state_of(s);
    if (!st) return;
    report_pdf_shutdown();
    st->running = false;
    /* queued builds stay 'queued'/'running' in the table and resume at the next start */
    while (st->jobs) {
        report_job *j = st->jobs;
        st->jobs = j->next;
        job_free(j);
    }
    s->reports = NULL;
    uv_timer_stop(&st->tick);
    uv_timer_stop(&st->work);
    st->open_handles = 2;
    uv_close((uv_handle_t *)&st->tick, on_closed);
    uv_close((uv_handle_t *)&st->work, on_closed);
}
