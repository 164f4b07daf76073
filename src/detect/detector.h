/* The detector interface, in the spirit of River's anomaly module: a detector is a table of
 * functions over a caller-owned, fixed-size state blob (one per series). update() learns from a
 * point and returns its raw anomaly score (>= 0, larger = more anomalous; scales differ between
 * detectors: the likelihood stage calibrates them). No I/O and no allocation: the state is plain
 * data, so snapshot/restore is a checked copy. Parameters are shared by every series and passed in,
 * which keeps the per-series state small. Randomness comes from a per-series seed (splitmix64). */
#ifndef IOTAD_DETECT_DETECTOR_H
#define IOTAD_DETECT_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

/* Shared tunables: one table of defaults (det_params_default), the same for every series. */
typedef struct det_params {
    /* robust seasonal baseline */
    double level_alpha;  /* EW rate of the level (per point) */
    double season_alpha; /* EW rate of the hour-of-day / day-of-week offsets (per visit) */
    double scale_alpha;  /* EW rate of the residual scale */
    double clip_z;       /* residuals are winsorised at clip_z scales before learning */
    double shift_alpha;  /* EW rate of the persistent-deviation (level shift) stream; 0 = off */
    /* online AR forecaster */
    double ar_lambda; /* RLS forgetting factor */
    /* density member (grid, or half-space trees; none by default since issue 10) */
    double ens_density;  /* 2 none (default), 1 grid, 0 half-space trees */
    uint32_t hst_window; /* points per mass window (<= 255) */
    /* anomaly likelihood */
    uint32_t lik_short;  /* points averaged for the short-term score (<= DET_LIK_SHORT_MAX) */
    uint32_t lik_short2; /* a second, shorter average with its own tail (< lik_short; 0 = off) */
    double lik_short2_w; /* its tail probability counts times this: it speaks when clearly rarer */
    uint32_t lik_peak_h; /* points an excursion peak is remembered (likelihood.h); 0 = off */
    double lik_peak_tol; /* a score within (1 + tol) x the remembered peaks repeats the usual */
    double lik_alpha;    /* EW rate of the long-term score distribution */
    double lik_fmax;     /* tail fraction above which the bulk stops being winsorised; 0 = off */
    uint32_t warmup;     /* points before any score is reported */
    double gap_k;        /* a pause longer than gap_k typical sampling intervals is a gap */
    double conf;        /* 1: conformal point tails of the robust and AR scores join the ensemble */
    uint32_t conf_warm; /* scores a conformal tail must have seen before it has an opinion */
    /* ablation switches (bench/nab_loco.py): 1 = on (default), 0 = off */
    double ens_ar;     /* the AR forecaster member */
    double cal_stream; /* the robust member's calendar-day stream */
    /* default alert decision on the [0,1] score */
    double alert_info, alert_warning, alert_critical;
    uint32_t alert_holdoff; /* points after an alert during which no new alert is raised */
    double learn_h;         /* the learning day: in a series' first learn_h hours of data time only
                               Warning and above alert (0 = off) */
    double routine_tol;     /* a score no more than this above the series' routine at this time
                               of day (series.h) is only Info (< 0 = off) */
    double routine_decay;   /* 15ths of the score scale the routine forgets per day */
    /* multivariate device detector (mvar.h): learning rates for normal / alarmed rows, score
     * smoothing, alarm on/off levels (calibration sd), ridge, EWMA lambda, drift track rate,
     * the per-metric charts' extra margin over k_on/k_off and their calibration's learning rate */
    double mv_learn, mv_learn_alarm, mv_smooth, mv_k_on, mv_k_off, mv_ridge, mv_mewma, mv_track;
    double mv_ew_margin, mv_cal_learn;
} det_params;

void det_params_default(det_params *p);
/* Sets one parameter by name ("level_alpha", ...); 0 ok, -1 unknown name. */
int det_params_set(det_params *p, const char *name, double value);

typedef struct det_vtable {
    const char *name;
    size_t state_size;
    void (*init)(void *state, const det_params *p, uint64_t seed);
    /* learn_one + score_one in one call; returns the raw score (>= 0), or < 0 while the detector
     * is still warming up and has no opinion yet. */
    double (*update)(void *state, const det_params *p, int64_t ts_ms, double x);
    /* Forgets everything learned; keeps the seed. */
    void (*reset)(void *state, const det_params *p);
    /* Optional: expected value range for explanations; 0 ok, -1 not available yet. */
    int (*expected)(const void *state, double *lo, double *hi);
    /* Checks a state restored from bytes (indices in range, finite numbers); 0 ok. */
    int (*validate)(const void *state);
    /* Optional second raw score of the last update, on another time scale (e.g. a persistent
     * deviation rather than a point one); the ensemble calibrates it with its own likelihood.
     * < 0: no opinion. */
    double (*aux)(const void *state);
    /* Optional third raw score on yet another scale (only for a member that has aux). */
    double (*aux2)(const void *state);
    /* Optional: issue prefetches for the parts of the state the next update(ts_ms, x) will
     * touch, so that with many series (states cold in cache) the misses overlap. No effect on
     * results. */
    void (*prefetch)(const void *state, int64_t ts_ms, double x);
    /* Optional: the next point comes after a gap of k typical sampling intervals (k > 1): the
     * context of the last points is stale (lags, shingles), but nothing learned is forgotten. */
    void (*gap)(void *state, double k);
    /* Optional: raw score of (ts_ms, x) without learning from it (late or duplicate points);
     * < 0: no opinion. */
    double (*peek)(const void *state, const det_params *p, int64_t ts_ms, double x);
    /* Optional: the resolution of the values (their quantum, shape.h; 0 unknown): a deviation of
     * one quantum is never more than one scale. */
    void (*resolution)(void *state, double q);
} det_vtable;

#if defined(__GNUC__) || defined(__clang__)
#define DET_PREFETCH(p) __builtin_prefetch((const void *)(p), 1, 3)
#else
#define DET_PREFETCH(p) ((void)(p))
#endif

/* splitmix64: a tiny deterministic PRNG / mixer (no global state, no rand()). */
static inline uint64_t det_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline double det_unit(uint64_t h) /* [0,1) from 53 bits */
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static inline double det_clamp(double x, double lo, double hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The typical sampling interval of a stream (*dt_med, ms; 0 until known) after an interval of dt
 * ms (> 0): a frugal streaming median, which a gap or a burst moves by 2% only. Returns the
 * interval in typical intervals if it is a gap (longer than gap_k of them), else 0. */
static inline double det_interval_step(float *dt_med, double dt, double gap_k)
{
    if (!(*dt_med > 0)) {
        *dt_med = (float)dt;
        return 0;
    }
    double gap = dt > gap_k * *dt_med ? dt / *dt_med : 0;
    if (dt > *dt_med) *dt_med *= 1.02f;
    if (dt < *dt_med) *dt_med *= 0.98f;
    return gap;
}

/* Generic snapshot/restore of a detector state: a checked byte copy with a header (magic,
 * format version, byte order, size, FNV-1a checksum). Returns bytes written (0 if cap is too
 * small) / 0 ok or -1 on any mismatch, after which the state is reset. */
#define DET_SNAP_HEADER 16
size_t det_snapshot(const det_vtable *vt, const void *state, uint8_t *out, size_t cap);
int det_restore(const det_vtable *vt, void *state, const det_params *p, const uint8_t *in,
                size_t len);
uint32_t det_fnv1a(const uint8_t *p, size_t n);

#endif
