/* A small pool of background threads for CPU work that must not run on the event loop (in the
 * manner of redis bio.c: the pool knows nothing of the work). The loop submits work(arg); a
 * thread runs it; done(arg) then runs on the loop thread, in completion order. */
#ifndef IOTAD_CORE_WORKERS_H
#define IOTAD_CORE_WORKERS_H

#include <uv.h>

typedef struct workers workers;

/* Starts n threads (n >= 1) at the given nice value (0: the process's; 1..19: yield the CPU
 * to the loop when it is short). 0 or -1. */
int workers_start(uv_loop_t *loop, unsigned n, int nice, workers **out);
/* Loop thread; never blocks. work runs on a pool thread and must touch only what arg owns;
 * done runs on the loop thread afterwards. 0, or -1 out of memory (neither runs). */
int workers_submit(workers *w, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Loop thread: runs every queued task to the end, calls the remaining done callbacks, joins
 * the threads and frees the pool (its async handle closes on the next loop iteration). */
void workers_stop(workers *w);

#endif
