/* Tests of auth/keyfile: generate/save/load round trip with mode 0600, refusal of files
 * readable by others and of malformed files (each with a message), rotation ids, the lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/keyfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/iotad-keyfile-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/iotad.keys", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void test_generated_keys_save_and_load_back(void **state)
{
    (void)state;
    iotad_keys k, back;
    char err[512];
    assert_int_equal(keys_load(path, &back, err, sizeof err), -1); /* missing */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(keys_generate(&k), 0);
    assert_int_equal(k.n_secret, 1);
    assert_string_equal(k.secret[0].id, "1");
    assert_int_equal(keys_save(path, &k, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(keys_load(path, &back, err, sizeof err), 0);
    assert_memory_equal(&k, &back, sizeof k);
    uint8_t p1[32], p2[32];
    assert_int_equal(keys_sign_public(&k, p1), 0);
    assert_int_equal(keys_sign_public(&back, p2), 0);
    assert_memory_equal(p1, p2, 32);
    /* rotation adds "2", which becomes the sealing key */
    assert_int_equal(keys_add_secret(&k), 0);
    assert_string_equal(k.secret[1].id, "2");
    assert_non_null(keys_find_secret(&k, "1"));
    assert_null(keys_find_secret(&k, "3"));
    assert_int_equal(keys_save(path, &k, err, sizeof err), 0);
    assert_int_equal(keys_load(path, &back, err, sizeof err), 0);
    assert_int_equal(back.n_secret, 2);
    assert_string_equal(back.secret[1].id, "2");
}

static void test_file_readable_by_others_is_refused(void **state)
{
    (void)state;
    iotad_keys k;
    char err[512];
    assert_int_equal(keys_generate(&k), 0);
    assert_int_equal(keys_save(path, &k, err, sizeof err), 0);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(keys_load(path, &k, err, sizeof err), -2);
    assert_non_null(strstr(err, "0600"));
    assert_int_equal(chmod(path, 0400), 0); /* read-only for the owner is fine */
    assert_int_equal(keys_load(path, &k, err, sizeof err), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

/* a FIFO (or a device) named as the key file is refused at once, not waited on */
static void test_a_fifo_or_device_is_refused_without_blocking(void **state)
{
    (void)state;
    iotad_keys k;
    char err[512];
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(keys_load(path, &k, err, sizeof err), -2);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(keys_load("/dev/zero", &k, err, sizeof err), -2);
    assert_non_null(strstr(err, "not a regular file"));
}

static void test_malformed_files_are_refused_with_a_reason(void **state)
{
    (void)state;
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    char good[512];
    snprintf(good, sizeof good, "audit_mac = %s\naudit_sign = %s\nsecret.1 = %s\n", hex, hex, hex);
    iotad_keys k;
    char err[512];
    assert_int_equal(keys_parse(good, strlen(good), "t", &k, err, sizeof err), 0);
    const char *bad[] = {
        "",
        "audit_mac = aa\n",
        "garbage\n",
        "audit_mac = %s\n",
        "audit_mac = %s\naudit_sign = %s\n",                               /* no secret key */
        "audit_mac = %s\naudit_sign = %s\nsecret.1 = %s\nsecret.1 = %s\n", /* duplicate id */
        "audit_mac = %s\naudit_sign = %s\nsecret.A = %s\n",                /* bad id */
        "audit_mac = %s\naudit_sign = %s\nsecret. = %s\n",
        "audit_mac = %s\naudit_sign = %s\nsecret.1 = %sx\n",
        "audit_mac = %s\naudit_sign = %s\nother = %s\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, bad[i], hex, hex, hex, hex);
        err[0] = '\0';
        assert_int_equal(keys_parse(text, strlen(text), "t", &k, err, sizeof err), -2);
        assert_true(err[0] != '\0');
    }
}

static void test_lock_is_exclusive(void **state)
{
    (void)state;
    iotad_keys k;
    char err[512];
    assert_int_equal(keys_generate(&k), 0);
    assert_int_equal(keys_save(path, &k, err, sizeof err), 0);
    int a = keys_lock(path);
    assert_true(a >= 0);
    assert_int_equal(keys_lock(path), -1); /* flock: a second open file description */
    close(a);
    int b = keys_lock(path);
    assert_true(b >= 0);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generated_keys_save_and_load_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_readable_by_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_files_are_refused_with_a_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_is_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_fifo_or_device_is_refused_without_blocking, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
