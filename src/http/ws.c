/* WebSocket codec (RFC 6455). The parser reads a frame header (buffering it if it arrives in
 * pieces), validates it against the RFC's rules before touching the payload, then either hands
 * out a complete unfragmented data frame in place (zero copy, unmasked in the caller's buffer) or
 * copies payload into the reassembly buffer (fragmented or split messages) or the control
 * buffer. One event is returned per call so the caller can act on it before feeding more. */
#include "http/ws.h"

#include "core/utf8.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool ws_key_valid(const char *key, size_t len)
{
    /* 16 bytes encode to 22 significant characters plus "==". */
    if (!key || len != 24 || key[22] != '=' || key[23] != '=') return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64_char(key[i])) return false;
    return true;
}

int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1])
{
    if (!ws_key_valid(key, len)) return -1;
    char buf[24 + sizeof WS_GUID];
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof WS_GUID - 1);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(buf, 24 + sizeof WS_GUID - 1, digest, &dlen, EVP_sha1(), NULL) != 1 ||
        dlen != 20)
        return -1;
    /* EVP_EncodeBlock writes 28 characters and a NUL for 20 bytes. */
    if (EVP_EncodeBlock((unsigned char *)out, digest, 20) != WS_ACCEPT_LEN) return -1;
    return 0;
}

size_t ws_frame_header(uint8_t out[WS_MAX_HEADER], bool fin, int opcode, uint64_t len,
                       const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        out[n++] = (uint8_t)(mbit | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(mbit | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], size_t offset)
{
    uint8_t m8[8];
    for (size_t k = 0; k < 8; k++)
        m8[k] = mask[(offset + k) & 3];
    uint64_t mw;
    memcpy(&mw, m8, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, data + i, 8);
        v ^= mw;
        memcpy(data + i, &v, 8);
    }
    for (; i < len; i++)
        data[i] ^= m8[i & 7];
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    return utf8_valid(s, len, true);
}

bool ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1011) return true;
    return code >= 3000 && code <= 4999;
}

void ws_parser_init(ws_parser *p, bool peer_masks, size_t max_message)
{
    memset(p, 0, sizeof *p);
    p->peer_masks = peer_masks;
    p->max_message = max_message;
}

void ws_parser_free(ws_parser *p)
{
    free(p->msg);
    p->msg = NULL;
    p->msg_len = p->msg_cap = 0;
}

static bool fail(ws_parser *p, ws_event *ev, uint16_t code)
{
    p->done = true;
    ev->type = WS_EV_ERROR;
    ev->code = code;
    ev->data = NULL;
    ev->len = 0;
    return false;
}

static bool is_control(uint8_t op)
{
    return op & 0x8;
}

/* Validates the complete header in p->hbuf; on success sets up payload reading. */
static bool header_parse(ws_parser *p, ws_event *ev)
{
    uint8_t b0 = p->hbuf[0], b1 = p->hbuf[1];
    p->fin = (b0 & 0x80) != 0;
    p->opcode = b0 & 0x0f;
    if (b0 & 0x70) return fail(p, ev, WS_CLOSE_PROTOCOL); /* no extensions negotiated */
    bool masked = (b1 & 0x80) != 0;
    if (masked != p->peer_masks) return fail(p, ev, WS_CLOSE_PROTOCOL);
    uint64_t len = b1 & 0x7f;
    size_t off = 2;
    if (len == 126) {
        len = ((uint64_t)p->hbuf[2] << 8) | p->hbuf[3];
        off = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p->hbuf[2 + i];
        off = 10;
        if (len >> 63) return fail(p, ev, WS_CLOSE_PROTOCOL);
    }
    if (masked) memcpy(p->mask, p->hbuf + off, 4);
    switch (p->opcode) {
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!p->fin || len > WS_MAX_CONTROL) return fail(p, ev, WS_CLOSE_PROTOCOL);
        p->ctl_len = 0;
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (p->msg_opcode != 0) return fail(p, ev, WS_CLOSE_PROTOCOL);
        if (len > p->max_message) return fail(p, ev, WS_CLOSE_TOO_BIG);
        break;
    case WS_OP_CONT:
        if (p->msg_opcode == 0) return fail(p, ev, WS_CLOSE_PROTOCOL);
        if (len > p->max_message - p->msg_len) return fail(p, ev, WS_CLOSE_TOO_BIG);
        break;
    default:
        return fail(p, ev, WS_CLOSE_PROTOCOL);
    }
    p->remaining = len;
    p->frame_off = 0;
    p->in_payload = true;
    return true;
}

/* Called when the current frame's payload is complete; true if an event was produced. */
static bool frame_done(ws_parser *p, ws_event *ev)
{
    p->in_payload = false;
    switch (p->opcode) {
    case WS_OP_PING:
    case WS_OP_PONG:
        ev->type = p->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
        ev->data = p->ctl;
        ev->len = p->ctl_len;
        return true;
    case WS_OP_CLOSE:
        if (p->ctl_len == 0) {
            ev->code = WS_CLOSE_NO_STATUS;
        } else {
            if (p->ctl_len == 1) return !fail(p, ev, WS_CLOSE_PROTOCOL);
            uint16_t code = (uint16_t)((p->ctl[0] << 8) | p->ctl[1]);
            if (!ws_close_code_valid(code)) return !fail(p, ev, WS_CLOSE_PROTOCOL);
            if (!ws_utf8_valid(p->ctl + 2, p->ctl_len - 2))
                return !fail(p, ev, WS_CLOSE_INVALID_DATA);
            ev->code = code;
            ev->data = p->ctl + 2;
            ev->len = p->ctl_len - 2;
        }
        ev->type = WS_EV_CLOSE;
        p->done = true;
        return true;
    default: /* data frame on the reassembly path */
        if (!p->fin) return false;
        if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_valid(p->msg, p->msg_len))
            return !fail(p, ev, WS_CLOSE_INVALID_DATA);
        ev->type = p->msg_opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
        ev->data = p->msg;
        ev->len = p->msg_len;
        p->msg_delivered = true;
        return true;
    }
}

static size_t header_size(uint8_t b1)
{
    uint8_t l = b1 & 0x7f;
    return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

static bool msg_reserve(ws_parser *p, size_t need)
{
    if (need <= p->msg_cap) return true;
    size_t cap = p->msg_cap ? p->msg_cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > p->max_message) cap = p->max_message > need ? p->max_message : need;
    uint8_t *m = realloc(p->msg, cap);
    if (!m) return false;
    p->msg = m;
    p->msg_cap = cap;
    return true;
}

size_t ws_parser_feed(ws_parser *p, uint8_t *data, size_t len, ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (p->done) return 0;
    if (p->msg_delivered) {
        p->msg_delivered = false;
        p->msg_opcode = 0;
        p->msg_len = 0;
        if (p->msg_cap > 65536) { /* do not keep a large message buffer per idle client */
            free(p->msg);
            p->msg = NULL;
            p->msg_cap = 0;
        }
    }
    size_t pos = 0;
    while (pos < len) {
        if (!p->in_payload) {
            size_t want = p->hlen < 2 ? 2 : header_size(p->hbuf[1]);
            size_t n = want - p->hlen;
            if (n > len - pos) n = len - pos;
            memcpy(p->hbuf + p->hlen, data + pos, n);
            p->hlen += n;
            pos += n;
            if (p->hlen < want || p->hlen < header_size(p->hbuf[1])) continue;
            p->hlen = 0;
            if (!header_parse(p, ev)) return pos;
            bool data_op = p->opcode == WS_OP_TEXT || p->opcode == WS_OP_BINARY;
            if (data_op && p->fin && len - pos >= p->remaining) {
                /* Fast path: a whole unfragmented message is in the buffer. */
                uint8_t *d = data + pos;
                size_t plen = (size_t)p->remaining;
                if (p->peer_masks) ws_mask(d, plen, p->mask, 0);
                pos += plen;
                p->in_payload = false;
                if (p->opcode == WS_OP_TEXT && !ws_utf8_valid(d, plen)) {
                    fail(p, ev, WS_CLOSE_INVALID_DATA);
                    return pos;
                }
                ev->type = p->opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
                ev->data = d;
                ev->len = plen;
                return pos;
            }
            if (data_op) {
                p->msg_opcode = p->opcode;
                p->msg_len = 0;
            }
            if (p->remaining == 0 && frame_done(p, ev)) return pos;
            continue;
        }
        size_t n = len - pos;
        if (n > p->remaining) n = (size_t)p->remaining;
        uint8_t *dst;
        if (is_control(p->opcode)) {
            dst = p->ctl + p->ctl_len;
            p->ctl_len += n;
        } else {
            if (!msg_reserve(p, p->msg_len + n)) {
                fail(p, ev, WS_CLOSE_INTERNAL);
                return pos;
            }
            dst = p->msg + p->msg_len;
            p->msg_len += n;
        }
        memcpy(dst, data + pos, n);
        if (p->peer_masks) ws_mask(dst, n, p->mask, (size_t)p->frame_off);
        pos += n;
        p->remaining -= n;
        p->frame_off += n;
        if (p->remaining == 0 && frame_done(p, ev)) return pos;
    }
    return pos;
}
