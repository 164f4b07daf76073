/* Logging: logfmt stays as it was; JSON lines are one complete object each, with Elastic
 * Common Schema field names, whatever the values hold and however small the buffer; a warning
 * or error that repeats is limited per event name (a failing disk must not flood the log), the
 * next line written says how many were dropped, and info lines are never dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/log.h"
#include "core/utf8.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TS 1767225600123LL /* 2026-01-01T00:00:00.123Z */

static char line[8192];

/* Formats as JSON and parses the line (which must end in exactly one newline). */
static cJSON *json_event(size_t cap, log_level level, const char *msg, const char *kv)
{
    size_t n = log_format_event(line, cap, LOG_FORMAT_JSON, level, TS, msg, kv);
    assert_true(n > 0 && n <= cap);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));
    assert_true(utf8_valid((const uint8_t *)line, n, false));
    cJSON *o = cJSON_ParseWithLength(line, n);
    if (!o) fail_msg("not JSON: %.*s", (int)n, line);
    assert_true(cJSON_IsObject(o));
    return o;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v)) fail_msg("%s missing or not a string in %s", name, line);
    return v->valuestring;
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v)) fail_msg("%s missing or not a number in %s", name, line);
    return v->valuedouble;
}

static void test_logfmt_line_is_unchanged(void **state)
{
    (void)state;
    size_t n = log_format_event(line, sizeof line, LOG_FORMAT_LOGFMT, LOG_WARN, TS, "mqtt_close",
                                "peer=1.2.3.4:5 reason=\"x y\"");
    assert_int_equal(n, strlen(line));
    assert_string_equal(line, "ts=2026-01-01T00:00:00.123Z level=warn msg=mqtt_close "
                              "peer=1.2.3.4:5 reason=\"x y\"\n");
    n = log_format_event(line, sizeof line, LOG_FORMAT_LOGFMT, LOG_INFO, TS, "stopped", "");
    assert_string_equal(line, "ts=2026-01-01T00:00:00.123Z level=info msg=stopped\n");
}

static void test_json_has_the_ecs_base_fields(void **state)
{
    (void)state;
    cJSON *o = json_event(sizeof line, LOG_ERROR, "alert_dead", "id=42 attempts=5");
    assert_string_equal(str(o, "@timestamp"), "2026-01-01T00:00:00.123Z");
    assert_string_equal(str(o, "log.level"), "error");
    assert_string_equal(str(o, "message"), "alert_dead id=42 attempts=5");
    assert_string_equal(str(o, "event.action"), "alert_dead");
    assert_string_equal(str(o, "ecs.version"), "8.11.0");
    assert_string_equal(str(o, "service.name"), "iotad");
    assert_int_equal((long)num(o, "process.pid"), (long)getpid());
    /* keys without an ECS meaning are strings under iotad., numbers included */
    assert_string_equal(str(o, "iotad.id"), "42");
    assert_string_equal(str(o, "iotad.attempts"), "5");
    cJSON_Delete(o);
}

static void test_json_maps_peer_error_device_to_ecs(void **state)
{
    (void)state;
    cJSON *o = json_event(sizeof line, LOG_INFO, "x",
                          "peer=10.0.0.7:51234 device=abc err=address already in use "
                          "transport=mqtt reason=\"mqtt closed (6)\" email=a@b.c");
    assert_string_equal(str(o, "source.ip"), "10.0.0.7");
    assert_int_equal((int)num(o, "source.port"), 51234);
    assert_string_equal(str(o, "device.id"), "abc");
    assert_string_equal(str(o, "error.message"), "address already in use");
    assert_string_equal(str(o, "network.protocol"), "mqtt");
    assert_string_equal(str(o, "event.reason"), "mqtt closed (6)");
    assert_string_equal(str(o, "user.email"), "a@b.c");
    cJSON_Delete(o);
    o = json_event(sizeof line, LOG_INFO, "x", "peer=[2001:db8::1]:8883");
    assert_string_equal(str(o, "source.ip"), "2001:db8::1");
    assert_int_equal((int)num(o, "source.port"), 8883);
    cJSON_Delete(o);
    /* not an address: kept as text */
    o = json_event(sizeof line, LOG_INFO, "x", "peer=unknown");
    assert_string_equal(str(o, "iotad.peer"), "unknown");
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "source.ip"));
    cJSON_Delete(o);
}

static void test_json_never_repeats_a_field(void **state)
{
    (void)state;
    cJSON *o = json_event(sizeof line, LOG_INFO, "x", "err=one error=two pid=1 err=three");
    assert_string_equal(str(o, "error.message"), "one");
    assert_string_equal(str(o, "iotad.error"), "two");
    assert_int_equal((long)num(o, "process.pid"), (long)getpid());
    /* cJSON keeps duplicates: count the members by name */
    int count = 0;
    for (cJSON *c = o->child; c; c = c->next)
        if (!strcmp(c->string, "error.message") || !strcmp(c->string, "process.pid")) count++;
    assert_int_equal(count, 2);
    cJSON_Delete(o);
}

static void test_json_escapes_quotes_controls_and_bad_utf8(void **state)
{
    (void)state;
    cJSON *o = json_event(sizeof line, LOG_WARN, "x",
                          "sql=\"SELECT \\\"a\\\" FROM t\" path=C:\\dir name=tab\there "
                          "bad=\xff\xfe ok=caf\xc3\xa9 nl=a\nb");
    assert_string_equal(str(o, "iotad.sql"), "SELECT \"a\" FROM t");
    assert_string_equal(str(o, "iotad.path"), "C:\\dir");
    assert_string_equal(str(o, "iotad.name"), "tab\there");
    assert_string_equal(str(o, "iotad.bad"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(str(o, "iotad.ok"), "caf\xc3\xa9");
    assert_string_equal(str(o, "iotad.nl"), "a\nb");
    cJSON_Delete(o);
    /* text that is not key=value is kept */
    o = json_event(sizeof line, LOG_INFO, "x", "see the messages above");
    assert_string_equal(str(o, "iotad.text"), "see the messages above");
    cJSON_Delete(o);
}

static void test_json_line_stays_an_object_in_any_buffer(void **state)
{
    (void)state;
    char kv[1800];
    memset(kv, 0, sizeof kv);
    strcpy(kv, "peer=1.2.3.4:5 description=\"");
    size_t l = strlen(kv);
    for (size_t i = 0; l < sizeof kv - 40; i++) {
        const char *piece = i % 3 == 0 ? "\xc3\xa9" : i % 3 == 1 ? "\"q" : "\x01";
        memcpy(kv + l, piece, strlen(piece));
        l += strlen(piece);
    }
    strcpy(kv + l, "\" tail=end");
    for (size_t cap = 64; cap < 2400; cap += 7) {
        cJSON *o = json_event(cap, LOG_INFO, "anomaly", kv);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "@timestamp"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "log.truncated");
        assert_true(t == NULL || cJSON_IsTrue(t));
        cJSON_Delete(o);
    }
    cJSON *o = json_event(sizeof line, LOG_INFO, "anomaly", kv);
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "log.truncated"));
    assert_string_equal(str(o, "iotad.tail"), "end");
    cJSON_Delete(o);
}

static void test_format_names_parse(void **state)
{
    (void)state;
    log_format f = LOG_FORMAT_JSON;
    assert_int_equal(log_format_parse("logfmt", &f), 0);
    assert_int_equal(f, LOG_FORMAT_LOGFMT);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("JSON", &f), -1);
    assert_int_equal(log_format_parse("text", &f), -1);
}

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
        cmocka_unit_test(test_logfmt_line_is_unchanged),
        cmocka_unit_test(test_json_has_the_ecs_base_fields),
        cmocka_unit_test(test_json_maps_peer_error_device_to_ecs),
        cmocka_unit_test(test_json_never_repeats_a_field),
        cmocka_unit_test(test_json_escapes_quotes_controls_and_bad_utf8),
        cmocka_unit_test(test_json_line_stays_an_object_in_any_buffer),
        cmocka_unit_test(test_format_names_parse),
        cmocka_unit_test(test_repeated_errors_are_limited_per_event_and_info_is_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
