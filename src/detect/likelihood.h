/* Anomaly likelihood: turns a detector's raw scores into a calibrated tail probability q.
 * As in Numenta's anomaly likelihood (Ahmad et al. 2017) the mean of the last lik_short raw
 * scores is compared with the recent distribution of that mean; unlike it, the tail is not assumed
 * Gaussian: the bulk is a winsorised EW Gaussian, and beyond u = mean + 3 sd the tail is an
 * exponential fitted to the observed excesses (peaks over threshold, as in SPOT, Siffer et al.
 * KDD 2017). A pattern that recurs (a daily jump a detector cannot predict) fills the tail and
 * stops looking rare; a first-time excursion is scored by how far it goes past what was seen.
 * The bulk is winsorised at u so a few excursions cannot inflate it, unless more than lik_fmax
 * of the points lie beyond u: then they are no tail but part of the distribution (spikes that
 * keep coming), and the bulk learns them.
 * A second, shorter average (the last lik_short2 scores, its own tail model) catches a surprise
 * of a few points that the longer one dilutes; its q counts times lik_short2_w (it speaks only
 * when clearly rarer) and the two combine as min x 2 (Bonferroni).
 * Spikes that come too seldom to be part of the bulk (a spike every 300 points lifts 4 % of the
 * 12-point averages) are learned by their height instead: each average remembers the peaks of its
 * excursions beyond u (DET_LIK_PEAKS of them, each until lik_peak_h points after it was last
 * seen); a peak seen twice (two excursions of the same height within lik_peak_tol) is a usual
 * spike, and a score no higher than (1 + lik_peak_tol) x a usual spike has a q no smaller than the
 * tail fraction (how often the score leaves the bulk at all). A spike that goes past the usual
 * ones is still scored by the tail: the usual spike is learned, a bigger one alarms. */
#ifndef IOTAD_DETECT_LIKELIHOOD_H
#define IOTAD_DETECT_LIKELIHOOD_H

#include "detect/detector.h"

#define DET_LIK_SHORT_MAX 12
#define DET_LIK_PEAKS 2

/* The distribution model of one averaged score: Gaussian bulk + exponential tail. */
typedef struct {
    float mean, var; /* bulk (winsorised) */
    float frac;      /* EW fraction of points above u */
    float excess;    /* EW mean excess over u */
} det_lik_tail;

/* The peaks of a score's last excursions above its tail threshold u. */
typedef struct {
    float v[DET_LIK_PEAKS];     /* peak heights: > 0 seen twice or more, < 0 once, 0 empty */
    uint32_t at[DET_LIK_PEAKS]; /* point count when it was last seen */
    float cur;                  /* peak of the excursion in progress (0: none) */
} det_lik_peaks;

typedef struct {
    uint32_t n;
    uint8_t pos, fill;
    uint16_t pad;
    uint16_t ring[DET_LIK_SHORT_MAX]; /* the last raw scores as bfloat16 (likelihood.c) */
    float sum;
    det_lik_tail st;   /* distribution of the short-term average */
    det_lik_tail st2;  /* distribution of the shorter average (lik_short2) */
    det_lik_peaks pk;  /* past excursions of the short-term average */
    det_lik_peaks pk2; /* and of the shorter one */
} det_lik;

void det_lik_init(det_lik *s);
/* Learns raw score `raw` (< 0: the detector has no opinion yet; ignored) and returns the tail
 * probability q in (0, 1] of the recent scores (1 during the first `warmup` points). */
double det_lik_update(det_lik *s, const det_params *p, double raw);
/* det_lik_update with the shorter average on (short2 = 1, as det_lik_update) or off (0: the
 * lik_short average alone; its second tail and peaks stay untouched). */
double det_lik_update_k(det_lik *s, const det_params *p, double raw, int short2);
/* Numenta's log scale: 0 for q >= ~1, 0.5 for q = 1e-5, 1 for q <= 1e-10. */
double det_lik_score(double q);
int det_lik_validate(const det_lik *s);

#endif
