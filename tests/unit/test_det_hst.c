/* Half-space trees: a novel shape scores higher than the usual one; same seed, same scores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "detect/hst.h"

#include <math.h>
#include <string.h>

static double feed_normal(det_hst *s, const det_params *p, int n)
{
    double last = 0;
    for (int i = 0; i < n; i++)
        last =
            det_hst_update(s, p, i * 1000LL, sin(i * 0.3) + 0.05 * (det_unit(det_mix64(i)) - 0.5));
    return last;
}

static void test_novel_region_scores_higher_than_usual_one(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_hst s;
    det_hst_init(&s, &p, 7);
    feed_normal(&s, &p, 2000);
    double usual = 0;
    for (int i = 2000; i < 2010; i++)
        usual += det_hst_update(&s, &p, i * 1000LL, sin(i * 0.3));
    usual /= 10;
    double novel = 0;
    for (int i = 0; i < 4; i++)
        novel = det_hst_update(&s, &p, (2010 + i) * 1000LL, 8.0);
    assert_true(novel > usual + 0.3);
    assert_true(novel <= 1.0 && usual >= 0.0);
}

static void test_same_seed_gives_identical_state(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_hst a, b;
    det_hst_init(&a, &p, 99);
    det_hst_init(&b, &p, 99);
    feed_normal(&a, &p, 700);
    feed_normal(&b, &p, 700);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(det_hst_vt.validate(&a), 0);
}

static void test_first_window_has_no_opinion(void **st)
{
    (void)st;
    det_params p;
    det_params_default(&p);
    det_hst s;
    det_hst_init(&s, &p, 1);
    assert_true(feed_normal(&s, &p, 100) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_novel_region_scores_higher_than_usual_one),
        cmocka_unit_test(test_same_seed_gives_identical_state),
        cmocka_unit_test(test_first_window_has_no_opinion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
