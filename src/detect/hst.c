/* Half-Space Trees (see hst.h). Each tree works on the unit cube of the shingle space, expanded
 * by a random per-tree offset as in the paper (work range [s - 2max(s,1-s), s + 2max(s,1-s)]),
 * and splits a random dimension at the middle of the node's current range. The score of a point
 * is the mean over trees of max(0, 1 - r * 2^k / W), taken at the deepest node k on its path
 * whose reference mass r is still >= size_limit: 0 where the region held at least its uniform
 * share of the window, towards 1 in empty regions. */
#include "detect/hst.h"

#include <math.h>
#include <string.h>

#define SIZE_LIMIT 3
#define NORM_WARM 50u

/* The structure of tree t is two hashes of (seed, t): one gives every internal node's split
 * dimension (2 bits each: DET_HST_SHINGLE is 4 and a depth-5 tree has 31 internal nodes), the
 * other the random offset of the work range in each dimension (16 bits each). */
_Static_assert(DET_HST_SHINGLE == 4 && DET_HST_NODES / 2 <= 32, "2-bit split dims per node");

static void tree_shape(uint64_t seed, int tree, uint64_t *dims, float lo[DET_HST_SHINGLE],
                       float hi[DET_HST_SHINGLE])
{
    *dims = det_mix64(seed ^ ((uint64_t)tree << 40));
    uint64_t h = det_mix64(seed ^ 0xA5A5A5A5ULL ^ ((uint64_t)tree << 8));
    for (int d = 0; d < DET_HST_SHINGLE; d++) {
        double sq = (double)((h >> (16 * d)) & 0xFFFF) / 65536.0;
        double r = 2.0 * (sq > 1.0 - sq ? sq : 1.0 - sq);
        lo[d] = (float)(sq - r);
        hi[d] = (float)(sq + r);
    }
}

void det_hst_init(det_hst *s, const det_params *p, uint64_t seed)
{
    (void)p;
    memset(s, 0, sizeof *s);
    s->seed = seed;
}

static double window(const det_params *p)
{
    return p->hst_window < 16 ? 16 : (p->hst_window > 255 ? 255 : p->hst_window);
}

double det_hst_update(det_hst *s, const det_params *p, int64_t ts_ms, double x)
{
    (void)ts_ms;
    unsigned W = (unsigned)window(p);
    /* normalise with an EW mean/mean-abs-deviation, then squash into (0,1) */
    s->n++;
    if (s->n == 1) s->mean = (float)x;
    double a = s->n < NORM_WARM ? 1.0 / s->n : 0.005;
    double sc = s->scale > 1e-9 * (1.0 + fabs(s->mean)) ? s->scale : 1e-9 * (1.0 + fabs(s->mean));
    double z = (x - s->mean) / (1.25 * sc);
    double dx = det_clamp(x - s->mean, -6.0 * sc, 6.0 * sc);
    s->mean += (float)(a * dx);
    s->scale += (float)(a * (fabs(x - s->mean) - s->scale));
    s->sh[s->pos] = (float)(0.5 + 0.5 * tanh(z / 3.0));
    s->pos = (uint8_t)((s->pos + 1) % DET_HST_SHINGLE);
    if (s->pos == 0) s->full = 1;
    if (!s->full) return -1.0;

    float v[DET_HST_SHINGLE]; /* oldest first */
    for (int d = 0; d < DET_HST_SHINGLE; d++)
        v[d] = s->sh[(s->pos + d) % DET_HST_SHINGLE];

    double score = 0;
    for (int t = 0; t < DET_HST_TREES; t++) {
        float lo[DET_HST_SHINGLE], hi[DET_HST_SHINGLE];
        uint64_t dims;
        tree_shape(s->seed, t, &dims, lo, hi);
        det_hst_node *nd = s->node[t];
        int i = 0, k = 0;
        double tree_score = -1;
        for (;;) {
            if (nd[i].l < 255) nd[i].l++;
            if (tree_score < 0 && (nd[i].r < SIZE_LIMIT || k == DET_HST_DEPTH)) {
                double m = (double)nd[i].r * (double)(1u << k) / W;
                tree_score = m >= 1.0 ? 0.0 : 1.0 - m;
            }
            if (k == DET_HST_DEPTH) break;
            unsigned q = (unsigned)(dims >> (2 * i)) & 3u;
            float mid = 0.5f * (lo[q] + hi[q]);
            if (v[q] < mid) {
                hi[q] = mid;
                i = 2 * i + 1;
            } else {
                lo[q] = mid;
                i = 2 * i + 2;
            }
            k++;
        }
        score += tree_score;
    }
    if (++s->in_win >= W) {
        for (int t = 0; t < DET_HST_TREES; t++)
            for (int i = 0; i < DET_HST_NODES; i++) {
                s->node[t][i].r = s->node[t][i].l;
                s->node[t][i].l = 0;
            }
        s->in_win = 0;
    }
    /* the first window has no reference mass yet */
    return s->n < W + DET_HST_SHINGLE ? -1.0 : score / DET_HST_TREES;
}

static double vt_update(void *st, const det_params *p, int64_t ts, double x)
{
    return det_hst_update(st, p, ts, x);
}

static void vt_init(void *st, const det_params *p, uint64_t seed)
{
    det_hst_init(st, p, seed);
}

static void vt_reset(void *st, const det_params *p)
{
    det_hst *s = st;
    det_hst_init(s, p, s->seed);
}

static void vt_gap(void *st, double k)
{
    (void)k;
    det_hst *s = st; /* the shingle refills from the points after the gap */
    s->pos = 0;
    s->full = 0;
}

static int vt_validate(const void *st)
{
    const det_hst *s = st;
    if (s->pos >= DET_HST_SHINGLE || s->full > 1 || s->in_win > 255) return -1;
    if (!isfinite(s->mean) || !isfinite(s->scale) || s->scale < 0) return -1;
    for (int d = 0; d < DET_HST_SHINGLE; d++)
        if (!(s->sh[d] >= 0.0f && s->sh[d] <= 1.0f)) return -1;
    return 0;
}

const det_vtable det_hst_vt = {
    .name = "hst",
    .state_size = sizeof(det_hst),
    .init = vt_init,
    .update = vt_update,
    .reset = vt_reset,
    .expected = NULL,
    .validate = vt_validate,
    .gap = vt_gap,
};
