/* History for a new simulated fleet: before the simulator starts publishing live, it sends each
 * device's last `days` of telemetry through the server's own HTTP ingest (POST /api/v1/ingest
 * with the device's key: the same parsing, durable storage and detection as live data), so the
 * learning detectors have learned what normal looks like and the charts have history on a first
 * run. The device models are stepped through that time, so live data continues where the
 * history ends. Older history is one sample a minute (learning the daily and weekly shape costs
 * little), the last SIM_BACKFILL_FINE_MS at the live rate (detectors that follow the sequence
 * adapt to it). Runs on the simulator thread before its loop starts, over blocking keep-alive
 * connections (the loop thread serves the requests meanwhile), each device's from its own
 * source address as when live, so the source-address detector learns the addresses it will
 * see rather than the simulator's default one. */
#include "core/log.h"
#include "sim/sim_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIM_BACKFILL_COARSE_MS 60000           /* one sample a minute for older history */
#define SIM_BACKFILL_FINE_MS (2 * 3600000LL)   /* the last two hours at the live rate */
#define SIM_BACKFILL_CHUNK_MS (24 * 3600000LL) /* a request per device per day of history */
#define SIM_BACKFILL_BODY (2 * 1024 * 1024)    /* a request body's bound (2048 samples) */
#define SIM_BACKFILL_IO_TIMEOUT_MS 30000
/* Up to this many devices each keep their connection through the backfill; a larger fleet
 * (whose backfill takes long, so few connections per device a minute) reconnects per request,
 * to stay within the file descriptor limit. */
#define SIM_BACKFILL_KEEP_CONNS 256

typedef struct {
    struct sim *sm;
    int fd;     /* the current device's connection */
    int *fds;   /* per device, when kept (NULL otherwise) */
    char *body; /* request body being built */
    char resp[4096];
    uint64_t requests, samples, retries;
} backfill;

static int connect_server(const struct sim *sm, const sim_dev *d)
{
    const struct sockaddr *sa = (const struct sockaddr *)&sm->http_addr;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if ((sm->bind_sources && bind(fd, (const struct sockaddr *)&d->home, sizeof d->home) != 0) ||
        connect(fd, sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* False on a timeout, or as soon as the server asks the simulator to stop (it then joins this
 * thread on its loop thread, so an answer would never come). */
static bool wait_fd(backfill *b, short events)
{
    struct pollfd p = {.fd = b->fd, .events = events};
    for (int waited = 0; waited < SIM_BACKFILL_IO_TIMEOUT_MS; waited += 100) {
        if (atomic_load(&b->sm->stop_requested)) return false;
        int n = poll(&p, 1, 100);
        if (n == 1) return true;
        if (n < 0 && errno != EINTR) return false;
    }
    return false;
}

static int send_all(backfill *b, const char *buf, size_t len)
{
    int fd = b->fd;
    while (len) {
        if (!wait_fd(b, POLLOUT)) return -1;
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one response (status line, headers, Content-Length body); returns the status or -1. */
static int read_response(backfill *b)
{
    size_t got = 0;
    char *end = NULL;
    while (!(end = memmem(b->resp, got, "\r\n\r\n", 4))) {
        if (got == sizeof b->resp - 1 || !wait_fd(b, POLLIN)) return -1;
        ssize_t n = recv(b->fd, b->resp + got, sizeof b->resp - 1 - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    b->resp[got] = '\0';
    int status = 0;
    if (sscanf(b->resp, "HTTP/1.%*d %d", &status) != 1) return -1;
    const char *cl = strcasestr(b->resp, "\r\nContent-Length:");
    long body = cl ? strtol(cl + 17, NULL, 10) : 0;
    size_t have = got - (size_t)(end + 4 - b->resp);
    while ((long)have < body) { /* the body (a small JSON answer) is skipped */
        char sink[1024];
        if (!wait_fd(b, POLLIN)) return -1;
        ssize_t n = recv(b->fd, sink, sizeof sink, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    return status;
}

/* POSTs a JSON batch with the device's key; retries while the server pushes back (429/503). */
static int post_batch(struct sim *sm, backfill *b, const sim_dev *d, size_t len)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        if (b->fd < 0 && (b->fd = connect_server(sm, d)) < 0) return -1;
        char head[512];
        int hl = snprintf(head, sizeof head,
                          "POST /api/v1/ingest HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          sm->http_host, d->key, len);
        int status = -1;
        if (hl > 0 && (size_t)hl < sizeof head && send_all(b, head, (size_t)hl) == 0 &&
            send_all(b, b->body, len) == 0)
            status = read_response(b);
        b->requests++;
        if (status >= 200 && status < 300) return 0;
        if (atomic_load(&sm->stop_requested)) return -1;
        if (status == 429 || status == 503 || status < 0) { /* back-pressure, or a dropped link */
            if (status < 0) {
                close(b->fd);
                b->fd = -1;
            }
            b->retries++;
            usleep(200 * 1000);
            continue;
        }
        log_warn("sim_backfill_refused", "device=%s status=%d", d->id, status);
        return -1;
    }
    return -1;
}

int sim_backfill(struct sim *sm, int days)
{
    backfill b = {.sm = sm, .fd = -1, .body = malloc(SIM_BACKFILL_BODY)};
    int64_t *ts = malloc(sizeof *ts * 2048);
    sim_sample *s = malloc(sizeof *s * 2048);
    int64_t *next = malloc(sizeof *next * sm->ndev); /* each device's next sample time */
    if (sm->ndev <= SIM_BACKFILL_KEEP_CONNS && (b.fds = malloc(sizeof *b.fds * sm->ndev)))
        for (size_t i = 0; i < sm->ndev; i++)
            b.fds[i] = -1;
    if (!b.body || !ts || !s || !next) {
        free(b.fds);
        free(b.body);
        free(ts);
        free(s);
        free(next);
        return -1;
    }
    int64_t t0 = util_mono_ns(), to = util_now_ms();
    int64_t from = to - (int64_t)days * 86400000LL, fine = to - SIM_BACKFILL_FINE_MS;
    for (size_t i = 0; i < sm->ndev; i++)
        next[i] = from + (int64_t)(sim_rng_next(&sm->devs[i].rng) % 1000);
    int rc = 0;
    /* Rounds: the history up to the start, then the minutes that took (and so on, each round
     * shorter), so live data continues without a gap the detectors would see as one. */
    for (int round = 0; round < 5 && rc == 0; round++) {
        /* time-major: the whole fleet moves through history together, as it would have lived */
        for (int64_t at = from; at < to && rc == 0 && !atomic_load(&sm->stop_requested);
             at += SIM_BACKFILL_CHUNK_MS) {
            int64_t until = at + SIM_BACKFILL_CHUNK_MS < to ? at + SIM_BACKFILL_CHUNK_MS : to;
            for (size_t i = 0; i < sm->ndev && rc == 0; i++) {
                sim_dev *d = &sm->devs[i];
                b.fd = b.fds ? b.fds[i] : -1;
                size_t n = 0;
                for (int64_t t = next[i]; t < until; t = next[i]) {
                    sim_model_step(&d->model, t, &s[n]);
                    ts[n++] = t;
                    int64_t step = t < fine ? SIM_BACKFILL_COARSE_MS : SIM_INTERVAL_MS;
                    next[i] = t + step - step / 20 +
                              (int64_t)(sim_rng_next(&d->rng) % (uint64_t)(step / 10));
                    if (n < 2048 && next[i] < until) continue;
                    int len = sim_format_batch(b.body, SIM_BACKFILL_BODY, ts, s, n);
                    if (len < 0 || post_batch(sm, &b, d, (size_t)len) != 0) {
                        rc = -1;
                        break;
                    }
                    b.samples += n;
                    n = 0;
                }
                if (b.fds)
                    b.fds[i] = b.fd;
                else if (b.fd >= 0)
                    close(b.fd);
                b.fd = -1;
            }
        }
        if (atomic_load(&sm->stop_requested)) rc = -1;
        from = to;
        to = util_now_ms();
        if (to - from < 2 * SIM_INTERVAL_MS) break; /* close enough: live takes over */
    }
    for (size_t i = 0; b.fds && i < sm->ndev; i++)
        if (b.fds[i] >= 0) close(b.fds[i]);
    unsigned long long ms = (unsigned long long)((util_mono_ns() - t0) / 1000000);
    if (rc == 0)
        log_info("sim_backfilled",
                 "devices=%zu days=%d samples=%llu requests=%llu retries=%llu ms=%llu", sm->ndev,
                 days, (unsigned long long)b.samples, (unsigned long long)b.requests,
                 (unsigned long long)b.retries, ms);
    else /* the fleet goes live with what it sent */
        log_warn("sim_backfill_failed", "devices=%zu days=%d samples=%llu requests=%llu ms=%llu",
                 sm->ndev, days, (unsigned long long)b.samples, (unsigned long long)b.requests, ms);
    free(b.fds);
    free(b.body);
    free(ts);
    free(s);
    free(next);
    return rc;
}
