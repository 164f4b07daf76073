/* See looplag.h. */
#include "core/looplag.h"

#include <stdlib.h>

const double looplag_bounds_s[LOOPLAG_BUCKETS] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                  0.1,   0.25,  0.5,   1,    2.5};

#define MAX_WINDOW_NS (30ull * 1000000000ull) /* max_ns: this window's and the previous one's */

struct looplag {
    uv_timer_t timer;
    uint64_t period_ms;
    uint64_t due_ns; /* when the timer is due, on the loop's clock (ms, as libuv keeps it) */
    uint64_t window_start_ns, max_cur_ns, max_prev_ns;
    looplag_stats st;
};

static void on_timer(uv_timer_t *t)
{
    looplag *l = t->data;
    uint64_t now = uv_hrtime();
    uint64_t late = now > l->due_ns ? now - l->due_ns : 0;
    int b = 0;
    while (b < LOOPLAG_BUCKETS && (double)late > looplag_bounds_s[b] * 1e9)
        b++;
    l->st.buckets[b]++;
    l->st.count++;
    l->st.sum_ns += late;
    if (now - l->window_start_ns >= MAX_WINDOW_NS) {
        l->max_prev_ns = l->max_cur_ns;
        l->max_cur_ns = 0;
        l->window_start_ns = now;
    }
    if (late > l->max_cur_ns) l->max_cur_ns = late;
    /* libuv fires a timer once the loop's clock (ms, read at the start of an iteration) has
     * reached its due time: the next one is due period_ms after that clock */
    l->due_ns = (uv_now(t->loop) + l->period_ms) * 1000000ull;
    uv_timer_start(t, on_timer, l->period_ms, 0);
}

int looplag_start(uv_loop_t *loop, unsigned period_ms, looplag **out)
{
    *out = NULL;
    looplag *l = calloc(1, sizeof *l);
    if (!l) return UV_ENOMEM;
    int rc = uv_timer_init(loop, &l->timer);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->timer.data = l;
    l->period_ms = period_ms ? period_ms : 100;
    l->window_start_ns = uv_hrtime();
    l->due_ns = (uv_now(loop) + l->period_ms) * 1000000ull;
    uv_timer_start(&l->timer, on_timer, l->period_ms, 0);
    uv_unref((uv_handle_t *)&l->timer);
    *out = l;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void looplag_stop(looplag *l)
{
    if (l) uv_close((uv_handle_t *)&l->timer, on_closed);
}

void looplag_get_stats(const looplag *l, looplag_stats *out)
{
    if (!l) {
        *out = (looplag_stats){0};
        return;
    }
    *out = l->st;
    out->max_ns = l->max_cur_ns > l->max_prev_ns ? l->max_cur_ns : l->max_prev_ns;
}
