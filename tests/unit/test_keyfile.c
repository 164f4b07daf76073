/* Tests of auth/keyfile: generate/save/load round trip with mode 0600, refusal of files
 * readable by others and of malformed files (each with a message), rotation ids, the lock (shared
 * by running nodes, exclusive for rotate), the modes allowed. */
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

/* running nodes share the file (shared locks); rotate takes it alone (exclusive) */
static void test_lock_shared_by_nodes_exclusive_for_rotate(void **state)
{
    (void)state;
    iotad_keys k;
    char err[512];
    assert_int_equal(keys_generate(&k), 0);
    assert_int_equal(keys_save(path, &k, err, sizeof err), 0);
    assert_int_equal(chmod(path, 0400), 0); /* read-only (a mounted Secret) locks too */
    int a = keys_lock(path, KEYS_LOCK_SHARED);
    assert_true(a >= 0);
    int b = keys_lock(path, KEYS_LOCK_SHARED); /* flock: a second open file description */
    assert_true(b >= 0);
    assert_int_equal(keys_lock(path, KEYS_LOCK_EXCLUSIVE), -1);
    close(a);
    assert_int_equal(keys_lock(path, KEYS_LOCK_EXCLUSIVE), -1);
    close(b);
    int x = keys_lock(path, KEYS_LOCK_EXCLUSIVE);
    assert_true(x >= 0);
    assert_int_equal(keys_lock(path, KEYS_LOCK_SHARED), -1);
    assert_int_equal(keys_lock(path, KEYS_LOCK_EXCLUSIVE), -1);
    close(x);
    assert_int_equal(chmod(path, 0600), 0);
}

static void test_modes_allowed(void **state)
{
    (void)state;
    assert_true(keys_mode_ok(10001, 0100600));
    assert_true(keys_mode_ok(10001, 0100400));
    assert_false(keys_mode_ok(10001, 0100640)); /* the owner's own file: nobody else */
    assert_false(keys_mode_ok(10001, 0100440));
    assert_false(keys_mode_ok(10001, 0100604));
    assert_true(keys_mode_ok(0, 0100600));
    assert_true(keys_mode_ok(0, 0100640)); /* root's, its group may read (Kubernetes Secret) */
    assert_true(keys_mode_ok(0, 0100440));
    assert_false(keys_mode_ok(0, 0100660)); /* but not write */
    assert_false(keys_mode_ok(0, 0100650));
    assert_false(keys_mode_ok(0, 0100644));
    assert_false(keys_mode_ok(0, 0100444));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generated_keys_save_and_load_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_readable_by_others_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_files_are_refused_with_a_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_shared_by_nodes_exclusive_for_rotate, setup,
                                        teardown),
        cmocka_unit_test(test_modes_allowed),
        cmocka_unit_test_setup_teardown(test_a_fifo_or_device_is_refused_without_blocking, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
