/* Security detectors for iotad's own sys.* telemetry (per device, per DET_SEC_INTERVAL_MS
 * interval): bursts of auth failures, connection floods, message-rate spikes and malformed
 * payloads are counts per interval scored against an EW Poisson baseline (tail probability of
 * the count, with a minimum count so that 3 failures after a quiet week is not a "burst", and a
 * minimum ratio to the baseline so that severity follows how far the count is from normal, not
 * only how improbable it is); ACL violations are unexpected at any rate, so any violation warns
 * and a burst of them is critical. The baseline is per unit time: intervals in which nothing
 * happened are not stored as points (a silent device costs nothing), and the next count first
 * learns the zeros it skipped. New source addresses are checked against a small set of address
 * and network fingerprints learned online. Fixed memory (16 and 104 bytes), no allocation. */
#ifndef IOTAD_DETECT_SECURITY_H
#define IOTAD_DETECT_SECURITY_H

#include "detect/series.h"

#include <stddef.h>
#include <stdint.h>

#define DET_SEC_INTERVAL_MS 10000 /* the sys.* counters' default interval (sys_interval_s) */

typedef enum {
    DET_SEC_AUTH_FAILURES = 0, /* sys.auth_failures */
    DET_SEC_CONNECTIONS,       /* sys.connects */
    DET_SEC_MESSAGES,          /* sys.messages */
    DET_SEC_ACL_VIOLATIONS,    /* sys.acl_violations */
    DET_SEC_NEW_ADDRESS,       /* sys.new_sources (judged where the address is known) */
    DET_SEC_BAD_PAYLOADS,      /* sys.bad_payloads */
    DET_SEC_KIND_COUNT
} det_sec_kind;

typedef struct {
    uint32_t n;      /* intervals learned */
    float rate;      /* EW mean count per interval */
    int64_t last_ts; /* end of the last interval learned (0: none yet) */
} det_burst;

typedef struct {
    det_level level; /* NONE if nothing unusual */
    double q;        /* tail probability of the count under the baseline (1 if not computed) */
    double expected; /* baseline count per interval */
} det_sec_result;

/* Maps a sys.* metric name to its detector; -1 if it is not a security metric. */
int det_sec_kind_of(const char *metric, det_sec_kind *out);

void det_burst_init(det_burst *b);
/* count: events in one interval (>= 0). Learns and scores it. */
void det_burst_update(det_burst *b, det_sec_kind kind, double count, det_sec_result *out);
/* The same for the interval (interval_ms long) ending at ts_ms, after learning the zero counts
 * of the intervals skipped since the previous call (a late or repeated ts skips nothing). */
void det_burst_update_at(det_burst *b, det_sec_kind kind, int64_t ts_ms, int64_t interval_ms,
                         double count, det_sec_result *out);
#define DET_BURST_SNAP_SIZE 24
/* Plain versioned copy of the state; restore returns 0, or -1 (and a fresh state) if the bytes
 * are not a valid burst snapshot. */
size_t det_burst_snapshot(const det_burst *b, uint8_t *out, size_t cap);
int det_burst_restore(det_burst *b, const uint8_t *in, size_t len);

/* Source addresses of one device: fingerprints of the address and of its network (IPv4 /24,
 * IPv6 /64), least recently seen evicted. A device that used many addresses while learning
 * (DHCP pools, mobile networks) is "roaming": a new address in a known network is normal for
 * it, and a new network only informational. */
#define DET_ADDR_SLOTS 8
typedef struct {
    uint32_t seen;    /* observations so far */
    uint8_t distinct; /* distinct addresses while learning (saturating) */
    uint8_t roaming;  /* decided at the end of learning */
    uint8_t pad[2];
    uint32_t addr[DET_ADDR_SLOTS]; /* 0 = empty */
    uint32_t net[DET_ADDR_SLOTS];
    uint32_t age[DET_ADDR_SLOTS]; /* `seen` at the last observation */
} det_addrset;

typedef enum {
    DET_ADDR_KNOWN = 0,   /* seen before (or learning, or a roaming device's usual network) */
    DET_ADDR_NEW_ADDRESS, /* a new address in a network the device used before */
    DET_ADDR_NEW_NETWORK, /* an address in a network never seen for this device */
} det_addr_verdict;

void det_addrset_init(det_addrset *a);
/* Observes one connection or message from an address (hashes of the address and of its
 * network). The first `learn` observations only learn. Returns the verdict and remembers the
 * address either way. */
det_addr_verdict det_addrset_observe(det_addrset *a, uint64_t addr_hash, uint64_t net_hash,
                                     uint32_t learn);
/* Addresses remembered (for explanations). */
int det_addrset_count(const det_addrset *a);
#define DET_ADDRSET_SNAP_SIZE (8 + sizeof(det_addrset))
size_t det_addrset_snapshot(const det_addrset *a, uint8_t *out, size_t cap);
int det_addrset_restore(det_addrset *a, const uint8_t *in, size_t len);

/* Poisson upper tail P(X >= k) for mean lambda (exact sum for small k, normal beyond). */
double det_poisson_tail(double k, double lambda);

#endif
