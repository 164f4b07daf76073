/* MQTT device endpoint on libuv (one loop thread). Reads land in one shared per-server buffer;
 * complete packets are handled straight from it and only an incomplete tail (or input left
 * unprocessed while paused) is copied into a per-connection buffer, sized to the packet and
 * freed once drained, so an idle connection costs only its struct. Replies are appended to a
 * per-connection output buffer and flushed once per read callback, or once per loop iteration
 * (idle handle) for replies produced elsewhere, e.g. asynchronous PUBACKs. Each connection has a
 * timer due at its CONNECT deadline, then at 1.5 x keepalive after its last packet; one timer
 * sweeps lingering closes. A connection being
 * closed first sends what is queued (CONNACK refusal, DISCONNECT), then shuts down its write
 * side and discards input until EOF or a deadline, so the final packet is not lost to a RST. */
#include "core/log.h"
#include "mqtt/mqtt_server_int.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void conn_flush(mqtt_conn *c);
static void conn_really_close(mqtt_conn *c);
static void on_timer_closed(uv_handle_t *h);
static size_t conn_process(mqtt_conn *c, const uint8_t *data, size_t len);
static void server_maybe_finish(mqtt_server *s);

const char *mqtt_close_reason_name(mqtt_close_reason why)
{
    switch (why) {
    case MQTT_CLOSE_CLIENT_DISCONNECT:
        return "client_disconnect";
    case MQTT_CLOSE_PEER_GONE:
        return "peer_gone";
    case MQTT_CLOSE_SOCKET_ERROR:
        return "socket_error";
    case MQTT_CLOSE_KEEPALIVE_TIMEOUT:
        return "keepalive_timeout";
    case MQTT_CLOSE_PROTOCOL_ERROR:
        return "protocol_error";
    case MQTT_CLOSE_SERVER_DISCONNECT:
        return "server_disconnect";
    case MQTT_CLOSE_SERVER_STOP:
        return "server_stop";
    }
    return "unknown";
}

/* --- Output ---------------------------------------------------------------------------------- */

int mqtt_srv_out_reserve(mqtt_conn *c, size_t n)
{
    if (c->out_cap - c->out_len >= n) return 0;
    size_t cap = c->out_cap ? c->out_cap : 64;
    while (cap - c->out_len < n)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
    return 0;
}

/* Accounts for a packet just written at c->out + c->out_len. */
void mqtt_srv_out_commit(mqtt_conn *c, size_t n)
{
    c->out_len += n;
    c->srv->st.packets_out++;
    if (c->wreq && !c->paused_write && c->out_len > WRITE_HIGH_WATER) {
        c->paused_write = true;
        mqtt_srv_update_reading(c);
    }
}

bool mqtt_srv_out_append(mqtt_conn *c, const uint8_t *p, int n)
{
    if (n <= 0 || c->state == CS_CLOSED) return false;
    if (mqtt_srv_out_reserve(c, (size_t)n)) {
        log_warn("mqtt_out_of_memory", "peer=%s", c->peer);
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return false;
    }
    memcpy(c->out + c->out_len, p, (size_t)n);
    mqtt_srv_out_commit(c, (size_t)n);
    return true;
}

static void write_failed(mqtt_conn *c)
{
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    if (c->state == CS_CLOSED) return;
    if (c->state == CS_CLOSING)
        conn_really_close(c);
    else
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
}

static void on_shutdown(uv_shutdown_t *req, int status);
static void on_write(uv_write_t *req, int status);

/* Everything queued has been written on a closing connection: half-close, then wait for EOF
 * (reading and discarding) so the peer gets our last packet rather than a reset. */
static void closing_drained(mqtt_conn *c)
{
    if (c->shutdown_started) return;
    c->shutdown_started = true;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req) {
        conn_really_close(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_really_close(c);
    }
}

/* TLS: turns the plaintext queued in c->out into records (plus any handshake or alert
 * records waiting), so the rest of the write path sends ciphertext unchanged. */
static int tls_seal_out(mqtt_conn *c)
{
    if (c->out_len && tls_conn_write(c->tls, c->out, c->out_len) != 0) return -1;
    c->out_len = 0;
    if (c->state == CS_CLOSING) tls_conn_close_notify(c->tls); /* once: later calls are no-ops */
    size_t n = tls_conn_pending(c->tls);
    if (n && mqtt_srv_out_reserve(c, n) != 0) return -1;
    c->out_len = tls_conn_take(c->tls, c->out, n);
    return 0;
}

static void conn_flush(mqtt_conn *c)
{
    if (c->state == CS_CLOSED || c->wreq) return;
    mqtt_server *s = c->srv;
    if (c->tls && tls_seal_out(c) != 0) {
        write_failed(c);
        return;
    }
    if (c->out_len == 0) {
        if (c->state == CS_CLOSING) closing_drained(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
        log_debug("mqtt_write_error", "peer=%s err=%s", c->peer, uv_err_name(n));
        write_failed(c);
        return;
    }
    s->st.bytes_out += (uint64_t)n;
    if ((size_t)n == c->out_len) {
        /* The common case: everything went out. Drop the buffer (idle connections hold none). */
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        if (c->state == CS_CLOSING) closing_drained(c);
        return;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
        write_failed(c);
        return;
    }
    w->c = c;
    w->buf = c->out;
    w->len = c->out_len - (size_t)n;
    uv_buf_t rest = uv_buf_init((char *)c->out + n, (unsigned)w->len);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &rest, 1, on_write) != 0) {
        free(w->buf);
        free(w);
        write_failed(c);
        return;
    }
    c->wreq = w;
    if (w->len > WRITE_HIGH_WATER && !c->paused_write) {
        c->paused_write = true;
        mqtt_srv_update_reading(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    mqtt_conn *c = w->c;
    size_t len = w->len;
    free(w->buf);
    free(w);
    c->wreq = NULL;
    if (status < 0) {
        if (status != UV_ECANCELED)
            log_debug("mqtt_write_error", "peer=%s err=%s", c->peer, uv_err_name(status));
        write_failed(c);
        return;
    }
    c->srv->st.bytes_out += len;
    if (c->paused_write && c->out_len <= WRITE_HIGH_WATER) {
        c->paused_write = false;
        c->need_drain = true;
        mqtt_srv_schedule(c);
    }
    conn_flush(c);
}

/* --- Lifecycle ------------------------------------------------------------------------------- */

void mqtt_conn_ref(mqtt_conn *c)
{
    c->refs++;
}

void mqtt_conn_unref(mqtt_conn *c)
{
    if (c && --c->refs == 0) {
        free(c->in);
        free(c->out);
        free(c);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    mqtt_conn *c = h->data;
    mqtt_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->st.connections_current--;
    if (c->admitted) connlimit_release(s->opt.limits, CONNLIM_MQTT, c->addr);
    c->admitted = false;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = c->in_total = 0;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    tls_conn_free(c->tls);
    c->tls = NULL;
    c->srv = NULL;
    server_maybe_finish(s);
    mqtt_conn_unref(c); /* the server's reference */
}

static void conn_really_close(mqtt_conn *c)
{
    if (c->state == CS_CLOSED) return;
    c->state = CS_CLOSED;
    if (c->timer_on) {
        c->timer_on = false;
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    mqtt_srv_will_free(c);
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_discard_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mqtt_conn *c = h->data;
    buf->base = (char *)c->srv->rbuf;
    buf->len = READ_BUF_SIZE;
}

static void on_discard_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    mqtt_conn *c = st->data;
    if (nread < 0) conn_really_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    mqtt_conn *c = req->data;
    free(req);
    if (c->state != CS_CLOSING) return;
    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_discard_alloc, on_discard_read))
        conn_really_close(c);
}

/* Ends the MQTT conversation: optionally queues a v5 DISCONNECT, tells the application (for
 * accepted connections), then flushes and lingers (see the top of the file). */
void mqtt_srv_close(mqtt_conn *c, mqtt_close_reason why, int disconnect_reason)
{
    if (!conn_active(c)) return;
    mqtt_server *s = c->srv;
    bool was_connected = c->state == CS_CONNECTED;
    if (was_connected && disconnect_reason >= 0)
        mqtt_srv_send_disconnect(c, (uint8_t)disconnect_reason);
    c->state = CS_CLOSING;
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = c->in_total = 0;
    c->close_deadline_ms = uv_now(s->loop) + (s->stopping ? STOP_LINGER_MS : LINGER_MS);
    if (was_connected) {
        s->st.sessions_current--;
        log_debug("mqtt_close", "peer=%s reason=%s", c->peer, mqtt_close_reason_name(why));
        /* The will stands unless a normal DISCONNECT removed it; not at a server stop, which is
         * not the device's doing. */
        if (c->will && why != MQTT_CLOSE_SERVER_STOP && c->cb->on_will) {
            mqtt_will_info w = {.topic = c->will->topic,
                                .topic_len = c->will->topic_len,
                                .payload = c->will->payload,
                                .payload_len = c->will->payload_len,
                                .qos = c->will->qos,
                                .retain = c->will->retain};
            s->st.wills_published++;
            c->cb->on_will(c->ud, c, &w, why);
        }
        mqtt_srv_will_free(c);
        if (c->cb->on_close) c->cb->on_close(c->ud, c, why);
    }
    if (c->state != CS_CLOSING) return; /* closed from on_close */
    if (c->out_len || c->wreq)
        conn_flush(c);
    else
        conn_really_close(c);
}

/* --- Deferred work: flush and drain once per loop iteration ---------------------------------- */

static void conn_drain(mqtt_conn *c);

static void on_connection(uv_stream_t *ls, int status);

static void on_idle(uv_idle_t *h)
{
    mqtt_server *s = h->data;
    s->accepts_this_turn = 0;
    if (s->accept_deferred) {
        s->accept_deferred = false;
        if (!s->stopping) on_connection((uv_stream_t *)&s->listener, 0); /* re-arms it */
    }
    mqtt_conn *list = s->dirty;
    s->dirty = NULL;
    while (list) {
        mqtt_conn *c = list;
        list = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        if (c->need_drain && conn_active(c)) {
            c->need_drain = false;
            conn_drain(c);
        }
        conn_flush(c);
        mqtt_conn_unref(c);
    }
    if (!s->dirty && !s->accept_deferred && s->idle_active) {
        uv_idle_stop(&s->idle);
        s->idle_active = false;
    }
}

void mqtt_srv_schedule(mqtt_conn *c)
{
    mqtt_server *s = c->srv;
    if (c->dirty || c->state == CS_CLOSED || !s || s->finishing) return;
    c->dirty = true;
    mqtt_conn_ref(c);
    c->dirty_next = s->dirty;
    s->dirty = c;
    if (!s->idle_active) {
        uv_idle_start(&s->idle, on_idle);
        s->idle_active = true;
    }
}

/* --- Input ---------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Stops reading when paused; starting is only done once no complete packet is buffered. */
void mqtt_srv_update_reading(mqtt_conn *c)
{
    bool want = conn_can_process(c);
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* Grows c->in to hold at least cap bytes. */
static int in_reserve(mqtt_conn *c, size_t cap)
{
    if (c->in_cap >= cap) return 0;
    uint8_t *p = realloc(c->in, cap);
    if (!p) {
        log_warn("mqtt_out_of_memory", "peer=%s", c->peer);
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return -1;
    }
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* Keeps data the connection could not process now (incomplete, or paused). */
static void in_stash(mqtt_conn *c, const uint8_t *data, size_t len)
{
    if (!len || !conn_active(c)) return;
    size_t need = c->in_len + len;
    mqtt_fixed_header fh;
    size_t total = 0;
    if (c->in_len == 0 &&
        mqtt_parse_fixed_header(data, len, (uint32_t)c->srv->opt.max_packet_size, &fh) == MQTT_OK) {
        total = (size_t)fh.header_len + fh.remaining_len;
        if (total > len && total > need)
            need = total; /* the rest is read straight in */
        else
            total = 0;
    }
    if (in_reserve(c, need)) return;
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    c->in_total = total;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mqtt_conn *c = h->data;
    if (!c->tls && c->in_total > c->in_len && c->in_cap >= c->in_total) {
        buf->base = (char *)c->in + c->in_len;
        buf->len = c->in_total - c->in_len;
    } else {
        buf->base = (char *)c->srv->rbuf;
        buf->len = READ_BUF_SIZE;
    }
}

/* Handles the single complete packet held in c->in and releases the buffer. */
static void in_drain_one(mqtt_conn *c)
{
    uint8_t *buf = c->in;
    size_t len = c->in_len;
    c->in = NULL;
    c->in_len = c->in_cap = c->in_total = 0;
    size_t used = conn_process(c, buf, len);
    (void)used; /* exactly one packet: consumed unless the connection closed */
    free(buf);
}

/* After a pause: handles the input held back, then resumes reading unless paused again. */
static void conn_drain(mqtt_conn *c)
{
    if (c->in_len && conn_can_process(c)) {
        uint8_t *buf = c->in;
        size_t len = c->in_len;
        c->in = NULL;
        c->in_len = c->in_cap = c->in_total = 0;
        c->in_read = true;
        size_t used = conn_process(c, buf, len);
        c->in_read = false;
        in_stash(c, buf + used, len - used);
        free(buf);
    }
    if (conn_active(c)) {
        c->last_rx_ms = uv_now(c->srv->loop); /* paused time does not count as silence */
        mqtt_srv_update_reading(c);
    }
}

static void framing_error(mqtt_conn *c, int rc)
{
    if (c->state == CS_AWAIT_CONNECT) c->srv->st.connect_refused++;
    mqtt_srv_protocol_error(c, rc, mqtt_err_reason(rc));
}

/* New bytes from the shared read buffer. */
static void conn_feed(mqtt_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    if (c->in_len) {
        /* Complete the pending packet first; its header may itself be incomplete. */
        while (c->in_total == 0 && off < len) {
            if (in_reserve(c, c->in_len + 1)) return;
            c->in[c->in_len++] = data[off++];
            mqtt_fixed_header fh;
            int rc = mqtt_parse_fixed_header(c->in, c->in_len,
                                             (uint32_t)c->srv->opt.max_packet_size, &fh);
            if (rc == MQTT_NEED_MORE) continue;
            if (rc < 0) {
                framing_error(c, rc);
                return;
            }
            c->in_total = (size_t)fh.header_len + fh.remaining_len;
            if (in_reserve(c, c->in_total)) return;
        }
        if (c->in_total == 0) return; /* header still incomplete, all input consumed */
        size_t take = c->in_total - c->in_len;
        if (take > len - off) take = len - off;
        memcpy(c->in + c->in_len, data + off, take);
        c->in_len += take;
        off += take;
        if (c->in_len < c->in_total) return;
        in_drain_one(c);
        if (!conn_can_process(c)) {
            in_stash(c, data + off, len - off);
            return;
        }
    }
    off += conn_process(c, data + off, len - off);
    if (off < len) in_stash(c, data + off, len - off);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    mqtt_conn *c = st->data;
    if (nread == 0 || !conn_active(c)) return;
    mqtt_server *s = c->srv;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("mqtt_read_error", "peer=%s err=%s", c->peer, uv_err_name((int)nread));
        mqtt_srv_close(c,
                       nread == UV_EOF || nread == UV_ECONNRESET ? MQTT_CLOSE_PEER_GONE
                                                                 : MQTT_CLOSE_SOCKET_ERROR,
                       -1);
        return;
    }
    s->st.bytes_in += (uint64_t)nread;
    mqtt_conn_ref(c);
    c->in_read = true;
    if (c->tls) {
        /* the ciphertext is copied into the TLS engine, so the shared buffer takes the
         * plaintext; everything decryptable is handed on (a pause stashes it) */
        ssize_t n = tls_conn_feed(c->tls, buf->base, (size_t)nread);
        while (n == 0 && conn_active(c) &&
               (n = tls_conn_read(c->tls, s->rbuf, READ_BUF_SIZE)) > 0) {
            conn_feed(c, s->rbuf, (size_t)n);
            n = 0;
        }
        if (n < 0 && conn_active(c)) {
            if (n == -1)
                log_info("mqtt_tls_failed", "peer=%s err=\"%s\"", c->peer, tls_conn_error(c->tls));
            mqtt_srv_close(c, n == -2 ? MQTT_CLOSE_PEER_GONE : MQTT_CLOSE_PROTOCOL_ERROR, -1);
        }
    } else if ((uint8_t *)buf->base != s->rbuf) {
        /* Read straight into the pending packet (alloc handed out its free tail). */
        c->in_len += (size_t)nread;
        if (c->in_len == c->in_total) in_drain_one(c);
    } else {
        conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
    }
    c->in_read = false;
    conn_flush(c);
    mqtt_conn_unref(c);
}

/* --- Framing -------------------------------------------------------------------------------- */

/* Handles the complete packets at the start of data; returns the bytes consumed. Stops at an
 * incomplete packet, a pause, or when the connection closes. */
static size_t conn_process(mqtt_conn *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len && conn_can_process(c)) {
        if (c->state == CS_AWAIT_CONNECT && (data[off] >> 4) != MQTT_CONNECT) {
            /* Not MQTT, or not starting with CONNECT: no reply, no waiting for more. */
            c->srv->st.connect_refused++;
            c->srv->st.protocol_errors++;
            log_info("mqtt_first_packet_not_connect", "peer=%s byte=0x%02x", c->peer, data[off]);
            mqtt_srv_close(c, MQTT_CLOSE_PROTOCOL_ERROR, -1);
            break;
        }
        mqtt_fixed_header fh;
        int rc = mqtt_parse_fixed_header(data + off, len - off,
                                         (uint32_t)c->srv->opt.max_packet_size, &fh);
        if (rc == MQTT_NEED_MORE) break;
        if (rc < 0) {
            framing_error(c, rc);
            break;
        }
        size_t total = (size_t)fh.header_len + fh.remaining_len;
        if (total > len - off) break;
        mqtt_srv_handle_packet(c, &fh, data + off + fh.header_len);
        off += total;
    }
    return off;
}

/* --- Connection API ------------------------------------------------------------------------- */

void mqtt_conn_disconnect(mqtt_conn *c, uint8_t reason)
{
    if (!c || !conn_active(c)) return;
    mqtt_srv_close(c, MQTT_CLOSE_SERVER_DISCONNECT, reason);
}

void mqtt_conn_set_handler(mqtt_conn *c, const mqtt_callbacks *cb, void *ud)
{
    c->cb = cb;
    c->ud = ud;
}

size_t mqtt_conn_queued_bytes(const mqtt_conn *c)
{
    return c->out_len + (c->wreq ? c->wreq->len : 0);
}

int mqtt_conn_publish(mqtt_conn *c, const char *topic, size_t topic_len, const void *payload,
                      size_t payload_len)
{
    if (!c || c->state != CS_CONNECTED || !topic || topic_len == 0 || topic_len > UINT16_MAX ||
        (payload_len && !payload))
        return -1;
    mqtt_server *s = c->srv;
    /* 2 fixed header + up to 4 length + 2 topic length + 1 (v5 empty properties) */
    size_t need = topic_len + payload_len + 9;
    if (mqtt_conn_queued_bytes(c) + need > s->opt.max_queued_bytes ||
        (c->client_max_packet && need > c->client_max_packet) || need > MQTT_MAX_REMAINING) {
        s->st.publish_out_dropped++;
        return MQTT_PUBLISH_DROPPED;
    }
    if (mqtt_srv_out_reserve(c, need)) {
        log_warn("mqtt_out_of_memory", "peer=%s", c->peer);
        mqtt_srv_close(c, MQTT_CLOSE_SOCKET_ERROR, -1);
        return -1;
    }
    mqtt_publish p = {.topic = topic,
                      .topic_len = (uint16_t)topic_len,
                      .payload = payload,
                      .payload_len = payload_len};
    int n = mqtt_encode_publish(c->out + c->out_len, c->out_cap - c->out_len, c->version, &p);
    if (n <= 0) return -1;
    if (c->client_max_packet && (size_t)n > c->client_max_packet) { /* not committed */
        s->st.publish_out_dropped++;
        return MQTT_PUBLISH_DROPPED;
    }
    mqtt_srv_out_commit(c, (size_t)n);
    s->st.publish_out++;
    if (!c->in_read) mqtt_srv_schedule(c);
    return 0;
}

void mqtt_conn_set_data(mqtt_conn *c, void *data)
{
    c->data = data;
}

void *mqtt_conn_get_data(const mqtt_conn *c)
{
    return c->data;
}

const char *mqtt_conn_peer(const mqtt_conn *c)
{
    return c->peer;
}

int mqtt_conn_version(const mqtt_conn *c)
{
    return c->version;
}

bool mqtt_conn_is_open(const mqtt_conn *c)
{
    return c->state == CS_CONNECTED;
}

void mqtt_conn_pause(mqtt_conn *c)
{
    if (!conn_active(c) || c->paused_app) return;
    c->paused_app = true;
    mqtt_srv_update_reading(c);
}

void mqtt_conn_resume(mqtt_conn *c)
{
    if (!conn_active(c) || !c->paused_app) return;
    c->paused_app = false;
    c->need_drain = true; /* buffered packets first, then reading (next loop iteration) */
    mqtt_srv_schedule(c);
}

/* --- Per-connection deadlines --------------------------------------------------------------- */

/* One timer per connection, due exactly at its deadline: the CONNECT deadline, then 1.5 x
 * keepalive after the last complete packet (MQTT 3.1.1 3.1.2.10, 5.0 3.1.2.10). Packets do not
 * touch the timer; when it fires early (a packet came meanwhile) it re-arms for the rest. A
 * sweep every second made devices go offline at 1.68-1.75 x keepalive. */
static void on_conn_timer(uv_timer_t *t)
{
    mqtt_conn *c = t->data;
    mqtt_server *s = c->srv;
    if (!s || !conn_active(c)) return;
    uint64_t now = uv_now(s->loop);
    if (c->state == CS_AWAIT_CONNECT) {
        s->st.connect_timeouts++;
        log_info("mqtt_connect_timeout", "peer=%s", c->peer);
        mqtt_srv_close(c, MQTT_CLOSE_KEEPALIVE_TIMEOUT, -1);
        return;
    }
    uint64_t period = (uint64_t)c->keepalive * 1500;
    if (!period) return;
    if (c->paused_app || c->paused_flow || c->paused_write) { /* not the client's silence */
        uv_timer_start(&c->timer, on_conn_timer, period, 0);
        return;
    }
    uint64_t deadline = c->last_rx_ms + period;
    if (now < deadline) {
        uv_timer_start(&c->timer, on_conn_timer, deadline - now, 0);
        return;
    }
    s->st.keepalive_timeouts++;
    if (now - deadline > s->st.keepalive_late_ms_max) s->st.keepalive_late_ms_max = now - deadline;
    log_info("mqtt_keepalive_timeout", "peer=%s keepalive=%u silent_ms=%llu", c->peer, c->keepalive,
             (unsigned long long)(now - c->last_rx_ms));
    mqtt_srv_close(c, MQTT_CLOSE_KEEPALIVE_TIMEOUT, MQTT_RC_KEEP_ALIVE_TIMEOUT);
}

void mqtt_srv_arm_keepalive(mqtt_conn *c)
{
    if (!c->timer_on) return;
    if (c->keepalive)
        uv_timer_start(&c->timer, on_conn_timer, (uint64_t)c->keepalive * 1500, 0);
    else
        uv_timer_stop(&c->timer);
}

static void on_timer_closed(uv_handle_t *h)
{
    mqtt_conn_unref(h->data);
}

void mqtt_srv_will_free(mqtt_conn *c)
{
    if (!c->will) return;
    free(c->will->topic);
    free(c->will->payload);
    free(c->will);
    c->will = NULL;
}

/* --- Server --------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    mqtt_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (mqtt_conn *c = s->conns, *next; c; c = next) {
        next = c->next; /* closing never unlinks synchronously, but stay safe */
        /* connect and keepalive deadlines have a timer each (on_conn_timer) */
        if (c->state == CS_CLOSING && now >= c->close_deadline_ms) conn_really_close(c);
    }
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap, char *addr,
                        size_t acap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(out, cap, "unknown");
    }
    snprintf(addr, acap, "%s", ip);
}

/* One line per second at most: a flood must not become a flood of log lines. */
static void log_refusal(mqtt_server *s, const char *peer, const char *reason)
{
    uint64_t now = uv_now(s->loop);
    if (now - s->refusal_logged_ms < 1000) return;
    s->refusal_logged_ms = now;
    log_warn("mqtt_connection_refused", "peer=%s reason=%s refused_total=%llu", peer, reason,
             (unsigned long long)s->st.connect_refused);
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* At most this many accepts per loop iteration (see http_server.c): not calling uv_accept
 * makes libuv stop watching the listener until on_idle takes the connection. */
#define ACCEPT_BURST 64

static void on_connection(uv_stream_t *ls, int status)
{
    mqtt_server *s = ls->data;
    if (status < 0) {
        log_warn("mqtt_accept_error", "err=%s", uv_err_name(status));
        return;
    }
    if (++s->accepts_this_turn > ACCEPT_BURST && !s->stopping) {
        s->accept_deferred = true;
        if (!s->idle_active) {
            uv_idle_start(&s->idle, on_idle);
            s->idle_active = true;
        }
        return;
    }
    mqtt_conn *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(s->loop, &c->tcp) != 0) {
        log_warn("mqtt_out_of_memory", "%s", "where=accept");
        free(c);
        return;
    }
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
        return;
    }
    c->tcp.data = c;
    c->srv = s;
    c->cb = &s->cb;
    c->ud = s->ud;
    c->refs = 1;
    if (s->opt.tls && !(c->tls = tls_conn_new(s->opt.tls))) {
        log_warn("mqtt_out_of_memory", "%s", "where=tls");
        uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
        return;
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->st.connections_current++;
    s->st.connections_total++;
    c->accepted_ms = c->last_rx_ms = uv_now(s->loop);
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        format_peer(&ss, c->peer, sizeof c->peer, c->addr, sizeof c->addr);
    else
        snprintf(c->peer, sizeof c->peer, "unknown");
    connlim_result lr =
        s->stopping ? CONNLIM_OK : connlimit_acquire(s->opt.limits, CONNLIM_MQTT, c->addr);
    if (lr != CONNLIM_OK) {
        s->st.connect_refused++;
        if (lr == CONNLIM_PER_ADDRESS)
            s->st.refused_per_address++;
        else
            s->st.refused_budget++;
        log_refusal(s, c->peer, connlimit_reason_name(lr));
        conn_really_close(c);
        return;
    }
    c->admitted = !s->stopping;
    if (s->stopping ||
        (s->opt.max_connections && s->st.connections_current > s->opt.max_connections)) {
        s->st.connect_refused++;
        log_refusal(s, c->peer, s->stopping ? "stopping" : "max_connections");
        conn_really_close(c);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->timer_on = true;
    mqtt_conn_ref(c); /* the timer's, dropped when it has closed */
    uv_timer_start(&c->timer, on_conn_timer, s->opt.connect_timeout_ms, 0);
    mqtt_srv_update_reading(c);
}

static int parse_addr(const char *addr_port, struct sockaddr_storage *ss)
{
    char host[64];
    const char *colon;
    const char *h = addr_port;
    size_t hlen;
    if (!addr_port) return UV_EINVAL;
    if (addr_port[0] == '[') {
        const char *end = strchr(addr_port, ']');
        if (!end || end[1] != ':') return UV_EINVAL;
        h = addr_port + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr_port, ':');
        if (!colon) return UV_EINVAL;
        hlen = (size_t)(colon - addr_port);
    }
    if (hlen >= sizeof host) return UV_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) return UV_EINVAL;
    memset(ss, 0, sizeof *ss);
    if (hlen == 0) snprintf(host, sizeof host, "0.0.0.0");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0) return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0) return 0;
    return UV_EINVAL;
}

static void on_failed_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

int mqtt_server_start(uv_loop_t *loop, const char *addr_port, const mqtt_server_options *opt,
                      const mqtt_callbacks *cb, void *ud, mqtt_server **out)
{
    *out = NULL;
    struct sockaddr_storage ss;
    int rc = parse_addr(addr_port, &ss);
    if (rc) return rc;
    mqtt_server *s = calloc(1, sizeof *s);
    if (!s) return UV_ENOMEM;
    s->loop = loop;
    if (opt) s->opt = *opt;
    if (cb) s->cb = *cb;
    s->ud = ud;
    if (!s->opt.max_packet_size) s->opt.max_packet_size = 256 * 1024;
    if (s->opt.max_packet_size > MQTT_MAX_REMAINING + 5)
        s->opt.max_packet_size = MQTT_MAX_REMAINING + 5;
    if (!s->opt.receive_maximum) s->opt.receive_maximum = 1024;
    if (!s->opt.connect_timeout_ms) s->opt.connect_timeout_ms = 10000;
    if (!s->opt.max_queued_bytes) s->opt.max_queued_bytes = 1024 * 1024;

    if ((rc = uv_tcp_init(loop, &s->listener))) {
        free(s);
        return rc;
    }
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc) {
        log_error("mqtt_listen_failed", "addr=%s err=\"%s\"", addr_port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, on_failed_listener_closed);
        return rc;
    }
    struct sockaddr_storage bound;
    int bl = sizeof bound;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bl) == 0)
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    unsigned tick_ms = s->opt.connect_timeout_ms / 4;
    if (tick_ms > 1000) tick_ms = 1000;
    if (tick_ms < 10) tick_ms = 10;
    uv_timer_start(&s->tick, on_tick, tick_ms, tick_ms);
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    s->aux_open = 2;
    /* libuv writes with write(2): a peer that resets would kill the process with SIGPIPE
     * unless the application ignores it (main.c's job; only checked here). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        log_warn("mqtt_sigpipe_not_ignored", "%s", "hint=signal(SIGPIPE,SIG_IGN)");
    log_info("mqtt_listening", "addr=%s port=%d max_packet=%zu receive_maximum=%u", addr_port,
             s->port, s->opt.max_packet_size, s->opt.receive_maximum);
    *out = s;
    return 0;
}

int mqtt_server_port(const mqtt_server *s)
{
    return s->port;
}

void mqtt_server_get_stats(const mqtt_server *s, mqtt_server_stats *out)
{
    *out = s->st;
    uint64_t mem = 0;
    for (const mqtt_conn *c = s->conns; c; c = c->next) {
        mem += sizeof *c + c->in_cap + c->out_cap;
        if (c->wreq) mem += sizeof *c->wreq + c->wreq->len;
    }
    out->memory_bytes = mem;
}

static void on_aux_closed(uv_handle_t *h)
{
    mqtt_server *s = h->data;
    if (--s->aux_open > 0) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done) done(arg);
}

static void server_maybe_finish(mqtt_server *s)
{
    if (!s->stopping || !s->listener_closed || s->conns || s->finishing) return;
    s->finishing = true;
    while (s->dirty) {
        mqtt_conn *c = s->dirty;
        s->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        mqtt_conn_unref(c);
    }
    uv_close((uv_handle_t *)&s->tick, on_aux_closed);
    uv_close((uv_handle_t *)&s->idle, on_aux_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    mqtt_server *s = h->data;
    s->listener_closed = true;
    server_maybe_finish(s);
}

void mqtt_server_stop(mqtt_server *s, void (*done)(void *), void *arg)
{
    if (!s || s->stopping) return;
    s->stopping = true;
    s->done = done;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    uint64_t deadline = uv_now(s->loop) + STOP_LINGER_MS;
    for (mqtt_conn *c = s->conns; c; c = c->next) {
        if (c->state == CS_CONNECTED)
            mqtt_srv_close(c, MQTT_CLOSE_SERVER_STOP, MQTT_RC_SERVER_SHUTTING_DOWN);
        else if (c->state == CS_AWAIT_CONNECT)
            mqtt_srv_close(c, MQTT_CLOSE_SERVER_STOP, -1);
        if (c->state == CS_CLOSING && c->close_deadline_ms > deadline)
            c->close_deadline_ms = deadline;
    }
    log_info("mqtt_stopping", "connections=%llu", (unsigned long long)s->st.connections_current);
}

int mqtt_conn_tls_peer_cn(const mqtt_conn *c, char *out, size_t cap)
{
    return c->tls ? tls_conn_peer_cn(c->tls, out, cap) : -1;
}
