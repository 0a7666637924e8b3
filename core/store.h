/*
 * store.h: payrun's storage. Every SQL statement of payrun lives in
 * store.c, so another backend (PostgreSQL) can be added beside it later.
 *
 * One store handle serves one org: the org is fixed at open and bound into
 * every query, so no function here can read or change another org's rows.
 * Changes happen inside store_begin/store_commit; each payout move, edit
 * and deletion asks the state machine first and writes its audit event in
 * the same transaction, so a change and its record commit together or not
 * at all.
 */
#ifndef PAYRUN_STORE_H
#define PAYRUN_STORE_H

#include <stdint.h>

#include "audit.h"
#include "error.h"
#include "state.h"

#define STORE_SCHEMA_VERSION 3

/* Approvers needed by a payout whose amount a person typed (created or
 * edited by hand), none of them that person: a figure nobody computed
 * gets a second pair of eyes whatever the approval rules said. */
#define STORE_HAND_APPROVALS 2

typedef struct store store;

typedef enum payout_kind { PAYOUT_KIND_COMMISSION = 0, PAYOUT_KIND_MANUAL = 1 } payout_kind;

typedef struct partner {
    char partner_id[65];
    char name[257];
    char type[16];     /* affiliate | referral | reseller | integration */
    char tier[16];     /* bronze | silver | gold | platinum */
    int64_t commission_rate; /* millionths of a percent */
    char status[16];   /* active | inactive | pending */
    char currency[4];
    char email[257];
    char routing_number[16];
    char account_number[32];
    char iban[40];
    char bic[16];
    char account_name[128];
} partner;

typedef struct payout {
    char id[24];          /* "po_" + 16 hex digits, derived from the natural key */
    char period[8];
    char partner_id[65];
    payout_kind kind;
    int64_t amount;       /* minor units */
    char currency[4];
    payout_status status;
    int approvals_required;
    int approvals_given;
    char created_at[32];
    char created_by[65];
    char approved_at[32];
    char approved_by[65];
    char rejected_reason[257];
    char processing_at[32];
    char paid_at[32];
    char failed_at[32];
    char failed_reason[257];
    char reference[129];
    char notes[1025];
    int64_t run_id;       /* 0 when created by hand */
    char hold_reason[257]; /* "" unless an approval rule put it on hold */
    char amount_set_by[65]; /* who typed the amount, "" when a close computed it */
} payout;

/*
 * Open (creating if needed) the database at `path` for `org`: WAL,
 * synchronous=FULL, foreign keys on, busy timeout, and migrations up to
 * STORE_SCHEMA_VERSION under PRAGMA user_version. A database written by a
 * newer payrun is refused rather than guessed at.
 */
int store_open(const char *path, const char *org, int64_t busy_timeout_ms,
               store **out, pr_err *err);
void store_close(store *s);
int store_schema_version(store *s);
const char *store_org(const store *s);

/* BEGIN IMMEDIATE: takes the write lock up front, so two writers queue (or
 * one gets EXIT_TEMPFAIL after the busy timeout) instead of deadlocking. */
int store_begin(store *s, pr_err *err);
int store_commit(store *s, pr_err *err);
void store_rollback(store *s);

/* Derive the stable payout id of a natural key. */
void store_payout_id(const char *org, const char *period, const char *partner_id,
                     payout_kind kind, char out[24]);

int store_partner_put(store *s, const partner *p, pr_err *err);
/* Insert or update a partner, auditing partner.created / partner.updated
 * with the changed fields; *changed is 0 (same), 1 (created), 2 (updated). */
int store_partner_upsert(store *s, const partner *p, const char *actor, const char *at,
                         int *changed, pr_err *err);
/* 0 found, 1 not found, -1 error. */
int store_partner_get(store *s, const char *partner_id, partner *out, pr_err *err);

/* Insert a pending payout and its payout.created event. p->id is set. A
 * second insert of the same natural key fails (EXIT_DATAERR). */
int store_payout_create(store *s, payout *p, const char *actor, const char *at, pr_err *err);
/* 0 found, 1 not found (also for another org's id), -1 error. */
int store_payout_get(store *s, const char *id, payout *out, pr_err *err);

/*
 * Apply a state move to payout `id`: the state machine decides, the row
 * changes, and the audit event (before/after status, `detail` as reason or
 * reference) is written, all in the caller's transaction. MOVE_EDIT and
 * MOVE_DELETE go through store_payout_edit / store_payout_delete instead.
 */
int store_payout_move(store *s, const char *id, payout_move move, const char *actor,
                      const char *at, const char *detail, const char *rule, pr_err *err);
/* The same, with more members for the audit event's metadata
 * (`extra_json`: `"key":value,...` without braces, or NULL). */
int store_payout_move_ex(store *s, const char *id, payout_move move, const char *actor,
                         const char *at, const char *detail, const char *rule,
                         const char *extra_json, pr_err *err);
/* Edit amount (when has_amount) and/or notes (when notes != NULL). */
int store_payout_edit(store *s, const char *id, int has_amount, int64_t amount,
                      const char *notes, const char *actor, const char *at, pr_err *err);
int store_payout_delete(store *s, const char *id, const char *actor, const char *at,
                        const char *reason, pr_err *err);

/* Append an audit event for this org; seq and hashes are assigned here. */
int store_audit_append(store *s, const char *at, const char *actor, const char *action,
                       const char *entity_type, const char *entity_id,
                       const char *metadata, pr_err *err);

typedef int (*store_audit_cb)(const audit_event *e, void *ud);
/* Call cb for each event of this org in sequence order; stops when cb
 * returns non-zero and returns that value. */
int store_audit_foreach(store *s, store_audit_cb cb, void *ud, pr_err *err);

/* Events about one entity (a payout id, a partner id), in order. */
int store_audit_entity(store *s, const char *entity_id, store_audit_cb cb, void *ud,
                       pr_err *err);

typedef struct audit_report {
    int64_t checked;   /* events that verified */
    int64_t bad_seq;   /* first bad sequence number (0 when all good) */
    const char *why;   /* static text, when bad_seq != 0 */
} audit_report;
/* Verify the org's chain; returns 0 whether or not it is intact (see
 * report->bad_seq), -1 only when it could not be read. */
int store_audit_verify(store *s, audit_report *report, pr_err *err);


/* ---- runs and the period close ------------------------------------------ */

/* The last committed run of `pipeline` for `period`: 0 found, 1 none. The
 * caller frees *config_digest and *input_digests. */
int store_run_last_ok(store *s, const char *pipeline, const char *period, int64_t *run_id,
                      char **config_digest, char **input_digests, pr_err *err);
int store_run_insert(store *s, const char *period, const char *pipeline, const char *actor,
                     const char *config_digest, const char *input_digests, const char *clock,
                     int64_t *run_id, pr_err *err);
int store_run_finish(store *s, int64_t run_id, const char *counts_json, const char *ended_at,
                     pr_err *err);

/* Commission payouts of `period` that have left pending_approval: their ids
 * (comma-separated, at most `cap` bytes) and how many. */
int store_period_blockers(store *s, const char *period, char *ids, size_t cap, int *n,
                          pr_err *err);
/* A committed close of a later period than `period`: 1 (with its period in
 * later[8]) or 0. */
int store_later_close(store *s, const char *pipeline, const char *period, char later[8],
                      pr_err *err);
/* Forget what an earlier close of `period` computed: its commission lines
 * go, and lines carried into it from earlier periods are released back to
 * it. With `lines_too`, its attribution lines go as well (a new import).
 * Payouts stay, to be recalculated. */
int store_period_reset(store *s, const char *period, int lines_too, pr_err *err);

struct payrun_line;
/* Stage one won attribution line (in the transaction) for
 * store_lines_settle. */
int store_line_stage(store *s, const struct payrun_line *l, pr_err *err);
/* Lines staged and not yet settled. */
int64_t store_lines_staged(const store *s);
/* A staged line refused when settling: non-zero ends the settling (the
 * callback has reported why in the store's error). */
typedef int (*store_reject_cb)(void *ud, const struct payrun_line *l, const char *why);
/* Insert the staged lines in partner order, file order within a partner;
 * lines of an unknown partner and second lines of a deal and partner are
 * refused and handed to `cb` in file order. */
int store_lines_settle(store *s, int64_t run_id, const char *period, store_reject_cb cb,
                       void *ud, int64_t *settled, int64_t *refused, pr_err *err);
/* Insert one won attribution line. 0 inserted, 1 duplicate deal+partner,
 * 2 no such partner (the foreign key answers: no lookup of its own). */
int store_line_insert(store *s, int64_t run_id, const char *period,
                      const struct payrun_line *l, pr_err *err);

/* One row the calculation walks: a new attribution line of the period, or
 * a commission line carried into it from an earlier period. */
typedef struct calc_row {
    const char *partner_id;
    const char *partner_type;
    const char *partner_tier;
    int64_t partner_rate;
    const char *partner_currency;
    int carried;          /* 0: attribution line; 1: carried commission line */
    int64_t id;           /* attribution_lines.id or commission_lines.id */
    const char *deal_id;
    const char *product_line;
    int64_t amount;       /* attributed amount */
    int64_t rate;         /* carried only */
    const char *rule;     /* carried only */
    const char *exact;    /* carried only: decimal text */
} calc_row;
typedef int (*store_calc_cb)(void *ud, const calc_row *r);
/* Walk the period's rows ordered by partner, carried rows first (by id),
 * then the partner's new rows in index order (by deal_id): the caller
 * puts a partner's rows in id order if it needs that.
 * Carried rows are those waiting for this period or an earlier one (a line
 * carried to a period closed before it was carried is picked up by the
 * next close, never stranded). */
int store_calc_rows(store *s, const char *period, store_calc_cb cb, void *ud, pr_err *err);

/* Insert the commission line of attribution line `attr_id`. payout_id NULL
 * with carried_to set means rolled over. */
int store_commission_insert(store *s, const char *period, int64_t attr_id,
                            const char *partner_id, const char *payout_id, const char *rule,
                            int64_t rate, const char *exact, int has_amount, int64_t amount,
                            const char *carried_to, const char *carry_reason, pr_err *err);
/* One new commission line for store_commission_insert_many. */
typedef struct commission_row {
    int64_t attr_id;
    const char *rule;
    int64_t rate;
    const char *exact;  /* decimal text */
    int64_t amount;     /* its share of the payout; unused when carried */
} commission_row;
/* Insert the commission lines of `n` attribution lines of one partner, all
 * in payout `payout_id` (with their amounts) or, with payout_id NULL, all
 * carried to `carried_to` for `carry_reason`: the same rows as n calls of
 * store_commission_insert, written several to a statement. */
int store_commission_insert_many(store *s, const char *period, const char *partner_id,
                                 const char *payout_id, const char *carried_to,
                                 const char *carry_reason, const commission_row *rows, size_t n,
                                 pr_err *err);
/* Re-point a carried commission line at a payout, or carry it further. */
int store_commission_assign(store *s, int64_t line_id, const char *payout_id, int has_amount,
                            int64_t amount, const char *carried_to, const char *carry_reason,
                            pr_err *err);

typedef enum upsert_result { UPSERT_CREATED, UPSERT_UPDATED, UPSERT_UNCHANGED } upsert_result;
/* Create the period's commission payout of a partner, or bring an existing
 * pending one to `amount` (audited as payout.recalculated, its approvals
 * cleared). Marks it as made by `run_id`. */
int store_payout_upsert_commission(store *s, const char *period, const char *partner_id,
                                   int64_t amount, const char *currency, int64_t run_id,
                                   const char *actor, const char *at, char id[24],
                                   upsert_result *result, pr_err *err);
/* Delete the period's pending commission payouts that run `run_id` did not
 * make (their partner no longer earns one). */
int store_payouts_prune(store *s, const char *period, int64_t run_id, const char *actor,
                        const char *at, int *deleted, pr_err *err);

/* Approval rules' decisions, each audited with its rule (no event when
 * nothing changes). */
int store_payout_require(store *s, const char *id, int approvals, const char *rule,
                         const char *actor, const char *at, pr_err *err);
int store_payout_hold(store *s, const char *id, const char *reason, const char *rule,
                      const char *actor, const char *at, int64_t run_id, pr_err *err);
/* Release the holds on the period's pending payouts that run `run_id` did
 * not put (or keep) in place: the rule that held them no longer does. */
int store_release_stale_holds(store *s, const char *period, int64_t run_id, const char *actor,
                              const char *at, int *released, pr_err *err);
/* Approve the period's pending, unheld commission payouts whose approvals
 * given (by approvers other than their creator, their amount's setter and
 * `actor`) now reach their required approvals: a rule lowered them. */
int store_approve_satisfied(store *s, const char *period, int64_t run_id, const char *actor,
                            const char *at, int *approved, pr_err *err);

struct payrun_payout_view;
typedef int (*store_view_cb)(void *ud, const struct payrun_payout_view *v);
/* The period's payouts as approvers and exporters see them, by partner;
 * with `commission_only`, only those a close computed and nobody has
 * re-typed (approval rules never decide about an amount a person set). */
int store_payout_views(store *s, const char *period, int commission_only, store_view_cb cb,
                       void *ud, pr_err *err);

/* Events after `after_seq`, in order (the audit sinks' cursor). */
int store_audit_after(store *s, int64_t after_seq, store_audit_cb cb, void *ud, pr_err *err);

typedef struct status_total {
    int64_t count;
    int64_t total; /* minor units; saturates never: overflow is an error */
} status_total;
/* Count and total per status of the period's payouts (all periods when
 * period is NULL). An org keeps one currency, so totals add up. */
int store_period_totals(store *s, const char *period, status_total out[STATUS__COUNT],
                        pr_err *err);


/* ---- output files between a run's commit and their renames ------------------ */

/* Record, in the run's transaction, an output file to be renamed from
 * `tmp` to `final` once the run commits; store_output_done forgets it
 * once renamed. */
int store_output_pending(store *s, int64_t run_id, const char *final, const char *tmp,
                         const char *sha256, pr_err *err);
int store_output_done(store *s, const char *final, pr_err *err);
typedef int (*store_output_cb)(void *ud, int64_t run_id, const char *final, const char *tmp,
                               const char *sha256);
/* Outputs of committed runs still waiting for their rename. */
int store_outputs_pending_each(store *s, store_output_cb cb, void *ud, pr_err *err);

/* ---- operations: approvals, listing, reports ------------------------------ */

typedef enum approve_result {
    APPROVE_RECORDED, /* approval recorded; more are needed */
    APPROVE_APPROVED  /* that approval was the last one needed: now approved */
} approve_result;

/*
 * Record `approver`'s approval of payout `id`; when it has the approvals
 * it requires, move it to approved. Refused (changing nothing) when the
 * payout is not pending or is on hold (EXIT_DATAERR), when the approver
 * created it or started the run that made it, or already approved it
 * (EXIT_NOPERM). *given and *required report where it stands.
 */
int store_payout_approve(store *s, const char *id, const char *approver, const char *at,
                         approve_result *result, int *given, int *required, pr_err *err);

typedef struct payout_filter {
    const char *status;  /* NULL: any */
    const char *partner; /* partner_id, NULL: any */
    const char *period;
    const char *search;  /* case-insensitive substring of partner id or name,
                          * notes or reference */
    const char *sort;    /* amount | partner | period | created | status */
    int descending;
    int64_t limit;       /* 0: no limit */
} payout_filter;

typedef int (*store_payout_cb)(void *ud, const payout *p, const char *partner_name);
/* Payouts matching `f`, sorted (ties by period, partner, id). *matched is
 * how many match (before the limit); *total how many the org has. */
int store_payouts_list(store *s, const payout_filter *f, store_payout_cb cb, void *ud,
                       int64_t *matched, int64_t *total, pr_err *err);

/* Ids of the pending payouts (of `period`, or all when NULL), by partner. */
typedef int (*store_id_cb)(void *ud, const char *id);
int store_pending_ids(store *s, const char *period, store_id_cb cb, void *ud, pr_err *err);

typedef struct approval {
    char approver[65];
    char at[32];
    char rule[65];
} approval;
typedef int (*store_approval_cb)(void *ud, const approval *a);
int store_payout_approvals(store *s, const char *id, store_approval_cb cb, void *ud,
                           pr_err *err);
/* Commission lines of a payout: how many and their sum. */
int store_payout_lines(store *s, const char *id, int64_t *count, int64_t *total, pr_err *err);

typedef struct partner_summary {
    status_total by_status[STATUS__COUNT];
    int has_last;
    payout last; /* the latest payout by period, then creation */
} partner_summary;
int store_partner_summary(store *s, const char *partner_id, partner_summary *out, pr_err *err);

#endif
