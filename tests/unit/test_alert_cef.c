/* Tests of the syslog channel's message (alert/cef.c): severity and facility mapping, CEF
 * escaping of header fields and extension values (bounded, never cutting an escape or a
 * UTF-8 sequence), the whole RFC 5424 + CEF message of a known payload, and fields left out
 * or shortened to fit max_bytes; and the schema migration that admits the syslog kind on a
 * database of the previous version, keeping its alerts, channels and the rows referring to
 * them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alert/cef.h"
#include "helpers.h"
#include "store/db.h"
#include "store/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_severity_and_facility_mapping(void **state)
{
    (void)state;
    assert_int_equal(alert_cef_severity("critical"), 10);
    assert_int_equal(alert_cef_severity("warning"), 6);
    assert_int_equal(alert_cef_severity("info"), 3);
    assert_int_equal(alert_cef_severity("bogus"), 0);
    assert_int_equal(alert_syslog_severity("critical"), 2);
    assert_int_equal(alert_syslog_severity("warning"), 4);
    assert_int_equal(alert_syslog_severity("info"), 6);
    assert_int_equal(alert_syslog_facility("local0"), 16);
    assert_int_equal(alert_syslog_facility("local7"), 23);
    assert_int_equal(alert_syslog_facility("auth"), 4);
    assert_int_equal(alert_syslog_facility("0"), 0);
    assert_int_equal(alert_syslog_facility("23"), 23);
    assert_int_equal(alert_syslog_facility("24"), -1);
    assert_int_equal(alert_syslog_facility("1x"), -1);
    assert_int_equal(alert_syslog_facility("local8"), -1);
    assert_int_equal(alert_syslog_facility(""), -1);
}

static void test_escaping_of_header_and_extension(void **state)
{
    (void)state;
    char out[64];
    bool all;
    alert_cef_escape("a|b\\c=d\ne", ALERT_CEF_HEADER, out, sizeof out, &all);
    assert_string_equal(out, "a\\|b\\\\c=d e");
    assert_true(all);
    alert_cef_escape("a|b\\c=d\ne\rf\tg", ALERT_CEF_EXT, out, sizeof out, &all);
    assert_string_equal(out, "a|b\\\\c\\=d\\ne\\rf g");
    /* bounded: an escape is never split ... */
    assert_int_equal(alert_cef_escape("ab=", ALERT_CEF_EXT, out, 4, &all), 2);
    assert_string_equal(out, "ab");
    assert_false(all);
    /* ... nor a UTF-8 sequence (é is 2 bytes, € 3) */
    assert_int_equal(alert_cef_escape("a\xc3\xa9\xe2\x82\xac", ALERT_CEF_EXT, out, 5, &all), 3);
    assert_string_equal(out, "a\xc3\xa9");
    /* invalid UTF-8 becomes '?' */
    alert_cef_escape("x\xff\xc3y", ALERT_CEF_EXT, out, sizeof out, &all);
    assert_string_equal(out, "x??y");
    assert_int_equal(alert_cef_escape(NULL, ALERT_CEF_EXT, out, sizeof out, &all), 0);
    assert_true(all);
}

static const char payload[] =
    "{\"id\":\"01a0-alert\",\"type\":\"iotad.alert\",\"kind\":\"anomaly\","
    "\"severity\":\"critical\",\"count\":2,\"created_at\":\"2026-01-02T03:04:05.678Z\","
    "\"device\":{\"id\":\"dev-1\",\"name\":\"pump|7=a\\\\b\",\"type\":\"pump\","
    "\"location\":\"Hall 2\"},"
    "\"anomaly\":{\"id\":\"an-1\",\"metric\":\"temp\",\"severity\":\"critical\","
    "\"description\":\"temp = 35.5 above 30\\nsecond line\","
    "\"detected_at\":\"2026-01-02T03:04:05.000Z\",\"details\":{\"value\":35.5,"
    "\"expected_lo\":18,\"expected_hi\":24.25},\"url\":\"http://x/anomalies?id=an-1\"},"
    "\"summary\":\"pump|7=a\\\\b temp: high\",\"url\":\"http://x/\"}";

static void test_message_of_a_known_payload(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse(payload);
    assert_non_null(p);
    alert_syslog_opts o = {19, "gw 1", 1767323045678, 4096};
    char out[4097];
    size_t n = alert_syslog_format(p, &o, out);
    assert_int_equal(n, strlen(out));
    assert_string_equal(
        out, "<154>1 2026-01-02T03:04:05.678Z gw_1 iotad - anomaly - "
             "CEF:0|iotad|iotad|1|anomaly|pump\\|7=a\\\\b temp: high|10|"
             "externalId=01a0-alert cs1Label=anomalyId cs1=an-1 "
             "cs2Label=deviceName cs2=pump|7\\=a\\\\b cs3Label=metric cs3=temp "
             "cfp1Label=value cfp1=35.5 request=http://x/anomalies?id\\=an-1 "
             "cs4Label=deviceId cs4=dev-1 cat=anomaly cnt=2 rt=1767323045678 "
             "start=1767323045000 cs5Label=deviceType cs5=pump cs6Label=location cs6=Hall 2 "
             "cfp2Label=expectedLow cfp2=18 cfp3Label=expectedHigh cfp3=24.25 "
             "msg=temp \\= 35.5 above 30\\nsecond line");
    cJSON_Delete(p);
}

static void test_small_max_bytes_leaves_out_the_tail_and_shortens_msg(void **state)
{
    (void)state;
    cJSON *p = cJSON_Parse(payload);
    assert_non_null(p);
    /* a long description: the message is cut to max_bytes, msg shortened with "..." */
    cJSON *an = cJSON_GetObjectItemCaseSensitive(p, "anomaly");
    char desc[3000];
    memset(desc, '=', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    cJSON_ReplaceItemInObjectCaseSensitive(an, "description", cJSON_CreateString(desc));
    char out[2049];
    alert_syslog_opts o = {16, NULL, 0, 1000};
    size_t n = alert_syslog_format(p, &o, out);
    assert_true(n <= 1000 && n > 900);
    assert_non_null(strstr(out, "Z - iotad - anomaly - CEF:0|")); /* no hostname: "-" */
    const char *msg = strstr(out, " msg=");
    assert_non_null(msg);
    assert_string_equal(out + n - 3, "...");
    for (const char *c = msg + 5; c < out + n - 3; c += 2) /* every '=' still escaped */
        assert_memory_equal(c, "\\=", 2);
    /* at the minimum size, the head of the extension stays */
    o.max_bytes = 10; /* raised to ALERT_SYSLOG_MIN_BYTES */
    n = alert_syslog_format(p, &o, out);
    assert_true(n <= ALERT_SYSLOG_MIN_BYTES);
    assert_non_null(strstr(out, "|10|externalId=01a0-alert cs1Label=anomalyId cs1=an-1"));
    assert_null(strchr(out, '\n'));
    cJSON_Delete(p);
}

static void test_migration_admits_syslog_and_keeps_rows(void **state)
{
    (void)state;
    char dir[128], path[256];
    th_tempdir(dir, sizeof dir, "cef-migrate");
    snprintf(path, sizeof path, "%s/iotad.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(db_open(path, DB_SYNC_NORMAL, &db), 0);
    /* a database of the previous version (5), with an alert, its attempt and a policy */
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, "
                                  "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    size_t n;
    const schema_migration *m = schema_migrations(&n);
    int syslog_version = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, "syslog_channel")) syslog_version = (int)i + 1;
    assert_true(syslog_version > 1);
    for (int i = 0; i < syslog_version - 1; i++) {
        assert_int_equal(sqlite3_exec(db, m[i].sql, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(db_exec(db, NULL, "INSERT INTO schema_migrations VALUES(?, ?, 0)", "is",
                                 (int64_t)(i + 1), m[i].name),
                         0);
    }
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO alert_channels(id,name,kind,url,created_at,updated_at) "
                     "VALUES('c1','hook','webhook','http://x/',1,1);"
                     "INSERT INTO alert_policies(id,name,channel_id,created_at,updated_at) "
                     "VALUES('p1','p','c1',1,1);"
                     "INSERT INTO alerts(id,method,created_at,channel_id,recipient,payload) "
                     "VALUES('a1','webhook',1,'c1','http://x/','{}');"
                     "INSERT INTO alert_attempts(alert_id,attempt,started_at,duration_ms,ok) "
                     "VALUES('a1',1,1,5,1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO alert_channels(id,name,kind,url,created_at,"
                                      "updated_at) VALUES('c2','s','syslog','udp://x',1,1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(db_migrate(db), 0);
    assert_int_equal(db_schema_version(db), (int)n);
    /* rows kept, references intact, foreign keys on again */
    assert_int_equal(db_int(db, -1, "SELECT count(*) FROM alert_attempts WHERE alert_id='a1'", ""),
                     1);
    assert_int_equal(
        db_int(db, -1, "SELECT count(*) FROM alert_policies WHERE channel_id='c1'", ""), 1);
    assert_int_equal(db_int(db, -1, "SELECT count(*) FROM alerts WHERE payload='{}'", ""), 1);
    assert_int_equal(db_int(db, -1, "PRAGMA foreign_keys", ""), 1);
    assert_int_equal(db_int(db, -1, "SELECT count(*) FROM pragma_foreign_key_check", ""), 0);
    assert_int_equal(db_int(db, -1,
                            "SELECT count(*) FROM sqlite_schema WHERE type='index' AND "
                            "tbl_name='alerts' AND name LIKE 'alerts_%'",
                            ""),
                     4);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO alert_channels(id,name,kind,url,created_at,updated_at) "
                     "VALUES('c2','s','syslog','udp://x',1,1);"
                     "INSERT INTO alerts(id,method,created_at,channel_id) "
                     "VALUES('a2','syslog',1,'c2');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO alerts(id,method,created_at) "
                                      "VALUES('a3','pager',1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    /* cascades work on the rebuilt tables */
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM alerts WHERE id='a1';"
                                  "DELETE FROM alert_channels WHERE id='c1'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(db_int(db, -1, "SELECT count(*) FROM alert_attempts", ""), 0);
    assert_int_equal(db_int(db, -1, "SELECT count(*) FROM alert_policies", ""), 0);
    db_close(db);
    th_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_severity_and_facility_mapping),
        cmocka_unit_test(test_escaping_of_header_and_extension),
        cmocka_unit_test(test_message_of_a_known_payload),
        cmocka_unit_test(test_small_max_bytes_leaves_out_the_tail_and_shortens_msg),
        cmocka_unit_test(test_migration_admits_syslog_and_keeps_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
