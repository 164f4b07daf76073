/* Population detector (see population.h). Median by quickselect on the caller's scratch copy. */
#include "detect/population.h"

#include <math.h>
#include <string.h>

static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return a[k];
}

static double median(double *a, size_t n)
{
    double m = select_kth(a, n, n / 2);
    if (n % 2 == 0) m = 0.5 * (m + select_kth(a, n, n / 2 - 1));
    return m;
}

int det_peer_zscores(const double *x, size_t n, double *z_out, double *scratch)
{
    if (n < 3) return -1;
    memcpy(scratch, x, n * sizeof *x);
    double med = median(scratch, n);
    for (size_t i = 0; i < n; i++)
        scratch[i] = fabs(x[i] - med);
    double mad = median(scratch, n);
    double sc = 1.4826 * mad;
    double fl = 1e-9 * (1.0 + fabs(med));
    if (sc < fl) sc = fl;
    for (size_t i = 0; i < n; i++)
        z_out[i] = (x[i] - med) / sc;
    return 0;
}

void det_peer_init(det_peer *p)
{
    memset(p, 0, sizeof *p);
}

double det_peer_update(det_peer *p, double z, double alpha)
{
    if (!isfinite(z)) return fabs(p->ewz);
    z = z > 50 ? 50 : (z < -50 ? -50 : z);
    p->n++;
    double a = 1.0 / p->n;
    if (a < alpha) a = alpha;
    p->ewz += (float)(a * (z - p->ewz));
    return fabs(p->ewz);
}
