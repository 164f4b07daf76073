/* Alerts module: schema, lifecycle and the server hooks. A new anomaly (loop thread) is
 * matched against the alert policies and turned into rows of the durable outbox (table
 * alerts) inside one transaction; a worker thread with its own SQLite connection delivers
 * them (outbox.c). Escalations are checked by a 1 s timer on the loop; delivery results come
 * back to the loop through a uv_async to be pushed on the live stream. */
#include "alert/alerts.h"

#include "alert/alert_int.h"
#include "core/log.h"
#include "ingest/devstate.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alert_note {
    alert_note *next;
    char alert_id[UUID_STR_LEN + 1];
};

/* The module's state hangs off the server context (loop thread). */
alerts *alerts_of(server *s)
{
    return s->alerts;
}

static int registry_set(server *s, alerts *a)
{
    s->alerts = a;
    return 0;
}

void alerts_settings_load(alerts *a, store *db)
{
    alert_settings st;
    memset(&st, 0, sizeof st);
    store_setting_or(db, "alerts.public_url", "", st.public_url, sizeof st.public_url);
    store_setting_or(db, "alerts.allow_nets", "", st.allow_nets, sizeof st.allow_nets);
    store_setting_or(db, "alerts.auto_incident", "critical", st.auto_incident,
                     sizeof st.auto_incident);
    st.flap_window_ms = store_setting_int(db, "alerts.flap_window_ms", 600000);
    st.flap_threshold = store_setting_int(db, "alerts.flap_threshold", 4);
    st.retry_base_ms = store_setting_int(db, "alerts.retry_base_ms", 2000);
    st.retry_max_ms = store_setting_int(db, "alerts.retry_max_ms", 600000);
    st.max_attempts = store_setting_int(db, "alerts.max_attempts", 10);
    st.timeout_ms = store_setting_int(db, "alerts.timeout_ms", 10000);
    const char *env = getenv("IOTAD_ALERT_ALLOW_PRIVATE");
    st.allow_private = env && strcmp(env, "1") == 0;
    alert_allow allow;
    memset(&allow, 0, sizeof allow);
    if (alert_allow_parse(st.allow_nets, &allow) != 0)
        log_warn("alert_allow_nets_invalid", "value=\"%s\"", st.allow_nets);
    allow.allow_private = st.allow_private;
    pthread_mutex_lock(&a->mu);
    a->set = st;
    a->allow = allow;
    pthread_mutex_unlock(&a->mu);
}

void alerts_settings_get(alerts *a, alert_settings *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->set;
    pthread_mutex_unlock(&a->mu);
    if (!out->public_url[0])
        snprintf(out->public_url, sizeof out->public_url, "%s", a->default_url);
}

/* Default link base: the HTTP listener's host (wildcards shown as localhost) and the port it
 * actually listens on. */
static void default_url(alerts *a)
{
    char host[128];
    const char *l = a->s->cfg.http_listen, *colon = strrchr(l, ':');
    size_t n = colon ? (size_t)(colon - l) : strlen(l);
    if (n >= sizeof host) n = sizeof host - 1;
    memcpy(host, l, n);
    host[n] = '\0';
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
        snprintf(host, sizeof host, "localhost");
    int port = a->s->http_port;
    snprintf(a->default_url, sizeof a->default_url, "http://%s:%d", host, port);
}

void alerts_wake(alerts *a)
{
    pthread_mutex_lock(&a->mu);
    void *m = a->multi;
    pthread_mutex_unlock(&a->mu);
    if (m) alert_outbox_wakeup(m);
}

void alerts_broadcast_alert(server *s, const char *alert_id)
{
    if (!ev_wanted(&s->events, EV_ALERT)) return;
    cJSON *row = STORE_ALERTS(s->st)->row(s->st, alert_id);
    if (!row) return;
    const char *dev = json_str(row, "device_id");
    char device_id[UUID_STR_LEN + 1] = "";
    if (dev) snprintf(device_id, sizeof device_id, "%s", dev);
    dev_live *d = device_id[0] ? devstate_get(s->devices, device_id) : NULL;
    /* alerts without a device (channel tests) go to Analysts and Admins only */
    ev_event e = {.type = EV_ALERT, .device_id = device_id, .owner_id = d ? d->owner_id : ""};
    e.u.record = row;
    ev_emit(&s->events, &e);
    cJSON_Delete(row);
}

void alert_outbox_note(alerts *a, const char *alert_id)
{
    alert_note *n = calloc(1, sizeof *n);
    if (!n) return;
    snprintf(n->alert_id, sizeof n->alert_id, "%s", alert_id);
    pthread_mutex_lock(&a->mu);
    n->next = a->notes;
    a->notes = n;
    pthread_mutex_unlock(&a->mu);
    uv_async_send(&a->async);
}

static void on_async(uv_async_t *h)
{
    alerts *a = h->data;
    pthread_mutex_lock(&a->mu);
    alert_note *n = a->notes;
    a->notes = NULL;
    pthread_mutex_unlock(&a->mu);
    while (n) {
        alert_note *next = n->next;
        if (!a->s->stopping) alerts_broadcast_alert(a->s, n->alert_id);
        free(n);
        n = next;
    }
}

static void flush_batch(alerts *a);
static void recover_anomalies(alerts *a);

static void on_timer(uv_timer_t *t)
{
    alerts *a = t->data;
    if (!a->s->stopping) alert_escalations_tick(a);
}

int alerts_start(struct server *s)
{
    alerts *a = calloc(1, sizeof *a);
    if (!a) return -1;
    a->s = s;
    pthread_mutex_init(&a->mu, NULL);
    default_url(a);
    alerts_settings_load(a, s->st);
    int resealed = 0;
    char bad[64];
    if (alert_secrets_reseal(s->st, &s->secrets, &resealed, bad, sizeof bad) != 0) {
        log_error("alerts_start_failed",
                  "reason=\"channel secrets could not be sealed\" channel=%s", bad[0] ? bad : "-");
        pthread_mutex_destroy(&a->mu);
        free(a);
        return -1;
    }
    if (resealed) log_info("channel_secrets_sealed", "count=%d", resealed);
    if (registry_set(s, a) != 0) {
        log_error("alerts_start_failed", "reason=%s", "too many servers");
        pthread_mutex_destroy(&a->mu);
        free(a);
        return -1;
    }
    uv_timer_init(s->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_timer, 1000, 1000);
    uv_async_init(s->loop, &a->async, on_async);
    a->async.data = a;
    uv_timer_init(s->loop, &a->batch_timer);
    a->batch_timer.data = a;
    recover_anomalies(a);
    if (alert_outbox_start(a) != 0) {
        log_error("alerts_start_failed", "reason=%s", "outbox worker");
        return -1;
    }
    log_info("alerts_started", "allow_private=%s allow_nets=\"%s\"",
             a->set.allow_private ? "yes" : "no", a->set.allow_nets);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    alerts *a = h->data;
    if (h == (uv_handle_t *)&a->timer) {
        uv_close((uv_handle_t *)&a->batch_timer, on_closed);
        return;
    }
    if (h == (uv_handle_t *)&a->batch_timer) {
        uv_close((uv_handle_t *)&a->async, on_closed);
        return;
    }
    on_async(&a->async); /* free notes not yet delivered */
    pthread_mutex_destroy(&a->mu);
    free(a);
}

void alerts_stop(struct server *s)
{
    alerts *a = alerts_of(s);
    if (!a) return;
    flush_batch(a); /* anomalies of this last tick still get their alerts queued */
    uv_timer_stop(&a->batch_timer);
    registry_set(s, NULL);
    alert_outbox_stop(a); /* joins the worker; undelivered rows stay in the outbox */
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, on_closed);
}

static void flush_batch(alerts *a)
{
    while (a->nbatch > 0) {
        char(*ids)[UUID_STR_LEN + 1] = a->batch;
        size_t n = a->nbatch;
        a->batch = NULL;
        a->nbatch = a->batch_cap = 0;
        alert_policy_apply(a, ids, n);
        free(ids);
    }
}

static void on_batch(uv_timer_t *t)
{
    flush_batch(t->data);
}

static void batch_add(alerts *a, const char *anomaly_id)
{
    if (a->nbatch == a->batch_cap) {
        size_t cap = a->batch_cap ? 2 * a->batch_cap : 64;
        void *grown = realloc(a->batch, cap * sizeof *a->batch);
        if (!grown) {
            log_error("alert_batch_failed", "anomaly=%s reason=%s", anomaly_id, "out of memory");
            return; /* picked up at the next start (watermark) */
        }
        a->batch = grown;
        a->batch_cap = cap;
    }
    snprintf(a->batch[a->nbatch++], sizeof a->batch[0], "%s", anomaly_id);
    if (!uv_is_active((uv_handle_t *)&a->batch_timer))
        uv_timer_start(&a->batch_timer, on_batch, 0, 0);
}

/* Anomalies stored after the watermark but never handled (a crash between the anomaly's
 * commit and the policy transaction) are handled now; a first start just sets the mark. */
static void recover_anomalies(alerts *a)
{
    store *db = a->s->st;
    int64_t mark = store_setting_int(db, "alerts.anomaly_watermark", -1);
    if (mark < 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)STORE_ANOMALIES(db)->max_seq(db));
        STORE_SETTINGS(db)->set(db, "alerts.anomaly_watermark", v, util_now_ms());
        return;
    }
    cJSON *rows = STORE_ANOMALIES(db)->ids_after(db, mark, 10000);
    const cJSON *x;
    int n = 0;
    cJSON_ArrayForEach(x, rows)
    {
        batch_add(a, json_str(x, "id"));
        n++;
    }
    cJSON_Delete(rows);
    if (n) log_info("alerts_recovered_anomalies", "count=%d", n);
}

void alerts_on_anomaly(struct server *s, const char *anomaly_id)
{
    alerts *a = alerts_of(s);
    if (!a || s->stopping) return;
    batch_add(a, anomaly_id);
}

static void metric(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void metric(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        if (!*buf) return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        char *grown = realloc(*buf, *cap * 2);
        if (!grown) return;
        *buf = grown;
        *cap *= 2;
    }
}

int alerts_metrics_text(struct server *s, char **out)
{
    *out = NULL;
    alerts *a = alerts_of(s);
    if (!a) return -1;
    pthread_mutex_lock(&a->mu);
    uint64_t c[] = {
        a->created,         a->grouped, a->suppressed_flapping, a->attempts,     a->sent,
        a->failed_attempts, a->dead,    a->rate_limited,        a->ssrf_refused, a->escalated};
    pthread_mutex_unlock(&a->mu);
    static const char *names[] = {
        "created",         "grouped",       "suppressed_flapping", "attempts",     "sent",
        "failed_attempts", "dead_lettered", "rate_limited",        "ssrf_refused", "escalated"};
    size_t len = 0, cap = 2048;
    char *buf = malloc(cap);
    if (!buf) return -1;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        metric(&buf, &len, &cap,
               "# TYPE iotad_alerts_%s_total counter\niotad_alerts_%s_total %llu\n", names[i],
               names[i], (unsigned long long)c[i]);
    static const char *states[] = {"pending", "sending", "sent", "dead"};
    metric(&buf, &len, &cap, "# TYPE iotad_alerts_outbox gauge\n");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        metric(&buf, &len, &cap, "iotad_alerts_outbox{status=\"%s\"} %lld\n", states[i],
               (long long)STORE_ALERTS(s->st)->count_by_status(s->st, states[i]));
    static const char *ist[] = {"new", "investigating", "resolved"};
    metric(&buf, &len, &cap, "# TYPE iotad_incidents gauge\n");
    for (size_t i = 0; i < sizeof ist / sizeof ist[0]; i++)
        metric(&buf, &len, &cap, "iotad_incidents{status=\"%s\"} %lld\n", ist[i],
               (long long)STORE_INCIDENTS(s->st)->count_by_status(s->st, ist[i]));
    *out = buf;
    return 0;
}

int alert_secrets_reseal(store *db, const server_secrets *ops, int *count, char *bad, size_t badcap)
{
    *count = 0;
    bad[0] = '\0';
    if (store_begin(db) != STORE_OK) return -1;
    cJSON *rows = STORE_ALERTS(db)->channel_secrets(db);
    if (!rows) {
        store_rollback(db);
        return -1;
    }
    int rc = 0;
    cJSON *r;
    cJSON_ArrayForEach(r, rows)
    {
        const char *id = json_str(r, "id");
        const char *stored = json_str(r, "secret");
        if (!id || !stored || ops->current(ops->keys, stored)) continue;
        char plain[4097], sealed[SERVER_SEALED_MAX];
        if (strncmp(stored, "enc:", 4) == 0) { /* sealed with an older key */
            if (ops->open(ops->keys, stored, id, plain, sizeof plain) != 0) {
                snprintf(bad, badcap, "%s", id);
                rc = -1;
                break;
            }
        } else if (strlen(stored) >= sizeof plain) {
            snprintf(bad, badcap, "%s", id);
            rc = -1;
            break;
        } else {
            snprintf(plain, sizeof plain, "%s", stored); /* plaintext from before sealing */
        }
        rc = ops->seal(ops->keys, plain, id, sealed, sizeof sealed) != 0 ||
                     STORE_ALERTS(db)->channel_set_secret(db, id, sealed) != STORE_OK
                 ? -1
                 : 0;
        explicit_bzero(plain, sizeof plain);
        if (rc == 0) (*count)++;
    }
    /* a plaintext secret from before sealing must not linger in freed memory */
    cJSON_ArrayForEach(r, rows)
    {
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(r, "secret");
        if (cJSON_IsString(sec)) explicit_bzero(sec->valuestring, strlen(sec->valuestring));
    }
    cJSON_Delete(rows);
    if (rc != 0 || store_commit(db) != STORE_OK) {
        store_rollback(db);
        *count = 0;
        return -1;
    }
    return 0;
}
