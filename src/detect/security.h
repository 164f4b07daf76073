/* Security detectors for iotad's own sys.* telemetry (per device, per interval): bursts of auth
 * failures, connection floods and message-rate spikes are counts per interval scored against an
 * EW Poisson baseline (tail probability of the count, with a minimum count so that 3 failures
 * after a quiet week is not a "burst"); new source addresses are checked against a small
 * fingerprint set learned online; ACL violations are unexpected at any rate, so any violation
 * warns and a burst of them is critical. Fixed memory, no allocation. */
#ifndef IOTAD_DETECT_SECURITY_H
#define IOTAD_DETECT_SECURITY_H

#include "detect/series.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DET_SEC_AUTH_FAILURES = 0, /* sys.auth_failures */
    DET_SEC_CONNECTIONS,       /* sys.connects */
    DET_SEC_MESSAGES,          /* sys.messages */
    DET_SEC_ACL_VIOLATIONS,    /* sys.acl_violations */
    DET_SEC_NEW_ADDRESS,       /* sys.source_address (value = hash of the address) */
    DET_SEC_KIND_COUNT
} det_sec_kind;

typedef struct {
    uint32_t n;
    float rate; /* EW mean count per interval */
} det_burst;

typedef struct {
    det_level level; /* NONE if nothing unusual */
    double q;        /* tail probability of the count under the baseline (1 if not computed) */
    double expected; /* baseline count per interval */
} det_sec_result;

#define DET_ADDR_SLOTS 32
typedef struct {
    uint32_t seen;               /* observations so far */
    uint32_t fp[DET_ADDR_SLOTS]; /* address fingerprints (0 = empty) */
    uint32_t age[DET_ADDR_SLOTS];
} det_addrset;

/* Maps a sys.* metric name to its detector; -1 if it is not a security metric. */
int det_sec_kind_of(const char *metric, det_sec_kind *out);

void det_burst_init(det_burst *b);
/* count: events in the last interval (>= 0). Learns and scores it. */
void det_burst_update(det_burst *b, det_sec_kind kind, double count, det_sec_result *out);

void det_addrset_init(det_addrset *a);
/* addr_hash: any 64-bit hash of the source address. Returns 1 if the address is new after the
 * learning period (the first `learn` observations), 0 otherwise; remembers it either way
 * (evicting the least recently seen fingerprint when full). */
int det_addrset_observe(det_addrset *a, uint64_t addr_hash, uint32_t learn);

/* Poisson upper tail P(X >= k) for mean lambda (exact sum for small k, normal beyond). */
double det_poisson_tail(double k, double lambda);

#endif
