/* `iotad replay`: feeds CSV files through the same detection pipeline as live data.
 *   iotad replay --format nab|skab --in FILE_OR_DIR --out FILE_OR_DIR
 *                [--param name=value]... [--seed N] [--train-rows N] [--quiet]
 * A directory in is walked recursively (sorted, *.csv only) and mirrored under the output
 * directory. Parameters are the same for every file. Progress goes to stderr. */
#include "detect/replay.h"

#include "detect/replay_io.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int (*file_fn)(const replay_opts *o, const char *in, const char *out);

static void usage(void)
{
    fprintf(stderr, "usage: iotad replay --format nab|skab --in FILE_OR_DIR --out FILE_OR_DIR\n"
                    "       [--param name=value]... [--seed N] [--train-rows N] [--quiet]\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    const replay_opts *o;
    file_fn fn;
    int files, failed;
} walk_ctx;

static int walk(walk_ctx *w, const char *in, const char *out)
{
    struct stat st;
    if (stat(in, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s\n", in);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (!w->o->quiet) fprintf(stderr, "replay: %s -> %s\n", in, out);
        w->files++;
        if (w->fn(w->o, in, out) != 0) w->failed++;
        return 0;
    }
    DIR *d = opendir(in);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char pi[4096], po[4096];
        int a = snprintf(pi, sizeof pi, "%s/%s", in, names[i]);
        int b = snprintf(po, sizeof po, "%s/%s", out, names[i]);
        if (a < 0 || b < 0 || (size_t)a >= sizeof pi || (size_t)b >= sizeof po) {
            rc = -1;
            break;
        }
        struct stat cs;
        if (stat(pi, &cs) != 0) continue;
        if (S_ISDIR(cs.st_mode) || ends_with(names[i], ".csv")) rc = walk(w, pi, po);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int det_replay_main(int argc, char **argv)
{
    replay_opts o;
    memset(&o, 0, sizeof o);
    det_params_default(&o.params);
    o.seed = 42;
    o.train_rows = 400;
    const char *format = NULL, *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--format") == 0)
            format = v;
        else if (strcmp(a, "--in") == 0)
            in = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--seed") == 0)
            o.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--train-rows") == 0)
            o.train_rows = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--param") == 0) {
            const char *eq = strchr(v, '=');
            char name[64];
            size_t nl = eq ? (size_t)(eq - v) : 0;
            if (!eq || nl == 0 || nl >= sizeof name) {
                usage();
                return 2;
            }
            memcpy(name, v, nl);
            name[nl] = '\0';
            if (det_params_set(&o.params, name, strtod(eq + 1, NULL)) != 0) {
                fprintf(stderr, "replay: unknown parameter %s\n", name);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (!format || !in || !out) {
        usage();
        return 2;
    }
    walk_ctx w = {.o = &o};
    if (strcmp(format, "nab") == 0)
        w.fn = replay_nab_file;
    else if (strcmp(format, "skab") == 0)
        w.fn = replay_skab_file;
    else {
        usage();
        return 2;
    }
    int rc = walk(&w, in, out);
    if (!o.quiet) fprintf(stderr, "replay: %d file(s), %d failed\n", w.files, w.failed);
    return rc == 0 && w.failed == 0 && w.files > 0 ? 0 : 1;
}
