/* Multivariate Mahalanobis detector (see mvar.h). */
#include "detect/mvar.h"

#include <math.h>
#include <string.h>

#define REFRESH 16u
#define DRIFT_RATIO 3.0 /* var(level) > DRIFT_RATIO * var(diff) / 2: a trend, not noise */
/* A metric chart's calibrated sd is at least this fraction of the i.i.d. EWMA's
 * sqrt(lambda / (2 - lambda)): a metric that happened to sit still through calibration. */
#define EW_SD_FLOOR 0.75

void det_mv_params_from(det_mv_params *mp, const det_params *p, uint32_t warmup)
{
    mp->alpha_learn = p->mv_learn;
    mp->alpha_smooth = p->mv_smooth;
    mp->k_on = p->mv_k_on;
    mp->k_off = p->mv_k_off;
    mp->ridge = p->mv_ridge;
    mp->mewma = p->mv_mewma;
    mp->track = p->mv_track;
    mp->learn_alarm = p->mv_learn_alarm;
    mp->ew_margin = p->mv_ew_margin;
    mp->cal_learn = p->mv_cal_learn;
    mp->gap_k = p->gap_k;
    mp->warmup = warmup;
    mp->calib = warmup / 2;
}

int det_mv_init(det_mv *s, uint32_t d)
{
    memset(s, 0, sizeof *s);
    if (d == 0 || d > DET_MV_MAX_DIM) return -1;
    s->d = d;
    return 0;
}

/* Cholesky of cov + ridge*diag; a non-positive pivot gets a floor so it always succeeds. */
static void factor(det_mv *s, double ridge)
{
    uint32_t d = s->d;
    for (uint32_t i = 0; i < d; i++) {
        for (uint32_t j = 0; j <= i; j++) {
            double v = s->cov[i * DET_MV_MAX_DIM + j];
            if (i == j) v += ridge * s->cov[i * DET_MV_MAX_DIM + i] + 1e-12;
            for (uint32_t k = 0; k < j; k++)
                v -= s->chol[i * DET_MV_MAX_DIM + k] * s->chol[j * DET_MV_MAX_DIM + k];
            if (i == j) {
                s->chol[i * DET_MV_MAX_DIM + i] = sqrt(v > 1e-12 ? v : 1e-12);
            } else {
                s->chol[i * DET_MV_MAX_DIM + j] = v / s->chol[j * DET_MV_MAX_DIM + j];
            }
        }
    }
    s->since_chol = 0;
}

static int is_drift(const det_mv *s, uint32_t i)
{
    return (s->drift_mask >> i) & 1u;
}

/* The vector the distance is computed on: levels, or deviations from the track for drifters. */
static void view(const det_mv *s, const double *x, double *y)
{
    for (uint32_t i = 0; i < s->d; i++)
        y[i] = is_drift(s, i) ? x[i] - s->track[i] : x[i];
}

static void observe_drift(det_mv *s, const double *x, int warm, double track_alpha)
{
    for (uint32_t i = 0; i < s->d; i++) {
        if (warm && s->n >= 2) {
            double n1 = s->n - 1, dx = x[i] - s->prev[i], dd = dx - s->dmean[i];
            s->dmean[i] += dd / n1;
            s->dvar[i] += (dd * (dx - s->dmean[i]) - s->dvar[i]) / n1;
        }
        s->prev[i] = x[i];
        s->track[i] += (s->n <= 1 ? 1.0 : track_alpha) * (x[i] - s->track[i]);
        if (warm && s->n >= 2) {
            /* the deviation as view() will see it: from the track that includes this row */
            double n1 = s->n - 1, r = x[i] - s->track[i], dr = r - s->rmean[i];
            s->rmean[i] += dr / n1;
            s->rvar[i] += (dr * (r - s->rmean[i]) - s->rvar[i]) / n1;
        }
    }
}

/* Before the calibration rows: drifters swap their level statistics for those of their
 * deviation. */
static void decide_drift(det_mv *s)
{
    for (uint32_t i = 0; i < s->d; i++) {
        double v = s->cov[i * DET_MV_MAX_DIM + i];
        if (!(v > DRIFT_RATIO * 0.5 * s->dvar[i] && s->rvar[i] > 0)) continue;
        s->drift_mask |= 1u << i;
        s->mean[i] = s->rmean[i];
        for (uint32_t j = 0; j < s->d; j++) {
            s->cov[i * DET_MV_MAX_DIM + j] = 0;
            s->cov[j * DET_MV_MAX_DIM + i] = 0;
        }
        s->cov[i * DET_MV_MAX_DIM + i] = s->rvar[i];
    }
}

static double mahalanobis(const det_mv *s, const double *x, int *contrib)
{
    double y[DET_MV_MAX_DIM], t2 = 0, best = -1;
    for (uint32_t i = 0; i < s->d; i++) {
        double v = x[i] - s->mean[i];
        for (uint32_t k = 0; k < i; k++)
            v -= s->chol[i * DET_MV_MAX_DIM + k] * y[k];
        y[i] = v / s->chol[i * DET_MV_MAX_DIM + i];
        t2 += y[i] * y[i];
        double sd = sqrt(s->cov[i * DET_MV_MAX_DIM + i]) + 1e-12;
        double zi = fabs(x[i] - s->mean[i]) / sd;
        if (zi > best) {
            best = zi;
            *contrib = (int)i;
        }
    }
    return t2 / s->d;
}

static void learn(det_mv *s, const double *x, double a)
{
    double dx[DET_MV_MAX_DIM];
    uint32_t d = s->d;
    for (uint32_t i = 0; i < d; i++) {
        dx[i] = x[i] - s->mean[i];
        s->mean[i] += a * dx[i];
    }
    /* EW / Welford covariance: C += a * ((1 - a) dx dx^T - C) */
    for (uint32_t i = 0; i < d; i++)
        for (uint32_t j = 0; j <= i; j++) {
            double c = s->cov[i * DET_MV_MAX_DIM + j];
            c += a * ((1.0 - a) * dx[i] * dx[j] - c);
            s->cov[i * DET_MV_MAX_DIM + j] = c;
            s->cov[j * DET_MV_MAX_DIM + i] = c;
        }
}

/* Per-metric EWMA charts (Roberts 1959) on the EW mean of the rows: each metric's deviation
 * (ew - mean) / sd is judged against its own calibrated normal spread. The i.i.d. formula
 * (sd * sqrt(lambda / (2 - lambda))) is wrong for autocorrelated sensors, each by its own
 * factor: judged by it, a vibration sensor that wanders set the bar for all (the largest over
 * the metrics), so a flow drop of 2 sd went unseen. Calibrated per metric, the bar fits each
 * metric, and it follows rows judged normal (cal_learn), so a slow wander that is normal over
 * hours widens it instead of alarming. Returns the largest z over the metrics (0 while warming
 * up) and its metric in *which. */
static double ew_charts(det_mv *s, const det_mv_params *p, const double *y, int warm, int calib,
                        uint32_t decide_at, int *which)
{
    double lam = p->mewma, floor = EW_SD_FLOOR * sqrt(lam / (2.0 - lam)), zmax = 0;
    if (calib) s->ew_n++;
    for (uint32_t i = 0; i < s->d; i++) {
        if (s->n <= decide_at) s->ew[i] = s->mean[i];
        s->ew[i] += lam * (y[i] - s->ew[i]);
        double g = (s->ew[i] - s->mean[i]) /
                   sqrt(s->cov[i * DET_MV_MAX_DIM + i] * (1.0 + p->ridge) + 1e-12);
        double *m = &s->ew_cal_mean[i], *v = &s->ew_cal_var[i], dg = g - *m;
        if (calib) { /* Welford; ew_cal_var holds the running sum of squares until the end */
            *m += dg / s->ew_n;
            *v += dg * (g - *m);
            continue;
        }
        if (warm) continue;
        if (s->n == p->warmup + 1) /* the first scored row: the sum of squares becomes a variance */
            *v = s->ew_n > 1 ? *v / (s->ew_n - 1) : floor * floor;
        double sd = sqrt(*v);
        double z = fabs(g - *m) / (sd > floor ? sd : floor);
        if (z > zmax) {
            zmax = z;
            *which = (int)i;
        }
        if (!s->alarm) {
            /* the calibration follows normal rows, each deviation counted up to k_off (what the
               alarm calls normal): a shift just under the bar widens it only slowly */
            double a = p->cal_learn, c = p->k_off * (sd > floor ? sd : floor);
            if (dg > c) dg = c;
            if (dg < -c) dg = -c;
            *m += a * dg;
            *v += a * ((1.0 - a) * dg * dg - *v);
        }
    }
    return zmax;
}

void det_mv_update(det_mv *s, const det_mv_params *p, const double *x, det_mv_out *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < s->d; i++)
        if (!isfinite(x[i])) return;
    s->n++;
    if (s->n == 1) {
        memcpy(s->mean, x, s->d * sizeof(double));
        observe_drift(s, x, 0, p->track);
        return;
    }
    int warm = s->n <= p->warmup;
    /* the drift decision comes before the calibration rows, so they are scored in the same view
       (levels or deviations from the track) as every row after the warm-up */
    uint32_t decide_at = p->warmup > p->calib ? p->warmup - p->calib + 1 : 2;
    int calib = warm && s->n > decide_at + 10;
    observe_drift(s, x, s->n < decide_at, p->track);
    if (s->n == decide_at) decide_drift(s);
    if (s->n <= 2 || s->since_chol >= REFRESH || warm) factor(s, p->ridge);
    double y[DET_MV_MAX_DIM];
    view(s, x, y);
    out->t2 = mahalanobis(s, y, &out->contrib);
    int which = -1;
    double zew = p->mewma > 0 && p->mewma < 1
                     ? ew_charts(s, p, y, warm, calib, decide_at, &which) - p->ew_margin
                     : -1e300;
    /* the row chart, smoothed in the log domain: a huge excursion fades as fast as it came */
    det_mv_chart *ch = &s->chart;
    double lt = log(out->t2 + 1e-6);
    ch->smooth = s->n <= 2 ? lt : ch->smooth + p->alpha_smooth * (lt - ch->smooth);
    out->smooth = exp(ch->smooth);
    if (warm) {
        if (calib) { /* Welford of the smoothed value */
            ch->cal_n++;
            double dl = ch->smooth - ch->cal_mean;
            ch->cal_mean += dl / ch->cal_n;
            ch->cal_m2 += dl * (ch->smooth - ch->cal_mean);
        }
        learn(s, s->n < decide_at ? x : y, 1.0 / s->n);
        s->since_chol++;
        return;
    }
    double sd = ch->cal_n > 1 ? sqrt(ch->cal_m2 / (ch->cal_n - 1)) : 1.0;
    if (sd < 0.05) sd = 0.05;
    out->z = (ch->smooth - ch->cal_mean) / sd;
    if (zew > out->z) {
        out->z = zew;
        out->contrib = which;
    }
    if (!s->alarm && out->z > p->k_on)
        s->alarm = 1;
    else if (s->alarm && out->z < p->k_off)
        s->alarm = 0;
    out->alarm = s->alarm;
    if (!s->alarm && out->t2 < 4.0 * exp(ch->cal_mean)) {
        learn(s, y, p->alpha_learn);
        s->since_chol++;
    } else if (p->learn_alarm > 0) {
        learn(s, y, p->learn_alarm);
        s->since_chol++;
    }
}

void det_mv_update_at(det_mv *s, const det_mv_params *p, int64_t ts_ms, const double *x,
                      det_mv_out *out)
{
    if (s->n > 0 && ts_ms > s->last_ts &&
        det_interval_step(&s->dt_med, (double)ts_ms - (double)s->last_ts, p->gap_k) > 0)
        for (uint32_t i = 0; i < s->d; i++)
            if (isfinite(x[i])) s->track[i] = s->prev[i] = x[i];
    if (s->n == 0 || ts_ms > s->last_ts) s->last_ts = ts_ms;
    det_mv_update(s, p, x, out);
}
