/* Population detectors (see population.h). Medians by quickselect on the caller's scratch
 * copy. */
#include "detect/population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

static double median_inplace(double *a, size_t n)
{
    double m = select_kth(a, n, n / 2);
    if (n % 2 == 0) m = 0.5 * (m + select_kth(a, n, n / 2 - 1));
    return m;
}

double det_peer_median(const double *x, size_t n, double *scratch)
{
    memcpy(scratch, x, n * sizeof *x);
    return median_inplace(scratch, n);
}

/* Median and 1.4826 MAD of x (scratch: n doubles). */
static void robust_center(const double *x, size_t n, double *scratch, double *med, double *scale)
{
    *med = det_peer_median(x, n, scratch);
    for (size_t i = 0; i < n; i++)
        scratch[i] = fabs(x[i] - *med);
    *scale = 1.4826 * median_inplace(scratch, n);
}

int det_peer_zscores(const double *x, size_t n, double floor, double *z_out, double *scratch)
{
    if (n < 3) return -1;
    double med, sc;
    robust_center(x, n, scratch, &med, &sc);
    double fl = 1e-9 * (1.0 + fabs(med));
    if (sc < floor) sc = floor;
    if (sc < fl) sc = fl;
    for (size_t i = 0; i < n; i++)
        z_out[i] = (x[i] - med) / sc;
    return 0;
}

void det_peer_init(det_peer *p)
{
    memset(p, 0, sizeof *p);
}

double det_peer_update(det_peer *p, double z, double alpha)
{
    if (!isfinite(z)) return fabs(p->ewz);
    z = z > 50 ? 50 : (z < -50 ? -50 : z);
    p->n++;
    double a = 1.0 / p->n;
    if (a < alpha) a = alpha;
    p->ewz += (float)(a * (z - p->ewz));
    return fabs(p->ewz);
}

void det_peer_params_default(det_peer_params *pp)
{
    /* chosen on the simulated fleet (bench/peers_sim.c: 20 to 120 devices over 6 sites in 5 time
       zones, a week without faults) and on the drifts and offsets of the tests. Level: 6 and 8
       are 30% and 40% off peers that agree within a few percent; it closes late (a lasting
       state changes slowly). Never critical: a device off its peers is worth a look. */
    static const double open[] = {6, 8, 6}, warn[] = {12, 16, 8}, close[] = {3, 3, 2};
    memcpy(pp->open, open, sizeof open);
    memcpy(pp->warn, warn, sizeof warn);
    memcpy(pp->close, close, sizeof close);
    pp->tau_fast_ms = 3600e3;
    pp->tau_slow_ms = 86400e3;
    pp->tau_dev_ms = 86400e3;
    pp->tau_long_ms = 7 * 86400e3;
    pp->warm_ms = 86400e3;
    pp->level_warm_ms = 86400e3;
    pp->warm_n = 24;
    pp->min_peers = 5;
    pp->min_peers_long = 4;
    pp->min_rounds = 3;
    pp->alpha = 0.1;
    pp->drift_floor = 0.005;
    pp->level_floor = 0.05;
}

void det_peer_track_init(det_peer_track *t)
{
    memset(t, 0, sizeof *t);
}

int det_peer_track_warm(const det_peer_track *t, const det_peer_params *pp, double span_ms)
{
    return t->n > pp->warm_n && (double)(t->last_ts - t->first_ts) >= span_ms;
}

void det_peer_drift_normalize(double *z, size_t n, double *scratch)
{
    if (n < 3) return;
    double med, sc;
    robust_center(z, n, scratch, &med, &sc);
    if (sc < 1) sc = 1;
    for (size_t i = 0; i < n; i++)
        z[i] = (z[i] - med) / sc;
}

double det_peer_track_update(det_peer_track *t, const det_peer_params *pp, int64_t ts, double x,
                             double peer_median, double floor)
{
    double offset = x - peer_median;
    if (!isfinite(offset) || (t->n && ts <= t->last_ts)) return 0;
    if (t->n == 0) {
        t->n = 1;
        t->fast = t->slow = t->lasting = (float)offset;
        t->level = (float)x;
        t->dev = 0;
        t->first_ts = t->last_ts = ts;
        return 0;
    }
    /* EW rates per unit of data time: a gap weighs as the time it spans, never as a reset */
    double dt = (double)(ts - t->last_ts);
    double af = 1.0 - exp(-dt / pp->tau_fast_ms), as = 1.0 - exp(-dt / pp->tau_slow_ms);
    double ad = 1.0 - exp(-dt / pp->tau_dev_ms), al = 1.0 - exp(-dt / pp->tau_long_ms);
    t->last_ts = ts;
    if (t->n < UINT32_MAX) t->n++;
    if (as < 1.0 / t->n) as = 1.0 / t->n; /* the first buckets: a plain mean */
    if (ad < 1.0 / t->n) ad = 1.0 / t->n;
    if (al < 1.0 / t->n) al = 1.0 / t->n;
    t->fast += (float)(af * (offset - t->fast));
    t->level += (float)(as * (x - t->level));
    int warm = det_peer_track_warm(t, pp, pp->warm_ms);
    double scale = t->dev > floor ? t->dev : floor;
    double z = warm && scale > 0 ? (t->fast - t->slow) / scale : 0;
    double d = fabs(offset - t->slow);
    if (t->n > pp->warm_n && d > 3 * t->dev) { /* a drift must not teach its own scale... */
        d = 3 * t->dev;
        ad *= 0.5; /* ... but what recurs (a door left open every evening) is learned */
    }
    t->dev += (float)(ad * (d - t->dev));
    t->slow += (float)(as * (offset - t->slow));
    t->lasting += (float)(al * (offset - t->lasting));
    return z;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int det_peer_isolation(const double *o, size_t n, double floor, double *z_out, double *scratch)
{
    if (n < 3) return -1;
    double med, sc;
    robust_center(o, n, scratch, &med, &sc);
    if (sc < floor) sc = floor;
    if (sc <= 0) sc = 1e-12;
    /* in one dimension the nearest peer is a neighbour in sorted order */
    memcpy(scratch, o, n * sizeof *o);
    qsort(scratch, n, sizeof *scratch, cmp_double);
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = n; /* first k with scratch[k] >= o[i]: o[i] itself */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (scratch[mid] < o[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        double gap = INFINITY;
        if (lo > 0) gap = o[i] - scratch[lo - 1];
        if (lo + 1 < n && scratch[lo + 1] - o[i] < gap) gap = scratch[lo + 1] - o[i];
        z_out[i] = (o[i] >= med ? gap : -gap) / sc;
    }
    return 0;
}

int det_peer_judge(det_peer_state *const *st, const double *x, size_t n, int64_t ts,
                   const det_peer_params *pp, double *scratch, det_peer_out *out,
                   det_peer_bucket *info)
{
    if (n < pp->min_peers_long || n < 3) return -1;
    double *z = scratch + n, *drift = z + n, *lvl = drift + n, *iso = lvl + n, *dev = iso + n;
    /* the metric's scale: the peers' typical level over the last day (this bucket's median at
       first); relative floors use it, so a daily swing through zero does not remove them */
    size_t nl = 0;
    for (size_t i = 0; i < n; i++)
        if (st[i]->track.n) {
            lvl[nl] = st[i]->track.level;
            dev[nl++] = st[i]->track.dev;
        }
    double med = det_peer_median(x, n, scratch);
    double ref = fabs(nl >= pp->min_peers_long ? det_peer_median(lvl, nl, scratch) : med);
    /* departure scale floor: peers that mostly agree exactly (a 0/1 state, a fixed frame rate)
       are compared in units of how much a device's offset usually varies, not of MAD 0 */
    double dep_floor = nl >= pp->min_peers_long ? det_peer_median(dev, nl, scratch) : 0;
    if (dep_floor < pp->level_floor * ref) dep_floor = pp->level_floor * ref;
    double drift_floor = pp->drift_floor * ref + 1e-9;
    nl = 0;
    for (size_t i = 0; i < n; i++) {
        det_peer_track *t = &st[i]->track;
        drift[i] = det_peer_track_update(t, pp, ts, x[i], med, drift_floor);
        out[i].drift_scale = t->dev > drift_floor ? t->dev : drift_floor;
        if (det_peer_track_warm(t, pp, pp->level_warm_ms)) lvl[nl++] = t->lasting;
    }
    det_peer_drift_normalize(drift, n, scratch);
    int level_ok = nl >= pp->min_peers_long &&
                   det_peer_isolation(lvl, nl, pp->level_floor * ref + 1e-9, iso, scratch) == 0;
    int departure_ok = n >= pp->min_peers && det_peer_zscores(x, n, dep_floor, z, scratch) == 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        det_peer_out *o = &out[i];
        o->drift = det_peer_track_warm(&st[i]->track, pp, pp->warm_ms) ? drift[i] : NAN;
        o->level = NAN;
        if (level_ok && det_peer_track_warm(&st[i]->track, pp, pp->level_warm_ms))
            o->level = iso[k++];
        o->departure = o->departure_z = NAN;
        if (!departure_ok) continue;
        double d = det_peer_update(&st[i]->peer, z[i], pp->alpha);
        o->departure_z = z[i];
        if (st[i]->peer.n >= pp->min_rounds) o->departure = d;
    }
    info->median = med;
    info->ref = ref;
    info->n_level = (uint32_t)(level_ok ? nl : 0);
    return 0;
}
