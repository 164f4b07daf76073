/* Unit tests for the InfluxDB line protocol decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode_line.h"

#define NOW INT64_C(1700000000000)

static ingest_status decode_p(const char *s, ingest_precision p, ingest_batch *b, ingest_error *e,
                              size_t *skipped)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1); /* no NUL: ASan catches reads past the end */
    assert_non_null(copy);
    memcpy(copy, s, n);
    memset(e, 0, sizeof *e);
    ingest_status st = ingest_decode_line(copy, n, p, NOW, b, e, skipped);
    free(copy);
    if (st != INGEST_OK) {
        assert_int_equal(e->status, st);
        assert_true(e->msg[0] != '\0');
        assert_true(e->offset <= n);
    }
    return st;
}

static ingest_status decode(const char *s, ingest_batch *b, ingest_error *e)
{
    return decode_p(s, INGEST_PRECISION_NS, b, e, NULL);
}

static void expect_error(const char *s, ingest_status st, const char *msg)
{
    ingest_batch b;
    ingest_error e;
    size_t skipped = 99;
    ingest_batch_init(&b, 0);
    assert_int_equal(ingest_batch_push(&b, "pre", 3, 1, 1.0), INGEST_OK);
    ingest_status got = decode_p(s, INGEST_PRECISION_NS, &b, &e, &skipped);
    if (got != st)
        fail_msg("%s: expected %s, got %s (%s)", s, ingest_status_name(st), ingest_status_name(got),
                 e.msg);
    assert_int_equal(b.n, 1);
    assert_int_equal(skipped, 0);
    if (msg) assert_string_equal(e.msg, msg);
    ingest_batch_free(&b);
}

static void assert_point(const ingest_batch *b, size_t i, const char *metric, double v, int64_t ts)
{
    assert_true(i < b->n);
    assert_string_equal(b->v[i].metric, metric);
    if (b->v[i].value != v) fail_msg("point %zu: %.17g != %.17g", i, b->v[i].value, v);
    assert_int_equal(b->v[i].ts_ms, ts);
}

static void test_line_with_tags_fields_and_timestamp(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("cpu,cpu=cpu0,host=gw1 usage_idle=99.5,usage_user=0.5 "
                            "1700000000123456789\n",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 2);
    assert_point(&b, 0, "cpu.usage_idle{cpu=cpu0}", 99.5, 1700000000123);
    assert_point(&b, 1, "cpu.usage_user{cpu=cpu0}", 0.5, 1700000000123);
    ingest_batch_free(&b);
}

/* Issue 11 #11: a field key given twice in one line is refused (as a metric named twice in
 * one JSON "metrics" object); the same field in two lines, or under other tags, is not. */
static void test_a_field_given_twice_in_one_line_is_refused(void **state)
{
    expect_error("ok v=1\ncpu,cpu=0 user=1,idle=2,user=3 1\n", INGEST_ERR_SYNTAX,
                 "line 2: duplicate field (metric \"cpu.user{cpu=0}\")");
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("cpu,cpu=0 user=1 5\ncpu,cpu=1 user=1 5\ncpu,cpu=0 user=2 5\n", &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 3);
    ingest_batch_free(&b);
}

static void test_host_and_device_tags_stay_out_of_the_name(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("mem,device=dev-1,host=my\\ host\\,x used=1i\n"
                            "disk,device=d,fstype=ext4,host=h,path=/ used_percent=12.5\n",
                            &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "mem.used", 1, NOW);
    assert_point(&b, 1, "disk.used_percent{fstype=ext4,path=/}", 12.5, NOW);
    ingest_batch_free(&b);
}

static void test_tags_are_appended_in_the_order_given(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("net,z=1,a=2,host=h,m=3 bytes=1", &b, &e), INGEST_OK);
    assert_point(&b, 0, "net.bytes{z=1,a=2,m=3}", 1, NOW);
    ingest_batch_free(&b);
}

/* What Telegraf's influxdb_v2 output sends: several plugins, sorted tags, a string field. */
static void test_telegraf_like_payload(void **state)
{
    static const char payload[] =
        "cpu,cpu=cpu-total,host=gw1 usage_guest=0,usage_idle=97.0833,usage_iowait=0.125,"
        "usage_system=1.25,usage_user=1.5416 1700000000000000000\n"
        "mem,host=gw1 active=1284567040i,available=6423887872i,available_percent=78.41,"
        "used=1510318080i 1700000000000000000\n"
        "system,host=gw1 load1=0.21,load15=0.11,load5=0.16,n_cpus=4i,n_users=1i "
        "1700000000000000000\n"
        "system,host=gw1 uptime=86400i 1700000000000000000\n"
        "system,host=gw1 uptime_format=\"1 day,  0:00\" 1700000000000000000\n"
        "net,host=gw1,interface=eth0 bytes_recv=123456789u,err_in=0u 1700000000000000000\n"
        "internal_agent,go_version=1.21.4,host=gw1,version=1.28.5 gather_errors=0i,"
        "metrics_dropped=0i 1700000000000000000\n";
    ingest_batch b;
    ingest_error e;
    size_t skipped = 0;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode_p(payload, INGEST_PRECISION_NS, &b, &e, &skipped), INGEST_OK);
    assert_int_equal(skipped, 1);
    assert_int_equal(b.n, 5 + 4 + 5 + 1 + 2 + 2);
    assert_point(&b, 1, "cpu.usage_idle{cpu=cpu-total}", 97.0833, 1700000000000);
    assert_point(&b, 5, "mem.active", 1284567040, 1700000000000);
    assert_point(&b, 14, "system.uptime", 86400, 1700000000000);
    assert_point(&b, 15, "net.bytes_recv{interface=eth0}", 123456789, 1700000000000);
    assert_point(&b, 17, "internal_agent.gather_errors{go_version=1.21.4,version=1.28.5}", 0,
                 1700000000000);
    ingest_batch_free(&b);
}

static void test_escapes_in_names_keys_and_values(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    /* "\," in the measurement, "\=" and "\," in a tag value, "\=" in a field key. */
    assert_int_equal(decode("a\\,b,t=x\\=y\\,z f\\=g=1\n", &b, &e), INGEST_OK);
    assert_point(&b, 0, "a,b.f=g{t=x=y,z}", 1, NOW);
    ingest_batch_free(&b);
    /* Escaped spaces unescape to spaces, which metric names may not contain. */
    expect_error("my\\ meas f=1", INGEST_ERR_METRIC,
                 "line 1: metric name \"my meas.f\" has an invalid character at byte 2 (allowed: "
                 "A-Z a-z 0-9 _ . : / - { } = ,)");
    expect_error("m f\\ x=1", INGEST_ERR_METRIC, NULL);
    /* "\\" is one backslash; a backslash before anything else stays literal. */
    expect_error("m\\\\ f=1", INGEST_ERR_METRIC, NULL);
    expect_error("m\\q f=1", INGEST_ERR_METRIC, NULL);
}

static void test_string_fields_are_skipped_and_counted(void **state)
{
    ingest_batch b;
    ingest_error e;
    size_t skipped = 0;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode_p("log,host=h msg=\"a \\\"quoted\\\", x=1 \\\\\",level=3i,"
                              "other=\"multi\nline\" 1700000000000000000\n"
                              "m v=2\n",
                              INGEST_PRECISION_NS, &b, &e, &skipped),
                     INGEST_OK);
    assert_int_equal(skipped, 2);
    assert_int_equal(b.n, 2);
    assert_point(&b, 0, "log.level", 3, 1700000000000);
    assert_point(&b, 1, "m.v", 2, NOW);
    ingest_batch_reset(&b);
    /* A payload with only string fields is accepted and yields nothing. */
    assert_int_equal(decode_p("m s=\"x\"\n", INGEST_PRECISION_NS, &b, &e, &skipped), INGEST_OK);
    assert_int_equal(b.n, 0);
    assert_int_equal(skipped, 1);
    /* skipped_fields may be NULL. */
    assert_int_equal(decode("m s=\"x\",v=1", &b, &e), INGEST_OK);
    assert_int_equal(b.n, 1);
    ingest_batch_free(&b);
}

static void test_integer_unsigned_and_float_values(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("m a=1,b=-1.5,c=1e3,d=1.5E-3,e=.5,f=2.,g=123i,h=-123i,i=+7i,j=123u,"
                            "k=-9223372036854775808i,l=9223372036854775807i,"
                            "n=18446744073709551615u,o=0",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 14);
    double want[] = {1,
                     -1.5,
                     1000,
                     1.5e-3,
                     0.5,
                     2,
                     123,
                     -123,
                     7,
                     123,
                     -9223372036854775808.0,
                     9223372036854775807.0,
                     18446744073709551615.0,
                     0};
    for (size_t i = 0; i < b.n; i++)
        if (b.v[i].value != want[i]) fail_msg("field %zu: %.17g", i, b.v[i].value);
    ingest_batch_free(&b);
}

static void test_boolean_spellings_are_one_and_zero(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 10);
    for (size_t i = 0; i < b.n; i++)
        assert_true(b.v[i].value == (i < 5 ? 1.0 : 0.0));
    ingest_batch_free(&b);
    expect_error("m a=tRUE", INGEST_ERR_SYNTAX, "line 1: invalid field value \"tRUE\" for a");
}

static void test_invalid_field_values_are_refused(void **state)
{
    static const char *bad[] = {"m a=abc", "m a=1.2.3", "m a=NaN",  "m a=inf", "m a=1i2",
                                "m a=i",   "m a=-1u",   "m a=1.5i", "m a=",    "m a=0x10",
                                "m a=1_0", "m a=--1",   "m a=tru",  "m a=1e"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_error(bad[i], INGEST_ERR_SYNTAX, NULL);
    expect_error("m a=9223372036854775808i", INGEST_ERR_SYNTAX,
                 "line 1: integer field value 9223372036854775808i out of range for a");
    expect_error("m a=18446744073709551616u", INGEST_ERR_SYNTAX, NULL);
    expect_error("m a=1e999", INGEST_ERR_NONFINITE, "line 1: field value 1e999 out of range for a");
}

static void test_errors_name_the_line(void **state)
{
    expect_error("cpu a=1\n\ncpu b=x\n", INGEST_ERR_SYNTAX,
                 "line 3: invalid field value \"x\" for b");
    expect_error("cpu a=1\n# comment\n\n,t=1 a=1\n", INGEST_ERR_SYNTAX,
                 "line 4: missing measurement");
    expect_error("cpu\n", INGEST_ERR_SYNTAX, "line 1: missing fields");
    expect_error("cpu,host=a\n", INGEST_ERR_SYNTAX, "line 1: missing fields");
    expect_error("cpu  \n", INGEST_ERR_SYNTAX, "line 1: missing fields");
    expect_error("cpu,t a=1", INGEST_ERR_SYNTAX, "line 1: invalid tag");
    expect_error("cpu,=v a=1", INGEST_ERR_SYNTAX, "line 1: invalid tag");
    expect_error("cpu,t= a=1", INGEST_ERR_SYNTAX, "line 1: invalid tag value");
    expect_error("cpu,t=a=b a=1", INGEST_ERR_SYNTAX, "line 1: invalid tag value");
    expect_error("cpu a", INGEST_ERR_SYNTAX, "line 1: invalid field (expected key=value)");
    expect_error("cpu =1", INGEST_ERR_SYNTAX, "line 1: invalid field (expected key=value)");
    expect_error("cpu a=1,", INGEST_ERR_SYNTAX, "line 1: invalid field (expected key=value)");
    expect_error("cpu a=\"open", INGEST_ERR_SYNTAX, "line 1: unterminated string field value");
    expect_error("cpu a=\"x\"y", INGEST_ERR_SYNTAX,
                 "line 1: expected ',' or ' ' after a field value");
    expect_error("cpu a=1 123 456", INGEST_ERR_SYNTAX,
                 "line 1: unexpected text after the timestamp");
    expect_error("cpu a=1\rb", INGEST_ERR_SYNTAX, "line 1: stray carriage return");
    /* Line numbers count the line breaks inside string fields. */
    expect_error("m s=\"a\nb\nc\"\nm x=oops", INGEST_ERR_SYNTAX,
                 "line 4: invalid field value \"oops\" for x");
}

static void test_error_offset_points_at_the_problem(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("cpu a=1\ncpu b=x\n", &b, &e), INGEST_ERR_SYNTAX);
    assert_int_equal(e.offset, 14);
    ingest_batch_free(&b);
}

static void test_precisions_convert_to_milliseconds(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode_p("m v=1 1700000000123999999", INGEST_PRECISION_NS, &b, &e, NULL),
                     INGEST_OK);
    assert_int_equal(decode_p("m v=1 1700000000123999", INGEST_PRECISION_US, &b, &e, NULL),
                     INGEST_OK);
    assert_int_equal(decode_p("m v=1 1700000000123", INGEST_PRECISION_MS, &b, &e, NULL), INGEST_OK);
    assert_int_equal(decode_p("m v=1 1700000000", INGEST_PRECISION_S, &b, &e, NULL), INGEST_OK);
    assert_int_equal(b.n, 4);
    assert_int_equal(b.v[0].ts_ms, 1700000000123);
    assert_int_equal(b.v[1].ts_ms, 1700000000123);
    assert_int_equal(b.v[2].ts_ms, 1700000000123);
    assert_int_equal(b.v[3].ts_ms, 1700000000000);
    ingest_batch_free(&b);
}

static void test_precision_names_parse(void **state)
{
    ingest_precision p = INGEST_PRECISION_S;
    assert_int_equal(ingest_precision_parse(NULL, &p), 0);
    assert_int_equal(p, INGEST_PRECISION_NS);
    p = INGEST_PRECISION_S;
    assert_int_equal(ingest_precision_parse("", &p), 0);
    assert_int_equal(p, INGEST_PRECISION_NS);
    assert_int_equal(ingest_precision_parse("us", &p), 0);
    assert_int_equal(p, INGEST_PRECISION_US);
    assert_int_equal(ingest_precision_parse("ms", &p), 0);
    assert_int_equal(p, INGEST_PRECISION_MS);
    assert_int_equal(ingest_precision_parse("s", &p), 0);
    assert_int_equal(p, INGEST_PRECISION_S);
    assert_int_equal(ingest_precision_parse("ns", &p), 0);
    assert_int_equal(p, INGEST_PRECISION_NS);
    assert_int_equal(ingest_precision_parse("h", &p), -1);
    assert_int_equal(ingest_precision_parse("NS", &p), -1);
    assert_int_equal(ingest_precision_parse("n", &p), -1);
    assert_int_equal(p, INGEST_PRECISION_NS);
}

static void test_bad_timestamps_are_refused(void **state)
{
    expect_error("m v=1 12a", INGEST_ERR_TIMESTAMP, "line 1: invalid timestamp");
    expect_error("m v=1 -", INGEST_ERR_TIMESTAMP, "line 1: invalid timestamp");
    expect_error("m v=1 1.5", INGEST_ERR_TIMESTAMP, "line 1: invalid timestamp");
    expect_error("m v=1 99999999999999999999", INGEST_ERR_TIMESTAMP, "line 1: invalid timestamp");
    expect_error("m v=1 -1000000", INGEST_ERR_TIMESTAMP,
                 "line 1: timestamp out of range (1970..9999 with precision ns)");
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    /* A nanosecond timestamp sent with precision=s is far beyond year 9999. */
    assert_int_equal(decode_p("m v=1 1700000000000000000", INGEST_PRECISION_S, &b, &e, NULL),
                     INGEST_ERR_TIMESTAMP);
    assert_string_equal(e.msg, "line 1: timestamp out of range (1970..9999 with precision s)");
    assert_int_equal(decode_p("m v=1 9223372036854775807", INGEST_PRECISION_NS, &b, &e, NULL),
                     INGEST_OK);
    assert_int_equal(decode_p("m v=1 0", INGEST_PRECISION_S, &b, &e, NULL), INGEST_OK);
    assert_int_equal(b.v[1].ts_ms, 0);
    ingest_batch_free(&b);
}

static void test_missing_timestamp_means_now(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("m v=1\nm v=2 \nm v=3   5000000\n", &b, &e), INGEST_OK);
    assert_point(&b, 0, "m.v", 1, NOW);
    assert_point(&b, 1, "m.v", 2, NOW);
    assert_point(&b, 2, "m.v", 3, 5);
    ingest_batch_free(&b);
}

static void test_blank_lines_comments_and_crlf_are_accepted(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("# a comment, with = and spaces\r\n\r\n\n  \t\n"
                            "  m v=1 1000000\r\n"
                            "#m v=999\n"
                            "m  w=2\r\n"
                            "m x=3",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 3);
    assert_point(&b, 0, "m.v", 1, 1);
    assert_point(&b, 1, "m.w", 2, NOW);
    assert_point(&b, 2, "m.x", 3, NOW);
    ingest_batch_free(&b);
}

static void test_empty_payloads_are_refused(void **state)
{
    expect_error("", INGEST_ERR_EMPTY, "no data lines in payload");
    expect_error("\n\n  \n", INGEST_ERR_EMPTY, "no data lines in payload");
    expect_error("# only\n# comments", INGEST_ERR_EMPTY, "no data lines in payload");
}

static void test_reserved_and_overlong_names_are_metric_errors(void **state)
{
    expect_error("sys.cpu usage=1", INGEST_ERR_METRIC,
                 "line 1: metric name \"sys.cpu.usage\" is reserved (\"sys.\" belongs to iotad)");
    expect_error("m,k=v\\ w f=1", INGEST_ERR_METRIC, NULL);
    char line[400];
    memset(line, 'm', 126);
    memcpy(line + 126, " f=1", 5); /* 126 + ".f" = 128: fits */
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(line, &b, &e), INGEST_OK);
    assert_int_equal(b.v[0].metric_len, 128);
    ingest_batch_free(&b);
    memset(line, 'm', 127);
    memcpy(line + 127, " f=1", 5);
    expect_error(line, INGEST_ERR_METRIC, NULL);
    memset(line, 'm', 300);
    memcpy(line + 300, ",t=1 f=1", 9);
    expect_error(line, INGEST_ERR_METRIC, NULL);
}

static void test_a_bad_line_leaves_the_batch_as_it_was(void **state)
{
    expect_error("m a=1,b=2 1000000\nm c=3\nm d=4 bad\n", INGEST_ERR_TIMESTAMP,
                 "line 3: invalid timestamp");
}

static void test_too_many_points_are_refused_against_batch_max(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 3);
    assert_int_equal(decode("m a=1,b=2\nm c=3", &b, &e), INGEST_OK);
    ingest_batch_reset(&b);
    assert_int_equal(decode("m a=1,b=2\nm c=3,d=4", &b, &e), INGEST_ERR_TOO_MANY);
    assert_int_equal(b.n, 0);
    assert_string_equal(e.msg, "line 2: too many points (at most 3 per payload)");
    ingest_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_with_tags_fields_and_timestamp),
        cmocka_unit_test(test_host_and_device_tags_stay_out_of_the_name),
        cmocka_unit_test(test_a_field_given_twice_in_one_line_is_refused),
        cmocka_unit_test(test_tags_are_appended_in_the_order_given),
        cmocka_unit_test(test_telegraf_like_payload),
        cmocka_unit_test(test_escapes_in_names_keys_and_values),
        cmocka_unit_test(test_string_fields_are_skipped_and_counted),
        cmocka_unit_test(test_integer_unsigned_and_float_values),
        cmocka_unit_test(test_boolean_spellings_are_one_and_zero),
        cmocka_unit_test(test_invalid_field_values_are_refused),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_error_offset_points_at_the_problem),
        cmocka_unit_test(test_precisions_convert_to_milliseconds),
        cmocka_unit_test(test_precision_names_parse),
        cmocka_unit_test(test_bad_timestamps_are_refused),
        cmocka_unit_test(test_missing_timestamp_means_now),
        cmocka_unit_test(test_blank_lines_comments_and_crlf_are_accepted),
        cmocka_unit_test(test_empty_payloads_are_refused),
        cmocka_unit_test(test_reserved_and_overlong_names_are_metric_errors),
        cmocka_unit_test(test_a_bad_line_leaves_the_batch_as_it_was),
        cmocka_unit_test(test_too_many_points_are_refused_against_batch_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
