/* Logging: one line per event; a warning or error that repeats is limited per event name (a
 * failing disk must not flood the log), the next line written says how many were dropped,
 * and info lines are never dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs fn with stderr sent to a temporary file; returns the file's contents (caller frees). */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/iotad-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, text, (size_t)n, 0), n);
    close(fd);
    unlink(path);
    return text;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void storm(void)
{
    for (int i = 0; i < 1000; i++)
        log_error("test_disk_full", "attempt=%d", i);
    for (int i = 0; i < 3; i++)
        log_warn("test_other_problem", "attempt=%d", i);
    for (int i = 0; i < 200; i++)
        log_info("test_device_connected", "n=%d", i);
}

static void test_repeated_errors_are_limited_per_event_and_info_is_not(void **state)
{
    (void)state;
    char *text = capture(storm);
    assert_int_equal(count(text, "msg=test_disk_full "), 10);
    assert_int_equal(count(text, "msg=test_other_problem "), 3); /* another event: its own budget */
    assert_int_equal(count(text, "msg=test_device_connected "), 200);
    assert_int_equal(count(text, "suppressed="), 0); /* nothing written since the drops */
    free(text);
}

int main(void)
{
    log_set_level(LOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_errors_are_limited_per_event_and_info_is_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
