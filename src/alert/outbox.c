/* The durable outbox and its delivery worker. Alerts are rows of table alerts; the worker
 * thread (own SQLite connection, libcurl multi interface) claims due rows (status pending,
 * due_at <= now) by flipping them to 'sending' in a transaction, freezing their payload on the
 * first claim, and runs up to MAX_INFLIGHT transfers at once. Every attempt is recorded in
 * alert_attempts; success -> 'sent'; failure -> back to 'pending' with an exponential, jittered
 * backoff, or 'dead' (dead letter) after max_attempts or on a permanent refusal (HTTP 4xx, SSRF).
 * A crash leaves claimed rows in 'sending': the next start puts them back to 'pending', so
 * an alert may be sent twice but never lost, and receivers deduplicate on the alert id. The
 * loop wakes the worker with curl_multi_wakeup; the worker reports changes back through a
 * uv_async (alerts.c) for the live stream. */
#include "alert/alert_int.h"
#include "alert/alert_util.h"
#include "alert/channel.h"
#include "core/log.h"
#include "store/store.h"

#include <curl/mprintf.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_INFLIGHT 32
#define MAX_RATE_SLOTS 64

int alert_outbox_wakeup(void *multi)
{
    return curl_multi_wakeup(multi) == CURLM_OK ? 0 : -1;
}

typedef struct {
    char channel_id[UUID_STR_LEN + 1];
    int64_t window_start;
    int64_t count;
} rate_slot;

typedef struct {
    alerts *a;
    store *st; /* the worker's own handle */
    CURLM *multi;
    alert_job *inflight;
    int ninflight;
    rate_slot rates[MAX_RATE_SLOTS];
    alert_settings set;
    alert_allow allow;
    uint32_t rnd;
    /* results are announced after their transaction commits, so the loop reads them */
    char notes[4 * MAX_INFLIGHT][UUID_STR_LEN + 1];
    int nnotes;
} worker;

static void flush_notes(worker *w)
{
    for (int i = 0; i < w->nnotes; i++)
        alert_outbox_note(w->a, w->notes[i]);
    w->nnotes = 0;
}

static void count(alerts *a, uint64_t *field)
{
    pthread_mutex_lock(&a->mu);
    (*field)++;
    pthread_mutex_unlock(&a->mu);
}

void alert_job_free(alert_job *j)
{
    if (!j) return;
    alert_syslog_close(j);
    if (j->h) curl_easy_cleanup(j->h);
    curl_slist_free_all(j->headers);
    curl_slist_free_all(j->rcpt);
    curl_slist_free_all(j->resolve);
    curl_mime_free(j->mime);
    cJSON_Delete(j->config);
    cJSON_Delete(j->p);
    free(j->payload);
    free(j->body);
    explicit_bzero(j->secret, sizeof j->secret);
    free(j);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_time(cJSON *o, const char *k, const cJSON *ms)
{
    char t[32];
    util_rfc3339((int64_t)cJSON_GetNumberValue(ms), t);
    cJSON_AddStringToObject(o, k, t);
}

char *alert_payload_build(store *db, const char *alert_id, const char *public_url)
{
    cJSON *al = STORE_ALERTS(db)->payload_alert(db, alert_id);
    if (!al) return NULL;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "id", alert_id);
    cJSON_AddStringToObject(p, "type", "iotad.alert");
    add_str(p, "kind", json_str(al, "kind"));
    add_str(p, "severity", json_str(al, "severity"));
    cJSON_AddNumberToObject(p, "count",
                            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(al, "count")));
    add_time(p, "created_at", cJSON_GetObjectItemCaseSensitive(al, "created_at"));
    const char *anomaly_id = json_str(al, "anomaly_id");
    char url[600];
    snprintf(url, sizeof url, "%s/", public_url);
    if (anomaly_id) {
        cJSON *an = STORE_ALERTS(db)->payload_anomaly(db, anomaly_id);
        if (an) {
            cJSON *dev = cJSON_AddObjectToObject(p, "device");
            add_str(dev, "id", json_str(an, "device_id"));
            add_str(dev, "name", json_str(an, "device_name"));
            add_str(dev, "type", json_str(an, "device_type"));
            add_str(dev, "location", json_str(an, "device_location"));
            cJSON *o = cJSON_AddObjectToObject(p, "anomaly");
            add_str(o, "id", anomaly_id);
            add_str(o, "metric", json_str(an, "metric"));
            add_str(o, "severity", json_str(an, "severity"));
            add_str(o, "description", json_str(an, "description"));
            add_time(o, "detected_at", cJSON_GetObjectItemCaseSensitive(an, "detected_at"));
            cJSON_AddBoolToObject(o, "flapping",
                                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(an, "flapping")));
            cJSON *details = cJSON_DetachItemFromObjectCaseSensitive(an, "details");
            cJSON_AddItemToObject(o, "details", details ? details : cJSON_CreateObject());
            snprintf(url, sizeof url, "%s/anomalies?id=%s", public_url, anomaly_id);
            add_str(o, "url", url);
            char summary[512];
            snprintf(summary, sizeof summary, "%s %s: %s", json_str(an, "device_name"),
                     json_str(an, "metric") ? json_str(an, "metric") : "",
                     json_str(an, "description"));
            cJSON_AddStringToObject(p, "summary", summary);
        }
        cJSON_Delete(an);
        cJSON *list = STORE_ALERTS(db)->payload_anomalies(db, alert_id, 20);
        cJSON *x;
        cJSON_ArrayForEach(x, list)
        {
            cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(x, "detected_at");
            add_time(x, "detected_at", t);
            cJSON_Delete(t);
        }
        cJSON_AddItemToObject(p, "anomalies", list ? list : cJSON_CreateArray());
    } else {
        cJSON_AddStringToObject(p, "summary", "Test message: this channel works.");
    }
    cJSON_AddStringToObject(p, "url", url);
    cJSON_Delete(al);
    char *text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return text;
}

/* Resolves the job's host and refuses non-public addresses outside the allow-list; pins the
 * checked addresses with CURLOPT_RESOLVE so a second DNS answer cannot differ (a syslog job
 * connects to the first checked address itself, j->addr). */
static int ssrf_check(worker *w, alert_job *j, char *err, size_t errcap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    bool email = strcmp(j->method, "email") == 0, syslog = strcmp(j->method, "syslog") == 0;
    if (!u || curl_url_set(u, CURLUPART_URL, j->url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, errcap, "invalid url");
        goto done;
    }
    if (syslog  ? !alert_syslog_default_port(scheme)
        : email ? (strcmp(scheme, "smtp") && strcmp(scheme, "smtps"))
                : (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
        snprintf(err, errcap, "scheme %s not allowed for %s", scheme, j->method);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, syslog ? 0 : CURLU_DEFAULT_PORT) != CURLUE_OK) {
        if (!syslog || !(port = curl_maprintf("%d", alert_syslog_default_port(scheme)))) {
            snprintf(err, errcap, "invalid url");
            goto done;
        }
    }
    char h[256];
    alert_host_unbracket(host, h, sizeof h);
    uint8_t addr[16];
    const char *why = NULL;
    alert_own own; /* read at every delivery: interfaces come and go */
    if (alert_own_load(&own) != 0) log_warn("alert_own_addresses_failed", "%s", "getifaddrs");
    if (!syslog && alert_addr_parse(h, addr) == 0) {
        if (!alert_addr_permitted(&w->allow, &own, addr, &why)) {
            snprintf(err, errcap, "ssrf: %s address %.64s refused", why, h);
            goto done;
        }
        rc = 0;
        goto done;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(h, syslog ? port : NULL, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(err, errcap, "dns: %s", gai_strerror(gai));
        rc = -2; /* transient */
        goto done;
    }
    char pin[1024];
    int n = snprintf(pin, sizeof pin, "%s:%s:", h, port);
    bool first = true;
    rc = 0;
    for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        char text[64];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST) !=
                0 ||
            alert_addr_parse(text, addr) != 0)
            continue;
        if (!alert_addr_permitted(&w->allow, &own, addr, &why)) {
            snprintf(err, errcap, "ssrf: %.120s resolves to %s address %s", h, why, text);
            rc = -1;
            break;
        }
        if (first && ai->ai_addrlen <= sizeof j->addr) {
            memcpy(&j->addr, ai->ai_addr, ai->ai_addrlen);
            j->addrlen = ai->ai_addrlen;
        }
        if (n > 0 && (size_t)n < sizeof pin - 70)
            n += snprintf(pin + n, sizeof pin - (size_t)n, strchr(text, ':') ? "%s[%s]" : "%s%s",
                          first ? "" : ",", text);
        first = false;
    }
    freeaddrinfo(res);
    if (rc == 0 && first && syslog) {
        snprintf(err, errcap, "dns: no usable address for %.120s", h);
        rc = -2;
    }
    if (rc == 0) j->resolve = curl_slist_append(NULL, pin);
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* Records an attempt and moves the row on. permanent: dead-letter at once. */
static void finish(worker *w, alert_job *j, bool ok, long code, const char *error, bool permanent)
{
    int64_t now = util_now_ms();
    STORE_ALERTS(w->st)->attempt_add(w->st, j->id, j->attempt, j->started_ms, now - j->started_ms,
                                     ok, code, error);
    alerts *a = w->a;
    count(a, &a->attempts);
    if (ok) {
        STORE_ALERTS(w->st)->mark_sent(w->st, j->id, now);
        count(a, &a->sent);
        log_info("alert_sent", "id=%s method=%s recipient=%s attempt=%d ms=%lld", j->id, j->method,
                 j->recipient, j->attempt, (long long)(now - j->started_ms));
    } else if (permanent || j->attempt >= w->set.max_attempts) {
        STORE_ALERTS(w->st)->mark_dead(w->st, j->id, error, now, false);
        count(a, &a->failed_attempts);
        count(a, &a->dead);
        log_warn("alert_dead", "id=%s method=%s recipient=%s attempts=%d error=\"%s\"", j->id,
                 j->method, j->recipient, j->attempt, error);
    } else {
        w->rnd = w->rnd * 1664525u + 1013904223u;
        int64_t delay =
            alert_backoff_ms(j->attempt, w->set.retry_base_ms, w->set.retry_max_ms, w->rnd >> 8);
        STORE_ALERTS(w->st)->mark_retry(w->st, j->id, now + delay, error, now);
        count(a, &a->failed_attempts);
        log_info("alert_retry", "id=%s method=%s attempt=%d retry_in_ms=%lld error=\"%s\"", j->id,
                 j->method, j->attempt, (long long)delay, error);
    }
    if (w->nnotes < (int)(sizeof w->notes / sizeof w->notes[0]))
        memcpy(w->notes[w->nnotes++], j->id, sizeof j->id);
}

/* Per-channel rate limit in fixed one-minute windows: false when the channel is over it. */
static bool rate_ok(worker *w, const char *channel_id, int64_t per_min, int64_t now,
                    int64_t *retry_at)
{
    if (per_min <= 0) return true;
    rate_slot *slot = NULL, *oldest = &w->rates[0];
    for (int i = 0; i < MAX_RATE_SLOTS && !slot; i++) {
        if (strcmp(w->rates[i].channel_id, channel_id) == 0) slot = &w->rates[i];
        if (w->rates[i].window_start < oldest->window_start) oldest = &w->rates[i];
    }
    if (!slot) {
        slot = oldest;
        snprintf(slot->channel_id, sizeof slot->channel_id, "%s", channel_id);
        slot->window_start = now;
        slot->count = 0;
    }
    if (now - slot->window_start >= 60000) {
        slot->window_start = now;
        slot->count = 0;
    }
    if (slot->count >= per_min) {
        *retry_at = slot->window_start + 60000;
        return false;
    }
    slot->count++;
    return true;
}

/* A due row as read by claim_due. */
typedef struct {
    char id[UUID_STR_LEN + 1], method[16], recipient[512], channel_id[UUID_STR_LEN + 1];
    char url[1024], secret[512];
    char *config;
    bool has_channel, enabled;
    bool secret_bad; /* sealed secret that does not open with the key file */
    int64_t rate_per_min;
} due_row;

/* Dead-letters a pending row that no retry can deliver. */
static void dead_at_once(worker *w, const char *id, const char *why, int64_t now)
{
    STORE_ALERTS(w->st)->mark_dead(w->st, id, why, now, true);
    count(w->a, &w->a->dead);
    alert_outbox_note(w->a, id);
}

typedef struct {
    worker *w;
    due_row *rows;
    int n, room;
} due_rows;

static void read_due(void *arg, const store_due_alert *d)
{
    due_rows *dr = arg;
    if (dr->n >= dr->room) return;
    due_row *r = &dr->rows[dr->n++];
    snprintf(r->id, sizeof r->id, "%s", d->id);
    snprintf(r->method, sizeof r->method, "%s", d->method);
    snprintf(r->recipient, sizeof r->recipient, "%s", d->recipient);
    snprintf(r->channel_id, sizeof r->channel_id, "%s", d->channel_id);
    r->has_channel = d->has_channel;
    snprintf(r->url, sizeof r->url, "%s", d->url);
    r->config = strdup(d->config);
    /* sealed at rest; opened only in memory, for the delivery */
    r->secret[0] = '\0';
    const server_secrets *box = &dr->w->a->s->secrets;
    r->secret_bad = d->secret[0] && box->open(box->keys, d->secret, r->channel_id, r->secret,
                                              sizeof r->secret) != 0;
    if (r->secret_bad) log_error("secret_unreadable", "channel=%s alert=%s", r->channel_id, r->id);
    r->rate_per_min = d->rate_per_min;
    r->enabled = d->enabled;
}

/* Claims one due row (transaction) and starts its transfer. */
static void start_job(worker *w, const due_row *r, int64_t now)
{
    const char *id = r->id;
    const char *channel_id = r->channel_id;
    if (!r->has_channel) {
        dead_at_once(w, id, "channel deleted", now);
        return;
    }
    if (r->secret_bad) { /* the key file lacks the key */
        dead_at_once(w, id, "channel secret cannot be decrypted with the key file", now);
        return;
    }
    if (!r->enabled) { /* channel disabled: hold, do not lose */
        STORE_ALERTS(w->st)->postpone(w->st, id, now + 60000);
        return;
    }
    int64_t retry_at;
    if (!rate_ok(w, channel_id, r->rate_per_min, now, &retry_at)) {
        STORE_ALERTS(w->st)->postpone(w->st, id, retry_at);
        count(w->a, &w->a->rate_limited);
        return;
    }
    alert_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->fd = -1;
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->method, sizeof j->method, "%s", r->method);
    snprintf(j->recipient, sizeof j->recipient, "%s", r->recipient);
    snprintf(j->url, sizeof j->url, "%s", r->url);
    j->config = cJSON_Parse(r->config ? r->config : "{}");
    if (!j->config) j->config = cJSON_CreateObject();
    snprintf(j->secret, sizeof j->secret, "%s", r->secret);
    store *st = w->st;
    bool tx = store_begin(st) == STORE_OK;
    int attempt = 0;
    STORE_ALERTS(st)->claim(st, id, now, &attempt);
    bool changed = attempt > 0;
    if (changed) {
        j->attempt = attempt;
        j->payload = STORE_ALERTS(st)->payload_get(st, id); /* frozen at the first attempt */
        if (!j->payload) {
            j->payload = alert_payload_build(st, id, w->set.public_url);
            if (j->payload) STORE_ALERTS(st)->payload_set(st, id, j->payload);
        }
    }
    if (tx && store_commit(st) != STORE_OK) {
        store_rollback(st);
        changed = false;
    }
    if (!changed || !j->payload) {
        alert_job_free(j);
        return;
    }
    j->p = cJSON_Parse(j->payload);
    j->started_ms = now;
    alert_outbox_note(w->a, id);
    char err[256] = "";
    int rc = ssrf_check(w, j, err, sizeof err);
    if (rc == -1) count(w->a, &w->a->ssrf_refused);
    bool syslog = !strcmp(j->method, "syslog");
    if (rc == 0 && syslog) {
        rc = alert_syslog_setup(j, util_now_ms(), err, sizeof err);
        if (rc == 1) { /* a datagram: sent at once */
            finish(w, j, true, 0, "", false);
            alert_job_free(j);
            return;
        }
    } else if (rc == 0) {
        j->h = curl_easy_init();
        if (!j->h) {
            snprintf(err, sizeof err, "curl_easy_init failed");
            rc = -2;
        }
    }
    if (rc == 0 && !syslog) {
        curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
        curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->errbuf);
        curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(j->h, CURLOPT_PROXY, ""); /* never through an environment proxy */
        curl_easy_setopt(j->h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(j->h, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
        curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, (long)w->set.timeout_ms);
        curl_easy_setopt(j->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(w->set.timeout_ms / 2));
        curl_easy_setopt(j->h, CURLOPT_USERAGENT, "iotad-alerts/1");
        if (j->resolve) curl_easy_setopt(j->h, CURLOPT_RESOLVE, j->resolve);
        if (!strcmp(j->method, "webhook"))
            rc = alert_webhook_setup(j, util_now_ms() / 1000, err, sizeof err);
        else if (!strcmp(j->method, "email"))
            rc = alert_smtp_setup(j, err, sizeof err);
        else
            rc = alert_sms_setup(j, err, sizeof err);
    }
    if (rc == 0 && !syslog && curl_multi_add_handle(w->multi, j->h) != CURLM_OK) {
        snprintf(err, sizeof err, "curl_multi_add_handle failed");
        rc = -2;
    }
    if (rc != 0) {
        finish(w, j, false, 0, err, rc == -1);
        alert_job_free(j);
        return;
    }
    j->next = w->inflight;
    w->inflight = j;
    w->ninflight++;
}

static void claim_due(worker *w)
{
    int room = MAX_INFLIGHT - w->ninflight;
    if (room <= 0) return;
    int64_t now = util_now_ms();
    /* read first, then claim: claiming opens write transactions on this connection */
    due_rows dr = {w, calloc((size_t)room, sizeof(due_row)), 0, room};
    if (dr.rows) STORE_ALERTS(w->st)->due(w->st, now, room, read_due, &dr);
    due_row *rows = dr.rows;
    int n = dr.n;
    for (int i = 0; i < n; i++) {
        start_job(w, &rows[i], now);
        flush_notes(w);
        free(rows[i].config);
        explicit_bzero(rows[i].secret, sizeof rows[i].secret);
    }
    free(rows);
}

static void on_done(worker *w, CURL *h, CURLcode res)
{
    alert_job *j = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
    curl_multi_remove_handle(w->multi, h);
    for (alert_job **pp = &w->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            w->ninflight--;
            break;
        }
    }
    if (!j) return;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    bool email = strcmp(j->method, "email") == 0;
    bool ok = res == CURLE_OK && (email || (code >= 200 && code < 300));
    char err[300] = "";
    bool permanent = false;
    if (res != CURLE_OK) {
        snprintf(err, sizeof err, "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
        permanent = res == CURLE_LOGIN_DENIED;
    } else if (!ok) {
        snprintf(err, sizeof err, "http status %ld", code);
        /* a refusal of the request itself will not change on retry */
        permanent = code >= 400 && code < 500 && code != 408 && code != 425 && code != 429;
    }
    finish(w, j, ok, code, err, permanent);
    alert_job_free(j);
}

/* Advances the syslog transfers (own sockets, not libcurl's); the finished ones are recorded
 * in the round's transaction (*tx opened on the first). */
static void syslog_progress(worker *w, bool *tx)
{
    for (alert_job **pp = &w->inflight; *pp;) {
        alert_job *j = *pp;
        if (j->h) {
            pp = &j->next;
            continue;
        }
        char err[300] = "";
        bool permanent = false;
        int rc = alert_syslog_step(j, err, sizeof err, &permanent);
        if (rc == 0 && util_now_ms() - j->started_ms >= w->set.timeout_ms) {
            snprintf(err, sizeof err, "timed out after %lld ms", (long long)w->set.timeout_ms);
            rc = -1;
        }
        if (rc == 0) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        w->ninflight--;
        if (!*tx) *tx = store_begin(w->st) == STORE_OK;
        finish(w, j, rc == 1, 0, err, permanent);
        alert_job_free(j);
    }
}

/* The sockets of the syslog transfers in flight, for curl_multi_poll; *deadline_ms: the
 * earliest attempt timeout among them (unchanged when there are none). */
static unsigned syslog_waitfds(worker *w, struct curl_waitfd *fds, int64_t *deadline_ms)
{
    unsigned n = 0;
    for (alert_job *j = w->inflight; j && n < MAX_INFLIGHT; j = j->next) {
        if (j->h || j->fd < 0) continue;
        fds[n++] = (struct curl_waitfd){
            j->fd, (short)(j->events == POLLIN ? CURL_WAIT_POLLIN : CURL_WAIT_POLLOUT), 0};
        if (j->started_ms + w->set.timeout_ms < *deadline_ms)
            *deadline_ms = j->started_ms + w->set.timeout_ms;
    }
    return n;
}

static void *run(void *arg)
{
    worker *w = arg;
    alerts *a = w->a;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        bool stop = a->stop;
        w->allow = a->allow;
        pthread_mutex_unlock(&a->mu);
        alerts_settings_get(a, &w->set);
        if (stop) break;
        claim_due(w);
        int running = 0;
        curl_multi_perform(w->multi, &running);
        CURLMsg *msg;
        int left;
        bool tx = false; /* the results of one round share a transaction */
        while ((msg = curl_multi_info_read(w->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            if (!tx) tx = store_begin(w->st) == STORE_OK;
            on_done(w, msg->easy_handle, msg->data.result);
        }
        syslog_progress(w, &tx);
        if (tx) store_commit_or_rollback(w->st);
        flush_notes(w);
        int64_t next = STORE_ALERTS(w->st)->next_due(w->st);
        struct curl_waitfd fds[MAX_INFLIGHT];
        unsigned nfds = syslog_waitfds(w, fds, &next);
        int64_t wait = next == INT64_MAX ? 1000 : next - util_now_ms();
        if (wait > 1000) wait = 1000;
        if (w->ninflight >= MAX_INFLIGHT && wait < 50) wait = 50; /* full: wait for transfers */
        if (wait <= 0) continue;
        curl_multi_poll(w->multi, fds, nfds, (int)wait, NULL);
    }
    /* stopping: abandon transfers in flight; their rows go back to pending for next time */
    while (w->inflight) {
        alert_job *j = w->inflight;
        w->inflight = j->next;
        if (j->h) curl_multi_remove_handle(w->multi, j->h);
        STORE_ALERTS(w->st)->release(w->st, j->id, util_now_ms(), NULL);
        alert_job_free(j);
    }
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int alert_outbox_start(alerts *a)
{
    pthread_once(&curl_once, curl_init_once);
    worker *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->a = a;
    util_random(&w->rnd, sizeof w->rnd);
    /* synchronous=NORMAL is enough here: the rows were created durably by the loop; losing
     * the last "sent" marks in a power cut means a resend under the same idempotency key */
    if (store_open_peer(a->s->st, false, &w->st) != STORE_OK) {
        free(w);
        return -1;
    }
    /* rows claimed when the previous process died are due again now */
    int requeued = 0;
    STORE_ALERTS(w->st)->release(w->st, NULL, util_now_ms(), &requeued);
    if (requeued) log_info("alerts_requeued", "count=%d", requeued);
    w->multi = curl_multi_init();
    if (!w->multi) {
        store_close(w->st);
        free(w);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    a->multi = w->multi;
    pthread_mutex_unlock(&a->mu);
    if (pthread_create(&a->thread, NULL, run, w) != 0) {
        curl_multi_cleanup(w->multi);
        store_close(w->st);
        free(w);
        a->multi = NULL;
        return -1;
    }
    a->thread_started = true;
    a->worker = w;
    return 0;
}

void alert_outbox_stop(alerts *a)
{
    if (!a->thread_started) return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_mutex_unlock(&a->mu);
    curl_multi_wakeup(a->multi);
    pthread_join(a->thread, NULL);
    a->thread_started = false;
    worker *w = a->worker;
    pthread_mutex_lock(&a->mu);
    a->multi = NULL;
    pthread_mutex_unlock(&a->mu);
    curl_multi_cleanup(w->multi);
    store_close(w->st);
    free(w);
    a->worker = NULL;
}
