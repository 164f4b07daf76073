/* Per-series pipeline (see series.h). */
#include "detect/series.h"

#include "detect/robust.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(det_series) <= 4096, "per-series state must stay within 4 KB");

#define FP_STEP 0.1f
#define FP_MAX 0.4f
#define FP_DECAY 0.9999f
#define CONTRIB_Q 1e-3

int det_series_init(det_series *s, const det_params *p, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->since_hot = UINT32_MAX;
    return det_ensemble_init_default(&s->ens, p, seed);
}

void det_series_reset(det_series *s, const det_params *p)
{
    det_ensemble_reset(&s->ens, p);
    s->n = 0;
    s->since_hot = UINT32_MAX;
    s->in_episode = 0;
    s->last_ts = 0;
    s->dt_med = 0;
    s->late = 0;
}

static det_level band(const det_params *p, double score)
{
    if (score >= p->alert_critical) return DET_LEVEL_CRITICAL;
    if (score >= p->alert_warning) return DET_LEVEL_WARNING;
    if (score >= p->alert_info) return DET_LEVEL_INFO;
    return DET_LEVEL_NONE;
}

void det_series_update(det_series *s, const det_params *p, int64_t ts_ms, double x, det_result *out)
{
    memset(out, 0, sizeof *out);
    out->lo = out->hi = NAN;
    if (!isfinite(x) || fabs(x) > DET_X_MAX) return;
    det_ens_out eo;
    if (s->n > 0 && ts_ms <= s->last_ts) {
        det_ensemble_peek(&s->ens, p, ts_ms, x, &eo);
        if (s->late < UINT32_MAX) s->late++;
    } else {
        if (s->n > 0) {
            double dt = (double)ts_ms - (double)s->last_ts; /* > 0, no int64 overflow */
            double gap = det_interval_step(&s->dt_med, dt, p->gap_k);
            if (gap > 0) det_ensemble_gap(&s->ens, gap);
        }
        det_ensemble_update(&s->ens, p, ts_ms, x, &eo);
        s->n++;
        s->last_ts = ts_ms;
        s->fp_bias *= FP_DECAY;
    }

    out->n_members = eo.n;
    for (size_t i = 0; i < eo.n; i++) {
        out->member_score[i] = det_lik_score(eo.qm[i]);
        if (eo.qm[i] <= CONTRIB_Q) out->contributors |= (uint8_t)(1u << i);
    }
    out->score = det_lik_score(eo.q);
    out->likelihood = 1.0 - eo.q;
    for (size_t i = 0; i < eo.n; i++) {
        const det_vtable *vt = det_kind_vtable((det_kind)s->ens.kind[i]);
        if (vt->expected && vt->expected(det_ensemble_member(&s->ens, i), &out->lo, &out->hi) == 0)
            break;
    }

    out->novelty = s->in_episode ? 0.0 : out->score;
    double adj = out->score - s->fp_bias;
    int hot = adj >= p->alert_info;
    if (hot) {
        if (!s->in_episode || s->since_hot > p->alert_holdoff) out->alert = 1;
        s->in_episode = 1;
        s->since_hot = 0;
        out->level = band(p, adj);
    } else {
        if (s->since_hot < UINT32_MAX) s->since_hot++;
        if (s->since_hot > p->alert_holdoff) s->in_episode = 0;
    }
    out->in_episode = s->in_episode;
}

void det_series_feedback(det_series *s, det_verdict v)
{
    if (v == DET_VERDICT_FALSE_POSITIVE) {
        s->fp_bias += FP_STEP;
        if (s->fp_bias > FP_MAX) s->fp_bias = FP_MAX;
    } else {
        s->fp_bias -= FP_STEP;
        if (s->fp_bias < 0) s->fp_bias = 0;
    }
}

const char *det_series_member_name(const det_series *s, size_t i)
{
    if (i >= s->ens.n) return "?";
    const det_vtable *vt = det_kind_vtable((det_kind)s->ens.kind[i]);
    return vt ? vt->name : "?";
}

const char *det_level_name(det_level level)
{
    switch (level) {
    case DET_LEVEL_INFO:
        return "info";
    case DET_LEVEL_WARNING:
        return "warning";
    case DET_LEVEL_CRITICAL:
        return "critical";
    default:
        return "none";
    }
}

static void vt_reset(void *st, const det_params *p)
{
    det_series *s = st;
    if (det_ensemble_validate(&s->ens) != 0)
        det_series_init(s, p, 0);
    else
        det_series_reset(s, p);
}

static int vt_validate(const void *st)
{
    const det_series *s = st;
    if (!isfinite(s->fp_bias) || s->fp_bias < 0 || s->fp_bias > FP_MAX) return -1;
    if (s->in_episode > 1) return -1;
    if (!isfinite(s->dt_med) || s->dt_med < 0) return -1;
    return det_ensemble_validate(&s->ens);
}

static const det_vtable series_vt = {
    .name = "series",
    .state_size = sizeof(det_series),
    .reset = vt_reset,
    .validate = vt_validate,
};

size_t det_series_snapshot(const det_series *s, uint8_t *out, size_t cap)
{
    return det_snapshot(&series_vt, s, out, cap);
}

int det_series_restore(det_series *s, const det_params *p, const uint8_t *in, size_t len)
{
    return det_restore(&series_vt, s, p, in, len);
}
