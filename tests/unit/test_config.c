/* Configuration: defaults, file, environment and flag precedence, validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_defaults_are_the_documented_ones(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    assert_string_equal(c.http_listen, "0.0.0.0:8080");
    assert_string_equal(c.mqtt_listen, "0.0.0.0:1883");
    assert_string_equal(c.admin_email, "admin@localhost");
    assert_string_equal(c.store_sync, "full");
    assert_int_equal(c.retention_days, 30);
    assert_false(c.simulate);
}

static void test_flags_accept_both_spellings_and_booleans(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    char err[256];
    char *argv[] = {"--http-listen", "127.0.0.1:1", "--retention_days=7",
                    "--simulate",    "--log-level", "debug"};
    assert_int_equal(config_parse_args(&c, 6, argv, err, sizeof err), 0);
    assert_string_equal(c.http_listen, "127.0.0.1:1");
    assert_int_equal(c.retention_days, 7);
    assert_true(c.simulate);
    assert_string_equal(c.log_level, "debug");
}

static void test_bad_values_are_refused_with_a_message(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    char err[256];
    char *unknown[] = {"--no-such-thing", "1"};
    assert_int_equal(config_parse_args(&c, 2, unknown, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown flag"));
    char *range[] = {"--retention-days", "-1"};
    assert_int_equal(config_parse_args(&c, 2, range, err, sizeof err), -1);
    assert_non_null(strstr(err, "retention_days"));
    char *choice[] = {"--signup", "sometimes"};
    assert_int_equal(config_parse_args(&c, 2, choice, err, sizeof err), -1);
    assert_non_null(strstr(err, "open|invite|off"));
    char *missing[] = {"--data-dir"};
    assert_int_equal(config_parse_args(&c, 1, missing, err, sizeof err), -1);
    char *positional[] = {"stray"};
    assert_int_equal(config_parse_args(&c, 1, positional, err, sizeof err), -1);
    assert_int_equal(c.retention_days, 30);
}

static void test_file_then_env_then_flags(void **state)
{
    (void)state;
    char path[] = "/tmp/iotad-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# comment\nretention_days = 7\nhttp_listen = \"127.0.0.1:9\"\n\n"
                       "signup = invite\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    config c;
    config_defaults(&c);
    char err[256];
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.retention_days, 7);
    assert_string_equal(c.http_listen, "127.0.0.1:9");
    setenv("IOTAD_RETENTION_DAYS", "9", 1);
    assert_int_equal(config_load_env(&c, err, sizeof err), 0);
    unsetenv("IOTAD_RETENTION_DAYS");
    assert_int_equal(c.retention_days, 9);
    char *argv[] = {"--retention-days", "11"};
    assert_int_equal(config_parse_args(&c, 2, argv, err, sizeof err), 0);
    assert_int_equal(c.retention_days, 11);
    assert_string_equal(c.signup, "invite");
    unlink(path);
}

static void test_bad_file_line_names_the_line(void **state)
{
    (void)state;
    char path[] = "/tmp/iotad-config-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "retention_days = 7\nthis line has no equals sign\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    config c;
    config_defaults(&c);
    char err[256];
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
    assert_int_equal(config_load_file(&c, "/nonexistent/iotad.conf", err, sizeof err), -1);
}

static void test_print_hides_secrets_and_shows_sources(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    char err[256];
    assert_int_equal(
        config_set(&c, "admin_password", "hunter2-hunter2", CONFIG_SRC_ENV, err, sizeof err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_print(&c, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "(set, hidden)"));
    assert_non_null(strstr(buf, "# env"));
    assert_non_null(strstr(buf, "# default"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_documented_ones),
        cmocka_unit_test(test_flags_accept_both_spellings_and_booleans),
        cmocka_unit_test(test_bad_values_are_refused_with_a_message),
        cmocka_unit_test(test_file_then_env_then_flags),
        cmocka_unit_test(test_bad_file_line_names_the_line),
        cmocka_unit_test(test_print_hides_secrets_and_shows_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
