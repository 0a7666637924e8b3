/*
 * test_store.c: the SQLite store. Real database files in a temporary
 * directory: schema version and pragmas, the natural key that makes a
 * second insert impossible, org isolation, moves that write their audit
 * event in the same transaction, and refusal of a newer schema.
 */
#include <sqlite3.h>
#include <string.h>

#include <payrun/plugin.h>

#include "store.h"
#include "suites.h"
#include "testutil.h"

static char dir[PATH_MAX], db[PATH_MAX + 16];

static void setup(void)
{
    tu_tempdir(dir);
    snprintf(db, sizeof(db), "%s/t.db", dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
}

static store *open_org(const char *org)
{
    store *s = NULL;
    pr_err err = {0};
    ck_assert_msg(store_open(db, org, 1000, &s, &err) == 0, "%s", err.msg);
    return s;
}

static void add_partner(store *s, const char *id)
{
    partner p;
    pr_err err = {0};

    memset(&p, 0, sizeof(p));
    snprintf(p.partner_id, sizeof(p.partner_id), "%s", id);
    snprintf(p.name, sizeof(p.name), "Partner %s", id);
    snprintf(p.type, sizeof(p.type), "reseller");
    snprintf(p.tier, sizeof(p.tier), "gold");
    p.commission_rate = 10 * 1000000;
    snprintf(p.status, sizeof(p.status), "active");
    snprintf(p.currency, sizeof(p.currency), "USD");
    snprintf(p.email, sizeof(p.email), "%s@example.com", id);
    ck_assert_msg(store_partner_put(s, &p, &err) == 0, "%s", err.msg);
}

static void create_payout(store *s, const char *partner_id, int64_t amount, payout *out)
{
    pr_err err = {0};

    memset(out, 0, sizeof(*out));
    snprintf(out->period, sizeof(out->period), "2026-02");
    snprintf(out->partner_id, sizeof(out->partner_id), "%s", partner_id);
    snprintf(out->currency, sizeof(out->currency), "USD");
    out->amount = amount;
    out->approvals_required = 1;
    ck_assert_msg(store_payout_create(s, out, "alice", "2026-03-01T00:00:00Z", &err) == 0,
                  "%s", err.msg);
}

static long long count(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    long long n = -1;

    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

START_TEST(schema_and_pragmas)
{
    store *s = open_org("acme");
    ck_assert_int_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
    /* Reopening does not re-run migrations. */
    s = open_org("acme");
    ck_assert_int_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
    store_close(s);
    ck_assert_int_eq(count("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    /* org leads every index the queries use. */
    ck_assert_int_eq(count("SELECT count(*) FROM sqlite_master m, pragma_index_info(m.name) i"
                           " WHERE m.type = 'index' AND m.name NOT LIKE 'sqlite_autoindex%'"
                           " AND i.seqno = 0 AND i.name <> 'org'"), 0);
    /* every table has an org column, except the audit head keyed by org */
    ck_assert_int_eq(count("SELECT count(*) FROM sqlite_master m WHERE m.type = 'table'"
                           " AND NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name) c"
                           " WHERE c.name = 'org')"), 0);
}
END_TEST

/* A schema version 1 database (payouts_by_status on three columns,
 * commission_by_payout on org and payout) is brought to the current
 * version on open, its rows kept. */
START_TEST(version_1_is_migrated)
{
    store *s = open_org("acme");

    store_close(s);
    ck_assert_int_eq(tu_sqlite3(db, "DROP INDEX payouts_by_status;"
                                    " CREATE INDEX payouts_by_status ON payouts (org, status, period);"
                                    " DROP INDEX commission_by_payout;"
                                    " CREATE INDEX commission_by_payout ON commission_lines"
                                    " (org, payout_id);"
                                    " INSERT INTO partners (org, partner_id, name, type, tier,"
                                    " commission_rate, status, currency, email) VALUES ('acme',"
                                    " 'P1', 'P', 'referral', 'gold', 0, 'active', 'USD', '');"
                                    " PRAGMA user_version = 1"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM pragma_index_info('payouts_by_status')"), 3);
    s = open_org("acme");
    ck_assert_int_eq(store_schema_version(s), 3);
    store_close(s);
    ck_assert_int_eq(count("SELECT count(*) FROM pragma_index_info('payouts_by_status')"), 5);
    ck_assert_int_eq(count("SELECT count(*) FROM pragma_index_info('payouts_by_status')"
                           " WHERE seqno = 4 AND name = 'id'"), 1);
    ck_assert_int_eq(count("SELECT group_concat(name, ',') = 'org,partner_id,payout_id' FROM"
                           " (SELECT name FROM pragma_index_info('commission_by_payout')"
                           " ORDER BY seqno)"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM partners WHERE partner_id = 'P1'"), 1);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    store *s = open_org("acme");
    pr_err err = {0};

    store_close(s);
    ck_assert_int_eq(tu_sqlite3(db, "PRAGMA user_version = 99"), 0);
    ck_assert_int_eq(store_open(db, "acme", 1000, &s, &err), -1);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "schema version 99"));
}
END_TEST

START_TEST(natural_key_blocks_a_second_insert)
{
    store *s = open_org("acme");
    pr_err err = {0};
    payout p, again;

    ck_assert_int_eq(store_begin(s, &err), 0);
    add_partner(s, "P1");
    create_payout(s, "P1", 150000, &p);
    ck_assert_int_eq(strncmp(p.id, "po_", 3), 0);
    ck_assert_int_eq(strlen(p.id), 19);
    ck_assert_int_eq(store_commit(s, &err), 0);

    ck_assert_int_eq(store_begin(s, &err), 0);
    memset(&again, 0, sizeof(again));
    snprintf(again.period, sizeof(again.period), "2026-02");
    snprintf(again.partner_id, sizeof(again.partner_id), "P1");
    snprintf(again.currency, sizeof(again.currency), "USD");
    again.amount = 1;
    ck_assert_int_eq(store_payout_create(s, &again, "alice", "2026-03-02T00:00:00Z", &err), -1);
    ck_assert_int_eq(err.code, EXIT_DATAERR);
    ck_assert_ptr_nonnull(strstr(err.msg, "already exists"));
    store_rollback(s);
    store_close(s);
    ck_assert_int_eq(count("SELECT count(*) FROM payouts"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events WHERE action = 'payout.created'"), 1);
}
END_TEST

START_TEST(unknown_partner_is_refused)
{
    store *s = open_org("acme");
    pr_err err = {0};
    payout p;

    memset(&p, 0, sizeof(p));
    snprintf(p.period, sizeof(p.period), "2026-02");
    snprintf(p.partner_id, sizeof(p.partner_id), "NOPE");
    snprintf(p.currency, sizeof(p.currency), "USD");
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_payout_create(s, &p, "alice", "2026-03-01T00:00:00Z", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "partner \"NOPE\" not found"));
    store_rollback(s);
    store_close(s);
}
END_TEST

START_TEST(orgs_are_isolated)
{
    store *a = open_org("acme"), *b;
    pr_err err = {0};
    payout p, got;

    ck_assert_int_eq(store_begin(a, &err), 0);
    add_partner(a, "P1");
    create_payout(a, "P1", 500, &p);
    ck_assert_int_eq(store_commit(a, &err), 0);
    store_close(a);

    b = open_org("beta");
    /* Another org's valid id is simply not found, for reading and moving. */
    ck_assert_int_eq(store_payout_get(b, p.id, &got, &err), 1);
    ck_assert_int_eq(store_begin(b, &err), 0);
    ck_assert_int_eq(store_payout_move(b, p.id, MOVE_APPROVE, "bob", "t", NULL, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not found in org \"beta\""));
    ck_assert_int_eq(store_payout_delete(b, p.id, "bob", "t", NULL, &err), -1);
    store_rollback(b);
    /* The same partner id in another org is another partner. */
    partner pa;
    ck_assert_int_eq(store_partner_get(b, "P1", &pa, &err), 1);
    store_close(b);
    ck_assert_int_eq(count("SELECT count(*) FROM payouts WHERE status = 'pending_approval'"), 1);
}
END_TEST

START_TEST(move_and_audit_commit_together)
{
    store *s = open_org("acme");
    pr_err err = {0};
    payout p, got;

    ck_assert_int_eq(store_begin(s, &err), 0);
    add_partner(s, "P1");
    create_payout(s, "P1", 123456, &p);
    ck_assert_int_eq(store_commit(s, &err), 0);

    /* A move rolled back leaves neither the new state nor its event. */
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_APPROVE, "bob", "2026-03-02T00:00:00Z",
                                       NULL, NULL, &err), 0);
    store_rollback(s);
    ck_assert_int_eq(store_payout_get(s, p.id, &got, &err), 0);
    ck_assert_int_eq(got.status, STATUS_PENDING_APPROVAL);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events"), 1);

    /* Committed: both are there, and the event records before and after. */
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_APPROVE, "bob", "2026-03-02T00:00:00Z",
                                       NULL, NULL, &err), 0);
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_MARK_PAID, "carol", "2026-03-03T00:00:00Z",
                                       "WIRE-77", NULL, &err), 0);
    ck_assert_int_eq(store_commit(s, &err), 0);
    ck_assert_int_eq(store_payout_get(s, p.id, &got, &err), 0);
    ck_assert_int_eq(got.status, STATUS_PAID);
    ck_assert_str_eq(got.approved_by, "bob");
    ck_assert_str_eq(got.reference, "WIRE-77");
    ck_assert_str_eq(got.paid_at, "2026-03-03T00:00:00Z");
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events WHERE action = 'payout.paid'"
                           " AND metadata LIKE '%\"before\":{\"status\":\"approved\"}%'"
                           " AND metadata LIKE '%\"reference\":\"WIRE-77\"%'"), 1);

    /* A refused move changes nothing and writes no event. */
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_REJECT, "bob", "t", "late", NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is paid: cannot reject"));
    store_rollback(s);
    store_close(s);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events"), 3);
}
END_TEST

START_TEST(edit_and_delete_only_while_pending)
{
    store *s = open_org("acme");
    pr_err err = {0};
    payout p, q, got;

    ck_assert_int_eq(store_begin(s, &err), 0);
    add_partner(s, "P1");
    add_partner(s, "P2");
    create_payout(s, "P1", 1000, &p);
    create_payout(s, "P2", 2000, &q);
    /* A computed payout's amount is its lines' sum: not typed over. */
    ck_assert_int_eq(store_payout_edit(s, p.id, 1, 1500, "raised", "alice", "t1", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "computed from its commission lines"));
    ck_assert_int_eq(store_payout_delete(s, p.id, "alice", "t1", NULL, &err), 0);
    memset(&p, 0, sizeof(p));
    snprintf(p.period, sizeof(p.period), "2026-02");
    snprintf(p.partner_id, sizeof(p.partner_id), "P1");
    snprintf(p.currency, sizeof(p.currency), "USD");
    p.kind = PAYOUT_KIND_MANUAL;
    p.amount = 1000;
    ck_assert_int_eq(store_payout_create(s, &p, "carol", "t1", &err), 0);
    ck_assert_int_eq(p.approvals_required, STORE_HAND_APPROVALS);
    ck_assert_int_eq(store_payout_edit(s, p.id, 1, 1500, "raised", "alice", "t1", &err), 0);
    ck_assert_int_eq(store_payout_delete(s, q.id, "alice", "t2", NULL, &err), 0);
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_REJECT, "bob", "t3", NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, EXIT_USAGE); /* a rejection needs a reason */
    ck_assert_int_eq(store_payout_move(s, p.id, MOVE_REJECT, "bob", "t3", "duplicate", NULL, &err), 0);
    ck_assert_int_eq(store_payout_edit(s, p.id, 1, 1, NULL, "alice", "t4", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is rejected: cannot edit"));
    ck_assert_int_eq(store_payout_delete(s, p.id, "alice", "t4", NULL, &err), -1);
    ck_assert_int_eq(store_commit(s, &err), 0);
    ck_assert_int_eq(store_payout_get(s, p.id, &got, &err), 0);
    ck_assert_int_eq(got.amount, 1500);
    ck_assert_str_eq(got.notes, "raised");
    ck_assert_str_eq(got.rejected_reason, "duplicate");
    ck_assert_int_eq(store_payout_get(s, q.id, &got, &err), 1);
    store_close(s);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events WHERE action = 'payout.updated'"
                           " AND metadata LIKE '{\"before\":{\"amount\":1000,%'"
                           " AND metadata LIKE '%\"after\":{\"amount\":1500,\"notes\":\"raised\"}%'"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM audit_events WHERE action = 'payout.deleted'"
                           " AND metadata LIKE '%\"amount\":2000%'"), 1);
}
END_TEST

START_TEST(changes_need_a_transaction)
{
    store *s = open_org("acme");
    pr_err err = {0};

    ck_assert_int_eq(store_audit_append(s, "t", "a", "x", "y", "z", "{}", &err), -1);
    ck_assert_int_eq(err.code, EXIT_SOFTWARE);
    store_close(s);
}
END_TEST

START_TEST(busy_database_is_a_temporary_failure)
{
    store *a = open_org("acme"), *b = NULL;
    pr_err err = {0};

    ck_assert_int_eq(store_begin(a, &err), 0);
    ck_assert_int_eq(store_open(db, "acme", 50, &b, &err), 0);
    ck_assert_int_eq(store_begin(b, &err), -1);
    ck_assert_int_eq(err.code, EXIT_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(err.msg, "is busy"));
    store_rollback(a);
    ck_assert_int_eq(store_begin(b, &err), 0);
    store_rollback(b);
    store_close(b);
    store_close(a);
}
END_TEST

/* Settling: lines go in sixteen to a statement. A second line of a deal
 * and partner inside a full batch, one against a line settled earlier in
 * the transaction, and lines of an unknown partner are each refused with
 * their reason and handed back in file order; every other line is in the
 * table once, in partner order, file order within a partner. */
typedef struct refusal {
    int64_t line[16];
    char why[16][128];
    int n;
} refusal;

static int note_refusal(void *ud, const struct payrun_line *l, const char *why)
{
    refusal *r = ud;
    ck_assert_int_lt(r->n, 16);
    r->line[r->n] = l->source_line;
    snprintf(r->why[r->n], sizeof(r->why[0]), "%s", why);
    r->n++;
    return 0;
}

static void stage(store *s, int64_t source_line, const char *partner_id, const char *deal)
{
    struct payrun_line l;
    pr_err err = {0};

    memset(&l, 0, sizeof(l));
    l.source_line = source_line;
    l.partner_id = partner_id;
    l.deal_id = deal;
    l.deal_name = "a deal";
    l.deal_status = "won";
    l.closed_on = "2026-02-10";
    l.model = "equal_split";
    l.percentage = "100";
    l.attributed_amount = source_line * 100;
    l.currency = "USD";
    ck_assert_msg(store_line_stage(s, &l, &err) == 0, "%s", err.msg);
}

START_TEST(settle_refuses_in_file_order)
{
    store *s = open_org("acme");
    pr_err err = {0};
    refusal r = {{0}, {{0}}, 0};
    int64_t run_id, settled, refused;
    const char *partners[] = {"P2", "P1", "P3"};
    char deal[32];
    sqlite3 *h;
    sqlite3_stmt *st;
    int64_t prev_line = 0;
    char prev[8] = "";
    int rows = 0;

    ck_assert_int_eq(store_begin(s, &err), 0);
    add_partner(s, "P1");
    add_partner(s, "P2");
    add_partner(s, "P3");
    ck_assert_int_eq(store_run_insert(s, "2026-02", "close", "alice", "c", "{}",
                                      "2026-03-01T00:00:00Z", &run_id, &err), 0);
    /* Lines 2..91: P2, P1, P3 in turn, 30 each. */
    for (int i = 0; i < 90; i++) {
        snprintf(deal, sizeof(deal), "D%d", i);
        if (i == 40)
            /* P1's deal of line 3, again: among P1's first sixteen. */
            stage(s, i + 2, "P1", "D1");
        else if (i == 50)
            stage(s, i + 2, "NOPE", deal);
        else
            stage(s, i + 2, partners[i % 3], deal);
    }
    ck_assert_int_eq(store_lines_staged(s), 90);
    ck_assert_msg(store_lines_settle(s, run_id, "2026-02", note_refusal, &r, &settled, &refused,
                                     &err) == 0, "%s", err.msg);
    ck_assert_int_eq(settled, 88);
    ck_assert_int_eq(refused, 2);
    ck_assert_int_eq(store_lines_staged(s), 0);
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(r.line[0], 42);
    ck_assert_str_eq(r.why[0], "duplicate deal_id \"D1\" for partner_id \"P1\"");
    ck_assert_int_eq(r.line[1], 52);
    ck_assert_str_eq(r.why[1], "unknown partner \"NOPE\"");

    /* A second settle in the same transaction: P3's D2 is already there. */
    for (int i = 0; i < 20; i++) {
        snprintf(deal, sizeof(deal), "E%d", i);
        stage(s, 200 + i, "P3", i == 7 ? "D2" : deal);
    }
    r.n = 0;
    ck_assert_msg(store_lines_settle(s, run_id, "2026-02", note_refusal, &r, &settled, &refused,
                                     &err) == 0, "%s", err.msg);
    ck_assert_int_eq(settled, 19);
    ck_assert_int_eq(refused, 1);
    ck_assert_int_eq(r.line[0], 207);
    ck_assert_str_eq(r.why[0], "duplicate deal_id \"D2\" for partner_id \"P3\"");
    ck_assert_int_eq(store_commit(s, &err), 0);
    store_close(s);

    /* The first settle's rows: partner order, file order within, no gap. */
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT id, partner_id, source_line, deal_id,"
                                            " attributed_amount, product_line, deal_name"
                                            " FROM attribution_lines WHERE run_id = ?1"
                                            " AND source_line < 200 ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, run_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 1);
        int64_t line = sqlite3_column_int64(st, 2);
        int c = strcmp(prev, p);
        ck_assert_int_eq(sqlite3_column_int64(st, 0), rows + 1);
        ck_assert_msg(c < 0 || (c == 0 && line > prev_line), "line %lld out of order",
                      (long long)line);
        ck_assert(line != 42 && line != 52);
        ck_assert_int_eq(sqlite3_column_int64(st, 4), line * 100);
        ck_assert_int_eq(sqlite3_column_type(st, 5), SQLITE_NULL);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 6), "a deal");
        snprintf(prev, sizeof(prev), "%s", p);
        prev_line = line;
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    ck_assert_int_eq(rows, 88);
    ck_assert_int_eq(count("SELECT count(*) FROM attribution_lines"), 107);
    ck_assert_int_eq(count("SELECT count(*) FROM attribution_lines WHERE partner_id = 'P1'"
                           " AND deal_id = 'D1' AND source_line = 3"), 1);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("sqlite");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, schema_and_pragmas);
    tcase_add_test(tc, version_1_is_migrated);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, natural_key_blocks_a_second_insert);
    tcase_add_test(tc, unknown_partner_is_refused);
    tcase_add_test(tc, orgs_are_isolated);
    tcase_add_test(tc, move_and_audit_commit_together);
    tcase_add_test(tc, edit_and_delete_only_while_pending);
    tcase_add_test(tc, changes_need_a_transaction);
    tcase_add_test(tc, busy_database_is_a_temporary_failure);
    tcase_add_test(tc, settle_refuses_in_file_order);
    suite_add_tcase(s, tc);
    return s;
}
