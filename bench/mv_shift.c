/* Multivariate detector sensitivity: how many rows of a small persistent shift the device
 * detector (src/detect/mvar.c, the code the server runs) alarms, averaged over many seeds (one
 * seed says little: the shift sits near the bar, so a single run is luck as much as method).
 * Eight independent uniform metrics, 400 warm-up rows, 400 normal rows, then one metric shifted
 * by `shift` sd for 200 rows; also the alarmed rows among the 400 normal ones.
 * Usage: bench_mv_shift [--param name=value]... [--seeds N]
 * Prints one JSON line per shift (0, 0.4, ..., 2.0 sd): mean alarmed rows of the 200 shifted
 * ones and of the 400 normal ones. */
#include "detect/detector.h"
#include "detect/mvar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D 8
#define WARM 400
#define NORMAL 400
#define SHIFTED 200

static double u(uint64_t i)
{
    return det_unit(det_mix64(i)) - 0.5; /* sd 0.29 */
}

int main(int argc, char **argv)
{
    det_params p;
    det_params_default(&p);
    int seeds = 20;
    for (int i = 1; i < argc; i++) {
        char name[64];
        double v;
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--param") == 0 && i + 1 < argc &&
                   sscanf(argv[++i], "%63[^=]=%lf", name, &v) == 2 &&
                   det_params_set(&p, name, v) == 0) {
            continue;
        } else {
            fprintf(stderr, "usage: bench_mv_shift [--param name=value]... [--seeds N]\n");
            return 2;
        }
    }
    if (seeds < 1) return 2;
    det_mv_params mp;
    det_mv_params_from(&mp, &p, WARM);
    det_mv *s = malloc(sizeof *s);
    if (!s) return 1;
    for (int tenths = 0; tenths <= 20; tenths += 4) {
        double shift = tenths / 10.0;
        long found = 0, false_rows = 0;
        for (int seed = 0; seed < seeds; seed++) {
            det_mv_init(s, D);
            for (int i = 0; i < WARM + NORMAL + SHIFTED; i++) {
                double x[D];
                det_mv_out o;
                for (int k = 0; k < D; k++)
                    x[k] = 10 * k + u(1000003ull * (uint64_t)seed + D * (uint64_t)i + (uint64_t)k);
                if (i >= WARM + NORMAL) x[5] += shift * 0.29;
                det_mv_update(s, &mp, x, &o);
                if (i >= WARM + NORMAL)
                    found += o.alarm;
                else if (i >= WARM)
                    false_rows += o.alarm;
            }
        }
        printf("{\"bench\":\"mv_shift\",\"shift_sd\":%.1f,\"seeds\":%d,\"k_on\":%g,\"k_off\":%g,"
               "\"lambda\":%g,\"shifted_rows_alarmed\":%.1f,\"of\":%d,\"normal_rows_alarmed\":%.1f,"
               "\"of_normal\":%d}\n",
               shift, seeds, p.mv_k_on, p.mv_k_off, p.mv_mewma, (double)found / seeds, SHIFTED,
               (double)false_rows / seeds, NORMAL);
    }
    free(s);
    return 0;
}
