/* WebSocket (RFC 6455) codec: handshake key, frame headers, masking, UTF-8 validation and an
 * incremental frame parser that reassembles fragmented messages. Pure: no sockets, no event
 * loop; the HTTP server drives it from its read buffer and the fuzz target from a byte array. */
#ifndef IOTAD_HTTP_WS_H
#define IOTAD_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
    WS_CLOSE_ABNORMAL = 1006,  /* never sent: "the connection dropped" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 digest, without the NUL */
#define WS_MAX_HEADER 14   /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125 /* control frame payload limit */

/* True if key is the base64 encoding of exactly 16 bytes (Sec-WebSocket-Key). */
bool ws_key_valid(const char *key, size_t len);
/* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). Returns 0, or -1 if the key is invalid. */
int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

/* Writes a frame header for a payload of len bytes; mask NULL for unmasked (server) frames.
 * Returns the header length (2..14). */
size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], bool fin, int opcode, uint64_t len,
                       const uint8_t *mask);
/* XORs data with the 4-byte mask; offset is the position of data[0] within the payload. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset);
/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool ws_utf8_valid(const uint8_t *s, size_t len);
/* May this code appear in a close frame on the wire? */
bool ws_close_code_valid(unsigned code);

typedef enum {
    WS_EV_NONE = 0, /* all input consumed, no complete event yet */
    WS_EV_TEXT,     /* complete (reassembled) message; UTF-8 already validated */
    WS_EV_BINARY,
    WS_EV_PING, /* data/len: payload to echo in a pong */
    WS_EV_PONG,
    WS_EV_CLOSE, /* code (WS_CLOSE_NO_STATUS if absent); data/len: the UTF-8 reason */
    WS_EV_ERROR, /* protocol violation; code is the close code to send (1002, 1007, 1009) */
} ws_event_type;

typedef struct {
    ws_event_type type;
    const uint8_t *data; /* valid until the next ws_parser_feed() call */
    size_t len;
    uint16_t code;
} ws_event;

typedef struct {
    bool peer_masks; /* true on a server: every incoming frame must be masked */
    bool done;       /* a CLOSE or ERROR event was returned; the parser takes no more input */
    size_t max_message;
    /* current frame header, accumulated byte by byte when split across reads */
    uint8_t hbuf[WS_MAX_HEADER];
    size_t hlen;
    bool in_payload;
    bool fin;
    uint8_t opcode;
    uint8_t mask[4];
    uint64_t remaining; /* payload bytes of the current frame still to read */
    uint64_t frame_off; /* payload bytes of the current frame already read (mask offset) */
    /* message being reassembled from data frames */
    uint8_t msg_opcode; /* 0: none in progress */
    bool msg_delivered; /* msg holds a message returned by the previous call */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    /* control frame payload */
    uint8_t ctl[WS_MAX_CONTROL];
    size_t ctl_len;
} ws_parser;

void ws_parser_init(ws_parser *p, bool peer_masks, size_t max_message);
void ws_parser_free(ws_parser *p);
/* Consumes input up to and including the next complete event and returns the number of bytes
 * consumed. data is modified in place (unmasked). Call again with the rest until it returns
 * with ev->type == WS_EV_NONE. */
size_t ws_parser_feed(ws_parser *p, uint8_t *data, size_t len, ws_event *ev);

#endif
