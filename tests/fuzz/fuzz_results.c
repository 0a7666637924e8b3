/*
 * fuzz_results.c: libFuzzer harness for the bank result file, the real
 * status_transitions plugin (.so, loaded through the core's loader) in
 * apply_results mode, run against the fake host of tests/plugins/.
 *
 * A result file comes from a bank, or from whoever can write to the
 * directory it is dropped in: hostile input, read by the CSV reader the
 * plugins share (plugins/common/csvin.c) and then checked line by line and
 * against the other lines of the same payout. The fake host holds eight
 * payouts, as the plugin's own suite does: po_a1 to po_a6 in processing,
 * po_b1 approved and po_c1 paid as BANK-0777; its payout_move refuses an
 * unknown payout and one not in processing, and skips a move already made.
 *
 * Besides crashes and leaks the harness checks what the README promises:
 * a failure is always reported through host->error; when the file is read
 * to its end, read = paid + failed + already_applied + rejected + held;
 * any rejected line fails the stage (the core then rolls back any move),
 * and a line bad on its own holds back every other line, so no payout
 * moves; every move asked for is of a payout that was in processing, to
 * paid or failed, once; and the rejects file is well-formed CSV,
 * four cells a row, one row per rejected line, with no cell a spreadsheet
 * would run as a formula and no NUL byte.
 *
 * As in fuzz_csv.c, the fake host is set up once and each run starts from
 * a copy, and the plugin stays loaded between runs (fuzz_plugin.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "fuzz_common.h"
#include "fuzz_plugin.h"

static fake_host base, fh;
static char input_path[PATH_MAX + 64];
static int verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = fuzz_plugin_init(&base, "status_transitions");
    fh_result_payouts(&base);
    snprintf(input_path, sizeof(input_path), "%s", fh_path(&base, "results.csv"));
    return 0;
}

/* The payout as the run started, from the copy it started from. */
static const struct payrun_payout_view *before(const char *id)
{
    for (size_t i = 0; i < base.n_payouts; i++)
        if (strcmp(base.payouts[i].id, id) == 0)
            return &base.payouts[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    int64_t read, paid, failed, already, rejected, held;
    int rc;

    MUST(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0,
         "cannot write %s", input_path);
    memcpy(&fh, &base, sizeof(fh));
    fh_set(&fh, "mode", "apply_results");
    fh_set(&fh, "path", "results.csv");
    rc = fh_run_plugin(&fh, "status_transitions");
    read = fh_count(&fh, "read");
    paid = fh_count(&fh, "paid");
    failed = fh_count(&fh, "failed");
    already = fh_count(&fh, "already_applied");
    rejected = fh_count(&fh, "rejected");
    held = fh_count(&fh, "held");

    if (verbose)
        fprintf(stderr, "fuzz_results: status %d; %lld read, %lld paid, %lld failed, %lld "
                "already applied, %lld rejected, %lld held, %d moves%s%.200s\n", rc,
                (long long)read, (long long)paid, (long long)failed, (long long)already,
                (long long)rejected, (long long)held, fh.n_moves,
                fh.n_errors ? "; error: " : "", fh.n_errors ? fh.last_error : "");
    MUST(rc == PAYRUN_OK || fh.n_errors > 0, "run returned %d without reporting an error", rc);
    MUST(memchr(fh.last_error, '\0', sizeof(fh.last_error)) != NULL, "error not terminated");
    if (fh_has_count(&fh, "read"))
        MUST(read == paid + failed + already + rejected + held,
             "read %lld != paid %lld + failed %lld + already_applied %lld + rejected %lld + "
             "held %lld", (long long)read, (long long)paid, (long long)failed,
             (long long)already, (long long)rejected, (long long)held);
    /* All or nothing. A line bad on its own, or against another line,
     * holds back every good line: no payout moves. A line the core refuses
     * when it is applied fails the stage, and the core rolls back the
     * moves made before it. */
    if (rejected > 0)
        MUST(rc != PAYRUN_OK, "%lld lines rejected, yet the stage succeeded",
             (long long)rejected);
    if (rejected > fh.n_refused)
        MUST(fh.n_moves == 0 && fh.n_refused == 0,
             "%d payouts moved (and %d refused) by a file with %lld lines rejected by the plugin",
             fh.n_moves, fh.n_refused, (long long)(rejected - fh.n_refused));
    if (held > 0)
        MUST(fh.n_moves == 0, "%d payouts moved while %lld good lines were held back",
             fh.n_moves, (long long)held);
    if (rc == PAYRUN_OK)
        MUST(fh.n_moves == paid + failed, "%d moves for %lld paid and %lld failed", fh.n_moves,
             (long long)paid, (long long)failed);
    for (int i = 0; i < fh.n_moves; i++) {
        const struct payrun_payout_view *p = before(fh.moved_ids[i]);

        MUST(p != NULL && strcmp(p->status, "processing") == 0,
             "moved %s, which was not in processing", fh.moved_ids[i]);
        MUST(fh.moves[i] == PAYRUN_MOVE_MARK_PAID || fh.moves[i] == PAYRUN_MOVE_MARK_FAILED,
             "move %d of %s is neither paid nor failed", fh.moves[i], fh.moved_ids[i]);
        for (int k = 0; k < i; k++)
            MUST(strcmp(fh.moved_ids[k], fh.moved_ids[i]) != 0, "%s moved twice",
                 fh.moved_ids[i]);
    }
    MUST(fh.n_outputs <= 1, "%d outputs", fh.n_outputs);
    if (fh.n_outputs == 1)
        fuzz_check_rejects(fh.outputs[0], (size_t)rejected, fh_has_count(&fh, "read"));
    else
        MUST(rejected == 0, "%lld lines rejected but no rejects file", (long long)rejected);
    return 0;
}
