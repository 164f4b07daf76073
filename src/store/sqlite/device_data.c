/* The device_data virtual table; see device_data.h. A scan resolves the matching series from
 * the series table, then streams each series' points in [from, to) from the store, a page at a
 * time, so memory stays bounded whatever the range. The row id (and the "id" column, which
 * the brief has as a UUID) is derived from series id and timestamp: "<series>-<ts>". */
#include "store/sqlite/device_data.h"

#include "store/sqlite/tsdb.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096

enum { COL_ID, COL_DEVICE, COL_TS, COL_METRIC, COL_VALUE };
/* idxNum bits: which constraints were pushed down */
enum { HAS_DEVICE = 1, HAS_METRIC = 2, HAS_FROM = 4, HAS_TO = 8 };

typedef struct {
    sqlite3_vtab base;
    tsdb *ts;
    sqlite3 *db;
} dd_vtab;

typedef struct {
    sqlite3_vtab_cursor base;
    dd_vtab *vt;
    sqlite3_stmt *series; /* (id, device_id, metric) of the matching series */
    int64_t series_id;
    char device[256], metric[256];
    int64_t from, to;
    int64_t ts[PAGE];
    double v[PAGE];
    int n, i;
    int64_t next; /* where the next page of this series starts */
    int more;     /* the current series has points left */
    int eof;
} dd_cursor;

static void collect(void *arg, int64_t ts, double v)
{
    dd_cursor *c = arg;
    if (c->n < PAGE) {
        c->ts[c->n] = ts;
        c->v[c->n] = v;
        c->n++;
    }
}

static int dd_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id TEXT, device_id TEXT, timestamp INTEGER, "
                                      "metric TEXT, value REAL)");
    if (rc != SQLITE_OK) return rc;
    dd_vtab *vt = sqlite3_malloc(sizeof *vt);
    if (!vt) return SQLITE_NOMEM;
    memset(vt, 0, sizeof *vt);
    vt->ts = aux;
    vt->db = db;
    *out = &vt->base;
    return SQLITE_OK;
}

static int dd_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int dd_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    int idx = 0, argv = 0;
    int slot[4] = {-1, -1, -1, -1};
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable) continue;
        if (c->iColumn == COL_DEVICE && c->op == SQLITE_INDEX_CONSTRAINT_EQ) slot[0] = i;
        if (c->iColumn == COL_METRIC && c->op == SQLITE_INDEX_CONSTRAINT_EQ) slot[1] = i;
        if (c->iColumn == COL_TS &&
            (c->op == SQLITE_INDEX_CONSTRAINT_GE || c->op == SQLITE_INDEX_CONSTRAINT_GT))
            slot[2] = i;
        if (c->iColumn == COL_TS &&
            (c->op == SQLITE_INDEX_CONSTRAINT_LT || c->op == SQLITE_INDEX_CONSTRAINT_LE))
            slot[3] = i;
    }
    static const int bits[4] = {HAS_DEVICE, HAS_METRIC, HAS_FROM, HAS_TO};
    for (int k = 0; k < 4; k++) {
        if (slot[k] < 0) continue;
        idx |= bits[k];
        info->aConstraintUsage[slot[k]].argvIndex = ++argv;
        /* GT/LE are widened to GE/LT + 1 in xFilter, so SQLite need not re-check them */
        info->aConstraintUsage[slot[k]].omit = 1;
    }
    /* remember the exact operators of the time bounds in idxStr-free form: bit 16 = GT, 32 = LE */
    if (slot[2] >= 0 && info->aConstraint[slot[2]].op == SQLITE_INDEX_CONSTRAINT_GT) idx |= 16;
    if (slot[3] >= 0 && info->aConstraint[slot[3]].op == SQLITE_INDEX_CONSTRAINT_LE) idx |= 32;
    info->idxNum = idx;
    info->estimatedCost = (idx & HAS_DEVICE) ? ((idx & HAS_METRIC) ? 10 : 100) : 1e9;
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_TS && !info->aOrderBy[0].desc &&
        (idx & HAS_DEVICE) && (idx & HAS_METRIC))
        info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int dd_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    dd_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->vt = (dd_vtab *)vt;
    *out = &c->base;
    return SQLITE_OK;
}

static int dd_close(sqlite3_vtab_cursor *cur)
{
    dd_cursor *c = (dd_cursor *)cur;
    sqlite3_finalize(c->series);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Loads the next non-empty page, moving to the next series as needed. */
static int load_page(dd_cursor *c)
{
    for (;;) {
        if (c->more) {
            c->n = c->i = 0;
            int64_t next = -1;
            if (tsdb_query(c->vt->ts, c->series_id, c->next, c->to, PAGE, collect, c, &next) < 0)
                return SQLITE_ERROR;
            c->more = next >= 0; /* tsdb_query: next is -1 once the range is exhausted */
            c->next = next;
            if (c->n > 0) return SQLITE_OK;
        }
        int rc = sqlite3_step(c->series);
        if (rc == SQLITE_DONE) {
            c->eof = 1;
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW) return SQLITE_ERROR;
        c->series_id = sqlite3_column_int64(c->series, 0);
        snprintf(c->device, sizeof c->device, "%s", sqlite3_column_text(c->series, 1));
        snprintf(c->metric, sizeof c->metric, "%s", sqlite3_column_text(c->series, 2));
        c->next = c->from;
        c->more = 1;
    }
}

static int dd_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc,
                     sqlite3_value **argv)
{
    (void)idx_str;
    (void)argc;
    dd_cursor *c = (dd_cursor *)cur;
    sqlite3_finalize(c->series);
    c->series = NULL;
    c->eof = 0;
    c->n = c->i = 0;
    c->series_id = 0;
    c->more = 0;
    c->from = INT64_MIN;
    c->to = INT64_MAX;
    const char *device = NULL, *metric = NULL;
    int a = 0;
    if (idx & HAS_DEVICE) device = (const char *)sqlite3_value_text(argv[a++]);
    if (idx & HAS_METRIC) metric = (const char *)sqlite3_value_text(argv[a++]);
    if (idx & HAS_FROM) {
        c->from = sqlite3_value_int64(argv[a++]);
        if ((idx & 16) && c->from < INT64_MAX) c->from++;
    }
    if (idx & HAS_TO) {
        c->to = sqlite3_value_int64(argv[a++]);
        if ((idx & 32) && c->to < INT64_MAX) c->to++;
    }
    if (sqlite3_prepare_v2(c->vt->db,
                           "SELECT id, device_id, metric FROM series WHERE (?1 IS NULL OR "
                           "device_id = ?1) AND (?2 IS NULL OR metric = ?2) ORDER BY id",
                           -1, &c->series, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    if (device) sqlite3_bind_text(c->series, 1, device, -1, SQLITE_TRANSIENT);
    if (metric) sqlite3_bind_text(c->series, 2, metric, -1, SQLITE_TRANSIENT);
    return load_page(c);
}

static int dd_next(sqlite3_vtab_cursor *cur)
{
    dd_cursor *c = (dd_cursor *)cur;
    if (++c->i < c->n) return SQLITE_OK;
    return load_page(c);
}

static int dd_eof(sqlite3_vtab_cursor *cur)
{
    return ((dd_cursor *)cur)->eof;
}

static int dd_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    dd_cursor *c = (dd_cursor *)cur;
    switch (col) {
    case COL_ID: {
        char id[48];
        snprintf(id, sizeof id, "%lld-%lld", (long long)c->series_id, (long long)c->ts[c->i]);
        sqlite3_result_text(ctx, id, -1, SQLITE_TRANSIENT);
        break;
    }
    case COL_DEVICE:
        sqlite3_result_text(ctx, c->device, -1, SQLITE_TRANSIENT);
        break;
    case COL_TS:
        sqlite3_result_int64(ctx, c->ts[c->i]);
        break;
    case COL_METRIC:
        sqlite3_result_text(ctx, c->metric, -1, SQLITE_TRANSIENT);
        break;
    case COL_VALUE:
        sqlite3_result_double(ctx, c->v[c->i]);
        break;
    }
    return SQLITE_OK;
}

static int dd_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    dd_cursor *c = (dd_cursor *)cur;
    /* unique within a scan: series id in the high bits, position in the series below */
    *rowid = (c->series_id << 40) ^ (c->ts[c->i] & ((1LL << 40) - 1));
    return SQLITE_OK;
}

static const sqlite3_module device_data_module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: exists in every connection it is registered on */
    .xConnect = dd_connect,
    .xBestIndex = dd_best_index,
    .xDisconnect = dd_disconnect,
    .xDestroy = dd_disconnect,
    .xOpen = dd_open,
    .xClose = dd_close,
    .xFilter = dd_filter,
    .xNext = dd_next,
    .xEof = dd_eof,
    .xColumn = dd_column,
    .xRowid = dd_rowid,
};

int device_data_register(sqlite3 *db, tsdb *ts)
{
    return sqlite3_create_module(db, "device_data", &device_data_module, ts) == SQLITE_OK ? 0 : -1;
}
