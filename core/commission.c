/*
 * commission.c: SPEC section 3, over the rows the store walks.
 *
 * Only one partner's lines are held in memory at a time (the store hands
 * rows over in partner order), so memory grows with the largest partner,
 * not with the file.
 */
#include "commission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pline {
    int carried;
    int64_t id;            /* attribution line id (new) or commission line id (carried) */
    int64_t rate;
    const char *rule;      /* plugin-owned (new) or in `rules` (carried) */
    money_exact exact;
} pline;

typedef struct calc_state {
    store *s;
    const commission_params *p;
    commission_rate_fn rate;
    void *ud;
    commission_result *res;
    pr_err *err;
    char partner[65];
    pline *lines;
    size_t n, cap;
    int64_t *shares;
    money_exact *exacts;
    char **rules;          /* copies of carried lines' rule names */
    size_t n_rules;
    commission_row *rows;  /* the new lines' rows, written together */
    char (*texts)[48];     /* their exact amounts as text */
} calc_state;

static void forget_partner(calc_state *c)
{
    for (size_t i = 0; i < c->n_rules; i++)
        free(c->rules[i]);
    c->n_rules = 0;
    c->n = 0;
}

/* Write the partner's lines: carried ones re-pointed one by one, new ones
 * together. payout_id NULL carries them all to the next period. */
static int write_lines(calc_state *c, const char *payout_id, const char *reason)
{
    const char *carried_to = payout_id ? NULL : c->p->next_period;
    size_t n_new = 0;

    for (size_t i = 0; i < c->n; i++) {
        pline *l = &c->lines[i];
        if (l->carried) {
            if (store_commission_assign(c->s, l->id, payout_id, payout_id != NULL,
                                        payout_id ? c->shares[i] : 0, carried_to, reason,
                                        c->err) != 0)
                return -1;
            continue;
        }
        money_exact_format(l->exact, c->texts[n_new], sizeof(c->texts[n_new]));
        c->rows[n_new].attr_id = l->id;
        c->rows[n_new].rule = l->rule;
        c->rows[n_new].rate = l->rate;
        c->rows[n_new].exact = c->texts[n_new];
        c->rows[n_new].amount = payout_id ? c->shares[i] : 0;
        n_new++;
    }
    return store_commission_insert_many(c->s, c->p->period, c->partner, payout_id, carried_to,
                                        reason, c->rows, n_new, c->err);
}

static int carry(calc_state *c, const char *reason)
{
    c->res->partners_carried++;
    return write_lines(c, NULL, reason);
}

/* A partner's lines in the order the arithmetic is pinned to: carried
 * lines first, then its new lines in file order (attribution line id).
 * The store hands new lines over in its index's order (by deal), which
 * spares SQLite a sort per partner; ties in the largest-remainder share
 * go to the earlier line of this order. */
static int pline_cmp(const void *x, const void *y)
{
    const pline *a = x, *b = y;
    if (a->carried != b->carried)
        return a->carried ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void order_lines(calc_state *c)
{
    for (size_t i = 1; i < c->n; i++)
        if (pline_cmp(&c->lines[i - 1], &c->lines[i]) > 0) {
            qsort(c->lines, c->n, sizeof(*c->lines), pline_cmp);
            return;
        }
}

static int flush_partner(calc_state *c)
{
    money_exact total = 0;
    int64_t amount;
    char id[24], reason[96], minbuf[32];
    upsert_result ur;

    if (c->n == 0)
        return 0;
    c->res->partners++;
    order_lines(c);
    for (size_t i = 0; i < c->n; i++) {
        if (money_exact_add(total, c->lines[i].exact, &total) != 0)
            return pr_err_set(c->err, EXIT_DATAERR,
                              "partner \"%s\": commission total overflows", c->partner);
    }
    if (total <= 0) {
        snprintf(reason, sizeof(reason), "total commission is %s",
                 total == 0 ? "zero" : "negative");
        return carry(c, reason);
    }
    if (money_round(total, c->p->rounding, &amount) != 0) {
        pr_err_set(c->err, EXIT_DATAERR, "partner \"%s\": payout for %s does not fit in 64 bits",
                   c->partner, c->p->period);
        return pr_err_hint(c->err, "check the attributed amounts of this partner's lines");
    }
    if (amount == 0)
        return carry(c, "total commission rounds to zero");
    if (amount < c->p->min_payout) {
        money_format(c->p->min_payout, c->p->exponent, minbuf, sizeof(minbuf));
        snprintf(reason, sizeof(reason), "below min_payout %s", minbuf);
        return carry(c, reason);
    }
    for (size_t i = 0; i < c->n; i++)
        c->exacts[i] = c->lines[i].exact;
    if (money_share_exact(amount, c->exacts, c->n, c->shares) != 0)
        return pr_err_set(c->err, EXIT_SOFTWARE,
                          "partner \"%s\": cannot share %lld over %zu lines", c->partner,
                          (long long)amount, c->n);
    if (store_payout_upsert_commission(c->s, c->p->period, c->partner, amount, c->p->currency,
                                       c->p->run_id, c->p->actor, c->p->at, id, &ur,
                                       c->err) != 0)
        return -1;
    switch (ur) {
    case UPSERT_CREATED: c->res->payouts_created++; break;
    case UPSERT_UPDATED: c->res->payouts_updated++; break;
    case UPSERT_UNCHANGED: c->res->payouts_unchanged++; break;
    }
    if (money_add(c->res->payout_total, amount, &c->res->payout_total) != 0)
        return pr_err_set(c->err, EXIT_DATAERR, "total of the period's payouts overflows");
    return write_lines(c, id, NULL);
}

static int grow(calc_state *c)
{
    size_t nc = c->cap ? c->cap * 2 : 64;
    pline *nl = realloc(c->lines, nc * sizeof(*nl));
    int64_t *ns;
    money_exact *ne;
    char **nr;

    if (nl == NULL)
        return -1;
    c->lines = nl;
    ns = realloc(c->shares, nc * sizeof(*ns));
    if (ns == NULL)
        return -1;
    c->shares = ns;
    ne = realloc(c->exacts, nc * sizeof(*ne));
    if (ne == NULL)
        return -1;
    c->exacts = ne;
    nr = realloc(c->rules, nc * sizeof(*nr));
    if (nr == NULL)
        return -1;
    c->rules = nr;
    {
        commission_row *rows = realloc(c->rows, nc * sizeof(*rows));
        char(*texts)[48];
        if (rows == NULL)
            return -1;
        c->rows = rows;
        texts = realloc(c->texts, nc * sizeof(*texts));
        if (texts == NULL)
            return -1;
        c->texts = texts;
    }
    c->cap = nc;
    return 0;
}

static int on_row(void *ud, const calc_row *r)
{
    calc_state *c = ud;
    pline *l;

    if (strcmp(r->partner_id, c->partner) != 0) {
        if (flush_partner(c) != 0)
            return -1;
        forget_partner(c);
        snprintf(c->partner, sizeof(c->partner), "%s", r->partner_id);
    }
    if (c->n == c->cap && grow(c) != 0)
        return pr_err_set(c->err, EXIT_SOFTWARE, "out of memory");
    l = &c->lines[c->n];
    l->carried = r->carried;
    l->id = r->id;
    if (r->carried) {
        char *rule = strdup(r->rule ? r->rule : "");
        if (rule == NULL)
            return pr_err_set(c->err, EXIT_SOFTWARE, "out of memory");
        c->rules[c->n_rules++] = rule;
        l->rule = rule;
        l->rate = r->rate;
        if (r->exact == NULL || money_exact_parse(r->exact, &l->exact) != 0)
            return pr_err_set(c->err, EXIT_SOFTWARE,
                              "commission line %lld has an unreadable exact amount",
                              (long long)r->id);
        c->res->lines_carried_in++;
    } else {
        if (c->rate(c->ud, r, &l->rate, &l->rule, c->err) != 0)
            return -1;
        if (l->rate < 0 || l->rate > 100 * (int64_t)1000000)
            return pr_err_set(c->err, EXIT_SOFTWARE,
                              "rate %lld for deal \"%s\" is outside 0..100%%",
                              (long long)l->rate, r->deal_id);
        l->exact = money_commission(r->amount, l->rate);
    }
    c->n++;
    c->res->lines++;
    return 0;
}

int commission_run(store *s, const commission_params *p, commission_rate_fn rate, void *ud,
                   commission_result *res, pr_err *err)
{
    calc_state c;
    int rc, deleted = 0;

    memset(&c, 0, sizeof(c));
    memset(res, 0, sizeof(*res));
    c.s = s;
    c.p = p;
    c.rate = rate;
    c.ud = ud;
    c.res = res;
    c.err = err;
    rc = store_calc_rows(s, p->period, on_row, &c, err);
    if (rc == 0)
        rc = flush_partner(&c);
    forget_partner(&c);
    free(c.lines);
    free(c.shares);
    free(c.exacts);
    free(c.rules);
    free(c.rows);
    free(c.texts);
    if (rc != 0)
        return -1;
    if (store_payouts_prune(s, p->period, p->run_id, p->actor, p->at, &deleted, err) != 0)
        return -1;
    res->payouts_deleted = deleted;
    return 0;
}
