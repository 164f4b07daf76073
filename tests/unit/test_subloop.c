/* The device loop (core/subloop.h): a second loop on the main loop's thread, run when its
 * descriptor is readable or a timer of its own is due, and from inside a main-loop burst
 * through subloop_yield; the main loop returns at stop only once the subloop is empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/subloop.h"

typedef struct {
    subloop *l;
    uv_pipe_t pipe; /* on the subloop: one end of a socket pair */
    int peer;       /* the other end, written by the test */
    uv_timer_t timer;
    uv_idle_t wake; /* on the main loop: see wake_main */
    int reads, timer_fired, depth, max_depth;
    bool in_burst, read_in_burst, write_again;
    char buf[64];
} fixture;

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    fixture *f = h->data;
    *buf = uv_buf_init(f->buf, sizeof f->buf);
}

static void wake_cb(uv_idle_t *w)
{
    uv_idle_stop(w);
}

/* A subloop callback ran: the main loop's UV_RUN_ONCE iteration returns instead of blocking.
 * The tests run the main loop once at a time until their condition holds; when the subloop's
 * last due work ran inside that iteration's prepare (the process was descheduled long enough
 * for the timer to be due at the first run), the main loop has nothing left to wait for and
 * its poll would block forever. A pending idle only makes the poll not block; it does not run
 * the subloop. */
static void wake_main(fixture *f)
{
    if (!uv_is_closing((uv_handle_t *)&f->wake)) uv_idle_start(&f->wake, wake_cb);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    fixture *f = s->data;
    if (nread <= 0) return;
    f->reads++;
    wake_main(f);
    if (f->in_burst) f->read_in_burst = true;
    if (++f->depth > f->max_depth) f->max_depth = f->depth;
    if (f->write_again) { /* more input now, then a yield from inside the subloop: not nested */
        f->write_again = false;
        assert_int_equal(write(f->peer, "y", 1), 1);
        subloop_yield(f->l);
    }
    f->depth--;
}

static void sub_timer_cb(uv_timer_t *t)
{
    fixture *f = t->data;
    f->timer_fired++;
    wake_main(f);
}

static void fixture_open(fixture *f, uv_loop_t *main, unsigned yield_us)
{
    assert_int_equal(subloop_start(main, yield_us, &f->l), 0);
    uv_loop_t *sub = subloop_loop(f->l);
    assert_ptr_not_equal(sub, main);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->peer = sv[1];
    assert_int_equal(uv_pipe_init(sub, &f->pipe, 0), 0);
    assert_int_equal(uv_pipe_open(&f->pipe, sv[0]), 0);
    f->pipe.data = f->timer.data = f;
    assert_int_equal(uv_read_start((uv_stream_t *)&f->pipe, alloc_cb, read_cb), 0);
    uv_timer_init(sub, &f->timer);
    uv_idle_init(main, &f->wake);
}

static void fixture_close(fixture *f, uv_loop_t *main)
{
    uv_close((uv_handle_t *)&f->wake, NULL);
    uv_close((uv_handle_t *)&f->pipe, NULL);
    uv_close((uv_handle_t *)&f->timer, NULL);
    close(f->peer);
    subloop_stop(f->l);
    assert_int_equal(uv_run(main, UV_RUN_DEFAULT), 0); /* returns: nothing left on either */
    subloop_free(f->l);
    assert_int_equal(uv_loop_close(main), 0);
}

static void test_subloop_io_and_timers_run_from_the_main_loop(void **state)
{
    (void)state;
    uv_loop_t main;
    uv_loop_init(&main);
    fixture f = {0};
    fixture_open(&f, &main, 1000);
    uv_timer_start(&f.timer, sub_timer_cb, 20, 0);
    assert_int_equal(write(f.peer, "x", 1), 1);
    for (int i = 0; i < 1000 && (f.reads == 0 || f.timer_fired == 0); i++)
        uv_run(&main, UV_RUN_ONCE); /* blocks until something is due: the loop is the clock */
    assert_int_equal(f.reads, 1);
    assert_int_equal(f.timer_fired, 1);
    fixture_close(&f, &main);
}

typedef struct {
    fixture *f;
    long steps;
} burst;

/* A main-loop callback that works through a long burst (thousands of connections' reads),
 * yielding between items as http_server does. */
static void burst_cb(uv_timer_t *t)
{
    burst *b = t->data;
    fixture *f = b->f;
    f->in_burst = true;
    assert_int_equal(write(f->peer, "x", 1), 1); /* a device's packet arrives mid-burst */
    for (b->steps = 0; b->steps < 100000000 && !f->read_in_burst; b->steps++)
        subloop_yield(f->l);
    f->in_burst = false;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_a_burst_on_the_main_loop_yields_to_the_subloop(void **state)
{
    (void)state;
    uv_loop_t main;
    uv_loop_init(&main);
    fixture f = {0};
    fixture_open(&f, &main, 1); /* 1 us: every yield runs it, so the test needs no clock */
    f.write_again = true;
    burst b = {&f, 0};
    uv_timer_t t;
    uv_timer_init(&main, &t);
    t.data = &b;
    uv_timer_start(&t, burst_cb, 0, 0);
    uv_run(&main, UV_RUN_ONCE);
    /* the packet was read inside the burst, not after it */
    assert_true(f.read_in_burst);
    /* a yield from a subloop callback does not run the subloop inside itself; the second
     * byte is read by a later run */
    assert_int_equal(f.max_depth, 1);
    for (int i = 0; i < 1000 && f.reads < 2; i++)
        uv_run(&main, UV_RUN_ONCE);
    assert_int_equal(f.reads, 2);
    assert_int_equal(f.max_depth, 1);
    subloop_stats st;
    subloop_get_stats(f.l, &st);
    assert_true(st.yields >= 1);
    assert_true(st.runs >= st.yields);
    fixture_close(&f, &main);
}

static void close_on_timer(uv_timer_t *t)
{
    fixture *f = t->data;
    f->timer_fired++;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_the_main_loop_returns_only_once_the_subloop_is_empty(void **state)
{
    (void)state;
    uv_loop_t main;
    uv_loop_init(&main);
    fixture f = {0};
    fixture_open(&f, &main, 1000);
    uv_close((uv_handle_t *)&f.wake, NULL);
    uv_close((uv_handle_t *)&f.pipe, NULL);
    close(f.peer);
    /* a handle that lingers on the subloop after stop (an MQTT connection's close) */
    uv_timer_start(&f.timer, close_on_timer, 30, 0);
    subloop_stop(f.l);
    assert_int_equal(uv_run(&main, UV_RUN_DEFAULT), 0);
    assert_int_equal(f.timer_fired, 1);
    subloop_free(f.l);
    assert_int_equal(uv_loop_close(&main), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subloop_io_and_timers_run_from_the_main_loop),
        cmocka_unit_test(test_a_burst_on_the_main_loop_yields_to_the_subloop),
        cmocka_unit_test(test_the_main_loop_returns_only_once_the_subloop_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
