/* libFuzzer driver for the HTTP request parser: the bytes arrive in chunks (the first input byte
 * picks the chunk size) and are fed exactly as the server feeds its read buffer: stop at each
 * complete request, inspect it, reset, go on with the pipelined rest. Invariants of every
 * request the parser hands out are checked with abort(), including the request-target forms
 * (RFC 9112 3.2: what reaches the application is a path starting with '/', or "OPTIONS *"),
 * and every path is run through the static-file handler's path logic, as the router does for
 * any GET/HEAD outside /api/ (a NULL deref there on "GET *" was a remote crash). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "http/http_server.h"

static void check_request(const http_request *r)
{
    if (!r || !r->path || !r->query || !r->body || !r->method_name || !r->url) abort();
    if (r->path[0] != '/') {
        /* asterisk-form: only "OPTIONS *", exactly */
        if (strcmp(r->path, "*") != 0 || strcmp(r->url, "*") != 0 || r->method != HTTP_OPTIONS)
            abort();
    } else {
        char rel[520];
        api_static_kind k = api_static_target(r->path, rel, sizeof rel);
        if (k != API_STATIC_BAD && rel[0] != '/') abort();
    }
    if (r->url[0] != '/' && r->url[0] != '*' && strncasecmp(r->url, "http", 4) != 0) abort();
    if (r->body[r->body_len] != '\0') abort();
    if (r->body_len > 65536) abort();
    for (size_t i = 0; i < r->n_headers; i++)
        if (!r->headers[i].name || !r->headers[i].value) abort();
    char out[64];
    (void)http_req_header(r, "Host");
    (void)http_req_header(r, "content-length");
    (void)http_cookie(r, "sid", out, sizeof out);
    (void)http_cookie(r, "a", out, 2);
    (void)http_query_param(r->query, "q", out, sizeof out);
    (void)http_query_param(r->query, "from", out, 3);
    if (http_query_param(r->query, "x", out, sizeof out) == 0 && strlen(out) >= sizeof out) abort();
    const char *conn = http_req_header(r, "Connection");
    (void)http_token_list_has(conn, "upgrade");
    /* Accept-Encoding decides the body's coding: "*" alone never selects identity's absence */
    const char *ae = http_req_header(r, "Accept-Encoding");
    if (!ae && (http_accepts_encoding(ae, "gzip") || http_accepts_encoding(ae, "br"))) abort();
    (void)http_accepts_encoding(ae, "gzip");
    if (r->websocket_upgrade) {
        const char *key = http_req_header(r, "Sec-WebSocket-Key");
        char accept[WS_ACCEPT_LEN + 1];
        if (!key || ws_accept_key(key, strlen(key), accept) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t stride = data[0] ? data[0] : size;
    const char *in = (const char *)data + 1;
    size--;
    http_req_parser *p = http_req_parser_new(4096, 65536);
    if (!p) return 0;
    size_t off = 0, arrived = stride < size ? stride : size;
    for (int requests = 0; requests < 64;) {
        size_t used = 0;
        http_parse_result r = http_req_parser_feed(p, in + off, arrived - off, &used);
        if (used > arrived - off) abort();
        off += used;
        if (r == HTTP_PARSE_REQUEST) {
            const http_request *req = http_req_parser_request(p);
            check_request(req);
            if (http_req_parser_body_size(p) < req->body_len) abort();
            http_req_parser_drop_body(p);
            if (req->body_len != 0 || req->body[0] != '\0') abort();
            http_req_parser_reset(p);
            requests++;
            continue;
        }
        if (r == HTTP_PARSE_ERROR) {
            int st = http_req_parser_error_status(p);
            if (st < 400 || st > 599) abort();
            break;
        }
        if (off != arrived) abort(); /* NEED_MORE consumes everything */
        if (arrived == size) break;
        arrived = size - arrived > stride ? arrived + stride : size;
    }
    http_req_parser_free(p);
    return 0;
}
