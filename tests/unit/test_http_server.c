/* HTTP server: the request parser driven from buffers, then a real server on 127.0.0.1:0 running
 * its loop in a thread while the test talks to it through blocking sockets. Responses are read
 * with http_parser in response mode; WebSocket frames with the ws codec in client mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/http_server.h"

/* ======================================================================================
 * Parser, driven from buffers
 * ====================================================================================== */

static http_req_parser *feed_str(const char *s, http_parse_result *r, size_t *used)
{
    http_req_parser *p = http_req_parser_new(16 * 1024, 1024);
    assert_non_null(p);
    *r = http_req_parser_feed(p, s, strlen(s), used);
    return p;
}

static void test_parser_stops_after_each_pipelined_request(void **state)
{
    (void)state;
    const char *s = "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Two: 2\r\n\r\n"
                    "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
    http_parse_result r;
    size_t used;
    http_req_parser *p = feed_str(s, &r, &used);
    assert_int_equal(r, HTTP_PARSE_REQUEST);
    const http_request *req = http_req_parser_request(p);
    assert_string_equal(req->path, "/a b");
    assert_string_equal(req->query, "x=1");
    assert_string_equal(req->method_name, "GET");
    assert_string_equal(http_req_header(req, "x-two"), "2");
    assert_null(http_req_header(req, "x-three"));
    assert_true(req->keep_alive);
    assert_int_equal(req->body_len, 0);
    assert_string_equal(req->body, "");
    http_req_parser_reset(p);
    size_t used2;
    r = http_req_parser_feed(p, s + used, strlen(s) - used, &used2);
    assert_int_equal(r, HTTP_PARSE_REQUEST);
    assert_int_equal(used + used2, strlen(s));
    req = http_req_parser_request(p);
    assert_int_equal(req->method, HTTP_POST);
    assert_int_equal(req->body_len, 3);
    assert_string_equal(req->body, "xyz");
    http_req_parser_free(p);
}

static void test_parser_gives_the_same_request_for_every_split_point(void **state)
{
    (void)state;
    const char *s = "POST /up?d=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Cookie: a=1; sid=s3\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
    size_t n = strlen(s);
    for (size_t split = 0; split <= n; split++) {
        http_req_parser *p = http_req_parser_new(16 * 1024, 1024);
        size_t u1 = 0, u2 = 0;
        http_parse_result r = http_req_parser_feed(p, s, split, &u1);
        if (r != HTTP_PARSE_REQUEST) {
            assert_int_equal(r, HTTP_PARSE_NEED_MORE);
            assert_int_equal(u1, split);
            r = http_req_parser_feed(p, s + split, n - split, &u2);
        }
        assert_int_equal(r, HTTP_PARSE_REQUEST);
        assert_int_equal(u1 + u2, n);
        const http_request *req = http_req_parser_request(p);
        assert_int_equal(req->body_len, 7);
        assert_string_equal(req->body, "abcdefg");
        assert_string_equal(req->path, "/up");
        char v[8];
        assert_int_equal(http_cookie(req, "sid", v, sizeof v), 0);
        assert_string_equal(v, "s3");
        http_req_parser_free(p);
    }
}

/* Found by fuzz_http_request: trailer fields grew the arena after the headers were taken,
 * leaving the request pointing at freed memory. */
static void test_parser_ignores_chunked_trailers_without_moving_the_request(void **state)
{
    (void)state;
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "1\r\na\r\n0\r\nX-Trailer: %03000d\r\nY: 2\r\n\r\n",
                     5);
    http_req_parser *p = http_req_parser_new(16 * 1024, 1024);
    size_t used;
    assert_int_equal(http_req_parser_feed(p, buf, (size_t)n, &used), HTTP_PARSE_REQUEST);
    assert_int_equal(used, (size_t)n);
    const http_request *req = http_req_parser_request(p);
    assert_string_equal(req->path, "/t");
    assert_string_equal(http_req_header(req, "host"), "x");
    assert_null(http_req_header(req, "x-trailer"));
    assert_string_equal(req->body, "a");
    http_req_parser_free(p);
}

static void test_parser_refuses_bad_requests_with_the_right_status(void **state)
{
    (void)state;
    struct {
        const char *req;
        int status;
    } cases[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413},
        {"GET / HTTP/1.1\r\nExpect: something\r\n\r\n", 417},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET /%zz HTTP/1.1\r\n\r\n", 400},
        {"GET /%00 HTTP/1.1\r\n\r\n", 400},
        {"CONNECT host:443 HTTP/1.1\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_parse_result r;
        size_t used;
        http_req_parser *p = feed_str(cases[i].req, &r, &used);
        assert_int_equal(r, HTTP_PARSE_ERROR);
        assert_int_equal(http_req_parser_error_status(p), cases[i].status);
        http_req_parser_free(p);
    }
}

/* Issue 11 #4: "GET *" reached the application with path "*" and crashed the static handler.
 * Only origin-form (and absolute-form with an http(s) URL) reaches the application; "*" is
 * valid for OPTIONS alone. */
static void test_parser_refuses_request_targets_that_are_not_origin_form(void **state)
{
    (void)state;
    const char *bad[] = {
        "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
        "HEAD * HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST * HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "OPTIONS *x HTTP/1.1\r\n\r\n",
        "GET *index.html HTTP/1.1\r\n\r\n",
        "GET ftp://h/a HTTP/1.1\r\n\r\n",
        "GET http://user:pw@h/a HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_parse_result r;
        size_t used;
        http_req_parser *p = feed_str(bad[i], &r, &used);
        assert_int_equal(r, HTTP_PARSE_ERROR);
        assert_int_equal(http_req_parser_error_status(p), 400);
        http_req_parser_free(p);
    }
    struct {
        const char *req, *path, *query;
    } good[] = {
        {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", ""},
        {"GET http://h:8080 HTTP/1.1\r\n\r\n", "/", ""},
        {"GET HTTPS://h/a%20b?x=1 HTTP/1.1\r\n\r\n", "/a b", "x=1"},
        {"GET /static/app.js HTTP/1.1\r\n\r\n", "/static/app.js", ""},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        http_parse_result r;
        size_t used;
        http_req_parser *p = feed_str(good[i].req, &r, &used);
        assert_int_equal(r, HTTP_PARSE_REQUEST);
        const http_request *req = http_req_parser_request(p);
        assert_string_equal(req->path, good[i].path);
        assert_string_equal(req->query, good[i].query);
        http_req_parser_free(p);
    }
}

static void test_parser_refuses_headers_over_the_limit_with_431(void **state)
{
    (void)state;
    http_req_parser *p = http_req_parser_new(256, 1024);
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nX-Big: %0300d\r\n\r\n", 1);
    size_t used;
    assert_int_equal(http_req_parser_feed(p, buf, (size_t)n, &used), HTTP_PARSE_ERROR);
    assert_int_equal(http_req_parser_error_status(p), 431);
    assert_true(used <= 256);
    http_req_parser_free(p);
}

static void test_parser_flags_valid_websocket_upgrades_only(void **state)
{
    (void)state;
    const char *ok = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    const char *bad = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    http_parse_result r;
    size_t used;
    http_req_parser *p = feed_str(ok, &r, &used);
    assert_int_equal(r, HTTP_PARSE_REQUEST);
    assert_true(http_req_parser_request(p)->websocket_upgrade);
    http_req_parser_free(p);
    p = feed_str(bad, &r, &used);
    assert_int_equal(r, HTTP_PARSE_REQUEST);
    assert_false(http_req_parser_request(p)->websocket_upgrade);
    http_req_parser_free(p);
}

/* ======================================================================================
 * Server in a thread
 * ====================================================================================== */

typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready;
    int port;
    uv_loop_t loop;
    uv_async_t stop;
    http_server *srv;
    http_server_options opt;
    const char *addr;
    int start_rc;
    int close_rc;    /* uv_loop_close(): 0 when the server closed every handle */
    http_conn *held; /* /hold: a request left unanswered until /release */
} test_server;

typedef struct {
    uv_timer_t t;
    http_conn *c;
    int kind; /* 0: respond "async", 1: stream pieces */
    int step;
} delayed;

static void delayed_closed(uv_handle_t *h)
{
    free(h->data);
}

static void delayed_fire(uv_timer_t *t)
{
    delayed *d = t->data;
    http_respond(d->c, 200, "text/plain", NULL, "async", 5);
    http_conn_unref(d->c);
    uv_close((uv_handle_t *)t, delayed_closed);
}

/* Drain-paced stream: 64 pieces of 64 KiB, written only when the previous ones left. */
typedef struct {
    int sent;
} pacer;

static void pace(void *arg, http_conn *c)
{
    pacer *pc = arg;
    static char piece[65536];
    memset(piece, 'z', sizeof piece);
    if (http_conn_closed(c)) {
        http_conn_unref(c);
        free(pc);
        return;
    }
    while (pc->sent < 64) {
        int q = http_stream_write(c, piece, sizeof piece);
        pc->sent++;
        if (q > 256 * 1024) { /* enough in flight: wait for the drain */
            http_conn_on_drain(c, pace, pc);
            return;
        }
    }
    http_stream_end(c);
    http_conn_unref(c);
    free(pc);
}

static void ws_echo(void *ud, ws_conn *w, bool is_text, const uint8_t *data, size_t len)
{
    (void)ud;
    if (len == 5 && memcmp(data, "flood", 5) == 0) {
        static char chunk[16384];
        memset(chunk, 'f', sizeof chunk);
        for (int i = 0; i < 8192; i++) /* 128 MiB: far more than socket buffers hold */
            if (ws_send_text(w, chunk, sizeof chunk) < 0) break;
        return;
    }
    if (len == 3 && memcmp(data, "bye", 3) == 0) {
        ws_close(w, 4000, "server says bye");
        return;
    }
    if (is_text)
        ws_send_text(w, (const char *)data, len);
    else
        ws_send_binary(w, data, len);
}

static void ws_closed(void *ud, ws_conn *w)
{
    (void)ud;
    (void)w;
}

static void on_request(void *ud, http_conn *c, const http_request *req)
{
    test_server *ts = ud;
    char buf[512];
    if (strcmp(req->path, "/hello") == 0) {
        http_respond(c, 200, "text/plain", "X-Test: yes\r\n", "hello", 5);
    } else if (strcmp(req->path, "/echo") == 0) {
        char extra[128];
        snprintf(extra, sizeof extra, "X-Method: %s\r\n", req->method_name);
        http_respond(c, 200, "application/octet-stream", extra, req->body, req->body_len);
    } else if (strcmp(req->path, "/async") == 0) {
        delayed *d = calloc(1, sizeof *d);
        d->c = c;
        http_conn_ref(c);
        uv_timer_init(&ts->loop, &d->t);
        d->t.data = d;
        uv_timer_start(&d->t, delayed_fire, 50, 0);
    } else if (strcmp(req->path, "/stream") == 0) {
        http_stream_begin(c, 200, "text/plain", NULL);
        http_stream_write(c, "part1,", 6);
        http_stream_write(c, "part2,", 6);
        http_stream_write(c, "", 0);
        http_stream_write(c, "part3", 5);
        http_stream_end(c);
    } else if (strcmp(req->path, "/big") == 0) {
        pacer *pc = calloc(1, sizeof *pc);
        http_conn_ref(c);
        http_stream_begin(c, 200, "application/octet-stream", NULL);
        pace(pc, c);
    } else if (strcmp(req->path, "/lookup") == 0) {
        char q[32] = "", ck[32] = "";
        http_query_param(req->query, "q", q, sizeof q);
        http_cookie(req, "sid", ck, sizeof ck);
        const char *ua = http_req_header(req, "user-agent");
        int n = snprintf(buf, sizeof buf, "q=%s sid=%s ua=%s peer_ok=%d", q, ck, ua ? ua : "",
                         strncmp(req->peer, "127.0.0.1:", 10) == 0);
        http_respond(c, 200, "text/plain", NULL, buf, (size_t)n);
    } else if (strcmp(req->path, "/stats") == 0) {
        http_server_stats st;
        http_server_get_stats(ts->srv, &st);
        int n = snprintf(
            buf, sizeof buf, "requests=%llu 4xx=%llu 5xx=%llu ws=%llu slow=%llu refused=%llu",
            (unsigned long long)st.requests, (unsigned long long)st.responses_4xx,
            (unsigned long long)st.responses_5xx, (unsigned long long)st.ws_current,
            (unsigned long long)st.ws_dropped_slow, (unsigned long long)st.connections_refused);
        http_respond(c, 200, "text/plain", NULL, buf, (size_t)n);
    } else if (strcmp(req->path, "/ws") == 0) {
        static const ws_callbacks wcb = {ws_echo, ws_closed, NULL};
        http_ws_accept(c, req, "X-WS: 1\r\n", &wcb, NULL);
    } else if (strcmp(req->path, "/hold") == 0) {
        http_conn_ref(c);
        ts->held = c;
    } else if (strcmp(req->path, "/consume") == 0) { /* like /hold, body released at once */
        http_conn_ref(c);
        ts->held = c;
        http_conn_release_body(c);
    } else if (strcmp(req->path, "/release") == 0 || strcmp(req->path, "/held") == 0) {
        if (ts->held && req->path[1] == 'r') {
            http_respond(ts->held, 200, "text/plain", NULL, "released", 8);
            http_conn_unref(ts->held);
            ts->held = NULL;
        }
        http_server_stats st;
        http_server_get_stats(ts->srv, &st);
        int n = snprintf(buf, sizeof buf, "held=%llu refused=%llu app=%d",
                         (unsigned long long)st.body_bytes_held,
                         (unsigned long long)st.bodies_refused, ts->held != NULL);
        http_respond(c, 200, "text/plain", NULL, buf, (size_t)n);
    } else if (strcmp(req->path, "/nocontent") == 0) {
        http_respond(c, 204, NULL, NULL, NULL, 0);
    } else {
        http_respond(c, 404, "text/plain", NULL, "nope", 4);
    }
}

static void stop_cb(uv_async_t *a)
{
    test_server *ts = a->data;
    http_server_stop(ts->srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_thread(void *arg)
{
    test_server *ts = arg;
    uv_loop_init(&ts->loop);
    uv_async_init(&ts->loop, &ts->stop, stop_cb);
    ts->stop.data = ts;
    static const http_callbacks cb = {on_request, NULL};
    ts->start_rc = http_server_start(&ts->loop, ts->addr, &ts->opt, &cb, ts, &ts->srv);
    pthread_mutex_lock(&ts->mu);
    ts->port = ts->start_rc == 0 ? http_server_port(ts->srv) : -1;
    ts->ready = true;
    pthread_cond_signal(&ts->cv);
    pthread_mutex_unlock(&ts->mu);
    if (ts->start_rc != 0) uv_close((uv_handle_t *)&ts->stop, NULL);
    uv_run(&ts->loop, UV_RUN_DEFAULT);
    ts->close_rc = uv_loop_close(&ts->loop);
    return NULL;
}

static test_server *server_up(const char *addr, const http_server_options *opt)
{
    test_server *ts = calloc(1, sizeof *ts);
    pthread_mutex_init(&ts->mu, NULL);
    pthread_cond_init(&ts->cv, NULL);
    ts->addr = addr;
    if (opt) ts->opt = *opt;
    pthread_create(&ts->th, NULL, server_thread, ts);
    pthread_mutex_lock(&ts->mu);
    while (!ts->ready)
        pthread_cond_wait(&ts->cv, &ts->mu);
    pthread_mutex_unlock(&ts->mu);
    return ts;
}

static void server_down(test_server *ts)
{
    if (ts->start_rc == 0) uv_async_send(&ts->stop);
    pthread_join(ts->th, NULL);
    assert_int_equal(ts->close_rc, 0);
    pthread_mutex_destroy(&ts->mu);
    pthread_cond_destroy(&ts->cv);
    free(ts);
}

static int setup(void **state)
{
    log_set_level(LOG_WARN);
    http_server_options opt = {.max_body_bytes = 64 * 1024,
                               .max_header_bytes = 4096,
                               .idle_timeout_ms = 400,
                               .ws_max_message = 100 * 1024,
                               .max_queued_bytes = 256 * 1024};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    assert_int_equal(ts->start_rc, 0);
    assert_true(ts->port > 0);
    *state = ts;
    return 0;
}

static int teardown(void **state)
{
    server_down(*state);
    return 0;
}

/* ---- client ---- */

typedef struct {
    int fd;
    char *buf;
    size_t off, len, cap;
} client;

typedef struct {
    int status;
    char headers[4096]; /* "name: value\n", names lower-cased */
    size_t hlen;
    char *body;
    size_t body_len, body_cap;
    bool complete;
    bool head;
    bool last_was_value;
} response;

static client *cl_open_port(int port)
{
    client *cl = calloc(1, sizeof *cl);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cl->fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(cl->fd, (struct sockaddr *)&a, sizeof a), 0);
    cl->cap = 1 << 16;
    cl->buf = malloc(cl->cap);
    return cl;
}

static client *cl_open(void **state)
{
    return cl_open_port(((test_server *)*state)->port);
}

static void cl_close(client *cl)
{
    close(cl->fd);
    free(cl->buf);
    free(cl);
}

static void cl_send(client *cl, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void cl_sends(client *cl, const char *s)
{
    cl_send(cl, s, strlen(s));
}

/* Reads more bytes; returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t cl_fill(client *cl)
{
    if (cl->off == cl->len) cl->off = cl->len = 0;
    if (cl->cap - cl->len < 4096) {
        cl->cap *= 2;
        cl->buf = realloc(cl->buf, cl->cap);
    }
    ssize_t n = recv(cl->fd, cl->buf + cl->len, cl->cap - cl->len, 0);
    if (n > 0) cl->len += (size_t)n;
    return n;
}

/* True once the peer has closed (EOF or reset) within the receive timeout. */
static bool cl_sees_close(client *cl)
{
    for (;;) {
        cl->off = cl->len = 0;
        ssize_t n = cl_fill(cl);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

static int r_on_status(http_parser *p, const char *at, size_t len)
{
    (void)p;
    (void)at;
    (void)len;
    return 0;
}

static int r_on_header_field(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    if (r->last_was_value && r->hlen < sizeof r->headers - 1) r->headers[r->hlen++] = '\n';
    r->last_was_value = false;
    for (size_t i = 0; i < len && r->hlen < sizeof r->headers - 3; i++)
        r->headers[r->hlen++] = (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]);
    return 0;
}

static int r_on_header_value(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    if (!r->last_was_value && r->hlen < sizeof r->headers - 2) {
        r->headers[r->hlen++] = ':';
        r->headers[r->hlen++] = ' ';
    }
    r->last_was_value = true;
    for (size_t i = 0; i < len && r->hlen < sizeof r->headers - 2; i++)
        r->headers[r->hlen++] = at[i];
    return 0;
}

static int r_on_headers_complete(http_parser *p)
{
    response *r = p->data;
    r->headers[r->hlen++] = '\n';
    r->headers[r->hlen] = '\0';
    r->status = p->status_code;
    return r->head ? 1 : 0;
}

static int r_on_body(http_parser *p, const char *at, size_t len)
{
    response *r = p->data;
    if (r->body_len + len + 1 > r->body_cap) {
        r->body_cap = (r->body_len + len + 1) * 2;
        r->body = realloc(r->body, r->body_cap);
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int r_on_complete(http_parser *p)
{
    response *r = p->data;
    r->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

/* Reads one response; 0 ok, -1 if the connection ended first. Free r->body after. */
static int cl_response(client *cl, response *r, bool head)
{
    memset(r, 0, sizeof *r);
    r->head = head;
    r->body = calloc(1, 1);
    r->body_cap = 1;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = r;
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_status = r_on_status;
    s.on_header_field = r_on_header_field;
    s.on_header_value = r_on_header_value;
    s.on_headers_complete = r_on_headers_complete;
    s.on_body = r_on_body;
    s.on_message_complete = r_on_complete;
    for (;;) {
        if (cl->len > cl->off) {
            size_t n = http_parser_execute(&p, &s, cl->buf + cl->off, cl->len - cl->off);
            cl->off += n;
            if (r->complete) return 0;
            if (HTTP_PARSER_ERRNO(&p) != HPE_OK) return -1;
        }
        ssize_t got = cl_fill(cl);
        if (got == 0) { /* EOF: a close-delimited body ends here */
            http_parser_execute(&p, &s, NULL, 0);
            return r->complete ? 0 : -1;
        }
        if (got < 0) return -1;
    }
}

static bool has_header(const response *r, const char *line)
{
    return strstr(r->headers, line) != NULL;
}

/* One request, one response; asserts the status and returns the body (caller frees). */
static char *roundtrip(client *cl, const char *req, int status, response *r)
{
    cl_sends(cl, req);
    assert_int_equal(cl_response(cl, r, false), 0);
    assert_int_equal(r->status, status);
    return r->body;
}

/* ---- HTTP tests ---- */

static void test_keep_alive_serves_two_requests_on_one_connection(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    assert_true(has_header(&r, "x-test: yes\n"));
    assert_true(has_header(&r, "content-length: 5\n"));
    assert_true(has_header(&r, "date: "));
    assert_false(has_header(&r, "connection: close"));
    char *b = roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(b, "hello");
    free(b);
    cl_close(cl);
}

static void test_post_with_content_length_is_echoed(void **state)
{
    client *cl = cl_open(state);
    response r;
    char *b = roundtrip(
        cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", 200, &r);
    assert_string_equal(b, "hello world");
    assert_true(has_header(&r, "x-method: POST\n"));
    free(b);
    cl_close(cl);
}

static void test_post_with_large_body_in_pieces_is_echoed_intact(void **state)
{
    client *cl = cl_open(state);
    size_t n = 60000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 23);
    char head[128];
    snprintf(head, sizeof head, "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    cl_sends(cl, head);
    for (size_t off = 0; off < n; off += 7000)
        cl_send(cl, body + off, n - off < 7000 ? n - off : 7000);
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, body, n);
    free(r.body);
    free(body);
    cl_close(cl);
}

static void test_post_with_chunked_body_is_dechunked(void **state)
{
    client *cl = cl_open(state);
    response r;
    cl_sends(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello");
    usleep(20000);
    char *b = roundtrip(cl, "\r\n6\r\n world\r\n0\r\n\r\n", 200, &r);
    assert_string_equal(b, "hello world");
    free(b);
    cl_close(cl);
}

static void test_async_response_from_timer_is_delivered(void **state)
{
    client *cl = cl_open(state);
    response r;
    char *b = roundtrip(cl, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(b, "async");
    free(b);
    b = roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(b, "hello");
    free(b);
    cl_close(cl);
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                 "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *want[] = {"async", "hello", "abc", "async"};
    for (int i = 0; i < 4; i++) {
        response r;
        assert_int_equal(cl_response(cl, &r, false), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want[i]);
        free(r.body);
    }
    cl_close(cl);
}

static void test_many_pipelined_requests_in_one_write_all_get_answers(void **state)
{
    client *cl = cl_open(state);
    const char *one = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t ol = strlen(one), n = 500;
    char *all = malloc(ol * n);
    for (size_t i = 0; i < n; i++)
        memcpy(all + i * ol, one, ol);
    cl_send(cl, all, ol * n);
    for (size_t i = 0; i < n; i++) {
        response r;
        assert_int_equal(cl_response(cl, &r, false), 0);
        assert_string_equal(r.body, "hello");
        free(r.body);
    }
    free(all);
    cl_close(cl);
}

static void test_oversized_content_length_gets_413_before_the_body(void **state)
{
    client *cl = cl_open(state);
    response r;
    /* The body is never sent: the answer must not wait for it. */
    free(roundtrip(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", 413,
                   &r));
    assert_true(has_header(&r, "connection: close\n"));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_chunked_body_growing_past_the_limit_gets_413(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[8200];
    memcpy(chunk, "2000\r\n", 6);
    memset(chunk + 6, 'x', 8192);
    memcpy(chunk + 6 + 8192, "\r\n", 2);
    response r;
    for (int i = 0; i < 9; i++) /* 72 KiB > 64 KiB */
        if (send(cl->fd, chunk, sizeof chunk, MSG_NOSIGNAL) < 0) break;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 413);
    free(r.body);
    cl_close(cl);
}

static void test_oversized_headers_get_431(void **state)
{
    client *cl = cl_open(state);
    char big[6000];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Fill: %05000d\r\n\r\n", 7);
    cl_send(cl, big, (size_t)n);
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 431);
    free(r.body);
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_malformed_request_gets_400_and_close(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, &r));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_asterisk_form_gets_400_except_options_which_the_server_answers(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 204, &r));
    assert_true(has_header(&r, "allow: GET, HEAD, POST, PUT, PATCH, DELETE\n"));
    free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    free(roundtrip(cl, "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, &r));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
    cl = cl_open(state);
    cl_sends(cl, "HEAD * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(cl_response(cl, &r, true), 0);
    assert_int_equal(r.status, 400);
    free(r.body);
    cl_close(cl);
}

static void test_connection_close_is_honoured(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, &r));
    assert_true(has_header(&r, "connection: close\n"));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_http10_closes_unless_keep_alive_is_asked(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "GET /hello HTTP/1.0\r\n\r\n", 200, &r));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
    cl = cl_open(state);
    free(roundtrip(cl, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, &r));
    assert_true(has_header(&r, "connection: keep-alive\n"));
    char *b = roundtrip(cl, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, &r);
    assert_string_equal(b, "hello");
    free(b);
    cl_close(cl);
}

static void test_head_gets_headers_without_body(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    response r;
    assert_int_equal(cl_response(cl, &r, true), 0);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "content-length: 5\n"));
    assert_int_equal(r.body_len, 0);
    free(r.body);
    /* The next response starts right after the head: no stray body bytes. */
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_string_equal(r.body, "hello");
    free(r.body);
    cl_close(cl);
}

static void test_no_content_response_has_no_length_or_body(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "DELETE /nocontent HTTP/1.1\r\nHost: x\r\n\r\n", 204, &r));
    assert_false(has_header(&r, "content-length"));
    free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    cl_close(cl);
}

static void test_expect_100_continue_gets_interim_response(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 "Expect: 100-continue\r\n\r\n");
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 100);
    free(r.body);
    char *b = roundtrip(cl, "data", 200, &r);
    assert_string_equal(b, "data");
    free(b);
    cl_close(cl);
}

static void test_idle_connection_mid_request_gets_408_and_quiet_one_is_closed(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "GET /hello HTTP/1.1\r\nHost:");
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0); /* idle timeout is 400 ms */
    assert_int_equal(r.status, 408);
    free(r.body);
    assert_true(cl_sees_close(cl));
    cl_close(cl);
    cl = cl_open(state);
    free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_streaming_response_is_chunked(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_true(has_header(&r, "transfer-encoding: chunked\n"));
    assert_false(has_header(&r, "content-length"));
    assert_string_equal(r.body, "part1,part2,part3");
    free(r.body);
    /* The connection stays usable after the stream. */
    char *b = roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(b, "hello");
    free(b);
    cl_close(cl);
}

static void test_streaming_to_http10_is_close_delimited(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "GET /stream HTTP/1.0\r\n\r\n");
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_false(has_header(&r, "transfer-encoding"));
    assert_string_equal(r.body, "part1,part2,part3");
    free(r.body);
    cl_close(cl);
}

static void test_drain_paced_stream_delivers_every_byte(void **state)
{
    client *cl = cl_open(state);
    cl_sends(cl, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(100000); /* let the server fill the socket and wait for a drain */
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.body_len, 64 * 65536);
    assert_int_equal(r.body[0], 'z');
    assert_int_equal(r.body[r.body_len - 1], 'z');
    free(r.body);
    cl_close(cl);
}

static void test_headers_query_and_cookies_reach_the_app(void **state)
{
    client *cl = cl_open(state);
    response r;
    char *b = roundtrip(cl,
                        "GET /lookup?x=1&q=a%20b HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n"
                        "Cookie: theme=dark; sid=s-42\r\n\r\n",
                        200, &r);
    assert_string_equal(b, "q=a b sid=s-42 ua=t/1 peer_ok=1");
    free(b);
    cl_close(cl);
}

static void test_stats_count_requests_and_errors(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 404, &r));
    char *b = roundtrip(cl, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(b, "requests=2 4xx=1 5xx=0 ws=0 slow=0 refused=0");
    free(b);
    cl_close(cl);
}

/* ---- WebSocket tests ---- */

static void ws_handshake(client *cl)
{
    cl_sends(cl,
             "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    response r;
    assert_int_equal(cl_response(cl, &r, true), 0);
    assert_int_equal(r.status, 101);
    assert_true(has_header(&r, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"));
    assert_true(has_header(&r, "x-ws: 1\n"));
    free(r.body);
}

static void ws_frame_send(client *cl, bool fin, int op, const void *data, size_t len, bool masked)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t *f = malloc(WS_MAX_HEADER + len);
    size_t h = ws_frame_header(f, fin, op, len, masked ? mask : NULL);
    if (len) memcpy(f + h, data, len);
    if (masked) ws_mask(f + h, len, mask, 0);
    cl_send(cl, f, h + len);
    free(f);
}

/* Next server frame; -1 on EOF. ev->data points into the client buffer. */
static int ws_next(client *cl, ws_parser *p, ws_event *ev)
{
    for (;;) {
        if (cl->len > cl->off) {
            size_t n = ws_parser_feed(p, (uint8_t *)cl->buf + cl->off, cl->len - cl->off, ev);
            cl->off += n;
            if (ev->type != WS_EV_NONE) return 0;
        }
        if (cl->off == cl->len) cl->off = cl->len = 0;
        if (cl_fill(cl) <= 0) return -1;
    }
}

static void test_websocket_echo_ping_and_close_handshake(void **state)
{
    client *cl = cl_open(state);
    ws_handshake(cl);
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    ws_frame_send(cl, true, WS_OP_TEXT, "Hello", 5, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "Hello", 5);

    /* fragmented message with a ping in the middle */
    ws_frame_send(cl, false, WS_OP_TEXT, "frag", 4, true);
    ws_frame_send(cl, true, WS_OP_PING, "pp", 2, true);
    ws_frame_send(cl, true, WS_OP_CONT, "ment", 4, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_PONG);
    assert_memory_equal(ev.data, "pp", 2);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_int_equal(ev.len, 8);
    assert_memory_equal(ev.data, "fragment", 8);

    /* a 70000-byte binary message (64-bit length), echoed intact */
    size_t n = 70000;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)i;
    ws_frame_send(cl, true, WS_OP_BINARY, big, n, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_BINARY);
    assert_int_equal(ev.len, n);
    assert_memory_equal(ev.data, big, n);
    free(big);
    ws_parser_free(&p);
    cl_close(cl);

    cl = cl_open(state);
    ws_handshake(cl);
    ws_parser_init(&p, false, 1 << 20);
    ws_frame_send(cl, true, WS_OP_CLOSE,
                  "\x03\xe8"
                  "done",
                  6, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    assert_true(cl_sees_close(cl));
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_websocket_oversized_message_closes_with_1009(void **state)
{
    client *cl = cl_open(state);
    ws_handshake(cl);
    ws_parser p;
    /* The client-side parser sees the server's close frame as a CLOSE event. */
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    uint8_t *big = calloc(1, 110000); /* > ws_max_message (100 KiB) */
    ws_frame_send(cl, true, WS_OP_BINARY, big, 110000, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, WS_CLOSE_TOO_BIG);
    assert_true(cl_sees_close(cl));
    free(big);
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_websocket_unmasked_frame_closes_with_1002(void **state)
{
    client *cl = cl_open(state);
    ws_handshake(cl);
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    ws_frame_send(cl, true, WS_OP_TEXT, "Hello", 5, false);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, WS_CLOSE_PROTOCOL);
    assert_true(cl_sees_close(cl));
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_websocket_invalid_utf8_closes_with_1007(void **state)
{
    client *cl = cl_open(state);
    ws_handshake(cl);
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    ws_frame_send(cl, true, WS_OP_TEXT, "\xff\xfe", 2, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, WS_CLOSE_INVALID_DATA);
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_websocket_server_close_waits_for_client_answer(void **state)
{
    client *cl = cl_open(state);
    ws_handshake(cl);
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    ws_frame_send(cl, true, WS_OP_TEXT, "bye", 3, true);
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, 4000);
    assert_int_equal(ev.len, strlen("server says bye"));
    ws_frame_send(cl, true, WS_OP_CLOSE, "\x0f\xa0", 2, true);
    assert_true(cl_sees_close(cl));
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_websocket_frames_sent_with_the_upgrade_are_processed(void **state)
{
    client *cl = cl_open(state);
    /* Handshake and first frame in one write: the frame waits in the buffer. */
    uint8_t frame_buf[32];
    static const uint8_t mask[4] = {9, 8, 7, 6};
    size_t h = ws_frame_header(frame_buf, true, WS_OP_TEXT, 4, mask);
    memcpy(frame_buf + h, "ping", 4);
    ws_mask(frame_buf + h, 4, mask, 0);
    const char *hs = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n";
    char all[512];
    size_t hl = strlen(hs);
    memcpy(all, hs, hl);
    memcpy(all + hl, frame_buf, h + 4);
    cl_send(cl, all, hl + h + 4);
    response r;
    assert_int_equal(cl_response(cl, &r, true), 0);
    assert_int_equal(r.status, 101);
    free(r.body);
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_TEXT);
    assert_memory_equal(ev.data, "ping", 4);
    ws_parser_free(&p);
    cl_close(cl);
}

static void test_bad_websocket_upgrade_gets_400(void **state)
{
    client *cl = cl_open(state);
    response r;
    free(roundtrip(cl,
                   "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   400, &r));
    cl_close(cl);
}

static void test_slow_websocket_consumer_is_dropped_and_counted(void **state)
{
    client *cl = cl_open(state);
    int small = 4096;
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ws_handshake(cl);
    ws_frame_send(cl, true, WS_OP_TEXT, "flood", 5, true);
    usleep(300000); /* never read: the server's queue passes 256 KiB and it gives up */
    client *probe = cl_open(state);
    response r;
    char *b = roundtrip(probe, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_non_null(strstr(b, "ws=0 slow=1"));
    free(b);
    cl_close(probe);
    assert_true(cl_sees_close(cl));
    cl_close(cl);
}

static void test_connections_over_the_limit_are_closed_and_counted(void **state)
{
    (void)state;
    http_server_options opt = {.max_connections = 2};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    client *a = cl_open_port(ts->port), *b = cl_open_port(ts->port);
    response r;
    free(roundtrip(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    free(roundtrip(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    client *c = cl_open_port(ts->port);
    assert_true(cl_sees_close(c));
    cl_close(c);
    cl_close(b);
    usleep(50000); /* let the server see b go */
    c = cl_open_port(ts->port);
    char *body = roundtrip(c, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    const char *rf = strstr(body, "refused=");
    assert_non_null(rf);
    assert_true(atoi(rf + 8) >= 1); /* c, and any probe that came before b was seen gone */
    free(body);
    cl_close(c);
    cl_close(a);
    server_down(ts);
}

/* Polls GET /held until the server's body accounting reads `want`. */
static void wait_held(int port, const char *want)
{
    client *p = cl_open_port(port);
    for (int i = 0; i < 500; i++) {
        response r;
        char *b = roundtrip(p, "GET /held HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
        bool ok = strcmp(b, want) == 0;
        free(b);
        if (ok) break;
        assert_true(i < 499);
        usleep(10000);
    }
    cl_close(p);
}

/* Issue 11 #2: the bytes of request bodies held at once are bounded; a large request over the
 * bound gets 503 + Retry-After before its body is read, small ones always pass, and a body the
 * app has released (decoded) no longer counts. */
static void test_request_bodies_over_the_budget_get_503_before_the_body(void **state)
{
    (void)state;
    http_server_options opt = {.max_body_bytes = 1 << 20, .max_body_bytes_total = 300 * 1024};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    static char big[200 * 1024];
    memset(big, 'b', sizeof big);
    char head[160];
    int hn = snprintf(head, sizeof head,
                      "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", sizeof big);
    client *a = cl_open_port(ts->port);
    cl_send(a, head, (size_t)hn);
    cl_send(a, big, sizeof big); /* held by the app: 200 KiB of the 300 KiB budget */
    wait_held(ts->port, "held=204800 refused=0 app=1");
    client *b = cl_open_port(ts->port); /* headers only: refused before any body byte */
    cl_send(b, head, (size_t)hn);
    response r;
    assert_int_equal(cl_response(b, &r, false), 0);
    assert_int_equal(r.status, 503);
    assert_true(has_header(&r, "retry-after: 1\n"));
    free(r.body);
    cl_close(b);
    client *c = cl_open_port(ts->port); /* a small body passes whatever the budget */
    char *body =
        roundtrip(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nsmall", 200, &r);
    assert_string_equal(body, "small");
    free(body);
    body = roundtrip(c, "GET /release HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(body, "held=0 refused=1 app=0");
    free(body);
    assert_int_equal(cl_response(a, &r, false), 0);
    assert_string_equal(r.body, "released");
    free(r.body);
    /* released by the app as soon as it has used it: two big bodies fit one after the other */
    hn = snprintf(head, sizeof head,
                  "POST /consume HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", sizeof big);
    cl_send(a, head, (size_t)hn);
    cl_send(a, big, sizeof big);
    wait_held(ts->port, "held=0 refused=1 app=1"); /* the app has it, and has released the body */
    b = cl_open_port(ts->port);
    hn = snprintf(head, sizeof head,
                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", sizeof big);
    cl_send(b, head, (size_t)hn);
    cl_send(b, big, sizeof big);
    assert_int_equal(cl_response(b, &r, false), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, sizeof big);
    free(r.body);
    cl_close(b);
    body = roundtrip(c, "GET /release HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r);
    assert_string_equal(body, "held=0 refused=1 app=0");
    free(body);
    cl_close(c);
    assert_int_equal(cl_response(a, &r, false), 0);
    free(r.body);
    cl_close(a);
    server_down(ts);
}

/* Issue 11 #6: a header trickling in one byte at a time never trips the idle timer; the
 * header deadline ends it with 408. */
static void test_slow_header_gets_408_at_the_header_deadline(void **state)
{
    (void)state;
    http_server_options opt = {.idle_timeout_ms = 60000, .header_timeout_ms = 300};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    client *cl = cl_open_port(ts->port);
    struct timeval tv = {.tv_usec = 50000};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: "
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    bool answered = false;
    for (size_t i = 0; req[i] && !answered; i++) {
        if (send(cl->fd, req + i, 1, MSG_NOSIGNAL) != 1) break; /* closed after the 408 */
        answered = cl_fill(cl) > 0;
    }
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    response r;
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 408);
    free(r.body);
    cl_close(cl);
    /* a connection that sends nothing at all is closed at the same deadline */
    cl = cl_open_port(ts->port);
    assert_int_equal(cl_response(cl, &r, false), 0);
    assert_int_equal(r.status, 408);
    free(r.body);
    cl_close(cl);
    http_server_stats st;
    http_server_get_stats(ts->srv, &st);
    assert_int_equal(st.header_timeouts, 2);
    server_down(ts);
}

/* The owner's yield hook runs between connections during bursts (each accept and each read
 * at least): server.c runs the device loop there, so MQTT acks do not queue behind thousands
 * of HTTP events. */
static void count_yield(void *arg)
{
    (*(int *)arg)++;
}

static void test_the_owner_is_given_a_yield_between_connections(void **state)
{
    (void)state;
    static int yields;
    yields = 0;
    http_server_options opt = {.yield = count_yield, .yield_arg = &yields};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    enum { N = 5 };
    for (int i = 0; i < N; i++) {
        client *cl = cl_open_port(ts->port);
        response r;
        free(roundtrip(cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
        cl_close(cl);
    }
    server_down(ts); /* joins the server's thread: yields is read after its last write */
    assert_true(yields >= 2 * N);
}

/* Per-address caps: the listener closes a connection over the cap at once. */
static void test_connections_over_the_per_address_cap_are_closed(void **state)
{
    (void)state;
    connlimit *l = connlimit_new(&(connlimit_options){.per_address = 2, .budget = 100});
    http_server_options opt = {.limits = l};
    test_server *ts = server_up("127.0.0.1:0", &opt);
    client *a = cl_open_port(ts->port), *b = cl_open_port(ts->port);
    response r;
    free(roundtrip(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    free(roundtrip(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 200, &r));
    client *c = cl_open_port(ts->port);
    assert_true(cl_sees_close(c));
    cl_close(c);
    cl_close(b);
    char *body = NULL;
    for (int i = 0; i < 200; i++) { /* until the server has seen b go */
        c = cl_open_port(ts->port);
        cl_sends(c, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n");
        if (cl_response(c, &r, false) == 0) {
            body = r.body;
            cl_close(c);
            break;
        }
        free(r.body);
        cl_close(c);
        usleep(10000);
    }
    assert_non_null(body);
    const char *rf = strstr(body, "refused=");
    assert_non_null(rf);
    assert_true(atoi(rf + 8) >= 1); /* c, and any probe that came before b was seen gone */
    free(body);
    cl_close(a);
    server_down(ts);
    connlimit_free(l);
}

static void test_server_stop_sends_going_away_to_websocket_clients(void **state)
{
    (void)state;
    test_server *ts = server_up("127.0.0.1:0", NULL);
    client *cl = cl_open_port(ts->port);
    ws_handshake(cl);
    server_down(ts); /* every handle closed, the loop thread has exited */
    ws_parser p;
    ws_parser_init(&p, false, 1 << 20);
    ws_event ev;
    assert_int_equal(ws_next(cl, &p, &ev), 0);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, WS_CLOSE_GOING_AWAY);
    assert_true(cl_sees_close(cl));
    ws_parser_free(&p);
    cl_close(cl);
}

/* ---- listen addresses ---- */

static void test_ipv6_loopback_listen_serves_requests(void **state)
{
    (void)state;
    test_server *ts = server_up("[::1]:0", NULL);
    if (ts->start_rc != 0) { /* no IPv6 on this host */
        server_down(ts);
        skip();
    }
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)ts->port)};
    a.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    char buf[512];
    size_t got = 0;
    ssize_t n;
    while ((n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(buf, "\r\n\r\nhello"));
    close(fd);
    server_down(ts);
}

static void test_bad_listen_addresses_are_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static const http_callbacks cb = {on_request, NULL};
    http_server *s = NULL;
    assert_int_equal(http_server_start(&loop, "nonsense", NULL, &cb, NULL, &s), HTTP_ERR_ADDR);
    assert_int_equal(http_server_start(&loop, "1.2.3:80", NULL, &cb, NULL, &s), HTTP_ERR_ADDR);
    assert_int_equal(http_server_start(&loop, "[::1:80", NULL, &cb, NULL, &s), HTTP_ERR_ADDR);
    assert_int_equal(http_server_start(&loop, "127.0.0.1:99999", NULL, &cb, NULL, &s),
                     HTTP_ERR_ADDR);
    assert_null(s);
    /* A port already in use. */
    http_server *a = NULL, *b = NULL;
    assert_int_equal(http_server_start(&loop, "127.0.0.1:0", NULL, &cb, NULL, &a), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", http_server_port(a));
    assert_int_equal(http_server_start(&loop, addr, NULL, &cb, NULL, &b), HTTP_ERR_LISTEN);
    http_server_stop(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_stops_after_each_pipelined_request),
        cmocka_unit_test(test_parser_gives_the_same_request_for_every_split_point),
        cmocka_unit_test(test_parser_ignores_chunked_trailers_without_moving_the_request),
        cmocka_unit_test(test_parser_refuses_bad_requests_with_the_right_status),
        cmocka_unit_test(test_parser_refuses_request_targets_that_are_not_origin_form),
        cmocka_unit_test(test_parser_refuses_headers_over_the_limit_with_431),
        cmocka_unit_test(test_parser_flags_valid_websocket_upgrades_only),
        T(test_keep_alive_serves_two_requests_on_one_connection),
        T(test_post_with_content_length_is_echoed),
        T(test_post_with_large_body_in_pieces_is_echoed_intact),
        T(test_post_with_chunked_body_is_dechunked),
        T(test_async_response_from_timer_is_delivered),
        T(test_pipelined_requests_are_answered_in_order),
        T(test_many_pipelined_requests_in_one_write_all_get_answers),
        T(test_oversized_content_length_gets_413_before_the_body),
        T(test_chunked_body_growing_past_the_limit_gets_413),
        T(test_oversized_headers_get_431),
        T(test_malformed_request_gets_400_and_close),
        T(test_asterisk_form_gets_400_except_options_which_the_server_answers),
        T(test_connection_close_is_honoured),
        T(test_http10_closes_unless_keep_alive_is_asked),
        T(test_head_gets_headers_without_body),
        T(test_no_content_response_has_no_length_or_body),
        T(test_expect_100_continue_gets_interim_response),
        T(test_idle_connection_mid_request_gets_408_and_quiet_one_is_closed),
        T(test_streaming_response_is_chunked),
        T(test_streaming_to_http10_is_close_delimited),
        T(test_drain_paced_stream_delivers_every_byte),
        T(test_headers_query_and_cookies_reach_the_app),
        T(test_stats_count_requests_and_errors),
        T(test_websocket_echo_ping_and_close_handshake),
        T(test_websocket_oversized_message_closes_with_1009),
        T(test_websocket_unmasked_frame_closes_with_1002),
        T(test_websocket_invalid_utf8_closes_with_1007),
        T(test_websocket_server_close_waits_for_client_answer),
        T(test_websocket_frames_sent_with_the_upgrade_are_processed),
        T(test_bad_websocket_upgrade_gets_400),
        T(test_slow_websocket_consumer_is_dropped_and_counted),
        cmocka_unit_test(test_connections_over_the_limit_are_closed_and_counted),
        cmocka_unit_test(test_request_bodies_over_the_budget_get_503_before_the_body),
        cmocka_unit_test(test_slow_header_gets_408_at_the_header_deadline),
        cmocka_unit_test(test_the_owner_is_given_a_yield_between_connections),
        cmocka_unit_test(test_connections_over_the_per_address_cap_are_closed),
        cmocka_unit_test(test_server_stop_sends_going_away_to_websocket_clients),
        cmocka_unit_test(test_ipv6_loopback_listen_serves_requests),
        cmocka_unit_test(test_bad_listen_addresses_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
