/* Tests of the alerts module's pure parts: the "{name}" template renderer (escaping, literal
 * braces, unknown names, malformed input, bounded output), fitting text into one SMS, the
 * message texts built from a payload, the webhook signature (known HMAC-SHA256 vector), the
 * retry backoff and the incident status machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert/alert_util.h"
#include "alert/channel.h"
#include "alert/template.h"

#include <stdlib.h>
#include <string.h>

static const char *vars(void *arg, const char *name, size_t len)
{
    (void)arg;
    if (len == 2 && !memcmp(name, "to", 2)) return "+49 151&x=1";
    if (len == 4 && !memcmp(name, "body", 4)) return "say \"hi\"\n";
    return NULL;
}

static int render(const char *t, alert_escape esc, char *out, size_t cap)
{
    return alert_template_render(t, strlen(t), vars, NULL, esc, out, cap);
}

static void test_template_substitutes_and_escapes_per_content_type(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(render("To={to}", ALERT_ESC_FORM, out, sizeof out), 20);
    assert_string_equal(out, "To=%2B49+151%26x%3D1");
    render("{{\"text\":\"{body}\"}}", ALERT_ESC_JSON, out, sizeof out);
    assert_string_equal(out, "{\"text\":\"say \\\"hi\\\"\\u000a\"}");
    render("{to}", ALERT_ESC_NONE, out, sizeof out);
    assert_string_equal(out, "+49 151&x=1");
}

static void test_template_refuses_unknown_and_malformed_placeholders(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(render("{nope}", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_EUNKNOWN);
    assert_int_equal(render("{to", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_ESYNTAX);
    assert_int_equal(render("{}", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_ESYNTAX);
    assert_int_equal(render("a}b", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_ESYNTAX);
    assert_int_equal(render("{TO}", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_ESYNTAX);
    /* found by fuzz_alert_template: an embedded NUL made the output length disagree */
    assert_int_equal(alert_template_render("a\0b", 3, vars, NULL, ALERT_ESC_NONE, out, sizeof out),
                     ALERT_TPL_ESYNTAX);
}

static void test_template_output_is_bounded_and_terminated(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'z', sizeof out);
    assert_int_equal(render("{to}{to}", ALERT_ESC_NONE, out, sizeof out), ALERT_TPL_ETOOLONG);
    assert_non_null(memchr(out, '\0', sizeof out));
    assert_int_equal(alert_template_render("abc", 3, vars, NULL, ALERT_ESC_NONE, out, 0),
                     ALERT_TPL_ETOOLONG);
}

static void test_sms_fit_keeps_one_message_of_printable_ascii(void **state)
{
    (void)state;
    char out[161];
    assert_int_equal(alert_sms_fit("  hello   world\n", out, 160), 11);
    assert_string_equal(out, "hello world");
    alert_sms_fit("temp \xc2\xb0"
                  "C",
                  out, 160);
    assert_string_equal(out, "temp ?C");
    char longer[400];
    memset(longer, 0, sizeof longer);
    for (int i = 0; i < 60; i++)
        strcat(longer, "word ");
    size_t n = alert_sms_fit(longer, out, 160);
    assert_true(n <= 160);
    assert_int_equal(strlen(out), n);
    assert_string_equal(out + n - 3, "...");
    assert_true(out[n - 4] == 'd'); /* cut at a word boundary */
}

static void test_signature_is_hmac_sha256_of_timestamp_and_body(void **state)
{
    (void)state;
    char sig[65];
    /* echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key */
    alert_sign("key", 1700000000, "{\"a\":1}", 7, sig);
    assert_int_equal(strlen(sig), 64);
    char again[65];
    alert_sign("key", 1700000000, "{\"a\":1}", 7, again);
    assert_string_equal(sig, again);
    alert_sign("key", 1700000001, "{\"a\":1}", 7, again);
    assert_string_not_equal(sig, again);
    alert_sign("other", 1700000000, "{\"a\":1}", 7, again);
    assert_string_not_equal(sig, again);
    assert_string_equal(sig, "a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03");
}

static void test_backoff_doubles_with_jitter_up_to_the_cap(void **state)
{
    (void)state;
    for (uint32_t r = 0; r < 1000; r += 37) {
        int64_t d1 = alert_backoff_ms(1, 1000, 60000, r);
        int64_t d3 = alert_backoff_ms(3, 1000, 60000, r);
        int64_t d20 = alert_backoff_ms(20, 1000, 60000, r);
        assert_true(d1 >= 500 && d1 <= 1000);
        assert_true(d3 >= 2000 && d3 <= 4000);
        assert_true(d20 >= 30000 && d20 <= 60000);
    }
    assert_true(alert_backoff_ms(2, 1000, 60000, 1) != alert_backoff_ms(2, 1000, 60000, 400));
}

static void test_incident_transitions_follow_the_workflow(void **state)
{
    (void)state;
    assert_true(incident_transition_ok("new", "investigating"));
    assert_true(incident_transition_ok("investigating", "resolved"));
    assert_true(incident_transition_ok("resolved", "investigating"));
    assert_false(incident_transition_ok("new", "resolved"));
    assert_false(incident_transition_ok("investigating", "new"));
    assert_false(incident_transition_ok("resolved", "new"));
    assert_false(incident_transition_ok("new", "new"));
    assert_false(incident_transition_ok("resolved", "resolved"));
    assert_false(incident_transition_ok("new", "closed"));
    assert_false(incident_transition_ok(NULL, "new"));
}

static void test_severity_rank_orders_levels(void **state)
{
    (void)state;
    assert_true(alert_severity_rank("critical") > alert_severity_rank("warning"));
    assert_true(alert_severity_rank("warning") > alert_severity_rank("info"));
    assert_int_equal(alert_severity_rank("info"), 1);
    assert_int_equal(alert_severity_rank("bogus"), 0);
    assert_int_equal(alert_severity_rank(NULL), 0);
}

static const char payload[] =
    "{\"id\":\"a1\",\"kind\":\"anomaly\",\"severity\":\"critical\",\"count\":1,"
    "\"device\":{\"id\":\"d1\",\"name\":\"boiler <1>\",\"type\":\"boiler\"},"
    "\"anomaly\":{\"id\":\"x\",\"metric\":\"temp\",\"severity\":\"critical\","
    "\"description\":\"temp = 35.5 above 30\",\"detected_at\":\"2026-01-01T00:00:00.000Z\","
    "\"details\":{\"value\":35.5,\"expected_lo\":18,\"expected_hi\":24,\"source\":\"detectors\","
    "\"detectors\":[{\"name\":\"robust_z\",\"score\":0.99}],\"score\":0.97}},"
    "\"url\":\"http://dash/anomalies?id=x\"}";

static void test_messages_explain_the_anomaly_and_link_to_it(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse(payload);
    assert_non_null(p);
    char *subject = alert_msg_subject(p), *text = alert_msg_text(p), *html = alert_msg_html(p);
    assert_non_null(strstr(subject, "CRITICAL"));
    assert_non_null(strstr(subject, "boiler <1>"));
    assert_non_null(strstr(text, "Measured value: 35.5"));
    assert_non_null(strstr(text, "Expected range: 18 .. 24"));
    assert_non_null(strstr(text, "robust_z"));
    assert_non_null(strstr(text, "http://dash/anomalies?id=x"));
    assert_non_null(strstr(html, "boiler &lt;1&gt;"));
    assert_null(strstr(html, "boiler <1>"));
    char sms[161];
    alert_msg_sms(p, sms, 160);
    assert_true(strlen(sms) <= 160);
    assert_non_null(strstr(sms, "CRITICAL"));
    assert_non_null(strstr(sms, "http://dash/anomalies?id=x"));
    free(subject);
    free(text);
    free(html);
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_substitutes_and_escapes_per_content_type),
        cmocka_unit_test(test_template_refuses_unknown_and_malformed_placeholders),
        cmocka_unit_test(test_template_output_is_bounded_and_terminated),
        cmocka_unit_test(test_sms_fit_keeps_one_message_of_printable_ascii),
        cmocka_unit_test(test_signature_is_hmac_sha256_of_timestamp_and_body),
        cmocka_unit_test(test_backoff_doubles_with_jitter_up_to_the_cap),
        cmocka_unit_test(test_incident_transitions_follow_the_workflow),
        cmocka_unit_test(test_severity_rank_orders_levels),
        cmocka_unit_test(test_messages_explain_the_anomaly_and_link_to_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
