/* Multivariate Mahalanobis detector (see mvar.h). */
#include "detect/mvar.h"

#include <math.h>
#include <string.h>

#define REFRESH 16u
#define TRACK_ALPHA 0.01
#define DRIFT_RATIO 3.0 /* var(level) > DRIFT_RATIO * var(diff) / 2: a trend, not noise */

void det_mv_params_from(det_mv_params *mp, const det_params *p, uint32_t warmup)
{
    mp->alpha_learn = p->mv_learn;
    mp->alpha_smooth = p->mv_smooth;
    mp->k_on = p->mv_k_on;
    mp->k_off = p->mv_k_off;
    mp->ridge = p->mv_ridge;
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

static void observe_drift(det_mv *s, const double *x, int warm)
{
    for (uint32_t i = 0; i < s->d; i++) {
        if (warm && s->n >= 2) {
            double n1 = s->n - 1, dx = x[i] - s->prev[i], dd = dx - s->dmean[i];
            s->dmean[i] += dd / n1;
            s->dvar[i] += (dd * (dx - s->dmean[i]) - s->dvar[i]) / n1;
            double r = x[i] - s->track[i], dr = r - s->rmean[i];
            s->rmean[i] += dr / n1;
            s->rvar[i] += (dr * (r - s->rmean[i]) - s->rvar[i]) / n1;
        }
        s->prev[i] = x[i];
        s->track[i] += (s->n <= 1 ? 1.0 : TRACK_ALPHA) * (x[i] - s->track[i]);
    }
}

/* End of warm-up: drifters swap their level statistics for those of their deviation. */
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

void det_mv_update(det_mv *s, const det_mv_params *p, const double *x, det_mv_out *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < s->d; i++)
        if (!isfinite(x[i])) return;
    s->n++;
    if (s->n == 1) {
        memcpy(s->mean, x, s->d * sizeof(double));
        observe_drift(s, x, 0);
        return;
    }
    int warm = s->n <= p->warmup;
    observe_drift(s, x, warm);
    if (s->n == p->warmup + 1) decide_drift(s);
    if (s->n <= 2 || s->since_chol >= REFRESH || warm || s->n == p->warmup + 1) factor(s, p->ridge);
    double y[DET_MV_MAX_DIM];
    view(s, x, y);
    out->t2 = mahalanobis(s, y, &out->contrib);
    /* smoothed in the log domain: a huge excursion fades as fast as it came */
    double lt = log(out->t2 + 1e-6);
    s->smooth = s->n <= 2 ? lt : s->smooth + p->alpha_smooth * (lt - s->smooth);
    out->smooth = exp(s->smooth);
    double ls = s->smooth;
    if (warm) {
        if (s->n + p->calib > p->warmup) { /* calibration rows: Welford of log(smooth) */
            s->cal_n++;
            double dl = ls - s->cal_mean;
            s->cal_mean += dl / s->cal_n;
            s->cal_m2 += dl * (ls - s->cal_mean);
        }
        learn(s, x, 1.0 / s->n);
        s->since_chol++;
        return;
    }
    double sd = s->cal_n > 1 ? sqrt(s->cal_m2 / (s->cal_n - 1)) : 1.0;
    if (sd < 0.05) sd = 0.05;
    out->z = (ls - s->cal_mean) / sd;
    if (!s->alarm && out->z > p->k_on)
        s->alarm = 1;
    else if (s->alarm && out->z < p->k_off)
        s->alarm = 0;
    out->alarm = s->alarm;
    if (!s->alarm && out->t2 < 4.0 * exp(s->cal_mean)) {
        learn(s, y, p->alpha_learn);
        s->since_chol++;
    }
}
