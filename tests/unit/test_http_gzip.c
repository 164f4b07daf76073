/* gzip of response bodies: the output is a gzip stream that inflates back to the input;
 * incompressible or tiny input is refused (sent as it is). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "http/http_gzip.h"

static void test_gzip_round_trips_json(void **state)
{
    (void)state;
    size_t len = 0, cap = 1 << 20;
    char *json = malloc(cap);
    assert_non_null(json);
    len += (size_t)snprintf(json, cap, "{\"items\":[");
    for (int i = 0; i < 5000 && len < cap - 200; i++)
        len +=
            (size_t)snprintf(json + len, cap - len,
                             "%s{\"id\":\"01a23ae9-7c10-7aaa-8000-%012d\",\"name\":\"fleet-%05d\","
                             "\"status\":\"online\"}",
                             i ? "," : "", i, i);
    len += (size_t)snprintf(json + len, cap - len, "]}");
    size_t zlen = 0;
    unsigned char *z = http_gzip(json, len, 4, &zlen);
    assert_non_null(z);
    assert_true(zlen < len / 5);
    assert_int_equal(z[0], 0x1f); /* gzip magic */
    assert_int_equal(z[1], 0x8b);
    z_stream s = {0};
    assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
    char *back = malloc(len + 1);
    s.next_in = z;
    s.avail_in = (uInt)zlen;
    s.next_out = (Bytef *)back;
    s.avail_out = (uInt)len + 1;
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, len);
    assert_memory_equal(back, json, len);
    inflateEnd(&s);
    free(back);
    free(z);
    free(json);
}

static void test_gzip_refuses_what_does_not_shrink(void **state)
{
    (void)state;
    unsigned char noise[256];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof noise; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (unsigned char)x;
    }
    size_t zlen = 12345;
    assert_null(http_gzip(noise, sizeof noise, 4, &zlen));
    assert_int_equal(zlen, 12345);
    assert_null(http_gzip("{}", 2, 4, &zlen));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_round_trips_json),
        cmocka_unit_test(test_gzip_refuses_what_does_not_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
