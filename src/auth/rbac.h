/* Roles and permissions, decided in one table (rbac.c) so every API handler asks the same
 * question: auth_role_allows(role, perm).
 *
 * Roles: anonymous (ROLE_NONE), DeviceOwner, Analyst, Admin. Permissions marked "own" below
 * are granted to a DeviceOwner only for devices whose owner_id is the caller: the handler must
 * also filter by owner when auth_scope_all_devices(role) is false.
 *
 *                         NONE  OWNER  ANALYST  ADMIN
 *   PUBLIC                 x     x      x        x     health, login, openapi
 *   AUTHENTICATED                x      x        x     own profile, logout, own password
 *   DEVICE_READ                  own    x        x
 *   DEVICE_WRITE                 own             x     register, edit, delete devices
 *   DEVICE_KEYS                  own             x     create / revoke device API keys
 *   DEVICE_READ_ALL                     x        x
 *   DATA_READ                    own    x        x     time series, live stream
 *   ANOMALY_READ                 own    x        x
 *   ANOMALY_WORK                        x        x     resolve, verdicts (false positive...)
 *   ALERT_READ                   own    x        x
 *   INCIDENT_READ                own    x        x
 *   INCIDENT_WORK                       x        x     assign, change status
 *   RULES_READ                   own    x        x
 *   RULES_WRITE                         x        x     detection / alert rules
 *   REPORTS_READ                        x        x     security and performance reports
 *   METRICS_READ                        x        x     /metrics, detector internals
 *   CHANNELS_ADMIN                               x     notification channels (SMTP, SMS...)
 *   USERS_ADMIN                                  x
 *   SETTINGS_ADMIN                               x
 *   AUDIT_READ                                   x
 */
#ifndef IOTAD_AUTH_RBAC_H
#define IOTAD_AUTH_RBAC_H

#include <stdbool.h>

typedef enum {
    ROLE_NONE = 0, /* anonymous */
    ROLE_DEVICE_OWNER,
    ROLE_ANALYST,
    ROLE_ADMIN,
    ROLE_COUNT
} auth_role;

typedef enum {
    PERM_PUBLIC = 0,
    PERM_AUTHENTICATED,
    PERM_DEVICE_READ,
    PERM_DEVICE_WRITE,
    PERM_DEVICE_KEYS,
    PERM_DEVICE_READ_ALL,
    PERM_DATA_READ,
    PERM_ANOMALY_READ,
    PERM_ANOMALY_WORK,
    PERM_ALERT_READ,
    PERM_INCIDENT_READ,
    PERM_INCIDENT_WORK,
    PERM_RULES_READ,
    PERM_RULES_WRITE,
    PERM_REPORTS_READ,
    PERM_METRICS_READ,
    PERM_CHANNELS_ADMIN,
    PERM_USERS_ADMIN,
    PERM_SETTINGS_ADMIN,
    PERM_AUDIT_READ,
    PERM_COUNT
} auth_perm;

/* Accepts the stored names "admin", "analyst", "device_owner" and the brief's "Admin",
 * "Analyst", "DeviceOwner". 0 ok, -1 unknown (anonymous is not a parseable role). */
int auth_role_parse(const char *s, auth_role *out);
/* Stored name ("admin", "analyst", "device_owner", "none"); "unknown" when out of range. */
const char *auth_role_name(auth_role r);
/* Lower-case name of a permission for logs and audit ("device_write"); "unknown" if invalid. */
const char *auth_perm_name(auth_perm p);
/* False for out-of-range roles or permissions (deny by default). */
bool auth_role_allows(auth_role r, auth_perm p);
/* True when the role sees every device (Analyst, Admin); a DeviceOwner only its own. */
bool auth_scope_all_devices(auth_role r);

#endif
