/* Anomaly likelihood (see likelihood.h). The short-term average of the last lik_short raw scores
 * is kept in a ring (its sum is recomputed from the ring every 128 points so float rounding
 * cannot accumulate) and scored against the tail model. The ring holds bfloat16 values (a float's
 * upper 16 bits, rounded: 8 significant bits, within 0.2 %) so the per-series state keeps within
 * 4 KB; the sum adds the rounded values, the same the ring gives back when it is recomputed. */
#include "detect/likelihood.h"

#include <math.h>
#include <string.h>

/* bfloat16: the upper half of a float, rounded to nearest even (raw is finite, in [0, 1e6]). */
static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_val(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#define VAR_FLOOR_REL 1e-2 /* sd >= 10% of the mean */
#define VAR_FLOOR_ABS 1e-4
#define TAIL_K 3.0        /* u = mean + TAIL_K sd */
#define EXCESS_FLOOR 0.25 /* the mean excess is kept within [0.25, 0.5] sd: a tail fitted to */
#define EXCESS_CAP 0.5    /* a few past excursions must not hide the next one */
#define FRAC_MIN 1e-3

static void tail_init(det_lik_tail *t)
{
    memset(t, 0, sizeof *t);
    t->frac = 0.02f;
}

void det_lik_init(det_lik *s)
{
    memset(s, 0, sizeof *s);
    tail_init(&s->st);
    tail_init(&s->st2);
}

static unsigned short_len(const det_params *p)
{
    unsigned k = p->lik_short;
    return k < 1 ? 1 : (k > DET_LIK_SHORT_MAX ? DET_LIK_SHORT_MAX : k);
}

/* Tail probability of avg under t, then t learns avg with rate a (warm: bulk unwinsorised). */
static double tail_update(det_lik_tail *t, double avg, double a, int warm, double fmax,
                          double *u_out)
{
    double var = t->var, fl = VAR_FLOOR_REL * t->mean * t->mean + VAR_FLOOR_ABS;
    if (var < fl) var = fl;
    double sd = sqrt(var);
    double u = t->mean + TAIL_K * sd;
    *u_out = u;
    double exc = t->excess > EXCESS_FLOOR * sd ? t->excess : EXCESS_FLOOR * sd;
    if (exc > EXCESS_CAP * sd) exc = EXCESS_CAP * sd;
    double frac = t->frac > FRAC_MIN ? t->frac : FRAC_MIN;
    double q;
    if (avg > u) {
        q = frac * exp(-(avg - u) / exc);
    } else {
        double z = (avg - t->mean) / sd;
        q = z > 0 ? 0.5 * erfc(z * M_SQRT1_2) : 1.0;
        if (q < frac) q = frac;
    }
    if (q < 1e-300) q = 1e-300;

    /* winsorised bulk; but when the "tail" holds more than fmax of the points it is no tail,
       it is part of the distribution (spikes that keep coming) and the bulk learns it */
    int wins = !warm && !(fmax > 0 && t->frac > fmax);
    double ac = wins && avg > u ? u : avg;
    double d = ac - t->mean;
    t->mean += (float)(a * d);
    t->var += (float)(a * (d * (ac - t->mean) - t->var));
    if (!warm) {
        t->frac += (float)(a * ((avg > u ? 1.0 : 0.0) - t->frac));
        if (avg > u) {
            double ae = a / (frac > 0.02 ? frac : 0.02);
            if (ae > 0.5) ae = 0.5;
            t->excess += (float)(ae * ((avg - u) - t->excess));
        }
    }
    return q;
}

/* The peak rule (see likelihood.h) on q of a score avg with tail threshold u and tail fraction
 * frac. Then the excursion in progress is followed; when it ends, its peak c either repeats a
 * remembered one (within the tolerance both ways: that one becomes "seen twice", +c, and fresh)
 * or takes an empty or forgotten slot, else that of the oldest peak seen once, else the oldest
 * (as -c: seen once). A peak is forgotten lik_peak_h points after it was last seen. */
static int same_height(double a, double b, double tol)
{
    return a <= b * (1.0 + tol) && b <= a * (1.0 + tol);
}

static double peaks_update(det_lik_peaks *k, const det_params *p, uint32_t n, double avg, double u,
                           double q, double frac)
{
    for (int i = 0; i < DET_LIK_PEAKS; i++)
        if (k->v[i] > 0 && n - k->at[i] <= p->lik_peak_h &&
            avg <= k->v[i] * (1.0 + p->lik_peak_tol) && q < frac)
            q = frac;
    if (avg > u) {
        if (avg > k->cur) k->cur = (float)avg;
        return q;
    }
    if (!(k->cur > 0)) return q;
    double c = k->cur;
    int j = -1;
    for (int i = 0; i < DET_LIK_PEAKS && j < 0; i++)
        if (k->v[i] != 0 && n - k->at[i] <= p->lik_peak_h &&
            same_height(c, fabs(k->v[i]), p->lik_peak_tol))
            j = i;
    if (j >= 0) {
        k->v[j] = (float)c;
    } else {
        for (int i = 0; i < DET_LIK_PEAKS && j < 0; i++)
            if (k->v[i] == 0 || n - k->at[i] > p->lik_peak_h) j = i;
        if (j < 0) { /* the oldest seen once, else the oldest */
            j = 0;
            for (int i = 1; i < DET_LIK_PEAKS; i++) {
                int oi = k->v[i] < 0, oj = k->v[j] < 0;
                if (oi > oj || (oi == oj && n - k->at[i] > n - k->at[j])) j = i;
            }
        }
        k->v[j] = (float)-c;
    }
    k->at[j] = n;
    k->cur = 0;
    return q;
}

/* Tail probability of avg under t (learning it), with the peak rule of k when it is on. */
static double avg_q(det_lik_tail *t, det_lik_peaks *k, const det_params *p, uint32_t n, double avg,
                    double a, int warm, double fmax)
{
    double frac = t->frac > FRAC_MIN ? t->frac : FRAC_MIN, u;
    double q = tail_update(t, avg, a, warm, fmax, &u);
    return p->lik_peak_h > 0 ? peaks_update(k, p, n, avg, u, q, frac) : q;
}

double det_lik_update(det_lik *s, const det_params *p, double raw)
{
    return det_lik_update_k(s, p, raw, 1);
}

double det_lik_update_k(det_lik *s, const det_params *p, double raw, int short2)
{
    unsigned k = short_len(p);
    if (raw < 0) return 1.0; /* the detector is still warming up: nothing to learn */
    if (!isfinite(raw)) raw = 0;
    if (raw > 1e6) raw = 1e6;
    if (s->pos >= k) s->pos = 0;
    if (s->fill >= k)
        s->sum -= bf16_val(s->ring[s->pos]);
    else
        s->fill++;
    s->ring[s->pos] = bf16_of((float)raw);
    s->sum += bf16_val(s->ring[s->pos]);
    s->pos = (uint8_t)(s->pos + 1u < k ? s->pos + 1u : 0u); /* no division on the hot path */
    s->n++;
    if ((s->n & 127u) == 0) {
        float t = 0;
        for (unsigned i = 0; i < s->fill && i < DET_LIK_SHORT_MAX; i++)
            t += bf16_val(s->ring[i]);
        s->sum = t;
    }
    double avg = s->sum / s->fill;

    /* learn: fast at first, then with memory 1/lik_alpha points */
    double a = 1.0 / s->n;
    if (a < p->lik_alpha) a = p->lik_alpha;
    int warm = s->n <= p->warmup / 2 + k;
    double q = avg_q(&s->st, &s->pk, p, s->n, avg, a, warm, p->lik_fmax);
    unsigned k2 = p->lik_short2;
    if (short2 && k2 > 0 && k2 < k) { /* the last k2 raw scores: the ring slots before pos */
        float t = 0;
        unsigned m = k2 < s->fill ? k2 : s->fill;
        unsigned j = s->pos; /* walks back from pos, wrapping at k (pos < k) */
        for (unsigned i = 1; i <= m; i++) {
            j = j > 0 ? j - 1 : k - 1;
            t += bf16_val(s->ring[j]);
        }
        double q2 = p->lik_short2_w * avg_q(&s->st2, &s->pk2, p, s->n, t / m, a, warm, p->lik_fmax);
        q = 2.0 * (q2 < q ? q2 : q);
        if (q > 1.0) q = 1.0;
    }
    if (s->n <= p->warmup) q = 1.0;
    return q;
}

double det_lik_score(double q)
{
    double v = log(q + 1e-10) / -23.02585084720009;
    return v < 0 ? 0 : (v > 1 ? 1 : v);
}

static int peaks_validate(const det_lik_peaks *k)
{
    if (!(k->cur >= 0) || !isfinite(k->cur)) return -1;
    for (int i = 0; i < DET_LIK_PEAKS; i++)
        if (!isfinite(k->v[i])) return -1;
    return 0;
}

static int tail_validate(const det_lik_tail *t)
{
    if (!isfinite(t->mean) || !isfinite(t->var) || t->var < 0) return -1;
    if (!isfinite(t->frac) || !isfinite(t->excess) || t->frac < 0 || t->excess < 0) return -1;
    return 0;
}

int det_lik_validate(const det_lik *s)
{
    if (s->fill > DET_LIK_SHORT_MAX || s->pos >= DET_LIK_SHORT_MAX) return -1;
    if (!isfinite(s->sum) || tail_validate(&s->st) != 0 || tail_validate(&s->st2) != 0) return -1;
    if (peaks_validate(&s->pk) != 0 || peaks_validate(&s->pk2) != 0) return -1;
    for (int i = 0; i < DET_LIK_SHORT_MAX; i++)
        if (!isfinite(bf16_val(s->ring[i]))) return -1;
    return 0;
}
