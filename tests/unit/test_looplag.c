/* Event-loop lag (core/looplag.h): a loop held by a long callback shows the wait in the
 * histogram and its recent maximum; the timer keeps counting and never keeps the loop alive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "core/looplag.h"

typedef struct {
    looplag *lag;
    uv_timer_t blocker, end;
    int blocked;
} fixture;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Holds the loop for 100 ms: the lag timer, due 10 ms after the start, runs at least 90 ms
 * late (a lower bound the sleep guarantees, whatever the machine's load). */
static void on_blocker(uv_timer_t *t)
{
    fixture *f = t->data;
    f->blocked++;
    sleep_ms(100);
}

static void on_end(uv_timer_t *t)
{
    fixture *f = t->data;
    looplag_stats st;
    looplag_get_stats(f->lag, &st);
    if (st.count < 5) return; /* repeats until a few samples after the block */
    uv_timer_stop(&f->end);
    uv_close((uv_handle_t *)&f->end, NULL);
    uv_close((uv_handle_t *)&f->blocker, NULL);
}

static void test_a_blocked_loop_is_measured(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    fixture f = {0};
    assert_int_equal(looplag_start(&loop, 10, &f.lag), 0);
    uv_timer_init(&loop, &f.blocker);
    uv_timer_init(&loop, &f.end);
    f.blocker.data = f.end.data = &f;
    uv_timer_start(&f.blocker, on_blocker, 0, 0);
    uv_timer_start(&f.end, on_end, 20, 20);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once end and blocker are closed: the lag timer
                                    * does not keep the loop alive */
    assert_int_equal(f.blocked, 1);
    looplag_stats st;
    looplag_get_stats(f.lag, &st);
    assert_true(st.count >= 5);
    assert_true(st.max_ns >= 90000000ull);
    assert_true(st.sum_ns >= st.max_ns);
    uint64_t total = 0, from_50ms = 0;
    for (int b = 0; b <= LOOPLAG_BUCKETS; b++) {
        total += st.buckets[b];
        if (b == LOOPLAG_BUCKETS || looplag_bounds_s[b] > 0.05) from_50ms += st.buckets[b];
    }
    assert_int_equal(total, st.count);
    assert_true(from_50ms >= 1); /* the late sample is in a bucket above 50 ms */
    looplag_stop(f.lag);
    uv_run(&loop, UV_RUN_DEFAULT); /* its close callback frees it */
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_no_measurement_reads_as_zeros(void **state)
{
    (void)state;
    looplag_stats st;
    looplag_get_stats(NULL, &st);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.max_ns, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_blocked_loop_is_measured),
        cmocka_unit_test(test_no_measurement_reads_as_zeros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
