/*
 * approval_rules.c: the approver plugin. For each payout of the period
 * still pending approval it proposes one decision to the core, taking the
 * first of these rules that applies:
 *
 *   1. reject_inactive_partners and the partner is inactive: reject;
 *   2. hold_without_payment_details and the partner has none: hold;
 *   3. amount >= two_approvals_from: require approvals_required approvers;
 *   4. amount <  auto_approve_below: approve on the rule's authority;
 *   5. otherwise: require one approver.
 *
 * Refusals come first so that no threshold can approve a payout that could
 * not be paid; the large-amount rule comes before auto-approval so that a
 * misconfigured overlap errs towards more approvers, not fewer. The core
 * applies each decision through its state machine and audits it; a payout
 * in any other state is left alone, so a rerun cannot undo a human's move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

/* Bounds of approvals_required: two is the least that "two approvals"
 * can mean; past ten is a typo rather than a policy. */
#define MIN_APPROVALS 2
#define MAX_APPROVALS 10

static const struct payrun_config_key keys[] = {
    {"auto_approve_below", PAYRUN_KEY_MONEY, 0, NULL,
     "approve payouts below this amount without a human; unset: never", NULL, NULL},
    {"two_approvals_from", PAYRUN_KEY_MONEY, 0, NULL,
     "payouts of this amount or more need approvals_required approvers", NULL, NULL},
    {"approvals_required", PAYRUN_KEY_INT, 0, "2",
     "distinct approvers needed from two_approvals_from (2 to 10)", NULL, NULL},
    {"reject_inactive_partners", PAYRUN_KEY_BOOL, 0, "false",
     "reject payouts of inactive partners", NULL, NULL},
    {"hold_without_payment_details", PAYRUN_KEY_BOOL, 0, "false",
     "hold payouts of partners without bank or IBAN details", NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

struct ctx {
    const struct payrun_host *host;
    payrun_stage *st; /* set by run(), for the each_payout callback */
    int has_auto_approve;
    int64_t auto_approve_below;
    int has_two_approvals;
    int64_t two_approvals_from;
    int approvals_required;
    int reject_inactive;
    int hold_without_details;
};

static void destroy(void *p)
{
    free(p);
}

static int init(const struct payrun_host *host, payrun_stage *st, void **out)
{
    struct ctx *c = calloc(1, sizeof(*c));
    int64_t n = 2;

    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    c->has_auto_approve =
        host->cfg_money(st, "auto_approve_below", -1, NULL, &c->auto_approve_below) == PAYRUN_OK;
    c->has_two_approvals =
        host->cfg_money(st, "two_approvals_from", -1, NULL, &c->two_approvals_from) == PAYRUN_OK;
    if (host->cfg_int(st, "approvals_required", -1, NULL, &n) != PAYRUN_OK)
        n = 2;
    if (n < MIN_APPROVALS || n > MAX_APPROVALS) {
        free(c);
        return host->error(st, PAYRUN_ERR_CONFIG,
                           "set approvals_required from 2 to 10; for a single approver, "
                           "leave two_approvals_from unset",
                           "approvals_required is %lld, but must be from %d to %d", (long long)n,
                           MIN_APPROVALS, MAX_APPROVALS);
    }
    c->approvals_required = (int)n;
    if (host->cfg_bool(st, "reject_inactive_partners", -1, NULL, &c->reject_inactive) != PAYRUN_OK)
        c->reject_inactive = 0;
    if (host->cfg_bool(st, "hold_without_payment_details", -1, NULL, &c->hold_without_details) !=
        PAYRUN_OK)
        c->hold_without_details = 0;

    if (c->has_auto_approve && c->has_two_approvals &&
        c->auto_approve_below > c->two_approvals_from) {
        char a[32], b[32];
        if (host->format_money(st, c->auto_approve_below, a, sizeof(a)) < 0 ||
            host->format_money(st, c->two_approvals_from, b, sizeof(b)) < 0)
            a[0] = b[0] = '\0';
        host->log(st, PAYRUN_LOG_WARN,
                  "auto_approve_below (%s) is above two_approvals_from (%s): payouts from %s "
                  "up to %s need %d approvals, not none",
                  a, b, b, a, c->approvals_required);
    }
    *out = c;
    return PAYRUN_OK;
}

/* Describe `amount` against `limit` for the audit trail: "amount 999.99 is
 * below 1000.00". Best effort: a formatting failure leaves the text short. */
static const char *explain(struct ctx *c, int64_t amount, const char *relation, int64_t limit,
                           char *buf, size_t cap)
{
    char a[32], l[32];
    if (c->host->format_money(c->st, amount, a, sizeof(a)) < 0 ||
        c->host->format_money(c->st, limit, l, sizeof(l)) < 0)
        return relation;
    snprintf(buf, cap, "amount %s is %s %s", a, relation, l);
    return buf;
}

static int decide_one(void *ud, const struct payrun_payout_view *p)
{
    struct ctx *c = ud;
    const struct payrun_host *h = c->host;
    char why[128];
    int decision, approvals = 0;
    const char *rule, *reason, *counter;

    if (p->status == NULL || strcmp(p->status, "pending_approval") != 0)
        return PAYRUN_OK;

    if (c->reject_inactive && p->partner_status != NULL &&
        strcmp(p->partner_status, "inactive") == 0) {
        decision = PAYRUN_DECIDE_REJECT;
        rule = "reject_inactive_partners";
        reason = "partner is inactive";
        counter = "rejected";
    } else if (c->hold_without_details && !p->has_payment_details) {
        decision = PAYRUN_DECIDE_HOLD;
        rule = "hold_without_payment_details";
        reason = "no payment details on file";
        counter = "held";
    } else if (c->has_two_approvals && p->amount >= c->two_approvals_from) {
        decision = PAYRUN_DECIDE_REQUIRE;
        approvals = c->approvals_required;
        rule = "two_approvals_from";
        reason = explain(c, p->amount, "at or above", c->two_approvals_from, why, sizeof(why));
        counter = "needs_approval";
    } else if (c->has_auto_approve && p->amount < c->auto_approve_below) {
        decision = PAYRUN_DECIDE_APPROVE;
        rule = "auto_approve_below";
        reason = explain(c, p->amount, "below", c->auto_approve_below, why, sizeof(why));
        counter = "auto_approved";
    } else {
        decision = PAYRUN_DECIDE_REQUIRE;
        approvals = 1;
        rule = "default";
        reason = "no rule decides it: one approver required";
        counter = "needs_approval";
    }

    int rc = h->decide(c->st, p->id, decision, approvals, rule, reason);
    if (rc != PAYRUN_OK)
        return rc; /* the core has reported it, naming the payout */
    h->count(c->st, counter, 1);
    return PAYRUN_OK;
}

static int run(void *p, payrun_stage *st)
{
    struct ctx *c = p;
    c->st = st;
    return c->host->each_payout(st, decide_one, c);
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "approval_rules",
    .kind = PAYRUN_KIND_APPROVER,
    .version = "1.0.0",
    .description = "reject inactive, hold without payment details, N approvals from a "
                   "threshold, auto-approve below one",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
