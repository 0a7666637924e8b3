/*
 * test_linesort.c: the sorter that puts an import's lines in partner
 * order. Run with little memory, so that tens of
 * thousands of lines go through many runs of a real temporary file and
 * the merge; every line must come back once, whole, in (partner, seq)
 * order, with NULL and empty strings told apart.
 */
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

#include "linesort.h"
#include "suites.h"
#include "testutil.h"

#define N_LINES 30000
#define BIG_LINE 12345 /* its deal name alone is larger than the sorter's memory */
#define BIG_LEN (300 * 1024)

static char big_name[BIG_LEN + 1];

/* Line i (0-based) as added: everything derives from i. */
typedef struct want {
    char partner[16], deal[16], name[32], amount_text[8];
} want;

static unsigned partner_of(int i)
{
    return (unsigned)(((uint64_t)i * 2654435761u) % 997u);
}

static void line_of(int i, want *w, struct payrun_line *l)
{
    /* Partner ids shorter than 8 bytes, of 8 or more sharing their first
     * 8, and with bytes above 127: the sort's 8-byte keys must order them
     * as strcmp does. */
    switch (partner_of(i) % 4) {
    case 0: snprintf(w->partner, sizeof(w->partner), "P%u", partner_of(i)); break;
    case 1: snprintf(w->partner, sizeof(w->partner), "PARTNER-%05u", partner_of(i)); break;
    case 2: snprintf(w->partner, sizeof(w->partner), "PARTNER%u", partner_of(i)); break;
    default: snprintf(w->partner, sizeof(w->partner), "\xc3\x9c%03u", partner_of(i)); break;
    }
    snprintf(w->deal, sizeof(w->deal), "D%d", i);
    snprintf(w->name, sizeof(w->name), "deal %d", i);
    memset(l, 0, sizeof(*l));
    l->source_line = i + 2;
    l->partner_id = w->partner;
    l->deal_id = w->deal;
    l->deal_name = i == BIG_LINE ? big_name : i % 7 == 0 ? NULL : i % 11 == 0 ? "" : w->name;
    l->deal_status = "won";
    l->closed_on = "2026-02-14";
    l->model = i % 3 == 0 ? NULL : "equal_split";
    l->percentage = "50";
    l->attributed_amount = (int64_t)i * 101 - 1000000;
    l->currency = "USD";
    l->product_line = i % 5 == 0 ? NULL : i % 5 == 1 ? "" : "Platform";
}

/* Whether the line read as `seq` is line seq - 1 as added; plain checks,
 * one assertion by the caller: Check's own cost per assertion would be
 * most of the test's time. */
static int same_str(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int line_is(int64_t seq, const struct payrun_line *got)
{
    want w;
    struct payrun_line l;

    if (seq < 1 || seq > N_LINES)
        return 0;
    line_of((int)seq - 1, &w, &l);
    return got->source_line == l.source_line && got->attributed_amount == l.attributed_amount &&
           same_str(got->partner_id, l.partner_id) && same_str(got->deal_id, l.deal_id) &&
           same_str(got->deal_name, l.deal_name) && same_str(got->deal_status, l.deal_status) &&
           same_str(got->closed_on, l.closed_on) && same_str(got->model, l.model) &&
           same_str(got->percentage, l.percentage) && same_str(got->currency, l.currency) &&
           same_str(got->product_line, l.product_line);
}

START_TEST(many_runs_merge_in_partner_order)
{
    /* Runs larger than a run's read buffer (64 KiB), so reading one moves
     * its records about. */
    linesort *ls = linesort_new(256 * 1024);
    pr_err err = {0};
    unsigned char *seen = calloc(N_LINES + 1, 1);
    struct payrun_line got, last[LINESORT_KEEP];
    int64_t seq, lastseq[LINESORT_KEEP];
    char prev[16] = "";
    int64_t prev_seq = 0, n = 0;
    int rc;

    memset(big_name, 'x', BIG_LEN);
    ck_assert_ptr_nonnull(ls);
    for (int i = 0; i < N_LINES; i++) {
        want w;
        struct payrun_line l;
        line_of(i, &w, &l);
        if (linesort_add(ls, &l, &err) != 0)
            ck_abort_msg("%s", err.msg);
    }
    ck_assert_int_eq(linesort_count(ls), N_LINES);
    /* 30,000 lines of about 100 bytes in 256 KiB: many runs. */
    ck_assert_int_gt(linesort_runs(ls), 8);
    ck_assert_int_eq(linesort_finish(ls, &err), 0);
    while ((rc = linesort_next(ls, &seq, &got, &err)) == 1) {
        int c = strcmp(prev, got.partner_id), whole = 1;
        if (!(c < 0 || (c == 0 && seq > prev_seq)))
            ck_abort_msg("line %lld out of order", (long long)seq);
        if (!line_is(seq, &got) || seen[seq])
            ck_abort_msg("line %lld read wrong or twice", (long long)seq);
        seen[seq] = 1;
        /* This line and the LINESORT_KEEP - 1 read before it are whole. */
        last[n % LINESORT_KEEP] = got;
        lastseq[n % LINESORT_KEEP] = seq;
        for (int k = 0; k < LINESORT_KEEP && k <= n; k++)
            whole &= line_is(lastseq[k], &last[k]);
        if (!whole)
            ck_abort_msg("a line read before line %lld was overwritten", (long long)seq);
        snprintf(prev, sizeof(prev), "%s", got.partner_id);
        prev_seq = seq;
        n++;
    }
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(n, N_LINES);
    ck_assert(memchr(seen + 1, 0, N_LINES) == NULL);

    /* Emptied, it sorts again, in memory this time. */
    linesort_reset(ls);
    ck_assert_int_eq(linesort_count(ls), 0);
    for (int i = 2; i >= 0; i--) {
        want w;
        struct payrun_line l;
        line_of(i, &w, &l);
        ck_assert_int_eq(linesort_add(ls, &l, &err), 0);
    }
    ck_assert_int_eq(linesort_runs(ls), 0);
    n = 0;
    prev[0] = '\0';
    while ((rc = linesort_next(ls, &seq, &got, &err)) == 1) {
        ck_assert_int_lt(strcmp(prev, got.partner_id), 0);
        snprintf(prev, sizeof(prev), "%s", got.partner_id);
        n++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(n, 3);
    linesort_free(ls);
    free(seen);
}
END_TEST

/* No room for the temporary file: an I/O error naming the directory and
 * what to do, not a crash or a silent loss. */
START_TEST(unwritable_temporary_directory_is_named)
{
    char dir[PATH_MAX], missing[PATH_MAX + 16];
    char *saved;
    linesort *ls = linesort_new(0);
    pr_err err = {0};
    int rc = 0;

    tu_tempdir(dir);
    snprintf(missing, sizeof(missing), "%s/gone", dir);
    saved = tu_tmpdir_set(missing);
    for (int i = 0; i < N_LINES && rc == 0; i++) {
        want w;
        struct payrun_line l;
        line_of(i == BIG_LINE ? 0 : i, &w, &l);
        rc = linesort_add(ls, &l, &err);
    }
    tu_tmpdir_restore(saved);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err.code, EXIT_IOERR);
    ck_assert_msg(strstr(err.msg, missing) != NULL && strstr(err.msg, "No such file") != NULL,
                  "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(err.hint, "TMPDIR"));
    linesort_free(ls);
    tu_rmrf(dir);
}
END_TEST

Suite *linesort_suite(void)
{
    Suite *s = suite_create("linesort");
    TCase *tc = tcase_create("sort");

    tcase_add_test(tc, many_runs_merge_in_partner_order);
    tcase_add_test(tc, unwritable_temporary_directory_is_named);
    suite_add_tcase(s, tc);
    return s;
}
