/* Multivariate detector over all metrics of one device, two kinds of control chart on one
 * learned normal model (mean and covariance): the Mahalanobis distance of each row (Hotelling T^2
 * with a ridge: a broken relation between metrics, a jump), and one EWMA chart per metric on an EW
 * mean of the rows (a small shift that persists adds up, row noise does not; judged metric by
 * metric, so a shift in one metric is not diluted by the others). Learning is online: Welford
 * while warming up (e.g. a calibration period), then EW updates from rows judged normal, and at a
 * much lower rate from abnormal ones, so a long fault is not learned as the new normal quickly but
 * a lasting new state is eventually accepted. Metrics that drift during the first half of the
 * warm-up (a warming temperature) enter as their deviation from a fast track (their short-term
 * change) instead of their level; that decision is made before the calibration rows, so calibration
 * sees the same view as every later row. Calibration (the second half of the warm-up): the row
 * chart's smoothed log(T^2/d) gets its normal mean and sd; each metric's standardised EWMA
 * deviation gets its own normal mean and sd (autocorrelated metrics spread several times wider
 * than the i.i.d. formula says, each by its own factor), followed afterwards by the rows judged
 * normal. The alarm rises when the row chart exceeds k_on calibrated sd or a metric's chart
 * exceeds k_on + ew_margin (the largest of d charts needs a higher bar than one), and holds until
 * both are below k_off (+ ew_margin) (hysteresis). Fixed memory; O(d^2) per row plus a Cholesky
 * every refresh rows. */
#ifndef IOTAD_DETECT_MVAR_H
#define IOTAD_DETECT_MVAR_H

#include "detect/detector.h"

#include <stddef.h>
#include <stdint.h>

#define DET_MV_MAX_DIM 16

typedef struct {
    double alpha_learn;  /* EW rate of mean/covariance after warm-up (normal rows only) */
    double alpha_smooth; /* EW rate of the smoothed score */
    double k_on, k_off;  /* alarm on above mean + k_on sd, off below mean + k_off sd (log scale) */
    double ridge;        /* added to the covariance diagonal, relative to each variance */
    uint32_t warmup;     /* rows learned unconditionally (SKAB: the 400 training rows) */
    uint32_t calib;      /* last `calib` warm-up rows also calibrate the score distribution */
    double track;        /* EW rate of the track drifting metrics are measured against */
    double learn_alarm;  /* EW rate of learning from rows judged abnormal (0: never) */
    double mewma;        /* > 0: EW rate (lambda) of the per-metric EWMA charts; 0: off */
    double ew_margin;    /* the per-metric charts alarm at k_on + ew_margin, clear at k_off + it */
    double cal_learn;    /* EW rate at which their calibration follows rows judged normal */
    double gap_k;        /* a pause of more than gap_k typical intervals is a gap (update_at) */
} det_mv_params;

/* The row chart: its smoothed log statistic and the calibration of that. */
typedef struct {
    double smooth;           /* EW of log(T^2 / d) */
    double cal_mean, cal_m2; /* Welford of the smoothed value over the calibration rows */
    uint32_t cal_n, pad;
} det_mv_chart;

typedef struct {
    uint32_t d, n, since_chol;
    uint8_t alarm, pad[3];
    det_mv_chart chart; /* T^2 of the row itself (a broken relation between metrics, a jump) */
    double mean[DET_MV_MAX_DIM];
    double cov[DET_MV_MAX_DIM * DET_MV_MAX_DIM];
    double chol[DET_MV_MAX_DIM * DET_MV_MAX_DIM]; /* lower Cholesky factor of cov + ridge */
    /* drifting metrics (a slow trend, e.g. a temperature warming up): judged after the first
     * part of the warm-up by comparing the variance of levels with that of first differences;
     * such a metric enters the distance as its deviation from its own EW track, not as its
     * level */
    double prev[DET_MV_MAX_DIM], dmean[DET_MV_MAX_DIM], dvar[DET_MV_MAX_DIM]; /* diffs */
    double track[DET_MV_MAX_DIM];                       /* EW mean, always learning */
    double rmean[DET_MV_MAX_DIM], rvar[DET_MV_MAX_DIM]; /* of x - track, during warm-up */
    uint32_t drift_mask, ew_n;
    /* per-metric EWMA charts: the EW mean of the (viewed) rows, and the normal mean and variance
     * of its standardised deviation (ew - mean) / sd (Welford over ew_n calibration rows, then EW)
     */
    double ew[DET_MV_MAX_DIM];
    double ew_cal_mean[DET_MV_MAX_DIM], ew_cal_var[DET_MV_MAX_DIM];
    int64_t last_ts; /* data time of the latest row (det_mv_update_at), ms */
    float dt_med;    /* typical interval between rows, ms (det_interval_step) */
    uint32_t pad2;
} det_mv;

typedef struct {
    double t2;     /* T^2 / d of this row (~1 for normal rows) */
    double smooth; /* smoothed */
    double z;      /* in calibrated sd: the row chart's, or the largest metric chart's less
                      ew_margin, whichever is higher (alarm on above k_on); 0 in warm-up */
    int alarm;     /* 0/1 */
    int contrib;   /* index of the dimension with the largest standardised deviation */
} det_mv_out;

/* From the shared parameter table (mv_*), with the given warm-up length. */
void det_mv_params_from(det_mv_params *mp, const det_params *p, uint32_t warmup);
/* 0 ok, -1 if d is 0 or > DET_MV_MAX_DIM. */
int det_mv_init(det_mv *s, uint32_t d);
void det_mv_update(det_mv *s, const det_mv_params *p, const double *x, det_mv_out *out);
/* det_mv_update of a row at data time ts_ms (ms): after a gap (a pause of more than gap_k typical
 * intervals) a drifting metric, judged by its short-term change, would take the change over hours
 * (a room warming after a night) for a jump: its track restarts at the row. Nothing learned is
 * reset; levels are judged as ever. Late and duplicate times are rows like any other. */
void det_mv_update_at(det_mv *s, const det_mv_params *p, int64_t ts_ms, const double *x,
                      det_mv_out *out);

#endif
