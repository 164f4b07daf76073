/* Peer charts (src/detect/population.c) on the simulated fleet (src/sim/sim_models.c): N devices
 * of the six simulated types spread over six sites in five time zones (devices of one type differ
 * by site: climate, mains voltage, office hours), one sample a minute for D days, without faults.
 * Every episode a chart opens here is a false alarm, unless a fault is injected:
 *   --drift DEV   +5 on DEV's metric --metric (an index, default 0) over 7 hours from hour --at
 *                 (default 80), then held
 *   --scale DEV   DEV's metric --metric x 1.45 for its whole life
 * Prints one JSON object: episodes opened per chart, and for an injected fault whether (and after
 * how many hours) the chart meant for it opened on that device and metric.
 * Usage: build/bench_peers_sim [--devices 60] [--days 7] [--bucket-s 300] [--drift DEV --at H]
 *        [--scale DEV] [--metric J] [--seed S] [--verbose] */
#include "detect/population.h"
#include "sim/sim_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEV 1000

int main(int argc, char **argv)
{
    int nd = 60, days = 7, drift_dev = -1, scale_dev = -1, verbose = 0, fm = 0;
    double at_h = 80, bucket_s = 300;
    uint64_t seed = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "usage: see the comment at the top of bench/peers_sim.c\n");
            return 2;
        }
        if (!strcmp(a, "--devices"))
            nd = atoi(v);
        else if (!strcmp(a, "--days"))
            days = atoi(v);
        else if (!strcmp(a, "--bucket-s"))
            bucket_s = atof(v);
        else if (!strcmp(a, "--drift"))
            drift_dev = atoi(v);
        else if (!strcmp(a, "--at"))
            at_h = atof(v);
        else if (!strcmp(a, "--scale"))
            scale_dev = atoi(v);
        else if (!strcmp(a, "--metric"))
            fm = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (nd < 1 || nd > MAX_DEV || days < 1 || bucket_s < 60) return 2;
    static sim_model model[MAX_DEV];
    static sim_meta meta[MAX_DEV];
    static det_peer_state state[MAX_DEV][SIM_MAX_METRICS];
    static double sum[MAX_DEV][SIM_MAX_METRICS];
    static int cnt[MAX_DEV][SIM_MAX_METRICS];
    static uint8_t open[MAX_DEV][SIM_MAX_METRICS][DET_PEER_CHARTS];
    memset(state, 0, sizeof state);
    for (int i = 0; i < nd; i++) {
        sim_device_meta((size_t)i, &meta[i]);
        sim_model_init(&model[i], meta[i].type, meta[i].site, seed + (uint64_t)i);
    }
    det_peer_params pp;
    det_peer_params_default(&pp);
    const int64_t t0 = 1767225600000LL, step = 60000, bucket = (int64_t)(bucket_s * 1000);
    long opened[DET_PEER_CHARTS] = {0};
    double found_h[DET_PEER_CHARTS] = {-1, -1, -1};
    static double x[MAX_DEV], scratch[6 * MAX_DEV];
    static det_peer_out out[MAX_DEV];
    static det_peer_state *st[MAX_DEV];
    static int idx[MAX_DEV];
    for (int64_t ts = t0; ts < t0 + days * 86400000LL; ts += step) {
        double h = (double)(ts - t0) / 3600e3;
        for (int i = 0; i < nd; i++) {
            sim_sample s;
            sim_model_step(&model[i], ts, &s);
            for (int j = 0; j < s.n; j++) {
                double v = s.value[j];
                if (j == fm && i == drift_dev && h > at_h)
                    v += 5 * (h - at_h < 7 ? (h - at_h) / 7 : 1);
                if (j == fm && i == scale_dev) v *= 1.45;
                sum[i][j] += v;
                cnt[i][j]++;
            }
        }
        if ((ts + step - t0) % bucket) continue;
        int64_t bts = ts + step - bucket;
        for (int ty = 0; ty < SIM_TYPE_COUNT; ty++) {
            int nm;
            const sim_metric_desc *md = sim_metrics((sim_type)ty, &nm);
            for (int j = 0; j < nm; j++) {
                size_t n = 0;
                for (int i = 0; i < nd; i++)
                    if ((int)meta[i].type == ty && cnt[i][j]) {
                        idx[n] = i;
                        x[n] = sum[i][j] / cnt[i][j];
                        st[n++] = &state[i][j];
                    }
                det_peer_bucket info;
                if (det_peer_judge(st, x, n, bts, &pp, scratch, out, &info) != 0) continue;
                for (size_t k = 0; k < n; k++) {
                    int i = idx[k];
                    double z[DET_PEER_CHARTS] = {out[k].departure, out[k].drift, out[k].level};
                    for (int c = 0; c < DET_PEER_CHARTS; c++) {
                        if (isnan(z[c])) continue;
                        uint8_t *o = &open[i][j][c];
                        if (!*o && fabs(z[c]) >= pp.open[c]) {
                            *o = 1;
                            int injected = j == fm && ((c == DET_PEER_DRIFT && i == drift_dev) ||
                                                       (c == DET_PEER_LEVEL && i == scale_dev));
                            if (injected) {
                                if (found_h[c] < 0) found_h[c] = h;
                            } else {
                                opened[c]++;
                            }
                            if (verbose)
                                fprintf(stderr, "h=%.1f device=%d %s/%s chart=%d z=%.1f site=%s\n",
                                        h, i, sim_type_name((sim_type)ty), md[j].name, c, z[c],
                                        meta[i].site->code);
                        } else if (*o && fabs(z[c]) < pp.close[c]) {
                            *o = 0;
                        }
                    }
                }
            }
        }
        memset(sum, 0, sizeof sum);
        memset(cnt, 0, sizeof cnt);
    }
    printf("{\"bench\":\"peers_sim\",\"devices\":%d,\"days\":%d,\"bucket_s\":%g,"
           "\"false_episodes\":{\"departure\":%ld,\"drift\":%ld,\"level\":%ld}",
           nd, days, bucket_s, opened[0], opened[1], opened[2]);
    int nm;
    const sim_metric_desc *md = sim_metrics(meta[0].type, &nm);
    for (int f = 0; f < 2; f++) {
        int dev = f ? scale_dev : drift_dev, c = f ? DET_PEER_LEVEL : DET_PEER_DRIFT;
        if (dev < 0) continue;
        md = sim_metrics(meta[dev].type, &nm);
        printf(",\"%s\":{\"device\":%d,\"type\":\"%s\",\"metric\":\"%s\",\"detected\":%s,"
               "\"hour\":%.1f}",
               f ? "scale" : "drift", dev, sim_type_name(meta[dev].type),
               fm < nm ? md[fm].name : "?", found_h[c] >= 0 ? "true" : "false", found_h[c]);
    }
    printf("}\n");
    return 0;
}
