/* MQTT server tests: a real libuv loop on 127.0.0.1:0 runs in the test's main thread while a
 * raw-socket client runs each scenario in a second thread and records what it received. The
 * main thread asserts once both are done (cmocka assertions stay on one thread). The client
 * can run code on the loop thread through fx_on_loop (e.g. to read stats at a given moment). */
#include "core/log.h"
#include "mqtt/mqtt_codec.h"
#include "mqtt/mqtt_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_PKTS 64
#define MAX_PENDING 256

typedef struct fixture fixture;
typedef void (*fx_fn)(fixture *fx);

struct fixture {
    /* loop side */
    uv_loop_t loop;
    mqtt_server *srv;
    mqtt_server_options opt;
    int port;
    uv_async_t async;
    uv_timer_t ack_timer;
    bool stop_requested, stopped;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fx_fn loop_fn;
    bool loop_fn_done, client_done, async_closed;
    fx_fn client;
    /* application behaviour */
    uint8_t connect_reason;
    int puback_delay_ms; /* 0: inside on_publish; > 0: from a timer; < 0: never */
    uint8_t puback_reason;
    const char *puback_reason_string;
    int ok_acks; /* the first ok_acks PUBACKs are successes, the rest carry puback_reason */
    int acks;
    int disconnect_on_publish; /* > 0: mqtt_conn_disconnect with this reason */
    bool pause_on_publish;     /* pause, and resume 50 ms later from a timer */
    uv_timer_t resume_timer;
    mqtt_conn *paused;
    int pauses;
    bool subscribable; /* on_connect hands the connection to sub_handler */
    mqtt_conn *conn;   /* the last accepted connection */
    int subs, unsubs, published, dropped;
    char sub_filters[4][32];
    /* recorded on the loop thread */
    int connects, publishes, closes;
    int version;
    char client_id[64], username[64], password[64], peer[64];
    bool client_id_assigned;
    uint16_t keepalive;
    mqtt_close_reason close_why;
    int wills;
    mqtt_close_reason will_why;
    char will_topic[64], will_payload[64];
    uint16_t pub_ids[MAX_PENDING];
    uint8_t pub_qos[MAX_PENDING];
    char topic[128];
    size_t payload_len;
    uint32_t payload_sum;
    struct {
        mqtt_conn *c;
        uint16_t id;
    } pending[MAX_PENDING];
    int npending;
    mqtt_server_stats stats;     /* sampled just before the server is stopped */
    mqtt_server_stats mid_stats; /* sampled by a scenario through fx_on_loop */
    int publishes_at_sample;
    /* recorded on the client thread */
    uint8_t pkts[MAX_PKTS][512];
    size_t pkt_len[MAX_PKTS];
    int npkts;
    bool eof, ipv6;
    int64_t elapsed_ms;
    int first_recv;
};

/* --- application callbacks (loop thread) ----------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const void *src, size_t len)
{
    if (!src) len = 0;
    if (len >= cap) len = cap - 1;
    if (len) memcpy(dst, src, len);
    dst[len] = 0;
}

static const mqtt_callbacks sub_handler;

static uint8_t app_connect(void *ud, mqtt_conn *c, const mqtt_connect_info *info)
{
    fixture *fx = ud;
    fx->conn = c;
    if (fx->subscribable) mqtt_conn_set_handler(c, &sub_handler, fx);
    fx->connects++;
    fx->version = info->protocol_version;
    copy_str(fx->client_id, sizeof fx->client_id, info->client_id, info->client_id_len);
    copy_str(fx->username, sizeof fx->username, info->username, info->username_len);
    copy_str(fx->password, sizeof fx->password, info->password, info->password_len);
    fx->client_id_assigned = info->client_id_assigned;
    fx->keepalive = info->keepalive;
    copy_str(fx->peer, sizeof fx->peer, info->peer, strlen(info->peer));
    mqtt_conn_set_data(c, fx);
    return fx->connect_reason;
}

static uint8_t next_ack_reason(fixture *fx)
{
    return fx->acks++ < fx->ok_acks ? 0 : fx->puback_reason;
}

static void ack_pending(fixture *fx)
{
    for (int i = 0; i < fx->npending; i++) {
        mqtt_conn_puback(fx->pending[i].c, fx->pending[i].id, next_ack_reason(fx),
                         fx->puback_reason_string);
        mqtt_conn_unref(fx->pending[i].c);
    }
    fx->npending = 0;
}

static void on_ack_timer(uv_timer_t *t)
{
    ack_pending(t->data);
}

static void on_resume_timer(uv_timer_t *t)
{
    fixture *fx = t->data;
    mqtt_conn_resume(fx->paused);
    mqtt_conn_unref(fx->paused);
    fx->paused = NULL;
}

static void app_publish(void *ud, mqtt_conn *c, const mqtt_publish_info *pub)
{
    fixture *fx = ud;
    if (fx->disconnect_on_publish > 0) {
        mqtt_conn_disconnect(c, (uint8_t)fx->disconnect_on_publish);
        return;
    }
    if (fx->pause_on_publish && !fx->paused) {
        fx->pauses++;
        mqtt_conn_pause(c);
        mqtt_conn_ref(c);
        fx->paused = c;
        uv_timer_start(&fx->resume_timer, on_resume_timer, 50, 0);
    }
    assert_ptr_equal(mqtt_conn_get_data(c), fx);
    if (fx->publishes < MAX_PENDING) {
        fx->pub_ids[fx->publishes] = pub->packet_id;
        fx->pub_qos[fx->publishes] = pub->qos;
    }
    fx->publishes++;
    copy_str(fx->topic, sizeof fx->topic, pub->topic, pub->topic_len);
    fx->payload_len = pub->payload_len;
    fx->payload_sum = 0;
    for (size_t i = 0; i < pub->payload_len; i++)
        fx->payload_sum = fx->payload_sum * 31 + pub->payload[i];
    if (pub->qos != 1) return;
    if (fx->puback_delay_ms == 0) {
        mqtt_conn_puback(c, pub->packet_id, next_ack_reason(fx), fx->puback_reason_string);
        return;
    }
    if (fx->npending >= MAX_PENDING) return;
    mqtt_conn_ref(c);
    fx->pending[fx->npending].c = c;
    fx->pending[fx->npending].id = pub->packet_id;
    fx->npending++;
    if (fx->puback_delay_ms > 0 && !uv_is_active((uv_handle_t *)&fx->ack_timer))
        uv_timer_start(&fx->ack_timer, on_ack_timer, (uint64_t)fx->puback_delay_ms, 0);
}

static void app_will(void *ud, mqtt_conn *c, const mqtt_will_info *w, mqtt_close_reason why)
{
    fixture *fx = ud;
    fx->wills++;
    fx->will_why = why;
    snprintf(fx->will_topic, sizeof fx->will_topic, "%.*s", (int)w->topic_len, w->topic);
    snprintf(fx->will_payload, sizeof fx->will_payload, "%.*s", (int)w->payload_len,
             (const char *)w->payload);
}

static void app_close(void *ud, mqtt_conn *c, mqtt_close_reason why)
{
    fixture *fx = ud;
    fx->closes++;
    fx->close_why = why;
    assert_false(mqtt_conn_is_open(c));
}

/* Grants valid filters under "a/", refuses the others with 0x87; records both. */
static uint8_t app_subscribe(void *ud, mqtt_conn *c, const mqtt_sub_info *f)
{
    fixture *fx = ud;
    assert_ptr_equal(mqtt_conn_get_data(c), fx);
    if (f->unsubscribe) {
        fx->unsubs++;
        return 0;
    }
    if (fx->subs < 4) copy_str(fx->sub_filters[fx->subs], 32, f->filter, f->filter_len);
    fx->subs++;
    return f->valid && f->filter_len >= 2 && memcmp(f->filter, "a/", 2) == 0
               ? MQTT_RC_GRANTED_QOS_0
               : MQTT_RC_NOT_AUTHORIZED;
}

static const mqtt_callbacks sub_handler = {.on_publish = app_publish,
                                           .on_close = app_close,
                                           .on_will = app_will,
                                           .on_subscribe = app_subscribe};

/* --- loop plumbing -------------------------------------------------------------------------- */

static void on_stopped(void *arg)
{
    fixture *fx = arg;
    fx->stopped = true;
}

/* Everything under the mutex, so the client thread never signals a closed handle. */
static void on_async(uv_async_t *a)
{
    fixture *fx = a->data;
    pthread_mutex_lock(&fx->mu);
    if (fx->loop_fn && !fx->loop_fn_done) {
        fx->loop_fn(fx);
        fx->loop_fn_done = true;
        pthread_cond_broadcast(&fx->cv);
    }
    if (fx->client_done && !fx->stop_requested) {
        fx->stop_requested = true;
        mqtt_server_get_stats(fx->srv, &fx->stats);
        mqtt_server_stop(fx->srv, on_stopped, fx);
        uv_close((uv_handle_t *)&fx->async, NULL);
        uv_close((uv_handle_t *)&fx->ack_timer, NULL);
        uv_close((uv_handle_t *)&fx->resume_timer, NULL);
        fx->async_closed = true;
    }
    pthread_mutex_unlock(&fx->mu);
}

/* The client is finished: the loop thread samples stats and stops the server. Idempotent. */
static void fx_client_done(fixture *fx)
{
    pthread_mutex_lock(&fx->mu);
    if (!fx->client_done) {
        fx->client_done = true;
        if (!fx->async_closed) uv_async_send(&fx->async);
    }
    pthread_mutex_unlock(&fx->mu);
}

/* Runs fn on the loop thread and waits for it (client thread only). */
static void fx_on_loop(fixture *fx, fx_fn fn)
{
    pthread_mutex_lock(&fx->mu);
    fx->loop_fn = fn;
    fx->loop_fn_done = false;
    uv_async_send(&fx->async);
    while (!fx->loop_fn_done)
        pthread_cond_wait(&fx->cv, &fx->mu);
    fx->loop_fn = NULL;
    pthread_mutex_unlock(&fx->mu);
}

static void *client_main(void *arg)
{
    fixture *fx = arg;
    fx->client(fx);
    fx_client_done(fx);
    return NULL;
}

static fixture *fx_new(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->opt.connect_timeout_ms = 2000;
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    return fx;
}

static void fx_run_at(fixture *fx, const char *addr, fx_fn client)
{
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    mqtt_callbacks cb = {.on_connect = app_connect,
                         .on_publish = app_publish,
                         .on_close = app_close,
                         .on_will = app_will};
    assert_int_equal(mqtt_server_start(&fx->loop, addr, &fx->opt, &cb, fx, &fx->srv), 0);
    fx->port = mqtt_server_port(fx->srv);
    assert_true(fx->port > 0);
    uv_async_init(&fx->loop, &fx->async, on_async);
    fx->async.data = fx;
    uv_timer_init(&fx->loop, &fx->ack_timer);
    fx->ack_timer.data = fx;
    uv_timer_init(&fx->loop, &fx->resume_timer);
    fx->resume_timer.data = fx;
    fx->client = client;
    assert_int_equal(pthread_create(&fx->thread, NULL, client_main, fx), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    pthread_join(fx->thread, NULL);
    assert_true(fx->stopped);
    /* PUBACKs the application still owed: harmless no-ops on closed connections. */
    ack_pending(fx);
    if (fx->paused) mqtt_conn_unref(fx->paused);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static void fx_run(fixture *fx, fx_fn client)
{
    fx_run_at(fx, "127.0.0.1:0", client);
}

static void fx_free(fixture *fx)
{
    pthread_mutex_destroy(&fx->mu);
    pthread_cond_destroy(&fx->cv);
    free(fx);
}

/* --- raw client (client thread) ------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cli_open(fixture *fx)
{
    int fd;
    if (fx->ipv6) {
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)fx->port)};
        a.sin6_addr = in6addr_loopback;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1;
        }
    } else {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1;
        }
    }
    struct timeval tv = {.tv_sec = 4};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void cli_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        b += w;
        n -= (size_t)w;
    }
}

static void cli_send_hex(int fd, const char *hex)
{
    uint8_t buf[1024];
    size_t n = 0;
    for (; hex[0] && hex[1] && n < sizeof buf; hex += 2) {
        if (hex[0] == ' ') {
            hex--;
            continue;
        }
        unsigned v;
        sscanf(hex, "%2x", &v);
        buf[n++] = (uint8_t)v;
    }
    cli_send(fd, buf, n);
}

static bool read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads one packet into fx->pkts; returns its length, 0 on EOF/timeout/error. */
static size_t cli_read(fixture *fx, int fd)
{
    if (fx->npkts >= MAX_PKTS) return 0;
    uint8_t *p = fx->pkts[fx->npkts];
    ssize_t r = recv(fd, p, 1, 0);
    if (r <= 0) {
        if (r == 0) fx->eof = true;
        return 0;
    }
    size_t h = 1;
    uint32_t len = 0, mult = 1;
    do {
        if (!read_full(fd, p + h, 1)) return 0;
        len += (p[h] & 0x7F) * mult;
        mult *= 128;
    } while (p[h++] & 0x80 && h < 5);
    if (h + len > sizeof fx->pkts[0] || !read_full(fd, p + h, len)) return 0;
    fx->pkt_len[fx->npkts++] = h + len;
    return h + len;
}

/* Reads packets until the server closes (or a timeout). */
static void cli_read_until_eof(fixture *fx, int fd)
{
    while (cli_read(fx, fd) > 0)
        ;
}

static void cli_connect_v(fixture *fx, int fd, int version, uint16_t keepalive)
{
    mqtt_connect c = {.protocol_version = (uint8_t)version,
                      .clean_start = true,
                      .keepalive = keepalive,
                      .client_id = "dev-1",
                      .client_id_len = 5,
                      .request_problem_info = true};
    uint8_t buf[128];
    int n = mqtt_encode_connect(buf, sizeof buf, &c);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd);
}

static void cli_publish(int fd, int version, uint8_t qos, uint16_t id, const char *topic,
                        const void *payload, size_t len, bool retain)
{
    mqtt_publish p = {.qos = qos,
                      .packet_id = id,
                      .topic = topic,
                      .topic_len = (uint16_t)strlen(topic),
                      .payload = payload,
                      .payload_len = len,
                      .retain = retain};
    static uint8_t buf[300000];
    int n = mqtt_encode_publish(buf, sizeof buf, version, &p);
    if (n > 0) cli_send(fd, buf, (size_t)n);
}

/* --- assertions on received packets (main thread) ------------------------------------------- */

static mqtt_packet pkt(fixture *fx, int i, int version)
{
    mqtt_packet p;
    assert_true(i < fx->npkts);
    assert_int_equal(mqtt_parse_packet(fx->pkts[i], fx->pkt_len[i], version, 0, NULL, &p), MQTT_OK);
    return p;
}

static uint8_t disconnect_reason(fixture *fx, int i)
{
    mqtt_packet p = pkt(fx, i, 5);
    assert_int_equal(p.fh.type, MQTT_DISCONNECT);
    mqtt_disconnect d;
    assert_int_equal(
        mqtt_parse_disconnect(fx->pkts[i] + p.fh.header_len, p.fh.remaining_len, 5, true, &d),
        MQTT_OK);
    return d.reason;
}

/* --- scenarios ------------------------------------------------------------------------------ */

static void sc_v311_paho_session(fixture *fx)
{
    int fd = cli_open(fx);
    /* paho 1.6 CONNECT (user dev1, password secret-key, empty client id, clean) */
    cli_send_hex(fd, "101e00044d51545404c2003c0000000464657631000a7365637265742d6b6579");
    cli_read(fx, fd);
    cli_send_hex(fd, "c000");
    cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v311_connect_is_accepted_and_ping_answered(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_v311_paho_session);
    assert_int_equal(fx->connects, 1);
    assert_int_equal(fx->version, 4);
    assert_string_equal(fx->username, "dev1");
    assert_string_equal(fx->password, "secret-key");
    assert_string_equal(fx->client_id, "");
    assert_false(fx->client_id_assigned);
    assert_int_equal(fx->npkts, 2);
    assert_int_equal(fx->pkt_len[0], 4);
    assert_memory_equal(fx->pkts[0], "\x20\x02\x00\x00", 4);
    assert_memory_equal(fx->pkts[1], "\xd0\x00", 2);
    assert_true(fx->eof);
    assert_int_equal(fx->closes, 1);
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT);
    assert_int_equal(fx->stats.connections_total, 1);
    assert_int_equal(fx->stats.packets_in, 3);
    assert_int_equal(fx->stats.packets_out, 2);
    fx_free(fx);
}

static void sc_connect_then_eof(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version ? fx->version : 4, 60);
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v311_refused_connect_gets_mapped_return_code_and_close(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->connect_reason = MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    fx->version = 4;
    fx_run(fx, sc_connect_then_eof);
    assert_int_equal(fx->npkts, 1);
    assert_memory_equal(fx->pkts[0], "\x20\x02\x00\x04", 4);
    assert_true(fx->eof);
    assert_int_equal(fx->closes, 0); /* on_close only follows accepted connections */
    assert_int_equal(fx->stats.connect_refused, 1);
    fx_free(fx);
}

static void sc_v5_mosquitto_connect(fixture *fx)
{
    int fd = cli_open(fx);
    /* mosquitto_pub 2.0.11 -V 5: empty client id, Receive Maximum 20 */
    cli_send_hex(fd, "101000044d5154540502003c032100140000");
    cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v5_connect_gets_connack_with_server_limits_and_assigned_id(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.max_packet_size = 100000;
    fx->opt.receive_maximum = 50;
    fx_run(fx, sc_v5_mosquitto_connect);
    assert_int_equal(fx->connects, 1);
    assert_true(fx->client_id_assigned);
    assert_true(strncmp(fx->client_id, "iotad-", 6) == 0);
    mqtt_packet p = pkt(fx, 0, 5);
    assert_int_equal(p.fh.type, MQTT_CONNACK);
    const mqtt_connack *a = &p.u.connack;
    assert_int_equal(a->reason, 0);
    assert_false(a->session_present);
    assert_true(a->has_receive_maximum);
    assert_int_equal(a->receive_maximum, 50);
    assert_true(a->has_maximum_qos);
    assert_int_equal(a->maximum_qos, 1);
    assert_true(a->has_retain_available);
    assert_false(a->retain_available);
    assert_int_equal(a->maximum_packet_size, 100000);
    assert_true(a->has_topic_alias_maximum);
    assert_int_equal(a->topic_alias_maximum, 0);
    assert_true(a->has_wildcard_sub && !a->wildcard_sub_available);
    assert_true(a->has_shared_sub && !a->shared_sub_available);
    assert_false(a->has_server_keep_alive);
    assert_int_equal(a->assigned_client_id_len, strlen(fx->client_id));
    assert_memory_equal(a->assigned_client_id, fx->client_id, a->assigned_client_id_len);
    assert_true(fx->eof);
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT);
    fx_free(fx);
}

static void test_v5_refused_connect_gets_reason_code_and_string(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->connect_reason = MQTT_RC_NOT_AUTHORIZED;
    fx->version = 5;
    fx_run(fx, sc_connect_then_eof);
    assert_int_equal(fx->npkts, 1);
    mqtt_packet p = pkt(fx, 0, 5);
    assert_int_equal(p.u.connack.reason, MQTT_RC_NOT_AUTHORIZED);
    assert_int_equal(p.u.connack.reason_string_len, strlen("Not authorized"));
    assert_false(p.u.connack.has_receive_maximum);
    assert_true(fx->eof);
    assert_int_equal(fx->closes, 0);
    fx_free(fx);
}

static void sc_v5_keepalive_too_long(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 600);
    if (fx->version == 5) cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_keepalive_above_max_is_lowered_for_v5_and_refused_for_v311(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.max_keepalive = 120;
    fx->version = 5;
    fx_run(fx, sc_v5_keepalive_too_long);
    mqtt_packet p = pkt(fx, 0, 5);
    assert_int_equal(p.u.connack.reason, 0);
    assert_true(p.u.connack.has_server_keep_alive);
    assert_int_equal(p.u.connack.server_keep_alive, 120);
    assert_int_equal(fx->keepalive, 120);
    fx_free(fx);

    fx = fx_new();
    fx->opt.max_keepalive = 120;
    fx->version = 4;
    fx_run(fx, sc_v5_keepalive_too_long);
    assert_memory_equal(fx->pkts[0], "\x20\x02\x00\x02", 4); /* identifier rejected */
    assert_int_equal(fx->connects, 0);
    assert_true(fx->eof);
    fx_free(fx);
}

static void sc_qos1_publish(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    cli_publish(fd, fx->version, 1, 0x4242, "sensors/dev1/temp", "{\"temp\":21.5}", 13, false);
    int64_t t0 = now_ms();
    cli_read(fx, fd);
    fx->elapsed_ms = now_ms() - t0;
    cli_publish(fd, fx->version, 0, 0, "sensors/dev1/hum", "40", 2, false);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_qos1_publish_is_acked_asynchronously_by_the_application(void **state)
{
    (void)state;
    for (int v = 4; v <= 5; v++) {
        fixture *fx = fx_new();
        fx->version = v;
        fx->puback_delay_ms = 100;
        fx_run(fx, sc_qos1_publish);
        assert_int_equal(fx->publishes, 2);
        assert_int_equal(fx->pub_ids[0], 0x4242);
        assert_int_equal(fx->pub_qos[0], 1);
        assert_int_equal(fx->pub_qos[1], 0);
        assert_string_equal(fx->topic, "sensors/dev1/hum");
        assert_int_equal(fx->npkts, 2);
        mqtt_packet p = pkt(fx, 1, v);
        assert_int_equal(p.fh.type, MQTT_PUBACK);
        assert_int_equal(p.u.ack.packet_id, 0x4242);
        assert_int_equal(p.u.ack.reason, 0);
        assert_int_equal(fx->pkt_len[1], 4); /* short form in both versions */
        assert_true(fx->elapsed_ms >= 90);   /* it waited for the application */
        assert_int_equal(fx->stats.publish_in, 2);
        fx_free(fx);
    }
}

static void test_v5_puback_carries_the_application_reason(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx->puback_delay_ms = 10;
    fx->puback_reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
    fx->puback_reason_string = "metric value is not a number";
    fx_run(fx, sc_qos1_publish);
    mqtt_packet p = pkt(fx, 1, 5);
    assert_int_equal(p.u.ack.reason, MQTT_RC_PAYLOAD_FORMAT_INVALID);
    assert_int_equal(p.u.ack.reason_string_len, strlen(fx->puback_reason_string));
    assert_memory_equal(p.u.ack.reason_string, fx->puback_reason_string, p.u.ack.reason_string_len);
    fx_free(fx);
}

static void sc_two_qos1_publishes(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    cli_publish(fd, fx->version, 1, 1, "devices/d/telemetry", "{\"t\":1}", 7, false);
    cli_publish(fd, fx->version, 1, 2, "devices/d/telemetry", "{\"t\":2}", 7, false);
    if (fx->version == 5) { /* both PUBACKs, then the client leaves */
        cli_read(fx, fd);
        cli_read(fx, fd);
        cli_send_hex(fd, "e000");
    }
    cli_read_until_eof(fx, fd);
    close(fd);
}

/* A 3.1.1 PUBACK has no reason code and reads as "stored": a failure must close instead. */
static void test_v311_failed_puback_closes_the_connection_instead(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 4;
    fx->puback_delay_ms = 20; /* both acks from one timer: the success, then the failure */
    fx->ok_acks = 1;
    fx->puback_reason = MQTT_RC_UNSPECIFIED_ERROR;
    fx_run(fx, sc_two_qos1_publishes);
    assert_int_equal(fx->publishes, 2);
    assert_int_equal(fx->npkts, 2); /* CONNACK, the PUBACK of the success, nothing more */
    mqtt_packet p = pkt(fx, 1, 4);
    assert_int_equal(p.fh.type, MQTT_PUBACK);
    assert_int_equal(p.u.ack.packet_id, 1);
    assert_true(fx->eof);
    assert_int_equal(fx->closes, 1);
    assert_int_equal(fx->close_why, MQTT_CLOSE_SERVER_DISCONNECT);
    fx_free(fx);
}

/* MQTT 5 carries the reason: both PUBACKs arrive and the connection stays. */
static void test_v5_failed_puback_keeps_the_connection(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx->puback_delay_ms = 20;
    fx->ok_acks = 1;
    fx->puback_reason = MQTT_RC_UNSPECIFIED_ERROR;
    fx_run(fx, sc_two_qos1_publishes);
    assert_int_equal(fx->npkts, 3); /* CONNACK, PUBACK 0, PUBACK 0x80 */
    assert_int_equal(pkt(fx, 1, 5).u.ack.reason, 0);
    mqtt_packet p = pkt(fx, 2, 5);
    assert_int_equal(p.fh.type, MQTT_PUBACK);
    assert_int_equal(p.u.ack.packet_id, 2);
    assert_int_equal(p.u.ack.reason, MQTT_RC_UNSPECIFIED_ERROR);
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT); /* the client left, not us */
    fx_free(fx);
}

static void sc_publish_then_eof(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    cli_publish(fd, fx->version, (uint8_t)fx->first_recv, 7, "a/b", "1", 1, fx->first_recv == 0);
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_publish_with_qos2_is_refused(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx->first_recv = 2; /* QoS */
    fx_run(fx, sc_publish_then_eof);
    assert_int_equal(fx->publishes, 0);
    assert_int_equal(fx->npkts, 2);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_QOS_NOT_SUPPORTED);
    assert_true(fx->eof);
    assert_int_equal(fx->close_why, MQTT_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(fx->stats.protocol_errors, 1);
    fx_free(fx);

    fx = fx_new();
    fx->version = 4;
    fx->first_recv = 2;
    fx_run(fx, sc_publish_then_eof);
    assert_int_equal(fx->publishes, 0);
    assert_int_equal(fx->npkts, 1); /* CONNACK, then just a close */
    assert_true(fx->eof);
    assert_int_equal(fx->close_why, MQTT_CLOSE_PROTOCOL_ERROR);
    fx_free(fx);
}

static void test_v5_publish_with_retain_is_refused(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx->first_recv = 0; /* QoS 0 with retain */
    fx_run(fx, sc_publish_then_eof);
    assert_int_equal(fx->publishes, 0);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_RETAIN_NOT_SUPPORTED);
    fx_free(fx);
}

static void sc_oversized(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    /* header announcing 2000 bytes: refused before the body arrives */
    cli_send_hex(fd, "32d00f");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_oversized_packet_is_refused(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.max_packet_size = 1024;
    fx->version = 5;
    fx_run(fx, sc_oversized);
    assert_int_equal(fx->npkts, 2);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_PACKET_TOO_LARGE);
    assert_true(fx->eof);
    assert_int_equal(fx->stats.too_large, 1);
    assert_int_equal(fx->close_why, MQTT_CLOSE_PROTOCOL_ERROR);
    fx_free(fx);
}

static void sc_keepalive(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 1);
    int64_t t0 = now_ms();
    cli_read_until_eof(fx, fd);
    fx->elapsed_ms = now_ms() - t0;
    close(fd);
}

static void test_keepalive_timeout_closes_the_connection(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx_run(fx, sc_keepalive);
    assert_true(fx->eof);
    assert_true(fx->elapsed_ms >= 1400);
    assert_true(fx->elapsed_ms < 3500);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_KEEP_ALIVE_TIMEOUT);
    assert_int_equal(fx->close_why, MQTT_CLOSE_KEEPALIVE_TIMEOUT);
    assert_int_equal(fx->stats.keepalive_timeouts, 1);
    /* Issue 11 #10: closed at 1.5 x keepalive by the connection's own timer, not by the next
     * run of a once-a-second sweep (which came 0-1000 ms late: offline at 1.68-1.75 x) */
    assert_true(fx->stats.keepalive_late_ms_max < 250);
    fx_free(fx);
}

static void cli_connect_will(fixture *fx, int fd, int version)
{
    mqtt_connect c = {.protocol_version = (uint8_t)version,
                      .clean_start = true,
                      .keepalive = 30,
                      .client_id = "dev-w",
                      .client_id_len = 5,
                      .will = true,
                      .will_qos = 1,
                      .will_topic = "devices/w/status",
                      .will_topic_len = 16,
                      .will_payload = (const uint8_t *)"gone",
                      .will_payload_len = 4};
    uint8_t buf[128];
    int n = mqtt_encode_connect(buf, sizeof buf, &c);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd);
}

/* Issue 11 #10: a device that vanishes without DISCONNECT leaves its will to the application;
 * a normal DISCONNECT removes it, MQTT 5 reason 0x04 keeps it. */
static void sc_wills(fixture *fx)
{
    int fd = cli_open(fx); /* 3.1.1, connection dropped */
    cli_connect_will(fx, fd, 4);
    close(fd);
    fd = cli_open(fx); /* 3.1.1, normal DISCONNECT */
    cli_connect_will(fx, fd, 4);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
    fd = cli_open(fx); /* 5, DISCONNECT with Will Message */
    cli_connect_will(fx, fd, 5);
    cli_send_hex(fd, "e00104");
    cli_read_until_eof(fx, fd);
    close(fd);
    for (int i = 0; i < 200 && fx->closes < 3; i++)
        usleep(10000);
}

static void test_will_is_handed_over_unless_a_normal_disconnect_removed_it(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_wills);
    assert_int_equal(fx->closes, 3);
    assert_int_equal(fx->wills, 2);
    assert_int_equal(fx->will_why, MQTT_CLOSE_CLIENT_DISCONNECT);
    assert_string_equal(fx->will_topic, "devices/w/status");
    assert_string_equal(fx->will_payload, "gone");
    assert_int_equal(fx->stats.wills_published, 2);
    fx_free(fx);
}

static void sc_garbage(fixture *fx)
{
    int fd = cli_open(fx);
    int64_t t0 = now_ms();
    cli_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    cli_read_until_eof(fx, fd);
    fx->elapsed_ms = now_ms() - t0;
    close(fd);
    /* a PUBLISH as the first packet, even a well-formed one, is refused too */
    fd = cli_open(fx);
    cli_publish(fd, 4, 0, 0, "a", "b", 1, false);
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_garbage_first_packet_closes_without_reply(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_garbage);
    assert_int_equal(fx->npkts, 0);
    assert_true(fx->eof);
    assert_true(fx->elapsed_ms < 1000); /* immediately, not at the connect timeout */
    assert_int_equal(fx->connects, 0);
    assert_int_equal(fx->stats.connect_refused, 2);
    assert_int_equal(fx->stats.protocol_errors, 2);
    fx_free(fx);
}

static void sc_silent(fixture *fx)
{
    int fd = cli_open(fx);
    int64_t t0 = now_ms();
    cli_send_hex(fd, "1010"); /* a CONNECT that never completes */
    cli_read_until_eof(fx, fd);
    fx->elapsed_ms = now_ms() - t0;
    close(fd);
}

static void test_connect_must_arrive_within_the_timeout(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.connect_timeout_ms = 200;
    fx_run(fx, sc_silent);
    assert_true(fx->eof);
    assert_int_equal(fx->npkts, 0);
    /* closed by the connect deadline (the counter says why), not by a time measured here:
     * the loop's cached clock and a loaded machine move the moment either way */
    assert_int_equal(fx->stats.connect_timeouts, 1);
    assert_int_equal(fx->stats.protocol_errors, 0);
    fx_free(fx);
}

static void sc_second_connect(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 5, 60);
    cli_connect_v(fx, fd, 5, 60);
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_second_connect_is_a_protocol_error(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_second_connect);
    assert_int_equal(fx->connects, 1);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_PROTOCOL_ERROR);
    assert_int_equal(fx->close_why, MQTT_CLOSE_PROTOCOL_ERROR);
    fx_free(fx);
}

static void sc_subscribe(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    const char *filters[] = {"cmd/dev1", "cmd/+", "$share/g/cmd", "a/#/b"};
    const uint8_t opts[] = {1, 1, 1, 0};
    uint8_t buf[128];
    int n = mqtt_encode_subscribe(buf, sizeof buf, fx->version, 11, filters, opts, 4);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd);
    n = mqtt_encode_unsubscribe(buf, sizeof buf, fx->version, 12, filters, 1);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_subscribe_is_answered_with_failure_codes(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx_run(fx, sc_subscribe);
    mqtt_packet p = pkt(fx, 1, 5);
    assert_int_equal(p.fh.type, MQTT_SUBACK);
    assert_int_equal(p.u.suback.packet_id, 11);
    assert_int_equal(p.u.suback.count, 4);
    assert_memory_equal(p.u.suback.codes, "\x87\xa2\x9e\x8f", 4);
    p = pkt(fx, 2, 5);
    assert_int_equal(p.fh.type, MQTT_UNSUBACK);
    assert_int_equal(p.u.suback.codes[0], MQTT_RC_NO_SUBSCRIPTION_EXISTED);
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT);
    fx_free(fx);

    fx = fx_new();
    fx->version = 4;
    fx_run(fx, sc_subscribe);
    assert_int_equal(fx->pkt_len[1], 8);
    assert_memory_equal(fx->pkts[1], "\x90\x06\x00\x0b\x80\x80\x80\x80", 8);
    assert_memory_equal(fx->pkts[2], "\xb0\x02\x00\x0c", 4);
    fx_free(fx);
}

/* On the loop thread: 100 messages of 1000 bytes queued at once to the subscriber. */
static void publish_burst(fixture *fx)
{
    static char payload[1000];
    memset(payload, 'x', sizeof payload);
    for (int i = 0; i < 100; i++) {
        int rc = mqtt_conn_publish(fx->conn, "a/b", 3, payload, sizeof payload);
        if (rc == 0) fx->published++;
        if (rc == MQTT_PUBLISH_DROPPED) fx->dropped++;
    }
    mqtt_server_get_stats(fx->srv, &fx->mid_stats);
}

static void publish_one(fixture *fx)
{
    assert_int_equal(mqtt_conn_publish(fx->conn, "a/b", 3, "hello", 5), 0);
}

static void sc_subscriber(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, fx->version, 60);
    const char *filters[] = {"a/#", "b/c"};
    const uint8_t opts[] = {1, 0};
    uint8_t buf[128];
    int n = mqtt_encode_subscribe(buf, sizeof buf, fx->version, 7, filters, opts, 2);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd); /* SUBACK */
    fx_on_loop(fx, publish_one);
    cli_read(fx, fd); /* PUBLISH a/b hello */
    n = mqtt_encode_unsubscribe(buf, sizeof buf, fx->version, 8, filters, 1);
    cli_send(fd, buf, (size_t)n);
    cli_read(fx, fd); /* UNSUBACK */
    fx_on_loop(fx, publish_burst);
    cli_send_hex(fd, "e000");
    close(fd);
}

static void test_subscriptions_go_to_the_handler_and_deliveries_are_bounded(void **state)
{
    (void)state;
    for (int version = 4; version <= 5; version++) {
        fixture *fx = fx_new();
        fx->version = version;
        fx->subscribable = true;
        fx->opt.max_queued_bytes = 4096;
        fx_run(fx, sc_subscriber);
        assert_int_equal(fx->subs, 2);
        assert_string_equal(fx->sub_filters[0], "a/#");
        assert_string_equal(fx->sub_filters[1], "b/c");
        if (version == 5) {
            mqtt_packet ack = pkt(fx, 0, 5);
            assert_int_equal(ack.fh.type, MQTT_CONNACK);
            assert_true(ack.u.connack.has_wildcard_sub && ack.u.connack.wildcard_sub_available);
        }
        mqtt_packet p = pkt(fx, 1, version);
        assert_int_equal(p.fh.type, MQTT_SUBACK);
        assert_int_equal(p.u.suback.count, 2);
        assert_int_equal(p.u.suback.codes[0], 0);
        assert_int_equal(p.u.suback.codes[1], version == 5 ? 0x87 : 0x80);
        p = pkt(fx, 2, version);
        assert_int_equal(p.fh.type, MQTT_PUBLISH);
        assert_int_equal(p.u.publish.qos, 0);
        assert_int_equal(p.u.publish.topic_len, 3);
        assert_memory_equal(p.u.publish.topic, "a/b", 3);
        assert_int_equal(p.u.publish.payload_len, 5);
        assert_memory_equal(p.u.publish.payload, "hello", 5);
        assert_int_equal(fx->unsubs, 1);
        assert_int_equal(pkt(fx, 3, version).fh.type, MQTT_UNSUBACK);
        /* 4 KiB of queued output: four messages of ~1 KiB, the other 96 dropped */
        assert_int_equal(fx->published, 4);
        assert_int_equal(fx->dropped, 96);
        assert_int_equal(fx->mid_stats.publish_out, 5);
        assert_int_equal(fx->mid_stats.publish_out_dropped, 96);
        fx_free(fx);
    }
}

static void sc_receive_max(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 5, 60);
    for (uint16_t i = 1; i <= 3; i++)
        cli_publish(fd, 5, 1, i, "t", "x", 1, false);
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v5_receive_maximum_exceeded_disconnects(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.receive_maximum = 2;
    fx->puback_delay_ms = -1; /* the application never acknowledges */
    fx_run(fx, sc_receive_max);
    assert_int_equal(fx->publishes, 2);
    mqtt_packet p = pkt(fx, 0, 5);
    assert_int_equal(p.u.connack.receive_maximum, 2);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_RECEIVE_MAXIMUM_EXCEEDED);
    fx_free(fx);
}

static void sample_publishes(fixture *fx)
{
    fx->publishes_at_sample = fx->publishes;
    mqtt_server_get_stats(fx->srv, &fx->mid_stats);
}

static void start_acks(fixture *fx)
{
    fx->puback_delay_ms = 1;
    ack_pending(fx);
}

static void sc_v311_flow(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 4, 60);
    uint8_t buf[256];
    size_t n = 0;
    for (uint16_t i = 1; i <= 5; i++) {
        mqtt_publish p = {.qos = 1,
                          .packet_id = i,
                          .topic = "t",
                          .topic_len = 1,
                          .payload = (const uint8_t *)"x",
                          .payload_len = 1};
        n += (size_t)mqtt_encode_publish(buf + n, sizeof buf - n, 4, &p);
    }
    cli_send(fd, buf, n); /* all five in one segment */
    usleep(200 * 1000);
    fx_on_loop(fx, sample_publishes);
    fx_on_loop(fx, start_acks);
    for (int i = 0; i < 5; i++)
        cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v311_reading_pauses_at_receive_maximum(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.receive_maximum = 2;
    fx->puback_delay_ms = -1; /* hold acks until the client has sampled */
    fx_run(fx, sc_v311_flow);
    assert_int_equal(fx->publishes_at_sample, 2); /* the rest waits in the server */
    assert_int_equal(fx->publishes, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fx->pub_ids[i], i + 1);
    assert_int_equal(fx->npkts, 6);
    for (int i = 1; i <= 5; i++) {
        mqtt_packet p = pkt(fx, i, 4);
        assert_int_equal(p.fh.type, MQTT_PUBACK);
    }
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT);
    fx_free(fx);
}

static void sc_coalesce(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 4, 60);
    uint8_t buf[512];
    size_t n = 0;
    for (uint16_t i = 1; i <= 10; i++) {
        mqtt_publish p = {.qos = 1,
                          .packet_id = i,
                          .topic = "t",
                          .topic_len = 1,
                          .payload = (const uint8_t *)"x",
                          .payload_len = 1};
        n += (size_t)mqtt_encode_publish(buf + n, sizeof buf - n, 4, &p);
    }
    n += (size_t)mqtt_encode_pingreq(buf + n, sizeof buf - n);
    cli_send(fd, buf, n);
    usleep(100 * 1000); /* let every reply arrive before looking */
    uint8_t rx[256];
    ssize_t r = recv(fd, rx, sizeof rx, 0);
    fx->first_recv = (int)r;
    if (r > 0) {
        memcpy(fx->pkts[0], rx, (size_t)r);
        fx->pkt_len[0] = (size_t)r;
    }
    cli_send_hex(fd, "e000");
    close(fd);
}

static void test_replies_to_one_read_are_coalesced_into_one_write(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->puback_delay_ms = 0; /* synchronous acks inside on_publish */
    fx_run(fx, sc_coalesce);
    /* CONNACK was read already; ten PUBACKs + PINGRESP arrive as one 42-byte segment */
    assert_int_equal(fx->first_recv, 42);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fx->pkts[0][4 * i], 0x40);
        assert_int_equal(fx->pkts[0][4 * i + 3], i + 1);
    }
    assert_memory_equal(fx->pkts[0] + 40, "\xd0\x00", 2);
    fx_free(fx);
}

static void sc_split(fixture *fx)
{
    int fd = cli_open(fx);
    /* CONNECT one byte at a time */
    mqtt_connect c = {.protocol_version = 5,
                      .clean_start = true,
                      .keepalive = 30,
                      .client_id = "split",
                      .client_id_len = 5,
                      .request_problem_info = true};
    uint8_t buf[128];
    int n = mqtt_encode_connect(buf, sizeof buf, &c);
    for (int i = 0; i < n; i++) {
        cli_send(fd, buf + i, 1);
        usleep(2000);
    }
    cli_read(fx, fd);
    /* a 200 KB publish in uneven chunks, followed by a PINGREQ in the same last chunk */
    static uint8_t payload[200000], pk[200100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    mqtt_publish p = {.qos = 1,
                      .packet_id = 9,
                      .topic = "big/blob",
                      .topic_len = 8,
                      .payload = payload,
                      .payload_len = sizeof payload};
    n = mqtt_encode_publish(pk, sizeof pk, 5, &p);
    n += mqtt_encode_pingreq(pk + n, sizeof pk - (size_t)n);
    size_t off = 0, step = 3;
    while (off < (size_t)n) {
        size_t k = step < (size_t)n - off ? step : (size_t)n - off;
        cli_send(fd, pk + off, k);
        off += k;
        step = step * 3 + 1;
        usleep(1000);
    }
    cli_read(fx, fd);
    cli_read(fx, fd);
    fx_on_loop(fx, sample_publishes);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_packets_split_across_reads_are_reassembled(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_split);
    assert_int_equal(fx->connects, 1);
    assert_string_equal(fx->client_id, "split");
    assert_int_equal(fx->publishes, 1);
    assert_string_equal(fx->topic, "big/blob");
    assert_int_equal(fx->payload_len, 200000);
    uint32_t sum = 0;
    for (size_t i = 0; i < 200000; i++)
        sum = sum * 31 + (uint8_t)(i * 7);
    assert_int_equal(fx->payload_sum, sum);
    assert_int_equal(pkt(fx, 1, 5).fh.type, MQTT_PUBACK);
    assert_int_equal(pkt(fx, 2, 5).fh.type, MQTT_PINGRESP);
    /* once drained, the connection holds no buffer */
    assert_true(fx->mid_stats.memory_bytes < 4096);
    fx_free(fx);
}

#define IDLE_CONNS 50

static void sc_idle_memory(fixture *fx)
{
    int fds[IDLE_CONNS];
    for (int i = 0; i < IDLE_CONNS; i++) {
        fds[i] = cli_open(fx);
        fx->npkts = 0;
        cli_connect_v(fx, fds[i], i % 2 ? 5 : 4, 60);
    }
    fx_on_loop(fx, sample_publishes);
    for (int i = 0; i < IDLE_CONNS; i++)
        close(fds[i]);
    usleep(100 * 1000);
}

static void test_idle_connection_costs_well_under_4kb(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_idle_memory);
    assert_int_equal(fx->connects, IDLE_CONNS);
    assert_int_equal(fx->mid_stats.sessions_current, IDLE_CONNS);
    uint64_t per_conn = fx->mid_stats.memory_bytes / IDLE_CONNS;
    print_message("idle connection: %llu bytes of server memory\n", (unsigned long long)per_conn);
    assert_true(per_conn < 1024);
    assert_int_equal(fx->closes, IDLE_CONNS);
    assert_int_equal(fx->close_why, MQTT_CLOSE_PEER_GONE);
    fx_free(fx);
}

static void sc_stop_while_connected(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 5, 60);
    fx_client_done(fx); /* the server stops while this connection is open */
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_server_stop_sends_server_shutting_down(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_stop_while_connected);
    assert_int_equal(fx->npkts, 2);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_SERVER_SHUTTING_DOWN);
    assert_true(fx->eof);
    assert_int_equal(fx->close_why, MQTT_CLOSE_SERVER_STOP);
    fx_free(fx);
}

static void sc_payload_format(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 5, 60);
    /* QoS 1, Payload Format Indicator 1 (UTF-8) but the payload is not UTF-8 */
    cli_send_hex(fd, "3209 000161 0021 020101 ff");
    cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_v5_payload_not_matching_its_format_is_refused_by_puback(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_payload_format);
    assert_int_equal(fx->publishes, 0);
    mqtt_packet p = pkt(fx, 1, 5);
    assert_int_equal(p.fh.type, MQTT_PUBACK);
    assert_int_equal(p.u.ack.packet_id, 0x21);
    assert_int_equal(p.u.ack.reason, MQTT_RC_PAYLOAD_FORMAT_INVALID);
    assert_int_equal(fx->close_why, MQTT_CLOSE_CLIENT_DISCONNECT); /* the connection lives on */
    fx_free(fx);
}

static void test_application_can_disconnect_with_a_reason(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->version = 5;
    fx->first_recv = 1;
    fx->disconnect_on_publish = MQTT_RC_ADMINISTRATIVE_ACTION;
    fx_run(fx, sc_publish_then_eof);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_ADMINISTRATIVE_ACTION);
    assert_true(fx->eof);
    assert_int_equal(fx->close_why, MQTT_CLOSE_SERVER_DISCONNECT);
    fx_free(fx);

    /* a code DISCONNECT cannot carry is sent as Unspecified error */
    fx = fx_new();
    fx->version = 5;
    fx->first_recv = 1;
    fx->disconnect_on_publish = MQTT_RC_BAD_USER_NAME_OR_PASSWORD;
    fx_run(fx, sc_publish_then_eof);
    assert_int_equal(disconnect_reason(fx, 1), MQTT_RC_UNSPECIFIED_ERROR);
    fx_free(fx);
}

static void sc_pipelined(fixture *fx)
{
    int fd = cli_open(fx);
    uint8_t buf[1024];
    size_t n = 0;
    mqtt_connect c = {.protocol_version = 4,
                      .clean_start = true,
                      .keepalive = 60,
                      .client_id = "pipe",
                      .client_id_len = 4};
    n += (size_t)mqtt_encode_connect(buf, sizeof buf, &c);
    for (uint16_t i = 1; i <= 20; i++) {
        mqtt_publish p = {.qos = 1,
                          .packet_id = i,
                          .topic = "t",
                          .topic_len = 1,
                          .payload = (const uint8_t *)"x",
                          .payload_len = 1};
        n += (size_t)mqtt_encode_publish(buf + n, sizeof buf - n, 4, &p);
    }
    n += (size_t)mqtt_encode_pingreq(buf + n, sizeof buf - n);
    cli_send(fd, buf, n); /* CONNECT, 20 PUBLISH and PINGREQ in one segment */
    for (int i = 0; i < 22; i++)
        cli_read(fx, fd);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_application_pause_holds_buffered_packets_until_resume(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->pause_on_publish = true;
    fx_run(fx, sc_pipelined);
    assert_int_equal(fx->publishes, 20);
    assert_true(fx->pauses >= 2); /* paused, resumed, paused again ... */
    for (int i = 0; i < 20; i++)
        assert_int_equal(fx->pub_ids[i], i + 1);
    assert_int_equal(fx->npkts, 22);
    assert_int_equal(pkt(fx, 0, 4).fh.type, MQTT_CONNACK);
    for (int i = 1; i <= 20; i++)
        assert_int_equal(pkt(fx, i, 4).u.ack.packet_id, i);
    assert_int_equal(pkt(fx, 21, 4).fh.type, MQTT_PINGRESP);
    fx_free(fx);
}

static void sc_two_conns(fixture *fx)
{
    int a = cli_open(fx);
    cli_connect_v(fx, a, 4, 60);
    int b = cli_open(fx);
    int64_t t0 = now_ms();
    uint8_t byte;
    ssize_t r = recv(b, &byte, 1, 0); /* closed by the server at once */
    fx->first_recv = (int)r;
    fx->elapsed_ms = now_ms() - t0;
    close(b);
    cli_send_hex(a, "e000");
    cli_read_until_eof(fx, a);
    close(a);
}

static void test_connections_over_the_limit_are_closed(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->opt.max_connections = 1;
    fx_run(fx, sc_two_conns);
    assert_int_equal(fx->first_recv, 0);
    assert_true(fx->elapsed_ms < 1000);
    assert_int_equal(fx->connects, 1);
    assert_int_equal(fx->stats.connect_refused, 1);
    assert_int_equal(fx->stats.connections_total, 2);
    fx_free(fx);
}

/* Issue 11 #6: the shared per-address cap closes a connection over it at accept. */
static void test_connections_over_the_per_address_cap_are_closed(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    connlimit *l = connlimit_new(&(connlimit_options){.per_address = 1, .budget = 100});
    fx->opt.limits = l;
    fx_run(fx, sc_two_conns);
    assert_int_equal(fx->first_recv, 0);
    assert_int_equal(fx->connects, 1);
    assert_int_equal(fx->stats.refused_per_address, 1);
    assert_int_equal(fx->stats.connect_refused, 1);
    connlimit_stats st;
    connlimit_get_stats(l, &st);
    assert_int_equal(st.current[CONNLIM_MQTT], 0); /* released at close */
    assert_int_equal(st.refused[CONNLIM_MQTT][CONNLIM_PER_ADDRESS], 1);
    fx_free(fx);
    connlimit_free(l);
}

static void sc_v6(fixture *fx)
{
    int fd = cli_open(fx);
    cli_connect_v(fx, fd, 5, 60);
    cli_send_hex(fd, "e000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_ipv6_listen_address_and_peer_format(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0) close(probe);
    if (!have_v6) skip();
    fixture *fx = fx_new();
    fx->ipv6 = true;
    fx_run_at(fx, "[::1]:0", sc_v6);
    assert_int_equal(fx->connects, 1);
    assert_true(strncmp(fx->peer, "[::1]:", 6) == 0);
    fx_free(fx);
}

static void sc_bad_connects(fixture *fx)
{
    /* MQTT 3.1 ("MQIsdp", level 3) */
    int fd = cli_open(fx);
    cli_send_hex(fd, "100e 0006 4d5149736470 03 02 003c 0000");
    cli_read_until_eof(fx, fd);
    close(fd);
    /* v5 CONNECT with the reserved flag bit set */
    fd = cli_open(fx);
    cli_send_hex(fd, "100d 0004 4d515454 05 03 003c 00 0000");
    cli_read_until_eof(fx, fd);
    close(fd);
    /* 3.1.1 CONNECT with the reserved flag bit set: no CONNACK at all */
    fd = cli_open(fx);
    cli_send_hex(fd, "100c 0004 4d515454 04 03 003c 0000");
    cli_read_until_eof(fx, fd);
    close(fd);
}

static void test_bad_connects_are_refused_in_the_clients_format(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx_run(fx, sc_bad_connects);
    assert_int_equal(fx->connects, 0);
    assert_int_equal(fx->npkts, 2);
    assert_int_equal(fx->pkt_len[0], 4);
    assert_memory_equal(fx->pkts[0], "\x20\x02\x00\x01", 4); /* unacceptable protocol version */
    mqtt_packet p = pkt(fx, 1, 5);
    assert_int_equal(p.fh.type, MQTT_CONNACK);
    assert_int_equal(p.u.connack.reason, MQTT_RC_MALFORMED_PACKET);
    assert_int_equal(fx->stats.connect_refused, 3);
    assert_int_equal(fx->stats.protocol_errors, 2);
    fx_free(fx);
}

static void test_bad_listen_address_is_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mqtt_callbacks cb = {0};
    mqtt_server *s = NULL;
    assert_int_equal(mqtt_server_start(&loop, "no-port", NULL, &cb, NULL, &s), UV_EINVAL);
    assert_int_equal(mqtt_server_start(&loop, "1.2.3.4.5:1883", NULL, &cb, NULL, &s), UV_EINVAL);
    assert_int_equal(mqtt_server_start(&loop, "127.0.0.1:99999", NULL, &cb, NULL, &s), UV_EINVAL);
    assert_null(s);
    /* a port already taken: the error comes back and nothing is left behind */
    mqtt_server *a = NULL, *b = NULL;
    assert_int_equal(mqtt_server_start(&loop, "127.0.0.1:0", NULL, &cb, NULL, &a), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", mqtt_server_port(a));
    assert_int_equal(mqtt_server_start(&loop, addr, NULL, &cb, NULL, &b), UV_EADDRINUSE);
    assert_null(b);
    mqtt_server_stop(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as iotad does: a peer's reset must not kill the process */
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v311_connect_is_accepted_and_ping_answered),
        cmocka_unit_test(test_v311_refused_connect_gets_mapped_return_code_and_close),
        cmocka_unit_test(test_v5_connect_gets_connack_with_server_limits_and_assigned_id),
        cmocka_unit_test(test_v5_refused_connect_gets_reason_code_and_string),
        cmocka_unit_test(test_keepalive_above_max_is_lowered_for_v5_and_refused_for_v311),
        cmocka_unit_test(test_qos1_publish_is_acked_asynchronously_by_the_application),
        cmocka_unit_test(test_v5_puback_carries_the_application_reason),
        cmocka_unit_test(test_v311_failed_puback_closes_the_connection_instead),
        cmocka_unit_test(test_v5_failed_puback_keeps_the_connection),
        cmocka_unit_test(test_publish_with_qos2_is_refused),
        cmocka_unit_test(test_v5_publish_with_retain_is_refused),
        cmocka_unit_test(test_oversized_packet_is_refused),
        cmocka_unit_test(test_keepalive_timeout_closes_the_connection),
        cmocka_unit_test(test_will_is_handed_over_unless_a_normal_disconnect_removed_it),
        cmocka_unit_test(test_garbage_first_packet_closes_without_reply),
        cmocka_unit_test(test_connect_must_arrive_within_the_timeout),
        cmocka_unit_test(test_second_connect_is_a_protocol_error),
        cmocka_unit_test(test_subscribe_is_answered_with_failure_codes),
        cmocka_unit_test(test_subscriptions_go_to_the_handler_and_deliveries_are_bounded),
        cmocka_unit_test(test_v5_receive_maximum_exceeded_disconnects),
        cmocka_unit_test(test_v311_reading_pauses_at_receive_maximum),
        cmocka_unit_test(test_replies_to_one_read_are_coalesced_into_one_write),
        cmocka_unit_test(test_packets_split_across_reads_are_reassembled),
        cmocka_unit_test(test_idle_connection_costs_well_under_4kb),
        cmocka_unit_test(test_server_stop_sends_server_shutting_down),
        cmocka_unit_test(test_v5_payload_not_matching_its_format_is_refused_by_puback),
        cmocka_unit_test(test_application_can_disconnect_with_a_reason),
        cmocka_unit_test(test_application_pause_holds_buffered_packets_until_resume),
        cmocka_unit_test(test_connections_over_the_limit_are_closed),
        cmocka_unit_test(test_connections_over_the_per_address_cap_are_closed),
        cmocka_unit_test(test_ipv6_listen_address_and_peer_format),
        cmocka_unit_test(test_bad_connects_are_refused_in_the_clients_format),
        cmocka_unit_test(test_bad_listen_address_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
