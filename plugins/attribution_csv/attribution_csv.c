/*
 * attribution_csv.c: the importer that reads one period's partners and
 * attribution lines from two CSV files (SPEC section 4) and hands each row
 * to the core through host->partner_put and host->line_add.
 *
 * Files are streamed by the reader the CSV plugins share (common/csvin.c):
 * one physical line at a time into libcsv, so the importer knows on which
 * line each record starts and ends, and its memory follows the longest
 * record rather than the file. Blanks are not trimmed: RFC 4180 makes
 * spaces part of a field, and a silently trimmed " 12.00" would hide a
 * bad cell.
 *
 * A bad row is never dropped silently. It goes to the rejects CSV with its
 * file, line, reason and raw text, and is counted; with on_reject: fail
 * (the default) the whole file is still read so the rejects file lists
 * every bad row, and then the stage fails.
 *
 * All state lives in the context made by init; the file exports nothing
 * but payrun_plugin_descriptor().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <payrun/plugin.h>

#include "csvin.h"

/* A record (all its physical lines) may not exceed this. An unclosed quote
 * would otherwise swallow the rest of the file into one field. */
#define MAX_RECORD_BYTES ((size_t)1 << 20)
#define MAX_FIELDS CSVIN_MAX_FIELDS
#define REASON_MAX CSVIN_REASON_MAX
#define HOST_WHY_MAX 512

static const char path_hint[] = "check the path in the stage's \"with:\" block";

/* ---- descriptor keys ---------------------------------------------------- */

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_INPUT, 1, NULL,
     "attribution lines CSV to import, e.g. attributions-{period}.csv", NULL, NULL},
    {"partners", PAYRUN_KEY_INPUT, 1, NULL,
     "partners CSV, imported before the attribution lines", NULL, NULL},
    {"on_reject", PAYRUN_KEY_ENUM, 0, "fail",
     "what a bad row does: fail the stage, or skip it and import the good rows",
     "fail|skip", NULL},
    {"rejects", PAYRUN_KEY_PATH, 0, "rejects.csv",
     "CSV of every rejected row with file, line and reason; written only if a row is rejected",
     NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

/* ---- columns ------------------------------------------------------------ */

struct column {
    const char *name;
    int required;
};

enum {
    P_ID, P_NAME, P_TYPE, P_TIER, P_RATE, P_STATUS, P_CURRENCY, P_EMAIL,
    P_ROUTING, P_ACCOUNT, P_IBAN, P_BIC, P_ACCOUNT_NAME, P_NCOLS
};

static const struct column partner_columns[P_NCOLS] = {
    {"partner_id", 1}, {"name", 1}, {"type", 1}, {"tier", 1},
    {"commission_rate", 1}, {"status", 1}, {"currency", 1}, {"email", 1},
    {"routing_number", 0}, {"account_number", 0}, {"iban", 0}, {"bic", 0},
    {"account_name", 0},
};

enum {
    A_DEAL_ID, A_DEAL_NAME, A_DEAL_STATUS, A_CLOSED_ON, A_PARTNER_ID, A_MODEL,
    A_PERCENTAGE, A_AMOUNT, A_CURRENCY, A_PRODUCT_LINE, A_NCOLS
};

static const struct column attribution_columns[A_NCOLS] = {
    {"deal_id", 1}, {"deal_name", 1}, {"deal_status", 1}, {"closed_on", 1},
    {"partner_id", 1}, {"model", 1}, {"percentage", 1},
    {"attributed_amount", 1}, {"currency", 1}, {"product_line", 0},
};

#define MAX_COLS 16

/* Allowed values, '|'-separated, and how a message lists them. */
struct choice {
    const char *list;
    const char *said;
};

static const struct choice partner_types = {
    "affiliate|referral|reseller|integration",
    "affiliate, referral, reseller or integration"};
static const struct choice partner_tiers = {"bronze|silver|gold|platinum",
                                            "bronze, silver, gold or platinum"};
static const struct choice partner_statuses = {"active|inactive|pending",
                                               "active, inactive or pending"};
static const struct choice deal_statuses = {"won|lost|open", "won, lost or open"};
static const struct choice models = {
    "equal_split|first_touch|last_touch|time_decay|role_based",
    "equal_split, first_touch, last_touch, time_decay or role_based"};

/* ---- state -------------------------------------------------------------- */

struct tally {
    int64_t read, imported, rejected, skipped;
};

/* Partner ids seen in partners.csv, to reject a second row for one id.
 * Grows with the number of partners, which the core stores anyway. */
struct seen_id {
    char *id;
    int64_t line;
};

struct acsv;

/* One kind of input file: its columns, how a row is imported, its counts. */
struct input_kind {
    const struct column *cols;
    size_t n_cols;
    int (*row)(struct acsv *c, payrun_stage *st, char *why, size_t why_len);
    const char *count_read, *count_imported, *count_rejected, *count_skipped;
};

struct acsv {
    const struct payrun_host *host;
    const char *path, *partners_path, *rejects_path;
    int skip_rejects;
    struct csvin_rejects rej; /* the rejects file, opened at the first reject */

    struct csvin rd;
    int map[MAX_COLS]; /* column -> field index in the file, or -1 */
    size_t n_header;   /* fields in the header row */

    struct seen_id *seen;
    size_t seen_cap, seen_len;
    size_t *seen_slots;      /* open-addressing index into seen[]: entry + 1, 0 empty */
    size_t seen_nslots;      /* a power of two, at least twice seen_len */

    struct tally partners, lines;
    int64_t first_line;
    const char *first_file;
    char first_reason[REASON_MAX];
};

enum { ROW_IMPORTED = 0, ROW_SKIPPED = 1, ROW_REJECTED = 2 };

/* ---- small text helpers ------------------------------------------------- */

static void why_bad(char *why, size_t cap, const char *column, const char *value,
                    const char *expected)
{
    char q[256];

    csvin_why_add(why, cap, "bad %s \"%s\": %s", column, csvin_show(q, sizeof(q), value), expected);
}

static int in_choices(const char *value, const char *list)
{
    size_t vlen = strlen(value);

    while (*list) {
        const char *bar = strchr(list, '|');
        size_t n = bar ? (size_t)(bar - list) : strlen(list);

        if (n == vlen && memcmp(list, value, n) == 0)
            return 1;
        list += n + (bar != NULL);
    }
    return 0;
}

static int check_choice(char *why, size_t cap, const char *column, const char *value,
                        const struct choice *ch)
{
    char expected[160];

    if (in_choices(value, ch->list))
        return 1;
    snprintf(expected, sizeof(expected), "expected %s", ch->said);
    why_bad(why, cap, column, value, expected);
    return 0;
}

static void require_text(char *why, size_t cap, const char *column, const char *value)
{
    if (value[0] == '\0')
        csvin_why_add(why, cap, "%s is empty", column);
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int digits(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* A real calendar date, YYYY-MM-DD, proleptic Gregorian leap years. */
static void check_date(char *why, size_t cap, const char *column, const char *s)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char expected[96];
    int y, m, d, dim;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        goto bad_form;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            goto bad_form;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1)
        goto bad_form;
    if (m < 1 || m > 12) {
        snprintf(expected, sizeof(expected), "month %02d does not exist", m);
        why_bad(why, cap, column, s, expected);
        return;
    }
    dim = month_days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        dim = 29;
    if (d < 1 || d > dim) {
        snprintf(expected, sizeof(expected), "day %02d does not exist: %04d-%02d has %d days",
                 d, y, m, dim);
        why_bad(why, cap, column, s, expected);
    }
    return;
bad_form:
    why_bad(why, cap, column, s, "expected a date as YYYY-MM-DD, such as 2026-02-28");
}

static void check_currency(char *why, size_t cap, const char *value)
{
    for (size_t i = 0; i < 3; i++)
        if (value[i] < 'A' || value[i] > 'Z')
            goto bad;
    if (value[3] == '\0')
        return;
bad:
    why_bad(why, cap, "currency", value,
            "expected a three-letter upper-case ISO 4217 code such as USD");
}

/* Value of column `col` in the current record, or NULL if the file lacks
 * that (optional) column. */
static const char *field(const struct acsv *c, int col)
{
    int i = c->map[col];

    return i < 0 ? NULL : csvin_field(&c->rd, (size_t)i);
}

/* ---- the rejects file --------------------------------------------------- */

static int reject(struct acsv *c, const char *reason)
{
    const struct csvin *rd = &c->rd;

    if (c->first_file == NULL) {
        c->first_file = rd->base;
        c->first_line = rd->start;
        snprintf(c->first_reason, sizeof(c->first_reason), "%s", reason);
    }
    return csvin_reject(&c->rej, rd, reason);
}

/* ---- rows --------------------------------------------------------------- */

/* What partner_put or line_add said, as a row outcome. SKIPPED is only a
 * line_add answer; anywhere else it would drop a row without a trace. */
static int host_result(struct acsv *c, payrun_stage *st, int rc, const char *what,
                       int may_skip, const char *hwhy, char *why, size_t why_len)
{
    switch (rc) {
    case PAYRUN_OK:
        return ROW_IMPORTED;
    case PAYRUN_SKIPPED:
        if (may_skip)
            return ROW_SKIPPED;
        break;
    case PAYRUN_ERR_INPUT:
        csvin_why_add(why, why_len, "%s", hwhy[0] ? hwhy : "refused by the core");
        return ROW_REJECTED;
    default:
        if (rc < 0)
            return rc; /* already reported by the core */
        break;
    }
    return c->host->error(st, PAYRUN_ERR, NULL, "%s returned unexpected status %d", what, rc);
}

/* Parse money or a rate through the core; its reason, naming the column,
 * becomes part of the row's reason. */
static void check_number(char *why, size_t why_len, const char *column, int rc,
                         const char *hwhy)
{
    if (rc != PAYRUN_OK)
        csvin_why_add(why, why_len, "%s: %s", column, hwhy[0] ? hwhy : "bad value");
}

static uint64_t seen_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* Index of `id` in c->seen, or c->seen_len when not seen. */
static size_t seen_find(const struct acsv *c, const char *id)
{
    if (c->seen_nslots == 0)
        return c->seen_len;
    for (size_t k = (size_t)seen_hash(id) & (c->seen_nslots - 1);; k = (k + 1) & (c->seen_nslots - 1)) {
        size_t e = c->seen_slots[k];
        if (e == 0)
            return c->seen_len;
        if (strcmp(c->seen[e - 1].id, id) == 0)
            return e - 1;
    }
}

static void seen_place(struct acsv *c, size_t entry)
{
    size_t k = (size_t)seen_hash(c->seen[entry].id) & (c->seen_nslots - 1);
    while (c->seen_slots[k] != 0)
        k = (k + 1) & (c->seen_nslots - 1);
    c->seen_slots[k] = entry + 1;
}

static int seen_add(struct acsv *c, const char *id, int64_t line)
{
    if (c->seen_len == c->seen_cap) {
        size_t cap = c->seen_cap ? c->seen_cap * 2 : 64;
        struct seen_id *grown = realloc(c->seen, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        c->seen = grown;
        c->seen_cap = cap;
    }
    if ((c->seen_len + 1) * 2 > c->seen_nslots) {
        size_t n = c->seen_nslots ? c->seen_nslots * 2 : 128;
        size_t *slots = calloc(n, sizeof(*slots));
        if (slots == NULL)
            return -1;
        free(c->seen_slots);
        c->seen_slots = slots;
        c->seen_nslots = n;
        for (size_t i = 0; i < c->seen_len; i++)
            seen_place(c, i);
    }
    c->seen[c->seen_len].id = strdup(id);
    if (c->seen[c->seen_len].id == NULL)
        return -1;
    c->seen[c->seen_len].line = line;
    seen_place(c, c->seen_len);
    c->seen_len++;
    return 0;
}

static int partner_row(struct acsv *c, payrun_stage *st, char *why, size_t why_len)
{
    const struct payrun_host *h = c->host;
    struct payrun_partner p = {0};
    char hwhy[HOST_WHY_MAX] = "";
    const char *rate;
    int rc;

    p.partner_id = field(c, P_ID);
    p.name = field(c, P_NAME);
    p.type = field(c, P_TYPE);
    p.tier = field(c, P_TIER);
    rate = field(c, P_RATE);
    p.status = field(c, P_STATUS);
    p.currency = field(c, P_CURRENCY);
    p.email = field(c, P_EMAIL);
    p.routing_number = field(c, P_ROUTING);
    p.account_number = field(c, P_ACCOUNT);
    p.iban = field(c, P_IBAN);
    p.bic = field(c, P_BIC);
    p.account_name = field(c, P_ACCOUNT_NAME);

    require_text(why, why_len, "partner_id", p.partner_id);
    if (p.partner_id[0] != '\0') {
        /* Hashed: with ten thousand partners a linear search was most of
         * the import's time. */
        size_t i = seen_find(c, p.partner_id);

        if (i < c->seen_len) {
            char q[256];

            csvin_why_add(why, why_len, "duplicate partner_id \"%s\" (first at line %lld)",
                    csvin_show(q, sizeof(q), p.partner_id), (long long)c->seen[i].line);
        } else if (seen_add(c, p.partner_id, c->rd.start) != 0) {
            return csvin_out_of_memory(&c->rd);
        }
    }
    require_text(why, why_len, "name", p.name);
    check_choice(why, why_len, "type", p.type, &partner_types);
    check_choice(why, why_len, "tier", p.tier, &partner_tiers);
    rc = h->parse_rate(st, rate, strlen(rate), &p.commission_rate, hwhy, sizeof(hwhy));
    check_number(why, why_len, "commission_rate", rc, hwhy);
    check_choice(why, why_len, "status", p.status, &partner_statuses);
    check_currency(why, why_len, p.currency);
    require_text(why, why_len, "email", p.email);
    if (why[0] != '\0')
        return ROW_REJECTED;

    hwhy[0] = '\0';
    rc = h->partner_put(st, &p, hwhy, sizeof(hwhy));
    return host_result(c, st, rc, "partner_put", 0, hwhy, why, why_len);
}

static int attribution_row(struct acsv *c, payrun_stage *st, char *why, size_t why_len)
{
    const struct payrun_host *h = c->host;
    struct payrun_line l = {0};
    char hwhy[HOST_WHY_MAX] = "";
    const char *amount;
    int64_t pct;
    int status_ok, rc;

    l.source_line = c->rd.start;
    l.deal_id = field(c, A_DEAL_ID);
    l.deal_name = field(c, A_DEAL_NAME);
    l.deal_status = field(c, A_DEAL_STATUS);
    l.closed_on = field(c, A_CLOSED_ON);
    l.partner_id = field(c, A_PARTNER_ID);
    l.model = field(c, A_MODEL);
    l.percentage = field(c, A_PERCENTAGE);
    amount = field(c, A_AMOUNT);
    l.currency = field(c, A_CURRENCY);
    l.product_line = field(c, A_PRODUCT_LINE);

    require_text(why, why_len, "deal_id", l.deal_id);
    status_ok = check_choice(why, why_len, "deal_status", l.deal_status, &deal_statuses);
    if (l.closed_on[0] != '\0')
        check_date(why, why_len, "closed_on", l.closed_on);
    else if (status_ok && strcmp(l.deal_status, "open") != 0)
        csvin_why_add(why, why_len, "closed_on is empty; a %s deal needs its close date as "
                "YYYY-MM-DD", l.deal_status);
    require_text(why, why_len, "partner_id", l.partner_id);
    check_choice(why, why_len, "model", l.model, &models);
    rc = h->parse_rate(st, l.percentage, strlen(l.percentage), &pct, hwhy, sizeof(hwhy));
    check_number(why, why_len, "percentage", rc, hwhy);
    hwhy[0] = '\0';
    rc = h->parse_money(st, amount, strlen(amount), &l.attributed_amount, hwhy, sizeof(hwhy));
    check_number(why, why_len, "attributed_amount", rc, hwhy);
    check_currency(why, why_len, l.currency);
    if (why[0] != '\0')
        return ROW_REJECTED;

    hwhy[0] = '\0';
    rc = h->line_add(st, &l, hwhy, sizeof(hwhy));
    return host_result(c, st, rc, "line_add", 1, hwhy, why, why_len);
}

static const struct input_kind partners_kind = {
    partner_columns, P_NCOLS, partner_row,
    "partners_read", "partners_imported", "partners_rejected", NULL,
};

static const struct input_kind attributions_kind = {
    attribution_columns, A_NCOLS, attribution_row,
    "read", "imported", "rejected", "not_commissionable",
};

/* ---- one file ----------------------------------------------------------- */

static void column_list(char *buf, size_t cap, const struct input_kind *k, int required_only)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < k->n_cols && o + 1 < cap; i++) {
        if (required_only && !k->cols[i].required)
            continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? "," : "", k->cols[i].name);
    }
}

/* Trimmed header name: a space after a comma is a common hand edit, and
 * no column name has one of its own. */
static void header_name(const struct csvin *rd, size_t i, const char **s, size_t *len)
{
    const char *b = csvin_field(rd, i), *e = b + csvin_field_len(rd, i);

    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *s = b;
    *len = (size_t)(e - b);
}

static int read_header(struct acsv *c, payrun_stage *st, const struct input_kind *k)
{
    const struct payrun_host *h = c->host;
    struct csvin *rd = &c->rd;
    char cols[512], hint[600], missing[512];
    size_t o = 0;
    int rc = csvin_next(&c->rd);

    column_list(cols, sizeof(cols), k, 0);
    snprintf(hint, sizeof(hint), "the first row names the columns, in any order: %s", cols);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s: empty file; expected a header row",
                        rd->path);
    if (rd->malformed[0] != '\0')
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: bad header row: %s", rd->path,
                        (long long)rd->start, rd->malformed);
    if (rd->n_seen > MAX_FIELDS)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: %zu columns; at most %d are read",
                        rd->path, (long long)rd->start, rd->n_seen, MAX_FIELDS);
    c->n_header = rd->n_seen;

    for (size_t i = 0; i < rd->n_fields; i++) {
        const char *a;
        size_t alen;

        header_name(rd, i, &a, &alen);
        if (alen == 0)
            continue; /* trailing empty columns from spreadsheets */
        for (size_t j = i + 1; j < rd->n_fields; j++) {
            const char *b;
            size_t blen;
            char q[256], name[256];

            header_name(rd, j, &b, &blen);
            if (alen != blen || memcmp(a, b, alen) != 0)
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)(alen < 200 ? alen : 200), a);
            return h->error(st, PAYRUN_ERR_INPUT, "give each column one name, once",
                            "%s:%lld: duplicate column \"%s\" (columns %zu and %zu)", rd->path,
                            (long long)rd->start, csvin_show(q, sizeof(q), name), i + 1, j + 1);
        }
    }

    missing[0] = '\0';
    for (size_t col = 0; col < k->n_cols; col++) {
        const char *want = k->cols[col].name;

        c->map[col] = -1;
        for (size_t i = 0; i < rd->n_fields; i++) {
            const char *a;
            size_t alen;

            header_name(rd, i, &a, &alen);
            if (alen == strlen(want) && memcmp(a, want, alen) == 0) {
                c->map[col] = (int)i;
                break;
            }
        }
        if (c->map[col] < 0 && k->cols[col].required && o + 1 < sizeof(missing))
            o += (size_t)snprintf(missing + o, sizeof(missing) - o, "%s\"%s\"", o ? ", " : "",
                                  want);
    }
    if (missing[0] != '\0') {
        column_list(cols, sizeof(cols), k, 1);
        snprintf(hint, sizeof(hint), "the header row must name every required column, in any "
                 "order: %s", cols);
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: missing required column(s) %s",
                        rd->path, (long long)rd->start, missing);
    }
    return PAYRUN_OK;
}

/*
 * The core refuses some lines only when it settles them (an unknown
 * partner, a second line of a deal and partner): it hands them back in
 * file order, and each is found again in the file, read a second time
 * alongside, so its rejects record carries the row as written, like any
 * other reject.
 */
struct late_rejects {
    struct acsv *c;
    payrun_stage *st;
    const char *path;
    struct tally *t;
    int open;
};

static int late_reject(void *ud, const struct payrun_line *l, const char *why)
{
    struct late_rejects *lr = ud;
    struct acsv *c = lr->c;
    struct csvin *rd = &c->rd;
    int rc;

    if (!lr->open) {
        rc = csvin_open(&c->rd, c->host, lr->st, lr->path, MAX_RECORD_BYTES, path_hint);
        if (rc == PAYRUN_OK)
            rc = read_header(c, lr->st, &attributions_kind);
        if (rc != PAYRUN_OK)
            return rc;
        lr->open = 1;
    }
    do {
        rc = csvin_next(&c->rd);
        if (rc < 0)
            return rc;
        if (rc == 0 || rd->start > l->source_line)
            return c->host->error(lr->st, PAYRUN_ERR_INPUT, "do not change an input file "
                                  "while payrun reads it", "\"%s\" changed while it was "
                                  "imported: line %lld is no longer the row that was read",
                                  rd->path, (long long)l->source_line);
    } while (rd->start < l->source_line);
    lr->t->imported--;
    lr->t->rejected++;
    if (c->first_file == rd->base && l->source_line < c->first_line) {
        c->first_line = l->source_line;
        snprintf(c->first_reason, sizeof(c->first_reason), "%s", why);
    }
    return reject(c, why);
}

static int settle_lines(struct acsv *c, payrun_stage *st, const char *path, struct tally *t)
{
    struct late_rejects lr = {c, st, path, t, 0};
    int64_t settled = 0;
    int rc;

    if (!PAYRUN_HOST_HAS(c->host, lines_settle))
        return PAYRUN_OK; /* an older core checks every line as it comes */
    rc = c->host->lines_settle(st, late_reject, &lr, &settled);
    if (lr.open)
        csvin_close(&c->rd);
    return rc;
}

static int import_file(struct acsv *c, payrun_stage *st, const struct input_kind *k,
                       const char *path, struct tally *t)
{
    const struct payrun_host *h = c->host;
    struct csvin *rd = &c->rd;
    char why[REASON_MAX];
    int rc = csvin_open(&c->rd, c->host, st, path, MAX_RECORD_BYTES, path_hint);

    if (rc != PAYRUN_OK)
        return rc;
    rc = read_header(c, st, k);
    while (rc == PAYRUN_OK) {
        int got = csvin_next(&c->rd), row;

        if (got <= 0) {
            rc = got;
            break;
        }
        t->read++;
        why[0] = '\0';
        if (rd->malformed[0] != '\0') {
            csvin_why_add(why, sizeof(why), "%s", rd->malformed);
            row = ROW_REJECTED;
        } else if (rd->n_seen != c->n_header) {
            csvin_why_add(why, sizeof(why), "expected %zu fields, found %zu", c->n_header,
                          rd->n_seen);
            row = ROW_REJECTED;
        } else {
            row = k->row(c, st, why, sizeof(why));
        }
        if (row == ROW_IMPORTED) {
            t->imported++;
        } else if (row == ROW_SKIPPED) {
            t->skipped++;
        } else if (row == ROW_REJECTED) {
            t->rejected++;
            rc = reject(c, why);
        } else {
            rc = row;
        }
    }
    csvin_close(rd);
    if (rc == PAYRUN_OK && k == &attributions_kind)
        rc = settle_lines(c, st, path, t);
    if (rc != PAYRUN_OK)
        return rc;

    h->count(st, k->count_read, t->read);
    h->count(st, k->count_imported, t->imported);
    h->count(st, k->count_rejected, t->rejected);
    if (k->count_skipped != NULL) {
        h->count(st, k->count_skipped, t->skipped);
        h->log(st, PAYRUN_LOG_INFO, "\"%s\": %lld rows read, %lld imported, %lld not "
               "commissionable, %lld rejected", rd->base, (long long)t->read,
               (long long)t->imported, (long long)t->skipped, (long long)t->rejected);
    } else {
        h->log(st, PAYRUN_LOG_INFO, "\"%s\": %lld partners read, %lld imported, %lld rejected",
               rd->base, (long long)t->read, (long long)t->imported, (long long)t->rejected);
    }
    return PAYRUN_OK;
}

/* "N of M rows rejected (file)" for each file that had rejects. */
static void rejected_summary(const struct acsv *c, char *buf, size_t cap)
{
    const char *pbase = strrchr(c->partners_path, '/');
    const char *abase = strrchr(c->path, '/');
    size_t o = 0;

    pbase = pbase ? pbase + 1 : c->partners_path;
    abase = abase ? abase + 1 : c->path;
    buf[0] = '\0';
    if (c->partners.rejected > 0)
        o += (size_t)snprintf(buf, cap, "%lld of %lld rows rejected (%s)",
                              (long long)c->partners.rejected, (long long)c->partners.read,
                              pbase);
    if (c->lines.rejected > 0 && o < cap)
        snprintf(buf + o, cap - o, "%s%lld of %lld rows rejected (%s)", o ? ", " : "",
                 (long long)c->lines.rejected, (long long)c->lines.read, abase);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void destroy(void *ctx)
{
    struct acsv *c = ctx;

    if (c == NULL)
        return;
    csvin_free(&c->rd);
    csvin_rejects_free(&c->rej, c->host);
    for (size_t i = 0; i < c->seen_len; i++)
        free(c->seen[i].id);
    free(c->seen);
    free(c->seen_slots);
    free(c);
}

static int init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct acsv *c = calloc(1, sizeof(*c));
    const char *on_reject = "fail";

    *ctx = NULL;
    if (!PAYRUN_HOST_HAS(host, line_add)) {
        free(c);
        return host->error(st, PAYRUN_ERR, "upgrade payrun", "this core has no importer "
                           "functions (host table of %u bytes)", (unsigned)host->size);
    }
    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK ||
        host->cfg_path(st, "partners", -1, NULL, &c->partners_path) != PAYRUN_OK ||
        host->cfg_path(st, "rejects", -1, NULL, &c->rejects_path) != PAYRUN_OK ||
        host->cfg_string(st, "on_reject", -1, NULL, &on_reject) != PAYRUN_OK) {
        free(c);
        return host->error(st, PAYRUN_ERR_CONFIG, "set \"path\" and \"partners\" in the stage's "
                           "\"with:\" block", "missing configuration");
    }
    c->skip_rejects = strcmp(on_reject, "skip") == 0;
    c->rej.path = c->rejects_path;
    *ctx = c;
    return PAYRUN_OK;
}

static int run(void *ctx, payrun_stage *st)
{
    struct acsv *c = ctx;
    const struct payrun_host *h = c->host;
    int rc, closed;

    rc = import_file(c, st, &partners_kind, c->partners_path, &c->partners);
    if (rc == PAYRUN_OK)
        rc = import_file(c, st, &attributions_kind, c->path, &c->lines);
    closed = csvin_rejects_close(&c->rej, h);
    if (rc == PAYRUN_OK)
        rc = closed;
    if (rc != PAYRUN_OK)
        return rc;

    if (c->first_file != NULL) {
        char summary[512], hint[4400];
        const char *of_file = "";
        char where[300] = "";

        rejected_summary(c, summary, sizeof(summary));
        if (c->partners.rejected > 0 && c->lines.rejected > 0) {
            snprintf(where, sizeof(where), " of %s", c->first_file);
            of_file = where;
        }
        if (c->skip_rejects) {
            h->log(st, PAYRUN_LOG_WARN, "%s, skipped; see \"%s\"", summary, c->rejects_path);
            return PAYRUN_OK;
        }
        snprintf(hint, sizeof(hint), "fix the rows listed in %s, or set on_reject: skip to "
                 "import the good rows", c->rejects_path);
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s; first at line %lld%s: %s", summary,
                        (long long)c->first_line, of_file, c->first_reason);
    }
    return PAYRUN_OK;
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "attribution_csv",
    .kind = PAYRUN_KIND_IMPORTER,
    .version = "1.0.0",
    .description = "reads partners and attribution lines from CSV files",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
