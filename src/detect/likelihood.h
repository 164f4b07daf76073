/* Anomaly likelihood: turns a detector's raw scores into a calibrated tail probability q.
 * As in Numenta's anomaly likelihood (Ahmad et al. 2017) the mean of the last lik_short raw
 * scores is compared with the recent distribution of that mean; unlike it, the tail is not assumed
 * Gaussian: the bulk is a winsorised EW Gaussian, and beyond u = mean + 3 sd the tail is an
 * exponential fitted to the observed excesses (peaks over threshold, as in SPOT, Siffer et al.
 * KDD 2017). A pattern that recurs (a daily jump a detector cannot predict) fills the tail and
 * stops looking rare; a first-time excursion is scored by how far it goes past what was seen.
 * The bulk is winsorised at u so a few excursions cannot inflate it, unless more than lik_fmax
 * of the points lie beyond u: then they are no tail but part of the distribution (spikes that
 * keep coming), and the bulk learns them. */
#ifndef IOTAD_DETECT_LIKELIHOOD_H
#define IOTAD_DETECT_LIKELIHOOD_H

#include "detect/detector.h"

#define DET_LIK_SHORT_MAX 16

/* The distribution model of one averaged score: Gaussian bulk + exponential tail. */
typedef struct {
    float mean, var; /* bulk (winsorised) */
    float frac;      /* EW fraction of points above u */
    float excess;    /* EW mean excess over u */
} det_lik_tail;

typedef struct {
    uint32_t n;
    uint8_t pos, fill;
    uint16_t pad;
    float ring[DET_LIK_SHORT_MAX];
    float sum;
    det_lik_tail st; /* distribution of the short-term average */
} det_lik;

void det_lik_init(det_lik *s);
/* Learns raw score `raw` (< 0: the detector has no opinion yet; ignored) and returns the tail
 * probability q in (0, 1] of the recent scores (1 during the first `warmup` points). */
double det_lik_update(det_lik *s, const det_params *p, double raw);
/* Numenta's log scale: 0 for q >= ~1, 0.5 for q = 1e-5, 1 for q <= 1e-10. */
double det_lik_score(double q);
int det_lik_validate(const det_lik *s);

#endif
