/* See mqtt_sub.h. One subscriber per token connection, in a list on the hub; each holds its
 * topic filters (at most MAX_FILTERS) and the event types they can match, so that an event
 * nobody's filters can match is never rendered (the hub's wants()). An event is rendered once,
 * when the first subscriber that may see it has a matching filter, and queued to each such
 * subscriber with mqtt_conn_publish, which drops it when the subscriber's queued output is
 * over mqtt_sub_queue_bytes. Loop thread only (the MQTT listeners run on the device loop,
 * which is served on the same thread). */
#include "api/mqtt_sub.h"
#include "api/stream.h"

#include "auth/rbac.h"
#include "auth/token.h"
#include "core/log.h"
#include "core/server.h"
#include "core/util.h"
#include "mqtt/mqtt_codec.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 32
#define ROOT "iotad"

typedef struct filter {
    char *text;
    size_t len;
} filter;

typedef struct sub {
    struct sub *prev, *next;
    mqtt_sub_hub *hub;
    mqtt_conn *c;
    auth_role role;
    char user_id[UUID_STR_LEN + 1];
    char prefix[16];
    unsigned types; /* bit per ev_type its filters can match */
    int nfilter;
    filter f[MAX_FILTERS];
    uint64_t dropped;
} sub;

struct mqtt_sub_hub {
    server *s;
    sub *head;
    unsigned types; /* union of the subscribers' */
    mqtt_sub_stats st;
};

/* The topic of each event type, with '+' for the device: what a filter must intersect. */
static const char *const type_pattern[EV_TYPE_COUNT] = {
    [EV_POINTS] = ROOT "/devices/+/points", [EV_DEVICE_STATUS] = ROOT "/devices/+/status",
    [EV_ANOMALY] = ROOT "/anomalies/+",     [EV_ALERT] = ROOT "/alerts/+",
    [EV_INCIDENT] = ROOT "/incidents/+",
};

mqtt_sub_hub *mqtt_sub_hub_new(server *s)
{
    mqtt_sub_hub *h = calloc(1, sizeof *h);
    if (h) h->s = s;
    return h;
}

void mqtt_sub_hub_free(mqtt_sub_hub *h)
{
    /* the listeners closed every connection, and on_close freed its subscriber */
    free(h);
}

bool mqtt_sub_is_token_login(const mqtt_connect_info *info)
{
    const size_t n = sizeof MQTT_SUB_USERNAME - 1;
    return info->username && info->username_len == n &&
           memcmp(info->username, MQTT_SUB_USERNAME, n) == 0;
}

/* The level of a topic or filter at index idx (0-based): its start and length; false if none. */
static bool level_at(const char *t, size_t n, int idx, const char **out, size_t *len)
{
    size_t start = 0;
    for (int i = 0; i < idx; i++) {
        const char *slash = memchr(t + start, '/', n - start);
        if (!slash) return false;
        start = (size_t)(slash - t) + 1;
    }
    const char *slash = memchr(t + start, '/', n - start);
    *out = t + start;
    *len = slash ? (size_t)(slash - (t + start)) : n - start;
    return true;
}

/* Whether some topic matches both the filter and the pattern (a filter of '+' levels only
 * where the device goes): level by level, '#' on either side ends it, '+' takes any level. */
static bool may_intersect(const char *f, size_t flen, const char *p)
{
    size_t plen = strlen(p);
    for (int i = 0;; i++) {
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        bool ha = level_at(f, flen, i, &a, &al), hb = level_at(p, plen, i, &b, &bl);
        if (ha && al == 1 && a[0] == '#') return true;
        if (!ha || !hb) return ha == hb;
        bool wild = (al == 1 && a[0] == '+') || (bl == 1 && b[0] == '+');
        if (!wild && (al != bl || memcmp(a, b, al) != 0)) return false;
    }
}

static unsigned filter_types(const char *f, size_t len)
{
    unsigned m = 0;
    for (int t = 0; t < EV_TYPE_COUNT; t++)
        if (type_pattern[t] && may_intersect(f, len, type_pattern[t])) m |= 1u << t;
    return m;
}

static void recompute_types(mqtt_sub_hub *h)
{
    h->types = 0;
    for (sub *x = h->head; x; x = x->next) {
        x->types = 0;
        for (int i = 0; i < x->nfilter; i++)
            x->types |= filter_types(x->f[i].text, x->f[i].len);
        h->types |= x->types;
    }
}

/* --- Subscribing ------------------------------------------------------------------------------ */

static int find_filter(const sub *x, const char *f, size_t len)
{
    for (int i = 0; i < x->nfilter; i++)
        if (x->f[i].len == len && memcmp(x->f[i].text, f, len) == 0) return i;
    return -1;
}

/* A DeviceOwner's filter naming one device (the third level, where every topic has its
 * device) must name one of its own: else 0x87, for a device that does not exist too. */
static bool device_level_allowed(sub *x, const char *f, size_t len)
{
    if (auth_scope_all_devices(x->role)) return true;
    const char *d = NULL;
    size_t dl = 0;
    if (!level_at(f, len, 2, &d, &dl) || (dl == 1 && (d[0] == '+' || d[0] == '#'))) return true;
    if (dl != UUID_STR_LEN) return false;
    char id[UUID_STR_LEN + 1], owner[UUID_STR_LEN + 1] = "";
    memcpy(id, d, dl);
    id[dl] = '\0';
    store *st = x->hub->s->st;
    return util_uuid_valid(id) &&
           STORE_DEVICES(st)->owner_of(st, id, owner, sizeof owner) == STORE_OK &&
           strcmp(owner, x->user_id) == 0;
}

static uint8_t on_subscribe(void *ud, mqtt_conn *c, const mqtt_sub_info *si)
{
    mqtt_sub_hub *h = ud;
    sub *x = mqtt_conn_get_data(c);
    if (!x) return MQTT_RC_UNSPECIFIED_ERROR;
    int at = si->valid ? find_filter(x, si->filter, si->filter_len) : -1;
    if (si->unsubscribe) {
        if (at < 0) return MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        free(x->f[at].text);
        x->f[at] = x->f[--x->nfilter];
        recompute_types(h);
        return MQTT_RC_SUCCESS;
    }
    uint8_t refuse = 0;
    if (!si->valid)
        refuse = MQTT_RC_TOPIC_FILTER_INVALID;
    else if (si->shared)
        refuse = MQTT_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED;
    else if (!filter_types(si->filter, si->filter_len) ||
             !device_level_allowed(x, si->filter, si->filter_len))
        refuse = MQTT_RC_NOT_AUTHORIZED; /* outside the iotad/... topics, or not its device */
    else if (at < 0 && x->nfilter >= MAX_FILTERS)
        refuse = MQTT_RC_QUOTA_EXCEEDED;
    if (refuse) {
        h->st.refused_filters++;
        log_info("mqtt_subscribe_refused", "peer=%s user=%s filter=\"%.*s\" reason=0x%02x",
                 mqtt_conn_peer(c), x->user_id, (int)(si->filter_len < 128 ? si->filter_len : 128),
                 si->filter, refuse);
        return refuse;
    }
    if (at < 0) {
        char *t = malloc(si->filter_len + 1);
        if (!t) return MQTT_RC_UNSPECIFIED_ERROR;
        memcpy(t, si->filter, si->filter_len);
        t[si->filter_len] = '\0';
        x->f[x->nfilter++] = (filter){t, si->filter_len};
        recompute_types(h);
    }
    log_info("mqtt_subscribed", "peer=%s user=%s filter=\"%.*s\"", mqtt_conn_peer(c), x->user_id,
             (int)(si->filter_len < 128 ? si->filter_len : 128), si->filter);
    return MQTT_RC_GRANTED_QOS_0; /* the only QoS delivered */
}

/* A token connection is read-only: QoS 1 gets PUBACK 0x87 (v5), anything else ends it (0x87;
 * 3.1.1 has only the close). */
static void on_publish(void *ud, mqtt_conn *c, const mqtt_publish_info *pub)
{
    mqtt_sub_hub *h = ud;
    h->st.refused_publish++;
    if (mqtt_conn_version(c) == 5 && pub->qos == 1)
        mqtt_conn_puback(c, pub->packet_id, MQTT_RC_NOT_AUTHORIZED,
                         "an API token may only subscribe: the iotad/ topics are read-only");
    else
        mqtt_conn_disconnect(c, MQTT_RC_NOT_AUTHORIZED);
}

static void on_close(void *ud, mqtt_conn *c, mqtt_close_reason why)
{
    mqtt_sub_hub *h = ud;
    sub *x = mqtt_conn_get_data(c);
    mqtt_conn_set_data(c, NULL);
    if (!x) return;
    if (x->prev)
        x->prev->next = x->next;
    else
        h->head = x->next;
    if (x->next) x->next->prev = x->prev;
    if (h->st.connections) h->st.connections--;
    log_info("mqtt_token_closed", "peer=%s user=%s token=%s reason=%s dropped=%llu",
             mqtt_conn_peer(c), x->user_id, x->prefix, mqtt_close_reason_name(why),
             (unsigned long long)x->dropped);
    for (int i = 0; i < x->nfilter; i++)
        free(x->f[i].text);
    free(x);
    recompute_types(h);
}

static const mqtt_callbacks sub_callbacks = {
    .on_publish = on_publish,
    .on_close = on_close,
    .on_subscribe = on_subscribe,
};

uint8_t mqtt_sub_connect(mqtt_sub_hub *h, mqtt_conn *c, const mqtt_connect_info *info)
{
    server *s = h->s;
    const char *peer = mqtt_conn_peer(c);
    if (s->stopping) return MQTT_RC_SERVER_UNAVAILABLE;
    char prefix[16];
    const char *tok = (const char *)info->password;
    store_token_auth ta;
    int rc = STORE_NOTFOUND;
    if (tok && auth_apitoken_parse(tok, info->password_len, prefix) == 0)
        rc = STORE_TOKENS(s->st)->lookup(s->st, prefix, &ta);
    if (rc == STORE_ERR) return MQTT_RC_SERVER_UNAVAILABLE;
    auth_role role;
    if (rc != STORE_OK || !auth_apitoken_verify(tok, info->password_len, ta.hash) ||
        auth_role_parse(ta.role, &role) != 0) {
        h->st.refused_auth++;
        log_info("mqtt_token_refused", "peer=%s reason=\"%s\"", peer,
                 !tok             ? "no password"
                 : !prefix[0]     ? "not an API token"
                 : rc == STORE_OK ? "wrong token"
                                  : "unknown or revoked token, or its user is disabled");
        return MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    }
    sub *x = calloc(1, sizeof *x);
    if (!x) return MQTT_RC_SERVER_UNAVAILABLE;
    x->hub = h;
    x->c = c;
    x->role = role;
    snprintf(x->user_id, sizeof x->user_id, "%s", ta.user_id);
    snprintf(x->prefix, sizeof x->prefix, "%s", prefix);
    x->next = h->head;
    if (h->head) h->head->prev = x;
    h->head = x;
    h->st.connections++;
    mqtt_conn_set_data(c, x);
    mqtt_conn_set_handler(c, &sub_callbacks, h);
    STORE_TOKENS(s->st)->touch(s->st, prefix, util_now_ms());
    log_info("mqtt_token_connected", "peer=%s user=%s token=%s role=%s", peer, x->user_id, prefix,
             auth_role_name(role));
    return MQTT_RC_SUCCESS;
}

void mqtt_sub_drop(mqtt_sub_hub *h, const char *token_prefix, const char *user_id)
{
    if (!h) return;
    sub *next;
    for (sub *x = h->head; x; x = next) {
        next = x->next; /* the disconnect frees x (on_close) */
        if ((token_prefix && strcmp(x->prefix, token_prefix) == 0) ||
            (user_id && strcmp(x->user_id, user_id) == 0))
            mqtt_conn_disconnect(x->c, MQTT_RC_NOT_AUTHORIZED);
    }
}

void mqtt_sub_get_stats(const mqtt_sub_hub *h, mqtt_sub_stats *out)
{
    if (h)
        *out = h->st;
    else
        memset(out, 0, sizeof *out);
}

/* --- Delivery --------------------------------------------------------------------------------- */

static char *render(const ev_event *e)
{
    switch (e->type) {
    case EV_POINTS:
        return stream_render_points(e, NULL);
    case EV_DEVICE_STATUS: {
        char ts[32];
        util_rfc3339(e->u.status.ts_ms, ts);
        size_t cap = 96 + strlen(e->device_id);
        char *text = malloc(cap);
        if (text)
            snprintf(text, cap, "{\"device_id\":\"%s\",\"status\":\"%s\",\"ts\":\"%s\"}",
                     e->device_id, e->u.status.online ? "online" : "offline", ts);
        return text;
    }
    default:
        return e->u.record ? cJSON_PrintUnformatted(e->u.record) : NULL;
    }
}

static int topic_of(const ev_event *e, char *out, size_t cap)
{
    const char *dev = e->device_id && e->device_id[0] ? e->device_id : "none";
    switch (e->type) {
    case EV_POINTS:
        return snprintf(out, cap, ROOT "/devices/%s/points", dev);
    case EV_DEVICE_STATUS:
        return snprintf(out, cap, ROOT "/devices/%s/status", dev);
    case EV_ANOMALY:
        return snprintf(out, cap, ROOT "/anomalies/%s", dev);
    case EV_ALERT:
        return snprintf(out, cap, ROOT "/alerts/%s", dev);
    case EV_INCIDENT:
        return snprintf(out, cap, ROOT "/incidents/%s", dev);
    default:
        return -1;
    }
}

static bool may_see(const sub *x, const char *owner_id)
{
    return auth_scope_all_devices(x->role) || (owner_id[0] && strcmp(owner_id, x->user_id) == 0);
}

static bool matches(const sub *x, const char *topic, size_t len)
{
    for (int i = 0; i < x->nfilter; i++)
        if (mqtt_topic_matches(x->f[i].text, x->f[i].len, topic, len)) return true;
    return false;
}

static void on_event(void *arg, const ev_event *e)
{
    mqtt_sub_hub *h = arg;
    if (e->type >= EV_TYPE_COUNT || !(h->types & (1u << e->type))) return;
    char topic[160];
    int tn = topic_of(e, topic, sizeof topic);
    if (tn <= 0 || (size_t)tn >= sizeof topic) return;
    const char *owner = e->owner_id ? e->owner_id : "";
    char *payload = NULL;
    size_t plen = 0;
    sub *next;
    for (sub *x = h->head; x; x = next) {
        next = x->next; /* a failed publish may close x (on_close frees it) */
        if (!(x->types & (1u << e->type)) || !may_see(x, owner) || !matches(x, topic, (size_t)tn))
            continue;
        if (!payload) {
            if (!(payload = render(e))) return;
            plen = strlen(payload);
        }
        int rc = mqtt_conn_publish(x->c, topic, (size_t)tn, payload, plen);
        if (rc == 0) {
            h->st.sent++;
        } else if (rc == MQTT_PUBLISH_DROPPED) {
            h->st.dropped++;
            if (x->dropped++ == 0)
                log_warn("mqtt_subscriber_behind",
                         "peer=%s user=%s token=%s queued=%zu note=\"over mqtt_sub_queue_bytes: "
                         "messages to it are dropped\"",
                         mqtt_conn_peer(x->c), x->user_id, x->prefix, mqtt_conn_queued_bytes(x->c));
        }
    }
    free(payload);
}

static bool wants(void *arg, ev_type t)
{
    const mqtt_sub_hub *h = arg;
    return t < EV_TYPE_COUNT && (h->types & (1u << t)) != 0;
}

ev_listener mqtt_sub_listener(mqtt_sub_hub *h)
{
    return (ev_listener){.on_event = on_event, .wants = wants, .arg = h};
}
