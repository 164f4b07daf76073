/* See workers.h. One mutex and condition variable guard a FIFO of tasks to run and a FIFO of
 * finished ones; a uv_async wakes the loop to call the done callbacks. */
#include "core/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct workers_task {
    struct workers_task *next;
    void (*work)(void *arg);
    void (*done)(void *arg);
    void *arg;
} workers_task;

struct workers {
    uv_loop_t *loop;
    uv_async_t async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    workers_task *todo, *todo_tail, *finished, *finished_tail;
    pthread_t *threads;
    unsigned n, started;
    int nice;
    bool stopping;
};

static void append(workers_task **head, workers_task **tail, workers_task *t)
{
    t->next = NULL;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void *worker_main(void *arg)
{
    workers *w = arg;
    /* Background work: below the event loop (and the writer) when the CPU is short. */
    if (w->nice) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w->nice);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        workers_task *t = w->todo;
        if (!t) break; /* stopping and nothing left */
        w->todo = t->next;
        if (!w->todo) w->todo_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        t->work(t->arg);
        pthread_mutex_lock(&w->mu);
        append(&w->finished, &w->finished_tail, t);
        uv_async_send(&w->async);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void run_finished(workers *w)
{
    pthread_mutex_lock(&w->mu);
    workers_task *t = w->finished;
    w->finished = w->finished_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (t) {
        workers_task *next = t->next;
        t->done(t->arg);
        free(t);
        t = next;
    }
}

static void on_async(uv_async_t *h)
{
    run_finished(h->data);
}

static void on_closed(uv_handle_t *h)
{
    workers *w = h->data;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->threads);
    free(w);
}

int workers_start(uv_loop_t *loop, unsigned n, int nice, workers **out)
{
    *out = NULL;
    if (n == 0) n = 1;
    workers *w = calloc(1, sizeof *w);
    if (!w || !(w->threads = calloc(n, sizeof *w->threads))) {
        free(w);
        return -1;
    }
    w->loop = loop;
    w->n = n;
    w->nice = nice;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    uv_async_init(loop, &w->async, on_async);
    w->async.data = w;
    for (; w->started < n; w->started++)
        if (pthread_create(&w->threads[w->started], NULL, worker_main, w) != 0) break;
    if (w->started == 0) {
        uv_close((uv_handle_t *)&w->async, on_closed);
        return -1;
    }
    *out = w;
    return 0;
}

int workers_submit(workers *w, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
    workers_task *t = malloc(sizeof *t);
    if (!t) return -1;
    *t = (workers_task){.work = work, .done = done, .arg = arg};
    pthread_mutex_lock(&w->mu);
    append(&w->todo, &w->todo_tail, t);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void workers_stop(workers *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->started; i++)
        pthread_join(w->threads[i], NULL);
    run_finished(w);
    uv_close((uv_handle_t *)&w->async, on_closed);
}
