/* Conformal tail probability of a raw anomaly score: how rare the score is among the scores the
 * same stream produced before (an empirical p-value, as in conformal k-NN anomaly detection,
 * KNN-CAD), with a peaks-over-threshold extrapolation beyond the largest ones.
 * No distribution is assumed, so the tail probability means the same in every series: a value
 * that recurs (a daily step an AR model cannot foresee) is as rare as it is frequent and stops
 * alarming after a few occurrences; a record is rare by the distance past the top values.
 * Bounded memory: two epochs of DET_CONF_EPOCH points each keep their count and their
 * DET_CONF_K largest scores exactly; the probability is taken over both (memory between one
 * and two epochs), so the series adapts over time. */
#ifndef IOTAD_DETECT_CONFORMAL_H
#define IOTAD_DETECT_CONFORMAL_H

#include "detect/detector.h"

#define DET_CONF_K 8
#define DET_CONF_EPOCH 4096u

typedef struct {
    uint32_t n[2];  /* scores seen in the current / previous epoch */
    uint8_t cnt[2]; /* scores held in top[e] (<= DET_CONF_K) */
    uint8_t pad[2];
    float top[2][DET_CONF_K]; /* each epoch's largest scores, descending */
} det_conf;

void det_conf_init(det_conf *c);
/* Tail probability of raw among the scores learned so far (1 while fewer than `warm` are known,
 * or when raw is not among the largest kept); then learns raw. raw < 0: no opinion, returns 1. */
double det_conf_update(det_conf *c, double raw, uint32_t warm);
/* The same tail probability without learning (late or duplicate points). */
double det_conf_peek(const det_conf *c, double raw, uint32_t warm);
int det_conf_validate(const det_conf *c);

#endif
