/*
 * state.c: the payout state machine. The allowed moves are one table, so
 * the rules can be read (and tested) in one place instead of being spread
 * over the commands that use them.
 */
#include "state.h"

#include <string.h>

static const char *const status_names[STATUS__COUNT] = {
    "pending_approval", "approved", "rejected", "processing", "paid", "failed",
};

static const char *const move_names[MOVE__COUNT] = {
    "approve", "reject", "mark_processing", "mark_paid", "mark_failed",
    "retry", "edit", "delete",
};

static const char *const move_actions[MOVE__COUNT] = {
    "payout.approved", "payout.rejected", "payout.processing", "payout.paid",
    "payout.failed", "payout.retried", "payout.updated", "payout.deleted",
};

/* next[from][move]: the state reached, or -1 when the move is refused. */
static const signed char next[STATUS__COUNT][MOVE__COUNT] = {
    /*                  approve            reject            processing           paid          failed         retry             edit                     delete */
    [STATUS_PENDING_APPROVAL] = {STATUS_APPROVED, STATUS_REJECTED, -1, -1, -1, -1, STATUS_PENDING_APPROVAL, STATUS_PENDING_APPROVAL},
    [STATUS_APPROVED] = {-1, -1, STATUS_PROCESSING, STATUS_PAID, -1, -1, -1, -1},
    [STATUS_REJECTED] = {-1, -1, -1, -1, -1, -1, -1, -1},
    [STATUS_PROCESSING] = {-1, -1, -1, STATUS_PAID, STATUS_FAILED, -1, -1, -1},
    [STATUS_PAID] = {-1, -1, -1, -1, -1, -1, -1, -1},
    [STATUS_FAILED] = {-1, -1, -1, -1, -1, STATUS_APPROVED, -1, -1},
};

const char *status_name(payout_status s)
{
    if ((int)s < 0 || s >= STATUS__COUNT)
        return "unknown";
    return status_names[s];
}

const char *move_name(payout_move m)
{
    if ((int)m < 0 || m >= MOVE__COUNT)
        return "unknown";
    return move_names[m];
}

const char *move_action(payout_move m)
{
    if ((int)m < 0 || m >= MOVE__COUNT)
        return "payout.unknown";
    return move_actions[m];
}

int status_parse(const char *name, payout_status *out)
{
    for (int i = 0; i < STATUS__COUNT; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (payout_status)i;
            return 0;
        }
    }
    return -1;
}

int move_parse(const char *name, payout_move *out)
{
    for (int i = 0; i < MOVE__COUNT; i++) {
        if (strcmp(name, move_names[i]) == 0) {
            *out = (payout_move)i;
            return 0;
        }
    }
    return -1;
}

int status_is_final(payout_status s)
{
    return s == STATUS_PAID || s == STATUS_REJECTED;
}

int state_move(const char *payout_id, payout_status from, payout_move move,
               payout_status *to, pr_err *err)
{
    int n;

    if ((int)from < 0 || from >= STATUS__COUNT || (int)move < 0 || move >= MOVE__COUNT)
        return pr_err_set(err, EXIT_SOFTWARE, "payout \"%s\": invalid state %d or move %d",
                          payout_id, (int)from, (int)move);
    n = next[from][move];
    if (n < 0) {
        pr_err_set(err, EXIT_DATAERR,
                   "payout \"%s\" is %s: cannot %s it", payout_id,
                   status_names[from], move_names[move]);
        if (status_is_final(from))
            pr_err_hint(err, "%s is a final state; nothing can change this payout now",
                        status_names[from]);
        else if (move == MOVE_EDIT || move == MOVE_DELETE)
            pr_err_hint(err, "payouts can be edited or deleted only while pending_approval");
        else
            pr_err_hint(err, "see the payout states in docs/architecture.md");
        return -1;
    }
    *to = (payout_status)n;
    return 0;
}
