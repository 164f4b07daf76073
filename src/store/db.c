/* SQLite connection setup, migrations and small parameterised-statement helpers. Every
 * query in iotad binds its inputs; no SQL text is ever built from request data. */
#include "store/db.h"

#include "core/log.h"
#include "store/schema.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The database holds password hashes, session and key hashes, sealed secrets and the audit
 * log: only iotad's user may read it. A new file is created 0600 (SQLite gives its -wal and
 * -shm files the same mode); an existing one readable by others is tightened. */
static void restrict_mode(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        struct stat st;
        if (i == 0 && stat(p, &st) != 0) {
            int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) close(fd);
            continue;
        }
        if (stat(p, &st) == 0 && (st.st_mode & 077) && st.st_uid == geteuid()) {
            if (chmod(p, st.st_mode & 0700) == 0)
                log_warn("db_mode_tightened", "path=%s from=%03o to=%03o", p,
                         (unsigned)(st.st_mode & 0777), (unsigned)(st.st_mode & 0700));
        }
    }
}

int db_open(const char *path, db_sync sync, sqlite3 **out)
{
    sqlite3 *db = NULL;
    if (strcmp(path, ":memory:") != 0) restrict_mode(path);
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("db_open_failed", "path=%s err=\"%s\"", path, db ? sqlite3_errmsg(db) : "nomem");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);
    const char *pragmas = sync == DB_SYNC_FULL
                              ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                              : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
    char *err = NULL;
    if (sqlite3_exec(db, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        log_error("db_pragma_failed", "path=%s err=\"%s\"", path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

void db_wal_limit(sqlite3 *db, uint64_t bytes)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA journal_size_limit=%llu", (unsigned long long)bytes);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int gate_busy(void *arg, int count)
{
    db_gate *g = arg;
    int64_t now = mono_ns();
    static const int64_t poll_ns = 500000;
    if ((int64_t)count * poll_ns >= (int64_t)g->timeout_ms * 1000000) return 0;
    atomic_store(&g->waiting_ns, now);
    struct timespec ts = {0, poll_ns};
    nanosleep(&ts, NULL);
    return 1;
}

void db_gate_install(sqlite3 *db, db_gate *g, int timeout_ms)
{
    atomic_store(&g->waiting_ns, 0);
    g->timeout_ms = timeout_ms;
    sqlite3_busy_handler(db, gate_busy, g);
}

void db_gate_yield(db_gate *g, int max_ms)
{
    if (!g) return;
    int64_t start = mono_ns();
    /* A waiter polls every 0.5 ms: an attempt in the last 2 ms means it is still waiting. */
    while (mono_ns() - atomic_load(&g->waiting_ns) < 2000000 &&
           mono_ns() - start < (int64_t)max_ms * 1000000) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

void db_close(sqlite3 *db)
{
    if (db) sqlite3_close_v2(db);
}

static int bind_args(sqlite3_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types && types[i]; i++) {
        int rc;
        switch (types[i]) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            break;
        }
        case 'b': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
            break;
        case 'n':
            rc = sqlite3_bind_null(st, i + 1);
            break;
        default:
            return -1;
        }
        if (rc != SQLITE_OK) return -1;
    }
    return 0;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, const char *types, va_list ap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("db_prepare_failed", "err=\"%s\" sql=\"%.80s\"", sqlite3_errmsg(db), sql);
        return NULL;
    }
    if (bind_args(st, types, ap) != 0) {
        log_error("db_bind_failed", "sql=\"%.80s\"", sql);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int db_exec(sqlite3 *db, int *changes, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare(db, sql, types, ap);
    va_end(ap);
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    int result = 0;
    if (rc != SQLITE_DONE) {
        if ((rc & 0xff) == SQLITE_CONSTRAINT) {
            result = DB_ECONSTRAINT;
        } else {
            log_error("db_exec_failed", "err=\"%s\" sql=\"%.80s\"", sqlite3_errmsg(db), sql);
            result = -1;
        }
    }
    if (changes) *changes = sqlite3_changes(db);
    sqlite3_finalize(st);
    return result;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && memcmp(s + n - m, suffix, m) == 0;
}

static cJSON *row_to_json(sqlite3_stmt *st)
{
    cJSON *obj = cJSON_CreateObject();
    int n = sqlite3_column_count(st);
    for (int c = 0; c < n; c++) {
        const char *name = sqlite3_column_name(st, c);
        int type = sqlite3_column_type(st, c);
        if (has_suffix(name, "_json")) {
            char key[64];
            size_t kl = strlen(name) - 5;
            if (kl >= sizeof key) kl = sizeof key - 1;
            memcpy(key, name, kl);
            key[kl] = '\0';
            cJSON *v = NULL;
            if (type == SQLITE_TEXT) v = cJSON_Parse((const char *)sqlite3_column_text(st, c));
            cJSON_AddItemToObject(obj, key, v ? v : cJSON_CreateNull());
            continue;
        }
        bool as_bool = strncmp(name, "is_", 3) == 0 || has_suffix(name, "_bool");
        char bool_key[64];
        if (has_suffix(name, "_bool")) { /* "resolved_bool" -> "resolved": true/false */
            size_t kl = strlen(name) - 5;
            if (kl >= sizeof bool_key) kl = sizeof bool_key - 1;
            memcpy(bool_key, name, kl);
            bool_key[kl] = '\0';
        } else {
            snprintf(bool_key, sizeof bool_key, "%s", name);
        }
        switch (type) {
        case SQLITE_INTEGER:
            if (as_bool)
                cJSON_AddBoolToObject(obj, bool_key, sqlite3_column_int64(st, c) != 0);
            else
                cJSON_AddNumberToObject(obj, name, (double)sqlite3_column_int64(st, c));
            break;
        case SQLITE_FLOAT:
            cJSON_AddNumberToObject(obj, name, sqlite3_column_double(st, c));
            break;
        case SQLITE_TEXT:
            cJSON_AddStringToObject(obj, name, (const char *)sqlite3_column_text(st, c));
            break;
        default:
            cJSON_AddNullToObject(obj, name);
            break;
        }
    }
    return obj;
}

static cJSON *rows_json_v(sqlite3 *db, int max_rows, const char *sql, const char *types, va_list ap)
{
    sqlite3_stmt *st = prepare(db, sql, types, ap);
    if (!st) return NULL;
    cJSON *arr = cJSON_CreateArray();
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON_AddItemToArray(arr, row_to_json(st));
        if (max_rows && ++rows >= max_rows) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        log_error("db_query_failed", "err=\"%s\" sql=\"%.80s\"", sqlite3_errmsg(db), sql);
        cJSON_Delete(arr);
        arr = NULL;
    }
    sqlite3_finalize(st);
    return arr;
}

cJSON *db_rows_json(sqlite3 *db, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cJSON *r = rows_json_v(db, 0, sql, types, ap);
    va_end(ap);
    return r;
}

cJSON *db_row_json(sqlite3 *db, bool *found, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    cJSON *arr = rows_json_v(db, 1, sql, types, ap);
    va_end(ap);
    *found = false;
    if (!arr) return NULL;
    cJSON *first = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    *found = first != NULL;
    return first;
}

int64_t db_int(sqlite3 *db, int64_t def, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare(db, sql, types, ap);
    va_end(ap);
    if (!st) return def;
    int64_t v = def;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int db_text(sqlite3 *db, char *out, size_t cap, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = prepare(db, sql, types, ap);
    va_end(ap);
    if (!st) return -1;
    int result = 1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        size_t n = t ? strlen(t) : 0;
        if (n >= cap) n = cap - 1;
        if (t) memcpy(out, t, n);
        out[n] = '\0';
        result = 0;
    } else if (rc != SQLITE_DONE) {
        result = -1;
    }
    sqlite3_finalize(st);
    return result;
}

void db_like_pattern(char *out, size_t cap, const char *q, bool prefix)
{
    size_t n = 0, need = prefix ? 2 : 3; /* the closing '%', NUL (and the opening '%') */
    if (cap < need) {
        if (cap) out[0] = '\0';
        return;
    }
    if (!prefix) out[n++] = '%';
    for (const char *p = q; *p; p++) {
        bool esc = *p == '%' || *p == '_' || *p == '\\';
        /* whole UTF-8 characters only: a lead byte with its continuation bytes */
        size_t len = 1;
        while ((p[len] & 0xC0) == 0x80)
            len++;
        if (n + len + esc + 2 > cap) break;
        if (esc) out[n++] = '\\';
        memcpy(out + n, p, len);
        n += len;
        p += len - 1;
    }
    out[n++] = '%';
    out[n] = '\0';
}

bool db_id_shaped(const char *q)
{
    size_t n = 0;
    for (; q[n]; n++)
        if (!isxdigit((unsigned char)q[n]) && q[n] != '-') return false;
    return n == 36;
}

int db_begin(sqlite3 *db)
{
    return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int db_commit(sqlite3 *db)
{
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return 0;
    log_error("db_commit_failed", "err=\"%s\"", sqlite3_errmsg(db));
    return -1;
}

void db_rollback(sqlite3 *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_schema_version(sqlite3 *db)
{
    return (int)db_int(db, 0, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "");
}

int db_migrate(sqlite3 *db)
{
    char *err = NULL;
    if (sqlite3_exec(
            db,
            "CREATE TABLE IF NOT EXISTS schema_migrations("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            NULL, NULL, &err) != SQLITE_OK) {
        log_error("migrate_failed", "err=\"%s\"", err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    int current = db_schema_version(db);
    size_t n;
    const schema_migration *m = schema_migrations(&n);
    if (current > (int)n) {
        log_error("migrate_failed", "reason=\"database schema %d is newer than this iotad (%zu)\"",
                  current, n);
        return -1;
    }
    /* a migration may rebuild a table (SQLite cannot alter a CHECK constraint): with foreign
     * keys on, dropping the old table would cascade into the rows referring to it. The pragma
     * is a no-op inside a transaction, hence around the loop. */
    if ((size_t)current < n) sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
    int rc = 0;
    for (size_t i = (size_t)current; i < n && rc == 0; i++) {
        if (db_begin(db) != 0) {
            rc = -1;
            break;
        }
        if (sqlite3_exec(db, m[i].sql, NULL, NULL, &err) != SQLITE_OK ||
            db_exec(db, NULL,
                    "INSERT INTO schema_migrations(version, name, applied_at) "
                    "VALUES(?, ?, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                    "is", (int64_t)(i + 1), m[i].name) != 0) {
            log_error("migrate_failed", "version=%zu name=%s err=\"%s\"", i + 1, m[i].name,
                      err ? err : sqlite3_errmsg(db));
            sqlite3_free(err);
            db_rollback(db);
            rc = -1;
            break;
        }
        if (db_commit(db) != 0) {
            rc = -1;
            break;
        }
        log_info("migration_applied", "version=%zu name=%s", i + 1, m[i].name);
    }
    if ((size_t)current < n) sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    return rc;
}
