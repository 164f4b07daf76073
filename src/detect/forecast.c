/* Online AR forecaster (see forecast.h). RLS costs O(DET_AR_DIM^2) per point. Forgetting lets it
 * follow drift; RLS with forgetting winds up when the inputs stop exciting it (a flat stretch),
 * so the covariance P is bounded (trace cap), the weights are clamped to a stable range, and the
 * model restarts itself if a number ever turns non-finite. */
#include "detect/forecast.h"

#include <math.h>
#include <string.h>

#define WARM 20u
#define P0 100.0
#define TRACE_CAP 1e4
#define W_MAX 3.0
#define GAP_CAP 100.0
#define SIGMA_PER_MAD 1.2533

static void rls_reset(det_ar *s)
{
    memset(s->w, 0, sizeof s->w);
    memset(s->P, 0, sizeof s->P);
    for (int i = 0; i < DET_AR_DIM; i++)
        s->P[i * DET_AR_DIM + i] = P0;
}

void det_ar_init(det_ar *s, const det_params *p, uint64_t seed)
{
    (void)p;
    (void)seed;
    memset(s, 0, sizeof *s);
    rls_reset(s);
    s->err2 = 1.0;
}

static double predict(const det_ar *s, const double *phi)
{
    double y = 0;
    for (int i = 0; i < DET_AR_DIM; i++)
        y += s->w[i] * phi[i];
    return y;
}

static void rls_learn(det_ar *s, const double *phi, double e, double lambda)
{
    double Pphi[DET_AR_DIM];
    double den = lambda;
    for (int i = 0; i < DET_AR_DIM; i++) {
        double a = 0;
        for (int j = 0; j < DET_AR_DIM; j++)
            a += s->P[i * DET_AR_DIM + j] * phi[j];
        Pphi[i] = a;
        den += phi[i] * a;
    }
    double tr = 0;
    for (int i = 0; i < DET_AR_DIM; i++) {
        double k = Pphi[i] / den;
        s->w[i] = det_clamp(s->w[i] + k * e, -W_MAX, W_MAX);
        for (int j = 0; j < DET_AR_DIM; j++)
            s->P[i * DET_AR_DIM + j] -= k * Pphi[j];
        tr += s->P[i * DET_AR_DIM + i];
    }
    if (tr < TRACE_CAP) {
        double inv = 1.0 / lambda;
        for (int i = 0; i < DET_AR_DIM * DET_AR_DIM; i++)
            s->P[i] *= inv;
    }
}

double det_ar_update(det_ar *s, const det_params *p, int64_t ts_ms, double x)
{
    (void)ts_ms;
    if (s->n == 0) {
        s->mean = x;
        s->scale = 0;
    }
    s->n++;
    double a = s->n < WARM ? 1.0 / s->n : 0.01;
    double sc = s->scale > 1e-9 * (1.0 + fabs(s->mean)) ? s->scale : 1e-9 * (1.0 + fabs(s->mean));
    double u = det_clamp((x - s->mean) / sc, -50.0, 50.0);

    if (s->refill > 0 && s->n > 1) { /* after a gap: collect fresh lags, forecast nothing */
        if (s->refill == DET_AR_LAGS && s->gap_k > 1) {
            /* the level may have drifted during the gap by about slope * k: Kalman step of the
               normalisation mean against the forecast noise */
            double k = s->gap_k < GAP_CAP ? s->gap_k : GAP_CAP, d = s->dabs * (k - 1.0);
            if (d > SIGMA_PER_MAD) d = SIGMA_PER_MAD; /* no further than the values spread */
            s->mean += d * d / (d * d + s->err2) * (x - s->mean);
            u = det_clamp((x - s->mean) / sc, -50.0, 50.0);
        }
        s->gap_k = 0;
        s->refill--;
        memmove(s->lag + 1, s->lag, (DET_AR_LAGS - 1) * sizeof(double));
        s->lag[0] = u;
        double dx = x - s->mean;
        s->mean += a * det_clamp(dx, -p->clip_z * 1.25 * sc, p->clip_z * 1.25 * sc) * 0.5;
        s->scale += a * (fabs(dx) - s->scale);
        return -1.0;
    }
    double phi[DET_AR_DIM];
    for (int i = 0; i < DET_AR_LAGS; i++)
        phi[i] = s->lag[i];
    double e = u - predict(s, phi);
    double rms = sqrt(s->err2) + 1e-3;
    double qn = 2.02 * s->quantum / sc; /* two quanta, normalised: no evidence (robust.c) */
    double z = fmax(fabs(e) - qn, 0.0) / fmax(rms, qn);

    double ec = det_clamp(e, -p->clip_z * rms, p->clip_z * rms);
    rls_learn(s, phi, s->n < WARM ? e : ec, p->ar_lambda);
    s->err2 += (s->n < WARM ? a : 0.01) * (ec * ec - s->err2);
    s->dabs += a * (fmin(fabs(u - s->lag[0]), p->clip_z) - s->dabs);
    memmove(s->lag + 1, s->lag, (DET_AR_LAGS - 1) * sizeof(double));
    s->lag[0] = u;
    double dx = x - s->mean;
    s->mean += a * det_clamp(dx, -p->clip_z * 1.25 * sc, p->clip_z * 1.25 * sc) *
               (s->n < WARM ? 1.0 : 0.5);
    s->scale += a * (fabs(dx) - s->scale);

    if (!isfinite(s->err2) || !isfinite(s->w[0]) || !isfinite(s->P[0])) {
        rls_reset(s);
        s->err2 = 1.0;
    }
    return s->n <= WARM ? -1.0 : z;
}

static double vt_update(void *st, const det_params *p, int64_t ts, double x)
{
    return det_ar_update(st, p, ts, x);
}

static void vt_prefetch(const void *st, int64_t ts, double x)
{
    (void)ts;
    (void)x;
    for (size_t o = 128; o < sizeof(det_ar); o += 64)
        DET_PREFETCH((const char *)st + o);
}

static void vt_init(void *st, const det_params *p, uint64_t seed)
{
    det_ar_init(st, p, seed);
}

static void vt_gap(void *st, double k)
{
    det_ar *s = st;
    s->refill = DET_AR_LAGS;
    s->gap_k = k;
}

static void vt_reset(void *st, const det_params *p)
{
    det_ar_init(st, p, 0);
}

static void vt_resolution(void *st, double q)
{
    ((det_ar *)st)->quantum = q;
}

static int vt_validate(const void *st)
{
    const det_ar *s = st;
    const double *d = &s->mean;
    size_t nd = (sizeof *s - offsetof(det_ar, mean)) / sizeof(double);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(d[i])) return -1;
    if (s->refill > DET_AR_LAGS || s->gap_k < 0 || s->quantum < 0) return -1;
    return s->scale >= 0 && s->err2 >= 0 ? 0 : -1;
}

const det_vtable det_ar_vt = {
    .name = "forecast",
    .state_size = sizeof(det_ar),
    .init = vt_init,
    .update = vt_update,
    .reset = vt_reset,
    .expected = NULL,
    .validate = vt_validate,
    .prefetch = vt_prefetch,
    .gap = vt_gap,
    .resolution = vt_resolution,
};
