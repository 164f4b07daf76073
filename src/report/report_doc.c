/* The report document and what every kind shares: parameters, the JSON document helpers,
 * SQL with the report's named parameters bound, the step-wise build driver (begin, a slice
 * of devices per step, finish) and the CSV renderer. */
#include "report/report_int.h"

#include "store/store.h"

#include "core/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[REPORT_KIND_COUNT] = {"security", "performance", "compliance"};

const char *report_kind_name(report_kind k)
{
    return (unsigned)k < REPORT_KIND_COUNT ? kind_names[k] : "unknown";
}

int report_kind_parse(const char *s, report_kind *out)
{
    for (int i = 0; s && i < REPORT_KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (report_kind)i;
            return 0;
        }
    return -1;
}

void report_params_init(report_params *p, report_kind kind, int64_t from_ms, int64_t to_ms)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->from_ms = from_ms;
    p->to_ms = to_ms;
    p->flood_threshold = 20;
}

cJSON *report_params_json(const report_params *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", report_kind_name(p->kind));
    cJSON_AddNumberToObject(o, "from", (double)p->from_ms);
    cJSON_AddNumberToObject(o, "to", (double)p->to_ms);
    cJSON_AddStringToObject(o, "device_type", p->device_type);
    cJSON_AddStringToObject(o, "group", p->group);
    cJSON_AddStringToObject(o, "device_id", p->device_id);
    cJSON_AddStringToObject(o, "owner_id", p->owner_id);
    cJSON_AddNumberToObject(o, "flood_threshold", (double)p->flood_threshold);
    return o;
}

static int copy_str(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) return -1;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

int report_params_from_json(const cJSON *o, report_params *p)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(o, "to");
    const cJSON *flood = cJSON_GetObjectItemCaseSensitive(o, "flood_threshold");
    report_kind k;
    if (!cJSON_IsString(kind) || report_kind_parse(kind->valuestring, &k) != 0) return -1;
    if (!cJSON_IsNumber(from) || !cJSON_IsNumber(to)) return -1;
    report_params_init(p, k, (int64_t)from->valuedouble, (int64_t)to->valuedouble);
    if (copy_str(o, "device_type", p->device_type, sizeof p->device_type) ||
        copy_str(o, "group", p->group, sizeof p->group) ||
        copy_str(o, "device_id", p->device_id, sizeof p->device_id) ||
        copy_str(o, "owner_id", p->owner_id, sizeof p->owner_id))
        return -1;
    if (cJSON_IsNumber(flood) && flood->valuedouble >= 1)
        p->flood_threshold = (int64_t)flood->valuedouble;
    return p->from_ms < p->to_ms ? 0 : -1;
}

/* ---- document ---- */

cJSON *rdoc_new(const report_params *p, const char *title)
{
    cJSON *doc = cJSON_CreateObject();
    char t[32];
    cJSON_AddStringToObject(doc, "kind", report_kind_name(p->kind));
    cJSON_AddStringToObject(doc, "title", title);
    cJSON_AddNumberToObject(doc, "from", (double)p->from_ms);
    cJSON_AddNumberToObject(doc, "to", (double)p->to_ms);
    util_rfc3339(p->from_ms, t);
    cJSON_AddStringToObject(doc, "from_rfc3339", t);
    util_rfc3339(p->to_ms, t);
    cJSON_AddStringToObject(doc, "to_rfc3339", t);
    cJSON_AddNumberToObject(doc, "generated_at", (double)util_now_ms());
    cJSON *f = cJSON_AddObjectToObject(doc, "filters");
    cJSON_AddStringToObject(f, "device_type", p->device_type);
    cJSON_AddStringToObject(f, "group", p->group);
    cJSON_AddStringToObject(f, "device_id", p->device_id);
    cJSON_AddStringToObject(f, "owner_id", p->owner_id);
    cJSON_AddObjectToObject(doc, "summary");
    cJSON_AddObjectToObject(doc, "sections");
    return doc;
}

cJSON *rdoc_section(cJSON *doc, const char *id, const char *title, const char *chart,
                    const char *const *columns)
{
    cJSON *secs = cJSON_GetObjectItemCaseSensitive(doc, "sections");
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "title", title);
    if (chart)
        cJSON_AddStringToObject(s, "chart", chart);
    else
        cJSON_AddNullToObject(s, "chart");
    cJSON *cols = cJSON_AddArrayToObject(s, "columns");
    for (size_t i = 0; columns && columns[i]; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(columns[i]));
    cJSON *rows = cJSON_AddArrayToObject(s, "rows");
    cJSON_DeleteItemFromObjectCaseSensitive(secs, id);
    cJSON_AddItemToObject(secs, id, s);
    return rows;
}

void rdoc_chart_column(cJSON *doc, const char *section_id, const char *column)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "sections"),
                                                section_id);
    if (s) cJSON_AddStringToObject(s, "chart_column", column);
}

void rdoc_note(cJSON *doc, const char *section_id, const char *note)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "sections"),
                                                section_id);
    if (s) cJSON_AddStringToObject(s, "note", note);
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

void rdoc_row(cJSON *rows, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cJSON *row = cJSON_CreateArray();
    for (const char *t = types; *t; t++) {
        switch (*t) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            cJSON_AddItemToArray(row, s ? cJSON_CreateString(s) : cJSON_CreateNull());
            break;
        }
        case 'i':
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)va_arg(ap, int64_t)));
            break;
        case 'd':
            cJSON_AddItemToArray(row, num_or_null(va_arg(ap, double)));
            break;
        default:
            cJSON_AddItemToArray(row, cJSON_CreateNull());
            break;
        }
    }
    va_end(ap);
    cJSON_AddItemToArray(rows, row);
}

static void sum_set(cJSON *doc, const char *key, cJSON *v)
{
    cJSON *sum = cJSON_GetObjectItemCaseSensitive(doc, "summary");
    cJSON_DeleteItemFromObjectCaseSensitive(sum, key);
    cJSON_AddItemToObject(sum, key, v);
}

void rdoc_sum_int(cJSON *doc, const char *key, int64_t v)
{
    sum_set(doc, key, cJSON_CreateNumber((double)v));
}

void rdoc_sum_num(cJSON *doc, const char *key, double v)
{
    sum_set(doc, key, num_or_null(v));
}

void rdoc_sum_str(cJSON *doc, const char *key, const char *v)
{
    sum_set(doc, key, cJSON_CreateString(v ? v : ""));
}

void rdoc_sum_bool(cJSON *doc, const char *key, bool v)
{
    sum_set(doc, key, cJSON_CreateBool(v));
}

/* ---- queries ---- */

int64_t rdb_bucket_ms(const report_params *p)
{
    int64_t span = p->to_ms - p->from_ms;
    const int64_t week = 7 * 86400000LL;
    if (span <= 3 * 86400000LL) return 3600000;    /* hourly up to 3 days */
    if (span <= 120 * 86400000LL) return 86400000; /* daily up to 4 months */
    /* weekly beyond, in whole weeks so a chart never has more than about 1000 buckets */
    int64_t weeks = span / (1000 * week) + 1;
    return weeks * week;
}

void rq_scope(const report_params *p, const char *text, int64_t a, int64_t b,
              store_report_scope *out)
{
    *out = (store_report_scope){.from_ms = p->from_ms,
                                .to_ms = p->to_ms,
                                .device_type = p->device_type,
                                .group = p->group,
                                .device_id = p->device_id,
                                .owner_id = p->owner_id,
                                .bucket_ms = rdb_bucket_ms(p),
                                .flood_threshold = p->flood_threshold,
                                .text = text ? text : "",
                                .a = a,
                                .b = b};
}

cJSON *rq_table(server *s, const report_params *p, const char *query, const char *text, int64_t a,
                int64_t b)
{
    store_report_scope sc;
    rq_scope(p, text, a, b, &sc);
    if (!STORE_REPORT_QUERIES(s->st)) return NULL; /* the API refuses reports then (501) */
    return STORE_REPORT_QUERIES(s->st)->table(s->st, query, &sc);
}

int rq_section(server *s, const report_params *p, cJSON *doc, const char *id, const char *title,
               const char *chart, const char *query)
{
    cJSON *t = rq_table(s, p, query, NULL, 0, 0);
    if (!t) {
        rdoc_section(doc, id, title, chart, NULL);
        rdoc_note(doc, id, "not available");
        return -1;
    }
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(t, "columns");
    const char *cols[32];
    int n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, names)
    {
        if (n < 31 && cJSON_IsString(c)) cols[n++] = c->valuestring;
    }
    cols[n] = NULL;
    cJSON *rows = rdoc_section(doc, id, title, chart, cols);
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(t, "rows");
    cJSON *row;
    while (data && (row = cJSON_DetachItemFromArray(data, 0)) != NULL)
        cJSON_AddItemToArray(rows, row);
    cJSON_Delete(data);
    cJSON_Delete(t);
    return 0;
}

int64_t rq_int(server *s, const report_params *p, const char *query, const char *text, int64_t def)
{
    store_report_scope sc;
    rq_scope(p, text, 0, 0, &sc);
    double v;
    if (!STORE_REPORT_QUERIES(s->st)) return def;
    return STORE_REPORT_QUERIES(s->st)->number(s->st, query, &sc, &v) == STORE_OK ? (int64_t)v
                                                                                  : def;
}

double rq_num(server *s, const report_params *p, const char *query, double def)
{
    store_report_scope sc;
    rq_scope(p, NULL, 0, 0, &sc);
    double v;
    if (!STORE_REPORT_QUERIES(s->st)) return def;
    return STORE_REPORT_QUERIES(s->st)->number(s->st, query, &sc, &v) == STORE_OK ? v : def;
}

int rq_text(server *s, const report_params *p, const char *query, const char *text, int64_t a,
            char *out, size_t cap)
{
    store_report_scope sc;
    rq_scope(p, text, a, 0, &sc);
    out[0] = '\0';
    if (!STORE_REPORT_QUERIES(s->st)) return STORE_ERR;
    return STORE_REPORT_QUERIES(s->st)->text(s->st, query, &sc, out, cap);
}

/* ---- build driver ---- */

report_build *report_build_new(server *s, const report_params *p)
{
    static const report_ops *const ops[REPORT_KIND_COUNT] = {
        &report_security_ops, &report_performance_ops, &report_compliance_ops};
    if ((unsigned)p->kind >= REPORT_KIND_COUNT) return NULL;
    report_build *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->s = s;
    b->p = *p;
    b->ops = ops[p->kind];
    b->doc = rdoc_new(p, b->ops->title);
    if (!b->doc) {
        free(b);
        return NULL;
    }
    return b;
}

int report_build_step(report_build *b, int64_t budget_ms)
{
    int64_t deadline = util_mono_ns() + budget_ms * 1000000;
    if (b->stage == 0) {
        if (b->ops->begin(b) != 0) return -1;
        b->devices_total = b->ops->device ? rq_int(b->s, &b->p, "report.devices", NULL, 0) : 0;
        b->stage = b->ops->device ? 1 : 2;
        return 1;
    }
    if (b->stage == 1) {
        do {
            char id[UUID_STR_LEN + 1] = "";
            int rc = rq_text(b->s, &b->p, "report.next_device", b->cursor, 0, id, sizeof id);
            if (rc == STORE_ERR) return -1;
            if (rc == STORE_NOTFOUND) {
                b->stage = 2;
                return 1;
            }
            memcpy(b->cursor, id, sizeof id);
            if (b->ops->device(b, id) != 0) return -1;
            b->devices_done++;
        } while (util_mono_ns() < deadline);
        return 1;
    }
    if (b->stage == 2) {
        if (b->ops->finish && b->ops->finish(b) != 0) return -1;
        b->stage = 3;
    }
    return 0;
}

double report_build_progress(const report_build *b)
{
    if (b->stage >= 3) return 1.0;
    if (b->stage == 0) return 0.0;
    if (b->stage == 2 || b->devices_total <= 0) return 0.95;
    double f = (double)b->devices_done / (double)b->devices_total;
    return 0.05 + 0.9 * (f > 1 ? 1 : f);
}

cJSON *report_build_take(report_build *b)
{
    if (b->stage < 3) return NULL;
    cJSON *d = b->doc;
    b->doc = NULL;
    return d;
}

void report_build_free(report_build *b)
{
    if (!b) return;
    if (b->priv && b->ops->free_priv) b->ops->free_priv(b->priv);
    cJSON_Delete(b->doc);
    free(b);
}

cJSON *report_generate(server *s, const report_params *p)
{
    report_build *b = report_build_new(s, p);
    if (!b) return NULL;
    int rc;
    while ((rc = report_build_step(b, 1000)) == 1) {
    }
    cJSON *doc = rc == 0 ? report_build_take(b) : NULL;
    report_build_free(b);
    return doc;
}

/* ---- byte buffer ---- */

void rbuf_put(rbuf *b, const void *data, size_t len)
{
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
}

void rbuf_puts(rbuf *b, const char *s)
{
    rbuf_put(b, s, strlen(s));
}

void rbuf_printf(rbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        rbuf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rbuf_put(b, big, (size_t)n);
    free(big);
}

void rbuf_json_str(rbuf *b, const char *s)
{
    rbuf_put(b, "\"", 1);
    const char *run = s;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q >= 0x20 && *q != '"' && *q != '\\') continue;
        rbuf_put(b, run, (size_t)((const char *)q - run));
        char esc[8];
        switch (*q) {
        case '"':
            rbuf_put(b, "\\\"", 2);
            break;
        case '\\':
            rbuf_put(b, "\\\\", 2);
            break;
        case '\n':
            rbuf_put(b, "\\n", 2);
            break;
        case '\r':
            rbuf_put(b, "\\r", 2);
            break;
        case '\t':
            rbuf_put(b, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", *q);
            rbuf_put(b, esc, 6);
        }
        run = (const char *)q + 1;
    }
    rbuf_puts(b, run);
    rbuf_put(b, "\"", 1);
}

void rbuf_csv_field(rbuf *b, const char *s)
{
    /* a leading = + - @ is prefixed with ' so spreadsheets do not run it as a formula */
    bool formula =
        s[0] == '=' || s[0] == '+' || s[0] == '@' || (s[0] == '-' && !(s[1] >= '0' && s[1] <= '9'));
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        rbuf_puts(b, s);
        return;
    }
    rbuf_put(b, "\"", 1);
    if (formula) rbuf_put(b, "'", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"') rbuf_put(b, "\"", 1);
        rbuf_put(b, q, 1);
    }
    rbuf_put(b, "\"", 1);
}

void rbuf_free(rbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- CSV ---- */

static void csv_value(rbuf *b, const cJSON *v)
{
    char num[64];
    if (cJSON_IsString(v)) {
        rbuf_csv_field(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && fabs(d) < 9e15)
            snprintf(num, sizeof num, "%lld", (long long)d);
        else
            snprintf(num, sizeof num, "%.6g", d);
        rbuf_puts(b, num);
    } else if (cJSON_IsBool(v)) {
        rbuf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v) || !v) {
        /* empty field */
    } else {
        char *t = cJSON_PrintUnformatted(v);
        rbuf_csv_field(b, t ? t : "");
        free(t);
    }
}

static void csv_section(rbuf *b, const cJSON *sec, bool with_id, const char *id)
{
    const cJSON *c, *row, *v;
    if (with_id) rbuf_puts(b, "section,");
    bool first = true;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(sec, "columns"))
    {
        if (!first) rbuf_put(b, ",", 1);
        csv_value(b, c);
        first = false;
    }
    rbuf_puts(b, "\r\n");
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(sec, "rows"))
    {
        if (with_id) {
            rbuf_csv_field(b, id);
            rbuf_put(b, ",", 1);
        }
        first = true;
        cJSON_ArrayForEach(v, row)
        {
            if (!first) rbuf_put(b, ",", 1);
            csv_value(b, v);
            first = false;
        }
        rbuf_puts(b, "\r\n");
    }
}

char *report_render_csv(const cJSON *doc, const char *section, size_t *len)
{
    rbuf b = {0};
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(doc, "sections");
    if (section && section[0]) {
        const cJSON *sec = NULL;
        if (strcmp(section, "summary") != 0) {
            sec = cJSON_GetObjectItemCaseSensitive(secs, section);
            if (!sec) return NULL;
            csv_section(&b, sec, false, section);
            goto done;
        }
    }
    /* the summary first (key,value), then each section as a block that starts with its own
     * header row; every data row carries the section id in the first column */
    rbuf_puts(&b, "section,key,value\r\n");
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "summary"))
    {
        rbuf_puts(&b, "summary,");
        rbuf_csv_field(&b, v->string);
        rbuf_put(&b, ",", 1);
        csv_value(&b, v);
        rbuf_puts(&b, "\r\n");
    }
    if (section && section[0]) goto done;
    const cJSON *sec;
    cJSON_ArrayForEach(sec, secs)
    {
        rbuf_puts(&b, "\r\n");
        csv_section(&b, sec, true, sec->string);
    }
done:
    if (b.oom || !b.p) {
        rbuf_free(&b);
        return NULL;
    }
    *len = b.n;
    return b.p;
}
