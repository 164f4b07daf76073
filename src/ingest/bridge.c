/* See bridge.h. Two threads meet here:
 *
 * - the client thread runs libmosquitto (MQTT 5): connect with a session that outlives the
 *   connection (bridge_session_expiry_s: the broker queues messages while iotad restarts),
 *   subscribe, read; on a lost connection it waits (0.5 s doubling to 30 s) and connects again.
 *   Each PUBLISH is copied into the queue; while the queue is full the thread waits, so it
 *   stops reading from the broker.
 * - the loop thread (uv_async) takes messages off the queue and ingests them as the MQTT
 *   listener does: the device is the topic level the filter's '+' matches; its payload goes
 *   through ingest_decode_json and ingest_submit. While the writer is overloaded it leaves the
 *   queue alone until the writer drains (bridge_resume).
 *
 * Acknowledgement: libmosquitto acknowledges a QoS 1 PUBLISH as it hands it over, before iotad
 * has committed it (its API has no manual acknowledgement). What is queued when iotad stops is
 * ingested before the writer stops; a crash loses what was queued and not yet committed (the
 * queue and one group commit: milliseconds of traffic). docs/deploy.md says so. */
#include "ingest/bridge.h"

#include "core/log.h"
#include "core/server.h"
#include "core/util.h"
#include "ingest/decode_json.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct bridge_msg {
    struct bridge_msg *next;
    size_t topic_len, payload_len;
    char data[]; /* topic, NUL, payload */
} bridge_msg;

struct bridge {
    server *s;
    struct mosquitto *mosq;
    bridge_endpoint ep;
    char sub[2 * CONFIG_STR_MAX + 16]; /* what is subscribed: [$share/<group>/]<filter> */
    char peer[300];                    /* "bridge:<host>:<port>", the peer of device events */
    pthread_t thread;
    bool thread_started;
    /* shared with the client thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t space; /* the queue has room, or stop */
    pthread_cond_t wake;  /* stop (ends a back-off wait) */
    bridge_msg *head, *tail;
    size_t queued, queue_max;
    bool stop;
    bool connected; /* the client thread's view, copied to s->m.bridge by the loop thread */
    uint64_t connects, connect_failures;
    /* loop thread only */
    uv_async_t async;
    uint64_t received;
    bool paused; /* the writer is overloaded: the queue waits for bridge_resume */
};

/* --- parsing: the URL and the topic filter ------------------------------------------------ */

int bridge_parse_url(const char *url, bridge_endpoint *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        out->port = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        out->port = 8883;
        out->tls = true;
    } else {
        snprintf(err, errcap, "bridge_url must start with mqtt:// or mqtts:// ('%s')", url);
        return -1;
    }
    if (strchr(p, '@')) {
        snprintf(err, errcap,
                 "bridge_url takes no credentials: set bridge_username and bridge_password");
        return -1;
    }
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') { /* [v6]:port */
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            snprintf(err, errcap, "bridge_url: unclosed '[' in '%s'", url);
            return -1;
        }
        p = host_end + 1;
        if (*p == ':')
            port = p + 1;
        else if (*p != '\0' && strcmp(p, "/") != 0) {
            snprintf(err, errcap, "bridge_url: unexpected text after the address in '%s'", url);
            return -1;
        }
    } else {
        host_end = host + strcspn(host, ":/");
        if (*host_end == ':')
            port = host_end + 1;
        else if (*host_end == '/' && host_end[1] != '\0') {
            snprintf(err, errcap, "bridge_url takes no path ('%s')", url);
            return -1;
        }
    }
    size_t n = (size_t)(host_end - host);
    if (n == 0 || n >= sizeof out->host) {
        snprintf(err, errcap, "bridge_url: bad host in '%s'", url);
        return -1;
    }
    memcpy(out->host, host, n);
    out->host[n] = '\0';
    if (port) {
        char *end;
        long v = strtol(port, &end, 10);
        if (end == port || (*end != '\0' && strcmp(end, "/") != 0) || v < 1 || v > 65535) {
            snprintf(err, errcap, "bridge_url: bad port in '%s'", url);
            return -1;
        }
        out->port = (int)v;
    }
    return 0;
}

int bridge_check_filter(const char *filter, char *err, size_t errcap)
{
    int plus = 0;
    size_t n = strlen(filter);
    if (n == 0 || filter[0] == '$') {
        snprintf(err, errcap, "bridge_topic must be a topic filter such as devices/+/telemetry");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bool level_start = i == 0 || filter[i - 1] == '/';
        bool level_end = i + 1 == n || filter[i + 1] == '/';
        if (filter[i] == '#') {
            snprintf(err, errcap, "bridge_topic: '#' is not allowed (one '+' marks the device id)");
            return -1;
        }
        if (filter[i] == '+') {
            if (!level_start || !level_end) {
                snprintf(err, errcap, "bridge_topic: '+' must be a whole level ('%s')", filter);
                return -1;
            }
            plus++;
        }
    }
    if (plus != 1) {
        snprintf(err, errcap, "bridge_topic needs exactly one '+' (the device id level), not %d",
                 plus);
        return -1;
    }
    return 0;
}

int bridge_topic_device(const char *filter, const char *topic, size_t topic_len, char *out,
                        size_t cap)
{
    const char *plus = strchr(filter, '+');
    if (!plus || cap == 0) return -1;
    size_t pre = (size_t)(plus - filter), post = strlen(plus + 1);
    if (topic_len < pre + post || memcmp(topic, filter, pre) != 0 ||
        memcmp(topic + topic_len - post, plus + 1, post) != 0)
        return -1;
    size_t n = topic_len - pre - post;
    const char *id = topic + pre;
    if (n == 0 || n >= cap || memchr(id, '/', n) || memchr(id, '\0', n)) return -1;
    memcpy(out, id, n);
    out[n] = '\0';
    return (int)n;
}

/* --- the client thread ---------------------------------------------------------------------- */

/* Wakes the loop thread to take the client thread's news (not once stopping: the loop closes
 * the handle then). */
static void notify(bridge *b)
{
    pthread_mutex_lock(&b->mu);
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    if (!stop) uv_async_send(&b->async);
}

static bool stopping(bridge *b)
{
    pthread_mutex_lock(&b->mu);
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    return stop;
}

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    bridge *b = obj;
    (void)props;
    if (rc != 0) {
        pthread_mutex_lock(&b->mu);
        b->connect_failures++;
        pthread_mutex_unlock(&b->mu);
        notify(b);
        log_warn("bridge_connect_refused", "broker=%s:%d reason=\"%s\"", b->ep.host, b->ep.port,
                 mosquitto_reason_string(rc));
        return;
    }
    pthread_mutex_lock(&b->mu);
    b->connected = true;
    b->connects++;
    pthread_mutex_unlock(&b->mu);
    notify(b);
    log_info("bridge_connected", "broker=%s:%d session_present=%d subscription=\"%s\"", b->ep.host,
             b->ep.port, flags & 1, b->sub);
    int src = mosquitto_subscribe_v5(m, NULL, b->sub, 1, 0, NULL);
    if (src != MOSQ_ERR_SUCCESS)
        log_error("bridge_subscribe_failed", "subscription=\"%s\" err=\"%s\"", b->sub,
                  mosquitto_strerror(src));
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
    bridge *b = obj;
    (void)m, (void)mid, (void)props;
    if (n < 1 || granted[0] > 2)
        log_error("bridge_subscribe_refused", "subscription=\"%s\" reason=\"%s\"", b->sub,
                  n < 1 ? "none" : mosquitto_reason_string(granted[0]));
    else
        log_info("bridge_subscribed", "subscription=\"%s\" qos=%d", b->sub, granted[0]);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
    bridge *b = obj;
    (void)m, (void)props;
    pthread_mutex_lock(&b->mu);
    bool was = b->connected;
    b->connected = false;
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    notify(b);
    if (was && !stop)
        log_warn("bridge_disconnected", "broker=%s:%d reason=\"%s\"", b->ep.host, b->ep.port,
                 rc == MOSQ_ERR_CONN_LOST ? "connection lost" : mosquitto_reason_string(rc));
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    bridge *b = obj;
    (void)m, (void)props;
    size_t tlen = strlen(msg->topic), plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    bridge_msg *q = malloc(sizeof *q + tlen + 1 + plen);
    if (!q) {
        log_error("bridge_message_dropped", "topic=\"%.120s\" err=\"out of memory\"", msg->topic);
        return;
    }
    q->next = NULL;
    q->topic_len = tlen;
    q->payload_len = plen;
    memcpy(q->data, msg->topic, tlen + 1);
    if (plen) memcpy(q->data + tlen + 1, msg->payload, plen);
    pthread_mutex_lock(&b->mu);
    /* a full queue: stop reading from the broker until the loop thread makes room (at a stop
     * the message is taken anyway: the broker has its acknowledgement) */
    while (b->queued >= b->queue_max && !b->stop)
        pthread_cond_wait(&b->space, &b->mu);
    if (b->tail)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    b->queued++;
    pthread_mutex_unlock(&b->mu);
    uv_async_send(&b->async);
}

/* Waits ms or until stop; true when stopping. */
static bool wait_or_stop(bridge *b, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    while (!b->stop && pthread_cond_timedwait(&b->wake, &b->mu, &until) == 0) {
    }
    bool stop = b->stop;
    pthread_mutex_unlock(&b->mu);
    return stop;
}

static void *client_main(void *arg)
{
    bridge *b = arg;
    const config *c = &b->s->cfg;
    int backoff_ms = 500;
    bool logged_failure = false;
    while (!stopping(b)) {
        /* the session outlives the connection (MQTT 5: clean start off and an expiry), and
         * the broker sends nothing larger than iotad's own MQTT listener takes */
        mosquitto_property *props = NULL;
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                     (uint32_t)c->bridge_session_expiry_s);
        mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
                                     (uint32_t)c->mqtt_max_packet);
        int rc = mosquitto_connect_bind_v5(b->mosq, b->ep.host, b->ep.port, 30, NULL, props);
        mosquitto_property_free_all(&props);
        if (rc == MOSQ_ERR_SUCCESS) {
            /* CONNECT sent; the CONNACK arrives in the loop (on_connect) */
            while ((rc = mosquitto_loop(b->mosq, 200, 1)) == MOSQ_ERR_SUCCESS && !stopping(b)) {
                pthread_mutex_lock(&b->mu);
                bool up = b->connected;
                pthread_mutex_unlock(&b->mu);
                if (up) {
                    backoff_ms = 500;
                    logged_failure = false;
                }
            }
            if (stopping(b)) {
                /* a clean DISCONNECT keeps the session (its expiry is not changed) */
                mosquitto_disconnect_v5(b->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
                for (int i = 0; i < 5 && mosquitto_loop(b->mosq, 100, 1) == MOSQ_ERR_SUCCESS; i++) {
                }
                break;
            }
            pthread_mutex_lock(&b->mu);
            b->connected = false;
            pthread_mutex_unlock(&b->mu);
            notify(b);
        } else {
            pthread_mutex_lock(&b->mu);
            b->connect_failures++;
            pthread_mutex_unlock(&b->mu);
            notify(b);
            if (!logged_failure) /* once per outage; the counter has the rest */
                log_warn("bridge_connect_failed", "broker=%s:%d err=\"%s\" retry_ms=%d", b->ep.host,
                         b->ep.port,
                         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
                         backoff_ms);
            logged_failure = true;
        }
        if (wait_or_stop(b, backoff_ms)) break;
        backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
    }
    return NULL;
}

/* --- the loop thread ------------------------------------------------------------------------ */

static void ingest_one(bridge *b, const bridge_msg *q)
{
    server *s = b->s;
    const char *topic = q->data, *payload = q->data + q->topic_len + 1;
    char id[UUID_STR_LEN + 2];
    if (bridge_topic_device(s->cfg.bridge_topic, topic, q->topic_len, id, sizeof id) < 0) {
        s->m.bridge.messages[BRIDGE_BAD_TOPIC]++;
        s->m.rejected[TRANSPORT_MQTT][REJECT_ACL]++;
        log_warn("bridge_topic_unmatched", "topic=\"%.120s\" filter=\"%s\"", topic,
                 s->cfg.bridge_topic);
        return;
    }
    dev_live *d = util_uuid_valid(id) ? devstate_get(s->devices, id) : NULL;
    if (!d || d->deleted) {
        s->m.bridge.messages[BRIDGE_UNKNOWN_DEVICE]++;
        s->m.rejected[TRANSPORT_MQTT][REJECT_AUTH]++;
        devstate_security(s->devices, NULL, id, SEC_UNKNOWN_DEVICE, TRANSPORT_MQTT, b->peer,
                          "bridged topic names no registered device");
        return;
    }
    ingest_batch batch;
    ingest_batch_init(&batch, (size_t)s->cfg.max_batch_points);
    ingest_error err = {0};
    ingest_status st;
    if (q->payload_len > (size_t)s->cfg.mqtt_max_packet) {
        st = ingest_fail(&err, INGEST_ERR_TOO_MANY, 0, "message larger than mqtt_max_packet");
        ingest_reject(s, d, TRANSPORT_MQTT, b->peer, &err);
    } else {
        st = ingest_decode_json(payload, q->payload_len, util_now_ms(), &batch, &err);
        if (st == INGEST_OK)
            st = ingest_submit(s, d, &batch, TRANSPORT_MQTT, b->peer, q->payload_len, NULL, NULL,
                               &err);
        else
            ingest_reject(s, d, TRANSPORT_MQTT, b->peer, &err);
    }
    ingest_batch_free(&batch);
    s->m.bridge.messages[st == INGEST_OK ? BRIDGE_INGESTED : BRIDGE_REFUSED]++;
}

/* Ingests queued messages; with respect_backpressure, stops while the writer is overloaded. */
static void drain(bridge *b, bool respect_backpressure)
{
    for (;;) {
        if (respect_backpressure && ingest_overloaded(b->s)) {
            if (!b->paused) b->s->m.backpressure_pauses++;
            b->paused = true;
            return;
        }
        pthread_mutex_lock(&b->mu);
        bridge_msg *q = b->head;
        if (q) {
            b->head = q->next;
            if (!b->head) b->tail = NULL;
            b->queued--;
            pthread_cond_signal(&b->space);
        }
        pthread_mutex_unlock(&b->mu);
        if (!q) break;
        b->received++;
        ingest_one(b, q);
        free(q);
    }
    b->paused = false;
}

/* The client thread's state into s->m.bridge (/metrics reads it on the loop thread). */
static void sync_stats(bridge *b)
{
    pthread_mutex_lock(&b->mu);
    b->s->m.bridge.connected = b->connected;
    b->s->m.bridge.connects = b->connects;
    b->s->m.bridge.connect_failures = b->connect_failures;
    b->s->m.bridge.queued = b->queued;
    pthread_mutex_unlock(&b->mu);
}

static void on_async(uv_async_t *h)
{
    bridge *b = h->data;
    if (!b->paused) drain(b, true);
    sync_stats(b);
}

void bridge_resume(bridge *b)
{
    if (b && b->paused) {
        b->paused = false;
        drain(b, true);
    }
}

static void destroy(bridge *b)
{
    if (b->mosq) mosquitto_destroy(b->mosq);
    mosquitto_lib_cleanup();
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->space);
    pthread_cond_destroy(&b->wake);
    free(b);
}

static void on_closed(uv_handle_t *h)
{
    destroy(h->data);
}

/* libmosquitto opens the CA file blocking: a FIFO (or /dev/zero) there would hang the start.
 * One that cannot be opened is left to libmosquitto's own refusal. */
static bool regular_or_absent(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return true;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return ok;
}

int bridge_start(server *s, bridge **out)
{
    const config *c = &s->cfg;
    char err[300];
    *out = NULL;
    bridge *b = calloc(1, sizeof *b);
    if (!b) return -1;
    b->s = s;
    b->queue_max = (size_t)c->bridge_queue_max;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->space, NULL);
    pthread_cond_init(&b->wake, NULL);
    mosquitto_lib_init();
    if (bridge_parse_url(c->bridge_url, &b->ep, err, sizeof err) != 0 ||
        bridge_check_filter(c->bridge_topic, err, sizeof err) != 0 ||
        (strpbrk(c->bridge_group, "/+#") &&
         snprintf(err, sizeof err, "bridge_group may not contain '/', '+' or '#'") > 0)) {
        log_error("bridge_config_invalid", "err=\"%s\"", err);
        destroy(b);
        return -1;
    }
    if (c->bridge_group[0])
        snprintf(b->sub, sizeof b->sub, "$share/%s/%s", c->bridge_group, c->bridge_topic);
    else
        snprintf(b->sub, sizeof b->sub, "%s", c->bridge_topic);
    snprintf(b->peer, sizeof b->peer, "bridge:%s:%d", b->ep.host, b->ep.port);
    char id[CONFIG_STR_MAX + 80];
    if (c->bridge_client_id[0]) {
        snprintf(id, sizeof id, "%s", c->bridge_client_id);
    } else { /* stable across restarts, so the broker finds the session again */
        char host[128] = "host";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(id, sizeof id, "iotad-%s", host);
    }
    /* clean_session false: with MQTT 5 this is clean start off, the session resumed */
    b->mosq = mosquitto_new(id, false, b);
    const char *why = NULL;
    if (!b->mosq)
        why = "mosquitto_new failed";
    else if (mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5))
        why = "MQTT 5 not supported by libmosquitto";
    else if (mosquitto_int_option(b->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, (int)c->mqtt_receive_maximum))
        why = "receive maximum";
    else if (c->bridge_username[0] &&
             mosquitto_username_pw_set(b->mosq, c->bridge_username,
                                       c->bridge_password[0] ? c->bridge_password : NULL))
        why = "bridge_username";
    if (!why && b->ep.tls && c->bridge_ca_file[0] && !regular_or_absent(c->bridge_ca_file))
        why = "bridge_ca_file is not a regular file";
    if (!why && b->ep.tls) {
        int rc = c->bridge_ca_file[0]
                     ? mosquitto_tls_set(b->mosq, c->bridge_ca_file, NULL, NULL, NULL, NULL)
                     : mosquitto_int_option(b->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        if (rc != MOSQ_ERR_SUCCESS) why = "bridge_ca_file cannot be used";
    }
    if (why) {
        log_error("bridge_config_invalid", "err=\"%s\" client_id=%s", why, id);
        destroy(b);
        return -1;
    }
    mosquitto_connect_v5_callback_set(b->mosq, on_connect);
    mosquitto_subscribe_v5_callback_set(b->mosq, on_subscribe);
    mosquitto_disconnect_v5_callback_set(b->mosq, on_disconnect);
    mosquitto_message_v5_callback_set(b->mosq, on_message);
    uv_async_init(s->loop, &b->async, on_async);
    b->async.data = b;
    if (pthread_create(&b->thread, NULL, client_main, b) != 0) {
        log_error("bridge_start_failed", "err=\"%s\"", "cannot start the client thread");
        uv_close((uv_handle_t *)&b->async, on_closed);
        return -1;
    }
    b->thread_started = true;
    s->m.bridge.on = true;
    log_info("bridge_started", "broker=%s:%d tls=%d client_id=%s subscription=\"%s\"", b->ep.host,
             b->ep.port, b->ep.tls, id, b->sub);
    *out = b;
    return 0;
}

void bridge_stop(bridge *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->space);
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->mu);
    /* the thread ends within a read timeout, unless a connection attempt hangs (a broker
     * address that drops packets: the kernel gives up after about two minutes); iotad does
     * not wait for that, and leaves the thread and b to the process's exit */
    bool joined = true;
    if (b->thread_started) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        joined = pthread_timedjoin_np(b->thread, NULL, &until) == 0;
    }
    drain(b, false); /* acknowledged to the broker: into the store before the writer stops */
    b->s->m.bridge.connected = false;
    log_info("bridge_stopped", "received=%llu ingested=%llu", (unsigned long long)b->received,
             (unsigned long long)b->s->m.bridge.messages[BRIDGE_INGESTED]);
    if (!joined) {
        log_warn("bridge_stop_timeout", "broker=%s:%d action=\"left to the exit\"", b->ep.host,
                 b->ep.port);
        uv_close((uv_handle_t *)&b->async, NULL);
        return;
    }
    uv_close((uv_handle_t *)&b->async, on_closed);
}
