/* Ensemble of detectors (see ensemble.h). */
#include "detect/ensemble.h"

#include "detect/forecast.h"
#include "detect/grid.h"
#include "detect/hst.h"
#include "detect/robust.h"

#include <math.h>
#include <string.h>

static const det_vtable *const registry[DET_KIND_COUNT] = {
    [DET_ROBUST] = &det_robust_vt,
    [DET_FORECAST] = &det_ar_vt,
    [DET_HST] = &det_hst_vt,
    [DET_GRID] = &det_grid_vt,
};

const det_vtable *det_kind_vtable(det_kind kind)
{
    return (unsigned)kind < DET_KIND_COUNT ? registry[kind] : NULL;
}

int det_ensemble_init(det_ensemble *e, const det_params *p, const det_kind *kinds, size_t n,
                      uint64_t seed)
{
    memset(e, 0, sizeof *e);
    if (n > DET_ENS_MAX) return -1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const det_vtable *vt = det_kind_vtable(kinds[i]);
        if (!vt) return -1;
        off = (off + 7u) & ~(size_t)7u;
        if (off + vt->state_size > DET_ENS_ARENA) return -1;
        e->kind[i] = (uint8_t)kinds[i];
        e->off[i] = (uint16_t)off;
        vt->init(e->arena + off, p, det_mix64(seed + i));
        det_lik_init(&e->lik[i]);
        off += vt->state_size;
        for (uint8_t k = 0; k < 2 && vt->aux; k++) {
            if (e->n_aux >= DET_ENS_AUX || (k == 1 && (!vt->aux2 || p->cal_stream <= 0))) break;
            e->aux_of[e->n_aux] = (uint8_t)i;
            e->aux_k[e->n_aux] = k;
            det_lik_init(&e->lik_aux[e->n_aux]);
            e->n_aux++;
        }
    }
    det_conf_init(&e->conf[0]);
    det_conf_init(&e->conf[1]);
    e->n = (uint8_t)n;
    return 0;
}

int det_ensemble_init_default(det_ensemble *e, const det_params *p, uint64_t seed)
{
    /* ens_density picks the pattern (density) member: 2 none (default: under the
       leave-one-category-out protocol the grid added nothing in any category, cost 1.2 KB of
       state and 3 cache lines per point), 1 the grid, 0 half-space trees (seeded) */
    det_kind k[DET_ENS_MAX];
    size_t n = 0;
    k[n++] = DET_ROBUST;
    if (p->ens_ar > 0) k[n++] = DET_FORECAST;
    if (p->ens_density == 0) k[n++] = DET_HST;
    if (p->ens_density == 1) k[n++] = DET_GRID;
    return det_ensemble_init(e, p, k, n, seed);
}

void *det_ensemble_member(det_ensemble *e, size_t i)
{
    return i < e->n ? e->arena + e->off[i] : NULL;
}

void det_ensemble_update(det_ensemble *e, const det_params *p, int64_t ts_ms, double x,
                         det_ens_out *out)
{
    /* all cache lines this point will touch, requested up front: with many series the state is
       cold, and overlapping the misses is most of the speed */
    for (const char *c = (const char *)e->lik; c < (const char *)(e->conf + 2); c += 64)
        DET_PREFETCH(c);
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        const uint8_t *m = e->arena + e->off[i];
        DET_PREFETCH(m);
        DET_PREFETCH(m + 64);
        if (vt->prefetch) vt->prefetch(m, ts_ms, x);
    }
    double qmin = 1.0;
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        double raw = vt->update(e->arena + e->off[i], p, ts_ms, x);
        double q = det_lik_update(&e->lik[i], p, raw);
        out->raw[i] = raw;
        out->qm[i] = q;
        if (q < qmin) qmin = q;
    }
    size_t streams = e->n;
    double mq[DET_ENS_MAX];
    unsigned mc[DET_ENS_MAX] = {0};
    for (size_t j = 0; j < e->n_aux; j++) {
        size_t i = e->aux_of[j];
        const det_vtable *vt = registry[e->kind[i]];
        const void *m = e->arena + e->off[i];
        double q = det_lik_update(&e->lik_aux[j], p, e->aux_k[j] ? vt->aux2(m) : vt->aux(m));
        if (mc[i] == 0) {
            mq[i] = out->qm[i];
            mc[i] = 1;
        }
        if (q < mq[i]) mq[i] = q;
        mc[i]++;
        if (q < qmin) qmin = q;
        streams++;
    }
    for (size_t i = 0; i < e->n; i++) { /* member: its smallest stream x its streams */
        if (mc[i] == 0) continue;
        double qb = mc[i] * mq[i];
        out->qm[i] = qb > 1.0 ? 1.0 : qb;
    }
    out->n = e->n;
    qmin *= (double)streams;
    if (qmin > 1.0) qmin = 1.0;
    if (p->conf > 0) { /* conformal point tails of the z-score members, Bonferroni x 2 */
        double pc = 1.0;
        for (size_t i = 0; i < e->n && i < 2; i++) {
            if (e->kind[i] != DET_ROBUST && e->kind[i] != DET_FORECAST) continue;
            double pi = det_conf_update(&e->conf[i], out->raw[i], p->conf_warm);
            if (2.0 * pi < out->qm[i]) out->qm[i] = 2.0 * pi;
            if (pi < pc) pc = pi;
        }
        pc *= 2.0;
        if (pc < qmin) qmin = pc;
        qmin *= 2.0;
        if (qmin > 1.0) qmin = 1.0;
    }
    out->q = qmin;
}

void det_ensemble_gap(det_ensemble *e, double k)
{
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        if (vt->gap) vt->gap(e->arena + e->off[i], k);
    }
}

void det_ensemble_resolution(det_ensemble *e, double q)
{
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        if (vt->resolution) vt->resolution(e->arena + e->off[i], q);
    }
}

void det_ensemble_peek(const det_ensemble *e, const det_params *p, int64_t ts_ms, double x,
                       det_ens_out *out)
{
    memset(out, 0, sizeof *out);
    out->n = e->n;
    out->q = 1.0;
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        out->raw[i] = -1.0;
        out->qm[i] = 1.0;
        if (!vt->peek || i >= 2 || p->conf <= 0) continue;
        out->raw[i] = vt->peek(e->arena + e->off[i], p, ts_ms, x);
        double q = 4.0 * det_conf_peek(&e->conf[i], out->raw[i], p->conf_warm);
        out->qm[i] = q > 1.0 ? 1.0 : q;
        if (out->qm[i] < out->q) out->q = out->qm[i];
    }
}

void det_ensemble_reset(det_ensemble *e, const det_params *p)
{
    for (size_t i = 0; i < e->n; i++) {
        registry[e->kind[i]]->reset(e->arena + e->off[i], p);
        det_lik_init(&e->lik[i]);
    }
    for (size_t j = 0; j < e->n_aux && j < DET_ENS_AUX; j++)
        det_lik_init(&e->lik_aux[j]);
    det_conf_init(&e->conf[0]);
    det_conf_init(&e->conf[1]);
}

int det_ensemble_validate(const det_ensemble *e)
{
    if (e->n > DET_ENS_MAX) return -1;
    size_t off = 0; /* members must sit exactly where init packs them: overlapping states would
                       let one member corrupt another after a (crafted) restore */
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = det_kind_vtable((det_kind)e->kind[i]);
        if (!vt) return -1;
        off = (off + 7u) & ~(size_t)7u;
        if (e->off[i] != off || off + vt->state_size > DET_ENS_ARENA) return -1;
        off += vt->state_size;
        if (vt->validate && vt->validate(e->arena + e->off[i]) != 0) return -1;
        if (det_lik_validate(&e->lik[i]) != 0) return -1;
    }
    if (e->n_aux > DET_ENS_AUX) return -1;
    if (det_conf_validate(&e->conf[0]) != 0 || det_conf_validate(&e->conf[1]) != 0) return -1;
    for (size_t j = 0; j < e->n_aux; j++) {
        if (e->aux_of[j] >= e->n || e->aux_k[j] > 1) return -1;
        const det_vtable *vt = registry[e->kind[e->aux_of[j]]];
        if (!vt->aux || (e->aux_k[j] && !vt->aux2)) return -1;
        if (e->aux_k[j] && (j == 0 || e->aux_of[j - 1] != e->aux_of[j] || e->aux_k[j - 1] != 0))
            return -1; /* aux2 directly follows the same member's aux */
        if (!e->aux_k[j] && j > 0 && e->aux_of[j] <= e->aux_of[j - 1]) return -1;
        if (det_lik_validate(&e->lik_aux[j]) != 0) return -1;
    }
    return 0;
}
