/* Population (peer) detectors: devices of the same type compared on the same metric, in
 * data-time buckets (each device's mean over the same stretch of time). Three charts:
 * - departure: each device's robust z against the peers' median and MAD in the bucket, EW-
 *   smoothed per device (det_peer): a device that moves away from its peers for a while;
 * - drift: the device's offset from the peer median over the last hour against the same offset
 *   over the last day, in units of its usual variation (det_peer_track): a slow drift that a
 *   fast-adapting per-series baseline absorbs, while a whole-fleet change (weather, a firmware
 *   roll-out) moves the median too and cancels out;
 * - level: each device's offset over the last week against its peers' (det_peer_isolation): a
 *   device that has always been far from every one of its peers, which neither chart above sees
 *   because it never departs from its own past. The distance to the *nearest* peer is used, so a
 *   group of devices that differ together (a second site on another mains voltage) is not an
 *   outlier, a lone device is.
 * Time constants are in data time, so irregular sampling and gaps do not change their meaning;
 * a gap is neither an anomaly nor a reset. Pure functions, fixed memory, no allocation. */
#ifndef IOTAD_DETECT_POPULATION_H
#define IOTAD_DETECT_POPULATION_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t n;
    float ewz; /* EW mean of the signed robust z against the peers */
} det_peer;

/* Robust z of each x[i] against the median and max(1.4826 MAD, floor) of x[0..n); scratch holds
 * n doubles (the caller owns it: no allocation here). floor keeps peers that mostly agree
 * exactly (a 0/1 state, a fixed frame rate: MAD 0) from turning any difference into a huge z.
 * Returns 0, or -1 if n < 3 (too few peers to judge). */
int det_peer_zscores(const double *x, size_t n, double floor, double *z_out, double *scratch);
void det_peer_init(det_peer *p);
/* Learns this step's z for one device; returns the smoothed |z| (its departure from the peers). */
double det_peer_update(det_peer *p, double z, double alpha);
/* Median of x[0..n) (n >= 1), computed on scratch (n doubles). */
double det_peer_median(const double *x, size_t n, double *scratch);

/* The charts, and where an episode of each opens (info), becomes a warning, and closes. */
typedef enum { DET_PEER_DEPARTURE, DET_PEER_DRIFT, DET_PEER_LEVEL, DET_PEER_CHARTS } det_peer_chart;

typedef struct {
    double open[DET_PEER_CHARTS], warn[DET_PEER_CHARTS], close[DET_PEER_CHARTS];
    double tau_fast_ms;      /* "the last hour": EW time constant of the recent offset */
    double tau_slow_ms;      /* "the last day": the baseline offset */
    double tau_dev_ms;       /* the offset's usual variation */
    double tau_long_ms;      /* "the last week": the long-run offset the level chart compares */
    double warm_ms;          /* data time learned before the drift chart judges (a full day, so
                                the usual variation has seen a daily cycle) */
    double level_warm_ms;    /* ... and before the level chart judges (a full day: a device in
                                another time zone is not "far" for being at another hour) */
    uint32_t warm_n;         /* buckets learned before either judges */
    uint32_t min_peers;      /* departure chart: devices in a bucket (5) */
    uint32_t min_peers_long; /* drift and level charts: a device and three peers (4) */
    uint32_t min_rounds;     /* departure: buckets learned before it judges a device */
    double alpha;            /* departure: EW rate of the per-device z, per bucket */
    double drift_floor;      /* drift scale floor, relative to the peers' typical level */
    double level_floor;      /* level (and departure) scale floor, relative to the same */
} det_peer_params;

void det_peer_params_default(det_peer_params *pp);

/* One device's offset from its peers' median, tracked in data time. 40 bytes. */
typedef struct {
    uint32_t n;
    float fast, slow; /* EW offset, last hour / last day */
    float dev;        /* EW |offset - slow|: its usual variation */
    float level;      /* EW of the device's own values, last day (the scale of the metric) */
    float lasting;    /* EW offset, last week: a daily pattern averages out */
    int64_t first_ts, last_ts;
} det_peer_track;

void det_peer_track_init(det_peer_track *t);
/* Learns the device's value x and its offset from the peer median for the bucket at ts
 * (buckets in time order; an older ts is ignored). Returns the drift z:
 * (fast - slow) / max(dev, floor), 0 until the track is warm. floor > 0 keeps a device whose
 * offset never varied from a division by ~0 (e.g. 0.5% of the peers' typical level).
 * Deviations beyond 3x the usual variation are learned clipped and at half the rate, so a
 * drift does not teach its own scale. */
double det_peer_track_update(det_peer_track *t, const det_peer_params *pp, int64_t ts, double x,
                             double peer_median, double floor);
/* Whether the track has learned more than warm_n buckets over at least span_ms of data time. */
int det_peer_track_warm(const det_peer_track *t, const det_peer_params *pp, double span_ms);

/* A drift counts only as far as it exceeds what the peers do at the same time: each z becomes
 * (z - median) / max(1.4826 MAD, 1) over the peers' drift z's. When many devices move at once
 * (a site's office hours, a weekend), none stands out; one sensor drifting alone does. scratch:
 * n doubles. No-op below 3 devices. */
void det_peer_drift_normalize(double *z, size_t n, double *scratch);

/* Isolation of each device's long-run offset o[i] among its peers: the distance to the nearest
 * other o[j], in units of max(1.4826 MAD of o, floor); signed by the side of the median.
 * scratch holds n doubles. Returns 0, or -1 if n < 3. */
int det_peer_isolation(const double *o, size_t n, double floor, double *z_out, double *scratch);

/* One device's state for one metric: 48 bytes. */
typedef struct {
    det_peer peer;
    det_peer_track track;
} det_peer_state;

/* One bucket's judgement of one device; NAN where a chart does not judge it (too few peers,
 * not warm yet). */
typedef struct {
    double departure;   /* smoothed |z| against the peers */
    double departure_z; /* this bucket's robust z */
    double drift;       /* drift z, normalised by the peers' */
    double drift_scale; /* the usual variation it is measured in */
    double level;       /* isolation of the last week's offset (signed) */
} det_peer_out;

typedef struct {
    double median;    /* the peers' median in the bucket */
    double ref;       /* the peers' typical level over the last day (relative floors use it) */
    uint32_t n_level; /* devices the level chart judged */
} det_peer_bucket;

/* Judges one bucket: x[i] is device i's mean over it, st[i] its state (learned here). scratch:
 * 6 n doubles. Returns 0, or -1 (nothing learned) with fewer than min_peers_long devices. */
int det_peer_judge(det_peer_state *const *st, const double *x, size_t n, int64_t ts,
                   const det_peer_params *pp, double *scratch, det_peer_out *out,
                   det_peer_bucket *info);

#endif
