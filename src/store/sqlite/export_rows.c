/* The forensic export's records (report/export.c), a page at a time by a keyset. Statements
 * use named parameters: :from :to (range), :devs (comma-separated ids) :dtype :owner (device
 * filter), :unfiltered (1 when no device filter is set), the cursor's :kts :ktext :kint, and
 * :page. */
#include "store/sqlite/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

/* the devices an export covers */
#define DEVSET                                                                                     \
    "(SELECT id FROM devices WHERE (:devs = '' OR instr(',' || :devs || ',', ',' || id || ',') "   \
    "> 0) AND (:dtype = '' OR type = :dtype) AND (:owner = '' OR owner_id = :owner))"

/* Per kind: the statement, and where the last row's keys are (time column, key column and
 * whether that is text; -1: none). Columns 0..3 are the CSV columns. */
static const struct {
    const char *sql;
    int ts_col, key_col;
    bool key_text;
} kinds[] = {
    [STORE_EXPORT_ANOMALIES] =
        {"SELECT a.detected_at AS ts_, a.device_id AS device_id_, a.metric AS name_, "
         "a.severity AS value_, a.id, a.device_id, a.metric, a.detected_at, a.updated_at, "
         "a.severity, a.description, a.details, a.resolved, a.resolved_at, a.verdict, a.rule_id "
         "FROM anomalies a WHERE a.detected_at >= :from AND a.detected_at < :to AND a.device_id "
         "IN " DEVSET " AND (a.detected_at, a.id) > (:kts, :ktext) ORDER BY a.detected_at, a.id "
         "LIMIT :page",
         0, 4, true},
    /* every column of the incident, paged by rowid */
    [STORE_EXPORT_INCIDENTS] =
        {"SELECT i.created_at AS ts_, i.device_id AS device_id_, '' AS name_, '' AS value_, "
         "i.rowid AS key_, a.device_id AS anomaly_device_id, i.* FROM incidents i LEFT JOIN "
         "anomalies a ON a.id = i.anomaly_id WHERE i.created_at >= :from AND i.created_at < :to "
         "AND (:unfiltered OR i.device_id IN " DEVSET " OR a.device_id IN " DEVSET ") AND "
         "i.rowid > :kint ORDER BY i.rowid LIMIT :page",
         -1, 4, false},
    [STORE_EXPORT_EVENTS] =
        {"SELECT e.ts AS ts_, e.device_id AS device_id_, e.kind AS name_, e.category AS value_, "
         "e.id, e.ts, e.device_id, e.category, e.kind, e.transport, e.peer, e.detail FROM "
         "device_events e WHERE e.ts >= :from AND e.ts < :to AND (e.device_id IN " DEVSET
         " OR (e.device_id IS NULL AND :unfiltered)) AND e.id > :kint ORDER BY e.id LIMIT :page",
         -1, 4, false},
    [STORE_EXPORT_AUDIT] =
        {"SELECT l.ts AS ts_, NULL AS device_id_, l.action AS name_, l.actor AS value_, l.seq, "
         "l.ts, l.actor, l.action, l.target, l.detail, l.peer, l.prev_hash, l.hash FROM "
         "audit_log l WHERE l.ts >= :from AND l.ts < :to AND (:unfiltered OR l.target IN " DEVSET
         ") AND l.seq > :kint ORDER BY l.seq LIMIT :page",
         -1, 4, false},
};

#define MAX_COLS 64

static sqlite3_stmt *prepare(store *st, const char *sql, const store_export_scope *sc,
                             const store_export_cursor *cur)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(SQ(st), sql, -1, &q, NULL) != SQLITE_OK) {
        log_error("export_sql_failed", "err=\"%s\"", sqlite3_errmsg(SQ(st)));
        sqlite3_finalize(q);
        return NULL;
    }
    sq_bind_int(q, ":from", sc->from_ms);
    sq_bind_int(q, ":to", sc->to_ms);
    sq_bind_text(q, ":devs", sc->devices);
    sq_bind_text(q, ":dtype", sc->device_type);
    sq_bind_text(q, ":owner", sc->owner_id);
    sq_bind_int(q, ":unfiltered",
                !sq_set(sc->devices) && !sq_set(sc->device_type) && !sq_set(sc->owner_id));
    if (cur) {
        sq_bind_int(q, ":kts", cur->started ? cur->ts : INT64_MIN);
        sq_bind_int(q, ":kint", cur->started ? cur->id : INT64_MIN);
        sq_bind_text(q, ":ktext", cur->started ? cur->text : "");
    }
    return q;
}

static int next_device(store *st, const store_export_scope *sc, const char *after, char *out,
                       size_t cap)
{
    sqlite3_stmt *q = prepare(
        st, "SELECT id FROM devices WHERE id IN " DEVSET " AND id > :after ORDER BY id LIMIT 1", sc,
        NULL);
    if (!q) return STORE_ERR;
    sq_bind_text(q, ":after", after);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERR;
}

static int page(store *st, int kind, const store_export_scope *sc, store_export_cursor *cur,
                int limit, store_row_fn row, void *arg)
{
    if (kind < 0 || kind >= (int)(sizeof kinds / sizeof kinds[0])) return STORE_ERR;
    sqlite3_stmt *q = prepare(st, kinds[kind].sql, sc, cur);
    if (!q) return STORE_ERR;
    sq_bind_int(q, ":page", limit);
    int n = sqlite3_column_count(q);
    if (n > MAX_COLS) n = MAX_COLS;
    const char *names[MAX_COLS];
    for (int i = 0; i < n; i++)
        names[i] = sqlite3_column_name(q, i);
    store_value v[MAX_COLS];
    int rows = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) {
            switch (sqlite3_column_type(q, i)) {
            case SQLITE_INTEGER:
                v[i] = (store_value){.type = STORE_INT, .i = sqlite3_column_int64(q, i)};
                break;
            case SQLITE_FLOAT:
                v[i] = (store_value){.type = STORE_REAL, .r = sqlite3_column_double(q, i)};
                break;
            case SQLITE_NULL:
                v[i] = (store_value){.type = STORE_NULL};
                break;
            default:
                v[i] =
                    (store_value){.type = STORE_TEXT, .s = (const char *)sqlite3_column_text(q, i)};
                break;
            }
        }
        row(arg, n, names, v);
        cur->started = true;
        if (kinds[kind].ts_col >= 0) cur->ts = sqlite3_column_int64(q, kinds[kind].ts_col);
        if (kinds[kind].key_text)
            snprintf(cur->text, sizeof cur->text, "%s",
                     (const char *)sqlite3_column_text(q, kinds[kind].key_col));
        else
            cur->id = sqlite3_column_int64(q, kinds[kind].key_col);
        rows++;
    }
    if (rc != SQLITE_DONE)
        log_error("export_sql_failed", "kind=%d err=\"%s\"", kind, sqlite3_errmsg(SQ(st)));
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? rows : STORE_ERR;
}

const store_export_ops sqlite_export_ops = {next_device, page};
