/*
 * test_attribution_csv.c: the attribution_csv importer, loaded as the real
 * .so and run against the fake host. The fake host accepts partners
 * P-001..P-004, the batch currency USD and closed_on in 2026-02, and
 * answers SKIPPED for deals that are not won, so every reason the core
 * gives can be provoked from a fixture in tests/fixtures/attribution_csv/.
 *
 * Every run checks the invariant read = imported + rejected +
 * not_commissionable.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *attribution_csv_suite(void);

#define FIXTURE(name) FIXTURES_DIR "/attribution_csv/" name

#define HEADER                                                                          \
    "deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,"               \
    "attributed_amount,currency,product_line"

static const char *const known_partners[] = {"P-001", "P-002", "P-003", "P-004"};

static void start(fake_host *fh)
{
    fh_init(fh);
    for (size_t i = 0; i < sizeof(known_partners) / sizeof(known_partners[0]); i++)
        fh->known_partners[fh->n_known_partners++] = known_partners[i];
}

/* Run with the good partners file unless the test set its own. */
static int run_with(fake_host *fh, const char *attributions, const char *partners,
                    const char *on_reject)
{
    fh_set(fh, "path", attributions);
    fh_set(fh, "partners", partners ? partners : FIXTURE("partners.csv"));
    if (on_reject != NULL)
        fh_set(fh, "on_reject", on_reject);
    return fh_run_plugin(fh, "attribution_csv");
}

static void assert_invariant(const fake_host *fh)
{
    ck_assert_int_eq(fh_count(fh, "read"), fh_count(fh, "imported") + fh_count(fh, "rejected") +
                                               fh_count(fh, "not_commissionable"));
    ck_assert_int_eq(fh_count(fh, "partners_read"),
                     fh_count(fh, "partners_imported") + fh_count(fh, "partners_rejected"));
}

static void assert_counts(const fake_host *fh, int64_t read, int64_t imported, int64_t rejected,
                          int64_t not_commissionable)
{
    ck_assert_int_eq(fh_count(fh, "read"), read);
    ck_assert_int_eq(fh_count(fh, "imported"), imported);
    ck_assert_int_eq(fh_count(fh, "rejected"), rejected);
    ck_assert_int_eq(fh_count(fh, "not_commissionable"), not_commissionable);
    assert_invariant(fh);
}

static char *read_rejects(const fake_host *fh)
{
    char *text;

    ck_assert_int_eq(fh->n_outputs, 1);
    ck_assert_uint_eq(fh->output_flags[0] & PAYRUN_OUTPUT_KEEP_ON_FAILURE,
                      PAYRUN_OUTPUT_KEEP_ON_FAILURE);
    text = fh_read_file(fh->outputs[0]);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strncmp(text, "file,line,reason,record\n", 24) == 0, "header: %.40s", text);
    return text;
}

/*
 * The rejects row of `file` at `line` (up to the next row of any file that
 * starts with `file`), checked to hold `keyword` as a CSV cell holds it,
 * that is with its quotes doubled.
 */
static int reject_row_has(const char *rejects, const char *file, int line, const char *keyword)
{
    char key[256], next_key[256], row[4096], want[512];
    const char *at, *end;
    size_t n, o = 0;

    for (const char *k = keyword; *k && o + 3 < sizeof(want); k++) {
        if (*k == '"')
            want[o++] = '"';
        want[o++] = *k;
    }
    want[o] = '\0';

    snprintf(key, sizeof(key), "\n%s,%d,", file, line);
    snprintf(next_key, sizeof(next_key), "\n%s,", file);
    at = strstr(rejects, key);
    if (at == NULL)
        return 0;
    end = strstr(at + 1, next_key);
    n = end ? (size_t)(end - at) : strlen(at);
    if (n >= sizeof(row))
        n = sizeof(row) - 1;
    memcpy(row, at, n);
    row[n] = '\0';
    return strstr(row, want) != NULL;
}

static size_t count_rows(const char *rejects)
{
    size_t n = 0;
    int quoted = 0;

    for (const char *p = rejects; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '\n' && !quoted)
            n++;
    }
    return n - 1; /* the header */
}

/* ---- the good files ------------------------------------------------------ */

START_TEST(imports_good_files)
{
    fake_host fh;
    static const int64_t amounts[] = {600000, 600000, 2500000, -150000, 333333};
    static const int64_t sources[] = {2, 3, 4, 7, 8};

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("attributions.csv"), NULL, NULL), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    ck_assert_int_eq(fh.n_partners, 4);
    ck_assert_str_eq(fh.partner_ids[1], "P-002");
    ck_assert_int_eq(fh_count(&fh, "partners_read"), 4);
    ck_assert_int_eq(fh_count(&fh, "partners_imported"), 4);
    ck_assert_int_eq(fh_count(&fh, "partners_rejected"), 0);
    assert_counts(&fh, 7, 5, 0, 2);
    ck_assert_int_eq(fh.n_lines, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(fh.line_amounts[i], amounts[i]);
        ck_assert_int_eq(fh.line_source[i], sources[i]);
    }
    /* no reject, no rejects file */
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(lost_and_open_are_not_commissionable)
{
    fake_host fh;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("attributions.csv"), NULL, "fail"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_skipped, 2);
    ck_assert_int_eq(fh_count(&fh, "not_commissionable"), 2);
    ck_assert_int_eq(fh_count(&fh, "rejected"), 0);
    assert_invariant(&fh);
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

/* ---- one bad fixture per case, in both modes ----------------------------- */

struct bad_case {
    const char *file;
    int first_line;
    const char *keyword; /* in the reason of the first rejected row */
    int read, imported, rejected, not_commissionable;
    int good_lines[4]; /* source lines of the imported rows */
};

static const struct bad_case bad_cases[] = {
    {"bad-malformed-quote.csv", 3, "malformed CSV: unexpected quote at line 3, column 16", 3, 2, 1,
     0, {2, 4}},
    {"bad-field-count.csv", 3, "expected 10 fields, found 9", 4, 2, 2, 0, {2, 4}},
    {"bad-amount.csv", 3, "thousands separators", 6, 2, 4, 0, {2, 7}},
    {"bad-unknown-partner.csv", 3, "unknown partner \"P-999\"", 3, 2, 1, 0, {2, 4}},
    {"bad-currency-mismatch.csv", 3, "currency \"EUR\" does not match", 3, 2, 1, 0, {2, 4}},
    {"bad-out-of-period.csv", 3, "outside the period", 3, 2, 1, 0, {2, 4}},
    {"bad-date.csv", 3, "bad closed_on \"2026-02-30\"", 7, 2, 4, 1, {2, 8}},
    {"bad-status.csv", 3, "bad deal_status \"closed-won\"", 4, 2, 1, 1, {2, 5}},
    {"bad-nul-byte.csv", 3, "NUL byte at line 3, column 15", 3, 2, 1, 0, {2, 4}},
};

#define N_BAD_CASES ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

static const char *fixture_path(const char *file)
{
    static char path[1024];

    snprintf(path, sizeof(path), "%s/attribution_csv/%s", FIXTURES_DIR, file);
    return path;
}

START_TEST(bad_fixture_fails_by_default)
{
    const struct bad_case *bc = &bad_cases[_i];
    fake_host fh;
    char want[256], *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, fixture_path(bc->file), NULL, NULL), PAYRUN_ERR_INPUT);
    assert_counts(&fh, bc->read, bc->imported, bc->rejected, bc->not_commissionable);
    snprintf(want, sizeof(want), "%d of %d rows rejected (%s); first at line %d: ", bc->rejected,
             bc->read, bc->file, bc->first_line);
    ck_assert_msg(strstr(fh.last_error, want) != NULL, "%s: error \"%s\"", bc->file,
                  fh.last_error);
    ck_assert_msg(strstr(fh.last_error, bc->keyword) != NULL, "%s: error \"%s\"", bc->file,
                  fh.last_error);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "rejects.csv"));
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "on_reject: skip"));

    rejects = read_rejects(&fh);
    ck_assert_msg(reject_row_has(rejects, bc->file, bc->first_line, bc->keyword),
                  "%s: line %d \"%s\" not in rejects:\n%s", bc->file, bc->first_line,
                  bc->keyword, rejects);
    ck_assert_uint_eq(count_rows(rejects), (size_t)bc->rejected);
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_fixture_skips_when_asked)
{
    const struct bad_case *bc = &bad_cases[_i];
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, fixture_path(bc->file), NULL, "skip"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    assert_counts(&fh, bc->read, bc->imported, bc->rejected, bc->not_commissionable);
    ck_assert_int_eq(fh.n_lines, bc->imported);
    for (int i = 0; i < bc->imported; i++)
        ck_assert_int_eq(fh.line_source[i], bc->good_lines[i]);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, bc->file, bc->first_line, bc->keyword));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/* Each bad amount gets the core's own reason, on its own line. */
START_TEST(bad_amounts_each_say_why)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-amount.csv"), NULL, "skip"), PAYRUN_OK);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "bad-amount.csv", 3, "attributed_amount: bad amount"));
    ck_assert(reject_row_has(rejects, "bad-amount.csv", 3, "write 1200.00"));
    ck_assert(reject_row_has(rejects, "bad-amount.csv", 4, "exponent"));
    ck_assert(reject_row_has(rejects, "bad-amount.csv", 5, "currency symbols"));
    ck_assert(reject_row_has(rejects, "bad-amount.csv", 6, "empty value"));
    ck_assert_int_eq(fh.line_amounts[0], 100000);
    ck_assert_int_eq(fh.line_amounts[1], 70000);
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_dates_and_leap_years)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-date.csv"), NULL, "skip"), PAYRUN_OK);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "bad-date.csv", 3, "2026-02 has 28 days"));
    /* 2026 is not a leap year ... */
    ck_assert(reject_row_has(rejects, "bad-date.csv", 4, "day 29 does not exist"));
    /* ... 2024 is: line 5 is a valid lost deal, not a reject */
    ck_assert(!reject_row_has(rejects, "bad-date.csv", 5, ""));
    ck_assert(reject_row_has(rejects, "bad-date.csv", 6, "YYYY-MM-DD"));
    ck_assert(reject_row_has(rejects, "bad-date.csv", 7, "closed_on is empty"));
    ck_assert_int_eq(fh_count(&fh, "not_commissionable"), 1);
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(field_count_both_ways)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-field-count.csv"), NULL, "skip"), PAYRUN_OK);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "bad-field-count.csv", 3, "expected 10 fields, found 9"));
    ck_assert(reject_row_has(rejects, "bad-field-count.csv", 5, "expected 10 fields, found 11"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/* The core's reason for a refused line reaches the rejects file and the
 * error unchanged (the duplicate deal_id+partner_id check lives in the core
 * and comes back by this same path). */
START_TEST(core_reason_passes_through)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-unknown-partner.csv"), NULL, NULL),
                     PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "first at line 3: unknown partner \"P-999\""));
    rejects = read_rejects(&fh);
    ck_assert_ptr_nonnull(strstr(rejects, "\nbad-unknown-partner.csv,3,"
                                          "\"unknown partner \"\"P-999\"\"\","));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/*
 * Lines the core refuses only when it settles them (a second line of a
 * deal and partner; an unknown partner, with late_checks): each reaches
 * the rejects file with its line number, reason and the row as written,
 * the counts move from imported to rejected, and the error names the
 * earliest rejected line even when a later one was rejected first.
 */
START_TEST(late_rejects_are_written_like_any_other)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh.late_checks = 1;
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-late-rejects.csv"), NULL, "skip"), PAYRUN_OK);
    ck_assert(fh.settled);
    ck_assert_int_eq(fh.late_rejected, 2);
    ck_assert_int_eq(fh_count(&fh, "read"), 6);
    ck_assert_int_eq(fh_count(&fh, "rejected"), 3);
    ck_assert_int_eq(fh_count(&fh, "imported"), 3);
    assert_invariant(&fh);
    /* The lines kept: 2, 3 and 7 (D-3001 of another partner is no duplicate). */
    ck_assert_int_eq(fh.n_lines, 3);
    ck_assert_int_eq(fh.line_source[0], 2);
    ck_assert_int_eq(fh.line_source[1], 3);
    ck_assert_int_eq(fh.line_source[2], 7);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "bad-late-rejects.csv", 4,
                             "duplicate deal_id \"D-3001\" for partner_id \"P-001\""));
    ck_assert(reject_row_has(rejects, "bad-late-rejects.csv", 5, "unknown partner \"P-999\""));
    ck_assert(reject_row_has(rejects, "bad-late-rejects.csv", 6, "attributed_amount"));
    /* The record is the row as written, quotes and all. */
    ck_assert_ptr_nonnull(strstr(rejects, ",\"D-3001,\"\"Globex renewal, again\"\",won,"
                                          "2026-02-04,P-001,equal_split,100,1100.00,USD,"
                                          "platform\"\n"));
    free(rejects);
    fh_cleanup(&fh);

    /* By default the run fails, naming line 4, the earliest. */
    start(&fh);
    fh.late_checks = 1;
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-late-rejects.csv"), NULL, NULL),
                     PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "first at line 4: duplicate deal_id") != NULL, "%s",
                  fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* The file cut short while it was imported: the lines the core hands
 * back can no longer be found as they were read, and the import fails
 * saying so rather than writing a rejects record of another row. */
static void cut_to_two_rows(fake_host *fh)
{
    fh_write_file(fh, "late.csv", HEADER "\n"
                  "D-3001,Globex renewal,won,2026-02-03,P-001,equal_split,100,1000.00,USD,platform\n"
                  "D-3002,Initech expansion,won,2026-02-10,P-002,first_touch,100,2000.00,USD,"
                  "analytics\n");
}

START_TEST(input_changed_while_imported)
{
    fake_host fh;
    char *text = fh_read_file(FIXTURE("bad-late-rejects.csv"));

    ck_assert_ptr_nonnull(text);
    start(&fh);
    fh.late_checks = 1;
    fh_write_file(&fh, "late.csv", text);
    free(text);
    fh.before_settle = cut_to_two_rows;
    ck_assert_int_eq(run_with(&fh, fh_path(&fh, "late.csv"), NULL, "skip"), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "late.csv\" changed while it was imported: line 4 is no "
                                        "longer the row that was read") != NULL,
                  "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_hint, "do not change an input file while payrun reads it") !=
                      NULL, "%s", fh.last_hint);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(missing_columns_are_all_named)
{
    fake_host fh;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-missing-column.csv"), NULL, "skip"),
                     PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "bad-missing-column.csv:1: missing required column(s) "
                                        "\"percentage\", \"currency\"") != NULL,
                  "error: %s", fh.last_error);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "deal_id,deal_name"));
    ck_assert_int_eq(fh.n_lines, 0);
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

/* ---- partners ------------------------------------------------------------- */

START_TEST(partner_with_bad_type_is_rejected)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("attributions.csv"), FIXTURE("partners-bad-type.csv"),
                              NULL),
                     PAYRUN_ERR_INPUT);
    ck_assert_int_eq(fh_count(&fh, "partners_read"), 4);
    ck_assert_int_eq(fh_count(&fh, "partners_imported"), 3);
    ck_assert_int_eq(fh_count(&fh, "partners_rejected"), 1);
    /* the attributions are still read, so every bad row is listed at once */
    assert_counts(&fh, 7, 5, 0, 2);
    ck_assert_msg(strstr(fh.last_error, "1 of 4 rows rejected (partners-bad-type.csv); first at "
                                        "line 3: bad type \"vendor\"") != NULL,
                  "error: %s", fh.last_error);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "partners-bad-type.csv", 3, "expected affiliate"));
    free(rejects);
    fh_cleanup(&fh);

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("attributions.csv"), FIXTURE("partners-bad-type.csv"),
                              "skip"),
                     PAYRUN_OK);
    ck_assert_int_eq(fh.n_partners, 3);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(duplicate_partner_id_is_rejected)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("attributions.csv"),
                              FIXTURE("partners-duplicate-id.csv"), "skip"),
                     PAYRUN_OK);
    ck_assert_int_eq(fh_count(&fh, "partners_read"), 5);
    ck_assert_int_eq(fh_count(&fh, "partners_rejected"), 1);
    ck_assert_int_eq(fh.n_partners, 4);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "partners-duplicate-id.csv", 4,
                             "duplicate partner_id \"P-001\" (first at line 2)"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(rejects_in_both_files_are_summed_up)
{
    fake_host fh;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, FIXTURE("bad-status.csv"), FIXTURE("partners-bad-type.csv"),
                              NULL),
                     PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "1 of 4 rows rejected (partners-bad-type.csv), 1 of 4 "
                                        "rows rejected (bad-status.csv); first at line 3 of "
                                        "partners-bad-type.csv: ") != NULL,
                  "error: %s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* ---- CSV shapes ----------------------------------------------------------- */

START_TEST(columns_in_any_order_and_unknown_ignored)
{
    fake_host fh;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  "currency,partner_id,note,attributed_amount,deal_id,percentage,model,"
                  "closed_on,deal_status,deal_name\n"
                  "USD,P-001,anything,100.00,D-1,100,equal_split,2026-02-01,won,Alpha\n"
                  "USD,P-002,,250.50,D-2,100,first_touch,2026-02-02,won,Beta\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_OK);
    assert_counts(&fh, 2, 2, 0, 0);
    ck_assert_int_eq(fh.line_amounts[0], 10000);
    ck_assert_int_eq(fh.line_amounts[1], 25050);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(embedded_newlines_keep_line_numbers)
{
    fake_host fh;
    char *rejects;
    static const int64_t sources[] = {2, 3, 5, 8};

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\n"
                  "D-1,Alpha,won,2026-02-01,P-001,equal_split,100,1.00,USD,x\n"
                  "D-2,\"Beta\n"
                  "two lines\",won,2026-02-02,P-002,first_touch,100,2.00,USD,x\n"
                  "D-3,Gamma,won,2026-02-03,P-003,last_touch,100,3.00,USD,x\n"
                  "D-4,\"Delta \"\"quoted\"\"\n"
                  "and bad\",wonn,2026-02-04,P-004,time_decay,100,4.00,USD,x\n"
                  "D-5,Epsilon,won,2026-02-05,P-001,role_based,100,5.00,USD,x\n"
                  "\n"
                  "D-6,Zeta,wonn,2026-02-06,P-002,role_based,100,6.00,USD,x\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_counts(&fh, 6, 4, 2, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fh.line_source[i], sources[i]);
    rejects = read_rejects(&fh);
    /* the raw record keeps its inner newline, quoted for the CSV */
    ck_assert_msg(strstr(rejects, "\na.csv,6,\"bad deal_status \"\"wonn\"\": expected won, lost "
                                  "or open\",\"D-4,\"\"Delta \"\"\"\"quoted\"\"\"\"\n"
                                  "and bad\"\",wonn,") != NULL,
                  "rejects:\n%s", rejects);
    ck_assert(reject_row_has(rejects, "a.csv", 10, "wonn"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(crlf_line_endings)
{
    fake_host fh;
    char *rejects;
    static const int64_t sources[] = {2, 3, 6};

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\r\n"
                  "D-1,Alpha,won,2026-02-01,P-001,equal_split,100,100.00,USD,platform\r\n"
                  "D-2,\"Beta\r\nsecond line\",won,2026-02-02,P-002,first_touch,100,200.00,USD,"
                  "\"analytics\"\r\n"
                  "D-3,Gamma,wonn,2026-02-03,P-003,last_touch,100,300.00,USD,\r\n"
                  "D-4,Delta,won,2026-02-04,P-004,time_decay,100,400.00,USD,\r\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_counts(&fh, 4, 3, 1, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(fh.line_source[i], sources[i]);
    ck_assert_int_eq(fh.line_amounts[2], 40000);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 5, "bad deal_status"));
    /* the record text loses its CRLF, not just the LF */
    ck_assert_ptr_nonnull(strstr(rejects, "300.00,USD,\"\n"));
    ck_assert_ptr_null(strchr(rejects, '\r'));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(formulas_are_neutralised_in_rejects)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  "deal_name,deal_id,deal_status,closed_on,partner_id,model,percentage,"
                  "attributed_amount,currency\n"
                  "=SUM(1+2)*cmd|' /C calc'!A0,D-1,wonn,2026-02-01,P-001,equal_split,100,1.00,"
                  "USD\n"
                  "@IMPORT,D-2,won,2026-02-01,P-001,equal_split,100,abc,USD\n"
                  "Fine,D-3,won,2026-02-01,P-001,equal_split,100,3.00,USD\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_counts(&fh, 3, 1, 2, 0);
    rejects = read_rejects(&fh);
    ck_assert_msg(strstr(rejects, ",\"'=SUM(1+2)*cmd|' /C calc'!A0,D-1,wonn,") != NULL,
                  "rejects:\n%s", rejects);
    ck_assert_ptr_nonnull(strstr(rejects, ",\"'@IMPORT,D-2,"));
    /* no cell anywhere starts with a bare trigger */
    ck_assert_ptr_null(strstr(rejects, ",\"="));
    ck_assert_ptr_null(strstr(rejects, ",="));
    ck_assert_ptr_null(strstr(rejects, ",\"@"));
    ck_assert_ptr_null(strstr(rejects, "\n="));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(unclosed_quote_at_end_of_file)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\n"
                  "D-1,Alpha,won,2026-02-01,P-001,equal_split,100,1.00,USD,x\n"
                  "D-2,\"Beta,won,2026-02-02,P-002,first_touch,100,2.00,USD,x\n"
                  "D-3,Gamma,won,2026-02-03,P-003,last_touch,100,3.00,USD,x\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_ERR_INPUT);
    assert_counts(&fh, 2, 1, 1, 0);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "first at line 3: malformed CSV"));
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 3, "not closed by the end of the file"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bom_blank_lines_and_no_final_newline)
{
    fake_host fh;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  "\xEF\xBB\xBF" HEADER "\n"
                  "\n"
                  "D-1,Alpha,won,2026-02-01,P-001,equal_split,100,1.00,USD,x\n"
                  "\r\n"
                  "D-2,Beta,won,2026-02-02,P-002,first_touch,100,2.00,USD,x");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_OK);
    assert_counts(&fh, 2, 2, 0, 0);
    ck_assert_int_eq(fh.line_source[0], 3);
    ck_assert_int_eq(fh.line_source[1], 5);
    fh_cleanup(&fh);
}
END_TEST

/* RFC 4180: spaces belong to the field, so a padded amount is a bad value
 * rather than something silently trimmed. */
START_TEST(spaces_are_data)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\n"
                  "D-1,Alpha,won,2026-02-01,P-001,equal_split,100, 1.00,USD,x\n"
                  "D-2,Beta,won ,2026-02-02,P-002,first_touch,100,2.00,USD,x\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_counts(&fh, 2, 0, 2, 0);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 2, "whitespace"));
    ck_assert(reject_row_has(rejects, "a.csv", 3, "bad deal_status \"won \""));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(not_utf8_is_rejected)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\n"
                  "D-1,Caf\xE9 Cr\xE8me,won,2026-02-01,P-001,equal_split,100,1.00,USD,x\n"
                  "D-2,Caf\xC3\xA9,won,2026-02-02,P-002,first_touch,100,2.00,USD,x\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_counts(&fh, 2, 1, 1, 0);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 2, "not UTF-8: byte 0xE9 at line 2, column 8"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/* A file's bytes, NULs and all: *len gets their number. */
static char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    data = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* A NUL byte rejects its row, with the line and column, and the row is
 * counted; the rejects file shows it as U+2400 and never holds a NUL, which
 * would cut the file short for any C string reader (found by fuzz_csv). */
START_TEST(nul_byte_rejected_and_never_copied)
{
    static const char text[] =
        HEADER "\n"
        "D-1,Alpha,won,2026-02-01,P-001,equal_split,100,1.00,USD,x\n"
        "D-2,Be\0ta,won,2026-02-02,P-002,first_touch,100,2.00,USD,x\n"
        "D-3,Gamma,won,2026-02-03,P-003,last_touch,100,3.00,USD,x\n"
        "\0=D-4,Delta,won,2026-02-04,P-004,last_touch,100,4.00,USD,x\n";
    fake_host fh;
    char *rejects;
    size_t len;
    FILE *f;

    for (int skip = 0; skip <= 1; skip++) {
        start(&fh);
        f = fopen(fh_path(&fh, "a.csv"), "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(run_with(&fh, "a.csv", NULL, skip ? "skip" : NULL),
                         skip ? PAYRUN_OK : PAYRUN_ERR_INPUT);
        assert_counts(&fh, 4, 2, 2, 0);
        ck_assert_int_eq(fh.n_lines, 2);
        if (!skip)
            ck_assert_msg(strstr(fh.last_error, "2 of 4 rows rejected (a.csv); first at line 3: "
                                 "malformed CSV: NUL byte at line 3, column 7") != NULL,
                          "%s", fh.last_error);
        ck_assert_int_eq(fh.n_outputs, 1);
        rejects = read_bytes(fh.outputs[0], &len);
        ck_assert_msg(memchr(rejects, '\0', len) == NULL, "a NUL byte in the rejects file");
        ck_assert_msg(strstr(rejects, "\na.csv,3,\"malformed CSV: NUL byte at line 3, column 7; a "
                             "text file holds none\",\"D-2,Be\xE2\x90\x80ta,won,") != NULL,
                      "%s", rejects);
        /* the symbol is not a formula's first character: no apostrophe */
        ck_assert_msg(strstr(rejects, "\na.csv,5,\"malformed CSV: NUL byte at line 5, column 1; a "
                             "text file holds none\",\"\xE2\x90\x80=D-4,Delta,") != NULL,
                      "%s", rejects);
        ck_assert_uint_eq(count_rows(rejects), 2);
        free(rejects);
        fh_cleanup(&fh);
    }
}
END_TEST

/* All of one row's problems are reported together. */
START_TEST(all_problems_of_a_row_in_one_reason)
{
    fake_host fh;
    char *rejects;

    start(&fh);
    fh_write_file(&fh, "a.csv",
                  HEADER "\n"
                  ",Alpha,done,2026-13-01,P-001,guess,101,1.001,usd,x\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 2, "deal_id is empty; bad deal_status"));
    ck_assert(reject_row_has(rejects, "a.csv", 2, "month 13 does not exist"));
    ck_assert(reject_row_has(rejects, "a.csv", 2, "bad model"));
    ck_assert(reject_row_has(rejects, "a.csv", 2, "percentage: bad rate"));
    ck_assert(reject_row_has(rejects, "a.csv", 2, "attributed_amount: bad amount"));
    ck_assert(reject_row_has(rejects, "a.csv", 2, "bad currency"));
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/* ---- whole-file errors ------------------------------------------------------ */

START_TEST(missing_file)
{
    fake_host fh;

    start(&fh);
    ck_assert_int_eq(run_with(&fh, "nope.csv", NULL, NULL), PAYRUN_ERR_NOINPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "cannot open \""));
    ck_assert_ptr_nonnull(strstr(fh.last_error, "nope.csv\": No such file or directory"));
    fh_cleanup(&fh);
}
END_TEST

START_TEST(empty_file)
{
    fake_host fh;

    start(&fh);
    fh_write_file(&fh, "a.csv", "\n\r\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "a.csv: empty file; expected a header row"));
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "deal_id,deal_name"));
    fh_cleanup(&fh);
}
END_TEST

START_TEST(header_only_is_an_empty_period)
{
    fake_host fh;

    start(&fh);
    fh_write_file(&fh, "a.csv", HEADER "\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_OK);
    assert_counts(&fh, 0, 0, 0, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(duplicate_header_name)
{
    fake_host fh;

    start(&fh);
    fh_write_file(&fh, "a.csv", HEADER ",deal_id\n");
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "a.csv:1: duplicate column \"deal_id\" (columns 1 and "
                                        "11)") != NULL,
                  "error: %s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* Memory follows the record, not the file: a long file streams through. */
START_TEST(long_file_streams)
{
    fake_host fh;
    const int rows = 20000;
    size_t cap = (size_t)rows * 96 + 256, o = 0;
    char *text = malloc(cap);

    ck_assert_ptr_nonnull(text);
    o += (size_t)snprintf(text, cap, "%s\n", HEADER);
    for (int i = 0; i < rows; i++)
        o += (size_t)snprintf(text + o, cap - o,
                              "D-%d,Deal %d,lost,2026-02-01,P-001,equal_split,100,%d.00,USD,x\n",
                              i, i, i);
    start(&fh);
    fh_write_file(&fh, "a.csv", text);
    free(text);
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, NULL), PAYRUN_OK);
    assert_counts(&fh, rows, 0, 0, rows);
    fh_cleanup(&fh);
}
END_TEST

/* A quote that is never closed cannot swallow the rest of a large file:
 * the record is cut at 1 MiB and reading resumes with the next line. */
START_TEST(runaway_quote_is_cut)
{
    fake_host fh;
    const int rows = 20000;
    size_t cap = (size_t)rows * 96 + 512, o = 0;
    char *text = malloc(cap), *rejects;

    ck_assert_ptr_nonnull(text);
    o += (size_t)snprintf(text, cap, "%s\n%s\n%s\n", HEADER,
                          "D-0,Alpha,won,2026-02-01,P-001,equal_split,100,1.00,USD,x",
                          "D-1,\"Beta,won,2026-02-01,P-001,equal_split,100,1.00,USD,x");
    for (int i = 0; i < rows; i++)
        o += (size_t)snprintf(text + o, cap - o,
                              "D-%d,Deal %d,lost,2026-02-01,P-001,equal_split,100,%d.00,USD,x\n",
                              i + 2, i, i);
    start(&fh);
    fh_write_file(&fh, "a.csv", text);
    free(text);
    ck_assert_int_eq(run_with(&fh, "a.csv", NULL, "skip"), PAYRUN_OK);
    assert_invariant(&fh);
    ck_assert_int_eq(fh_count(&fh, "rejected"), 1);
    ck_assert_int_eq(fh_count(&fh, "imported"), 1);
    ck_assert_int_gt(fh_count(&fh, "not_commissionable"), 1000);
    rejects = read_rejects(&fh);
    ck_assert(reject_row_has(rejects, "a.csv", 3, "record longer than 1048576 bytes (lines 3 to"));
    {
        /* every line is either in the cut record or read on its own */
        const char *at = strstr(rejects, "(lines 3 to ") + 12;
        int64_t last = 0;

        while (*at >= '0' && *at <= '9')
            last = last * 10 + (*at++ - '0');
        ck_assert_int_gt(last, 3);
        ck_assert_int_eq(fh_count(&fh, "not_commissionable"), 3 + rows - last);
    }
    free(rejects);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("attribution_csv", PAYRUN_KIND_IMPORTER);
}
END_TEST

Suite *attribution_csv_suite(void)
{
    Suite *s = suite_create("attribution_csv");
    TCase *tc = tcase_create("attribution_csv");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, imports_good_files);
    tcase_add_test(tc, lost_and_open_are_not_commissionable);
    tcase_add_loop_test(tc, bad_fixture_fails_by_default, 0, N_BAD_CASES);
    tcase_add_loop_test(tc, bad_fixture_skips_when_asked, 0, N_BAD_CASES);
    tcase_add_test(tc, bad_amounts_each_say_why);
    tcase_add_test(tc, bad_dates_and_leap_years);
    tcase_add_test(tc, field_count_both_ways);
    tcase_add_test(tc, core_reason_passes_through);
    tcase_add_test(tc, missing_columns_are_all_named);
    tcase_add_test(tc, partner_with_bad_type_is_rejected);
    tcase_add_test(tc, duplicate_partner_id_is_rejected);
    tcase_add_test(tc, late_rejects_are_written_like_any_other);
    tcase_add_test(tc, input_changed_while_imported);
    tcase_add_test(tc, rejects_in_both_files_are_summed_up);
    tcase_add_test(tc, columns_in_any_order_and_unknown_ignored);
    tcase_add_test(tc, embedded_newlines_keep_line_numbers);
    tcase_add_test(tc, crlf_line_endings);
    tcase_add_test(tc, formulas_are_neutralised_in_rejects);
    tcase_add_test(tc, unclosed_quote_at_end_of_file);
    tcase_add_test(tc, bom_blank_lines_and_no_final_newline);
    tcase_add_test(tc, spaces_are_data);
    tcase_add_test(tc, not_utf8_is_rejected);
    tcase_add_test(tc, nul_byte_rejected_and_never_copied);
    tcase_add_test(tc, all_problems_of_a_row_in_one_reason);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, header_only_is_an_empty_period);
    tcase_add_test(tc, duplicate_header_name);
    tcase_add_test(tc, long_file_streams);
    tcase_add_test(tc, runaway_quote_is_cut);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
