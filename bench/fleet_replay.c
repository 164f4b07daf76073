/* The simulated fleet (src/sim/sim_models.c) replayed through the product's per-series detection
 * (det_series_update with the default parameters: the code the server runs on every non-sys
 * metric), as a first run sees it: N devices of the six simulated types over six sites, one
 * sample every --step-s seconds (jittered +-10 %, values printed as the simulator's payloads
 * print them) for D days, every metric a series learning from
 * its first point. An alert is a point that opens an episode (what the server stores as an
 * anomaly). Three runs over the same devices (same model seeds):
 *   clean   no faults: every alert is a false alert (total, in the first 24 h, by level, by metric)
 *   faults  data faults (spike, level shift, stuck, drift; the simulator's kinds, magnitudes and
 *           relative rates) injected one at a time per device, from hour --fault-from-h on, the
 *           next --fault-every-h hours (exponential) after the last one ended: a fault is found
 *           when an alert opens on its device and metric from its start to --found-min minutes
 *           after its end (by kind, and how many at Warning or above)
 *   gaps    each device goes silent for --gap-h hours once, at a random time after hour 24: the
 *           alerts on that device in the --found-min minutes after it resumes (by level)
 * --verbose lists the clean run's alerts and the gap run's alerts after a gap on stderr.
 * --set name=value (repeatable) changes a detector parameter (det_params_set) for all runs.
 * Prints one JSON object on stdout; progress on stderr.
 * Usage: build/bench_fleet_replay [--devices 60] [--days 7] [--step-s 60] [--fault-every-h 8]
 *        [--fault-from-h 6] [--found-min 30] [--gap-h 2] [--seed 1000] [--set k=v]...
 *        [--trace dev.metric] (that series' points from 3 h before its gap to 1 h after, on stderr)
 */
#include "detect/series.h"
#include "sim/sim_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEV 1000
#define MAX_KEYS (SIM_TYPE_COUNT * SIM_MAX_METRICS)

enum { RUN_CLEAN, RUN_FAULTS, RUN_GAPS, RUN_COUNT };

typedef struct {
    int devices, days;
    double step_s, fault_every_h, fault_from_h, found_min, gap_h;
    uint64_t seed;
    int verbose;
    int trace_dev, trace_metric; /* --trace dev.metric: that series' points around its gap */
    det_params p;
} config;

typedef struct {
    long alerts, first_day, level[4];
    long by_key[MAX_KEYS]; /* type * SIM_MAX_METRICS + metric */
    long per_day[64];
    long faults[SIM_FAULT_COUNT], found[SIM_FAULT_COUNT], found_warn[SIM_FAULT_COUNT];
    long faults_day1, found_day1;
    long gaps, gap_alerts, gap_level[4];
    long gap_clean; /* clean run: alerts in the same windows (no gap) */
    double points;
} tally;

/* One device through one run. */
static void run_device(const config *c, int run, int dev, tally *t)
{
    sim_meta meta;
    sim_device_meta((size_t)dev, &meta);
    sim_model m;
    sim_model_init(&m, meta.type, meta.site, c->seed + (uint64_t)dev);
    int nm;
    const sim_metric_desc *md = sim_metrics(meta.type, &nm);
    static det_series s[SIM_MAX_METRICS];
    for (int j = 0; j < nm; j++)
        det_series_init(&s[j], &c->p, det_mix64(c->seed * 131 + (uint64_t)dev * 8 + (uint64_t)j));
    sim_rng jr, fr;
    sim_rng_seed(&jr, c->seed ^ (0x6a09e667ULL + (uint64_t)dev));
    sim_rng_seed(&fr, c->seed ^ (0xbb67ae85ULL + (uint64_t)dev * 7919));
    const int64_t t0 = 1767225600000LL, step = (int64_t)(c->step_s * 1000);
    const int64_t end = t0 + c->days * 86400000LL, hour = 3600000LL;
    /* the fault schedule: the next start, and the fault in progress (kind NONE: none) */
    int64_t next_fault =
        t0 + (int64_t)((c->fault_from_h - c->fault_every_h * log(1 - sim_rng_uniform(&fr))) * hour);
    sim_fault_info cur = {.kind = SIM_FAULT_NONE};
    int cur_found = 0, cur_warn = 0;
    double drates[SIM_FAULT_COUNT], dtotal = 0;
    for (int f = 0; f < SIM_FAULT_COUNT; f++) {
        drates[f] =
            sim_fault_is_data((sim_fault)f) ? sim_fault_rate((sim_fault)f, meta.type, 1) : 0;
        dtotal += drates[f];
    }
    /* the gap: [gap_at, gap_at + gap_h) silent; alerts counted until resume + found_min */
    int64_t gap_at = t0 + 24 * hour +
                     (int64_t)(sim_rng_uniform(&jr) * (double)(end - t0 - 24 * hour - 4 * hour));
    int64_t gap_end = gap_at + (int64_t)(c->gap_h * hour);
    int64_t watch = (int64_t)(c->found_min * 60000);
    if (run == RUN_GAPS) t->gaps++;
    for (int64_t k = 0;; k++) {
        int64_t ts = t0 + k * step + (int64_t)((sim_rng_uniform(&jr) - 0.5) * 0.2 * (double)step);
        if (ts >= end) break;
        if (run == RUN_GAPS && ts >= gap_at && ts < gap_end) continue;
        if (run == RUN_FAULTS) {
            if (cur.kind != SIM_FAULT_NONE) {
                int64_t fend = cur.end_ms > cur.start_ms ? cur.end_ms : cur.start_ms + step;
                if (ts >= fend + watch) { /* its watch is over: tally it, schedule the next */
                    t->found[cur.kind] += cur_found;
                    t->found_warn[cur.kind] += cur_warn;
                    if (cur.start_ms < t0 + 24 * hour) t->found_day1 += cur_found;
                    cur.kind = SIM_FAULT_NONE;
                    next_fault = ts - (int64_t)(c->fault_every_h * log(1 - sim_rng_uniform(&fr)) *
                                                (double)hour);
                }
            }
            if (cur.kind == SIM_FAULT_NONE && ts >= next_fault && ts < end - 2 * hour) {
                double pick = sim_rng_uniform(&fr) * dtotal;
                sim_fault kind = SIM_FAULT_SPIKE;
                for (int f = 1; f < SIM_FAULT_COUNT; f++) {
                    if (drates[f] <= 0) continue;
                    kind = (sim_fault)f;
                    if (pick < drates[f]) break;
                    pick -= drates[f];
                }
                if (sim_model_fault(&m, kind, ts, &cur) == 0) {
                    t->faults[kind]++;
                    if (ts < t0 + 24 * hour) t->faults_day1++;
                    cur_found = cur_warn = 0;
                } else {
                    cur.kind = SIM_FAULT_NONE;
                    next_fault = ts + hour;
                }
            }
        }
        sim_sample smp;
        sim_model_step(&m, ts, &smp);
        for (int j = 0; j < nm; j++) {
            char txt[64]; /* the value as a payload carries it (sim_format_sample) */
            snprintf(txt, sizeof txt, "%.*f", md[j].decimals, smp.value[j]);
            det_result r;
            det_series_update(&s[j], &c->p, ts, strtod(txt, NULL), &r);
            t->points++;
            if (run == RUN_GAPS && dev == c->trace_dev && j == c->trace_metric &&
                ts >= gap_at - 3 * hour && ts < gap_end + hour)
                fprintf(stderr,
                        "trace %s h=%.3f x=%s scored=%g score=%.3f m=[%.2f %.2f %.2f] lo=%g hi=%g "
                        "level=%s\n",
                        md[j].name, (double)(ts - t0) / 3.6e6, txt, r.scored, r.score,
                        r.member_score[0], r.member_score[1], r.member_score[2], r.lo, r.hi,
                        det_level_name(r.level));
            if (!r.alert || r.level == DET_LEVEL_NONE) continue;
            int key = (int)meta.type * SIM_MAX_METRICS + j;
            int day = (int)((ts - t0) / (24 * hour));
            if (run == RUN_CLEAN && ts >= gap_end && ts < gap_end + watch) t->gap_clean++;
            if (run == RUN_CLEAN) {
                if (c->verbose)
                    fprintf(stderr,
                            "alert dev=%d %s/%s h=%.2f level=%s score=%.3f m=[%.2f %.2f %.2f] x=%g "
                            "lo=%g hi=%g\n",
                            dev, sim_type_name(meta.type), md[j].name, (double)(ts - t0) / 3.6e6,
                            det_level_name(r.level), r.score, r.member_score[0], r.member_score[1],
                            r.member_score[2], r.scored, r.lo, r.hi);
                t->alerts++;
                t->level[r.level]++;
                t->by_key[key]++;
                if (day < 64) t->per_day[day]++;
                if (day == 0) t->first_day++;
            } else if (run == RUN_FAULTS) {
                if (cur.kind != SIM_FAULT_NONE && j == cur.metric && ts >= cur.start_ms) {
                    cur_found = 1;
                    if (r.level >= DET_LEVEL_WARNING) cur_warn = 1;
                }
            } else if (ts >= gap_end && ts < gap_end + watch) {
                if (c->verbose)
                    fprintf(stderr,
                            "gap_alert dev=%d %s/%s h=%.2f after=%.0fs level=%s score=%.3f "
                            "shape=%s why=%d m=[%.2f %.2f %.2f] x=%g lo=%g hi=%g held=%.0fs "
                            "usual=%.0fs\n",
                            dev, sim_type_name(meta.type), md[j].name, (double)(ts - t0) / 3.6e6,
                            (double)(ts - gap_end) / 1e3, det_level_name(r.level), r.score,
                            det_shape_name((det_shape_kind)r.shape), r.why, r.member_score[0],
                            r.member_score[1], r.member_score[2], r.scored, r.lo, r.hi,
                            r.held_ms / 1e3, r.usual_ms / 1e3);
                t->gap_alerts++;
                t->gap_level[r.level]++;
            }
        }
    }
    if (run == RUN_FAULTS && cur.kind != SIM_FAULT_NONE) { /* ran to the end during its watch */
        t->found[cur.kind] += cur_found;
        t->found_warn[cur.kind] += cur_warn;
        if (cur.start_ms < t0 + 24 * hour) t->found_day1 += cur_found;
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long sum_kinds(const long *v)
{
    long s = 0;
    for (int f = 0; f < SIM_FAULT_COUNT; f++)
        s += v[f];
    return s;
}

int main(int argc, char **argv)
{
    config c = {.devices = 60,
                .days = 7,
                .step_s = 60,
                .fault_every_h = 8,
                .fault_from_h = 6,
                .found_min = 30,
                .gap_h = 2,
                .seed = 1000,
                .trace_dev = -1};
    det_params_default(&c.p);
    char sets[1024] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--verbose")) {
            c.verbose = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "usage: see the comment at the top of bench/fleet_replay.c\n");
            return 2;
        }
        if (!strcmp(a, "--devices"))
            c.devices = atoi(v);
        else if (!strcmp(a, "--days"))
            c.days = atoi(v);
        else if (!strcmp(a, "--step-s"))
            c.step_s = atof(v);
        else if (!strcmp(a, "--fault-every-h"))
            c.fault_every_h = atof(v);
        else if (!strcmp(a, "--fault-from-h"))
            c.fault_from_h = atof(v);
        else if (!strcmp(a, "--found-min"))
            c.found_min = atof(v);
        else if (!strcmp(a, "--gap-h"))
            c.gap_h = atof(v);
        else if (!strcmp(a, "--trace"))
            sscanf(v, "%d.%d", &c.trace_dev, &c.trace_metric);
        else if (!strcmp(a, "--seed"))
            c.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--set")) {
            char name[64];
            const char *eq = strchr(v, '=');
            if (!eq || (size_t)(eq - v) >= sizeof name) return 2;
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = '\0';
            if (det_params_set(&c.p, name, atof(eq + 1)) != 0) {
                fprintf(stderr, "unknown parameter %s\n", name);
                return 2;
            }
            size_t n = strlen(sets);
            snprintf(sets + n, sizeof sets - n, "%s\"%s\"", n ? "," : "", v);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (c.devices < 1 || c.devices > MAX_DEV || c.days < 2 || c.days > 64 || c.step_s < 1 ||
        c.fault_every_h <= 0 || c.gap_h <= 0)
        return 2;
    static tally t[RUN_COUNT];
    double t_start = now_s();
    for (int run = 0; run < RUN_COUNT; run++) {
        for (int d = 0; d < c.devices; d++)
            run_device(&c, run, d, &t[run]);
        fprintf(stderr, "fleet_replay: run %d done (%.1f s)\n", run, now_s() - t_start);
    }
    double wall = now_s() - t_start;
    const tally *k = &t[RUN_CLEAN], *f = &t[RUN_FAULTS], *g = &t[RUN_GAPS];
    printf("{\"bench\":\"fleet_replay\",\"devices\":%d,\"days\":%d,\"step_s\":%g,\"set\":[%s],"
           "\"points\":%.0f,\"wall_s\":%.1f,",
           c.devices, c.days, c.step_s, sets, k->points + f->points + g->points, wall);
    printf("\"clean\":{\"alerts\":%ld,\"first_day\":%ld,\"info\":%ld,\"warning\":%ld,"
           "\"critical\":%ld,\"per_day\":[",
           k->alerts, k->first_day, k->level[DET_LEVEL_INFO], k->level[DET_LEVEL_WARNING],
           k->level[DET_LEVEL_CRITICAL]);
    for (int d = 0; d < c.days; d++)
        printf("%s%ld", d ? "," : "", k->per_day[d]);
    printf("],\"by_metric\":{");
    int first = 1;
    for (int ty = 0; ty < SIM_TYPE_COUNT; ty++) {
        int nm;
        const sim_metric_desc *md = sim_metrics((sim_type)ty, &nm);
        for (int j = 0; j < nm; j++) {
            long n = k->by_key[ty * SIM_MAX_METRICS + j];
            if (!n) continue;
            printf("%s\"%s/%s\":%ld", first ? "" : ",", sim_type_name((sim_type)ty), md[j].name, n);
            first = 0;
        }
    }
    printf("}},\"faults\":{\"injected\":%ld,\"found\":%ld,\"found_warning\":%ld,"
           "\"injected_day1\":%ld,\"found_day1\":%ld,\"by_kind\":{",
           sum_kinds(f->faults), sum_kinds(f->found), sum_kinds(f->found_warn), f->faults_day1,
           f->found_day1);
    first = 1;
    for (int kd = 0; kd < SIM_FAULT_COUNT; kd++) {
        if (!f->faults[kd]) continue;
        printf("%s\"%s\":[%ld,%ld]", first ? "" : ",", sim_fault_name((sim_fault)kd), f->found[kd],
               f->faults[kd]);
        first = 0;
    }
    printf("}},\"gaps\":{\"gaps\":%ld,\"gap_h\":%g,\"alerts_after\":%ld,\"clean_same_windows\":%ld,"
           "\"info\":%ld,\"warning\":%ld,\"critical\":%ld}}\n",
           g->gaps, c.gap_h, g->gap_alerts, k->gap_clean, g->gap_level[DET_LEVEL_INFO],
           g->gap_level[DET_LEVEL_WARNING], g->gap_level[DET_LEVEL_CRITICAL]);
    return 0;
}
