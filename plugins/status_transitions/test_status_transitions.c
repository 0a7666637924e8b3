/*
 * test_status_transitions.c: the status_transitions plugin against the
 * fake host (tests/plugins/fake_host.h).
 *
 * The fake host's payout_move behaves like the core's on the cases that
 * matter here: an unknown id or a payout not in processing is refused with
 * a reason, a payout already where the move would put it with the same
 * detail (the fake compares it with the view's `reference`) is SKIPPED, and
 * anything else moves, recorded in fh.moved_ids / moves / move_details.
 * The tests check what the plugin asked for, what it wrote to the rejects
 * file, its counts, and above all that a file with any bad line makes no
 * move at all.
 *
 * Fixtures under plugins/status_transitions/fixtures/ are named for what
 * is in them; CRLF and quoting cases are written by the tests, so that no
 * checkout setting can rewrite their line ends.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *status_transitions_suite(void);

#define FIXTURE(name) SRC_DIR "/plugins/status_transitions/fixtures/" name

/* ---- fixtures ------------------------------------------------------------ */

/* po_a1..po_a6 processing, po_b1 approved, po_c1 paid as BANK-0777. */
static void batch(fake_host *fh)
{
    fh_result_payouts(fh);
}

static const struct payrun_payout_view *find(const fake_host *fh, const char *id)
{
    for (size_t i = 0; i < fh->n_payouts; i++)
        if (strcmp(fh->payouts[i].id, id) == 0)
            return &fh->payouts[i];
    ck_abort_msg("no payout %s", id);
    return NULL;
}

static int apply(fake_host *fh, const char *path)
{
    fh->n_cfg = 0;
    fh->n_counts = 0;
    fh->n_errors = 0;
    fh->last_error[0] = '\0';
    fh_set(fh, "mode", "apply_results");
    fh_set(fh, "path", path);
    return fh_run_plugin(fh, "status_transitions");
}

static char *rejects_text(fake_host *fh)
{
    return fh_read_file(fh_path(fh, "settle-rejects.csv"));
}

/* Every count the README promises, and read = paid + failed +
 * already_applied + rejected + held. */
static void check_counts(const fake_host *fh, int64_t read, int64_t paid, int64_t failed,
                         int64_t already, int64_t rejected)
{
    ck_assert_int_eq(fh_count(fh, "read"), read);
    ck_assert_int_eq(fh_count(fh, "paid"), paid);
    ck_assert_int_eq(fh_count(fh, "failed"), failed);
    ck_assert_int_eq(fh_count(fh, "already_applied"), already);
    ck_assert_int_eq(fh_count(fh, "rejected"), rejected);
    ck_assert_int_eq(fh_count(fh, "read"), fh_count(fh, "paid") + fh_count(fh, "failed") +
                                               fh_count(fh, "already_applied") +
                                               fh_count(fh, "rejected") + fh_count(fh, "held"));
}

/* ---- mark_processing ----------------------------------------------------- */

START_TEST(mark_processing_moves_listed)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    /* What an exporter stage earlier in the run listed in its bank file. */
    snprintf(fh.listed[0], sizeof(fh.listed[0]), "po_a1");
    snprintf(fh.listed[1], sizeof(fh.listed[1]), "po_a2");
    fh.n_listed = 2;
    fh_set(&fh, "mode", "mark_processing");
    ck_assert_msg(fh_run_plugin(&fh, "status_transitions") == PAYRUN_OK, "%s", fh.last_error);
    ck_assert_int_eq(fh.listed_move, PAYRUN_MOVE_MARK_PROCESSING);
    ck_assert_int_eq(fh_count(&fh, "moved"), 2);
    ck_assert_int_eq(fh.n_moves, 0); /* no result-file moves in this mode */
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_int_eq(fh.n_errors, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(mark_processing_nothing_listed_is_fine)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "mode", "mark_processing");
    ck_assert_int_eq(fh_run_plugin(&fh, "status_transitions"), PAYRUN_OK);
    ck_assert_int_eq(fh.listed_move, PAYRUN_MOVE_MARK_PROCESSING);
    ck_assert_int_eq(fh_count(&fh, "moved"), 0);
    ck_assert_int_eq(fh.n_errors, 0);
    fh_cleanup(&fh);
}
END_TEST

/* ---- configuration ------------------------------------------------------- */

START_TEST(path_refused_in_mark_processing)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "mode", "mark_processing");
    fh_set(&fh, "path", FIXTURE("results-good.csv"));
    ck_assert_int_eq(fh_run_plugin(&fh, "status_transitions"), PAYRUN_ERR_CONFIG);
    ck_assert_msg(strstr(fh.last_error, "\"path\"") != NULL, "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_error, "mark_processing") != NULL, "%s", fh.last_error);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "apply_results"));
    ck_assert_int_eq(fh.listed_move, 0); /* refused at init: run never started */
    ck_assert_int_eq(fh.n_moves, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(path_required_in_apply_results)
{
    fake_host fh;

    fh_init(&fh);
    fh_set(&fh, "mode", "apply_results");
    ck_assert_int_eq(fh_run_plugin(&fh, "status_transitions"), PAYRUN_ERR_CONFIG);
    ck_assert_msg(strstr(fh.last_error, "\"path\"") != NULL, "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_error, "apply_results") != NULL, "%s", fh.last_error);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "path:"));
    ck_assert_int_eq(fh.n_moves, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(mode_required)
{
    fake_host fh;

    fh_init(&fh);
    ck_assert_int_eq(fh_run_plugin(&fh, "status_transitions"), PAYRUN_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "\"mode\""));
    fh_cleanup(&fh);
}
END_TEST

/* ---- apply_results: good files -------------------------------------------- */

START_TEST(applies_paid_and_failed)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    ck_assert_msg(apply(&fh, FIXTURE("results-good.csv")) == PAYRUN_OK, "%s", fh.last_error);
    ck_assert_int_eq(fh.n_errors, 0);
    ck_assert_int_eq(fh.n_moves, 3);
    ck_assert_str_eq(fh.moved_ids[0], "po_a1");
    ck_assert_int_eq(fh.moves[0], PAYRUN_MOVE_MARK_PAID);
    ck_assert_str_eq(fh.move_details[0], "BANK-0001");
    ck_assert_str_eq(fh.moved_ids[1], "po_a2");
    ck_assert_int_eq(fh.moves[1], PAYRUN_MOVE_MARK_FAILED);
    ck_assert_str_eq(fh.move_details[1], "R03 no account");
    ck_assert_str_eq(fh.moved_ids[2], "po_a3");
    ck_assert_int_eq(fh.moves[2], PAYRUN_MOVE_MARK_PAID);
    ck_assert_str_eq(fh.move_details[2], "BANK-0003");
    ck_assert_str_eq(find(&fh, "po_a1")->status, "paid");
    ck_assert_str_eq(find(&fh, "po_a2")->status, "failed");
    check_counts(&fh, 3, 2, 1, 0, 0);
    ck_assert_int_eq(fh.n_outputs, 0); /* no rejects, no rejects file */
    fh_cleanup(&fh);
}
END_TEST

START_TEST(applied_twice_changes_nothing)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    ck_assert_int_eq(apply(&fh, FIXTURE("results-good.csv")), PAYRUN_OK);
    ck_assert_int_eq(fh.n_moves, 3);
    /* What the core stored with each move: the reference, or for a failed
     * payout the reason (the fake compares both against `reference`). */
    fh.payouts[0].reference = "BANK-0001";
    fh.payouts[1].reference = "R03 no account";
    fh.payouts[2].reference = "BANK-0003";
    fh.n_moves = 0;
    ck_assert_msg(apply(&fh, FIXTURE("results-good.csv")) == PAYRUN_OK, "%s", fh.last_error);
    ck_assert_int_eq(fh.n_moves, 0);
    check_counts(&fh, 3, 0, 0, 3, 0);
    ck_assert_int_eq(fh.n_errors, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(crlf_quotes_bom_and_column_order)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    /* BOM, columns in another order with an unknown one, CRLF, quoted
     * fields with commas, doubled quotes, a blank line, no final newline. */
    fh_write_file(&fh, "bank.csv",
                  "\xEF\xBB\xBF" "reason,bank_note,reference,status,payout_id\r\n"
                  ",\"x, y\",\"BANK,0001\",paid,po_a1\r\n"
                  "\r\n"
                  "\"Account closed, \"\"R02\"\"\",,,failed,\"po_a2\"\r\n"
                  ",,BANK-0004,paid,po_a4");
    ck_assert_msg(apply(&fh, "bank.csv") == PAYRUN_OK, "%s", fh.last_error);
    ck_assert_int_eq(fh.n_moves, 3);
    ck_assert_str_eq(fh.move_details[0], "BANK,0001");
    ck_assert_int_eq(fh.moves[1], PAYRUN_MOVE_MARK_FAILED);
    ck_assert_str_eq(fh.moved_ids[1], "po_a2");
    ck_assert_str_eq(fh.move_details[1], "Account closed, \"R02\"");
    ck_assert_str_eq(fh.moved_ids[2], "po_a4");
    ck_assert_str_eq(fh.move_details[2], "BANK-0004");
    check_counts(&fh, 3, 2, 1, 0, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(header_only_reads_nothing)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", "payout_id,status,reference,reason\n");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_OK);
    check_counts(&fh, 0, 0, 0, 0, 0);
    ck_assert_int_eq(fh.n_moves, 0);
    fh_cleanup(&fh);
}
END_TEST

/* ---- apply_results: rejects ------------------------------------------------- */

/* Every line-level problem in one file: each rejected with its line and
 * reason, the good lines held back, nothing moved. */
START_TEST(bad_lines_rejected_nothing_applied)
{
    fake_host fh;
    char *rej;

    fh_init(&fh);
    batch(&fh);
    ck_assert_int_eq(apply(&fh, FIXTURE("results-every-bad-line.csv")), PAYRUN_ERR_INPUT);
    ck_assert_int_eq(fh.n_moves, 0);
    check_counts(&fh, 8, 0, 0, 0, 6);
    ck_assert_int_eq(fh_count(&fh, "held"), 2);
    ck_assert_str_eq(fh.last_error,
                     "6 of 8 result lines rejected; first at line 3: a paid line needs a "
                     "reference");
    ck_assert_msg(strstr(fh.last_hint, "fix the lines listed in ") == fh.last_hint, "%s",
                  fh.last_hint);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "/settle-rejects.csv; nothing was applied"));
    ck_assert_int_eq(fh.n_outputs, 1);
    ck_assert_uint_eq(fh.output_flags[0], PAYRUN_OUTPUT_KEEP_ON_FAILURE);

    rej = rejects_text(&fh);
    ck_assert_ptr_nonnull(rej);
    ck_assert_str_eq(
        rej,
        "file,line,reason,record\n"
        "results-every-bad-line.csv,3,a paid line needs a reference,\"po_a2,paid,,\"\n"
        "results-every-bad-line.csv,4,a failed line needs a reason,\"po_a3,failed,,\"\n"
        "results-every-bad-line.csv,5,\"bad status \"\"PAID\"\": expected paid or failed\","
        "\"po_a4,PAID,BANK-0004,\"\n"
        "results-every-bad-line.csv,7,\"duplicate of line 6: payout \"\"po_a5\"\" is listed "
        "twice with the same result\",\"po_a5,paid,BANK-0005,\"\n"
        "results-every-bad-line.csv,8,\"conflicting results for payout \"\"po_a6\"\" on lines 8 "
        "and 9; a payout has one result, so none of them is applied\","
        "\"po_a6,paid,BANK-0006,\"\n"
        "results-every-bad-line.csv,9,\"conflicting results for payout \"\"po_a6\"\" on lines 8 "
        "and 9; a payout has one result, so none of them is applied\","
        "\"po_a6,paid,BANK-0006b,\"\n");
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* One bad line among good ones, each case alone: the stage fails and not
 * even the good line before it moves. */
static const struct {
    const char *name, *bad_line;
    int line;
    const char *reason;
} bad_cases[] = {
    {"missing reference", "po_a2,paid,,", 3, "a paid line needs a reference"},
    {"blank reference is not empty", "po_a2,paid, ,", 0, NULL}, /* a space is data */
    {"missing reason", "po_a2,failed,BANK-1,", 3, "a failed line needs a reason"},
    {"bad status", "po_a2,settled,BANK-1,", 3, "bad status \"settled\": expected paid or failed"},
    {"empty payout id", ",paid,BANK-1,", 3, "payout_id is empty"},
    {"too few fields", "po_a2,paid,BANK-1", 3, "expected 4 fields, found 3"},
    {"too many fields", "po_a2,paid,BANK-1,,x", 3, "expected 4 fields, found 5"},
    {"duplicate", "po_a1,paid,BANK-0001,", 3,
     "duplicate of line 2: payout \"po_a1\" is listed twice with the same result"},
    {"conflict", "po_a1,failed,,R01 insufficient funds", 2,
     "conflicting results for payout \"po_a1\" on lines 2 and 3; a payout has one result, so "
     "none of them is applied"},
    {"stray quote", "po_a2,pa\"id,BANK-1,", 3,
     "malformed CSV: unexpected quote at line 3, column 9; quote the whole field and double "
     "the quotes inside it"},
    {"text after quote", "po_a2,\"paid\"x,BANK-1,", 3,
     "malformed CSV: text after a closing quote at line 3, column 13; quote the whole field "
     "and double the quotes inside it"},
    {"line break in reason", "po_a2,failed,,\"no\naccount\"", 3,
     "reason has a control character (a tab or line break)"},
    {"quote never closed", "po_a2,failed,,\"no account", 3,
     "malformed CSV: a quoted field is not closed by the end of the file"},
    {"not UTF-8", "po_a2,failed,,caf\xE9", 3, "not UTF-8: byte 0xE9 at line 3, column 18"},
};

START_TEST(each_bad_line_fails_the_stage)
{
    fake_host fh;
    char text[512], want[512];
    char *rej;

    fh_init(&fh);
    batch(&fh);
    snprintf(text, sizeof(text), "payout_id,status,reference,reason\npo_a1,paid,BANK-0001,\n%s\n",
             bad_cases[_i].bad_line);
    fh_write_file(&fh, "bank.csv", text);
    if (bad_cases[_i].reason == NULL) {
        /* Control case: the tests' good line plus a good second line pass. */
        ck_assert_msg(apply(&fh, "bank.csv") == PAYRUN_OK, "%s", fh.last_error);
        ck_assert_int_eq(fh.n_moves, 2);
        ck_assert_str_eq(fh.move_details[1], " ");
        fh_cleanup(&fh);
        return;
    }
    ck_assert_msg(apply(&fh, "bank.csv") == PAYRUN_ERR_INPUT, "%s: %s", bad_cases[_i].name,
                  fh.last_error);
    ck_assert_int_eq(fh.n_moves, 0);
    snprintf(want, sizeof(want), "first at line %d: %s", bad_cases[_i].line,
             bad_cases[_i].reason);
    ck_assert_msg(strstr(fh.last_error, want) != NULL, "%s: %s", bad_cases[_i].name,
                  fh.last_error);
    rej = rejects_text(&fh);
    ck_assert_ptr_nonnull(rej);
    snprintf(want, sizeof(want), "\nbank.csv,%d,", bad_cases[_i].line);
    ck_assert_msg(strstr(rej, want) != NULL, "%s:\n%s", bad_cases[_i].name, rej);
    check_counts(&fh, 2, 0, 0, 0, fh_count(&fh, "rejected"));
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* Lines the core refuses: an unknown payout and one never sent to the
 * bank. Its reasons land in the rejects file. */
START_TEST(core_refusals_rejected)
{
    fake_host fh;
    char *rej;

    fh_init(&fh);
    batch(&fh);
    ck_assert_int_eq(apply(&fh, FIXTURE("results-not-applicable.csv")), PAYRUN_ERR_INPUT);
    ck_assert_int_eq(fh.n_moves, 0);
    check_counts(&fh, 2, 0, 0, 0, 2);
    ck_assert_str_eq(fh.last_error, "2 of 2 result lines rejected; first at line 2: payout "
                                    "\"po_zz\" not found");
    rej = rejects_text(&fh);
    ck_assert_str_eq(rej, "file,line,reason,record\n"
                          "results-not-applicable.csv,2,\"payout \"\"po_zz\"\" not found\","
                          "\"po_zz,paid,BANK-0099,\"\n"
                          "results-not-applicable.csv,3,\"payout \"\"po_b1\"\" is approved, not "
                          "processing\",\"po_b1,paid,BANK-0098,\"\n");
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* A core refusal among good lines: the good ones were asked for (the core
 * rolls them back with the failed run), the refusal still fails the stage
 * and every refused line is listed, not just the first. */
START_TEST(core_refusal_among_good_lines_fails)
{
    fake_host fh;
    char *rej;

    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", "payout_id,status,reference,reason\n"
                                   "po_a1,paid,BANK-0001,\n"
                                   "po_c1,paid,BANK-0002,\n"
                                   "po_a3,paid,BANK-0003,\n"
                                   "po_nope,failed,,R01\n");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    check_counts(&fh, 4, 2, 0, 0, 2);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "2 of 4 result lines rejected; first at line 3: "
                                                "payout \"po_c1\" is paid, not processing"));
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "nothing was applied"));
    rej = rejects_text(&fh);
    ck_assert_ptr_nonnull(strstr(rej, "\nbank.csv,3,"));
    ck_assert_ptr_nonnull(strstr(rej, "\nbank.csv,5,\"payout \"\"po_nope\"\" not found\","));
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(missing_columns_named)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    ck_assert_int_eq(apply(&fh, FIXTURE("results-missing-columns.csv")), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "results-missing-columns.csv:1: missing required "
                                        "column(s) \"reference\", \"reason\"") != NULL,
                  "%s", fh.last_error);
    ck_assert_ptr_nonnull(strstr(fh.last_hint, "payout_id,status,reference,reason"));
    ck_assert_int_eq(fh.n_moves, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(duplicate_column_refused)
{
    fake_host fh;

    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", "payout_id,status,reference,reason, status\n");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "duplicate column \"status\" (columns 2 and 5)") != NULL,
                  "%s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

/* Past the 1024 columns the reader stores, a header is refused by name: a
 * required column out there could not be found, nor a repeated one. */
START_TEST(too_many_columns_refused)
{
    fake_host fh;
    size_t cap = 8192, o = 0;
    char text[8192];

    o += (size_t)snprintf(text + o, cap - o, "payout_id,status,reference");
    for (int i = 0; i < 1022; i++)
        o += (size_t)snprintf(text + o, cap - o, ",");
    snprintf(text + o, cap - o, "reason\npo_a1,paid,REF-1,\n");
    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", text);
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "bank.csv:1: 1025 columns; at most 1024 are read") != NULL,
                  "%s", fh.last_error);
    ck_assert_int_eq(fh.n_moves, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(empty_and_missing_files)
{
    fake_host fh;

    fh_init(&fh);
    fh_write_file(&fh, "bank.csv", "");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "empty file"));
    ck_assert_int_eq(apply(&fh, "no-such.csv"), PAYRUN_ERR_NOINPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "no-such.csv"));
    fh_cleanup(&fh);
}
END_TEST

/* Line numbers are physical lines where the record starts, across blank
 * lines and records that span lines. */
START_TEST(line_numbers_are_exact)
{
    fake_host fh;
    char *rej;

    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", "payout_id,status,reference,reason\n"
                                   "\n"
                                   "po_a1,failed,,\"two\n"
                                   "lines\"\n"
                                   "\n"
                                   "po_a2,bounced,,\n");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    rej = rejects_text(&fh);
    ck_assert_str_eq(rej, "file,line,reason,record\n"
                          "bank.csv,3,reason has a control character (a tab or line break),"
                          "\"po_a1,failed,,\"\"two\nlines\"\"\"\n"
                          "bank.csv,6,\"bad status \"\"bounced\"\": expected paid or failed\","
                          "\"po_a2,bounced,,\"\n");
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* A quote left open cannot swallow the file: the record is cut at 64 KiB,
 * rejected from the line where it started, and reading resumes at the
 * line that would have crossed the limit. */
START_TEST(runaway_quote_is_cut)
{
    fake_host fh;
    size_t cap = 200 * 1024, o = 0;
    char *text = malloc(cap), *rej;

    ck_assert_ptr_nonnull(text);
    o += (size_t)snprintf(text + o, cap - o, "payout_id,status,reference,reason\n"
                                             "po_a1,failed,,\"never closed\n");
    for (int i = 0; i < 100; i++) { /* lines 3..102, 1000 bytes each */
        memset(text + o, 'x', 999);
        text[o + 999] = '\n';
        o += 1000;
    }
    snprintf(text + o, cap - o, "po_a2,paid,,\n");
    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", text);
    free(text);
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    ck_assert_int_eq(fh.n_moves, 0);
    ck_assert_msg(strstr(fh.last_error, "first at line 2: malformed CSV: record longer than "
                                        "65536 bytes (lines 2 to 67); is a quote not closed?")
                      != NULL, "%s", fh.last_error);
    rej = rejects_text(&fh);
    /* The cut record, then the rest read as records of their own: lines
     * 67..102 of x's (one field each) and the last line. */
    ck_assert_ptr_nonnull(strstr(rej, "\nbank.csv,68,\"expected 4 fields, found 1\","));
    ck_assert_ptr_nonnull(strstr(rej, "\nbank.csv,103,a paid line needs a reference,"));
    ck_assert_int_eq(fh_count(&fh, "read"), 1 + 35 + 1);
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* A payout id or record that a spreadsheet would run as a formula is
 * written with a leading apostrophe. */
START_TEST(rejects_are_spreadsheet_safe)
{
    fake_host fh;
    char *rej;

    fh_init(&fh);
    batch(&fh);
    fh_write_file(&fh, "bank.csv", "payout_id,status,reference,reason\n"
                                   "=1+2,paid,,\n"
                                   "@SUM(A1),failed,R,\n"
                                   "-3,paid,,\n");
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    rej = rejects_text(&fh);
    ck_assert_msg(strstr(rej, "\nbank.csv,2,a paid line needs a reference,"
                              "\"'=1+2,paid,,\"\n") != NULL, "%s", rej);
    ck_assert_msg(strstr(rej, "\nbank.csv,3,a failed line needs a reason,"
                              "\"'@SUM(A1),failed,R,\"\n") != NULL, "%s", rej);
    ck_assert_msg(strstr(rej, "\nbank.csv,4,a paid line needs a reference,"
                              "\"'-3,paid,,\"\n") != NULL, "%s", rej);
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* A NUL byte rejects its line, with the line and column, and the rejects
 * file shows it as U+2400, never as a NUL byte. */
START_TEST(nul_byte_rejected_and_never_copied)
{
    static const char text[] = "payout_id,status,reference,reason\n"
                               "po_a1,paid,BANK-0001,\n"
                               "po_a2,paid,BANK\0-0002,\n";
    fake_host fh;
    char *rej;
    long len;
    FILE *f;

    fh_init(&fh);
    batch(&fh);
    f = fopen(fh_path(&fh, "bank.csv"), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(apply(&fh, "bank.csv"), PAYRUN_ERR_INPUT);
    check_counts(&fh, 2, 0, 0, 0, 1);
    ck_assert_int_eq(fh.n_moves, 0);
    ck_assert_msg(strstr(fh.last_error, "first at line 3: malformed CSV: NUL byte at line 3, "
                         "column 16") != NULL, "%s", fh.last_error);
    f = fopen(fh_path(&fh, "settle-rejects.csv"), "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    fclose(f);
    rej = rejects_text(&fh);
    ck_assert_msg((long)strlen(rej) == len, "a NUL byte in the rejects file");
    ck_assert_msg(strstr(rej, "\nbank.csv,3,\"malformed CSV: NUL byte at line 3, column 16; a "
                              "text file holds none\",\"po_a2,paid,BANK\xE2\x90\x80-0002,\"\n") != NULL,
                  "%s", rej);
    free(rej);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("status_transitions", PAYRUN_KIND_TRANSITION);
}
END_TEST

Suite *status_transitions_suite(void)
{
    Suite *s = suite_create("status_transitions");
    TCase *tc = tcase_create("status_transitions");

    tcase_add_test(tc, mark_processing_moves_listed);
    tcase_add_test(tc, mark_processing_nothing_listed_is_fine);
    tcase_add_test(tc, path_refused_in_mark_processing);
    tcase_add_test(tc, path_required_in_apply_results);
    tcase_add_test(tc, mode_required);
    tcase_add_test(tc, applies_paid_and_failed);
    tcase_add_test(tc, applied_twice_changes_nothing);
    tcase_add_test(tc, crlf_quotes_bom_and_column_order);
    tcase_add_test(tc, header_only_reads_nothing);
    tcase_add_test(tc, bad_lines_rejected_nothing_applied);
    tcase_add_loop_test(tc, each_bad_line_fails_the_stage, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, core_refusals_rejected);
    tcase_add_test(tc, core_refusal_among_good_lines_fails);
    tcase_add_test(tc, missing_columns_named);
    tcase_add_test(tc, duplicate_column_refused);
    tcase_add_test(tc, empty_and_missing_files);
    tcase_add_test(tc, line_numbers_are_exact);
    tcase_add_test(tc, runaway_quote_is_cut);
    tcase_add_test(tc, too_many_columns_refused);
    tcase_add_test(tc, rejects_are_spreadsheet_safe);
    tcase_add_test(tc, nul_byte_rejected_and_never_copied);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
