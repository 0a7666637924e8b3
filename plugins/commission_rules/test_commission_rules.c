/*
 * test_commission_rules.c: the commission_rules plugin against the fake
 * host. The fake host offers calc_lines[] to the plugin's rate function and
 * records the rate and rule name chosen for each, so these tests pin SPEC 3
 * rule 1: first matching rule in listed order, every given condition must
 * hold, min_amount inclusive, else the partner's own rate.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"

Suite *commission_rules_suite(void);

#define PCT(x) ((int64_t)(x) * PAYRUN_RATE_SCALE)

/* fake_host is a few hundred KiB: too much for a test's stack under ASan. */
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

static void add_line(fake_host *fh, const char *type, const char *tier, const char *product,
                     int64_t amount, int64_t partner_rate)
{
    struct payrun_calc_line *l = &fh->calc_lines[fh->n_calc_lines];
    ck_assert_uint_lt(fh->n_calc_lines, FH_MAX);
    memset(l, 0, sizeof(*l));
    l->line_id = (int64_t)fh->n_calc_lines + 1;
    l->partner_id = "p1";
    l->partner_type = type;
    l->partner_tier = tier;
    l->partner_rate = partner_rate;
    l->deal_id = "d1";
    l->product_line = product;
    l->attributed_amount = amount;
    fh->n_calc_lines++;
}

static void run_ok(fake_host *fh)
{
    int rc = fh_run_plugin(fh, "commission_rules");
    ck_assert_msg(rc == PAYRUN_OK, "run failed (%d): %s", rc, fh->last_error);
    ck_assert_int_eq(fh->calculated, 1);
}

static void gold_resellers_then_resellers(fake_host *fh)
{
    fh_set_item(fh, "rules", 0, "name", "gold-resellers");
    fh_set_item(fh, "rules", 0, "partner_type", "reseller");
    fh_set_item(fh, "rules", 0, "partner_tier", "gold");
    fh_set_item(fh, "rules", 0, "rate", "15");
    fh_set_item(fh, "rules", 1, "name", "resellers");
    fh_set_item(fh, "rules", 1, "partner_type", "reseller");
    fh_set_item(fh, "rules", 1, "rate", "10");
}

START_TEST(no_rules_gives_partner_rate)
{
    fake_host *fh = new_host();

    add_line(fh, "affiliate", "bronze", "", 123456, 7500000);
    add_line(fh, "reseller", "gold", "analytics", -500, PCT(20));
    run_ok(fh);
    ck_assert_int_eq(fh->rates[0], 7500000);
    ck_assert_str_eq(fh->rules[0], "partner_rate");
    ck_assert_int_eq(fh->rates[1], PCT(20));
    ck_assert_str_eq(fh->rules[1], "partner_rate");
    ck_assert_int_eq(fh_count(fh, "rule:partner_rate"), 2);
    free_host(fh);
}
END_TEST

START_TEST(default_params)
{
    fake_host *fh = new_host();

    run_ok(fh);
    ck_assert_uint_eq(fh->params.size, sizeof(struct payrun_calc_params));
    ck_assert_int_eq(fh->params.rounding, PAYRUN_ROUND_HALF_EVEN);
    ck_assert_int_eq(fh->params.min_payout, 0);
    free_host(fh);
}
END_TEST

START_TEST(params_passed)
{
    fake_host *fh = new_host();

    fh_set(fh, "rounding", "half_up");
    fh_set(fh, "min_payout", "100.00");
    run_ok(fh);
    ck_assert_uint_eq(fh->params.size, sizeof(struct payrun_calc_params));
    ck_assert_int_eq(fh->params.rounding, PAYRUN_ROUND_HALF_UP);
    ck_assert_int_eq(fh->params.min_payout, 10000);
    free_host(fh);
}
END_TEST

START_TEST(min_payout_in_currency_exponent)
{
    fake_host *fh = new_host();

    fh->currency = "JPY";
    fh->exponent = 0;
    fh_set(fh, "min_payout", "5000");
    run_ok(fh);
    ck_assert_int_eq(fh->params.min_payout, 5000);
    free_host(fh);
}
END_TEST

START_TEST(first_matching_rule_wins)
{
    fake_host *fh = new_host();

    gold_resellers_then_resellers(fh);
    add_line(fh, "reseller", "gold", "", 100000, PCT(5));   /* both match: first */
    add_line(fh, "reseller", "silver", "", 100000, PCT(5)); /* only the second */
    add_line(fh, "affiliate", "gold", "", 100000, PCT(5));  /* type fails both */
    run_ok(fh);
    ck_assert_int_eq(fh->rates[0], PCT(15));
    ck_assert_str_eq(fh->rules[0], "gold-resellers");
    ck_assert_int_eq(fh->rates[1], PCT(10));
    ck_assert_str_eq(fh->rules[1], "resellers");
    ck_assert_int_eq(fh->rates[2], PCT(5));
    ck_assert_str_eq(fh->rules[2], "partner_rate");
    ck_assert_int_eq(fh_count(fh, "rule:gold-resellers"), 1);
    ck_assert_int_eq(fh_count(fh, "rule:resellers"), 1);
    ck_assert_int_eq(fh_count(fh, "rule:partner_rate"), 1);
    free_host(fh);
}
END_TEST

/* The same two rules the other way round: the broader rule now shadows the
 * narrower one, because order, not specificity, decides. */
START_TEST(order_not_specificity)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "resellers");
    fh_set_item(fh, "rules", 0, "partner_type", "reseller");
    fh_set_item(fh, "rules", 0, "rate", "10");
    fh_set_item(fh, "rules", 1, "name", "gold-resellers");
    fh_set_item(fh, "rules", 1, "partner_type", "reseller");
    fh_set_item(fh, "rules", 1, "partner_tier", "gold");
    fh_set_item(fh, "rules", 1, "rate", "15");
    add_line(fh, "reseller", "gold", "", 100000, PCT(5));
    run_ok(fh);
    ck_assert_int_eq(fh->rates[0], PCT(10));
    ck_assert_str_eq(fh->rules[0], "resellers");
    ck_assert_int_eq(fh_count(fh, "rule:gold-resellers"), 0);
    free_host(fh);
}
END_TEST

START_TEST(min_amount_is_inclusive)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "big-deals");
    fh_set_item(fh, "rules", 0, "min_amount", "100000.00");
    fh_set_item(fh, "rules", 0, "rate", "12.5");
    add_line(fh, "affiliate", "bronze", "", 10000000, PCT(5)); /* exactly at: matches */
    add_line(fh, "affiliate", "bronze", "", 9999999, PCT(5));  /* one cent below */
    add_line(fh, "affiliate", "bronze", "", 10000001, PCT(5)); /* one cent above */
    run_ok(fh);
    ck_assert_int_eq(fh->rates[0], 12500000);
    ck_assert_str_eq(fh->rules[0], "big-deals");
    ck_assert_int_eq(fh->rates[1], PCT(5));
    ck_assert_str_eq(fh->rules[1], "partner_rate");
    ck_assert_int_eq(fh->rates[2], 12500000);
    ck_assert_int_eq(fh_count(fh, "rule:big-deals"), 2);
    free_host(fh);
}
END_TEST

START_TEST(negative_amounts)
{
    fake_host *fh = new_host();

    /* A clawback is below any non-negative minimum ... */
    fh_set_item(fh, "rules", 0, "name", "positive");
    fh_set_item(fh, "rules", 0, "min_amount", "0.00");
    fh_set_item(fh, "rules", 0, "rate", "20");
    /* ... but may still meet a negative one, inclusively ... */
    fh_set_item(fh, "rules", 1, "name", "small-clawbacks");
    fh_set_item(fh, "rules", 1, "min_amount", "-10.00");
    fh_set_item(fh, "rules", 1, "rate", "3");
    /* ... and a rule without a minimum takes it like any other line. */
    fh_set_item(fh, "rules", 2, "name", "resellers");
    fh_set_item(fh, "rules", 2, "partner_type", "reseller");
    fh_set_item(fh, "rules", 2, "rate", "10");
    add_line(fh, "affiliate", "gold", "", 0, PCT(5));      /* 0 >= 0.00 */
    add_line(fh, "affiliate", "gold", "", -1000, PCT(5));  /* == -10.00 */
    add_line(fh, "affiliate", "gold", "", -1001, PCT(5));  /* below every minimum */
    add_line(fh, "reseller", "gold", "", -250000, PCT(5)); /* no minimum on rule 3 */
    run_ok(fh);
    ck_assert_str_eq(fh->rules[0], "positive");
    ck_assert_int_eq(fh->rates[0], PCT(20));
    ck_assert_str_eq(fh->rules[1], "small-clawbacks");
    ck_assert_int_eq(fh->rates[1], PCT(3));
    ck_assert_str_eq(fh->rules[2], "partner_rate");
    ck_assert_int_eq(fh->rates[2], PCT(5));
    ck_assert_str_eq(fh->rules[3], "resellers");
    ck_assert_int_eq(fh->rates[3], PCT(10));
    free_host(fh);
}
END_TEST

START_TEST(product_line_match_and_mismatch)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "analytics");
    fh_set_item(fh, "rules", 0, "product_line", "analytics");
    fh_set_item(fh, "rules", 0, "rate", "8.25");
    add_line(fh, "affiliate", "gold", "analytics", 5000, PCT(5));
    add_line(fh, "affiliate", "gold", "Analytics", 5000, PCT(5)); /* exact, case and all */
    add_line(fh, "affiliate", "gold", "", 5000, PCT(5));          /* line has none */
    add_line(fh, "affiliate", "gold", NULL, 5000, PCT(5));
    add_line(fh, "affiliate", "gold", "analytics-pro", 5000, PCT(5));
    run_ok(fh);
    ck_assert_str_eq(fh->rules[0], "analytics");
    ck_assert_int_eq(fh->rates[0], 8250000);
    for (int i = 1; i < 5; i++) {
        ck_assert_str_eq(fh->rules[i], "partner_rate");
        ck_assert_int_eq(fh->rates[i], PCT(5));
    }
    free_host(fh);
}
END_TEST

START_TEST(every_condition_must_hold)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "all-four");
    fh_set_item(fh, "rules", 0, "partner_type", "integration");
    fh_set_item(fh, "rules", 0, "partner_tier", "platinum");
    fh_set_item(fh, "rules", 0, "product_line", "api");
    fh_set_item(fh, "rules", 0, "min_amount", "50.00");
    fh_set_item(fh, "rules", 0, "rate", "33.333333");
    add_line(fh, "integration", "platinum", "api", 5000, PCT(1)); /* all hold */
    add_line(fh, "referral", "platinum", "api", 5000, PCT(1));    /* type */
    add_line(fh, "integration", "gold", "api", 5000, PCT(1));     /* tier */
    add_line(fh, "integration", "platinum", "web", 5000, PCT(1)); /* product */
    add_line(fh, "integration", "platinum", "api", 4999, PCT(1)); /* amount */
    run_ok(fh);
    ck_assert_str_eq(fh->rules[0], "all-four");
    ck_assert_int_eq(fh->rates[0], 33333333);
    for (int i = 1; i < 5; i++)
        ck_assert_str_eq(fh->rules[i], "partner_rate");
    free_host(fh);
}
END_TEST

START_TEST(rule_without_conditions_matches_all)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "flat");
    fh_set_item(fh, "rules", 0, "rate", "0");
    fh_set_item(fh, "rules", 1, "name", "never");
    fh_set_item(fh, "rules", 1, "rate", "50");
    add_line(fh, "affiliate", "bronze", "", -7, PCT(5));
    add_line(fh, "reseller", "platinum", "x", 9000000, PCT(5));
    run_ok(fh);
    ck_assert_str_eq(fh->rules[0], "flat");
    ck_assert_int_eq(fh->rates[0], 0);
    ck_assert_str_eq(fh->rules[1], "flat");
    ck_assert_int_eq(fh_count(fh, "rule:flat"), 2);
    free_host(fh);
}
END_TEST

START_TEST(duplicate_rule_names_refused)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "same");
    fh_set_item(fh, "rules", 0, "rate", "1");
    fh_set_item(fh, "rules", 1, "name", "same");
    fh_set_item(fh, "rules", 1, "rate", "2");
    ck_assert_int_ne(fh_run_plugin(fh, "commission_rules"), PAYRUN_OK);
    ck_assert_int_eq(fh->calculated, 0);
    ck_assert_ptr_nonnull(strstr(fh->last_error, "rules 1 and 2"));
    ck_assert_ptr_nonnull(strstr(fh->last_error, "\"same\""));
    free_host(fh);
}
END_TEST

START_TEST(reserved_rule_name_refused)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "partner_rate");
    fh_set_item(fh, "rules", 0, "rate", "1");
    ck_assert_int_ne(fh_run_plugin(fh, "commission_rules"), PAYRUN_OK);
    ck_assert_int_eq(fh->calculated, 0);
    ck_assert_ptr_nonnull(strstr(fh->last_error, "reserved"));
    free_host(fh);
}
END_TEST

START_TEST(rule_without_rate_refused)
{
    fake_host *fh = new_host();

    fh_set_item(fh, "rules", 0, "name", "ok");
    fh_set_item(fh, "rules", 0, "rate", "1");
    fh_set_item(fh, "rules", 1, "name", "no-rate");
    fh_set_item(fh, "rules", 1, "partner_tier", "gold");
    ck_assert_int_ne(fh_run_plugin(fh, "commission_rules"), PAYRUN_OK);
    ck_assert_int_eq(fh->calculated, 0);
    ck_assert_ptr_nonnull(strstr(fh->last_error, "\"no-rate\" has no rate"));
    free_host(fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("commission_rules", PAYRUN_KIND_CALCULATOR);
}
END_TEST

Suite *commission_rules_suite(void)
{
    Suite *s = suite_create("commission_rules");
    TCase *tc = tcase_create("rates");

    tcase_add_test(tc, no_rules_gives_partner_rate);
    tcase_add_test(tc, default_params);
    tcase_add_test(tc, params_passed);
    tcase_add_test(tc, min_payout_in_currency_exponent);
    tcase_add_test(tc, first_matching_rule_wins);
    tcase_add_test(tc, order_not_specificity);
    tcase_add_test(tc, min_amount_is_inclusive);
    tcase_add_test(tc, negative_amounts);
    tcase_add_test(tc, product_line_match_and_mismatch);
    tcase_add_test(tc, every_condition_must_hold);
    tcase_add_test(tc, rule_without_conditions_matches_all);
    tcase_add_test(tc, duplicate_rule_names_refused);
    tcase_add_test(tc, reserved_rule_name_refused);
    tcase_add_test(tc, rule_without_rate_refused);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
