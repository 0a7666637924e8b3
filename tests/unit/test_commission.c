/*
 * test_commission.c: the pinned arithmetic of SPEC section 3 against
 * hand-worked cases, on a real SQLite store: a 3-way split that must not
 * lose a cent, negative lines, ties under half-even and half-up, roll-over
 * below min_payout and its pickup in the next period, and recalculation.
 */
#include <sqlite3.h>
#include <string.h>

#include <payrun/plugin.h>

#include "commission.h"
#include "store.h"
#include "suites.h"
#include "testutil.h"

static char dir[PATH_MAX], db[PATH_MAX + 16];
static store *s;
static int64_t run_id;

static void setup(void)
{
    pr_err err = {0};
    tu_tempdir(dir);
    snprintf(db, sizeof(db), "%s/t.db", dir);
    ck_assert_msg(store_open(db, "acme", 1000, &s, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
    store_close(s);
    tu_rmrf(dir);
}

static void partner_add(const char *id)
{
    partner p;
    pr_err err = {0};
    memset(&p, 0, sizeof(p));
    snprintf(p.partner_id, sizeof(p.partner_id), "%s", id);
    snprintf(p.name, sizeof(p.name), "Partner %s", id);
    snprintf(p.type, sizeof(p.type), "reseller");
    snprintf(p.tier, sizeof(p.tier), "gold");
    p.commission_rate = 10 * PAYRUN_RATE_SCALE;
    snprintf(p.status, sizeof(p.status), "active");
    snprintf(p.currency, sizeof(p.currency), "USD");
    snprintf(p.email, sizeof(p.email), "x@example.com");
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_msg(store_partner_put(s, &p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_commit(s, &err), 0);
}

static void begin_run(const char *period)
{
    pr_err err = {0};
    ck_assert_int_eq(store_begin(s, &err), 0);
    ck_assert_msg(store_run_insert(s, period, "close", "alice", "c", "{}", "2026-03-01T00:00:00Z",
                                   &run_id, &err) == 0, "%s", err.msg);
}

static void line(const char *period, const char *deal, const char *partner_id, int64_t amount)
{
    struct payrun_line l;
    char closed[11];
    pr_err err = {0};

    memset(&l, 0, sizeof(l));
    snprintf(closed, sizeof(closed), "%s-15", period);
    l.source_line = 2;
    l.deal_id = deal;
    l.deal_name = deal;
    l.deal_status = "won";
    l.closed_on = closed;
    l.partner_id = partner_id;
    l.model = "equal_split";
    l.percentage = "100";
    l.attributed_amount = amount;
    l.currency = "USD";
    ck_assert_msg(store_line_insert(s, run_id, period, &l, &err) == 0, "%s", err.msg);
}

/* Rate by deal id: deals named "R<rate in millionths>-..." get that rate,
 * others the partner's own. */
static int rate_fn(void *ud, const calc_row *r, int64_t *rate, const char **rule, pr_err *err)
{
    (void)ud;
    (void)err;
    if (r->deal_id[0] == 'R') {
        int64_t v = 0;
        for (const char *p = r->deal_id + 1; *p >= '0' && *p <= '9'; p++)
            v = v * 10 + (*p - '0');
        *rate = v;
        *rule = "by-deal";
    } else {
        *rate = r->partner_rate;
        *rule = "partner_rate";
    }
    return 0;
}

/* commission_run on the open run, holding at most mem_lines of a partner
 * (0: no limit); its return code. */
static int run_calc(const char *period, money_rounding mode, int64_t min_payout, size_t mem_lines,
                    commission_result *res, pr_err *err)
{
    commission_params p;
    char next[8];

    period_next(period, next);
    memset(&p, 0, sizeof(p));
    p.period = period;
    p.next_period = next;
    p.currency = "USD";
    p.exponent = 2;
    p.rounding = mode;
    p.min_payout = min_payout;
    p.run_id = run_id;
    p.actor = "alice";
    p.at = "2026-03-01T00:00:00Z";
    p.mem_lines = mem_lines;
    return commission_run(s, &p, rate_fn, NULL, res, err);
}

static commission_result calc_mem(const char *period, money_rounding mode, int64_t min_payout,
                                   size_t mem_lines)
{
    commission_result res;
    pr_err err = {0};

    ck_assert_msg(run_calc(period, mode, min_payout, mem_lines, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(store_commit(s, &err), 0);
    return res;
}

static commission_result calc(const char *period, money_rounding mode, int64_t min_payout)
{
    return calc_mem(period, mode, min_payout, 0);
}

static long long q(const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    long long n = -1;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static int64_t payout_of(const char *partner_id, const char *period)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT amount FROM payouts WHERE partner_id = '%s' AND period = '%s'", partner_id,
             period);
    return q(sql);
}

START_TEST(three_way_split_loses_no_cent)
{
    int64_t shares[3], w[3] = {1, 1, 1};

    /* 10,000.00 split three ways: 3,333.34 + 3,333.33 + 3,333.33. */
    ck_assert_int_eq(money_allocate(1000000, w, 3, shares), 0);
    ck_assert_int_eq(shares[0], 333334);
    ck_assert_int_eq(shares[1], 333333);
    ck_assert_int_eq(shares[2], 333333);

    partner_add("P1");
    begin_run("2026-02");
    line("2026-02", "D1", "P1", shares[0]);
    line("2026-02", "D2", "P1", shares[1]);
    line("2026-02", "D3", "P1", shares[2]);
    calc("2026-02", ROUND_HALF_EVEN, 0);
    /* exact 333.334 + 333.333 + 333.333 = 1,000.000 -> 1,000.00, and the
     * lines share it back as 333.34 + 333.33 + 333.33 */
    ck_assert_int_eq(payout_of("P1", "2026-02"), 100000);
    ck_assert_int_eq(q("SELECT sum(amount) FROM commission_lines WHERE partner_id = 'P1'"), 100000);
    ck_assert_int_eq(q("SELECT c.amount FROM commission_lines c JOIN attribution_lines a"
                       " ON a.id = c.attribution_line_id WHERE a.deal_id = 'D1'"), 33334);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE amount = 33333"), 2);
    /* 333,334 cents x 10% = 33,333.4 cents, at 10^-8: 3,333,340,000,000 */
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE exact = '3333340000000'"), 1);
}
END_TEST

/* Equal remainders: the units left over go to the earlier lines in file
 * order (the attribution line id), not in the order of their deal ids. */
START_TEST(tied_remainders_go_to_the_earlier_lines)
{
    partner_add("P1");
    begin_run("2026-02");
    /* 5 cents at 10% is 0.5 cents each: 1.5 cents, 2 cents half to even,
     * shared as one cent each to the first two lines read. */
    line("2026-02", "D3", "P1", 5);
    line("2026-02", "D2", "P1", 5);
    line("2026-02", "D1", "P1", 5);
    calc("2026-02", ROUND_HALF_EVEN, 0);
    ck_assert_int_eq(payout_of("P1", "2026-02"), 2);
#define SHARE_OF(deal)                                                                     \
    q("SELECT c.amount FROM commission_lines c JOIN attribution_lines a"                  \
      " ON a.id = c.attribution_line_id WHERE a.deal_id = '" deal "'")
    ck_assert_int_eq(SHARE_OF("D3"), 1);
    ck_assert_int_eq(SHARE_OF("D2"), 1);
    ck_assert_int_eq(SHARE_OF("D1"), 0);
#undef SHARE_OF
}
END_TEST

START_TEST(ties_round_half_even_or_half_up)
{
    /* 1.00 at 12.5% = 0.125: half-even 0.12, half-up 0.13.
     * 3.00 at 12.5% = 0.375: 0.38 either way (8 is even).
     * 0.01 at 50% = 0.005: half-even 0.00 (no payout), half-up 0.01.
     * -1.00 at 12.5%: negative, no payout in either mode.
     * 2.50 at 1% = 0.025: half-even 0.02, half-up 0.03. */
    static const struct {
        int64_t amount;
        int64_t rate;
        int64_t half_even;
        int64_t half_up;
    } cases[] = {
        {100, 12500000, 12, 13},
        {300, 12500000, 38, 38},
        {1, 50000000, -1, 1},
        {-100, 12500000, -1, -1},
        {250, 1000000, 2, 3},
    };
    for (int mode = 0; mode < 2; mode++) {
        char period[8];
        snprintf(period, sizeof(period), "2026-%02d", mode + 1);
        if (mode == 0)
            for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char id[8];
                snprintf(id, sizeof(id), "T%zu", i);
                partner_add(id);
            }
        begin_run(period);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char id[8], deal[32];
            snprintf(id, sizeof(id), "T%zu", i);
            snprintf(deal, sizeof(deal), "R%lld-%s", (long long)cases[i].rate, period);
            line(period, deal, id, cases[i].amount);
        }
        calc(period, mode ? ROUND_HALF_UP : ROUND_HALF_EVEN, 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char id[8];
            int64_t want = mode ? cases[i].half_up : cases[i].half_even;
            snprintf(id, sizeof(id), "T%zu", i);
            ck_assert_msg(payout_of(id, period) == want, "case %zu mode %d: %lld, want %lld", i,
                          mode, (long long)payout_of(id, period), (long long)want);
        }
    }
    /* T2's January 0.005 rounded to zero under half-even, so it carried
     * into February, where it joined February's 0.005: 0.01 in all. */
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines c JOIN payouts p ON p.id ="
                       " c.payout_id WHERE p.partner_id = 'T2' AND p.period = '2026-02'"), 2);
}
END_TEST

START_TEST(negative_lines_and_negative_totals)
{
    partner_add("POS");
    partner_add("NEG");
    begin_run("2026-02");
    line("2026-02", "D1", "POS", 100000);  /* 1,000.00 -> 100.00 */
    line("2026-02", "D2", "POS", -40000);  /* -400.00 -> -40.00 */
    line("2026-02", "D3", "NEG", -50000);  /* a clawback alone */
    calc("2026-02", ROUND_HALF_EVEN, 0);
    ck_assert_int_eq(payout_of("POS", "2026-02"), 6000);
    ck_assert_int_eq(q("SELECT sum(amount) FROM commission_lines WHERE partner_id = 'POS'"), 6000);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE partner_id = 'POS'"
                       " AND amount = -4000"), 1);
    /* no payout at or below zero; the clawback waits for the next period */
    ck_assert_int_eq(payout_of("NEG", "2026-02"), -1);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE partner_id = 'NEG'"
                       " AND payout_id IS NULL AND carried_to = '2026-03'"
                       " AND carry_reason = 'total commission is negative'"), 1);
}
END_TEST

START_TEST(roll_over_below_min_payout_and_pickup)
{
    commission_result r;

    partner_add("SMALL");
    begin_run("2026-02");
    line("2026-02", "D1", "SMALL", 50000); /* 10% -> 50.00, below 100.00 */
    r = calc("2026-02", ROUND_HALF_EVEN, 10000);
    ck_assert_int_eq(r.payouts_created, 0);
    ck_assert_int_eq(r.partners_carried, 1);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE carried_to = '2026-03'"
                       " AND carry_reason = 'below min_payout 100.00'"), 1);

    begin_run("2026-03");
    line("2026-03", "D2", "SMALL", 60000); /* 60.00 + the carried 50.00 */
    r = calc("2026-03", ROUND_HALF_EVEN, 10000);
    ck_assert_int_eq(r.payouts_created, 1);
    ck_assert_int_eq(r.lines_carried_in, 1);
    ck_assert_int_eq(payout_of("SMALL", "2026-03"), 11000);
    /* both lines now belong to the March payout and sum to it */
    ck_assert_int_eq(q("SELECT sum(c.amount) FROM commission_lines c JOIN payouts p"
                       " ON p.id = c.payout_id WHERE p.period = '2026-03'"), 11000);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE carried_to IS NOT NULL"), 0);
}
END_TEST

START_TEST(recalculation_is_audited_and_idempotent)
{
    commission_result r;
    pr_err err = {0};

    partner_add("P1");
    partner_add("P2");
    begin_run("2026-02");
    line("2026-02", "D1", "P1", 100000);
    line("2026-02", "D2", "P2", 200000);
    r = calc("2026-02", ROUND_HALF_EVEN, 0);
    ck_assert_int_eq(r.payouts_created, 2);

    /* Same lines again: nothing changes, no event. */
    long long events = q("SELECT count(*) FROM audit_events");
    begin_run("2026-02");
    ck_assert_int_eq(store_period_reset(s, "2026-02", 1, &err), 0);
    line("2026-02", "D1", "P1", 100000);
    line("2026-02", "D2", "P2", 200000);
    r = calc("2026-02", ROUND_HALF_EVEN, 0);
    ck_assert_int_eq(r.payouts_unchanged, 2);
    ck_assert_int_eq(q("SELECT count(*) FROM audit_events"), events);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines"), 2);

    /* P1 changes, P2 disappears: one recalculated, one deleted, audited. */
    begin_run("2026-02");
    ck_assert_int_eq(store_period_reset(s, "2026-02", 1, &err), 0);
    line("2026-02", "D1", "P1", 150000);
    r = calc("2026-02", ROUND_HALF_EVEN, 0);
    ck_assert_int_eq(r.payouts_updated, 1);
    ck_assert_int_eq(r.payouts_deleted, 1);
    ck_assert_int_eq(payout_of("P1", "2026-02"), 15000);
    ck_assert_int_eq(payout_of("P2", "2026-02"), -1);
    ck_assert_int_eq(q("SELECT count(*) FROM audit_events WHERE action = 'payout.recalculated'"
                       " AND metadata LIKE '{\"before\":{\"amount\":10000},\"after\":{\"amount\":15000}%'"), 1);
    ck_assert_int_eq(q("SELECT count(*) FROM audit_events WHERE action = 'payout.deleted'"
                       " AND metadata LIKE '%recalculated%'"), 1);
}
END_TEST

/* A carried line's exact value is read back from the store as text that
 * only money_exact_format writes. A row rewritten by anything else (here
 * "0" put in front: the same number to a lenient parser) is refused, and
 * the calculation fails without pricing it. */
START_TEST(carried_exact_written_elsewhere_is_refused)
{
    commission_result res;
    sqlite3 *h;
    pr_err err = {0};

    partner_add("SMALL");
    begin_run("2026-02");
    line("2026-02", "D1", "SMALL", 50000); /* 10% -> 50.00, below 100.00: carried */
    calc("2026-02", ROUND_HALF_EVEN, 10000);
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines WHERE exact = '500000000000'"
                       " AND carried_to = '2026-03'"), 1);
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "UPDATE commission_lines SET exact = '0' || exact", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(h);

    begin_run("2026-03");
    line("2026-03", "D2", "SMALL", 60000);
    ck_assert_int_eq(run_calc("2026-03", ROUND_HALF_EVEN, 10000, 0, &res, &err), -1);
    ck_assert_int_eq(err.code, EXIT_SOFTWARE);
    ck_assert_msg(strstr(err.msg, "unreadable exact amount") != NULL, "%s", err.msg);
    store_rollback(s);
    ck_assert_int_eq(q("SELECT count(*) FROM payouts"), 0);
}
END_TEST

/* ---- a partner larger than the lines held in memory ------------------------ */

/* The text of one query's rows (each row's columns joined by ':', rows by
 * '|'), on database `path`. */
static void dump(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    size_t o = 0;

    out[0] = '\0';
    ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(h));
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ":" : "", v ? v : "NULL");
            ck_assert_uint_lt(o, cap);
        }
        o += (size_t)snprintf(out + o, cap - o, "|");
        ck_assert_uint_lt(o, cap);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/*
 * Two months of lines: BIG's January stays below min_payout and carries
 * to February, where it has 240 more lines; the amounts and rates are
 * chosen so that many lines share a fraction (ties at the cut, between
 * carried and new lines). NEG's total is negative and carries; SMALL has
 * three lines. February's lines arrive in an order unrelated to their ids.
 */
static void two_months(size_t mem_lines)
{
    static const int64_t amounts[] = {5, 15, 25, 105, -7, 333, 1001, 5, 5, 12};
    static const char *const rates[] = {"R12500000", "R10000000", "R3333333", "D"};
    char deal[32];
    uint32_t x = 12345;

    partner_add("BIG");
    partner_add("NEG");
    partner_add("SMALL");
    begin_run("2026-01");
    for (int i = 0; i < 40; i++) {
        snprintf(deal, sizeof(deal), "%s-J%02d", rates[i % 4], i);
        line("2026-01", deal, "BIG", amounts[i % 10]);
    }
    line("2026-01", "D-N1", "NEG", -5000);
    line("2026-01", "D-N2", "NEG", 1200);
    calc_mem("2026-01", ROUND_HALF_EVEN, 100000, mem_lines);
    begin_run("2026-02");
    for (int i = 0; i < 240; i++) {
        x = x * 1103515245u + 12345u;
        snprintf(deal, sizeof(deal), "%s-F%03u", rates[(x >> 16) % 4], (x >> 8) % 1000);
        snprintf(deal + strlen(deal), sizeof(deal) - strlen(deal), "-%d", i);
        line("2026-02", deal, "BIG", amounts[(x >> 20) % 10] * (int64_t)(1 + (x >> 28) % 3));
    }
    line("2026-02", "D-N3", "NEG", 100);
    line("2026-02", "R12500000-S1", "SMALL", 5);
    line("2026-02", "R12500000-S2", "SMALL", 5);
    line("2026-02", "R12500000-S3", "SMALL", 5);
    calc_mem("2026-02", ROUND_HALF_UP, 0, mem_lines);
}

/* Two dumps must be equal; the message shows the first row that differs. */
static void same_rows(const char *got, const char *want)
{
    size_t i = 0, row = 0;

    while (got[i] != '\0' && got[i] == want[i])
        i++;
    if (got[i] == want[i])
        return;
    while (i > 0 && got[i - 1] != '|')
        i--;
    for (size_t k = 0; k < i; k++)
        row += got[k] == '|';
    ck_abort_msg("row %zu differs: got \"%.120s\", want \"%.120s\"", row + 1, got + i, want + i);
}

#define LINES_SQL                                                                          \
    "SELECT attribution_line_id, partner_id, payout_id, amount, rule, rate, exact,"         \
    " carried_to, carry_reason FROM commission_lines ORDER BY attribution_line_id"
#define PAYOUTS_SQL "SELECT id, period, partner_id, amount FROM payouts ORDER BY id"

START_TEST(large_partner_through_the_file_shares_alike)
{
    static char lines_mem[65536], lines_file[65536], pay_mem[4096], pay_file[4096];
    char db2[PATH_MAX + 16];
    pr_err err = {0};

    /* in memory, on the fixture's database */
    two_months(0);
    dump(db, LINES_SQL, lines_mem, sizeof(lines_mem));
    dump(db, PAYOUTS_SQL, pay_mem, sizeof(pay_mem));
    /* the same, holding at most 7 lines of a partner, on a second one */
    store_close(s);
    snprintf(db2, sizeof(db2), "%s/t2.db", dir);
    ck_assert_msg(store_open(db2, "acme", 1000, &s, &err) == 0, "%s", err.msg);
    two_months(7);
    dump(db2, LINES_SQL, lines_file, sizeof(lines_file));
    dump(db2, PAYOUTS_SQL, pay_file, sizeof(pay_file));
    same_rows(lines_file, lines_mem);
    same_rows(pay_file, pay_mem);
    /* the case is one that tests something: BIG is paid in February with
     * the January lines, and its shares needed the tie rule */
    ck_assert_ptr_nonnull(strstr(pay_mem, ":2026-02:BIG:"));
    ck_assert_ptr_null(strstr(pay_mem, ":2026-01:BIG:"));
    ck_assert_ptr_null(strstr(pay_mem, ":NEG:"));
    ck_assert_int_eq(q("SELECT count(*) FROM commission_lines c JOIN attribution_lines a"
                       " ON a.id = c.attribution_line_id WHERE a.period = '2026-01'"
                       " AND a.partner_id = 'BIG' AND c.payout_id IS NOT NULL"), 40);
}
END_TEST

/* A partner past the limit needs the temporary file: with TMPDIR
 * unwritable, the calculation stops naming it (and without the limit it
 * does not need it). */
START_TEST(large_partner_needs_a_writable_tmpdir)
{
    commission_result res;
    char bad[PATH_MAX + 16], *saved;
    pr_err err = {0};
    int rc;

    partner_add("BIG");
    begin_run("2026-02");
    for (int i = 0; i < 20; i++) {
        char deal[16];
        snprintf(deal, sizeof(deal), "D%02d", i);
        line("2026-02", deal, "BIG", 1000 + i);
    }
    snprintf(bad, sizeof(bad), "%s/no-such-dir", dir);
    saved = tu_tmpdir_set(bad);
    rc = run_calc("2026-02", ROUND_HALF_EVEN, 0, 8, &res, &err);
    tu_tmpdir_restore(saved);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err.code, EXIT_IOERR);
    ck_assert_msg(strstr(err.msg, "creating the temporary file of partner \"BIG\"") != NULL &&
                  strstr(err.msg, bad) != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.hint, "TMPDIR") != NULL, "%s", err.hint);
}
END_TEST

START_TEST(period_next_wraps)
{
    char n[8];
    period_next("2026-02", n);
    ck_assert_str_eq(n, "2026-03");
    period_next("2026-12", n);
    ck_assert_str_eq(n, "2027-01");
}
END_TEST

Suite *commission_suite(void)
{
    Suite *su = suite_create("commission");
    TCase *tc = tcase_create("spec3");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, three_way_split_loses_no_cent);
    tcase_add_test(tc, tied_remainders_go_to_the_earlier_lines);
    tcase_add_test(tc, ties_round_half_even_or_half_up);
    tcase_add_test(tc, negative_lines_and_negative_totals);
    tcase_add_test(tc, roll_over_below_min_payout_and_pickup);
    tcase_add_test(tc, recalculation_is_audited_and_idempotent);
    tcase_add_test(tc, carried_exact_written_elsewhere_is_refused);
    tcase_add_test(tc, period_next_wraps);
    tcase_add_test(tc, large_partner_through_the_file_shares_alike);
    tcase_add_test(tc, large_partner_needs_a_writable_tmpdir);
    suite_add_tcase(su, tc);
    return su;
}
