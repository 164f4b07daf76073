/* Population detector: the device that departs from its peers stands out, a fleet-wide change
 * does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/detector.h"
#include "detect/population.h"

#include <math.h>
#include <string.h>

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
        assert_int_equal(det_peer_zscores(x, N, 0, z, scratch), 0);
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
    assert_int_equal(det_peer_zscores(x, N, 0, z, scratch), 0);
    double before = fabs(z[0]);
    for (int i = 0; i < N; i++)
        x[i] += 50.0;
    assert_int_equal(det_peer_zscores(x, N, 0, z, scratch), 0);
    assert_true(fabs(fabs(z[0]) - before) < 1e-6);
}

static void test_too_few_peers_is_refused(void **st)
{
    (void)st;
    double x[2] = {1, 2}, z[2], s[2];
    assert_int_equal(det_peer_zscores(x, 2, 0, z, s), -1);
}

/* Six devices of one type, one bucket every 5 minutes for three days: a shared daily swing
 * (weather), a fixed offset per device, noise. */
#define DEVS 6
#define BUCKET_MS 300000LL
#define BUCKETS (3 * 288)

static double fleet_value(int dev, int t)
{
    double day = 2 * M_PI * t / 288.0;
    double noise = 0.4 * (det_unit(det_mix64((uint64_t)t * DEVS + (uint64_t)dev)) - 0.5);
    return 21.0 + 3.0 * sin(day) + 0.3 * (dev - 2.5) + noise;
}

/* Runs the drift chart over the fleet; ramp[dev] is added over the last `ramp_buckets`;
   returns each device's largest |z| before the ramp and at the end. */
static void run_drift(const double *ramp, int ramp_buckets, int gap_dev, double *before,
                      double *end)
{
    det_peer_params pp;
    det_peer_params_default(&pp);
    det_peer_track tr[DEVS];
    for (int i = 0; i < DEVS; i++) {
        det_peer_track_init(&tr[i]);
        before[i] = end[i] = 0;
    }
    double x[DEVS], scratch[DEVS];
    int64_t t0 = 1700000000000LL;
    for (int t = 0; t < BUCKETS; t++) {
        int into = t - (BUCKETS - ramp_buckets);
        for (int i = 0; i < DEVS; i++)
            x[i] = fleet_value(i, t) + (into > 0 ? ramp[i] * into / ramp_buckets : 0);
        double med = det_peer_median(x, DEVS, scratch);
        for (int i = 0; i < DEVS; i++) {
            if (i == gap_dev && t >= 400 && t < 472) continue; /* six hours without data */
            double z =
                det_peer_track_update(&tr[i], &pp, t0 + t * BUCKET_MS, x[i], med, 0.005 * 21);
            if (into <= 0 && fabs(z) > before[i]) before[i] = fabs(z);
            if (t == BUCKETS - 1) end[i] = z;
        }
    }
}

static void test_a_slow_drift_against_steady_peers_is_flagged(void **st)
{
    (void)st;
    double ramp[DEVS] = {0, 0, 0, 5.0, 0, 0}, before[DEVS], end[DEVS];
    run_drift(ramp, 84, -1, before, end); /* +5 degrees over the last 7 hours */
    for (int i = 0; i < DEVS; i++)
        assert_true(before[i] < 4.0);
    assert_true(end[3] > 8.0);
    for (int i = 0; i < DEVS; i++)
        if (i != 3) assert_true(fabs(end[i]) < 4.0);
}

static void test_a_fleet_wide_drift_is_not_a_device_drift(void **st)
{
    (void)st;
    double ramp[DEVS] = {5, 5, 5, 5, 5, 5}, before[DEVS], end[DEVS];
    run_drift(ramp, 84, -1, before, end);
    for (int i = 0; i < DEVS; i++)
        assert_true(fabs(end[i]) < 4.0);
}

static void test_a_gap_in_a_devices_data_is_neither_an_alarm_nor_a_reset(void **st)
{
    (void)st;
    double ramp[DEVS] = {0}, before[DEVS], end[DEVS];
    run_drift(ramp, 1, 2, before, end);
    assert_true(before[2] < 4.0 && fabs(end[2]) < 4.0);
}

static void test_the_track_learns_per_unit_of_data_time(void **st)
{
    (void)st;
    /* the same hour of data in 12 buckets or in 60 gives the same recent offset */
    det_peer_params pp;
    det_peer_params_default(&pp);
    det_peer_track a, b;
    det_peer_track_init(&a);
    det_peer_track_init(&b);
    for (int t = 0; t <= 12 * 24; t++)
        det_peer_track_update(&a, &pp, t * 300000LL, t < 12 * 23 ? 0 : 1, 0, 0.01);
    for (int t = 0; t <= 60 * 24; t++)
        det_peer_track_update(&b, &pp, t * 60000LL, t < 60 * 23 ? 0 : 1, 0, 0.01);
    assert_true(fabs(a.fast - b.fast) < 0.05);
    assert_true(fabs(a.slow - b.slow) < 0.01);
    /* an older bucket is ignored */
    det_peer_track c = a;
    assert_true(det_peer_track_update(&a, &pp, 5 * 300000LL, 100, 0, 0.01) == 0);
    assert_memory_equal(&a, &c, sizeof a);
}

static void test_a_device_far_from_all_its_peers_is_isolated_but_a_pair_is_not(void **st)
{
    (void)st;
    double z[6], s[6];
    /* a meter 45 % above five peers that agree within a few percent */
    double lone[6] = {0.0, 0.02, -0.03, 0.01, -0.01, 0.45};
    assert_int_equal(det_peer_isolation(lone, 6, 0.05, z, s), 0);
    assert_true(z[5] > 8.0);
    for (int i = 0; i < 5; i++)
        assert_true(fabs(z[i]) < 1.0);
    /* two devices on another site's mains voltage: far from the others, not from each other */
    double pair[6] = {230, 231, 229, 230.5, 120, 121};
    assert_int_equal(det_peer_isolation(pair, 6, 0.05 * 230, z, s), 0);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(z[i]) < 1.0);
    /* a small difference between tight peers stays below the relative floor */
    double tight[4] = {20.0, 20.01, 19.99, 20.3};
    assert_int_equal(det_peer_isolation(tight, 4, 0.05 * 20, z, s), 0);
    assert_true(fabs(z[3]) < 1.0);
    assert_int_equal(det_peer_isolation(tight, 2, 1, z, s), -1);
}

static void test_a_drift_shared_by_many_peers_does_not_stand_out(void **st)
{
    (void)st;
    double s[6];
    /* a site's office hours: three of six devices move together */
    double many[6] = {9.0, 10.0, 9.5, 0.2, -0.3, 0.1};
    det_peer_drift_normalize(many, 6, s);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(many[i]) < 3.0);
    /* one sensor drifting alone keeps its z */
    double one[6] = {12.0, 0.5, -0.4, 0.2, -0.3, 0.1};
    det_peer_drift_normalize(one, 6, s);
    assert_true(one[0] > 10.0);
    double two[2] = {12.0, 0};
    det_peer_drift_normalize(two, 2, s);
    assert_true(two[0] == 12.0);
}

static void test_peers_that_mostly_agree_exactly_are_compared_with_a_floor(void **st)
{
    (void)st;
    /* doors: all closed but one open for this bucket; MAD 0 would make its z ~1e9 */
    double x[6] = {0, 0, 0, 0, 0, 1}, z[6], s[6];
    assert_int_equal(det_peer_zscores(x, 6, 0.2, z, s), 0);
    assert_true(fabs(z[5] - 5.0) < 1e-9);
    assert_int_equal(det_peer_zscores(x, 6, 0, z, s), 0);
    assert_true(z[5] > 1e6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_off_its_peers_stands_out),
        cmocka_unit_test(test_fleet_wide_shift_is_not_a_departure),
        cmocka_unit_test(test_too_few_peers_is_refused),
        cmocka_unit_test(test_a_slow_drift_against_steady_peers_is_flagged),
        cmocka_unit_test(test_a_fleet_wide_drift_is_not_a_device_drift),
        cmocka_unit_test(test_a_gap_in_a_devices_data_is_neither_an_alarm_nor_a_reset),
        cmocka_unit_test(test_the_track_learns_per_unit_of_data_time),
        cmocka_unit_test(test_a_device_far_from_all_its_peers_is_isolated_but_a_pair_is_not),
        cmocka_unit_test(test_a_drift_shared_by_many_peers_does_not_stand_out),
        cmocka_unit_test(test_peers_that_mostly_agree_exactly_are_compared_with_a_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
