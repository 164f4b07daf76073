/* Multivariate detector: a broken correlation between sensors raises the alarm, normal rows do
 * not, and the alarm clears when the device returns to normal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/mvar.h"

#include <math.h>
#include <stdlib.h>

static void row(int i, double *x, int broken)
{
    double a = det_unit(det_mix64(3 * i)) - 0.5, b = det_unit(det_mix64(3 * i + 1)) - 0.5;
    x[0] = 10 + a;
    x[1] = 20 + 2 * a + 0.05 * b; /* tightly follows x[0] */
    x[2] = 5 + b;
    if (broken) x[1] = 20 - 2 * a; /* each value within its usual range, the relation broken */
}

static void test_broken_correlation_alarms_and_normal_rows_do_not(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_mv_params mp;
    det_mv_params_from(&mp, &p, 400);
    det_mv *s = malloc(sizeof *s);
    assert_int_equal(det_mv_init(s, 3), 0);
    det_mv_out o;
    double x[3];
    int false_alarms = 0, hits = 0, after = 0;
    for (int i = 0; i < 1000; i++) {
        row(i, x, 0);
        det_mv_update(s, &mp, x, &o);
        if (i >= 400) false_alarms += o.alarm;
    }
    for (int i = 1000; i < 1100; i++) {
        row(i, x, 1);
        det_mv_update(s, &mp, x, &o);
        hits += o.alarm;
    }
    for (int i = 1100; i < 1300; i++) {
        row(i, x, 0);
        det_mv_update(s, &mp, x, &o);
        if (i >= 1200) after += o.alarm;
    }
    assert_true(false_alarms < 30);
    assert_true(hits > 80);
    assert_true(after < 10); /* cleared: at most a stray row or two of 100 */
    assert_true(o.contrib >= 0 && o.contrib < 3);
    free(s);
}

static void test_dimension_limits_are_enforced(void **st)
{
    (void)st;
    det_mv *s = malloc(sizeof *s);
    assert_int_equal(det_mv_init(s, 0), -1);
    assert_int_equal(det_mv_init(s, DET_MV_MAX_DIM + 1), -1);
    assert_int_equal(det_mv_init(s, DET_MV_MAX_DIM), 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broken_correlation_alarms_and_normal_rows_do_not),
        cmocka_unit_test(test_dimension_limits_are_enforced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
