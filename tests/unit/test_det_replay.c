/* `iotad replay`: timestamp and CSV parsing, NAB and SKAB files end to end, bad usage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/replay.h"
#include "detect/replay_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_timestamps_parse_to_utc_ms(void **st)
{
    (void)st;
    int64_t ms;
    assert_int_equal(replay_parse_time("1970-01-01 00:00:00", &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(replay_parse_time("2014-04-01 00:05:00", &ms), 0);
    assert_true(ms == 1396310700000LL);
    assert_int_equal(replay_parse_time("2020-03-09 10:34:33.250000", &ms), 0);
    assert_true(ms % 1000 == 250);
    assert_int_equal(replay_parse_time("2014-13-01 00:00:00", &ms), -1);
    assert_int_equal(replay_parse_time("2014-04-01", &ms), -1);
}

static void test_timestamps_with_long_fractions_or_trailing_text_parse(void **st)
{
    (void)st;
    int64_t ms;
    assert_int_equal(replay_parse_time("2014-04-01T00:05:00.1234567891234", &ms), 0);
    assert_true(ms == 1396310700123LL);
    assert_int_equal(replay_parse_time("2014-04-01 00:05:00 extra", &ms), 0);
    assert_true(ms == 1396310700000LL);
    assert_int_equal(replay_parse_time("2014-04-01 00:05:00.", &ms), 0);
    assert_true(ms == 1396310700000LL);
    assert_int_equal(replay_parse_time("2014-04-01 00:05:0x", &ms), -1);
    assert_int_equal(replay_parse_time("1969-12-31 23:59:59", &ms), 0);
    assert_true(ms == -1000);
}

static void test_fields_split_and_numbers_parse(void **st)
{
    (void)st;
    char line[] = "a;1.5;;x\r\n";
    char *f[8];
    assert_int_equal(replay_split(line, ';', f, 8), 4);
    assert_string_equal(f[3], "x");
    double v;
    assert_int_equal(replay_parse_double(f[1], &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(replay_parse_double(f[2], &v), -1);
    assert_int_equal(replay_parse_double("nan", &v), -1);
    assert_int_equal(replay_parse_double("1x", &v), -1);
}

/* Counts lines, and rows whose field number col (0-based) is 1. */
static int count_lines(const char *path, int col, int *alerts)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[256];
    int n = 0;
    *alerts = 0;
    while (fgets(buf, sizeof buf, f)) {
        n++;
        const char *c = buf;
        for (int k = 0; k < col && c; k++)
            if ((c = strchr(c, ','))) c++;
        if (n > 1 && c && c[0] == '1' && (c[1] == ',' || c[1] == '\n' || c[1] == '\r')) (*alerts)++;
    }
    fclose(f);
    return n;
}

static void test_nab_file_replays_with_scores_and_an_alert(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_det_replay_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/sub/out.csv", dir);
    FILE *f = fopen(in, "w");
    fputs("timestamp,value\n", f);
    for (int i = 0; i < 3000; i++) {
        int h = i / 12 % 24, m = i % 12 * 5, d = 1 + i / 288;
        double v = 10 + sin(i * 0.02) + 0.1 * (det_unit(det_mix64(i)) - 0.5) + (i == 2500 ? 30 : 0);
        fprintf(f, "2014-04-%02d %02d:%02d:00,%.4f\n", d, h, m, v);
    }
    fclose(f);
    char *argv[] = {"replay", "--format", "nab", "--in", in, "--out", out, "--quiet", NULL};
    assert_int_equal(det_replay_main(8, argv), 0);
    int alerts;
    assert_int_equal(count_lines(out, 3, &alerts), 3001);
    assert_true(alerts >= 1 && alerts <= 5);
    FILE *o = fopen(out, "r");
    char head[128];
    assert_non_null(fgets(head, sizeof head, o));
    fclose(o);
    assert_string_equal(head, "timestamp,value,anomaly_score,alert,score,in_episode\n");
    unlink(in);
    unlink(out);
    snprintf(out, sizeof out, "%s/sub", dir);
    rmdir(out);
    rmdir(dir);
}

static void test_skab_file_replays_without_reading_labels(void **st)
{
    (void)st;
    char dir[] = "/tmp/test_det_replay_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/out.csv", dir);
    FILE *f = fopen(in, "w");
    fputs("datetime;a;b;anomaly;changepoint\n", f);
    for (int i = 0; i < 700; i++) {
        double a = det_unit(det_mix64(i)) - 0.5;
        int bad = i >= 550 && i < 650;
        /* the label columns lie (all 1): output must not depend on them */
        fprintf(f, "2020-03-01 10:%02d:%02d;%.4f;%.4f;1;1\n", i / 60 % 60, i % 60, 1 + a,
                bad ? 5 - 2 * a : 2 + 2 * a);
    }
    fclose(f);
    char *argv[] = {"replay", "--format", "skab", "--in", in, "--out", out, "--quiet", NULL};
    assert_int_equal(det_replay_main(8, argv), 0);
    int alerts;
    assert_int_equal(count_lines(out, 1, &alerts), 701);
    assert_true(alerts >= 80 && alerts <= 140);
    unlink(in);
    unlink(out);
    rmdir(dir);
}

static void test_bad_usage_exits_2(void **st)
{
    (void)st;
    char *a1[] = {"replay", "--format", "xml", "--in", "/nonexistent", "--out", "/tmp/x", NULL};
    assert_int_equal(det_replay_main(7, a1), 2);
    char *a2[] = {"replay", "--in", "/nonexistent", NULL};
    assert_int_equal(det_replay_main(3, a2), 2);
    char *a3[] = {"replay", "--format", "nab",     "--in",   "/x",
                  "--out",  "/y",       "--param", "nope=1", NULL};
    assert_int_equal(det_replay_main(9, a3), 2);
    char *a4[] = {"replay", "--format", "nab",     "--in", "/nonexistent",
                  "--out",  "/tmp/x",   "--quiet", NULL};
    assert_int_equal(det_replay_main(8, a4), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_parse_to_utc_ms),
        cmocka_unit_test(test_timestamps_with_long_fractions_or_trailing_text_parse),
        cmocka_unit_test(test_fields_split_and_numbers_parse),
        cmocka_unit_test(test_nab_file_replays_with_scores_and_an_alert),
        cmocka_unit_test(test_skab_file_replays_without_reading_labels),
        cmocka_unit_test(test_bad_usage_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
