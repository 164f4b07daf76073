/* Predictive detector: an online AR(DET_AR_LAGS) model fitted by recursive least squares with
 * forgetting, on values centred and scaled by an EW mean/scale (so no intercept is needed). The raw
 * score is the one-step forecast error divided by the EW RMS of recent errors. */
#ifndef IOTAD_DETECT_FORECAST_H
#define IOTAD_DETECT_FORECAST_H

#include "detect/detector.h"

#define DET_AR_LAGS 4
#define DET_AR_DIM DET_AR_LAGS

typedef struct {
    uint32_t n;
    uint32_t refill;    /* lags still to refill after a gap (no forecast until then) */
    double mean, scale; /* input normalisation */
    double err2;        /* EW mean squared forecast error (normalised units) */
    double lag[DET_AR_LAGS];
    double w[DET_AR_DIM];
    double P[DET_AR_DIM * DET_AR_DIM];
    double dabs;    /* EW mean |change| of the normalised value per point (drift over a gap) */
    double gap_k;   /* the next point follows a gap of gap_k typical intervals (0: none) */
    double quantum; /* resolution of the values (0: unknown): an error of one quantum is <= 1 */
} det_ar;

extern const det_vtable det_ar_vt;

void det_ar_init(det_ar *s, const det_params *p, uint64_t seed);
double det_ar_update(det_ar *s, const det_params *p, int64_t ts_ms, double x);

#endif
