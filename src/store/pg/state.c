/* Detector state snapshots (table detector_state); the snapshot goes as a binary parameter
 * and comes back as a binary column (no hex text in between). */
#include "store/pg/pg_int.h"

#include <inttypes.h>
#include <stdio.h>

static int put(store *st, const char *device_id, const char *metric, const void *blob, size_t len,
               int64_t now_ms)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *v[] = {device_id, metric, blob, now};
    int lens[] = {0, 0, (int)len, 0}, fmts[] = {0, 0, 1, 0};
    PGresult *r = PQexecParams(pg_raw(PG(st)),
                               "INSERT INTO detector_state(device_id, metric, state, updated_at) "
                               "SELECT $1, $2, $3::bytea, $4::bigint WHERE EXISTS "
                               "(SELECT 1 FROM devices WHERE id = $1) "
                               "ON CONFLICT(device_id, metric) DO UPDATE SET "
                               "state = excluded.state, updated_at = excluded.updated_at",
                               4, NULL, v, lens, fmts, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : STORE_ERR;
    PQclear(r);
    return rc;
}

static int scan(store *st, const char *metric, store_state_fn fn, void *arg)
{
    const char *v[] = {metric};
    PGresult *r = PQexecParams(pg_raw(PG(st)),
                               metric ? "SELECT device_id, metric, state FROM detector_state "
                                        "WHERE metric = $1"
                                      : "SELECT device_id, metric, state FROM detector_state",
                               metric ? 1 : 0, NULL, metric ? v : NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return STORE_ERR;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int len = PQgetlength(r, i, 2);
        /* binary text columns are the bytes of the text, without a terminator: copy them */
        char dev[256], met[512];
        snprintf(dev, sizeof dev, "%.*s", PQgetlength(r, i, 0), PQgetvalue(r, i, 0));
        snprintf(met, sizeof met, "%.*s", PQgetlength(r, i, 1), PQgetvalue(r, i, 1));
        fn(arg, dev, met, PQgetvalue(r, i, 2), len > 0 ? (size_t)len : 0);
    }
    PQclear(r);
    return STORE_OK;
}

const store_state_ops pg_state_ops = {put, scan};
