/* Ensemble of detectors (see ensemble.h). */
#include "detect/ensemble.h"

#include "detect/forecast.h"
#include "detect/hst.h"
#include "detect/robust.h"

#include <string.h>

static const det_vtable *const registry[DET_KIND_COUNT] = {
    [DET_ROBUST] = &det_robust_vt,
    [DET_FORECAST] = &det_ar_vt,
    [DET_HST] = &det_hst_vt,
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
    }
    e->n = (uint8_t)n;
    return 0;
}

int det_ensemble_init_default(det_ensemble *e, const det_params *p, uint64_t seed)
{
    static const det_kind dflt[] = {DET_ROBUST, DET_FORECAST, DET_HST};
    return det_ensemble_init(e, p, dflt, sizeof dflt / sizeof dflt[0], seed);
}

void *det_ensemble_member(det_ensemble *e, size_t i)
{
    return i < e->n ? e->arena + e->off[i] : NULL;
}

void det_ensemble_update(det_ensemble *e, const det_params *p, int64_t ts_ms, double x,
                         det_ens_out *out)
{
    double qmin = 1.0;
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = registry[e->kind[i]];
        double raw = vt->update(e->arena + e->off[i], p, ts_ms, x);
        double q = det_lik_update(&e->lik[i], p, raw);
        out->raw[i] = raw;
        out->qm[i] = q;
        if (q < qmin) qmin = q;
    }
    out->n = e->n;
    if (e->n) qmin *= e->n;
    out->q = qmin > 1.0 ? 1.0 : qmin;
}

void det_ensemble_reset(det_ensemble *e, const det_params *p)
{
    for (size_t i = 0; i < e->n; i++) {
        registry[e->kind[i]]->reset(e->arena + e->off[i], p);
        det_lik_init(&e->lik[i]);
    }
}

int det_ensemble_validate(const det_ensemble *e)
{
    if (e->n > DET_ENS_MAX) return -1;
    for (size_t i = 0; i < e->n; i++) {
        const det_vtable *vt = det_kind_vtable((det_kind)e->kind[i]);
        if (!vt || (size_t)e->off[i] + vt->state_size > DET_ENS_ARENA || (e->off[i] & 7u))
            return -1;
        if (vt->validate && vt->validate(e->arena + e->off[i]) != 0) return -1;
        if (det_lik_validate(&e->lik[i]) != 0) return -1;
    }
    return 0;
}
