/* Series kinds recognised from the data, and the discrete-state model (see shape.h). */
#include "detect/shape.h"

#include <math.h>
#include <string.h>

#define RESET_FRAC 0.1   /* a drop to below this fraction of the value is a counter reset */
#define CNT_CAP 1e5f     /* state counts are halved beyond this (old behaviour fades) */
#define PEAK_DECAY 1e-4f /* per point: the busiest stretch seen is slowly forgotten */
#define PEAK_RATE 1e-3f  /* per point: how fast the busiest stretch is learned (upwards) */
#define PEAK_FAST 0.05f  /* ... while the model is young (PEAK_YOUNG_N points or 2 days) */
#define PEAK_YOUNG_N 2000
#define DAY_MS 86400000LL
#define RUN_DECAY 1e-5f  /* per point: the longest run seen is slowly forgotten */
#define LEARN_Q 1e-3     /* a stream this surprised learns slowly from the point */
#define STUCK_MIN_RUNS 5 /* completed runs of a state before its stuck stream has an opinion */

/* ms from t0 to ts, >= 0 (doubles: no int64 overflow on a restored state's odd times) */
static double since(int64_t ts, int64_t t0)
{
    double d = (double)ts - (double)t0;
    return d > 0 ? d : 0;
}

void det_shape_init(det_shape *s)
{
    memset(s, 0, sizeof *s);
    s->win_t = INT64_MIN;
}

int det_shape_is_reset(double prev, double x)
{
    return prev > 0 && x < RESET_FRAC * prev;
}

static int find_val(const float *vals, int n, double x)
{
    float v = (float)x;
    for (int i = 0; i < n; i++)
        if (vals[i] == v) return i;
    return -1;
}

/* Every value seen more than once: states, not spikes of a new height each time. */
static int recurring(const det_shape *s)
{
    for (int i = 0; i < s->nvals; i++)
        if (s->cnt[i] < 2) return 0;
    return 1;
}

int det_shape_observe(det_shape *s, double x)
{
    uint8_t was = s->kind;
    if (s->n == 0) {
        s->vals[0] = (float)x;
        s->cnt[0] = 1;
        s->nvals = 1;
        s->vmin = s->vmax = (float)x;
    } else {
        if (x < s->vmin) s->vmin = (float)x;
        if (x > s->vmax) s->vmax = (float)x;
        double d = x - s->prev;
        int reset = det_shape_is_reset(s->prev, x);
        if (d > 0) {
            if (s->n_up < UINT32_MAX) s->n_up++;
        } else if (d < 0 && !reset) {
            if (s->n_down < UINT32_MAX) s->n_down++;
        }
        double ad = fabs(d);
        if (ad > 0 && !reset && (s->quantum == 0 || ad < s->quantum)) s->quantum = (float)ad;
        if (s->many && d >= 0 && !reset) { /* the grid of the increments */
            double dd = fabs(d - s->inc.last_inc), tol = 1e-9 * (fabs(x) + 1.0);
            if (s->inc.last_inc >= 0 && dd > tol && (s->inc.grid == 0 || dd < s->inc.grid))
                s->inc.grid = (float)dd;
            s->inc.last_inc = (float)d;
        } else if (s->many) {
            s->inc.last_inc = -1;
        }
        int i = s->many ? -1 : find_val(s->vals, s->nvals, x);
        if (i >= 0 && s->cnt[i] < UINT16_MAX) s->cnt[i]++;
        if (!s->many && d != 0) {
            if (i >= 0) {
                if (s->n_ret < UINT32_MAX) s->n_ret++;
            } else if (s->nvals < DET_SHAPE_VALS) {
                s->cnt[s->nvals] = 1;
                s->vals[s->nvals++] = (float)x;
            } else {
                s->many = 1; /* the values are no states: their slots keep the increments' grid */
                s->inc.grid = 0;
                s->inc.last_inc = -1;
            }
        }
    }
    if (s->n < UINT32_MAX) s->n++;
    s->prev = x;

    if (s->kind == DET_SHAPE_COUNTER && s->n_down > 0) { /* decreased without a reset */
        s->kind = DET_SHAPE_LEVEL;
        s->decided = 1;
    } else if (s->kind == DET_SHAPE_DISCRETE && s->many) { /* more values than states */
        s->kind = DET_SHAPE_LEVEL;
        s->decided = 1;
    } else if (!s->decided && s->n >= DET_SHAPE_MIN_N) {
        if (s->n_down == 0 && s->n_up >= DET_SHAPE_COUNTER_UPS && s->many) {
            s->kind = DET_SHAPE_COUNTER;
            s->decided = 1;
            s->win_t = INT64_MIN;
        } else if (!s->many && s->nvals >= 2 && s->n_ret >= DET_SHAPE_RETURNS && recurring(s)) {
            s->kind = DET_SHAPE_DISCRETE;
            s->decided = 1;
        } else if (s->many && s->n_down > 0) {
            s->decided = 1; /* a level: it falls and takes many values */
        }
    }
    return s->kind != was;
}

int det_shape_quiet(const det_shape *s)
{
    return !s->decided && ((!s->many && s->nvals <= 2) || s->n_down == 0);
}

int det_shape_rate(det_shape *s, int64_t ts_ms, double x, double *rate)
{
    if (s->win_t == INT64_MIN || x < s->win_x || ts_ms < s->win_t) { /* first point, reset */
        s->win_x = x;
        s->win_t = ts_ms;
        return 0;
    }
    double dt = (double)ts_ms - (double)s->win_t;
    if (dt < DET_SHAPE_RATE_MS) return 0;
    *rate = (x - s->win_x) / (dt / 1000.0);
    s->win_x = x;
    s->win_t = ts_ms;
    return 1;
}

void det_shape_gap(det_shape *s)
{
    s->win_t = INT64_MIN;
}

double det_shape_resolution(const det_shape *s)
{
    /* a counter's smallest increment is its grid only for counts (1 event, 0.001 kWh); a byte
       counter's smallest increment in a minute says nothing about its rate's resolution */
    if (s->kind == DET_SHAPE_COUNTER) {
        double g = s->inc.grid > 0 && s->inc.grid < s->quantum ? s->inc.grid : s->quantum;
        return fmin(g, 1.0) / (DET_SHAPE_RATE_MS / 1000.0);
    }
    /* a grid, not the size of a spike: the values span at least two quanta (1% slack for the
       float values) */
    return 1.99 * s->quantum <= (double)s->vmax - s->vmin ? s->quantum : 0;
}

const char *det_shape_name(det_shape_kind k)
{
    switch (k) {
    case DET_SHAPE_COUNTER:
        return "counter";
    case DET_SHAPE_DISCRETE:
        return "discrete";
    default:
        return "level";
    }
}

int det_shape_validate(const det_shape *s)
{
    if (s->kind > DET_SHAPE_DISCRETE || s->decided > 1 || s->many > 1 || s->nvals > DET_SHAPE_VALS)
        return -1;
    if (!isfinite(s->quantum) || s->quantum < 0 || !isfinite(s->prev) || !isfinite(s->win_x))
        return -1;
    if (s->many && (!(s->inc.grid >= 0) || !isfinite(s->inc.grid) || !isfinite(s->inc.last_inc)))
        return -1;
    for (int i = 0; i < s->nvals && !s->many; i++)
        if (!isfinite(s->vals[i])) return -1;
    return isfinite(s->vmin) && isfinite(s->vmax) && s->vmin <= s->vmax ? 0 : -1;
}

/* ---- Discrete states ---- */

void det_state_init(det_state *m)
{
    memset(m, 0, sizeof *m);
    det_lik_init(&m->lik);
}

void det_state_seed(det_state *m, const det_shape *s, int64_t ts_ms)
{
    det_state_init(m);
    int cur = find_val(s->vals, s->nvals, s->prev);
    for (int i = 0; i < s->nvals; i++) {
        m->val[i] = s->vals[i];
        m->cnt[i] = 1;
    }
    m->nst = s->nvals;
    m->cur = (uint8_t)(cur >= 0 ? cur : 0);
    m->run_t0 = m->last_ts = m->first_ts = ts_ms;
    det_lik_init(&m->lik);
}

/* P(Binomial(n, p) >= k), exact (n <= DET_STATE_LONG). */
static double binom_tail(int n, int k, double p)
{
    if (k <= 0) return 1.0;
    if (p <= 0) return 0.0;
    if (p >= 1) return 1.0;
    double q = 0;
    for (int j = k; j <= n; j++)
        q += exp(lgamma(n + 1.0) - lgamma(j + 1.0) - lgamma(n - j + 1.0) + j * log(p) +
                 (n - j) * log1p(-p));
    return q > 1 ? 1 : q;
}

static double value_q(const det_state *m, int i, double x)
{
    double total = 0, once = 0;
    for (int k = 0; k < m->nst; k++) {
        total += m->cnt[k];
        once += m->cnt[k] < 1.5f;
    }
    if (i >= 0) return (m->cnt[i] + 1.0) / (total + 1.0);
    /* Good-Turing: a new value is as likely as one of the values seen once; a value far from
       every known state (in units of the smallest gap between them) much less so */
    double near = INFINITY, step = INFINITY;
    for (int k = 0; k < m->nst; k++) {
        near = fmin(near, fabs(x - m->val[k]));
        for (int j = k + 1; j < m->nst; j++)
            step = fmin(step, fabs((double)m->val[j] - m->val[k]));
    }
    if (!isfinite(step) || step <= 0) step = fmax(fabs(m->val[0]), 1.0);
    double q = (once + 1.0) / (total + 1.0), far = near / step;
    return far > 1 ? q * exp(1.0 - far) : q;
}

void det_state_update(det_state *m, const det_params *p, int64_t ts_ms, double x, int learn,
                      det_state_out *out)
{
    memset(out, 0, sizeof *out);
    out->q = out->q_value = out->q_stuck = out->q_flap = 1.0;
    int i = find_val(m->val, m->nst, x);
    int changed = i != m->cur;
    double held = since(ts_ms, m->run_t0);
    out->held_ms = changed ? 0 : held;
    out->usual_ms = m->run_max[m->cur];
    int warm = m->n >= p->warmup; /* as the ensemble: no opinion before p->warmup points */

    if (warm && changed) out->q_value = value_q(m, i, x);
    if (warm && !changed && m->runs[m->cur] >= STUCK_MIN_RUNS && held > m->run_max[m->cur]) {
        /* beyond the longest run: as rare as a new record, then exponentially rarer on the
           scale of that run (dwell times mix short and long runs: a day's and a night's) */
        double scale = fmax(m->run_max[m->cur], 1.0);
        out->q_stuck = exp(-(held - m->run_max[m->cur]) / scale) / (m->runs[m->cur] + 1.0);
    }
    /* changes over the last 128 points against the busiest usual fraction (of 32 points), and
       the count over the last 16 through the likelihood stage (spikes denser than their rhythm,
       only beyond twice the busiest usual density) */
    uint64_t lo = (m->changes[0] << 1) | (uint64_t)changed;
    uint64_t hi = (m->changes[1] << 1) | (m->changes[0] >> 63);
    int c = __builtin_popcountll(lo & 0xffffffffu);
    int c_long = __builtin_popcountll(lo) + __builtin_popcountll(hi);
    double pk = fmax(fmax(m->p_peak, m->p_change), 1.0 / DET_STATE_WIN);
    /* the rhythm of changes is a day's: no opinion on their density before a day was seen */
    int day_seen = since(ts_ms, m->first_ts) >= DAY_MS;
    if (warm && day_seen && m->n >= 2 * DET_STATE_LONG && (double)c_long / DET_STATE_LONG > pk)
        out->q_flap = binom_tail(DET_STATE_LONG, c_long, pk);
    if (learn) { /* a state coming more often than usual (spikes denser than their rhythm) */
        double c16 = __builtin_popcountll(lo & 0xffffu);
        /* the 12-point average alone: c16 is already a window count, a shorter average of it
           adds no short surprise, only the factor 2 of combining two */
        double q = det_lik_update_k(&m->lik, p, warm ? c16 : -1.0, 0);
        if (day_seen && c16 > 2 * 16 * pk) /* only beyond twice the busiest usual density */
            out->q_flap = fmin(out->q_flap, q);
    }

    double qmin = fmin(out->q_value, fmin(out->q_stuck, out->q_flap));
    /* two streams (Bonferroni): a change's value or a run's length (never both at one point),
       and the density of changes (its two counts count the same changes: one stream) */
    out->q = fmin(1.0, 2 * qmin);
    if (!learn) return;

    /* learn */
    m->n++;
    m->changes[0] = lo;
    m->changes[1] = hi;
    m->p_change += (changed - m->p_change) * (m->n < 1000 ? 1.0f / (float)m->n : 1e-3f);
    double frac = (double)c / DET_STATE_WIN;
    /* a young model learns the busiest stretch quickly (a day's busy hours come once a day);
       later only slowly, so that a burst of changes does not teach itself as it grows */
    int young = m->n < PEAK_YOUNG_N || since(ts_ms, m->first_ts) < 2 * DAY_MS;
    if (m->n >= DET_STATE_WIN) {
        m->p_peak *= 1 - PEAK_DECAY;
        if (frac > m->p_peak) /* a high quantile, not the max */
            m->p_peak += (young ? PEAK_FAST : PEAK_RATE) * (float)(frac - m->p_peak);
    }
    for (int k = 0; k < m->nst; k++)
        m->run_max[k] *= 1 - RUN_DECAY;
    if (changed) {
        uint8_t o = m->cur;
        double dur = since(ts_ms, m->run_t0);
        if (m->runs[o] < UINT32_MAX) m->runs[o]++;
        float a = m->runs[o] < 100 ? 1.0f / (float)m->runs[o] : 0.01f;
        m->run_mean[o] += a * (float)(dur - m->run_mean[o]);
        if (dur > m->run_max[o])
            m->run_max[o] = out->q_stuck >= LEARN_Q || m->runs[o] < STUCK_MIN_RUNS
                                ? (float)dur
                                : m->run_max[o] + 0.1f * (float)(dur - m->run_max[o]);
        if (i < 0 && m->nst < DET_SHAPE_VALS) {
            i = m->nst++;
            m->val[i] = (float)x;
            m->cnt[i] = 0;
            m->run_max[i] = m->run_mean[i] = 0;
            m->runs[i] = 0;
        }
        if (i >= 0) m->cur = (uint8_t)i;
        m->run_t0 = ts_ms;
    }
    if (i >= 0) m->cnt[i] += 1;
    float total = 0;
    for (int k = 0; k < m->nst; k++)
        total += m->cnt[k];
    if (total > CNT_CAP)
        for (int k = 0; k < m->nst; k++)
            m->cnt[k] *= 0.5f;
    m->last_ts = ts_ms;
}

void det_state_gap(det_state *m, double unseen_ms)
{
    if (!(unseen_ms > 0)) return;
    /* its start moves later by the unseen time (past its last point, if it was shorter than
       the gap: the run is then as long as was seen of it) */
    double t0 = (double)m->run_t0 + unseen_ms;
    m->run_t0 = t0 < 9e18 ? (int64_t)t0 : m->run_t0;
}

int det_state_validate(const det_state *m)
{
    if (m->nst > DET_SHAPE_VALS || m->cur >= DET_SHAPE_VALS || (m->nst && m->cur >= m->nst))
        return -1;
    if (!isfinite(m->p_change) || !isfinite(m->p_peak) || m->p_change < 0 || m->p_peak < 0)
        return -1;
    for (int k = 0; k < DET_SHAPE_VALS; k++)
        if (!isfinite(m->val[k]) || !(m->cnt[k] >= 0) || !isfinite(m->cnt[k]) ||
            !(m->run_max[k] >= 0) || !isfinite(m->run_max[k]) || !isfinite(m->run_mean[k]))
            return -1;
    return det_lik_validate(&m->lik);
}
