/* `iotad replay --format nab`: one univariate CSV (header with `timestamp` and `value` columns)
 * through one det_series, exactly as live points go through it; writes
 * `timestamp,value,anomaly_score,alert,score,in_episode`: anomaly_score is the series' novelty
 * score (the calibrated score, 0 while an anomaly episode is already open), alert is 1 on the rows
 * where the default alert decision opens an episode, score is the calibrated score itself and
 * in_episode 1 while an episode is open (the last two for analysis; NAB ignores extra columns). */
#include "detect/replay_io.h"
#include "detect/series.h"

#include <stdlib.h>
#include <string.h>

static int column(char **f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i], name) == 0) return (int)i;
    return -1;
}

int replay_nab_file(const replay_opts *o, const char *in, const char *out)
{
    int rc = -1;
    char *line = NULL;
    size_t cap = 0;
    FILE *fi = fopen(in, "r"), *fo = NULL;
    det_series *s = malloc(sizeof *s);
    if (!fi || !s) {
        fprintf(stderr, "replay: cannot open %s\n", in);
        goto out;
    }
    if (replay_mkdirs_for(out) != 0 || !(fo = fopen(out, "w"))) {
        fprintf(stderr, "replay: cannot write %s\n", out);
        goto out;
    }
    char *f[REPLAY_MAX_COLS];
    if (getline(&line, &cap, fi) < 0) goto bad;
    size_t nf = replay_split(line, ',', f, REPLAY_MAX_COLS);
    int cts = column(f, nf, "timestamp"), cv = column(f, nf, "value");
    if (cts < 0 || cv < 0) goto bad;
    if (det_series_init(s, &o->params, o->seed) != 0) {
        fprintf(stderr, "replay: detector set-up failed\n");
        goto out;
    }
    fputs("timestamp,value,anomaly_score,alert,score,in_episode\n", fo);
    long row = 1;
    while (getline(&line, &cap, fi) >= 0) {
        row++;
        nf = replay_split(line, ',', f, REPLAY_MAX_COLS);
        if (nf == 1 && f[0][0] == '\0') continue;
        int64_t ts;
        double x;
        if ((size_t)cts >= nf || (size_t)cv >= nf || replay_parse_time(f[cts], &ts) != 0 ||
            replay_parse_double(f[cv], &x) != 0) {
            fprintf(stderr, "replay: %s:%ld: bad row\n", in, row);
            goto out;
        }
        det_result r;
        det_series_update(s, &o->params, ts, x, &r);
        fprintf(fo, "%s,%s,%.6f,%d,%.6f,%d\n", f[cts], f[cv], r.novelty, r.alert, r.score,
                r.in_episode);
    }
    rc = 0;
    goto out;
bad:
    fprintf(stderr, "replay: %s: expected a header with timestamp,value\n", in);
out:
    free(line);
    free(s);
    if (fi) fclose(fi);
    if (fo && fclose(fo) != 0) rc = -1;
    return rc;
}
