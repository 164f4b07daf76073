/* Audit rows are chained: each row stores the previous row's hash and its own hash over
 * (prev_hash, canonical row), computed by auth/audit_chain, keyed with the audit key from
 * seq keyed_from on. A changed, inserted or deleted row breaks the chain at that point, which
 * `iotad audit verify` and the API report; without the key it cannot be rehashed, and signed
 * checkpoints outside the database catch a rehash with a stolen key and a cut tail.
 * Triggers refuse UPDATE and DELETE, so tampering needs raw file access. */
#include "store/audit.h"

#include "auth/audit_chain.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Written once by audit_set_keying at start-up, before any other thread runs; read-only
 * afterwards, so the threads that append need no lock. */
static struct {
    bool keyed;
    uint8_t key[32];
    int64_t keyed_from;
} keying_state;

void audit_set_keying(const uint8_t key[32], int64_t keyed_from)
{
    keying_state.keyed = key != NULL;
    if (key) memcpy(keying_state.key, key, 32);
    keying_state.keyed_from = keyed_from;
}

static const uint8_t *key_for(int64_t seq)
{
    return keying_state.keyed && seq >= keying_state.keyed_from ? keying_state.key : NULL;
}

int audit_append(store *st, const char *actor, const char *action, const char *target,
                 const char *detail, const char *peer)
{
    bool own_tx = !st->be->in_transaction(st);
    if (own_tx && store_begin(st) != STORE_OK) return -1;
    char prev[65] = AUDIT_CHAIN_GENESIS;
    int64_t seq = 0;
    if (STORE_AUDIT(st)->head(st, &seq, prev, sizeof prev) == STORE_ERR) {
        if (own_tx) store_rollback(st);
        return -1;
    }
    seq++;
    audit_row row = {.seq = seq,
                     .ts_ms = util_now_ms(),
                     .actor = actor ? actor : "system",
                     .action = action,
                     .target = target ? target : "",
                     .detail = detail ? detail : "",
                     .peer = peer};
    char hash[65];
    if (audit_chain_mac(key_for(seq), prev, &row, hash) != 0) {
        if (own_tx) store_rollback(st);
        return -1;
    }
    int rc = STORE_AUDIT(st)->insert(st, seq, row.ts_ms, row.actor, row.action, row.target,
                                     row.detail, peer, prev, hash);
    if (own_tx) {
        if (rc == STORE_OK && store_commit(st) == STORE_OK) return 0;
        store_rollback(st);
        return -1;
    }
    return rc == STORE_OK ? 0 : -1;
}

/* The rows a page at a time (the log can be long). */
#define VERIFY_PAGE 1000
typedef struct {
    store *st;
    cJSON *page;
    int i;
    int64_t last_seq;
    bool done;
} verify_iter;

static const char *text_or_null(const cJSON *row, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int next_row(void *arg, audit_row *row, char stored_hash[65])
{
    verify_iter *it = arg;
    if (!it->page || it->i >= cJSON_GetArraySize(it->page)) {
        if (it->done) return 0;
        cJSON_Delete(it->page);
        it->i = 0;
        it->page = STORE_AUDIT(it->st)->rows_after(it->st, it->last_seq, VERIFY_PAGE);
        if (!it->page) return -1;
        int n = cJSON_GetArraySize(it->page);
        if (n < VERIFY_PAGE) it->done = true;
        if (n == 0) return 0;
    }
    const cJSON *r = cJSON_GetArrayItem(it->page, it->i++);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(r, "seq");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r, "ts");
    if (!cJSON_IsNumber(seq) || !cJSON_IsNumber(ts)) return -1;
    row->seq = (int64_t)seq->valuedouble;
    row->ts_ms = (int64_t)ts->valuedouble;
    row->actor = text_or_null(r, "actor");
    row->action = text_or_null(r, "action");
    row->target = text_or_null(r, "target");
    row->detail = text_or_null(r, "detail");
    row->peer = text_or_null(r, "peer");
    row->prev_hash = text_or_null(r, "prev_hash");
    const char *h = text_or_null(r, "hash");
    snprintf(stored_hash, 65, "%s", h ? h : "");
    it->last_seq = row->seq;
    return 1;
}

int audit_verify_db_ex(store *st, const audit_keying *keying, const audit_checkpoint *cps,
                       size_t ncps, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap)
{
    verify_iter it = {.st = st, .last_seq = INT64_MIN};
    audit_verify_result res;
    memset(&res, 0, sizeof res);
    int rc = audit_chain_verify_ex(next_row, &it, keying, cps, ncps, &res);
    *rows = res.rows;
    *bad_seq = res.first_bad_seq;
    snprintf(why, whycap, "%s", res.reason ? res.reason : "");
    cJSON_Delete(it.page);
    /* audit_chain_verify_ex: 0 intact, -1 tampered, -2 read error, -3 out of memory */
    return rc == 0 ? 0 : rc == -1 ? 1 : -1;
}

int audit_verify_db(store *st, int64_t *rows, int64_t *bad_seq, char *why, size_t whycap)
{
    audit_keying k = {keying_state.keyed ? keying_state.key : NULL, keying_state.keyed_from};
    return audit_verify_db_ex(st, &k, NULL, 0, rows, bad_seq, why, whycap);
}

int audit_verify_anchored(store *st, const char *cp_path, const uint8_t pub[32], int64_t *rows,
                          int64_t *bad_seq, size_t *ncps, int64_t *last_cp_seq, char *why,
                          size_t whycap)
{
    audit_checkpoint *cps = NULL;
    char err[512];
    *rows = *bad_seq = *last_cp_seq = 0;
    *ncps = 0;
    if (audit_checkpoints_load(cp_path, pub, true, &cps, ncps, err, sizeof err) != 0) {
        snprintf(why, whycap, "checkpoints: %s", err);
        return 1;
    }
    if (*ncps) *last_cp_seq = cps[*ncps - 1].seq;
    audit_keying k = {keying_state.keyed ? keying_state.key : NULL, keying_state.keyed_from};
    int rc = audit_verify_db_ex(st, &k, cps, *ncps, rows, bad_seq, why, whycap);
    free(cps);
    return rc;
}

/* --- key binding ------------------------------------------------------------------------ */

static int binding_mac(const uint8_t key[32], int64_t keyed_from, char out[65])
{
    /* the chain's own MAC over a row nobody can append: seq 0, action "binding" */
    static const char domain[65] = "iotad-audit-binding v1";
    audit_row r = {.seq = 0, .ts_ms = keyed_from, .actor = "iotad", .action = "binding"};
    return audit_chain_mac(key, domain, &r, out);
}

int audit_binding_read(store *st, const uint8_t key[32], int64_t *keyed_from)
{
    char v[128];
    int rc = STORE_SETTINGS(st)->get(st, "audit.binding", v, sizeof v);
    if (rc != STORE_OK) return rc == STORE_NOTFOUND ? 1 : -2;
    char *colon = strchr(v, ':'), *end = NULL;
    if (!colon) return -1;
    long long from = strtoll(v, &end, 10);
    char want[65];
    if (end != colon || from < 1 || binding_mac(key, from, want) != 0 ||
        !util_ct_equal(want, colon + 1, 65))
        return -1;
    *keyed_from = from;
    return 0;
}

bool audit_is_bound(store *st)
{
    char v[128];
    return STORE_SETTINGS(st)->get(st, "audit.binding", v, sizeof v) == STORE_OK;
}

int audit_bind(store *st, const uint8_t key[32], int64_t *keyed_from, bool *created)
{
    *created = false;
    int rc = audit_binding_read(st, key, keyed_from);
    if (rc != 1) return rc;
    if (store_begin(st) != STORE_OK) return -2;
    int64_t from = 0;
    char mac[65], v[128];
    if (STORE_AUDIT(st)->head(st, &from, mac, sizeof mac) == STORE_ERR ||
        binding_mac(key, ++from, mac) != 0) {
        store_rollback(st);
        return -2;
    }
    snprintf(v, sizeof v, "%lld:%s", (long long)from, mac);
    char detail[64];
    snprintf(detail, sizeof detail, "keyed_from=%lld", (long long)from);
    audit_set_keying(key, from);
    if (STORE_SETTINGS(st)->set(st, "audit.binding", v, util_now_ms()) != STORE_OK ||
        audit_append(st, "system", "audit.keyed", "", detail, NULL) != 0 ||
        store_commit(st) != STORE_OK) {
        store_rollback(st);
        return -2;
    }
    *keyed_from = from;
    *created = true;
    return 0;
}

/* --- checkpoints -------------------------------------------------------------------------- */

int audit_head(store *st, int64_t *seq, char hash[65])
{
    *seq = 0;
    memcpy(hash, AUDIT_CHAIN_GENESIS, 65);
    return STORE_AUDIT(st)->head(st, seq, hash, 65) == STORE_ERR ? -1 : 0;
}

int audit_checkpoint_write(store *st, const uint8_t seed[32], const char *path, int64_t *last_seq)
{
    int64_t seq;
    char head[65], line[AUDIT_CHECKPOINT_LINE_MAX + 1];
    if (audit_head(st, &seq, head) != 0) return -1;
    if (seq == *last_seq) return 0;
    int n = 0;
    if (audit_checkpoint_format(seed, util_now_ms(), seq, head, line, sizeof line - 1) != 0) {
        log_error("audit_checkpoint_failed", "seq=%lld reason=sign", (long long)seq);
        return -1;
    }
    /* the log is the second copy, outside the host when logs are shipped */
    log_info("audit_checkpoint", "%s", line);
    n = (int)strlen(line);
    line[n++] = '\n';
    /* non-blocking open and a regular file only: a FIFO without a reader would block the
     * loop in open() (at start and at every checkpoint); non-blocking, it fails with ENXIO */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);
    struct stat sb;
    bool regular = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    bool ok = regular && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0) close(fd);
    if (!ok) {
        bool not_file = fd >= 0 ? !regular : e == ENXIO;
        log_error("audit_checkpoint_failed", "path=%s err=\"%s\"", path,
                  not_file ? "not a regular file" : strerror(e));
        return -1;
    }
    *last_seq = seq;
    return 1;
}

static int cp_cmp(const void *a, const void *b)
{
    int64_t x = ((const audit_checkpoint *)a)->seq, y = ((const audit_checkpoint *)b)->seq;
    return x < y ? -1 : x > y;
}

int audit_checkpoints_load(const char *path, const uint8_t pub[32], bool missing_ok,
                           audit_checkpoint **out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) return 0;
        snprintf(err, errcap, "cannot read checkpoints %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* a FIFO would block fgets */
        snprintf(err, errcap, "cannot read checkpoints %s: not a regular file", path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        snprintf(err, errcap, "cannot read checkpoints %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char line[AUDIT_CHECKPOINT_LINE_MAX * 2];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    audit_checkpoint *v = NULL;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == 0 || line[0] == '\n' || line[0] == '#') continue;
        audit_checkpoint cp;
        if (audit_checkpoint_parse(line, len, &cp) != 0) {
            snprintf(err, errcap, "%s:%d: not a checkpoint line", path, lineno);
            rc = -1;
        } else if (audit_checkpoint_verify(pub, &cp) != 0) {
            snprintf(err, errcap, "%s:%d: bad signature (forged, damaged, or another key)", path,
                     lineno);
            rc = -1;
        } else {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                audit_checkpoint *nv = realloc(v, cap * sizeof *v);
                if (!nv) {
                    snprintf(err, errcap, "out of memory");
                    rc = -1;
                    break;
                }
                v = nv;
            }
            v[(*n)++] = cp;
        }
    }
    fclose(f);
    if (rc != 0) {
        free(v);
        *n = 0;
        return -1;
    }
    if (*n) qsort(v, *n, sizeof *v, cp_cmp);
    *out = v;
    return 0;
}
