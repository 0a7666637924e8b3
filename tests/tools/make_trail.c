/*
 * make_trail.c: write a small, real audit trail into a payrun database
 * through the store (a partner, a payout and its moves), so integration
 * tests can exercise `payrun audit verify` and `audit list` before any
 * pipeline exists to produce one.
 *
 * usage: make_trail DB ORG
 */
#include <stdio.h>
#include <string.h>

#include "store.h"

int main(int argc, char **argv)
{
    store *s = NULL;
    pr_err err = {0};
    partner p;
    payout po;

    if (argc != 3) {
        fprintf(stderr, "usage: make_trail DB ORG\n");
        return 64;
    }
    if (store_open(argv[1], argv[2], 1000, &s, &err) != 0 || store_begin(s, &err) != 0)
        goto fail;
    memset(&p, 0, sizeof(p));
    snprintf(p.partner_id, sizeof(p.partner_id), "P1");
    snprintf(p.name, sizeof(p.name), "NexGen Resellers");
    snprintf(p.type, sizeof(p.type), "reseller");
    snprintf(p.tier, sizeof(p.tier), "gold");
    p.commission_rate = 15000000;
    snprintf(p.status, sizeof(p.status), "active");
    snprintf(p.currency, sizeof(p.currency), "USD");
    snprintf(p.email, sizeof(p.email), "ap@nexgen.example");
    if (store_partner_put(s, &p, &err) != 0)
        goto fail;
    memset(&po, 0, sizeof(po));
    snprintf(po.period, sizeof(po.period), "2026-02");
    snprintf(po.partner_id, sizeof(po.partner_id), "P1");
    snprintf(po.currency, sizeof(po.currency), "USD");
    po.amount = 1520000;
    po.kind = PAYOUT_KIND_MANUAL; /* its amount is edited below */
    po.approvals_required = 1;
    if (store_payout_create(s, &po, "alice", "2026-03-01T09:00:00Z", &err) != 0 ||
        store_payout_edit(s, po.id, 1, 1520001, "typo", "alice", "2026-03-01T09:05:00Z", &err) != 0 ||
        store_payout_edit(s, po.id, 1, 1520000, "fixed", "alice", "2026-03-01T09:06:00Z", &err) != 0 ||
        store_payout_move(s, po.id, MOVE_APPROVE, "bob", "2026-03-02T10:00:00Z", NULL, NULL, &err) != 0 ||
        store_payout_move(s, po.id, MOVE_MARK_PROCESSING, "bob", "2026-03-03T10:00:00Z", NULL, NULL, &err) != 0 ||
        store_payout_move(s, po.id, MOVE_MARK_PAID, "bob", "2026-03-04T10:00:00Z", "ACH-1", NULL, &err) != 0 ||
        store_commit(s, &err) != 0)
        goto fail;
    printf("%s\n", po.id);
    store_close(s);
    return 0;
fail:
    fprintf(stderr, "make_trail: %s\n", err.msg);
    store_close(s);
    return 1;
}
