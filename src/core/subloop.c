/* See subloop.h. */
#include "core/subloop.h"

#include "core/log.h"

#include <stdbool.h>
#include <stdlib.h>

struct subloop {
    uv_loop_t loop;
    uv_poll_t poll;       /* main loop: the subloop's epoll descriptor is readable */
    uv_timer_t timer;     /* main loop: the subloop's next timer (or pending work) is due */
    uv_prepare_t prepare; /* main loop: before each poll, what main-loop callbacks gave it */
    uint64_t yield_ns, last_ns;
    bool running, stopping, own_closed;
    int own_open; /* poll, timer and prepare, until their close callbacks ran */
    subloop_stats st;
};

static void on_own_closed(uv_handle_t *h)
{
    ((subloop *)h->data)->own_open--;
}

static void on_timer(uv_timer_t *t);

/* After a run: wake up again when the subloop's next timer is due (at once when it has work
 * pending, idle handles or handles closing), or stop watching once it is stopped and empty. */
static void rearm(subloop *l)
{
    if (l->own_closed) return;
    if (!uv_loop_alive(&l->loop)) {
        uv_timer_stop(&l->timer);
        if (l->stopping) {
            l->own_closed = true;
            uv_close((uv_handle_t *)&l->poll, on_own_closed);
            uv_close((uv_handle_t *)&l->timer, on_own_closed);
            uv_close((uv_handle_t *)&l->prepare, on_own_closed);
        }
        return;
    }
    int timeout = uv_backend_timeout(&l->loop);
    if (timeout < 0)
        uv_timer_stop(&l->timer);
    else
        uv_timer_start(&l->timer, on_timer, (uint64_t)timeout, 0);
}

static void run(subloop *l)
{
    if (l->running) return;
    l->running = true;
    l->st.runs++;
    /* a PUBACK queued by a completion is flushed by an idle handle in the next iteration:
     * a few iterations while the subloop says it has work ready now */
    for (int i = 0; i < 4; i++) {
        uv_run(&l->loop, UV_RUN_NOWAIT);
        if (!uv_loop_alive(&l->loop) || uv_backend_timeout(&l->loop) != 0) break;
    }
    l->running = false;
    l->last_ns = uv_hrtime();
    rearm(l);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

/* Once per main-loop iteration, before it blocks: main-loop callbacks may have given the
 * subloop work that neither its descriptor nor its timers show (libuv adds a new watcher to the
 * epoll set, and learns of a new timer, only when the subloop runs; a PUBACK queued, a
 * connection closed by the API). One run is an epoll_wait with a zero timeout. */
static void on_prepare(uv_prepare_t *p)
{
    subloop *l = p->data;
    if (!l->running && uv_loop_alive(&l->loop)) run(l);
}

int subloop_start(uv_loop_t *main, unsigned yield_us, subloop **out)
{
    *out = NULL;
    subloop *l = calloc(1, sizeof *l);
    if (!l) return -1;
    if (uv_loop_init(&l->loop) != 0) {
        free(l);
        return -1;
    }
    l->yield_ns = (uint64_t)(yield_us ? yield_us : 1000) * 1000;
    int rc = uv_poll_init(main, &l->poll, uv_backend_fd(&l->loop));
    if (rc != 0) {
        log_error("subloop_failed", "err=\"%s\"", uv_strerror(rc));
        uv_loop_close(&l->loop);
        free(l);
        return -1;
    }
    uv_timer_init(main, &l->timer);
    uv_prepare_init(main, &l->prepare);
    l->poll.data = l->timer.data = l->prepare.data = l;
    l->own_open = 3;
    uv_poll_start(&l->poll, UV_READABLE, on_poll);
    uv_prepare_start(&l->prepare, on_prepare);
    uv_unref((uv_handle_t *)&l->prepare); /* the poll keeps the main loop alive */
    l->last_ns = uv_hrtime();
    *out = l;
    return 0;
}

uv_loop_t *subloop_loop(subloop *l)
{
    return &l->loop;
}

void subloop_yield(void *arg)
{
    subloop *l = arg;
    if (!l || l->running || l->own_closed) return;
    if (uv_hrtime() - l->last_ns < l->yield_ns) return;
    l->st.yields++;
    run(l);
}

void subloop_get_stats(const subloop *l, subloop_stats *out)
{
    *out = l ? l->st : (subloop_stats){0};
}

void subloop_stop(subloop *l)
{
    if (!l || l->stopping) return;
    l->stopping = true;
    if (!l->running) rearm(l); /* at once if it has nothing left, else after its next run */
}

void subloop_free(subloop *l)
{
    if (!l) return;
    uv_run(&l->loop, UV_RUN_NOWAIT); /* close callbacks of handles closed last */
    int rc = uv_loop_close(&l->loop);
    if (rc != 0) log_warn("subloop_close_failed", "err=\"%s\"", uv_strerror(rc));
    if (l->own_open > 0 && !l->own_closed) {
        /* the main loop never ran its close: it is gone, and these handles with it */
        log_warn("subloop_not_stopped", "%s", "");
    }
    free(l);
}
