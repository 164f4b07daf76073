/* The storage interface (store/store.h) over its back-ends: settings, users, sessions,
 * invitations, the audit log listing, transactions, devices, detector state, anomalies and
 * rules, incidents, alerts, the report queries and the export's rows behave as the callers
 * rely on. Every test runs on SQLite; those of the concerns the PostgreSQL back-end implements
 * run on it too, each in a fresh database of the ctest fixture's PostgreSQL (tests/services.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"

#include "store/audit.h"
#include "store/db.h"
#include "store/pg/store_pg.h"
#include "store/sqlite/sqlite.h"
#include "core/json.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char dir[64];
    sqlite3 *db; /* NULL on PostgreSQL */
    store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    th_tempdir(f->dir, sizeof f->dir, "store");
    f->db = th_open_db(f->dir);
    f->st = store_sqlite_wrap(f->db);
    assert_non_null(f->st);
    assert_ptr_equal(store_sqlite_db(f->st), f->db);
    *state = f;
    return 0;
}

static int setup_pg(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char url[300], err[256];
    th_pg_fresh_db(url, sizeof url);
    if (store_pg_open(url, &f->st, err, sizeof err) != 0) fail_msg("store_pg_open: %s", err);
    assert_non_null(store_pg_conn(f->st));
    assert_null(store_sqlite_db(f->st));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st); /* a wrapped connection stays open */
    if (f->db) {
        db_close(f->db);
        th_rmtree(f->dir);
    }
    free(f);
    return 0;
}

/* An audit row as the server appends it (store/audit.c, over the interface). */
static void add_audit_row(fixture *f, const char *action, const char *peer)
{
    assert_int_equal(audit_append(f->st, "system", action, "a", "", peer), 0);
}

static void test_settings_get_set_raise_list(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    char v[64];
    assert_int_equal(STORE_SETTINGS(st)->get(st, "signup", v, sizeof v), STORE_NOTFOUND);
    store_setting_or(st, "signup", "closed", v, sizeof v);
    assert_string_equal(v, "closed");
    assert_int_equal(STORE_SETTINGS(st)->set(st, "signup", "open", 1), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->set(st, "signup", "invite", 2), STORE_OK); /* upsert */
    assert_int_equal(STORE_SETTINGS(st)->get(st, "signup", v, sizeof v), STORE_OK);
    assert_string_equal(v, "invite");

    /* raise_int never lowers */
    assert_int_equal(STORE_SETTINGS(st)->raise_int(st, "x.mark", 10, 3), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->raise_int(st, "x.mark", 7, 4), STORE_OK);
    assert_int_equal(store_setting_int(st, "x.mark", -1), 10);
    assert_int_equal(STORE_SETTINGS(st)->raise_int(st, "x.mark", 12, 5), STORE_OK);
    assert_int_equal(store_setting_int(st, "x.mark", -1), 12);
    assert_int_equal(store_setting_int(st, "signup", -1), -1); /* not an integer: the default */

    cJSON *all = STORE_SETTINGS(st)->list(st, "x.");
    assert_int_equal(cJSON_GetArraySize(all), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(all, 0), "key"), "x.mark");
    assert_string_equal(json_str(cJSON_GetArrayItem(all, 0), "value"), "12");
    cJSON_Delete(all);
}

static void test_users_create_get_list_update_remove(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_users_ops *u = STORE_USERS(st);
    assert_int_equal(u->count(st), 0);
    const char *a = "01900000-0000-7000-8000-00000000000a";
    const char *b = "01900000-0000-7000-8000-00000000000b";
    assert_int_equal(u->create(st, a, "Ada", "ada@example.com", "$argon2id$x", "admin", 100),
                     STORE_OK);
    assert_int_equal(u->create(st, b, "Bob", "bob@example.com", "$argon2id$y", "analyst", 200),
                     STORE_OK);
    /* e-mails are unique, case-insensitively */
    assert_int_equal(u->create(st, "01900000-0000-7000-8000-00000000000c", "A2", "ADA@example.com",
                               "p", "analyst", 300),
                     STORE_ECONSTRAINT);
    assert_int_equal(u->count(st), 2);

    cJSON *row = u->get(st, a);
    assert_non_null(row);
    assert_string_equal(json_str(row, "email"), "ada@example.com");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(row, "disabled")));
    assert_null(cJSON_GetObjectItem(row, "password")); /* never returned */
    cJSON_Delete(row);
    assert_null(u->get(st, "01900000-0000-7000-8000-0000000000ff"));

    int64_t total = -1;
    store_user_filter flt = {.role = "", .query = "bob", .limit = 10, .offset = 0};
    cJSON *rows = u->list(st, &flt, &total);
    assert_int_equal(total, 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "id"), b);
    cJSON_Delete(rows);
    flt = (store_user_filter){.role = "", .query = "", .limit = 1, .offset = 1};
    rows = u->list(st, &flt, &total);
    assert_int_equal(total, 2); /* the count ignores paging */
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "id"), b); /* by created_at */
    cJSON_Delete(rows);

    assert_int_equal(u->admins_other_than(st, a), 0);
    assert_int_equal(u->admins_other_than(st, b), 1);
    bool off = true;
    assert_int_equal(u->update(st, b, NULL, "admin", &off, 400), STORE_OK);
    row = u->get(st, b);
    assert_string_equal(json_str(row, "name"), "Bob"); /* NULL left it */
    assert_string_equal(json_str(row, "role"), "admin");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(row, "disabled")));
    cJSON_Delete(row);
    char role[32];
    assert_int_equal(u->role_of(st, b, role, sizeof role), STORE_NOTFOUND); /* disabled */
    assert_int_equal(u->role_of(st, a, role, sizeof role), STORE_OK);
    assert_string_equal(role, "admin");
    cJSON *assignable = u->assignable(st);
    assert_int_equal(cJSON_GetArraySize(assignable), 1); /* Bob is disabled */
    cJSON_Delete(assignable);

    char pw[64], id[STORE_ID_LEN + 1];
    bool disabled = false;
    assert_int_equal(
        u->password_by_email(st, "bob@example.com", pw, sizeof pw, id, sizeof id, &disabled),
        STORE_OK);
    assert_string_equal(pw, "$argon2id$y");
    assert_string_equal(id, b);
    assert_true(disabled);
    assert_int_equal(u->password_by_email(st, "nobody@example.com", pw, sizeof pw, NULL, 0, NULL),
                     STORE_NOTFOUND);
    assert_int_equal(u->set_password(st, a, "$argon2id$z", 500), STORE_OK);
    assert_int_equal(u->password_by_id(st, a, pw, sizeof pw), STORE_OK);
    assert_string_equal(pw, "$argon2id$z");

    assert_int_equal(u->remove(st, b), STORE_OK);
    assert_int_equal(u->count(st), 1);
}

static void test_sessions_expire_idle_and_end_with_the_user(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_users_ops *u = STORE_USERS(st);
    const char *a = "01900000-0000-7000-8000-00000000000a";
    assert_int_equal(u->create(st, a, "Ada", "ada@example.com", "p", "admin", 0), STORE_OK);
    assert_int_equal(u->session_create(st, "h1", a, 1000, 10000, "127.0.0.1:1", NULL), STORE_OK);
    assert_int_equal(u->session_create(st, "h2", a, 1000, 10000, "127.0.0.1:2", "ua"), STORE_OK);
    store_session s;
    assert_int_equal(u->session_get(st, "h1", 2000, 500, &s), STORE_OK);
    assert_string_equal(s.id, a);
    assert_string_equal(s.email, "ada@example.com");
    assert_string_equal(s.role, "admin");
    assert_int_equal(s.last_seen_ms, 1000);
    assert_int_equal(u->session_get(st, "h1", 2000, 1000, &s), STORE_NOTFOUND); /* idle */
    assert_int_equal(u->session_touch(st, "h1", 1500), STORE_OK);
    assert_int_equal(u->session_get(st, "h1", 2000, 1000, &s), STORE_OK);
    assert_int_equal(u->session_get(st, "h1", 10000, 0, &s), STORE_NOTFOUND); /* expired */
    assert_int_equal(u->session_get(st, "nope", 2000, 0, &s), STORE_NOTFOUND);

    /* every session but the caller's ends (password change) */
    assert_int_equal(u->sessions_delete_user(st, a, "h1"), STORE_OK);
    assert_int_equal(u->session_get(st, "h2", 2000, 0, &s), STORE_NOTFOUND);
    assert_int_equal(u->session_get(st, "h1", 2000, 0, &s), STORE_OK);
    assert_int_equal(u->sessions_sweep(st, 20000, 0), STORE_OK); /* expired at 10000 */
    assert_int_equal(u->session_get(st, "h1", 2000, 0, &s), STORE_NOTFOUND);
    assert_int_equal(u->session_create(st, "h3", a, 1000, 10000, NULL, NULL), STORE_OK);
    assert_int_equal(u->session_delete(st, "h3"), STORE_OK);
    assert_int_equal(u->session_get(st, "h3", 2000, 0, &s), STORE_NOTFOUND);
    /* a disabled user's sessions do not resolve */
    assert_int_equal(u->session_create(st, "h4", a, 1000, 10000, NULL, NULL), STORE_OK);
    bool off = true;
    assert_int_equal(u->update(st, a, NULL, NULL, &off, 1100), STORE_OK);
    assert_int_equal(u->session_get(st, "h4", 2000, 0, &s), STORE_NOTFOUND);
}

static void test_invites_are_used_once_and_expire(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_users_ops *u = STORE_USERS(st);
    char role[32];
    assert_int_equal(u->invite_create(st, "i1", NULL, "analyst", "system", 0, 1000), STORE_OK);
    assert_int_equal(u->invite_create(st, "i2", "x@example.com", "admin", "system", 0, 1000),
                     STORE_OK);
    assert_int_equal(u->invite_use(st, "i1", 500, role, sizeof role), STORE_OK);
    assert_string_equal(role, "analyst");
    assert_int_equal(u->invite_use(st, "i1", 600, role, sizeof role), STORE_NOTFOUND);  /* used */
    assert_int_equal(u->invite_use(st, "i2", 1000, role, sizeof role), STORE_NOTFOUND); /* old */
    assert_int_equal(u->invite_use(st, "zz", 10, role, sizeof role), STORE_NOTFOUND);
}

static void test_audit_list_filters_and_pages_newest_first(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    add_audit_row(f, "user.create", NULL);
    add_audit_row(f, "auth.login", "1.2.3.4");
    add_audit_row(f, "user.delete", NULL);
    /* the rows form an intact chain, read back through the interface */
    int64_t nrows = 0, bad = 0;
    char why[128];
    assert_int_equal(audit_verify_db(f->st, &nrows, &bad, why, sizeof why), 0);
    assert_int_equal(nrows, 3);
    cJSON *rows = STORE_AUDIT(st)->list(st, INT64_MAX, "user.", 10);
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "action"), "user.delete");
    int64_t seq = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "seq")->valuedouble;
    cJSON_Delete(rows);
    rows = STORE_AUDIT(st)->list(st, seq, "", 1);
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "action"), "auth.login");
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "peer"), "1.2.3.4");
    cJSON_Delete(rows);
}

static void test_transaction_commits_or_rolls_back_as_a_unit(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    char v[16];
    assert_int_equal(store_begin(st), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->set(st, "a", "1", 0), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->set(st, "b", "2", 0), STORE_OK);
    store_rollback(st);
    assert_int_equal(STORE_SETTINGS(st)->get(st, "a", v, sizeof v), STORE_NOTFOUND);
    assert_int_equal(store_begin(st), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->set(st, "a", "1", 0), STORE_OK);
    assert_int_equal(store_commit_or_rollback(st), STORE_OK);
    assert_int_equal(STORE_SETTINGS(st)->get(st, "a", v, sizeof v), STORE_OK);
    assert_string_equal(v, "1");
}

static int64_t seen_last;
static int seen_count;
static void count_device(void *arg, const char *id, const char *owner, int64_t last_seen,
                         const char *type)
{
    (void)arg;
    (void)id;
    (void)owner;
    (void)type;
    seen_count++;
    seen_last = last_seen;
}

static void test_devices_crud_filter_keys_and_events(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_devices_ops *d = STORE_DEVICES(st);
    const char *owner = "01900000-0000-7000-8000-00000000000a";
    const char *d1 = "01900000-0000-7000-8000-0000000000d1";
    const char *d2 = "01900000-0000-7000-8000-0000000000d2";
    assert_int_equal(
        STORE_USERS(st)->create(st, owner, "O", "o@example.com", "p", "device_owner", 0), STORE_OK);
    assert_true(STORE_USERS(st)->exists(st, owner));
    store_device_fields a = {.owner_id = owner, .name = "boiler", .attributes = "{\"x\":1}"};
    store_device_fields b = {.name = "pump", .type = "meter", .location = "Plant 2"};
    assert_int_equal(d->create(st, d1, &a, 10), STORE_OK);
    assert_int_equal(d->create(st, d2, &b, 20), STORE_OK);
    cJSON *row = d->get(st, d1);
    assert_string_equal(json_str(row, "type"), "generic"); /* the default */
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(row, "attributes")));
    assert_string_equal(json_str(row, "status"), "offline");
    cJSON_Delete(row);
    char o[64];
    assert_int_equal(d->owner_of(st, d1, o, sizeof o), STORE_OK);
    assert_string_equal(o, owner);
    assert_int_equal(d->owner_of(st, d2, o, sizeof o), STORE_OK);
    assert_string_equal(o, ""); /* no owner */
    assert_int_equal(d->owner_of(st, "01900000-0000-7000-8000-0000000000ff", o, sizeof o),
                     STORE_NOTFOUND);

    int64_t total = 0;
    store_device_filter flt = {
        .owner = "", .type = "", .status = "", .query = "plant", .sort = "name", .limit = 10};
    cJSON *rows = d->list(st, &flt, &total);
    assert_int_equal(total, 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "id"), d2);
    cJSON_Delete(rows);
    flt = (store_device_filter){.owner = owner,
                                .type = "",
                                .status = "",
                                .query = "",
                                .sort = "created_at",
                                .desc = true,
                                .limit = 10};
    rows = d->list(st, &flt, &total);
    assert_int_equal(total, 1);
    cJSON_Delete(rows);
    flt = (store_device_filter){.owner = "",
                                .type = "",
                                .status = "",
                                .query = "",
                                .sort = "created_at",
                                .desc = true,
                                .limit = 10};
    rows = d->list(st, &flt, &total);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "id"), d2); /* newest first */
    cJSON_Delete(rows);

    store_device_fields rename = {.name = "boiler-1"};
    assert_int_equal(d->update(st, d1, &rename, 30), STORE_OK);
    row = d->get(st, d1);
    assert_string_equal(json_str(row, "name"), "boiler-1");
    assert_string_equal(json_str(row, "owner_id"), owner); /* NULL left it */
    cJSON_Delete(row);
    assert_int_equal(d->set_status(st, d1, "online", 40), STORE_OK);
    assert_int_equal(d->set_last_seen(st, d1, 50), STORE_OK);
    seen_count = 0;
    assert_int_equal(d->scan(st, count_device, NULL), STORE_OK);
    assert_int_equal(seen_count, 2);
    assert_int_equal(d->all_offline(st), STORE_OK);
    row = d->get(st, d1);
    assert_string_equal(json_str(row, "status"), "offline");
    assert_int_equal((int64_t)cJSON_GetObjectItem(row, "last_seen")->valuedouble, 50);
    cJSON_Delete(row);

    /* keys: a prefix is unique, lookups by prefix, revocation */
    assert_int_equal(d->key_create(st, "k1", d1, "main", "pfx1", "h1", owner, 60), STORE_OK);
    assert_int_equal(d->key_create(st, "k2", d2, NULL, "pfx1", "h2", owner, 60), STORE_ECONSTRAINT);
    char dev[64], hash[80], prefix[16], name[32];
    int64_t revoked = 0;
    assert_int_equal(d->key_lookup(st, "pfx1", dev, sizeof dev, hash, sizeof hash, &revoked),
                     STORE_OK);
    assert_string_equal(dev, d1);
    assert_string_equal(hash, "h1");
    assert_int_equal(revoked, -1);
    assert_int_equal(d->key_prefix(st, d1, "k1", prefix, sizeof prefix), STORE_OK);
    assert_string_equal(prefix, "pfx1");
    assert_int_equal(d->key_prefix(st, d2, "k1", prefix, sizeof prefix), STORE_NOTFOUND);
    assert_int_equal(d->key_name(st, "pfx1", name, sizeof name), STORE_OK);
    assert_string_equal(name, "main");
    assert_int_equal(d->key_revoke(st, "pfx1", 70), STORE_OK);
    assert_int_equal(d->key_lookup(st, "pfx1", dev, sizeof dev, hash, sizeof hash, &revoked),
                     STORE_OK);
    assert_int_equal(revoked, 70);
    rows = d->keys_list(st, d1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "revoked")));
    cJSON_Delete(rows);

    /* events: filters, owner scope, newest first */
    assert_int_equal(
        d->event_add(st, 100, d1, "security", "auth_failure", "mqtt", "1.2.3.4:5", NULL), STORE_OK);
    assert_int_equal(d->event_add(st, 200, d2, "status", "online", "http", NULL, "x"), STORE_OK);
    assert_int_equal(d->event_add(st, 300, NULL, "security", "unknown_device", "mqtt", NULL, NULL),
                     STORE_OK);
    store_event_filter ef = {.from_ms = 0,
                             .to_ms = 1000,
                             .device_id = "",
                             .category = "security",
                             .kind = "",
                             .owner = "",
                             .limit = 10};
    rows = d->events(st, &ef);
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "kind"), "unknown_device");
    cJSON_Delete(rows);
    ef = (store_event_filter){.from_ms = 0,
                              .to_ms = 1000,
                              .device_id = "",
                              .category = "",
                              .kind = "",
                              .owner = owner,
                              .limit = 10};
    rows = d->events(st, &ef);
    assert_int_equal(cJSON_GetArraySize(rows), 1); /* only the owner's device */
    cJSON_Delete(rows);

    assert_int_equal(d->remove(st, d1), STORE_OK);
    assert_null(d->get(st, d1));
    assert_int_equal(d->key_lookup(st, "pfx1", dev, sizeof dev, hash, sizeof hash, &revoked),
                     STORE_NOTFOUND); /* keys go with their device */
}

static int states_seen;
static void count_state(void *arg, const char *device_id, const char *metric, const void *blob,
                        size_t len)
{
    (void)arg;
    (void)device_id;
    (void)metric;
    assert_non_null(blob);
    assert_int_equal(len, 3);
    states_seen++;
}

static void test_detector_state_needs_its_device(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const char *d1 = "01900000-0000-7000-8000-0000000000d1";
    store_device_fields a = {.name = "x"};
    assert_int_equal(STORE_DEVICES(st)->create(st, d1, &a, 0), STORE_OK);
    assert_int_equal(STORE_STATE(st)->put(st, d1, "temp", "abc", 3, 1), STORE_OK);
    assert_int_equal(STORE_STATE(st)->put(st, d1, "temp", "xyz", 3, 2), STORE_OK); /* upsert */
    assert_int_equal(STORE_STATE(st)->put(st, d1, "sys.addr", "abc", 3, 2), STORE_OK);
    /* a device deleted meanwhile: nothing stored, not an error */
    assert_int_equal(STORE_STATE(st)->put(st, "gone", "temp", "abc", 3, 3), STORE_OK);
    states_seen = 0;
    assert_int_equal(STORE_STATE(st)->scan(st, NULL, count_state, NULL), STORE_OK);
    assert_int_equal(states_seen, 2);
    states_seen = 0;
    assert_int_equal(STORE_STATE(st)->scan(st, "sys.addr", count_state, NULL), STORE_OK);
    assert_int_equal(states_seen, 1);
}

static int rules_seen;
static void count_rule(void *arg, const store_rule *r)
{
    (void)arg;
    assert_string_equal(r->kind, "above");
    assert_string_equal(r->device_id, ""); /* NULL comes as "" */
    rules_seen++;
}

static void test_anomalies_open_once_update_close_resolve_and_rules(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_anomalies_ops *an = STORE_ANOMALIES(st);
    const char *owner = "01900000-0000-7000-8000-00000000000a";
    const char *d1 = "01900000-0000-7000-8000-0000000000d1";
    assert_int_equal(
        STORE_USERS(st)->create(st, owner, "O", "o@example.com", "p", "device_owner", 0), STORE_OK);
    store_device_fields df = {.owner_id = owner, .name = "x"};
    assert_int_equal(STORE_DEVICES(st)->create(st, d1, &df, 0), STORE_OK);
    store_anomaly a = {.id = "01900000-0000-7000-8000-0000000000a1",
                       .device_id = d1,
                       .metric = "temp",
                       .severity = "info",
                       .description = "hot",
                       .details = "{\"value\":3}",
                       .ts_ms = 1000};
    bool inserted = false;
    assert_int_equal(an->open(st, &a, &inserted), STORE_OK);
    assert_true(inserted);
    assert_int_equal(an->open(st, &a, &inserted), STORE_OK); /* replayed: kept once */
    assert_false(inserted);
    store_anomaly orphan = a;
    orphan.id = "01900000-0000-7000-8000-0000000000a2";
    orphan.device_id = "01900000-0000-7000-8000-0000000000ff"; /* deleted meanwhile */
    assert_int_equal(an->open(st, &orphan, &inserted), STORE_OK);
    assert_false(inserted);
    assert_int_equal(an->update(st, a.id, 2000, "{\"value\":9}", "warning"), STORE_OK);
    assert_int_equal(an->update(st, a.id, 2500, "{\"value\":5}", "info"), STORE_OK); /* rises */
    assert_int_equal(an->close(st, a.id, 3000), STORE_OK);
    cJSON *row = an->get(st, a.id, "");
    assert_non_null(row);
    assert_string_equal(json_str(row, "severity"), "warning");
    const cJSON *det = cJSON_GetObjectItem(row, "details");
    assert_int_equal(cJSON_GetObjectItem(det, "value")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(det, "ended")->valueint, 1);
    assert_int_equal((int64_t)cJSON_GetObjectItem(det, "ended_at")->valuedouble, 3000);
    assert_string_equal(json_str(row, "device_name"), "x");
    cJSON_Delete(row);
    assert_null(an->get(st, a.id, "01900000-0000-7000-8000-00000000000b")); /* not the owner */
    row = an->event_row(st, a.id);
    assert_null(cJSON_GetObjectItem(row, "device_name"));
    cJSON_Delete(row);

    store_anomaly_filter flt = {.from_ms = 0,
                                .to_ms = INT64_MAX,
                                .device_id = "",
                                .severity = "",
                                .metric = "",
                                .resolved = 0,
                                .owner = owner,
                                .limit = 10};
    int64_t total = 0;
    cJSON *rows = an->list(st, &flt, &total);
    assert_int_equal(total, 1);
    cJSON_Delete(rows);
    assert_int_equal(an->resolve(st, a.id, 4000, "false_positive"), STORE_OK);
    assert_int_equal(an->resolve(st, a.id, 5000, NULL), STORE_OK); /* keeps time and verdict */
    row = an->get(st, a.id, "");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(row, "resolved")));
    assert_int_equal((int64_t)cJSON_GetObjectItem(row, "resolved_at")->valuedouble, 4000);
    assert_string_equal(json_str(row, "verdict"), "false_positive");
    cJSON_Delete(row);
    rows = an->list(st, &flt, &total);
    assert_int_equal(total, 0); /* resolved = 0 only */
    cJSON_Delete(rows);

    int64_t seq = an->seq_of(st, a.id);
    assert_true(seq > 0);
    assert_int_equal(an->max_seq(st), seq);
    rows = an->ids_after(st, 0, 10);
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    cJSON_Delete(rows);
    rows = an->ids_after(st, seq, 10);
    assert_int_equal(cJSON_GetArraySize(rows), 0);
    cJSON_Delete(rows);

    /* rules: integer ids, partial updates, the enabled ones scanned */
    const store_rules_ops *ru = STORE_RULES(st);
    double thr = 30;
    store_rule_fields rf = {
        .name = "hot", .metric = "temp", .kind = "above", .severity = "warning", .threshold = &thr};
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(ru->create(st, &rf, "system", 1, &id1), STORE_OK);
    bool off = false;
    rf.enabled = &off;
    assert_int_equal(ru->create(st, &rf, "system", 1, &id2), STORE_OK);
    assert_true(id2 > id1);
    assert_true(ru->exists(st, id1));
    double thr2 = 35.5;
    store_rule_fields upd = {.threshold = &thr2};
    assert_int_equal(ru->update(st, id1, &upd, 2), STORE_OK);
    row = ru->get(st, id1);
    assert_true(cJSON_GetObjectItem(row, "threshold")->valuedouble == 35.5);
    assert_string_equal(json_str(row, "name"), "hot");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(row, "enabled")));
    cJSON_Delete(row);
    rules_seen = 0;
    assert_int_equal(ru->scan_enabled(st, count_rule, NULL), STORE_OK);
    assert_int_equal(rules_seen, 1);
    rows = ru->list(st, owner);
    assert_int_equal(cJSON_GetArraySize(rows), 2); /* global rules are everyone's */
    cJSON_Delete(rows);
    assert_int_equal(ru->remove(st, id2), STORE_OK);
    assert_false(ru->exists(st, id2));
    assert_int_equal(STORE_SERIES(st)->log_head(st), 0); /* nothing written yet */
}

static void seed_anomaly(store *st, const char *dev, const char *id, const char *severity)
{
    store_device_fields df = {.name = "dev"};
    STORE_DEVICES(st)->create(st, dev, &df, 0); /* once; later calls fail harmlessly */
    store_anomaly a = {.id = id,
                       .device_id = dev,
                       .metric = "temp",
                       .severity = severity,
                       .description = "d",
                       .details = "{}",
                       .ts_ms = 1000};
    bool inserted = false;
    assert_int_equal(STORE_ANOMALIES(st)->open(st, &a, &inserted), STORE_OK);
    assert_true(inserted);
}

static void test_incidents_link_raise_timeline_and_resolve(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_incidents_ops *in = STORE_INCIDENTS(st);
    const char *dev = "01900000-0000-7000-8000-0000000000d1";
    const char *a1 = "01900000-0000-7000-8000-0000000000a1";
    const char *a2 = "01900000-0000-7000-8000-0000000000a2";
    const char *inc = "01900000-0000-7000-8000-0000000000c1";
    seed_anomaly(st, dev, a1, "warning");
    seed_anomaly(st, dev, a2, "critical");
    store_incident_new n = {.id = inc,
                            .anomaly_id = a1,
                            .title = "t",
                            .severity = "warning",
                            .device_id = dev,
                            .origin = "auto"};
    assert_int_equal(in->create(st, &n, 100), STORE_OK);
    char id[40];
    assert_int_equal(in->open_auto_for(st, dev, id, sizeof id), STORE_OK);
    assert_string_equal(id, inc);
    bool linked = false;
    assert_int_equal(in->link(st, inc, a1, 110, &linked), STORE_OK);
    assert_true(linked);
    assert_int_equal(in->link(st, inc, a1, 120, &linked), STORE_OK);
    assert_false(linked); /* once */
    assert_int_equal(in->link(st, inc, a2, 130, &linked), STORE_OK);
    assert_true(in->anomaly_linked(st, a2));
    cJSON *ids = in->anomaly_ids(st, inc, 10); /* in link order */
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_string_equal(json_str(cJSON_GetArrayItem(ids, 0), "anomaly_id"), a1);
    assert_string_equal(json_str(cJSON_GetArrayItem(ids, 1), "anomaly_id"), a2);
    cJSON_Delete(ids);
    assert_int_equal(in->open_incident_of(st, a2, NULL, id, sizeof id), STORE_OK);
    assert_string_equal(id, inc);
    assert_int_equal(in->open_incident_of(st, a2, inc, id, sizeof id), STORE_NOTFOUND);
    cJSON *row = STORE_ANOMALIES(st)->get(st, a1, ""); /* the anomaly names its incident */
    assert_string_equal(json_str(row, "incident_id"), inc);
    assert_string_equal(json_str(row, "incident_status"), "new");
    assert_string_equal(json_str(row, "incident_title"), "t");
    cJSON_Delete(row);
    row = in->get(st, inc);
    assert_string_equal(json_str(row, "severity"), "critical"); /* raised by a2 */
    assert_int_equal(cJSON_GetObjectItem(row, "anomaly_count")->valueint, 2);
    cJSON_Delete(row);
    int64_t ev = 0;
    assert_int_equal(in->event_add(st, inc, "system", "comment", "{\"text\":\"x\"}", 140, &ev),
                     STORE_OK);
    row = in->event_get(st, ev);
    assert_string_equal(json_str(row, "kind"), "comment");
    assert_string_equal(json_str(cJSON_GetObjectItem(row, "detail"), "text"), "x");
    cJSON_Delete(row);
    assert_int_equal(in->set_investigating(st, inc, 150, false), STORE_OK);
    char status[24];
    assert_int_equal(in->status_of(st, inc, status, sizeof status), STORE_OK);
    assert_string_equal(status, "investigating");
    cJSON *open = in->unresolved_anomalies(st, inc);
    assert_int_equal(cJSON_GetArraySize(open), 2);
    cJSON_Delete(open);
    cJSON *settled = in->settled_by(st, a1); /* not while an anomaly of it is open */
    assert_int_equal(cJSON_GetArraySize(settled), 0);
    cJSON_Delete(settled);
    assert_int_equal(in->resolve_anomalies(st, inc, 155, "confirmed"), STORE_OK);
    settled = in->settled_by(st, a1);
    assert_int_equal(cJSON_GetArraySize(settled), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(settled, 0), "id"), inc);
    assert_string_equal(json_str(cJSON_GetArrayItem(settled, 0), "verdict"), "confirmed");
    cJSON_Delete(settled);
    assert_int_equal(in->set_resolved(st, inc, 160, "confirmed"), STORE_OK);
    assert_int_equal(in->resolve_anomalies(st, inc, 160, "confirmed"), STORE_OK);
    open = in->unresolved_anomalies(st, inc);
    assert_int_equal(cJSON_GetArraySize(open), 0);
    cJSON_Delete(open);
    assert_int_equal(in->open_auto_for(st, dev, id, sizeof id), STORE_NOTFOUND); /* resolved */
    assert_int_equal(in->open_incident_of(st, a1, NULL, id, sizeof id), STORE_NOTFOUND);
    row = STORE_ANOMALIES(st)->get(st, a1, ""); /* its latest resolved incident */
    assert_string_equal(json_str(row, "incident_status"), "resolved");
    cJSON_Delete(row);
    row = in->full(st, inc, "");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(row, "anomalies")), 2);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(row, "timeline")) >= 1);
    assert_int_equal((int64_t)cJSON_GetObjectItem(row, "time_to_resolve_ms")->valuedouble, 60);
    cJSON_Delete(row);
    assert_null(in->full(st, inc, "01900000-0000-7000-8000-00000000000b")); /* not theirs */
    assert_int_equal(in->count_by_status(st, "resolved"), 1);
}

typedef struct {
    int n;
    char id[40];
    bool has_channel;
} due_seen;

static void see_due(void *arg, const store_due_alert *d)
{
    due_seen *s = arg;
    s->n++;
    snprintf(s->id, sizeof s->id, "%s", d->id);
    s->has_channel = d->has_channel;
}

static void test_alert_outbox_groups_claims_freezes_and_retries(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_alerts_ops *al = STORE_ALERTS(st);
    const char *dev = "01900000-0000-7000-8000-0000000000d1";
    const char *an = "01900000-0000-7000-8000-0000000000a1";
    const char *ch = "01900000-0000-7000-8000-0000000000e1";
    const char *id = "01900000-0000-7000-8000-0000000000b1";
    seed_anomaly(st, dev, an, "warning");
    store_channel c = {.name = "hook",
                       .kind = "webhook",
                       .url = "http://x",
                       .config = "{}",
                       .sealed_secret = "enc:abc",
                       .enabled = true,
                       .rate_per_min = 60};
    assert_int_equal(al->channel_create(st, ch, &c, 10), STORE_OK);
    cJSON *row = al->channel_get(st, ch);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(row, "has_secret")));
    assert_null(cJSON_GetObjectItem(row, "secret")); /* never returned */
    cJSON_Delete(row);
    store_alert_new a = {.id = id,
                         .anomaly_id = an,
                         .method = "webhook",
                         .channel_id = ch,
                         .recipient = "http://x",
                         .device_id = dev,
                         .severity = "warning",
                         .kind = "anomaly",
                         .group_key = "k",
                         .due_ms = 100};
    assert_int_equal(al->create(st, &a, 50), STORE_OK);
    assert_int_equal(al->link_anomaly(st, id, an), STORE_OK);
    assert_int_equal(al->link_anomaly(st, id, an), STORE_OK); /* once */
    char gid[40];
    assert_int_equal(al->group_find(st, "k", gid, sizeof gid), STORE_OK);
    bool grouped = false;
    assert_int_equal(al->group_add(st, gid, "critical", 60, &grouped), STORE_OK);
    assert_true(grouped);
    row = al->row(st, id);
    assert_int_equal(cJSON_GetObjectItem(row, "count")->valueint, 2);
    assert_string_equal(json_str(row, "severity"), "critical");
    cJSON_Delete(row);
    assert_int_equal(al->group_last_due(st, "k", 0), 100);

    due_seen seen = {0};
    assert_int_equal(al->due(st, 99, 10, see_due, &seen), STORE_OK);
    assert_int_equal(seen.n, 0); /* not due yet */
    assert_int_equal(al->due(st, 100, 10, see_due, &seen), STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_true(seen.has_channel);
    int attempt = 0;
    assert_int_equal(al->claim(st, id, 100, &attempt), STORE_OK);
    assert_int_equal(attempt, 1);
    assert_int_equal(al->claim(st, id, 100, &attempt), STORE_OK);
    assert_int_equal(attempt, 0); /* already sending */
    assert_null(al->payload_get(st, id));
    assert_int_equal(al->payload_set(st, id, "{\"p\":1}"), STORE_OK);
    char *p = al->payload_get(st, id);
    assert_string_equal(p, "{\"p\":1}");
    free(p);
    assert_int_equal(al->group_find(st, "k", gid, sizeof gid), STORE_NOTFOUND); /* frozen */
    assert_int_equal(al->attempt_add(st, id, 1, 100, 5, false, 500, "boom"), STORE_OK);
    assert_int_equal(al->mark_retry(st, id, 200, "boom", 105), STORE_OK);
    assert_int_equal(al->next_due(st), 200);
    assert_int_equal(al->claim(st, id, 200, &attempt), STORE_OK);
    assert_int_equal(attempt, 2);
    int released = 0;
    assert_int_equal(al->release(st, NULL, 210, &released), STORE_OK); /* a restart */
    assert_int_equal(released, 1);
    assert_int_equal(al->claim(st, id, 210, &attempt), STORE_OK);
    assert_int_equal(al->mark_dead(st, id, "gave up", 220, false), STORE_OK);
    assert_int_equal(al->count_by_status(st, "dead"), 1);
    bool requeued = false;
    assert_int_equal(al->retry(st, id, 230, &requeued), STORE_OK);
    assert_true(requeued);
    cJSON *att = al->attempts(st, id);
    assert_int_equal(cJSON_GetArraySize(att), 1);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(att, 0), "ok")));
    cJSON_Delete(att);
    row = al->payload_alert(st, id);
    assert_string_equal(json_str(row, "anomaly_id"), an);
    cJSON_Delete(row);
    cJSON *list = al->payload_anomalies(st, id, 20);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    bool deleted = false;
    assert_int_equal(al->channel_delete(st, ch, &deleted), STORE_OK);
    assert_true(deleted);
    seen = (due_seen){0};
    assert_int_equal(al->due(st, 1000, 10, see_due, &seen), STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_false(seen.has_channel); /* the worker dead-letters it */
}

static void test_alert_policies_match_by_severity_and_recipients_by_contact(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_alerts_ops *al = STORE_ALERTS(st);
    const char *u = "01900000-0000-7000-8000-00000000000a";
    const char *ch = "01900000-0000-7000-8000-0000000000e1";
    assert_int_equal(STORE_USERS(st)->create(st, u, "A", "a@example.com", "p", "analyst", 0),
                     STORE_OK);
    store_channel c = {.name = "mail",
                       .kind = "email",
                       .url = "",
                       .config = "{}",
                       .sealed_secret = "",
                       .enabled = true,
                       .rate_per_min = 60};
    assert_int_equal(al->channel_create(st, ch, &c, 10), STORE_OK);
    store_policy p = {.id = "p1",
                      .name = "crit",
                      .channel_id = ch,
                      .enabled = true,
                      .severities = "[\"critical\"]",
                      .users = "[]",
                      .roles = "[\"analyst\"]",
                      .addresses = "[\"ops@example.com\"]",
                      .escalate_users = "[]",
                      .escalate_roles = "[]",
                      .escalate_addresses = "[]",
                      .group_window_ms = 60000};
    assert_int_equal(al->policy_put(st, &p, 20), STORE_OK);
    cJSON *m = al->policies_matching(st, "d", "thermostat", "warning");
    assert_int_equal(cJSON_GetArraySize(m), 0);
    cJSON_Delete(m);
    m = al->policies_matching(st, "d", "thermostat", "critical");
    assert_int_equal(cJSON_GetArraySize(m), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(m, 0), "roles"), "[\"analyst\"]");
    cJSON_Delete(m);
    /* no contact: the account's e-mail; and the literal address */
    cJSON *r = al->recipients(st, "[]", "[\"analyst\"]", "", "email", 3, "[\"ops@example.com\"]");
    assert_int_equal(cJSON_GetArraySize(r), 2);
    cJSON_Delete(r);
    /* an e-mail contact that wants only critical: warning (rank 2) reaches nobody but ops@ */
    assert_int_equal(al->contact_add(st, "c1", u, "email", "alt@example.com", "critical", true, 30),
                     STORE_OK);
    r = al->recipients(st, "[]", "[\"analyst\"]", "", "email", 2, "[]");
    assert_int_equal(cJSON_GetArraySize(r), 0);
    cJSON_Delete(r);
    r = al->recipients(st, "[]", "[\"analyst\"]", "", "email", 3, "[]");
    assert_int_equal(cJSON_GetArraySize(r), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(r, 0), "address"), "alt@example.com");
    assert_string_equal(json_str(cJSON_GetArrayItem(r, 0), "user_id"), u);
    cJSON_Delete(r);
    assert_int_equal(al->contacts_clear(st, u), STORE_OK);
    cJSON *cl = al->contacts_list(st, u);
    assert_int_equal(cJSON_GetArraySize(cl), 0);
    cJSON_Delete(cl);
    bool deleted = false;
    assert_int_equal(al->policy_delete(st, "p1", &deleted), STORE_OK);
    assert_true(deleted);
    assert_null(al->policy_get(st, "p1"));
}

/* A fleet for the report and export tests: devices d1 (type meter) and d2 of one owner, three
 * anomalies (d1 critical at 1000 and info at 2000, d2 warning at 1500), a security event of
 * d1 and one without a device. */
#define RD1 "01900000-0000-7000-8000-0000000000d1"
#define RD2 "01900000-0000-7000-8000-0000000000d2"
static void report_fleet(store *st)
{
    const char *owner = "01900000-0000-7000-8000-00000000000a";
    assert_int_equal(
        STORE_USERS(st)->create(st, owner, "O", "o@example.com", "p", "device_owner", 0), STORE_OK);
    store_device_fields a = {.owner_id = owner, .name = "boiler", .type = "meter"};
    store_device_fields b = {.owner_id = owner, .name = "pump"};
    assert_int_equal(STORE_DEVICES(st)->create(st, RD1, &a, 0), STORE_OK);
    assert_int_equal(STORE_DEVICES(st)->create(st, RD2, &b, 0), STORE_OK);
    static const struct {
        const char *id, *dev, *sev;
        int64_t ts;
    } an[] = {{"01900000-0000-7000-8000-0000000000a1", RD1, "critical", 1000},
              {"01900000-0000-7000-8000-0000000000a2", RD1, "info", 2000},
              {"01900000-0000-7000-8000-0000000000a3", RD2, "warning", 1500}};
    for (int i = 0; i < 3; i++) {
        store_anomaly x = {.id = an[i].id,
                           .device_id = an[i].dev,
                           .metric = "temp",
                           .severity = an[i].sev,
                           .description = "d",
                           .details = "{}",
                           .ts_ms = an[i].ts};
        bool inserted;
        assert_int_equal(STORE_ANOMALIES(st)->open(st, &x, &inserted), STORE_OK);
        assert_true(inserted);
    }
    assert_int_equal(STORE_DEVICES(st)->event_add(st, 1000, RD1, "security", "auth_failure", "mqtt",
                                                  "10.0.0.1:5", ""),
                     STORE_OK);
    assert_int_equal(STORE_DEVICES(st)->event_add(st, 1100, NULL, "security", "bad_payload", "http",
                                                  "10.0.0.2:6", ""),
                     STORE_OK);
}

/* The catalog's names (its statements are the back-ends'; the dialect here is never run). */
#define RQ_ISO(expr) expr
#define RQ_GROUP "''"
#define RQ_STRPOS(str, sub) str
#include "store/report_catalog.h"

static void test_report_queries_follow_range_and_device_filter(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_report_queries_ops *q = STORE_REPORT_QUERIES(st);
    report_fleet(st);
    store_report_scope all = {.from_ms = 0,
                              .to_ms = 10000,
                              .device_type = "",
                              .group = "",
                              .device_id = "",
                              .owner_id = "",
                              .bucket_ms = 3600000,
                              .text = ""};
    store_report_scope meters = all;
    meters.device_type = "meter";
    double v = -1;
    assert_int_equal(q->number(st, "report.devices", &all, &v), STORE_OK);
    assert_int_equal((int)v, 2);
    assert_int_equal(q->number(st, "security.anomalies", &all, &v), STORE_OK);
    assert_int_equal((int)v, 3);
    assert_int_equal(q->number(st, "security.anomalies", &meters, &v), STORE_OK);
    assert_int_equal((int)v, 2);
    store_report_scope early = all; /* the range is [from, to) */
    early.to_ms = 1500;
    assert_int_equal(q->number(st, "security.anomalies", &early, &v), STORE_OK);
    assert_int_equal((int)v, 1);
    meters.text = "critical";
    assert_int_equal(q->number(st, "security.anomalies_of_severity", &meters, &v), STORE_OK);
    assert_int_equal((int)v, 1);
    /* an event without a device counts only when the report has no device filter */
    all.text = meters.text = "bad_payload";
    assert_int_equal(q->number(st, "security.events_of_kind", &all, &v), STORE_OK);
    assert_int_equal((int)v, 1);
    assert_int_equal(q->number(st, "security.events_of_kind", &meters, &v), STORE_OK);
    assert_int_equal((int)v, 0);
    /* no incident: an average over nothing is no value */
    assert_int_equal(q->number(st, "security.time_to_resolve_mean", &all, &v), STORE_NOTFOUND);

    /* a table: its columns, and its rows in the query's order */
    cJSON *t = q->table(st, "security.anomalies_by_severity", &all);
    assert_non_null(t);
    const cJSON *cols = cJSON_GetObjectItem(t, "columns");
    assert_int_equal(cJSON_GetArraySize(cols), 3);
    assert_string_equal(cJSON_GetArrayItem(cols, 0)->valuestring, "severity");
    const cJSON *rows = cJSON_GetObjectItem(t, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 3);
    const cJSON *r0 = cJSON_GetArrayItem(rows, 0);
    assert_string_equal(cJSON_GetArrayItem(r0, 0)->valuestring, "critical");
    assert_int_equal(cJSON_GetArrayItem(r0, 1)->valueint, 1);
    cJSON_Delete(t);

    /* the device walk and texts */
    char id[64];
    all.text = meters.text = "";
    assert_int_equal(q->text(st, "report.next_device", &all, id, sizeof id), STORE_OK);
    assert_string_equal(id, RD1);
    all.text = RD1;
    assert_int_equal(q->text(st, "report.next_device", &all, id, sizeof id), STORE_OK);
    assert_string_equal(id, RD2);
    meters.text = RD1;
    assert_int_equal(q->text(st, "report.next_device", &meters, id, sizeof id), STORE_NOTFOUND);
    assert_int_equal(q->text(st, "device.name", &all, id, sizeof id), STORE_OK);
    assert_string_equal(id, "boiler");

    /* every statement of the catalog runs on this back-end, filtered or not */
    for (size_t i = 0; i < sizeof report_catalog / sizeof report_catalog[0]; i++) {
        all.text = meters.text = "";
        cJSON *x = q->table(st, report_catalog[i].name, &all);
        if (!x) fail_msg("%s failed", report_catalog[i].name);
        cJSON_Delete(x);
        x = q->table(st, report_catalog[i].name, &meters);
        if (!x) fail_msg("%s (filtered) failed", report_catalog[i].name);
        cJSON_Delete(x);
    }

    /* a name no back-end knows is an error, not an empty answer */
    assert_int_equal(q->number(st, "no.such.query", &all, &v), STORE_ERR);
    assert_null(q->table(st, "no.such.query", &all));
}

typedef struct {
    int rows;
    char first_name[16];
    int64_t ts[8];
    bool has_severity;
} export_seen;

static void export_row(void *arg, int n, const char *const *names, const store_value *v)
{
    export_seen *s = arg;
    assert_true(n >= 4);
    if (s->rows == 0) snprintf(s->first_name, sizeof s->first_name, "%s", names[0]);
    assert_int_equal(v[0].type, STORE_INT);
    if (s->rows < 8) s->ts[s->rows] = v[0].i;
    for (int i = 4; i < n; i++)
        if (strcmp(names[i], "severity") == 0) s->has_severity = v[i].type == STORE_TEXT;
    s->rows++;
}

static void test_export_rows_page_by_keyset_within_the_scope(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_export_ops *x = STORE_EXPORTS(st);
    report_fleet(st);
    store_export_scope all = {
        .from_ms = 0, .to_ms = 10000, .devices = "", .device_type = "", .owner_id = ""};

    /* anomalies two at a time, by time, then nothing: no row twice, none lost */
    store_export_cursor cur = {0};
    export_seen seen = {0};
    assert_int_equal(x->page(st, STORE_EXPORT_ANOMALIES, &all, &cur, 2, export_row, &seen), 2);
    assert_int_equal(x->page(st, STORE_EXPORT_ANOMALIES, &all, &cur, 2, export_row, &seen), 1);
    assert_int_equal(x->page(st, STORE_EXPORT_ANOMALIES, &all, &cur, 2, export_row, &seen), 0);
    assert_int_equal(seen.rows, 3);
    assert_string_equal(seen.first_name, "ts_");
    assert_true(seen.has_severity);
    assert_int_equal(seen.ts[0], 1000);
    assert_int_equal(seen.ts[1], 1500);
    assert_int_equal(seen.ts[2], 2000);

    /* the device list filters; events without a device only go out unfiltered */
    store_export_scope one = all;
    one.devices = "01900000-0000-7000-8000-0000000000ff," RD2;
    cur = (store_export_cursor){0};
    seen = (export_seen){0};
    assert_int_equal(x->page(st, STORE_EXPORT_ANOMALIES, &one, &cur, 10, export_row, &seen), 1);
    cur = (store_export_cursor){0};
    assert_int_equal(x->page(st, STORE_EXPORT_EVENTS, &one, &cur, 10, export_row, &seen), 0);
    cur = (store_export_cursor){0};
    assert_int_equal(x->page(st, STORE_EXPORT_EVENTS, &all, &cur, 10, export_row, &seen), 2);
    cur = (store_export_cursor){0};
    assert_int_equal(x->page(st, STORE_EXPORT_INCIDENTS, &all, &cur, 10, export_row, &seen), 0);

    /* incidents in storage order, each once; one of d2 is outside a d1-only scope */
    store_incident_new in1 = {.id = "01900000-0000-7000-8000-0000000000c1",
                              .anomaly_id = "01900000-0000-7000-8000-0000000000a1",
                              .title = "t1",
                              .severity = "critical",
                              .device_id = RD1,
                              .origin = "auto"};
    store_incident_new in2 = in1;
    in2.id = "01900000-0000-7000-8000-0000000000c2";
    in2.anomaly_id = "01900000-0000-7000-8000-0000000000a3";
    in2.device_id = RD2;
    assert_int_equal(STORE_INCIDENTS(st)->create(st, &in1, 1200), STORE_OK);
    assert_int_equal(STORE_INCIDENTS(st)->create(st, &in2, 1300), STORE_OK);
    cur = (store_export_cursor){0};
    seen = (export_seen){0};
    assert_int_equal(x->page(st, STORE_EXPORT_INCIDENTS, &all, &cur, 1, export_row, &seen), 1);
    assert_int_equal(x->page(st, STORE_EXPORT_INCIDENTS, &all, &cur, 1, export_row, &seen), 1);
    assert_int_equal(x->page(st, STORE_EXPORT_INCIDENTS, &all, &cur, 1, export_row, &seen), 0);
    assert_int_equal(seen.ts[0], 1200);
    assert_int_equal(seen.ts[1], 1300);
    store_export_scope d1 = all;
    d1.devices = RD1;
    cur = (store_export_cursor){0};
    assert_int_equal(x->page(st, STORE_EXPORT_INCIDENTS, &d1, &cur, 10, export_row, &seen), 1);
    /* the audit kind answers on every back-end (nothing audited in this store) */
    cur = (store_export_cursor){0};
    assert_int_equal(x->page(st, STORE_EXPORT_AUDIT, &d1, &cur, 10, export_row, &seen), 0);

    char id[64];
    assert_int_equal(x->next_device(st, &one, "", id, sizeof id), STORE_OK);
    assert_string_equal(id, RD2);
    assert_int_equal(x->next_device(st, &one, RD2, id, sizeof id), STORE_NOTFOUND);
    assert_int_equal(x->next_device(st, &all, "", id, sizeof id), STORE_OK);
    assert_string_equal(id, RD1);
}

static void test_reports_schedules_and_exports(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    const store_reports_ops *r = STORE_REPORTS(st);
    store_report_new sec = {
        .id = "r1", .kind = "security", .params = "{\"days\":7}", .from_ms = 10, .to_ms = 20};
    store_report_new comp = {.id = "r2",
                             .kind = "compliance",
                             .params = "{}",
                             .from_ms = 10,
                             .to_ms = 20,
                             .schedule_id = 0,
                             .created_by = "u1"};
    assert_int_equal(r->create(st, &sec, 100), STORE_OK);
    assert_int_equal(r->create(st, &comp, 200), STORE_OK);
    assert_int_equal(r->create(st, &sec, 300), STORE_ECONSTRAINT); /* the id is taken */

    cJSON *row = r->get(st, "r1", false);
    assert_non_null(row);
    assert_string_equal(json_str(row, "status"), "queued");
    assert_string_equal(json_str(row, "created_by"), "system");
    assert_int_equal(cJSON_GetObjectItem(row, "from")->valuedouble, 10);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(row, "params"), "days")->valuedouble,
                     7);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(row, "schedule_id")));
    cJSON_Delete(row);
    assert_null(r->get(st, "r2", false)); /* compliance: only for those who may see it */
    row = r->get(st, "r2", true);
    assert_non_null(row);
    cJSON_Delete(row);

    int64_t total = 0;
    cJSON *rows = r->list(st, "", 0, false, 10, 0, &total);
    assert_int_equal(total, 1);
    cJSON_Delete(rows);
    rows = r->list(st, "", 0, true, 1, 0, &total);
    assert_int_equal(total, 2);
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    assert_string_equal(json_str(cJSON_GetArrayItem(rows, 0), "id"), "r2"); /* newest first */
    cJSON_Delete(rows);

    cJSON *left = r->unfinished(st);
    assert_int_equal(cJSON_GetArraySize(left), 2);
    cJSON_Delete(left);
    assert_int_equal(r->set_running(st, "r1"), STORE_OK);
    assert_null(r->document(st, "r1"));
    assert_int_equal(r->set_done(st, "r1", "{\"doc\":1}", "abc", 400), STORE_OK);
    char *doc = r->document(st, "r1");
    assert_string_equal(doc, "{\"doc\":1}");
    free(doc);
    assert_int_equal(r->set_failed(st, "r2", "no data", 500), STORE_OK);
    left = r->unfinished(st);
    assert_int_equal(cJSON_GetArraySize(left), 0);
    cJSON_Delete(left);

    int64_t s1 = 0, s2 = 0;
    assert_int_equal(
        r->schedule_create(st, "weekly", "security", "weekly", NULL, 1000, "u1", 1, &s1), STORE_OK);
    assert_int_equal(
        r->schedule_create(st, "audit", "compliance", "daily", "{}", 5000, "u1", 2, &s2), STORE_OK);
    assert_true(s1 > 0 && s2 > s1);
    cJSON *sched = r->schedule_get(st, s1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sched, "is_enabled")));
    cJSON_Delete(sched);
    cJSON *list = r->schedules_list(st, false);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    cJSON *due = r->schedules_due(st, 2000, 10);
    assert_int_equal(cJSON_GetArraySize(due), 1);
    cJSON_Delete(due);
    assert_int_equal(r->schedule_ran(st, s1, 2000, 9000), STORE_OK);
    due = r->schedules_due(st, 6000, 10);
    assert_int_equal(cJSON_GetArraySize(due), 1); /* only the daily one now */
    cJSON_Delete(due);
    bool deleted = true;
    assert_int_equal(r->schedule_delete(st, s2, false, &deleted), STORE_OK);
    assert_false(deleted); /* a compliance schedule needs the right to see it */
    assert_int_equal(r->schedule_delete(st, s2, true, &deleted), STORE_OK);
    assert_true(deleted);

    assert_int_equal(r->export_start(st, "e1", "u1", "127.0.0.1", "ndjson", "{}", 10), STORE_OK);
    assert_int_equal(r->export_start(st, "e2", "u2", "127.0.0.1", "csv", "{}", 20), STORE_OK);
    assert_int_equal(r->export_end(st, "e1", "done", 100, 3, "ff", "{\"files\":1}", 30), STORE_OK);
    assert_int_equal(r->export_end(st, "e2", "aborted", 5, 1, NULL, NULL, 40), STORE_OK);
    cJSON *ex = r->export_get(st, "e1", "u1");
    assert_string_equal(json_str(ex, "status"), "done");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ex, "manifest"), "files")->valuedouble,
                     1);
    cJSON_Delete(ex);
    assert_null(r->export_get(st, "e1", "u2")); /* someone else's */
    cJSON *exs = r->exports_list(st, "", 10);
    assert_int_equal(cJSON_GetArraySize(exs), 2);
    assert_string_equal(json_str(cJSON_GetArrayItem(exs, 0), "id"), "e2");
    cJSON_Delete(exs);
}

/* ---- the time-series store ---- */
#define TS_T0 INT64_C(1700006400000) /* a UTC midnight */

typedef struct {
    int n;
    int64_t first, last;
    double sum;
} ts_acc;

static void ts_point(void *arg, int64_t ts, double v)
{
    ts_acc *a = arg;
    if (a->n == 0) a->first = ts;
    assert_true(a->n == 0 || ts > a->last); /* ascending, one point per ms */
    a->last = ts;
    a->sum += v;
    a->n++;
}

static void ts_metric(void *arg, const char *metric, int64_t id)
{
    (void)id;
    char *out = arg;
    strcat(out, metric);
    strcat(out, ",");
}

static void ts_bucket(void *arg, int64_t b, double mn, double mx, double avg, uint64_t count)
{
    int *n = arg;
    assert_int_equal(b, TS_T0 + (int64_t)*n * 600000);
    assert_int_equal(count, 60);
    assert_true(mn <= avg && avg <= mx);
    (*n)++;
}

static void ts_log_point(void *arg, int64_t row, const char *dev, const char *metric, int64_t ts,
                         double v)
{
    (void)row;
    (void)dev;
    (void)metric;
    (void)ts;
    (void)v;
    (*(int *)arg)++;
}

/* n points of one metric, every step ms from t0, value i */
static void ts_fill(ingest_point *p, const char *metric, int64_t t0, int64_t step, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(p[i].metric, sizeof p[i].metric, "%s", metric);
        p[i].metric_len = (uint16_t)strlen(metric);
        p[i].ts_ms = t0 + i * step;
        p[i].value = i;
    }
}

static int64_t ts_series(store_ts *ts, const char *dev, const char *metric)
{
    int64_t sid = -1;
    if (STORE_TS(ts)->lookup(ts, dev, metric, &sid) != 0) return -1;
    return sid;
}

static ts_acc ts_read(store_ts *ts, const char *dev, const char *metric)
{
    ts_acc a = {0};
    int64_t sid = ts_series(ts, dev, metric);
    if (sid >= 0) {
        int n = STORE_TS(ts)->query(ts, sid, TS_T0, TS_T0 + 86400000, 0, ts_point, &a, NULL);
        assert_int_equal(n, a.n);
    }
    return a;
}

static void test_time_series_write_read_limit_retention_and_reopen(void **state)
{
    fixture *f = *state;
    store *st = f->st;
    store_ts *ts;
    char err[256];
    assert_int_equal(store_ts_open(st, &(store_ts_options){0}, &ts, err, sizeof err), 0);
    const store_ts_ops *o = STORE_TS(ts);

    /* one group: d1 temp (300 points, 10 s apart: two full chunks and a head) and hum, d2 */
    static ingest_point p1[305], p2[10];
    ts_fill(p1, "temp", TS_T0, 10000, 300);
    ts_fill(p1 + 300, "hum", TS_T0, 1000, 5);
    assert_int_equal(ingest_points_sort(p1, 305), 0);
    ts_fill(p2, "temp", TS_T0, 60000, 10);
    store_ts_batch b[2] = {{.device_id = "d1", .points = p1, .n = 305},
                           {.device_id = "d2", .points = p2, .n = 10}};
    int64_t seq = 0;
    assert_int_equal(o->write(ts, b, 2, 0, &seq, err, sizeof err), 0);
    assert_true(seq >= 1);
    assert_int_equal(b[0].status, 0);
    assert_int_equal(b[0].replaced + b[0].too_old, 0);
    int logged = 0;
    assert_int_equal(o->log_scan(ts, 0, ts_log_point, &logged), 315);
    assert_int_equal(logged, 315);

    char names[64] = "";
    assert_int_equal(o->list_metrics(ts, "d1", ts_metric, names), 2);
    assert_string_equal(names, "hum,temp,");
    ts_acc a = ts_read(ts, "d1", "temp");
    assert_int_equal(a.n, 300);
    assert_int_equal(a.first, TS_T0);
    assert_int_equal(a.last, TS_T0 + 2990000);
    assert_true(a.sum == 299.0 * 300 / 2);
    assert_int_equal(ts_read(ts, "d2", "temp").n, 10);
    assert_true(ts_series(ts, "d3", "temp") < 0);

    /* paging: limit and where to continue */
    int64_t sid = ts_series(ts, "d1", "temp"), next = 0;
    ts_acc page = {0};
    assert_int_equal(o->query(ts, sid, TS_T0, TS_T0 + 86400000, 100, ts_point, &page, &next), 100);
    assert_int_equal(next, TS_T0 + 1000000);
    int buckets = 0;
    assert_int_equal(o->rollup(ts, sid, TS_T0, TS_T0 + 3000000, 600000, ts_bucket, &buckets), 5);

    /* a point of a full chunk is too old; one of the head is replaced (last write wins) */
    static ingest_point late[2];
    ts_fill(late, "temp", TS_T0, 2990000, 2);
    late[0].value = late[1].value = 1000;
    store_ts_batch lb = {.device_id = "d1", .points = late, .n = 2};
    assert_int_equal(o->write(ts, &lb, 1, 0, &seq, err, sizeof err), 0);
    assert_int_equal(lb.too_old, 1);
    assert_int_equal(lb.replaced, 1);
    a = ts_read(ts, "d1", "temp");
    assert_int_equal(a.n, 300);
    assert_true(a.sum == 299.0 * 300 / 2 - 299 + 1000);

    /* the series limit refuses a batch whole, the rest of the group is stored; sys.* exempt */
    static ingest_point nx[1], sx[1], d2more[1];
    ts_fill(nx, "x", TS_T0 + 5000000, 1, 1);
    ts_fill(sx, "sys.x", TS_T0 + 5000000, 1, 1);
    ts_fill(d2more, "temp", TS_T0 + 5000000, 1, 1);
    store_ts_batch lim[3] = {{.device_id = "d1", .points = nx, .n = 1},
                             {.device_id = "d1", .points = sx, .n = 1, .internal = true},
                             {.device_id = "d2", .points = d2more, .n = 1}};
    assert_int_equal(o->write(ts, lim, 3, 2, &seq, err, sizeof err), 0);
    assert_int_equal(lim[0].status, STORE_TS_E_SERIES_LIMIT);
    assert_int_equal(lim[1].status, 0);
    assert_int_equal(lim[2].status, 0);
    assert_true(ts_series(ts, "d1", "x") < 0);
    assert_true(ts_series(ts, "d1", "sys.x") >= 0);
    assert_int_equal(ts_read(ts, "d2", "temp").n, 11);

    /* what a checkpoint and a reopen keep */
    assert_int_equal(o->checkpoint(ts), 0);
    store_ts_stats sst;
    o->stats(ts, &sst);
    assert_true(sst.series >= 4);
    store_ts_close(ts);
    assert_int_equal(store_ts_open(st, &(store_ts_options){0}, &ts, err, sizeof err), 0);
    o = STORE_TS(ts);
    a = ts_read(ts, "d1", "temp");
    assert_int_equal(a.n, 300);
    assert_true(a.sum == 299.0 * 300 / 2 - 299 + 1000);
    /* the head goes on after a reopen */
    static ingest_point more[1];
    ts_fill(more, "temp", TS_T0 + 3000000, 1, 1);
    store_ts_batch mb = {.device_id = "d1", .points = more, .n = 1};
    assert_int_equal(o->write(ts, &mb, 1, 0, &seq, err, sizeof err), 0);
    assert_int_equal(ts_read(ts, "d1", "temp").n, 301);

    /* a device's series go with it; retention drops the chunks that end before the cut */
    assert_int_equal(o->delete_device(ts, "d2"), 0);
    assert_true(ts_series(ts, "d2", "temp") < 0);
    assert_int_equal(o->delete_before(ts, TS_T0 + 1500000), 0);
    assert_int_equal(ts_read(ts, "d1", "temp").n, 301 - 120);
    /* and refuses older points from then on */
    static ingest_point old[1];
    ts_fill(old, "hum", TS_T0 + 100, 1, 1);
    store_ts_batch ob = {.device_id = "d1", .points = old, .n = 1};
    assert_int_equal(o->write(ts, &ob, 1, 0, &seq, err, sizeof err), 0);
    assert_int_equal(ob.too_old, 1);
    char msg[128];
    assert_int_equal(o->probe(ts, msg, sizeof msg), 0);
    store_ts_close(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings_get_set_raise_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_create_get_list_update_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_expire_idle_and_end_with_the_user, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invites_are_used_once_and_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_list_filters_and_pages_newest_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transaction_commits_or_rolls_back_as_a_unit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_devices_crud_filter_keys_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detector_state_needs_its_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anomalies_open_once_update_close_resolve_and_rules,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_incidents_link_raise_timeline_and_resolve, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_outbox_groups_claims_freezes_and_retries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_alert_policies_match_by_severity_and_recipients_by_contact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_queries_follow_range_and_device_filter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_export_rows_page_by_keyset_within_the_scope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reports_schedules_and_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_series_write_read_limit_retention_and_reopen,
                                        setup, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test_setup_teardown(test_settings_get_set_raise_list, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_users_create_get_list_update_remove, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_expire_idle_and_end_with_the_user, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invites_are_used_once_and_expire, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_audit_list_filters_and_pages_newest_first, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transaction_commits_or_rolls_back_as_a_unit, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_devices_crud_filter_keys_and_events, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_detector_state_needs_its_device, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_anomalies_open_once_update_close_resolve_and_rules,
                                        setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_incidents_link_raise_timeline_and_resolve, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_outbox_groups_claims_freezes_and_retries,
                                        setup_pg, teardown),
        cmocka_unit_test_setup_teardown(
            test_alert_policies_match_by_severity_and_recipients_by_contact, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_report_queries_follow_range_and_device_filter,
                                        setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_reports_schedules_and_exports, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_time_series_write_read_limit_retention_and_reopen,
                                        setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_export_rows_page_by_keyset_within_the_scope, setup_pg,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
}
