/*
 * cli_payouts.c: the commands a finance team operates payouts with:
 * list, show, create, update, delete, approve, reject, mark-processing,
 * mark-paid, mark-failed, retry, stats and partners show.
 *
 * Every change runs in one transaction through the store, which asks the
 * state machine and writes the audit event; this file parses, checks
 * roles, and prints. Reading commands need no role; changing ones need
 * the role SPEC section 8 names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "money.h"

/* ---- shared helpers ------------------------------------------------------ */

static const char *fmt_money(const cli *c, int64_t v, char out[32])
{
    if (money_format(v, c->cfg->currency->exponent, out, 32) < 0)
        snprintf(out, 32, "?");
    return out;
}

typedef enum out_format { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON } out_format;

static int take_format(cli *c, const char *usage, out_format *f)
{
    const char *v = NULL;
    int rc = take_opt(c, "--format", &v);

    *f = FORMAT_TABLE;
    if (rc < 0)
        return usage_error(c, usage, "--format needs a value");
    if (rc == 0)
        return 0;
    if (strcmp(v, "table") == 0)
        *f = FORMAT_TABLE;
    else if (strcmp(v, "csv") == 0)
        *f = FORMAT_CSV;
    else if (strcmp(v, "json") == 0)
        *f = FORMAT_JSON;
    else
        return usage_error(c, usage, "unknown format \"%s\": use table, csv or json", v);
    return 0;
}

/* Open the store, resolve the actor with `role` and begin a transaction. */
static int begin_change(cli *c, unsigned role, const char *what, store **s, char clock[CLOCK_LEN])
{
    *s = NULL;
    if (resolve_actor(c, role, what) != 0 || clock_now(clock, &c->err) != 0 ||
        open_store(c, s) != 0 || store_begin(*s, &c->err) != 0) {
        store_close(*s);
        *s = NULL;
        return -1;
    }
    return 0;
}

/* Commit and close; on failure roll back. Returns the exit code. */
static int end_change(cli *c, store *s, int ok)
{
    if (ok && store_commit(s, &c->err) == 0) {
        store_close(s);
        return EXIT_OK;
    }
    store_rollback(s);
    store_close(s);
    return report(&c->err);
}

static int parse_amount(cli *c, const char *text, int64_t *out)
{
    if (money_parse(text, strlen(text), c->cfg->currency->exponent, out, &c->err) != 0) {
        c->err.code = EXIT_USAGE;
        return -1;
    }
    if (*out <= 0) {
        pr_err_set(&c->err, EXIT_USAGE, "amount %s must be positive", text);
        return pr_err_hint(&c->err, "a payout pays a partner; record a clawback as a negative "
                                    "attribution line instead");
    }
    return 0;
}

/* ---- payouts list ---------------------------------------------------------- */

typedef struct list_state {
    cli *c;
    out_format format;
    buf out;
    int64_t shown;
    int64_t total_amount;
    int overflow;
} list_state;

static void json_payout(buf *b, const cli *c, const payout *p, const char *name)
{
    char amount[32];

    buf_puts(b, "{");
    buf_json_kv(b, "id", p->id);
    buf_puts(b, ",");
    buf_json_kv(b, "period", p->period);
    buf_puts(b, ",");
    buf_json_kv(b, "partner_id", p->partner_id);
    buf_puts(b, ",");
    buf_json_kv(b, "partner_name", name);
    buf_puts(b, ",");
    buf_json_kv(b, "kind", p->kind == PAYOUT_KIND_MANUAL ? "manual" : "commission");
    buf_puts(b, ",");
    /* Amounts are decimal strings: exact, and no JSON reader turns them
     * into binary floating point by accident. */
    buf_json_kv(b, "amount", fmt_money(c, p->amount, amount));
    buf_puts(b, ",");
    buf_json_kv(b, "currency", p->currency);
    buf_puts(b, ",");
    buf_json_kv(b, "status", status_name(p->status));
    buf_printf(b, ",\"approvals_required\":%d,\"approvals_given\":%d,", p->approvals_required,
               p->approvals_given);
    buf_json_kv(b, "created_at", p->created_at);
    buf_puts(b, ",");
    buf_json_kv(b, "created_by", p->created_by);
    buf_puts(b, ",");
    buf_json_kv(b, "approved_at", p->approved_at[0] ? p->approved_at : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "approved_by", p->approved_by[0] ? p->approved_by : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "rejected_reason", p->rejected_reason[0] ? p->rejected_reason : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "processing_at", p->processing_at[0] ? p->processing_at : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "paid_at", p->paid_at[0] ? p->paid_at : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "failed_at", p->failed_at[0] ? p->failed_at : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "failed_reason", p->failed_reason[0] ? p->failed_reason : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "reference", p->reference[0] ? p->reference : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "hold_reason", p->hold_reason[0] ? p->hold_reason : NULL);
    buf_puts(b, ",");
    buf_json_kv(b, "notes", p->notes);
    buf_puts(b, "}");
}

static const char csv_header[] =
    "payout_id,org,period,partner_id,partner_name,amount,currency,status,approvals_required,"
    "approvals_given,created_at,approved_by,approved_at,paid_at,reference,notes\r\n";

static void csv_payout(buf *b, const cli *c, const payout *p, const char *name)
{
    char amount[32], n1[16], n2[16];

    snprintf(n1, sizeof(n1), "%d", p->approvals_required);
    snprintf(n2, sizeof(n2), "%d", p->approvals_given);
    const char *cells[] = {p->id, c->cfg->org, p->period, p->partner_id, name,
                           fmt_money(c, p->amount, amount), p->currency, status_name(p->status),
                           n1, n2, p->created_at, p->approved_by, p->approved_at, p->paid_at,
                           p->reference, p->notes};
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        if (i)
            buf_puts(b, ",");
        buf_csv_cell(b, cells[i], !(i == 5 || i == 8 || i == 9));
    }
    buf_puts(b, "\r\n");
}

/* One table cell: `s` cut to `max` bytes (0: not cut), padded with spaces
 * to `width`, on the left when `right`, then `sep`. printf's %-Ns and %Ns,
 * without printf's cost on every cell of a long listing. */
static void cell(buf *b, const char *s, size_t width, size_t max, int right, const char *sep)
{
    static const char spaces[] = "                                ";
    size_t n = strlen(s);

    if (max > 0 && n > max)
        n = max;
    if (right)
        for (size_t pad = n < width ? width - n : 0; pad > 0;) {
            size_t k = pad < sizeof(spaces) - 1 ? pad : sizeof(spaces) - 1;
            buf_append(b, spaces, k);
            pad -= k;
        }
    buf_append(b, s, n);
    if (!right)
        for (size_t pad = n < width ? width - n : 0; pad > 0;) {
            size_t k = pad < sizeof(spaces) - 1 ? pad : sizeof(spaces) - 1;
            buf_append(b, spaces, k);
            pad -= k;
        }
    buf_puts(b, sep);
}

static int list_cb(void *ud, const payout *p, const char *name)
{
    list_state *ls = ud;
    char amount[32], appr[16];

    if (__builtin_add_overflow(ls->total_amount, p->amount, &ls->total_amount))
        ls->overflow = 1;
    switch (ls->format) {
    case FORMAT_JSON:
        if (ls->shown)
            buf_puts(&ls->out, ",");
        json_payout(&ls->out, ls->c, p, name);
        break;
    case FORMAT_CSV:
        csv_payout(&ls->out, ls->c, p, name);
        break;
    case FORMAT_TABLE:
        snprintf(appr, sizeof(appr), "%d/%d", p->approvals_given, p->approvals_required);
        /* As "%-19s  %-7s  %-12.12s  %-24s  %14s  %-16s  %5s\n", name cut
         * to 24 bytes. */
        cell(&ls->out, p->id, 19, 0, 0, "  ");
        cell(&ls->out, p->period, 7, 0, 0, "  ");
        cell(&ls->out, p->partner_id, 12, 12, 0, "  ");
        cell(&ls->out, name, 24, 24, 0, "  ");
        cell(&ls->out, fmt_money(ls->c, p->amount, amount), 14, 0, 1, "  ");
        cell(&ls->out, status_name(p->status), 16, 0, 0, "  ");
        cell(&ls->out, appr, 5, 0, 1, "\n");
        break;
    }
    ls->shown++;
    return 0;
}

int cmd_payouts_list(cli *c)
{
    static const char usage[] =
        "payrun payouts list [--status S] [--partner P] [--period P] [--search TEXT] "
        "[--sort FIELD|-FIELD] [--limit N] [--format table|csv|json] --config FILE";
    payout_filter f;
    const char *limit = NULL;
    list_state ls;
    store *s = NULL;
    int64_t matched = 0, total = 0;
    payout_status ps;
    char amount[32];
    int rc;

    memset(&f, 0, sizeof(f));
    memset(&ls, 0, sizeof(ls));
    ls.c = c;
    if (take_opt(c, "--status", &f.status) < 0 || take_opt(c, "--partner", &f.partner) < 0 ||
        take_opt(c, "--period", &f.period) < 0 || take_opt(c, "--search", &f.search) < 0 ||
        take_opt(c, "--sort", &f.sort) < 0 || take_opt(c, "--limit", &limit) < 0)
        return usage_error(c, usage, "an option is missing its value");
    if (take_format(c, usage, &ls.format) != 0 || no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 0)
        return usage_error(c, usage, "unexpected argument \"%s\"", c->argv[0]);
    if (f.status && status_parse(f.status, &ps) != 0)
        return usage_error(c, usage, "unknown status \"%s\": use pending_approval, approved, "
                           "rejected, processing, paid or failed", f.status);
    if (f.period && config_check_period(f.period, &c->err) != 0)
        return report(&c->err);
    if (f.sort && f.sort[0] == '-') {
        f.descending = 1;
        f.sort++;
    }
    if (limit) {
        f.limit = 0;
        for (const char *p = limit; *p; p++) {
            if (*p < '0' || *p > '9' || f.limit > 100000000)
                return usage_error(c, usage, "bad --limit \"%s\": give a whole number", limit);
            f.limit = f.limit * 10 + (*p - '0');
        }
        if (f.limit == 0)
            return usage_error(c, usage, "--limit must be at least 1");
    }
    if (open_store(c, &s) != 0)
        return report(&c->err);
    buf_init(&ls.out);
    if (ls.format == FORMAT_CSV)
        buf_puts(&ls.out, csv_header);
    if (ls.format == FORMAT_JSON)
        buf_puts(&ls.out, "{\"payouts\":[");
    if (ls.format == FORMAT_TABLE)
        buf_printf(&ls.out, "%-19s  %-7s  %-12s  %-24s  %14s  %-16s  %5s\n", "ID", "PERIOD",
                   "PARTNER", "NAME", "AMOUNT", "STATUS", "APPR");
    rc = store_payouts_list(s, &f, list_cb, &ls, &matched, &total, &c->err);
    store_close(s);
    if (rc != 0) {
        buf_free(&ls.out);
        return report(&c->err);
    }
    if (ls.format == FORMAT_JSON) {
        buf_printf(&ls.out, "],\"shown\":%lld,\"matched\":%lld,\"total\":%lld,",
                   (long long)ls.shown, (long long)matched, (long long)total);
        buf_json_kv(&ls.out, "currency", c->cfg->currency->code);
        buf_puts(&ls.out, ",");
        buf_json_kv(&ls.out, "shown_amount",
                    ls.overflow ? NULL : fmt_money(c, ls.total_amount, amount));
        buf_puts(&ls.out, "}\n");
    }
    if (ls.format == FORMAT_TABLE) {
        if (ls.shown < matched)
            buf_printf(&ls.out, "showing %lld of %lld matching; ", (long long)ls.shown,
                       (long long)matched);
        if (matched < total)
            buf_printf(&ls.out, "%lld of %lld payouts", (long long)matched, (long long)total);
        else
            buf_printf(&ls.out, "%lld payout%s", (long long)total, total == 1 ? "" : "s");
        buf_printf(&ls.out, ", %s %s shown\n",
                   ls.overflow ? "(overflow)" : fmt_money(c, ls.total_amount, amount),
                   c->cfg->currency->code);
    }
    if (ls.out.oom) {
        buf_free(&ls.out);
        pr_err_set(&c->err, EXIT_SOFTWARE, "out of memory");
        return report(&c->err);
    }
    fwrite(ls.out.data, 1, ls.out.len, stdout);
    buf_free(&ls.out);
    return EXIT_OK;
}

/* ---- payouts show ---------------------------------------------------------- */

static int show_approval(void *ud, const approval *a)
{
    (void)ud;
    printf("  approved by %-16s at %s%s%s\n", a->approver, a->at, a->rule[0] ? " by rule " : "",
           a->rule);
    return 0;
}

static int show_event(const audit_event *e, void *ud)
{
    (void)ud;
    printf("  %6lld  %s  %-12s %-26s %s\n", (long long)e->seq, e->at, e->actor, e->action,
           e->metadata);
    return 0;
}

int cmd_payouts_show(cli *c)
{
    static const char usage[] = "payrun payouts show ID --config FILE";
    store *s = NULL;
    payout p;
    partner pa;
    int64_t lines = 0, lines_total = 0;
    char amount[32], ltotal[32];
    int rc;

    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "payouts show takes one payout id");
    if (open_store(c, &s) != 0)
        return report(&c->err);
    rc = store_payout_get(s, c->argv[0], &p, &c->err);
    if (rc == 1) {
        pr_err_set(&c->err, EXIT_DATAERR, "payout \"%s\" not found in org \"%s\"", c->argv[0],
                   c->cfg->org);
        pr_err_hint(&c->err, "list payouts with: payrun payouts list");
    }
    if (rc != 0 || store_partner_get(s, p.partner_id, &pa, &c->err) < 0 ||
        store_payout_lines(s, p.id, &lines, &lines_total, &c->err) != 0) {
        store_close(s);
        return report(&c->err);
    }
    printf("payout            %s\n", p.id);
    printf("org               %s\n", c->cfg->org);
    printf("period            %s\n", p.period);
    printf("partner           %s (%s)\n", p.partner_id, pa.name);
    printf("kind              %s\n", p.kind == PAYOUT_KIND_MANUAL ? "manual" : "commission");
    printf("amount            %s %s\n", fmt_money(c, p.amount, amount), p.currency);
    printf("status            %s\n", status_name(p.status));
    printf("approvals         %d of %d\n", p.approvals_given, p.approvals_required);
    printf("created           %s by %s%s\n", p.created_at, p.created_by,
           p.run_id ? "" : " (by hand)");
    if (p.run_id)
        printf("run               %lld\n", (long long)p.run_id);
    if (p.approved_at[0])
        printf("approved          %s by %s\n", p.approved_at, p.approved_by);
    if (p.rejected_reason[0])
        printf("rejected          %s\n", p.rejected_reason);
    if (p.hold_reason[0])
        printf("on hold           %s\n", p.hold_reason);
    if (p.processing_at[0])
        printf("processing        %s\n", p.processing_at);
    if (p.paid_at[0])
        printf("paid              %s, reference %s\n", p.paid_at, p.reference);
    if (p.failed_at[0])
        printf("failed            %s: %s\n", p.failed_at, p.failed_reason);
    printf("notes             %s\n", p.notes);
    printf("commission lines  %lld, totalling %s%s\n", (long long)lines,
           fmt_money(c, lines_total, ltotal),
           lines == 0 || lines_total == p.amount ? "" : " (differs from the amount: edited by hand)");
    printf("approvals:\n");
    if (store_payout_approvals(s, p.id, show_approval, NULL, &c->err) != 0) {
        store_close(s);
        return report(&c->err);
    }
    if (p.approvals_given == 0)
        printf("  (none)\n");
    printf("history:\n");
    rc = store_audit_entity(s, p.id, show_event, NULL, &c->err);
    store_close(s);
    return rc == 0 ? EXIT_OK : report(&c->err);
}

/* ---- create, update, delete ------------------------------------------------- */

int cmd_payouts_create(cli *c)
{
    static const char usage[] = "payrun payouts create --partner P --amount X --period YYYY-MM "
                                "[--notes TEXT] --config FILE";
    const char *partner_id = NULL, *amount = NULL, *period = NULL, *notes = NULL;
    store *s;
    payout p;
    char clock[CLOCK_LEN], shown[32];
    int ok;

    if (take_opt(c, "--partner", &partner_id) < 0 || take_opt(c, "--amount", &amount) < 0 ||
        take_opt(c, "--period", &period) < 0 || take_opt(c, "--notes", &notes) < 0)
        return usage_error(c, usage, "an option is missing its value");
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 0 || !partner_id || !amount || !period)
        return usage_error(c, usage, "payouts create needs --partner, --amount and --period");
    if (load_config(c) != 0 || config_check_period(period, &c->err) != 0)
        return report(&c->err);
    memset(&p, 0, sizeof(p));
    if (parse_amount(c, amount, &p.amount) != 0)
        return report(&c->err);
    if (strlen(partner_id) >= sizeof(p.partner_id) || (notes && strlen(notes) >= sizeof(p.notes)))
        return usage_error(c, usage, "--partner or --notes is too long");
    if (begin_change(c, ROLE_PREPARER, "create payouts", &s, clock) != 0)
        return report(&c->err);
    snprintf(p.period, sizeof(p.period), "%s", period);
    snprintf(p.partner_id, sizeof(p.partner_id), "%s", partner_id);
    snprintf(p.currency, sizeof(p.currency), "%s", c->cfg->currency->code);
    snprintf(p.notes, sizeof(p.notes), "%s", notes ? notes : "");
    p.kind = PAYOUT_KIND_MANUAL;
    p.approvals_required = 1;
    ok = store_payout_create(s, &p, c->actor, clock, &c->err) == 0;
    if (end_change(c, s, ok) != EXIT_OK)
        return c->err.code ? c->err.code : EXIT_SOFTWARE;
    printf("created %s: %s %s %s for %s, pending approval\n", p.id, p.period,
           fmt_money(c, p.amount, shown), p.currency, p.partner_id);
    return EXIT_OK;
}

int cmd_payouts_update(cli *c)
{
    static const char usage[] =
        "payrun payouts update ID [--amount X] [--notes TEXT] --config FILE";
    const char *amount = NULL, *notes = NULL;
    int64_t value = 0;
    store *s;
    char clock[CLOCK_LEN];
    int ok;

    if (take_opt(c, "--amount", &amount) < 0 || take_opt(c, "--notes", &notes) < 0)
        return usage_error(c, usage, "an option is missing its value");
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "payouts update takes one payout id");
    if (!amount && !notes)
        return usage_error(c, usage, "give --amount, --notes or both");
    if (load_config(c) != 0 || (amount && parse_amount(c, amount, &value) != 0))
        return report(&c->err);
    if (notes && strlen(notes) > 1024)
        return usage_error(c, usage, "--notes is longer than 1024 characters");
    if (begin_change(c, ROLE_PREPARER, "update payouts", &s, clock) != 0)
        return report(&c->err);
    ok = store_payout_edit(s, c->argv[0], amount != NULL, value, notes, c->actor, clock,
                           &c->err) == 0;
    if (end_change(c, s, ok) != EXIT_OK)
        return c->err.code ? c->err.code : EXIT_SOFTWARE;
    printf("updated %s\n", c->argv[0]);
    return EXIT_OK;
}

int cmd_payouts_delete(cli *c)
{
    static const char usage[] = "payrun payouts delete ID --config FILE";
    store *s;
    char clock[CLOCK_LEN];
    int ok;

    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "payouts delete takes one payout id");
    if (begin_change(c, ROLE_PREPARER, "delete payouts", &s, clock) != 0)
        return report(&c->err);
    ok = store_payout_delete(s, c->argv[0], c->actor, clock, NULL, &c->err) == 0;
    if (end_change(c, s, ok) != EXIT_OK)
        return c->err.code ? c->err.code : EXIT_SOFTWARE;
    printf("deleted %s\n", c->argv[0]);
    return EXIT_OK;
}

/* ---- approve ---------------------------------------------------------------- */

typedef struct approve_state {
    cli *c;
    store *s;
    const char *clock;
    int explicit_ids;
    int64_t approved, waiting, skipped;
    pr_err first_skip;
    int fatal;
} approve_state;

static int approve_one(void *ud, const char *id)
{
    approve_state *as = ud;
    approve_result r;
    int given = 0, required = 0;
    pr_err e = {0};

    if (store_payout_approve(as->s, id, as->c->actor, as->clock, &r, &given, &required, &e) != 0) {
        /* Refusals are reported and skipped; anything else ends the batch. */
        if (e.code != EXIT_DATAERR && e.code != EXIT_NOPERM) {
            as->c->err = e;
            as->fatal = 1;
            return 1;
        }
        printf("%-19s  skipped: %s\n", id, e.msg);
        if (as->first_skip.code == 0)
            as->first_skip = e;
        as->skipped++;
        return 0;
    }
    if (r == APPROVE_APPROVED) {
        printf("%-19s  approved (%d of %d approvals)\n", id, given, required);
        as->approved++;
    } else {
        printf("%-19s  approval recorded, waiting for more (%d of %d)\n", id, given, required);
        as->waiting++;
    }
    return 0;
}

int cmd_approve(cli *c)
{
    static const char usage[] =
        "payrun approve ID... | --all-pending [--period YYYY-MM] --config FILE";
    approve_state as;
    const char *period = NULL;
    int all;
    store *s;
    char clock[CLOCK_LEN];
    int rc;

    if (take_opt(c, "--period", &period) < 0)
        return usage_error(c, usage, "--period needs a value");
    all = take_flag(c, "--all-pending");
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (all == (c->argc > 0))
        return usage_error(c, usage, "give payout ids or --all-pending, not both or neither");
    if (period && !all)
        return usage_error(c, usage, "--period goes with --all-pending");
    if (period && config_check_period(period, &c->err) != 0)
        return report(&c->err);
    if (begin_change(c, ROLE_APPROVER, "approve payouts", &s, clock) != 0)
        return report(&c->err);
    memset(&as, 0, sizeof(as));
    as.c = c;
    as.s = s;
    as.clock = clock;
    as.explicit_ids = !all;
    if (all) {
        rc = store_pending_ids(s, period, approve_one, &as, &c->err);
        if (rc < 0)
            as.fatal = 1;
    } else {
        for (int i = 0; i < c->argc && !as.fatal; i++)
            approve_one(&as, c->argv[i]);
    }
    if (as.fatal)
        return end_change(c, s, 0);
    if (end_change(c, s, 1) != EXIT_OK)
        return c->err.code ? c->err.code : EXIT_SOFTWARE;
    printf("approved %lld, waiting for more approvals %lld, skipped %lld\n",
           (long long)as.approved, (long long)as.waiting, (long long)as.skipped);
    /* Skipping one's own payouts is expected in a bulk approval; a payout
     * named on the command line that could not be approved is an error. */
    if (as.skipped && as.explicit_ids)
        return report(&as.first_skip);
    return EXIT_OK;
}

/* ---- reject, mark-*, retry ------------------------------------------------------ */

/* Apply one move to every id given, all or nothing. */
static int move_ids(cli *c, const char *usage, unsigned role, const char *what, payout_move move,
                    const char *detail_opt, int many)
{
    const char *detail = NULL;
    store *s;
    char clock[CLOCK_LEN];
    int ok = 1;

    if (detail_opt && take_opt(c, detail_opt, &detail) < 0)
        return usage_error(c, usage, "%s needs a value", detail_opt);
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc == 0 || (!many && c->argc != 1))
        return usage_error(c, usage, "give %s payout id%s", many ? "one or more" : "one",
                           many ? "s" : "");
    if (detail_opt && (detail == NULL || detail[0] == '\0'))
        return usage_error(c, usage, "%s is required", detail_opt);
    /* The columns hold 128 (reference) and 256 (reasons) characters; a
     * longer value is refused rather than cut. */
    if (detail && strlen(detail) > (strcmp(detail_opt, "--reference") == 0 ? 128u : 256u))
        return usage_error(c, usage, "%s is longer than %s characters", detail_opt,
                           strcmp(detail_opt, "--reference") == 0 ? "128" : "256");
    if (begin_change(c, role, what, &s, clock) != 0)
        return report(&c->err);
    for (int i = 0; i < c->argc && ok; i++)
        ok = store_payout_move(s, c->argv[i], move, c->actor, clock, detail, NULL, &c->err) == 0;
    if (end_change(c, s, ok) != EXIT_OK)
        return c->err.code ? c->err.code : EXIT_SOFTWARE;
    for (int i = 0; i < c->argc; i++)
        printf("%s  %s\n", c->argv[i], move_action(move) + strlen("payout."));
    return EXIT_OK;
}

int cmd_reject(cli *c)
{
    return move_ids(c, "payrun reject ID --reason TEXT --config FILE", ROLE_APPROVER,
                    "reject payouts", MOVE_REJECT, "--reason", 0);
}

int cmd_mark_processing(cli *c)
{
    return move_ids(c, "payrun mark-processing ID... --config FILE", ROLE_PAYER,
                    "mark payouts processing", MOVE_MARK_PROCESSING, NULL, 1);
}

int cmd_mark_paid(cli *c)
{
    return move_ids(c, "payrun mark-paid ID --reference REF --config FILE", ROLE_PAYER,
                    "mark payouts paid", MOVE_MARK_PAID, "--reference", 0);
}

int cmd_mark_failed(cli *c)
{
    return move_ids(c, "payrun mark-failed ID --reason TEXT --config FILE", ROLE_PAYER,
                    "mark payouts failed", MOVE_MARK_FAILED, "--reason", 0);
}

int cmd_retry(cli *c)
{
    return move_ids(c, "payrun retry ID... --config FILE", ROLE_PAYER,
                    "retry failed payouts", MOVE_RETRY, NULL, 1);
}

/* ---- stats -------------------------------------------------------------------- */

int cmd_stats(cli *c)
{
    static const char usage[] = "payrun stats [--period YYYY-MM] [--format table|json] --config FILE";
    const char *period = NULL;
    status_total t[STATUS__COUNT];
    out_format f;
    store *s = NULL;
    int64_t n = 0, total = 0;
    char amount[32];

    if (take_opt(c, "--period", &period) < 0)
        return usage_error(c, usage, "--period needs a value");
    if (take_format(c, usage, &f) != 0 || no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (f == FORMAT_CSV)
        return usage_error(c, usage, "stats prints a table or json");
    if (c->argc != 0)
        return usage_error(c, usage, "unexpected argument \"%s\"", c->argv[0]);
    if (period && config_check_period(period, &c->err) != 0)
        return report(&c->err);
    if (open_store(c, &s) != 0 || store_period_totals(s, period, t, &c->err) != 0) {
        store_close(s);
        return report(&c->err);
    }
    store_close(s);
    for (int i = 0; i < STATUS__COUNT; i++) {
        n += t[i].count;
        if (__builtin_add_overflow(total, t[i].total, &total)) {
            pr_err_set(&c->err, EXIT_DATAERR, "the total of all payouts overflows");
            return report(&c->err);
        }
    }
    if (f == FORMAT_JSON) {
        printf("{\"org\":\"%s\",\"period\":%s%s%s,\"currency\":\"%s\",\"statuses\":{", c->cfg->org,
               period ? "\"" : "", period ? period : "null", period ? "\"" : "",
               c->cfg->currency->code);
        for (int i = 0; i < STATUS__COUNT; i++)
            printf("%s\"%s\":{\"count\":%lld,\"amount\":\"%s\"}", i ? "," : "",
                   status_name((payout_status)i), (long long)t[i].count,
                   fmt_money(c, t[i].total, amount));
        printf("},\"total\":{\"count\":%lld,\"amount\":\"%s\"}}\n", (long long)n,
               fmt_money(c, total, amount));
        return EXIT_OK;
    }
    printf("payouts of %s%s%s (%s)\n", c->cfg->org, period ? ", period " : ", all periods",
           period ? period : "", c->cfg->currency->code);
    printf("%-18s %7s %16s\n", "STATUS", "COUNT", "AMOUNT");
    for (int i = 0; i < STATUS__COUNT; i++)
        printf("%-18s %7lld %16s\n", status_name((payout_status)i), (long long)t[i].count,
               fmt_money(c, t[i].total, amount));
    printf("%-18s %7lld %16s\n", "total", (long long)n, fmt_money(c, total, amount));
    return EXIT_OK;
}

/* ---- partners show --------------------------------------------------------------- */

static int partner_payout_row(void *ud, const payout *p, const char *name)
{
    cli *c = ud;
    char amount[32];
    (void)name;
    printf("  %-19s  %-7s  %14s  %-16s %s\n", p->id, p->period, fmt_money(c, p->amount, amount),
           status_name(p->status), p->reference);
    return 0;
}

static const char *masked(const char *v, char out[40])
{
    size_t n = strlen(v);
    if (n == 0)
        return "-";
    snprintf(out, 40, "****%s", n > 4 ? v + n - 4 : v);
    return out;
}

int cmd_partners_show(cli *c)
{
    static const char usage[] = "payrun partners show PARTNER_ID --config FILE";
    store *s = NULL;
    partner pa;
    partner_summary sum;
    payout_filter f;
    int64_t matched, total;
    char a[32], rate[32], m1[40], m2[40];
    int rc;

    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "partners show takes one partner id");
    if (open_store(c, &s) != 0)
        return report(&c->err);
    rc = store_partner_get(s, c->argv[0], &pa, &c->err);
    if (rc == 1) {
        pr_err_set(&c->err, EXIT_DATAERR, "partner \"%s\" not found in org \"%s\"", c->argv[0],
                   c->cfg->org);
        pr_err_hint(&c->err, "partners come from the close's partners file");
    }
    if (rc != 0 || store_partner_summary(s, pa.partner_id, &sum, &c->err) != 0) {
        store_close(s);
        return report(&c->err);
    }
    rate_format(pa.commission_rate, rate, sizeof(rate));
    printf("partner           %s (%s)\n", pa.partner_id, pa.name);
    printf("type, tier        %s, %s\n", pa.type, pa.tier);
    printf("commission rate   %s%%\n", rate);
    printf("status            %s\n", pa.status);
    printf("email             %s\n", pa.email);
    if (pa.iban[0])
        printf("bank              IBAN %s, BIC %s\n", masked(pa.iban, m1), pa.bic);
    else if (pa.account_number[0])
        printf("bank              routing %s, account %s\n", pa.routing_number,
               masked(pa.account_number, m2));
    else
        printf("bank              none on file\n");
    printf("lifetime paid     %s (%lld payouts)\n",
           fmt_money(c, sum.by_status[STATUS_PAID].total, a),
           (long long)sum.by_status[STATUS_PAID].count);
    printf("pending approval  %s (%lld)\n",
           fmt_money(c, sum.by_status[STATUS_PENDING_APPROVAL].total, a),
           (long long)sum.by_status[STATUS_PENDING_APPROVAL].count);
    printf("approved          %s (%lld)\n", fmt_money(c, sum.by_status[STATUS_APPROVED].total, a),
           (long long)sum.by_status[STATUS_APPROVED].count);
    printf("processing        %s (%lld)\n",
           fmt_money(c, sum.by_status[STATUS_PROCESSING].total, a),
           (long long)sum.by_status[STATUS_PROCESSING].count);
    if (sum.has_last)
        printf("last payout       %s, %s %s, %s\n", sum.last.id, sum.last.period,
               fmt_money(c, sum.last.amount, a), status_name(sum.last.status));
    else
        printf("last payout       none\n");
    printf("payouts:\n");
    memset(&f, 0, sizeof(f));
    f.partner = pa.partner_id;
    f.sort = "period";
    f.descending = 1;
    rc = store_payouts_list(s, &f, partner_payout_row, c, &matched, &total, &c->err);
    store_close(s);
    return rc == 0 ? EXIT_OK : report(&c->err);
}
