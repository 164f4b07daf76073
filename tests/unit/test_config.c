/* Configuration: defaults, file, environment and flag precedence, validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
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

static void write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

/* /dev/zero, a FIFO without a writer, a directory or a huge file must be refused at once with
 * a message naming the problem, not read forever, block, or be taken for an empty file. */
static void test_only_small_regular_files_are_read(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    char err[512];
    assert_int_equal(config_load_file(&c, "/dev/zero", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file (a character device)"));

    char dir[] = "/tmp/iotad-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(config_load_file(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file (a directory)"));

    char path[600];
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file (a pipe)"));
    unlink(path);

    /* a symbolic link is followed: what counts is what it points at */
    snprintf(path, sizeof path, "%s/link", dir);
    assert_int_equal(symlink("/dev/zero", path), 0);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);

    /* a sparse file one byte over the limit: refused by its size, nothing read */
    snprintf(path, sizeof path, "%s/huge.conf", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, CONFIG_FILE_MAX + 1), 0);
    close(fd);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "larger than"));
    /* exactly at the limit is read (blank lines) */
    fd = open(path, O_WRONLY | O_TRUNC);
    char *blank = malloc(CONFIG_FILE_MAX);
    assert_non_null(blank);
    memset(blank, '\n', CONFIG_FILE_MAX);
    memcpy(blank, "retention_days = 3\n", 19);
    assert_int_equal(write(fd, blank, CONFIG_FILE_MAX), CONFIG_FILE_MAX);
    close(fd);
    free(blank);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.retention_days, 3);
    unlink(path);

    /* a binary file: refused at the first NUL byte, with its line */
    snprintf(path, sizeof path, "%s/nul.conf", dir);
    write_file(path, "retention_days = 4\nsignup\0 = off\n", 33);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: NUL byte"));
    unlink(path);

    /* a line longer than CONFIG_LINE_MAX is refused, not cut into two lines */
    char *longline = malloc(CONFIG_LINE_MAX + 64);
    assert_non_null(longline);
    int n = snprintf(longline, CONFIG_LINE_MAX + 64, "web_dir = ");
    memset(longline + n, 'x', CONFIG_LINE_MAX);
    longline[CONFIG_LINE_MAX + 1] = '\n';
    snprintf(path, sizeof path, "%s/long.conf", dir);
    write_file(path, longline, CONFIG_LINE_MAX + 2);
    free(longline);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: line longer than"));
    unlink(path);
    rmdir(dir);
}

static void test_text_without_final_newline_and_crlf(void **state)
{
    (void)state;
    config c;
    config_defaults(&c);
    char err[256];
    const char text[] = "retention_days = 5\r\nsignup = off";
    assert_int_equal(config_load_text(&c, "mem", text, sizeof text - 1, err, sizeof err), 0);
    assert_int_equal(c.retention_days, 5);
    assert_string_equal(c.signup, "off");
    /* the length is what counts, not a terminating NUL */
    assert_int_equal(config_load_text(&c, "mem", "signup = invite", 6, err, sizeof err), -1);
    assert_non_null(strstr(err, "mem:1: expected 'key = value'"));
    assert_int_equal(config_load_text(&c, "mem", "", 0, err, sizeof err), 0);
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
        cmocka_unit_test(test_only_small_regular_files_are_read),
        cmocka_unit_test(test_text_without_final_newline_and_crlf),
        cmocka_unit_test(test_print_hides_secrets_and_shows_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
