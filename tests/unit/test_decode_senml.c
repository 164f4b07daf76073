/* Unit tests for the SenML JSON (RFC 8428) decoder, built around the RFC's own examples. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode_senml.h"

#define NOW INT64_C(1700000000000)

static ingest_status decode(const char *s, ingest_batch *b, ingest_error *e)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1); /* no NUL: ASan catches reads past the end */
    assert_non_null(copy);
    memcpy(copy, s, n);
    memset(e, 0, sizeof *e);
    ingest_status st = ingest_decode_senml(copy, n, NOW, b, e);
    free(copy);
    if (st != INGEST_OK) {
        assert_int_equal(e->status, st);
        assert_true(e->msg[0] != '\0');
        assert_true(e->offset <= n);
    }
    return st;
}

static void expect_error(const char *s, ingest_status st, const char *msg)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(ingest_batch_push(&b, "pre", 3, 1, 1.0), INGEST_OK);
    ingest_status got = decode(s, &b, &e);
    if (got != st)
        fail_msg("%s: expected %s, got %s (%s)", s, ingest_status_name(st), ingest_status_name(got),
                 e.msg);
    assert_int_equal(b.n, 1);
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

/* RFC 8428 section 5.1.1 */
static void test_rfc8428_single_datapoint(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("[{\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\",\"v\":23.1}]", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 1);
    assert_point(&b, 0, "urn:dev:ow:10e2073a01080063", 23.1, NOW);
    ingest_batch_free(&b);
}

/* RFC 8428 section 5.1.2: bn prefixes every later name; no time means now. */
static void test_rfc8428_multiple_datapoints_resolve_base_name(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("[\n"
               "  {\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\",\"u\":\"V\","
               "\"v\":120.1},\n"
               "  {\"n\":\"current\",\"u\":\"A\",\"v\":1.2}\n"
               "]",
               &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 2);
    assert_point(&b, 0, "urn:dev:ow:10e2073a01080063:voltage", 120.1, NOW);
    assert_point(&b, 1, "urn:dev:ow:10e2073a01080063:current", 1.2, NOW);
    ingest_batch_free(&b);
}

/* RFC 8428 sections 5.1.3/5.1.4: an absolute bt with negative relative t per record. */
static void test_rfc8428_multiple_measurements_resolve_base_time(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[\n"
                            "  {\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,\n"
                            "   \"bu\":\"A\",\"bver\":5,\n"
                            "   \"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},\n"
                            "  {\"n\":\"current\",\"t\":-5,\"v\":1.2},\n"
                            "  {\"n\":\"current\",\"t\":-4,\"v\":1.3},\n"
                            "  {\"n\":\"current\",\"t\":-3,\"v\":1.4},\n"
                            "  {\"n\":\"current\",\"t\":-2,\"v\":1.5},\n"
                            "  {\"n\":\"current\",\"t\":-1,\"v\":1.6},\n"
                            "  {\"n\":\"current\",\"v\":1.7}\n"
                            "]",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 7);
    assert_point(&b, 0, "urn:dev:ow:10e2073a0108006:voltage", 120.1, 1276020076001);
    assert_point(&b, 1, "urn:dev:ow:10e2073a0108006:current", 1.2, 1276020071001);
    assert_point(&b, 2, "urn:dev:ow:10e2073a0108006:current", 1.3, 1276020072001);
    assert_point(&b, 5, "urn:dev:ow:10e2073a0108006:current", 1.6, 1276020075001);
    assert_point(&b, 6, "urn:dev:ow:10e2073a0108006:current", 1.7, 1276020076001);
    ingest_batch_free(&b);
}

/* RFC 8428 section 5.1.5 (a tracker): no n at all, so every record is named bn. */
static void test_rfc8428_records_without_n_are_named_by_bn(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"bt\":1.320067464e+09,\"bu\":\"%RH\","
               "\"v\":20},\n"
               " {\"u\":\"lon\",\"v\":24.30621},\n"
               " {\"u\":\"lat\",\"v\":60.07965},\n"
               " {\"t\":60,\"v\":20.3},\n"
               " {\"u\":\"%EL\",\"t\":150,\"v\":98}]",
               &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 5);
    assert_point(&b, 0, "urn:dev:ow:10e2073a01080063:", 20, 1320067464000);
    assert_point(&b, 1, "urn:dev:ow:10e2073a01080063:", 24.30621, 1320067464000);
    assert_point(&b, 3, "urn:dev:ow:10e2073a01080063:", 20.3, 1320067524000);
    assert_point(&b, 4, "urn:dev:ow:10e2073a01080063:", 98, 1320067614000);
    ingest_batch_free(&b);
}

/* RFC 8428 section 5.1.6 (multiple data types): vs and vd are refused, naming the metric. */
static void test_rfc8428_string_and_data_values_are_type_errors(void **state)
{
    expect_error(
        "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},"
        "{\"n\":\"label\",\"vs\":\"Machine Room\"},"
        "{\"n\":\"open\",\"vb\":false},"
        "{\"n\":\"nfc-reader\",\"vd\":\"aGkgCg\"}]",
        INGEST_ERR_TYPE,
        "[1].vs: string values are not supported (metric urn:dev:ow:10e2073a01080063:label)");
    expect_error("[{\"n\":\"nfc-reader\",\"vd\":\"aGkgCg\"}]", INGEST_ERR_TYPE,
                 "[0].vd: data values are not supported (metric nfc-reader)");
}

static void test_times_below_2_pow_28_are_relative_to_now(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"n\":\"a\",\"v\":1,\"t\":-5},{\"n\":\"b\",\"v\":2,\"t\":60.5},"
                            "{\"n\":\"c\",\"v\":3,\"t\":0},"
                            "{\"n\":\"d\",\"v\":4,\"t\":268435455},"
                            "{\"n\":\"e\",\"v\":5,\"t\":268435456},"
                            "{\"bt\":-10,\"n\":\"f\",\"v\":6,\"t\":2.25}]",
                            &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "a", 1, NOW - 5000);
    assert_point(&b, 1, "b", 2, NOW + 60500);
    assert_point(&b, 2, "c", 3, NOW);
    assert_point(&b, 3, "d", 4, NOW + INT64_C(268435455000));
    assert_point(&b, 4, "e", 5, INT64_C(268435456000)); /* 2^28 itself is absolute */
    assert_point(&b, 5, "f", 6, NOW - 7750);            /* bt + t = -7.75 s */
    ingest_batch_free(&b);
}

static void test_base_value_is_added_to_v_but_not_to_vb(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"bn\":\"dev.\",\"bv\":10,\"n\":\"a\",\"v\":1.5},"
                            "{\"n\":\"b\",\"v\":-10},"
                            "{\"n\":\"door\",\"vb\":true},{\"n\":\"alarm\",\"vb\":false},"
                            "{\"bv\":0,\"n\":\"c\",\"v\":7}]",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 5);
    assert_point(&b, 0, "dev.a", 11.5, NOW);
    assert_point(&b, 1, "dev.b", 0, NOW);
    assert_point(&b, 2, "dev.door", 1, NOW);
    assert_point(&b, 3, "dev.alarm", 0, NOW);
    assert_point(&b, 4, "dev.c", 7, NOW);
    ingest_batch_free(&b);
}

static void test_sum_becomes_a_dot_sum_point_with_base_sum(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"bn\":\"meter.\",\"bs\":100,\"n\":\"energy\",\"s\":5},"
                            "{\"n\":\"power\",\"v\":2.5,\"s\":1,\"t\":-1}]",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 3);
    assert_point(&b, 0, "meter.energy.sum", 105, NOW);
    assert_point(&b, 1, "meter.power", 2.5, NOW - 1000);
    assert_point(&b, 2, "meter.power.sum", 101, NOW - 1000);
    ingest_batch_free(&b);
}

static void test_base_fields_persist_until_replaced(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"bn\":\"a.\",\"bt\":1700000000,\"n\":\"x\",\"v\":1},"
                            "{\"n\":\"y\",\"v\":2},"
                            "{\"bn\":\"b.\",\"n\":\"x\",\"v\":3,\"t\":1},"
                            "{\"bt\":1700000100.5,\"n\":\"y\",\"v\":4}]",
                            &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "a.x", 1, 1700000000000);
    assert_point(&b, 1, "a.y", 2, 1700000000000);
    assert_point(&b, 2, "b.x", 3, 1700000001000);
    assert_point(&b, 3, "b.y", 4, 1700000100500);
    ingest_batch_free(&b);
}

static void test_base_only_records_set_state_without_points(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("[{\"bn\":\"dev1/\",\"bu\":\"Cel\",\"bver\":10},{\"n\":\"t\",\"v\":1}]", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 1);
    assert_point(&b, 0, "dev1/t", 1, NOW);
    ingest_batch_free(&b);
    expect_error("[{\"bn\":\"x\"},{\"bt\":1}]", INGEST_ERR_EMPTY, "no values in SenML pack");
    expect_error("[]", INGEST_ERR_EMPTY, "empty SenML pack");
    expect_error("  ", INGEST_ERR_EMPTY, "empty payload");
}

static void test_record_with_name_but_no_value_is_refused(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"u\":\"V\"}]", INGEST_ERR_TYPE,
                 "[1]: record has no value (v, vb or s)");
}

static void test_versions_and_must_understand_fields(void **state)
{
    expect_error("[{\"bver\":11,\"n\":\"a\",\"v\":1}]", INGEST_ERR_SYNTAX,
                 "[0].bver: SenML version 11 is not supported (at most 10)");
    expect_error("[{\"bver\":0,\"n\":\"a\",\"v\":1}]", INGEST_ERR_SYNTAX,
                 "[0].bver: expected a positive integer");
    expect_error("[{\"n\":\"a\",\"v\":1,\"rt_\":\"x\"}]", INGEST_ERR_SYNTAX,
                 "[0]: unsupported must-understand field \"rt_\"");
    /* Unknown fields not ending in '_' are ignored. */
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("[{\"n\":\"a\",\"v\":1,\"ut\":60,\"foo\":{\"x\":[1]},\"bver\":10}]", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 1);
    ingest_batch_free(&b);
}

static void test_wrong_field_types_are_type_errors(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":\"1\"}]", INGEST_ERR_TYPE,
                 "[0].v: expected a number, got a string (metric a)");
    expect_error("[{\"n\":\"a\",\"v\":true}]", INGEST_ERR_TYPE,
                 "[0].v: expected a number, got a boolean (metric a)");
    expect_error("[{\"n\":\"a\",\"vb\":1}]", INGEST_ERR_TYPE,
                 "[0].vb: expected a boolean, got a number (metric a)");
    expect_error("[{\"n\":5,\"v\":1}]", INGEST_ERR_TYPE, "[0].n: expected a string, got a number");
    expect_error("[{\"bn\":null,\"n\":\"a\",\"v\":1}]", INGEST_ERR_TYPE,
                 "[0].bn: expected a string, got null");
    expect_error("[{\"n\":\"a\",\"v\":1,\"t\":\"now\"}]", INGEST_ERR_TYPE,
                 "[0].t: expected a number, got a string");
    expect_error("[{\"n\":\"a\",\"v\":1,\"s\":[]}]", INGEST_ERR_TYPE,
                 "[0].s: expected a number, got an array (metric a)");
    expect_error("[{\"n\":\"a\",\"v\":1},7]", INGEST_ERR_TYPE,
                 "[1]: expected a SenML record (an object), got a number");
    expect_error("{\"n\":\"a\",\"v\":1}", INGEST_ERR_TYPE,
                 "expected a SenML pack (an array of records), got an object");
}

static void test_duplicate_and_conflicting_fields_are_refused(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":1,\"v\":2}]", INGEST_ERR_SYNTAX,
                 "[0]: duplicate field \"v\"");
    expect_error("[{\"n\":\"a\",\"v\":1,\"vb\":true}]", INGEST_ERR_SYNTAX,
                 "[0]: more than one of v, vb, vs, vd");
}

static void test_resolved_names_are_validated(void **state)
{
    expect_error("[{\"bn\":\"my dev/\",\"n\":\"a\",\"v\":1}]", INGEST_ERR_METRIC,
                 "[0]: metric name \"my dev/a\" has an invalid character at byte 2 (allowed: A-Z "
                 "a-z 0-9 _ . : / - { } = ,)");
    expect_error("[{\"bn\":\"sys.\",\"n\":\"cpu\",\"v\":1}]", INGEST_ERR_METRIC,
                 "[0]: metric name \"sys.cpu\" is reserved (\"sys.\" belongs to iotad)");
    expect_error("[{\"v\":1}]", INGEST_ERR_METRIC, "[0]: empty metric name");
    char doc[600], bn[200], n[200];
    memset(bn, 'b', 100);
    bn[100] = '\0';
    memset(n, 'n', 40);
    n[40] = '\0';
    snprintf(doc, sizeof doc, "[{\"bn\":\"%s\",\"n\":\"%s\",\"v\":1}]", bn, n);
    expect_error(doc, INGEST_ERR_METRIC, NULL);
    memset(bn, 'b', 150);
    bn[150] = '\0';
    snprintf(doc, sizeof doc, "[{\"bn\":\"%s\",\"n\":\"x\",\"v\":1}]", bn);
    expect_error(doc, INGEST_ERR_METRIC, NULL);
    /* 124 + ".sum" = 128 fits; 125 + ".sum" does not. */
    memset(n, 'n', 124);
    n[124] = '\0';
    snprintf(doc, sizeof doc, "[{\"n\":\"%s\",\"s\":1}]", n);
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(doc, &b, &e), INGEST_OK);
    assert_int_equal(b.v[0].metric_len, 128);
    ingest_batch_free(&b);
    memset(n, 'n', 125);
    n[125] = '\0';
    snprintf(doc, sizeof doc, "[{\"n\":\"%s\",\"s\":1}]", n);
    expect_error(doc, INGEST_ERR_METRIC, NULL);
}

static void test_escaped_names_are_unescaped(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"bn\":\"dev\\/\",\"n\":\"t\\u0065mp\",\"v\":1}]", &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "dev/temp", 1, NOW);
    ingest_batch_free(&b);
}

static void test_nonfinite_values_are_refused(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":1e999}]", INGEST_ERR_NONFINITE,
                 "[0].v: number out of range (metric a)");
    expect_error("[{\"bv\":1e308,\"n\":\"a\",\"v\":1e308}]", INGEST_ERR_NONFINITE,
                 "[0].v: number out of range (metric a)");
    expect_error("[{\"n\":\"a\",\"v\":NaN}]", INGEST_ERR_SYNTAX, NULL);
    expect_error("[{\"bv\":1e999,\"n\":\"a\",\"v\":1}]", INGEST_ERR_NONFINITE,
                 "[0].bv: number out of range");
}

static void test_times_outside_the_range_are_refused(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":1,\"t\":-1e10}]", INGEST_ERR_TIMESTAMP,
                 "[0].t: time -10000000000 s resolves outside 1970..9999");
    expect_error("[{\"bt\":1e12,\"n\":\"a\",\"v\":1}]", INGEST_ERR_TIMESTAMP,
                 "[0]: time 1000000000000 s resolves outside 1970..9999");
    expect_error("[{\"n\":\"a\",\"v\":1,\"t\":1e999}]", INGEST_ERR_TIMESTAMP,
                 "[0].t: number out of range");
    expect_error("[{\"bt\":1e308,\"n\":\"a\",\"v\":1,\"t\":1e308}]", INGEST_ERR_TIMESTAMP, NULL);
}

static void test_a_bad_record_leaves_the_batch_as_it_was(void **state)
{
    expect_error("[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2},{\"n\":\"c\",\"v\":\"x\"}]",
                 INGEST_ERR_TYPE, "[2].v: expected a number, got a string (metric c)");
    expect_error("[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2}", INGEST_ERR_SYNTAX,
                 "invalid JSON: unexpected end of input");
}

static void test_too_many_points_are_refused_against_batch_max(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 2);
    assert_int_equal(decode("[{\"n\":\"a\",\"v\":1,\"s\":2}]", &b, &e), INGEST_OK);
    ingest_batch_reset(&b);
    assert_int_equal(decode("[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":1,\"s\":2}]", &b, &e),
                     INGEST_ERR_TOO_MANY);
    assert_int_equal(b.n, 0);
    assert_string_equal(e.msg, "[1]: too many points (at most 2 per payload)");
    ingest_batch_free(&b);
}

static void test_large_pack_decodes_every_record(void **state)
{
    size_t cap = 64 * 1024, n = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    n += (size_t)snprintf(doc, cap, "[{\"bn\":\"dev7:\",\"bt\":1700000000,\"bu\":\"Cel\"}");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n, ",{\"n\":\"temp\",\"t\":%d,\"v\":%d.25}", i, i);
    doc[n++] = ']';
    doc[n] = '\0';
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(doc, &b, &e), INGEST_OK);
    assert_int_equal(b.n, 1000);
    assert_point(&b, 999, "dev7:temp", 999.25, 1700000999000);
    ingest_batch_free(&b);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8428_single_datapoint),
        cmocka_unit_test(test_rfc8428_multiple_datapoints_resolve_base_name),
        cmocka_unit_test(test_rfc8428_multiple_measurements_resolve_base_time),
        cmocka_unit_test(test_rfc8428_records_without_n_are_named_by_bn),
        cmocka_unit_test(test_rfc8428_string_and_data_values_are_type_errors),
        cmocka_unit_test(test_times_below_2_pow_28_are_relative_to_now),
        cmocka_unit_test(test_base_value_is_added_to_v_but_not_to_vb),
        cmocka_unit_test(test_sum_becomes_a_dot_sum_point_with_base_sum),
        cmocka_unit_test(test_base_fields_persist_until_replaced),
        cmocka_unit_test(test_base_only_records_set_state_without_points),
        cmocka_unit_test(test_record_with_name_but_no_value_is_refused),
        cmocka_unit_test(test_versions_and_must_understand_fields),
        cmocka_unit_test(test_wrong_field_types_are_type_errors),
        cmocka_unit_test(test_duplicate_and_conflicting_fields_are_refused),
        cmocka_unit_test(test_resolved_names_are_validated),
        cmocka_unit_test(test_escaped_names_are_unescaped),
        cmocka_unit_test(test_nonfinite_values_are_refused),
        cmocka_unit_test(test_times_outside_the_range_are_refused),
        cmocka_unit_test(test_a_bad_record_leaves_the_batch_as_it_was),
        cmocka_unit_test(test_too_many_points_are_refused_against_batch_max),
        cmocka_unit_test(test_large_pack_decodes_every_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
