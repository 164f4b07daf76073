/* Online AR forecaster: predicts a smooth signal, is surprised by a break in it, stays finite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/forecast.h"

#include <math.h>

static void test_sine_is_predicted_and_a_jump_is_surprising(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_ar s;
    det_ar_init(&s, &p, 0);
    double zmax = 0;
    int i = 0;
    for (; i < 3000; i++) {
        double x = 10.0 * sin(i * 0.05) + 0.05 * (det_unit(det_mix64(i)) - 0.5);
        double z = det_ar_update(&s, &p, i * 1000LL, x);
        if (i > 1000 && z > zmax) zmax = z;
    }
    assert_true(zmax < 6.0);
    double z = det_ar_update(&s, &p, i * 1000LL, 10.0 * sin(i * 0.05) + 5.0);
    assert_true(z > 5.0 && z > 3.0 * zmax);
}

static void test_constant_input_does_not_blow_up(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_ar s;
    det_ar_init(&s, &p, 0);
    double z = 0;
    for (int i = 0; i < 100000; i++)
        z = det_ar_update(&s, &p, i, 42.0);
    assert_true(isfinite(z));
    assert_int_equal(det_ar_vt.validate(&s), 0);
    z = det_ar_update(&s, &p, 100001, 43.0);
    assert_true(isfinite(z) && z > 5.0);
}

static void test_warmup_has_no_opinion(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_ar s;
    det_ar_init(&s, &p, 0);
    assert_true(det_ar_update(&s, &p, 0, 1.0) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sine_is_predicted_and_a_jump_is_surprising),
        cmocka_unit_test(test_constant_input_does_not_blow_up),
        cmocka_unit_test(test_warmup_has_no_opinion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
