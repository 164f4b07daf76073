/* Grid density: a novel shape scores higher than the usual one, the first window has no opinion,
 * the result does not depend on the seed, and a corrupt state fails validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/grid.h"

#include <math.h>
#include <string.h>

static double usual_x(int i)
{
    return sin(i * 0.3) + 0.05 * (det_unit(det_mix64((uint64_t)i)) - 0.5);
}

static void test_novel_shape_scores_higher_than_usual_one(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_grid s;
    det_grid_init(&s, &p, 7);
    for (int i = 0; i < 2000; i++)
        det_grid_update(&s, &p, i * 1000LL, usual_x(i));
    double usual = 0;
    for (int i = 2000; i < 2010; i++)
        usual += det_grid_update(&s, &p, i * 1000LL, usual_x(i));
    usual /= 10;
    double novel = 0;
    for (int i = 0; i < 3; i++) /* far outside the usual range */
        novel = det_grid_update(&s, &p, (2010 + i) * 1000LL, 8.0);
    assert_true(novel > usual + 0.3);
    assert_true(novel <= 1.0 && usual >= 0.0);
}

static void test_first_window_has_no_opinion(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_grid s;
    det_grid_init(&s, &p, 1);
    for (uint32_t i = 0; i < p.hst_window; i++)
        assert_true(det_grid_update(&s, &p, i * 1000LL, usual_x((int)i)) < 0);
}

static void test_result_does_not_depend_on_the_seed(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_grid a, b;
    det_grid_init(&a, &p, 1);
    det_grid_init(&b, &p, 999);
    for (int i = 0; i < 1500; i++) {
        double x = usual_x(i) + (i % 97 == 0 ? 5.0 : 0.0);
        assert_true(det_grid_update(&a, &p, i * 1000LL, x) ==
                    det_grid_update(&b, &p, i * 1000LL, x));
    }
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_corrupt_state_fails_validation(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_grid s;
    det_grid_init(&s, &p, 1);
    assert_int_equal(det_grid_vt.validate(&s), 0);
    s.pos = DET_GRID_DIM;
    assert_int_equal(det_grid_vt.validate(&s), -1);
    det_grid_init(&s, &p, 1);
    s.sh[0] = 2.0f;
    assert_int_equal(det_grid_vt.validate(&s), -1);
    det_grid_init(&s, &p, 1);
    s.scale = NAN;
    assert_int_equal(det_grid_vt.validate(&s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_novel_shape_scores_higher_than_usual_one),
        cmocka_unit_test(test_first_window_has_no_opinion),
        cmocka_unit_test(test_result_does_not_depend_on_the_seed),
        cmocka_unit_test(test_corrupt_state_fails_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
