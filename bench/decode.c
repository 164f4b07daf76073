/* Ingest decoder throughput: for each decoder (json, senml, line) prints one JSON line with
 * messages/s and points/s on a typical 3-metric message and on a 1000-point batch, single
 * thread, decoding into one reused batch (as the server does). Usage: bench_decode [seconds per
 * measurement, default 0.5]. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "ingest/decode_json.h"
#include "ingest/decode_line.h"
#include "ingest/decode_senml.h"

#define NOW INT64_C(1700000000000)
#define BATCH_POINTS 1000

typedef enum { DEC_JSON, DEC_SENML, DEC_LINE } decoder;

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0) abort();
        if ((size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        s->cap = (s->cap + (size_t)n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (!s->buf) abort();
    }
}

static const char *const k_names[] = {"temp", "hum", "pressure", "co2"};

static sbuf small_msg(decoder d)
{
    sbuf s = {0};
    switch (d) {
    case DEC_JSON:
        sb_printf(&s, "{\"ts\":1700000000000,\"device\":\"dev-1\",\"metrics\":{\"temp\":21.5,"
                      "\"hum\":40.2,\"pressure\":1013.25}}");
        break;
    case DEC_SENML:
        sb_printf(&s, "[{\"bn\":\"dev-1:\",\"bt\":1700000000,\"n\":\"temp\",\"u\":\"Cel\","
                      "\"v\":21.5},{\"n\":\"hum\",\"u\":\"%%RH\",\"v\":40.2},"
                      "{\"n\":\"pressure\",\"u\":\"hPa\",\"v\":1013.25}]");
        break;
    case DEC_LINE:
        sb_printf(&s, "env,host=dev-1 temp=21.5,hum=40.2,pressure=1013.25 1700000000000000000\n");
        break;
    }
    return s;
}

/* 1000 points: 250 four-metric readings (json, line) or 1000 SenML records. */
static sbuf batch_msg(decoder d)
{
    sbuf s = {0};
    switch (d) {
    case DEC_JSON:
        sb_printf(&s, "[");
        for (int i = 0; i < BATCH_POINTS / 4; i++)
            sb_printf(&s,
                      "%s{\"ts\":%lld,\"metrics\":{\"temp\":%.1f,\"hum\":%.1f,\"pressure\":%.2f,"
                      "\"co2\":%d}}",
                      i ? "," : "", (long long)(NOW + i * 1000), 20 + i % 50 * 0.1,
                      40 + i % 30 * 0.5, 1000 + i % 40 * 0.25, 400 + i % 100);
        sb_printf(&s, "]");
        break;
    case DEC_SENML:
        sb_printf(&s, "[{\"bn\":\"dev-1:\",\"bt\":1700000000,\"n\":\"temp\",\"v\":20.0}");
        for (int i = 1; i < BATCH_POINTS; i++)
            sb_printf(&s, ",{\"n\":\"%s\",\"t\":%d,\"v\":%.2f}", k_names[i % 4], i / 4,
                      20 + i % 97 * 0.37);
        sb_printf(&s, "]");
        break;
    case DEC_LINE:
        for (int i = 0; i < BATCH_POINTS / 4; i++)
            sb_printf(&s,
                      "env,host=dev-1,room=lab temp=%.1f,hum=%.1f,pressure=%.2f,co2=%di "
                      "%lld000000\n",
                      20 + i % 50 * 0.1, 40 + i % 30 * 0.5, 1000 + i % 40 * 0.25, 400 + i % 100,
                      (long long)(NOW + i * 1000));
        break;
    }
    return s;
}

static ingest_status run(decoder d, const sbuf *m, ingest_batch *b, ingest_error *e)
{
    ingest_batch_reset(b);
    switch (d) {
    case DEC_JSON:
        return ingest_decode_json(m->buf, m->len, NOW, b, e);
    case DEC_SENML:
        return ingest_decode_senml(m->buf, m->len, NOW, b, e);
    case DEC_LINE:
        return ingest_decode_line(m->buf, m->len, INGEST_PRECISION_NS, NOW, b, e, NULL);
    }
    return INGEST_ERR_SYNTAX;
}

typedef struct {
    double msgs_per_s, points_per_s, mb_per_s;
    size_t points;
} result;

static result measure(decoder d, const sbuf *m, double seconds)
{
    ingest_batch b;
    ingest_error e;
    result r = {0};
    ingest_batch_init(&b, 0);
    if (run(d, m, &b, &e) != INGEST_OK) {
        fprintf(stderr, "bench payload refused: %s\n", e.msg);
        exit(1);
    }
    r.points = b.n;
    int64_t budget = (int64_t)(seconds * 1e9), start = util_mono_ns(), elapsed;
    uint64_t iters = 0;
    size_t chunk = r.points > 100 ? 16 : 4096;
    do {
        for (size_t i = 0; i < chunk; i++)
            if (run(d, m, &b, &e) != INGEST_OK) abort();
        iters += chunk;
        elapsed = util_mono_ns() - start;
    } while (elapsed < budget);
    double secs = (double)elapsed / 1e9;
    r.msgs_per_s = (double)iters / secs;
    r.points_per_s = r.msgs_per_s * (double)r.points;
    r.mb_per_s = r.msgs_per_s * (double)m->len / 1e6;
    ingest_batch_free(&b);
    return r;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    if (seconds <= 0) seconds = 0.5;
    static const char *const names[] = {"json", "senml", "line"};
    for (decoder d = DEC_JSON; d <= DEC_LINE; d++) {
        sbuf small = small_msg(d), batch = batch_msg(d);
        result rs = measure(d, &small, seconds), rb = measure(d, &batch, seconds);
        printf("{\"bench\":\"decode\",\"decoder\":\"%s\","
               "\"small\":{\"bytes\":%zu,\"points\":%zu,\"msgs_per_s\":%.0f,\"points_per_s\":%.0f,"
               "\"mb_per_s\":%.1f},"
               "\"batch\":{\"bytes\":%zu,\"points\":%zu,\"msgs_per_s\":%.0f,\"points_per_s\":%.0f,"
               "\"mb_per_s\":%.1f}}\n",
               names[d], small.len, rs.points, rs.msgs_per_s, rs.points_per_s, rs.mb_per_s,
               batch.len, rb.points, rb.msgs_per_s, rb.points_per_s, rb.mb_per_s);
        fflush(stdout);
        free(small.buf);
        free(batch.buf);
    }
    return 0;
}
