/* Bridge mode's parsers: the broker URL, the topic filter with its device-id level, and the
 * device id a bridged topic names. (The client itself is tested against a real Mosquitto in
 * tests/integration/test_bridge.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ingest/bridge.h"

#include <stdio.h>
#include <string.h>

static void test_url_schemes_default_ports_and_ipv6(void **state)
{
    (void)state;
    bridge_endpoint ep;
    char err[300];
    assert_int_equal(bridge_parse_url("mqtt://broker.example", &ep, err, sizeof err), 0);
    assert_string_equal(ep.host, "broker.example");
    assert_int_equal(ep.port, 1883);
    assert_false(ep.tls);
    assert_int_equal(bridge_parse_url("mqtts://broker.example", &ep, err, sizeof err), 0);
    assert_int_equal(ep.port, 8883);
    assert_true(ep.tls);
    assert_int_equal(bridge_parse_url("mqtt://10.0.0.5:11883/", &ep, err, sizeof err), 0);
    assert_string_equal(ep.host, "10.0.0.5");
    assert_int_equal(ep.port, 11883);
    assert_int_equal(bridge_parse_url("mqtts://[2001:db8::1]:8884", &ep, err, sizeof err), 0);
    assert_string_equal(ep.host, "2001:db8::1");
    assert_int_equal(ep.port, 8884);
    assert_int_equal(bridge_parse_url("mqtt://[::1]", &ep, err, sizeof err), 0);
    assert_string_equal(ep.host, "::1");
    assert_int_equal(ep.port, 1883);
}

static void test_bad_urls_are_refused_with_a_reason(void **state)
{
    (void)state;
    bridge_endpoint ep;
    char err[300];
    static const struct {
        const char *url, *says;
    } bad[] = {
        {"tcp://broker:1883", "mqtt://"},
        {"broker:1883", "mqtt://"},
        {"mqtt://", "bad host"},
        {"mqtt://:1883", "bad host"},
        {"mqtt://user:pw@broker", "bridge_password"},
        {"mqtt://broker:0", "bad port"},
        {"mqtt://broker:65536", "bad port"},
        {"mqtt://broker:12x", "bad port"},
        {"mqtt://broker/topic", "no path"},
        {"mqtt://[::1", "unclosed"},
        {"mqtt://[::1]x", "unexpected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(bridge_parse_url(bad[i].url, &ep, err, sizeof err), -1);
        if (!strstr(err, bad[i].says)) fail_msg("%s: '%s'", bad[i].url, err);
    }
}

static void test_filter_needs_one_whole_plus_level_and_no_hash(void **state)
{
    (void)state;
    char err[300];
    assert_int_equal(bridge_check_filter("devices/+/telemetry", err, sizeof err), 0);
    assert_int_equal(bridge_check_filter("+/up", err, sizeof err), 0);
    assert_int_equal(bridge_check_filter("site1/sensors/+", err, sizeof err), 0);
    assert_int_equal(bridge_check_filter("devices/telemetry", err, sizeof err), -1);
    assert_non_null(strstr(err, "exactly one '+'"));
    assert_int_equal(bridge_check_filter("+/+/telemetry", err, sizeof err), -1);
    assert_int_equal(bridge_check_filter("devices/+/#", err, sizeof err), -1);
    assert_non_null(strstr(err, "'#'"));
    assert_int_equal(bridge_check_filter("devices/dev+/telemetry", err, sizeof err), -1);
    assert_non_null(strstr(err, "whole level"));
    assert_int_equal(bridge_check_filter("$share/g/devices/+/telemetry", err, sizeof err), -1);
    assert_int_equal(bridge_check_filter("", err, sizeof err), -1);
}

static void test_topic_names_the_device_at_the_plus_level(void **state)
{
    (void)state;
    char id[40];
    const char *f = "devices/+/telemetry";
    const char *t = "devices/0190f2c4-7a31-7b2e-8f00-0123456789ab/telemetry";
    assert_int_equal(bridge_topic_device(f, t, strlen(t), id, sizeof id), 36);
    assert_string_equal(id, "0190f2c4-7a31-7b2e-8f00-0123456789ab");
    assert_int_equal(bridge_topic_device("+/up", "abc/up", 6, id, sizeof id), 3);
    assert_string_equal(id, "abc");
    assert_int_equal(bridge_topic_device("site/+", "site/x", 6, id, sizeof id), 1);
    /* not matching: other prefix or suffix, an empty or multi-level id, too long, a NUL */
    static const char *const no[] = {"devices/abc/status", "other/abc/telemetry",
                                     "devices//telemetry", "devices/a/b/telemetry",
                                     "devices/telemetry",  "devices/"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_int_equal(bridge_topic_device(f, no[i], strlen(no[i]), id, sizeof id), -1);
    char longer[200];
    snprintf(longer, sizeof longer, "devices/%0100d/telemetry", 7);
    assert_int_equal(bridge_topic_device(f, longer, strlen(longer), id, sizeof id), -1);
    static const char nul[] = "devices/a\0b/telemetry";
    assert_int_equal(bridge_topic_device(f, nul, sizeof nul - 1, id, sizeof id), -1);
    /* the topic is read by its length only: the bytes after it do not count */
    assert_int_equal(bridge_topic_device("+/up", "abc/upx", 6, id, sizeof id), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_schemes_default_ports_and_ipv6),
        cmocka_unit_test(test_bad_urls_are_refused_with_a_reason),
        cmocka_unit_test(test_filter_needs_one_whole_plus_level_and_no_hash),
        cmocka_unit_test(test_topic_names_the_device_at_the_plus_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
