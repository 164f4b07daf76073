/* The forensic export's records (report/export.c), a page at a time by a keyset: the twin of
 * store/sqlite/export_rows.c. Every statement starts with the CTE p, which names its
 * parameters once (so each statement may use any of them): from, to (range), devs
 * (comma-separated ids), dtype, owner (device filter), unf (no device filter set), the cursor's
 * kts, ktext, kint, and page. */
#include "store/pg/pg_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARAMS                                                                                     \
    "WITH p AS (SELECT $1::bigint AS from_, $2::bigint AS to_, $3::text AS devs, $4::text AS "     \
    "dtype, $5::text AS owner, $6::boolean AS unf, $7::bigint AS kts, $8::text AS ktext, "         \
    "$9::bigint AS kint, $10::bigint AS page) "

/* the devices an export covers */
#define DEVSET                                                                                     \
    "(SELECT id FROM devices, p WHERE (p.devs = '' OR id = ANY(string_to_array(p.devs, ','))) "    \
    "AND (p.dtype = '' OR type = p.dtype) AND (p.owner = '' OR owner_id = p.owner))"

/* Per kind: the statement, and where the last row's keys are (time column, key column and
 * whether that is text; -1: none). Columns 0..3 are the CSV columns. */
static const struct {
    const char *sql;
    int ts_col, key_col;
    bool key_text;
} kinds[] = {
    [STORE_EXPORT_ANOMALIES] =
        {PARAMS "SELECT a.detected_at AS ts_, a.device_id AS device_id_, a.metric AS name_, "
                "a.severity AS value_, a.id, a.device_id, a.metric, a.detected_at, a.updated_at, "
                "a.severity, a.description, a.details, a.resolved, a.resolved_at, a.verdict, "
                "a.rule_id FROM anomalies a, p WHERE a.detected_at >= p.from_ AND a.detected_at < "
                "p.to_ AND a.device_id IN " DEVSET " AND (a.detected_at, a.id) > (p.kts, p.ktext) "
                "ORDER BY a.detected_at, a.id LIMIT (SELECT page FROM p)",
         0, 4, true},
    /* every column of the incident (as SQLite's i.*), paged by seq (SQLite: rowid) */
    [STORE_EXPORT_INCIDENTS] =
        {PARAMS "SELECT i.created_at AS ts_, i.device_id AS device_id_, '' AS name_, '' AS "
                "value_, i.seq AS key_, a.device_id AS anomaly_device_id, i.id, i.anomaly_id, "
                "i.assigned_to, i.status, i.created_at, i.title, i.severity, i.device_id, "
                "i.origin, i.created_by, i.updated_at, i.acknowledged_at, i.resolved_at, "
                "i.verdict FROM incidents i LEFT JOIN anomalies a ON a.id = i.anomaly_id, p "
                "WHERE i.created_at >= p.from_ AND i.created_at < p.to_ AND (p.unf OR "
                "i.device_id IN " DEVSET " OR a.device_id IN " DEVSET ") AND i.seq > p.kint "
                "ORDER BY i.seq LIMIT (SELECT page FROM p)",
         -1, 4, false},
    [STORE_EXPORT_EVENTS] =
        {PARAMS "SELECT e.ts AS ts_, e.device_id AS device_id_, e.kind AS name_, e.category AS "
                "value_, e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, "
                "e.detail FROM device_events e, p WHERE e.ts >= p.from_ AND e.ts < p.to_ AND "
                "(e.device_id IN " DEVSET " OR (e.device_id IS NULL AND p.unf)) AND e.id > p.kint "
                "ORDER BY e.id LIMIT (SELECT page FROM p)",
         -1, 4, false},
    [STORE_EXPORT_AUDIT] =
        {PARAMS "SELECT l.ts AS ts_, NULL AS device_id_, l.action AS name_, l.actor AS value_, "
                "l.seq, l.ts, l.actor, l.action, l.target, l.detail, l.peer, l.prev_hash, l.hash "
                "FROM audit_log l, p WHERE l.ts >= p.from_ AND l.ts < p.to_ AND (p.unf OR "
                "l.target IN " DEVSET ") AND l.seq > p.kint ORDER BY l.seq LIMIT (SELECT page "
                "FROM p)",
         -1, 4, false},
};

#define MAX_COLS 64

static bool set(const char *s)
{
    return s && s[0];
}

/* The statement with the scope, the cursor (NULL: none) and the page size bound. */
static PGresult *run(store *st, const char *sql, const store_export_scope *sc,
                     const store_export_cursor *cur, int64_t limit, const char *extra)
{
    char from[24], to[24], kts[24], kint[24], page[24];
    snprintf(from, sizeof from, "%" PRId64, sc->from_ms);
    snprintf(to, sizeof to, "%" PRId64, sc->to_ms);
    bool started = cur && cur->started;
    snprintf(kts, sizeof kts, "%" PRId64, started ? cur->ts : INT64_MIN);
    snprintf(kint, sizeof kint, "%" PRId64, started ? cur->id : INT64_MIN);
    snprintf(page, sizeof page, "%" PRId64, limit);
    bool unfiltered = !set(sc->devices) && !set(sc->device_type) && !set(sc->owner_id);
    const char *params[11] = {from,
                              to,
                              sc->devices ? sc->devices : "",
                              sc->device_type ? sc->device_type : "",
                              sc->owner_id ? sc->owner_id : "",
                              unfiltered ? "true" : "false",
                              kts,
                              started ? cur->text : "",
                              kint,
                              page,
                              extra};
    return pg_query(PG(st), sql, extra ? 11 : 10, params); /* NULL: logged (pg_query_failed) */
}

static int next_device(store *st, const store_export_scope *sc, const char *after, char *out,
                       size_t cap)
{
    PGresult *r = run(st,
                      PARAMS "SELECT id FROM devices WHERE id IN " DEVSET
                             " AND id > $11::text ORDER BY id LIMIT 1",
                      sc, NULL, 1, after ? after : "");
    if (!r) return STORE_ERR;
    int rc = STORE_NOTFOUND;
    if (PQntuples(r) > 0) {
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
        rc = STORE_OK;
    }
    PQclear(r);
    return rc;
}

static store_value value_of(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return (store_value){.type = STORE_NULL};
    const char *s = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        return (store_value){.type = STORE_INT, .i = strtoll(s, NULL, 10)};
    case 16: /* bool */
        return (store_value){.type = STORE_INT, .i = s[0] == 't'};
    case 700:  /* float4 */
    case 701:  /* float8 */
    case 1700: /* numeric */
        return (store_value){.type = STORE_REAL, .r = strtod(s, NULL)};
    default:
        return (store_value){.type = STORE_TEXT, .s = s};
    }
}

static int page(store *st, int kind, const store_export_scope *sc, store_export_cursor *cur,
                int limit, store_row_fn row, void *arg)
{
    if (kind < 0 || kind >= (int)(sizeof kinds / sizeof kinds[0])) return STORE_ERR;
    PGresult *r = run(st, kinds[kind].sql, sc, cur, limit, NULL);
    if (!r) return STORE_ERR;
    int n = PQnfields(r);
    if (n > MAX_COLS) n = MAX_COLS;
    const char *names[MAX_COLS];
    for (int i = 0; i < n; i++)
        names[i] = PQfname(r, i);
    store_value v[MAX_COLS];
    int rows = PQntuples(r);
    for (int k = 0; k < rows; k++) {
        for (int i = 0; i < n; i++)
            v[i] = value_of(r, k, i);
        row(arg, n, names, v);
        cur->started = true;
        if (kinds[kind].ts_col >= 0)
            cur->ts = strtoll(PQgetvalue(r, k, kinds[kind].ts_col), NULL, 10);
        if (kinds[kind].key_text)
            snprintf(cur->text, sizeof cur->text, "%s", PQgetvalue(r, k, kinds[kind].key_col));
        else
            cur->id = strtoll(PQgetvalue(r, k, kinds[kind].key_col), NULL, 10);
    }
    PQclear(r);
    return rows;
}

const store_export_ops pg_export_ops = {next_device, page};
