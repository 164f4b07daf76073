/* Per-series detection pipeline: the default ensemble (robust seasonal baseline with a level-shift
 * stream, AR forecaster), each calibrated by an anomaly-likelihood stage, then the
 * default alert
 * decision: a score in [0,1] (Numenta's log scale of the tail probability), a severity band, and
 * episodes (a point opens a new episode only if no point scored hot in the last alert_holdoff
 * points), so a continuing anomaly updates one record instead of raising a flood. Analyst
 * feedback adapts the series' threshold. The whole state is plain data (<= 4 KB) with a
 * versioned, checksummed snapshot format. */
#ifndef IOTAD_DETECT_SERIES_H
#define IOTAD_DETECT_SERIES_H

#include "detect/ensemble.h"
#include "detect/shape.h"

typedef enum {
    DET_LEVEL_NONE = 0,
    DET_LEVEL_INFO,
    DET_LEVEL_WARNING,
    DET_LEVEL_CRITICAL,
} det_level;

typedef enum {
    DET_VERDICT_FALSE_POSITIVE = 0,
    DET_VERDICT_CONFIRMED,
} det_verdict;

typedef struct {
    double score;      /* [0,1]; >= alert_info is an anomaly by default */
    double likelihood; /* 1 - tail probability */
    double novelty;    /* score if no episode was open before this point, else 0: how anomalous
                          the point is as a new event (what NAB's anomaly_score column gets) */
    double lo, hi;     /* expected range for this point (NAN while unknown) */
    det_level level;   /* severity of this point (NONE below the threshold) */
    int alert;         /* 1 if this point opens a new anomaly episode */
    int in_episode;    /* 1 while an episode is open (hot within the last alert_holdoff points) */
    uint8_t n_members;
    uint8_t contributors;             /* bit i set: member i is surprised (q <= 1e-3) */
    double member_score[DET_ENS_MAX]; /* per-member score on the same [0,1] scale */
    uint8_t shape;                    /* det_shape_kind of the series at this point */
    uint8_t why;                      /* discrete: DET_WHY_* of the score */
    double scored; /* the value the score and [lo, hi] are about: x, or a counter's rate per
                      second (NAN when this point closed no rate window) */
    double held_ms, usual_ms; /* discrete: the current run and the longest one seen */
    uint8_t routine; /* 1: hot, but as high as at this time of day on earlier days, so Info */
} det_result;

enum { DET_WHY_NONE = 0, DET_WHY_VALUE, DET_WHY_STUCK, DET_WHY_FLAP };

#define DET_ROUTINE_BINS 24

typedef struct {
    uint32_t n;         /* points learned */
    uint32_t since_hot; /* points since the last hot point */
    int64_t last_ts;
    float fp_bias; /* threshold offset learned from analyst verdicts */
    float dt_med;  /* typical sampling interval, ms (streaming median; 0 until known) */
    uint32_t late; /* late or duplicate points seen (scored, not learned) */
    uint8_t in_episode;
    uint8_t pad;
    uint16_t r_day;   /* UTC day (mod 2^16) of the routine's "today" half-bytes */
    int64_t first_ts; /* data time of the first point learned: the learning day counts from it */
    /* the daily routine of surprises: per hour of the UTC day, the highest score on earlier
       days (high half-byte, decayed by routine_decay 15ths a day) and today (low half-byte), in
       15ths of the score scale */
    uint8_t routine[DET_ROUTINE_BINS];
    det_shape shape; /* the series' kind, recognised from its values (shape.h) */
    union {
        det_ensemble ens; /* a level or a counter's rate */
        det_state st;     /* a discrete series */
    };
} det_series;

int det_series_init(det_series *s, const det_params *p, uint64_t seed);
/* Values beyond +-DET_X_MAX are ignored like non-finite ones: the detectors keep float state, and
 * squares of larger values would overflow it. */
#define DET_X_MAX 1e18

/* Learns one point and fills *out. Non-finite values are ignored (out->score = 0).
 * Time-aware: a point older than or as old as the last one (late, or a duplicate timestamp) is
 * scored against the baseline but not learned from; a point after a gap of more than p->gap_k
 * typical intervals tells the members (stale lags and shingles are dropped, the level may have
 * drifted) without resetting anything learned. */
void det_series_update(det_series *s, const det_params *p, int64_t ts_ms, double x,
                       det_result *out);
/* Analyst verdict on the series' latest episode: a false positive raises the series' threshold
 * (by 0.1 on the score scale, at most 0.4, decaying back over ~10k points); a confirmation
 * lowers it again. */
void det_series_feedback(det_series *s, det_verdict v);
void det_series_reset(det_series *s, const det_params *p);
const char *det_series_member_name(const det_series *s, size_t i);
const char *det_level_name(det_level level);

#define DET_SERIES_SNAP_SIZE (DET_SNAP_HEADER + sizeof(det_series))
/* Returns bytes written, 0 if cap < DET_SERIES_SNAP_SIZE. */
size_t det_series_snapshot(const det_series *s, uint8_t *out, size_t cap);
/* 0 ok; -1 on a bad/foreign/corrupt snapshot, after which the series is reset (learning anew). */
int det_series_restore(det_series *s, const det_params *p, const uint8_t *in, size_t len);

#endif
