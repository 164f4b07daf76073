/* Tests of alert/ssrf: classification of loopback, private, link-local (cloud metadata),
 * CGNAT, multicast and unspecified addresses in IPv4, IPv6 and IPv4-mapped forms; public
 * addresses pass; the allow-list admits exactly its networks; malformed lists are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert/ssrf.h"

#include <string.h>

static const char *cls(const char *text)
{
    uint8_t a[16];
    assert_int_equal(alert_addr_parse(text, a), 0);
    return alert_addr_class(a);
}

static bool permitted(const alert_allow *allow, const char *text)
{
    uint8_t a[16];
    assert_int_equal(alert_addr_parse(text, a), 0);
    const char *why = NULL;
    return alert_addr_permitted(allow, a, &why);
}

static void test_non_public_addresses_are_classified(void **state)
{
    (void)state;
    assert_string_equal(cls("127.0.0.1"), "loopback");
    assert_string_equal(cls("127.255.1.2"), "loopback");
    assert_string_equal(cls("::1"), "loopback");
    assert_string_equal(cls("::ffff:127.0.0.1"), "loopback");
    assert_string_equal(cls("::127.0.0.1"), "loopback");
    assert_string_equal(cls("10.20.30.40"), "private");
    assert_string_equal(cls("172.16.0.1"), "private");
    assert_string_equal(cls("172.31.255.255"), "private");
    assert_string_equal(cls("192.168.1.1"), "private");
    assert_string_equal(cls("fd00:ec2::254"), "private");
    assert_string_equal(cls("169.254.169.254"), "link_local");
    assert_string_equal(cls("fe80::1"), "link_local");
    assert_string_equal(cls("100.64.0.1"), "cgnat");
    assert_string_equal(cls("0.0.0.0"), "unspecified");
    assert_string_equal(cls("::"), "unspecified");
    assert_string_equal(cls("224.0.0.1"), "multicast");
    assert_string_equal(cls("ff02::1"), "multicast");
    assert_string_equal(cls("255.255.255.255"), "reserved");
}

static void test_public_addresses_pass(void **state)
{
    (void)state;
    assert_null(cls("8.8.8.8"));
    assert_null(cls("172.32.0.1"));
    assert_null(cls("192.169.0.1"));
    assert_null(cls("2606:4700::1111"));
    assert_null(cls("::ffff:1.1.1.1"));
    assert_true(permitted(NULL, "93.184.216.34"));
}

static void test_allow_list_admits_exactly_its_networks(void **state)
{
    (void)state;
    alert_allow allow;
    memset(&allow, 0, sizeof allow);
    assert_int_equal(alert_allow_parse("127.0.0.1/32, 10.1.0.0/16 fd12::/16", &allow), 0);
    assert_int_equal((int)allow.n, 3);
    assert_true(permitted(&allow, "127.0.0.1"));
    assert_true(permitted(&allow, "::ffff:127.0.0.1"));
    assert_false(permitted(&allow, "127.0.0.2"));
    assert_true(permitted(&allow, "10.1.200.3"));
    assert_false(permitted(&allow, "10.2.0.1"));
    assert_true(permitted(&allow, "fd12:3456::1"));
    assert_false(permitted(&allow, "fd13::1"));
    assert_false(permitted(&allow, "169.254.169.254"));
    allow.allow_private = true;
    assert_true(permitted(&allow, "169.254.169.254"));
}

static void test_refusal_says_why(void **state)
{
    (void)state;
    uint8_t a[16];
    assert_int_equal(alert_addr_parse("169.254.169.254", a), 0);
    const char *why = NULL;
    assert_false(alert_addr_permitted(NULL, a, &why));
    assert_string_equal(why, "link_local");
}

static void test_malformed_allow_lists_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"10.0.0.0/33", "nonsense", "1.2.3.4/",
                         "1.2.3.4/-1",  "::1/129",  "1.2.3.4/8x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        alert_allow allow;
        memset(&allow, 0, sizeof allow);
        assert_int_equal(alert_allow_parse(bad[i], &allow), -1);
    }
    alert_allow allow;
    memset(&allow, 0, sizeof allow);
    assert_int_equal(alert_allow_parse("", &allow), 0);
    assert_int_equal(alert_allow_parse(NULL, &allow), 0);
    assert_int_equal((int)allow.n, 0);
    uint8_t a[16];
    assert_int_equal(alert_addr_parse("localhost", a), -1);
    assert_int_equal(alert_addr_parse("1.2.3", a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_public_addresses_are_classified),
        cmocka_unit_test(test_public_addresses_pass),
        cmocka_unit_test(test_allow_list_admits_exactly_its_networks),
        cmocka_unit_test(test_refusal_says_why),
        cmocka_unit_test(test_malformed_allow_lists_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
