/* Conformal tail probability (see conformal.h). */
#include "detect/conformal.h"

#include <math.h>
#include <string.h>

#define POT_K 5           /* the exponential tail is fitted to the POT_K largest scores */
#define POT_SCALE_MIN 0.1 /* tail scale >= 10% of its threshold */

void det_conf_init(det_conf *c)
{
    memset(c, 0, sizeof *c);
}

/* Merges both epochs' top lists (descending) into m; returns how many. */
static int merged(const det_conf *c, float *m)
{
    int i = 0, j = 0, k = 0;
    while (i < c->cnt[0] || j < c->cnt[1]) {
        if (j >= c->cnt[1] || (i < c->cnt[0] && c->top[0][i] >= c->top[1][j]))
            m[k++] = c->top[0][i++];
        else
            m[k++] = c->top[1][j++];
    }
    return k;
}

static double tail_p(const det_conf *c, double v, uint32_t warm)
{
    double n = (double)c->n[0] + (double)c->n[1];
    if (n < warm) return 1.0;
    /* rank among the kept scores; exact only if v reaches into every full list */
    for (int e = 0; e < 2; e++)
        if (c->cnt[e] == DET_CONF_K && v < c->top[e][DET_CONF_K - 1]) return 1.0;
    float m[2 * DET_CONF_K];
    int k = merged(c, m), ge = 0;
    while (ge < k && m[ge] >= v)
        ge++;
    double p = (ge + 1.0) / (n + 1.0);
    if (k >= POT_K) {
        double u = m[POT_K - 1], s = 0;
        for (int i = 0; i < POT_K; i++)
            s += m[i] - u;
        s /= POT_K;
        if (s < POT_SCALE_MIN * fabs(u)) s = POT_SCALE_MIN * fabs(u);
        if (v > u && s > 0) {
            double pp = POT_K / (n + 1.0) * exp(-(v - u) / s);
            if (pp < p) p = pp;
        }
    }
    return p < 1e-300 ? 1e-300 : p;
}

static void learn(det_conf *c, float v)
{
    float *t = c->top[0];
    int n = c->cnt[0];
    if (n < DET_CONF_K || v > t[n - 1]) {
        int i = n < DET_CONF_K ? n : DET_CONF_K - 1;
        while (i > 0 && t[i - 1] < v) {
            t[i] = t[i - 1];
            i--;
        }
        t[i] = v;
        if (n < DET_CONF_K) c->cnt[0]++;
    }
    if (++c->n[0] >= DET_CONF_EPOCH) { /* the current epoch becomes the previous one */
        c->n[1] = c->n[0];
        c->cnt[1] = c->cnt[0];
        memcpy(c->top[1], c->top[0], sizeof c->top[0]);
        c->n[0] = 0;
        c->cnt[0] = 0;
    }
}

double det_conf_update(det_conf *c, double raw, uint32_t warm)
{
    if (!(raw >= 0)) return 1.0; /* also NaN */
    if (raw > 1e30) raw = 1e30;
    double p = tail_p(c, raw, warm);
    learn(c, (float)raw);
    return p;
}

double det_conf_peek(const det_conf *c, double raw, uint32_t warm)
{
    if (!(raw >= 0)) return 1.0;
    return tail_p(c, raw > 1e30 ? 1e30 : raw, warm);
}

int det_conf_validate(const det_conf *c)
{
    for (int e = 0; e < 2; e++) {
        if (c->cnt[e] > DET_CONF_K || c->n[e] > DET_CONF_EPOCH || c->cnt[e] > c->n[e]) return -1;
        for (int i = 0; i < c->cnt[e]; i++) {
            if (!(c->top[e][i] >= 0) || !isfinite(c->top[e][i])) return -1;
            if (i > 0 && c->top[e][i] > c->top[e][i - 1]) return -1;
        }
    }
    return 0;
}
