/* Robust seasonal baseline (see robust.h). The profile is indexed by wall-clock time, not by
 * sample count, so irregular sampling and any rate work; its per-visit rate starts at 1/days seen
 * (a running mean over the first days) and settles at season_alpha. Residuals are clipped at
 * clip_z scales before anything learns from them, so a spike does not drag the baseline (the
 * EWMA analogue of median/MAD); but when the clipped residuals keep one sign (|bias| > SHIFT_BIAS)
 * the level has really moved and is re-learned quickly, unclipped. */
#include "detect/robust.h"

#include <math.h>
#include <string.h>

#define MS_DAY 86400000LL
#define BIN_MS (MS_DAY / DET_ROBUST_DAY_BINS)
#define SIGMA_PER_MAD 1.2533 /* E|N(0,1)| = 0.7979 */
#define WARM 30u
#define SHIFT_BIAS 1.5
#define SHIFT_ALPHA 0.1
#define BIAS_ALPHA 0.05
#define OFFSET_ALPHA 0.05
#define SEASONAL_WINS 0.7 /* the profile must cut the residual scale by 30% to be used */
#define SEASONAL_MIN_N 100u

static int bin_of(int64_t ts_ms)
{
    int64_t day = ts_ms >= 0 ? ts_ms / MS_DAY : (ts_ms - MS_DAY + 1) / MS_DAY;
    int b = (int)((ts_ms - day * MS_DAY) / BIN_MS);
    return b < DET_ROBUST_DAY_BINS ? b : DET_ROBUST_DAY_BINS - 1;
}

static int seen(const det_robust *s, int b)
{
    return (s->seen[b >> 3] >> (b & 7)) & 1;
}

static double floor_of(const det_robust *s)
{
    return 1e-9 * (1.0 + fabs(s->level));
}

/* The profile is trusted once it has predicted for two days and clearly beats the level. */
static int use_seasonal(const det_robust *s, int b)
{
    return seen(s, b) && s->n_s >= SEASONAL_MIN_N && s->last_ts - s->first_ts >= 2 * MS_DAY &&
           s->scale_s < SEASONAL_WINS * s->scale_n;
}

double det_robust_predict(const det_robust *s, int64_t ts_ms)
{
    int b = bin_of(ts_ms);
    return use_seasonal(s, b) ? s->profile[b] + s->offset : s->level;
}

void det_robust_init(det_robust *s, const det_params *p, uint64_t seed)
{
    (void)p;
    (void)seed;
    memset(s, 0, sizeof *s);
}

double det_robust_update(det_robust *s, const det_params *p, int64_t ts_ms, double x)
{
    int b = bin_of(ts_ms);
    if (s->n == 0) {
        s->level = (float)x;
        s->first_ts = ts_ms;
        s->exp_lo = s->exp_hi = (float)x;
    }
    s->n++;
    s->last_ts = ts_ms;
    double warm = s->n < WARM ? 1.0 / s->n : 0.0;
    int seas = use_seasonal(s, b);
    double pred_n = s->level, pred_s = s->profile[b] + s->offset;
    double pred = seas ? pred_s : pred_n;
    double sg = SIGMA_PER_MAD * (seas ? s->scale_s : s->scale_n);
    if (sg < floor_of(s)) sg = floor_of(s);
    double r = x - pred;
    double z = fabs(r) / sg;
    s->exp_lo = (float)(pred - 3.0 * sg);
    s->exp_hi = (float)(pred + 3.0 * sg);

    /* level shift detector on the chosen model */
    double zc = det_clamp(r / sg, -p->clip_z, p->clip_z);
    s->bias += (float)(BIAS_ALPHA * (zc - s->bias));
    int shift = fabs(s->bias) > SHIFT_BIAS || s->n <= WARM;

    /* non-seasonal model */
    double sgn = SIGMA_PER_MAD * s->scale_n + floor_of(s);
    double rn = x - pred_n;
    double rnc = shift ? rn : det_clamp(rn, -p->clip_z * sgn, p->clip_z * sgn);
    double al = p->level_alpha > warm ? p->level_alpha : warm;
    if (shift && al < SHIFT_ALPHA) al = SHIFT_ALPHA;
    double as = p->scale_alpha > warm ? p->scale_alpha : warm;
    s->level += (float)(al * rnc);
    s->scale_n += (float)(as * (fabs(rnc) - s->scale_n));

    /* seasonal model */
    if (!seen(s, b)) {
        s->profile[b] = (float)(x - s->offset);
        s->seen[b >> 3] |= (uint8_t)(1u << (b & 7));
    } else {
        double sgs = SIGMA_PER_MAD * s->scale_s + floor_of(s);
        double rs = x - pred_s;
        double rsc = shift ? rs : det_clamp(rs, -p->clip_z * sgs, p->clip_z * sgs);
        double days = (double)(ts_ms - s->first_ts) / MS_DAY;
        double ap = days > 0 ? 1.0 / (1.0 + days) : 1.0;
        if (ap < p->season_alpha) ap = p->season_alpha;
        double ao = shift ? SHIFT_ALPHA : OFFSET_ALPHA;
        s->offset += (float)(ao * rsc);
        s->profile[b] += (float)(ap * (1.0 - ao) * rsc);
        if (s->n_s == 0) s->scale_s = s->scale_n;
        s->scale_s += (float)(as * (fabs(rsc) - s->scale_s));
        if (s->n_s < UINT32_MAX) s->n_s++;
    }
    return s->n <= WARM ? -1.0 : z;
}

static double vt_update(void *st, const det_params *p, int64_t ts, double x)
{
    return det_robust_update(st, p, ts, x);
}

static void vt_init(void *st, const det_params *p, uint64_t seed)
{
    det_robust_init(st, p, seed);
}

static void vt_reset(void *st, const det_params *p)
{
    det_robust_init(st, p, 0);
}

static int vt_expected(const void *st, double *lo, double *hi)
{
    const det_robust *s = st;
    if (s->n <= WARM) return -1;
    *lo = s->exp_lo;
    *hi = s->exp_hi;
    return 0;
}

static int vt_validate(const void *st)
{
    const det_robust *s = st;
    const float *f = &s->level; /* level .. profile[] are floats */
    size_t nf = (offsetof(det_robust, seen) - offsetof(det_robust, level)) / sizeof(float);
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(f[i])) return -1;
    return s->scale_n >= 0 && s->scale_s >= 0 ? 0 : -1;
}

const det_vtable det_robust_vt = {
    .name = "robust",
    .state_size = sizeof(det_robust),
    .init = vt_init,
    .update = vt_update,
    .reset = vt_reset,
    .expected = vt_expected,
    .validate = vt_validate,
};
