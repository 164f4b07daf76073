/* libFuzzer driver for the WebSocket frame parser: the first input byte picks the side (server
 * parser expecting masked frames, or client), the message limit and the chunk size; the rest is
 * fed as the server feeds its read buffer, one event at a time. Every event is checked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t cfg = data[0];
    bool server = cfg & 1;
    size_t max_message = (cfg & 2) ? 1024 : 64;
    size_t stride = (cfg >> 2) ? (size_t)(cfg >> 2) : size;
    size--;
    uint8_t *buf = malloc(size ? size : 1); /* the parser unmasks in place */
    if (!buf) return 0;
    if (size) memcpy(buf, data + 1, size);
    ws_parser p;
    ws_parser_init(&p, server, max_message);
    size_t off = 0, arrived = stride < size ? stride : size;
    for (;;) {
        ws_event ev;
        size_t used = ws_parser_feed(&p, buf + off, arrived - off, &ev);
        if (used > arrived - off) abort();
        off += used;
        switch (ev.type) {
        case WS_EV_TEXT:
            if (!ws_utf8_valid(ev.data, ev.len)) abort();
            /* fall through */
        case WS_EV_BINARY:
            if (ev.len > max_message) abort();
            break;
        case WS_EV_PING:
        case WS_EV_PONG:
            if (ev.len > WS_MAX_CONTROL) abort();
            break;
        case WS_EV_CLOSE:
            if (ev.code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(ev.code)) abort();
            if (!ws_utf8_valid(ev.data, ev.len)) abort();
            break;
        case WS_EV_ERROR:
            if (ev.code != WS_CLOSE_PROTOCOL && ev.code != WS_CLOSE_INVALID_DATA &&
                ev.code != WS_CLOSE_TOO_BIG && ev.code != WS_CLOSE_INTERNAL)
                abort();
            break;
        case WS_EV_NONE:
            if (off != arrived) abort();
            break;
        }
        if (p.done) {
            ws_event after;
            if (ws_parser_feed(&p, buf, size, &after) != 0 || after.type != WS_EV_NONE) abort();
            break;
        }
        if (ev.type == WS_EV_NONE) {
            if (arrived == size) break;
            arrived = size - arrived > stride ? arrived + stride : size;
        }
    }
    ws_parser_free(&p);
    free(buf);
    return 0;
}
