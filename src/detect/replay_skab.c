/* `iotad replay --format skab`: one `;`-separated multivariate file (SKAB: datetime, 8 sensor
 * columns, then the label columns `anomaly` and `changepoint`, which are never read) through the
 * multivariate device detector, row by row. The first train_rows rows are the detector's
 * warm-up/calibration period (SKAB's protocol: a model may learn on each file's first 400 rows);
 * writes `datetime,anomaly` with the detector's 0/1 alarm per row (0 during warm-up). */
#include "detect/mvar.h"
#include "detect/replay_io.h"

#include <stdlib.h>
#include <string.h>

static int is_label(const char *name)
{
    return strcmp(name, "anomaly") == 0 || strcmp(name, "changepoint") == 0;
}

int replay_skab_file(const replay_opts *o, const char *in, const char *out)
{
    int rc = -1;
    char *line = NULL;
    size_t cap = 0;
    FILE *fi = fopen(in, "r"), *fo = NULL;
    det_mv *mv = malloc(sizeof *mv);
    if (!fi || !mv) {
        fprintf(stderr, "replay: cannot open %s\n", in);
        goto out;
    }
    if (replay_mkdirs_for(out) != 0 || !(fo = fopen(out, "w"))) {
        fprintf(stderr, "replay: cannot write %s\n", out);
        goto out;
    }
    char *f[REPLAY_MAX_COLS];
    int use[REPLAY_MAX_COLS] = {0};
    if (getline(&line, &cap, fi) < 0) goto bad;
    size_t nf = replay_split(line, ';', f, REPLAY_MAX_COLS);
    if (nf < 2 || strcmp(f[0], "datetime") != 0) goto bad;
    uint32_t d = 0;
    for (size_t i = 1; i < nf; i++)
        if (!is_label(f[i])) {
            use[i] = 1;
            d++;
        }
    if (det_mv_init(mv, d) != 0) goto bad;
    det_mv_params mp;
    det_mv_params_from(&mp, &o->params, o->train_rows);
    fputs("datetime,anomaly\n", fo);
    long row = 1;
    while (getline(&line, &cap, fi) >= 0) {
        row++;
        size_t n = replay_split(line, ';', f, REPLAY_MAX_COLS);
        if (n == 1 && f[0][0] == '\0') continue;
        double x[DET_MV_MAX_DIM];
        uint32_t k = 0;
        int64_t ts;
        if (n != nf || replay_parse_time(f[0], &ts) != 0) goto badrow;
        for (size_t i = 1; i < n; i++)
            if (use[i] && replay_parse_double(f[i], &x[k++]) != 0) goto badrow;
        det_mv_out r;
        det_mv_update_at(mv, &mp, ts, x, &r);
        fprintf(fo, "%s,%d\n", f[0], r.alarm);
    }
    rc = 0;
    goto out;
badrow:
    fprintf(stderr, "replay: %s:%ld: bad row\n", in, row);
    goto out;
bad:
    fprintf(stderr, "replay: %s: expected a `;` header starting with datetime\n", in);
out:
    free(line);
    free(mv);
    if (fi) fclose(fi);
    if (fo && fclose(fo) != 0) rc = -1;
    return rc;
}
