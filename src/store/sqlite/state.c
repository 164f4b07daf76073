/* Detector state snapshots (table detector_state). */
#include "store/sqlite/sqlite_int.h"

static int put(store *st, const char *device_id, const char *metric, const void *blob, size_t len,
               int64_t now_ms)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           "INSERT INTO detector_state(device_id, metric, state, updated_at) "
                           "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS "
                           "(SELECT 1 FROM devices WHERE id = ?1) "
                           "ON CONFLICT(device_id, metric) DO UPDATE SET "
                           "state = excluded.state, updated_at = excluded.updated_at",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, now_ms);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

static int scan(store *st, const char *metric, store_state_fn fn, void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(SQ(st),
                           metric ? "SELECT device_id, metric, state FROM detector_state "
                                    "WHERE metric = ?"
                                  : "SELECT device_id, metric, state FROM detector_state",
                           -1, &q, NULL) != SQLITE_OK)
        return STORE_ERR;
    if (metric) sqlite3_bind_text(q, 1, metric, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(q, 2);
        int len = sqlite3_column_bytes(q, 2);
        fn(arg, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
           blob, blob && len > 0 ? (size_t)len : 0);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERR;
}

const store_state_ops sqlite_state_ops = {put, scan};
