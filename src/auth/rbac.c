/* The role x permission table. A permission absent from a role's row is denied; the "own"
 * restriction for DeviceOwner is applied by the caller through auth_scope_all_devices. */
#include "auth/rbac.h"

#include <stddef.h>
#include <string.h>

#define BIT(p) (1u << (p))

_Static_assert(PERM_COUNT <= 32, "permission bitmask holds 32 permissions");

static const unsigned role_perms[ROLE_COUNT] = {
    [ROLE_NONE] = BIT(PERM_PUBLIC),
    [ROLE_DEVICE_OWNER] = BIT(PERM_PUBLIC) | BIT(PERM_AUTHENTICATED) | BIT(PERM_DEVICE_READ) |
                          BIT(PERM_DEVICE_WRITE) | BIT(PERM_DEVICE_KEYS) | BIT(PERM_DATA_READ) |
                          BIT(PERM_ANOMALY_READ) | BIT(PERM_ALERT_READ) | BIT(PERM_INCIDENT_READ) |
                          BIT(PERM_RULES_READ),
    [ROLE_ANALYST] = BIT(PERM_PUBLIC) | BIT(PERM_AUTHENTICATED) | BIT(PERM_DEVICE_READ) |
                     BIT(PERM_DEVICE_READ_ALL) | BIT(PERM_DATA_READ) | BIT(PERM_ANOMALY_READ) |
                     BIT(PERM_ANOMALY_WORK) | BIT(PERM_ALERT_READ) | BIT(PERM_INCIDENT_READ) |
                     BIT(PERM_INCIDENT_WORK) | BIT(PERM_RULES_READ) | BIT(PERM_RULES_WRITE) |
                     BIT(PERM_REPORTS_READ) | BIT(PERM_METRICS_READ),
    [ROLE_ADMIN] = (unsigned)((1ull << PERM_COUNT) - 1),
};

static const char *const role_names[ROLE_COUNT] = {
    [ROLE_NONE] = "none",
    [ROLE_DEVICE_OWNER] = "device_owner",
    [ROLE_ANALYST] = "analyst",
    [ROLE_ADMIN] = "admin",
};

static const char *const perm_names[PERM_COUNT] = {
    [PERM_PUBLIC] = "public",
    [PERM_AUTHENTICATED] = "authenticated",
    [PERM_DEVICE_READ] = "device_read",
    [PERM_DEVICE_WRITE] = "device_write",
    [PERM_DEVICE_KEYS] = "device_keys",
    [PERM_DEVICE_READ_ALL] = "device_read_all",
    [PERM_DATA_READ] = "data_read",
    [PERM_ANOMALY_READ] = "anomaly_read",
    [PERM_ANOMALY_WORK] = "anomaly_work",
    [PERM_ALERT_READ] = "alert_read",
    [PERM_INCIDENT_READ] = "incident_read",
    [PERM_INCIDENT_WORK] = "incident_work",
    [PERM_RULES_READ] = "rules_read",
    [PERM_RULES_WRITE] = "rules_write",
    [PERM_REPORTS_READ] = "reports_read",
    [PERM_METRICS_READ] = "metrics_read",
    [PERM_CHANNELS_ADMIN] = "channels_admin",
    [PERM_USERS_ADMIN] = "users_admin",
    [PERM_SETTINGS_ADMIN] = "settings_admin",
    [PERM_AUDIT_READ] = "audit_read",
};

int auth_role_parse(const char *s, auth_role *out)
{
    static const struct {
        const char *name;
        auth_role role;
    } names[] = {
        {"admin", ROLE_ADMIN},
        {"Admin", ROLE_ADMIN},
        {"analyst", ROLE_ANALYST},
        {"Analyst", ROLE_ANALYST},
        {"device_owner", ROLE_DEVICE_OWNER},
        {"DeviceOwner", ROLE_DEVICE_OWNER},
    };
    if (!s) return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            if (out) *out = names[i].role;
            return 0;
        }
    }
    return -1;
}

const char *auth_role_name(auth_role r)
{
    return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

const char *auth_perm_name(auth_perm p)
{
    return (unsigned)p < PERM_COUNT ? perm_names[p] : "unknown";
}

bool auth_role_allows(auth_role r, auth_perm p)
{
    if ((unsigned)r >= ROLE_COUNT || (unsigned)p >= PERM_COUNT) return false;
    return (role_perms[r] & BIT(p)) != 0;
}

bool auth_scope_all_devices(auth_role r)
{
    return r == ROLE_ANALYST || r == ROLE_ADMIN;
}
