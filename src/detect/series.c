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
    if (s->shape.kind == DET_SHAPE_DISCRETE)
        det_ensemble_init_default(&s->ens, p, 0); /* its memory held the state model */
    else
        det_ensemble_reset(&s->ens, p);
    det_shape_init(&s->shape);
    s->n = 0;
    s->since_hot = UINT32_MAX;
    s->in_episode = 0;
    s->last_ts = 0;
    s->dt_med = 0;
    s->late = 0;
    s->first_ts = 0;
    s->r_day = 0;
    memset(s->routine, 0, sizeof s->routine);
}

#define MS_HOUR 3600000LL
#define MS_DAY (24 * MS_HOUR)
#define ROUTINE_SLACK_MS (20 * 60000LL) /* an hour's neighbour counts within 20 min of it */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int hour_of(int64_t ts_ms)
{
    int64_t r = ts_ms - floor_div(ts_ms, MS_DAY) * MS_DAY;
    return (int)(r / MS_HOUR) % DET_ROUTINE_BINS;
}

static unsigned fifteenths(double score)
{
    double v = score * 15.0 + 0.5;
    return v <= 0 ? 0u : (v >= 15 ? 15u : (unsigned)v);
}

/* A new UTC day: today's half-bytes join the earlier days' (each decayed by routine_decay a day
 * for the days that passed) and today starts empty. */
static void routine_day(det_series *s, const det_params *p, int64_t ts_ms)
{
    uint16_t day = (uint16_t)floor_div(ts_ms, MS_DAY);
    if (day == s->r_day) return;
    double k = (double)(uint16_t)(day - s->r_day), dec = p->routine_decay;
    for (int b = 0; b < DET_ROUTINE_BINS; b++) {
        double old = (s->routine[b] >> 4) - k * dec, now = (s->routine[b] & 15) - (k - 1) * dec;
        double v = old > now ? old : now;
        s->routine[b] = (uint8_t)((v <= 0 ? 0u : (unsigned)v) << 4);
    }
    s->r_day = day;
}

/* Whether the series' routine (earlier days, at this hour or within ROUTINE_SLACK_MS of it)
 * already held a score this high: a surprise at the time of day it happens every day. */
static int routine_explains(const det_series *s, const det_params *p, int64_t ts_ms, double score)
{
    if (p->routine_tol < 0) return 0;
    for (int d = -1; d <= 1; d++) {
        unsigned v = s->routine[hour_of(ts_ms + d * ROUTINE_SLACK_MS)] >> 4;
        if (v > 0 && v / 15.0 >= score - p->routine_tol) return 1;
    }
    return 0;
}

static det_level band(const det_params *p, double score)
{
    if (score >= p->alert_critical) return DET_LEVEL_CRITICAL;
    if (score >= p->alert_warning) return DET_LEVEL_WARNING;
    if (score >= p->alert_info) return DET_LEVEL_INFO;
    return DET_LEVEL_NONE;
}

/* The series changed kind at this point (shape.h): the model for the new kind starts learning
 * (a level's or rate's ensemble, or the discrete states seeded with the values seen). */
static void change_kind(det_series *s, const det_params *p, int64_t ts_ms, uint8_t was)
{
    if (s->shape.kind == DET_SHAPE_DISCRETE)
        det_state_seed(&s->st, &s->shape, ts_ms);
    else if (was == DET_SHAPE_DISCRETE)
        det_ensemble_init_default(&s->ens, p, 0);
    else
        det_ensemble_reset(&s->ens, p);
}

/* A discrete series' point: the state model's three streams, reported as members. */
static void discrete_point(det_series *s, const det_params *p, int64_t ts_ms, double x, int learn,
                           det_result *out, det_ens_out *eo)
{
    det_state_out so;
    det_state_update(&s->st, p, ts_ms, x, learn, &so);
    memset(eo, 0, sizeof *eo);
    eo->n = 3;
    eo->q = so.q;
    eo->qm[0] = so.q_value;
    eo->qm[1] = so.q_stuck;
    eo->qm[2] = so.q_flap;
    out->held_ms = so.held_ms;
    out->usual_ms = so.usual_ms;
    double m = fmin(so.q_value, fmin(so.q_stuck, so.q_flap));
    out->why = m >= 1            ? DET_WHY_NONE
               : m == so.q_flap  ? DET_WHY_FLAP
               : m == so.q_stuck ? DET_WHY_STUCK
                                 : DET_WHY_VALUE;
}

void det_series_update(det_series *s, const det_params *p, int64_t ts_ms, double x, det_result *out)
{
    memset(out, 0, sizeof *out);
    out->lo = out->hi = NAN;
    if (!isfinite(x) || fabs(x) > DET_X_MAX) return;
    int late = s->n > 0 && ts_ms <= s->last_ts;
    if (late) {
        if (s->late < UINT32_MAX) s->late++;
    } else {
        uint8_t was = s->shape.kind;
        if (det_shape_observe(&s->shape, x)) change_kind(s, p, ts_ms, was);
        if (s->n > 0) {
            double dt = (double)ts_ms - (double)s->last_ts; /* > 0, no int64 overflow */
            double med = s->dt_med, gap = det_interval_step(&s->dt_med, dt, p->gap_k);
            if (gap > 0 && s->shape.kind == DET_SHAPE_DISCRETE)
                det_state_gap(&s->st, dt - med); /* unseen: all but one typical interval */
            else if (gap > 0)
                det_ensemble_gap(&s->ens, gap); /* told at the next point they learn from */
            if (gap > 0 && s->shape.kind == DET_SHAPE_COUNTER) det_shape_gap(&s->shape);
        }
        if (s->n == 0) {
            s->first_ts = ts_ms;
            s->r_day = (uint16_t)floor_div(ts_ms, MS_DAY);
        }
        routine_day(s, p, ts_ms);
        s->n++;
        s->last_ts = ts_ms;
        s->fp_bias *= FP_DECAY;
    }
    out->shape = s->shape.kind;
    out->scored = x;
    det_ens_out eo;
    if (s->shape.kind == DET_SHAPE_DISCRETE) {
        discrete_point(s, p, ts_ms, x, !late, out, &eo);
    } else {
        int fed = 1;
        if (s->shape.kind == DET_SHAPE_COUNTER) { /* scored on its rate over a window */
            double rate = NAN;
            fed = !late && det_shape_rate(&s->shape, ts_ms, x, &rate);
            out->scored = x = rate;
        }
        det_ensemble_resolution(&s->ens, det_shape_resolution(&s->shape));
        if (!fed) { /* a counter's point inside a rate window (or late): no opinion */
            memset(&eo, 0, sizeof eo);
            eo.n = s->ens.n;
            eo.q = 1;
            for (size_t i = 0; i < eo.n; i++)
                eo.qm[i] = 1;
        } else if (late) {
            det_ensemble_peek(&s->ens, p, ts_ms, x, &eo);
        } else {
            det_ensemble_update(&s->ens, p, ts_ms, x, &eo);
        }
    }
    if (det_shape_quiet(&s->shape)) eo.q = 1; /* may still be a counter or a two-state series */

    out->n_members = eo.n;
    for (size_t i = 0; i < eo.n; i++) {
        out->member_score[i] = det_lik_score(eo.qm[i]);
        if (eo.qm[i] <= CONTRIB_Q) out->contributors |= (uint8_t)(1u << i);
    }
    out->score = det_lik_score(eo.q);
    out->likelihood = 1.0 - eo.q;
    for (size_t i = 0; s->shape.kind != DET_SHAPE_DISCRETE && isfinite(x) && i < eo.n; i++) {
        const det_vtable *vt = det_kind_vtable((det_kind)s->ens.kind[i]);
        if (vt->expected && vt->expected(det_ensemble_member(&s->ens, i), &out->lo, &out->hi) == 0)
            break;
    }

    double adj = out->score - s->fp_bias;
    int hot = adj >= p->alert_info;
    /* the learning day: a series' first learn_h hours raise only Warning and above (what a
       first day without a daily pattern learned yet makes of a normal day is Info noise); and a
       surprise its routine explains (as high at this time on earlier days) is only Info */
    if (hot && adj < p->alert_warning && p->learn_h > 0 &&
        (double)ts_ms - (double)s->first_ts < p->learn_h * (double)MS_HOUR)
        hot = 0;
    int routine = hot && routine_explains(s, p, ts_ms, adj);
    if (!late) {
        unsigned v = fifteenths(out->score), b = (unsigned)hour_of(ts_ms);
        if (v > (s->routine[b] & 15u)) s->routine[b] = (uint8_t)((s->routine[b] & 0xF0u) | v);
    }
    out->novelty = s->in_episode || (adj >= p->alert_info && !hot) ? 0.0 : out->score;
    if (hot) {
        if (!s->in_episode || s->since_hot > p->alert_holdoff) out->alert = 1;
        s->in_episode = 1;
        s->since_hot = 0;
        out->level = band(p, adj);
        if (routine) {
            out->level = DET_LEVEL_INFO;
            out->routine = 1;
        }
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
    static const char *const state_names[] = {"rare_state", "stuck_state", "flapping"};
    if (s->shape.kind == DET_SHAPE_DISCRETE) return i < 3 ? state_names[i] : "?";
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
    if (det_shape_validate(&s->shape) != 0) return -1;
    return s->shape.kind == DET_SHAPE_DISCRETE ? det_state_validate(&s->st)
                                               : det_ensemble_validate(&s->ens);
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
