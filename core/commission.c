/*
 * commission.c: SPEC section 3, over the rows the store walks.
 *
 * Only one partner's lines are held in memory at a time (the store hands
 * rows over in partner order), and at most mem_lines of them: past that,
 * the partner's priced lines go to a temporary file and its payout is
 * shared by passes over the file (spill_share), so memory does not grow
 * with the file nor with the largest partner.
 */
#include "commission.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linesort.h"

typedef struct pline {
    int carried;
    int64_t id;            /* attribution line id (new) or commission line id (carried) */
    int64_t rate;
    const char *rule;      /* plugin-owned (new) or in `rules` (carried) */
    money_exact exact;
} pline;

/* A priced line in the temporary file of a large partner. */
typedef struct spill_rec {
    money_exact exact;
    int64_t id;
    int32_t rate;      /* 0..100 x PAYRUN_RATE_SCALE */
    uint16_t rule;     /* index in calc_state.names */
    uint8_t carried;
    uint8_t pad;
} spill_rec;

_Static_assert(sizeof(spill_rec) == 32, "a spilled line is 32 bytes, as the docs say");

#define SPILL_BUF 2048 /* records read or written at a time (64 KiB) */

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
    /* A partner with more than p->mem_lines lines: all of them in the
     * temporary file, in the order they came. */
    int spilling;
    int fd;                /* the temporary file, -1 until needed */
    char dir[512];
    int64_t n_spill;       /* records written to it for this partner */
    spill_rec *buf;        /* SPILL_BUF records: writes gather, passes read */
    size_t n_buf;
    money_exact spill_total;
    char **names;          /* rule names of spilled lines, each once */
    size_t n_names, cap_names;
} calc_state;

static void forget_rules(calc_state *c)
{
    for (size_t i = 0; i < c->n_rules; i++)
        free(c->rules[i]);
    c->n_rules = 0;
}

static void forget_partner(calc_state *c)
{
    forget_rules(c);
    c->n = 0;
    c->spilling = 0;
    c->n_spill = 0;
    c->n_buf = 0;
    c->spill_total = 0;
}

/* Row j of the new lines written together: the line's commission, its
 * exact amount as text in texts[j], its share (0 when carried). */
static void put_row(calc_state *c, size_t j, int64_t id, const char *rule, int64_t rate,
                    money_exact exact, int64_t share)
{
    money_exact_format(exact, c->texts[j], sizeof(c->texts[j]));
    c->rows[j].attr_id = id;
    c->rows[j].rule = rule;
    c->rows[j].rate = rate;
    c->rows[j].exact = c->texts[j];
    c->rows[j].amount = share;
}

/* ---- a partner too large for memory -------------------------------------- */

static int spill_ioerr(calc_state *c, const char *what, int e)
{
    pr_err_set(c->err, EXIT_IOERR,
               "%s the temporary file of partner \"%s\"'s commission lines in %s: %s", what,
               c->partner, c->dir, strerror(e));
    if (e == ENOSPC || e == EDQUOT)
        return pr_err_hint(c->err, "free space in %s, or set TMPDIR to a directory with room "
                                   "for 32 bytes per line of the partner", c->dir);
    return pr_err_hint(c->err, "set TMPDIR to a writable directory with room for 32 bytes per "
                               "line of the partner");
}

static int spill_write_buf(calc_state *c)
{
    const char *p = (const char *)c->buf;
    size_t left = c->n_buf * sizeof(spill_rec);
    off_t off = (off_t)(c->n_spill * (int64_t)sizeof(spill_rec));

    while (left > 0) {
        ssize_t k = tmpfile_io(c->fd, 1, NULL, p, left, off);
        if (k < 0)
            return spill_ioerr(c, "writing", (int)-k);
        p += k;
        left -= (size_t)k;
        off += k;
    }
    c->n_spill += (int64_t)c->n_buf;
    c->n_buf = 0;
    return 0;
}

static int name_index(calc_state *c, const char *name, uint16_t *out)
{
    for (size_t i = c->n_names; i-- > 0;)
        if (strcmp(c->names[i], name) == 0) {
            *out = (uint16_t)i;
            return 0;
        }
    if (c->n_names == 65535)
        return pr_err_set(c->err, EXIT_SOFTWARE, "partner \"%s\": more than 65535 rule names",
                          c->partner);
    if (c->n_names == c->cap_names) {
        size_t nc = c->cap_names ? c->cap_names * 2 : 16;
        char **nn = realloc(c->names, nc * sizeof(*nn));
        if (nn == NULL)
            return pr_err_set(c->err, EXIT_SOFTWARE, "out of memory");
        c->names = nn;
        c->cap_names = nc;
    }
    if ((c->names[c->n_names] = strdup(name)) == NULL)
        return pr_err_set(c->err, EXIT_SOFTWARE, "out of memory");
    *out = (uint16_t)c->n_names++;
    return 0;
}

/* Move the lines held in memory to the temporary file. */
static int spill_move(calc_state *c)
{
    if (c->fd < 0) {
        int e = tmpfile_open("payrun-partner", c->dir, sizeof(c->dir), &c->fd);
        if (e != 0)
            return spill_ioerr(c, "creating", e);
    }
    if (c->buf == NULL && (c->buf = malloc(SPILL_BUF * sizeof(spill_rec))) == NULL)
        return pr_err_set(c->err, EXIT_SOFTWARE, "out of memory");
    c->spilling = 1;
    for (size_t i = 0; i < c->n; i++) {
        const pline *l = &c->lines[i];
        spill_rec *r = &c->buf[c->n_buf];

        if (money_exact_add(c->spill_total, l->exact, &c->spill_total) != 0)
            return pr_err_set(c->err, EXIT_DATAERR, "partner \"%s\": commission total overflows",
                              c->partner);
        if (l->rate < 0 || l->rate > INT32_MAX)
            return pr_err_set(c->err, EXIT_SOFTWARE, "line %lld: rate %lld out of range",
                              (long long)l->id, (long long)l->rate);
        memset(r, 0, sizeof(*r));
        r->exact = l->exact;
        r->id = l->id;
        r->rate = (int32_t)l->rate;
        r->carried = (uint8_t)l->carried;
        if (name_index(c, l->rule ? l->rule : "", &r->rule) != 0)
            return -1;
        if (++c->n_buf == SPILL_BUF && spill_write_buf(c) != 0)
            return -1;
    }
    forget_rules(c);
    c->n = 0;
    return 0;
}

/* One pass over the partner's records: fn(ud, record) for each. */
static int spill_each(calc_state *c, int (*fn)(calc_state *, const spill_rec *, void *), void *ud)
{
    int64_t done = 0;

    while (done < c->n_spill) {
        int64_t want = c->n_spill - done < SPILL_BUF ? c->n_spill - done : SPILL_BUF;
        size_t bytes = (size_t)want * sizeof(spill_rec), got = 0;
        off_t off = (off_t)(done * (int64_t)sizeof(spill_rec));

        while (got < bytes) {
            ssize_t k = tmpfile_io(c->fd, 0, (char *)c->buf + got, NULL, bytes - got,
                                   off + (off_t)got);
            if (k < 0)
                return spill_ioerr(c, "reading", (int)-k);
            got += (size_t)k;
        }
        for (int64_t i = 0; i < want; i++)
            if (fn(c, &c->buf[i], ud) != 0)
                return -1;
        done += want;
    }
    return 0;
}

/*
 * The largest-remainder cut of money_share_exact, over the file: the
 * units go to the k lines first in the order (fraction descending, then
 * the pinned line order: carried lines first, then by id). okey() is that
 * line order as one number. A line gets a unit when its fraction is above
 * `key`, or equal to it and its okey at most `last`.
 */
typedef struct spill_cut {
    int none;
    uint64_t key, last;
    /* pass state */
    money_exact floors;
    int64_t n;
    uint64_t t, lo, hi;
    int64_t count;
    int bad;
} spill_cut;

static uint64_t okey(const spill_rec *r)
{
    return r->carried ? (uint64_t)r->id : (uint64_t)r->id | (UINT64_C(1) << 63);
}

static int gets_unit(const spill_cut *k, const spill_rec *r)
{
    money_exact fl;
    uint64_t frac;

    if (k->none)
        return 0;
    money_exact_split(r->exact, &fl, &frac);
    return frac > k->key || (frac == k->key && okey(r) <= k->last);
}

static int pass_floors(calc_state *c, const spill_rec *r, void *ud)
{
    spill_cut *k = ud;
    money_exact fl;
    uint64_t frac;

    (void)c;
    money_exact_split(r->exact, &fl, &frac);
    if (fl < INT64_MIN || fl > INT64_MAX || __builtin_add_overflow(k->floors, fl, &k->floors))
        k->bad = 1;
    k->n++;
    return 0;
}

static int pass_at_least(calc_state *c, const spill_rec *r, void *ud)
{
    spill_cut *k = ud;
    money_exact fl;
    uint64_t frac;

    (void)c;
    money_exact_split(r->exact, &fl, &frac);
    k->count += frac >= k->t;
    return 0;
}

/* Lines with fraction k->key and okey at most k->t; also the okey range
 * of those lines (k->lo, k->hi). */
static int pass_ties(calc_state *c, const spill_rec *r, void *ud)
{
    spill_cut *k = ud;
    money_exact fl;
    uint64_t frac, o = okey(r);

    (void)c;
    money_exact_split(r->exact, &fl, &frac);
    if (frac != k->key)
        return 0;
    k->count += o <= k->t;
    if (o < k->lo)
        k->lo = o;
    if (o > k->hi)
        k->hi = o;
    return 0;
}

static int64_t count_at_least(calc_state *c, spill_cut *k, uint64_t t)
{
    k->t = t;
    k->count = 0;
    return spill_each(c, pass_at_least, k) != 0 ? -1 : k->count;
}

static int64_t count_ties(calc_state *c, spill_cut *k, uint64_t t)
{
    k->t = t;
    k->count = 0;
    return spill_each(c, pass_ties, k) != 0 ? -1 : k->count;
}

static int spill_share(calc_state *c, int64_t amount, spill_cut *k)
{
    money_exact left;
    int64_t need, n;
    uint64_t lo = 0, hi = MONEY_EXACT_SCALE - 1;

    memset(k, 0, sizeof(*k));
    if (spill_each(c, pass_floors, k) != 0)
        return -1;
    left = (money_exact)amount - k->floors;
    if (k->bad || left < 0 || left > (money_exact)k->n)
        return pr_err_set(c->err, EXIT_SOFTWARE, "partner \"%s\": cannot share %lld over %lld lines",
                          c->partner, (long long)amount, (long long)k->n);
    k->none = left == 0;
    if (k->none)
        return 0;
    /* key = the largest t with at least `left` fractions >= t */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2 + 1;
        if ((n = count_at_least(c, k, mid)) < 0)
            return -1;
        if (n >= (int64_t)left)
            lo = mid;
        else
            hi = mid - 1;
    }
    k->key = lo;
    if ((n = count_at_least(c, k, lo + 1)) < 0)
        return -1;
    need = (int64_t)left - n; /* units for lines whose fraction is key: 1.. */
    /* last = the smallest okey with `need` tied lines at or before it */
    k->lo = UINT64_MAX;
    k->hi = 0;
    if ((n = count_ties(c, k, 0)) < 0)
        return -1;
    lo = k->lo;
    hi = k->hi;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((n = count_ties(c, k, mid)) < 0)
            return -1;
        if (n >= need)
            hi = mid;
        else
            lo = mid + 1;
    }
    k->last = lo;
    return 0;
}

typedef struct spill_out {
    const char *payout_id, *carried_to, *reason;
    const spill_cut *cut;
    size_t n_rows, cap;
} spill_out;

static int flush_rows(calc_state *c, spill_out *o)
{
    int rc = store_commission_insert_many(c->s, c->p->period, c->partner, o->payout_id,
                                          o->carried_to, o->reason, c->rows, o->n_rows, c->err);
    o->n_rows = 0;
    return rc;
}

static int pass_write(calc_state *c, const spill_rec *r, void *ud)
{
    spill_out *o = ud;
    money_exact fl;
    uint64_t frac;
    int64_t share = 0;

    if (o->payout_id != NULL) {
        int unit = gets_unit(o->cut, r);
        money_exact_split(r->exact, &fl, &frac);
        if (fl == INT64_MAX && unit)
            return pr_err_set(c->err, EXIT_SOFTWARE, "partner \"%s\": a share of line %lld "
                              "does not fit in 64 bits", c->partner, (long long)r->id);
        share = (int64_t)fl + unit;
    }
    if (r->carried)
        return store_commission_assign(c->s, r->id, o->payout_id, o->payout_id != NULL, share,
                                       o->carried_to, o->reason, c->err);
    put_row(c, o->n_rows, r->id, c->names[r->rule], r->rate, r->exact, share);
    if (++o->n_rows == o->cap)
        return flush_rows(c, o);
    return 0;
}

/* Write a spilled partner's lines, as write_lines does for one in memory. */
static int spill_write(calc_state *c, const char *payout_id, const char *reason,
                       const spill_cut *cut)
{
    spill_out o;

    memset(&o, 0, sizeof(o));
    o.payout_id = payout_id;
    o.carried_to = payout_id ? NULL : c->p->next_period;
    o.reason = reason;
    o.cut = cut;
    o.cap = c->cap; /* the rows and texts arrays hold c->cap, at least 64 */
    if (spill_each(c, pass_write, &o) != 0)
        return -1;
    return o.n_rows > 0 ? flush_rows(c, &o) : 0;
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
        put_row(c, n_new++, l->id, l->rule, l->rate, l->exact, payout_id ? c->shares[i] : 0);
    }
    return store_commission_insert_many(c->s, c->p->period, c->partner, payout_id, carried_to,
                                        reason, c->rows, n_new, c->err);
}

static int carry(calc_state *c, const char *reason)
{
    c->res->partners_carried++;
    return c->spilling ? spill_write(c, NULL, reason, NULL) : write_lines(c, NULL, reason);
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
    spill_cut cut;

    if (c->n == 0 && !c->spilling)
        return 0;
    c->res->partners++;
    if (c->spilling) {
        if (spill_move(c) != 0 || (c->n_buf > 0 && spill_write_buf(c) != 0))
            return -1;
        total = c->spill_total;
    } else {
        order_lines(c);
        for (size_t i = 0; i < c->n; i++) {
            if (money_exact_add(total, c->lines[i].exact, &total) != 0)
                return pr_err_set(c->err, EXIT_DATAERR,
                                  "partner \"%s\": commission total overflows", c->partner);
        }
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
    if (c->spilling) {
        if (spill_share(c, amount, &cut) != 0)
            return -1;
    } else {
        for (size_t i = 0; i < c->n; i++)
            c->exacts[i] = c->lines[i].exact;
        if (money_share_exact(amount, c->exacts, c->n, c->shares) != 0)
            return pr_err_set(c->err, EXIT_SOFTWARE,
                              "partner \"%s\": cannot share %lld over %zu lines", c->partner,
                              (long long)amount, c->n);
    }
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
    return c->spilling ? spill_write(c, id, NULL, &cut) : write_lines(c, id, NULL);
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
    /* A partner past the limit: its lines go to the temporary file. */
    if (c->p->mem_lines > 0 && c->n >= c->p->mem_lines)
        return spill_move(c);
    return 0;
}

int commission_run(store *s, const commission_params *p, commission_rate_fn rate, void *ud,
                   commission_result *res, pr_err *err)
{
    calc_state c;
    int rc, deleted = 0;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
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
    free(c.buf);
    for (size_t i = 0; i < c.n_names; i++)
        free(c.names[i]);
    free(c.names);
    if (c.fd >= 0)
        close(c.fd);
    if (rc != 0)
        return -1;
    if (store_payouts_prune(s, p->period, p->run_id, p->actor, p->at, &deleted, err) != 0)
        return -1;
    res->payouts_deleted = deleted;
    return 0;
}
