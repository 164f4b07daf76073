/* Tests of auth/audit_chain: the canonical encoding (pinned by a known hash), a 100-row chain
 * that verifies, and each kind of tampering found at the right row with the right reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/audit_chain.h"
#include "auth/keyfile.h"
#include "core/util.h"

#include <stdio.h>
#include <string.h>

#define N 100

/* The Ed25519 public key of a seed, through the key file module. */
static void iotad_keys_pub(const uint8_t seed[32], uint8_t pub[32])
{
    iotad_keys k;
    memset(&k, 0, sizeof k);
    memcpy(k.audit_sign, seed, 32);
    assert_int_equal(keys_sign_public(&k, pub), 0);
}

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

/* --- keyed chain and signed checkpoints (issue 14, item 1) ---------------------------- */

static const uint8_t mac_key[32] = {7, 7, 7, 7, 7, 7, 7, 7, 1, 2, 3};

/* Re-chains t from row index `from` on: keyed rows (seq >= keyed_from) with key (NULL: as an
 * intruder without the key, plain SHA-256). */
static void rechain(table *t, int from, int64_t keyed_from, const uint8_t *key)
{
    for (int i = from; i < t->count; i++) {
        stored_row *s = &t->rows[i];
        memcpy(s->prev_hash, i ? t->rows[i - 1].hash : AUDIT_CHAIN_GENESIS, 65);
        audit_row r = view(s);
        assert_int_equal(
            audit_chain_mac(s->seq >= keyed_from ? key : NULL, s->prev_hash, &r, s->hash), 0);
    }
}

static int verify_keyed(table *t, int64_t keyed_from, const audit_checkpoint *cps, size_t n,
                        audit_verify_result *res)
{
    t->pos = 0;
    audit_keying k = {mac_key, keyed_from};
    return audit_chain_verify_ex(next_row, t, &k, cps, n, res);
}

static void test_keyed_mac_is_pinned_hmac_sha256(void **state)
{
    (void)state;
    audit_row r = {1, 1700000000000, "u1", "login", "", "ok", NULL, NULL};
    char h[65], plain[65];
    assert_int_equal(audit_chain_mac(mac_key, AUDIT_CHAIN_GENESIS, &r, h), 0);
    assert_int_equal(audit_chain_hash(AUDIT_CHAIN_GENESIS, &r, plain), 0);
    assert_string_not_equal(h, plain);
    /* HMAC-SHA-256(key, text) computed independently with Python's hmac module:
     * hmac.new(bytes([7]*8+[1,2,3]+[0]*21), b"0"*64+b"\n1:1;13:1700000000000;2:u1;5:login;0:;"
     *          b"2:ok;-;", hashlib.sha256).hexdigest() */
    assert_string_equal(h, "ec29fb63968bbd7a061556cbb914026ad61a140aac9bc275d9651184a9887067");
}

static void test_keyed_chain_verifies_and_unkeyed_rehash_fails(void **state)
{
    (void)state;
    table t;
    build(&t);
    rechain(&t, 40, 41, mac_key); /* rows 1..40 from before the key, 41.. keyed */
    audit_verify_result res;
    assert_int_equal(verify_keyed(&t, 41, NULL, 0, &res), 0);
    assert_int_equal(res.rows, N);
    /* an intruder edits row 60 and re-chains without the key */
    snprintf(t.rows[59].detail, sizeof t.rows[59].detail, "{\"role\":\"admin\"}");
    rechain(&t, 59, 41, NULL);
    assert_int_equal(verify_keyed(&t, 41, NULL, 0, &res), -1);
    assert_int_equal(res.first_bad_seq, 60);
    assert_string_equal(res.reason, "hash mismatch");
    /* nor can the unkeyed part be extended over the keyed rows by moving keyed_from */
    rechain(&t, 0, N + 1, NULL);
    assert_int_equal(verify_keyed(&t, 41, NULL, 0, &res), -1);
    assert_int_equal(res.first_bad_seq, 41);
}

static void test_checkpoints_catch_rehash_with_the_key_and_a_cut_tail(void **state)
{
    (void)state;
    table t;
    build(&t);
    rechain(&t, 0, 1, mac_key);
    static const uint8_t seed[32] = {9, 8, 7};
    uint8_t pub[32];
    iotad_keys_pub(seed, pub);
    audit_checkpoint cps[2];
    char line[AUDIT_CHECKPOINT_LINE_MAX];
    int64_t at[2] = {50, 90};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(audit_checkpoint_format(seed, 1700000000000 + i, at[i],
                                                 t.rows[at[i] - 1].hash, line, sizeof line),
                         0);
        assert_int_equal(audit_checkpoint_parse(line, strlen(line), &cps[i]), 0);
        assert_int_equal(audit_checkpoint_verify(pub, &cps[i]), 0);
    }
    audit_verify_result res;
    assert_int_equal(verify_keyed(&t, 1, cps, 2, &res), 0);
    /* rewritten with the stolen key: the chain holds, the checkpoint at 90 does not */
    snprintf(t.rows[69].actor, sizeof t.rows[69].actor, "someone-else");
    rechain(&t, 69, 1, mac_key);
    assert_int_equal(verify_keyed(&t, 1, NULL, 0, &res), 0);
    assert_int_equal(verify_keyed(&t, 1, cps, 2, &res), -1);
    assert_int_equal(res.first_bad_seq, 90);
    assert_non_null(strstr(res.reason, "signed checkpoint"));
    /* a cut tail: the log ends at 80, before the checkpoint at 90 */
    build(&t);
    rechain(&t, 0, 1, mac_key);
    t.count = 80;
    assert_int_equal(verify_keyed(&t, 1, cps, 2, &res), -1);
    assert_int_equal(res.first_bad_seq, 81);
    assert_non_null(strstr(res.reason, "tail cut"));
    /* one checkpoint is enough up to its seq */
    assert_int_equal(verify_keyed(&t, 1, cps, 1, &res), 0);
}

static void test_checkpoint_lines_parse_strictly_and_signatures_bind(void **state)
{
    (void)state;
    static const uint8_t seed[32] = {1};
    uint8_t pub[32], other[32];
    iotad_keys_pub(seed, pub);
    static const uint8_t seed2[32] = {2};
    iotad_keys_pub(seed2, other);
    char head[65], line[AUDIT_CHECKPOINT_LINE_MAX];
    memset(head, 'e', 64);
    head[64] = '\0';
    assert_int_equal(audit_checkpoint_format(seed, 5, 7, head, line, sizeof line), 0);
    audit_checkpoint cp;
    char crlf[AUDIT_CHECKPOINT_LINE_MAX + 2];
    snprintf(crlf, sizeof crlf, "%s\r\n", line);
    assert_int_equal(audit_checkpoint_parse(crlf, strlen(crlf), &cp), 0);
    assert_int_equal(cp.ts_ms, 5);
    assert_int_equal(cp.seq, 7);
    assert_string_equal(cp.head, head);
    assert_int_equal(audit_checkpoint_verify(pub, &cp), 0);
    assert_int_equal(audit_checkpoint_verify(other, &cp), -1);
    cp.seq = 8; /* any field changed breaks the signature */
    assert_int_equal(audit_checkpoint_verify(pub, &cp), -1);
    const char *bad[] = {"", "iotad-audit-checkpoint v1 ", "iotad-audit-checkpoint v2 ts=1 seq=1",
                         "iotad-audit-checkpoint v1 ts=1 seq=1 head=ab sig=cd",
                         "iotad-audit-checkpoint v1 ts=-1 seq=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(audit_checkpoint_parse(bad[i], strlen(bad[i]), &cp), -1);
    char longer[AUDIT_CHECKPOINT_LINE_MAX + 8];
    snprintf(longer, sizeof longer, "%s0", line); /* trailing garbage */
    assert_int_equal(audit_checkpoint_parse(longer, strlen(longer), &cp), -1);
    char upper[AUDIT_CHECKPOINT_LINE_MAX];
    snprintf(upper, sizeof upper, "%s", line);
    char *h = strstr(upper, "head=") + 5;
    h[0] = 'E'; /* hex is lowercase only: one spelling per checkpoint */
    assert_int_equal(audit_checkpoint_parse(upper, strlen(upper), &cp), -1);
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
        cmocka_unit_test(test_keyed_mac_is_pinned_hmac_sha256),
        cmocka_unit_test(test_keyed_chain_verifies_and_unkeyed_rehash_fails),
        cmocka_unit_test(test_checkpoints_catch_rehash_with_the_key_and_a_cut_tail),
        cmocka_unit_test(test_checkpoint_lines_parse_strictly_and_signatures_bind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
