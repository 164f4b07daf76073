/* Minimal server for load tests of the HTTP layer: answers every request with a 13-byte
 * text body on one loop thread. Usage: bench_http_hello [addr:port] [seconds]
 * (default 127.0.0.1:8089, run until SIGINT/SIGTERM). Prints one JSON line when listening and
 * one with the server's counters when it stops; drive it with e.g.
 *   wrk -t2 -c64 -d10s http://127.0.0.1:8089/ */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "http/http_server.h"

typedef struct {
    http_server *srv;
    uv_signal_t sigint, sigterm;
    uv_timer_t deadline;
} bench;

static void on_request(void *ud, http_conn *c, const http_request *req)
{
    (void)ud;
    (void)req;
    http_respond(c, 200, "text/plain", NULL, "Hello, World!", 13);
}

static void stop(bench *b)
{
    if (!b->srv) return;
    http_server_stats st;
    http_server_get_stats(b->srv, &st);
    printf("{\"event\":\"stopped\",\"requests\":%llu,\"connections_total\":%llu,"
           "\"bytes_in\":%llu,\"bytes_out\":%llu,\"responses_4xx\":%llu}\n",
           (unsigned long long)st.requests, (unsigned long long)st.connections_total,
           (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
           (unsigned long long)st.responses_4xx);
    fflush(stdout);
    http_server_stop(b->srv, NULL, NULL);
    b->srv = NULL;
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->deadline, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    stop(h->data);
}

static void on_deadline(uv_timer_t *t)
{
    stop(t->data);
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:8089";
    long seconds = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    log_set_level(LOG_WARN);
    uv_loop_t *loop = uv_default_loop();
    bench b = {0};
    static const http_callbacks cb = {on_request, NULL};
    http_server_options opt = {.max_connections = 20000};
    if (http_server_start(loop, addr, &opt, &cb, &b, &b.srv) != 0) return 1;
    uv_signal_init(loop, &b.sigint);
    uv_signal_init(loop, &b.sigterm);
    uv_timer_init(loop, &b.deadline);
    b.sigint.data = b.sigterm.data = b.deadline.data = &b;
    uv_signal_start(&b.sigint, on_signal, SIGINT);
    uv_signal_start(&b.sigterm, on_signal, SIGTERM);
    if (seconds > 0) uv_timer_start(&b.deadline, on_deadline, (uint64_t)seconds * 1000, 0);
    printf("{\"event\":\"listening\",\"port\":%d}\n", http_server_port(b.srv));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
