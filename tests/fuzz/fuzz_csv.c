/*
 * fuzz_csv.c: libFuzzer harness for the CSV importer, the real
 * attribution_csv plugin (.so, loaded through the core's loader) run
 * against the fake host of tests/plugins/fake_host.c.
 *
 * The input is one of the two files the importer reads, the other being a
 * small good fixture: an input whose first bytes are "partner_id" (after an
 * optional byte order mark) is the partners file, anything else is the
 * attribution lines file. That way the fixtures' partners-*.csv seeds
 * exercise the partner rows and the duplicate-id table, not only a
 * "missing column" error. An odd-sized input runs with on_reject: skip,
 * an even-sized one with the default, fail: the two end a run differently.
 *
 * Per-run cost is kept small (fuzz_plugin.h): the fake host is set up once
 * and each run starts from a copy of it and overwrites the same input
 * file, and the plugin stays loaded between runs.
 *
 * Besides crashes and leaks the harness checks what the README promises:
 * a failure is always reported through host->error; when a file is read to
 * its end, read = imported + rejected + not_commissionable; with
 * on_reject: fail a successful run rejected nothing; and the rejects file
 * is well-formed CSV (strict libcsv), four cells a row, one row per
 * rejected record, with no cell that a spreadsheet would run as a formula
 * and no NUL byte (a row rejected for one shows it as U+2400).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "fuzz_common.h"
#include "fuzz_plugin.h"

/* tests/fixtures/attribution_csv/partners.csv and attributions.csv. */
static const char good_partners[] =
    "partner_id,name,type,tier,commission_rate,status,currency,email,routing_number,"
    "account_number,iban,bic,account_name\n"
    "P-001,Northwind Referrals,referral,gold,10,active,USD,ap@northwind.example,021000021,"
    "123456789,,,Northwind LLC\n"
    "P-002,Contoso Resellers,reseller,platinum,12.5,active,USD,billing@contoso.example,,,"
    "DE89370400440532013000,COBADEFFXXX,Contoso GmbH\n"
    "P-003,Fabrikam Affiliates,affiliate,silver,7.25,inactive,USD,pay@fabrikam.example,,,,,\n"
    "P-004,Tailspin Integrations,integration,bronze,5,pending,USD,fin@tailspin.example,,,,,\n";

static const char good_attributions[] =
    "deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,attributed_amount,"
    "currency,product_line\n"
    "D-1001,Globex renewal,won,2026-02-03,P-001,equal_split,50,6000.00,USD,platform\n"
    "D-1002,Initech expansion,won,2026-02-10,P-002,first_touch,100,25000.00,USD,analytics\n"
    "D-1003,Umbrella pilot,lost,2026-02-12,P-003,last_touch,100,4000.00,USD,\n"
    "D-1004,Hooli migration,open,,P-004,time_decay,100,18000.00,USD,platform\n";

static const char *const known_partners[] = {"P-001", "P-002", "P-003", "P-004"};

/* The fake host as set up once; each run starts from a copy. Static: the
 * struct holds several hundred KiB of recording arrays. */
static fake_host base, fh;
static char input_path[PATH_MAX + 64];
static int verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = fuzz_plugin_init(&base, "attribution_csv");
    for (size_t i = 0; i < sizeof(known_partners) / sizeof(known_partners[0]); i++)
        base.known_partners[base.n_known_partners++] = known_partners[i];
    fh_write_file(&base, "partners.csv", good_partners);
    fh_write_file(&base, "attributions.csv", good_attributions);
    snprintf(input_path, sizeof(input_path), "%s", fh_path(&base, "input.csv"));
    return 0;
}

/* ---- one run ------------------------------------------------------------- */

static int is_partners_file(const uint8_t *data, size_t size)
{
    static const char head[] = "partner_id";
    const size_t n = sizeof(head) - 1;

    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        size -= 3;
    }
    return size >= n && memcmp(data, head, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    int partners = is_partners_file(data, size), skip = size % 2 == 1;
    int rc;

    MUST(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0,
         "cannot write %s", input_path);
    memcpy(&fh, &base, sizeof(fh));
    fh_set(&fh, "path", partners ? "attributions.csv" : "input.csv");
    fh_set(&fh, "partners", partners ? "input.csv" : "partners.csv");
    if (skip)
        fh_set(&fh, "on_reject", "skip");
    rc = fh_run_plugin(&fh, "attribution_csv");

    if (verbose)
        fprintf(stderr, "fuzz_csv: status %d; partners %lld read, %lld rejected; lines %lld "
                "read, %lld imported, %lld rejected%s%.200s\n", rc,
                (long long)fh_count(&fh, "partners_read"),
                (long long)fh_count(&fh, "partners_rejected"), (long long)fh_count(&fh, "read"),
                (long long)fh_count(&fh, "imported"), (long long)fh_count(&fh, "rejected"),
                fh.n_errors ? "; error: " : "", fh.n_errors ? fh.last_error : "");
    MUST(rc == PAYRUN_OK || fh.n_errors > 0, "run returned %d without reporting an error", rc);
    MUST(memchr(fh.last_error, '\0', sizeof(fh.last_error)) != NULL, "error not terminated");
    if (fh_has_count(&fh, "partners_read"))
        MUST(fh_count(&fh, "partners_read") ==
                 fh_count(&fh, "partners_imported") + fh_count(&fh, "partners_rejected"),
             "partners_read %lld != imported %lld + rejected %lld",
             (long long)fh_count(&fh, "partners_read"),
             (long long)fh_count(&fh, "partners_imported"),
             (long long)fh_count(&fh, "partners_rejected"));
    if (fh_has_count(&fh, "read"))
        MUST(fh_count(&fh, "read") == fh_count(&fh, "imported") + fh_count(&fh, "rejected") +
                                          fh_count(&fh, "not_commissionable"),
             "read %lld != imported %lld + rejected %lld + not_commissionable %lld",
             (long long)fh_count(&fh, "read"), (long long)fh_count(&fh, "imported"),
             (long long)fh_count(&fh, "rejected"),
             (long long)fh_count(&fh, "not_commissionable"));
    if (rc == PAYRUN_OK && !skip)
        MUST(fh_count(&fh, "rejected") == 0 && fh_count(&fh, "partners_rejected") == 0,
             "on_reject: fail, yet the run succeeded with rejected rows");
    if (rc == PAYRUN_OK && fh.n_lines < FH_MAX)
        MUST(fh_count(&fh, "imported") == fh.n_lines, "imported %lld but %d lines added",
             (long long)fh_count(&fh, "imported"), fh.n_lines);
    MUST(fh.n_outputs <= 1, "%d outputs", fh.n_outputs);
    if (fh.n_outputs == 1)
        /* Both files read to the end: every rejected row is there, once. A
         * run stopped midway may have written rows it never counted. */
        fuzz_check_rejects(fh.outputs[0],
                           (size_t)(fh_count(&fh, "partners_rejected") + fh_count(&fh, "rejected")),
                           fh_has_count(&fh, "read"));
    else
        MUST(fh_count(&fh, "rejected") + fh_count(&fh, "partners_rejected") == 0,
             "rows rejected but no rejects file");
    return 0;
}
