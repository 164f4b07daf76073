/* Audit rows are chained: each row stores the previous row's hash and its own hash over
 * (prev_hash, canonical row), computed by auth/audit_chain. A changed, inserted or deleted
 * row breaks the chain at that point, which `iotad audit verify` and the API report.
 * Triggers refuse UPDATE and DELETE, so tampering needs raw file access. */
#include "store/audit.h"

#include "auth/audit_chain.h"
#include "core/log.h"
#include "core/util.h"
#include "store/db.h"

#include <stdio.h>
#include <string.h>

int audit_append(sqlite3 *db, const char *actor, const char *action, const char *target,
                 const char *detail, const char *peer)
{
    bool own_tx = sqlite3_get_autocommit(db) != 0;
    if (own_tx && db_begin(db) != 0) return -1;
    char prev[65] = AUDIT_CHAIN_GENESIS;
    db_text(db, prev, sizeof prev, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", "");
    int64_t seq = db_int(db, 0, "SELECT COALESCE(MAX(seq), 0) FROM audit_log", "") + 1;
    audit_row row = {.seq = seq,
                     .ts_ms = util_now_ms(),
                     .actor = actor ? actor : "system",
                     .action = action,
                     .target = target ? target : "",
                     .detail = detail ? detail : "",
                     .peer = peer};
    char hash[65];
    audit_chain_hash(prev, &row, hash);
    int rc = db_exec(db, NULL,
                     "INSERT INTO audit_log(seq, ts, actor, action, target, detail, peer, "
                     "prev_hash, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "iissssbss", seq, row.ts_ms, row.actor, row.action, row.target, row.detail,
                     peer, prev, hash);
    if (own_tx) {
        if (rc == 0 && db_commit(db) == 0) return 0;
        db_rollback(db);
        return -1;
    }
    return rc;
}

typedef struct {
    sqlite3_stmt *st;
} verify_iter;

static int next_row(void *arg, audit_row *row, char stored_hash[65])
{
    verify_iter *it = arg;
    int rc = sqlite3_step(it->st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return -1;
    row->seq = sqlite3_column_int64(it->st, 0);
    row->ts_ms = sqlite3_column_int64(it->st, 1);
    row->actor = (const char *)sqlite3_column_text(it->st, 2);
    row->action = (const char *)sqlite3_column_text(it->st, 3);
    row->target = (const char *)sqlite3_column_text(it->st, 4);
    row->detail = (const char *)sqlite3_column_text(it->st, 5);
    row->peer = (const char *)sqlite3_column_text(it->st, 6);
    row->prev_hash = (const char *)sqlite3_column_text(it->st, 7);
    const char *h = (const char *)sqlite3_column_text(it->st, 8);
    snprintf(stored_hash, 65, "%s", h ? h : "");
    return 1;
}

int audit_verify_db(sqlite3 *db, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap)
{
    verify_iter it;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, ts, actor, action, target, detail, peer, prev_hash, hash "
                           "FROM audit_log ORDER BY seq",
                           -1, &it.st, NULL) != SQLITE_OK)
        return -1;
    audit_verify_result res;
    memset(&res, 0, sizeof res);
    int rc = audit_chain_verify(next_row, &it, &res);
    sqlite3_finalize(it.st);
    *rows = res.rows;
    *bad_seq = res.first_bad_seq;
    snprintf(why, whycap, "%s", res.reason ? res.reason : "");
    /* audit_chain_verify: 0 intact, -1 tampered, -2 read error, -3 out of memory */
    return rc == 0 ? 0 : rc == -1 ? 1 : -1;
}
