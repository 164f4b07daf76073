/* HTTP/1.1 + WebSocket server on libuv.
 *
 * Parsing: each connection owns an http_req_parser (http_parser plus an arena holding the URL,
 * headers and decoded path, and a body buffer). The parser pauses after each complete request,
 * so pipelined bytes stay in the connection's input buffer until the answer is queued.
 *
 * Input: a read lands in one server-wide 64 KiB buffer when the connection has nothing pending;
 * only leftover bytes (a partial or pipelined request) are copied into a per-connection buffer.
 * Idle keep-alive connections therefore hold no input buffer memory beyond the parser arena.
 *
 * Output: responses and frames are appended to the connection's output buffer and the
 * connection is put on a flush list; a prepare and a check handle flush every listed connection
 * once per loop iteration (uv_try_write, then one uv_write for any remainder), so pipelined
 * responses and broadcast frames coalesce into as few syscalls as possible.
 *
 * Lifetime: a connection holds one reference for its socket; the app takes more for async
 * answers; lists hold one while it is queued. The struct is freed at the last unref after the
 * libuv handle has closed. A single timer sweeps idle, stalled and lingering connections. */
#include "http/http_server.h"

#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* ======================================================================================
 * Request parser
 * ====================================================================================== */

#define HDR_MAX_COUNT 100
#define BODY_INITIAL_MAX (256 * 1024)

typedef struct {
    size_t name, value;
    bool has_value;
} hdr_off;

struct http_req_parser {
    http_parser hp;
    size_t max_header_bytes, max_body_bytes;
    size_t hdr_seen; /* bytes fed while the headers were incomplete */
    char *arena;     /* URL, header names and values, decoded path, query: NUL-separated */
    size_t alen, acap;
    size_t url_len;
    hdr_off *hoff;
    size_t nh, hcap;
    http_header *headers;
    size_t headers_cap;
    int last; /* 0: URL (or nothing), 1: in a header name, 2: in a header value */
    char *body;
    size_t body_len, body_cap;
    bool started, headers_done, complete, failed, expect_continue, body_expected;
    int error_status;
    http_request req;
};

static bool arena_put(http_req_parser *p, const char *data, size_t len)
{
    if (len > SIZE_MAX / 2 - p->alen) return false;
    if (p->alen + len > p->acap) {
        size_t cap = p->acap ? p->acap : 1024;
        while (cap < p->alen + len)
            cap *= 2;
        char *a = realloc(p->arena, cap);
        if (!a) return false;
        p->arena = a;
        p->acap = cap;
    }
    if (len) memcpy(p->arena + p->alen, data, len);
    p->alen += len;
    return true;
}

static int parse_fail(http_req_parser *p, int status)
{
    if (p->error_status == 0) p->error_status = status;
    return -1;
}

static int on_message_begin(http_parser *hp)
{
    http_req_parser *p = hp->data;
    p->started = true;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    http_req_parser *p = hp->data;
    if (!arena_put(p, at, len)) return parse_fail(p, 500);
    p->url_len += len;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    http_req_parser *p = hp->data;
    /* Chunked trailers come after the headers: dropped, as growing the arena now would move
     * strings the request already points to. */
    if (p->headers_done) return 0;
    if (p->last != 1) {
        if (!arena_put(p, "", 1)) return parse_fail(p, 500); /* ends the URL or last value */
        if (p->nh == HDR_MAX_COUNT) return parse_fail(p, 431);
        if (p->nh == p->hcap) {
            size_t cap = p->hcap ? p->hcap * 2 : 16;
            hdr_off *h = realloc(p->hoff, cap * sizeof *h);
            if (!h) return parse_fail(p, 500);
            p->hoff = h;
            p->hcap = cap;
        }
        p->hoff[p->nh++] = (hdr_off){.name = p->alen, .value = 0, .has_value = false};
        p->last = 1;
    }
    if (!arena_put(p, at, len)) return parse_fail(p, 500);
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    http_req_parser *p = hp->data;
    if (p->headers_done) return 0; /* trailer */
    if (p->nh == 0) return parse_fail(p, 400);
    if (p->last != 2) {
        if (!arena_put(p, "", 1)) return parse_fail(p, 500);
        p->hoff[p->nh - 1].value = p->alen;
        p->hoff[p->nh - 1].has_value = true;
        p->last = 2;
    }
    if (!arena_put(p, at, len)) return parse_fail(p, 500);
    return 0;
}

static const char *find_header(const http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0) return h[i].value;
    return NULL;
}

static bool is_websocket_upgrade(const http_req_parser *p)
{
    const http_request *r = &p->req;
    if (r->method != HTTP_GET || r->http_major != 1 || r->http_minor < 1) return false;
    const char *up = find_header(r->headers, r->n_headers, "Upgrade");
    const char *conn = find_header(r->headers, r->n_headers, "Connection");
    const char *ver = find_header(r->headers, r->n_headers, "Sec-WebSocket-Version");
    const char *key = find_header(r->headers, r->n_headers, "Sec-WebSocket-Key");
    return up && http_token_list_has(up, "websocket") && conn &&
           http_token_list_has(conn, "upgrade") && ver && strcmp(ver, "13") == 0 && key &&
           ws_key_valid(key, strlen(key));
}

/* RFC 9112 section 3.2: the request-target is origin-form ("/path?query"), absolute-form
 * ("http://host/path", which servers must accept), authority-form (CONNECT only, refused
 * before this) or asterisk-form ("*", OPTIONS only). http_parser lets "*" and "*anything"
 * through as a path for every method; everything that is not one of the forms above is 400,
 * so the application only ever sees a path starting with '/' (or exactly "*" for OPTIONS,
 * which the server answers itself). */
static bool target_form_ok(const char *url, size_t len, const struct http_parser_url *u,
                           unsigned method)
{
    if (len == 0) return false;
    if (url[0] == '*') return len == 1 && method == HTTP_OPTIONS;
    if (url[0] == '/') return !(u->field_set & (1 << UF_SCHEMA));
    /* absolute-form: an http(s) URL with a host; its path (or "/") is the one served */
    if (!(u->field_set & (1 << UF_SCHEMA)) || !(u->field_set & (1 << UF_HOST))) return false;
    const char *scheme = url + u->field_data[UF_SCHEMA].off;
    size_t sl = u->field_data[UF_SCHEMA].len;
    bool http = (sl == 4 && strncasecmp(scheme, "http", 4) == 0) ||
                (sl == 5 && strncasecmp(scheme, "https", 5) == 0);
    if (!http || (u->field_set & (1 << UF_USERINFO))) return false; /* RFC 9110 4.2.4 */
    return !(u->field_set & (1 << UF_PATH)) || url[u->field_data[UF_PATH].off] == '/';
}

static int on_headers_complete(http_parser *hp)
{
    http_req_parser *p = hp->data;
    http_request *r = &p->req;
    if (!arena_put(p, "", 1)) return parse_fail(p, 500); /* ends the URL, last name or value */
    p->headers_done = true;
    if (hp->http_major != 1) return parse_fail(p, 505);
    if (hp->method == HTTP_CONNECT) return parse_fail(p, 400);
    if (p->url_len > UINT16_MAX) return parse_fail(p, 414); /* http_parser_url offsets are u16 */

    /* The URL is the first string in the arena. */
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(p->arena, p->url_len, 0, &u) != 0) return parse_fail(p, 400);
    if (!target_form_ok(p->arena, p->url_len, &u, hp->method)) return parse_fail(p, 400);
    size_t path_off = 0, path_len = 0;
    if (u.field_set & (1 << UF_PATH)) {
        path_off = u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
    }
    /* Decoded path and raw query go after the headers; reserve first so pointers into the
     * arena can be taken afterwards without another realloc. */
    size_t q_len = (u.field_set & (1 << UF_QUERY)) ? u.field_data[UF_QUERY].len : 0;
    size_t need = path_len + 2 + q_len + 1;
    size_t dec_off = p->alen;
    if (p->alen + need > p->acap) {
        char *a = realloc(p->arena, p->alen + need);
        if (!a) return parse_fail(p, 500);
        p->arena = a;
        p->acap = p->alen + need;
    }
    if (path_len == 0) {
        memcpy(p->arena + dec_off, "/", 2);
        p->alen += 2;
    } else {
        int d =
            http_url_decode(p->arena + path_off, path_len, p->arena + dec_off, path_len + 1, false);
        if (d < 0) return parse_fail(p, 400);
        p->alen += (size_t)d + 1;
    }
    size_t q_off = p->alen;
    if (q_len) memcpy(p->arena + q_off, p->arena + u.field_data[UF_QUERY].off, q_len);
    p->arena[q_off + q_len] = '\0';
    p->alen += q_len + 1;

    /* The arena no longer grows for this request: take pointers. */
    if (p->nh > p->headers_cap) {
        http_header *h = realloc(p->headers, p->nh * sizeof *h);
        if (!h) return parse_fail(p, 500);
        p->headers = h;
        p->headers_cap = p->nh;
    }
    for (size_t i = 0; i < p->nh; i++) {
        p->headers[i].name = p->arena + p->hoff[i].name;
        /* A name without a value: point at its terminating NUL's neighbour, an empty string. */
        p->headers[i].value = p->hoff[i].has_value
                                  ? p->arena + p->hoff[i].value
                                  : p->arena + p->hoff[i].name + strlen(p->arena + p->hoff[i].name);
    }
    r->method = hp->method;
    r->method_name = http_method_str((enum http_method)hp->method);
    r->url = p->arena;
    r->path = p->arena + dec_off;
    r->query = p->arena + q_off;
    r->headers = p->headers;
    r->n_headers = p->nh;
    r->http_major = hp->http_major;
    r->http_minor = hp->http_minor;
    r->keep_alive = http_should_keep_alive(hp) != 0;
    r->body = "";
    r->body_len = 0;

    bool has_length = (hp->flags & F_CONTENTLENGTH) && hp->content_length != ULLONG_MAX;
    p->body_expected = (hp->flags & F_CHUNKED) || (has_length && hp->content_length > 0);
    if (has_length && hp->content_length > p->max_body_bytes) return parse_fail(p, 413);

    const char *expect = find_header(p->headers, p->nh, "Expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) return parse_fail(p, 417);
        p->expect_continue = r->http_minor >= 1 && p->body_expected;
    }
    if (has_length && hp->content_length > 0) {
        size_t want = (size_t)hp->content_length + 1;
        if (want > BODY_INITIAL_MAX) want = BODY_INITIAL_MAX;
        if (want > p->body_cap) {
            char *b = realloc(p->body, want);
            if (!b) return parse_fail(p, 500);
            p->body = b;
            p->body_cap = want;
        }
    }
    r->websocket_upgrade = is_websocket_upgrade(p);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    http_req_parser *p = hp->data;
    if (len > p->max_body_bytes - p->body_len) return parse_fail(p, 413);
    if (p->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < p->body_len + len + 1)
            cap *= 2;
        if (cap > p->max_body_bytes + 1) cap = p->max_body_bytes + 1;
        char *b = realloc(p->body, cap);
        if (!b) return parse_fail(p, 500);
        p->body = b;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, at, len);
    p->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    http_req_parser *p = hp->data;
    if (p->body_len > 0) {
        p->body[p->body_len] = '\0';
        p->req.body = p->body;
        p->req.body_len = p->body_len;
    }
    p->complete = true;
    /* Stop right after this message: pipelined bytes wait for the answer. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

size_t http_req_parser_body_size(const http_req_parser *p)
{
    if (!p->headers_done || p->failed) return 0;
    const http_parser *hp = &p->hp;
    bool has_length = (hp->flags & F_CONTENTLENGTH) && hp->content_length != ULLONG_MAX;
    size_t declared =
        has_length && hp->content_length <= p->max_body_bytes ? (size_t)hp->content_length : 0;
    return declared > p->body_len ? declared : p->body_len;
}

void http_req_parser_drop_body(http_req_parser *p)
{
    if (!p->complete) return;
    free(p->body);
    p->body = NULL;
    p->body_len = p->body_cap = 0;
    p->req.body = "";
    p->req.body_len = 0;
}

void http_req_parser_reset(http_req_parser *p)
{
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->hdr_seen = 0;
    p->alen = 0;
    p->url_len = 0;
    p->nh = 0;
    p->last = 0;
    p->body_len = 0;
    p->started = p->headers_done = p->complete = p->failed = false;
    p->expect_continue = p->body_expected = false;
    p->error_status = 0;
    memset(&p->req, 0, sizeof p->req);
    if (p->body_cap > BODY_INITIAL_MAX) { /* do not keep a huge upload buffer per connection */
        free(p->body);
        p->body = NULL;
        p->body_cap = 0;
    }
}

http_req_parser *http_req_parser_new(size_t max_header_bytes, size_t max_body_bytes)
{
    http_req_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
    http_req_parser_reset(p);
    return p;
}

void http_req_parser_free(http_req_parser *p)
{
    if (!p) return;
    free(p->arena);
    free(p->hoff);
    free(p->headers);
    free(p->body);
    free(p);
}

static int errno_status(enum http_errno e)
{
    return e == HPE_HEADER_OVERFLOW ? 431 : 400;
}

http_parse_result http_req_parser_feed(http_req_parser *p, const char *data, size_t len,
                                       size_t *consumed)
{
    *consumed = 0;
    if (p->failed) return HTTP_PARSE_ERROR;
    if (p->complete) return HTTP_PARSE_REQUEST;
    size_t pos = 0;
    while (pos < len) {
        size_t chunk = len - pos;
        bool in_headers = !p->headers_done;
        if (in_headers) {
            /* Feed at most what the header budget allows, so an endless header is refused
             * without buffering it. */
            if (p->hdr_seen >= p->max_header_bytes) {
                p->error_status = 431;
                p->failed = true;
                break;
            }
            size_t room = p->max_header_bytes - p->hdr_seen;
            if (chunk > room) chunk = room;
        }
        size_t n = http_parser_execute(&p->hp, &parser_settings, data + pos, chunk);
        pos += n;
        if (in_headers) p->hdr_seen += n;
        if (p->complete) {
            *consumed = pos;
            return HTTP_PARSE_REQUEST;
        }
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
        if (e != HPE_OK || n < chunk) {
            if (p->error_status == 0) p->error_status = errno_status(e);
            p->failed = true;
            break;
        }
    }
    *consumed = pos;
    return p->failed ? HTTP_PARSE_ERROR : HTTP_PARSE_NEED_MORE;
}

const http_request *http_req_parser_request(const http_req_parser *p)
{
    return p->complete ? &p->req : NULL;
}

int http_req_parser_error_status(const http_req_parser *p)
{
    return p->failed ? p->error_status : 0;
}

bool http_req_parser_wants_continue(const http_req_parser *p)
{
    return p->expect_continue && !p->complete && !p->failed;
}

bool http_req_parser_headers_done(const http_req_parser *p)
{
    return p->headers_done && !p->failed;
}

bool http_req_parser_in_progress(const http_req_parser *p)
{
    return p->started && !p->complete;
}

const char *http_req_header(const http_request *r, const char *name)
{
    if (!r || !name) return NULL;
    return find_header(r->headers, r->n_headers, name);
}

int http_cookie(const http_request *r, const char *name, char *out, size_t cap)
{
    if (!r || !name) return HTTP_LOOKUP_NOT_FOUND;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->headers[i].name, "Cookie") != 0) continue;
        int rc = http_cookie_lookup(r->headers[i].value, name, out, cap);
        if (rc != HTTP_LOOKUP_NOT_FOUND) return rc;
    }
    return HTTP_LOOKUP_NOT_FOUND;
}

/* ======================================================================================
 * Server and connections
 * ====================================================================================== */

#define SHARED_BUF_SIZE (64 * 1024)
#define READ_MIN_ROOM (16 * 1024)
#define MAX_BUFFERED_INPUT (64 * 1024) /* stop reading while this much input waits */
#define EARLY_FLUSH_BYTES (256 * 1024) /* write before the end of the loop iteration */
#define KEEP_OUT_CAP (256 * 1024)      /* larger output buffers are freed once drained */
#define LINGER_MS 2000                 /* read-and-discard after our FIN, before closing */
#define WS_CLOSE_WAIT_MS 5000          /* wait this long for the client's close frame */

enum conn_mode { MODE_HTTP, MODE_WS };
enum req_state { REQ_NONE, REQ_PENDING, REQ_STREAMING };

struct ws_conn {
    http_conn *c;
    ws_callbacks cb;
    void *ud;
    void *data;
    ws_parser p;
    bool close_sent, close_notified, ping_sent;
    uint64_t close_sent_at;
};

struct http_conn {
    uv_tcp_t tcp;
    http_server *srv;
    int refs;
    enum conn_mode mode;
    bool closing, closed, reading, in_process, peer_eof;
    bool close_after_write, shutting_down, lingering;
    bool on_flush_list, on_resume_list;
    http_conn *prev, *next, *flush_next, *resume_next;
    /* input: own buffer (leftovers), or the server's shared buffer during one read */
    char *in;
    size_t in_off, in_len;
    char *own_in;
    size_t own_cap;
    http_req_parser *parser;
    enum req_state req_state;
    bool req_head, req_keep_alive, req_http10, stream_chunked, sent_continue;
    size_t body_counted; /* of the current request, in srv->st.body_bytes_held */
    /* output: out is being filled, wbuf is owned by the uv_write in flight */
    char *out;
    size_t out_off, out_len, out_cap;
    char *wbuf;
    size_t wbuf_off, wbuf_len, wbuf_cap;
    bool writing;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    void (*drain_cb)(void *, http_conn *);
    void *drain_arg;
    uint64_t last_active, last_progress, linger_until;
    uint64_t header_deadline; /* 0: no request header under way */
    bool admitted;            /* counted in srv->opt.limits under addr */
    char peer[64];
    char addr[48]; /* peer without the port */
    ws_conn *ws;
    struct tls_conn *tls; /* HTTPS: out holds plaintext until conn_write_some seals it */
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_prepare_t prepare;
    uv_check_t check;
    http_server_options opt;
    http_callbacks cb;
    void *ud;
    http_server_stats st;
    http_conn *conns;
    http_conn *flush_head, *resume_head;
    char *shared;
    bool shared_busy;
    char *tls_in; /* HTTPS: ciphertext of one read (its plaintext goes to the conn's buffer) */
    bool stopping;
    int handles_open;
    void (*done)(void *);
    void *done_arg;
    uint64_t refusal_logged_ms;
    uint64_t sweep_every; /* ms */
    unsigned accepts_this_turn;
    bool accept_deferred;
    time_t date_sec;
    char date[64];
    size_t date_len;
};

static void conn_close(http_conn *c);
static void conn_flush(http_conn *c);
static void conn_process(http_conn *c);
static void update_reading(http_conn *c);

void http_conn_ref(http_conn *c)
{
    if (c) c->refs++;
}

static void conn_free(http_conn *c)
{
    http_req_parser_free(c->parser);
    tls_conn_free(c->tls);
    if (c->ws) {
        ws_parser_free(&c->ws->p);
        free(c->ws);
    }
    free(c->own_in);
    free(c->out);
    free(c->wbuf);
    free(c);
}

void http_conn_unref(http_conn *c)
{
    if (!c) return;
    if (--c->refs == 0) conn_free(c);
}

bool http_conn_closed(const http_conn *c)
{
    return !c || c->closing;
}

const char *http_conn_peer(const http_conn *c)
{
    return c ? c->peer : "";
}

static uint64_t now_ms(const http_conn *c)
{
    return uv_now(c->tcp.loop);
}

static void schedule_flush(http_conn *c)
{
    if (c->on_flush_list || c->closing) return;
    c->on_flush_list = true;
    c->refs++;
    c->flush_next = c->srv->flush_head;
    c->srv->flush_head = c;
}

static void schedule_resume(http_conn *c)
{
    if (c->on_resume_list || c->closing) return;
    c->on_resume_list = true;
    c->refs++;
    c->resume_next = c->srv->resume_head;
    c->srv->resume_head = c;
}

size_t http_conn_queued(const http_conn *c)
{
    if (!c) return 0;
    return (c->out_len - c->out_off) + (c->writing ? c->wbuf_len - c->wbuf_off : 0);
}

/* Writes what the socket takes now, then hands any remainder to one uv_write. */
static void write_cb(uv_write_t *req, int status);

/* HTTPS: the plaintext queued in out becomes records (after any handshake records waiting),
 * and a connection that closes after this output gets close_notify; from here on the write
 * path sends ciphertext as it would plaintext. */
static int tls_seal_out(http_conn *c)
{
    size_t plain = c->out_len - c->out_off;
    if (plain && tls_conn_write(c->tls, c->out + c->out_off, plain) != 0) return -1;
    c->out_off = c->out_len = 0;
    if (c->close_after_write) tls_conn_close_notify(c->tls); /* once; later calls add nothing */
    size_t n = tls_conn_pending(c->tls);
    if (n > c->out_cap) {
        char *o = realloc(c->out, n);
        if (!o) return -1;
        c->out = o;
        c->out_cap = n;
    }
    c->out_len = tls_conn_take(c->tls, c->out, n);
    return 0;
}

static void conn_write_some(http_conn *c)
{
    if (c->closing || c->writing) return;
    if (c->tls && tls_seal_out(c) != 0) {
        conn_close(c);
        return;
    }
    if (c->out_len == c->out_off) return;
    /* On Unix uv_buf_t.len is a size_t: fill it directly rather than through uv_buf_init. */
    uv_buf_t b;
    b.base = c->out + c->out_off;
    b.len = c->out_len - c->out_off;
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0) {
        c->out_off += (size_t)n;
        c->srv->st.bytes_out += (uint64_t)n;
        c->last_progress = now_ms(c);
    } else if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > KEEP_OUT_CAP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        return;
    }
    /* Swap buffers: the remainder goes to libuv, new output goes to the other buffer. */
    char *t = c->wbuf;
    size_t tcap = c->wbuf_cap;
    c->wbuf = c->out;
    c->wbuf_cap = c->out_cap;
    c->wbuf_off = c->out_off;
    c->wbuf_len = c->out_len;
    c->out = t;
    c->out_cap = tcap;
    c->out_off = c->out_len = 0;
    uv_buf_t wb;
    wb.base = c->wbuf + c->wbuf_off;
    wb.len = c->wbuf_len - c->wbuf_off;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &wb, 1, write_cb);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void out_put(http_conn *c, const void *data, size_t len)
{
    if (c->closing || len == 0) return;
    if (c->out_len == c->out_off && !c->writing) c->last_progress = now_ms(c);
    if (len > c->out_cap - c->out_len) {
        if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
        size_t need = c->out_len + len;
        if (need < len) {
            conn_close(c);
            return;
        }
        if (need > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
            char *o = realloc(c->out, cap);
            if (!o) {
                log_error("http_out_of_memory", "peer=%s bytes=%zu", c->peer, need);
                conn_close(c);
                return;
            }
            c->out = o;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (c->out_len - c->out_off >= EARLY_FLUSH_BYTES) conn_write_some(c);
    schedule_flush(c);
}

static void out_puts(http_conn *c, const char *s)
{
    out_put(c, s, strlen(s));
}

static void linger_start(http_conn *c);

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    http_conn *c = req->data;
    if (status < 0 || c->peer_eof) {
        conn_close(c);
    } else if (!c->closing) {
        linger_start(c);
    }
    http_conn_unref(c);
}

static void start_shutdown(http_conn *c)
{
    if (c->shutting_down || c->closing) return;
    c->shutting_down = true;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shutdown_cb) < 0) {
        conn_close(c);
        return;
    }
    c->refs++;
}

/* Output fully written: finish a pending close or tell the app. */
static void conn_flush(http_conn *c)
{
    if (c->closing) return;
    conn_write_some(c);
    if (c->closing || c->writing || c->out_len != c->out_off) return;
    if (c->close_after_write) {
        start_shutdown(c);
        return;
    }
    if (c->drain_cb) {
        void (*cb)(void *, http_conn *) = c->drain_cb;
        c->drain_cb = NULL;
        cb(c->drain_arg, c);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    http_conn *c = (http_conn *)req->handle->data;
    c->writing = false;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->srv->st.bytes_out += c->wbuf_len - c->wbuf_off;
    c->wbuf_off = c->wbuf_len = 0;
    if (c->wbuf_cap > KEEP_OUT_CAP) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wbuf_cap = 0;
    }
    c->last_progress = now_ms(c);
    conn_flush(c);
}

static void close_after_write(http_conn *c)
{
    c->close_after_write = true;
    schedule_flush(c);
}

/* ---- response heads ---- */

static void update_date(http_server *s)
{
    time_t now = time(NULL);
    if (now == s->date_sec && s->date_len) return;
    s->date_sec = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    s->date_len = strftime(s->date, sizeof s->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

enum body_framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_UNTIL_CLOSE };

static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

static void write_head(http_conn *c, int status, const char *ctype, const char *extra,
                       enum body_framing framing, size_t len)
{
    http_server *s = c->srv;
    if (status < 100 || status > 599) status = 500;
    if (status >= 500)
        s->st.responses_5xx++;
    else if (status >= 400)
        s->st.responses_4xx++;
    if (!c->req_keep_alive || s->stopping || framing == FRAME_UNTIL_CLOSE)
        c->req_keep_alive = false;
    update_date(s);
    char line[128];
    size_t n = 0;
    memcpy(line, "HTTP/1.1 ", 9);
    n = 9;
    n += fmt_u64(line + n, (uint64_t)status);
    line[n++] = ' ';
    const char *text = http_status_text(status);
    size_t tl = strlen(text);
    memcpy(line + n, text, tl);
    n += tl;
    line[n++] = '\r';
    line[n++] = '\n';
    out_put(c, line, n);
    out_put(c, s->date, s->date_len);
    if (ctype && *ctype) {
        out_put(c, "Content-Type: ", 14);
        out_puts(c, ctype);
        out_put(c, "\r\n", 2);
    }
    if (framing == FRAME_LENGTH && status_has_body(status)) {
        n = 0;
        memcpy(line, "Content-Length: ", 16);
        n = 16;
        n += fmt_u64(line + n, (uint64_t)len);
        line[n++] = '\r';
        line[n++] = '\n';
        out_put(c, line, n);
    } else if (framing == FRAME_CHUNKED) {
        out_put(c, "Transfer-Encoding: chunked\r\n", 28);
    }
    if (!c->req_keep_alive)
        out_put(c, "Connection: close\r\n", 19);
    else if (c->req_http10)
        out_put(c, "Connection: keep-alive\r\n", 24);
    if (c->tls) out_puts(c, "Strict-Transport-Security: max-age=31536000\r\n");
    if (extra) out_puts(c, extra);
    out_put(c, "\r\n", 2);
}

/* ---- body budget (max_body_bytes_total) ---- */

static void send_error_headers(http_conn *c, int status, const char *extra);

/* The server refuses the current request itself: tells the app when its target is known. */
static void report_refused(http_conn *c, int status)
{
    const http_request *req = &c->parser->req; /* path set once the target was parsed */
    if (c->srv->cb.on_refused && req->path) c->srv->cb.on_refused(c->srv->ud, req, status);
}

static void body_release(http_conn *c)
{
    c->srv->st.body_bytes_held -= c->body_counted;
    c->body_counted = 0;
}

/* Counts the current request's body against the budget; false (and 503 sent) when it does
 * not fit. Called after each feed once the headers are in, so a declared length is reserved
 * before the body is read and a chunked body is counted as it grows. */
static bool body_admit(http_conn *c)
{
    http_server *s = c->srv;
    size_t want = http_req_parser_body_size(c->parser);
    if (want <= c->body_counted) return true;
    size_t add = want - c->body_counted;
    if (want > HTTP_BODY_ALWAYS_ADMITTED &&
        s->st.body_bytes_held + add > s->opt.max_body_bytes_total) {
        s->st.bodies_refused++;
        log_info("http_body_budget_full", "peer=%s body=%zu held=%llu max=%zu", c->peer, want,
                 (unsigned long long)s->st.body_bytes_held, s->opt.max_body_bytes_total);
        report_refused(c, 503);
        send_error_headers(c, 503, "Retry-After: 1\r\n");
        return false;
    }
    s->st.body_bytes_held += add;
    c->body_counted = want;
    return true;
}

void http_conn_release_body(http_conn *c)
{
    if (!c || c->mode != MODE_HTTP || c->req_state == REQ_NONE) return;
    if (!c->closed) body_release(c); /* once closed, the server may be gone (and has counted) */
    http_req_parser_drop_body(c->parser);
}

/* The answer to the current request is queued: go on with the next one. */
static void req_finish(http_conn *c)
{
    body_release(c);
    c->req_state = REQ_NONE;
    c->sent_continue = false;
    c->last_active = now_ms(c);
    if (c->mode == MODE_HTTP) http_req_parser_reset(c->parser);
    if (!c->req_keep_alive) {
        close_after_write(c);
        return;
    }
    if (!c->in_process) schedule_resume(c);
    schedule_flush(c);
}

static void send_error_headers(http_conn *c, int status, const char *extra)
{
    char body[64];
    const char *text = http_status_text(status);
    size_t tl = strlen(text);
    if (tl > sizeof body - 2) tl = sizeof body - 2;
    memcpy(body, text, tl);
    body[tl] = '\n';
    c->req_keep_alive = false;
    c->req_head = false;
    write_head(c, status, "text/plain; charset=utf-8", extra, FRAME_LENGTH, tl + 1);
    out_put(c, body, tl + 1);
    close_after_write(c);
}

static void send_error(http_conn *c, int status)
{
    send_error_headers(c, status, NULL);
}

void http_respond(http_conn *c, int status, const char *content_type, const char *extra_headers,
                  const void *body, size_t len)
{
    if (!c) return;
    if (c->req_state != REQ_PENDING) {
        if (!c->closing) log_warn("http_respond_without_request", "peer=%s", c->peer);
        return;
    }
    if (c->closing) {
        c->req_state = REQ_NONE;
        return;
    }
    write_head(c, status, content_type, extra_headers, FRAME_LENGTH, len);
    if (!c->req_head && status_has_body(status) && body) out_put(c, body, len);
    req_finish(c);
}

void http_stream_begin(http_conn *c, int status, const char *content_type,
                       const char *extra_headers)
{
    if (!c) return;
    if (c->req_state != REQ_PENDING) {
        if (!c->closing) log_warn("http_stream_without_request", "peer=%s", c->peer);
        return;
    }
    c->req_state = REQ_STREAMING;
    if (c->closing) return;
    c->stream_chunked = !c->req_http10;
    write_head(c, status, content_type, extra_headers,
               c->stream_chunked ? FRAME_CHUNKED : FRAME_UNTIL_CLOSE, 0);
}

int http_stream_write(http_conn *c, const void *data, size_t len)
{
    if (!c || c->closing || c->req_state != REQ_STREAMING) return HTTP_ERR_CLOSED;
    if (len > 0 && !c->req_head) {
        if (c->stream_chunked) {
            char line[24];
            static const char hex[] = "0123456789abcdef";
            char tmp[20];
            size_t n = 0, v = len;
            do {
                tmp[n++] = hex[v & 15];
                v >>= 4;
            } while (v);
            for (size_t i = 0; i < n; i++)
                line[i] = tmp[n - 1 - i];
            line[n++] = '\r';
            line[n++] = '\n';
            out_put(c, line, n);
            out_put(c, data, len);
            out_put(c, "\r\n", 2);
        } else {
            out_put(c, data, len);
        }
    }
    if (c->closing) return HTTP_ERR_CLOSED;
    size_t q = http_conn_queued(c);
    return q > INT_MAX ? INT_MAX : (int)q;
}

void http_stream_end(http_conn *c)
{
    if (!c || c->req_state != REQ_STREAMING) return;
    if (c->closing) {
        c->req_state = REQ_NONE;
        return;
    }
    if (c->stream_chunked && !c->req_head) out_put(c, "0\r\n\r\n", 5);
    req_finish(c);
}

void http_conn_on_drain(http_conn *c, void (*cb)(void *arg, http_conn *c), void *arg)
{
    if (!c) return;
    c->drain_cb = cb;
    c->drain_arg = arg;
    if (cb) schedule_flush(c); /* fires on the next flush if nothing is queued */
}

/* ---- WebSocket ---- */

static int ws_send_frame(ws_conn *w, int opcode, const void *data, size_t len, bool check_slow)
{
    http_conn *c = w->c;
    if (c->closing || w->close_sent || c->close_after_write) return HTTP_ERR_CLOSED;
    if (check_slow && http_conn_queued(c) + len > c->srv->opt.max_queued_bytes) {
        c->srv->st.ws_dropped_slow++;
        log_warn("ws_slow_consumer_dropped", "peer=%s queued=%zu", c->peer, http_conn_queued(c));
        conn_close(c);
        return HTTP_ERR_CLOSED;
    }
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl = ws_frame_header(hdr, true, opcode, len, NULL);
    out_put(c, hdr, hl);
    out_put(c, data, len);
    return c->closing ? HTTP_ERR_CLOSED : 0;
}

static void ws_send_close(ws_conn *w, uint16_t code, const char *reason, size_t rlen)
{
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = 0;
    if (code != WS_CLOSE_NO_STATUS) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        n = 2;
        if (rlen > WS_MAX_CONTROL - 2) rlen = WS_MAX_CONTROL - 2;
        if (rlen) memcpy(payload + 2, reason, rlen);
        n += rlen;
    }
    if (ws_send_frame(w, WS_OP_CLOSE, payload, n, false) == 0) {
        w->close_sent = true;
        w->close_sent_at = now_ms(w->c);
    }
}

int ws_send_text(ws_conn *w, const char *data, size_t len)
{
    if (!w) return HTTP_ERR_CLOSED;
    int rc = ws_send_frame(w, WS_OP_TEXT, data, len, true);
    if (rc == 0) w->c->srv->st.ws_messages_out++;
    return rc;
}

int ws_send_binary(ws_conn *w, const void *data, size_t len)
{
    if (!w) return HTTP_ERR_CLOSED;
    int rc = ws_send_frame(w, WS_OP_BINARY, data, len, true);
    if (rc == 0) w->c->srv->st.ws_messages_out++;
    return rc;
}

void ws_close(ws_conn *w, uint16_t code, const char *reason)
{
    if (!w || w->c->closing || w->close_sent) return;
    if (!ws_close_code_valid(code)) code = WS_CLOSE_NORMAL;
    ws_send_close(w, code, reason, reason ? strlen(reason) : 0);
}

void ws_conn_ref(ws_conn *w)
{
    if (w) http_conn_ref(w->c);
}

void ws_conn_unref(ws_conn *w)
{
    if (w) http_conn_unref(w->c);
}

void ws_set_data(ws_conn *w, void *p)
{
    if (w) w->data = p;
}

void *ws_get_data(const ws_conn *w)
{
    return w ? w->data : NULL;
}

bool ws_conn_closed(const ws_conn *w)
{
    return !w || w->c->closing || w->close_sent;
}

const char *ws_conn_peer(const ws_conn *w)
{
    return w ? w->c->peer : "";
}

ws_conn *http_ws_accept(http_conn *c, const http_request *req, const char *extra_headers,
                        const ws_callbacks *cb, void *ud)
{
    if (!c || c->req_state != REQ_PENDING || c->mode != MODE_HTTP) return NULL;
    if (c->closing) {
        c->req_state = REQ_NONE;
        return NULL;
    }
    const char *key = req ? http_req_header(req, "Sec-WebSocket-Key") : NULL;
    char accept[WS_ACCEPT_LEN + 1];
    if (!req || !req->websocket_upgrade || !key || ws_accept_key(key, strlen(key), accept) != 0) {
        static const char msg[] = "invalid WebSocket upgrade\n";
        http_respond(c, 400, "text/plain; charset=utf-8", NULL, msg, sizeof msg - 1);
        return NULL;
    }
    ws_conn *w = calloc(1, sizeof *w);
    if (!w) {
        http_respond(c, 503, "text/plain; charset=utf-8", NULL, "busy\n", 5);
        return NULL;
    }
    w->c = c;
    if (cb) w->cb = *cb;
    w->ud = ud;
    ws_parser_init(&w->p, true, c->srv->opt.ws_max_message);
    out_puts(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    out_put(c, accept, WS_ACCEPT_LEN);
    out_put(c, "\r\n", 2);
    if (extra_headers) out_puts(c, extra_headers);
    out_put(c, "\r\n", 2);
    /* The request stays valid: in WebSocket mode the parser is never reset. */
    c->mode = MODE_WS;
    c->ws = w;
    c->req_state = REQ_NONE;
    c->last_active = now_ms(c);
    c->srv->st.ws_current++;
    if (!c->in_process) schedule_resume(c);
    return w;
}

static void ws_dispatch(http_conn *c, const ws_event *ev)
{
    ws_conn *w = c->ws;
    switch (ev->type) {
    case WS_EV_TEXT:
    case WS_EV_BINARY:
        c->srv->st.ws_messages_in++;
        if (!w->close_sent && w->cb.on_message)
            w->cb.on_message(w->ud, w, ev->type == WS_EV_TEXT, ev->data, ev->len);
        break;
    case WS_EV_PING:
        if (!w->close_sent) ws_send_frame(w, WS_OP_PONG, ev->data, ev->len, true);
        break;
    case WS_EV_PONG:
        break;
    case WS_EV_CLOSE:
        if (!w->close_sent) ws_send_close(w, ev->code, (const char *)ev->data, ev->len);
        close_after_write(c);
        break;
    case WS_EV_ERROR:
        log_info("ws_protocol_error", "peer=%s code=%u", c->peer, (unsigned)ev->code);
        if (!w->close_sent && w->cb.on_protocol_error)
            w->cb.on_protocol_error(w->ud, w, (uint16_t)ev->code);
        if (!w->close_sent) ws_send_close(w, ev->code, NULL, 0);
        close_after_write(c);
        break;
    case WS_EV_NONE:
        break;
    }
}

/* ---- input ---- */

static void conn_process(http_conn *c)
{
    if (c->closing || c->in_process) return;
    c->in_process = true;
    c->refs++;
    for (;;) {
        if (c->closing || c->close_after_write) break;
        size_t avail = c->in_len - c->in_off;
        if (c->mode == MODE_HTTP) {
            if (c->req_state != REQ_NONE || avail == 0) break;
            size_t used = 0;
            http_parse_result r = http_req_parser_feed(c->parser, c->in + c->in_off, avail, &used);
            c->in_off += used;
            if (http_req_parser_headers_done(c->parser))
                c->header_deadline = 0;
            else if (!c->header_deadline && http_req_parser_in_progress(c->parser))
                c->header_deadline = now_ms(c) + c->srv->opt.header_timeout_ms;
            if (r != HTTP_PARSE_ERROR && !body_admit(c)) break;
            if (r == HTTP_PARSE_NEED_MORE) {
                if (http_req_parser_wants_continue(c->parser) && !c->sent_continue) {
                    c->sent_continue = true;
                    out_puts(c, "HTTP/1.1 100 Continue\r\n\r\n");
                }
                break;
            }
            if (r == HTTP_PARSE_ERROR) {
                int status = http_req_parser_error_status(c->parser);
                log_info("http_bad_request", "peer=%s status=%d", c->peer, status);
                report_refused(c, status ? status : 400);
                send_error(c, status ? status : 400);
                break;
            }
            http_request *req = &c->parser->req;
            req->peer = c->peer;
            req->tls = c->tls != NULL;
            c->req_state = REQ_PENDING;
            c->req_head = req->method == HTTP_HEAD;
            c->req_keep_alive = req->keep_alive;
            c->req_http10 = req->http_minor == 0;
            c->srv->st.requests++;
            if (req->path[0] == '*') {
                /* "OPTIONS *" (the only asterisk-form the parser lets through) asks about the
                 * server as a whole: answered here, the application sees only paths. */
                http_respond(c, 204, NULL, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE\r\n", NULL,
                             0);
                continue;
            }
            c->srv->cb.on_request(c->srv->ud, c, req);
        } else {
            if (avail == 0 || c->ws->p.done) break;
            ws_event ev;
            size_t used = ws_parser_feed(&c->ws->p, (uint8_t *)c->in + c->in_off, avail, &ev);
            c->in_off += used;
            if (ev.type == WS_EV_NONE) break;
            ws_dispatch(c, &ev);
        }
    }
    c->in_process = false;
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (!c->closing && c->peer_eof && c->mode == MODE_HTTP && c->req_state == REQ_NONE)
        close_after_write(c);
    update_reading(c);
    http_conn_unref(c);
}

static size_t own_room(http_conn *c, char **room);

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *c = h->data;
    http_server *s = c->srv;
    if (c->tls) {
        *buf = uv_buf_init(s->tls_in, SHARED_BUF_SIZE); /* read_cb takes it all at once */
        return;
    }
    if (c->in_off == c->in_len && !s->shared_busy) {
        s->shared_busy = true;
        *buf = uv_buf_init(s->shared, SHARED_BUF_SIZE);
        return;
    }
    char *room;
    size_t cap = own_room(c, &room);
    *buf = uv_buf_init(room, (unsigned)cap);
}

/* Free space at the end of the connection's own input buffer (at least READ_MIN_ROOM, or 0
 * when out of memory); input is then read or decrypted there. */
static size_t own_room(http_conn *c, char **room)
{
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (c->own_cap - c->in_len < READ_MIN_ROOM) {
        if (c->in_off > 0) {
            memmove(c->own_in, c->own_in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        if (c->own_cap - c->in_len < READ_MIN_ROOM) {
            size_t cap = c->own_cap ? c->own_cap * 2 : 2 * READ_MIN_ROOM;
            while (cap - c->in_len < READ_MIN_ROOM)
                cap *= 2;
            char *b = realloc(c->own_in, cap);
            if (!b) {
                *room = NULL; /* libuv reports UV_ENOBUFS */
                return 0;
            }
            c->own_in = b;
            c->own_cap = cap;
        }
    }
    c->in = c->own_in;
    *room = c->own_in + c->in_len;
    return c->own_cap - c->in_len;
}

/* Moves bytes left in the shared buffer into the connection's own buffer. */
static bool keep_leftover(http_conn *c)
{
    size_t left = c->in_len - c->in_off;
    if (left == 0) {
        c->in = c->own_in;
        c->in_off = c->in_len = 0;
        return true;
    }
    if (c->own_cap < left) {
        size_t cap = left < 2 * READ_MIN_ROOM ? 2 * READ_MIN_ROOM : left + READ_MIN_ROOM;
        char *b = realloc(c->own_in, cap);
        if (!b) return false;
        c->own_in = b;
        c->own_cap = cap;
    }
    memcpy(c->own_in, c->in + c->in_off, left);
    c->in = c->own_in;
    c->in_off = 0;
    c->in_len = left;
    return true;
}

/* HTTPS: ciphertext in, plaintext through the connection's own buffer into conn_process,
 * as long as the engine has any. Returns 0, UV_EOF (close_notify) or UV_EPROTO. */
static ssize_t tls_read(http_conn *c, const char *data, ssize_t nread)
{
    http_server *s = c->srv;
    s->st.bytes_in += (uint64_t)nread;
    c->last_active = now_ms(c);
    if (c->lingering || c->closing) return 0;
    ssize_t n = tls_conn_feed(c->tls, data, (size_t)nread);
    while (n == 0 && !c->closing) {
        char *room;
        size_t cap = own_room(c, &room);
        if (!cap) {
            n = -3; /* out of memory */
            break;
        }
        if ((n = tls_conn_read(c->tls, room, cap)) <= 0) break;
        if (c->ws) c->ws->ping_sent = false;
        c->in_len += (size_t)n;
        conn_process(c);
        n = 0;
    }
    if (n == -1) log_info("http_tls_failed", "peer=%s err=\"%s\"", c->peer, tls_conn_error(c->tls));
    if (!c->closing && tls_conn_pending(c->tls)) schedule_flush(c); /* handshake records */
    return n == -2 ? UV_EOF : n < 0 ? UV_EPROTO : 0;
}

static void yield(http_server *s)
{
    if (s->opt.yield) s->opt.yield(s->opt.yield_arg);
}

static void read_conn(http_conn *c, ssize_t nread, const uv_buf_t *buf);

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    http_server *s = c->srv;
    read_conn(c, nread, buf);
    yield(s); /* after this connection's read is handled: nothing of it is half done */
}

static void read_conn(http_conn *c, ssize_t nread, const uv_buf_t *buf)
{
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    http_server *s = c->srv;
    if (c->tls && nread > 0) nread = tls_read(c, buf->base, nread); /* plaintext handled there */
    bool shared = buf->base == s->shared && s->shared_busy;
    if (nread > 0) {
        s->st.bytes_in += (uint64_t)nread;
        c->last_active = now_ms(c);
        if (c->ws) c->ws->ping_sent = false;
        if (c->lingering || c->closing) {
            /* discard */
        } else if (shared) {
            c->in = s->shared;
            c->in_off = 0;
            c->in_len = (size_t)nread;
            conn_process(c);
            if (!keep_leftover(c)) conn_close(c);
        } else {
            c->in_len += (size_t)nread;
            conn_process(c);
        }
    }
    if (shared) s->shared_busy = false;
    if (nread >= 0 || c->closing) return;
    if (nread != UV_EOF || c->lingering || c->mode == MODE_WS) {
        conn_close(c);
        return;
    }
    /* The client finished sending. Answer what it asked for, then close. */
    c->peer_eof = true;
    if (c->reading) {
        uv_read_stop(stream);
        c->reading = false;
    }
    if (c->req_state == REQ_NONE) close_after_write(c); /* flushes queued output first */
}

static void update_reading(http_conn *c)
{
    if (c->closing) return;
    bool want;
    if (c->lingering)
        want = true;
    else if (c->peer_eof || c->close_after_write || c->shutting_down)
        want = false;
    else
        want = c->in_len - c->in_off < MAX_BUFFERED_INPUT;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0) c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void linger_start(http_conn *c)
{
    c->lingering = true;
    c->linger_until = now_ms(c) + LINGER_MS;
    update_reading(c);
}

/* ---- connection lifecycle ---- */

static void server_handle_closed(http_server *s);

static void on_conn_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->st.connections_current--;
    body_release(c);
    if (c->admitted) connlimit_release(s->opt.limits, CONNLIM_HTTP, c->addr);
    c->admitted = false;
    c->closed = true;
    if (c->ws) {
        s->st.ws_current--;
        if (!c->ws->close_notified) {
            c->ws->close_notified = true;
            if (c->ws->cb.on_close) c->ws->cb.on_close(c->ws->ud, c->ws);
        }
    }
    server_handle_closed(s);
    http_conn_unref(c);
}

static void conn_close(http_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    c->reading = false;
    c->drain_cb = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void free_refused(uv_handle_t *h)
{
    free(h);
}

static void format_peer(uv_tcp_t *tcp, char *out, size_t cap, char *addr, size_t acap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(out, cap, "?");
    snprintf(addr, acap, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    }
    snprintf(addr, acap, "%s", ip);
}

/* One line per second at most: a flood must not become a flood of log lines. */
static void log_ratelimited_refusal(http_server *s, const char *peer, connlim_result r)
{
    uint64_t now = uv_now(s->loop);
    if (now - s->refusal_logged_ms < 1000) return;
    s->refusal_logged_ms = now;
    log_warn("http_connection_refused", "peer=%s reason=%s refused_total=%llu", peer,
             connlimit_reason_name(r), (unsigned long long)s->st.connections_refused);
}

/* At most this many accepts per loop iteration: a connection flood (or a slowloris
 * reconnecting thousands at once) is spread over iterations, with everyone else's I/O in
 * between. Not calling uv_accept makes libuv stop watching the listener until it is called. */
#define ACCEPT_BURST 64

static void accept_one(uv_stream_t *listener, int status);

static void on_connection(uv_stream_t *listener, int status)
{
    accept_one(listener, status);
    yield(listener->data);
}

static void accept_one(uv_stream_t *listener, int status)
{
    http_server *s = listener->data;
    if (status < 0) {
        log_warn("http_accept_failed", "err=%s", uv_strerror(status));
        return;
    }
    if (s->accepts_this_turn >= ACCEPT_BURST && !s->stopping) {
        s->accept_deferred = true; /* taken in the next prepare_cb */
        return;
    }
    s->accepts_this_turn++;
    if (s->stopping || s->st.connections_current >= s->opt.max_connections) {
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t) return;
        uv_tcp_init(s->loop, t);
        if (uv_accept(listener, (uv_stream_t *)t) == 0) s->st.connections_refused++;
        uv_close((uv_handle_t *)t, free_refused);
        return;
    }
    http_conn *c = calloc(1, sizeof *c);
    http_req_parser *p = http_req_parser_new(s->opt.max_header_bytes, s->opt.max_body_bytes);
    if (!c || !p) {
        free(c);
        http_req_parser_free(p);
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t) return;
        uv_tcp_init(s->loop, t);
        uv_accept(listener, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, free_refused);
        return;
    }
    c->parser = p;
    c->srv = s;
    c->refs = 1;
    if (s->opt.tls) c->tls = tls_conn_new(s->opt.tls); /* NULL (out of memory): closed below */
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    /* From here the handle exists: every failure goes through conn_close. */
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->handles_open++;
    s->st.connections_current++;
    s->st.connections_total++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    format_peer(&c->tcp, c->peer, sizeof c->peer, c->addr, sizeof c->addr);
    connlim_result lr = connlimit_acquire(s->opt.limits, CONNLIM_HTTP, c->addr);
    if (lr != CONNLIM_OK) {
        s->st.connections_refused++;
        if (lr == CONNLIM_PER_ADDRESS)
            s->st.refused_per_address++;
        else
            s->st.refused_budget++;
        log_ratelimited_refusal(s, c->peer, lr);
        conn_close(c);
        return;
    }
    c->admitted = true;
    c->last_active = c->last_progress = now_ms(c);
    c->header_deadline = c->last_active + s->opt.header_timeout_ms;
    if (s->opt.tls && !c->tls) {
        conn_close(c);
        return;
    }
    update_reading(c);
    if (!c->reading) conn_close(c);
}

/* ---- server ---- */

static void tick(http_server *s)
{
    while (s->resume_head) {
        http_conn *c = s->resume_head;
        s->resume_head = c->resume_next;
        c->on_resume_list = false;
        if (!c->closing) conn_process(c);
        http_conn_unref(c);
        yield(s);
    }
    while (s->flush_head) {
        http_conn *c = s->flush_head;
        s->flush_head = c->flush_next;
        c->on_flush_list = false;
        if (!c->closing) conn_flush(c);
        http_conn_unref(c);
        yield(s);
    }
}

static void prepare_cb(uv_prepare_t *h)
{
    http_server *s = h->data;
    s->accepts_this_turn = 0;
    if (s->accept_deferred && !s->stopping) {
        s->accept_deferred = false;
        on_connection((uv_stream_t *)&s->listener, 0); /* uv_accept re-arms the listener */
    }
    tick(s);
}

static void check_cb(uv_check_t *h)
{
    tick(h->data);
}

/* At most this many connections are expired per sweep; the rest wait for a sweep 1 ms later,
 * so that 10,000 slow headers timing out together do not hold the loop in one go. */
#define SWEEP_BURST 256

static void sweep_cb(uv_timer_t *t)
{
    http_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    uint64_t idle = s->opt.idle_timeout_ms;
    unsigned expired = 0;
    for (http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing) continue;
        if (expired >= SWEEP_BURST) {
            uv_timer_start(&s->sweep, sweep_cb, 1, s->sweep_every);
            return;
        }
        if (c->lingering) {
            if (now >= c->linger_until) conn_close(c);
            continue;
        }
        if (http_conn_queued(c) > 0) { /* a client that stopped reading */
            if (now - c->last_progress > idle) {
                log_info("http_write_stalled", "peer=%s queued=%zu", c->peer, http_conn_queued(c));
                conn_close(c);
            }
            continue;
        }
        if (c->mode == MODE_WS) {
            ws_conn *w = c->ws;
            if (w->close_sent) {
                if (now - w->close_sent_at > WS_CLOSE_WAIT_MS) conn_close(c);
            } else if (now - c->last_active > idle) {
                conn_close(c);
            } else if (now - c->last_active > idle / 2 && !w->ping_sent) {
                w->ping_sent = true;
                ws_send_frame(w, WS_OP_PING, NULL, 0, false);
            }
            continue;
        }
        if (c->req_state != REQ_NONE || c->close_after_write) continue;
        if (c->header_deadline && now >= c->header_deadline) {
            /* 408 if the socket takes it now, then closed at once: no lingering for a client
             * that is too slow by definition (a slowloris keeps thousands of these) */
            s->st.header_timeouts++;
            expired++;
            log_debug("http_header_timeout", "peer=%s", c->peer);
            send_error(c, 408);
            conn_write_some(c);
            conn_close(c);
            yield(s);
            continue;
        }
        if (now - c->last_active > idle) {
            if (http_req_parser_in_progress(c->parser))
                send_error(c, 408);
            else
                conn_close(c); /* a quiet keep-alive connection */
        }
    }
}

static int parse_addr(const char *addr_port, struct sockaddr_storage *ss)
{
    if (!addr_port) return HTTP_ERR_ADDR;
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_str;
    bool v6 = false;
    if (addr_port[0] == '[') {
        const char *end = strchr(addr_port, ']');
        if (!end || end[1] != ':') return HTTP_ERR_ADDR;
        size_t hl = (size_t)(end - addr_port - 1);
        if (hl == 0 || hl >= sizeof host) return HTTP_ERR_ADDR;
        memcpy(host, addr_port + 1, hl);
        host[hl] = '\0';
        port_str = end + 2;
        v6 = true;
    } else {
        const char *colon = strrchr(addr_port, ':');
        if (!colon) return HTTP_ERR_ADDR;
        size_t hl = (size_t)(colon - addr_port);
        if (hl >= sizeof host) return HTTP_ERR_ADDR;
        memcpy(host, addr_port, hl);
        host[hl] = '\0';
        if (hl == 0) snprintf(host, sizeof host, "0.0.0.0");
        port_str = colon + 1;
    }
    char *endp;
    errno = 0;
    long port = strtol(port_str, &endp, 10);
    if (errno || endp == port_str || *endp || port < 0 || port > 65535) return HTTP_ERR_ADDR;
    memset(ss, 0, sizeof *ss);
    int rc = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss)
                : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
    return rc == 0 ? 0 : HTTP_ERR_ADDR;
}

static void server_free(http_server *s)
{
    free(s->shared);
    free(s->tls_in);
    free(s);
}

static void server_handle_closed(http_server *s)
{
    if (--s->handles_open > 0 || !s->stopping) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    server_free(s);
    if (done) done(arg);
}

static void on_server_handle_closed(uv_handle_t *h)
{
    server_handle_closed(h->data);
}

int http_server_start(uv_loop_t *loop, const char *addr_port, const http_server_options *opt,
                      const http_callbacks *cb, void *ud, http_server **out)
{
    int rc = 0, fd = -1;
    http_server *s = NULL;
    struct sockaddr_storage ss;
    if (out) *out = NULL;
    if (!loop || !cb || !cb->on_request || !out) return HTTP_ERR_INVALID;
    if ((rc = parse_addr(addr_port, &ss)) != 0) {
        log_error("http_bad_listen_address", "addr=%s", addr_port ? addr_port : "(null)");
        return rc;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->shared = malloc(SHARED_BUF_SIZE)) ||
        (opt && opt->tls && !(s->tls_in = malloc(SHARED_BUF_SIZE)))) {
        rc = HTTP_ERR_NOMEM;
        goto fail;
    }
    if (opt) s->opt = *opt;
    if (!s->opt.max_header_bytes) s->opt.max_header_bytes = 16 * 1024;
    if (!s->opt.max_body_bytes) s->opt.max_body_bytes = 32 * 1024 * 1024;
    if (!s->opt.idle_timeout_ms) s->opt.idle_timeout_ms = 60 * 1000;
    if (!s->opt.max_connections) s->opt.max_connections = 10000;
    if (!s->opt.ws_max_message) s->opt.ws_max_message = 1024 * 1024;
    if (!s->opt.max_queued_bytes) s->opt.max_queued_bytes = 8 * 1024 * 1024;
    if (!s->opt.max_body_bytes_total) s->opt.max_body_bytes_total = 64 * 1024 * 1024;
    if (!s->opt.header_timeout_ms) s->opt.header_timeout_ms = 10000;
    s->loop = loop;
    s->cb = *cb;
    s->ud = ud;

    /* Bind synchronously so every error is reported here, before any libuv handle exists. */
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t alen =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, alen) != 0 || listen(fd, 1024) != 0) {
        log_error("http_listen_failed", "addr=%s err=\"%s\"", addr_port, strerror(errno));
        rc = HTTP_ERR_LISTEN;
        goto fail;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->handles_open = 1;
    rc = uv_tcp_open(&s->listener, fd);
    if (rc != 0) close(fd); /* not owned by the handle */
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc != 0) {
        /* The handle must be closed through the loop; the server frees itself then. */
        log_error("http_listen_failed", "addr=%s err=\"%s\"", addr_port, uv_strerror(rc));
        s->stopping = true;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        return HTTP_ERR_LISTEN;
    }
    uv_timer_init(loop, &s->sweep);
    uv_prepare_init(loop, &s->prepare);
    uv_check_init(loop, &s->check);
    s->sweep.data = s->prepare.data = s->check.data = s;
    s->handles_open += 3;
    uint64_t every =
        (s->opt.idle_timeout_ms < s->opt.header_timeout_ms ? s->opt.idle_timeout_ms
                                                           : s->opt.header_timeout_ms) /
        4;
    if (every > 1000) every = 1000;
    if (every < 5) every = 5;
    s->sweep_every = every;
    uv_timer_start(&s->sweep, sweep_cb, every, every);
    uv_prepare_start(&s->prepare, prepare_cb);
    uv_check_start(&s->check, check_cb);
    uv_unref((uv_handle_t *)&s->sweep);
    uv_unref((uv_handle_t *)&s->prepare);
    uv_unref((uv_handle_t *)&s->check);
    log_info("http_listening", "addr=%s port=%d", addr_port, http_server_port(s));
    *out = s;
    return 0;
fail:
    if (fd >= 0) close(fd);
    if (s) server_free(s);
    return rc;
}

int http_server_port(const http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!s || uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void http_server_stop(http_server *s, void (*done)(void *), void *arg)
{
    if (!s || s->stopping) return;
    s->stopping = true;
    s->done = done;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->prepare, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->check, on_server_handle_closed);
    for (http_conn *c = s->conns; c; c = c->next) {
        if (c->closing) continue;
        if (c->mode == MODE_WS && !c->ws->close_sent)
            ws_send_close(c->ws, WS_CLOSE_GOING_AWAY, "", 0);
        conn_write_some(c); /* best effort: what the socket takes now */
        conn_close(c);
    }
    while (s->resume_head) {
        http_conn *c = s->resume_head;
        s->resume_head = c->resume_next;
        c->on_resume_list = false;
        http_conn_unref(c);
    }
    while (s->flush_head) {
        http_conn *c = s->flush_head;
        s->flush_head = c->flush_next;
        c->on_flush_list = false;
        http_conn_unref(c);
    }
}

void http_server_get_stats(const http_server *s, http_server_stats *out)
{
    if (!s) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->st;
}
