/* Alert policies: which anomalies go to whom by which channel. For a new anomaly episode
 * (loop thread): flap detection on its series, then every enabled policy whose severities,
 * device and device type match queues one outbox row per recipient; recipients are the
 * policy's users, the users of its roles and optionally the device's owner (through their
 * contacts and severity preferences), plus literal addresses; a webhook policy has one
 * recipient, its endpoint. Grouping: within a policy's window, further anomalies for the same
 * recipient are counted into one pending row instead of new messages. Escalation: an
 * unacknowledged critical anomaly is re-sent to the escalation recipients after the delay. */
#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "core/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int alert_enqueue(alerts *a, store *st, const char *anomaly_id, const char *policy_id,
                  const char *channel_id, const char *method, const char *user_id,
                  const char *recipient, const char *severity, const char *device_id,
                  const char *kind, int64_t group_wait_ms, int64_t group_window_ms, char *id_out)
{
    const store_alerts_ops *al = STORE_ALERTS(st);
    int64_t now = util_now_ms();
    char key[600];
    snprintf(key, sizeof key, "%s|%s|%s|%s", policy_id ? policy_id : "", channel_id,
             strcmp(kind, "escalation") == 0 || strcmp(kind, "test") == 0 ? kind : "", recipient);
    char id[UUID_STR_LEN + 1] = "";
    bool grouping = group_window_ms > 0 || group_wait_ms > 0;
    if (grouping && anomaly_id && al->group_find(st, key, id, sizeof id) == STORE_OK) {
        bool grouped = false;
        al->group_add(st, id, severity, now, &grouped);
        if (grouped) {
            al->link_anomaly(st, id, anomaly_id);
            pthread_mutex_lock(&a->mu);
            a->grouped++;
            pthread_mutex_unlock(&a->mu);
            if (id_out) id_out[0] = '\0'; /* nothing new to announce */
            return 0;
        }
    }
    int64_t due = now + (grouping ? group_wait_ms : 0);
    if (grouping && group_window_ms > 0) {
        int64_t last = al->group_last_due(st, key, now - group_window_ms);
        if (last > 0 && last + group_window_ms > due) due = last + group_window_ms;
    }
    util_uuid7(id);
    store_alert_new n = {.id = id,
                         .anomaly_id = anomaly_id,
                         .user_id = user_id,
                         .method = method,
                         .channel_id = channel_id,
                         .policy_id = policy_id,
                         .recipient = recipient,
                         .device_id = device_id,
                         .severity = severity,
                         .kind = kind,
                         .group_key = key,
                         .due_ms = due};
    if (al->create(st, &n, now) != STORE_OK) {
        log_error("alert_enqueue_failed", "anomaly=%s channel=%s recipient=%s",
                  anomaly_id ? anomaly_id : "", channel_id, recipient);
        return -1;
    }
    if (anomaly_id) al->link_anomaly(st, id, anomaly_id);
    pthread_mutex_lock(&a->mu);
    a->created++;
    pthread_mutex_unlock(&a->mu);
    if (id_out) memcpy(id_out, id, sizeof id);
    return 0;
}

#define ANNOUNCE_MAX 256
typedef struct {
    char ids[ANNOUNCE_MAX][UUID_STR_LEN + 1]; /* alerts queued, announced after commit */
    int n;
} queued;

/* Queues one alert per recipient of (users, roles, owner, addresses) on a channel. */
static void enqueue_recipients(alerts *a, const char *anomaly_id, const char *policy_id,
                               const char *channel_id, const char *channel_kind,
                               const char *channel_url, const char *users, const char *roles,
                               const char *owner, const char *addresses, const char *severity,
                               const char *device_id, const char *kind, int64_t wait_ms,
                               int64_t window_ms, queued *q)
{
    store *st = a->s->st;
    char id[UUID_STR_LEN + 1];
    if (!strcmp(channel_kind, "webhook") || !strcmp(channel_kind, "syslog")) { /* one endpoint */
        if (alert_enqueue(a, st, anomaly_id, policy_id, channel_id, channel_kind, NULL, channel_url,
                          severity, device_id, kind, wait_ms, window_ms, id) == 0 &&
            id[0] && q->n < ANNOUNCE_MAX)
            memcpy(q->ids[q->n++], id, sizeof id);
        return;
    }
    /* users of the policy (explicit, by role, the device owner), with their contacts of
     * this channel's kind whose preference admits the severity; e-mail falls back to the
     * account address when the user has no e-mail contact */
    cJSON *rows = STORE_ALERTS(st)->recipients(st, users, roles, owner, channel_kind,
                                               alert_severity_rank(severity), addresses);
    if (!rows) {
        log_error("alert_recipients_failed", "policy=%s", policy_id ? policy_id : "");
        return;
    }
    char seen[32][256];
    int nseen = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *uid = json_str(r, "user_id");
        const char *addr = json_str(r, "address");
        if (!addr || !addr[0]) continue;
        bool dup = false;
        for (int i = 0; i < nseen && !dup; i++)
            dup = strcmp(seen[i], addr) == 0;
        if (dup) continue;
        if (nseen < 32) snprintf(seen[nseen++], sizeof seen[0], "%s", addr);
        if (alert_enqueue(a, st, anomaly_id, policy_id, channel_id, channel_kind, uid, addr,
                          severity, device_id, kind, wait_ms, window_ms, id) == 0 &&
            id[0] && q->n < ANNOUNCE_MAX)
            memcpy(q->ids[q->n++], id, sizeof id);
    }
    cJSON_Delete(rows);
}

/* A text member, "" when missing or null. */
static const char *col(const cJSON *row, const char *key)
{
    const char *t = json_str(row, key);
    return t ? t : "";
}

static int64_t num(const cJSON *row, const char *key)
{
    return (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, key));
}

/* One anomaly, inside the caller's transaction. Returns true when it should open (or join)
 * an incident. */
static bool apply_one(alerts *a, const char *anomaly_id, const alert_settings *stp, queued *q)
{
    store *db = a->s->st;
    cJSON *an = STORE_ANOMALIES(db)->context(db, anomaly_id);
    if (!an) return false;
    char device_id[64], metric[160], severity[16], type[80], owner[64];
    snprintf(device_id, sizeof device_id, "%s", json_str(an, "device_id"));
    snprintf(metric, sizeof metric, "%s", json_str(an, "metric"));
    snprintf(severity, sizeof severity, "%s", json_str(an, "severity"));
    snprintf(type, sizeof type, "%s", json_str(an, "type"));
    snprintf(owner, sizeof owner, "%s", json_str(an, "owner_id"));
    int64_t detected =
        (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(an, "detected_at"));
    cJSON_Delete(an);
    const alert_settings st = *stp;

    /* flapping: the series opened flap_threshold episodes within the window; the first
     * flapping episode is notified (as such), the following ones are not */
    const char *kind = "anomaly";
    bool suppress = false;
    if (st.flap_threshold > 1 && st.flap_window_ms > 0) {
        int64_t since = detected - st.flap_window_ms;
        int64_t prev =
            STORE_ANOMALIES(db)->recent_count(db, device_id, metric, since, anomaly_id, false);
        if (prev + 1 >= st.flap_threshold) {
            kind = "flapping";
            STORE_ANOMALIES(db)->set_flapping(db, anomaly_id);
            suppress = STORE_ANOMALIES(db)->recent_count(db, device_id, metric, since, anomaly_id,
                                                         true) > 0;
        }
    }
    if (suppress) {
        pthread_mutex_lock(&a->mu);
        a->suppressed_flapping++;
        pthread_mutex_unlock(&a->mu);
        log_info("alert_suppressed", "anomaly=%s reason=flapping device=%s metric=%s", anomaly_id,
                 device_id, metric);
    } else {
        cJSON *pols = STORE_ALERTS(db)->policies_matching(db, device_id, type, severity);
        if (!pols) log_error("alert_policies_failed", "anomaly=%s", anomaly_id);
        const cJSON *p;
        cJSON_ArrayForEach(p, pols)
        {
            enqueue_recipients(a, anomaly_id, col(p, "id"), col(p, "channel_id"), col(p, "kind"),
                               col(p, "url"), col(p, "users"), col(p, "roles"),
                               num(p, "device_owner") ? owner : "", col(p, "addresses"), severity,
                               device_id, kind, num(p, "group_wait_ms"), num(p, "group_window_ms"),
                               q);
            int64_t esc = num(p, "escalate_after_ms");
            if (esc > 0 && strcmp(severity, "critical") == 0)
                STORE_ALERTS(db)->escalation_add(db, anomaly_id, col(p, "id"), util_now_ms() + esc);
        }
        cJSON_Delete(pols);
    }
    int auto_rank = alert_severity_rank(st.auto_incident);
    return auto_rank > 0 && alert_severity_rank(severity) >= auto_rank;
}

void alert_policy_apply(alerts *a, char (*ids)[UUID_STR_LEN + 1], size_t n)
{
    server *s = a->s;
    store *db = s->st;
    alert_settings st;
    alerts_settings_get(a, &st);
    queued *q = calloc(1, sizeof *q);
    bool *incident = calloc(n ? n : 1, sizeof *incident);
    if (!q || !incident) {
        free(q);
        free(incident);
        log_error("alert_policy_failed", "reason=%s count=%zu", "out of memory", n);
        return;
    }
    /* a storm costs one transaction (one fsync) per batch, not one per anomaly */
    bool tx = store_begin(db) == STORE_OK;
    for (size_t i = 0; i < n; i++)
        incident[i] = apply_one(a, ids[i], &st, q);
    for (size_t i = 0; i < n; i++)
        if (incident[i]) incident_auto(s, ids[i]);
    /* the watermark: anomalies inserted after it are (re)considered at the next start */
    int64_t mark = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t r = STORE_ANOMALIES(db)->seq_of(db, ids[i]);
        if (r > mark) mark = r;
    }
    if (mark > 0)
        STORE_SETTINGS(db)->raise_int(db, "alerts.anomaly_watermark", mark, util_now_ms());
    if (tx) store_commit_or_rollback(db);
    for (int i = 0; i < q->n; i++)
        alerts_broadcast_alert(s, q->ids[i]);
    if (q->n) alerts_wake(a);
    free(q);
    free(incident);
}

void alert_escalations_tick(alerts *a)
{
    store *db = a->s->st;
    int64_t now = util_now_ms();
    cJSON *due = STORE_ALERTS(db)->escalations_due(db, now, 100);
    int n = cJSON_GetArraySize(due);
    if (n <= 0) {
        cJSON_Delete(due);
        return;
    }
    queued q = {.n = 0};
    bool tx = store_begin(db) == STORE_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, due)
    {
        const char *anomaly_id = json_str(e, "anomaly_id");
        const char *policy_id = json_str(e, "policy_id");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_acked"))) {
            enqueue_recipients(a, anomaly_id, policy_id, json_str(e, "channel_id"),
                               json_str(e, "kind"), json_str(e, "url"),
                               json_str(e, "escalate_users"), json_str(e, "escalate_roles"), "",
                               json_str(e, "escalate_addresses"), json_str(e, "severity"),
                               json_str(e, "device_id"), "escalation", 0, 0, &q);
            pthread_mutex_lock(&a->mu);
            a->escalated++;
            pthread_mutex_unlock(&a->mu);
            log_info("alert_escalated", "anomaly=%s policy=%s", anomaly_id, policy_id);
        }
        STORE_ALERTS(db)->escalation_done(db, anomaly_id, policy_id);
    }
    if (tx) store_commit_or_rollback(db);
    cJSON_Delete(due);
    for (int i = 0; i < q.n; i++)
        alerts_broadcast_alert(a->s, q.ids[i]);
    if (q.n) alerts_wake(a);
}
