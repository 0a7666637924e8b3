/*
 * test_export_ledger.c: the export_ledger plugin against the fake host,
 * with the real tools as judges.
 *
 * Each journal is run through ledger, hledger and bean-check in their
 * strictest modes (the commands are in tool_checks() below); a test fails
 * on a non-zero exit or on any byte written to stderr, since ledger's
 * --strict only warns. The journal's balance is then checked twice: by
 * parsing the postings here, and by asking the tools for the payable
 * account's total; both must equal minus the sum of the included payouts,
 * to the minor unit. Payment journals get the same checks on the bank
 * account (minus the sum paid), and are read together with the accrual
 * journal of the same payouts, which must leave the payable at minus what
 * is still owed.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *export_ledger_suite(void);

static const char *const formats[] = {"ledger", "hledger", "beancount"};

#define EXPENSE "Expenses:Commissions"
#define PAYABLE "Liabilities:Commissions:Payable"

/* ---- fixtures ------------------------------------------------------------ */

static void payout(struct payrun_payout_view *p, const char *id, const char *partner_id,
                   const char *name, int64_t amount, const char *status)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->org = "acme";
    p->period = "2026-02";
    p->partner_id = partner_id;
    p->partner_name = name;
    p->partner_type = "reseller";
    p->partner_tier = "gold";
    p->partner_status = "active";
    p->amount = amount;
    p->currency = "USD";
    p->status = status;
    p->approvals_required = 1;
    p->created_at = "2026-03-01T08:00:00Z";
    p->created_by = "alice";
    p->approved_by = "";
    p->approved_at = "";
    p->paid_at = "";
    p->reference = "";
    p->notes = "";
    p->hold_reason = "";
    p->lines = 2;
}

/* The brief's batch: 15200.00 + 6800.00 + 0.01 included, one rejected. */
static int64_t standard_batch(fake_host *fh)
{
    struct payrun_payout_view *p = fh->payouts;

    payout(&p[0], "po_00000000000000a1", "p-001", "Acme Resellers", 1520000, "approved");
    payout(&p[1], "po_00000000000000a2", "p-002", "Say \"Hi\"; Co", 680000, "pending_approval");
    payout(&p[2], "po_00000000000000a3", "p-003", "Müller GmbH", 1, "paid");
    payout(&p[3], "po_00000000000000a4", "p-004", "Rejected Partner", 99999, "rejected");
    fh->n_payouts = 4;
    return 1520000 + 680000 + 1;
}

/* Names and ids that would break a naive writer. */
static int64_t hostile_batch(fake_host *fh)
{
    struct payrun_payout_view *p = fh->payouts;

    payout(&p[0], "po_00000000000000b1", "p-001", "; leading semicolon", 100, "approved");
    payout(&p[1], "po_00000000000000b2", "p-002", "Line\nbreak\r\nname", 200, "approved");
    payout(&p[2], "po_00000000000000b3", "p-003", "pipe | name", 300, "processing");
    payout(&p[3], "po_00000000000000b4", "p-004", "  tab\tand  double  spaces ", 400, "failed");
    payout(&p[4], "po_00000000000000b5", "p-005", "back\\slash \"quoted\" ; x", 500, "approved");
    payout(&p[5], "po_00000000000000b6", "p-006", "bad \xff byte", 600, "approved");
    payout(&p[6], "po_00000000000000b7", "p,007 (x)", "", 700, "approved");
    payout(&p[7], "po_00000000000000b8", "p-008", "  ; note\t@ 5 USD = 3", 800, "approved");
    payout(&p[8], "po_00000000000000b9", "p-009", "Acme Resellers", 900, "approved");
    payout(&p[9], "po_00000000000000c0", "p-010", "Acme Resellers", 1000, "approved");
    fh->n_payouts = 10;
    return 100 + 200 + 300 + 400 + 500 + 600 + 700 + 800 + 900 + 1000;
}

/* ---- running the tools --------------------------------------------------- */

/*
 * Run `cmd` through the shell with stdout and stderr captured in files of
 * the fake host's directory. Fails the test on a non-zero exit or any
 * output on stderr; returns stdout (malloc'd).
 */
static char *run_tool(fake_host *fh, const char *cmd)
{
    char full[8192];
    const char *out = fh_path(fh, "tool.out");
    const char *err = fh_path(fh, "tool.err");
    char *o, *e;
    int st;

    ck_assert_int_lt(snprintf(full, sizeof(full), "%s >'%s' 2>'%s'", cmd, out, err),
                     (int)sizeof(full));
    st = system(full);
    o = fh_read_file(out);
    e = fh_read_file(err);
    ck_assert_ptr_nonnull(o);
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "`%s` failed (status %d):\n%s%s", cmd, st, e, o);
    ck_assert_msg(e[0] == '\0', "`%s` wrote to stderr:\n%s", cmd, e);
    free(e);
    return o;
}

/* A tool run that must fail: for checking that the checks can fail. */
static int tool_fails(const char *cmd)
{
    char full[8192];
    int st;

    snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
    st = system(full);
    return st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Parse "-?digits(.digits)?" with exactly `exponent` decimals at s. */
static int parse_amount(const char *s, int exponent, int64_t *out, const char **end)
{
    int neg = 0, decimals = -1;
    int64_t v = 0;

    if (*s == '-')
        neg = 1, s++;
    if (*s < '0' || *s > '9')
        return -1;
    for (; (*s >= '0' && *s <= '9') || (*s == '.' && decimals < 0); s++) {
        if (*s == '.') {
            decimals = 0;
            continue;
        }
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
        if (decimals >= 0)
            decimals++;
    }
    if ((decimals < 0 ? 0 : decimals) != exponent || decimals == 0)
        return -1;
    *out = neg ? -v : v;
    *end = s;
    return 0;
}

/* The amount at the start of the tool output's line naming `account`. */
static int64_t tool_total(const char *out, const char *account, int exponent)
{
    const char *line = strstr(out, account);
    const char *start, *end;
    int64_t v;

    ck_assert_msg(line != NULL, "no %s in:\n%s", account, out);
    for (start = line; start > out && start[-1] != '\n'; start--)
        ;
    while (*start == ' ')
        start++;
    ck_assert_msg(parse_amount(start, exponent, &v, &end) == 0, "no amount in:\n%s", out);
    return v;
}

/*
 * Our own reading of a journal: every posting line (indented, not a
 * comment, not beancount metadata) must be ACCOUNT, two or more spaces,
 * AMOUNT, one space, CURRENCY. Sums per account, counts transactions.
 */
static void own_totals(const char *text, const char *currency, int exponent, int64_t *expense,
                       int64_t *payable, int *n_txn)
{
    const char *line = text;

    *expense = *payable = 0;
    *n_txn = 0;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[512];

        ck_assert_uint_lt(len, sizeof(l));
        memcpy(l, line, len);
        l[len] = '\0';
        if (len >= 12 && l[4] == '-' && l[7] == '-' && l[10] == ' ' && l[11] == '*')
            (*n_txn)++;
        if (l[0] == ' ') {
            const char *s = l;
            const char *gap, *amt, *end;
            int64_t v;
            while (*s == ' ')
                s++;
            /* comments, beancount metadata, ledger's commodity format */
            if (*s == ';' || strstr(s, ": \"") != NULL || strncmp(s, "format ", 7) == 0) {
                line = eol ? eol + 1 : line + len;
                continue;
            }
            gap = strstr(s, "  ");
            ck_assert_msg(gap != NULL, "not a posting: \"%s\"", l);
            for (amt = gap; *amt == ' '; amt++)
                ;
            ck_assert_msg(parse_amount(amt, exponent, &v, &end) == 0, "bad amount: \"%s\"", l);
            ck_assert_msg(end[0] == ' ' && strcmp(end + 1, currency) == 0, "bad currency: \"%s\"",
                          l);
            if ((size_t)(gap - s) == strlen(EXPENSE) && strncmp(s, EXPENSE, strlen(EXPENSE)) == 0)
                *expense += v;
            else if ((size_t)(gap - s) == strlen(PAYABLE) &&
                     strncmp(s, PAYABLE, strlen(PAYABLE)) == 0)
                *payable += v;
            else
                ck_abort_msg("posting to an unexpected account: \"%s\"", l);
        }
        line = eol ? eol + 1 : line + len;
    }
}

/* The strict checks of the tool that reads `fmt`, then its payable total. */
static char *tool_checks(fake_host *fh, const char *fmt, const char *file, int64_t *payable)
{
    char cmd[4096];
    char *out;

    if (strcmp(fmt, "ledger") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only --pedantic --explicit --check-payees -f '%s' balance", file);
        free(run_tool(fh, cmd));
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only --strict --explicit --check-payees -f '%s' balance", file);
        free(run_tool(fh, cmd));
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only -f '%s' --flat --no-total balance '^%s$'", file, PAYABLE);
        out = run_tool(fh, cmd);
        *payable = strstr(out, PAYABLE) ? tool_total(out, PAYABLE, fh->exponent) : 0;
        free(out);
        snprintf(cmd, sizeof(cmd), "ledger --args-only -f '%s' payees", file);
        return run_tool(fh, cmd);
    }
    if (strcmp(fmt, "hledger") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "hledger check --strict ordereddates payees uniqueleafnames -f '%s'", file);
        free(run_tool(fh, cmd));
        snprintf(cmd, sizeof(cmd), "hledger bal -f '%s' --flat -N '^%s$'", file, PAYABLE);
        out = run_tool(fh, cmd);
        *payable = strstr(out, PAYABLE) ? tool_total(out, PAYABLE, fh->exponent) : 0;
        free(out);
        snprintf(cmd, sizeof(cmd), "hledger payees -f '%s'", file);
        return run_tool(fh, cmd);
    }
    snprintf(cmd, sizeof(cmd), "bean-check '%s'", file);
    free(run_tool(fh, cmd));
    snprintf(cmd, sizeof(cmd),
             "bean-query -f csv '%s' \"SELECT sum(number) AS total WHERE account = '%s'\"", file,
             PAYABLE);
    out = run_tool(fh, cmd);
    {
        /* bean-query's CSV ends records with CRLF; no rows at all reads
         * "(empty)". */
        const char *v = strstr(out, "total\r\n");
        const char *end;
        if (v == NULL) {
            ck_assert_msg(strncmp(out, "(empty)", 7) == 0, "bean-query: %s", out);
            *payable = 0;
        } else {
            v += 7;
            ck_assert_msg(parse_amount(v, fh->exponent, payable, &end) == 0 &&
                              strcmp(end, "\r\n") == 0,
                          "bean-query: %s", out);
        }
    }
    free(out);
    snprintf(cmd, sizeof(cmd), "bean-query -f csv '%s' \"SELECT DISTINCT payee\"", file);
    return run_tool(fh, cmd);
}

/*
 * Write `fmt` from the batch already in fh, run every check, and compare
 * totals with `included` (sum of the non-rejected payouts) and the
 * transaction count with `n`. Returns the journal text and the tool's list
 * of payees.
 */
static char *write_and_check(fake_host *fh, const char *fmt, int64_t included, int n,
                             char **payees)
{
    char file[64];
    char *text, *pl;
    int64_t expense, payable, tool_payable = -1;
    int n_txn;

    snprintf(file, sizeof(file), "accrual-%s.journal", fmt);
    fh->n_cfg = 0;
    fh->n_counts = 0;
    fh_set(fh, "format", fmt);
    fh_set(fh, "path", file);
    ck_assert_msg(fh_run_plugin(fh, "export_ledger") == PAYRUN_OK, "%s: %s", fmt, fh->last_error);
    ck_assert_int_eq(fh->n_errors, 0);
    text = fh_read_file(fh_path(fh, file));
    ck_assert_ptr_nonnull(text);

    own_totals(text, fh->currency, fh->exponent, &expense, &payable, &n_txn);
    ck_assert_int_eq(n_txn, n);
    ck_assert_int_eq(expense, included);
    ck_assert_int_eq(payable, -included);
    ck_assert_int_eq(fh_count(fh, "transactions"), n);

    pl = tool_checks(fh, fmt, fh_path(fh, file), &tool_payable);
    ck_assert_msg(tool_payable == -included, "%s says the payable total is %lld, not %lld", fmt,
                  (long long)tool_payable, (long long)-included);
    if (payees)
        *payees = pl;
    else
        free(pl);
    return text;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(strict_tools_accept_and_balance)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char *text, *payees;
    int64_t included;

    fh_init(&fh);
    included = standard_batch(&fh);
    text = write_and_check(&fh, fmt, included, 3, &payees);
    ck_assert_int_eq(fh_count(&fh, "rejected_payouts"), 1);
    ck_assert_ptr_null(strstr(text, "Rejected Partner"));
    ck_assert_ptr_null(strstr(text, "po_00000000000000a4"));
    ck_assert_ptr_nonnull(strstr(text, "\n2026-02-28 * "));
    ck_assert_ptr_nonnull(strstr(text, "15200.00 USD"));
    ck_assert_ptr_nonnull(strstr(text, "-6800.00 USD"));
    ck_assert_ptr_nonnull(strstr(text, "0.01 USD"));
    ck_assert_ptr_nonnull(strstr(text, "po_00000000000000a2"));
    if (_i == 2) {
        /* The tool reads the payee back exactly as given. */
        ck_assert_ptr_nonnull(strstr(text, "* \"Say \\\"Hi\\\"; Co\" \"commission accrual "
                                           "2026-02, payout po_00000000000000a2\"\n"));
        /* bean-query pads the CSV cell, inside the quotes */
        ck_assert_msg(strstr(payees, "\n\"Say \"\"Hi\"\"; Co") != NULL, "%s", payees);
        ck_assert_ptr_nonnull(strstr(text, "2026-02-01 open " PAYABLE " USD\n"));
        /* Zero tolerance and the pedantic plugins, as the README promises. */
        ck_assert_ptr_nonnull(strstr(text, "\noption \"inferred_tolerance_default\" \"*:0\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "\noption \"inferred_tolerance_multiplier\" \"0\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "\nplugin \"beancount.plugins.pedantic\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "\noption \"operating_currency\" \"USD\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n2026-02-01 commodity USD\n"));
    } else {
        ck_assert_ptr_nonnull(strstr(text, _i == 0 ? "\ncommodity USD\n    format 1000.00 USD\n"
                                                   : "\ncommodity 1000.00 USD\n"));
        ck_assert_ptr_nonnull(strstr(text, "\naccount " PAYABLE "\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000a2) Say \"Hi\", Co\n"));
        ck_assert_msg(strstr(payees, "Say \"Hi\", Co\n") != NULL, "%s", payees);
        ck_assert_msg(strstr(payees, "Müller GmbH\n") != NULL, "%s", payees);
    }
    free(payees);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(hostile_text_stays_inert)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char *text, *payees;
    int64_t included;

    fh_init(&fh);
    included = hostile_batch(&fh);
    text = write_and_check(&fh, fmt, included, 10, &payees);
    /* Every line is a directive, a transaction head, a comment or an
     * indented line: no partner text escaped onto a line of its own. */
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        ck_assert_msg(*l == '\n' || *l == ';' || *l == ' ' || (*l >= '0' && *l <= '9') ||
                          (*l >= 'a' && *l <= 'z'),
                      "stray line: %.60s", l);
        if (strchr(l, '\n') == NULL)
            break;
    }
    if (_i == 2) {
        ck_assert_ptr_nonnull(strstr(text, "* \"back\\\\slash \\\"quoted\\\" ; x\" "));
        ck_assert_ptr_nonnull(strstr(text, "* \"Line break name\" "));
        ck_assert_ptr_nonnull(strstr(text, "* \"p,007 (x)\" "));
        ck_assert_msg(strstr(payees, "back\\slash \"\"quoted\"\" ; x") != NULL, "%s", payees);
    } else {
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b1) leading semicolon\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b2) Line break name\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b3) pipe / name\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b4) tab and double spaces\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b6) bad ? byte\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b7) p,007 (x)\n"));
        ck_assert_ptr_nonnull(strstr(text, "    ; partner_id: p_007__x_\n"));
        ck_assert_ptr_nonnull(strstr(text, "* (po_00000000000000b8) note @ 5 USD = 3\n"));
        /* Two payouts of one partner name: the payee is declared once. */
        ck_assert_ptr_nonnull(strstr(text, "\npayee Acme Resellers\n"));
        ck_assert_ptr_null(strstr(strstr(text, "\npayee Acme Resellers\n") + 1,
                                  "\npayee Acme Resellers\n"));
        ck_assert_msg(strstr(payees, "pipe / name\n") != NULL, "%s", payees);
    }
    free(payees);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(jpy_without_decimals)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char *text;

    fh_init(&fh);
    fh.currency = "JPY";
    fh.exponent = 0;
    payout(&fh.payouts[0], "po_jp1", "p-001", "Tanaka KK", 500, "approved");
    payout(&fh.payouts[1], "po_jp2", "p-002", "Sato", 1200, "paid");
    payout(&fh.payouts[2], "po_jp3", "p-003", "Gone", 70, "rejected");
    fh.n_payouts = 3;
    text = write_and_check(&fh, fmt, 1700, 2, NULL);
    ck_assert_ptr_nonnull(strstr(text, " 500 JPY\n"));
    ck_assert_ptr_nonnull(strstr(text, " -1200 JPY\n"));
    if (_i == 1)
        ck_assert_ptr_nonnull(strstr(text, "\ncommodity 1000. JPY\n"));
    free(text);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(all_rejected_is_still_valid)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char *text;

    fh_init(&fh);
    payout(&fh.payouts[0], "po_r1", "p-001", "Nope", 500, "rejected");
    fh.n_payouts = 1;
    text = write_and_check(&fh, fmt, 0, 0, NULL);
    ck_assert_int_eq(fh_count(&fh, "rejected_payouts"), 1);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

/* The checks must be able to fail: an unbalanced or undeclared journal is
 * refused by the same commands, so their passing above means something. */
START_TEST(checks_catch_broken_journals)
{
    fake_host fh;
    char cmd[4096];

    fh_init(&fh);
    /* Valid but for one undeclared payee. */
    fh_write_file(&fh, "bad.ledger",
                  "commodity USD\n    format 1000.00 USD\naccount " EXPENSE "\naccount " PAYABLE
                  "\n\n2026-02-28 * (x) Undeclared Payee\n    " EXPENSE "  1.00 USD\n"
                  "    " PAYABLE "  -1.00 USD\n");
    snprintf(cmd, sizeof(cmd),
             "ledger --args-only --pedantic --explicit --check-payees -f '%s' balance",
             fh_path(&fh, "bad.ledger"));
    ck_assert(tool_fails(cmd));
    fh_write_file(&fh, "bad.journal",
                  "decimal-mark .\ncommodity 1000.00 USD\naccount " EXPENSE "\naccount " PAYABLE
                  "\n\n2026-02-28 * (x) Undeclared Payee\n    " EXPENSE "  1.00 USD\n"
                  "    " PAYABLE "  -1.00 USD\n");
    snprintf(cmd, sizeof(cmd), "hledger check --strict ordereddates payees -f '%s'",
             fh_path(&fh, "bad.journal"));
    ck_assert(tool_fails(cmd));
    /* The same files with the payee declared pass: the failures above are
     * about the payee. */
    fh_write_file(&fh, "good.journal",
                  "decimal-mark .\ncommodity 1000.00 USD\naccount " EXPENSE "\naccount " PAYABLE
                  "\npayee Undeclared Payee\n\n2026-02-28 * (x) Undeclared Payee\n    " EXPENSE
                  "  1.00 USD\n    " PAYABLE "  -1.00 USD\n");
    snprintf(cmd, sizeof(cmd), "hledger check --strict ordereddates payees -f '%s'",
             fh_path(&fh, "good.journal"));
    free(run_tool(&fh, cmd));
    /* Off by a tenth of a cent: beancount's default tolerance would let it
     * through; ours must not. */
    fh_write_file(&fh, "bad.beancount",
                  "option \"operating_currency\" \"USD\"\n"
                  "option \"inferred_tolerance_default\" \"*:0\"\n"
                  "option \"inferred_tolerance_multiplier\" \"0\"\n"
                  "plugin \"beancount.plugins.pedantic\"\n"
                  "2026-02-01 commodity USD\n"
                  "2026-02-01 open " EXPENSE " USD\n2026-02-01 open " PAYABLE " USD\n"
                  "2026-02-28 * \"P\" \"n\"\n  " EXPENSE "  1.00 USD\n  " PAYABLE
                  "  -1.004 USD\n");
    snprintf(cmd, sizeof(cmd), "bean-check '%s'", fh_path(&fh, "bad.beancount"));
    ck_assert(tool_fails(cmd));
    fh_cleanup(&fh);
}
END_TEST

static const struct {
    const char *period, *first, *last;
} periods[] = {
    {"2024-02", "2024-02-01", "2024-02-29"}, {"2026-02", "2026-02-01", "2026-02-28"},
    {"2000-02", "2000-02-01", "2000-02-29"}, {"1900-02", "1900-02-01", "1900-02-28"},
    {"2100-02", "2100-02-01", "2100-02-28"}, {"2026-04", "2026-04-01", "2026-04-30"},
    {"2026-12", "2026-12-01", "2026-12-31"}, {"2026-01", "2026-01-01", "2026-01-31"},
};

START_TEST(dated_last_day_of_period)
{
    fake_host fh;
    char want[64];
    char *text;

    fh_init(&fh);
    fh.period = periods[_i].period;
    payout(&fh.payouts[0], "po_d1", "p-001", "Acme", 1234, "approved");
    fh.payouts[0].period = fh.period;
    fh.n_payouts = 1;
    fh_set(&fh, "format", "beancount");
    fh_set(&fh, "path", "a.beancount");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    text = fh_read_file(fh_path(&fh, "a.beancount"));
    snprintf(want, sizeof(want), "\n%s * \"Acme\"", periods[_i].last);
    ck_assert_msg(strstr(text, want) != NULL, "%s: no %s in\n%s", fh.period, want + 1, text);
    snprintf(want, sizeof(want), "\n%s open " EXPENSE " USD\n", periods[_i].first);
    ck_assert_msg(strstr(text, want) != NULL, "%s: no %s", fh.period, want + 1);
    free(text);
    if (_i == 0) {
        char cmd[4096];
        snprintf(cmd, sizeof(cmd), "bean-check '%s'", fh_path(&fh, "a.beancount"));
        free(run_tool(&fh, cmd));
    }
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_period_refused)
{
    static const char *const bad[] = {"2026-13", "2026-00", "2026-2", "26-02", "2026/02", ""};
    fake_host fh;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fh_init(&fh);
        fh.period = bad[i];
        fh_set(&fh, "format", "hledger");
        fh_set(&fh, "path", "a.journal");
        ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
        ck_assert_ptr_nonnull(strstr(fh.last_error, "bad period"));
        ck_assert_int_eq(fh.n_outputs, 0);
        fh_cleanup(&fh);
    }
}
END_TEST

static const struct {
    const char *format, *key, *value, *says;
} bad_accounts[] = {
    {"beancount", "expense_account", "expenses:commissions", "is not one of Assets"},
    {"beancount", "expense_account", "Expenses:commissions", "start with a capital letter"},
    {"beancount", "payable_account", "Liabilities:Commissions_Payable",
     "only letters, digits and '-'"},
    {"beancount", "payable_account", "Liabilities:Commissions Payable",
     "only letters, digits and '-'"},
    {"beancount", "expense_account", "Costs:Commissions", "is not one of Assets"},
    {"beancount", "expense_account", "Expenses", "at least one sub-account"},
    {"beancount", "expense_account", "Expenses::Commissions", "empty component"},
    {"beancount", "expense_account", "Expenses:Commissions:", "empty component"},
    {"beancount", "payable_account", "Expenses:Commissions:Payable", "parent and child"},
    {"beancount", "payable_account", "Liabilities:Provisión", "only letters"},
    {"ledger", "expense_account", "Expenses:Comm;issions", "';'"},
    {"ledger", "expense_account", "Expenses:Commissions  10", "two spaces"},
    {"hledger", "payable_account", "(Liabilities:Payable)", "'('"},
    {"hledger", "payable_account", "Liabilities:Pay\nable", "control byte"},
    {"hledger", "payable_account", "", "empty"},
    {"ledger", "payable_account", "Expenses:Commissions", "both"},
};

START_TEST(bad_account_refused_at_init)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "format", bad_accounts[_i].format);
    fh_set(&fh, "path", "a.journal");
    fh_set(&fh, bad_accounts[_i].key, bad_accounts[_i].value);
    fh.n_payouts = 0;
    ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 1);
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_msg(strstr(fh.last_error, bad_accounts[_i].says) != NULL, "message: %s",
                  fh.last_error);
    if (strcmp(bad_accounts[_i].says, "both") != 0) {
        ck_assert_msg(strstr(fh.last_error, bad_accounts[_i].key) != NULL, "message: %s",
                      fh.last_error);
        ck_assert_msg(strstr(fh.last_error, bad_accounts[_i].format) != NULL, "message: %s",
                      fh.last_error);
    }
    ck_assert_msg(fh.last_hint[0] != '\0', "no hint for: %s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(beancount_message_is_clear)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "format", "beancount");
    fh_set(&fh, "path", "a.beancount");
    fh_set(&fh, "expense_account", "Expenses:commissions");
    ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    ck_assert_str_eq(fh.last_error,
                     "bad expense_account \"Expenses:commissions\" for beancount: component "
                     "\"commissions\" does not start with a capital letter");
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "\"Expenses:Commissions\""));
    fh_cleanup(&fh);
}
END_TEST

/* Accounts other than the defaults, valid for each tool, pass its checks. */
START_TEST(custom_accounts_pass)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char cmd[4096], file[64];

    fh_init(&fh);
    standard_batch(&fh);
    snprintf(file, sizeof(file), "custom-%s.journal", fmt);
    fh_set(&fh, "format", fmt);
    fh_set(&fh, "path", file);
    fh_set(&fh, "expense_account", _i == 2 ? "Expenses:Partner-Commissions:Resellers2026"
                                           : "Expenses:Partner commissions:Résellers");
    fh_set(&fh, "payable_account", "Liabilities:AP:Partners");
    ck_assert_msg(fh_run_plugin(&fh, "export_ledger") == PAYRUN_OK, "%s", fh.last_error);
    if (_i == 0)
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only --pedantic --explicit --check-payees -f '%s' balance",
                 fh_path(&fh, file));
    else if (_i == 1)
        snprintf(cmd, sizeof(cmd),
                 "hledger check --strict ordereddates payees uniqueleafnames -f '%s'",
                 fh_path(&fh, file));
    else
        snprintf(cmd, sizeof(cmd), "bean-check '%s'", fh_path(&fh, file));
    free(run_tool(&fh, cmd));
    fh_cleanup(&fh);
}
END_TEST

START_TEST(same_payouts_same_bytes)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char *a, *b;

    fh_init(&fh);
    standard_batch(&fh);
    fh_set(&fh, "format", fmt);
    fh_set(&fh, "path", "one");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    fh.n_cfg = 0;
    fh_set(&fh, "format", fmt);
    fh_set(&fh, "path", "two");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    a = fh_read_file(fh_path(&fh, "one"));
    b = fh_read_file(fh_path(&fh, "two"));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(missing_format_refused)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "path", "a.journal");
    ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "format"));
    fh_cleanup(&fh);
    fh_init(&fh);
    fh_set(&fh, "format", "gnucash");
    fh_set(&fh, "path", "a.journal");
    ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    ck_assert_str_eq(fh.last_error, "unknown journal format \"gnucash\"");
    fh_cleanup(&fh);
}
END_TEST

/* ---- the payment journal --------------------------------------------------- */

#define BANK "Assets:Bank:Operating"

/*
 * Paid, processing, failed, approved and rejected payouts of one period.
 * Three are paid, out of date order in the core's partner order, one of
 * them before the period's first day, so the journal must sort and open
 * its beancount accounts early. Returns the sum paid; *unpaid gets the sum
 * of the payouts accrued but not paid (not rejected, not paid).
 */
static int64_t payment_batch(fake_host *fh, int64_t *unpaid)
{
    struct payrun_payout_view *p = fh->payouts;

    payout(&p[0], "po_00000000000000p1", "p-001", "Acme Resellers", 1520000, "paid");
    p[0].paid_at = "2026-03-05T10:00:00Z";
    p[0].reference = "ACH-0001";
    payout(&p[1], "po_00000000000000p2", "p-002", "Say \"Hi\"; Co", 680000, "processing");
    payout(&p[2], "po_00000000000000p3", "p-003", "Müller GmbH", 1, "paid");
    p[2].paid_at = "2026-03-02T23:59:59Z";
    p[2].reference = "ACH 0002 (x)";
    payout(&p[3], "po_00000000000000p4", "p-004", "Failed Partner", 50000, "failed");
    payout(&p[4], "po_00000000000000p5", "p-005", "Approved Co", 12345, "approved");
    payout(&p[5], "po_00000000000000p6", "p-006", "Rejected Partner", 99999, "rejected");
    payout(&p[6], "po_00000000000000p7", "p-007", "Early Bird", 2500, "paid");
    p[6].paid_at = "2026-01-31T08:00:00Z";
    p[6].reference = "WIRE-7";
    fh->n_payouts = 7;
    *unpaid = 680000 + 50000 + 12345;
    return 1520000 + 1 + 2500;
}

/* Our own reading of a payment journal: every posting goes to the payable
 * or the bank account, as ACCOUNT, spaces, AMOUNT, space, CURRENCY. */
static void own_payment_totals(const char *text, int exponent, int64_t *payable, int64_t *bank,
                               int *n_txn)
{
    *payable = *bank = 0;
    *n_txn = 0;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[512];

        ck_assert_uint_lt(len, sizeof(l));
        memcpy(l, line, len);
        l[len] = '\0';
        line = eol ? eol + 1 : line + len;
        if (len >= 12 && l[4] == '-' && l[7] == '-' && l[10] == ' ' && l[11] == '*')
            (*n_txn)++;
        if (l[0] == ' ') {
            const char *s = l + strspn(l, " ");
            const char *gap, *amt, *end;
            int64_t v;

            if (*s == ';' || strstr(s, ": \"") != NULL || strncmp(s, "format ", 7) == 0)
                continue;
            gap = strstr(s, "  ");
            ck_assert_msg(gap != NULL, "not a posting: \"%s\"", l);
            amt = gap + strspn(gap, " ");
            ck_assert_msg(parse_amount(amt, exponent, &v, &end) == 0, "bad amount: \"%s\"", l);
            ck_assert_msg(strcmp(end, " USD") == 0, "bad currency: \"%s\"", l);
            if ((size_t)(gap - s) == strlen(PAYABLE) && strncmp(s, PAYABLE, strlen(PAYABLE)) == 0)
                *payable += v;
            else if ((size_t)(gap - s) == strlen(BANK) && strncmp(s, BANK, strlen(BANK)) == 0)
                *bank += v;
            else
                ck_abort_msg("posting to an unexpected account: \"%s\"", l);
        }
    }
}

static void write_journal(fake_host *fh, const char *fmt, const char *journal, const char *file)
{
    fh->n_cfg = 0;
    fh->n_counts = 0;
    fh_set(fh, "format", fmt);
    fh_set(fh, "path", file);
    if (journal != NULL)
        fh_set(fh, "journal", journal);
    ck_assert_msg(fh_run_plugin(fh, "export_ledger") == PAYRUN_OK, "%s %s: %s", fmt,
                  journal ? journal : "(default)", fh->last_error);
}

/*
 * The same strict checks as tool_checks(), over one or more files given
 * as "-f 'a' -f 'b'" (ledger, hledger) or a single path (beancount).
 */
static void strict_checks(fake_host *fh, const char *fmt, const char *files)
{
    char cmd[4096];

    if (strcmp(fmt, "ledger") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only --pedantic --explicit --check-payees %s balance", files);
        free(run_tool(fh, cmd));
        snprintf(cmd, sizeof(cmd),
                 "ledger --args-only --strict --explicit --check-payees %s balance", files);
        free(run_tool(fh, cmd));
    } else if (strcmp(fmt, "hledger") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "hledger check --strict ordereddates payees uniqueleafnames %s", files);
        free(run_tool(fh, cmd));
    } else {
        snprintf(cmd, sizeof(cmd), "bean-check %s", files);
        free(run_tool(fh, cmd));
    }
}

/* The tool's total of `account` over `files` (as for strict_checks());
 * `tool` is ledger, hledger or beancount. */
static int64_t account_total(fake_host *fh, const char *tool, const char *files,
                             const char *account)
{
    char cmd[4096];
    char *out;
    int64_t v = 0;

    if (strcmp(tool, "ledger") == 0) {
        snprintf(cmd, sizeof(cmd), "ledger --args-only %s --flat --no-total balance '^%s$'",
                 files, account);
    } else if (strcmp(tool, "hledger") == 0) {
        snprintf(cmd, sizeof(cmd), "hledger bal %s --flat -N '^%s$'", files, account);
    } else {
        const char *row, *end;
        snprintf(cmd, sizeof(cmd),
                 "bean-query -f csv %s \"SELECT sum(number) AS total WHERE account = '%s'\"",
                 files, account);
        out = run_tool(fh, cmd);
        row = strstr(out, "total\r\n");
        ck_assert_msg(row != NULL, "bean-query: %s", out);
        ck_assert_msg(parse_amount(row + 7, fh->exponent, &v, &end) == 0 &&
                          strcmp(end, "\r\n") == 0,
                      "bean-query: %s", out);
        free(out);
        return v;
    }
    out = run_tool(fh, cmd);
    if (strstr(out, account) != NULL)
        v = tool_total(out, account, fh->exponent);
    free(out);
    return v;
}

START_TEST(payment_journal_only_paid)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char file[64], files[PATH_MAX + 16];
    char *text;
    const char *a, *b, *c;
    int64_t unpaid, paid, payable, bank;
    int n_txn;

    fh_init(&fh);
    paid = payment_batch(&fh, &unpaid);
    snprintf(file, sizeof(file), "payment-%s.journal", fmt);
    write_journal(&fh, fmt, "payment", file);
    ck_assert_int_eq(fh_count(&fh, "transactions"), 3);
    ck_assert_int_eq(fh_count(&fh, "unpaid_payouts"), 4);
    text = fh_read_file(fh_path(&fh, file));
    ck_assert_ptr_nonnull(text);

    /* Only the paid payouts, in date order. */
    ck_assert_ptr_null(strstr(text, "po_00000000000000p2"));
    ck_assert_ptr_null(strstr(text, "po_00000000000000p4"));
    ck_assert_ptr_null(strstr(text, "po_00000000000000p5"));
    ck_assert_ptr_null(strstr(text, "po_00000000000000p6"));
    ck_assert_ptr_null(strstr(text, EXPENSE));
    a = strstr(text, "\n2026-01-31 * ");
    b = strstr(text, "\n2026-03-02 * ");
    c = strstr(text, "\n2026-03-05 * ");
    ck_assert_msg(a && b && c && a < b && b < c, "not in date order:\n%s", text);
    ck_assert_ptr_nonnull(strstr(c, "po_00000000000000p1"));
    ck_assert_ptr_nonnull(strstr(text, "; transactions: 3, paid: 15225.01 USD, payouts not paid "
                                       "left out: 4\n"));
    if (_i == 2) {
        ck_assert_ptr_nonnull(strstr(text, "\n2026-01-31 commodity USD\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n2026-01-31 open " PAYABLE " USD\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n2026-01-31 open " BANK " USD\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n  reference: \"ACH 0002 (x)\"\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n2026-03-05 * \"Acme Resellers\" \"commission "
                                           "payment 2026-02, payout po_00000000000000p1\"\n"));
    } else {
        ck_assert_ptr_nonnull(strstr(text, "\n2026-03-05 * (ACH-0001) Acme Resellers\n"));
        ck_assert_ptr_nonnull(strstr(text, "\n    ; reference: ACH-0001\n"));
        /* A code ends at ')': the reference is made one safe word. */
        ck_assert_ptr_nonnull(strstr(text, "\n2026-03-02 * (ACH_0002__x_) Müller GmbH\n"));
        ck_assert_ptr_nonnull(strstr(text, "\naccount " BANK "\n"));
        ck_assert_ptr_nonnull(strstr(text, "\ntag reference\n"));
    }

    own_payment_totals(text, fh.exponent, &payable, &bank, &n_txn);
    ck_assert_int_eq(n_txn, 3);
    ck_assert_int_eq(payable, paid);
    ck_assert_int_eq(bank, -paid);

    snprintf(files, sizeof(files), _i == 2 ? "'%s'" : "-f '%s'", fh_path(&fh, file));
    strict_checks(&fh, fmt, files);
    bank = account_total(&fh, fmt, files, BANK);
    ck_assert_msg(bank == -paid, "%s: bank total %lld, not %lld", fmt, (long long)bank,
                  (long long)-paid);
    payable = account_total(&fh, fmt, files, PAYABLE);
    ck_assert_int_eq(payable, paid);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

/*
 * Accrual and payment journals of the same payouts, read together: the
 * payable holds minus what is still owed, the bank minus what was paid,
 * the expense everything accrued. Ledger and hledger read both files in
 * one run (each file repeats the declarations it needs, which both tools
 * accept) and pass their strict checks that way; beancount refuses a
 * second `open`, so its two files are checked alone and their totals
 * added.
 */
START_TEST(accrual_and_payment_together)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char acc[64], pay[64], files[2 * PATH_MAX + 32];
    int64_t unpaid, paid, payable;

    fh_init(&fh);
    paid = payment_batch(&fh, &unpaid);
    snprintf(acc, sizeof(acc), "accrual-%s.journal", fmt);
    snprintf(pay, sizeof(pay), "payment-%s.journal", fmt);
    write_journal(&fh, fmt, NULL, acc);
    write_journal(&fh, fmt, "payment", pay);

    if (_i == 2) {
        char one[PATH_MAX + 8];
        snprintf(one, sizeof(one), "'%s'", fh_path(&fh, acc));
        strict_checks(&fh, fmt, one);
        payable = account_total(&fh, fmt, one, PAYABLE);
        snprintf(one, sizeof(one), "'%s'", fh_path(&fh, pay));
        strict_checks(&fh, fmt, one);
        payable += account_total(&fh, fmt, one, PAYABLE);
        ck_assert_int_eq(payable, -unpaid);
        fh_cleanup(&fh);
        return;
    }
    snprintf(files, sizeof(files), "-f '%s' -f '%s'", fh_path(&fh, acc), fh_path(&fh, pay));
    strict_checks(&fh, fmt, files);
    /* hledger reads both syntaxes; ledger only its own. */
    for (int t = _i; t < 2; t++) {
        payable = account_total(&fh, formats[t], files, PAYABLE);
        ck_assert_msg(payable == -unpaid, "%s over %s files: payable %lld, not %lld", formats[t],
                      fmt, (long long)payable, (long long)-unpaid);
        ck_assert_int_eq(account_total(&fh, formats[t], files, BANK), -paid);
        ck_assert_int_eq(account_total(&fh, formats[t], files, EXPENSE), paid + unpaid);
    }
    fh_cleanup(&fh);
}
END_TEST

/* Nothing paid yet: a valid, empty journal (beancount opens nothing, as
 * its nounused check wants). */
START_TEST(payment_journal_nothing_paid)
{
    const char *fmt = formats[_i];
    fake_host fh;
    char files[PATH_MAX + 16];
    char *text;

    fh_init(&fh);
    payout(&fh.payouts[0], "po_n1", "p-001", "Acme", 500, "processing");
    payout(&fh.payouts[1], "po_n2", "p-002", "Beta", 700, "approved");
    fh.n_payouts = 2;
    write_journal(&fh, fmt, "payment", "empty.journal");
    ck_assert_int_eq(fh_count(&fh, "transactions"), 0);
    ck_assert_int_eq(fh_count(&fh, "unpaid_payouts"), 2);
    text = fh_read_file(fh_path(&fh, "empty.journal"));
    ck_assert_ptr_null(strstr(text, " open "));
    ck_assert_ptr_null(strstr(text, "po_n1"));
    if (_i == 2)
        ck_assert_ptr_nonnull(strstr(text, "\n2026-02-01 commodity USD\n"));
    snprintf(files, sizeof(files), _i == 2 ? "'%s'" : "-f '%s'", fh_path(&fh, "empty.journal"));
    strict_checks(&fh, fmt, files);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(payment_journal_same_bytes)
{
    const char *fmt = formats[_i];
    fake_host fh;
    int64_t unpaid;
    char *a, *b;

    fh_init(&fh);
    payment_batch(&fh, &unpaid);
    write_journal(&fh, fmt, "payment", "one");
    write_journal(&fh, fmt, "payment", "two");
    a = fh_read_file(fh_path(&fh, "one"));
    b = fh_read_file(fh_path(&fh, "two"));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    fh_cleanup(&fh);
}
END_TEST

/* A paid payout must carry the day it was paid; no date is made up. */
START_TEST(payment_needs_paid_date)
{
    static const char *const bad[] = {"", "2026-02-30T10:00:00Z", "2026-3-05T10:00:00Z",
                                      "05/03/2026", "2026-03-05X"};
    fake_host fh;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fh_init(&fh);
        payout(&fh.payouts[0], "po_d1", "p-001", "Acme", 500, "paid");
        fh.payouts[0].paid_at = bad[i];
        fh.payouts[0].reference = "R1";
        fh.n_payouts = 1;
        fh_set(&fh, "format", "hledger");
        fh_set(&fh, "journal", "payment");
        fh_set(&fh, "path", "p.journal");
        ck_assert_int_eq(fh_run_plugin(&fh, "export_ledger"), PAYRUN_ERR_INPUT);
        ck_assert_msg(strstr(fh.last_error, "paid payout \"po_d1\" has no valid paid date") !=
                          NULL, "%s", fh.last_error);
        ck_assert_int_eq(fh.n_outputs, 0);
        fh_cleanup(&fh);
    }
}
END_TEST

/* The core requires a reference for a paid payout; should one come
 * without, the payout id is the code and no empty tag is written. */
START_TEST(payment_without_reference)
{
    fake_host fh;
    char files[PATH_MAX + 16];
    char *text;

    fh_init(&fh);
    payout(&fh.payouts[0], "po_nr1", "p-001", "Acme", 500, "paid");
    fh.payouts[0].paid_at = "2026-03-01T00:00:00Z";
    fh.n_payouts = 1;
    write_journal(&fh, "hledger", "payment", "p.journal");
    text = fh_read_file(fh_path(&fh, "p.journal"));
    ck_assert_ptr_nonnull(strstr(text, "\n2026-03-01 * (po_nr1) Acme\n"));
    ck_assert_ptr_null(strstr(text, "; reference:"));
    snprintf(files, sizeof(files), "-f '%s'", fh_path(&fh, "p.journal"));
    strict_checks(&fh, "hledger", files);
    free(text);
    fh_cleanup(&fh);
}
END_TEST

static const struct {
    const char *format, *journal, *bank, *payable, *says;
} bad_banks[] = {
    {"beancount", "accrual", "Assets:bank", NULL, "bad bank_account"},
    {"beancount", "payment", "Bank:Operating", NULL, "bad bank_account"},
    {"hledger", "payment", "Assets:Bank;x", NULL, "bad bank_account"},
    {"ledger", "payment", PAYABLE, NULL, "bank_account and payable_account are both"},
    {"beancount", "payment", "Liabilities:Commissions", "Liabilities:Commissions:Payable",
     "parent and child"},
    {"beancount", "payment", "Assets:Bank:Operating:Sub", "Assets:Bank:Operating",
     "parent and child"},
};

START_TEST(bad_bank_account_refused_at_init)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "format", bad_banks[_i].format);
    fh_set(&fh, "journal", bad_banks[_i].journal);
    fh_set(&fh, "path", "a.journal");
    fh_set(&fh, "bank_account", bad_banks[_i].bank);
    if (bad_banks[_i].payable)
        fh_set(&fh, "payable_account", bad_banks[_i].payable);
    ck_assert_int_ne(fh_run_plugin(&fh, "export_ledger"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 1);
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_msg(strstr(fh.last_error, bad_banks[_i].says) != NULL, "message: %s",
                  fh.last_error);
    ck_assert_msg(fh.last_hint[0] != '\0', "no hint for: %s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* The accrual journal does not use the bank account, so its relation to
 * the payable does not matter there; only its spelling is checked. */
START_TEST(accrual_ignores_bank_relation)
{
    fake_host fh;

    fh_init(&fh);
    standard_batch(&fh);
    fh_set(&fh, "format", "beancount");
    fh_set(&fh, "path", "a.beancount");
    fh_set(&fh, "bank_account", "Liabilities:Commissions:Payable:Sub");
    ck_assert_msg(fh_run_plugin(&fh, "export_ledger") == PAYRUN_OK, "%s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("export_ledger", PAYRUN_KIND_EXPORTER);
}
END_TEST

Suite *export_ledger_suite(void)
{
    Suite *s = suite_create("export_ledger");
    TCase *tools = tcase_create("export_ledger_tools");
    TCase *plain = tcase_create("export_ledger");

    /* The real tools start a Python or Haskell runtime per check. */
    tcase_set_timeout(tools, 120);
    tcase_add_loop_test(tools, strict_tools_accept_and_balance, 0, 3);
    tcase_add_loop_test(tools, hostile_text_stays_inert, 0, 3);
    tcase_add_loop_test(tools, jpy_without_decimals, 0, 3);
    tcase_add_loop_test(tools, all_rejected_is_still_valid, 0, 3);
    tcase_add_loop_test(tools, custom_accounts_pass, 0, 3);
    tcase_add_test(tools, checks_catch_broken_journals);
    tcase_add_loop_test(tools, dated_last_day_of_period, 0,
                        (int)(sizeof(periods) / sizeof(periods[0])));
    tcase_add_loop_test(tools, payment_journal_only_paid, 0, 3);
    tcase_add_loop_test(tools, accrual_and_payment_together, 0, 3);
    tcase_add_loop_test(tools, payment_journal_nothing_paid, 0, 3);
    tcase_add_test(tools, payment_without_reference);
    suite_add_tcase(s, tools);

    tcase_add_test(plain, bad_period_refused);
    tcase_add_loop_test(plain, bad_account_refused_at_init, 0,
                        (int)(sizeof(bad_accounts) / sizeof(bad_accounts[0])));
    tcase_add_test(plain, beancount_message_is_clear);
    tcase_add_loop_test(plain, same_payouts_same_bytes, 0, 3);
    tcase_add_test(plain, missing_format_refused);
    tcase_add_test(plain, readme_matches_descriptor);
    tcase_add_loop_test(plain, payment_journal_same_bytes, 0, 3);
    tcase_add_test(plain, payment_needs_paid_date);
    tcase_add_loop_test(plain, bad_bank_account_refused_at_init, 0,
                        (int)(sizeof(bad_banks) / sizeof(bad_banks[0])));
    tcase_add_test(plain, accrual_ignores_bank_relation);
    suite_add_tcase(s, plain);
    return s;
}
