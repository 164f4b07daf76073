/* Statement helpers with a type string and rows as JSON (see pg.h), the PostgreSQL twins of
 * store/db.c's db_exec / db_rows_json / db_int / db_text. */
#include "store/pg/pg.h"

#include "core/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 32

/* PostgreSQL type oids (pg_type.dat) */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

typedef struct {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][32];
    int n;
} params;

static int bind(params *p, const char *types, va_list ap)
{
    p->n = 0;
    for (const char *t = types; *t; t++) {
        if (p->n == MAX_PARAMS) return -1;
        int i = p->n++;
        switch (*t) {
        case 's':
            p->v[i] = va_arg(ap, const char *);
            break;
        case 'b':
            p->v[i] = va_arg(ap, const char *); /* NULL stays NULL */
            break;
        case 'i':
            snprintf(p->num[i], sizeof p->num[i], "%" PRId64, va_arg(ap, int64_t));
            p->v[i] = p->num[i];
            break;
        case 'd':
            snprintf(p->num[i], sizeof p->num[i], "%.17g", va_arg(ap, double));
            p->v[i] = p->num[i];
            break;
        case 'n':
            p->v[i] = NULL;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

static PGresult *run(pg_conn *c, const char *sql, const char *types, va_list ap)
{
    params p;
    if (bind(&p, types, ap) != 0) {
        log_error("pg_bind_failed", "types=%s sql=\"%.80s\"", types, sql);
        return NULL;
    }
    return pg_query(c, sql, p.n, p.v);
}

int pg_execf(pg_conn *c, int64_t *changes, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    PGresult *r = run(c, sql, types, ap);
    va_end(ap);
    if (!r) return pg_constraint_error(c) ? PG_ECONSTRAINT : -1;
    if (changes) *changes = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static cJSON *row_json(const PGresult *r, int row)
{
    cJSON *obj = cJSON_CreateObject();
    for (int c = 0; c < PQnfields(r); c++) {
        const char *name = PQfname(r, c);
        bool null = PQgetisnull(r, row, c);
        const char *v = PQgetvalue(r, row, c);
        char key[64];
        if (has_suffix(name, "_json")) {
            snprintf(key, sizeof key, "%.*s", (int)(strlen(name) - 5), name);
            cJSON *j = null ? NULL : cJSON_Parse(v);
            cJSON_AddItemToObject(obj, key, j ? j : cJSON_CreateNull());
            continue;
        }
        bool as_bool = strncmp(name, "is_", 3) == 0 || has_suffix(name, "_bool");
        if (has_suffix(name, "_bool"))
            snprintf(key, sizeof key, "%.*s", (int)(strlen(name) - 5), name);
        else
            snprintf(key, sizeof key, "%s", name);
        if (null) {
            cJSON_AddNullToObject(obj, key);
            continue;
        }
        switch (PQftype(r, c)) {
        case OID_BOOL:
            cJSON_AddBoolToObject(obj, key, v[0] == 't');
            break;
        case OID_INT2:
        case OID_INT4:
        case OID_INT8:
            if (as_bool)
                cJSON_AddBoolToObject(obj, key, strtoll(v, NULL, 10) != 0);
            else
                cJSON_AddNumberToObject(obj, name, (double)strtoll(v, NULL, 10));
            break;
        case OID_FLOAT4:
        case OID_FLOAT8:
        case OID_NUMERIC:
            cJSON_AddNumberToObject(obj, name, strtod(v, NULL));
            break;
        default:
            cJSON_AddStringToObject(obj, name, v);
            break;
        }
    }
    return obj;
}

static cJSON *rows_v(pg_conn *c, int max_rows, const char *sql, const char *types, va_list ap)
{
    PGresult *r = run(c, sql, types, ap);
    if (!r) return NULL;
    cJSON *arr = cJSON_CreateArray();
    int n = PQntuples(r);
    if (max_rows > 0 && n > max_rows) n = max_rows;
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, row_json(r, i));
    PQclear(r);
    return arr;
}

cJSON *pg_rows_json(pg_conn *c, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cJSON *r = rows_v(c, 0, sql, types, ap);
    va_end(ap);
    return r;
}

cJSON *pg_row_json(pg_conn *c, bool *found, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cJSON *arr = rows_v(c, 1, sql, types, ap);
    va_end(ap);
    *found = false;
    if (!arr) return NULL;
    cJSON *row = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    *found = row != NULL;
    return row;
}

int64_t pg_intf(pg_conn *c, int64_t def, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    PGresult *r = run(c, sql, types, ap);
    va_end(ap);
    if (!r) return def;
    int64_t v = def;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

int pg_textf(pg_conn *c, char *out, size_t cap, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    PGresult *r = run(c, sql, types, ap);
    va_end(ap);
    if (!r) return -1;
    int rc = 1;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}
