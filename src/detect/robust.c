/* Robust seasonal baseline (see robust.h). The profile is indexed by wall-clock time, not by
 * sample count, so irregular sampling and any rate work; its per-visit rate starts at 1/days seen
 * (a running mean over the first days) and settles at season_alpha. Residuals are clipped at
 * clip_z scales before anything learns from them, so a spike does not drag the baseline (the
 * EWMA analogue of median/MAD); but when the clipped residuals keep one sign (|bias| > SHIFT_BIAS)
 * the level has really moved and is re-learned quickly, unclipped. */
#include "detect/robust.h"

#include <math.h>
#include <stdint.h>
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
/* Scale floor: the winsorised scales learn from residuals clipped at clip_z scales, so when most
   residuals are ~0 and a few are large (a sparse or spiky series: zeros with recurring spikes)
   every spike is clipped, the scale shrinks by a constant factor per cycle and the z of the next,
   identical spike grows without bound: a recurring pattern would look more surprising each
   time. The scale is therefore kept >= FLOOR_FRAC of the unclipped mean |residual| (mabs; each
   residual capped at MABS_CAP x mabs, so a single huge outlier moves it by a bounded step). For a
   dense series mabs ~ the scale and the floor never binds. */
#define FLOOR_FRAC 0.1
#define MABS_CAP 100.0
/* Calendar stream: a day-long departure (a holiday in a weekly series) is only ~1 - 5 scales per
   point and the offset follows it within hours, but the day's summed residual against the
   baseline as it stood at midnight grows all day. It is scored in units of a typical full day's
   mean |residual| (EW over days, DAY_ALPHA per day, clipped at clip_z of itself once DAY_MIN days
   are learned). Each point's residual is clipped at clip_z point scales first, so a spike does
   not make a day. */
#define DAY_ALPHA 0.1
#define DAY_MIN 3u
/* Gaps: after k typical sampling intervals without data the level may have drifted by up to
   about d1 * (k - 1) (d1: the typical change between consecutive points; a steady trend is the
   conservative assumption, a random walk would give only sqrt(k - 1) and a warming room is not
   one), so the level model's scale for that point is widened by it and the
   level takes the Kalman gain of that drift against its noise (a thermostat that warmed by 2
   degrees during a 2-hour gap starts from its new temperature instead of alarming on it, and
   nothing learned is forgotten). The drift is capped at GAP_CAP intervals. */
#define GAP_CAP 100.0
/* A seasonal model knows the time of day; what a gap leaves stale is its offset, which follows
   the residuals of the last hours. It is taken to drift like a random walk over the gap, with
   steps of GAP_RW x d1 (the consecutive changes are mostly noise, only a fraction is drift):
   its scale for the first point after a gap widens by GAP_RW d1 sqrt(k - 1), its offset takes the
   Kalman gain of that drift, and its expectation is kept within the envelope of the values.
   (GAP_RW 0.5 lost a spike right after a gap in NAB's realTraffic/TravelTime_387, LOCO standard
   74.51 -> 70.88; 0.25 leaves NAB as it was.) */
#define GAP_RW 0.25
#define ENV_RATE (0.1 / MS_DAY)

static int bin_of(int64_t ts_ms)
{
    int64_t r = ts_ms % MS_DAY; /* floor modulo without overflow for any clock value */
    if (r < 0) r += MS_DAY;
    int b = (int)(r / BIN_MS);
    return b < DET_ROBUST_DAY_BINS ? b : DET_ROBUST_DAY_BINS - 1;
}

static int week_bin_of(int64_t ts_ms)
{
    int64_t hour = ts_ms / 3600000LL;
    if (ts_ms % 3600000LL < 0) hour--;
    return (int)(((hour % DET_ROBUST_WEEK_BINS) + 72 + DET_ROBUST_WEEK_BINS) %
                 DET_ROBUST_WEEK_BINS); /* Monday 00:00 = 0 (1970-01-01 was a Thursday) */
}

static int32_t day_of(int64_t ts_ms)
{
    int64_t d = ts_ms / MS_DAY;
    if (ts_ms % MS_DAY < 0) d--;
    return (int32_t)(d > INT32_MAX ? INT32_MAX : (d < INT32_MIN ? INT32_MIN : d));
}

static int seen(const uint8_t *bits, int b)
{
    return (bits[b >> 3] >> (b & 7)) & 1;
}

/* A residual within the values' resolution is no evidence: a value rounded to 0.1 that moves
 * by 0.1 has not moved beyond its resolution, and the expectation learned from rounded values
 * is itself off by up to a quantum, so only what lies beyond two quanta counts (1% slack: the
 * float level is not exactly on the grid). */
static double beyond_quantum(const det_robust *s, double r)
{
    double a = fabs(r) - 2.02 * s->quantum;
    return a <= 0 ? 0 : (r < 0 ? -a : a);
}

static double floor_of(const det_robust *s)
{
    double f = 1e-9 * (1.0 + fabs(s->level)), m = FLOOR_FRAC * s->mabs;
    if (f < s->quantum) f = s->quantum; /* one quantum is at most one scale */
    return m > f ? m : f;
}

typedef enum { MODEL_LEVEL, MODEL_DAY, MODEL_WEEK } model;

/* A profile is trusted once it has predicted for two periods and clearly beats the simpler
 * model; the weekly one must also beat the daily one if that is trusted. */
static model choose(const det_robust *s, int b, int wb)
{
    double span = (double)s->last_ts - (double)s->first_ts; /* no int64 overflow on odd clocks */
    model m = MODEL_LEVEL;
    double best = s->scale_n;
    if (seen(s->seen, b) && s->n_s >= SEASONAL_MIN_N && span >= 2 * MS_DAY &&
        s->scale_s < SEASONAL_WINS * best) {
        m = MODEL_DAY;
        best = s->scale_s;
    }
    if (seen(s->seen_w, wb) && s->n_w >= SEASONAL_MIN_N && span >= 14 * MS_DAY &&
        s->scale_w < SEASONAL_WINS * best)
        m = MODEL_WEEK;
    return m;
}

static double predict_with(const det_robust *s, model m, int b, int wb)
{
    return m == MODEL_WEEK ? s->week[wb] + s->offset_w
                           : (m == MODEL_DAY ? s->profile[b] + s->offset : s->level);
}

double det_robust_predict(const det_robust *s, int64_t ts_ms)
{
    int b = bin_of(ts_ms), wb = week_bin_of(ts_ms);
    return predict_with(s, choose(s, b, wb), b, wb);
}

static int blk_seen(const det_robust *s, int k)
{
    return (s->b_seen[k >> 3] >> (k & 7)) & 1;
}

/* Closes the current 2-hour block: its first visit sets the block mean, later visits move it by
 * the mean clipped residual at a rate of 1/weeks seen, settling at season_alpha. */
static void block_close(det_robust *s, const det_params *p, double weeks)
{
    int k = s->b_blk;
    if (s->b_cnt == 0) return;
    double mean = (double)s->b_sum / s->b_cnt;
    if (!blk_seen(s, k)) {
        s->wblock[k] = (float)mean;
        s->b_seen[k >> 3] |= (uint8_t)(1u << (k & 7));
    } else {
        double a = 1.0 / (1.0 + weeks);
        if (a < p->season_alpha) a = p->season_alpha;
        s->wblock[k] += (float)(a * mean);
    }
    s->b_sum = 0;
    s->b_cnt = 0;
}

/* Closes the finished day: learns its mean residual if it was a full day. */
static void day_close(det_robust *s, const det_params *p, int32_t day)
{
    if (s->d_full && s->d_cnt > 0 && (s->d_npd <= 0 || s->d_cnt >= 0.5 * s->d_npd)) {
        s->d_npd = s->d_npd <= 0 ? (float)s->d_cnt
                                 : s->d_npd + (float)(0.25 * ((double)s->d_cnt - s->d_npd));
        double dm = fabs((double)s->d_sum / s->d_cnt);
        if (s->d_days < DAY_MIN) {
            s->d_scale += (float)((dm - s->d_scale) / (s->d_days + 1.0));
        } else {
            double cap = p->clip_z * s->d_scale;
            s->d_scale += (float)(DAY_ALPHA * ((dm < cap ? dm : cap) - s->d_scale));
        }
        if (s->d_days < UINT32_MAX) s->d_days++;
    }
    s->d_full = s->n > 1 && (int64_t)day == (int64_t)s->d_day + 1;
    s->d_day = day;
    s->d_cnt = 0;
    s->d_sum = 0;
}

static int block_of(int32_t day, int64_t ts_ms)
{
    int wd = (int)((((int64_t)day + 3) % 7 + 7) % 7); /* Monday = 0 */
    int64_t r = ts_ms % MS_DAY;
    if (r < 0) r += MS_DAY;
    int k = (int)(r / (MS_DAY / DET_ROBUST_DAY_BLOCKS));
    if (k >= DET_ROBUST_DAY_BLOCKS) k = DET_ROBUST_DAY_BLOCKS - 1;
    return wd * DET_ROBUST_DAY_BLOCKS + k;
}

/* Calendar stream step (before the profiles learn from x); returns the aux2 score. */
static double day_step(det_robust *s, const det_params *p, int64_t ts_ms, double x, double sg,
                       double fl)
{
    int32_t day = day_of(ts_ms);
    int k = block_of(day, ts_ms);
    double weeks = ((double)ts_ms - (double)s->first_ts) / (7.0 * MS_DAY);
    if (s->n == 1 || k != s->b_blk || day != s->d_day) {
        if (s->n > 1) block_close(s, p, weeks);
        s->b_blk = (uint8_t)k;
    }
    if (s->n == 1 || day != s->d_day) day_close(s, p, day);
    if (!blk_seen(s, k)) {
        s->b_sum += (float)x;
        s->b_cnt++;
        return -1.0;
    }
    double r = det_clamp(x - s->wblock[k], -p->clip_z * sg, p->clip_z * sg);
    s->b_sum += (float)r;
    s->b_cnt++;
    s->d_sum += (float)r;
    if (s->d_cnt < UINT32_MAX) s->d_cnt++;
    if (s->d_days < DAY_MIN || s->d_npd <= 0 || s->n <= WARM) return -1.0;
    double den = SIGMA_PER_MAD * s->d_scale;
    if (den < fl) den = fl;
    return fabs((double)s->d_sum) / (s->d_npd * den);
}

/* One profile (daily or weekly): learn from the residual rs of its own prediction. */
static void learn_profile(float *bins, uint8_t *bits, int b, float *offset, float *scale,
                          uint32_t *n, double x, double rs, double sg, int shift, double ap,
                          double as, const det_params *p, float scale_init)
{
    if (!seen(bits, b)) {
        bins[b] = (float)(x - *offset);
        bits[b >> 3] |= (uint8_t)(1u << (b & 7));
        return;
    }
    double rsc = shift ? rs : det_clamp(rs, -p->clip_z * sg, p->clip_z * sg);
    double ao = shift ? SHIFT_ALPHA : OFFSET_ALPHA;
    if (ap < p->season_alpha) ap = p->season_alpha;
    *offset += (float)(ao * rsc);
    bins[b] += (float)(ap * (1.0 - ao) * rsc);
    if (*n == 0) *scale = scale_init;
    *scale += (float)(as * (fabs(rsc) - *scale));
    if (*n < UINT32_MAX) (*n)++;
}

/* After a gap: a seasonal model's offset (stale, as the level is) takes the Kalman gain of its
 * drift (variance drift2) against the model's noise (scale sgm) on the residual of x. */
static void gap_offset(float *offset, const float *bins, const uint8_t *bits, int b, double x,
                       double sgm, double drift2, double clip_z)
{
    if (!seen(bits, b)) return;
    double r = x - (bins[b] + *offset), lim = clip_z * (sgm + sqrt(drift2));
    *offset += (float)(drift2 / (drift2 + sgm * sgm) * det_clamp(r, -lim, lim));
}

void det_robust_init(det_robust *s, const det_params *p, uint64_t seed)
{
    (void)p;
    (void)seed;
    memset(s, 0, sizeof *s);
}

double det_robust_update(det_robust *s, const det_params *p, int64_t ts_ms, double x)
{
    int b = bin_of(ts_ms), wb = week_bin_of(ts_ms);
    if (s->n == 0) {
        s->level = (float)x;
        s->first_ts = ts_ms;
        s->exp_lo = s->exp_hi = (float)x;
    }
    s->n++;
    double dt_ms = (double)ts_ms - (double)s->last_ts;
    s->last_ts = ts_ms;
    double warm = s->n < WARM ? 1.0 / s->n : 0.0;
    model m = choose(s, b, wb);
    double pred = predict_with(s, m, b, wb);
    double fl = floor_of(s);
    double sg =
        SIGMA_PER_MAD * (m == MODEL_WEEK ? s->scale_w : (m == MODEL_DAY ? s->scale_s : s->scale_n));
    if (sg < fl) sg = fl;
    double drift2 = 0, drift2_s = 0; /* after a gap: variance of the level's drift during it, and
                                          that of a seasonal model's offset */
    if (s->gap_k > 1 && s->n > WARM) {
        double k = s->gap_k < GAP_CAP ? s->gap_k : GAP_CAP, spread = 0.5 * (s->env_hi - s->env_lo);
        double d = SIGMA_PER_MAD * s->d1 * (k - 1.0), ds = GAP_RW * s->d1 * sqrt(k - 1.0);
        if (d > spread) d = spread; /* a level drifts no further than the values range */
        if (ds > spread) ds = spread;
        drift2 = d * d;
        drift2_s = ds * ds;
    }
    int after_gap = s->gap_k > 1;
    s->gap_k = 0;
    if (m == MODEL_LEVEL && drift2 > 0) sg = sqrt(sg * sg + drift2);
    if (m != MODEL_LEVEL && drift2_s > 0) {
        sg = sqrt(sg * sg + drift2_s);
        /* an offset that drifted with other hours' residuals can put the expectation where the
           series never was: for this point it stays within the envelope of the values seen */
        if (s->env_lo <= s->env_hi) pred = det_clamp(pred, s->env_lo, s->env_hi);
    }
    double r = x - pred, rq = beyond_quantum(s, r);
    double z = fabs(rq) / sg;
    s->exp_lo = (float)(pred - 3.0 * sg - 2.02 * s->quantum);
    s->exp_hi = (float)(pred + 3.0 * sg + 2.02 * s->quantum);
    double ra = fabs(r), cap = MABS_CAP * (s->mabs + fl);
    if (s->n > WARM && ra > cap) ra = cap;
    s->mabs += (float)((s->n > WARM ? p->scale_alpha : 1.0 / s->n) * (ra - s->mabs));

    /* level shift detector on the chosen model */
    s->d_raw = (float)day_step(s, p, ts_ms, x, sg, fl);

    double zc = det_clamp(rq / sg, -p->clip_z, p->clip_z);
    s->bias += (float)(BIAS_ALPHA * (zc - s->bias));
    if (p->shift_alpha > 0) {
        s->dev += (float)(p->shift_alpha * (zc - s->dev));
        s->dev_raw = s->n <= WARM ? -1.0f : fabsf(s->dev);
    } else {
        s->dev_raw = -1.0f;
    }
    int shift = fabs(s->bias) > SHIFT_BIAS || s->n <= WARM;

    /* non-seasonal model */
    double sgn = SIGMA_PER_MAD * s->scale_n + fl;
    double rn = x - s->level;
    if (drift2 > 0) { /* Kalman step of the level over the gap's drift */
        double lim = p->clip_z * (sgn + sqrt(drift2));
        s->level += (float)(drift2 / (drift2 + sgn * sgn) * det_clamp(rn, -lim, lim));
        rn = x - s->level;
    }
    double rnc = shift ? rn : det_clamp(rn, -p->clip_z * sgn, p->clip_z * sgn);
    double al = p->level_alpha > warm ? p->level_alpha : warm;
    if (shift && al < SHIFT_ALPHA) al = SHIFT_ALPHA;
    double as = p->scale_alpha > warm ? p->scale_alpha : warm;
    s->level += (float)(al * rnc);
    s->scale_n += (float)(as * (fabs(rnc) - s->scale_n));
    if (s->n > 1 && !after_gap) { /* typical change between consecutive points */
        double dx = fabs(x - s->last_x), dcap = p->clip_z * (SIGMA_PER_MAD * s->d1 + fl);
        if (s->n > WARM && dx > dcap) dx = dcap;
        s->d1 += (float)(as * (dx - s->d1));
    }
    s->last_x = (float)x;
    if (s->n == 1) { /* envelope of the values (bounds the drift over a gap) */
        s->env_lo = s->env_hi = (float)x;
    } else {
        double step =
            s->n > WARM ? p->clip_z * SIGMA_PER_MAD * (s->scale_n + s->d1) + fl : INFINITY;
        /* forgotten per unit of time: a week halves a range no value revisits */
        double w = (dt_ms > 0 ? fmin(1.0, ENV_RATE * dt_ms) : 0) * (s->env_hi - s->env_lo);
        s->env_hi = (float)(x > s->env_hi - w ? fmin(x, s->env_hi + step) : s->env_hi - w);
        s->env_lo = (float)(x < s->env_lo + w ? fmax(x, s->env_lo - step) : s->env_lo + w);
    }

    /* profiles: per-visit rate 1/periods seen, settling at season_alpha */
    double days = ((double)ts_ms - (double)s->first_ts) / MS_DAY;
    if (drift2_s > 0) { /* the seasonal offsets take the Kalman step of their drift */
        gap_offset(&s->offset, s->profile, s->seen, b, x, SIGMA_PER_MAD * s->scale_s + fl, drift2_s,
                   p->clip_z);
        gap_offset(&s->offset_w, s->week, s->seen_w, wb, x, SIGMA_PER_MAD * s->scale_w + fl,
                   drift2_s, p->clip_z);
    }
    double rs = x - (s->profile[b] + s->offset);
    learn_profile(s->profile, s->seen, b, &s->offset, &s->scale_s, &s->n_s, x, rs,
                  SIGMA_PER_MAD * s->scale_s + fl, shift, days > 0 ? 1.0 / (1.0 + days) : 1.0, as,
                  p, s->scale_n);
    double rw = x - (s->week[wb] + s->offset_w);
    learn_profile(s->week, s->seen_w, wb, &s->offset_w, &s->scale_w, &s->n_w, x, rw,
                  SIGMA_PER_MAD * s->scale_w + fl, shift, days > 0 ? 1.0 / (1.0 + days / 7.0) : 1.0,
                  as, p, s->scale_n);
    return s->n <= WARM ? -1.0 : z;
}

static double vt_update(void *st, const det_params *p, int64_t ts, double x)
{
    return det_robust_update(st, p, ts, x);
}

double det_robust_peek(const det_robust *s, int64_t ts_ms, double x)
{
    if (s->n <= WARM) return -1.0;
    int b = bin_of(ts_ms), wb = week_bin_of(ts_ms);
    model m = choose(s, b, wb);
    double fl = floor_of(s);
    double sg =
        SIGMA_PER_MAD * (m == MODEL_WEEK ? s->scale_w : (m == MODEL_DAY ? s->scale_s : s->scale_n));
    if (sg < fl) sg = fl;
    return fabs(beyond_quantum(s, x - predict_with(s, m, b, wb))) / sg;
}

static double vt_peek(const void *st, const det_params *p, int64_t ts, double x)
{
    (void)p;
    return det_robust_peek(st, ts, x);
}

static void vt_gap(void *st, double k)
{
    ((det_robust *)st)->gap_k = (float)k;
}

static void vt_resolution(void *st, double q)
{
    ((det_robust *)st)->quantum = (float)q;
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

static void vt_prefetch(const void *st, int64_t ts, double x)
{
    (void)x;
    const det_robust *s = st;
    DET_PREFETCH(&s->profile[bin_of(ts)]);
    DET_PREFETCH(&s->week[week_bin_of(ts)]);
    DET_PREFETCH(s->seen);
    DET_PREFETCH(&s->wblock[block_of(day_of(ts), ts)]);
}

static double vt_aux(const void *st)
{
    return ((const det_robust *)st)->dev_raw;
}

static double vt_aux2(const void *st)
{
    return ((const det_robust *)st)->d_raw;
}

static int vt_validate(const void *st)
{
    const det_robust *s = st;
    if (s->b_blk >= 7 * DET_ROBUST_DAY_BLOCKS || s->d_full > 1) return -1;
    const float *f = &s->level; /* level .. week[] are floats */
    size_t nf = (offsetof(det_robust, seen) - offsetof(det_robust, level)) / sizeof(float);
    for (size_t i = 0; i < nf; i++)
        if (!isfinite(f[i])) return -1;
    if (!isfinite(s->mabs) || s->mabs < 0 || s->d_scale < 0 || s->d_npd < 0) return -1;
    if (s->gap_k < 0 || !(s->quantum >= 0) || s->d1 < 0 || s->env_lo > s->env_hi) return -1;
    return s->scale_n >= 0 && s->scale_s >= 0 && s->scale_w >= 0 ? 0 : -1;
}

const det_vtable det_robust_vt = {
    .name = "robust",
    .state_size = sizeof(det_robust),
    .init = vt_init,
    .update = vt_update,
    .reset = vt_reset,
    .expected = vt_expected,
    .validate = vt_validate,
    .aux = vt_aux,
    .aux2 = vt_aux2,
    .prefetch = vt_prefetch,
    .gap = vt_gap,
    .resolution = vt_resolution,
    .peek = vt_peek,
};
