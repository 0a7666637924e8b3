/*
 * test_bank_pain001.c: the bank_pain001 plugin against the fake host.
 *
 * Every file the plugin writes is validated by the real tool, xmllint,
 * against the ISO 20022 pain.001.001.03 schema (PAIN001_XSD, or the copy
 * in the shared folder beside the repository); a missing schema or a
 * missing xmllint fails the test rather than skipping it, since a skipped
 * check would let a broken bank file through unnoticed. The schema checks
 * shapes, not arithmetic, so the file is also read here: both NbOfTxs must
 * equal the number of transfers, and both CtrlSum the sum of the InstdAmt
 * values, compared in integer minor units parsed by this file with the
 * currency's exact number of decimals.
 *
 * The rest covers what the schema cannot know: which payouts are paid
 * (approved, IBAN and BIC, no US account) and listed, what is refused
 * before any output is opened, escaping of hostile names, JPY and BHD
 * amounts, and identical bytes from identical payouts.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *bank_pain001_suite(void);

#define DEBTOR_NAME "Acme Partner Programs GmbH"
#define DEBTOR_IBAN "DE89 3704 0044 0532 0130 00"
#define DEBTOR_BIC "COBADEFFXXX"

#define MAX_TX FH_MAX

/* ---- fixtures ------------------------------------------------------------ */

/* A payout with every string set ("" when empty), as the core hands it. */
static void payout(struct payrun_payout_view *p, const char *id, const char *partner_id,
                   const char *name, int64_t amount, const char *status, const char *iban,
                   const char *bic)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->org = "acme";
    p->period = "2026-02";
    p->partner_id = partner_id;
    p->partner_name = name;
    p->partner_type = "affiliate";
    p->partner_tier = "gold";
    p->partner_status = "active";
    p->has_payment_details = iban[0] != '\0' && bic[0] != '\0';
    p->amount = amount;
    p->currency = "EUR";
    p->status = status;
    p->approvals_required = 1;
    p->created_at = "2026-03-01T08:00:00Z";
    p->created_by = "alice";
    p->approved_by = strcmp(status, "pending_approval") == 0 ? "" : "bob";
    p->approved_at = strcmp(status, "pending_approval") == 0 ? "" : "2026-03-02T09:00:00Z";
    p->paid_at = "";
    p->reference = "";
    p->notes = "";
    p->hold_reason = "";
    p->lines = 1;
    p->kind = "commission";
    p->routing_number = "";
    p->account_number = "";
    p->iban = iban;
    p->bic = bic;
    p->account_name = "";
    p->partner_email = "";
}

/* An EUR batch with the three required keys set. */
static void eur_batch(fake_host *fh)
{
    fh_init(fh);
    fh->currency = "EUR";
    fh->exponent = 2;
    fh_set(fh, "debtor_name", DEBTOR_NAME);
    fh_set(fh, "debtor_iban", DEBTOR_IBAN);
    fh_set(fh, "debtor_bic", DEBTOR_BIC);
}

/* Valid IBANs (their mod-97 checked independently of the plugin). */
#define IBAN_DE "DE44500105175407324931"
#define IBAN_GB "GB29NWBK60161331926819"
#define IBAN_FR "FR1420041010050500013M02606"
#define IBAN_NL "NL91ABNA0417164300"
#define IBAN_NO "NO9386011117947"

static int64_t count_named(const fake_host *fh, const char *name, int *found)
{
    for (int i = 0; i < fh->n_counts; i++) {
        if (strcmp(fh->counts_names[i], name) == 0) {
            *found = 1;
            return fh->counts[i];
        }
    }
    *found = 0;
    return 0;
}

/* ---- the schema, by the real tool ---------------------------------------- */

static const char *schema_path(void)
{
    const char *env = getenv("PAIN001_XSD");
    return env && env[0] ? env : SRC_DIR "/../shared/schemas/pain.001.001.03.xsd";
}

/*
 * Run `xmllint --noout --schema SCHEMA FILE`. Returns xmllint's exit status
 * (0: valid) with its messages in log[]. Fails the test when the schema
 * or xmllint is missing: neither is a reason to skip.
 */
static int xmllint(fake_host *fh, const char *file, char *log, size_t log_len)
{
    const char *xsd = schema_path();
    char out[PATH_MAX + 64], cmd[3 * PATH_MAX + 128];
    char *text;
    FILE *f = fopen(xsd, "rb");
    int rc;

    ck_assert_msg(f != NULL, "pain.001 schema \"%s\" is missing: set PAIN001_XSD", xsd);
    fclose(f);
    snprintf(out, sizeof(out), "%s", fh_path(fh, "xmllint.log"));
    /* Paths go inside single quotes for the shell. */
    ck_assert(strchr(xsd, '\'') == NULL && strchr(file, '\'') == NULL &&
              strchr(out, '\'') == NULL);
    ck_assert((size_t)snprintf(cmd, sizeof(cmd), "xmllint --noout --schema '%s' '%s' >'%s' 2>&1",
                               xsd, file, out) < sizeof(cmd));
    rc = system(cmd);
    ck_assert_msg(rc != -1 && WIFEXITED(rc), "cannot run: %s", cmd);
    ck_assert_msg(WEXITSTATUS(rc) != 127 && WEXITSTATUS(rc) != 126,
                  "xmllint is not installed (Debian: libxml2-utils)");
    text = fh_read_file(out);
    snprintf(log, log_len, "%s", text ? text : "");
    free(text);
    return WEXITSTATUS(rc);
}

static void assert_valid(fake_host *fh, const char *file)
{
    char log[4096];
    int rc = xmllint(fh, file, log, sizeof(log));
    ck_assert_msg(rc == 0, "xmllint rejects %s (exit %d):\n%s", file, rc, log);
}

/* ---- reading the file back ------------------------------------------------ */

/* Minor units of `text`: digits with exactly `exponent` decimals (no point
 * at all for 0), or -1 for anything else (sign, comma, missing or extra
 * decimals). Integers only, so a sum is exact. */
static int64_t minor_units(const char *text, int exponent)
{
    int64_t v = 0;
    int decimals = -1, digits = 0;

    for (const char *p = text; *p; p++) {
        if (*p == '.') {
            if (decimals >= 0 || digits == 0)
                return -1;
            decimals = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return -1;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return -1;
        digits++;
        if (decimals >= 0)
            decimals++;
    }
    if (digits == 0 || (exponent > 0 ? decimals != exponent : decimals != -1))
        return -1;
    return v;
}

/* The text of every <tag>...</tag>, in order. */
static int elements(const char *xml, const char *tag, char out[][128], int max)
{
    char open[64], close[64];
    int n = 0;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    for (const char *s = xml; (s = strstr(s, open)) != NULL;) {
        const char *v = s + strlen(open), *e = strstr(v, close);
        ck_assert_msg(e != NULL, "<%s> not closed", tag);
        ck_assert_int_lt(n, max);
        ck_assert_uint_lt((size_t)(e - v), 128);
        memcpy(out[n], v, (size_t)(e - v));
        out[n][e - v] = '\0';
        n++;
        s = e;
    }
    return n;
}

struct amounts {
    int n;
    char ccy[MAX_TX][8];
    int64_t minor[MAX_TX];
};

/* Every <InstdAmt Ccy="...">amount</InstdAmt>. */
static void instructed_amounts(const char *xml, int exponent, struct amounts *a)
{
    static const char open[] = "<InstdAmt Ccy=\"";

    a->n = 0;
    for (const char *s = xml; (s = strstr(s, open)) != NULL;) {
        const char *ccy = s + sizeof(open) - 1, *q = strchr(ccy, '"'), *v, *e;
        char text[64];

        ck_assert_ptr_nonnull(q);
        ck_assert_int_lt(a->n, MAX_TX);
        ck_assert_uint_lt((size_t)(q - ccy), sizeof(a->ccy[0]));
        memcpy(a->ccy[a->n], ccy, (size_t)(q - ccy));
        a->ccy[a->n][q - ccy] = '\0';
        ck_assert_msg(q[1] == '>', "InstdAmt has more than the Ccy attribute");
        v = q + 2;
        e = strstr(v, "</InstdAmt>");
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_lt((size_t)(e - v), sizeof(text));
        memcpy(text, v, (size_t)(e - v));
        text[e - v] = '\0';
        a->minor[a->n] = minor_units(text, exponent);
        ck_assert_msg(a->minor[a->n] > 0, "InstdAmt \"%s\" is not a positive amount with %d "
                      "decimals", text, exponent);
        a->n++;
        s = e;
    }
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle))
        n++;
    return n;
}

/*
 * Validate the plugin's only output with xmllint, then the arithmetic the
 * schema leaves alone: both NbOfTxs equal the number of transfers and
 * `n_tx`; both CtrlSum equal the sum of the InstdAmt and `sum`; every Ccy
 * is the batch currency. Returns the file's text (free it).
 */
static char *check_file(fake_host *fh, int n_tx, int64_t sum)
{
    char vals[4][128], *xml;
    struct amounts a;
    int64_t total = 0;
    int n;

    ck_assert_int_eq(fh->n_outputs, 1);
    xml = fh_read_file(fh->outputs[0]);
    ck_assert_msg(xml != NULL, "no file at %s", fh->outputs[0]);
    assert_valid(fh, fh->outputs[0]);

    instructed_amounts(xml, fh->exponent, &a);
    ck_assert_int_eq(a.n, n_tx);
    ck_assert_int_eq(occurrences(xml, "<CdtTrfTxInf>"), n_tx);
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.ccy[i], fh->currency);
        ck_assert(!__builtin_add_overflow(total, a.minor[i], &total));
    }
    ck_assert_int_eq(total, sum);

    n = elements(xml, "NbOfTxs", vals, 4);
    ck_assert_int_eq(n, 2); /* group header and payment block */
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(minor_units(vals[i], 0), n_tx);
    n = elements(xml, "CtrlSum", vals, 4);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_msg(minor_units(vals[i], fh->exponent) == total,
                      "CtrlSum %s is not the sum of the InstdAmt (%lld minor units)", vals[i],
                      (long long)total);
    return xml;
}

static void assert_nothing_written(const fake_host *fh)
{
    ck_assert_int_eq(fh->n_outputs, 0);
    ck_assert_int_eq(fh->n_listed, 0);
}

/* ---- which payouts are paid ---------------------------------------------- */

START_TEST(pays_exactly_the_approved_iban_payouts)
{
    static const char *const paid[] = {"po_0000000000000001", "po_0000000000000006",
                                       "po_0000000000000010", "po_0000000000000011"};
    static const char *const unpaid[] = {"po_0000000000000002", "po_0000000000000003",
                                         "po_0000000000000004", "po_0000000000000005",
                                         "po_0000000000000007", "po_0000000000000008",
                                         "po_0000000000000009"};
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *xml, want[160];
    int found = 0;

    eur_batch(&fh);
    payout(&p[0], paid[0], "p-001", "Alpha Partners", 120050, "approved",
           "DE44 5001 0517 5407 3249 31", "INGDDEFFXXX");
    payout(&p[1], unpaid[0], "p-002", "Pending Ltd", 5000, "pending_approval", IBAN_NL,
           "ABNANL2A");
    /* A US account as well: the NACHA file pays this one. */
    payout(&p[2], unpaid[1], "p-003", "Both Banks Inc", 7000, "approved", IBAN_NL, "ABNANL2A");
    p[2].routing_number = "021000021";
    p[2].account_number = "123456789";
    payout(&p[3], unpaid[2], "p-004", "No Iban", 7100, "approved", "", "ABNANL2A");
    payout(&p[4], unpaid[3], "p-005", "No Bic", 7200, "approved", IBAN_NL, "");
    /* A routing number alone is not a US account. */
    payout(&p[5], paid[1], "p-006", "Routing Only", 1, "approved", IBAN_NO, "DNBANOKK");
    p[5].routing_number = "021000021";
    payout(&p[6], unpaid[4], "p-007", "Rejected", 7300, "rejected", IBAN_NL, "ABNANL2A");
    payout(&p[7], unpaid[5], "p-008", "Paid", 7400, "paid", IBAN_NL, "ABNANL2A");
    payout(&p[8], unpaid[6], "p-009", "Processing", 7500, "processing", IBAN_NL, "ABNANL2A");
    payout(&p[9], paid[2], "p-010", "Gamma", 99999999, "approved", "gb29 nwbk 6016 1331 9268 19",
           "nwbkgb2l");
    payout(&p[10], paid[3], "p-011", "Delta", 5, "approved", IBAN_FR, "BNPAFRPP");
    fh.n_payouts = 11;

    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    ck_assert_msg(fh.n_errors == 0, "%s", fh.last_error);
    xml = check_file(&fh, 4, 120050 + 1 + 99999999 + 5);

    /* Listed exactly the payouts written, in the file's order. */
    ck_assert_int_eq(fh.n_listed, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(fh.listed[i], paid[i]);
        ck_assert_int_eq(fh.listed_output[i], 0);
        snprintf(want, sizeof(want), "<EndToEndId>%s</EndToEndId>", paid[i]);
        ck_assert_msg(strstr(xml, want) != NULL, "missing %s", want);
        snprintf(want, sizeof(want), "<Ustrd>Commission 2026-02 %s</Ustrd>", paid[i]);
        ck_assert_msg(strstr(xml, want) != NULL, "missing %s", want);
    }
    for (size_t i = 0; i < sizeof(unpaid) / sizeof(unpaid[0]); i++)
        ck_assert_msg(strstr(xml, unpaid[i]) == NULL, "%s must not be paid here", unpaid[i]);

    /* Header, payment block, accounts in electronic form, amounts. */
    ck_assert_ptr_nonnull(strstr(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document "
                                      "xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">"));
    ck_assert_ptr_nonnull(strstr(xml, "<MsgId>PAYRUN-acme-2026-02-1</MsgId>"));
    ck_assert_ptr_nonnull(strstr(xml, "<PmtInfId>PAYRUN-acme-2026-02-1-1</PmtInfId>"));
    ck_assert_ptr_nonnull(strstr(xml, "<CreDtTm>2026-03-01T08:00:00Z</CreDtTm>"));
    ck_assert_ptr_nonnull(strstr(xml, "<ReqdExctnDt>2026-03-01</ReqdExctnDt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<PmtMtd>TRF</PmtMtd>"));
    ck_assert_ptr_nonnull(strstr(xml, "<BtchBookg>true</BtchBookg>"));
    ck_assert_ptr_nonnull(strstr(xml, "<ChrgBr>SLEV</ChrgBr>"));
    ck_assert_int_eq(occurrences(xml, "<Nm>" DEBTOR_NAME "</Nm>"), 2);
    ck_assert_ptr_nonnull(strstr(xml, "<IBAN>DE89370400440532013000</IBAN>"));
    ck_assert_ptr_nonnull(strstr(xml, "<BIC>" DEBTOR_BIC "</BIC>"));
    ck_assert_ptr_nonnull(strstr(xml, "<IBAN>" IBAN_DE "</IBAN>"));
    ck_assert_ptr_nonnull(strstr(xml, "<IBAN>" IBAN_GB "</IBAN>"));
    ck_assert_ptr_nonnull(strstr(xml, "<BIC>NWBKGB2L</BIC>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"EUR\">1200.50</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"EUR\">0.01</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"EUR\">999999.99</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"EUR\">0.05</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<CtrlSum>1001200.55</CtrlSum>"));

    ck_assert_int_eq(count_named(&fh, "transfers", &found), 4);
    ck_assert(found);
    ck_assert_int_eq(count_named(&fh, "control_sum_minor", &found), 100120055);
    ck_assert(found);
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(nothing_to_pay_writes_no_file)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    int found = 0;

    eur_batch(&fh);
    payout(&p[0], "po_1", "p-001", "Pending", 5000, "pending_approval", IBAN_NL, "ABNANL2A");
    payout(&p[1], "po_2", "p-002", "US Only", 5000, "approved", "", "");
    p[1].routing_number = "021000021";
    p[1].account_number = "123456789";
    payout(&p[2], "po_3", "p-003", "Iban Only", 5000, "approved", IBAN_NL, "");
    fh.n_payouts = 3;

    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    assert_nothing_written(&fh);
    ck_assert_int_eq(count_named(&fh, "transfers", &found), 0);
    ck_assert_msg(found, "\"transfers\" must be counted, as 0");

    /* And with no payouts at all. */
    fh.n_payouts = 0;
    fh.n_counts = 0;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    assert_nothing_written(&fh);
    ck_assert_int_eq(count_named(&fh, "transfers", &found), 0);
    ck_assert(found);
    fh_cleanup(&fh);
}
END_TEST

/* ---- text and amounts ----------------------------------------------------- */

START_TEST(names_are_escaped_and_the_file_validates)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *xml, want[256], long_name[101], cut[71];
    const char *s;

    fh_init(&fh);
    fh.currency = "EUR";
    fh.exponent = 2;
    fh_set(&fh, "debtor_name", "Acme & <Co> \"Payouts\" 'GmbH'");
    fh_set(&fh, "debtor_iban", DEBTOR_IBAN);
    fh_set(&fh, "debtor_bic", DEBTOR_BIC);

    payout(&p[0], "po_1", "p-001", "ignored: account_name wins", 100, "approved", IBAN_DE,
           "INGDDEFF");
    p[0].account_name = "Smith & Sons <\"Best\"> 'Ltd'";
    payout(&p[1], "po_2", "p-002", "  Line\tOne\r\nTwo\x01\x7f  \x1b[31mRed  ", 200, "approved",
           IBAN_GB, "NWBKGB2L");
    payout(&p[2], "po_3", "p-003", "M\xc3\xbcller GmbH", 300, "approved", IBAN_FR, "BNPAFRPP");
    /* Not UTF-8: a lone 0xff, a truncated sequence, an overlong '/', a C1 control. */
    payout(&p[3], "po_4", "p-004", "Bad\xff" "Byte\xc3 \xc0\xaf End\xc2\x85", 400, "approved",
           IBAN_NL, "ABNANL2A");
    memset(long_name, 'x', 100);
    long_name[100] = '\0';
    payout(&p[4], "po_5", "p-005", long_name, 500, "approved", IBAN_NO, "DNBANOKK");
    fh.n_payouts = 5;

    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, 5, 1500);

    ck_assert_int_eq(
        occurrences(xml, "<Nm>Acme &amp; &lt;Co&gt; &quot;Payouts&quot; &apos;GmbH&apos;</Nm>"),
        2);
    ck_assert_ptr_nonnull(
        strstr(xml, "<Nm>Smith &amp; Sons &lt;&quot;Best&quot;&gt; &apos;Ltd&apos;</Nm>"));
    ck_assert_ptr_null(strstr(xml, "ignored"));
    ck_assert_ptr_nonnull(strstr(xml, "<Nm>Line One Two [31mRed</Nm>"));
    ck_assert_ptr_nonnull(strstr(xml, "<Nm>M\xc3\xbcller GmbH</Nm>"));
    ck_assert_ptr_nonnull(strstr(xml, "<Nm>Bad?Byte? ?? End</Nm>"));
    memset(cut, 'x', 70);
    cut[70] = '\0';
    snprintf(want, sizeof(want), "<Nm>%s</Nm>", cut);
    ck_assert_ptr_nonnull(strstr(xml, want));
    /* No control character anywhere but the LF that ends each line. */
    for (s = xml; *s; s++)
        ck_assert_msg((unsigned char)*s >= 0x20 || *s == '\n', "control byte 0x%02x at %ld",
                      (unsigned)(unsigned char)*s, (long)(s - xml));
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(jpy_amounts_have_no_decimals)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *xml;

    eur_batch(&fh);
    fh.currency = "JPY";
    fh.exponent = 0;
    payout(&p[0], "po_jp1", "p-001", "Tanaka KK", 150000, "approved", IBAN_DE, "INGDDEFF");
    payout(&p[1], "po_jp2", "p-002", "Sato", 1, "approved", IBAN_NL, "ABNANL2A");
    p[0].currency = p[1].currency = "JPY";
    fh.n_payouts = 2;

    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, 2, 150001);
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"JPY\">150000</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"JPY\">1</InstdAmt>"));
    ck_assert_int_eq(occurrences(xml, "<CtrlSum>150001</CtrlSum>"), 2);
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bhd_amounts_have_three_decimals)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *xml;

    eur_batch(&fh);
    fh.currency = "BHD";
    fh.exponent = 3;
    payout(&p[0], "po_bh1", "p-001", "Manama WLL", 12345, "approved", IBAN_DE, "INGDDEFF");
    payout(&p[1], "po_bh2", "p-002", "Riffa", 7, "approved", IBAN_NL, "ABNANL2A");
    p[0].currency = p[1].currency = "BHD";
    fh.n_payouts = 2;

    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, 2, 12352);
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"BHD\">12.345</InstdAmt>"));
    ck_assert_ptr_nonnull(strstr(xml, "<InstdAmt Ccy=\"BHD\">0.007</InstdAmt>"));
    ck_assert_int_eq(occurrences(xml, "<CtrlSum>12.352</CtrlSum>"), 2);
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(same_payouts_same_bytes)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *a, *b;

    eur_batch(&fh);
    payout(&p[0], "po_1", "p-001", "One & Only", 4200, "approved", IBAN_DE, "INGDDEFF");
    payout(&p[1], "po_2", "p-002", "Two", 99, "approved", IBAN_GB, "NWBKGB2L");
    fh.n_payouts = 2;
    fh_set(&fh, "path", "first.xml");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    /* The fake host refuses a second listing, as the core does across
     * outputs; a rerun is a new run, so start the listing afresh. */
    fh.n_listed = 0;
    fh.n_cfg = 0;
    fh_set(&fh, "debtor_name", DEBTOR_NAME);
    fh_set(&fh, "debtor_iban", DEBTOR_IBAN);
    fh_set(&fh, "debtor_bic", DEBTOR_BIC);
    fh_set(&fh, "path", "second.xml");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_outputs, 2);
    a = fh_read_file(fh_path(&fh, "first.xml"));
    b = fh_read_file(fh_path(&fh, "second.xml"));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(strlen(a), strlen(b));
    ck_assert_msg(memcmp(a, b, strlen(a)) == 0, "two runs gave different bytes");
    free(a);
    free(b);
    fh_cleanup(&fh);
}
END_TEST

/* Enough transfers that the file is written in several chunks. */
START_TEST(many_payouts_across_chunks)
{
    static const char *const ibans[] = {IBAN_DE, IBAN_GB, IBAN_FR, IBAN_NL, IBAN_NO};
    static const char *const bics[] = {"INGDDEFF", "NWBKGB2L", "BNPAFRPP", "ABNANL2A",
                                       "DNBANOKK"};
    fake_host fh;
    char ids[FH_MAX][24], partners[FH_MAX][16];
    int64_t sum = 0;
    int n_paid = 0;
    char *xml;

    eur_batch(&fh);
    for (int i = 0; i < FH_MAX; i++) {
        snprintf(ids[i], sizeof(ids[i]), "po_%016d", i + 1);
        snprintf(partners[i], sizeof(partners[i]), "p-%03d", i + 1);
        payout(&fh.payouts[i], ids[i], partners[i], "Partner & Co", 100 + 997 * (int64_t)i,
               i % 7 == 3 ? "pending_approval" : "approved", ibans[i % 5], bics[i % 5]);
        if (i % 7 != 3) {
            sum += 100 + 997 * (int64_t)i;
            n_paid++;
        }
    }
    fh.n_payouts = FH_MAX;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, n_paid, sum);
    ck_assert_uint_gt(strlen(xml), 65536);
    ck_assert_int_eq(fh.n_listed, n_paid);
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(options_reach_the_file)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *xml;

    eur_batch(&fh);
    fh_set(&fh, "charge_bearer", "SHAR");
    fh_set(&fh, "batch_booking", "false");
    fh_set(&fh, "message_id_prefix", "ACME-PAY");
    fh_set(&fh, "path", "sepa.xml");
    payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    ck_assert_str_eq(fh.outputs[0], fh_path(&fh, "sepa.xml"));
    xml = check_file(&fh, 1, 4200);
    ck_assert_ptr_nonnull(strstr(xml, "<ChrgBr>SHAR</ChrgBr>"));
    ck_assert_ptr_nonnull(strstr(xml, "<BtchBookg>false</BtchBookg>"));
    ck_assert_ptr_nonnull(strstr(xml, "<MsgId>ACME-PAY-acme-2026-02-1</MsgId>"));
    ck_assert_ptr_nonnull(strstr(xml, "<PmtInfId>ACME-PAY-acme-2026-02-1-1</PmtInfId>"));
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

/* ---- refused before anything is written ----------------------------------- */

START_TEST(non_positive_amount_refused_before_writing)
{
    static const int64_t bad[] = {-500, 0, INT64_MIN};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_host fh;
        struct payrun_payout_view *p = fh.payouts;

        eur_batch(&fh);
        payout(&p[0], "po_good", "p-001", "Good", 4200, "approved", IBAN_DE, "INGDDEFF");
        payout(&p[1], "po_negative", "p-002", "Clawback", bad[i], "approved", IBAN_NL,
               "ABNANL2A");
        fh.n_payouts = 2;
        ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_INPUT);
        assert_nothing_written(&fh);
        ck_assert_msg(strstr(fh.last_error, "\"po_negative\"") != NULL, "%s", fh.last_error);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(bad_currency_refused_before_writing)
{
    static const char *const bad[] = {"US1", "usd", "EURO", "EU", ""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_host fh;
        struct payrun_payout_view *p = fh.payouts;

        eur_batch(&fh);
        fh.currency = bad[i];
        payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
        p[0].currency = bad[i];
        fh.n_payouts = 1;
        ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_CONFIG);
        assert_nothing_written(&fh);
        ck_assert_msg(strstr(fh.last_error, "currency") != NULL, "%s", fh.last_error);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(payout_in_another_currency_refused)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;

    eur_batch(&fh);
    payout(&p[0], "po_usd", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    p[0].currency = "USD";
    fh.n_payouts = 1;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_INPUT);
    assert_nothing_written(&fh);
    ck_assert_msg(strstr(fh.last_error, "\"po_usd\"") != NULL, "%s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(long_message_id_refused_before_writing)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    /* The run's number joins the id: 21 + "-acme-2026-02-1" = 36 characters. */
    const char *prefix = "ABCDEFGHIJKLMNOPQRSTU";
    char *xml;

    eur_batch(&fh);
    fh_set(&fh, "message_id_prefix", prefix);
    payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    ck_assert_int_eq(strlen("ABCDEFGHIJKLMNOPQRSTU-acme-2026-02-1"), 36);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_CONFIG);
    assert_nothing_written(&fh);
    ck_assert_msg(strstr(fh.last_error, "\"ABCDEFGHIJKLMNOPQRSTU-acme-2026-02-1\"") != NULL,
                  "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_error, "36") != NULL, "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_hint, "13") != NULL, "hint: %s", fh.last_hint);
    fh_cleanup(&fh);

    /* A 34-character message id still fits, but its PmtInfId ("-1") does not. */
    eur_batch(&fh);
    fh_set(&fh, "message_id_prefix", "ABCDEFGHIJKLMNOPQRS");
    payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_CONFIG);
    assert_nothing_written(&fh);
    ck_assert_msg(strstr(fh.last_error, "\"ABCDEFGHIJKLMNOPQRS-acme-2026-02-1-1\" is 36") != NULL,
                  "%s", fh.last_error);
    fh_cleanup(&fh);

    /* The longest that fits: a 33-character MsgId, a 35-character PmtInfId. */
    eur_batch(&fh);
    fh_set(&fh, "message_id_prefix", "ABCDEFGHIJKLMNOPQR");
    payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, 1, 4200);
    ck_assert_ptr_nonnull(strstr(xml, "<PmtInfId>ABCDEFGHIJKLMNOPQR-acme-2026-02-1-1</PmtInfId>"));
    free(xml);
    fh_cleanup(&fh);

    /* Characters a bank would refuse in an id. */
    eur_batch(&fh);
    fh_set(&fh, "message_id_prefix", "PAY RUN");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_CONFIG);
    assert_nothing_written(&fh);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_creditor_iban_refused_naming_the_partner)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;

    eur_batch(&fh);
    payout(&p[0], "po_1", "p-good", "Good", 4200, "approved", IBAN_DE, "INGDDEFF");
    /* DE89...3000 is valid; the last digit changed breaks mod-97. */
    payout(&p[1], "po_2", "p-typo", "Typo GmbH", 4300, "approved", "DE89370400440532013001",
           "COBADEFF");
    fh.n_payouts = 2;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_INPUT);
    assert_nothing_written(&fh);
    ck_assert_msg(strstr(fh.last_error, "\"p-typo\"") != NULL, "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_error, "mod-97") != NULL, "%s", fh.last_error);
    fh_cleanup(&fh);

    /* Malformed IBANs and a bad BIC: every one is reported, the first as the error. */
    eur_batch(&fh);
    payout(&p[0], "po_1", "p-short", "Short", 4200, "approved", "DE89", "INGDDEFF");
    payout(&p[1], "po_2", "p-chars", "Chars", 4300, "approved", "DE89-3704-0044-0532-0130-00",
           "COBADEFF");
    payout(&p[2], "po_3", "p-bic", "Bic", 4400, "approved", IBAN_NL, "ABNANL2");
    payout(&p[3], "po_4", "p-long", "Long", 4500, "approved",
           "DE89370400440532013000123456789012345", "COBADEFF");
    payout(&p[4], "po_5", "p-nameless", "", 4600, "approved", IBAN_GB, "NWBKGB2L");
    payout(&p[5], "po 6", "p-badid", "Bad Id", 4700, "approved", IBAN_GB, "NWBKGB2L");
    /* 36 characters */
    payout(&p[6], "po_0123456789abcdef0123456789abcdef0", "p-longid", "Long Id", 4800,
           "approved", IBAN_GB, "NWBKGB2L");
    fh.n_payouts = 7;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_INPUT);
    assert_nothing_written(&fh);
    ck_assert_msg(strstr(fh.last_error, "\"p-short\"") != NULL, "%s", fh.last_error);
    ck_assert_msg(strstr(fh.last_error, "and 6 more") != NULL, "%s", fh.last_error);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_debtor_refused_at_init)
{
    static const struct {
        const char *key, *value, *says;
    } bad[] = {
        {"debtor_iban", "DE89370400440532013001", "mod-97"},
        {"debtor_iban", "", "debtor_iban"},
        {"debtor_bic", "DEUTDE1F", "debtor_bic"},  /* location code may not start with 1 */
        {"debtor_bic", "DEUTDEFFX", "debtor_bic"}, /* 9 characters */
        {"debtor_bic", "DEUTDEFO", "debtor_bic"},  /* O is not allowed in position 8 */
        {"debtor_name", "", "debtor_name"},
        {"debtor_name", "\t\x01 ", "debtor_name"},
        {"debtor_name", "12345678901234567890123456789012345678901234567890123456789012345678901",
         "70"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_host fh;
        fh_init(&fh);
        fh.currency = "EUR";
        /* The bad value first: the fake host answers with the first match. */
        fh_set(&fh, bad[i].key, bad[i].value);
        fh_set(&fh, "debtor_name", DEBTOR_NAME);
        fh_set(&fh, "debtor_iban", DEBTOR_IBAN);
        fh_set(&fh, "debtor_bic", DEBTOR_BIC);
        payout(&fh.payouts[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
        fh.n_payouts = 1;
        ck_assert_msg(fh_run_plugin(&fh, "bank_pain001") == PAYRUN_ERR_CONFIG,
                      "%s=\"%s\" accepted", bad[i].key, bad[i].value);
        assert_nothing_written(&fh);
        ck_assert_msg(strstr(fh.last_error, bad[i].says) != NULL, "%s=\"%s\": %s", bad[i].key,
                      bad[i].value, fh.last_error);
        fh_cleanup(&fh);
    }

    /* A required key left out. */
    {
        fake_host fh;
        fh_init(&fh);
        fh.currency = "EUR";
        fh_set(&fh, "debtor_name", DEBTOR_NAME);
        fh_set(&fh, "debtor_iban", DEBTOR_IBAN);
        ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_ERR_CONFIG);
        ck_assert_msg(strstr(fh.last_error, "debtor_bic") != NULL, "%s", fh.last_error);
        assert_nothing_written(&fh);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(second_listing_refused)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;

    eur_batch(&fh);
    payout(&p[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    /* Another bank file of this run already lists the payout. */
    snprintf(fh.listed[0], sizeof(fh.listed[0]), "%s", "po_1");
    fh.listed_output[0] = 99;
    fh.n_listed = 1;
    ck_assert_int_ne(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_listed, 1);
    fh_cleanup(&fh);
}
END_TEST

/* The validator itself must be able to fail, or a passing test proves
 * nothing: a lower-case BIC and a negative amount are both schema errors. */
START_TEST(schema_rejects_broken_files)
{
    static const struct {
        const char *from, *to;
    } breaks[] = {
        {"<BIC>INGDDEFF</BIC>", "<BIC>ingddeff</BIC>"},
        {">42.00</InstdAmt>", ">-42.00</InstdAmt>"},
        {">42.00</InstdAmt>", ">42.000001</InstdAmt>"},
        {"<MsgId>PAYRUN-acme-2026-02-1</MsgId>",
         "<MsgId>PAYRUN-acme-2026-02-1-0123456789abcdefg</MsgId>"},
    };
    fake_host fh;
    char *xml, log[4096];

    eur_batch(&fh);
    payout(&fh.payouts[0], "po_1", "p-001", "One", 4200, "approved", IBAN_DE, "INGDDEFF");
    fh.n_payouts = 1;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_pain001"), PAYRUN_OK);
    xml = check_file(&fh, 1, 4200);
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        const char *at = strstr(xml, breaks[i].from);
        char path[PATH_MAX + 64];
        FILE *f;

        ck_assert_ptr_nonnull(at);
        snprintf(path, sizeof(path), "%s", fh_path(&fh, "broken.xml"));
        f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(xml, 1, (size_t)(at - xml), f);
        fputs(breaks[i].to, f);
        fputs(at + strlen(breaks[i].from), f);
        fclose(f);
        ck_assert_msg(xmllint(&fh, path, log, sizeof(log)) != 0, "xmllint accepted %s",
                      breaks[i].to);
    }
    free(xml);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("bank_pain001", PAYRUN_KIND_EXPORTER);
}
END_TEST

Suite *bank_pain001_suite(void)
{
    Suite *s = suite_create("bank_pain001");
    TCase *tc = tcase_create("bank_pain001");

    tcase_add_test(tc, pays_exactly_the_approved_iban_payouts);
    tcase_add_test(tc, nothing_to_pay_writes_no_file);
    tcase_add_test(tc, names_are_escaped_and_the_file_validates);
    tcase_add_test(tc, jpy_amounts_have_no_decimals);
    tcase_add_test(tc, bhd_amounts_have_three_decimals);
    tcase_add_test(tc, same_payouts_same_bytes);
    tcase_add_test(tc, many_payouts_across_chunks);
    tcase_add_test(tc, options_reach_the_file);
    tcase_add_test(tc, non_positive_amount_refused_before_writing);
    tcase_add_test(tc, bad_currency_refused_before_writing);
    tcase_add_test(tc, payout_in_another_currency_refused);
    tcase_add_test(tc, long_message_id_refused_before_writing);
    tcase_add_test(tc, bad_creditor_iban_refused_naming_the_partner);
    tcase_add_test(tc, bad_debtor_refused_at_init);
    tcase_add_test(tc, second_listing_refused);
    tcase_add_test(tc, schema_rejects_broken_files);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
