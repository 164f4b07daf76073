/* What kind of series this is, recognised from its values (issue 10/15: a new fleet's first run
 * was noise on the simulator's own normal counters, 0/1 states and coarse steps):
 *  - a level (the default): the ensemble scores the values;
 *  - a monotone counter with resets (bytes, kWh, uptime, event counts): what carries information
 *    is its rate, so the ensemble scores the rate over windows of at least DET_SHAPE_RATE_MS (a
 *    counter's value is a sum of everything before, and a Poisson count over a few seconds is
 *    all spikes); a drop to below a tenth of the value is a reset (a reboot, a wrap), not scored;
 *  - a discrete series (at most DET_SHAPE_VALS distinct values that recur: a door, a mode, a
 *    frame rate): scored by det_state below (how rare the state is, how long it has held, how
 *    often it changes), not by a Gaussian band around a level;
 *  - every kind: the value's quantum (the smallest change seen; a value rounded to 0.1 moves in
 *    steps of 0.1) is the series' resolution, so a change by one quantum is not an anomaly
 *    (det_ensemble_resolution).
 * The decision is revisable: a "counter" that decreases without resetting, or a "discrete"
 * series that takes more values, becomes a level (the caller then relearns). While undecided a
 * series that may still be a counter or a two-state series is quiet (det_shape_quiet): its first
 * steps are not anomalies, since nothing says yet what is normal for it. */
#ifndef IOTAD_DETECT_SHAPE_H
#define IOTAD_DETECT_SHAPE_H

#include "detect/likelihood.h"

#include <stdint.h>

#define DET_SHAPE_VALS 8         /* a discrete series has at most this many values */
#define DET_SHAPE_RATE_MS 60000  /* a counter's rate is taken over at least this much time */
#define DET_SHAPE_MIN_N 32       /* points before a counter or discrete decision */
#define DET_SHAPE_COUNTER_UPS 16 /* increments before a monotone series is a counter */
#define DET_SHAPE_RETURNS 2      /* returns to an earlier value before a series is discrete */

typedef enum {
    DET_SHAPE_LEVEL = 0,
    DET_SHAPE_COUNTER = 1,
    DET_SHAPE_DISCRETE = 2,
} det_shape_kind;

typedef struct {
    uint8_t kind;    /* det_shape_kind */
    uint8_t decided; /* 1 once counter/discrete was decided (or a level proven) */
    uint8_t nvals;   /* distinct values seen while <= DET_SHAPE_VALS */
    uint8_t many;    /* 1: more than DET_SHAPE_VALS distinct values: not discrete */
    uint32_t n;      /* points observed */
    uint32_t n_up;   /* increments > 0 */
    uint32_t n_down; /* decrements that are not resets */
    uint32_t n_ret;  /* points whose value returned to an earlier value (not the previous one) */
    float quantum;   /* smallest non-zero |change| seen (0: none yet) */
    union {
        struct { /* while !many: the distinct values */
            float vals[DET_SHAPE_VALS];
            uint16_t cnt[DET_SHAPE_VALS]; /* points per value (saturating) */
        };
        struct {        /* once many: the grid of the increments (a counter's rate resolution) */
            float grid; /* smallest non-zero change between consecutive increments (0: none) */
            float last_inc; /* the last increment (< 0: none since `many` or the last reset) */
        } inc;
    };
    float vmin, vmax; /* range of the values seen */
    double prev;      /* last value */
    double win_x;     /* counter: value at the start of the rate window */
    int64_t win_t;    /* counter: time of the start of the rate window */
} det_shape;

void det_shape_init(det_shape *s);
/* Learns x (after the previous point, in time order). Returns 1 if the kind changed at this
 * point (the caller relearns its model for the new kind), else 0. */
int det_shape_observe(det_shape *s, double x);
/* 1 while the series is undecided and may still turn out a counter or a two-state series. */
int det_shape_quiet(const det_shape *s);
/* 1 if x is a counter reset after prev > 0 (a drop to below a tenth of it). */
int det_shape_is_reset(double prev, double x);
/* Counter: feeds (ts_ms, x); returns 1 and the rate per second over the window when a window of
 * at least DET_SHAPE_RATE_MS closes at this point, 0 otherwise (also on a reset, which starts a
 * new window). */
int det_shape_rate(det_shape *s, int64_t ts_ms, double x, double *rate);
/* Counter: the next point follows a gap. A window spanning it would give the average rate over
 * the hours unseen, not the rate now: the window restarts at that point (the first rate after a
 * gap is the first window that closes after it). */
void det_shape_gap(det_shape *s);
/* Resolution of the series' scored values: the quantum for a level; for a counter's rate the
 * grid of its values over the window: the smallest change between consecutive increments (a
 * meter printed to 0.001 kWh moves by 0.03 a minute but its rate by multiples of 0.001 a window;
 * the smallest increment is the grid only for event counts), capped at 1 (0: unknown). */
double det_shape_resolution(const det_shape *s);
const char *det_shape_name(det_shape_kind k);
int det_shape_validate(const det_shape *s);

/* Discrete states: each state's EW frequency, its longest and typical run (ms), the per-point
 * change probability (long-run, and the largest seen over DET_STATE_WIN points). Score streams:
 * a rare or new state (Good-Turing: a new value is as likely as the values seen once; less so
 * far from every known state), a state held far beyond its longest run (stuck), and more
 * changes in the last DET_STATE_LONG points than the busiest stretches of DET_STATE_WIN points
 * allow (flapping), and the count of changes over the last 16 points through the likelihood
 * stage (a state coming more often than its rhythm). */
#define DET_STATE_WIN 32   /* the busiest usual fraction of changes is over this many points */
#define DET_STATE_LONG 128 /* changes are counted over this many */

typedef struct {
    uint64_t changes[2]; /* bit i: the i-th last point changed state (128 points) */
    uint32_t n;          /* points learned */
    uint8_t nst;         /* states known */
    uint8_t cur;         /* index of the current state */
    uint8_t pad[2];
    int64_t run_t0; /* start of the current run */
    int64_t last_ts;
    int64_t first_ts; /* the model's first point */
    float p_change;   /* EW per-point change probability (long-run) */
    float p_peak;     /* high level of the fraction of changes over DET_STATE_WIN points (learned
                         slowly upwards, slowly forgotten) */
    float val[DET_SHAPE_VALS];
    float cnt[DET_SHAPE_VALS];     /* points seen in the state (EW-forgotten past 1e5) */
    float run_max[DET_SHAPE_VALS]; /* longest completed run, ms (slowly forgotten) */
    float run_mean[DET_SHAPE_VALS];
    uint32_t runs[DET_SHAPE_VALS]; /* completed runs */
    det_lik lik; /* changes over the last 16 points, calibrated as every ensemble stream */
} det_state;

typedef struct {
    double q;        /* combined tail probability (min of the 3 streams x 3) */
    double q_value;  /* how rare the value is */
    double q_stuck;  /* how long the state has held */
    double q_flap;   /* how often it changed lately (the smaller of two streams: the count over
                        the last 128 points, the count over 16 through the likelihood stage) */
    double held_ms;  /* current run */
    double usual_ms; /* longest run of the state seen */
} det_state_out;

void det_state_init(det_state *m);
/* Seeds the states from a shape's distinct values (the decision point). */
void det_state_seed(det_state *m, const det_shape *s, int64_t ts_ms);
/* Learns one point; fills *out (q = 1 during the warm-up). Late points: call with learn = 0. */
void det_state_update(det_state *m, const det_params *p, int64_t ts_ms, double x, int learn,
                      det_state_out *out);
/* The next point follows a gap: unseen_ms of it were not observed. The current run's length
 * counts observed time only (the state may have changed and come back unseen), so a gap does not
 * make a state look stuck, and the run it ends is not learned longer than it was seen. */
void det_state_gap(det_state *m, double unseen_ms);
int det_state_validate(const det_state *m);

#endif
