/* Embedded HTTP/1.1 + WebSocket server on a libuv loop. Requests are parsed with http_parser,
 * handed to the application one at a time per connection (pipelined requests wait in the buffer),
 * and answered, now or later, with http_respond(), a chunked stream, or http_ws_accept().
 * Everything runs on the loop thread; no function here is thread-safe. */
#ifndef IOTAD_HTTP_SERVER_H
#define IOTAD_HTTP_SERVER_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/connlimit.h"
#include "http/http_util.h"
#include "http/ws.h"

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef struct ws_conn ws_conn;

typedef struct {
    const char *name; /* as sent */
    const char *value;
} http_header;

typedef struct {
    int method;              /* enum http_method */
    const char *method_name; /* "GET" */
    const char *path;  /* percent-decoded path without the query, NUL-terminated; always starts
                          with '/' (origin-form, or the path of an absolute-form target): other
                          request-target forms are refused with 400 by the parser, except
                          "OPTIONS *", which the server answers itself */
    const char *query; /* raw query string or "" */
    const char *url;   /* request target as sent */
    const http_header *headers;
    size_t n_headers;
    const char *body; /* complete body (de-chunked), NUL-terminated; "" when empty */
    size_t body_len;
    const char *peer; /* "ip:port" ("[ip6]:port") */
    int http_major, http_minor;
    bool keep_alive;        /* the connection stays open after the response */
    bool websocket_upgrade; /* a valid RFC 6455 upgrade request */
    bool tls;               /* came over TLS (an HTTPS listener) */
} http_request;

/* Case-insensitive header lookup; the first occurrence, or NULL. */
const char *http_req_header(const http_request *r, const char *name);
/* Cookie lookup over every Cookie header; results as http_query_param() (http_util.h). */
int http_cookie(const http_request *r, const char *name, char *out, size_t cap);

typedef struct {
    /* A complete request. The app MUST answer exactly once with http_respond(), a stream
     * (http_stream_begin .. http_stream_end) or http_ws_accept(), now or later. To answer later
     * it takes a reference (http_conn_ref) and drops it after answering. The request data stays
     * valid until the answer is complete. */
    void (*on_request)(void *ud, http_conn *c, const http_request *req);
    /* Optional, for the app's counters: the server answered a request itself, without calling
     * on_request, after its request line and headers were read (413 over max_body_bytes, 503
     * for max_body_bytes_total, 417, a malformed body: 400). req has the method, path and
     * headers, no body; valid during the call only. Requests refused before their target is
     * known (400, 408, 414, 431, 505) are not reported. */
    void (*on_refused)(void *ud, const http_request *req, int status);
} http_callbacks;

typedef struct {
    size_t max_header_bytes; /* request line + headers; 0: 16 KiB; larger: 431 */
    size_t max_body_bytes;   /* 0: 32 MiB; larger: 413 */
    unsigned
        idle_timeout_ms; /* 0: 60 s; no request/frame in that time closes (408 if mid-request) */
    unsigned max_connections; /* 0: 10000; further connections are closed on accept */
    size_t ws_max_message;    /* 0: 1 MiB; larger reassembled messages close with 1009 */
    size_t max_queued_bytes;  /* 0: 8 MiB; a WebSocket client with more unsent output is dropped */
    /* Request bodies held in memory at once, all connections together: from the first byte
     * (or the declared Content-Length, reserved when the headers end) until the request is
     * answered or the app calls http_conn_release_body. A request that would go over gets
     * 503 + Retry-After before its body is read (and the connection closes). Bodies of at
     * most HTTP_BODY_ALWAYS_ADMITTED bytes always pass, so small API calls keep working
     * while large uploads wait. 0: 64 MiB. */
    size_t max_body_bytes_total;
    /* The request line and every header must have arrived within this time from the accept
     * (first request) or from the request's first byte (later ones): a deadline for the whole
     * header, not an idle timer that each byte resets (slowloris). Over it: 408 and close.
     * 0: 10 s. */
    unsigned header_timeout_ms;
    connlimit *limits;   /* shared admission (per address, descriptor budget); NULL: none */
    struct tls_ctx *tls; /* HTTPS (net/tls.h) with this context, or NULL */
    /* Called between connections while the server works through a burst (each read, accept,
     * deadline close and flush): lets the owner run more urgent work (core/subloop.h) instead
     * of having it wait behind thousands of events. NULL: none. */
    void (*yield)(void *arg);
    void *yield_arg;
} http_server_options;

#define HTTP_BODY_ALWAYS_ADMITTED (64 * 1024)

enum {
    HTTP_ERR_ADDR = -1,   /* addr_port unparseable */
    HTTP_ERR_LISTEN = -2, /* bind/listen failed (see the log) */
    HTTP_ERR_NOMEM = -3,
    HTTP_ERR_CLOSED = -4,  /* the connection is closed or closing */
    HTTP_ERR_INVALID = -5, /* NULL loop, callbacks or out pointer */
};

/* addr_port: "127.0.0.1:0", "0.0.0.0:8080", "[::]:8080", "[::1]:0". */
int http_server_start(uv_loop_t *loop, const char *addr_port, const http_server_options *opt,
                      const http_callbacks *cb, void *ud, http_server **out);
int http_server_port(const http_server *s);
/* Stops listening, closes every connection (WebSockets get 1001) and frees the server once all
 * handles are closed, then calls done(arg). Connections the app still references stay valid
 * (closed) until their last unref. */
void http_server_stop(http_server *s, void (*done)(void *), void *arg);

/* extra_headers: full "Name: value\r\n" lines or NULL. Content-Length, Date and Connection are
 * added here. HEAD requests get the headers only. */
void http_respond(http_conn *c, int status, const char *content_type, const char *extra_headers,
                  const void *body, size_t len);

/* Chunked response (HTTP/1.0 clients: raw body, connection closed at the end). */
void http_stream_begin(http_conn *c, int status, const char *content_type,
                       const char *extra_headers);
/* Queues one piece; returns the bytes of output queued on the connection so the app can pace
 * itself (or use http_conn_on_drain), or HTTP_ERR_CLOSED. */
int http_stream_write(http_conn *c, const void *data, size_t len);
void http_stream_end(http_conn *c);
/* Calls cb once, the next time all queued output has been written (or the connection closed;
 * check http_conn_closed). Replaces a previously set callback. */
void http_conn_on_drain(http_conn *c, void (*cb)(void *arg, http_conn *c), void *arg);
size_t http_conn_queued(const http_conn *c);

/* The app is done with the current request's body (e.g. it has decoded it): its memory is
 * freed and no longer counts against max_body_bytes_total. The request stays valid with an
 * empty body until it is answered. */
void http_conn_release_body(http_conn *c);

void http_conn_ref(http_conn *c);
void http_conn_unref(http_conn *c);
bool http_conn_closed(const http_conn *c);
const char *http_conn_peer(const http_conn *c);

/* WebSocket */
typedef struct {
    void (*on_message)(void *ud, ws_conn *w, bool is_text, const uint8_t *data, size_t len);
    /* Called once when the connection is gone (after the close handshake, an error, a drop or
     * server stop). Sends fail afterwards; a reference taken with ws_conn_ref stays valid. */
    void (*on_close)(void *ud, ws_conn *w);
    /* Optional: the client broke the protocol and the connection is being closed with code
     * (1002 protocol error, 1007 text that is not UTF-8, 1009 message over ws_max_message);
     * on_close follows. */
    void (*on_protocol_error)(void *ud, ws_conn *w, uint16_t code);
} ws_callbacks;

/* Answers an upgrade request with 101 and switches the connection to WebSocket. If the request
 * is not a valid upgrade it answers 400 and returns NULL. The returned connection is owned by
 * the server: take a ref to keep using it after on_close. */
ws_conn *http_ws_accept(http_conn *c, const http_request *req, const char *extra_headers,
                        const ws_callbacks *cb, void *ud);
/* Return 0 or HTTP_ERR_CLOSED. A client whose queued output would exceed max_queued_bytes is
 * dropped (slow consumer) and counted in ws_dropped_slow. */
int ws_send_text(ws_conn *w, const char *data, size_t len);
int ws_send_binary(ws_conn *w, const void *data, size_t len);
/* Starts the close handshake; the socket closes when the client answers (or after 5 s). */
void ws_close(ws_conn *w, uint16_t code, const char *reason);
void ws_conn_ref(ws_conn *w);
void ws_conn_unref(ws_conn *w);
void ws_set_data(ws_conn *w, void *p);
void *ws_get_data(const ws_conn *w);
bool ws_conn_closed(const ws_conn *w);
const char *ws_conn_peer(const ws_conn *w);

typedef struct {
    uint64_t connections_current, connections_total, connections_refused;
    uint64_t requests, responses_4xx, responses_5xx, bytes_in, bytes_out;
    uint64_t ws_current, ws_messages_in, ws_messages_out, ws_dropped_slow;
    uint64_t header_timeouts;     /* 408 for header_timeout_ms */
    uint64_t refused_per_address; /* part of connections_refused: connlimit per address */
    uint64_t refused_budget;      /* part of connections_refused: descriptor budget */
    uint64_t body_bytes_held;     /* gauge: see max_body_bytes_total */
    uint64_t bodies_refused;      /* 503s for max_body_bytes_total */
} http_server_stats;

void http_server_get_stats(const http_server *s, http_server_stats *out);

/* ---- Request parser: the server's parsing state, exposed so tests and the fuzz target can
 * drive it from a buffer without sockets. ---- */

typedef enum {
    HTTP_PARSE_NEED_MORE = 0, /* all input consumed, request incomplete */
    HTTP_PARSE_REQUEST,       /* a complete request: http_req_parser_request(); reset after use */
    HTTP_PARSE_ERROR,         /* http_req_parser_error_status() says which (400, 413, 431, ...) */
} http_parse_result;

typedef struct http_req_parser http_req_parser;

/* Caller owns the result: free with http_req_parser_free(). NULL on allocation failure. */
http_req_parser *http_req_parser_new(size_t max_header_bytes, size_t max_body_bytes);
void http_req_parser_free(http_req_parser *p);
/* Feeds bytes; *consumed says how many were used. Stops right after a complete request so
 * pipelined bytes stay with the caller. After HTTP_PARSE_ERROR the parser accepts no input. */
http_parse_result http_req_parser_feed(http_req_parser *p, const char *data, size_t len,
                                       size_t *consumed);
const http_request *http_req_parser_request(const http_req_parser *p);
int http_req_parser_error_status(const http_req_parser *p);
/* Headers are complete, a body is expected, and the client sent Expect: 100-continue. */
bool http_req_parser_wants_continue(const http_req_parser *p);
/* True once the request line and headers are complete (until reset). */
bool http_req_parser_headers_done(const http_req_parser *p);
/* True when bytes of a request have been seen but it is not complete. */
bool http_req_parser_in_progress(const http_req_parser *p);
/* Forgets the current request (its data becomes invalid) and gets ready for the next one. */
void http_req_parser_reset(http_req_parser *p);
/* Body bytes the current request will hold: its Content-Length once the headers are in,
 * else (chunked) what has arrived so far; 0 before the headers end. */
size_t http_req_parser_body_size(const http_req_parser *p);
/* Frees the body of a complete request; the request keeps an empty body. */
void http_req_parser_drop_body(http_req_parser *p);

#endif
