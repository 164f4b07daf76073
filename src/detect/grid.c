/* Multi-resolution grid density (see grid.h). Level j (1..3) has 2^j cells per dimension and
 * 8^j cells in all, stored after the cells of the coarser levels; a point's cell at level j is
 * the top j bits of each coordinate. The uniform share of a window of W points at level j is
 * W / 8^j; the level's score is max(0, 1 - r * 8^j / W) and the raw score their mean. */
#include "detect/grid.h"

#include <math.h>
#include <string.h>

#define NORM_WARM 50u

_Static_assert(DET_GRID_DIM == 3 && DET_GRID_LEVELS == 3, "cell layout assumes 3 x 3");

static const uint16_t level_base[DET_GRID_LEVELS] = {0, 8, 72};

static unsigned coord(float v)
{
    if (!(v > 0.0f)) return 0; /* also NaN: never convert it to an integer */
    if (v >= 1.0f) return 7;
    int q = (int)(v * 8.0f);
    return (unsigned)(q > 7 ? 7 : q);
}

/* Cell of coordinates c at level j (2^(j+1) cells per dimension). */
static unsigned cell_index(const unsigned *c, int j)
{
    unsigned sh = (unsigned)(2 - j), bits = (unsigned)(j + 1);
    return level_base[j] + (((c[0] >> sh) << (2 * bits)) | ((c[1] >> sh) << bits) | (c[2] >> sh));
}

/* The squashed value update() will store for x (same arithmetic, before learning). */
static float squash(const det_grid *s, double x)
{
    double fl = 1e-9 * (1.0 + fabs(s->mean));
    double sc = s->scale > fl ? s->scale : fl;
    double z = (x - s->mean) / (1.25 * sc);
    return (float)(0.5 + 0.5 * tanh(z / 3.0));
}

void det_grid_init(det_grid *s, const det_params *p, uint64_t seed)
{
    (void)p;
    (void)seed;
    memset(s, 0, sizeof *s);
}

static unsigned window(const det_params *p)
{
    return p->hst_window < 16 ? 16 : (p->hst_window > 255 ? 255 : p->hst_window);
}

double det_grid_update(det_grid *s, const det_params *p, int64_t ts_ms, double x)
{
    (void)ts_ms;
    unsigned W = window(p);
    /* normalise with an EW mean/mean-abs-deviation, then squash into (0,1) */
    s->n++;
    if (s->n == 1) s->mean = (float)x;
    double a = s->n < NORM_WARM ? 1.0 / s->n : 0.005;
    double fl = 1e-9 * (1.0 + fabs(s->mean));
    double sc = s->scale > fl ? s->scale : fl;
    float v = squash(s, x);
    double dx = det_clamp(x - s->mean, -6.0 * sc, 6.0 * sc);
    s->mean += (float)(a * dx);
    s->scale += (float)(a * (fabs(x - s->mean) - s->scale));
    s->sh[s->pos] = v;
    s->pos = (uint8_t)((s->pos + 1) % DET_GRID_DIM);
    if (s->pos == 0) s->full = 1;
    if (!s->full) return -1.0;

    unsigned c[DET_GRID_DIM]; /* 3-bit coordinates, oldest value first */
    for (int d = 0; d < DET_GRID_DIM; d++)
        c[d] = coord(s->sh[(s->pos + d) % DET_GRID_DIM]);
    double score = 0;
    for (int j = 0; j < DET_GRID_LEVELS; j++) {
        det_grid_cell *g = &s->cell[cell_index(c, j)];
        if (g->l < 255) g->l++;
        double m = (double)g->r * (double)(1u << (3 * (j + 1))) / W;
        score += m >= 1.0 ? 0.0 : 1.0 - m;
    }
    if (++s->in_win >= W) {
        for (int i = 0; i < DET_GRID_CELLS; i++) {
            s->cell[i].r = s->cell[i].l;
            s->cell[i].l = 0;
        }
        s->in_win = 0;
    }
    /* the first window has no reference mass yet */
    return s->n < W + DET_GRID_DIM ? -1.0 : score / DET_GRID_LEVELS;
}

static double vt_update(void *st, const det_params *p, int64_t ts, double x)
{
    return det_grid_update(st, p, ts, x);
}

static void vt_init(void *st, const det_params *p, uint64_t seed)
{
    det_grid_init(st, p, seed);
}

static void vt_reset(void *st, const det_params *p)
{
    det_grid_init(st, p, 0);
}

static void vt_prefetch(const void *st, int64_t ts, double x)
{
    (void)ts;
    const det_grid *s = st;
    if (!s->full && s->pos != DET_GRID_DIM - 1) return;
    unsigned c[DET_GRID_DIM]; /* the shingle after x is added: drop the oldest value */
    for (int d = 0; d < DET_GRID_DIM - 1; d++)
        c[d] = coord(s->sh[(s->pos + 1 + d) % DET_GRID_DIM]);
    c[DET_GRID_DIM - 1] = coord(squash(s, x));
    DET_PREFETCH(&s->cell[cell_index(c, 1)]);
    DET_PREFETCH(&s->cell[cell_index(c, 2)]);
}

static void vt_gap(void *st, double k)
{
    (void)k;
    det_grid *s = st; /* the shingle refills from the points after the gap */
    s->pos = 0;
    s->full = 0;
}

static int vt_validate(const void *st)
{
    const det_grid *s = st;
    if (s->pos >= DET_GRID_DIM || s->full > 1 || s->in_win > 255) return -1;
    if (!isfinite(s->mean) || !isfinite(s->scale) || s->scale < 0) return -1;
    for (int d = 0; d < DET_GRID_DIM; d++)
        if (!(s->sh[d] >= 0.0f && s->sh[d] <= 1.0f)) return -1;
    return 0;
}

const det_vtable det_grid_vt = {
    .name = "grid",
    .state_size = sizeof(det_grid),
    .init = vt_init,
    .update = vt_update,
    .reset = vt_reset,
    .expected = NULL,
    .validate = vt_validate,
    .gap = vt_gap,
    .prefetch = vt_prefetch,
};
