/* Security detectors (see security.h). */
#include "detect/security.h"

#include <math.h>
#include <string.h>

#define BURST_ALPHA 0.02
#define BURST_WARM 10u

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
    [DET_SEC_NEW_ADDRESS] = {"sys.source_address", 1, 1, 0},
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
        if (out->q <= d->q_crit)
            out->level = DET_LEVEL_CRITICAL;
        else if (out->q <= d->q_warn && out->level < DET_LEVEL_WARNING)
            out->level = DET_LEVEL_WARNING;
    }
    b->n++;
    double a = b->n < BURST_WARM ? 1.0 / b->n : BURST_ALPHA;
    /* an alerting interval is learned only a little, so a sustained attack keeps alerting */
    if (out->level >= DET_LEVEL_WARNING) a *= 0.1;
    b->rate += (float)(a * (count - b->rate));
}

void det_addrset_init(det_addrset *a)
{
    memset(a, 0, sizeof *a);
}

int det_addrset_observe(det_addrset *a, uint64_t addr_hash, uint32_t learn)
{
    uint32_t fp = (uint32_t)(det_mix64(addr_hash) >> 32);
    if (fp == 0) fp = 1;
    a->seen++;
    int victim = 0;
    for (int i = 0; i < DET_ADDR_SLOTS; i++) {
        if (a->fp[i] == fp) {
            a->age[i] = a->seen;
            return 0;
        }
        if (a->fp[i] == 0 || (a->fp[victim] != 0 && a->age[i] < a->age[victim])) victim = i;
    }
    a->fp[victim] = fp;
    a->age[victim] = a->seen;
    return a->seen > learn ? 1 : 0;
}
