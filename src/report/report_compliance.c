/* Compliance audit report, from the hash-chained audit log: users and role changes, logins
 * and failures, API key lifecycle, configuration changes (settings, rules, devices), data
 * exports and generated reports, all in the range; a verification of the whole chain (the
 * first tampered, inserted or missing row is pointed out with its stored content); and the
 * retention and session settings in force. */
#include "report/report_int.h"

#include "store/audit.h"

#include <stdio.h>
#include <string.h>

/* Audit rows of the range whose action matches the LIKE/IN condition, newest last, with the
 * actor's e-mail when the actor is a user. */
static void rows_section(report_build *b, const char *id, const char *title, const char *cond)
{
    char sql[1536];
    snprintf(sql, sizeof sql,
             "SELECT l.seq, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', l.ts / 1000, 'unixepoch') AS "
             "time, l.action, COALESCE(u.email, l.actor) AS actor, COALESCE(t.email, l.target) "
             "AS target, l.detail, COALESCE(l.peer, '') AS peer FROM audit_log l LEFT JOIN users "
             "u ON u.id = l.actor LEFT JOIN users t ON t.id = l.target WHERE l.ts >= :from AND "
             "l.ts < :to AND (%s) ORDER BY l.seq LIMIT 1000",
             cond);
    rdb_section(b->s->db, &b->p, b->doc, id, title, NULL, sql);
}

static int64_t count_actions(report_build *b, const char *cond)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM audit_log l WHERE l.ts >= :from AND l.ts < :to AND (%s)", cond);
    return rdb_int(b->s->db, &b->p, sql, 0);
}

static void verification(report_build *b)
{
    cJSON *doc = b->doc;
    int64_t rows = 0, bad = 0;
    char why[128] = "";
    int rc = audit_verify_db(b->s->db, &rows, &bad, why, sizeof why);
    static const char *const cols[] = {"check", "result", NULL};
    cJSON *out = rdoc_section(doc, "audit_chain", "Audit log hash-chain verification", NULL, cols);
    cJSON *chain = cJSON_AddObjectToObject(doc, "audit_chain");
    cJSON_AddBoolToObject(chain, "intact", rc == 0);
    cJSON_AddNumberToObject(chain, "rows_verified", (double)rows);
    int64_t total = rdb_int(b->s->db, &b->p, "SELECT COUNT(*) FROM audit_log", 0);
    cJSON_AddNumberToObject(chain, "rows_total", (double)total);
    rdoc_sum_bool(doc, "audit_chain_intact", rc == 0);
    rdoc_sum_int(doc, "audit_rows_verified", rows);
    rdoc_row(out, "ss", "status",
             rc == 0  ? "INTACT"
             : rc > 0 ? "BROKEN - the log was altered"
                      : "could not be read");
    rdoc_row(out, "si", "entries in the log", total);
    rdoc_row(out, "si", "entries verified before the first break", rows);
    if (rc == 0) {
        cJSON_AddNullToObject(chain, "first_bad_seq");
        char head[80] = "";
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(b->s->db,
                               "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", -1, &st,
                               NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                snprintf(head, sizeof head, "seq %lld %s", (long long)sqlite3_column_int64(st, 0),
                         (const char *)sqlite3_column_text(st, 1));
            sqlite3_finalize(st);
        }
        cJSON_AddStringToObject(chain, "head", head);
        rdoc_row(out, "ss", "chain head (record it elsewhere to detect truncation)", head);
        return;
    }
    if (rc < 0) return;
    cJSON_AddNumberToObject(chain, "first_bad_seq", (double)bad);
    cJSON_AddStringToObject(chain, "reason", why);
    rdoc_sum_int(doc, "audit_first_bad_seq", bad);
    rdoc_row(out, "si", "first bad entry (seq)", bad);
    rdoc_row(out, "ss", "reason", why);
    /* the row as stored now, so a reviewer sees what was altered */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->s->db,
                           "SELECT ts, actor, action, target, detail, COALESCE(peer, '') FROM "
                           "audit_log WHERE seq = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, bad);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char t[32];
        util_rfc3339(sqlite3_column_int64(st, 0), t);
        cJSON *row = cJSON_AddObjectToObject(chain, "bad_row");
        cJSON_AddNumberToObject(row, "seq", (double)bad);
        cJSON_AddStringToObject(row, "time", t);
        static const char *const names[] = {"actor", "action", "target", "detail", "peer"};
        for (int i = 0; i < 5; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i + 1);
            cJSON_AddStringToObject(row, names[i], v ? v : "");
            char label[48];
            snprintf(label, sizeof label, "bad entry %s", names[i]);
            rdoc_row(out, "ss", label, v ? v : "");
        }
        rdoc_row(out, "ss", "bad entry time", t);
    } else {
        rdoc_row(out, "ss", "bad entry", "missing (deleted or sequence gap)");
    }
    sqlite3_finalize(st);
}

static void retention(report_build *b)
{
    const config *c = &b->s->cfg;
    static const char *const cols[] = {"setting", "value", "source", NULL};
    cJSON *rows =
        rdoc_section(b->doc, "retention", "Retention and session settings in force", NULL, cols);
    char v[64];
    snprintf(v, sizeof v, "%lld", (long long)c->retention_days);
    rdoc_row(rows, "sss", "retention_days (time series)",
             c->retention_days ? v : "0 (keep forever)", "config");
    struct {
        const char *name;
        int64_t v;
    } items[] = {{"session_idle_s", c->session_idle_s},
                 {"session_max_s", c->session_max_s},
                 {"login_max_failures", c->login_max_failures},
                 {"login_lockout_s", c->login_lockout_s}};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        snprintf(v, sizeof v, "%lld", (long long)items[i].v);
        rdoc_row(rows, "sss", items[i].name, v, "config");
    }
    rdoc_row(rows, "sss", "signup", c->signup, "config");
    rdoc_row(rows, "sss", "audit_log", "append-only, hash-chained, never expired", "schema");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(b->s->db, "SELECT key, value FROM settings ORDER BY key", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            rdoc_row(rows, "sss", (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1), "settings (database)");
        sqlite3_finalize(st);
    }
    rdoc_sum_int(b->doc, "retention_days", c->retention_days);
}

static int comp_begin(report_build *b)
{
    cJSON *doc = b->doc;
    static const char USERS[] =
        "l.action LIKE 'user.%' OR l.action IN ('invite.create', 'auth.signup', "
        "'auth.password_changed')";
    static const char LOGINS[] = "l.action LIKE 'auth.login%' OR l.action = 'auth.logout' OR "
                                 "l.action = 'auth.password_change_failed'";
    static const char KEYS[] = "l.action LIKE 'apikey.%'";
    static const char CONFIG[] =
        "l.action LIKE 'settings.%' OR l.action LIKE 'rule.%' OR l.action LIKE 'device.%' OR "
        "l.action LIKE 'report_schedule.%' OR l.action LIKE 'channel.%' OR l.action LIKE "
        "'policy.%'";
    static const char EXPORTS[] = "l.action LIKE 'export.%' OR l.action LIKE 'report.%'";

    rdoc_sum_int(doc, "audit_entries", count_actions(b, "1"));
    rdoc_sum_int(doc, "logins", count_actions(b, "l.action = 'auth.login'"));
    rdoc_sum_int(doc, "login_failures", count_actions(b, "l.action = 'auth.login_failed'"));
    rdoc_sum_int(doc, "login_lockouts", count_actions(b, "l.action = 'auth.login_locked'"));
    rdoc_sum_int(doc, "users_created",
                 count_actions(b, "l.action IN ('user.create', 'auth.signup', "
                                  "'user.bootstrap_admin')"));
    rdoc_sum_int(doc, "role_changes", count_actions(b, "l.action = 'user.role_change'"));
    rdoc_sum_int(doc, "users_deleted", count_actions(b, "l.action = 'user.delete'"));
    rdoc_sum_int(doc, "api_keys_created", count_actions(b, "l.action = 'apikey.create'"));
    rdoc_sum_int(doc, "api_keys_revoked", count_actions(b, "l.action = 'apikey.revoke'"));
    rdoc_sum_int(doc, "api_keys_rotated", count_actions(b, "l.action = 'apikey.rotate'"));
    rdoc_sum_int(doc, "configuration_changes", count_actions(b, CONFIG));
    rdoc_sum_int(doc, "data_exports", count_actions(b, "l.action = 'export.create'"));
    rdoc_sum_int(doc, "reports_generated", count_actions(b, "l.action = 'report.generate'"));

    rdb_section(b->s->db, &b->p, doc, "actions", "Audited actions", "bar",
                "SELECT l.action, COUNT(*) AS entries FROM audit_log l WHERE l.ts >= :from AND "
                "l.ts < :to GROUP BY l.action ORDER BY entries DESC, l.action");
    rdb_section(b->s->db, &b->p, doc, "logins_by_account", "Logins and failures by account", "bar",
                "SELECT COALESCE(u.email, CASE WHEN l.detail LIKE 'email=%' THEN "
                "substr(l.detail, 7) ELSE l.actor END) AS account, "
                "SUM(l.action = 'auth.login') AS logins, SUM(l.action = 'auth.login_failed') AS "
                "failures, SUM(l.action = 'auth.login_locked') AS lockouts, "
                "COUNT(DISTINCT l.peer) AS addresses FROM audit_log l LEFT JOIN users u ON u.id = "
                "l.target AND l.action = 'auth.login' WHERE l.ts >= :from AND l.ts < :to AND "
                "l.action IN ('auth.login', 'auth.login_failed', 'auth.login_locked') "
                "GROUP BY 1 ORDER BY failures DESC, logins DESC LIMIT 50");
    rows_section(b, "user_changes", "Users and role changes", USERS);
    rows_section(b, "logins", "Logins, logouts and failures", LOGINS);
    rows_section(b, "api_keys", "API key lifecycle", KEYS);
    rows_section(b, "configuration_changes", "Configuration changes", CONFIG);
    rows_section(b, "data_exports", "Data exports and reports", EXPORTS);
    verification(b);
    retention(b);
    return 0;
}

const report_ops report_compliance_ops = {"Compliance audit report", comp_begin, NULL, NULL, NULL};
