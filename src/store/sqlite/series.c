/* Time-series queries outside the chunk store (table points_log of store/tsdb.c). */
#include "store/sqlite/sqlite_int.h"

static int64_t log_head(store *st)
{
    return db_int(SQ(st), 0, "SELECT COALESCE(MAX(id), 0) FROM points_log", "");
}

const store_series_ops sqlite_series_ops = {log_head};
