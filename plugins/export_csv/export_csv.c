/*
 * export_csv.c: the payout report for accounting, one CSV row per payout of
 * the period (SPEC 5), safe to open in a spreadsheet (SPEC 9).
 *
 * The file is RFC 4180: a header row, CRLF after every record, and a field
 * quoted only when it holds a comma, a quote, CR or LF, with quotes
 * doubled. A spreadsheet runs a cell that starts with = + - @ (and, in some
 * of them, tab, CR or LF) as a formula, so a partner name such as
 * =HYPERLINK("http://x") would become a live link in the finance team's
 * sheet; every text cell that starts that way gets a leading apostrophe,
 * which spreadsheets take as "this is text" and do not show. Numeric cells
 * (amount, approval counts, line count) are never altered, so "-3.10" stays
 * a negative number.
 *
 * Money is formatted by the core (host->format_money), rows come in the
 * core's partner order, and nothing here reads a clock, so the same payouts
 * always give the same bytes.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_PATH, 0, "payouts.csv", "CSV file to write, under the output directory",
     NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

/* SPEC 5 pins these columns and their order; downstream imports match on it. */
static const char header[] =
    "payout_id,org,period,partner_id,partner_name,amount,currency,status,"
    "approvals_required,approvals_given,created_at,approved_by,approved_at,paid_at,"
    "reference,lines,notes\r\n";

/* A growable byte buffer for one row: a row is written in one call. */
struct buf {
    char *data;
    size_t len, cap;
};

struct csv_ctx {
    const struct payrun_host *host;
    const char *path;
    payrun_stage *st;  /* set for the duration of run() */
    payrun_output *out;
    struct buf row;
    int64_t n_payouts;
    int64_t n_rows;
};

static int buf_put(struct buf *b, const char *data, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* The characters that make a spreadsheet read a cell as a formula (OWASP's
 * CSV injection list; CR and LF because a cell may begin with a line break
 * that some importers drop, exposing what follows). */
static int starts_like_formula(const char *s)
{
    switch (s[0]) {
    case '=': case '+': case '-': case '@': case '\t': case '\r': case '\n':
        return 1;
    default:
        return 0;
    }
}

static int put_text(struct buf *b, const char *s)
{
    int rc = 0;

    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        if (starts_like_formula(s))
            rc |= buf_put(b, "'", 1);
        return rc | buf_put(b, s, strlen(s));
    }
    rc |= buf_put(b, "\"", 1);
    if (starts_like_formula(s))
        rc |= buf_put(b, "'", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        rc |= buf_put(b, s, (size_t)(q - s));
        rc |= buf_put(b, "\"\"", 2);
    }
    rc |= buf_put(b, s, strlen(s));
    return rc | buf_put(b, "\"", 1);
}

/* Numbers never need quoting or guarding: digits, '-' and '.' only. */
static int put_number(struct buf *b, const char *s, int len)
{
    return len < 0 ? -1 : buf_put(b, s, (size_t)len);
}

/* Host functions report their own failures (plugin.h), so a failed write
 * is passed on, not reported twice. */
static int write_out(struct csv_ctx *c, const char *data, size_t len)
{
    int rc = c->host->output_write(c->out, data, len);
    return rc == PAYRUN_OK ? PAYRUN_OK : rc < 0 ? rc : PAYRUN_ERR_IO;
}

static int on_payout(void *ud, const struct payrun_payout_view *p)
{
    struct csv_ctx *c = ud;
    const struct payrun_host *h = c->host;
    struct buf *b = &c->row;
    char amount[32], req[24], given[24], lines[24];
    int amount_len, err = 0;

    amount_len = h->format_money(c->st, p->amount, amount, sizeof(amount));
    if (amount_len < 0)
        return h->error(c->st, PAYRUN_ERR, NULL, "cannot format the amount of payout \"%s\"",
                        p->id ? p->id : "");

    b->len = 0;
    err |= put_text(b, p->id);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->org);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->period);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->partner_id);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->partner_name);
    err |= buf_put(b, ",", 1);
    err |= put_number(b, amount, amount_len);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->currency);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->status);
    err |= buf_put(b, ",", 1);
    err |= put_number(b, req, snprintf(req, sizeof(req), "%d", p->approvals_required));
    err |= buf_put(b, ",", 1);
    err |= put_number(b, given, snprintf(given, sizeof(given), "%d", p->approvals_given));
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->created_at);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->approved_by);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->approved_at);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->paid_at);
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->reference);
    err |= buf_put(b, ",", 1);
    err |= put_number(b, lines, snprintf(lines, sizeof(lines), "%" PRId64, p->lines));
    err |= buf_put(b, ",", 1);
    err |= put_text(b, p->notes);
    err |= buf_put(b, "\r\n", 2);
    if (err)
        return h->error(c->st, PAYRUN_ERR, NULL, "out of memory writing payout \"%s\"",
                        p->id ? p->id : "");

    c->n_payouts++;
    err = write_out(c, b->data, b->len);
    if (err != PAYRUN_OK)
        return err;
    c->n_rows++;
    return PAYRUN_OK;
}

static int csv_init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct csv_ctx *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK) {
        free(c);
        return host->error(st, PAYRUN_ERR_CONFIG, "set `path` in the stage's `with:` block",
                           "no output path");
    }
    *ctx = c;
    return PAYRUN_OK;
}

static int csv_run(void *ctx, payrun_stage *st)
{
    struct csv_ctx *c = ctx;
    const struct payrun_host *h = c->host;
    int rc, rc_close;

    c->st = st;
    c->n_payouts = c->n_rows = 0;
    rc = h->output_open(st, c->path, 0, &c->out);
    if (rc != PAYRUN_OK)
        return rc;
    rc = write_out(c, header, sizeof(header) - 1);
    if (rc == PAYRUN_OK)
        rc = h->each_payout(st, on_payout, c);
    /* Close even after a failure: the core then discards the temp file. */
    rc_close = h->output_close(c->out);
    c->out = NULL;
    if (rc == PAYRUN_OK && rc_close != PAYRUN_OK)
        rc = rc_close < 0 ? rc_close : PAYRUN_ERR_IO;
    if (rc == PAYRUN_OK) {
        h->count(st, "payouts", c->n_payouts);
        h->count(st, "rows", c->n_rows);
        h->log(st, PAYRUN_LOG_INFO, "wrote %" PRId64 " payouts to \"%s\"", c->n_rows, c->path);
    }
    return rc;
}

static void csv_destroy(void *ctx)
{
    struct csv_ctx *c = ctx;

    if (c == NULL)
        return;
    free(c->row.data);
    free(c);
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "export_csv",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .description = "payout report CSV (RFC 4180), safe to open in a spreadsheet",
    .keys = keys,
    .init = csv_init,
    .run = csv_run,
    .destroy = csv_destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
