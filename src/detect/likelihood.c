/* Anomaly likelihood (see likelihood.h). The short-term average of the last lik_short raw scores
 * is kept in a ring (its sum is recomputed from the ring every 128 points so float rounding
 * cannot accumulate) and scored against the tail model. */
#include "detect/likelihood.h"

#include <math.h>
#include <string.h>

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
}

static unsigned short_len(const det_params *p)
{
    unsigned k = p->lik_short;
    return k < 1 ? 1 : (k > DET_LIK_SHORT_MAX ? DET_LIK_SHORT_MAX : k);
}

/* Tail probability of avg under t, then t learns avg with rate a (warm: bulk unwinsorised). */
static double tail_update(det_lik_tail *t, double avg, double a, int warm, double fmax)
{
    double var = t->var, fl = VAR_FLOOR_REL * t->mean * t->mean + VAR_FLOOR_ABS;
    if (var < fl) var = fl;
    double sd = sqrt(var);
    double u = t->mean + TAIL_K * sd;
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

double det_lik_update(det_lik *s, const det_params *p, double raw)
{
    unsigned k = short_len(p);
    if (raw < 0) return 1.0; /* the detector is still warming up: nothing to learn */
    if (!isfinite(raw)) raw = 0;
    if (raw > 1e6) raw = 1e6;
    if (s->pos >= k) s->pos = 0;
    if (s->fill >= k)
        s->sum -= s->ring[s->pos];
    else
        s->fill++;
    s->ring[s->pos] = (float)raw;
    s->sum += (float)raw;
    s->pos = (uint8_t)((s->pos + 1) % k);
    s->n++;
    if ((s->n & 127u) == 0) {
        float t = 0;
        for (unsigned i = 0; i < s->fill && i < DET_LIK_SHORT_MAX; i++)
            t += s->ring[i];
        s->sum = t;
    }
    double avg = s->sum / s->fill;

    /* learn: fast at first, then with memory 1/lik_alpha points */
    double a = 1.0 / s->n;
    if (a < p->lik_alpha) a = p->lik_alpha;
    int warm = s->n <= p->warmup / 2 + k;
    double q = tail_update(&s->st, avg, a, warm, p->lik_fmax);
    if (s->n <= p->warmup) q = 1.0;
    return q;
}

double det_lik_score(double q)
{
    double v = log(q + 1e-10) / -23.02585084720009;
    return v < 0 ? 0 : (v > 1 ? 1 : v);
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
    if (!isfinite(s->sum) || tail_validate(&s->st) != 0) return -1;
    for (int i = 0; i < DET_LIK_SHORT_MAX; i++)
        if (!isfinite(s->ring[i])) return -1;
    return 0;
}
