/* Tests of auth/rbac: role names both ways and the full role x permission matrix, written out
 * here independently of the table in rbac.c so a change to either shows up as a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/rbac.h"

#include <string.h>

/* Columns: NONE, DEVICE_OWNER, ANALYST, ADMIN. */
static const struct {
    auth_perm perm;
    const char *name;
    bool allowed[ROLE_COUNT];
} matrix[] = {
    {PERM_PUBLIC, "public", {1, 1, 1, 1}},
    {PERM_AUTHENTICATED, "authenticated", {0, 1, 1, 1}},
    {PERM_DEVICE_READ, "device_read", {0, 1, 1, 1}},
    {PERM_DEVICE_WRITE, "device_write", {0, 1, 0, 1}},
    {PERM_DEVICE_KEYS, "device_keys", {0, 1, 0, 1}},
    {PERM_DEVICE_READ_ALL, "device_read_all", {0, 0, 1, 1}},
    {PERM_DATA_READ, "data_read", {0, 1, 1, 1}},
    {PERM_ANOMALY_READ, "anomaly_read", {0, 1, 1, 1}},
    {PERM_ANOMALY_WORK, "anomaly_work", {0, 0, 1, 1}},
    {PERM_ALERT_READ, "alert_read", {0, 1, 1, 1}},
    {PERM_INCIDENT_READ, "incident_read", {0, 1, 1, 1}},
    {PERM_INCIDENT_WORK, "incident_work", {0, 0, 1, 1}},
    {PERM_RULES_READ, "rules_read", {0, 1, 1, 1}},
    {PERM_RULES_WRITE, "rules_write", {0, 0, 1, 1}},
    {PERM_REPORTS_READ, "reports_read", {0, 0, 1, 1}},
    {PERM_METRICS_READ, "metrics_read", {0, 0, 1, 1}},
    {PERM_CHANNELS_ADMIN, "channels_admin", {0, 0, 0, 1}},
    {PERM_USERS_ADMIN, "users_admin", {0, 0, 0, 1}},
    {PERM_SETTINGS_ADMIN, "settings_admin", {0, 0, 0, 1}},
    {PERM_AUDIT_READ, "audit_read", {0, 0, 0, 1}},
};

static void test_full_role_permission_matrix(void **state)
{
    assert_int_equal(sizeof matrix / sizeof matrix[0], PERM_COUNT); /* every permission listed */
    for (size_t i = 0; i < PERM_COUNT; i++) {
        assert_int_equal(matrix[i].perm, (auth_perm)i);
        for (int r = 0; r < ROLE_COUNT; r++) {
            bool got = auth_role_allows((auth_role)r, matrix[i].perm);
            if (got != matrix[i].allowed[r])
                fail_msg("role %s perm %s: got %d", auth_role_name((auth_role)r), matrix[i].name,
                         got);
        }
    }
}

static void test_admin_has_every_permission_and_anonymous_only_public(void **state)
{
    for (int p = 0; p < PERM_COUNT; p++) {
        assert_true(auth_role_allows(ROLE_ADMIN, (auth_perm)p));
        assert_int_equal(auth_role_allows(ROLE_NONE, (auth_perm)p), p == PERM_PUBLIC);
    }
}

static void test_out_of_range_role_or_permission_is_denied(void **state)
{
    assert_false(auth_role_allows((auth_role)ROLE_COUNT, PERM_PUBLIC));
    assert_false(auth_role_allows((auth_role)-1, PERM_PUBLIC));
    assert_false(auth_role_allows(ROLE_ADMIN, (auth_perm)PERM_COUNT));
    assert_false(auth_role_allows(ROLE_ADMIN, (auth_perm)-1));
    assert_false(auth_scope_all_devices((auth_role)99));
}

static void test_only_analyst_and_admin_see_all_devices(void **state)
{
    assert_false(auth_scope_all_devices(ROLE_NONE));
    assert_false(auth_scope_all_devices(ROLE_DEVICE_OWNER));
    assert_true(auth_scope_all_devices(ROLE_ANALYST));
    assert_true(auth_scope_all_devices(ROLE_ADMIN));
    /* Consistent with the table: whoever sees all devices holds DEVICE_READ_ALL. */
    for (int r = 0; r < ROLE_COUNT; r++)
        assert_int_equal(auth_scope_all_devices((auth_role)r),
                         auth_role_allows((auth_role)r, PERM_DEVICE_READ_ALL));
}

static void test_role_parse_accepts_stored_and_brief_names(void **state)
{
    static const struct {
        const char *s;
        auth_role r;
    } ok[] = {
        {"admin", ROLE_ADMIN},
        {"Admin", ROLE_ADMIN},
        {"analyst", ROLE_ANALYST},
        {"Analyst", ROLE_ANALYST},
        {"device_owner", ROLE_DEVICE_OWNER},
        {"DeviceOwner", ROLE_DEVICE_OWNER},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        auth_role r = ROLE_NONE;
        assert_int_equal(auth_role_parse(ok[i].s, &r), 0);
        assert_int_equal(r, ok[i].r);
    }
}

static void test_role_parse_rejects_unknown_names(void **state)
{
    static const char *const bad[] = {
        "",      "none",         "ADMIN",        "administrator", "admin ", " admin",
        "owner", "device-owner", "Device_Owner", "deviceowner",   "root"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_role r = ROLE_ADMIN;
        if (auth_role_parse(bad[i], &r) != -1) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(r, ROLE_ADMIN); /* untouched */
    }
    assert_int_equal(auth_role_parse(NULL, NULL), -1);
}

static void test_role_names_round_trip_to_stored_names(void **state)
{
    assert_string_equal(auth_role_name(ROLE_ADMIN), "admin");
    assert_string_equal(auth_role_name(ROLE_ANALYST), "analyst");
    assert_string_equal(auth_role_name(ROLE_DEVICE_OWNER), "device_owner");
    assert_string_equal(auth_role_name(ROLE_NONE), "none");
    assert_string_equal(auth_role_name((auth_role)42), "unknown");
    for (int r = ROLE_DEVICE_OWNER; r < ROLE_COUNT; r++) {
        auth_role back;
        assert_int_equal(auth_role_parse(auth_role_name((auth_role)r), &back), 0);
        assert_int_equal(back, r);
    }
}

static void test_permission_names(void **state)
{
    for (size_t i = 0; i < PERM_COUNT; i++)
        assert_string_equal(auth_perm_name(matrix[i].perm), matrix[i].name);
    assert_string_equal(auth_perm_name((auth_perm)PERM_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_role_permission_matrix),
        cmocka_unit_test(test_admin_has_every_permission_and_anonymous_only_public),
        cmocka_unit_test(test_out_of_range_role_or_permission_is_denied),
        cmocka_unit_test(test_only_analyst_and_admin_see_all_devices),
        cmocka_unit_test(test_role_parse_accepts_stored_and_brief_names),
        cmocka_unit_test(test_role_parse_rejects_unknown_names),
        cmocka_unit_test(test_role_names_round_trip_to_stored_names),
        cmocka_unit_test(test_permission_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
