/* AMQP 0-9-1 client over rabbitmq-c: see amqp.h. Channel 1 publishes (confirm mode), channel 2
 * consumes, channel 3 carries declarations, so that a refused declaration (the broker closes
 * the channel of a failed queue.declare) costs only channel 3, which is opened again. */
#include "bus/amqp.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CH_PUB 1
#define CH_CONSUME 2
#define CH_DECLARE 3

struct bus_amqp {
    amqp_connection_state_t conn;
    int timeout_ms;
    uint64_t last_seq;
    bool declare_open; /* channel 3 is open */
    bool broken;
    bool have_msg; /* msg holds the last delivery's body */
    amqp_message_t msg;
    char err[256];
};

void bus_amqp_options_init(bus_amqp_options *opt)
{
    opt->heartbeat_s = 10;
    opt->timeout_ms = 5000;
    opt->name = NULL;
}

static struct timeval tv_of(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static int fail(bus_amqp *b, const char *what, const char *why)
{
    snprintf(b->err, sizeof b->err, "%s: %s", what, why);
    b->broken = true;
    return BUS_ERR;
}

/* The text of a failed RPC reply; a channel or connection close from the broker is acked. */
static void reply_text(bus_amqp *b, amqp_rpc_reply_t r, amqp_channel_t ch, char *out, size_t cap)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(out, cap, "ok");
        return;
    case AMQP_RESPONSE_NONE:
        snprintf(out, cap, "no reply");
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(out, cap, "%s", amqp_error_string2(r.library_error));
        return;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        break;
    }
    if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        snprintf(out, cap, "channel closed by the broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(b->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    } else if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        snprintf(out, cap, "connection closed by the broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else {
        snprintf(out, cap, "server exception (method 0x%08x)", r.reply.id);
    }
}

/* Checks the reply of the last RPC on ch. A channel error on the declaration channel leaves
 * the connection usable; anything else breaks it. */
static int check_rpc(bus_amqp *b, amqp_channel_t ch, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(b->conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return BUS_OK;
    char why[200];
    reply_text(b, r, ch, why, sizeof why);
    snprintf(b->err, sizeof b->err, "%s: %s", what, why);
    if (ch == CH_DECLARE && r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        b->declare_open = false;
        return BUS_ERR;
    }
    b->broken = true;
    return BUS_ERR;
}

static int open_channel(bus_amqp *b, amqp_channel_t ch)
{
    amqp_channel_open(b->conn, ch);
    return check_rpc(b, ch, "channel.open");
}

static int declare_channel(bus_amqp *b)
{
    if (b->broken) return BUS_ERR;
    if (b->declare_open) return BUS_OK;
    if (open_channel(b, CH_DECLARE) != BUS_OK) return BUS_ERR;
    b->declare_open = true;
    return BUS_OK;
}

int bus_amqp_connect(const char *url, const bus_amqp_options *opt, bus_amqp **out, char *err,
                     size_t cap)
{
    bus_amqp_options def;
    if (!opt) {
        bus_amqp_options_init(&def);
        opt = &def;
    }
    *out = NULL;
    char *copy = strdup(url);
    struct amqp_connection_info ci;
    if (!copy || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
        snprintf(err, cap, "bad AMQP URL (amqp://user:password@host:port/vhost)");
        free(copy);
        return BUS_ERR;
    }
    if (ci.ssl) {
        snprintf(err, cap, "amqps:// is not supported");
        free(copy);
        return BUS_ERR;
    }
    bus_amqp *b = calloc(1, sizeof *b);
    if (!b) {
        free(copy);
        snprintf(err, cap, "out of memory");
        return BUS_ERR;
    }
    b->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 5000;
    b->conn = amqp_new_connection();
    amqp_socket_t *sock = b->conn ? amqp_tcp_socket_new(b->conn) : NULL;
    if (!sock) {
        snprintf(err, cap, "out of memory");
        goto bad;
    }
    struct timeval tv = tv_of(b->timeout_ms);
    int rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(err, cap, "connect to %s:%d: %s", ci.host, ci.port, amqp_error_string2(rc));
        goto bad;
    }
    amqp_set_handshake_timeout(b->conn, &tv);
    amqp_set_rpc_timeout(b->conn, &tv);
    amqp_table_entry_t props[1];
    amqp_table_t client = {0, props};
    if (opt->name) {
        props[0].key = amqp_cstring_bytes("connection_name");
        props[0].value.kind = AMQP_FIELD_KIND_UTF8;
        props[0].value.value.bytes = amqp_cstring_bytes(opt->name);
        client.num_entries = 1;
    }
    amqp_rpc_reply_t r =
        amqp_login_with_properties(b->conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, opt->heartbeat_s,
                                   &client, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char why[200];
        reply_text(b, r, 0, why, sizeof why);
        snprintf(err, cap, "login to %s:%d: %s", ci.host, ci.port, why);
        goto bad;
    }
    free(copy);
    copy = NULL;
    if (open_channel(b, CH_PUB) != BUS_OK || open_channel(b, CH_CONSUME) != BUS_OK) goto bad_b;
    amqp_confirm_select(b->conn, CH_PUB);
    if (check_rpc(b, CH_PUB, "confirm.select") != BUS_OK) goto bad_b;
    *out = b;
    return BUS_OK;
bad_b:
    snprintf(err, cap, "%s", b->err);
bad:
    free(copy);
    if (b->conn) amqp_destroy_connection(b->conn);
    free(b);
    return BUS_ERR;
}

void bus_amqp_close(bus_amqp *b)
{
    if (!b) return;
    if (b->have_msg) amqp_destroy_message(&b->msg);
    if (!b->broken) {
        /* a short, bounded goodbye: a dead broker must not hold us for long */
        struct timeval tv = tv_of(b->timeout_ms < 1000 ? b->timeout_ms : 1000);
        amqp_set_rpc_timeout(b->conn, &tv);
        amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(b->conn);
    free(b);
}

const char *bus_amqp_error(const bus_amqp *b)
{
    return b->err;
}

int bus_amqp_fd(const bus_amqp *b)
{
    return amqp_socket_get_sockfd(amqp_get_socket(b->conn));
}

/* ---- declarations ------------------------------------------------------------------------ */

int bus_amqp_declare_quorum(bus_amqp *b, const char *queue, bool single_active)
{
    return bus_amqp_declare_bounded(b, queue, single_active, 0);
}

int bus_amqp_declare_bounded(bus_amqp *b, const char *queue, bool single_active, uint64_t max_bytes)
{
    if (declare_channel(b) != BUS_OK) return BUS_ERR;
    amqp_table_entry_t e[4];
    e[0].key = amqp_cstring_bytes("x-queue-type");
    e[0].value.kind = AMQP_FIELD_KIND_UTF8;
    e[0].value.value.bytes = amqp_cstring_bytes("quorum");
    e[1].key = amqp_cstring_bytes("x-single-active-consumer");
    e[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e[1].value.value.boolean = 1;
    amqp_table_t args = {single_active ? 2 : 1, e}; /* [type, (sac), (bound, overflow)] */
    if (max_bytes) {
        amqp_table_entry_t *x = &e[args.num_entries];
        x[0].key = amqp_cstring_bytes("x-max-length-bytes");
        x[0].value.kind = AMQP_FIELD_KIND_I64;
        x[0].value.value.i64 = max_bytes > INT64_MAX ? INT64_MAX : (int64_t)max_bytes;
        x[1].key = amqp_cstring_bytes("x-overflow");
        x[1].value.kind = AMQP_FIELD_KIND_UTF8;
        x[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
        args.num_entries += 2;
    }
    amqp_queue_declare(b->conn, CH_DECLARE, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
    return check_rpc(b, CH_DECLARE, "queue.declare");
}

int bus_amqp_declare_exchange(bus_amqp *b, const char *exchange, const char *type, bool durable)
{
    if (declare_channel(b) != BUS_OK) return BUS_ERR;
    amqp_exchange_declare(b->conn, CH_DECLARE, amqp_cstring_bytes(exchange),
                          amqp_cstring_bytes(type), 0, durable, 0, 0, amqp_empty_table);
    return check_rpc(b, CH_DECLARE, "exchange.declare");
}

int bus_amqp_declare_private(bus_amqp *b, char *name, size_t cap)
{
    if (declare_channel(b) != BUS_OK) return BUS_ERR;
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(b->conn, CH_DECLARE, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    if (check_rpc(b, CH_DECLARE, "queue.declare") != BUS_OK) return BUS_ERR;
    snprintf(name, cap, "%.*s", (int)ok->queue.len, (const char *)ok->queue.bytes);
    return BUS_OK;
}

int bus_amqp_bind(bus_amqp *b, const char *queue, const char *exchange, const char *key)
{
    if (declare_channel(b) != BUS_OK) return BUS_ERR;
    amqp_queue_bind(b->conn, CH_DECLARE, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_cstring_bytes(key), amqp_empty_table);
    return check_rpc(b, CH_DECLARE, "queue.bind");
}

int bus_amqp_queue_depth(bus_amqp *b, const char *queue, uint32_t *messages)
{
    if (declare_channel(b) != BUS_OK) return BUS_ERR;
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(b->conn, CH_DECLARE, amqp_cstring_bytes(queue),
                                                     1, 0, 0, 0, amqp_empty_table);
    if (check_rpc(b, CH_DECLARE, "queue.declare (passive)") != BUS_OK) return BUS_ERR;
    *messages = ok->message_count;
    return BUS_OK;
}

/* ---- publishing ------------------------------------------------------------------------ */

/* Every publish carries its sequence number as message_id, so a returned one is known. */
static int publish(bus_amqp *b, const char *exchange, const char *key, const void *body, size_t len,
                   bool persistent, bool mandatory, uint64_t *seq)
{
    if (b->broken) return BUS_ERR;
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)(b->last_seq + 1));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    p.delivery_mode = persistent ? 2 : 1;
    p.message_id = amqp_cstring_bytes(id);
    amqp_bytes_t bytes = {len, (void *)body};
    int rc = amqp_basic_publish(b->conn, CH_PUB, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(key), mandatory, 0, &p, bytes);
    if (rc != AMQP_STATUS_OK) return fail(b, "basic.publish", amqp_error_string2(rc));
    *seq = ++b->last_seq;
    return BUS_OK;
}

int bus_amqp_publish(bus_amqp *b, const char *exchange, const char *key, const void *body,
                     size_t len, bool persistent, uint64_t *seq)
{
    return publish(b, exchange, key, body, len, persistent, false, seq);
}

int bus_amqp_publish_mandatory(bus_amqp *b, const char *exchange, const char *key, const void *body,
                               size_t len, bool persistent, uint64_t *seq)
{
    return publish(b, exchange, key, body, len, persistent, true, seq);
}

uint64_t bus_amqp_last_seq(const bus_amqp *b)
{
    return b->last_seq;
}

/* ---- consuming ------------------------------------------------------------------------- */

int bus_amqp_consume(bus_amqp *b, const char *queue, uint16_t prefetch, char *tag, size_t cap)
{
    if (b->broken) return BUS_ERR;
    amqp_basic_qos(b->conn, CH_CONSUME, 0, prefetch, 0);
    if (check_rpc(b, CH_CONSUME, "basic.qos") != BUS_OK) return BUS_ERR;
    amqp_basic_consume_ok_t *ok = amqp_basic_consume(b->conn, CH_CONSUME, amqp_cstring_bytes(queue),
                                                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (check_rpc(b, CH_CONSUME, "basic.consume") != BUS_OK) return BUS_ERR;
    snprintf(tag, cap, "%.*s", (int)ok->consumer_tag.len, (const char *)ok->consumer_tag.bytes);
    return BUS_OK;
}

int bus_amqp_cancel(bus_amqp *b, const char *tag)
{
    if (b->broken) return BUS_ERR;
    amqp_basic_cancel(b->conn, CH_CONSUME, amqp_cstring_bytes(tag));
    return check_rpc(b, CH_CONSUME, "basic.cancel");
}

int bus_amqp_ack(bus_amqp *b, uint64_t delivery_tag, bool multiple)
{
    if (b->broken) return BUS_ERR;
    int rc = amqp_basic_ack(b->conn, CH_CONSUME, delivery_tag, multiple);
    return rc == AMQP_STATUS_OK ? BUS_OK : fail(b, "basic.ack", amqp_error_string2(rc));
}

int bus_amqp_nack(bus_amqp *b, uint64_t delivery_tag, bool multiple, bool requeue)
{
    if (b->broken) return BUS_ERR;
    int rc = amqp_basic_nack(b->conn, CH_CONSUME, delivery_tag, multiple, requeue);
    return rc == AMQP_STATUS_OK ? BUS_OK : fail(b, "basic.nack", amqp_error_string2(rc));
}

static void copy_bytes(char *out, size_t cap, amqp_bytes_t s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(out, s.bytes, n);
    out[n] = '\0';
}

int bus_amqp_poll(bus_amqp *b, int timeout_ms, bus_ev *ev)
{
    if (b->broken) return BUS_ERR;
    if (b->have_msg) {
        amqp_destroy_message(&b->msg);
        b->have_msg = false;
    }
    amqp_maybe_release_buffers(b->conn);
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = tv_of(timeout_ms > 0 ? timeout_ms : 0);
        int rc = amqp_simple_wait_frame_noblock(b->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) return BUS_TIMEOUT;
        if (rc != AMQP_STATUS_OK) return fail(b, "connection", amqp_error_string2(rc));
        if (f.frame_type != AMQP_FRAME_METHOD) continue; /* stray content of a cancelled read */
        memset(ev, 0, sizeof *ev);
        switch (f.payload.method.id) {
        case AMQP_BASIC_DELIVER_METHOD: {
            const amqp_basic_deliver_t *d = f.payload.method.decoded;
            ev->kind = BUS_EV_DELIVERY;
            ev->tag = d->delivery_tag;
            ev->redelivered = d->redelivered;
            copy_bytes(ev->consumer, sizeof ev->consumer, d->consumer_tag);
            copy_bytes(ev->routing_key, sizeof ev->routing_key, d->routing_key);
            amqp_rpc_reply_t r = amqp_read_message(b->conn, f.channel, &b->msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                char why[200];
                reply_text(b, r, f.channel, why, sizeof why);
                return fail(b, "reading a delivery", why);
            }
            b->have_msg = true;
            ev->body = b->msg.body.bytes;
            ev->len = b->msg.body.len;
            return BUS_OK;
        }
        case AMQP_BASIC_ACK_METHOD: {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            ev->kind = BUS_EV_CONFIRM;
            ev->ack = true;
            ev->tag = a->delivery_tag;
            ev->multiple = a->multiple;
            return BUS_OK;
        }
        case AMQP_BASIC_NACK_METHOD: {
            const amqp_basic_nack_t *n = f.payload.method.decoded;
            ev->kind = BUS_EV_CONFIRM;
            ev->ack = false;
            ev->tag = n->delivery_tag;
            ev->multiple = n->multiple;
            return BUS_OK;
        }
        case AMQP_BASIC_RETURN_METHOD: {
            const amqp_basic_return_t *m = f.payload.method.decoded;
            ev->kind = BUS_EV_RETURNED;
            copy_bytes(ev->routing_key, sizeof ev->routing_key, m->routing_key);
            amqp_rpc_reply_t r = amqp_read_message(b->conn, f.channel, &b->msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                char why[200];
                reply_text(b, r, f.channel, why, sizeof why);
                return fail(b, "reading a returned message", why);
            }
            b->have_msg = true;
            const amqp_basic_properties_t *p = &b->msg.properties;
            if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
                char id[24];
                copy_bytes(id, sizeof id, p->message_id);
                ev->tag = strtoull(id, NULL, 10);
            }
            return BUS_OK;
        }
        case AMQP_BASIC_CANCEL_METHOD: {
            const amqp_basic_cancel_t *c = f.payload.method.decoded;
            ev->kind = BUS_EV_CANCELLED;
            copy_bytes(ev->consumer, sizeof ev->consumer, c->consumer_tag);
            return BUS_OK;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            const amqp_channel_close_t *m = f.payload.method.decoded;
            char why[200];
            snprintf(why, sizeof why, "channel %u closed by the broker: %u %.*s", f.channel,
                     m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
            amqp_channel_close_ok_t ok = {0};
            amqp_send_method(b->conn, f.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
            if (f.channel == CH_DECLARE) {
                b->declare_open = false;
                continue;
            }
            return fail(b, "channel", why);
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            const amqp_connection_close_t *m = f.payload.method.decoded;
            char why[200];
            snprintf(why, sizeof why, "closed by the broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
            amqp_connection_close_ok_t ok = {0};
            amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
            return fail(b, "connection", why);
        }
        default:
            continue; /* basic.return, flow and the like: not used */
        }
    }
}
