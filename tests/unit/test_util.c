/* Shared helpers: RFC 3339 parsing/formatting, UUIDv7, hex, constant-time compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/util.h"

#include <string.h>

static int64_t parse(const char *s)
{
    int64_t ms = -1;
    return util_parse_rfc3339(s, strlen(s), &ms) == 0 ? ms : -999;
}

static void test_rfc3339_round_trips_and_offsets(void **state)
{
    (void)state;
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2026-01-01T00:00:00Z"), 1767225600000LL);
    assert_int_equal(parse("2026-01-01T01:00:00+01:00"), 1767225600000LL);
    assert_int_equal(parse("2025-12-31T23:30:00-00:30"), 1767225600000LL);
    assert_int_equal(parse("2026-01-01T00:00:00.5Z"), 1767225600500LL);
    assert_int_equal(parse("2026-01-01 00:00:00.123Z"), 1767225600123LL);
    assert_int_equal(parse("2024-02-29T12:00:00Z"), 1709208000000LL);
    char out[32];
    util_rfc3339(1767225600123LL, out);
    assert_string_equal(out, "2026-01-01T00:00:00.123Z");
}

static void test_rfc3339_refuses_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "2026-01-01",
                         "2026-13-01T00:00:00Z",
                         "2026-01-01T24:00:00Z",
                         "2026-01-01T00:00:00",
                         "2026-01-01T00:00:00.Z",
                         "2026/01/01T00:00:00Z",
                         "2026-01-01T00:00:00+0100",
                         "2026-01-01T00:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i]), -999);
}

static void test_uuid7_is_valid_time_ordered_and_unique(void **state)
{
    (void)state;
    char a[37], b[37];
    util_uuid7(a);
    util_uuid7(b);
    assert_true(util_uuid_valid(a));
    assert_true(util_uuid_valid(b));
    assert_int_equal(a[14], '7');
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, b, 8) <= 0);
    assert_false(util_uuid_valid("not-a-uuid"));
    assert_false(util_uuid_valid("01A216FE-65DA-728B-AFA7-C653FEFA2042"));
}

static void test_hex_sha256_and_ct_equal(void **state)
{
    (void)state;
    char hex[65];
    util_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(util_ct_equal("abcd", "abcd", 4));
    assert_false(util_ct_equal("abcd", "abce", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_round_trips_and_offsets),
        cmocka_unit_test(test_rfc3339_refuses_malformed),
        cmocka_unit_test(test_uuid7_is_valid_time_ordered_and_unique),
        cmocka_unit_test(test_hex_sha256_and_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
