/* Time-series queries outside the chunk store (table points_log). */
#include "store/pg/pg_int.h"

static int64_t log_head(store *st)
{
    return pg_intf(PG(st), 0, "SELECT COALESCE(MAX(id), 0) FROM points_log", "");
}

const store_series_ops pg_series_ops = {log_head};
