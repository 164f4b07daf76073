/* Reading the audit log (table audit_log); appending and the hash chain are store/audit.c. */
#include "store/sqlite/sqlite_int.h"

#include <stdio.h>

static cJSON *list(store *st, int64_t before_seq, const char *action_prefix, int64_t limit)
{
    char like[DB_LIKE_MAX];
    db_like_pattern(like, sizeof like, action_prefix ? action_prefix : "", true);
    return db_rows_json(SQ(st),
                        "SELECT seq, ts, actor, action, target, detail, peer, hash "
                        "FROM audit_log WHERE seq < ? AND action LIKE ?" DB_LIKE_ESCAPE
                        " ORDER BY seq DESC LIMIT ?",
                        "isi", before_seq, like, limit);
}

const store_audit_ops sqlite_audit_ops = {list};
