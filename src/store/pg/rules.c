/* Threshold rules (table rules; integer ids). */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>

#define RULE_COLUMNS                                                                               \
    "id, name, device_id, device_type, metric, kind, threshold, for_ms, severity, "                \
    "enabled AS enabled_bool, created_at, updated_at"

static cJSON *list(store *st, const char *owner)
{
    return pg_rows_json(PG(st),
                        "SELECT " RULE_COLUMNS " FROM rules r WHERE $1 = '' OR "
                        "r.device_id IS NULL OR r.device_id IN "
                        "(SELECT id FROM devices WHERE owner_id = $2) ORDER BY id",
                        "ss", owner, owner);
}

static cJSON *get(store *st, int64_t id)
{
    bool found;
    cJSON *r =
        pg_row_json(PG(st), &found, "SELECT " RULE_COLUMNS " FROM rules WHERE id = $1", "i", id);
    return pq_found(r, found);
}

static bool exists(store *st, int64_t id)
{
    return pg_intf(PG(st), 0, "SELECT COUNT(*) FROM rules WHERE id = $1", "i", id) > 0;
}

static int create(store *st, const store_rule_fields *f, const char *created_by, int64_t now_ms,
                  int64_t *id)
{
    int64_t new_id =
        pg_intf(PG(st), -1,
                "INSERT INTO rules(name, device_id, device_type, metric, kind, threshold, "
                "for_ms, severity, enabled, created_by, created_at, updated_at) "
                "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                "sbbbsdisisii", f->name, f->device_id, f->device_type, f->metric, f->kind,
                f->threshold ? *f->threshold : 0.0, f->for_ms ? *f->for_ms : 0, f->severity,
                (int64_t)(f->enabled ? *f->enabled : true), created_by, now_ms, now_ms);
    if (new_id < 0) return pg_constraint_error(PG(st)) ? STORE_ECONSTRAINT : STORE_ERR;
    if (id) *id = new_id;
    return STORE_OK;
}

static int update(store *st, int64_t id, const store_rule_fields *f, int64_t now_ms)
{
    /* optional numbers travel as text ('' = unchanged) */
    char thr_s[64] = "", for_s[32] = "", en_s[4] = "";
    if (f->threshold) snprintf(thr_s, sizeof thr_s, "%.17g", *f->threshold);
    if (f->for_ms) snprintf(for_s, sizeof for_s, "%lld", (long long)*f->for_ms);
    if (f->enabled) snprintf(en_s, sizeof en_s, "%d", *f->enabled ? 1 : 0);
    return pq_rc(
        pg_execf(PG(st), NULL,
                 "UPDATE rules SET name = COALESCE($1, name), kind = COALESCE($2, kind), "
                 "severity = COALESCE($3, severity), metric = COALESCE($4, metric), "
                 "device_type = COALESCE($5, device_type), "
                 "threshold = COALESCE(CAST(NULLIF($6, '') AS double precision), threshold), "
                 "for_ms = COALESCE(CAST(NULLIF($7, '') AS bigint), for_ms), "
                 "enabled = COALESCE(CAST(NULLIF($8, '') AS INTEGER), enabled), "
                 "updated_at = $9 WHERE id = $10",
                 "bbbbbsssii", f->name, f->kind, f->severity, f->metric, f->device_type, thr_s,
                 for_s, en_s, now_ms, id));
}

static int remove_rule(store *st, int64_t id)
{
    return pq_rc(pg_execf(PG(st), NULL, "DELETE FROM rules WHERE id = $1", "i", id));
}

static int scan_enabled(store *st, void (*fn)(void *arg, const store_rule *r), void *arg)
{
    PGresult *q = pg_query(PG(st),
                           "SELECT id, name, COALESCE(device_id, ''), COALESCE(device_type, ''), "
                           "COALESCE(metric, ''), kind, threshold, for_ms, severity FROM rules "
                           "WHERE enabled = 1 ORDER BY id",
                           0, NULL);
    if (!q) return STORE_ERR;
    for (int i = 0; i < PQntuples(q); i++) {
        store_rule r = {.id = strtoll(PQgetvalue(q, i, 0), NULL, 10),
                        .name = PQgetvalue(q, i, 1),
                        .device_id = PQgetvalue(q, i, 2),
                        .device_type = PQgetvalue(q, i, 3),
                        .metric = PQgetvalue(q, i, 4),
                        .kind = PQgetvalue(q, i, 5),
                        .threshold = strtod(PQgetvalue(q, i, 6), NULL),
                        .for_ms = strtoll(PQgetvalue(q, i, 7), NULL, 10),
                        .severity = PQgetvalue(q, i, 8)};
        fn(arg, &r);
    }
    PQclear(q);
    return STORE_OK;
}

const store_rules_ops pg_rules_ops = {
    .list = list,
    .get = get,
    .exists = exists,
    .create = create,
    .update = update,
    .remove = remove_rule,
    .scan_enabled = scan_enabled,
};
