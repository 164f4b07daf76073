/* Internals of the PostgreSQL back-end: the handle and the ops tables of its files (one file
 * per concern, as store/sqlite/). Everything here uses the statement helpers of pg.h. */
#ifndef IOTAD_STORE_PG_PG_INT_H
#define IOTAD_STORE_PG_PG_INT_H

#include "store/db.h" /* db_like_pattern: LIKE patterns, the same escaping on both back-ends */
#include "store/pg/store_pg.h"

typedef struct {
    store base;
    pg_conn *c;
    char url[512];
} pg_store;

static inline pg_conn *PG(store *st)
{
    return ((pg_store *)st)->c;
}

/* STORE_OK / STORE_ECONSTRAINT / STORE_ERR from a pg_execf result. */
static inline int pq_rc(int rc)
{
    return rc == 0 ? STORE_OK : rc == PG_ECONSTRAINT ? STORE_ECONSTRAINT : STORE_ERR;
}

/* STORE_OK / STORE_NOTFOUND / STORE_ERR from a pg_textf result. */
static inline int pq_text_rc(int rc)
{
    return rc == 0 ? STORE_OK : rc == 1 ? STORE_NOTFOUND : STORE_ERR;
}

static inline cJSON *pq_found(cJSON *row, bool found)
{
    if (found) return row;
    cJSON_Delete(row);
    return NULL;
}

/* store_backend.ts_open (ts.c) */
int pg_ts_open(store *st, const store_ts_options *opt, store_ts **out, char *err, size_t cap);

extern const store_settings_ops pg_settings_ops;
extern const store_users_ops pg_users_ops;
extern const store_tokens_ops pg_tokens_ops;
extern const store_audit_ops pg_audit_ops;
extern const store_devices_ops pg_devices_ops;
extern const store_state_ops pg_state_ops;
extern const store_anomalies_ops pg_anomalies_ops;
extern const store_rules_ops pg_rules_ops;
extern const store_incidents_ops pg_incidents_ops;
extern const store_alerts_ops pg_alerts_ops;
extern const store_reports_ops pg_reports_ops;
extern const store_series_ops pg_series_ops;
extern const store_export_ops pg_export_ops;
extern const store_report_queries_ops pg_report_queries_ops;

#endif
