/* Worker pool: work runs off the loop thread, done on it, and stop finishes everything queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include "core/workers.h"

typedef struct {
    pthread_t loop_thread, ran_on;
    int value, result;
    int *done_count;
} square_task;

static void square_work(void *arg)
{
    square_task *s = arg;
    s->ran_on = pthread_self();
    s->result = s->value * s->value;
}

static void square_done(void *arg)
{
    square_task *s = arg;
    assert_true(pthread_equal(pthread_self(), s->loop_thread));
    assert_false(pthread_equal(s->ran_on, s->loop_thread));
    assert_int_equal(s->result, s->value * s->value);
    (*s->done_count)++;
}

static void test_tasks_run_off_the_loop_and_complete_on_it(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    workers *w;
    assert_int_equal(workers_start(&loop, 3, 5, &w), 0);
    enum { N = 200 };
    square_task *tasks = calloc(N, sizeof *tasks);
    int done = 0;
    for (int i = 0; i < N; i++) {
        tasks[i] = (square_task){.loop_thread = pthread_self(), .value = i, .done_count = &done};
        assert_int_equal(workers_submit(w, square_work, square_done, &tasks[i]), 0);
    }
    while (done < N / 2)
        uv_run(&loop, UV_RUN_ONCE);
    workers_stop(w); /* the rest completes here */
    assert_int_equal(done, N);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    free(tasks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_run_off_the_loop_and_complete_on_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
