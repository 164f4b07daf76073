/* The report builders' aggregates (report/report_*.c) on PostgreSQL: the shared catalog
 * (store/report_catalog.h) in PostgreSQL's dialect. Its named parameters (:from, :dev...)
 * become $1, $2... with their type, numbered in the order the statement first uses them, so
 * every parameter sent is used (PostgreSQL cannot type one a statement never names) and one
 * name used twice is one parameter. */
#include "store/pg/pg_int.h"

#include "core/log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL's dialect of the catalog */
#define RQ_ISO(expr)                                                                               \
    "to_char(to_timestamp(" expr ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define RQ_GROUP "(iotad_jsonb(attributes)->>'group')"
#define RQ_STRPOS(str, sub) "strpos(" str ", " sub ")"
#include "store/report_catalog.h"

#define MAX_PARAMS 16
#define SQL_CAP 16384

enum { P_INT, P_TEXT, P_BOOL };

typedef struct {
    const char *name;
    int type;
} param_def;

static const param_def params_known[] = {
    {"from", P_INT},  {"to", P_INT},     {"dtype", P_TEXT},      {"dgroup", P_TEXT},
    {"dev", P_TEXT},  {"owner", P_TEXT}, {"unfiltered", P_BOOL}, {"bucket", P_INT},
    {"flood", P_INT}, {"text", P_TEXT},  {"a", P_INT},           {"b", P_INT},
};
#define N_KNOWN (sizeof params_known / sizeof params_known[0])

static bool set(const char *s)
{
    return s && s[0];
}

/* The value of a known parameter as text, into buf when it is a number. */
static const char *param_value(size_t k, const store_report_scope *sc, char *buf, size_t cap)
{
    int64_t v = 0;
    switch (k) {
    case 0:
        v = sc->from_ms;
        break;
    case 1:
        v = sc->to_ms;
        break;
    case 2:
        return sc->device_type ? sc->device_type : "";
    case 3:
        return sc->group ? sc->group : "";
    case 4:
        return sc->device_id ? sc->device_id : "";
    case 5:
        return sc->owner_id ? sc->owner_id : "";
    case 6:
        return !set(sc->device_type) && !set(sc->group) && !set(sc->device_id) && !set(sc->owner_id)
                   ? "true"
                   : "false";
    case 7:
        v = sc->bucket_ms;
        break;
    case 8:
        v = sc->flood_threshold;
        break;
    case 9:
        return sc->text ? sc->text : "";
    case 10:
        v = sc->a;
        break;
    default:
        v = sc->b;
        break;
    }
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

typedef struct {
    char sql[SQL_CAP];
    size_t used[MAX_PARAMS]; /* index in params_known of $1, $2... */
    int n;
} translated;

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The statement with $n::type for each :name (outside quotes; :: casts kept). 0 or -1. */
static int translate(const char *name, const char *in, translated *t)
{
    static const char *const cast[] = {"bigint", "text", "boolean"};
    size_t o = 0;
    t->n = 0;
    for (const char *p = in; *p;) {
        if (*p == '\'' || *p == '"') { /* a literal or a quoted name, copied as is */
            char q = *p;
            const char *e = strchr(p + 1, q);
            size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
            if (o + len >= SQL_CAP) goto too_long;
            memcpy(t->sql + o, p, len);
            o += len, p += len;
            continue;
        }
        if (p[0] == ':' && p[1] == ':') {
            if (o + 2 >= SQL_CAP) goto too_long;
            t->sql[o++] = *p++;
            t->sql[o++] = *p++;
            continue;
        }
        if (p[0] == ':' && ident_char(p[1])) {
            const char *s = ++p;
            while (ident_char(*p))
                p++;
            size_t len = (size_t)(p - s), k = 0;
            while (k < N_KNOWN &&
                   (strlen(params_known[k].name) != len || strncmp(params_known[k].name, s, len)))
                k++;
            if (k == N_KNOWN) {
                log_error("report_query_bad_param", "query=%s param=%.*s", name, (int)len, s);
                return -1;
            }
            int num = 0;
            while (num < t->n && t->used[num] != k)
                num++;
            if (num == t->n) {
                if (t->n == MAX_PARAMS) goto too_long;
                t->used[t->n++] = k;
            }
            int w =
                snprintf(t->sql + o, SQL_CAP - o, "$%d::%s", num + 1, cast[params_known[k].type]);
            if (w < 0 || (size_t)w >= SQL_CAP - o) goto too_long;
            o += (size_t)w;
            continue;
        }
        if (o + 1 >= SQL_CAP) goto too_long;
        t->sql[o++] = *p++;
    }
    t->sql[o] = 0;
    return 0;
too_long:
    log_error("report_query_too_long", "query=%s", name);
    return -1;
}

static PGresult *run(store *st, const char *name, const store_report_scope *sc)
{
    const char *sql = report_catalog_sql(name);
    if (!sql) {
        log_error("report_query_unknown", "name=%s", name);
        return NULL;
    }
    translated *t = malloc(sizeof *t);
    if (!t || translate(name, sql, t) != 0) {
        free(t);
        return NULL;
    }
    char bufs[MAX_PARAMS][24];
    const char *values[MAX_PARAMS];
    for (int i = 0; i < t->n; i++)
        values[i] = param_value(t->used[i], sc, bufs[i], sizeof bufs[i]);
    PGresult *r = pg_query(PG(st), t->sql, t->n, values); /* NULL: logged (pg_query_failed) */
    free(t);
    return r;
}

static cJSON *value_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return cJSON_CreateNull();
    const char *s = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        return cJSON_CreateNumber((double)strtoll(s, NULL, 10));
    case 700: /* float4 */
    case 701: /* float8 */
    case 1700: /* numeric */ {
        double v = strtod(s, NULL);
        return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    }
    case 16: /* bool: as SQLite's 0/1 */
        return cJSON_CreateNumber(s[0] == 't');
    default:
        return cJSON_CreateString(s);
    }
}

static cJSON *table(store *st, const char *name, const store_report_scope *sc)
{
    PGresult *r = run(st, name, sc);
    if (!r) return NULL;
    cJSON *t = cJSON_CreateObject();
    cJSON *cols = cJSON_AddArrayToObject(t, "columns");
    cJSON *rows = cJSON_AddArrayToObject(t, "rows");
    int n = PQnfields(r), m = PQntuples(r);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(cols, cJSON_CreateString(PQfname(r, i)));
    for (int k = 0; k < m; k++) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(row, value_json(r, k, i));
        cJSON_AddItemToArray(rows, row);
    }
    PQclear(r);
    return t;
}

static int number(store *st, const char *name, const store_report_scope *sc, double *out)
{
    PGresult *r = run(st, name, sc);
    if (!r) return STORE_ERR;
    int rc = STORE_NOTFOUND;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
        cJSON *v = value_json(r, 0, 0);
        if (cJSON_IsNumber(v)) {
            *out = v->valuedouble;
            rc = STORE_OK;
        } else {
            log_error("report_query_not_a_number", "query=%s", name);
            rc = STORE_ERR;
        }
        cJSON_Delete(v);
    }
    PQclear(r);
    return rc;
}

static int text(store *st, const char *name, const store_report_scope *sc, char *out, size_t cap)
{
    PGresult *r = run(st, name, sc);
    if (!r) return STORE_ERR;
    int rc = STORE_NOTFOUND;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
        rc = STORE_OK;
    }
    PQclear(r);
    return rc;
}

const store_report_queries_ops pg_report_queries_ops = {table, number, text};
