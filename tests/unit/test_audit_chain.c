/* Tests of auth/audit_chain: the canonical encoding (pinned by a known hash), a 100-row chain
 * that verifies, and each kind of tampering found at the right row with the right reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/audit_chain.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

#define N 100

/* An in-memory audit table the way the store would hold it. */
typedef struct {
    int64_t seq, ts;
    char actor[32], action[32], target[32], detail[64], peer[32];
    bool has_peer;
    char prev_hash[65], hash[65];
} stored_row;

typedef struct {
    stored_row rows[N];
    int count;
    int pos;
    bool with_prev; /* hand the stored prev_hash to the verifier */
    int fail_at;    /* return a read error at this position, -1 never */
} table;

static audit_row view(const stored_row *s)
{
    audit_row r = {
        s->seq, s->ts, s->actor, s->action, s->target, s->detail, s->has_peer ? s->peer : NULL,
        NULL};
    return r;
}

static void build(table *t)
{
    memset(t, 0, sizeof *t);
    t->fail_at = -1;
    const char *prev = AUDIT_CHAIN_GENESIS;
    for (int i = 0; i < N; i++) {
        stored_row *s = &t->rows[i];
        s->seq = i + 1;
        s->ts = 1700000000000 + i * 1000;
        snprintf(s->actor, sizeof s->actor, "user-%d", i % 7);
        snprintf(s->action, sizeof s->action, "%s", i % 3 ? "device.update" : "login");
        snprintf(s->target, sizeof s->target, "device-%d", i);
        snprintf(s->detail, sizeof s->detail, "{\"n\":%d}", i);
        s->has_peer = i % 2 == 0;
        snprintf(s->peer, sizeof s->peer, "192.0.2.%d", i);
        memcpy(s->prev_hash, prev, 65);
        audit_row r = view(s);
        assert_int_equal(audit_chain_hash(prev, &r, s->hash), 0);
        prev = s->hash;
    }
    t->count = N;
}

static int next_row(void *arg, audit_row *row, char stored_hash[65])
{
    table *t = arg;
    if (t->pos == t->fail_at) return -5;
    if (t->pos >= t->count) return 0;
    const stored_row *s = &t->rows[t->pos++];
    *row = view(s);
    if (t->with_prev) row->prev_hash = s->prev_hash;
    memcpy(stored_hash, s->hash, 65);
    return 1;
}

static int verify(table *t, audit_verify_result *res)
{
    t->pos = 0;
    return audit_chain_verify(next_row, t, res);
}

static void delete_row(table *t, int64_t seq)
{
    int i = (int)seq - 1;
    memmove(&t->rows[i], &t->rows[i + 1], (size_t)(t->count - i - 1) * sizeof t->rows[0]);
    t->count--;
}

static void rehash_row(table *t, int64_t seq)
{
    stored_row *s = &t->rows[seq - 1];
    audit_row r = view(s);
    assert_int_equal(audit_chain_hash(s->prev_hash, &r, s->hash), 0);
}

static void test_hash_of_known_row_is_pinned(void **state)
{
    /* Pins the canonical encoding documented in audit_chain.h; if this changes, every stored
     * chain stops verifying. */
    audit_row r = {1, 1700000000000, "u1", "login", "", "ok", NULL, NULL};
    char h[65], expect[65];
    assert_int_equal(audit_chain_hash(AUDIT_CHAIN_GENESIS, &r, h), 0);
    const char text[] = AUDIT_CHAIN_GENESIS "\n1:1;13:1700000000000;2:u1;5:login;0:;2:ok;-;";
    util_sha256_hex(text, sizeof text - 1, expect);
    assert_string_equal(h, expect);
}

static void test_encoding_is_unambiguous(void **state)
{
    /* Moving a character across a field boundary, or NULL versus "", changes the hash. */
    audit_row a = {1, 5, "ab", "c", "", "", NULL, NULL};
    audit_row b = {1, 5, "a", "bc", "", "", NULL, NULL};
    audit_row c = {1, 5, "ab", "c", "", "", "", NULL};
    audit_row d = {1, 5, "ab", "c", ";", "", NULL, NULL};
    audit_row e = {1, 5, "ab", "c", "", ";", NULL, NULL};
    char ha[65], hb[65], hc[65], hd[65], he[65];
    audit_chain_hash(AUDIT_CHAIN_GENESIS, &a, ha);
    audit_chain_hash(AUDIT_CHAIN_GENESIS, &b, hb);
    audit_chain_hash(AUDIT_CHAIN_GENESIS, &c, hc);
    audit_chain_hash(AUDIT_CHAIN_GENESIS, &d, hd);
    audit_chain_hash(AUDIT_CHAIN_GENESIS, &e, he);
    assert_string_not_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    assert_string_not_equal(hd, he);
    /* The previous hash is part of the input. */
    char other[65];
    audit_chain_hash("1111111111111111111111111111111111111111111111111111111111111111", &a, other);
    assert_string_not_equal(ha, other);
}

static void test_intact_chain_of_100_rows_verifies(void **state)
{
    static table t;
    build(&t);
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), 0);
    assert_int_equal(res.first_bad_seq, 0);
    assert_null(res.reason);
    assert_int_equal(res.rows, 100);
    assert_int_equal(res.last_seq, 100);
    assert_string_equal(res.last_hash, t.rows[99].hash);
    t.with_prev = true;
    assert_int_equal(verify(&t, &res), 0);
}

static void test_empty_log_verifies(void **state)
{
    static table t;
    build(&t);
    t.count = 0;
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), 0);
    assert_int_equal(res.rows, 0);
    assert_int_equal(res.last_seq, 0);
    assert_string_equal(res.last_hash, AUDIT_CHAIN_GENESIS);
}

static void test_altered_field_of_row_37_is_found_at_37(void **state)
{
    static table t;
    const int fields = 6;
    for (int f = 0; f < fields; f++) {
        build(&t);
        stored_row *s = &t.rows[36];
        switch (f) {
        case 0:
            s->ts += 1;
            break;
        case 1:
            s->actor[0] = 'X';
            break;
        case 2:
            snprintf(s->action, sizeof s->action, "user.delete");
            break;
        case 3:
            s->target[0] = '\0';
            break;
        case 4:
            snprintf(s->detail, sizeof s->detail, "{\"n\":36,\"x\":1}");
            break;
        case 5:
            s->has_peer = false;
            break; /* peer 192.0.2.36 -> NULL */
        }
        for (int with_prev = 0; with_prev < 2; with_prev++) {
            t.with_prev = with_prev;
            audit_verify_result res;
            assert_int_equal(verify(&t, &res), -1);
            assert_int_equal(res.first_bad_seq, 37);
            assert_string_equal(res.reason, "hash mismatch");
            assert_int_equal(res.rows, 36);
            assert_int_equal(res.last_seq, 36);
        }
    }
}

static void test_altered_row_with_recomputed_hash_breaks_the_next_link(void **state)
{
    static table t;
    build(&t);
    snprintf(t.rows[36].detail, sizeof t.rows[36].detail, "forged");
    rehash_row(&t, 37); /* the forger fixes row 37's own hash */
    audit_verify_result res;
    t.with_prev = true;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 38);
    assert_string_equal(res.reason, "prev link broken");
    t.with_prev = false; /* without the prev_hash column, row 38's hash no longer matches */
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 38);
    assert_string_equal(res.reason, "hash mismatch");
}

static void test_deleted_row_is_a_sequence_gap(void **state)
{
    static table t;
    build(&t);
    delete_row(&t, 37);
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 37);
    assert_string_equal(res.reason, "sequence gap");
    assert_int_equal(res.last_seq, 36);
}

static void test_deleted_first_row_is_a_sequence_gap(void **state)
{
    static table t;
    build(&t);
    delete_row(&t, 1);
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 1);
    assert_string_equal(res.reason, "sequence gap");
}

static void test_deleted_row_with_renumbered_seq_breaks_the_link(void **state)
{
    static table t;
    build(&t);
    delete_row(&t, 37);
    for (int i = 36; i < t.count; i++)
        t.rows[i].seq = i + 1; /* hide the gap */
    audit_verify_result res;
    t.with_prev = true;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 37);
    assert_string_equal(res.reason, "prev link broken");
    t.with_prev = false;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 37);
    assert_string_equal(res.reason, "hash mismatch");
}

static void test_swapped_rows_are_detected(void **state)
{
    static table t;
    build(&t);
    stored_row tmp = t.rows[49];
    t.rows[49] = t.rows[50];
    t.rows[50] = tmp;
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 50);
    assert_string_equal(res.reason, "sequence gap");
}

static void test_altered_stored_hash_is_a_mismatch(void **state)
{
    static table t;
    build(&t);
    t.rows[99].hash[10] = t.rows[99].hash[10] == '0' ? '1' : '0';
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), -1);
    assert_int_equal(res.first_bad_seq, 100);
    assert_string_equal(res.reason, "hash mismatch");
}

static void test_truncated_tail_still_verifies_and_reports_head(void **state)
{
    /* The documented limit: callers compare last_seq/last_hash with an anchor. */
    static table t;
    build(&t);
    t.count = 90;
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), 0);
    assert_int_equal(res.last_seq, 90);
    assert_string_equal(res.last_hash, t.rows[89].hash);
}

static void test_read_error_is_reported(void **state)
{
    static table t;
    build(&t);
    t.fail_at = 20;
    audit_verify_result res;
    assert_int_equal(verify(&t, &res), -2);
    assert_int_equal(res.first_bad_seq, 21);
    assert_string_equal(res.reason, "read error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_of_known_row_is_pinned),
        cmocka_unit_test(test_encoding_is_unambiguous),
        cmocka_unit_test(test_intact_chain_of_100_rows_verifies),
        cmocka_unit_test(test_empty_log_verifies),
        cmocka_unit_test(test_altered_field_of_row_37_is_found_at_37),
        cmocka_unit_test(test_altered_row_with_recomputed_hash_breaks_the_next_link),
        cmocka_unit_test(test_deleted_row_is_a_sequence_gap),
        cmocka_unit_test(test_deleted_first_row_is_a_sequence_gap),
        cmocka_unit_test(test_deleted_row_with_renumbered_seq_breaks_the_link),
        cmocka_unit_test(test_swapped_rows_are_detected),
        cmocka_unit_test(test_altered_stored_hash_is_a_mismatch),
        cmocka_unit_test(test_truncated_tail_still_verifies_and_reports_head),
        cmocka_unit_test(test_read_error_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
