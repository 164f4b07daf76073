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
    return alert_addr_permitted(allow, NULL, a, &why);
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

/* Issue 14 item 4: every special-purpose range of the IANA registries, and the IPv6 forms that
 * carry a non-public IPv4 address, are refused. One row per range. */
static void test_special_purpose_ranges_are_refused(void **state)
{
    (void)state;
    static const char *const table[][2] = {
        {"192.0.2.1", "documentation"},
        {"192.0.2.255", "documentation"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.200", "documentation"},
        {"192.88.99.1", "reserved"},
        {"192.0.0.8", "reserved"},
        {"192.31.196.1", "reserved"},
        {"192.52.193.1", "reserved"},
        {"192.175.48.1", "reserved"},
        {"198.18.0.1", "benchmark"},
        {"198.19.255.254", "benchmark"},
        {"240.0.0.1", "reserved"},
        {"100::1", "discard"},
        {"100::ffff:ffff:ffff:ffff", "discard"},
        {"2001:db8::1", "documentation"},
        {"3fff::1", "documentation"},
        {"2001:2::1", "reserved"},
        {"2001:10::1", "reserved"},
        {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"}, /* Teredo */
        {"64:ff9b:1::a00:1", "nat64"},
        {"fec0::1", "private"},
        {"5f00::1", "reserved"},
        {"2620:4f:8000::1", "reserved"},
        /* IPv4 hidden in IPv6 forms */
        {"::ffff:10.0.0.1", "private"},
        {"::ffff:192.0.2.1", "documentation"},
        {"::ffff:169.254.169.254", "link_local"},
        {"::10.0.0.1", "private"},
        {"::ffff:0:127.0.0.1", "reserved"},
        {"::ffff:0:8.8.8.8", "reserved"},
        {"64:ff9b::127.0.0.1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "link_local"},
        {"64:ff9b::192.168.1.1", "private"},
        {"2002:7f00:1::", "loopback"},
        {"2002:a00:1::1", "private"},
        {"2002:c0a8:101::1", "private"},
        {"2002:a9fe:a9fe::", "link_local"},
        {"2002:c000:201::1", "documentation"},
        {"2002::1", "unspecified"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *got = cls(table[i][0]);
        if (!got || strcmp(got, table[i][1]) != 0)
            fail_msg("%s: expected %s, got %s", table[i][0], table[i][1], got ? got : "public");
    }
    /* public IPv4 behind NAT64 or 6to4 stays reachable */
    assert_null(cls("64:ff9b::8.8.8.8"));
    assert_null(cls("2002:808:808::1"));
    assert_null(cls("192.0.3.1"));
    assert_null(cls("203.0.114.1"));
}

static void test_own_interface_addresses_are_refused(void **state)
{
    (void)state;
    alert_own own;
    assert_int_equal(alert_own_load(&own), 0);
    uint8_t lo[16];
    assert_int_equal(alert_addr_parse("127.0.0.1", lo), 0);
    bool has_lo = false;
    for (size_t i = 0; i < own.n; i++)
        has_lo |= memcmp(own.addr[i], lo, 16) == 0;
    assert_true(has_lo);
    /* a public address the host holds is refused, as is its IPv4-mapped form */
    memset(&own, 0, sizeof own);
    assert_int_equal(alert_addr_parse("93.184.216.34", own.addr[0]), 0);
    assert_int_equal(alert_addr_parse("2606:2800:220:1::1", own.addr[1]), 0);
    own.n = 2;
    uint8_t a[16];
    const char *why = NULL;
    assert_int_equal(alert_addr_parse("::ffff:93.184.216.34", a), 0);
    assert_false(alert_addr_permitted(NULL, &own, a, &why));
    assert_string_equal(why, "own_address");
    assert_int_equal(alert_addr_parse("2606:2800:220:1::1", a), 0);
    assert_string_equal(alert_dest_class(&own, a), "own_address");
    assert_int_equal(alert_addr_parse("93.184.216.35", a), 0);
    assert_true(alert_addr_permitted(NULL, &own, a, &why));
    /* the explicit allow-list admits an own address too */
    alert_allow allow;
    memset(&allow, 0, sizeof allow);
    assert_int_equal(alert_allow_parse("93.184.216.34/32", &allow), 0);
    assert_int_equal(alert_addr_parse("93.184.216.34", a), 0);
    assert_true(alert_addr_permitted(&allow, &own, a, &why));
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
    assert_false(alert_addr_permitted(NULL, NULL, a, &why));
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
        cmocka_unit_test(test_special_purpose_ranges_are_refused),
        cmocka_unit_test(test_own_interface_addresses_are_refused),
        cmocka_unit_test(test_public_addresses_pass),
        cmocka_unit_test(test_allow_list_admits_exactly_its_networks),
        cmocka_unit_test(test_refusal_says_why),
        cmocka_unit_test(test_malformed_allow_lists_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
