/* Connection admission shared by every listener (HTTP and MQTT): at most per_address
 * connections from one source address, and one file-descriptor budget for all of them, of
 * which the last `reserve` are kept for HTTP (the API and the dashboard) so that a flood of
 * device connections cannot lock operators out. A listener asks on accept and tells on close;
 * a refused connection is closed at once. Loop thread only. */
#ifndef IOTAD_CORE_CONNLIMIT_H
#define IOTAD_CORE_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct connlimit connlimit;

typedef enum { CONNLIM_HTTP, CONNLIM_MQTT, CONNLIM_CLASSES } connlim_class;

typedef enum {
    CONNLIM_OK = 0,
    CONNLIM_PER_ADDRESS, /* the address has per_address connections already */
    CONNLIM_BUDGET,      /* the descriptor budget (for this class) is used up */
    CONNLIM_REASONS
} connlim_result;

typedef struct {
    unsigned per_address; /* 0: no per-address limit */
    unsigned budget;      /* connections of every listener together; 0: no limit */
    unsigned reserve;     /* of the budget, kept for CONNLIM_HTTP */
} connlimit_options;

typedef struct {
    uint64_t current[CONNLIM_CLASSES];
    uint64_t refused[CONNLIM_CLASSES][CONNLIM_REASONS]; /* [..][CONNLIM_OK] unused */
    uint64_t addresses;                                 /* distinct addresses connected now */
} connlimit_stats;

/* Caller owns the result (connlimit_free). NULL on allocation failure. */
connlimit *connlimit_new(const connlimit_options *opt);
void connlimit_free(connlimit *l);
/* addr: the peer's address without the port ("10.0.0.7", "::1"). On CONNLIM_OK the
 * connection counts until connlimit_release with the same arguments. */
connlim_result connlimit_acquire(connlimit *l, connlim_class cls, const char *addr);
void connlimit_release(connlimit *l, connlim_class cls, const char *addr);
void connlimit_get_stats(const connlimit *l, connlimit_stats *out);
const char *connlimit_reason_name(connlim_result r); /* "per_address", "fd_budget" */

/* The budget for this process: RLIMIT_NOFILE's soft limit, first raised to the hard one,
 * less `reserve_fds` descriptors kept for the database, logs and outgoing connections. */
unsigned connlimit_fd_budget(unsigned reserve_fds);

#endif
