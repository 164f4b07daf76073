/* The audit log's rows (table audit_log); the hash chain over them is store/audit.c. */
#include "store/pg/pg_int.h"

#include <stdio.h>

static cJSON *list(store *st, int64_t before_seq, const char *action_prefix, int64_t limit)
{
    char like[DB_LIKE_MAX];
    db_like_pattern(like, sizeof like, action_prefix ? action_prefix : "", true);
    return pg_rows_json(PG(st),
                        "SELECT seq, ts, actor, action, target, detail, peer, hash "
                        "FROM audit_log WHERE seq < $1 AND action LIKE $2 "
                        "ORDER BY seq DESC LIMIT $3",
                        "isi", before_seq, like, limit);
}

/* Inside an append's transaction, the head is read under a lock held until its commit, so two
 * connections (two nodes) never chain two rows to one head. */
#define AUDIT_LOCK                                                                                 \
    "SELECT pg_advisory_xact_lock(29677418195451907)" /* pg.c's key space: 'iotad', 3 */

static int head(store *st, int64_t *seq, char *hash, size_t cap)
{
    if (pg_execf(PG(st), NULL, AUDIT_LOCK, "") != 0) return STORE_ERR;
    int rc =
        pg_textf(PG(st), hash, cap, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", "");
    if (rc != 0) return pq_text_rc(rc);
    *seq = pg_intf(PG(st), 0, "SELECT MAX(seq) FROM audit_log", "");
    return STORE_OK;
}

static int insert(store *st, int64_t seq, int64_t ts_ms, const char *actor, const char *action,
                  const char *target, const char *detail, const char *peer, const char *prev_hash,
                  const char *hash)
{
    return pq_rc(pg_execf(PG(st), NULL,
                          "INSERT INTO audit_log(seq, ts, actor, action, target, detail, peer, "
                          "prev_hash, hash) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                          "iissssbss", seq, ts_ms, actor, action, target, detail, peer, prev_hash,
                          hash));
}

static cJSON *rows_after(store *st, int64_t after_seq, int64_t limit)
{
    return pg_rows_json(PG(st),
                        "SELECT seq, ts, actor, action, target, detail, peer, prev_hash, hash "
                        "FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                        "ii", after_seq, limit);
}

const store_audit_ops pg_audit_ops = {list, head, insert, rows_after};
