/* The string-keyed hash map: insert, replace, remove with tombstones, growth, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/hmap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void test_put_get_replace_remove(void **state)
{
    (void)state;
    hmap *m = hmap_new();
    int a = 1, b = 2, ok;
    assert_null(hmap_put(m, "k", &a, &ok));
    assert_true(ok);
    assert_ptr_equal(hmap_get(m, "k"), &a);
    assert_ptr_equal(hmap_put(m, "k", &b, &ok), &a);
    assert_ptr_equal(hmap_get(m, "k"), &b);
    assert_int_equal(hmap_size(m), 1);
    assert_ptr_equal(hmap_remove(m, "k"), &b);
    assert_null(hmap_get(m, "k"));
    assert_null(hmap_remove(m, "k"));
    assert_int_equal(hmap_size(m), 0);
    hmap_free(m, NULL);
}

static void test_many_keys_with_churn_stay_findable(void **state)
{
    (void)state;
    hmap *m = hmap_new();
    char key[32];
    for (intptr_t round = 0; round < 3; round++) {
        for (intptr_t i = 0; i < 20000; i++) {
            snprintf(key, sizeof key, "dev-%ld", (long)i);
            hmap_put(m, key, (void *)(i + 1), NULL);
        }
        for (intptr_t i = 0; i < 20000; i += 2) {
            snprintf(key, sizeof key, "dev-%ld", (long)i);
            assert_ptr_equal(hmap_remove(m, key), (void *)(i + 1));
        }
        assert_int_equal(hmap_size(m), 10000);
        for (intptr_t i = 1; i < 20000; i += 2) {
            snprintf(key, sizeof key, "dev-%ld", (long)i);
            assert_ptr_equal(hmap_get(m, key), (void *)(i + 1));
        }
    }
    size_t it = 0, seen = 0;
    const char *k;
    void *v;
    while (hmap_next(m, &it, &k, &v))
        seen++;
    assert_int_equal(seen, 10000);
    hmap_free(m, NULL);
}

static void test_free_releases_values(void **state)
{
    (void)state;
    hmap *m = hmap_new();
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        hmap_put(m, key, malloc(8), NULL);
    }
    hmap_free(m, free); /* ASan's leak check fails the test if any value is lost */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_remove),
        cmocka_unit_test(test_many_keys_with_churn_stay_findable),
        cmocka_unit_test(test_free_releases_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
