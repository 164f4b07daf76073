/* Security detectors (see security.h). */
#include "detect/security.h"

#include <math.h>
#include <string.h>

static const uint8_t burst_magic[4] = {'D', 'S', 'B', '1'};
static const uint8_t addr_magic[4] = {'D', 'S', 'A', '1'};

#define BURST_ALPHA 0.02
#define BURST_WARM 10u
#define RATIO_WARN 2.0     /* a count must be at least this many times the baseline to warn... */
#define RATIO_CRIT 5.0     /* ... and this many times to be critical */
#define ROAMING_DISTINCT 4 /* distinct addresses while learning that make a device "roaming" */

typedef struct {
    const char *metric;
    double min_count;      /* counts below this never alert */
    double q_warn, q_crit; /* tail probability bands */
} sec_def;

static const sec_def defs[DET_SEC_KIND_COUNT] = {
    [DET_SEC_AUTH_FAILURES] = {"sys.auth_failures", 5, 1e-4, 1e-8},
    [DET_SEC_CONNECTIONS] = {"sys.connects", 20, 1e-4, 1e-8},
    [DET_SEC_MESSAGES] = {"sys.messages", 50, 1e-5, 1e-9},
    [DET_SEC_ACL_VIOLATIONS] = {"sys.acl_violations", 1, 1e-3, 1e-6},
    [DET_SEC_NEW_ADDRESS] = {"sys.new_sources", 1, 1, 0},
    [DET_SEC_BAD_PAYLOADS] = {"sys.bad_payloads", 5, 1e-4, 1e-8},
};

int det_sec_kind_of(const char *metric, det_sec_kind *out)
{
    for (int i = 0; i < DET_SEC_KIND_COUNT; i++)
        if (strcmp(metric, defs[i].metric) == 0) {
            *out = (det_sec_kind)i;
            return 0;
        }
    return -1;
}

double det_poisson_tail(double k, double lambda)
{
    if (k <= 0) return 1.0;
    if (lambda <= 0) return 0.0;
    if (k > 200 || lambda > 100) { /* normal approximation with continuity correction */
        double z = (k - 0.5 - lambda) / sqrt(lambda);
        return 0.5 * erfc(z * M_SQRT1_2);
    }
    /* P(X >= k) = 1 - sum_{i<k} e^-l l^i / i! */
    double term = exp(-lambda), cdf = 0;
    int kk = (int)ceil(k);
    for (int i = 0; i < kk; i++) {
        cdf += term;
        term *= lambda / (i + 1);
    }
    double q = 1.0 - cdf;
    if (q < 1e-12) { /* cancellation: sum the tail directly */
        q = 0;
        for (int i = kk; i < kk + 200; i++) {
            q += term;
            term *= lambda / (i + 1);
            if (term < q * 1e-16) break;
        }
    }
    return q > 0 ? q : 0;
}

void det_burst_init(det_burst *b)
{
    memset(b, 0, sizeof *b);
}

void det_burst_update(det_burst *b, det_sec_kind kind, double count, det_sec_result *out)
{
    memset(out, 0, sizeof *out);
    out->q = 1.0;
    if ((unsigned)kind >= DET_SEC_KIND_COUNT || !isfinite(count) || count < 0) return;
    const sec_def *d = &defs[kind];
    /* a floor on the baseline: even a silent device may see an event now and then */
    double lambda = b->rate > 0.1 ? b->rate : 0.1;
    out->expected = b->rate;
    if (kind == DET_SEC_ACL_VIOLATIONS && count >= 1) out->level = DET_LEVEL_WARNING;
    if ((b->n >= BURST_WARM || kind == DET_SEC_ACL_VIOLATIONS) && count >= d->min_count) {
        out->q = det_poisson_tail(count, lambda);
        if (out->q <= d->q_crit && count >= RATIO_CRIT * lambda)
            out->level = DET_LEVEL_CRITICAL;
        else if (out->q <= d->q_warn && count >= RATIO_WARN * lambda &&
                 out->level < DET_LEVEL_WARNING)
            out->level = DET_LEVEL_WARNING;
    }
    if (b->n < UINT32_MAX) b->n++;
    double a = b->n < BURST_WARM ? 1.0 / b->n : BURST_ALPHA;
    /* an alerting interval is learned only a little, so a sustained attack keeps alerting */
    if (out->level >= DET_LEVEL_WARNING) a *= 0.1;
    b->rate += (float)(a * (count - b->rate));
}

void det_burst_update_at(det_burst *b, det_sec_kind kind, int64_t ts_ms, int64_t interval_ms,
                         double count, det_sec_result *out)
{
    if (b->last_ts > 0 && ts_ms > b->last_ts && interval_ms > 0) {
        /* intervals with nothing to report were not sent: learn their zeros first */
        int64_t skipped = (ts_ms - b->last_ts + interval_ms / 2) / interval_ms - 1;
        for (; skipped > 0 && b->n < BURST_WARM; skipped--) {
            b->n++;
            b->rate -= (float)(b->rate / b->n);
        }
        if (skipped > 0) {
            b->rate *= (float)pow(1.0 - BURST_ALPHA, (double)skipped);
            uint64_t n = (uint64_t)b->n + (uint64_t)skipped;
            b->n = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        }
    }
    if (ts_ms > b->last_ts) b->last_ts = ts_ms;
    det_burst_update(b, kind, count, out);
}

size_t det_burst_snapshot(const det_burst *b, uint8_t *out, size_t cap)
{
    if (cap < DET_BURST_SNAP_SIZE) return 0;
    memset(out, 0, DET_BURST_SNAP_SIZE);
    memcpy(out, burst_magic, 4);
    memcpy(out + 4, &b->n, 4);
    memcpy(out + 8, &b->rate, 4);
    memcpy(out + 16, &b->last_ts, 8);
    return DET_BURST_SNAP_SIZE;
}

int det_burst_restore(det_burst *b, const uint8_t *in, size_t len)
{
    det_burst_init(b);
    if (len != DET_BURST_SNAP_SIZE || memcmp(in, burst_magic, 4) != 0) return -1;
    det_burst t;
    memcpy(&t.n, in + 4, 4);
    memcpy(&t.rate, in + 8, 4);
    memcpy(&t.last_ts, in + 16, 8);
    if (!isfinite(t.rate) || t.rate < 0 || t.rate > 1e12f || t.last_ts < 0) return -1;
    *b = t;
    return 0;
}

void det_addrset_init(det_addrset *a)
{
    memset(a, 0, sizeof *a);
}

static uint32_t fingerprint(uint64_t h)
{
    uint32_t fp = (uint32_t)(det_mix64(h) >> 32);
    return fp ? fp : 1;
}

det_addr_verdict det_addrset_observe(det_addrset *a, uint64_t addr_hash, uint64_t net_hash,
                                     uint32_t learn)
{
    uint32_t fp = fingerprint(addr_hash), nfp = fingerprint(net_hash);
    if (a->seen < UINT32_MAX) a->seen++;
    int victim = 0, known_net = 0;
    for (int i = 0; i < DET_ADDR_SLOTS; i++) {
        if (a->addr[i] == fp) {
            a->age[i] = a->seen;
            return DET_ADDR_KNOWN;
        }
        if (a->addr[i] && a->net[i] == nfp) known_net = 1;
        if (a->addr[i] == 0 || (a->addr[victim] != 0 && a->age[i] < a->age[victim])) victim = i;
    }
    a->addr[victim] = fp;
    a->net[victim] = nfp;
    a->age[victim] = a->seen;
    if (a->seen <= learn) {
        if (a->distinct < UINT8_MAX) a->distinct++;
        if (a->distinct >= ROAMING_DISTINCT) a->roaming = 1;
        return DET_ADDR_KNOWN;
    }
    if (known_net) return a->roaming ? DET_ADDR_KNOWN : DET_ADDR_NEW_ADDRESS;
    return DET_ADDR_NEW_NETWORK;
}

int det_addrset_count(const det_addrset *a)
{
    int n = 0;
    for (int i = 0; i < DET_ADDR_SLOTS; i++)
        n += a->addr[i] != 0;
    return n;
}

size_t det_addrset_snapshot(const det_addrset *a, uint8_t *out, size_t cap)
{
    if (cap < DET_ADDRSET_SNAP_SIZE) return 0;
    memset(out, 0, 8);
    memcpy(out, addr_magic, 4);
    uint32_t size = (uint32_t)sizeof *a;
    memcpy(out + 4, &size, 4);
    memcpy(out + 8, a, sizeof *a);
    return DET_ADDRSET_SNAP_SIZE;
}

int det_addrset_restore(det_addrset *a, const uint8_t *in, size_t len)
{
    det_addrset_init(a);
    uint32_t size;
    if (len != DET_ADDRSET_SNAP_SIZE || memcmp(in, addr_magic, 4) != 0) return -1;
    memcpy(&size, in + 4, 4);
    if (size != sizeof *a) return -1;
    det_addrset t;
    memcpy(&t, in + 8, sizeof t);
    if (t.roaming > 1) return -1;
    *a = t;
    return 0;
}
