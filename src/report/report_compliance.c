/* Compliance audit report, from the hash-chained audit log: users and role changes, logins
 * and failures, API key lifecycle, configuration changes (settings, rules, devices), data
 * exports and generated reports, all in the range; a verification of the whole chain (the
 * first tampered, inserted or missing row is pointed out with its stored content); and the
 * retention and session settings in force. */
#include "report/report_int.h"

#include "core/json.h"
#include "store/audit.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* Audit rows of the range of one kind (query compliance.rows.<id>), newest last, with the
 * actor's e-mail when the actor is a user. */
static void rows_section(report_build *b, const char *id, const char *title)
{
    char q[96];
    snprintf(q, sizeof q, "compliance.rows.%s", id);
    rq_section(b->s, &b->p, b->doc, id, title, NULL, q);
}

/* Audit entries of the range of one kind (query compliance.count.<what>). */
static int64_t count_actions(report_build *b, const char *what)
{
    char q[96];
    snprintf(q, sizeof q, "compliance.count.%s", what);
    return rq_int(b->s, &b->p, q, NULL, 0);
}

static void verification(report_build *b)
{
    cJSON *doc = b->doc;
    int64_t rows = 0, bad = 0;
    char why[128] = "";
    int rc = audit_verify_db(b->s->st, &rows, &bad, why, sizeof why);
    static const char *const cols[] = {"check", "result", NULL};
    cJSON *out = rdoc_section(doc, "audit_chain", "Audit log hash-chain verification", NULL, cols);
    cJSON *chain = cJSON_AddObjectToObject(doc, "audit_chain");
    cJSON_AddBoolToObject(chain, "intact", rc == 0);
    cJSON_AddNumberToObject(chain, "rows_verified", (double)rows);
    int64_t total = rq_int(b->s, &b->p, "audit.count", NULL, 0);
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
        cJSON *t = rq_table(b->s, &b->p, "audit.head", NULL, 0, 0);
        const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "rows"), 0);
        if (r)
            snprintf(head, sizeof head, "seq %lld %s",
                     (long long)cJSON_GetNumberValue(cJSON_GetArrayItem(r, 0)),
                     cJSON_GetStringValue(cJSON_GetArrayItem(r, 1)));
        cJSON_Delete(t);
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
    cJSON *t = rq_table(b->s, &b->p, "audit.row", NULL, bad, 0);
    if (!t) return;
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "rows"), 0);
    if (r) {
        char tm[32];
        util_rfc3339((int64_t)cJSON_GetNumberValue(cJSON_GetArrayItem(r, 0)), tm);
        cJSON *row = cJSON_AddObjectToObject(chain, "bad_row");
        cJSON_AddNumberToObject(row, "seq", (double)bad);
        cJSON_AddStringToObject(row, "time", tm);
        static const char *const names[] = {"actor", "action", "target", "detail", "peer"};
        for (int i = 0; i < 5; i++) {
            const char *v = cJSON_GetStringValue(cJSON_GetArrayItem(r, i + 1));
            cJSON_AddStringToObject(row, names[i], v ? v : "");
            char label[48];
            snprintf(label, sizeof label, "bad entry %s", names[i]);
            rdoc_row(out, "ss", label, v ? v : "");
        }
        rdoc_row(out, "ss", "bad entry time", tm);
    } else {
        rdoc_row(out, "ss", "bad entry", "missing (deleted or sequence gap)");
    }
    cJSON_Delete(t);
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
    cJSON *settings = STORE_SETTINGS(b->s->st)->list(b->s->st, "");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, settings)
        rdoc_row(rows, "sss", json_str(kv, "key"), json_str(kv, "value"), "settings (database)");
    cJSON_Delete(settings);
    rdoc_sum_int(b->doc, "retention_days", c->retention_days);
}

static int comp_begin(report_build *b)
{
    cJSON *doc = b->doc;
    rdoc_sum_int(doc, "audit_entries", count_actions(b, "all"));
    static const char *const counted[] = {
        "logins",           "login_failures",        "login_lockouts",   "users_created",
        "role_changes",     "users_deleted",         "api_keys_created", "api_keys_revoked",
        "api_keys_rotated", "configuration_changes", "data_exports",     "reports_generated"};
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++)
        rdoc_sum_int(doc, counted[i], count_actions(b, counted[i]));

    rq_section(b->s, &b->p, doc, "actions", "Audited actions", "bar", "compliance.actions");
    rq_section(b->s, &b->p, doc, "logins_by_account", "Logins and failures by account", "bar",
               "compliance.logins_by_account");
    rows_section(b, "user_changes", "Users and role changes");
    rows_section(b, "logins", "Logins, logouts and failures");
    rows_section(b, "api_keys", "API key lifecycle");
    rows_section(b, "configuration_changes", "Configuration changes");
    rows_section(b, "data_exports", "Data exports and reports");
    verification(b);
    retention(b);
    return 0;
}

const report_ops report_compliance_ops = {"Compliance audit report", comp_begin, NULL, NULL, NULL};
