/* Streaming Half-Space Trees (Tan, Ting & Liu, IJCAI 2011) over shingles of the last
 * DET_HST_SHINGLE normalised values. Mass profiles are counted in a reference window and a
 * latest window of hst_window points; a point whose shingle lands in a region that held little
 * mass in the reference window scores high. Memory is fixed: one byte per counter, the tree
 * structure (split dimensions, initial ranges) is re-derived from the seed by hashing, not stored.
 */
#ifndef IOTAD_DETECT_HST_H
#define IOTAD_DETECT_HST_H

#include "detect/detector.h"

#define DET_HST_TREES 8
#define DET_HST_DEPTH 5
#define DET_HST_NODES ((1 << (DET_HST_DEPTH + 1)) - 1)
#define DET_HST_SHINGLE 4

typedef struct {
    uint8_t r, l; /* mass in the reference / latest window */
} det_hst_node;

typedef struct {
    uint64_t seed;
    uint32_t n;      /* points seen */
    uint16_t in_win; /* points in the latest window */
    uint8_t pos, full;
    float mean, scale;
    float sh[DET_HST_SHINGLE]; /* ring of squashed values in [0,1] */
    det_hst_node node[DET_HST_TREES][DET_HST_NODES];
} det_hst;

extern const det_vtable det_hst_vt;

void det_hst_init(det_hst *s, const det_params *p, uint64_t seed);
double det_hst_update(det_hst *s, const det_params *p, int64_t ts_ms, double x);

#endif
