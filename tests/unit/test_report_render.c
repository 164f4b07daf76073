/* Tests of the report document renderers and helpers (report/report_doc.c, report_pdf.c,
 * reports.c periods): CSV blocks and single sections with RFC 4180 quoting and formula
 * neutralisation, a PDF that cairo writes for a document with every chart kind and a long
 * table, parameter JSON round trip, and schedule periods on UTC day/week boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "report/report_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL

static cJSON *sample(void)
{
    report_params p;
    report_params_init(&p, REPORT_SECURITY, 1700000000000, 1700086400000);
    cJSON *doc = rdoc_new(&p, "Security report");
    rdoc_sum_int(doc, "auth_failures", 4);
    rdoc_sum_num(doc, "precision", NAN);
    rdoc_sum_bool(doc, "audit_chain_intact", false);
    static const char *const cols[] = {"kind", "events", NULL};
    cJSON *rows = rdoc_section(doc, "security_events", "Security events", "bar", cols);
    rdoc_row(rows, "si", "auth_failure", (int64_t)3);
    rdoc_row(rows, "si", "with, comma \"q\"", (int64_t)1);
    rdoc_row(rows, "si", "=cmd|' /C calc'!A0", (int64_t)0);
    static const char *const tcols[] = {"time", "points", "messages", NULL};
    rows = rdoc_section(doc, "volume", "Volume", "line", tcols);
    for (int i = 0; i < 100; i++)
        rdoc_row(rows, "sii", "2023-11-14T00:00:00Z", (int64_t)(i * i), (int64_t)i);
    static const char *const ecols[] = {"a", NULL};
    rdoc_section(doc, "empty", "Nothing here", NULL, ecols);
    return doc;
}

static void test_csv_has_summary_then_sections_with_quoting(void **state)
{
    (void)state;
    cJSON *doc = sample();
    size_t len;
    char *csv = report_render_csv(doc, NULL, &len);
    assert_non_null(csv);
    assert_int_equal(strlen(csv), len);
    assert_true(strncmp(csv, "section,key,value\r\nsummary,auth_failures,4\r\n", 44) == 0);
    assert_non_null(strstr(csv, "summary,precision,\r\n")); /* NaN -> empty */
    assert_non_null(strstr(csv, "summary,audit_chain_intact,false\r\n"));
    assert_non_null(strstr(csv, "\r\nsection,kind,events\r\nsecurity_events,auth_failure,3\r\n"));
    assert_non_null(strstr(csv, "security_events,\"with, comma \"\"q\"\"\",1\r\n"));
    /* a cell that a spreadsheet would run as a formula is quoted with a leading ' */
    assert_non_null(strstr(csv, "security_events,\"'=cmd|' /C calc'!A0\",0\r\n"));
    free(csv);
    csv = report_render_csv(doc, "volume", &len);
    assert_true(strncmp(csv, "time,points,messages\r\n2023-11-14T00:00:00Z,0,0\r\n", 48) == 0);
    free(csv);
    assert_null(report_render_csv(doc, "missing", &len));
    cJSON_Delete(doc);
}

static void test_pdf_is_written_with_several_pages(void **state)
{
    (void)state;
    cJSON *doc = sample();
    static const char *const cols[] = {"device", "n", NULL};
    cJSON *rows = rdoc_section(doc, "long", "Long table", "bar", cols);
    for (int i = 0; i < 200; i++)
        rdoc_row(rows, "si", "a device with a rather long name that will not fit", (int64_t)i);
    size_t len;
    unsigned char *pdf = report_render_pdf(doc, &len);
    assert_non_null(pdf);
    assert_true(len > 2000);
    assert_memory_equal(pdf, "%PDF-", 5);
    /* pages: count "/Type /Page" objects (not "/Pages") */
    int pages = 0;
    for (size_t i = 0; i + 11 < len; i++)
        if (memcmp(pdf + i, "/Type /Page", 11) == 0 && pdf[i + 11] != 's') pages++;
    assert_true(pages >= 2);
    free(pdf);
    cJSON_Delete(doc);
    report_pdf_shutdown();
}

static void test_params_round_trip_and_validation(void **state)
{
    (void)state;
    report_params p, q;
    report_params_init(&p, REPORT_PERFORMANCE, 10, 20);
    snprintf(p.device_type, sizeof p.device_type, "pump");
    p.flood_threshold = 7;
    cJSON *j = report_params_json(&p);
    assert_int_equal(report_params_from_json(j, &q), 0);
    assert_int_equal(q.kind, REPORT_PERFORMANCE);
    assert_int_equal(q.from_ms, 10);
    assert_int_equal(q.to_ms, 20);
    assert_string_equal(q.device_type, "pump");
    assert_int_equal(q.flood_threshold, 7);
    cJSON_ReplaceItemInObject(j, "to", cJSON_CreateNumber(5));
    assert_int_equal(report_params_from_json(j, &q), -1); /* to before from */
    cJSON_ReplaceItemInObject(j, "to", cJSON_CreateNumber(50));
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cJSON_ReplaceItemInObject(j, "group", cJSON_CreateString(longname));
    assert_int_equal(report_params_from_json(j, &q), -1);
    cJSON_ReplaceItemInObject(j, "group", cJSON_CreateString("g"));
    cJSON_ReplaceItemInObject(j, "kind", cJSON_CreateString("weather"));
    assert_int_equal(report_params_from_json(j, &q), -1);
    cJSON_Delete(j);
}

static void test_schedule_periods_are_utc_days_and_monday_weeks(void **state)
{
    (void)state;
    /* 2023-11-15T13:00:00Z is a Wednesday */
    int64_t wed = 1700053200000LL;
    int64_t from, to;
    reports_period("daily", wed, &from, &to);
    assert_int_equal(to, 1700006400000LL); /* 2023-11-15T00:00Z */
    assert_int_equal(to - from, DAY);
    assert_int_equal(reports_next_run("daily", wed), 1700092800000LL);
    reports_period("weekly", wed, &from, &to);
    assert_int_equal(to, 1699833600000LL); /* Monday 2023-11-13T00:00Z */
    assert_int_equal(to - from, 7 * DAY);
    assert_int_equal(reports_next_run("weekly", wed), 1699833600000LL + 7 * DAY);
    /* exactly on a boundary: the period just ended */
    reports_period("daily", 1700006400000LL, &from, &to);
    assert_int_equal(to, 1700006400000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_has_summary_then_sections_with_quoting),
        cmocka_unit_test(test_pdf_is_written_with_several_pages),
        cmocka_unit_test(test_params_round_trip_and_validation),
        cmocka_unit_test(test_schedule_periods_are_utc_days_and_monday_weeks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
