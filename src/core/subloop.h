/* A second event loop, run on the main loop's thread and served first.
 *
 * libuv handles every event epoll reports in the order the kernel queued them: when thousands
 * of connections become readable at once (10,000 slow-header clients each sending a line, or
 * reconnecting after their deadline), an event queued behind them (an MQTT PUBLISH, the
 * writer's "committed" signal that releases the PUBACKs) waits until every one of them has
 * been read. Handles on a subloop sit in an epoll set of their own: the main loop watches that
 * set's descriptor (uv_backend_fd) and runs the subloop when it is readable or one of its
 * timers is due, and code that handles bursts on the main loop calls subloop_yield(), which
 * runs the subloop when it has not run for yield_us. Both loops run on one thread, so their
 * callbacks never run at the same time and what they share needs no lock; a subloop callback
 * may run inside a main-loop callback that yields, so a yield point must be a place where the
 * caller's state is consistent (between connections, not inside one). */
#ifndef IOTAD_CORE_SUBLOOP_H
#define IOTAD_CORE_SUBLOOP_H

#include <stdint.h>
#include <uv.h>

typedef struct subloop subloop;

typedef struct {
    uint64_t runs;   /* subloop runs (any cause) */
    uint64_t yields; /* of them, from subloop_yield inside a main-loop burst */
} subloop_stats;

/* 0, or -1 (nothing created). yield_us: the longest a burst on the main loop holds the subloop
 * back (0: 1000). */
int subloop_start(uv_loop_t *main, unsigned yield_us, subloop **out);
uv_loop_t *subloop_loop(subloop *l);
/* Runs the subloop if it has not run for yield_us (a hook: arg is the subloop, may be NULL).
 * Never nests: a yield from inside a subloop callback does nothing. */
void subloop_yield(void *l);
void subloop_get_stats(const subloop *l, subloop_stats *out);
/* From now on the main loop's own handles for the subloop close as soon as the subloop has no
 * handle left, so the main loop can return (close the subloop's handles first or after). */
void subloop_stop(subloop *l);
/* After the main loop has returned: runs what is left on the subloop and frees it. */
void subloop_free(subloop *l);

#endif
