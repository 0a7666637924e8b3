/*
 * test_approval_rules.c: the approval_rules plugin against the fake host.
 * Each rule is tested at its boundary (auto-approval is strictly below its
 * threshold, the approvals threshold is inclusive), the order of the rules
 * is pinned by payouts that several rules would catch, payouts past
 * pending are shown to be left alone, and bad approvals_required values are
 * refused before anything is decided.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"

Suite *approval_rules_suite(void);

static fake_host *new_host(void)
{
    fake_host *fh = calloc(1, sizeof(*fh));
    ck_assert_ptr_nonnull(fh);
    fh_init(fh);
    return fh;
}

static void free_host(fake_host *fh)
{
    fh_cleanup(fh);
    free(fh);
}

/* Payout ids must outlive the run: keep them in a table, not on a stack. */
static const char *const ids[] = {"po-01", "po-02", "po-03", "po-04", "po-05", "po-06",
                                  "po-07", "po-08", "po-09", "po-10", "po-11", "po-12"};

static void add_payout(fake_host *fh, const char *status, const char *partner_status,
                       int has_details, int64_t amount)
{
    struct payrun_payout_view *p = &fh->payouts[fh->n_payouts];
    ck_assert_uint_lt(fh->n_payouts, sizeof(ids) / sizeof(ids[0]));
    memset(p, 0, sizeof(*p));
    p->id = ids[fh->n_payouts];
    p->org = fh->org;
    p->period = fh->period;
    p->partner_id = "p1";
    p->partner_name = "Partner One";
    p->partner_type = "reseller";
    p->partner_tier = "gold";
    p->partner_status = partner_status;
    p->has_payment_details = has_details;
    p->amount = amount;
    p->currency = fh->currency;
    p->status = status;
    p->approvals_required = 1;
    p->hold_reason = "";
    fh->n_payouts++;
}

static void pending(fake_host *fh, int64_t amount)
{
    add_payout(fh, "pending_approval", "active", 1, amount);
}

static void run_ok(fake_host *fh)
{
    int rc = fh_run_plugin(fh, "approval_rules");
    ck_assert_msg(rc == PAYRUN_OK, "run failed (%d): %s", rc, fh->last_error);
}

static void expect(const fake_host *fh, int i, const char *id, int decision, int approvals,
                   const char *rule)
{
    const fh_decision *d = &fh->decisions[i];
    ck_assert_int_lt(i, fh->n_decisions);
    ck_assert_str_eq(d->payout_id, id);
    ck_assert_int_eq(d->decision, decision);
    ck_assert_int_eq(d->approvals, approvals);
    ck_assert_str_eq(d->rule, rule);
}

START_TEST(no_keys_one_approver_each)
{
    fake_host *fh = new_host();

    pending(fh, 1);
    pending(fh, 500000000);
    add_payout(fh, "pending_approval", "inactive", 0, 100);
    run_ok(fh);
    ck_assert_int_eq(fh->n_decisions, 3);
    for (int i = 0; i < 3; i++)
        expect(fh, i, ids[i], PAYRUN_DECIDE_REQUIRE, 1, "default");
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 3);
    ck_assert_int_eq(fh_count(fh, "auto_approved"), 0);
    free_host(fh);
}
END_TEST

START_TEST(auto_approve_is_strictly_below)
{
    fake_host *fh = new_host();

    fh_set(fh, "auto_approve_below", "1000.00");
    pending(fh, 99999);  /* 999.99 */
    pending(fh, 100000); /* exactly 1000.00: a human looks */
    pending(fh, 100001);
    pending(fh, 0);
    run_ok(fh);
    ck_assert_int_eq(fh->n_decisions, 4);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_str_eq(fh->decisions[0].reason, "amount 999.99 is below 1000.00");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_REQUIRE, 1, "default");
    expect(fh, 2, "po-03", PAYRUN_DECIDE_REQUIRE, 1, "default");
    expect(fh, 3, "po-04", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_int_eq(fh_count(fh, "auto_approved"), 2);
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 2);
    free_host(fh);
}
END_TEST

START_TEST(two_approvals_from_is_inclusive)
{
    fake_host *fh = new_host();

    fh_set(fh, "two_approvals_from", "10000.00");
    pending(fh, 999999);  /* 9999.99 */
    pending(fh, 1000000); /* exactly 10000.00 */
    pending(fh, 1000001);
    run_ok(fh);
    ck_assert_int_eq(fh->n_decisions, 3);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REQUIRE, 1, "default");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_REQUIRE, 2, "two_approvals_from");
    ck_assert_str_eq(fh->decisions[1].reason, "amount 10000.00 is at or above 10000.00");
    expect(fh, 2, "po-03", PAYRUN_DECIDE_REQUIRE, 2, "two_approvals_from");
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 3);
    free_host(fh);
}
END_TEST

START_TEST(approvals_required_is_passed)
{
    fake_host *fh = new_host();

    fh_set(fh, "two_approvals_from", "500.00");
    fh_set(fh, "approvals_required", "3");
    pending(fh, 50000);
    pending(fh, 49999);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REQUIRE, 3, "two_approvals_from");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_REQUIRE, 1, "default");
    free_host(fh);
}
END_TEST

START_TEST(thresholds_together)
{
    fake_host *fh = new_host();

    fh_set(fh, "auto_approve_below", "1000.00");
    fh_set(fh, "two_approvals_from", "10000.00");
    pending(fh, 99999);
    pending(fh, 100000);
    pending(fh, 999999);
    pending(fh, 1000000);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_REQUIRE, 1, "default");
    expect(fh, 2, "po-03", PAYRUN_DECIDE_REQUIRE, 1, "default");
    expect(fh, 3, "po-04", PAYRUN_DECIDE_REQUIRE, 2, "two_approvals_from");
    ck_assert_int_eq(fh_count(fh, "auto_approved"), 1);
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 3);
    free_host(fh);
}
END_TEST

/* Thresholds that overlap: the approvals rule is checked first, so the
 * overlap costs an extra approver rather than skipping one. */
START_TEST(overlap_errs_towards_approvers)
{
    fake_host *fh = new_host();

    fh_set(fh, "auto_approve_below", "20000.00");
    fh_set(fh, "two_approvals_from", "10000.00");
    pending(fh, 1500000);
    pending(fh, 999999);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REQUIRE, 2, "two_approvals_from");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    free_host(fh);
}
END_TEST

START_TEST(reject_inactive)
{
    fake_host *fh = new_host();

    fh_set(fh, "reject_inactive_partners", "true");
    fh_set(fh, "auto_approve_below", "1000.00");
    add_payout(fh, "pending_approval", "inactive", 1, 100);
    add_payout(fh, "pending_approval", "pending", 1, 100); /* not yet active: not inactive */
    add_payout(fh, "pending_approval", "active", 1, 100);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REJECT, 0, "reject_inactive_partners");
    ck_assert_str_eq(fh->decisions[0].reason, "partner is inactive");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    expect(fh, 2, "po-03", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_int_eq(fh_count(fh, "rejected"), 1);
    ck_assert_int_eq(fh_count(fh, "auto_approved"), 2);
    free_host(fh);
}
END_TEST

START_TEST(inactive_kept_when_not_asked)
{
    fake_host *fh = new_host();

    add_payout(fh, "pending_approval", "inactive", 0, 100);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REQUIRE, 1, "default");
    ck_assert_int_eq(fh_count(fh, "rejected"), 0);
    ck_assert_int_eq(fh_count(fh, "held"), 0);
    free_host(fh);
}
END_TEST

START_TEST(hold_without_details)
{
    fake_host *fh = new_host();

    fh_set(fh, "hold_without_payment_details", "true");
    fh_set(fh, "auto_approve_below", "1000.00");
    add_payout(fh, "pending_approval", "active", 0, 100);
    add_payout(fh, "pending_approval", "active", 1, 100);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_HOLD, 0, "hold_without_payment_details");
    ck_assert_str_eq(fh->decisions[0].reason, "no payment details on file");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_int_eq(fh_count(fh, "held"), 1);
    free_host(fh);
}
END_TEST

START_TEST(precedence)
{
    fake_host *fh = new_host();

    fh_set(fh, "reject_inactive_partners", "true");
    fh_set(fh, "hold_without_payment_details", "true");
    fh_set(fh, "auto_approve_below", "1000.00");
    fh_set(fh, "two_approvals_from", "10000.00");
    add_payout(fh, "pending_approval", "inactive", 0, 100);      /* reject beats hold */
    add_payout(fh, "pending_approval", "inactive", 1, 5000000);  /* reject beats 2 approvals */
    add_payout(fh, "pending_approval", "active", 0, 5000000);    /* hold beats 2 approvals */
    add_payout(fh, "pending_approval", "active", 0, 100);        /* hold beats auto */
    add_payout(fh, "pending_approval", "active", 1, 5000000);
    add_payout(fh, "pending_approval", "active", 1, 100);
    run_ok(fh);
    ck_assert_int_eq(fh->n_decisions, 6);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REJECT, 0, "reject_inactive_partners");
    expect(fh, 1, "po-02", PAYRUN_DECIDE_REJECT, 0, "reject_inactive_partners");
    expect(fh, 2, "po-03", PAYRUN_DECIDE_HOLD, 0, "hold_without_payment_details");
    expect(fh, 3, "po-04", PAYRUN_DECIDE_HOLD, 0, "hold_without_payment_details");
    expect(fh, 4, "po-05", PAYRUN_DECIDE_REQUIRE, 2, "two_approvals_from");
    expect(fh, 5, "po-06", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_int_eq(fh_count(fh, "rejected"), 2);
    ck_assert_int_eq(fh_count(fh, "held"), 2);
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 1);
    ck_assert_int_eq(fh_count(fh, "auto_approved"), 1);
    free_host(fh);
}
END_TEST

START_TEST(only_pending_payouts_are_decided)
{
    fake_host *fh = new_host();
    const char *others[] = {"approved", "processing", "paid", "failed", "rejected"};

    fh_set(fh, "reject_inactive_partners", "true");
    fh_set(fh, "hold_without_payment_details", "true");
    fh_set(fh, "auto_approve_below", "1000.00");
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        add_payout(fh, others[i], "inactive", 0, 100);
    add_payout(fh, "pending_approval", "active", 1, 100);
    run_ok(fh);
    ck_assert_int_eq(fh->n_decisions, 1);
    expect(fh, 0, "po-06", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_int_eq(fh_count(fh, "rejected"), 0);
    ck_assert_int_eq(fh_count(fh, "held"), 0);
    free_host(fh);
}
END_TEST

static void refused(const char *value)
{
    fake_host *fh = new_host();

    fh_set(fh, "two_approvals_from", "10000.00");
    fh_set(fh, "approvals_required", value);
    pending(fh, 5000000);
    ck_assert_int_ne(fh_run_plugin(fh, "approval_rules"), PAYRUN_OK);
    ck_assert_int_eq(fh->n_decisions, 0);
    ck_assert_msg(strstr(fh->last_error, "approvals_required") != NULL, "%s", fh->last_error);
    ck_assert_msg(strstr(fh->last_error, "from 2 to 10") != NULL, "%s", fh->last_error);
    free_host(fh);
}

START_TEST(approvals_required_out_of_range_refused)
{
    refused("1");
    refused("0");
    refused("-2");
    refused("11");
}
END_TEST

START_TEST(approvals_required_ten_accepted)
{
    fake_host *fh = new_host();

    fh_set(fh, "two_approvals_from", "10000.00");
    fh_set(fh, "approvals_required", "10");
    pending(fh, 5000000);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_REQUIRE, 10, "two_approvals_from");
    free_host(fh);
}
END_TEST

/* When the core refuses a decision, the plugin stops and hands the status
 * back; the core has already said what was refused. */
START_TEST(decide_failure_returned)
{
    fake_host *fh = new_host();

    pending(fh, 100);
    pending(fh, 200);
    fh->n_decisions = FH_MAX; /* the fake host's decide() now fails */
    ck_assert_int_eq(fh_run_plugin(fh, "approval_rules"), PAYRUN_ERR);
    ck_assert_int_eq(fh_count(fh, "needs_approval"), 0);
    free_host(fh);
}
END_TEST

START_TEST(zero_decimal_currency)
{
    fake_host *fh = new_host();

    fh->currency = "JPY";
    fh->exponent = 0;
    fh_set(fh, "auto_approve_below", "100000");
    pending(fh, 99999);
    run_ok(fh);
    expect(fh, 0, "po-01", PAYRUN_DECIDE_APPROVE, 0, "auto_approve_below");
    ck_assert_str_eq(fh->decisions[0].reason, "amount 99999 is below 100000");
    free_host(fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("approval_rules", PAYRUN_KIND_APPROVER);
}
END_TEST

Suite *approval_rules_suite(void)
{
    Suite *s = suite_create("approval_rules");
    TCase *tc = tcase_create("decisions");

    tcase_add_test(tc, no_keys_one_approver_each);
    tcase_add_test(tc, auto_approve_is_strictly_below);
    tcase_add_test(tc, two_approvals_from_is_inclusive);
    tcase_add_test(tc, approvals_required_is_passed);
    tcase_add_test(tc, thresholds_together);
    tcase_add_test(tc, overlap_errs_towards_approvers);
    tcase_add_test(tc, reject_inactive);
    tcase_add_test(tc, inactive_kept_when_not_asked);
    tcase_add_test(tc, hold_without_details);
    tcase_add_test(tc, precedence);
    tcase_add_test(tc, only_pending_payouts_are_decided);
    tcase_add_test(tc, approvals_required_out_of_range_refused);
    tcase_add_test(tc, approvals_required_ten_accepted);
    tcase_add_test(tc, decide_failure_returned);
    tcase_add_test(tc, zero_decimal_currency);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
