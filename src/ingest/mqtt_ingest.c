/* See mqtt_ingest.h. Error signalling: MQTT 5 clients get PUBACK reason codes (0x87 Not
 * authorized for a topic outside their tree, 0x99 Payload format invalid, 0x97 Quota
 * exceeded, also for new metric names beyond the device's series limit, 0x80 Unspecified
 * error when the store cannot commit) and keep their connection; a device over its rate limit
 * is disconnected with 0x96 Message rate too high (a DISCONNECT code: PUBACK has none for it).
 * MQTT 3.1.1 has no PUBACK reason codes, so the only signal the spec allows is closing the
 * connection; a 3.1.1 device sending a bad payload or an ACL violation, or whose points could
 * not be committed, is disconnected (mqtt_conn_puback does this for any failure reason).
 * Nothing of the message is stored in any of these cases. */
#include "ingest/mqtt_ingest.h"

#include "core/log.h"
#include "mqtt/mqtt_codec.h"
#include "core/server.h"
#include "ingest/decode_json.h"
#include "ingest/devstate.h"
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct paused {
    struct paused *next;
    mqtt_conn *c;
} paused;

typedef struct {
    mqtt_conn *c;
    uint16_t packet_id;
} pending_puback;

/* Connections paused by back-pressure hang off the server (one MQTT listener per server). */
static paused **paused_list(server *s)
{
    return (paused **)&s->mqtt_paused;
}

static uint8_t on_connect(void *ud, mqtt_conn *c, const mqtt_connect_info *info)
{
    server *s = ud;
    const char *peer = mqtt_conn_peer(c);
    char device_id[UUID_STR_LEN + 1] = "";
    if (info->username && info->username_len == UUID_STR_LEN) {
        memcpy(device_id, info->username, UUID_STR_LEN);
        device_id[UUID_STR_LEN] = '\0';
    }
    if (s->stopping) {
        s->m.rejected[TRANSPORT_MQTT][REJECT_UNAVAILABLE]++;
        return MQTT_RC_SERVER_UNAVAILABLE;
    }
    /* MQTT over TLS with a client certificate that verified against tls_client_ca_file: its
     * subject CN is the device id (as AWS IoT binds a certificate to a thing), no key needed */
    char cn[UUID_STR_LEN + 2];
    if (mqtt_conn_tls_peer_cn(c, cn, sizeof cn) == 0) {
        dev_live *dc = util_uuid_valid(cn) ? devstate_get(s->devices, cn) : NULL;
        bool names_other = device_id[0] && strcmp(device_id, cn) != 0;
        if (!dc || names_other) {
            s->m.rejected[TRANSPORT_MQTT][REJECT_AUTH]++;
            devstate_security(s->devices, dc, NULL, dc ? SEC_AUTH_FAILURE : SEC_UNKNOWN_DEVICE,
                              TRANSPORT_MQTT, peer,
                              !dc ? "client certificate CN is not a registered device id"
                                  : "client certificate is for another device than the user name");
            return MQTT_RC_NOT_AUTHORIZED;
        }
        mqtt_conn_set_data(c, dc);
        devstate_mqtt_connected(s->devices, dc, peer);
        return MQTT_RC_SUCCESS;
    }
    dev_live *d = util_uuid_valid(device_id) ? devstate_get(s->devices, device_id) : NULL;
    if (!d || !info->password) {
        s->m.rejected[TRANSPORT_MQTT][REJECT_AUTH]++;
        char detail[128];
        snprintf(detail, sizeof detail, "%s", !d ? "unknown device id in username" : "no password");
        devstate_security(s->devices, d, NULL, d ? SEC_AUTH_FAILURE : SEC_UNKNOWN_DEVICE,
                          TRANSPORT_MQTT, peer, detail);
        return MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    }
    const char *why = "";
    bool revoked = false;
    dev_live *auth = devstate_authenticate(s->devices, device_id, (const char *)info->password,
                                           info->password_len, &why, &revoked);
    if (!auth) {
        s->m.rejected[TRANSPORT_MQTT][REJECT_AUTH]++;
        devstate_security(s->devices, d, NULL, revoked ? SEC_REVOKED_KEY : SEC_AUTH_FAILURE,
                          TRANSPORT_MQTT, peer, why);
        return revoked ? MQTT_RC_NOT_AUTHORIZED : MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    }
    mqtt_conn_set_data(c, auth);
    devstate_mqtt_connected(s->devices, auth, peer);
    return MQTT_RC_SUCCESS;
}

/* The PUBACK reason for a refused PUBLISH (v5; a v3 connection is closed whatever it is). */
static uint8_t refusal_reason(ingest_status st)
{
    switch (st) {
    case INGEST_ERR_NOMEM:
    case INGEST_ERR_SERIES_LIMIT:
    case INGEST_ERR_BUS_FULL:
        return MQTT_RC_QUOTA_EXCEEDED;
    case INGEST_ERR_RATE_LIMITED:
        return MQTT_RC_MESSAGE_RATE_TOO_HIGH;
    case INGEST_ERR_UNAVAILABLE:
    case INGEST_ERR_STORAGE_FULL:
        return MQTT_RC_UNSPECIFIED_ERROR; /* "not stored, retry": v5 has nothing closer */
    case INGEST_ERR_UNAUTHORIZED:
        return MQTT_RC_NOT_AUTHORIZED;
    default:
        return MQTT_RC_PAYLOAD_FORMAT_INVALID;
    }
}

static void on_ack(void *arg, const ingest_error *err, const ingest_stored *done)
{
    (void)done;
    pending_puback *a = arg;
    /* what is not stored is never acknowledged as stored: v5 gets the reason, v3 is closed */
    mqtt_conn_puback(a->c, a->packet_id, err ? refusal_reason(err->status) : MQTT_RC_SUCCESS,
                     err ? err->msg : NULL);
    mqtt_conn_unref(a->c);
    free(a);
}

/* Refuses one PUBLISH: v5 QoS 1 gets a PUBACK reason, v3 a disconnect, a rate limit a DISCONNECT
 * on both; a refused v5 QoS 0 message has nothing to answer and is dropped. */
static void refuse(mqtt_conn *c, const mqtt_publish_info *pub, uint8_t reason, const char *msg)
{
    if (reason == MQTT_RC_MESSAGE_RATE_TOO_HIGH) /* a DISCONNECT code (not a PUBACK one) */
        mqtt_conn_disconnect(c, reason);
    else if (mqtt_conn_version(c) == 5 && pub->qos == 1)
        mqtt_conn_puback(c, pub->packet_id, reason, msg);
    else if (mqtt_conn_version(c) != 5)
        mqtt_conn_disconnect(c, reason);
}

static bool topic_allowed(const dev_live *d, const char *topic, size_t len)
{
    char want[80];
    int n = snprintf(want, sizeof want, "devices/%s/telemetry", d->id);
    return (size_t)n == len && memcmp(topic, want, len) == 0;
}

static void on_publish(void *ud, mqtt_conn *c, const mqtt_publish_info *pub)
{
    server *s = ud;
    dev_live *d = mqtt_conn_get_data(c);
    const char *peer = mqtt_conn_peer(c);
    if (!d || d->deleted) {
        s->m.rejected[TRANSPORT_MQTT][REJECT_AUTH]++;
        refuse(c, pub, MQTT_RC_NOT_AUTHORIZED, "device no longer exists");
        return;
    }
    if (!topic_allowed(d, pub->topic, pub->topic_len)) {
        s->m.rejected[TRANSPORT_MQTT][REJECT_ACL]++;
        char detail[200];
        snprintf(detail, sizeof detail, "publish to '%.*s'",
                 (int)(pub->topic_len < 120 ? pub->topic_len : 120), pub->topic);
        devstate_security(s->devices, d, NULL, SEC_ACL_VIOLATION, TRANSPORT_MQTT, peer, detail);
        refuse(c, pub, MQTT_RC_NOT_AUTHORIZED, "publish only to devices/{your id}/telemetry");
        return;
    }
    ingest_batch b;
    ingest_batch_init(&b, (size_t)s->cfg.max_batch_points);
    ingest_error err = {0};
    ingest_status st =
        ingest_decode_json((const char *)pub->payload, pub->payload_len, util_now_ms(), &b, &err);
    pending_puback *a = NULL;
    if (st == INGEST_OK && pub->qos == 1) {
        a = malloc(sizeof *a);
        if (!a) st = ingest_fail(&err, INGEST_ERR_NOMEM, 0, "out of memory");
    }
    if (st == INGEST_OK) {
        if (a) {
            a->c = c;
            a->packet_id = pub->packet_id;
            mqtt_conn_ref(c);
        }
        st = ingest_submit(s, d, &b, TRANSPORT_MQTT, peer, pub->payload_len, a ? on_ack : NULL, a,
                           &err);
        if (st != INGEST_OK && a) {
            mqtt_conn_unref(c);
            free(a);
        }
    } else {
        ingest_reject(s, d, TRANSPORT_MQTT, peer, &err);
    }
    ingest_batch_free(&b);
    if (st != INGEST_OK) {
        refuse(c, pub, refusal_reason(st), err.msg);
        return;
    }
    if (ingest_overloaded(s)) {
        paused *p = malloc(sizeof *p);
        if (p) {
            p->c = c;
            p->next = *paused_list(s);
            *paused_list(s) = p;
            mqtt_conn_ref(c);
            mqtt_conn_pause(c);
            s->m.backpressure_pauses++;
        }
    }
}

static void on_close(void *ud, mqtt_conn *c, mqtt_close_reason why)
{
    server *s = ud;
    dev_live *d = mqtt_conn_get_data(c);
    if (d && !d->deleted) {
        char reason[48];
        snprintf(reason, sizeof reason, "mqtt closed (%s)", mqtt_close_reason_name(why));
        devstate_mqtt_disconnected(s->devices, d, reason);
    }
    mqtt_conn_set_data(c, NULL);
}

void mqtt_ingest_resume_all(server *s)
{
    paused *p = *paused_list(s);
    *paused_list(s) = NULL;
    while (p) {
        paused *next = p->next;
        mqtt_conn_resume(p->c);
        mqtt_conn_unref(p->c);
        free(p);
        p = next;
    }
}

/* The device's last will (its connection ended without a normal DISCONNECT): a device event
 * "will" with the topic and payload, next to the "offline" that on_close records. */
static void on_will(void *ud, mqtt_conn *c, const mqtt_will_info *w, mqtt_close_reason why)
{
    server *s = ud;
    dev_live *d = mqtt_conn_get_data(c);
    if (!d || d->deleted) return;
    char topic[130], payload[64], detail[256];
    size_t n = 0; /* the topic in full (up to 128 bytes), made safe to echo */
    for (size_t i = 0; i < w->topic_len && n + 1 < sizeof topic; i++) {
        unsigned char ch = (unsigned char)w->topic[i];
        topic[n++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    topic[n] = '\0';
    ingest_msg_quote(payload, sizeof payload, (const char *)w->payload, w->payload_len);
    snprintf(detail, sizeof detail, "topic=\"%s\" payload=\"%s\" bytes=%zu reason=%s", topic,
             payload, w->payload_len, mqtt_close_reason_name(why));
    devstate_event(s->devices, d, "device", "will", TRANSPORT_MQTT, mqtt_conn_peer(c), detail);
}

const mqtt_callbacks *mqtt_ingest_callbacks(void)
{
    static const mqtt_callbacks cb = {.on_connect = on_connect,
                                      .on_publish = on_publish,
                                      .on_close = on_close,
                                      .on_will = on_will};
    return &cb;
}
