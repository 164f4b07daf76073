/* Unit tests for the iotad JSON telemetry decoder, the shared number parser and the skew check.
 * Every payload is copied into an exact-size heap buffer without a NUL, so ASan catches any
 * read past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/decode_json.h"

#define NOW INT64_C(1700000000000)

static ingest_status decode_n(const char *s, size_t n, ingest_batch *b, ingest_error *e)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    memset(e, 0, sizeof *e);
    ingest_status st = ingest_decode_json(copy, n, NOW, b, e);
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
    return decode_n(s, strlen(s), b, e);
}

/* Decodes s into a fresh batch and expects status st; returns nothing, checks rollback. */
static void expect_status(const char *s, ingest_status st)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(ingest_batch_push(&b, "pre", 3, 1, 1.0), INGEST_OK);
    ingest_status got = decode(s, &b, &e);
    if (got != st)
        fail_msg("%s: expected %s, got %s (%s)", s, ingest_status_name(st), ingest_status_name(got),
                 e.msg);
    if (st != INGEST_OK) assert_int_equal(b.n, 1);
    ingest_batch_free(&b);
}

static void expect_error(const char *s, ingest_status st, const char *msg)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(s, &b, &e), st);
    assert_int_equal(b.n, 0);
    assert_string_equal(e.msg, msg);
    ingest_batch_free(&b);
}

static void assert_point(const ingest_batch *b, size_t i, const char *metric, double v, int64_t ts)
{
    assert_true(i < b->n);
    assert_string_equal(b->v[i].metric, metric);
    assert_int_equal(b->v[i].metric_len, strlen(metric));
    assert_true(b->v[i].value == v);
    assert_int_equal(b->v[i].ts_ms, ts);
}

static void test_metrics_object_with_integer_ts_yields_points_in_order(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("{\"ts\": 1700000001234, \"metrics\": {\"temp\": 21.5, \"hum\": 40}}", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 2);
    assert_point(&b, 0, "temp", 21.5, 1700000001234);
    assert_point(&b, 1, "hum", 40, 1700000001234);
    ingest_batch_free(&b);
}

static void test_metrics_object_without_ts_uses_now(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"temp\":-3}}", &b, &e), INGEST_OK);
    assert_point(&b, 0, "temp", -3, NOW);
    ingest_batch_free(&b);
}

static void test_ts_after_metrics_applies_to_them(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"a\":1},\"ts\":5}", &b, &e), INGEST_OK);
    assert_point(&b, 0, "a", 1, 5);
    ingest_batch_free(&b);
}

static void test_rfc3339_ts_with_fraction_and_offset_is_parsed(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("[{\"ts\":\"2024-01-01T00:00:00.5Z\",\"metrics\":{\"a\":1}},"
                            "{\"ts\":\"2024-01-01T02:00:00+02:00\",\"metrics\":{\"b\":2}},"
                            "{\"ts\":\"2024-02-29T12:00:00Z\",\"metric\":\"c\",\"value\":3}]",
                            &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "a", 1, 1704067200500);
    assert_point(&b, 1, "b", 2, 1704067200000);
    assert_point(&b, 2, "c", 3, 1709208000000);
    ingest_batch_free(&b);
}

static void test_single_point_shape(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(
        decode("{\"metric\": \"temp\", \"value\": 21.5, \"ts\": 1700000000001}", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 1);
    assert_point(&b, 0, "temp", 21.5, 1700000000001);
    ingest_batch_free(&b);
}

static void test_batch_array_mixes_both_shapes(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(" [ {\"metric\":\"a\",\"value\":1,\"ts\":10},\n"
                            "   {\"ts\":20,\"metrics\":{\"b\":2,\"c\":3}},\n"
                            "   {\"metric\":\"d\",\"value\":4} ] \n",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 4);
    assert_point(&b, 0, "a", 1, 10);
    assert_point(&b, 1, "b", 2, 20);
    assert_point(&b, 2, "c", 3, 20);
    assert_point(&b, 3, "d", 4, NOW);
    ingest_batch_free(&b);
}

static void test_unknown_keys_are_ignored_whatever_their_type(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"device\":\"dev-1\",\"fw\":{\"v\":[1,2,{\"x\":null}]},\"ok\":true,"
                            "\"metrics\":{\"temp\":1},\"seq\":7,\"note\":\"\\\"quoted\\\"\"}",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 1);
    assert_point(&b, 0, "temp", 1, NOW);
    ingest_batch_free(&b);
}

/* Issue 11 #11: true/false were taken as 1/0 where a number is expected. A boolean is not a
 * number (SenML has "vb" for it, line protocol its t/f field type). */
static void test_booleans_are_not_numbers(void **state)
{
    expect_error("{\"metrics\":{\"door\":true}}", INGEST_ERR_TYPE,
                 "metrics.door: expected a number, got a boolean");
    expect_error("[{\"metrics\":{\"a\":1}},{\"metric\":\"x\",\"value\":false}]", INGEST_ERR_TYPE,
                 "[1].value: expected a number, got a boolean (metric x)");
    expect_status("{\"metrics\":{\"a\":null}}", INGEST_ERR_TYPE);
}

/* Issue 11 #11: a metric named twice in one "metrics" object gave two points, of which the
 * store kept the last. One object is one measurement: the repeat is refused (SenML refuses a
 * repeated field, line protocol a repeated field key); separate objects may repeat a series. */
static void test_a_metric_named_twice_in_one_object_is_refused(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    const char *doc = "{\"metrics\":{\"a\":1,\"b\":2,\"a\":3}}";
    assert_int_equal(decode(doc, &b, &e), INGEST_ERR_SYNTAX);
    assert_int_equal(b.n, 0);
    assert_string_equal(e.msg, "metrics: duplicate metric \"a\"");
    assert_int_equal(e.offset, strstr(doc, ",\"a\"") + 1 - doc); /* at the repeat */
    /* an escape spells the same name */
    expect_error("[{\"metrics\":{\"a\":1}},{\"metrics\":{\"\\u0074\":1,\"t\":2}}]",
                 INGEST_ERR_SYNTAX, "[1].metrics: duplicate metric \"t\"");
    /* more metrics than the pairwise check covers: found through the sorted names */
    char big[1024];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"metrics\":{");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "\"m%d\":%d,", i, i);
    snprintf(big + n, sizeof big - n, "\"m17\":0,\"m3\":0}}");
    expect_error(big, INGEST_ERR_SYNTAX, "metrics: duplicate metric \"m17\"");
    /* the same series in two objects: two points, the later one wins in the store */
    assert_int_equal(
        decode("[{\"ts\":5,\"metrics\":{\"a\":1}},{\"ts\":5,\"metrics\":{\"a\":2}}]", &b, &e),
        INGEST_OK);
    assert_int_equal(b.n, 2);
    ingest_batch_free(&b);
}

static void test_number_formats_convert_exactly(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"a\":0,\"b\":-0.5,\"c\":1e3,\"d\":1E-2,\"e\":0.1,"
                            "\"f\":12345678901234567890,\"g\":1e-400,\"h\":-0,"
                            "\"i\":2.2250738585072014e-308,\"j\":1.7976931348623157e308}}",
                            &b, &e),
                     INGEST_OK);
    assert_int_equal(b.n, 10);
    assert_true(b.v[0].value == 0);
    assert_true(b.v[1].value == -0.5);
    assert_true(b.v[2].value == 1000);
    assert_true(b.v[3].value == 0.01);
    assert_true(b.v[4].value == 0.1);
    assert_true(b.v[5].value == 12345678901234567890.0);
    assert_true(b.v[6].value == 0);
    assert_true(b.v[7].value == 0 && signbit(b.v[7].value));
    assert_true(b.v[8].value == 2.2250738585072014e-308);
    assert_true(b.v[9].value == 1.7976931348623157e308);
    ingest_batch_free(&b);
}

static void test_parse_double_matches_strtod(void **state)
{
    static const char *cases[] = {
        "0",
        "1",
        "-1",
        "3.14159",
        "1e22",
        "1e23",
        "9007199254740993",
        "0.3",
        "123456.789e-5",
        "4.9e-324",
        "2.5e-324",
        "1.00000000000000011102230246251565404236316680908203125",
        "0.000000000000000000000000000123",
        "18446744073709551615",
        "+7",
        "5.",
        ".25",
        "1234567890123456789012345678901234567890e-20",
        "7e-10",
        "1.7976931348623157e308",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double got = -1;
        assert_int_equal(ingest_parse_double(cases[i], strlen(cases[i]), &got), 0);
        if (got != strtod(cases[i], NULL)) fail_msg("%s: got %.17g", cases[i], got);
    }
    /* A 400-digit number goes through the canonical-form path. */
    char big[420] = "1.";
    memset(big + 2, '3', 400);
    big[402] = '\0';
    double v;
    assert_int_equal(ingest_parse_double(big, strlen(big), &v), 0);
    assert_true(v == strtod(big, NULL));
    big[0] = '9';
    memcpy(big + 402, "e400", 5);
    assert_int_equal(ingest_parse_double(big, strlen(big), &v), -2);
}

static void test_parse_double_rejects_non_numbers(void **state)
{
    static const char *bad[] = {"",    "-",        "+",    ".",     "e5", "1e", "1e+", "NaN",
                                "inf", "Infinity", "0x10", "1.2.3", "1 ", " 1", "1,5", "--1"};
    double v;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ingest_parse_double(bad[i], strlen(bad[i]), &v) != -1) fail_msg("accepted %s", bad[i]);
    assert_int_equal(ingest_parse_double("1e999", 5, &v), -2);
    assert_int_equal(ingest_parse_double("-1e400", 6, &v), -2);
    /* Only len bytes are read: "12" of "123". */
    assert_int_equal(ingest_parse_double("123", 2, &v), 0);
    assert_true(v == 12);
}

static void test_escaped_metric_names_are_unescaped(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"t\\u0065mp\":1,\"a\\/b\":2},"
                            "\"m\\u0065trics_ignored\":3}",
                            &b, &e),
                     INGEST_OK);
    assert_point(&b, 0, "temp", 1, NOW);
    assert_point(&b, 1, "a/b", 2, NOW);
    ingest_batch_reset(&b);
    /* An escaped key still counts as the key it spells. */
    assert_int_equal(decode("{\"metric\":\"x\",\"v\\u0061lue\":5}", &b, &e), INGEST_OK);
    assert_point(&b, 0, "x", 5, NOW);
    ingest_batch_free(&b);
}

static void test_string_value_is_a_type_error_naming_the_metric(void **state)
{
    expect_error("{\"metrics\":{\"hum\":40,\"temp\":\"21.5\"}}", INGEST_ERR_TYPE,
                 "metrics.temp: expected a number, got a string");
    expect_error("[{\"metrics\":{\"a\":1}},{\"metrics\":{\"temp\":\"x\"}}]", INGEST_ERR_TYPE,
                 "[1].metrics.temp: expected a number, got a string");
    expect_error("{\"metric\":\"temp\",\"value\":\"x\"}", INGEST_ERR_TYPE,
                 "value: expected a number, got a string (metric temp)");
}

static void test_null_object_and_array_values_are_type_errors(void **state)
{
    expect_error("{\"metrics\":{\"temp\":null}}", INGEST_ERR_TYPE,
                 "metrics.temp: expected a number, got null");
    expect_error("{\"metrics\":{\"temp\":{\"v\":1}}}", INGEST_ERR_TYPE,
                 "metrics.temp: expected a number, got an object");
    expect_error("{\"metrics\":{\"temp\":[1]}}", INGEST_ERR_TYPE,
                 "metrics.temp: expected a number, got an array");
    expect_error("{\"metrics\":[1,2]}", INGEST_ERR_TYPE,
                 "metrics: expected an object, got an array");
    expect_error("{\"metric\":7,\"value\":1}", INGEST_ERR_TYPE,
                 "metric: expected a string, got a number");
}

static void test_wrong_shapes_are_type_errors(void **state)
{
    expect_error("{\"metric\":\"a\"}", INGEST_ERR_TYPE, "missing \"value\"");
    expect_error("[{\"value\":1}]", INGEST_ERR_TYPE, "[0]: missing \"metric\"");
    expect_error("{}", INGEST_ERR_TYPE, "expected \"metrics\", or \"metric\" and \"value\"");
    expect_error("{\"metrics\":{\"a\":1},\"metric\":\"b\",\"value\":2}", INGEST_ERR_TYPE,
                 "use either \"metrics\" or \"metric\"/\"value\", not both");
    expect_error("[{\"metric\":\"a\",\"value\":1}, 5]", INGEST_ERR_TYPE,
                 "[1]: expected an object, got a number");
    expect_error("[[{\"metric\":\"a\",\"value\":1}]]", INGEST_ERR_TYPE,
                 "[0]: expected an object, got an array");
    expect_error("\"temp\"", INGEST_ERR_TYPE, "expected a JSON object or array, got a string");
    expect_error("42 ", INGEST_ERR_TYPE, "expected a JSON object or array, got a number");
}

static void test_duplicate_known_keys_are_refused(void **state)
{
    expect_error("{\"ts\":1,\"ts\":2,\"metrics\":{\"a\":1}}", INGEST_ERR_SYNTAX,
                 "duplicate key \"ts\"");
    expect_error("[{\"metric\":\"a\",\"value\":1,\"value\":2}]", INGEST_ERR_SYNTAX,
                 "[0]: duplicate key \"value\"");
    /* and so is a metric named twice inside "metrics" (issue 11 #11; it gave two points) */
    expect_status("{\"metrics\":{\"a\":1,\"a\":2}}", INGEST_ERR_SYNTAX);
}

static void test_nan_and_infinity_literals_are_refused(void **state)
{
    expect_status("{\"metrics\":{\"a\":NaN}}", INGEST_ERR_SYNTAX);
    expect_status("{\"metrics\":{\"a\":Infinity}}", INGEST_ERR_SYNTAX);
    expect_status("{\"metrics\":{\"a\":-Infinity}}", INGEST_ERR_SYNTAX);
    expect_status("{\"metrics\":{\"a\":nan}}", INGEST_ERR_SYNTAX);
    expect_status("{\"metrics\":{\"a\":-inf}}", INGEST_ERR_SYNTAX);
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"a\":NaN}}", &b, &e), INGEST_ERR_SYNTAX);
    assert_non_null(strstr(e.msg, "NaN and Infinity are not JSON numbers"));
    assert_int_equal(e.offset, 16);
    ingest_batch_free(&b);
}

static void test_numbers_overflowing_a_double_are_nonfinite(void **state)
{
    expect_error("{\"metrics\":{\"a\":1e999}}", INGEST_ERR_NONFINITE,
                 "metrics.a: number out of range");
    expect_error("{\"metric\":\"b\",\"value\":-1e400}", INGEST_ERR_NONFINITE,
                 "value: number out of range (metric b)");
}

static void test_malformed_json_is_a_syntax_error(void **state)
{
    static const char *bad[] = {
        "{",
        "{\"metrics\":{\"a\":1}",
        "{\"metrics\":{\"a\":1}}}",
        "{\"metrics\" {\"a\":1}}",
        "{\"metrics\":{\"a\" 1}}",
        "{\"metrics\":{\"a\":1,}}",
        "[{\"metric\":\"a\",\"value\":1},]",
        "[,{\"metric\":\"a\",\"value\":1}]",
        "{\"metrics\":{\"a\":1 \"b\":2}}",
        "{\"metrics\":{\"a\"::1}}",
        "{\"metrics\":{\"a\":1:2}}",
        "{'metrics':{'a':1}}",
        "{metrics:{a:1}}",
        "{\"metrics\":{\"a\":01}}",
        "{\"metrics\":{\"a\":1.}}",
        "{\"metrics\":{\"a\":.5}}",
        "{\"metrics\":{\"a\":+1}}",
        "{\"metrics\":{\"a\":1e}}",
        "{\"metrics\":{\"a\":0x10}}",
        "{\"metrics\":{\"a\":tru}}",
        "{\"metrics\":{\"a\":True}}",
        "{\"metrics\":{\"a\":1}}{}",
        "{\"metrics\":{\"a\":1}},",
        "{\"metrics\":{\"a\":1}} x",
        "{\"metrics\":{\"a\":1},\"n\":\"\\q\"}",
        "{\"metrics\":{\"a\":1},\"n\":\"\\u12\"}",
        "{\"metrics\":{\"a\":1},\"n\":\"open",
        "{\"metrics\":{\"a\":1},\"n\":[1 2]}",
        "{\"metrics\":{\"a\":1},\"n\":[}",
        "]",
        ",",
        "{\"metrics\":{[1]:1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_status(bad[i], INGEST_ERR_SYNTAX);
}

static void test_control_characters_and_nul_bytes_are_refused(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    static const char raw_ctl[] = "{\"metrics\":{\"a\":1},\"n\":\"x\ty\"}";
    assert_int_equal(decode(raw_ctl, &b, &e), INGEST_ERR_SYNTAX);
    static const char nul_after[] = "{\"metrics\":{\"a\":1}}\0";
    assert_int_equal(decode_n(nul_after, sizeof nul_after - 1, &b, &e), INGEST_ERR_SYNTAX);
    static const char nul_inside[] = "{\"metrics\":{\"a\":1\0}}";
    assert_int_equal(decode_n(nul_inside, sizeof nul_inside - 1, &b, &e), INGEST_ERR_SYNTAX);
    assert_non_null(strstr(e.msg, "NUL byte"));
    assert_int_equal(e.offset, 17);
    static const char nul_string[] = "{\"metrics\":{\"a\\0\":1}}";
    assert_int_equal(decode_n(nul_string, sizeof nul_string - 1, &b, &e), INGEST_ERR_SYNTAX);
    assert_int_equal(b.n, 0);
    ingest_batch_free(&b);
}

static void test_syntax_errors_report_the_offset(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"a\":1,}}", &b, &e), INGEST_ERR_SYNTAX);
    assert_int_equal(e.offset, 18);
    assert_string_equal(e.msg, "invalid JSON: expected a string key at offset 18");
    assert_int_equal(decode("{\"metrics\":{\"a\":1}", &b, &e), INGEST_ERR_SYNTAX);
    assert_string_equal(e.msg, "invalid JSON: unexpected end of input");
    ingest_batch_free(&b);
}

static void test_deep_nesting_is_refused(void **state)
{
    char doc[512];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"metrics\":{\"a\":1},\"x\":");
    for (int i = 0; i < 40; i++)
        doc[n++] = '[';
    for (int i = 0; i < 40; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    doc[n] = '\0';
    expect_error(doc, INGEST_ERR_TOO_DEEP,
                 "invalid JSON: nested deeper than 32 levels at offset 54");
    /* 20 levels of unknown nested data are fine. */
    n = (size_t)snprintf(doc, sizeof doc, "{\"metrics\":{\"a\":1},\"x\":");
    for (int i = 0; i < 20; i++)
        doc[n++] = '[';
    for (int i = 0; i < 20; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    doc[n] = '\0';
    expect_status(doc, INGEST_OK);
}

/* Exactly INGEST_JSON_MAX_DEPTH levels pass, one more is refused at the bracket that opens
 * it; brackets inside strings (escaped quotes included) do not count. */
static void nested_doc(char *doc, int arrays)
{
    size_t n = (size_t)sprintf(doc, "{\"metrics\":{\"a\":1},\"x\":");
    for (int i = 0; i < arrays; i++)
        doc[n++] = '[';
    for (int i = 0; i < arrays; i++)
        doc[n++] = ']';
    doc[n++] = '}';
    doc[n] = '\0';
}

static void test_nesting_limit_is_exact_and_ignores_brackets_in_strings(void **state)
{
    char doc[512];
    nested_doc(doc, INGEST_JSON_MAX_DEPTH - 1); /* the outer object is level 1 */
    expect_status(doc, INGEST_OK);
    nested_doc(doc, INGEST_JSON_MAX_DEPTH);
    expect_error(doc, INGEST_ERR_TOO_DEEP,
                 "invalid JSON: nested deeper than 32 levels at offset 54");
    expect_status(
        "{\"metrics\":{\"a\":1},\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[\"}",
        INGEST_OK);
}

/* ---- Parse time is linear in the input (issue 11 #5) ----
 * Decoding 16 documents of size n must cost about what decoding one of size 16n costs. A
 * quadratic path (jsmn walking parent links at every closing bracket made 200 KB of '[' take
 * seconds) makes the big one ~16x dearer. Costs are thread CPU time, best of several rounds,
 * compared as a ratio within one run: no absolute threshold. */
typedef void (*doc_fn)(char *doc, size_t *n, size_t target);

static void doc_open_brackets(char *doc, size_t *n, size_t target)
{
    for (size_t i = 0; i < target / 2; i++)
        doc[(*n)++] = '[';
    for (size_t i = 0; i < target / 2; i++)
        doc[(*n)++] = ']';
}

/* A batch whose items carry unknown data nested 30 levels deep (legal, must be parsed). */
static void doc_deep_items(char *doc, size_t *n, size_t target)
{
    doc[(*n)++] = '[';
    for (int k = 0; *n + 100 < target; k++) {
        *n += (size_t)sprintf(doc + *n, "%s{\"metrics\":{\"a\":%d},\"x\":", k ? "," : "", k);
        for (int i = 0; i < 28; i++)
            doc[(*n)++] = '[';
        for (int i = 0; i < 28; i++)
            doc[(*n)++] = ']';
        doc[(*n)++] = '}';
    }
    doc[(*n)++] = ']';
}

static void doc_flat_batch(char *doc, size_t *n, size_t target)
{
    doc[(*n)++] = '[';
    for (int k = 0; *n + 64 < target; k++)
        *n += (size_t)sprintf(doc + *n, "%s{\"metric\":\"m%d\",\"value\":%d.25}", k ? "," : "",
                              k % 10, k);
    doc[(*n)++] = ']';
}

static void doc_brackets_in_string(char *doc, size_t *n, size_t target)
{
    *n += (size_t)sprintf(doc + *n, "{\"metrics\":{\"a\":1},\"s\":\"");
    for (size_t i = 0; *n + 8 < target; i++)
        doc[(*n)++] = i % 7 ? '[' : '{';
    doc[(*n)++] = '"';
    doc[(*n)++] = '}';
}

/* One object with many metrics: its repeated-name check must not be pairwise. */
static void doc_wide_object(char *doc, size_t *n, size_t target)
{
    *n += (size_t)sprintf(doc + *n, "{\"metrics\":{");
    for (int k = 0; *n + 32 < target; k++)
        *n += (size_t)sprintf(doc + *n, "%s\"m%d\":%d", k ? "," : "", k, k);
    doc[(*n)++] = '}';
    doc[(*n)++] = '}';
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double decode_cost(const char *doc, size_t n, int times)
{
    ingest_batch b;
    ingest_batch_init(&b, 0);
    double t0 = cpu_ms();
    for (int i = 0; i < times; i++) {
        ingest_error e;
        ingest_batch_reset(&b);
        (void)ingest_decode_json(doc, n, NOW, &b, &e);
    }
    double t = cpu_ms() - t0;
    ingest_batch_free(&b);
    return t;
}

static void test_parse_time_is_linear_in_size_and_depth(void **state)
{
    static const struct {
        const char *name;
        doc_fn make;
    } shapes[] = {{"open brackets", doc_open_brackets},
                  {"deep items", doc_deep_items},
                  {"flat batch", doc_flat_batch},
                  {"brackets in a string", doc_brackets_in_string},
                  {"wide metrics object", doc_wide_object}};
    const size_t small = 4096, factor = 16, big = small * factor;
    char *s = malloc(small + 256), *l = malloc(big + 256);
    assert_non_null(s);
    assert_non_null(l);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t ns = 0, nl = 0;
        shapes[k].make(s, &ns, small);
        shapes[k].make(l, &nl, big);
        double cs = 1e300, cl = 1e300;
        for (int round = 0; round < 7; round++) {
            double a = decode_cost(s, ns, (int)factor), c = decode_cost(l, nl, 1);
            cs = a < cs ? a : cs;
            cl = c < cl ? c : cl;
        }
        double ratio = cl / (cs > 1e-6 ? cs : 1e-6) * ((double)ns * factor / (double)nl);
        print_message("%s: 16 x %zu bytes %.3f ms, 1 x %zu bytes %.3f ms, ratio %.2f\n",
                      shapes[k].name, ns, cs, nl, cl, ratio);
        if (ratio > 4.0) fail_msg("%s: decoding is not linear (ratio %.2f)", shapes[k].name, ratio);
    }
    free(s);
    free(l);
}

static void test_bad_timestamps_are_refused(void **state)
{
    expect_error("{\"ts\":1.5,\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP,
                 "ts: expected integer milliseconds since the epoch, got 1.5");
    expect_error("{\"ts\":1e12,\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP,
                 "ts: expected integer milliseconds since the epoch, got 1e12");
    expect_error("{\"ts\":-1,\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP,
                 "ts: timestamp -1 is outside 1970..9999");
    expect_error("[{\"ts\":253402300800000,\"metric\":\"a\",\"value\":1}]", INGEST_ERR_TIMESTAMP,
                 "[0].ts: timestamp 253402300800000 is outside 1970..9999");
    expect_status("{\"ts\":99999999999999999999999,\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP);
    expect_error("{\"ts\":\"yesterday\",\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP,
                 "ts: invalid RFC 3339 timestamp \"yesterday\"");
    expect_status("{\"ts\":\"2024-02-30T00:00:00Z\",\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP);
    expect_status("{\"ts\":\"2023-02-29T00:00:00Z\",\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP);
    expect_status("{\"ts\":\"2024-01-01T00:00:00+24:00\",\"metrics\":{\"a\":1}}",
                  INGEST_ERR_TIMESTAMP);
    expect_status("{\"ts\":\"2024-01-01T00:00:00\",\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP);
    expect_status("{\"ts\":\"1969-12-31T23:59:59Z\",\"metrics\":{\"a\":1}}", INGEST_ERR_TIMESTAMP);
    expect_error("{\"ts\":true,\"metrics\":{\"a\":1}}", INGEST_ERR_TYPE,
                 "ts: expected integer milliseconds or an RFC 3339 string, got a boolean");
    expect_status("{\"ts\":null,\"metrics\":{\"a\":1}}", INGEST_ERR_TYPE);
    expect_status("{\"ts\":{},\"metrics\":{\"a\":1}}", INGEST_ERR_TYPE);
    /* The edges of the range are accepted. */
    expect_status("{\"ts\":0,\"metrics\":{\"a\":1}}", INGEST_OK);
    expect_status("{\"ts\":253402300799999,\"metrics\":{\"a\":1}}", INGEST_OK);
}

static void test_reserved_metric_names_are_refused_with_a_clear_message(void **state)
{
    expect_error("{\"metrics\":{\"temp\":1,\"sys.cpu\":1}}", INGEST_ERR_METRIC,
                 "metrics: metric name \"sys.cpu\" is reserved (\"sys.\" belongs to iotad)");
    expect_error("[{\"metric\":\"sys.auth_failures\",\"value\":1}]", INGEST_ERR_METRIC,
                 "[0].metric: metric name \"sys.auth_failures\" is reserved (\"sys.\" belongs to "
                 "iotad)");
    /* Only the exact "sys." prefix is reserved. */
    expect_status("{\"metrics\":{\"system.cpu\":1,\"sys\":2,\"SYS.x\":3}}", INGEST_OK);
}

static void test_invalid_and_overlong_metric_names_are_refused(void **state)
{
    expect_error("{\"metrics\":{\"te mp\":1}}", INGEST_ERR_METRIC,
                 "metrics: metric name \"te mp\" has an invalid character at byte 2 (allowed: "
                 "A-Z a-z 0-9 _ . : / - { } = ,)");
    expect_error("{\"metrics\":{\"\":1}}", INGEST_ERR_METRIC, "metrics: empty metric name");
    expect_status("{\"metrics\":{\"caf\\u00e9\":1}}", INGEST_ERR_METRIC);
    expect_status("{\"metrics\":{\"a\\u0000b\":1}}", INGEST_ERR_METRIC);
    char doc[400], name[200];
    memset(name, 'n', 129);
    name[129] = '\0';
    snprintf(doc, sizeof doc, "{\"metrics\":{\"%s\":1}}", name);
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode(doc, &b, &e), INGEST_ERR_METRIC);
    assert_non_null(strstr(e.msg, "is longer than 128 bytes"));
    name[128] = '\0'; /* exactly 128 is fine */
    snprintf(doc, sizeof doc, "{\"metrics\":{\"%s\":1}}", name);
    assert_int_equal(decode(doc, &b, &e), INGEST_OK);
    assert_int_equal(b.v[0].metric_len, 128);
    ingest_batch_free(&b);
}

static void test_error_messages_never_echo_unsafe_bytes(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"a\\\"<script>\\u0001\\n\":\"x\"}}", &b, &e),
                     INGEST_ERR_METRIC);
    for (const char *p = e.msg; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_null(strchr(e.msg + strlen("metrics: metric name \""), '\\'));
    assert_non_null(strstr(e.msg, "\"a?<script>??\""));
    ingest_batch_free(&b);
}

static void test_too_many_points_are_refused_against_batch_max(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 3);
    assert_int_equal(decode("{\"metrics\":{\"a\":1,\"b\":2,\"c\":3}}", &b, &e), INGEST_OK);
    assert_int_equal(b.n, 3);
    ingest_batch_reset(&b);
    assert_int_equal(decode("{\"metrics\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4}}", &b, &e),
                     INGEST_ERR_TOO_MANY);
    assert_int_equal(b.n, 0);
    assert_string_equal(e.msg, "metrics: too many points (at most 3 per payload)");
    ingest_batch_free(&b);
}

static void test_empty_inputs_are_refused_as_empty(void **state)
{
    expect_error("", INGEST_ERR_EMPTY, "empty payload");
    expect_error(" \r\n\t ", INGEST_ERR_EMPTY, "empty payload");
    expect_error("[]", INGEST_ERR_EMPTY, "empty array");
    expect_error("{\"metrics\":{}}", INGEST_ERR_EMPTY, "no metrics in payload");
    expect_error("[{\"metrics\":{}},{\"ts\":1,\"metrics\":{}}]", INGEST_ERR_EMPTY,
                 "no metrics in payload");
    /* An empty metrics object next to real points is fine. */
    expect_status("[{\"metrics\":{}},{\"metrics\":{\"a\":1}}]", INGEST_OK);
}

static void test_a_bad_item_leaves_the_batch_as_it_was(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode("{\"metrics\":{\"keep1\":1,\"keep2\":2}}", &b, &e), INGEST_OK);
    assert_int_equal(b.n, 2);
    assert_int_equal(decode("[{\"metrics\":{\"a\":1,\"b\":2}},{\"metric\":\"c\",\"value\":3},"
                            "{\"metrics\":{\"d\":\"bad\"}}]",
                            &b, &e),
                     INGEST_ERR_TYPE);
    assert_int_equal(b.n, 2);
    assert_point(&b, 0, "keep1", 1, NOW);
    assert_point(&b, 1, "keep2", 2, NOW);
    /* A syntax error after valid items is reported as such, nothing is kept. */
    assert_int_equal(decode("[{\"metrics\":{\"a\":1}},{\"metrics\":{\"b\":2}},", &b, &e),
                     INGEST_ERR_SYNTAX);
    assert_int_equal(b.n, 2);
    ingest_batch_free(&b);
}

static void test_large_batch_spills_tokens_to_the_heap(void **state)
{
    size_t cap = 64 * 1024, n = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    doc[n++] = '[';
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n, "%s{\"metric\":\"m%d\",\"value\":%d.5,\"ts\":%d}",
                              i ? "," : "", i % 7, i, 1000 + i);
    doc[n++] = ']';
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(decode_n(doc, n, &b, &e), INGEST_OK);
    assert_int_equal(b.n, 1000);
    assert_point(&b, 999, "m5", 999.5, 1999);
    /* The same document with one bad item fails as a whole. */
    char *bad = strstr(doc, "\"value\":500.5");
    assert_non_null(bad);
    memcpy(bad + 8, "\"x\"  ", 5);
    ingest_batch_reset(&b);
    assert_int_equal(decode_n(doc, n, &b, &e), INGEST_ERR_TYPE);
    assert_string_equal(e.msg, "[500].value: expected a number, got a string (metric m3)");
    assert_int_equal(b.n, 0);
    ingest_batch_free(&b);
    free(doc);
}

static ingest_batch skew_batch(void)
{
    ingest_batch b;
    ingest_batch_init(&b, 0);
    assert_int_equal(ingest_batch_push(&b, "ok", 2, NOW - 1000, 1), INGEST_OK);
    assert_int_equal(ingest_batch_push(&b, "old", 3, NOW - 3600 * 1000, 1), INGEST_OK);
    assert_int_equal(ingest_batch_push(&b, "new", 3, NOW + 120 * 1000, 1), INGEST_OK);
    return b;
}

static void test_skew_check_refuses_points_too_far_in_the_past_or_future(void **state)
{
    ingest_batch b = skew_batch();
    ingest_error e;
    assert_int_equal(ingest_check_skew(&b, 0, NOW, 60 * 1000, 0, &e), INGEST_ERR_TIMESTAMP);
    assert_string_equal(e.msg, "point 1 (old): timestamp 2023-11-14T21:13:20.000Z is more than "
                               "60 s in the past");
    assert_int_equal(ingest_check_skew(&b, 0, NOW, 0, 60 * 1000, &e), INGEST_ERR_TIMESTAMP);
    assert_string_equal(e.msg, "point 2 (new): timestamp 2023-11-14T22:15:20.000Z is more than "
                               "60 s in the future");
    assert_int_equal(ingest_check_skew(&b, 0, NOW, 3600 * 1000, 120 * 1000, &e), INGEST_OK);
    assert_int_equal(ingest_check_skew(&b, 0, NOW, 0, 0, &e), INGEST_OK);
    /* from: only the points decoded by this call are checked, indices relative to it. */
    assert_int_equal(ingest_check_skew(&b, 2, NOW, 60 * 1000, 1500, &e), INGEST_ERR_TIMESTAMP);
    assert_non_null(strstr(e.msg, "point 0 (new)"));
    assert_non_null(strstr(e.msg, "1500 ms in the future"));
    assert_int_equal(b.n, 3);
    ingest_batch_free(&b);
}

static void test_skew_check_does_not_overflow_on_extreme_values(void **state)
{
    ingest_batch b;
    ingest_error e;
    ingest_batch_init(&b, 0);
    assert_int_equal(ingest_batch_push(&b, "a", 1, 0, 1), INGEST_OK);
    assert_int_equal(ingest_check_skew(&b, 0, INT64_MAX, INT64_MAX, INT64_MAX, &e), INGEST_OK);
    assert_int_equal(ingest_check_skew(&b, 0, INT64_MIN, INT64_MAX, 1, &e), INGEST_ERR_TIMESTAMP);
    ingest_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_object_with_integer_ts_yields_points_in_order),
        cmocka_unit_test(test_metrics_object_without_ts_uses_now),
        cmocka_unit_test(test_ts_after_metrics_applies_to_them),
        cmocka_unit_test(test_rfc3339_ts_with_fraction_and_offset_is_parsed),
        cmocka_unit_test(test_single_point_shape),
        cmocka_unit_test(test_batch_array_mixes_both_shapes),
        cmocka_unit_test(test_unknown_keys_are_ignored_whatever_their_type),
        cmocka_unit_test(test_booleans_are_not_numbers),
        cmocka_unit_test(test_a_metric_named_twice_in_one_object_is_refused),
        cmocka_unit_test(test_number_formats_convert_exactly),
        cmocka_unit_test(test_parse_double_matches_strtod),
        cmocka_unit_test(test_parse_double_rejects_non_numbers),
        cmocka_unit_test(test_escaped_metric_names_are_unescaped),
        cmocka_unit_test(test_string_value_is_a_type_error_naming_the_metric),
        cmocka_unit_test(test_null_object_and_array_values_are_type_errors),
        cmocka_unit_test(test_wrong_shapes_are_type_errors),
        cmocka_unit_test(test_duplicate_known_keys_are_refused),
        cmocka_unit_test(test_nan_and_infinity_literals_are_refused),
        cmocka_unit_test(test_numbers_overflowing_a_double_are_nonfinite),
        cmocka_unit_test(test_malformed_json_is_a_syntax_error),
        cmocka_unit_test(test_control_characters_and_nul_bytes_are_refused),
        cmocka_unit_test(test_syntax_errors_report_the_offset),
        cmocka_unit_test(test_deep_nesting_is_refused),
        cmocka_unit_test(test_bad_timestamps_are_refused),
        cmocka_unit_test(test_reserved_metric_names_are_refused_with_a_clear_message),
        cmocka_unit_test(test_invalid_and_overlong_metric_names_are_refused),
        cmocka_unit_test(test_error_messages_never_echo_unsafe_bytes),
        cmocka_unit_test(test_too_many_points_are_refused_against_batch_max),
        cmocka_unit_test(test_empty_inputs_are_refused_as_empty),
        cmocka_unit_test(test_a_bad_item_leaves_the_batch_as_it_was),
        cmocka_unit_test(test_large_batch_spills_tokens_to_the_heap),
        cmocka_unit_test(test_nesting_limit_is_exact_and_ignores_brackets_in_strings),
        cmocka_unit_test(test_parse_time_is_linear_in_size_and_depth),
        cmocka_unit_test(test_skew_check_refuses_points_too_far_in_the_past_or_future),
        cmocka_unit_test(test_skew_check_does_not_overflow_on_extreme_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
