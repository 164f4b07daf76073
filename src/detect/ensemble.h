/* Ensemble: runs up to DET_ENS_MAX detectors on the same point, calibrates each raw score with its
 * own anomaly-likelihood stage and combines the tail probabilities (min times the number of
 * score streams: a Bonferroni bound, so adding a detector cannot silently raise the false-alarm
 * rate). A member may publish a second score stream on another time scale (vtable `aux`, e.g. the
 * robust baseline's persistent deviation) and a third (`aux2`, its calendar-day stream); each
 * gets its own likelihood stage and counts as a stream.
 * Member states live in a fixed arena inside the struct; members are named by registry id, not by
 * pointer, so the whole ensemble is plain data and can be snapshotted with a byte copy. */
#ifndef IOTAD_DETECT_ENSEMBLE_H
#define IOTAD_DETECT_ENSEMBLE_H

#include "detect/detector.h"
#include "detect/conformal.h"
#include "detect/likelihood.h"

#define DET_ENS_MAX 3 /* robust, AR and one density member */
#define DET_ENS_ARENA 3216
#define DET_ENS_AUX 2

typedef enum {
    DET_ROBUST = 0,
    DET_FORECAST = 1,
    DET_HST = 2,
    DET_GRID = 3,
    DET_KIND_COUNT
} det_kind;

typedef struct {
    uint8_t n;
    uint8_t kind[DET_ENS_MAX];
    uint8_t n_aux;               /* members with a second (aux) score stream */
    uint8_t aux_of[DET_ENS_AUX]; /* aux stream j belongs to member aux_of[j] */
    uint8_t aux_k[DET_ENS_AUX];  /* 0: the member's aux, 1: its aux2 */
    uint16_t off[DET_ENS_MAX];
    det_lik lik[DET_ENS_MAX];     /* one per member */
    det_lik lik_aux[DET_ENS_AUX]; /* one per aux stream */
    det_conf conf[2];             /* conformal point tail of members 0 and 1 (p->conf) */
    _Alignas(8) uint8_t arena[DET_ENS_ARENA];
} det_ensemble;

typedef struct {
    double q;                /* combined tail probability (min over streams x streams) */
    double raw[DET_ENS_MAX]; /* raw score per member */
    double qm[DET_ENS_MAX];  /* tail probability per member (its smallest stream, Bonferroni) */
    uint8_t n;
} det_ens_out;

/* The detector implementation registered under a kind (NULL if unknown). */
const det_vtable *det_kind_vtable(det_kind kind);
/* kinds: the members in order; 0 ok, -1 if too many or they do not fit the arena. */
int det_ensemble_init(det_ensemble *e, const det_params *p, const det_kind *kinds, size_t n,
                      uint64_t seed);
/* The default members: robust baseline (+ its level-shift and calendar streams), AR forecaster
 * (p->ens_density: 1 adds the grid density member, 0 half-space trees; 2, the default, none). */
int det_ensemble_init_default(det_ensemble *e, const det_params *p, uint64_t seed);
void det_ensemble_update(det_ensemble *e, const det_params *p, int64_t ts_ms, double x,
                         det_ens_out *out);
/* The next point follows a gap of k typical sampling intervals: members drop stale context. */
void det_ensemble_gap(det_ensemble *e, double k);
/* The values' resolution (their quantum; 0 unknown): members that can floor their scales. */
void det_ensemble_resolution(det_ensemble *e, double q);
/* Scores a late or duplicate point without learning from it: the members that can (the robust
 * baseline) through their conformal tails; q = 1 when none has an opinion. */
void det_ensemble_peek(const det_ensemble *e, const det_params *p, int64_t ts_ms, double x,
                       det_ens_out *out);
void det_ensemble_reset(det_ensemble *e, const det_params *p);
/* Member state by index (for explanations and tests). */
void *det_ensemble_member(det_ensemble *e, size_t i);
int det_ensemble_validate(const det_ensemble *e);

#endif
