/* Robust seasonal baseline. Three predictors run side by side: a winsorised EWMA level, a
 * time-of-day profile (10-minute bins) and a time-of-week profile (hourly bins), each profile
 * learned online with an EW offset that lets it follow level changes. Each keeps an EW
 * mean-absolute-residual scale; the one with the smallest scale (a profile only once it has had
 * time to learn and clearly explains the data) gives the expected value and the robust z of the
 * point, which is the raw score. A second, slower score stream (vtable aux) is the absolute EW
 * mean of the clipped signed z: a deviation that persists in one direction (a level shift, a
 * day below its profile) even when no single point is extreme. The expected range feeds
 * explanations. */
#ifndef IOTAD_DETECT_ROBUST_H
#define IOTAD_DETECT_ROBUST_H

#include "detect/detector.h"

#define DET_ROBUST_DAY_BINS 144  /* 10-minute bins */
#define DET_ROBUST_WEEK_BINS 168 /* hourly bins */
#define DET_ROBUST_DAY_BLOCKS 12 /* 2-hour blocks of the calendar stream */

typedef struct {
    uint32_t n;
    uint32_t n_s; /* points the daily profile has predicted */
    uint32_t n_w; /* points the weekly profile has predicted */
    float mabs;   /* EW mean |residual| of the chosen model, unclipped (capped at MABS_CAP x) */
    int64_t first_ts, last_ts;
    /* calendar stream (aux2): today's (UTC day) summed residual against the same weekday's
       recent days (2-hour block means, EW over weeks), in units of a typical day's total */
    int32_t d_day;   /* current day index (days since the epoch) */
    uint32_t d_days; /* completed full days learned */
    uint32_t d_cnt;  /* points so far today that had a learned block to compare with */
    uint32_t b_cnt;  /* points in the current block */
    uint8_t b_blk;   /* current block: weekday * DET_ROBUST_DAY_BLOCKS + block of the day */
    uint8_t d_full;  /* today began at midnight (the day before had data): learnable */
    uint8_t b_seen[(7 * DET_ROBUST_DAY_BLOCKS + 7) / 8]; /* blocks learned at least once */
    float level, scale_n;                                /* non-seasonal model */
    float offset, scale_s;                               /* daily model: profile[bin] + offset */
    float offset_w, scale_w;                             /* weekly model: week[bin] + offset_w */
    float bias;           /* EW of the clipped signed z of the chosen model: level shifts */
    float dev, dev_raw;   /* slower EW of the same (persistent deviation) and its aux score */
    float exp_lo, exp_hi; /* expected range of the last point (before learning from it) */
    float last_x, d1;     /* last value; EW mean |change| between consecutive points */
    float env_lo, env_hi; /* envelope of the values seen (slowly forgotten, spike-limited) */
    float gap_k;          /* the next point follows a gap of gap_k typical intervals (0: none) */
    float quantum;        /* resolution of the values (0: unknown): the scale floor */
    float d_sum, d_npd;   /* today's clipped residual sum; EW points per full day */
    float d_scale, d_raw; /* EW |mean residual| of full days; aux2 score of the last point */
    float b_sum;          /* current block: sum of x (first visit) or of clipped residuals */
    float wblock[7 * DET_ROBUST_DAY_BLOCKS]; /* mean per weekday and 2-hour block */
    float profile[DET_ROBUST_DAY_BINS];
    float week[DET_ROBUST_WEEK_BINS];
    uint8_t seen[DET_ROBUST_DAY_BINS / 8]; /* profile bins visited at least once */
    uint8_t seen_w[DET_ROBUST_WEEK_BINS / 8];
} det_robust;

extern const det_vtable det_robust_vt;

void det_robust_init(det_robust *s, const det_params *p, uint64_t seed);
double det_robust_update(det_robust *s, const det_params *p, int64_t ts_ms, double x);
/* The value the baseline expects at ts_ms. */
double det_robust_predict(const det_robust *s, int64_t ts_ms);
/* Raw score (robust z) of (ts_ms, x) without learning from it; < 0 during the warm-up. */
double det_robust_peek(const det_robust *s, int64_t ts_ms, double x);

#endif
