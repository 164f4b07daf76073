/* The audit log's rows (table audit_log); the hash chain over them is store/audit.c. */
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

static int head(store *st, int64_t *seq, char *hash, size_t cap)
{
    int rc = db_text(SQ(st), hash, cap, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", "");
    if (rc != 0) return sq_text_rc(rc);
    *seq = db_int(SQ(st), 0, "SELECT MAX(seq) FROM audit_log", "");
    return STORE_OK;
}

static int insert(store *st, int64_t seq, int64_t ts_ms, const char *actor, const char *action,
                  const char *target, const char *detail, const char *peer, const char *prev_hash,
                  const char *hash)
{
    return sq_rc(db_exec(SQ(st), NULL,
                         "INSERT INTO audit_log(seq, ts, actor, action, target, detail, peer, "
                         "prev_hash, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         "iissssbss", seq, ts_ms, actor, action, target, detail, peer, prev_hash,
                         hash));
}

static cJSON *rows_after(store *st, int64_t after_seq, int64_t limit)
{
    return db_rows_json(SQ(st),
                        "SELECT seq, ts, actor, action, target, detail, peer, prev_hash, hash "
                        "FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                        "ii", after_seq, limit);
}

const store_audit_ops sqlite_audit_ops = {list, head, insert, rows_after};
