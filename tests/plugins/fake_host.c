/*
 * fake_host.c: the fake host of fake_host.h. It answers the host functions
 * from what the test set and records what the plugin asked for. Values are
 * parsed with the core's own money module, so a plugin sees exactly the
 * numbers the real core would give it.
 */
#include "fake_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "money.h"
#include "plugin_loader.h"

struct payrun_stage {
    fake_host *fh;
    const struct payrun_plugin *desc;
};

struct payrun_output {
    FILE *f;
    fake_host *fh;
    int index; /* into fh->outputs[] */
};

static fake_host *FH(payrun_stage *st)
{
    return st->fh;
}

static void h_log(payrun_stage *st, int level, const char *fmt, ...) PAYRUN_PRINTF(3, 4);
static int h_error(payrun_stage *st, int status, const char *hint, const char *fmt, ...)
    PAYRUN_PRINTF(4, 5);

static void h_log(payrun_stage *st, int level, const char *fmt, ...)
{
    va_list ap;
    (void)st;
    (void)level;
    va_start(ap, fmt);
    if (getenv("FAKE_HOST_VERBOSE")) {
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

static int fh_report(fake_host *fh, int status, const char *hint, const char *fmt, va_list ap)
{
    vsnprintf(fh->last_error, sizeof(fh->last_error), fmt, ap);
    snprintf(fh->last_hint, sizeof(fh->last_hint), "%s", hint ? hint : "");
    fh->n_errors++;
    if (getenv("FAKE_HOST_VERBOSE"))
        fprintf(stderr, "plugin error: %s\n", fh->last_error);
    return status;
}

static int h_error(payrun_stage *st, int status, const char *hint, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fh_report(FH(st), status, hint, fmt, ap);
    va_end(ap);
    return rc;
}

/* A failure of the fake host itself, reported as the core reports its own
 * (PAYRUN_ERR* means "already reported"), so a harness never mistakes it
 * for a plugin that failed without saying why. */
static int fh_fail(fake_host *fh, int status, const char *fmt, ...) PAYRUN_PRINTF(3, 4);

static int fh_fail(fake_host *fh, int status, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fh_report(fh, status, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *h_org(payrun_stage *st) { return FH(st)->org; }
static const char *h_period(payrun_stage *st) { return FH(st)->period; }
static const char *h_currency(payrun_stage *st) { return FH(st)->currency; }
static int h_exponent(payrun_stage *st) { return FH(st)->exponent; }
static const char *h_clock(payrun_stage *st) { return FH(st)->clock; }

static const struct payrun_config_key *find_key(const struct payrun_config_key *k,
                                                const char *name)
{
    for (; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* The value set by the test, else the declared default, else NULL. */
static const char *lookup(payrun_stage *st, const char *key, int idx, const char *field)
{
    fake_host *fh = FH(st);
    const struct payrun_config_key *k;

    for (size_t i = 0; i < fh->n_cfg; i++) {
        const fh_kv *kv = &fh->cfg[i];
        if (strcmp(kv->key, key) != 0 || kv->list_index != idx)
            continue;
        if ((field == NULL) != (kv->field == NULL))
            continue;
        if (field && strcmp(field, kv->field) != 0)
            continue;
        return kv->value;
    }
    k = find_key(st->desc->keys, key);
    if (k && field && k->fields)
        k = find_key(k->fields, field);
    return k ? k->default_value : NULL;
}

static int h_cfg_string(payrun_stage *st, const char *key, int idx, const char *field,
                        const char **out)
{
    const char *v = lookup(st, key, idx, field);
    if (v == NULL)
        return PAYRUN_ERR;
    *out = v;
    return PAYRUN_OK;
}

static int h_cfg_bool(payrun_stage *st, const char *key, int idx, const char *field, int *out)
{
    const char *v = lookup(st, key, idx, field);
    if (v == NULL)
        return PAYRUN_ERR;
    *out = strcmp(v, "true") == 0;
    return PAYRUN_OK;
}

static int h_cfg_int(payrun_stage *st, const char *key, int idx, const char *field,
                     int64_t *out)
{
    const char *v = lookup(st, key, idx, field);
    int64_t n = 0;
    int neg = 0;
    if (v == NULL)
        return PAYRUN_ERR;
    if (*v == '-')
        neg = 1, v++;
    for (; *v; v++)
        n = n * 10 + (*v - '0');
    *out = neg ? -n : n;
    return PAYRUN_OK;
}

static int h_cfg_money(payrun_stage *st, const char *key, int idx, const char *field,
                       int64_t *out)
{
    const char *v = lookup(st, key, idx, field);
    if (v == NULL)
        return PAYRUN_ERR;
    return money_parse(v, strlen(v), FH(st)->exponent, out, NULL) == 0 ? PAYRUN_OK : PAYRUN_ERR;
}

static int h_cfg_rate(payrun_stage *st, const char *key, int idx, const char *field,
                      int64_t *out)
{
    const char *v = lookup(st, key, idx, field);
    if (v == NULL)
        return PAYRUN_ERR;
    return rate_parse(v, strlen(v), out, NULL) == 0 ? PAYRUN_OK : PAYRUN_ERR;
}

static int h_parse_money(payrun_stage *st, const char *text, size_t len, int64_t *out,
                         char *why, size_t why_len)
{
    pr_err err = {0};
    if (money_parse(text, len, FH(st)->exponent, out, &err) != 0) {
        snprintf(why, why_len, "%s", err.msg);
        return PAYRUN_ERR_INPUT;
    }
    return PAYRUN_OK;
}

static int h_parse_rate(payrun_stage *st, const char *text, size_t len, int64_t *out,
                        char *why, size_t why_len)
{
    pr_err err = {0};
    (void)st;
    if (rate_parse(text, len, out, &err) != 0) {
        snprintf(why, why_len, "%s", err.msg);
        return PAYRUN_ERR_INPUT;
    }
    return PAYRUN_OK;
}

static int h_format_money(payrun_stage *st, int64_t amount, char *out, size_t cap)
{
    return money_format(amount, FH(st)->exponent, out, cap);
}

const char *fh_path(fake_host *fh, const char *rel)
{
    static char bufs[8][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 8];

    if (rel[0] == '/')
        snprintf(b, sizeof(bufs[0]), "%s", rel);
    else
        snprintf(b, sizeof(bufs[0]), "%s/%s", fh->dir, rel);
    return b;
}

static int h_cfg_path(payrun_stage *st, const char *key, int idx, const char *field,
                      const char **out)
{
    const char *v = lookup(st, key, idx, field);
    if (v == NULL)
        return PAYRUN_ERR;
    *out = fh_path(FH(st), v);
    return PAYRUN_OK;
}

static int h_cfg_list_len(payrun_stage *st, const char *key)
{
    fake_host *fh = FH(st);
    int n = 0;
    for (size_t i = 0; i < fh->n_cfg; i++)
        if (strcmp(fh->cfg[i].key, key) == 0 && fh->cfg[i].list_index + 1 > n)
            n = fh->cfg[i].list_index + 1;
    return n;
}

static void h_count(payrun_stage *st, const char *name, int64_t n)
{
    fake_host *fh = FH(st);
    for (int i = 0; i < fh->n_counts; i++) {
        if (strcmp(fh->counts_names[i], name) == 0) {
            fh->counts[i] += n;
            return;
        }
    }
    if (fh->n_counts < 32) {
        snprintf(fh->counts_names[fh->n_counts], sizeof(fh->counts_names[0]), "%s", name);
        fh->counts[fh->n_counts++] = n;
    }
}

static int count_index(const fake_host *fh, const char *name)
{
    for (int i = 0; i < fh->n_counts; i++)
        if (strcmp(fh->counts_names[i], name) == 0)
            return i;
    return -1;
}

int64_t fh_count(const fake_host *fh, const char *name)
{
    int i = count_index(fh, name);

    return i < 0 ? 0 : fh->counts[i];
}

int fh_has_count(const fake_host *fh, const char *name)
{
    return count_index(fh, name) >= 0;
}

static void result_payout(struct payrun_payout_view *p, const char *id, const char *status,
                          const char *reference)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->org = "acme";
    p->period = "2026-02";
    p->partner_id = "p-001";
    p->partner_name = "Acme Resellers";
    p->currency = "USD";
    p->amount = 10000;
    p->status = status;
    p->reference = reference;
    p->paid_at = "";
    p->notes = "";
}

void fh_result_payouts(fake_host *fh)
{
    static const char *const processing[] = {"po_a1", "po_a2", "po_a3",
                                             "po_a4", "po_a5", "po_a6"};
    size_t n = 0;

    for (size_t i = 0; i < sizeof(processing) / sizeof(processing[0]); i++)
        result_payout(&fh->payouts[n++], processing[i], "processing", "");
    result_payout(&fh->payouts[n++], "po_b1", "approved", "");
    result_payout(&fh->payouts[n++], "po_c1", "paid", "BANK-0777");
    fh->n_payouts = n;
}

static int h_output_open(payrun_stage *st, const char *path, unsigned flags, payrun_output **out)
{
    fake_host *fh = FH(st);
    payrun_output *o = calloc(1, sizeof(*o));
    const char *full = fh_path(fh, path);

    if (o == NULL)
        return PAYRUN_ERR;
    o->f = fopen(full, "wb");
    o->fh = fh;
    if (o->f == NULL) {
        free(o);
        return h_error(st, PAYRUN_ERR_IO, NULL, "cannot create \"%s\"", full);
    }
    o->index = fh->n_outputs;
    if (fh->n_outputs < 16) {
        snprintf(fh->outputs[fh->n_outputs], PATH_MAX, "%s", full);
        fh->output_flags[fh->n_outputs++] = flags;
    }
    *out = o;
    return PAYRUN_OK;
}

static int h_output_write(payrun_output *o, const void *data, size_t len)
{
    if (fwrite(data, 1, len, o->f) != len)
        return fh_fail(o->fh, PAYRUN_ERR_IO, "fake host: cannot write output %d", o->index);
    return PAYRUN_OK;
}

static int h_output_close(payrun_output *o)
{
    fake_host *fh = o->fh;
    int index = o->index, closed = fclose(o->f) == 0;

    free(o);
    if (!closed)
        return fh_fail(fh, PAYRUN_ERR_IO, "fake host: cannot close output %d", index);
    return PAYRUN_OK;
}

static int h_partner_put(payrun_stage *st, const struct payrun_partner *p, char *why,
                         size_t why_len)
{
    fake_host *fh = FH(st);
    (void)why;
    (void)why_len;
    if (fh->n_partners < FH_MAX)
        snprintf(fh->partner_ids[fh->n_partners++], 65, "%s", p->partner_id);
    return PAYRUN_OK;
}

static int h_line_add(payrun_stage *st, const struct payrun_line *l, char *why, size_t why_len)
{
    fake_host *fh = FH(st);
    int known = 0;

    if (strcmp(l->deal_status, "won") != 0) {
        fh->n_skipped++;
        return PAYRUN_SKIPPED;
    }
    for (size_t i = 0; i < fh->n_known_partners; i++)
        if (strcmp(fh->known_partners[i], l->partner_id) == 0)
            known = 1;
    if (!known && !fh->late_checks) {
        snprintf(why, why_len, "unknown partner \"%s\"", l->partner_id);
        return PAYRUN_ERR_INPUT;
    }
    if (strcmp(l->currency, fh->currency) != 0) {
        snprintf(why, why_len, "currency \"%s\" does not match the batch currency \"%s\"",
                 l->currency, fh->currency);
        return PAYRUN_ERR_INPUT;
    }
    if (strncmp(l->closed_on, fh->period, 7) != 0) {
        snprintf(why, why_len, "closed_on %s is outside the period %s", l->closed_on,
                 fh->period);
        return PAYRUN_ERR_INPUT;
    }
    if (fh->n_lines < FH_MAX) {
        fh->line_amounts[fh->n_lines] = l->attributed_amount;
        snprintf(fh->line_deal[fh->n_lines], sizeof(fh->line_deal[0]), "%s", l->deal_id);
        snprintf(fh->line_partner[fh->n_lines], sizeof(fh->line_partner[0]), "%s",
                 l->partner_id);
        fh->line_source[fh->n_lines++] = l->source_line;
    }
    return PAYRUN_OK;
}

/* As the core does: refuse, in file order, the lines of unknown partners
 * (with late_checks) and second lines of a deal and partner, and drop
 * them from the recorded lines. */
static int h_lines_settle(payrun_stage *st, payrun_late_reject_fn on_reject, void *ud,
                          int64_t *settled)
{
    fake_host *fh = FH(st);
    int kept = 0;

    fh->settled = 1;
    if (fh->before_settle != NULL)
        fh->before_settle(fh);
    for (int i = 0; i < fh->n_lines; i++) {
        char why[200] = "";
        int known = 0;

        for (size_t k = 0; k < fh->n_known_partners; k++)
            if (strcmp(fh->known_partners[k], fh->line_partner[i]) == 0)
                known = 1;
        if (!known)
            snprintf(why, sizeof(why), "unknown partner \"%s\"", fh->line_partner[i]);
        for (int j = 0; j < kept && why[0] == '\0'; j++)
            if (strcmp(fh->line_deal[j], fh->line_deal[i]) == 0 &&
                strcmp(fh->line_partner[j], fh->line_partner[i]) == 0)
                snprintf(why, sizeof(why), "duplicate deal_id \"%s\" for partner_id \"%s\"",
                         fh->line_deal[i], fh->line_partner[i]);
        if (why[0] != '\0') {
            /* Only what the plugin's reject path reads. */
            struct payrun_line l = {.source_line = fh->line_source[i],
                                    .deal_id = fh->line_deal[i],
                                    .partner_id = fh->line_partner[i]};
            int rc = on_reject(ud, &l, why);
            fh->late_rejected++;
            if (rc != PAYRUN_OK)
                return rc;
            continue;
        }
        fh->line_amounts[kept] = fh->line_amounts[i];
        fh->line_source[kept] = fh->line_source[i];
        memmove(fh->line_deal[kept], fh->line_deal[i], sizeof(fh->line_deal[0]));
        memmove(fh->line_partner[kept], fh->line_partner[i], sizeof(fh->line_partner[0]));
        kept++;
    }
    fh->n_lines = kept;
    *settled = kept;
    return PAYRUN_OK;
}

static int h_calculate(payrun_stage *st, const struct payrun_calc_params *params,
                       payrun_rate_fn rate, void *ud)
{
    fake_host *fh = FH(st);

    fh->params = *params;
    fh->calculated = 1;
    for (size_t i = 0; i < fh->n_calc_lines; i++) {
        const char *rule = NULL;
        int rc = rate(ud, &fh->calc_lines[i], &fh->rates[i], &rule);
        if (rc != PAYRUN_OK)
            return rc;
        snprintf(fh->rules[i], sizeof(fh->rules[0]), "%s", rule ? rule : "(null)");
    }
    return PAYRUN_OK;
}

static int h_each_payout(payrun_stage *st, payrun_payout_fn fn, void *ud)
{
    fake_host *fh = FH(st);
    for (size_t i = 0; i < fh->n_payouts; i++) {
        int rc = fn(ud, &fh->payouts[i]);
        if (rc != PAYRUN_OK)
            return rc;
    }
    return PAYRUN_OK;
}

static int h_decide(payrun_stage *st, const char *payout_id, int decision, int approvals,
                    const char *rule, const char *reason)
{
    fake_host *fh = FH(st);
    fh_decision *d;

    if (fh->n_decisions >= FH_MAX)
        return PAYRUN_ERR;
    d = &fh->decisions[fh->n_decisions++];
    snprintf(d->payout_id, sizeof(d->payout_id), "%s", payout_id);
    d->decision = decision;
    d->approvals = approvals;
    snprintf(d->rule, sizeof(d->rule), "%s", rule ? rule : "");
    snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : "");
    return PAYRUN_OK;
}

static int h_each_audit_event(payrun_stage *st, int64_t after_seq, payrun_event_fn fn, void *ud)
{
    fake_host *fh = FH(st);
    for (size_t i = 0; i < fh->n_events; i++) {
        if (fh->events[i].seq <= after_seq)
            continue;
        int rc = fn(ud, &fh->events[i]);
        if (rc != PAYRUN_OK)
            return rc;
    }
    return PAYRUN_OK;
}

static int h_output_list(payrun_output *o, const char *payout_id)
{
    fake_host *fh = o->fh;
    for (int i = 0; i < fh->n_listed; i++)
        if (strcmp(fh->listed[i], payout_id) == 0)
            return PAYRUN_ERR; /* the real core refuses a second listing too */
    if (fh->n_listed >= FH_MAX)
        return PAYRUN_ERR;
    snprintf(fh->listed[fh->n_listed], sizeof(fh->listed[0]), "%s", payout_id);
    fh->listed_output[fh->n_listed++] = o->index;
    return PAYRUN_OK;
}

static int h_move_listed(payrun_stage *st, int move, int64_t *moved)
{
    fake_host *fh = FH(st);
    fh->listed_move = move;
    *moved = fh->n_listed;
    return PAYRUN_OK;
}

/* Apply a bank answer to fh->payouts[] (their status strings must point
 * at writable storage the test owns, or at literals it replaces). */
static int h_payout_move(payrun_stage *st, const char *payout_id, int move, const char *detail,
                         char *why, size_t why_len)
{
    fake_host *fh = FH(st);
    struct payrun_payout_view *p = NULL;
    const char *target = move == PAYRUN_MOVE_MARK_PAID ? "paid"
                         : move == PAYRUN_MOVE_MARK_FAILED ? "failed" : "processing";

    for (size_t i = 0; i < fh->n_payouts; i++)
        if (strcmp(fh->payouts[i].id, payout_id) == 0)
            p = &fh->payouts[i];
    if (p == NULL) {
        snprintf(why, why_len, "payout \"%s\" not found", payout_id);
        fh->n_refused++;
        return PAYRUN_ERR_INPUT;
    }
    if (strcmp(p->status, target) == 0 && strcmp(p->reference, detail ? detail : "") == 0)
        return PAYRUN_SKIPPED;
    if (strcmp(p->status, "processing") != 0) {
        snprintf(why, why_len, "payout \"%s\" is %s, not processing", payout_id, p->status);
        fh->n_refused++;
        return PAYRUN_ERR_INPUT;
    }
    if (fh->n_moves >= FH_MAX)
        return fh_fail(fh, PAYRUN_ERR, "fake host: more than %d moves", FH_MAX);
    snprintf(fh->moved_ids[fh->n_moves], sizeof(fh->moved_ids[0]), "%s", payout_id);
    snprintf(fh->move_details[fh->n_moves], sizeof(fh->move_details[0]), "%s",
             detail ? detail : "");
    fh->moves[fh->n_moves++] = move;
    p->status = target;
    return PAYRUN_OK;
}

static int64_t h_run_number(payrun_stage *st)
{
    return FH(st)->run_number;
}

void fh_init(fake_host *fh)
{
    const char *base = getenv("TMPDIR");

    memset(fh, 0, sizeof(*fh));
    snprintf(fh->dir, sizeof(fh->dir), "%s/payrun-fh-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(fh->dir) == NULL)
        abort();
    fh->org = "acme";
    fh->period = "2026-02";
    fh->currency = "USD";
    fh->exponent = 2;
    fh->clock = "2026-03-01T08:00:00Z";
    fh->run_number = 1;

    struct payrun_host *h = &fh->host;
    h->size = sizeof(*h);
    h->abi_version = PAYRUN_ABI_VERSION;
    h->log = h_log;
    h->error = h_error;
    h->org = h_org;
    h->period = h_period;
    h->currency = h_currency;
    h->currency_exponent = h_exponent;
    h->run_clock = h_clock;
    h->cfg_string = h_cfg_string;
    h->cfg_bool = h_cfg_bool;
    h->cfg_int = h_cfg_int;
    h->cfg_money = h_cfg_money;
    h->cfg_rate = h_cfg_rate;
    h->cfg_path = h_cfg_path;
    h->cfg_list_len = h_cfg_list_len;
    h->parse_money = h_parse_money;
    h->parse_rate = h_parse_rate;
    h->format_money = h_format_money;
    h->count = h_count;
    h->output_open = h_output_open;
    h->output_write = h_output_write;
    h->output_close = h_output_close;
    h->partner_put = h_partner_put;
    h->line_add = h_line_add;
    h->lines_settle = h_lines_settle;
    h->calculate = h_calculate;
    h->each_payout = h_each_payout;
    h->decide = h_decide;
    h->each_audit_event = h_each_audit_event;
    h->output_list = h_output_list;
    h->move_listed = h_move_listed;
    h->payout_move = h_payout_move;
    h->run_number = h_run_number;
}

void fh_cleanup(fake_host *fh)
{
    char cmd[PATH_MAX + 16];
    if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fh->dir) < (int)sizeof(cmd))
        (void)!system(cmd);
}

void fh_set(fake_host *fh, const char *key, const char *value)
{
    fh_set_item(fh, key, -1, NULL, value);
}

void fh_set_item(fake_host *fh, const char *key, int index, const char *field, const char *value)
{
    if (fh->n_cfg >= sizeof(fh->cfg) / sizeof(fh->cfg[0]))
        abort();
    fh->cfg[fh->n_cfg++] = (fh_kv){key, index, field, value};
}

void fh_write_file(fake_host *fh, const char *rel, const char *text)
{
    FILE *f = fopen(fh_path(fh, rel), "wb");
    if (f == NULL)
        abort();
    fputs(text, f);
    fclose(f);
}

char *fh_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)n + 1);
    if (data == NULL || fread(data, 1, (size_t)n, f) != (size_t)n)
        abort();
    data[n] = '\0';
    fclose(f);
    return data;
}

int fh_run_plugin(fake_host *fh, const char *name)
{
    const char *dirs[] = {PLUGIN_BUILD_DIR};
    loaded_plugin *p = NULL;
    pr_err err = {0};
    payrun_stage st;
    void *ctx = NULL;
    int rc;

    if (plugin_load(dirs, 1, name, &p, &err) != 0) {
        fprintf(stderr, "fake host: %s\n", err.msg);
        abort();
    }
    st.fh = fh;
    st.desc = p->desc;
    rc = p->desc->init ? p->desc->init(&fh->host, &st, &ctx) : PAYRUN_OK;
    if (rc == PAYRUN_OK)
        rc = p->desc->run(ctx, &st);
    if (p->desc->destroy)
        p->desc->destroy(ctx);
    plugin_unload(p);
    return rc;
}

/* ---- the documentation's key tables ------------------------------------- */

static void key_row(buf *b, const char *prefix, const struct payrun_config_key *k)
{
    buf_printf(b, "| `%s%s` | %s", prefix, k->name, plugin_key_type_name(k->type));
    if (k->type == PAYRUN_KEY_ENUM && k->choices) {
        /* "a|b" as "`a`, `b`": a bare '|' would split the cell */
        buf_puts(b, ":");
        for (const char *c = k->choices; *c;) {
            size_t n = strcspn(c, "|");
            buf_printf(b, "%s `%.*s`", c == k->choices ? "" : ",", (int)n, c);
            c += n + (c[n] == '|');
        }
    }
    buf_printf(b, " | %s | ", k->required ? "yes" : "no");
    if (k->default_value)
        buf_printf(b, "`%s`", k->default_value[0] ? k->default_value : "\"\"");
    buf_puts(b, " | ");
    for (const char *h = k->help ? k->help : ""; *h; h++) {
        if (*h == '|')
            buf_puts(b, "\\|");
        else
            buf_append(b, h, 1);
    }
    buf_puts(b, " |\n");
}

char *fh_key_rows(const struct payrun_config_key *keys)
{
    buf b;

    buf_init(&b);
    buf_puts(&b, ""); /* an empty string, not NULL, when there are no keys */
    for (const struct payrun_config_key *k = keys; k && k->name; k++) {
        key_row(&b, "", k);
        if (k->type == PAYRUN_KEY_LIST) {
            char prefix[96];
            snprintf(prefix, sizeof(prefix), "%s[].", k->name);
            for (const struct payrun_config_key *f = k->fields; f && f->name; f++)
                key_row(&b, prefix, f);
        }
    }
    return buf_take(&b);
}

/* The next line of *p (without its newline) into line[]; 0 at the end. */
static int next_line(const char **p, char *line, size_t cap, int *lineno)
{
    size_t n;

    if (**p == '\0')
        return 0;
    n = strcspn(*p, "\n");
    snprintf(line, cap, "%.*s", (int)(n < cap ? n : cap - 1), *p);
    *p += n + ((*p)[n] == '\n');
    (*lineno)++;
    return 1;
}

int fh_doc_keys_match(const char *doc, const char *section, const struct payrun_plugin *desc,
                      char *why, size_t why_len)
{
    static const char header[] = "| key | type | required | default | help |";
    char *text = fh_read_file(doc), *rows = fh_key_rows(desc->keys);
    char line[2048], want[2048];
    const char *p = text, *w = rows;
    int lineno = 0, wantno = 0, rc = -1, found = section == NULL;

    if (text == NULL || rows == NULL) {
        snprintf(why, why_len, "%s: cannot read it", doc);
        goto done;
    }
    while (!found && next_line(&p, line, sizeof(line), &lineno))
        found = strcmp(line, section) == 0;
    if (!found) {
        snprintf(why, why_len, "%s: no line \"%s\"", doc, section);
        goto done;
    }
    found = 0;
    while (!found && next_line(&p, line, sizeof(line), &lineno)) {
        if (section != NULL && line[0] == '#')
            break;
        found = strcmp(line, header) == 0;
    }
    if (!found) {
        snprintf(why, why_len, "%s: no key table (%s) for plugin \"%s\"%s%s", doc, header,
                 desc->name, section ? " under " : "", section ? section : "");
        goto done;
    }
    /* the |---|---| line, then one row per key, up to the first line that
     * is not a table row */
    if (!next_line(&p, line, sizeof(line), &lineno) || strncmp(line, "|---", 4) != 0) {
        snprintf(why, why_len, "%s:%d: the key table's second line is not |---|...", doc,
                 lineno);
        goto done;
    }
    for (;;) {
        int have = next_line(&p, line, sizeof(line), &lineno) && line[0] == '|';
        int more = next_line(&w, want, sizeof(want), &wantno);

        if (!have && !more)
            break;
        if (!have) {
            snprintf(why, why_len, "%s:%d: key table of \"%s\" lacks the row\n  %s", doc,
                     lineno, desc->name, want);
            goto done;
        }
        if (!more) {
            snprintf(why, why_len, "%s:%d: \"%s\" declares no such key:\n  %s", doc, lineno,
                     desc->name, line);
            goto done;
        }
        if (strcmp(line, want) != 0) {
            snprintf(why, why_len, "%s:%d: key table of \"%s\" differs from its declaration:"
                     "\n  found    %s\n  declared %s", doc, lineno, desc->name, line, want);
            goto done;
        }
    }
    rc = 0;
done:
    free(text);
    free(rows);
    return rc;
}
