/*
 * test_bank_nacha.c: the bank_nacha plugin against the fake host.
 *
 * Every file the plugin writes goes through two checkers that do not share
 * its code. The first is written here from the NACHA record layouts: record
 * length and LF endings, ASCII upper case, the order of record types,
 * header and control agreement (service class 220, company id, ODFI, batch
 * number), counts, entry hash, totals, block count and minimal '9' padding,
 * transaction codes, amounts and ascending trace numbers with the ODFI
 * prefix. It is shown to fail on corrupted copies of a good file, so a
 * passing file means something. The second is the npm package achkit
 * (validate()), run with node from the directory in ACHKIT_DIR; it checks
 * the arithmetic and routing check digits but not service classes, dates,
 * traces or header/control agreement, which is why the first exists. With
 * ACHKIT_DIR unset only the achkit part is skipped, and says so.
 *
 * The rest covers what the payer relies on: only approved payouts with bank
 * details are paid, exactly those are listed against the file, a bad routing
 * number stops the stage before any file is opened, nothing to pay writes
 * no file, the bytes are deterministic, names become upper-case ASCII, and
 * every bad configuration value is refused at init.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fake_host.h"
#include "plugin_loader.h"

Suite *bank_nacha_suite(void);

#define RL 94 /* record length */
#define MAX_ENTRIES 512

/* ---- an independent NACHA checker ------------------------------------------ */

struct ach_entry {
    int txn;
    char rdfi[10];    /* 8 digits and the check digit */
    char account[18]; /* trailing spaces removed */
    int64_t amount;
    char id[16];
    char name[23];
    char trace[16];
};

struct ach_file {
    int n_records; /* with padding */
    int n_batches;
    int n_entries;
    int64_t total_credit;
    char created[7], time[5], modifier;
    char sec[4], company_id[11], odfi8[9], effective[7], description[11];
    struct ach_entry e[MAX_ENTRIES];
};

static int t_routing_ok(const char *s)
{
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        sum += (s[i] - '0') * (i % 3 == 0 ? 3 : i % 3 == 1 ? 7 : 1);
    }
    return sum % 10 == 0;
}

/* Digits at 1-based position `pos`, `width` long, into *v; -1 if any is
 * not a digit. */
static int t_num(const char *rec, int pos, int width, int64_t *v)
{
    int64_t n = 0;
    for (int i = 0; i < width; i++) {
        char ch = rec[pos - 1 + i];
        if (ch < '0' || ch > '9')
            return -1;
        n = n * 10 + (ch - '0');
    }
    *v = n;
    return 0;
}

static int t_blank(const char *rec, int pos, int width)
{
    for (int i = 0; i < width; i++)
        if (rec[pos - 1 + i] != ' ')
            return 0;
    return 1;
}

/* Copy a field, trailing spaces removed. */
static void t_field(const char *rec, int pos, int width, char *out)
{
    int n = width;
    memcpy(out, rec + pos - 1, (size_t)width);
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

static int t_date_ok(const char *rec, int pos)
{
    int64_t mm, dd;
    int64_t yy;
    return t_num(rec, pos, 2, &yy) == 0 && t_num(rec, pos + 2, 2, &mm) == 0 &&
           t_num(rec, pos + 4, 2, &dd) == 0 && mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
}

#define FAIL(...)                                                                            \
    do {                                                                                     \
        snprintf(why, why_len, __VA_ARGS__);                                                 \
        return -1;                                                                           \
    } while (0)

/*
 * Check a whole file. Returns 0 and fills *f, or -1 with the first problem
 * in why[] (its wording names the field: "length", "entry hash", "total
 * credit", "trace", "service class", ...).
 */
static int ach_check(const char *data, size_t len, struct ach_file *f, char *why, size_t why_len)
{
    const char *recs[4096];
    int n = 0, i = 0;
    int64_t v, hash_file = 0, credit_file = 0, entries_file = 0;

    memset(f, 0, sizeof(*f));
    /* Records: exactly 94 printable upper-case ASCII characters, then LF. */
    for (size_t at = 0; at < len;) {
        const char *lf = memchr(data + at, '\n', len - at);
        size_t rl = lf ? (size_t)(lf - (data + at)) : len - at;
        if (lf == NULL)
            FAIL("record %d does not end with LF", n + 1);
        if (rl != RL)
            FAIL("record %d length is %zu, not 94", n + 1, rl);
        for (size_t k = 0; k < rl; k++) {
            unsigned char ch = (unsigned char)data[at + k];
            if (ch < 0x20 || ch > 0x7E)
                FAIL("record %d column %zu: byte 0x%02x is not printable ASCII", n + 1, k + 1,
                     ch);
            if (ch >= 'a' && ch <= 'z')
                FAIL("record %d column %zu: lower case '%c'", n + 1, k + 1, ch);
        }
        if (n >= 4096)
            FAIL("too many records");
        recs[n++] = data + at;
        at += rl + 1;
    }
    f->n_records = n;
    if (n == 0 || n % 10 != 0)
        FAIL("%d records is not a multiple of the blocking factor 10", n);

    /* File header. */
    {
        const char *r = recs[i++];
        if (r[0] != '1')
            FAIL("record 1 is type '%c', not the file header '1'", r[0]);
        if (memcmp(r + 1, "01", 2) != 0)
            FAIL("file header priority code is not 01");
        if (r[3] != ' ' || !t_routing_ok(r + 4))
            FAIL("file header immediate destination \"%.10s\" is not a space and a valid "
                 "routing number", r + 3);
        if (t_blank(r, 14, 10))
            FAIL("file header immediate origin is blank");
        if (!t_date_ok(r, 24) || t_num(r, 30, 4, &v) != 0 || v / 100 > 23 || v % 100 > 59)
            FAIL("file header creation date/time \"%.10s\" is not YYMMDDHHMM", r + 23);
        if (!((r[33] >= 'A' && r[33] <= 'Z') || (r[33] >= '0' && r[33] <= '9')))
            FAIL("file id modifier '%c' is not A-Z or 0-9", r[33]);
        if (memcmp(r + 34, "094", 3) != 0 || memcmp(r + 37, "10", 2) != 0 || r[39] != '1')
            FAIL("file header record size/blocking factor/format code are not 094/10/1");
        memcpy(f->created, r + 23, 6);
        memcpy(f->time, r + 29, 4);
        f->modifier = r[33];
    }

    /* Batches: 5, 6..., 8, until the file control. */
    while (i < n && recs[i][0] == '5') {
        const char *bh = recs[i++], *bc;
        int64_t svc, batch_no, count = 0, hash = 0, credit = 0, seq_prev = 0;

        f->n_batches++;
        if (t_num(bh, 2, 3, &svc) != 0 || svc != 220)
            FAIL("batch %d header service class \"%.3s\" is not 220 (credits)", f->n_batches,
                 bh + 1);
        if (t_blank(bh, 5, 16))
            FAIL("batch %d header company name is blank", f->n_batches);
        if (memcmp(bh + 50, "PPD", 3) != 0 && memcmp(bh + 50, "CCD", 3) != 0)
            FAIL("batch %d SEC code \"%.3s\" is not PPD or CCD", f->n_batches, bh + 50);
        if (t_blank(bh, 54, 10))
            FAIL("batch %d entry description is blank", f->n_batches);
        if (!t_date_ok(bh, 70))
            FAIL("batch %d effective entry date \"%.6s\" is not YYMMDD", f->n_batches, bh + 69);
        if (bh[78] != '1')
            FAIL("batch %d originator status code is not 1", f->n_batches);
        if (t_num(bh, 80, 8, &v) != 0)
            FAIL("batch %d header ODFI \"%.8s\" is not 8 digits", f->n_batches, bh + 79);
        if (t_num(bh, 88, 7, &batch_no) != 0 || batch_no != f->n_batches)
            FAIL("batch %d header batch number \"%.7s\" does not ascend from 1", f->n_batches,
                 bh + 87);
        memcpy(f->sec, bh + 50, 3);
        t_field(bh, 41, 10, f->company_id);
        t_field(bh, 54, 10, f->description);
        memcpy(f->odfi8, bh + 79, 8);
        memcpy(f->effective, bh + 69, 6);

        for (; i < n && recs[i][0] == '6'; i++) {
            const char *r = recs[i];
            struct ach_entry *e;
            int64_t txn, amount, seq;

            if (f->n_entries >= MAX_ENTRIES)
                FAIL("too many entries");
            e = &f->e[f->n_entries++];
            if (t_num(r, 2, 2, &txn) != 0 || (txn != 22 && txn != 32))
                FAIL("entry %d transaction code \"%.2s\" is not a live credit (22 or 32)",
                     f->n_entries, r + 1);
            if (!t_routing_ok(r + 3))
                FAIL("entry %d receiving DFI \"%.9s\" fails the routing check digit",
                     f->n_entries, r + 3);
            if (r[12] == ' ' || t_blank(r, 13, 17))
                FAIL("entry %d account number is not left-justified", f->n_entries);
            if (t_num(r, 30, 10, &amount) != 0 || amount == 0)
                FAIL("entry %d amount \"%.10s\" is not a non-zero 10-digit number",
                     f->n_entries, r + 29);
            if (!t_blank(r, 77, 2))
                FAIL("entry %d discretionary data is not blank", f->n_entries);
            if (r[78] != '0')
                FAIL("entry %d addenda indicator is '%c', but no addenda follow", f->n_entries,
                     r[78]);
            if (memcmp(r + 79, bh + 79, 8) != 0)
                FAIL("entry %d trace number \"%.15s\" does not start with the ODFI \"%.8s\"",
                     f->n_entries, r + 79, bh + 79);
            if (t_num(r, 88, 7, &seq) != 0 || seq <= seq_prev)
                FAIL("entry %d trace number \"%.15s\" does not ascend", f->n_entries, r + 79);
            seq_prev = seq;
            t_num(r, 4, 8, &v);
            hash += v;
            credit += amount;
            count++;
            e->txn = (int)txn;
            memcpy(e->rdfi, r + 3, 9);
            t_field(r, 13, 17, e->account);
            e->amount = amount;
            t_field(r, 40, 15, e->id);
            t_field(r, 55, 22, e->name);
            memcpy(e->trace, r + 79, 15);
        }
        if (i >= n || recs[i][0] != '8')
            FAIL("batch %d: record %d is type '%c', not an entry '6' or batch control '8'",
                 f->n_batches, i + 1, i < n ? recs[i][0] : '?');
        bc = recs[i++];
        hash %= INT64_C(10000000000);
        if (memcmp(bc + 1, bh + 1, 3) != 0)
            FAIL("batch %d control service class \"%.3s\" differs from its header's \"%.3s\"",
                 f->n_batches, bc + 1, bh + 1);
        if (t_num(bc, 5, 6, &v) != 0 || v != count)
            FAIL("batch %d control entry/addenda count \"%.6s\" != %lld", f->n_batches, bc + 4,
                 (long long)count);
        if (t_num(bc, 11, 10, &v) != 0 || v != hash)
            FAIL("batch %d control entry hash \"%.10s\" != %010lld", f->n_batches, bc + 10,
                 (long long)hash);
        if (t_num(bc, 21, 12, &v) != 0 || v != 0)
            FAIL("batch %d control total debit \"%.12s\" != 0", f->n_batches, bc + 20);
        if (t_num(bc, 33, 12, &v) != 0 || v != credit)
            FAIL("batch %d control total credit \"%.12s\" != %lld", f->n_batches, bc + 32,
                 (long long)credit);
        if (memcmp(bc + 44, bh + 40, 10) != 0)
            FAIL("batch %d control company id \"%.10s\" differs from its header's \"%.10s\"",
                 f->n_batches, bc + 44, bh + 40);
        if (!t_blank(bc, 55, 25))
            FAIL("batch %d control message authentication code/reserved are not blank",
                 f->n_batches);
        if (memcmp(bc + 79, bh + 79, 8) != 0)
            FAIL("batch %d control ODFI \"%.8s\" differs from its header's \"%.8s\"",
                 f->n_batches, bc + 79, bh + 79);
        if (memcmp(bc + 87, bh + 87, 7) != 0)
            FAIL("batch %d control batch number \"%.7s\" differs from its header's \"%.7s\"",
                 f->n_batches, bc + 87, bh + 87);
        hash_file += hash;
        credit_file += credit;
        entries_file += count;
    }
    if (f->n_batches == 0)
        FAIL("no batch header after the file header");

    /* File control. */
    {
        const char *r;
        int64_t blocks = (i + 1 + 9) / 10;
        if (i >= n || recs[i][0] != '9')
            FAIL("record %d is type '%c', not the file control '9'", i + 1,
                 i < n ? recs[i][0] : '?');
        r = recs[i++];
        hash_file %= INT64_C(10000000000);
        if (t_num(r, 2, 6, &v) != 0 || v != f->n_batches)
            FAIL("file control batch count \"%.6s\" != %d", r + 1, f->n_batches);
        if (t_num(r, 8, 6, &v) != 0 || v != n / 10)
            FAIL("file control block count \"%.6s\" != %d", r + 7, n / 10);
        if (t_num(r, 14, 8, &v) != 0 || v != entries_file)
            FAIL("file control entry/addenda count \"%.8s\" != %lld", r + 13,
                 (long long)entries_file);
        if (t_num(r, 22, 10, &v) != 0 || v != hash_file)
            FAIL("file control entry hash \"%.10s\" != %010lld", r + 21, (long long)hash_file);
        if (t_num(r, 32, 12, &v) != 0 || v != 0)
            FAIL("file control total debit \"%.12s\" != 0", r + 31);
        if (t_num(r, 44, 12, &v) != 0 || v != credit_file)
            FAIL("file control total credit \"%.12s\" != %lld", r + 43, (long long)credit_file);
        if (!t_blank(r, 56, 39))
            FAIL("file control reserved field is not blank");
        /* Padding fills the last block only: no whole block of 9s. */
        if (n / 10 != blocks)
            FAIL("%d records where %lld blocks were needed: padding is not minimal", n,
                 (long long)blocks);
    }
    for (; i < n; i++)
        for (int k = 0; k < RL; k++)
            if (recs[i][k] != '9')
                FAIL("padding record %d is not 94 '9's", i + 1);
    f->n_entries = (int)entries_file;
    f->total_credit = credit_file;
    return 0;
}

/* ---- achkit, the independent validator -------------------------------------- */

/* ESM only, so it is loaded with import() from the path in ACHKIT_DIR.
 * Exit 0: valid; 1: validate() reported errors (one per line); 2: achkit
 * could not run at all (which must never pass for a rejection). */
static const char achkit_script[] =
    "import { readFileSync } from \"node:fs\";"
    "import { pathToFileURL } from \"node:url\";"
    "let r;"
    "try {"
    "  const { validate } = await import(pathToFileURL(process.env.ACHKIT_DIR +"
    "    \"/node_modules/achkit/dist/index.js\").href);"
    "  r = validate(readFileSync(process.argv[1], \"latin1\"));"
    "} catch (e) { console.log(\"achkit did not run: \" + e.message); process.exit(2); }"
    "for (const e of r.errors) console.log(e.code + \" \" + e.field + \": \" + e.message);"
    "process.exit(r.ok && r.errors.length === 0 ? 0 : 1);";

/* Run achkit's validate() on `path`. Returns node's exit status (0, 1, 2,
 * or another for a crash), with its output in out[], or -1 when
 * ACHKIT_DIR is unset (and says so on stderr). */
static int achkit_validate(const char *path, char *out, size_t cap)
{
    const char *dir = getenv("ACHKIT_DIR");
    char cmd[4096];
    size_t used = 0;
    FILE *p;
    int status;

    out[0] = '\0';
    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "bank_nacha: ACHKIT_DIR is not set: the achkit validation of \"%s\" is "
                        "SKIPPED (npm install --prefix DIR achkit@0.2.0; then ACHKIT_DIR=DIR)\n",
                path);
        return -1;
    }
    ck_assert_msg(strchr(dir, '\'') == NULL && strchr(path, '\'') == NULL,
                  "quote in a path: %s %s", dir, path);
    ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "node --input-type=module -e '%s' '%s' 2>&1",
                              achkit_script, path),
                     (int)sizeof(cmd));
    p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run node");
    while (used + 1 < cap && fgets(out + used, (int)(cap - used), p) != NULL)
        used += strlen(out + used);
    while (fgetc(p) != EOF)
        ;
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* achkit must accept the file at `path`, when it can run. */
static void assert_achkit_accepts(const char *path)
{
    char out[4096];
    int rc = achkit_validate(path, out, sizeof(out));
    if (rc == -1)
        return;
    ck_assert_msg(rc == 0, "achkit rejects %s (exit %d):\n%s", path, rc, out);
}

/* achkit must reject `data` with the error code `code`. */
static void assert_achkit_rejects(fake_host *fh, const char *data, const char *code)
{
    const char *path = fh_path(fh, "corrupt.ach");
    char out[4096];
    FILE *f = fopen(path, "wb");
    int rc;

    ck_assert_ptr_nonnull(f);
    fputs(data, f);
    fclose(f);
    rc = achkit_validate(path, out, sizeof(out));
    if (rc == -1)
        return;
    ck_assert_msg(rc == 1, "achkit should reject the corrupted copy with %s (exit %d):\n%s",
                  code, rc, out);
    ck_assert_msg(strstr(out, code) != NULL, "achkit rejected, but not with %s:\n%s", code, out);
}

/* ---- fixtures --------------------------------------------------------------- */

static void payout(struct payrun_payout_view *p, const char *id, const char *partner_id,
                   const char *name, int64_t amount, const char *status, const char *routing,
                   const char *account)
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
    p->has_payment_details = routing[0] && account[0];
    p->amount = amount;
    p->currency = "USD";
    p->status = status;
    p->approvals_required = 1;
    p->approvals_given = strcmp(status, "pending_approval") != 0;
    p->created_at = "2026-03-01T08:00:00Z";
    p->created_by = "alice";
    p->approved_by = "";
    p->approved_at = "";
    p->paid_at = "";
    p->reference = "";
    p->notes = "";
    p->hold_reason = "";
    p->lines = 1;
    p->kind = "commission";
    p->routing_number = routing;
    p->account_number = account;
    p->iban = "";
    p->bic = "";
    p->account_name = "";
    p->partner_email = "billing@example.com";
}

/* Three payable payouts among six that are not: pending, rejected,
 * processing, paid, and two approved ones missing part of their bank
 * details. */
static void mixed_batch(fake_host *fh)
{
    struct payrun_payout_view *p = fh->payouts;

    payout(&p[0], "po_01", "p-001", "Acme Resellers", 1520000, "approved", "011401533",
           "12345678");
    payout(&p[1], "po_02", "p-002", "Beta Referrals", 680000, "pending_approval", "011401533",
           "555");
    payout(&p[2], "po_03", "p-003", "Gamma Integrations", 250050, "approved", "", "999");
    payout(&p[3], "po_04", "p-004", "Delta LLC", 99, "approved", "091000019", "000123456789");
    payout(&p[4], "po_05", "p-005", "Epsilon", 500000, "rejected", "011401533", "1");
    payout(&p[5], "po_06", "p-006", "Zeta Co", 1200000, "approved", "021000021", "");
    payout(&p[6], "po_07", "p-007", "Eta Partners", 1234567, "approved", "026009593",
           "abc-778899");
    p[6].account_name = "Eta Holdings Inc";
    payout(&p[7], "po_08", "p-008", "Theta", 300000, "processing", "011401533", "42");
    payout(&p[8], "po_09", "p-009", "Iota", 100, "paid", "011401533", "43");
    fh->n_payouts = 9;
}

/* The required keys and a few optional ones, except `skip`. The fake host
 * returns the first value set for a key, so a test that wants another
 * value skips the key here and sets it itself. */
static void configure(fake_host *fh, const char *skip)
{
    static const char *const kv[][2] = {
        {"path", "ach.txt"},
        {"company_name", "Acme Partners"},
        {"company_id", "1234567890"},
        {"odfi", "091000019"},
        {"destination", "011401533"},
        {"destination_name", "First Bank"},
        {"origin", "1234567890"},
        {"origin_name", "Acme Partners Inc"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (skip == NULL || strcmp(kv[i][0], skip) != 0)
            fh_set(fh, kv[i][0], kv[i][1]);
}

static char *read_output(fake_host *fh, int index)
{
    char *data;
    ck_assert_int_gt(fh->n_outputs, index);
    data = fh_read_file(fh->outputs[index]);
    ck_assert_msg(data != NULL, "no output file %s", fh->outputs[index]);
    return data;
}

static void check_ok(const char *data, struct ach_file *f)
{
    char why[512] = "";
    ck_assert_msg(ach_check(data, strlen(data), f, why, sizeof(why)) == 0, "bad ACH file: %s",
                  why);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Pointer to the first record of `type` in a file held in memory. */
static char *find_record(char *data, char type)
{
    for (char *r = data; *r; r += RL + 1)
        if (r[0] == type)
            return r;
    ck_abort_msg("no record of type %c", type);
    return NULL;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(pays_approved_payouts_with_bank_details)
{
    static struct ach_file f;
    fake_host fh;
    char *data;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    ck_assert_int_eq(fh.n_outputs, 1);
    ck_assert_str_eq(fh.outputs[0], fh_path(&fh, "ach.txt"));
    data = read_output(&fh, 0);
    check_ok(data, &f);

    /* Exactly the approved payouts with both routing and account number,
     * in partner order, each listed against the file once. */
    ck_assert_int_eq(f.n_entries, 3);
    ck_assert_int_eq(fh.n_listed, 3);
    ck_assert_str_eq(fh.listed[0], "po_01");
    ck_assert_str_eq(fh.listed[1], "po_04");
    ck_assert_str_eq(fh.listed[2], "po_07");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(fh.listed_output[i], 0);
    ck_assert_int_eq(f.e[0].amount, 1520000);
    ck_assert_int_eq(f.e[1].amount, 99);
    ck_assert_int_eq(f.e[2].amount, 1234567);
    ck_assert_str_eq(f.e[0].rdfi, "011401533");
    ck_assert_str_eq(f.e[1].rdfi, "091000019");
    ck_assert_str_eq(f.e[2].rdfi, "026009593");
    ck_assert_str_eq(f.e[0].account, "12345678");
    ck_assert_str_eq(f.e[1].account, "000123456789");
    ck_assert_str_eq(f.e[2].account, "ABC-778899");
    ck_assert_str_eq(f.e[0].id, "P-001");
    ck_assert_str_eq(f.e[0].name, "ACME RESELLERS");
    ck_assert_str_eq(f.e[2].name, "ETA HOLDINGS INC"); /* account_name wins */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(f.e[i].txn, 22);
        ck_assert_int_eq(memcmp(f.e[i].trace, "09100001", 8), 0);
    }
    ck_assert_str_eq(f.e[0].trace, "091000010000001");
    ck_assert_str_eq(f.e[2].trace, "091000010000003");
    ck_assert_int_eq(f.total_credit, 1520000 + 99 + 1234567);
    ck_assert_str_eq(f.sec, "CCD");
    ck_assert_str_eq(f.company_id, "1234567890");
    ck_assert_str_eq(f.odfi8, "09100001");
    ck_assert_str_eq(f.description, "COMMISSION");
    ck_assert_str_eq(f.effective, "260301");
    ck_assert_str_eq(f.created, "260301");
    ck_assert_str_eq(f.time, "0800");
    ck_assert_int_eq(f.n_records, 10);

    ck_assert_int_eq(fh_count(&fh, "entries"), 3);
    ck_assert_int_eq(fh_count(&fh, "total_cents"), 2754666);
    ck_assert_int_eq(fh_count(&fh, "skipped_no_bank_details"), 2);
    assert_achkit_accepts(fh.outputs[0]);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

/* The layout, byte for byte, from the NACHA tables rather than the checker. */
START_TEST(exact_records)
{
    fake_host fh;
    char *data, want[RL + 2];

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    data = read_output(&fh, 0);
    ck_assert_uint_eq(strlen(data), 10 * (RL + 1));

    /* type, priority, destination, origin, date, time, modifier, size,
     * blocking, format, destination name, origin name, reference */
    snprintf(want, sizeof(want), "1%s%s%s%s%s%s%s%s%s%-23s%-23s%8s\n", "01", " 011401533",
             "1234567890", "260301", "0800", "A", "094", "10", "1", "FIRST BANK",
             "ACME PARTNERS INC", "");
    ck_assert_int_eq(memcmp(data, want, RL + 1), 0);
    /* type, class, company name, discretionary, company id, SEC, description,
     * descriptive date, effective date, settlement, status, ODFI, batch */
    snprintf(want, sizeof(want), "5%s%-16s%20s%s%s%-10s%6s%s%3s%s%s%s\n", "220",
             "ACME PARTNERS", "", "1234567890", "CCD", "COMMISSION", "", "260301", "", "1",
             "09100001", "0000001");
    ck_assert_int_eq(memcmp(data + 1 * (RL + 1), want, RL + 1), 0);
    /* type, txn, RDFI, check digit, account, amount, id, name,
     * discretionary, addenda indicator, trace */
    snprintf(want, sizeof(want), "6%s%s%s%-17s%s%-15s%-22s%2s%s%s\n", "22", "01140153", "3",
             "12345678", "0001520000", "P-001", "ACME RESELLERS", "", "0", "091000010000001");
    ck_assert_int_eq(memcmp(data + 2 * (RL + 1), want, RL + 1), 0);
    snprintf(want, sizeof(want), "6%s%s%s%-17s%s%-15s%-22s%2s%s%s\n", "22", "02600959", "3",
             "ABC-778899", "0001234567", "P-007", "ETA HOLDINGS INC", "", "0",
             "091000010000003");
    ck_assert_int_eq(memcmp(data + 4 * (RL + 1), want, RL + 1), 0);
    /* type, class, count, hash, debit, credit, company id, MAC, reserved,
     * ODFI, batch; the hash is 01140153 + 09100001 + 02600959 */
    snprintf(want, sizeof(want), "8%s%s%s%s%s%s%19s%6s%s%s\n", "220", "000003", "0012841113",
             "000000000000", "000002754666", "1234567890", "", "", "09100001", "0000001");
    ck_assert_int_eq(memcmp(data + 5 * (RL + 1), want, RL + 1), 0);
    /* type, batches, blocks, entries, hash, debit, credit, reserved */
    snprintf(want, sizeof(want), "9%s%s%s%s%s%s%39s\n", "000001", "000001", "00000003",
             "0012841113", "000000000000", "000002754666", "");
    ck_assert_int_eq(memcmp(data + 6 * (RL + 1), want, RL + 1), 0);
    for (int r = 7; r < 10; r++)
        for (int k = 0; k < RL; k++)
            ck_assert_int_eq(data[r * (RL + 1) + k], '9');
    free(data);
    fh_cleanup(&fh);
}
END_TEST

/* Corrupted copies of a good file must fail both checkers: otherwise a
 * passing file proves nothing. */
START_TEST(checkers_reject_corrupted_copies)
{
    static struct ach_file f;
    fake_host fh;
    char *good, *bad, *r, why[512];
    size_t len;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    good = read_output(&fh, 0);
    len = strlen(good);
    check_ok(good, &f);
    bad = malloc(len + 1);
    ck_assert_ptr_nonnull(bad);

    /* The batch control's entry hash, off by one in its last digit. */
    memcpy(bad, good, len + 1);
    r = find_record(bad, '8');
    r[19] = r[19] == '9' ? '0' : (char)(r[19] + 1);
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "entry hash") != NULL, "%s", why);
    assert_achkit_rejects(&fh, bad, "BAD_ENTRY_HASH");

    /* The file control's total credit, one cent more. */
    memcpy(bad, good, len + 1);
    r = find_record(bad, '9');
    r[54] = r[54] == '9' ? '0' : (char)(r[54] + 1);
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "total credit") != NULL, "%s", why);
    assert_achkit_rejects(&fh, bad, "BAD_FILE_CREDIT");

    /* One entry record a character short (a space of its name dropped). */
    memcpy(bad, good, len + 1);
    r = find_record(bad, '6');
    memmove(r + 70, r + 71, len - (size_t)(r + 71 - bad) + 1);
    ck_assert_int_eq(ach_check(bad, len - 1, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "length is 93") != NULL, "%s", why);
    assert_achkit_rejects(&fh, bad, "BAD_RECORD_LEN");

    /* What achkit does not look at, the checker here must. Trace numbers
     * out of order: swap the sequences of entries 1 and 2. */
    memcpy(bad, good, len + 1);
    r = find_record(bad, '6');
    r[93] = '2';
    r[RL + 1 + 93] = '1';
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "does not ascend") != NULL, "%s", why);

    /* A batch control claiming mixed debits and credits (200). */
    memcpy(bad, good, len + 1);
    memcpy(find_record(bad, '8') + 1, "200", 3);
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "service class") != NULL, "%s", why);

    /* A batch control naming another ODFI than its header. */
    memcpy(bad, good, len + 1);
    memcpy(find_record(bad, '8') + 79, "01140153", 8);
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "ODFI") != NULL, "%s", why);

    /* A lower-case letter in a name. */
    memcpy(bad, good, len + 1);
    find_record(bad, '6')[55] = 'c';
    ck_assert_int_eq(ach_check(bad, len, &f, why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, "lower case") != NULL, "%s", why);

    /* A whole extra block of padding. */
    {
        char *padded = malloc(len + 10 * (RL + 1) + 1);
        ck_assert_ptr_nonnull(padded);
        memcpy(padded, good, len);
        for (int k = 0; k < 10; k++) {
            memset(padded + len + (size_t)k * (RL + 1), '9', RL);
            padded[len + (size_t)k * (RL + 1) + RL] = '\n';
        }
        padded[len + 10 * (RL + 1)] = '\0';
        ck_assert_int_eq(ach_check(padded, strlen(padded), &f, why, sizeof(why)), -1);
        ck_assert_msg(strstr(why, "block count") != NULL || strstr(why, "padding") != NULL,
                      "%s", why);
        free(padded);
    }
    free(bad);
    free(good);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_routing_check_digit_fails_naming_partner)
{
    fake_host fh;

    fh_init(&fh);
    mixed_batch(&fh);
    fh.payouts[3].routing_number = "091000018"; /* po_04, p-004: last digit wrong */
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
    ck_assert_str_eq(fh.last_error,
                     "partner \"p-004\" (payout po_04): routing number \"091000018\" fails its "
                     "check digit");
    ck_assert_msg(fh.last_hint[0] != '\0', "no hint");
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_int_eq(fh.n_listed, 0);
    ck_assert(!file_exists(fh_path(&fh, "ach.txt")));
    fh_cleanup(&fh);
}
END_TEST

START_TEST(malformed_bank_details_fail_naming_partner)
{
    static const char *const cases[][3] = {
        /* routing, account, expected words */
        {"01140153", "12345678", "routing number \"01140153\" is not 9 digits"},
        {"01140153X", "12345678", "is not 9 digits"},
        {"011401533", "1234 5678", "account number \"1234 5678\""},
        {"011401533", "123456789012345678", "account number \"123456789012345678\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_host fh;
        fh_init(&fh);
        mixed_batch(&fh);
        fh.payouts[6].routing_number = cases[i][0];
        fh.payouts[6].account_number = cases[i][1];
        configure(&fh, NULL);
        ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
        ck_assert_msg(strstr(fh.last_error, "partner \"p-007\" (payout po_07)") != NULL &&
                          strstr(fh.last_error, cases[i][2]) != NULL,
                      "case %zu: %s", i, fh.last_error);
        ck_assert_int_eq(fh.n_outputs, 0);
        ck_assert_int_eq(fh.n_listed, 0);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(nothing_to_pay_writes_no_file)
{
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;

    fh_init(&fh);
    payout(&p[0], "po_01", "p-001", "Acme", 1000, "pending_approval", "011401533", "1");
    payout(&p[1], "po_02", "p-002", "Beta", 2000, "approved", "", "");
    payout(&p[2], "po_03", "p-003", "Gamma", 3000, "processing", "011401533", "3");
    payout(&p[3], "po_04", "p-004", "Delta", 4000, "failed", "011401533", "4");
    fh.n_payouts = 4;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_errors, 0);
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_int_eq(fh.n_listed, 0);
    ck_assert(!file_exists(fh_path(&fh, "ach.txt")));
    ck_assert(fh_has_count(&fh, "entries"));
    ck_assert_int_eq(fh_count(&fh, "entries"), 0);
    ck_assert_int_eq(fh_count(&fh, "total_cents"), 0);
    ck_assert_int_eq(fh_count(&fh, "skipped_no_bank_details"), 1);

    /* No payouts at all: the same. */
    fh.n_payouts = 0;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

/* `pay` run again after the core moved the paid payouts to processing
 * must not write a second file. */
START_TEST(rerun_after_processing_writes_nothing)
{
    fake_host fh;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_outputs, 1);
    for (int i = 0; i < fh.n_listed; i++)
        for (size_t k = 0; k < fh.n_payouts; k++)
            if (strcmp(fh.payouts[k].id, fh.listed[i]) == 0)
                fh.payouts[k].status = "processing";
    fh.n_listed = 0;
    fh.n_counts = 0;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_outputs, 1); /* still only the first run's file */
    ck_assert_int_eq(fh.n_listed, 0);
    ck_assert(fh_has_count(&fh, "entries"));
    ck_assert_int_eq(fh_count(&fh, "entries"), 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(same_payouts_same_bytes)
{
    fake_host fh;
    char *a, *b;

    fh_init(&fh);
    mixed_batch(&fh);
    fh_set(&fh, "path", "first.ach");
    configure(&fh, "path");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    fh.n_cfg = 0;
    fh.n_listed = 0; /* the fake host, like the core, refuses a second listing */
    fh_set(&fh, "path", "second.ach");
    configure(&fh, "path");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    ck_assert_int_eq(fh.n_outputs, 2);
    a = read_output(&fh, 0);
    b = read_output(&fh, 1);
    ck_assert_uint_eq(strlen(a), strlen(b));
    ck_assert_msg(memcmp(a, b, strlen(a)) == 0, "two runs gave different bytes");
    free(a);
    free(b);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(names_become_upper_case_ascii)
{
    static struct ach_file f;
    fake_host fh;
    struct payrun_payout_view *p = fh.payouts;
    char *data;

    fh_init(&fh);
    payout(&p[0], "po_01", "p-\xc3\xbcn\xc3\xaf", "Jos\xc3\xa9 M\xc3\xbcller-\xc5\x81ukasz & S\xc3\xb8n",
           1000, "approved", "011401533", "1");
    payout(&p[1], "po_02", "p-002", "ignored", 2000, "approved", "011401533", "2");
    p[1].account_name = "  fran\xc3\xa7oise \t o\xe2\x80\x99" "brien ";
    payout(&p[2], "po_03", "p-003", "\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe Stra\xc3\x9f" "e",
           3000, "approved", "011401533", "3");
    payout(&p[3], "po_04", "p-004", "bad \xff\xfe utf-8 \xc3", 4000, "approved", "011401533",
           "4");
    /* Latin Extended-A, up to its last code point (U+017F), which proves the
     * plugin's table covers the block exactly. */
    payout(&p[4], "po_05", "p-005", "\xc5\xbd" "ofie \xc5\xa0\xc5\xa5" "astn\xc3\xa1 \xc5\x92 \xc5\xbf",
           5000, "approved", "011401533", "5");
    fh.n_payouts = 5;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    data = read_output(&fh, 0);
    check_ok(data, &f); /* also: every byte printable ASCII, no lower case */
    ck_assert_str_eq(f.e[0].name, "JOSE MULLER-LUKASZ & S"); /* cut at 22 */
    ck_assert_str_eq(f.e[0].id, "P-UNI");
    ck_assert_str_eq(f.e[1].name, "FRANCOISE O'BRIEN");
    ck_assert_str_eq(f.e[2].name, "STRASSE");
    ck_assert_str_eq(f.e[3].name, "BAD UTF-8");
    ck_assert_str_eq(f.e[4].name, "ZOFIE STASTNA OE S");
    assert_achkit_accepts(fh.outputs[0]);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(name_without_ascii_letters_fails)
{
    fake_host fh;

    fh_init(&fh);
    payout(&fh.payouts[0], "po_01", "p-001", "\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe",
           1000, "approved", "011401533", "1");
    fh.n_payouts = 1;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "partner \"p-001\" (payout po_01)"));
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(savings_and_ppd)
{
    static struct ach_file f;
    fake_host fh;
    char *data;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    fh_set(&fh, "account_type", "savings");
    fh_set(&fh, "sec_code", "PPD");
    fh_set(&fh, "entry_description", "Payout");
    fh_set(&fh, "file_id_modifier", "7");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    data = read_output(&fh, 0);
    check_ok(data, &f);
    ck_assert_int_eq(f.n_entries, 3);
    for (int i = 0; i < f.n_entries; i++)
        ck_assert_int_eq(f.e[i].txn, 32);
    ck_assert_str_eq(f.sec, "PPD");
    ck_assert_str_eq(f.description, "PAYOUT");
    ck_assert_int_eq(f.modifier, '7');
    assert_achkit_accepts(fh.outputs[0]);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

/* Blocks of ten: 1 entry is 5 records (5 of padding), 6 entries exactly
 * 10 (none), 7 entries 11 (9 of padding, 2 blocks). */
START_TEST(blocking_and_padding)
{
    static const int sizes[] = {1, 6, 7, 16, 17};
    static char ids[17][16], pids[17][16];
    static struct ach_file f;

    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        fake_host fh;
        char *data;
        int n = sizes[s];

        fh_init(&fh);
        for (int i = 0; i < n; i++) {
            snprintf(ids[i], sizeof(ids[i]), "po_%02d", i + 1);
            snprintf(pids[i], sizeof(pids[i]), "p-%03d", i + 1);
            payout(&fh.payouts[i], ids[i], pids[i], "Partner", 100 + i, "approved",
                   "021000021", "77");
        }
        fh.n_payouts = (size_t)n;
        configure(&fh, NULL);
        ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
        data = read_output(&fh, 0);
        check_ok(data, &f);
        ck_assert_int_eq(f.n_entries, n);
        ck_assert_int_eq(f.n_records, ((n + 4 + 9) / 10) * 10);
        ck_assert_int_eq(fh.n_listed, n);
        assert_achkit_accepts(fh.outputs[0]);
        free(data);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(amount_limits)
{
    static char ids[101][16], pids[101][16];
    static struct ach_file f;
    fake_host fh;
    char *data;

    /* The largest amount an entry's 10 digits hold is paid. */
    fh_init(&fh);
    payout(&fh.payouts[0], "po_01", "p-001", "Big", INT64_C(9999999999), "approved",
           "011401533", "1");
    fh.n_payouts = 1;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    data = read_output(&fh, 0);
    check_ok(data, &f);
    ck_assert_int_eq(f.e[0].amount, INT64_C(9999999999));
    free(data);
    fh_cleanup(&fh);

    /* One cent more does not fit. */
    fh_init(&fh);
    payout(&fh.payouts[0], "po_01", "p-001", "Big", INT64_C(10000000000), "approved",
           "011401533", "1");
    fh.n_payouts = 1;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "partner \"p-001\"") != NULL &&
                      strstr(fh.last_error, "100000000.00") != NULL,
                  "%s", fh.last_error);
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);

    /* 101 of the largest pass the 12 digits of the total. */
    fh_init(&fh);
    for (int i = 0; i < 101; i++) {
        snprintf(ids[i], sizeof(ids[i]), "po_%03d", i);
        snprintf(pids[i], sizeof(pids[i]), "p-%03d", i);
        payout(&fh.payouts[i], ids[i], pids[i], "Big", INT64_C(9999999999), "approved",
               "011401533", "1");
    }
    fh.n_payouts = 101;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(fh.last_error, "total credit") != NULL &&
                      strstr(fh.last_error, "12 digits") != NULL &&
                      strstr(fh.last_error, "p-100") != NULL,
                  "%s", fh.last_error);
    ck_assert_int_eq(fh.n_outputs, 0);
    ck_assert_int_eq(fh.n_listed, 0);
    fh_cleanup(&fh);

    /* Zero and negative approved payouts cannot be credits. */
    fh_init(&fh);
    payout(&fh.payouts[0], "po_01", "p-001", "Zero", 0, "approved", "011401533", "1");
    fh.n_payouts = 1;
    configure(&fh, NULL);
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "partner \"p-001\""));
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(bad_configuration_refused_at_init)
{
    static const char *const cases[][3] = {
        /* key, value (NULL: unset), words the error must contain */
        {"odfi", "091000018", "odfi \"091000018\" fails its routing check digit"},
        {"odfi", "09100001", "odfi \"09100001\" is not a 9-digit routing number"},
        {"destination", "011401534", "destination \"011401534\" fails"},
        {"destination", "O11401533", "is not a 9-digit routing number"},
        {"company_id", "12345", "company_id \"12345\" is 5 characters long"},
        {"company_id", "12345678901", "company_id \"12345678901\" is 11 characters long"},
        {"company_id", NULL, "\"company_id\" is not set"},
        {"company_name", NULL, "\"company_name\" is not set"},
        {"company_name", "Acme Partners International", "company_name"},
        {"company_name", "Caf\xc3\xa9 Partners", "not printable ASCII"},
        {"company_name", "    ", "company_name is all spaces"},
        {"origin", "12345", "origin \"12345\" is 5 characters long"},
        {"origin", "091000018", "fails its check digit"},
        {"origin", "abcdefghij", "origin \"abcdefghij\" may hold only"},
        {"origin", NULL, "\"origin\" is not set"},
        {"destination_name", "A Destination Name Too Long", "destination_name"},
        {"entry_description", "COMMISSIONS", "entry_description"},
        {"entry_description", "", "entry_description"},
        {"file_id_modifier", "AB", "file_id_modifier"},
        {"file_id_modifier", "*", "file_id_modifier \"*\" is not a letter"},
        {"sec_code", "WEB", "sec_code \"WEB\""},
        {"account_type", "money_market", "account_type \"money_market\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_host fh;
        fh_init(&fh);
        mixed_batch(&fh);
        configure(&fh, cases[i][0]);
        if (cases[i][1] != NULL)
            fh_set(&fh, cases[i][0], cases[i][1]);
        ck_assert_msg(fh_run_plugin(&fh, "bank_nacha") == PAYRUN_ERR_CONFIG, "case %zu (%s)", i,
                      cases[i][0]);
        ck_assert_msg(strstr(fh.last_error, cases[i][2]) != NULL, "case %zu: \"%s\" lacks \"%s\"",
                      i, fh.last_error, cases[i][2]);
        ck_assert_msg(fh.last_hint[0] != '\0', "case %zu: no hint", i);
        ck_assert_int_eq(fh.n_outputs, 0);
        fh_cleanup(&fh);
    }
}
END_TEST

START_TEST(non_usd_refused_at_init)
{
    fake_host fh;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, NULL);
    fh.currency = "EUR";
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "\"EUR\""));
    ck_assert_int_eq(fh.n_outputs, 0);
    fh.currency = "USD";
    fh.exponent = 3;
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(fh.last_error, "exponent 3"));
    ck_assert_int_eq(fh.n_outputs, 0);
    fh_cleanup(&fh);
}
END_TEST

START_TEST(origin_as_routing_number)
{
    fake_host fh;
    char *data;

    fh_init(&fh);
    mixed_batch(&fh);
    configure(&fh, "origin");
    fh_set(&fh, "origin", "091000019");
    ck_assert_int_eq(fh_run_plugin(&fh, "bank_nacha"), PAYRUN_OK);
    data = read_output(&fh, 0);
    ck_assert_int_eq(memcmp(data + 13, " 091000019", 10), 0);
    free(data);
    fh_cleanup(&fh);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("bank_nacha", PAYRUN_KIND_EXPORTER);
}
END_TEST

Suite *bank_nacha_suite(void)
{
    Suite *s = suite_create("bank_nacha");
    TCase *tc = tcase_create("bank_nacha");

    /* node is started several times per test; give it room under ASan. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pays_approved_payouts_with_bank_details);
    tcase_add_test(tc, exact_records);
    tcase_add_test(tc, checkers_reject_corrupted_copies);
    tcase_add_test(tc, bad_routing_check_digit_fails_naming_partner);
    tcase_add_test(tc, malformed_bank_details_fail_naming_partner);
    tcase_add_test(tc, nothing_to_pay_writes_no_file);
    tcase_add_test(tc, rerun_after_processing_writes_nothing);
    tcase_add_test(tc, same_payouts_same_bytes);
    tcase_add_test(tc, names_become_upper_case_ascii);
    tcase_add_test(tc, name_without_ascii_letters_fails);
    tcase_add_test(tc, savings_and_ppd);
    tcase_add_test(tc, blocking_and_padding);
    tcase_add_test(tc, amount_limits);
    tcase_add_test(tc, bad_configuration_refused_at_init);
    tcase_add_test(tc, non_usd_refused_at_init);
    tcase_add_test(tc, origin_as_routing_number);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
