/*
 * state.h: the payout state machine of SPEC section 2, as data.
 *
 *   pending_approval --approve--> approved --mark_processing--> processing
 *   pending_approval --reject---> rejected        processing --mark_paid--> paid
 *   approved --mark_paid--> paid (paid outside a bank file)
 *   processing --mark_failed--> failed --retry--> approved
 *
 * paid and rejected are final. Editing and deleting are allowed only in
 * pending_approval. This module only decides; payouts are changed by the
 * store, which asks here first inside the same transaction.
 */
#ifndef PAYRUN_STATE_H
#define PAYRUN_STATE_H

#include "error.h"

typedef enum payout_status {
    STATUS_PENDING_APPROVAL = 0,
    STATUS_APPROVED,
    STATUS_REJECTED,
    STATUS_PROCESSING,
    STATUS_PAID,
    STATUS_FAILED,
    STATUS__COUNT
} payout_status;

typedef enum payout_move {
    MOVE_APPROVE = 0,
    MOVE_REJECT,
    MOVE_MARK_PROCESSING,
    MOVE_MARK_PAID,
    MOVE_MARK_FAILED,
    MOVE_RETRY,
    MOVE_EDIT,   /* change amount or notes: stays pending_approval */
    MOVE_DELETE, /* remove: only while pending_approval */
    MOVE__COUNT
} payout_move;

const char *status_name(payout_status s);
const char *move_name(payout_move m);
/* Parse a status name; -1 if unknown. */
int status_parse(const char *name, payout_status *out);
int move_parse(const char *name, payout_move *out);

/* The audit action a move writes ("payout.approved", ...). */
const char *move_action(payout_move m);

/* 1 when the status is final (paid, rejected). */
int status_is_final(payout_status s);

/*
 * Decide a move. On success *to is the state after it (for MOVE_EDIT the
 * same state; for MOVE_DELETE the state the payout had). A refusal names
 * the payout, its current state and the move asked for (EXIT_DATAERR).
 */
int state_move(const char *payout_id, payout_status from, payout_move move,
               payout_status *to, pr_err *err);

#endif
