/*
 * test_export_csv.c: the export_csv plugin against the fake host.
 *
 * The file the plugin writes is read back with a strict RFC 4180 parser
 * written here, independently of the plugin's writer (CRLF record ends,
 * quotes doubled, nothing after a closing quote but a comma or CRLF, the
 * last record terminated), and every cell is compared with the value
 * expected from the payout, after the spreadsheet guard that this file
 * also computes on its own. Hostile values cover formula triggers, commas,
 * quotes and line breaks; amounts cover a negative one and JPY.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *export_csv_suite(void);

#define NCOLS 17
#define MAX_RECORDS 64

static const char *const columns[NCOLS] = {
    "payout_id", "org", "period", "partner_id", "partner_name", "amount", "currency",
    "status", "approvals_required", "approvals_given", "created_at", "approved_by",
    "approved_at", "paid_at", "reference", "lines", "notes",
};

static const char expected_header[] =
    "payout_id,org,period,partner_id,partner_name,amount,currency,status,"
    "approvals_required,approvals_given,created_at,approved_by,approved_at,paid_at,"
    "reference,lines,notes\r\n";

static int is_numeric_col(int i)
{
    return i == 5 || i == 8 || i == 9 || i == 15;
}

/* ---- a strict RFC 4180 reader ------------------------------------------- */

typedef struct csv_table {
    int n_records;
    int n_fields[MAX_RECORDS];
    char *cells[MAX_RECORDS][NCOLS + 8];
} csv_table;

static void table_free(csv_table *t)
{
    for (int r = 0; r < t->n_records; r++)
        for (int f = 0; f < t->n_fields[r]; f++)
            free(t->cells[r][f]);
    t->n_records = 0;
}

/* Parse all of `s` (`len` bytes). Returns 0, or -1 with the reason and the
 * byte offset in `why`. */
static int csv_parse(const char *s, size_t len, csv_table *t, char *why, size_t why_len)
{
    size_t i = 0;

    memset(t, 0, sizeof(*t));
    if (len == 0) {
        snprintf(why, why_len, "empty file");
        return -1;
    }
    while (i < len) {
        int r = t->n_records;
        if (r >= MAX_RECORDS) {
            snprintf(why, why_len, "too many records");
            return -1;
        }
        t->n_records++;
        for (;;) {
            char *cell = malloc(len + 1);
            size_t n = 0;
            if (cell == NULL)
                abort();
            if (t->n_fields[r] >= NCOLS + 8) {
                free(cell);
                snprintf(why, why_len, "too many fields in record %d", r + 1);
                return -1;
            }
            t->cells[r][t->n_fields[r]++] = cell;
            if (i < len && s[i] == '"') {
                i++;
                for (;;) {
                    if (i >= len) {
                        cell[n] = '\0';
                        snprintf(why, why_len, "unterminated quoted field at %zu", i);
                        return -1;
                    }
                    if (s[i] == '"') {
                        if (i + 1 < len && s[i + 1] == '"') {
                            cell[n++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    cell[n++] = s[i++];
                }
            } else {
                while (i < len && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
                    if (s[i] == '"') {
                        cell[n] = '\0';
                        snprintf(why, why_len, "quote inside an unquoted field at %zu", i);
                        return -1;
                    }
                    cell[n++] = s[i++];
                }
            }
            cell[n] = '\0';
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
                i += 2;
                break;
            }
            snprintf(why, why_len, "record %d: expected ',' or CRLF at byte %zu", r + 1, i);
            return -1;
        }
    }
    return 0;
}

/* ---- fixtures ------------------------------------------------------------ */

/* The guard as the brief defines it, computed here rather than trusted. */
static char *guarded(const char *raw)
{
    size_t n = strlen(raw);
    char *out = malloc(n + 2);
    if (out == NULL)
        abort();
    if (n > 0 && strchr("=+-@\t\r\n", raw[0]) != NULL)
        snprintf(out, n + 2, "'%s", raw);
    else
        snprintf(out, n + 2, "%s", raw);
    return out;
}

static void payout(struct payrun_payout_view *p, const char *id, const char *partner_id,
                   const char *name, int64_t amount, const char *status, const char *notes)
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
    p->has_payment_details = 1;
    p->amount = amount;
    p->currency = "USD";
    p->status = status;
    p->approvals_required = 1;
    p->approvals_given = 0;
    p->created_at = "2026-03-01T08:00:00Z";
    p->created_by = "alice";
    p->approved_by = "";
    p->approved_at = "";
    p->paid_at = "";
    p->reference = "";
    p->notes = notes;
    p->hold_reason = "";
    p->lines = 3;
}

/* The hostile batch, with the amount each row must show. */
static const char *const hostile_amounts[] = {"15200.00", "6800.00", "-3.10", "0.01",
                                              "49.99", "1000.00"};

static void hostile_batch(fake_host *fh)
{
    struct payrun_payout_view *p = fh->payouts;

    payout(&p[0], "po_0000000000000001", "p-001", "=HYPERLINK(\"http://x\")", 1520000,
           "approved", "+1 call");
    p[0].approvals_given = 1;
    p[0].approved_by = "bob";
    p[0].approved_at = "2026-03-02T09:30:00Z";
    payout(&p[1], "po_0000000000000002", "p-002", "Smith, \"Bob\" and\nSons", 680000,
           "pending_approval", "@SUM(A1)");
    p[1].approvals_required = 2;
    payout(&p[2], "po_0000000000000003", "p-003", "Dash Partners", -310, "pending_approval",
           "-dash");
    payout(&p[3], "po_0000000000000004", "p-004", "\tTabbed Ltd", 1, "paid", "\r\nCR first");
    p[3].paid_at = "2026-03-05T10:00:00Z";
    p[3].reference = "=1+1";
    p[3].lines = 1;
    payout(&p[4], "po_0000000000000005", "-5", "Müller GmbH", 4999, "rejected",
           "\nline feed first, then \"quotes\"");
    p[4].lines = 12;
    payout(&p[5], "po_0000000000000006", "p-006", "Plain Partner", 100000, "approved", "");
    p[5].approved_by = "@carol";
    fh->n_payouts = 6;
}

static char *read_output(fake_host *fh, const char *rel)
{
    char *data = fh_read_file(fh_path(fh, rel));
    ck_assert_msg(data != NULL, "no output file %s", rel);
    return data;
}

/* Parse `data` and check it against fh's payouts, with the given amounts. */
static void check_file(fake_host *fh, const char *data, const char *const *amounts)
{
    csv_table t;
    char why[256] = "";

    ck_assert_msg(csv_parse(data, strlen(data), &t, why, sizeof(why)) == 0,
                  "not strict RFC 4180: %s", why);
    ck_assert_int_eq(t.n_records, (int)fh->n_payouts + 1);
    for (int f = 0; f < NCOLS; f++)
        ck_assert_str_eq(t.cells[0][f], columns[f]);
    for (size_t r = 0; r < fh->n_payouts; r++) {
        const struct payrun_payout_view *p = &fh->payouts[r];
        char req[16], given[16], lines[24];
        const char *raw[NCOLS];

        snprintf(req, sizeof(req), "%d", p->approvals_required);
        snprintf(given, sizeof(given), "%d", p->approvals_given);
        snprintf(lines, sizeof(lines), "%lld", (long long)p->lines);
        raw[0] = p->id, raw[1] = p->org, raw[2] = p->period, raw[3] = p->partner_id;
        raw[4] = p->partner_name, raw[5] = amounts[r], raw[6] = p->currency;
        raw[7] = p->status, raw[8] = req, raw[9] = given, raw[10] = p->created_at;
        raw[11] = p->approved_by, raw[12] = p->approved_at, raw[13] = p->paid_at;
        raw[14] = p->reference, raw[15] = lines, raw[16] = p->notes;

        ck_assert_int_eq(t.n_fields[r + 1], NCOLS);
        for (int f = 0; f < NCOLS; f++) {
            const char *got = t.cells[r + 1][f];
            if (is_numeric_col(f)) {
                /* Numbers exactly as given: no guard, no quotes, no spaces. */
                size_t k = got[0] == '-' ? 1 : 0;
                ck_assert_msg(strcmp(got, raw[f]) == 0, "row %zu %s: \"%s\" != \"%s\"", r + 1,
                              columns[f], got, raw[f]);
                ck_assert_msg(got[k] >= '0' && got[k] <= '9', "row %zu %s not a number: %s",
                              r + 1, columns[f], got);
                for (; got[k]; k++)
                    ck_assert_msg((got[k] >= '0' && got[k] <= '9') || got[k] == '.',
                                  "row %zu %s not a number: %s", r + 1, columns[f], got);
            } else {
                char *want = guarded(raw[f]);
                ck_assert_msg(strcmp(got, want) == 0, "row %zu %s: \"%s\" != \"%s\"", r + 1,
                              columns[f], got, want);
                ck_assert_msg(got[0] == '\0' || strchr("=+-@\t\r\n", got[0]) == NULL,
                              "row %zu %s starts with a formula trigger: \"%s\"", r + 1,
                              columns[f], got);
                free(want);
            }
        }
    }
    table_free(&t);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(hostile_cells_round_trip)
{
    fake_host fh;
    char *data;

    fh_init(&fh);
    hostile_batch(&fh);
    fh_set(&fh, "path", "report.csv");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    ck_assert_int_eq(fh.n_outputs, 1);
    ck_assert_uint_eq(fh.output_flags[0], 0);
    data = read_output(&fh, "report.csv");
    check_file(&fh, data, hostile_amounts);
    ck_assert_int_eq(fh_count(&fh, "payouts"), 6);
    ck_assert_int_eq(fh_count(&fh, "rows"), 6);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(exact_bytes_of_tricky_cells)
{
    fake_host fh;
    char *data;

    fh_init(&fh);
    hostile_batch(&fh);
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    data = read_output(&fh, "payouts.csv");
    /* The header line, byte for byte, then the quoting and guarding rules. */
    ck_assert_msg(strncmp(data, expected_header, strlen(expected_header)) == 0, "header: %.170s",
                  data);
    ck_assert_ptr_nonnull(strstr(data, "\r\npo_0000000000000001,acme,2026-02,p-001,"
                                       "\"'=HYPERLINK(\"\"http://x\"\")\",15200.00,USD,"));
    ck_assert_ptr_nonnull(strstr(data, ",'+1 call\r\n"));
    ck_assert_ptr_nonnull(strstr(data, ",\"Smith, \"\"Bob\"\" and\nSons\",6800.00,"));
    ck_assert_ptr_nonnull(strstr(data, ",'@SUM(A1)\r\n"));
    ck_assert_ptr_nonnull(strstr(data, ",Dash Partners,-3.10,USD,"));
    ck_assert_ptr_nonnull(strstr(data, ",'-dash\r\n"));
    ck_assert_ptr_nonnull(strstr(data, ",'\tTabbed Ltd,0.01,"));
    ck_assert_ptr_nonnull(strstr(data, ",\"'\r\nCR first\"\r\n"));
    ck_assert_ptr_nonnull(strstr(data, ",'=1+1,"));
    ck_assert_ptr_nonnull(strstr(data, "\r\npo_0000000000000005,acme,2026-02,'-5,"));
    ck_assert_ptr_nonnull(strstr(data, ",'@carol,"));
    ck_assert_msg(data[strlen(data) - 2] == '\r' && data[strlen(data) - 1] == '\n',
                  "the last record must end with CRLF");
    free(data);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(jpy_has_no_decimals)
{
    static const char *const amounts[] = {"500", "-7"};
    fake_host fh;
    char *data;

    fh_init(&fh);
    fh.currency = "JPY";
    fh.exponent = 0;
    payout(&fh.payouts[0], "po_jp1", "p-001", "Tanaka KK", 500, "approved", "");
    payout(&fh.payouts[1], "po_jp2", "p-002", "Sato", -7, "pending_approval", "");
    fh.payouts[0].currency = fh.payouts[1].currency = "JPY";
    fh.n_payouts = 2;
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    data = read_output(&fh, "payouts.csv");
    check_file(&fh, data, amounts);
    ck_assert_ptr_nonnull(strstr(data, ",Tanaka KK,500,JPY,"));
    free(data);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(same_payouts_same_bytes)
{
    fake_host fh;
    char *a, *b;

    fh_init(&fh);
    hostile_batch(&fh);
    fh_set(&fh, "path", "first.csv");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    fh.n_cfg = 0;
    fh_set(&fh, "path", "second.csv");
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    a = read_output(&fh, "first.csv");
    b = read_output(&fh, "second.csv");
    ck_assert_uint_eq(strlen(a), strlen(b));
    ck_assert_msg(memcmp(a, b, strlen(a)) == 0, "two runs gave different bytes");
    free(a);
    free(b);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(no_payouts_header_only)
{
    fake_host fh;
    char *data;

    fh_init(&fh);
    ck_assert_int_eq(fh_run_plugin(&fh, "export_csv"), PAYRUN_OK);
    data = read_output(&fh, "payouts.csv");
    ck_assert_str_eq(data, expected_header);
    ck_assert_int_eq(fh_count(&fh, "rows"), 0);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("export_csv", PAYRUN_KIND_EXPORTER);
}
END_TEST

Suite *export_csv_suite(void)
{
    Suite *s = suite_create("export_csv");
    TCase *tc = tcase_create("export_csv");

    tcase_add_test(tc, hostile_cells_round_trip);
    tcase_add_test(tc, exact_bytes_of_tricky_cells);
    tcase_add_test(tc, jpy_has_no_decimals);
    tcase_add_test(tc, same_payouts_same_bytes);
    tcase_add_test(tc, no_payouts_header_only);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
