/* The simulated device fleet (`iotad serve --simulate`), start and stop. On the server's loop
 * thread, sim_start makes sure cfg.sim_devices devices marked "simulated":true exist (creating
 * the missing ones, owned by the first Admin, spread evenly over six device types and six
 * sites), revokes the API keys the previous run created and creates a fresh one per device,
 * all in one transaction, then starts one thread (sim_client.c) with its own uv_loop_t that
 * behaves as external devices over loopback sockets. sim_stop wakes that loop with a uv_async,
 * joins the thread and frees everything. */
#include "sim/sim.h"

#include "core/log.h"
#include "core/server.h"
#include "http/http_server.h"
#include "ingest/devstate.h"
#include "mqtt/mqtt_server.h"
#include "sim/sim_int.h"
#include "store/audit.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_REVOKED_KEEP_MS (7 * 86400000LL) /* revoked simulator keys older than this go */

/* The transport of the index-th device: 7 in 10 publish over MQTT. */
static bool index_uses_mqtt(size_t i)
{
    size_t r = i % 10;
    return r != 3 && r != 6 && r != 9;
}

static uint32_t mix32(size_t i)
{
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(x >> 33);
}

/* 127.1.0.1 upwards, one loopback address per device (127.0.0.0/8 is all loopback). */
static void home_address(size_t i, struct sockaddr_in *out)
{
    size_t a = i / 250, b = i % 250 + 1;
    char ip[32];
    snprintf(ip, sizeof ip, "127.%zu.%zu.%zu", 1 + (a / 250) % 250, a % 250, b);
    uv_ip4_addr(ip, 0, out);
}

/* Where a listener bound to listen_addr ("0.0.0.0:1883", "[::]:1883", "127.0.0.1:0") is
 * reached locally. Returns true when it is an IPv4 loopback address. */
static bool target_address(const char *listen_addr, int port, struct sockaddr_storage *out,
                           char *host_out, size_t host_cap)
{
    char host[CONFIG_STR_MAX];
    const char *colon = strrchr(listen_addr, ':');
    size_t n = colon ? (size_t)(colon - listen_addr) : strlen(listen_addr);
    if (n >= sizeof host) n = sizeof host - 1;
    memcpy(host, listen_addr, n);
    host[n] = '\0';
    memset(out, 0, sizeof *out);
    if (host[0] == '[') {
        char *end = strchr(host, ']');
        if (end) *end = '\0';
        const char *h6 = host + 1;
        if (strcmp(h6, "::") == 0 || h6[0] == '\0') h6 = "::1";
        if (uv_ip6_addr(h6, port, (struct sockaddr_in6 *)out) == 0) {
            if (snprintf(host_out, host_cap, "[%s]:%d", h6, port) >= (int)host_cap)
                host_out[host_cap - 1] = '\0'; /* cut: only used in log lines */
            return false;
        }
    }
    const char *h4 = host;
    struct sockaddr_in probe;
    if (h4[0] == '\0' || strcmp(h4, "0.0.0.0") == 0 || uv_ip4_addr(h4, port, &probe) != 0)
        h4 = "127.0.0.1"; /* wildcard or a host name: the loopback interface */
    uv_ip4_addr(h4, port, (struct sockaddr_in *)out);
    if (snprintf(host_out, host_cap, "%s:%d", h4, port) >= (int)host_cap)
        host_out[host_cap - 1] = '\0'; /* cut: only used in log lines */
    return strncmp(h4, "127.", 4) == 0;
}

/* Inserts a key row for a device, retrying on the (unlikely) prefix collision. */
static int create_key(store *st, const char *device_id, const char *owner, char *key, size_t keycap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        char prefix[16], hash[65], id[UUID_STR_LEN + 1];
        if (auth_apikey_new(key, keycap, prefix, hash) != 0) return -1;
        util_uuid7(id);
        int rc = STORE_DEVICES(st)->key_create(st, id, device_id, SIM_KEY_NAME, prefix, hash, owner,
                                               util_now_ms());
        if (rc != STORE_ECONSTRAINT) return rc;
    }
    return -1;
}

static int create_device(store *st, size_t index, const char *owner, char id[UUID_STR_LEN + 1])
{
    sim_meta meta;
    sim_device_meta(index, &meta);
    cJSON *attrs = cJSON_CreateObject();
    if (!attrs) return -1;
    cJSON_AddBoolToObject(attrs, "simulated", 1);
    cJSON_AddNumberToObject(attrs, "sim_index", (double)index);
    cJSON_AddStringToObject(attrs, "vendor", meta.vendor);
    cJSON_AddStringToObject(attrs, "model", meta.model);
    cJSON_AddStringToObject(attrs, "site", meta.site->name);
    cJSON_AddStringToObject(attrs, "transport", index_uses_mqtt(index) ? "mqtt" : "http");
    char *text = cJSON_PrintUnformatted(attrs);
    cJSON_Delete(attrs);
    if (!text) return -1;
    util_uuid7(id);
    int64_t now = util_now_ms();
    store_device_fields f = {.owner_id = owner,
                             .name = meta.name,
                             .type = sim_type_name(meta.type),
                             .location = meta.location,
                             .firmware = meta.firmware,
                             .attributes = text};
    int rc = STORE_DEVICES(st)->create(st, id, &f, now);
    free(text);
    return rc;
}

/* Fills sm->devs[i].id/type/key: finds or creates the devices and their fresh keys. */
static int provision(server *s, struct sim *sm)
{
    store *st = s->st;
    char owner[UUID_STR_LEN + 1];
    if (STORE_USERS(st)->first_admin(st, owner, sizeof owner) != STORE_OK) {
        log_error("sim_no_admin", "%s", "");
        return -1;
    }
    cJSON *existing = STORE_DEVICES(st)->simulated(st);
    cJSON *revoke = STORE_DEVICES(st)->sim_keys_live(st, SIM_KEY_NAME);
    bool *created = calloc(sm->ndev, sizeof *created);
    int rc = -1;
    size_t ncreated = 0;
    if (!existing || !revoke || !created) goto out;
    const cJSON *row;
    cJSON_ArrayForEach(row, existing)
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(row, "idx");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "id");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(row, "type");
        if (!cJSON_IsNumber(idx) || !cJSON_IsString(id) || idx->valuedouble < 0 ||
            idx->valuedouble >= (double)sm->ndev)
            continue;
        sim_dev *d = &sm->devs[(size_t)idx->valuedouble];
        if (d->id[0] || !util_uuid_valid(id->valuestring)) continue; /* first one wins */
        snprintf(d->id, sizeof d->id, "%s", id->valuestring);
        sim_type t;
        if (cJSON_IsString(type) && sim_type_parse(type->valuestring, &t) == 0) d->type = t;
    }
    if (store_begin(st) != STORE_OK) goto out;
    int64_t now = util_now_ms();
    if (STORE_DEVICES(st)->sim_keys_retire(st, SIM_KEY_NAME, now, SIM_REVOKED_KEEP_MS) != STORE_OK)
        goto rollback;
    for (size_t i = 0; i < sm->ndev; i++) {
        sim_dev *d = &sm->devs[i];
        if (!d->id[0]) {
            if (create_device(st, i, owner, d->id) != 0) goto rollback;
            created[i] = true;
            ncreated++;
        }
        if (create_key(st, d->id, owner, d->key, sizeof d->key) != 0) goto rollback;
    }
    if (store_commit(st) != STORE_OK) goto rollback;
    cJSON_ArrayForEach(row, revoke)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(row, "prefix");
        if (cJSON_IsString(p)) devstate_forget_key(s->devices, p->valuestring);
    }
    for (size_t i = 0; i < sm->ndev; i++)
        if (created[i]) devstate_add(s->devices, sm->devs[i].id, owner);
    /* a fleet made now has no history: send some first (sim_backfill.c) */
    if (ncreated == sm->ndev) sm->backfill_days = (int)s->cfg.sim_backfill_days;
    char detail[96];
    snprintf(detail, sizeof detail, "devices=%zu created=%zu keys_revoked=%d", sm->ndev, ncreated,
             cJSON_GetArraySize(revoke));
    audit_append(s->st, "system", "sim.provision", "", detail, NULL);
    log_info("sim_provisioned", "%s", detail);
    rc = 0;
    goto out;
rollback:
    store_rollback(st);
    log_error("sim_provision_failed", "devices=%zu", sm->ndev);
out:
    cJSON_Delete(existing);
    cJSON_Delete(revoke);
    free(created);
    return rc;
}

static void free_sim(struct sim *sm)
{
    if (!sm) return;
    for (size_t i = 0; sm->devs && i < sm->ndev; i++) {
        explicit_bzero(sm->devs[i].key, sizeof sm->devs[i].key);
        free(sm->devs[i].qts);
        free(sm->devs[i].q);
    }
    free(sm->devs);
    free(sm);
}

static int setup_devices(struct sim *sm)
{
    uint64_t salt;
    if (util_random(&salt, sizeof salt) != 0) return -1;
    sim_rng_seed(&sm->rng, salt);
    for (size_t i = 0; i < sm->ndev; i++) {
        sim_dev *d = &sm->devs[i];
        sim_meta meta;
        sim_device_meta(i, &meta);
        d->sim = sm;
        d->index = i;
        snprintf(d->name, sizeof d->name, "%s", meta.name);
        snprintf(d->topic, sizeof d->topic, "devices/%s/telemetry", d->id);
        d->mqtt = index_uses_mqtt(i);
        uint32_t h = mix32(i);
        d->version = (h & 1) ? 5 : 4;
        d->qos = (h >> 1) % 5 == 0 ? 0 : 1;   /* one in five publishes at QoS 0 */
        d->batch = (h >> 4) % 3 == 0 ? 3 : 1; /* a third of the HTTP devices batch */
        /* per-device parameters are stable across restarts; the behaviour is not */
        sim_model_init(&d->model, d->type, meta.site, sim_hash(d->id));
        sim_rng_seed(&d->rng, sim_hash(d->id) ^ salt);
        home_address(i, &d->home);
        d->backoff_ms = SIM_BACKOFF_MIN_MS;
        if (!d->mqtt) {
            d->qts = calloc(SIM_HTTP_QUEUE, sizeof *d->qts);
            d->q = calloc(SIM_HTTP_QUEUE, sizeof *d->q);
            if (!d->qts || !d->q) return -1;
        }
    }
    return 0;
}

int sim_start(struct server *s, sim **out)
{
    *out = NULL;
    struct sim *sm = calloc(1, sizeof *sm);
    if (!sm) return -1;
    sm->ndev = (size_t)(s->cfg.sim_devices > 0 ? s->cfg.sim_devices : 60);
    sm->devs = calloc(sm->ndev, sizeof *sm->devs);
    if (!sm->devs) goto fail;
    for (size_t i = 0; i < sm->ndev; i++)
        sm->devs[i].type = (sim_type)(i % SIM_TYPE_COUNT);
    if (provision(s, sm) != 0 || setup_devices(sm) != 0) goto fail;
    char mqtt_host[80];
    bool b1 = target_address(s->cfg.mqtt_listen, mqtt_server_port(s->mqtt), &sm->mqtt_addr,
                             mqtt_host, sizeof mqtt_host);
    bool b2 = target_address(s->cfg.http_listen, http_server_port(s->http), &sm->http_addr,
                             sm->http_host, sizeof sm->http_host);
    sm->bind_sources = b1 && b2;
    if (sim_client_init(sm) != 0) goto fail;
    if (uv_thread_create(&sm->thread, sim_client_thread, sm) != 0) {
        log_error("sim_thread_failed", "%s", "");
        sim_client_abort(sm); /* never ran: closes the handles and the loop here */
        goto fail;
    }
    sm->thread_started = true;
    size_t nmqtt = 0;
    for (size_t i = 0; i < sm->ndev; i++)
        nmqtt += sm->devs[i].mqtt;
    log_info("sim_started",
             "devices=%zu mqtt=%zu http=%zu interval_ms=%d mqtt_target=%s http_target=%s "
             "sources=%s",
             sm->ndev, nmqtt, sm->ndev - nmqtt, SIM_INTERVAL_MS, mqtt_host, sm->http_host,
             sm->bind_sources ? "per-device" : "default");
    *out = sm;
    return 0;
fail:
    free_sim(sm);
    return -1;
}

void sim_stop(sim *sm)
{
    if (!sm) return;
    int64_t t0 = util_mono_ns();
    if (sm->thread_started) {
        sim_client_request_stop(sm);
        uv_thread_join(&sm->thread);
    }
    uint64_t sent = 0, acked = 0, rejected = 0, dropped = 0;
    for (size_t i = 0; i < sm->ndev; i++) {
        sent += sm->devs[i].sent;
        acked += sm->devs[i].acked;
        rejected += sm->devs[i].rejected;
        dropped += sm->devs[i].dropped;
    }
    log_info("sim_stopped", "sent=%llu acked=%llu rejected=%llu dropped=%llu stop_ms=%lld",
             (unsigned long long)sent, (unsigned long long)acked, (unsigned long long)rejected,
             (unsigned long long)dropped, (long long)((util_mono_ns() - t0) / 1000000));
    free_sim(sm);
}
