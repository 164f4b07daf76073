/* The simulator thread: its own uv_loop_t, and for every simulated device a real external
 * client over loopback TCP. MQTT devices keep one connection (CONNECT with username = device
 * id and password = API key, PUBLISH to devices/{id}/telemetry at QoS 1 or 0, PINGREQ when
 * idle, reconnect with jittered exponential backoff); HTTP devices POST to /api/v1/ingest with
 * X-API-Key over one keep-alive connection, one sample or a small batch per request. Each
 * device binds its socket to its own loopback address (127.1.x.y) so the server sees one
 * source per device.
 *
 * A 100 ms timer drives everything: sampling (every SIM_INTERVAL_MS, jittered), connection
 * timeouts and keep-alives, a once-a-second fault draw per device, and a short opening
 * schedule of attack-like events so that a fresh start shows security events within half a
 * minute. Each injected fault is logged as msg=sim_fault with the device and kind.
 *
 * Nothing here touches the server's state: the only link is the sockets. Every connection is
 * one malloc'd sim_conn on sm->conns, freed in its close callback; stopping closes them all,
 * after which uv_run returns. */
#include "core/log.h"
#include "sim/sim_int.h"
#include "sim/sim_proto.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CONN_DEVICE, CONN_PROBE } conn_kind;
typedef enum { CS_CONNECTING, CS_HANDSHAKE, CS_READY, CS_CLOSING } conn_state;

struct sim_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    struct sim *sm;
    sim_dev *dev; /* the device it belongs to (a probe: the device it attacks) */
    conn_kind kind;
    conn_state state;
    bool http;
    int version;
    bool busy; /* HTTP: a request awaits its response */
    size_t busy_points;
    uint64_t since, last_tx;
    size_t rlen;
    uint8_t rbuf[SIM_RBUF];
    sim_conn *prev, *next;
};

typedef struct {
    uv_write_t req; /* first: the callback casts back */
    sim_conn *c;
    uint8_t data[];
} wreq;

#define SIM_WRITE_QUEUE_MAX 65536 /* bytes unsent before a device drops samples */

static uint64_t now_ms(struct sim *sm)
{
    return uv_now(&sm->loop);
}

static uint64_t jitter(sim_dev *d, uint64_t base)
{
    return (uint64_t)((double)base * sim_rng_range(&d->rng, 0.9, 1.1));
}

static uint64_t rand_between(sim_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + sim_rng_next(r) % (hi - lo + 1);
}

static void addr_name(const struct sockaddr_in *a, char *out, size_t cap)
{
    if (uv_ip4_name(a, out, cap) != 0) snprintf(out, cap, "?");
}

/* ---- Connections ---- */

static void on_closed(uv_handle_t *h)
{
    sim_conn *c = h->data;
    struct sim *sm = c->sm;
    if (c->prev)
        c->prev->next = c->next;
    else
        sm->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
}

static void conn_close(sim_conn *c, const char *why)
{
    if (c->state == CS_CLOSING) return;
    c->state = CS_CLOSING;
    struct sim *sm = c->sm;
    sim_dev *d = c->dev;
    if (c->kind == CONN_DEVICE && d->conn == c) {
        d->conn = NULL;
        d->inflight = 0;
        if (c->busy) d->dropped += c->busy_points;
        if (d->mqtt && !sm->stopping) {
            uint32_t b = d->backoff_ms;
            d->reconnect_at = now_ms(sm) + b / 2 + sim_rng_next(&d->rng) % (b / 2 + 1);
            d->backoff_ms = b * 2 > SIM_BACKOFF_MAX_MS ? SIM_BACKOFF_MAX_MS : b * 2;
        }
        log_debug("sim_disconnected", "device=%s why=%s", d->id, why);
    }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    sim_conn *c = w->c;
    free(w);
    if (status < 0) conn_close(c, uv_err_name(status)); /* no-op when already closing */
}

/* Queues bytes on the connection (copied). 0 ok; on failure the connection is closed. */
static int conn_write(sim_conn *c, const void *data, size_t len)
{
    if (c->state == CS_CLOSING) return -1;
    wreq *w = malloc(sizeof *w + len);
    if (!w) {
        conn_close(c, "out of memory");
        return -1;
    }
    w->c = c;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc != 0) {
        free(w);
        conn_close(c, uv_err_name(rc));
        return -1;
    }
    c->last_tx = now_ms(c->sm);
    return 0;
}

static bool conn_congested(sim_conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > SIM_WRITE_QUEUE_MAX;
}

static void http_flush(sim_dev *d, uint64_t now);

/* A guessed password: the device's real key prefix with a random secret, or a common one. */
static void wrong_password(sim_dev *d, char *out, size_t cap)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const char *const common[] = {"admin", "123456", "password", "iotad", "default", "root"};
    if (sim_rng_uniform(&d->rng) < 0.6 && cap > AUTH_APIKEY_LEN) {
        memcpy(out, d->key, 6 + AUTH_APIKEY_PREFIX_LEN + 1); /* "iotad_" prefix "_" */
        size_t pos = 6 + AUTH_APIKEY_PREFIX_LEN + 1;
        for (int i = 0; i < AUTH_APIKEY_SECRET_LEN; i++)
            out[pos++] = b62[sim_rng_next(&d->rng) % 62];
        out[pos] = '\0';
    } else {
        snprintf(out, cap, "%s", common[sim_rng_next(&d->rng) % 6]);
    }
}

static void send_mqtt_connect(sim_conn *c)
{
    sim_dev *d = c->dev;
    uint8_t pkt[512];
    size_t n;
    if (c->kind == CONN_PROBE) {
        char client_id[32], password[AUTH_APIKEY_MAX_LEN + 1];
        snprintf(client_id, sizeof client_id, "probe-%08x", (unsigned)sim_rng_next(&d->rng));
        wrong_password(d, password, sizeof password);
        n = sim_mqtt_connect(pkt, sizeof pkt, c->version, client_id, d->id, password, 10);
    } else {
        n = sim_mqtt_connect(pkt, sizeof pkt, c->version, d->id, d->id, d->key, SIM_KEEPALIVE_S);
    }
    c->state = CS_HANDSHAKE;
    c->since = now_ms(c->sm);
    if (n == 0) {
        conn_close(c, "connect packet too large");
        return;
    }
    conn_write(c, pkt, n);
}

static void on_connected(uv_connect_t *req, int status);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Opens a connection for d (a device's own, which becomes d->conn, or a probe). src is the
 * source address to bind when the targets are on loopback. */
static void conn_open(sim_dev *d, conn_kind kind, const struct sockaddr_in *src)
{
    struct sim *sm = d->sim;
    sim_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    if (uv_tcp_init(&sm->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->sm = sm;
    c->dev = d;
    c->kind = kind;
    c->http = kind == CONN_DEVICE && !d->mqtt;
    c->version = kind == CONN_PROBE ? (sim_rng_uniform(&d->rng) < 0.5 ? 4 : 5) : d->version;
    c->state = CS_CONNECTING;
    c->since = c->last_tx = now_ms(sm);
    c->tcp.data = c;
    c->creq.data = c;
    c->next = sm->conns;
    if (sm->conns) sm->conns->prev = c;
    sm->conns = c;
    if (kind == CONN_DEVICE) d->conn = c;
    if (sm->bind_sources && src) {
        int rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)src, 0);
        if (rc != 0) {
            char ip[INET_ADDRSTRLEN];
            addr_name(src, ip, sizeof ip);
            log_warn("sim_bind_failed", "device=%s addr=%s err=%s", d->id, ip, uv_err_name(rc));
        }
    }
    const struct sockaddr *dst =
        (const struct sockaddr *)(c->http ? &sm->http_addr : &sm->mqtt_addr);
    int rc = uv_tcp_connect(&c->creq, &c->tcp, dst, on_connected);
    if (rc != 0) {
        log_debug("sim_connect_failed", "device=%s err=%s", d->id, uv_err_name(rc));
        conn_close(c, uv_err_name(rc));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
}

static void open_device_conn(sim_dev *d)
{
    const struct sockaddr_in *src = d->alt_source ? &d->alt : &d->home;
    d->alt_source = false;
    conn_open(d, CONN_DEVICE, src);
}

static void on_connected(uv_connect_t *req, int status)
{
    sim_conn *c = req->data;
    if (c->state == CS_CLOSING) return; /* includes UV_ECANCELED */
    if (status < 0) {
        log_debug("sim_connect_failed", "device=%s err=%s", c->dev->id, uv_err_name(status));
        conn_close(c, uv_err_name(status));
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        conn_close(c, uv_err_name(rc));
        return;
    }
    if (c->http) {
        c->state = CS_READY;
        c->since = now_ms(c->sm);
        http_flush(c->dev, now_ms(c->sm));
        return;
    }
    send_mqtt_connect(c);
}

/* ---- Incoming ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sim_conn *c = h->data;
    buf->base = (char *)c->rbuf + c->rlen;
    buf->len = SIM_RBUF - c->rlen; /* 0 when full: libuv then reports UV_ENOBUFS */
}

static int mqtt_input(sim_conn *c, size_t off)
{
    sim_mqtt_packet pkt;
    int used = sim_mqtt_parse(c->rbuf + off, c->rlen - off, c->version, &pkt);
    if (used <= 0) return used;
    sim_dev *d = c->dev;
    switch (pkt.type) {
    case SIM_MQTT_CONNACK:
        if (c->state != CS_HANDSHAKE) return -1;
        if (c->kind == CONN_PROBE) {
            if (sim_mqtt_connack_ok(pkt.rc))
                log_warn("sim_probe_accepted", "device=%s detail=\"a wrong password was accepted\"",
                         d->id);
            conn_close(c, "probe answered");
            break;
        }
        if (!sim_mqtt_connack_ok(pkt.rc)) {
            log_warn("sim_connect_refused", "device=%s rc=0x%02x", d->id, pkt.rc);
            d->rejected++;
            conn_close(c, "connack refused");
            break;
        }
        c->state = CS_READY;
        d->backoff_ms = SIM_BACKOFF_MIN_MS;
        log_debug("sim_connected", "device=%s transport=mqtt%d", d->id, c->version == 5 ? 5 : 3);
        break;
    case SIM_MQTT_PUBACK:
        if (c->kind != CONN_DEVICE) break;
        if (d->inflight > 0) d->inflight--;
        if (pkt.rc >= 0x80) {
            d->rejected++;
            log_debug("sim_puback_refused", "device=%s rc=0x%02x", d->id, pkt.rc);
        } else {
            d->acked++;
        }
        break;
    case SIM_MQTT_DISCONNECT:
        log_debug("sim_server_disconnect", "device=%s rc=0x%02x", d->id, pkt.rc);
        conn_close(c, "server disconnect");
        break;
    default:
        break;
    }
    return used;
}

static int http_input(sim_conn *c, size_t off)
{
    int status = 0;
    bool keep_alive = true;
    int used = sim_http_response((const char *)c->rbuf + off, c->rlen - off, &status, &keep_alive);
    if (used <= 0) return used;
    sim_dev *d = c->dev;
    if (!c->busy) return -1; /* a response nobody asked for */
    c->busy = false;
    if (status >= 200 && status < 300) {
        d->acked += c->busy_points;
    } else {
        d->rejected++;
        if (c->busy_points) d->dropped += c->busy_points;
        log_debug("sim_http_refused", "device=%s status=%d", d->id, status);
    }
    c->busy_points = 0;
    if (!keep_alive || d->alt_source)
        conn_close(c, keep_alive ? "new source" : "server closes");
    else
        http_flush(d, now_ms(c->sm));
    return used;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    sim_conn *c = s->data;
    if (c->state == CS_CLOSING || n == 0) return;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? "eof" : uv_err_name((int)n));
        return;
    }
    c->rlen += (size_t)n;
    size_t off = 0;
    while (c->state != CS_CLOSING && off < c->rlen) {
        int used = c->http ? http_input(c, off) : mqtt_input(c, off);
        if (used < 0) {
            log_warn("sim_protocol_error", "device=%s transport=%s", c->dev->id,
                     c->http ? "http" : "mqtt");
            conn_close(c, "protocol error");
        }
        if (used <= 0) break;
        off += (size_t)used;
    }
    if (c->state != CS_CLOSING && off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

/* ---- Telemetry ---- */

static void mqtt_publish(sim_dev *d, const char *topic, int qos, const char *payload, size_t len)
{
    sim_conn *c = d->conn;
    if (!c || c->state != CS_READY || conn_congested(c) ||
        (qos == 1 && d->inflight >= SIM_MAX_INFLIGHT)) {
        d->dropped++;
        return;
    }
    uint16_t pid = 0;
    if (qos == 1) {
        pid = ++d->last_pid;
        if (pid == 0) pid = d->last_pid = 1;
    }
    uint8_t pkt[4096];
    size_t n = sim_mqtt_publish(pkt, sizeof pkt, c->version, topic, qos, pid, payload, len);
    if (n == 0) {
        d->dropped++;
        return;
    }
    if (conn_write(c, pkt, n) == 0) {
        d->sent++;
        if (qos == 1) d->inflight++;
    }
}

static void http_enqueue(sim_dev *d, int64_t ts, const sim_sample *s)
{
    if (d->nq == SIM_HTTP_QUEUE) { /* the oldest sample goes */
        memmove(d->q, d->q + 1, sizeof *d->q * (SIM_HTTP_QUEUE - 1));
        memmove(d->qts, d->qts + 1, sizeof *d->qts * (SIM_HTTP_QUEUE - 1));
        d->nq--;
        d->dropped++;
    }
    d->q[d->nq] = *s;
    d->qts[d->nq] = ts;
    d->nq++;
}

static void http_flush(sim_dev *d, uint64_t now)
{
    if (d->dropout_until) return;
    size_t want = d->burst_until > now ? 1 : d->batch;
    if (!d->bad_pending && d->nq < want) return;
    if (!d->conn) {
        open_device_conn(d); /* flushes once connected */
        return;
    }
    sim_conn *c = d->conn;
    if (c->state != CS_READY || c->busy || conn_congested(c)) return;
    char body[SIM_HTTP_QUEUE * 512];
    int len;
    size_t points = 0;
    if (d->bad_pending) {
        const char *kind, *trigger = d->bad_pending;
        d->bad_pending = NULL;
        len = sim_format_bad(body, sizeof body, &d->rng, util_now_ms(), &kind);
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=bad_payload variant=%s transport=http trigger=%s",
                 d->id, d->name, kind, trigger);
    } else {
        len = d->nq == 1 ? sim_format_sample(body, sizeof body, d->qts[0], &d->q[0])
                         : sim_format_batch(body, sizeof body, d->qts, d->q, d->nq);
        points = d->nq;
        d->nq = 0;
    }
    if (len < 0) {
        d->dropped += points;
        return;
    }
    char req[512 + sizeof body];
    size_t hdr =
        sim_http_request(req, 512, d->sim->http_host, "/api/v1/ingest", d->key, (size_t)len);
    if (hdr == 0) {
        d->dropped += points;
        return;
    }
    memcpy(req + hdr, body, (size_t)len);
    if (conn_write(c, req, hdr + (size_t)len) != 0) {
        d->dropped += points;
        return;
    }
    c->busy = true;
    c->busy_points = points;
    c->since = now;
    d->sent++;
}

static sim_dev *pick_other(struct sim *sm, sim_dev *d)
{
    if (sm->ndev < 2) return NULL;
    size_t j = (size_t)(sim_rng_next(&d->rng) % (sm->ndev - 1));
    return &sm->devs[j >= d->index ? j + 1 : j];
}

static void take_sample(sim_dev *d, uint64_t now)
{
    bool burst = d->burst_until > now;
    uint64_t period = burst ? SIM_INTERVAL_MS / SIM_BURST_FACTOR : SIM_INTERVAL_MS;
    d->next_sample += jitter(d, period);
    if (d->next_sample <= now) d->next_sample = now + jitter(d, period);
    int64_t ts = util_now_ms();
    sim_sample s;
    sim_model_step(&d->model, ts, &s);
    if (!d->mqtt) {
        http_enqueue(d, ts, &s);
        http_flush(d, now);
        return;
    }
    char payload[2048];
    const char *topic = d->topic;
    int qos = d->qos, len;
    if (d->bad_pending && d->conn && d->conn->state == CS_READY) {
        const char *kind, *trigger = d->bad_pending;
        d->bad_pending = NULL;
        len = sim_format_bad(payload, sizeof payload, &d->rng, ts, &kind);
        qos = 1;
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=bad_payload variant=%s transport=mqtt%d trigger=%s",
                 d->id, d->name, kind, d->version == 5 ? 5 : 3, trigger);
    } else {
        len = sim_format_sample(payload, sizeof payload, ts, &s);
        sim_dev *other = d->acl_pending ? pick_other(d->sim, d) : NULL;
        if (other && d->conn && d->conn->state == CS_READY) {
            const char *trigger = d->acl_pending;
            d->acl_pending = NULL;
            topic = other->topic;
            qos = 1;
            log_info("sim_fault",
                     "device=%s name=\"%s\" kind=acl_violation topic=%s transport=mqtt%d "
                     "trigger=%s",
                     d->id, d->name, topic, d->version == 5 ? 5 : 3, trigger);
        }
    }
    if (len < 0) {
        d->dropped++;
        return;
    }
    mqtt_publish(d, topic, qos, payload, (size_t)len);
}

/* ---- Faults ---- */

static void random_loopback(sim_rng *r, uint32_t lo, uint32_t hi, struct sockaddr_in *out,
                            char *name, size_t cap)
{
    snprintf(name, cap, "127.0.0.%u", (unsigned)rand_between(r, lo, hi));
    uv_ip4_addr(name, 0, out);
}

/* metric: a data fault's metric (index into the type's metrics), -1 = drawn */
static void start_fault(sim_dev *d, sim_fault kind, int metric, uint64_t now, const char *trigger)
{
    char ip[INET_ADDRSTRLEN];
    switch (kind) {
    case SIM_FAULT_SPIKE:
    case SIM_FAULT_LEVEL_SHIFT:
    case SIM_FAULT_STUCK:
    case SIM_FAULT_DRIFT: {
        sim_fault_info fi;
        if (sim_model_fault_on(&d->model, kind, metric, util_now_ms(), &fi) != 0) return;
        int n;
        const sim_metric_desc *md = sim_metrics(d->type, &n);
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=%s metric=%s magnitude=%.3f duration_s=%lld "
                 "trigger=%s",
                 d->id, d->name, sim_fault_name(kind), md[fi.metric].name, fi.magnitude,
                 (long long)((fi.end_ms - fi.start_ms) / 1000), trigger);
        break;
    }
    case SIM_FAULT_DROPOUT: {
        uint64_t dur = rand_between(&d->rng, 150000, 360000);
        d->dropout_until = now + dur;
        d->dropped += d->nq;
        d->nq = 0;
        if (d->conn) conn_close(d->conn, "dropout"); /* the link dies: no DISCONNECT */
        log_info("sim_fault", "device=%s name=\"%s\" kind=dropout duration_s=%llu trigger=%s",
                 d->id, d->name, (unsigned long long)(dur / 1000), trigger);
        break;
    }
    case SIM_FAULT_AUTH_BURST:
        d->probes_left = (int)rand_between(&d->rng, 6, 15);
        d->next_probe = now;
        random_loopback(&d->rng, 100, 250, &d->probe_src, ip, sizeof ip);
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=auth_burst attempts=%d from=%s trigger=%s", d->id,
                 d->name, d->probes_left, ip, trigger);
        break;
    case SIM_FAULT_ACL: /* logged when sent */
        d->acl_pending = trigger;
        break;
    case SIM_FAULT_BAD_PAYLOAD: /* logged when sent */
        d->bad_pending = trigger;
        break;
    case SIM_FAULT_RATE_BURST: {
        uint64_t dur = rand_between(&d->rng, 60000, 180000);
        d->burst_until = now + dur;
        d->next_sample = now;
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=rate_burst factor=%d duration_s=%llu trigger=%s",
                 d->id, d->name, SIM_BURST_FACTOR, (unsigned long long)(dur / 1000), trigger);
        break;
    }
    case SIM_FAULT_NEW_SOURCE:
        random_loopback(&d->rng, 20, 99, &d->alt, ip, sizeof ip);
        d->alt_source = true;
        log_info("sim_fault",
                 "device=%s name=\"%s\" kind=new_source from=%s transport=%s trigger=%s", d->id,
                 d->name, ip, d->mqtt ? "mqtt" : "http", trigger);
        if (d->conn && !(d->conn->http && d->conn->busy)) {
            if (!d->conn->http && d->conn->state == CS_READY) {
                uint8_t pkt[4];
                size_t n = sim_mqtt_disconnect(pkt, sizeof pkt, d->conn->version);
                conn_write(d->conn, pkt, n);
            }
            if (d->conn) conn_close(d->conn, "new source");
            d->reconnect_at = now + 500;
            d->backoff_ms = SIM_BACKOFF_MIN_MS;
        }
        break;
    default:
        break;
    }
}

/* The first minutes of every run: one of each security-relevant event in the first half
 * minute (a credential-stuffing burst, an ACL probe, ...), then the data faults the learning
 * detectors exist for (a sensor spike, a stuck sensor, a slow drift) and a device going
 * offline, so that a first run (with its backfilled history) shows the product at work. The
 * spike is on a thermostat's temperature (3-6 degrees in one sample), a fault a learned
 * detector finds wherever it happens, not on a metric that swings as widely by itself (a
 * camera's motion level, a meter's current). */
static const struct {
    uint32_t at_ms;
    sim_fault kind;
    int type;   /* a sim_type, -1 = any */
    int metric; /* index into that type's metrics, -1 = drawn */
} opening[] = {
    {10000, SIM_FAULT_AUTH_BURST, -1, -1},
    {15000, SIM_FAULT_ACL, -1, -1},
    {20000, SIM_FAULT_BAD_PAYLOAD, -1, -1},
    {25000, SIM_FAULT_NEW_SOURCE, -1, -1},
    {35000, SIM_FAULT_SPIKE, SIM_THERMOSTAT, 0},
    {50000, SIM_FAULT_STUCK, -1, -1},
    {65000, SIM_FAULT_DRIFT, -1, -1},
    {80000, SIM_FAULT_DROPOUT, -1, -1},
};

static void run_opening(struct sim *sm, uint64_t now)
{
    if ((size_t)sm->opening >= sizeof opening / sizeof opening[0]) return;
    if (now - sm->started < opening[sm->opening].at_ms) return;
    int o = sm->opening++;
    sim_fault kind = opening[o].kind;
    for (int tries = 0; tries < 100; tries++) {
        sim_dev *d = &sm->devs[sim_rng_next(&sm->rng) % sm->ndev];
        if (d->dropout_until || sim_fault_rate(kind, d->type, d->mqtt) <= 0) continue;
        if (opening[o].type >= 0 && tries < 99 && (int)d->type != opening[o].type) continue;
        start_fault(d, kind, (int)d->type == opening[o].type ? opening[o].metric : -1, now,
                    "opening");
        return;
    }
}

static void roll_faults(struct sim *sm, uint64_t now)
{
    bool warm = now - sm->started >= SIM_WARMUP_MS;
    for (size_t i = 0; i < sm->ndev; i++) {
        sim_dev *d = &sm->devs[i];
        if (d->dropout_until) continue;
        sim_fault f = sim_fault_roll(&d->rng, d->type, d->mqtt, 1.0);
        if (f == SIM_FAULT_NONE) continue;
        if (!warm && (sim_fault_is_data(f) || f == SIM_FAULT_DROPOUT)) continue;
        if (sim_fault_is_data(f) && sim_model_fault_active(&d->model)) continue;
        if (f == SIM_FAULT_RATE_BURST && d->burst_until > now) continue;
        start_fault(d, f, -1, now, "random");
    }
}

/* ---- Scheduler ---- */

static void dev_tick(sim_dev *d, uint64_t now)
{
    if (d->probes_left > 0 && now >= d->next_probe) {
        conn_open(d, CONN_PROBE, &d->probe_src);
        d->probes_left--;
        d->next_probe = now + rand_between(&d->rng, 150, 700);
    }
    if (d->dropout_until) {
        if (now < d->dropout_until) return;
        d->dropout_until = 0;
        d->next_sample = now + jitter(d, SIM_INTERVAL_MS / 2);
        d->reconnect_at = now;
        log_info("sim_fault_end", "device=%s name=\"%s\" kind=dropout", d->id, d->name);
    }
    if (d->mqtt && !d->conn && now >= d->reconnect_at) open_device_conn(d);
    if (now >= d->next_sample) take_sample(d, now);
}

static void conns_tick(struct sim *sm, uint64_t now)
{
    for (sim_conn *c = sm->conns; c; c = c->next) { /* closing unlinks only in callbacks */
        if (c->state == CS_CLOSING) continue;
        if ((c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) &&
            now - c->since > SIM_CONNECT_TIMEOUT_MS) {
            log_warn("sim_connect_timeout", "device=%s transport=%s", c->dev->id,
                     c->http ? "http" : "mqtt");
            conn_close(c, "connect timeout");
        } else if (c->http && c->busy && now - c->since > SIM_HTTP_TIMEOUT_MS) {
            log_warn("sim_http_timeout", "device=%s", c->dev->id);
            conn_close(c, "response timeout");
        } else if (!c->http && c->kind == CONN_DEVICE && c->state == CS_READY &&
                   now - c->last_tx >= SIM_KEEPALIVE_S * 1000 / 2) {
            uint8_t pkt[2];
            conn_write(c, pkt, sim_mqtt_pingreq(pkt, sizeof pkt));
        }
    }
}

static void log_stats(struct sim *sm)
{
    uint64_t sent = 0, acked = 0, rejected = 0, dropped = 0;
    size_t connected = 0;
    for (size_t i = 0; i < sm->ndev; i++) {
        sim_dev *d = &sm->devs[i];
        sent += d->sent;
        acked += d->acked;
        rejected += d->rejected;
        dropped += d->dropped;
        connected += d->conn && d->conn->state == CS_READY;
    }
    log_info("sim_stats",
             "devices=%zu connected=%zu sent=%llu acked=%llu rejected=%llu dropped=%llu", sm->ndev,
             connected, (unsigned long long)sent, (unsigned long long)acked,
             (unsigned long long)rejected, (unsigned long long)dropped);
}

static void on_tick(uv_timer_t *t)
{
    struct sim *sm = t->data;
    if (sm->stopping) return;
    uint64_t now = now_ms(sm);
    run_opening(sm, now);
    if (now >= sm->next_roll) {
        sm->next_roll += 1000;
        if (sm->next_roll <= now) sm->next_roll = now + 1000;
        roll_faults(sm, now);
    }
    for (size_t i = 0; i < sm->ndev; i++)
        dev_tick(&sm->devs[i], now);
    conns_tick(sm, now);
    if (now >= sm->next_stats) {
        sm->next_stats = now + 60000;
        log_stats(sm);
    }
}

/* ---- Lifecycle ---- */

static void close_all(struct sim *sm)
{
    sm->stopping = true;
    uv_timer_stop(&sm->tick);
    if (!uv_is_closing((uv_handle_t *)&sm->tick)) uv_close((uv_handle_t *)&sm->tick, NULL);
    if (!uv_is_closing((uv_handle_t *)&sm->stop)) uv_close((uv_handle_t *)&sm->stop, NULL);
    for (sim_conn *c = sm->conns; c; c = c->next) {
        if (c->state == CS_READY && !c->http && c->kind == CONN_DEVICE) {
            uint8_t pkt[4];
            conn_write(c, pkt, sim_mqtt_disconnect(pkt, sizeof pkt, c->version));
        }
        conn_close(c, "stopping");
    }
}

static void on_stop(uv_async_t *a)
{
    close_all(a->data);
}

/* The run starts now: the opening schedule and warm-up count from here, and the fleet's first
 * samples spread over one interval. */
static void schedule_start(struct sim *sm)
{
    uv_update_time(&sm->loop);
    uint64_t now = now_ms(sm);
    sm->started = now;
    sm->next_roll = now + 1000;
    sm->next_stats = now + 60000;
    for (size_t i = 0; i < sm->ndev; i++) {
        sim_dev *d = &sm->devs[i];
        d->next_sample = now + 2500 + sim_rng_next(&d->rng) % SIM_INTERVAL_MS;
        d->reconnect_at = now + sim_rng_next(&d->rng) % 2000;
    }
}

int sim_client_init(struct sim *sm)
{
    if (uv_loop_init(&sm->loop) != 0) return -1;
    if (uv_async_init(&sm->loop, &sm->stop, on_stop) != 0) {
        uv_loop_close(&sm->loop);
        return -1;
    }
    sm->stop.data = sm;
    uv_timer_init(&sm->loop, &sm->tick);
    sm->tick.data = sm;
    sm->loop_ready = true;
    schedule_start(sm);
    uv_timer_start(&sm->tick, on_tick, SIM_TICK_MS, SIM_TICK_MS);
    return 0;
}

void sim_client_thread(void *arg)
{
    struct sim *sm = arg;
    /* a peer that closes first must give EPIPE here, not kill the process */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (sm->backfill_days > 0 && !atomic_load(&sm->stop_requested)) {
        sim_backfill(sm, sm->backfill_days);
        schedule_start(sm); /* live from now; history took a while */
    }
    uv_run(&sm->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&sm->loop);
    if (rc != 0) log_error("sim_loop_close_failed", "err=%s", uv_err_name(rc));
}

void sim_client_request_stop(struct sim *sm)
{
    atomic_store(&sm->stop_requested, true); /* a backfill in progress stops too */
    uv_async_send(&sm->stop);
}

void sim_client_abort(struct sim *sm)
{
    if (!sm->loop_ready) return;
    close_all(sm);
    uv_run(&sm->loop, UV_RUN_DEFAULT);
    uv_loop_close(&sm->loop);
}
