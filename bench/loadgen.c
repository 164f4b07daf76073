/* bench_loadgen: ingest load generator for iotad (and any MQTT 3.1.1/5 broker).
 *
 * Modes:
 *   mqtt  C connections publish iotad JSON telemetry ({"ts":..,"metrics":{"m0":21.53,..}}) to
 *         devices/<id>/telemetry. QoS 1 keeps up to K publishes in flight per connection and
 *         times each publish->PUBACK; QoS 0 writes as fast as the sockets accept.
 *   http  C keep-alive HTTP/1.1 connections POST JSON arrays of points to the ingest URL with
 *         X-API-Key, one request in flight per connection, timing each response.
 *
 * How: --threads N epoll loops; connection i belongs to thread i % N. The few MQTT packets
 * needed (CONNECT, PUBLISH, PINGREQ, DISCONNECT out; CONNACK, PUBACK, PINGRESP, DISCONNECT in)
 * are encoded and decoded here, every length read from the wire checked before use. Writes are
 * coalesced: one send() per connection per loop turn carries every publish the window allows.
 * Latencies go into a per-thread log-bucketed histogram (HdrHistogram-like: 64 sub-buckets per
 * power of two, under 1.6% error) merged at the end. With --rate R, sends are scheduled at
 * fixed intervals and latency counts from the scheduled time, so a stalled server is not
 * hidden by the generator waiting for it (no coordinated omission).
 *
 * Only the steady window counts: after --warmup seconds (default 1), for --duration seconds.
 * With --messages N the window is the whole run. Output: one JSON object on stdout, progress
 * on stderr. Exit 0 ok; 1 on any error (connection failure, refused CONNACK, lost connection,
 * PUBACK error, non-2xx response, unacknowledged messages); 2 on usage errors. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define LG_MAX_PACKET (1u << 20)   /* largest MQTT packet or HTTP response we accept */
#define LG_MAX_HEADERS (64 * 1024) /* largest HTTP response head */
#define LG_WBUF_HIGH (64 * 1024)   /* QoS 0: stop encoding when this much is queued */
#define LG_KEEPALIVE_S 60
#define LG_CONNECT_TIMEOUT_MS 5000
#define LG_HANDSHAKE_TIMEOUT_NS (10 * NS_PER_S)
#define LG_MAX_LOGGED_ERRORS 5 /* per thread, to stderr */
#define LG_MAX_STR 256

/* ---- histogram ------------------------------------------------------------------------- */

/* Values (microseconds) below 128 have their own bucket; above, each power of two is split
 * into 64 buckets, so a reported value is within 1/128 of the true one. */
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB * 48)

typedef struct {
    uint64_t b[HIST_BUCKETS];
    uint64_t count, max, sum;
} lg_hist;

static size_t hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB) return (size_t)v;
    int shift = (63 - __builtin_clzll(v)) - 6; /* v >> shift lies in [64, 128) */
    size_t idx = (size_t)shift * HIST_SUB + (size_t)(v >> shift);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Middle of the value range bucket idx covers. */
static uint64_t hist_value(size_t idx)
{
    if (idx < 2 * HIST_SUB) return idx;
    unsigned shift = (unsigned)(idx / HIST_SUB) - 1;
    uint64_t low = (uint64_t)(idx % HIST_SUB + HIST_SUB) << shift;
    return low + ((1ull << shift) >> 1);
}

static void hist_record(lg_hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->count++;
    h->sum += us;
    if (us > h->max) h->max = us;
}

static void hist_merge(lg_hist *into, const lg_hist *from)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->max > into->max) into->max = from->max;
}

/* Value at quantile q (0..1) in microseconds; 0 when empty. */
static uint64_t hist_quantile(const lg_hist *h, double q)
{
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- small helpers --------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop; /* set by SIGINT/SIGTERM: finish early and report */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: fatal: %s\n", msg);
    exit(1);
}

typedef struct {
    uint8_t *p;
    size_t off, len, cap; /* unread/unsent bytes are [off, len) */
} lg_buf;

/* Makes room for extra bytes after len, compacting first. Exits on out of memory. */
static void buf_reserve(lg_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
}

static size_t buf_pending(const lg_buf *b)
{
    return b->len - b->off;
}

static void buf_put(lg_buf *b, const void *src, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void buf_u8(lg_buf *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

static void buf_u16(lg_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    buf_put(b, x, 2);
}

static void buf_varint(lg_buf *b, uint32_t v)
{
    do {
        uint8_t d = v & 0x7f;
        v >>= 7;
        buf_u8(b, (uint8_t)(d | (v ? 0x80 : 0)));
    } while (v);
}

static void buf_mqtt_str(lg_buf *b, const char *s)
{
    size_t n = strlen(s);
    buf_u16(b, (uint16_t)n); /* lengths checked at set-up */
    buf_put(b, s, n);
}

static char *fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* v in hundredths: 2153 -> "21.53". */
static char *fmt_centi(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    p = fmt_u64(p, (uint64_t)v / 100);
    *p++ = '.';
    *p++ = (char)('0' + (v / 10) % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- telemetry generator --------------------------------------------------------------- */

/* Per-connection metric values: a mean-reverting random walk around a per-metric base, so the
 * numbers look like sensors (21.53, 48.07, ...) and change at every sample. */
typedef struct {
    int32_t *val, *base; /* hundredths */
    int nmetrics;
    uint64_t rng;
    int64_t last_ts; /* strictly increasing per device */
    int64_t lag_ms;  /* the clock starts this far behind the wall clock */
    int64_t ts_ahead_max_ms;
} lg_gen;

#define GEN_BYTES_PER_METRIC 40
#define GEN_BYTES_FIXED 64

static void gen_init(lg_gen *g, int nmetrics, uint64_t seed)
{
    g->nmetrics = nmetrics;
    g->val = calloc((size_t)nmetrics, sizeof *g->val);
    g->base = calloc((size_t)nmetrics, sizeof *g->base);
    if (!g->val || !g->base) die("out of memory");
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int k = 0; k < nmetrics; k++) {
        g->base[k] = 1500 + (int32_t)(((uint32_t)k * 2654435761u) % 6000u); /* 15.00..74.99 */
        g->val[k] = g->base[k] + (int32_t)(rng_next(&g->rng) % 401) - 200;
    }
}

static void gen_free(lg_gen *g)
{
    free(g->val);
    free(g->base);
}

static int64_t gen_ts(lg_gen *g, int64_t now_ms)
{
    int64_t lo = now_ms - g->lag_ms;
    int64_t ts = lo > g->last_ts ? lo : g->last_ts + 1;
    g->last_ts = ts;
    if (ts - now_ms > g->ts_ahead_max_ms) g->ts_ahead_max_ms = ts - now_ms;
    return ts;
}

/* Appends {"ts":T,"metrics":{"m0":v,...}} with n metrics; the caller reserved
 * GEN_BYTES_FIXED + n * GEN_BYTES_PER_METRIC bytes at p. Returns the new end. */
static char *gen_object(lg_gen *g, char *p, int n, int64_t ts)
{
    static const char head[] = "{\"ts\":";
    static const char mid[] = ",\"metrics\":{";
    memcpy(p, head, sizeof head - 1);
    p = fmt_u64(p + sizeof head - 1, (uint64_t)ts);
    memcpy(p, mid, sizeof mid - 1);
    p += sizeof mid - 1;
    for (int k = 0; k < n; k++) {
        int32_t *v = &g->val[k];
        int32_t noise = (int32_t)(rng_next(&g->rng) % 61) - 30;
        *v += (g->base[k] - *v) / 32 + noise;
        if (k) *p++ = ',';
        *p++ = '"';
        *p++ = 'm';
        p = fmt_u64(p, (uint64_t)k);
        *p++ = '"';
        *p++ = ':';
        p = fmt_centi(p, *v);
    }
    *p++ = '}';
    *p++ = '}';
    return p;
}

/* ---- options and shared run state ------------------------------------------------------ */

typedef enum { MODE_MQTT, MODE_HTTP } lg_mode;

typedef struct {
    lg_mode mode;
    char host[LG_MAX_STR], port[16], path[LG_MAX_STR], url[2 * LG_MAX_STR];
    int connections, threads, qos, inflight, protocol, ppm, batch;
    double duration_s, warmup_s, rate, drain_s, ts_lag_s;
    uint64_t messages;
    const char *creds_path, *label;
    const char *tls_ca; /* MQTT over TLS, verifying the server with this CA file */
    bool quiet, duration_set, ppm_set, warmup_set;
} lg_opts;

typedef struct {
    char id[LG_MAX_STR], key[LG_MAX_STR];
} lg_cred;

typedef struct {
    lg_opts o;
    lg_cred *creds;
    int ncreds;
    struct addrinfo *addr;
    pthread_barrier_t ready, go;
    atomic_int abort_run;
    SSL_CTX *tls;                            /* --tls-ca: every connection speaks TLS */
    int64_t t0_ns, win_start_ns, win_end_ns; /* written before the go barrier, then read-only */
} lg_run;

/* ---- connections and threads ----------------------------------------------------------- */

typedef enum { CS_HANDSHAKE, CS_RUN, CS_CLOSED } lg_cstate;

typedef struct lg_thread lg_thread;

typedef struct {
    int fd, index;
    SSL *ssl; /* with --tls-ca */
    lg_cstate state;
    lg_thread *th;
    char client_id[LG_MAX_STR], topic[LG_MAX_STR + 32];
    const char *user, *pass; /* MQTT credentials, NULL when anonymous */
    char *http_head;         /* request line and headers up to "Content-Length: " */
    size_t http_head_len;
    lg_buf w, r;
    bool out_armed;  /* waiting for EPOLLOUT */
    uint32_t wmsgs;  /* QoS 0 publishes queued in w, counted once sent */
    int64_t *slot_t; /* QoS 1: scheduled send time per packet id - 1, -1 when free */
    uint16_t *free_slots;
    uint32_t nfree, window, inflight;
    uint32_t max_packet; /* from a v5 CONNACK, else LG_MAX_PACKET */
    uint32_t pings_out;
    uint32_t mark_start, mark_end; /* QoS 0: which coming PINGRESP is a marker's (0 = none) */
    int64_t last_tx_ns;
    bool busy; /* HTTP: a request is outstanding */
    int64_t req_t_ns;
    lg_gen gen;
} lg_conn;

struct lg_thread {
    int id;
    pthread_t tid;
    lg_run *run;
    int ep;
    lg_conn **conns;
    int nconns, rr, handshakes_pending;
    double rate; /* this thread's share of --rate */
    uint64_t quota, issued, done_total, win_done, win_points, payload_bytes;
    lg_hist hist;
    lg_buf scratch;
    /* errors */
    uint64_t connect_failures, connack_refused, conn_lost, protocol_errors, puback_errors,
        unexpected_acks, non_2xx, unacked, logged;
    int first_puback_reason;
    uint64_t status[600];
    char err[LG_MAX_STR];
    int64_t end_ns; /* when this thread's last message was acknowledged (0 = not drained) */
    /* QoS 0 markers: PINGRESP times (ns after t0) for pings sent at the window start and after
     * the last publish, and the publishes issued before the start marker. */
    bool marked;
    uint64_t issued_at_mark;
    int64_t mark_start_sum, mark_end_sum;
    uint64_t mark_start_n, mark_end_n;
    uint32_t window_min;
    atomic_uint_least64_t a_done, a_inflight;
    atomic_int finished;
};

static void th_error(lg_thread *th, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error message of the thread and prints a few to stderr. */
static void th_error(lg_thread *th, const char *fmt, ...)
{
    char msg[LG_MAX_STR];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!th->err[0]) snprintf(th->err, sizeof th->err, "%s", msg);
    if (th->logged++ < LG_MAX_LOGGED_ERRORS) fprintf(stderr, "loadgen: error: %s\n", msg);
}

static bool in_window(const lg_run *run, int64_t now)
{
    return now >= run->win_start_ns && (run->win_end_ns == 0 || now <= run->win_end_ns);
}

/* One unit (message or request) finished successfully at now; t_sched < 0 means untimed. */
static void complete(lg_thread *th, int64_t now, int64_t t_sched, uint64_t units, uint64_t points)
{
    th->done_total += units;
    if (!in_window(th->run, now)) return;
    th->win_done += units;
    th->win_points += points;
    if (t_sched >= 0) hist_record(&th->hist, (uint64_t)(now > t_sched ? now - t_sched : 0) / 1000);
}

static void conn_set_out(lg_conn *c, bool on)
{
    if (c->out_armed == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->th->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->out_armed = on;
}

/* Closes the connection; lost == true means the peer or an error ended it (an error). */
static void conn_close(lg_conn *c, bool lost, const char *why)
{
    lg_thread *th = c->th;
    if (c->state == CS_CLOSED) return;
    if (lost) {
        th->conn_lost++;
        th->unacked += c->inflight + (c->busy ? 1 : 0);
        th_error(th, "connection %d closed: %s", c->index, why);
    }
    if (c->state == CS_HANDSHAKE) th->handshakes_pending--;
    epoll_ctl(th->ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    c->state = CS_CLOSED;
    c->inflight = 0;
    c->busy = false;
    c->pings_out = 0;
}

/* send()/recv() of the connection, through TLS with --tls-ca: the same results (errno EAGAIN
 * when the TLS layer must wait for the socket). */
static ssize_t conn_send(lg_conn *c, const void *p, size_t n)
{
    if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL);
    int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPROTO;
    return -1;
}

static ssize_t conn_recv(lg_conn *c, void *p, size_t n)
{
    if (!c->ssl) return recv(c->fd, p, n, 0);
    int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPROTO;
    return -1;
}

/* Sends what is queued; QoS 0 publishes count as done once fully handed to the kernel. */
static void conn_flush(lg_conn *c, int64_t now)
{
    while (buf_pending(&c->w) > 0) {
        ssize_t n = conn_send(c, c->w.p + c->w.off, buf_pending(&c->w));
        if (n > 0) {
            c->w.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_out(c, true);
            return;
        }
        conn_close(c, true, n < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->w.off = c->w.len = 0;
    c->last_tx_ns = now;
    conn_set_out(c, false);
    if (c->wmsgs) {
        const lg_opts *o = &c->th->run->o;
        complete(c->th, now, -1, c->wmsgs, (uint64_t)c->wmsgs * (uint64_t)o->ppm);
        c->wmsgs = 0;
    }
}

/* ---- MQTT ------------------------------------------------------------------------------ */

static void mqtt_queue_connect(lg_conn *c, int protocol)
{
    size_t cid = strlen(c->client_id);
    size_t rem = 10 + (protocol == 5 ? 1 : 0) + 2 + cid;
    uint8_t flags = 0x02; /* clean session / clean start */
    if (c->user) {
        rem += 2 + strlen(c->user);
        flags |= 0x80;
    }
    if (c->pass) {
        rem += 2 + strlen(c->pass);
        flags |= 0x40;
    }
    buf_u8(&c->w, 0x10);
    buf_varint(&c->w, (uint32_t)rem);
    buf_mqtt_str(&c->w, "MQTT");
    buf_u8(&c->w, (uint8_t)protocol);
    buf_u8(&c->w, flags);
    buf_u16(&c->w, LG_KEEPALIVE_S);
    if (protocol == 5) buf_u8(&c->w, 0); /* no properties */
    buf_mqtt_str(&c->w, c->client_id);
    if (c->user) buf_mqtt_str(&c->w, c->user);
    if (c->pass) buf_mqtt_str(&c->w, c->pass);
}

static const char *connack_reason(int protocol, int rc)
{
    if (protocol == 4) {
        static const char *const v4[] = {
            "accepted",           "unacceptable protocol version", "identifier rejected",
            "server unavailable", "bad user name or password",     "not authorized"};
        return rc >= 0 && rc < 6 ? v4[rc] : "unknown";
    }
    switch (rc) {
    case 0x80:
        return "unspecified error";
    case 0x81:
        return "malformed packet";
    case 0x82:
        return "protocol error";
    case 0x84:
        return "unsupported protocol version";
    case 0x85:
        return "client identifier not valid";
    case 0x86:
        return "bad user name or password";
    case 0x87:
        return "not authorized";
    case 0x88:
        return "server unavailable";
    case 0x89:
        return "server busy";
    case 0x8A:
        return "banned";
    case 0x97:
        return "quota exceeded";
    default:
        return "refused";
    }
}

/* Reads an MQTT variable byte integer at p[*pos], limit n. 0 ok, -1 malformed or short. */
static int read_varint(const uint8_t *p, size_t n, size_t *pos, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (*pos >= n) return -1;
        uint8_t b = p[(*pos)++];
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Walks v5 CONNACK properties, picking Receive Maximum, Maximum QoS, Maximum Packet Size. */
static int mqtt_connack_props(const uint8_t *p, size_t n, uint32_t *recv_max, int *max_qos,
                              uint32_t *max_packet)
{
    size_t pos = 0;
    uint32_t len;
    if (read_varint(p, n, &pos, &len) < 0 || len > n - pos) return -1;
    size_t end = pos + len;
    while (pos < end) {
        uint8_t id = p[pos++];
        switch (id) {
        case 0x01:
        case 0x17:
        case 0x19:
        case 0x24:
        case 0x25:
        case 0x28:
        case 0x29:
        case 0x2A:
            if (end - pos < 1) return -1;
            if (id == 0x24) *max_qos = p[pos];
            pos += 1;
            break;
        case 0x13:
        case 0x21:
        case 0x22:
        case 0x23:
            if (end - pos < 2) return -1;
            if (id == 0x21) *recv_max = (uint32_t)p[pos] << 8 | p[pos + 1];
            pos += 2;
            break;
        case 0x02:
        case 0x11:
        case 0x18:
        case 0x27:
            if (end - pos < 4) return -1;
            if (id == 0x27)
                *max_packet = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                              (uint32_t)p[pos + 2] << 8 | p[pos + 3];
            pos += 4;
            break;
        case 0x0B: {
            uint32_t ignored;
            if (read_varint(p, end, &pos, &ignored) < 0) return -1;
            break;
        }
        case 0x03:
        case 0x08:
        case 0x09:
        case 0x12:
        case 0x15:
        case 0x16:
        case 0x1A:
        case 0x1C:
        case 0x1F:
        case 0x26: {
            int strings = id == 0x26 ? 2 : 1;
            for (int s = 0; s < strings; s++) {
                if (end - pos < 2) return -1;
                size_t sl = (size_t)p[pos] << 8 | p[pos + 1];
                pos += 2;
                if (end - pos < sl) return -1;
                pos += sl;
            }
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

static void mqtt_on_connack(lg_conn *c, const uint8_t *p, size_t n)
{
    lg_thread *th = c->th;
    const lg_opts *o = &th->run->o;
    if (c->state != CS_HANDSHAKE || n < 2) {
        th->protocol_errors++;
        conn_close(c, true, "unexpected or short CONNACK");
        return;
    }
    int rc = p[1];
    uint32_t recv_max = 65535, max_packet = LG_MAX_PACKET;
    int max_qos = 2;
    if (o->protocol == 5 && n > 2 &&
        mqtt_connack_props(p + 2, n - 2, &recv_max, &max_qos, &max_packet) < 0) {
        th->protocol_errors++;
        conn_close(c, true, "malformed CONNACK properties");
        return;
    }
    if ((o->protocol == 4 && rc != 0) || (o->protocol == 5 && rc >= 0x80)) {
        th->connack_refused++;
        th_error(th, "connection %d (client id %s): CONNACK refused, code 0x%02x (%s)", c->index,
                 c->client_id, rc, connack_reason(o->protocol, rc));
        conn_close(c, false, "refused");
        return;
    }
    if (o->qos > max_qos) {
        th->connack_refused++;
        th_error(th, "server allows QoS %d at most, --qos %d asked", max_qos, o->qos);
        conn_close(c, false, "qos");
        return;
    }
    if (recv_max == 0) recv_max = 65535;
    c->window = (uint32_t)o->inflight < recv_max ? (uint32_t)o->inflight : recv_max;
    c->max_packet = max_packet < LG_MAX_PACKET ? max_packet : LG_MAX_PACKET;
    c->nfree = 0;
    for (uint32_t s = c->window; s > 0; s--)
        c->free_slots[c->nfree++] = (uint16_t)(s - 1);
    if (c->window < th->window_min) th->window_min = c->window;
    c->state = CS_RUN;
    th->handshakes_pending--;
}

static void mqtt_on_puback(lg_conn *c, const uint8_t *p, size_t n, int64_t now)
{
    lg_thread *th = c->th;
    const lg_opts *o = &th->run->o;
    if (n < 2) {
        th->protocol_errors++;
        conn_close(c, true, "short PUBACK");
        return;
    }
    uint32_t pid = (uint32_t)p[0] << 8 | p[1];
    if (pid == 0 || pid > c->window || c->slot_t[pid - 1] < 0) {
        th->unexpected_acks++;
        th_error(th, "connection %d: PUBACK for unknown packet id %u", c->index, pid);
        return;
    }
    int reason = (o->protocol == 5 && n >= 3) ? p[2] : 0;
    int64_t t = c->slot_t[pid - 1];
    c->slot_t[pid - 1] = -1;
    c->free_slots[c->nfree++] = (uint16_t)(pid - 1);
    c->inflight--;
    if (reason >= 0x80) {
        if (th->puback_errors++ == 0) th->first_puback_reason = reason;
        return;
    }
    complete(th, now, t, 1, (uint64_t)o->ppm);
}

static void mqtt_on_packet(lg_conn *c, uint8_t type, const uint8_t *p, size_t n, int64_t now)
{
    switch (type >> 4) {
    case 2:
        mqtt_on_connack(c, p, n);
        break;
    case 4:
        mqtt_on_puback(c, p, n, now);
        break;
    case 13: /* PINGRESP */
        if (c->pings_out) c->pings_out--;
        if (c->mark_start && --c->mark_start == 0) {
            c->th->mark_start_sum += now - c->th->run->t0_ns;
            c->th->mark_start_n++;
        }
        if (c->mark_end && --c->mark_end == 0) {
            c->th->mark_end_sum += now - c->th->run->t0_ns;
            c->th->mark_end_n++;
        }
        break;
    case 14: { /* DISCONNECT from the server (v5) */
        char why[64];
        snprintf(why, sizeof why, "server sent DISCONNECT, reason 0x%02x", n >= 1 ? p[0] : 0);
        conn_close(c, true, why);
        break;
    }
    default: /* PUBLISH etc.: we subscribe to nothing, ignore */
        break;
    }
}

static void mqtt_parse(lg_conn *c, int64_t now)
{
    while (c->state != CS_CLOSED && buf_pending(&c->r) >= 2) {
        const uint8_t *p = c->r.p + c->r.off;
        size_t avail = buf_pending(&c->r), pos = 1;
        uint32_t rem;
        if (read_varint(p, avail, &pos, &rem) < 0) {
            if (avail >= 5) {
                c->th->protocol_errors++;
                conn_close(c, true, "malformed remaining length");
            }
            return;
        }
        if (rem > LG_MAX_PACKET) {
            c->th->protocol_errors++;
            conn_close(c, true, "packet too large");
            return;
        }
        if (avail - pos < rem) return; /* incomplete */
        c->r.off += pos + rem;
        mqtt_on_packet(c, p[0], p + pos, rem, now);
    }
    if (c->state != CS_CLOSED && c->r.off == c->r.len) c->r.off = c->r.len = 0;
}

static void mqtt_queue_publish(lg_thread *th, lg_conn *c, int64_t t_sched, int64_t now_ms)
{
    const lg_opts *o = &th->run->o;
    lg_buf *s = &th->scratch;
    s->off = s->len = 0;
    buf_reserve(s, GEN_BYTES_FIXED + (size_t)o->ppm * GEN_BYTES_PER_METRIC);
    char *end = gen_object(&c->gen, (char *)s->p, o->ppm, gen_ts(&c->gen, now_ms));
    size_t plen = (size_t)(end - (char *)s->p);
    size_t tlen = strlen(c->topic);
    size_t rem = 2 + tlen + (o->qos ? 2 : 0) + (o->protocol == 5 ? 1 : 0) + plen;
    if (rem + 5 > c->max_packet) {
        th_error(th, "publish of %zu bytes exceeds the server's maximum packet size %u", rem + 5,
                 c->max_packet);
        th->protocol_errors++;
        conn_close(c, false, "too large");
        return;
    }
    buf_reserve(&c->w, rem + 5);
    buf_u8(&c->w, (uint8_t)(0x30 | (o->qos << 1)));
    buf_varint(&c->w, (uint32_t)rem);
    buf_u16(&c->w, (uint16_t)tlen);
    buf_put(&c->w, c->topic, tlen);
    if (o->qos) {
        uint16_t slot = c->free_slots[--c->nfree];
        c->slot_t[slot] = t_sched;
        c->inflight++;
        buf_u16(&c->w, (uint16_t)(slot + 1));
    } else {
        c->wmsgs++;
    }
    if (o->protocol == 5) buf_u8(&c->w, 0);
    buf_put(&c->w, s->p, plen);
    th->payload_bytes += plen;
}

static void mqtt_queue_simple(lg_conn *c, uint8_t type)
{
    buf_u8(&c->w, type);
    buf_u8(&c->w, 0);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static bool header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

static bool value_has(const char *v, size_t n, const char *word)
{
    size_t k = strlen(word);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(v + i, word, k) == 0) return true;
    return false;
}

/* Parses one HTTP/1.1 response at b[0..n). Returns its total length, 0 if incomplete, -1 if
 * malformed. Sets status, whether the server will close, and where the body starts. */
static long http_parse_response(const char *b, size_t n, int *status, bool *closing,
                                size_t *body_at)
{
    const char *end = NULL;
    for (size_t i = 3; i < n; i++) {
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            end = b + i + 1;
            break;
        }
    }
    if (!end) return n > LG_MAX_HEADERS ? -1 : 0;
    size_t head = (size_t)(end - b);
    if (head < 16 || strncmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ' ||
        !isdigit((unsigned char)b[9]) || !isdigit((unsigned char)b[10]) ||
        !isdigit((unsigned char)b[11]))
        return -1;
    *status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    *closing = b[7] == '0';
    bool chunked = false, has_len = false;
    uint64_t clen = 0;
    const char *line = memchr(b, '\n', head) + 1;
    while (line < end - 2) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == line || nl[-1] != '\r') return -1; /* header lines end in CRLF */
        size_t ln = (size_t)(nl - line) - 1;         /* without \r */
        if (header_is(line, ln, "content-length")) {
            const char *v = line + 15;
            while (v < line + ln && (*v == ' ' || *v == '\t'))
                v++;
            if (v == line + ln) return -1;
            for (; v < line + ln && isdigit((unsigned char)*v); v++) {
                clen = clen * 10 + (uint64_t)(*v - '0');
                if (clen > LG_MAX_PACKET) return -1;
            }
            has_len = true;
        } else if (header_is(line, ln, "transfer-encoding")) {
            chunked = value_has(line + 18, ln - 18, "chunked");
        } else if (header_is(line, ln, "connection")) {
            if (value_has(line + 11, ln - 11, "close")) *closing = true;
        }
        line = nl + 1;
    }
    *body_at = head;
    if (chunked) {
        size_t pos = head;
        for (;;) {
            const char *nl = memchr(b + pos, '\n', n - pos);
            if (!nl) return n - pos > 64 ? -1 : 0;
            uint64_t sz = 0;
            const char *q = b + pos;
            if (!isxdigit((unsigned char)*q)) return -1;
            for (; isxdigit((unsigned char)*q); q++) {
                sz = sz * 16 +
                     (uint64_t)(isdigit((unsigned char)*q) ? *q - '0' : (tolower(*q) - 'a' + 10));
                if (sz > LG_MAX_PACKET) return -1;
            }
            pos = (size_t)(nl - b) + 1;
            if (sz == 0) { /* trailers end at an empty line */
                for (;;) {
                    const char *tl = memchr(b + pos, '\n', n - pos);
                    if (!tl) return 0;
                    size_t len = (size_t)(tl - (b + pos));
                    pos = (size_t)(tl - b) + 1;
                    if (len <= 1) return (long)pos;
                }
            }
            if (n - pos < sz + 2) return 0;
            pos += sz + 2;
        }
    }
    if (!has_len) {
        if (*status == 204 || *status == 304 || *status / 100 == 1) return (long)head;
        return -1; /* body delimited by close: not keep-alive, unsupported */
    }
    if (n - head < clen) return 0;
    return (long)(head + clen);
}

static void http_parse(lg_conn *c, int64_t now)
{
    lg_thread *th = c->th;
    const lg_opts *o = &th->run->o;
    while (c->state != CS_CLOSED && buf_pending(&c->r) > 0) {
        const char *b = (const char *)c->r.p + c->r.off;
        int status = 0;
        bool closing = false;
        size_t body_at = 0;
        long len = http_parse_response(b, buf_pending(&c->r), &status, &closing, &body_at);
        if (len == 0) return;
        if (len < 0 || !c->busy) {
            th->protocol_errors++;
            conn_close(c, true, len < 0 ? "malformed HTTP response" : "unsolicited HTTP response");
            return;
        }
        c->busy = false;
        th->status[status < 600 ? status : 0]++;
        if (status / 100 == 2) {
            complete(th, now, c->req_t_ns, 1, (uint64_t)o->batch);
        } else {
            if (th->non_2xx++ == 0) {
                int blen = (int)((size_t)len - body_at);
                th_error(th, "connection %d: HTTP %d: %.*s", c->index, status,
                         blen > 160 ? 160 : blen, b + body_at);
            }
        }
        c->r.off += (size_t)len;
        if (closing) {
            conn_close(c, true, "server closed the keep-alive connection");
            return;
        }
    }
    if (c->r.off == c->r.len) c->r.off = c->r.len = 0;
}

static void http_queue_request(lg_thread *th, lg_conn *c, int64_t t_sched, int64_t now_ms)
{
    const lg_opts *o = &th->run->o;
    lg_buf *s = &th->scratch;
    int objects = (o->batch + o->ppm - 1) / o->ppm;
    s->off = s->len = 0;
    buf_reserve(s, 4 + (size_t)objects * (GEN_BYTES_FIXED + 1) +
                       (size_t)o->batch * GEN_BYTES_PER_METRIC);
    char *p = (char *)s->p;
    *p++ = '[';
    int left = o->batch;
    for (int i = 0; i < objects; i++) {
        int n = left < o->ppm ? left : o->ppm;
        if (i) *p++ = ',';
        p = gen_object(&c->gen, p, n, gen_ts(&c->gen, now_ms));
        left -= n;
    }
    *p++ = ']';
    size_t blen = (size_t)(p - (char *)s->p);
    char num[24];
    char *e = fmt_u64(num, blen);
    buf_reserve(&c->w, c->http_head_len + 32 + blen);
    buf_put(&c->w, c->http_head, c->http_head_len);
    buf_put(&c->w, num, (size_t)(e - num));
    buf_put(&c->w, "\r\n\r\n", 4);
    buf_put(&c->w, s->p, blen);
    c->busy = true;
    c->req_t_ns = t_sched;
    th->payload_bytes += blen;
}

/* ---- connection set-up ----------------------------------------------------------------- */

static int tcp_connect(const struct addrinfo *ai, char *err, size_t errcap)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(err, errcap, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int pr;
    do {
        pr = poll(&pfd, 1, LG_CONNECT_TIMEOUT_MS);
    } while (pr < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        snprintf(err, errcap, "connect: %s",
                 pr == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The TLS handshake on the fresh non-blocking socket, waiting with poll (set-up time, not
 * counted in the measurement window). */
static int tls_handshake(lg_thread *th, lg_conn *c, char *err, size_t errcap)
{
    c->ssl = SSL_new(th->run->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, th->run->o.host) != 1) {
        snprintf(err, errcap, "SSL_new failed");
        return -1;
    }
    SSL_set1_host(c->ssl, th->run->o.host);
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1) return 0;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            unsigned long code = ERR_get_error();
            snprintf(err, errcap, "%s", code ? ERR_reason_error_string(code) : "handshake failed");
            ERR_clear_error();
            return -1;
        }
        struct pollfd pfd = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (poll(&pfd, 1, LG_CONNECT_TIMEOUT_MS) <= 0) {
            snprintf(err, errcap, "handshake timed out");
            return -1;
        }
    }
}

static int conn_open(lg_thread *th, lg_conn *c)
{
    const lg_opts *o = &th->run->o;
    char err[128];
    c->fd = tcp_connect(th->run->addr, err, sizeof err);
    if (c->fd < 0) {
        th->connect_failures++;
        th_error(th, "connection %d to %s:%s: %s", c->index, o->host, o->port, err);
        c->state = CS_CLOSED;
        return -1;
    }
    if (th->run->tls && tls_handshake(th, c, err, sizeof err) != 0) {
        th->connect_failures++;
        th_error(th, "connection %d to %s:%s: TLS: %s", c->index, o->host, o->port, err);
        SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        c->fd = -1;
        c->state = CS_CLOSED;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(th->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        th->connect_failures++;
        th_error(th, "epoll_ctl: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        c->state = CS_CLOSED;
        return -1;
    }
    c->last_tx_ns = mono_ns();
    if (o->mode == MODE_MQTT) {
        c->state = CS_HANDSHAKE;
        th->handshakes_pending++;
        mqtt_queue_connect(c, o->protocol);
        conn_flush(c, c->last_tx_ns);
    } else {
        c->state = CS_RUN;
    }
    return 0;
}

static void conn_read(lg_conn *c, int64_t now)
{
    for (int turns = 0; turns < 8 && c->state != CS_CLOSED; turns++) {
        buf_reserve(&c->r, 16384);
        ssize_t n = conn_recv(c, c->r.p + c->r.len, c->r.cap - c->r.len);
        if (n > 0) {
            c->r.len += (size_t)n;
            if (c->th->run->o.mode == MODE_MQTT)
                mqtt_parse(c, now);
            else
                http_parse(c, now);
            /* TLS may hold decrypted bytes the socket no longer signals */
            if ((size_t)n < 16384 && !(c->ssl && SSL_has_pending(c->ssl))) return;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(c, true, n == 0 ? "closed by server" : strerror(errno));
        return;
    }
}

/* Waits up to timeout_ns for socket events (nanosecond timeouts via epoll_pwait2, so paced
 * sends are not rounded to whole milliseconds) and handles them. */
static void poll_events(lg_thread *th, int64_t timeout_ns)
{
    struct epoll_event ev[256];
    struct timespec ts = {.tv_sec = timeout_ns / NS_PER_S, .tv_nsec = timeout_ns % NS_PER_S};
    int n = epoll_pwait2(th->ep, ev, 256, &ts, NULL);
    if (n < 0 && errno == ENOSYS)
        n = epoll_wait(th->ep, ev, 256, (int)((timeout_ns + 999999) / 1000000));
    if (n <= 0) return;
    int64_t now = mono_ns();
    for (int i = 0; i < n; i++) {
        lg_conn *c = ev[i].data.ptr;
        if (c->state == CS_CLOSED) continue;
        if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c, now);
        if (c->state != CS_CLOSED && (ev[i].events & EPOLLOUT)) conn_flush(c, now);
    }
}

/* ---- the load loop --------------------------------------------------------------------- */

static bool conn_can_issue(const lg_opts *o, const lg_conn *c)
{
    if (c->state != CS_RUN) return false;
    if (o->mode == MODE_HTTP) return !c->busy;
    if (o->qos == 1) return c->nfree > 0;
    return !c->out_armed && buf_pending(&c->w) < LG_WBUF_HIGH;
}

/* Queues what the windows, the pacing and the quota allow, one unit per connection per
 * round, then flushes. Returns 1 if more could be sent at once, 0 if waiting for the server
 * (or the clock), and sets *next_ns to the next paced send time (0 = none scheduled). */
static int issue(lg_thread *th, int64_t now, int64_t *next_ns)
{
    const lg_run *run = th->run;
    const lg_opts *o = &run->o;
    uint64_t budget = th->quota ? th->quota - th->issued : UINT64_MAX;
    *next_ns = 0;
    if (th->rate > 0) {
        uint64_t due = (uint64_t)((double)(now - run->t0_ns) * th->rate / 1e9) + 1;
        uint64_t paced = due > th->issued ? due - th->issued : 0;
        if (paced < budget) budget = paced;
    }
    int64_t now_ms = wall_ms();
    bool progress = true;
    while (budget > 0 && progress) {
        progress = false;
        for (int k = 0; k < th->nconns && budget > 0; k++) {
            lg_conn *c = th->conns[(th->rr + k) % th->nconns];
            if (!conn_can_issue(o, c)) continue;
            int64_t t =
                th->rate > 0 ? run->t0_ns + (int64_t)((double)th->issued * 1e9 / th->rate) : now;
            if (o->mode == MODE_MQTT)
                mqtt_queue_publish(th, c, t, now_ms);
            else
                http_queue_request(th, c, t, now_ms);
            th->issued++;
            budget--;
            progress = true;
        }
        th->rr = th->nconns ? (th->rr + 1) % th->nconns : 0;
    }
    bool more = false;
    for (int k = 0; k < th->nconns; k++) {
        lg_conn *c = th->conns[k];
        if (c->state == CS_RUN && !c->out_armed && buf_pending(&c->w) > 0) conn_flush(c, now);
        if (budget > 0 && conn_can_issue(o, c)) more = true;
    }
    if (th->rate > 0 && (!th->quota || th->issued < th->quota))
        *next_ns = run->t0_ns + (int64_t)((double)th->issued * 1e9 / th->rate);
    return more;
}

static void keepalive(lg_thread *th, int64_t now)
{
    for (int k = 0; k < th->nconns; k++) {
        lg_conn *c = th->conns[k];
        if (c->state == CS_RUN && c->pings_out == 0 &&
            now - c->last_tx_ns > (int64_t)LG_KEEPALIVE_S / 2 * NS_PER_S) {
            mqtt_queue_simple(c, 0xC0);
            c->pings_out++;
            conn_flush(c, now);
        }
    }
}

static bool drained(const lg_thread *th)
{
    for (int k = 0; k < th->nconns; k++) {
        const lg_conn *c = th->conns[k];
        if (c->state == CS_CLOSED) continue;
        if (c->inflight || c->busy || c->pings_out || buf_pending(&c->w) || c->wmsgs) return false;
    }
    return true;
}

static void publish_progress(lg_thread *th)
{
    uint64_t inflight = 0;
    for (int k = 0; k < th->nconns; k++)
        inflight += th->conns[k]->inflight + (th->conns[k]->busy ? 1 : 0);
    atomic_store_explicit(&th->a_done, th->done_total, memory_order_relaxed);
    atomic_store_explicit(&th->a_inflight, inflight, memory_order_relaxed);
}

/* QoS 0 has no acknowledgements, but a broker answers PINGREQ in order: its PINGRESP means
 * every earlier publish on the connection was read. A marker ping at the window start and one
 * after the last publish time how fast the server really consumed the messages. */
static void queue_markers(lg_thread *th, int64_t now, bool start)
{
    for (int k = 0; k < th->nconns; k++) {
        lg_conn *c = th->conns[k];
        if (c->state != CS_RUN) continue;
        mqtt_queue_simple(c, 0xC0);
        c->pings_out++;
        if (start)
            c->mark_start = c->pings_out;
        else
            c->mark_end = c->pings_out;
        if (!c->out_armed) conn_flush(c, now);
    }
}

static void run_loop(lg_thread *th)
{
    const lg_run *run = th->run;
    const lg_opts *o = &run->o;
    bool draining = false;
    int64_t drain_deadline = 0, last_progress = 0;
    for (;;) {
        int64_t now = mono_ns();
        if (now - last_progress > 100 * 1000000LL) {
            publish_progress(th);
            last_progress = now;
        }
        if (!draining && (g_stop || (run->win_end_ns && now >= run->win_end_ns) ||
                          (th->quota && th->issued >= th->quota))) {
            draining = true;
            drain_deadline = now + (int64_t)(o->drain_s * 1e9);
            if (o->mode == MODE_MQTT && o->qos == 0) queue_markers(th, now, false);
        }
        if (!draining && !th->marked && o->mode == MODE_MQTT && o->qos == 0 && o->warmup_s > 0 &&
            now >= run->win_start_ns) {
            queue_markers(th, now, true);
            th->issued_at_mark = th->issued;
            th->marked = true;
        }
        int64_t timeout = 100 * 1000000LL;
        if (draining) {
            if (drained(th)) {
                th->end_ns = now;
                break;
            }
            if (now > drain_deadline) {
                for (int k = 0; k < th->nconns; k++) {
                    lg_conn *c = th->conns[k];
                    if (c->state != CS_CLOSED)
                        th->unacked += c->inflight + (c->busy ? 1 : 0) + c->wmsgs;
                }
                th_error(th, "gave up waiting for acknowledgements after %.1f s", o->drain_s);
                break;
            }
        } else {
            int64_t next_ns;
            if (issue(th, now, &next_ns)) {
                timeout = 0;
            } else if (next_ns > now && next_ns - now < timeout) {
                timeout = next_ns - now;
            }
            if (run->win_end_ns && run->win_end_ns - now < timeout)
                timeout = run->win_end_ns > now ? run->win_end_ns - now : 0;
            if (o->mode == MODE_MQTT) keepalive(th, now);
        }
        poll_events(th, timeout);
    }
    publish_progress(th);
}

static void *thread_main(void *arg)
{
    lg_thread *th = arg;
    lg_run *run = th->run;
    th->ep = epoll_create1(EPOLL_CLOEXEC);
    if (th->ep < 0) die("epoll_create1 failed");
    bool ok = true;
    for (int k = 0; k < th->nconns && ok && !g_stop; k++)
        ok = conn_open(th, th->conns[k]) == 0;
    int64_t deadline = mono_ns() + LG_HANDSHAKE_TIMEOUT_NS;
    while (ok && th->handshakes_pending > 0 && !g_stop && mono_ns() < deadline)
        poll_events(th, 50 * 1000000LL);
    if (ok && th->handshakes_pending > 0) {
        th->connack_refused += (uint64_t)th->handshakes_pending;
        th_error(th, "%d connection(s) got no CONNACK within %lld s", th->handshakes_pending,
                 LG_HANDSHAKE_TIMEOUT_NS / NS_PER_S);
    }
    pthread_barrier_wait(&run->ready);
    pthread_barrier_wait(&run->go);
    if (!atomic_load(&run->abort_run)) run_loop(th);
    for (int k = 0; k < th->nconns; k++) {
        lg_conn *c = th->conns[k];
        if (c->state == CS_CLOSED) continue;
        if (run->o.mode == MODE_MQTT && c->state == CS_RUN) {
            c->w.off = c->w.len = 0;
            mqtt_queue_simple(c, 0xE0);                            /* DISCONNECT, normal */
            if (send(c->fd, c->w.p, c->w.len, MSG_NOSIGNAL) < 0) { /* best effort */
            }
        }
        conn_close(c, false, NULL);
    }
    close(th->ep);
    atomic_store(&th->finished, 1);
    return NULL;
}

/* ---- command line ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: bench_loadgen mqtt [--host H] [--port P] [--connections C] [--qos 0|1]\n"
           "                          [--inflight K] [--protocol 4|5] [--points-per-msg M]\n"
           "                          [--creds FILE] (--duration S | --messages N) [--rate R]\n"
           "       bench_loadgen http --url http://H:P/api/v1/ingest --creds FILE\n"
           "                          [--connections C] [--batch B] [--points-per-msg M]\n"
           "                          (--duration S | --messages N) [--rate R]\n"
           "common: [--threads N] [--warmup S] [--drain-timeout S] [--ts-lag S] [--label TEXT]\n"
           "        [--quiet] [--tls-ca FILE]\n"
           "  --tls-ca FILE  MQTT over TLS; the server's certificate must verify against FILE\n"
           "  --creds FILE   lines \"device_id api_key\"; MQTT: user=id, password=key,\n"
           "                 topic devices/<id>/telemetry; HTTP: X-API-Key header\n"
           "  --rate R       total messages (mqtt) or requests (http) per second, paced;\n"
           "                 latency then counts from the scheduled send time\n"
           "  --messages N   send N messages/requests in total (no warm-up) instead of a duration\n"
           "  --ts-lag S     per-device timestamps are unique and increasing, starting S seconds\n"
           "                 behind now (default 3600, or 0 for paced runs of <=500 ts/s/device)\n"
           "defaults: 16 connections, 1 thread, QoS 1, 100 in flight, protocol 4, 10 s + 1 s\n"
           "warm-up, 1 point per MQTT message, HTTP batch 1000 points in objects of 10 metrics\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min)) return -1;
    *out = v;
    return 0;
}

static int parse_url(lg_opts *o, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) return -1;
    p += 7;
    const char *slash = strchr(p, '/');
    const char *hp_end = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(hp_end - p));
    const char *h_end = colon ? colon : hp_end;
    if (h_end == p || (size_t)(h_end - p) >= sizeof o->host) return -1;
    memcpy(o->host, p, (size_t)(h_end - p));
    o->host[h_end - p] = 0;
    if (colon) {
        size_t n = (size_t)(hp_end - colon - 1);
        if (n == 0 || n >= sizeof o->port) return -1;
        memcpy(o->port, colon + 1, n);
        o->port[n] = 0;
    } else {
        snprintf(o->port, sizeof o->port, "80");
    }
    snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
    snprintf(o->url, sizeof o->url, "%s", url);
    return 0;
}

static int parse_args(lg_opts *o, int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_CONNS,
        O_THREADS,
        O_QOS,
        O_INFLIGHT,
        O_DURATION,
        O_MESSAGES,
        O_PPM,
        O_CREDS,
        O_PROTOCOL,
        O_RATE,
        O_WARMUP,
        O_URL,
        O_BATCH,
        O_LABEL,
        O_QUIET,
        O_DRAIN,
        O_TS_LAG,
        O_TLS_CA,
        O_HELP
    };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"connections", required_argument, 0, O_CONNS},
        {"threads", required_argument, 0, O_THREADS},
        {"qos", required_argument, 0, O_QOS},
        {"inflight", required_argument, 0, O_INFLIGHT},
        {"duration", required_argument, 0, O_DURATION},
        {"messages", required_argument, 0, O_MESSAGES},
        {"points-per-msg", required_argument, 0, O_PPM},
        {"creds", required_argument, 0, O_CREDS},
        {"protocol", required_argument, 0, O_PROTOCOL},
        {"rate", required_argument, 0, O_RATE},
        {"warmup", required_argument, 0, O_WARMUP},
        {"url", required_argument, 0, O_URL},
        {"batch", required_argument, 0, O_BATCH},
        {"label", required_argument, 0, O_LABEL},
        {"quiet", no_argument, 0, O_QUIET},
        {"drain-timeout", required_argument, 0, O_DRAIN},
        {"ts-lag", required_argument, 0, O_TS_LAG},
        {"tls-ca", required_argument, 0, O_TLS_CA},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    if (argc < 2) return -1;
    if (strcmp(argv[1], "mqtt") == 0) {
        o->mode = MODE_MQTT;
    } else if (strcmp(argv[1], "http") == 0) {
        o->mode = MODE_HTTP;
    } else if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        exit(0);
    } else {
        fprintf(stderr, "loadgen: first argument must be mqtt or http\n");
        return -1;
    }
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    snprintf(o->port, sizeof o->port, "1883");
    o->connections = 16;
    o->threads = 1;
    o->qos = 1;
    o->inflight = 100;
    o->protocol = 4;
    o->ppm = 1;
    o->batch = 1000;
    o->duration_s = 10;
    o->warmup_s = 1;
    o->drain_s = 10;
    o->ts_lag_s = -1;
    bool have_url = false;
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        long v;
        const char *a = optarg;
        int bad = 0;
        switch (opt) {
        case O_HOST:
            bad = strlen(a) >= sizeof o->host;
            if (!bad) snprintf(o->host, sizeof o->host, "%s", a);
            break;
        case O_PORT:
            bad = parse_int(a, 1, 65535, &v);
            if (!bad) snprintf(o->port, sizeof o->port, "%ld", v);
            break;
        case O_CONNS:
            bad = parse_int(a, 1, 1000000, &v);
            o->connections = (int)v;
            break;
        case O_THREADS:
            bad = parse_int(a, 1, 1024, &v);
            o->threads = (int)v;
            break;
        case O_QOS:
            bad = parse_int(a, 0, 1, &v);
            o->qos = (int)v;
            break;
        case O_INFLIGHT:
            bad = parse_int(a, 1, 65535, &v);
            o->inflight = (int)v;
            break;
        case O_DURATION:
            bad = parse_double(a, 0.001, &o->duration_s);
            o->duration_set = true;
            break;
        case O_MESSAGES:
            bad = parse_int(a, 1, LONG_MAX, &v);
            o->messages = (uint64_t)v;
            break;
        case O_PPM:
            bad = parse_int(a, 1, 100000, &v);
            o->ppm = (int)v;
            o->ppm_set = true;
            break;
        case O_CREDS:
            o->creds_path = a;
            break;
        case O_TLS_CA:
            o->tls_ca = a;
            break;
        case O_PROTOCOL:
            bad = parse_int(a, 4, 5, &v);
            o->protocol = (int)v;
            break;
        case O_RATE:
            bad = parse_double(a, 0, &o->rate);
            break;
        case O_WARMUP:
            bad = parse_double(a, 0, &o->warmup_s);
            o->warmup_set = true;
            break;
        case O_URL:
            bad = parse_url(o, a);
            have_url = true;
            break;
        case O_BATCH:
            bad = parse_int(a, 1, 10000000, &v);
            o->batch = (int)v;
            break;
        case O_LABEL:
            o->label = a;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_DRAIN:
            bad = parse_double(a, 0, &o->drain_s);
            break;
        case O_TS_LAG:
            bad = parse_double(a, 0, &o->ts_lag_s);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
        if (bad) {
            fprintf(stderr, "loadgen: bad value for option %s: %s\n", argv[optind - 1], a);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loadgen: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if (o->messages && o->duration_set) {
        fprintf(stderr, "loadgen: give --duration or --messages, not both\n");
        return -1;
    }
    if (o->messages) {
        o->duration_s = 0;
        if (!o->warmup_set) o->warmup_s = 0;
        if (o->warmup_s > 0) {
            fprintf(stderr, "loadgen: --warmup does not apply to --messages runs\n");
            return -1;
        }
    }
    if (o->mode == MODE_HTTP) {
        if (!have_url) {
            fprintf(stderr, "loadgen: http mode needs --url http://HOST:PORT/api/v1/ingest\n");
            return -1;
        }
        if (!o->ppm_set) o->ppm = o->batch < 10 ? o->batch : 10;
        if (o->ppm > o->batch) o->ppm = o->batch;
    } else if (have_url) {
        fprintf(stderr, "loadgen: --url is for http mode\n");
        return -1;
    }
    if (o->threads > o->connections) o->threads = o->connections;
    if (o->ts_lag_s < 0) {
        /* Timestamps are unique per device (no point can overwrite another), so a device
         * sending more than 1000 per second runs ahead of the wall clock. Unpaced runs start
         * each device's clock an hour back so it stays in the past; slow paced runs use now. */
        double objs = o->mode == MODE_HTTP ? (double)((o->batch + o->ppm - 1) / o->ppm) : 1;
        bool slow = o->rate > 0 && o->rate * objs / o->connections <= 500;
        o->ts_lag_s = slow ? 0 : 3600;
    }
    return 0;
}

/* Reads "device_id api_key" lines; blank lines and # comments are skipped. */
static int load_creds(const char *path, lg_cred **out, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "loadgen: cannot open creds file %s: %s\n", path, strerror(errno));
        return -1;
    }
    lg_cred *v = NULL;
    int cnt = 0, cap = 0, rc = 0, lineno = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char id[LG_MAX_STR], key[LG_MAX_STR], extra[2];
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == 0 || *s == '#') continue;
        if (sscanf(s, "%255s %255s %1s", id, key, extra) != 2) {
            fprintf(stderr, "loadgen: %s:%d: expected \"device_id api_key\"\n", path, lineno);
            rc = -1;
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            lg_cred *nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) die("out of memory");
            v = nv;
        }
        snprintf(v[cnt].id, sizeof v[cnt].id, "%s", id);
        snprintf(v[cnt].key, sizeof v[cnt].key, "%s", key);
        cnt++;
    }
    fclose(f);
    if (rc == 0 && cnt == 0) {
        fprintf(stderr, "loadgen: creds file %s has no entries\n", path);
        rc = -1;
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static void conn_setup(lg_run *run, lg_conn *c, int index)
{
    const lg_opts *o = &run->o;
    c->index = index;
    c->fd = -1;
    c->state = CS_CLOSED;
    c->max_packet = LG_MAX_PACKET;
    gen_init(&c->gen, o->ppm, (uint64_t)index + 1);
    c->gen.lag_ms = (int64_t)(o->ts_lag_s * 1000);
    const lg_cred *cr = run->ncreds ? &run->creds[index % run->ncreds] : NULL;
    if (o->mode == MODE_MQTT) {
        if (cr) {
            snprintf(c->client_id, sizeof c->client_id, "%s", cr->id);
            c->user = cr->id;
            c->pass = cr->key;
        } else {
            snprintf(c->client_id, sizeof c->client_id, "lg-%d", index + 1);
        }
        snprintf(c->topic, sizeof c->topic, "devices/%s/telemetry", c->client_id);
        c->slot_t = malloc((size_t)o->inflight * sizeof *c->slot_t);
        c->free_slots = malloc((size_t)o->inflight * sizeof *c->free_slots);
        if (!c->slot_t || !c->free_slots) die("out of memory");
        for (int s = 0; s < o->inflight; s++)
            c->slot_t[s] = -1;
    } else {
        char head[1024];
        int n = snprintf(head, sizeof head,
                         "POST %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s%sContent-Type: "
                         "application/json\r\nContent-Length: ",
                         o->path, o->host, o->port, cr ? "X-API-Key: " : "", cr ? cr->key : "",
                         cr ? "\r\n" : "");
        if (n < 0 || (size_t)n >= sizeof head) die("request head too long");
        c->http_head = strdup(head);
        if (!c->http_head) die("out of memory");
        c->http_head_len = (size_t)n;
    }
}

static void conn_free(lg_conn *c)
{
    free(c->w.p);
    free(c->r.p);
    free(c->slot_t);
    free(c->free_slots);
    free(c->http_head);
    gen_free(&c->gen);
}

static void raise_nofile(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    rlim_t need = (rlim_t)want + 64;
    if (rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need)
        fprintf(stderr, "loadgen: warning: open file limit %llu is below %d connections\n",
                (unsigned long long)rl.rlim_cur, want);
}

/* ---- report ---------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_ms(FILE *f, const char *name, const lg_hist *h, double q)
{
    if (h->count == 0)
        fprintf(f, ",\"%s\":null", name);
    else
        fprintf(f, ",\"%s\":%.3f", name, (double)hist_quantile(h, q) / 1000.0);
}

typedef struct {
    uint64_t issued, done_total, win_done, win_points, payload_bytes, connect_failures,
        connack_refused, conn_lost, protocol_errors, puback_errors, unexpected_acks, non_2xx,
        unacked;
    uint64_t status[600];
    int64_t end_ns, ts_ahead_max_ms;
    uint64_t issued_at_mark, mark_start_n, mark_end_n;
    double mark_start_mean_s, mark_end_mean_s;
    uint32_t window_min;
    int first_puback_reason;
    bool all_drained;
    const char *err;
    lg_hist hist;
} lg_totals;

static void report(const lg_run *run, const lg_totals *t, double window_s)
{
    const lg_opts *o = &run->o;
    FILE *f = stdout;
    uint64_t errors = t->connect_failures + t->connack_refused + t->conn_lost + t->protocol_errors +
                      t->puback_errors + t->unexpected_acks + t->non_2xx + t->unacked;
    bool ok = errors == 0 && !atomic_load(&run->abort_run);
    double rate = window_s > 0 ? (double)t->win_done / window_s : 0;
    double prate = window_s > 0 ? (double)t->win_points / window_s : 0;
    fprintf(f, "{\"mode\":\"%s\"", o->mode == MODE_MQTT ? "mqtt" : "http");
    if (o->label) {
        fprintf(f, ",\"label\":");
        json_str(f, o->label);
    }
    fprintf(f, ",\"ok\":%s", ok ? "true" : "false");
    if (o->mode == MODE_MQTT) {
        fprintf(f, ",\"host\":");
        json_str(f, o->host);
        fprintf(f, ",\"port\":%s,\"protocol\":%d,\"qos\":%d", o->port, o->protocol, o->qos);
        if (o->qos) {
            fprintf(f, ",\"inflight\":%d,\"inflight_effective\":%u", o->inflight,
                    t->window_min == UINT32_MAX ? 0u : t->window_min);
        }
        fprintf(f, ",\"points_per_msg\":%d", o->ppm);
    } else {
        fprintf(f, ",\"url\":");
        json_str(f, o->url);
        fprintf(f, ",\"batch\":%d,\"points_per_obj\":%d,\"objects_per_request\":%d", o->batch,
                o->ppm, (o->batch + o->ppm - 1) / o->ppm);
    }
    fprintf(f, ",\"connections\":%d,\"threads\":%d,\"authenticated\":%s", o->connections,
            o->threads, run->ncreds ? "true" : "false");
    if (o->messages)
        fprintf(f, ",\"messages\":%" PRIu64, o->messages);
    else
        fprintf(f, ",\"duration_s\":%g,\"warmup_s\":%g", o->duration_s, o->warmup_s);
    fprintf(f, ",\"rate_target\":%g,\"window_s\":%.3f", o->rate, window_s);
    if (o->mode == MODE_MQTT) {
        fprintf(f, ",\"msgs\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"points_per_s\":%.1f", t->win_done,
                rate, prate);
        fprintf(f, ",\"sent_total\":%" PRIu64 ",\"%s\":%" PRIu64, t->issued,
                o->qos ? "acked_total" : "written_total", t->done_total);
        fprintf(f, ",\"payload_bytes_avg\":%.1f",
                t->issued ? (double)t->payload_bytes / (double)t->issued : 0);
        if (o->qos == 0) {
            /* From the mean start-marker answer (or t0) to the mean end-marker answer. */
            double start = t->mark_start_n ? t->mark_start_mean_s : 0;
            double span = t->all_drained && t->mark_end_n ? t->mark_end_mean_s - start : 0;
            uint64_t msgs = t->issued - (t->mark_start_n ? t->issued_at_mark : 0);
            if (span > 0)
                fprintf(f, ",\"processed_msgs_per_s\":%.1f", (double)msgs / span);
            else
                fprintf(f, ",\"processed_msgs_per_s\":null");
        }
    } else {
        fprintf(f,
                ",\"requests\":%" PRIu64 ",\"requests_per_s\":%.1f,\"points_per_s\":%.1f"
                ",\"requests_total\":%" PRIu64 ",\"body_bytes_avg\":%.1f",
                t->win_done, rate, prate, t->issued,
                t->issued ? (double)t->payload_bytes / (double)t->issued : 0);
        fprintf(f, ",\"status_counts\":{");
        bool first = true;
        for (int s = 0; s < 600; s++) {
            if (!t->status[s]) continue;
            fprintf(f, "%s\"%d\":%" PRIu64, first ? "" : ",", s, t->status[s]);
            first = false;
        }
        fprintf(f, "}");
    }
    json_ms(f, "p50_ms", &t->hist, 0.50);
    json_ms(f, "p90_ms", &t->hist, 0.90);
    json_ms(f, "p99_ms", &t->hist, 0.99);
    json_ms(f, "p999_ms", &t->hist, 0.999);
    if (t->hist.count) {
        fprintf(f, ",\"max_ms\":%.3f,\"mean_ms\":%.3f", (double)t->hist.max / 1000.0,
                (double)t->hist.sum / (double)t->hist.count / 1000.0);
    } else {
        fprintf(f, ",\"max_ms\":null,\"mean_ms\":null");
    }
    fprintf(f, ",\"latency_samples\":%" PRIu64 ",\"ts_lag_s\":%g,\"ts_ahead_max_ms\":%" PRId64,
            t->hist.count, o->ts_lag_s, t->ts_ahead_max_ms);
    fprintf(f,
            ",\"errors\":%" PRIu64 ",\"connect_failures\":%" PRIu64 ",\"connack_refused\":%" PRIu64
            ",\"connections_lost\":%" PRIu64 ",\"protocol_errors\":%" PRIu64,
            errors, t->connect_failures, t->connack_refused, t->conn_lost, t->protocol_errors);
    if (o->mode == MODE_MQTT) {
        fprintf(f, ",\"puback_errors\":%" PRIu64 ",\"unexpected_acks\":%" PRIu64, t->puback_errors,
                t->unexpected_acks);
        if (t->puback_errors) fprintf(f, ",\"first_puback_reason\":%d", t->first_puback_reason);
    } else {
        fprintf(f, ",\"non_2xx\":%" PRIu64, t->non_2xx);
    }
    fprintf(f, ",\"unacked\":%" PRIu64 ",\"error\":", t->unacked);
    if (t->err)
        json_str(f, t->err);
    else
        fprintf(f, "null");
    if (o->mode == MODE_MQTT && o->qos == 0)
        fprintf(f, ",\"note\":\"QoS 0: msgs_per_s is the rate written to the sockets; "
                   "processed_msgs_per_s counts the publishes the server read between PINGREQ "
                   "markers sent at the window start and after the last publish\"");
    else if (o->rate > 0)
        fprintf(f, ",\"note\":\"paced: latency counts from the scheduled send time\"");
    fprintf(f, "}\n");
    fflush(f);
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static lg_run run; /* large (histograms live in threads); static keeps it off the stack */
    lg_opts *o = &run.o;
    int rc = 1;
    lg_thread *threads = NULL;
    lg_conn *conns = NULL;
    if (parse_args(o, argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    if (o->creds_path && load_creds(o->creds_path, &run.creds, &run.ncreds) < 0) return 2;
    if (o->mode == MODE_MQTT && run.ncreds && run.ncreds < o->connections) {
        fprintf(stderr,
                "loadgen: %d connections need %d creds lines (one device per connection), "
                "%s has %d\n",
                o->connections, o->connections, o->creds_path, run.ncreds);
        return 2;
    }
    if (o->mode == MODE_HTTP && !run.ncreds)
        fprintf(stderr, "loadgen: warning: no --creds, requests carry no X-API-Key\n");
    if (o->tls_ca) {
        run.tls = SSL_CTX_new(TLS_client_method());
        if (!run.tls || SSL_CTX_load_verify_locations(run.tls, o->tls_ca, NULL) != 1) {
            fprintf(stderr, "loadgen: cannot load the CA file %s\n", o->tls_ca);
            return 2;
        }
        SSL_CTX_set_verify(run.tls, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(run.tls,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(o->host, o->port, &hints, &run.addr);
    if (gai != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s:%s: %s\n", o->host, o->port, gai_strerror(gai));
        return 2;
    }
    raise_nofile(o->connections);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    threads = calloc((size_t)o->threads, sizeof *threads);
    conns = calloc((size_t)o->connections, sizeof *conns);
    if (!threads || !conns) die("out of memory");
    for (int t = 0; t < o->threads; t++) {
        lg_thread *th = &threads[t];
        th->id = t;
        th->run = &run;
        th->window_min = UINT32_MAX;
        th->nconns = o->connections / o->threads + (t < o->connections % o->threads);
        th->conns = calloc((size_t)th->nconns, sizeof *th->conns);
        if (!th->conns) die("out of memory");
        th->rate = o->rate / o->threads;
        if (o->messages)
            th->quota = o->messages / (uint64_t)o->threads +
                        ((uint64_t)t < o->messages % (uint64_t)o->threads);
    }
    for (int i = 0; i < o->connections; i++) {
        lg_thread *th = &threads[i % o->threads];
        conn_setup(&run, &conns[i], i);
        conns[i].th = th;
        th->conns[i / o->threads] = &conns[i];
    }
    pthread_barrier_init(&run.ready, NULL, (unsigned)o->threads + 1);
    pthread_barrier_init(&run.go, NULL, (unsigned)o->threads + 1);
    for (int t = 0; t < o->threads; t++)
        if (pthread_create(&threads[t].tid, NULL, thread_main, &threads[t]) != 0)
            die("pthread_create failed");

    pthread_barrier_wait(&run.ready);
    uint64_t setup_errors = 0;
    for (int t = 0; t < o->threads; t++)
        setup_errors += threads[t].connect_failures + threads[t].connack_refused +
                        threads[t].conn_lost + threads[t].protocol_errors;
    if (setup_errors || g_stop) atomic_store(&run.abort_run, 1);
    run.t0_ns = mono_ns();
    run.win_start_ns = run.t0_ns + (int64_t)(o->warmup_s * 1e9);
    run.win_end_ns = o->messages ? 0 : run.win_start_ns + (int64_t)(o->duration_s * 1e9);
    if (!o->quiet && !setup_errors)
        fprintf(stderr, "loadgen: %d connection(s) ready, %s\n", o->connections,
                o->messages ? "sending" : "warming up");
    pthread_barrier_wait(&run.go);

    int64_t stop_ns = 0;
    uint64_t last_done = 0;
    int64_t last_ns = run.t0_ns;
    for (;;) {
        int finished = 0;
        for (int t = 0; t < o->threads; t++)
            finished += atomic_load(&threads[t].finished);
        if (finished == o->threads) break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = mono_ns();
        if (g_stop && !stop_ns) stop_ns = now;
        if (now - last_ns >= NS_PER_S && !o->quiet && !run.abort_run) {
            uint64_t done = 0, inflight = 0;
            for (int t = 0; t < o->threads; t++) {
                done += atomic_load_explicit(&threads[t].a_done, memory_order_relaxed);
                inflight += atomic_load_explicit(&threads[t].a_inflight, memory_order_relaxed);
            }
            fprintf(stderr, "loadgen: t=%.1fs %s=%" PRIu64 " rate=%.0f/s in_flight=%" PRIu64 "\n",
                    (double)(now - run.t0_ns) / 1e9,
                    o->mode == MODE_HTTP ? "responses" : (o->qos ? "acked" : "written"), done,
                    (double)(done - last_done) * 1e9 / (double)(now - last_ns), inflight);
            last_done = done;
            last_ns = now;
        }
    }
    for (int t = 0; t < o->threads; t++)
        pthread_join(threads[t].tid, NULL);

    static lg_totals tot;
    tot.window_min = UINT32_MAX;
    tot.all_drained = true;
    for (int t = 0; t < o->threads; t++) {
        lg_thread *th = &threads[t];
        tot.issued += th->issued;
        tot.done_total += th->done_total;
        tot.win_done += th->win_done;
        tot.win_points += th->win_points;
        tot.payload_bytes += th->payload_bytes;
        tot.connect_failures += th->connect_failures;
        tot.connack_refused += th->connack_refused;
        tot.conn_lost += th->conn_lost;
        tot.protocol_errors += th->protocol_errors;
        tot.puback_errors += th->puback_errors;
        tot.unexpected_acks += th->unexpected_acks;
        tot.non_2xx += th->non_2xx;
        tot.unacked += th->unacked;
        for (int s = 0; s < 600; s++)
            tot.status[s] += th->status[s];
        if (th->puback_errors && !tot.first_puback_reason)
            tot.first_puback_reason = th->first_puback_reason;
        if (th->window_min < tot.window_min) tot.window_min = th->window_min;
        if (th->end_ns > tot.end_ns) tot.end_ns = th->end_ns;
        if (!th->end_ns) tot.all_drained = false;
        tot.issued_at_mark += th->issued_at_mark;
        tot.mark_start_n += th->mark_start_n;
        tot.mark_end_n += th->mark_end_n;
        tot.mark_start_mean_s += (double)th->mark_start_sum / 1e9;
        tot.mark_end_mean_s += (double)th->mark_end_sum / 1e9;
        if (!tot.err && th->err[0]) tot.err = th->err;
        hist_merge(&tot.hist, &th->hist);
    }
    if (tot.mark_start_n) tot.mark_start_mean_s /= (double)tot.mark_start_n;
    if (tot.mark_end_n) tot.mark_end_mean_s /= (double)tot.mark_end_n;
    for (int i = 0; i < o->connections; i++)
        if (conns[i].gen.ts_ahead_max_ms > tot.ts_ahead_max_ms)
            tot.ts_ahead_max_ms = conns[i].gen.ts_ahead_max_ms;

    double window_s = 0;
    if (!run.abort_run) {
        if (o->messages) {
            window_s = tot.end_ns > run.t0_ns ? (double)(tot.end_ns - run.t0_ns) / 1e9 : 0;
        } else {
            int64_t end = run.win_end_ns;
            if (stop_ns && stop_ns < end) end = stop_ns;
            window_s = end > run.win_start_ns ? (double)(end - run.win_start_ns) / 1e9 : 0;
        }
    }
    report(&run, &tot, window_s);
    bool ok = !run.abort_run && tot.connect_failures + tot.connack_refused + tot.conn_lost +
                                        tot.protocol_errors + tot.puback_errors +
                                        tot.unexpected_acks + tot.non_2xx + tot.unacked ==
                                    0;
    if (!ok) fprintf(stderr, "loadgen: FAILED: %s\n", tot.err ? tot.err : "see counters");
    rc = ok ? 0 : 1;

    for (int i = 0; i < o->connections; i++)
        conn_free(&conns[i]);
    for (int t = 0; t < o->threads; t++) {
        free(threads[t].conns);
        free(threads[t].scratch.p);
    }
    free(threads);
    free(conns);
    free(run.creds);
    freeaddrinfo(run.addr);
    SSL_CTX_free(run.tls);
    pthread_barrier_destroy(&run.ready);
    pthread_barrier_destroy(&run.go);
    return rc;
}
