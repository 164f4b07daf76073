/* Reading the audit log (table audit_log). */
#include "store/pg/pg_int.h"

#include <stdio.h>

static cJSON *list(store *st, int64_t before_seq, const char *action_prefix, int64_t limit)
{
    char like[80];
    snprintf(like, sizeof like, "%s%%", action_prefix ? action_prefix : "");
    return pg_rows_json(PG(st),
                        "SELECT seq, ts, actor, action, target, detail, peer, hash "
                        "FROM audit_log WHERE seq < $1 AND action LIKE $2 "
                        "ORDER BY seq DESC LIMIT $3",
                        "isi", before_seq, like, limit);
}

const store_audit_ops pg_audit_ops = {list};
