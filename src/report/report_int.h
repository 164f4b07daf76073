/* Internals of the reports module shared by its files and its HTTP handlers
 * (api/api_reports.c, api/api_export.c); not for other modules.
 *
 * A report is built as a JSON document (the machine format) and rendered from it to CSV and
 * PDF, so the three formats always carry the same numbers:
 *
 *   {"kind": "security", "title": ..., "from": ms, "to": ms, "generated_at": ms,
 *    "filters": {...}, "summary": {"name": number|string|bool, ...},
 *    "sections": {"<id>": {"title": ..., "chart": "bar"|"line"|null, "note": ...,
 *                          "columns": [...], "rows": [[...], ...]}, ...}}
 *
 * Builds run in steps (report_build_step) so a large range can be generated on the event loop
 * a slice at a time with a progress figure: a begin step (SQL aggregates), one step per slice
 * of devices (time-series scans), and a finish step. */
#ifndef IOTAD_REPORT_REPORT_INT_H
#define IOTAD_REPORT_REPORT_INT_H

#include "core/server.h"
#include "core/util.h"
#include "report/export.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    REPORT_SECURITY = 0,
    REPORT_PERFORMANCE,
    REPORT_COMPLIANCE,
    REPORT_KIND_COUNT
} report_kind;

const char *report_kind_name(report_kind k);
int report_kind_parse(const char *s, report_kind *out); /* 0 ok, -1 unknown */

typedef struct {
    report_kind kind;
    int64_t from_ms, to_ms;
    char device_type[64];
    char group[64]; /* devices.attributes.group */
    char device_id[UUID_STR_LEN + 1];
    char owner_id[UUID_STR_LEN + 1]; /* "" = every owner */
    int64_t flood_threshold;         /* connects per 10 s interval that count as a flood */
} report_params;

void report_params_init(report_params *p, report_kind kind, int64_t from_ms, int64_t to_ms);
/* Parameters as a JSON object (stored with scheduled/queued reports) and back. */
cJSON *report_params_json(const report_params *p);
int report_params_from_json(const cJSON *o, report_params *p); /* 0 ok, -1 invalid */

/* ---- document helpers (report_doc.c) ---- */
cJSON *rdoc_new(const report_params *p, const char *title);
/* Adds a section and returns its rows array. columns: NULL-terminated. chart may be NULL. */
cJSON *rdoc_section(cJSON *doc, const char *id, const char *title, const char *chart,
                    const char *const *columns);
void rdoc_note(cJSON *doc, const char *section_id, const char *note);
/* The column a section's bar chart shows (default: the first numeric one). */
void rdoc_chart_column(cJSON *doc, const char *section_id, const char *column);
/* Appends a row; types: 's' string (NULL -> null), 'i' int64, 'd' double (non-finite ->
 * null), 'n' null. */
void rdoc_row(cJSON *rows, const char *types, ...);
void rdoc_sum_int(cJSON *doc, const char *key, int64_t v);
void rdoc_sum_num(cJSON *doc, const char *key, double v); /* non-finite -> null */
void rdoc_sum_str(cJSON *doc, const char *key, const char *v);
void rdoc_sum_bool(cJSON *doc, const char *key, bool v);

/* The report's aggregates come from the store's report queries (store/store.h, a catalog
 * of named queries over the report's range and device filter; see
 * store/sqlite/report_queries.c for the names). text/a/b: the query's own arguments (NULL/0
 * when it takes none). */
void rq_scope(const report_params *p, const char *text, int64_t a, int64_t b,
              store_report_scope *out);
/* Runs a query and adds its result as a section (columns from the query). 0 ok. */
int rq_section(server *s, const report_params *p, cJSON *doc, const char *id, const char *title,
               const char *chart, const char *query);
/* The first value of a query's first row as int64 / double (def when none) / text ("" when
 * none; STORE_OK, STORE_NOTFOUND or STORE_ERR). */
int64_t rq_int(server *s, const report_params *p, const char *query, const char *text, int64_t def);
double rq_num(server *s, const report_params *p, const char *query, double def);
int rq_text(server *s, const report_params *p, const char *query, const char *text, int64_t a,
            char *out, size_t cap);
/* A query's rows {"columns","rows"}, or NULL. */
cJSON *rq_table(server *s, const report_params *p, const char *query, const char *text, int64_t a,
                int64_t b);
int64_t rdb_bucket_ms(const report_params *p); /* chart bucket: hour or day or week */

/* ---- builders ---- */
typedef struct report_build report_build;
typedef struct {
    const char *title;
    int (*begin)(report_build *b);                         /* SQL aggregates */
    int (*device)(report_build *b, const char *device_id); /* per-device scan, may be NULL */
    int (*finish)(report_build *b);                        /* derived figures */
    void (*free_priv)(void *priv);
} report_ops;

struct report_build {
    server *s;
    report_params p;
    const report_ops *ops;
    cJSON *doc;
    void *priv; /* the kind's accumulators */
    int stage;  /* 0 begin, 1 devices, 2 finish, 3 done */
    char cursor[UUID_STR_LEN + 1];
    int64_t devices_total, devices_done;
};

extern const report_ops report_security_ops;
extern const report_ops report_performance_ops;
extern const report_ops report_compliance_ops;

/* Caller owns the result: report_build_free. NULL on allocation failure. */
report_build *report_build_new(server *s, const report_params *p);
/* Works for about budget_ms (at least one device). 1 more to do, 0 done, <0 error. */
int report_build_step(report_build *b, int64_t budget_ms);
double report_build_progress(const report_build *b); /* 0..1 */
/* Transfers the finished document to the caller (NULL before it is done). */
cJSON *report_build_take(report_build *b);
void report_build_free(report_build *b);
/* Runs a whole build at once. Caller owns the result; NULL on error. */
cJSON *report_generate(server *s, const report_params *p);

/* ---- renderers ---- */
/* CSV of every section (section=NULL) or one section; malloc'd text, caller frees. NULL when
 * the section does not exist or memory runs out. */
char *report_render_csv(const cJSON *doc, const char *section, size_t *len);
/* PDF with charts; malloc'd bytes, caller frees. NULL on error. */
unsigned char *report_render_pdf(const cJSON *doc, size_t *len);
/* Releases cairo's and fontconfig's process-wide caches (at server stop; they are rebuilt on
 * the next PDF), so leak checkers see a clean exit. */
void report_pdf_shutdown(void);

/* ---- growable byte buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} rbuf;
void rbuf_put(rbuf *b, const void *data, size_t len);
void rbuf_puts(rbuf *b, const char *s);
void rbuf_printf(rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rbuf_json_str(rbuf *b, const char *s);  /* "..." with JSON escapes */
void rbuf_csv_field(rbuf *b, const char *s); /* quoted when needed (RFC 4180) */
void rbuf_free(rbuf *b);

/* ---- runtime (reports.c): queued builds, schedules, streamed exports ---- */
struct export_stream;
/* Queues a build (stored in the reports table, run a slice at a time on the loop). created_by
 * is a user id or "system"; schedule_id 0 for on-demand. Writes the report id. 0 ok. */
int reports_queue(server *s, const report_params *p, const char *created_by, int64_t schedule_id,
                  char id_out[UUID_STR_LEN + 1]);
/* Progress of a build that is queued or running in memory; false when it is not. */
bool reports_job_progress(server *s, const char *id, double *progress);
/* The list of streamed exports in flight (kept here for api/api_export.c). */
struct export_stream **reports_streams(server *s);
/* Next run of a schedule after now (UTC midnight / Monday 00:00) and the period it covers. */
int64_t reports_next_run(const char *period, int64_t now_ms);
void reports_period(const char *period, int64_t run_ms, int64_t *from_ms, int64_t *to_ms);

#endif
