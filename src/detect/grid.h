/* Multi-resolution grid density over shingles: a deterministic, cache-friendly stand-in for
 * Half-Space Trees. The last DET_GRID_DIM normalised, squashed values form a point of the unit
 * cube; the cube is cut into a fixed grid at DET_GRID_LEVELS resolutions (2, 4, 8 cells per
 * dimension, i.e. the nodes of a half-space tree whose splits all fall at the middle, visited
 * level by level), and each cell counts its mass in a reference and a latest window of
 * hst_window points, as HST does. A point scores by how little reference mass its cells held
 * relative to a uniform share: towards 1 in regions the recent past never visited. One cell per
 * level is touched per point (3 cache lines instead of ~20 for 8 random trees), and the result
 * does not depend on a seed. */
#ifndef IOTAD_DETECT_GRID_H
#define IOTAD_DETECT_GRID_H

#include "detect/detector.h"

#define DET_GRID_DIM 3
#define DET_GRID_LEVELS 3
#define DET_GRID_CELLS (8 + 64 + 512)

typedef struct {
    uint8_t r, l; /* mass in the reference / latest window */
} det_grid_cell;

typedef struct {
    uint32_t n;      /* points seen */
    uint16_t in_win; /* points in the latest window */
    uint8_t pos, full;
    float mean, scale;
    float sh[DET_GRID_DIM]; /* ring of squashed values in [0,1] */
    det_grid_cell cell[DET_GRID_CELLS];
} det_grid;

extern const det_vtable det_grid_vt;

void det_grid_init(det_grid *s, const det_params *p, uint64_t seed);
double det_grid_update(det_grid *s, const det_params *p, int64_t ts_ms, double x);

#endif
