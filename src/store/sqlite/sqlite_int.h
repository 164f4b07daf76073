/* Internals of the SQLite back-end: the handle and the ops tables of its files (one file per
 * concern). Everything here uses the statement helpers of store/db.h. */
#ifndef IOTAD_STORE_SQLITE_SQLITE_INT_H
#define IOTAD_STORE_SQLITE_SQLITE_INT_H

#include "store/db.h"
#include "store/sqlite/sqlite.h"

typedef struct {
    store base;
    sqlite3 *db;
    bool owned; /* closed by store_close */
} sqlite_store;

/* store_backend.ts_open (ts.c) */
int sqlite_ts_open(store *st, const store_ts_options *opt, store_ts **out, char *err, size_t cap);

static inline sqlite3 *SQ(store *st)
{
    return ((sqlite_store *)st)->db;
}

/* STORE_OK / STORE_ECONSTRAINT / STORE_ERR from a db_exec result. */
static inline int sq_rc(int db_rc)
{
    return db_rc == 0 ? STORE_OK : db_rc == DB_ECONSTRAINT ? STORE_ECONSTRAINT : STORE_ERR;
}

/* STORE_OK / STORE_NOTFOUND / STORE_ERR from a db_text result. */
static inline int sq_text_rc(int db_rc)
{
    return db_rc == 0 ? STORE_OK : db_rc == 1 ? STORE_NOTFOUND : STORE_ERR;
}

/* A row from db_row_json, or NULL when there was none. */
static inline cJSON *sq_found(cJSON *row, bool found)
{
    if (found) return row;
    cJSON_Delete(row);
    return NULL;
}

/* Binds a named parameter (":name") if the statement has it: text (NULL binds ""; copied) and
 * integer. The named queries of report_queries.c and export_rows.c share one set of names. */
static inline void sq_bind_text(sqlite3_stmt *q, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0) sqlite3_bind_text(q, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static inline void sq_bind_int(sqlite3_stmt *q, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0) sqlite3_bind_int64(q, i, v);
}

/* A filter given (non-NULL, non-empty). */
static inline bool sq_set(const char *s)
{
    return s && s[0];
}

extern const store_settings_ops sqlite_settings_ops;
extern const store_users_ops sqlite_users_ops;
extern const store_tokens_ops sqlite_tokens_ops;
extern const store_audit_ops sqlite_audit_ops;
extern const store_devices_ops sqlite_devices_ops;
extern const store_state_ops sqlite_state_ops;
extern const store_anomalies_ops sqlite_anomalies_ops;
extern const store_rules_ops sqlite_rules_ops;
extern const store_series_ops sqlite_series_ops;
extern const store_incidents_ops sqlite_incidents_ops;
extern const store_alerts_ops sqlite_alerts_ops;
extern const store_reports_ops sqlite_reports_ops;
extern const store_report_queries_ops sqlite_report_queries_ops;
extern const store_export_ops sqlite_export_ops;

#endif
