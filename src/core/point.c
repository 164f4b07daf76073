/* Operations on the point value type (point.h). */
#include "core/point.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *metric;
    int64_t ts;
    size_t idx;
} sort_key;

static int key_cmp(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    if (c) return c;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int point_before(const ingest_point *x, const ingest_point *y)
{
    int c = strcmp(x->metric, y->metric);
    return c < 0 || (c == 0 && x->ts_ms < y->ts_ms);
}

int ingest_points_sort(ingest_point *p, size_t n)
{
    size_t i = 1;
    while (i < n && !point_before(&p[i], &p[i - 1]))
        i++;
    if (i >= n) return 0; /* the usual case: already ordered */
    sort_key *k = malloc(n * sizeof *k);
    ingest_point *out = malloc(n * sizeof *out);
    if (!k || !out) {
        free(k);
        free(out);
        return -1;
    }
    for (i = 0; i < n; i++)
        k[i] = (sort_key){p[i].metric, p[i].ts_ms, i};
    qsort(k, n, sizeof *k, key_cmp);
    for (i = 0; i < n; i++)
        out[i] = p[k[i].idx];
    memcpy(p, out, n * sizeof *p);
    free(out);
    free(k);
    return 0;
}

long ingest_points_duplicate(const ingest_point *p, size_t n)
{
    if (n < 2) return -1;
    if (n <= 16) { /* the usual object: a few metrics */
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (p[i].metric_len == p[j].metric_len && !strcmp(p[i].metric, p[j].metric))
                    return (long)i;
        return -1;
    }
    sort_key *k = malloc(n * sizeof *k);
    if (!k) return -2;
    for (size_t i = 0; i < n; i++)
        k[i] = (sort_key){p[i].metric, 0, i};
    qsort(k, n, sizeof *k, key_cmp); /* by name, then position: a repeat follows its first */
    long dup = -1;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(k[i].metric, k[i - 1].metric) && (dup < 0 || (long)k[i].idx < dup))
            dup = (long)k[i].idx;
    free(k);
    return dup;
}
