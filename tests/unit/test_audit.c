/*
 * test_audit.c: SHA-256 against FIPS 180-4 vectors, and the audit chain
 * against tampering done with the real sqlite3 shell: an edited field, a
 * deleted event, two events swapped, and the newest events cut off. Each
 * must be reported at the right sequence number.
 */
#include <sqlite3.h>
#include <string.h>

#include "audit.h"
#include "sha256.h"
#include "store.h"
#include "suites.h"
#include "testutil.h"

static void hex_of(const char *msg, size_t len, char out[65])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, msg, len);
    sha256_final_hex(&c, out);
}

/* Run with _i = 0 (the processor's SHA instructions where there are
 * some) and _i = 1 (the portable code). */
START_TEST(sha256_vectors)
{
    char h[65];
    char million[1001];
    sha256_ctx c;
    int was = sha256_use_portable(_i);

    hex_of("", 0, h);
    ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
    ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* One million 'a', fed in uneven pieces to exercise the buffering. */
    memset(million, 'a', sizeof(million));
    sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        sha256_update(&c, million, i % 2 ? 999 : 1001);
    sha256_final_hex(&c, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    sha256_use_portable(was);
}
END_TEST

/* Both compressions agree on every length from 0 to 1100 bytes (every
 * padding case, one to eighteen blocks), fed whole and in uneven pieces. */
START_TEST(sha256_implementations_agree)
{
    unsigned char data[1100];
    uint32_t x = 2463534242u;
    char fast[65], slow[65];
    int accelerated = sha256_accelerated();

    for (size_t i = 0; i < sizeof(data); i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    for (size_t len = 0; len <= sizeof(data); len++) {
        for (int way = 0; way < 2; way++) {
            sha256_ctx c;
            sha256_use_portable(way);
            sha256_init(&c);
            for (size_t off = 0, step = 1; off < len; off += step, step = step * 3 % 71 + 1)
                sha256_update(&c, data + off, step < len - off ? step : len - off);
            sha256_final_hex(&c, way ? slow : fast);
        }
        ck_assert_msg(strcmp(fast, slow) == 0, "length %zu: %s (accelerated %d) vs %s portable",
                      len, fast, accelerated, slow);
    }
    sha256_use_portable(0);
}
END_TEST

START_TEST(hash_covers_every_field)
{
    audit_event e = {1, "acme", "2026-02-01T00:00:00Z", "alice", "payout.created",
                     "payout", "po_1", "{}", NULL, NULL};
    char base[65], h[65];

    audit_event_hash(&e, AUDIT_GENESIS_HASH, base);
    const char **fields[] = {&e.org, &e.at, &e.actor, &e.action, &e.entity_type,
                             &e.entity_id, &e.metadata};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *keep = *fields[i];
        *fields[i] = "changed";
        audit_event_hash(&e, AUDIT_GENESIS_HASH, h);
        ck_assert_str_ne(h, base);
        *fields[i] = keep;
    }
    e.seq = 2;
    audit_event_hash(&e, AUDIT_GENESIS_HASH, h);
    ck_assert_str_ne(h, base);
    e.seq = 1;
    audit_event_hash(&e, "1111111111111111111111111111111111111111111111111111111111111111", h);
    ck_assert_str_ne(h, base);
    /* Field boundaries are part of the bytes: moving a character from one
     * field to the next must change the hash. */
    e.actor = "alic";
    e.action = "epayout.created";
    audit_event_hash(&e, AUDIT_GENESIS_HASH, h);
    ck_assert_str_ne(h, base);
}
END_TEST

/* A database with `n` audit events for org acme, and a few for org beta
 * (whose chain is separate and must not be disturbed by acme's). */
static void make_trail(const char *db, int n)
{
    store *s;
    pr_err err = {0};
    char meta[64];

    ck_assert_msg(store_open(db, "beta", 1000, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_audit_append(s, "2026-01-01T00:00:00Z", "bob", "run.started", "run",
                                        "1", "{}", &err), 0);
    ck_assert_int_eq(store_commit(s, &err), 0);
    store_close(s);

    ck_assert_msg(store_open(db, "acme", 1000, &s, &err) == 0, "%s", err.msg);
    for (int i = 1; i <= n; i++) {
        ck_assert_int_eq(store_begin(s, &err), 0);
        snprintf(meta, sizeof(meta), "{\"n\":%d}", i);
        ck_assert_msg(store_audit_append(s, "2026-02-01T00:00:00Z", "alice", "payout.created",
                                         "payout", "po_x", meta, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(store_commit(s, &err), 0);
    }
    store_close(s);
}

static audit_report verify(const char *db, const char *org)
{
    store *s;
    pr_err err = {0};
    audit_report r;

    ck_assert_msg(store_open(db, org, 1000, &s, &err) == 0, "%s", err.msg);
    ck_assert_msg(store_audit_verify(s, &r, &err) == 0, "%s", err.msg);
    store_close(s);
    return r;
}

START_TEST(intact_trail_verifies)
{
    char dir[PATH_MAX], db[PATH_MAX + 16];
    audit_report r;

    tu_tempdir(dir);
    snprintf(db, sizeof(db), "%s/t.db", dir);
    make_trail(db, 6);
    r = verify(db, "acme");
    ck_assert_int_eq(r.bad_seq, 0);
    ck_assert_int_eq(r.checked, 6);
    r = verify(db, "beta");
    ck_assert_int_eq(r.bad_seq, 0);
    ck_assert_int_eq(r.checked, 1);
    tu_rmrf(dir);
}
END_TEST

static const struct {
    const char *what;
    const char *sql;
    int64_t bad_seq;
    const char *why;
} tampers[] = {
    {"edit metadata", "UPDATE audit_events SET metadata = '{\\\"n\\\":99}' WHERE org = 'acme' AND seq = 3",
     3, "hash mismatch"},
    {"edit actor", "UPDATE audit_events SET actor = 'mallory' WHERE org = 'acme' AND seq = 5",
     5, "hash mismatch"},
    {"edit and rehash one row",
     "UPDATE audit_events SET hash = 'ab' || substr(hash, 3) WHERE org = 'acme' AND seq = 2",
     2, "hash mismatch"},
    {"delete a middle event", "DELETE FROM audit_events WHERE org = 'acme' AND seq = 4",
     5, "sequence gap"},
    {"delete the first event", "DELETE FROM audit_events WHERE org = 'acme' AND seq = 1",
     2, "sequence gap"},
    {"swap two events",
     "UPDATE audit_events SET seq = -2 WHERE org = 'acme' AND seq = 2;"
     " UPDATE audit_events SET seq = 2 WHERE org = 'acme' AND seq = 3;"
     " UPDATE audit_events SET seq = 3 WHERE org = 'acme' AND seq = -2",
     2, "broken link"},
    {"delete and renumber",
     "DELETE FROM audit_events WHERE org = 'acme' AND seq = 3;"
     " UPDATE audit_events SET seq = seq - 1 WHERE org = 'acme' AND seq > 3",
     3, "broken link"},
    {"cut off the newest event", "DELETE FROM audit_events WHERE org = 'acme' AND seq = 6",
     6, "missing at the end"},
    {"cut off the newest and move the head",
     "DELETE FROM audit_events WHERE org = 'acme' AND seq = 6;"
     " UPDATE audit_heads SET seq = 5 WHERE org = 'acme'",
     6, "head does not match"},
};

START_TEST(tampering_is_found)
{
    char dir[PATH_MAX], db[PATH_MAX + 16];
    audit_report r;

    tu_tempdir(dir);
    snprintf(db, sizeof(db), "%s/t.db", dir);
    make_trail(db, 6);
    ck_assert_int_eq(tu_sqlite3(db, tampers[_i].sql), 0);
    r = verify(db, "acme");
    ck_assert_msg(r.bad_seq == tampers[_i].bad_seq, "%s: bad_seq %lld, expected %lld",
                  tampers[_i].what, (long long)r.bad_seq, (long long)tampers[_i].bad_seq);
    ck_assert_msg(strstr(r.why, tampers[_i].why) != NULL, "%s: why \"%s\"", tampers[_i].what,
                  r.why);
    /* The other org's chain is untouched and still verifies. */
    r = verify(db, "beta");
    ck_assert_int_eq(r.bad_seq, 0);
    tu_rmrf(dir);
}
END_TEST

Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("chain");

    tcase_add_loop_test(tc, sha256_vectors, 0, 2);
    tcase_add_test(tc, sha256_implementations_agree);
    tcase_add_test(tc, hash_covers_every_field);
    tcase_add_test(tc, intact_trail_verifies);
    tcase_add_loop_test(tc, tampering_is_found, 0, (int)(sizeof(tampers) / sizeof(tampers[0])));
    suite_add_tcase(s, tc);
    return s;
}
