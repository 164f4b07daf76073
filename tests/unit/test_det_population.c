/* Population detector: the device that departs from its peers stands out, a fleet-wide change
 * does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/detector.h"
#include "detect/population.h"

#include <math.h>

#define N 9

static void test_device_off_its_peers_stands_out(void **st)
{
    (void)st;
    det_peer peers[N];
    for (int i = 0; i < N; i++)
        det_peer_init(&peers[i]);
    double x[N], z[N], scratch[N], dev[N];
    for (int t = 0; t < 100; t++) {
        for (int i = 0; i < N; i++)
            x[i] = 20.0 + 0.5 * (det_unit(det_mix64(t * N + i)) - 0.5);
        x[4] += 5.0; /* device 4 runs hot */
        assert_int_equal(det_peer_zscores(x, N, z, scratch), 0);
        for (int i = 0; i < N; i++)
            dev[i] = det_peer_update(&peers[i], z[i], 0.1);
    }
    for (int i = 0; i < N; i++)
        if (i != 4) assert_true(dev[i] < 3.0);
    assert_true(dev[4] > 10.0);
}

static void test_fleet_wide_shift_is_not_a_departure(void **st)
{
    (void)st;
    double x[N], z[N], scratch[N];
    for (int i = 0; i < N; i++)
        x[i] = 100.0 + i * 0.1;
    assert_int_equal(det_peer_zscores(x, N, z, scratch), 0);
    double before = fabs(z[0]);
    for (int i = 0; i < N; i++)
        x[i] += 50.0;
    assert_int_equal(det_peer_zscores(x, N, z, scratch), 0);
    assert_true(fabs(fabs(z[0]) - before) < 1e-6);
}

static void test_too_few_peers_is_refused(void **st)
{
    (void)st;
    double x[2] = {1, 2}, z[2], s[2];
    assert_int_equal(det_peer_zscores(x, 2, z, s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_off_its_peers_stands_out),
        cmocka_unit_test(test_fleet_wide_shift_is_not_a_departure),
        cmocka_unit_test(test_too_few_peers_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
