/* See sim_proto.h. Encoders write the variable header and payload after a 5-byte gap (the
 * longest fixed header), then move them up behind the real fixed header once the remaining
 * length is known. Parsers check every length against the bytes present before reading. */
#include "sim/sim_proto.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    uint8_t *p;
    size_t cap, len;
    bool overflow;
} wbuf;

static void put(wbuf *w, const void *data, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void put_u8(wbuf *w, uint8_t v)
{
    put(w, &v, 1);
}

static void put_u16(wbuf *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)(v & 0xff)};
    put(w, b, 2);
}

static void put_str(wbuf *w, const char *s, size_t n)
{
    if (n > 65535) {
        w->overflow = true;
        return;
    }
    put_u16(w, (uint16_t)n);
    put(w, s, n);
}

/* Writes the fixed header in front of the body that starts at buf + 5. */
static size_t finish(wbuf *w, uint8_t first_byte)
{
    if (w->overflow || w->len < 5) return 0;
    size_t rl = w->len - 5;
    if (rl > 268435455) return 0;
    uint8_t hdr[5];
    size_t h = 0;
    hdr[h++] = first_byte;
    do {
        uint8_t b = (uint8_t)(rl % 128);
        rl /= 128;
        if (rl) b |= 0x80;
        hdr[h++] = b;
    } while (rl);
    size_t body = w->len - 5;
    memmove(w->p + h, w->p + 5, body);
    memcpy(w->p, hdr, h);
    return h + body;
}

static void start(wbuf *w, uint8_t *buf, size_t cap)
{
    w->p = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = cap < 5;
    if (!w->overflow) w->len = 5;
}

size_t sim_mqtt_connect(uint8_t *buf, size_t cap, int version, const char *client_id,
                        const char *username, const char *password, uint16_t keepalive_s)
{
    wbuf w;
    start(&w, buf, cap);
    put_str(&w, "MQTT", 4);
    put_u8(&w, (uint8_t)(version == 5 ? 5 : 4));
    uint8_t flags = 0x02; /* clean session / clean start */
    if (username) flags |= 0x80;
    if (password) flags |= 0x40;
    put_u8(&w, flags);
    put_u16(&w, keepalive_s);
    if (version == 5) put_u8(&w, 0); /* no properties */
    put_str(&w, client_id, strlen(client_id));
    if (username) put_str(&w, username, strlen(username));
    if (password) put_str(&w, password, strlen(password));
    return finish(&w, SIM_MQTT_CONNECT << 4);
}

size_t sim_mqtt_publish(uint8_t *buf, size_t cap, int version, const char *topic, int qos,
                        uint16_t packet_id, const void *payload, size_t payload_len)
{
    if (qos < 0 || qos > 1 || (qos == 1 && packet_id == 0)) return 0;
    wbuf w;
    start(&w, buf, cap);
    put_str(&w, topic, strlen(topic));
    if (qos) put_u16(&w, packet_id);
    if (version == 5) put_u8(&w, 0); /* no properties */
    put(&w, payload, payload_len);
    return finish(&w, (uint8_t)(SIM_MQTT_PUBLISH << 4 | qos << 1));
}

size_t sim_mqtt_pingreq(uint8_t *buf, size_t cap)
{
    if (cap < 2) return 0;
    buf[0] = SIM_MQTT_PINGREQ << 4;
    buf[1] = 0;
    return 2;
}

size_t sim_mqtt_disconnect(uint8_t *buf, size_t cap, int version)
{
    size_t n = version == 5 ? 3 : 2;
    if (cap < n) return 0;
    buf[0] = SIM_MQTT_DISCONNECT << 4;
    buf[1] = (uint8_t)(n - 2);
    if (n == 3) buf[2] = 0; /* normal disconnection */
    return n;
}

bool sim_mqtt_connack_ok(uint8_t rc)
{
    return rc == 0;
}

int sim_mqtt_parse(const uint8_t *buf, size_t len, int version, sim_mqtt_packet *out)
{
    memset(out, 0, sizeof *out);
    if (len < 2) return 0;
    size_t rl = 0, pos = 1;
    for (int shift = 0;; shift += 7) {
        if (pos > 4) return -1; /* at most 4 length bytes */
        if (pos >= len) return 0;
        uint8_t b = buf[pos++];
        rl |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    if (rl > len - pos) return 0;
    const uint8_t *p = buf + pos;
    uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0f;
    out->type = type;
    switch (type) {
    case SIM_MQTT_CONNACK:
        if (flags != 0 || rl < 2 || (version != 5 && rl != 2)) return -1;
        out->session_present = p[0] & 1;
        out->rc = p[1];
        break;
    case SIM_MQTT_PUBACK:
        if (flags != 0 || rl < 2 || (version != 5 && rl != 2)) return -1;
        out->packet_id = (uint16_t)(p[0] << 8 | p[1]);
        out->rc = rl >= 3 ? p[2] : 0;
        break;
    case SIM_MQTT_PINGRESP:
        if (flags != 0 || rl != 0) return -1;
        break;
    case SIM_MQTT_DISCONNECT:
        if (flags != 0 || (version != 5 && rl != 0)) return -1;
        out->rc = rl >= 1 ? p[0] : 0;
        break;
    case 0:
    case SIM_MQTT_CONNECT:
    case SIM_MQTT_PINGREQ:
        return -1; /* never sent by a server */
    default:
        break; /* not expected (no subscriptions): skipped */
    }
    return (int)(pos + rl);
}

size_t sim_http_request(char *buf, size_t cap, const char *host, const char *path,
                        const char *api_key, size_t body_len)
{
    int n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: iotad-sim/1.0\r\n"
                     "X-API-Key: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, host, api_key, body_len);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Case-insensitive search for a header line "name:" within [p, end); returns the value start. */
static const char *header(const char *p, const char *end, const char *name, const char **vend)
{
    size_t n = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == '\r' || e[-1] == ' '))
                e--;
            *vend = e;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

static bool value_has(const char *v, const char *e, const char *token)
{
    size_t n = strlen(token);
    for (; v + n <= e; v++)
        if (strncasecmp(v, token, n) == 0) return true;
    return false;
}

int sim_http_response(const char *buf, size_t len, int *status, bool *keep_alive)
{
    static const size_t max_head = 16384;
    const char *end = NULL;
    for (size_t i = 3; i < len && i < max_head; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            end = buf + i + 1;
            break;
        }
    }
    if (!end) return len >= max_head ? -1 : 0;
    if ((size_t)(end - buf) < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return -1;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return -1;
        code = code * 10 + (buf[i] - '0');
    }
    *status = code;
    const char *ve, *v = header(buf, end, "connection", &ve);
    bool http10 = buf[7] == '0';
    *keep_alive =
        http10 ? (v && value_has(v, ve, "keep-alive")) : !(v && value_has(v, ve, "close"));
    v = header(buf, end, "transfer-encoding", &ve);
    if (v && value_has(v, ve, "chunked")) return -1;
    size_t body = 0;
    if (code >= 200 && code != 204 && code != 304) {
        v = header(buf, end, "content-length", &ve);
        if (!v) return -1; /* close-delimited bodies: not from our server */
        if (v == ve) return -1;
        for (; v < ve; v++) {
            if (*v < '0' || *v > '9' || body > 100000000) return -1;
            body = body * 10 + (size_t)(*v - '0');
        }
    }
    size_t head = (size_t)(end - buf);
    if (body > len - head) return 0;
    if (head + body > 0x7fffffff) return -1;
    return (int)(head + body);
}
