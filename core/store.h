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

#define STORE_SCHEMA_VERSION 1

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
                      const char *at, const char *detail, pr_err *err);
/* Edit amount (when has_amount) and/or notes (when notes != NULL). */
int store_payout_edit(store *s, const char *id, int has_amount, int64_t amount,
                      const char *notes, const char *actor, const char *at, pr_err *err);
int store_payout_delete(store *s, const char *id, const char *actor, const char *at,
                        pr_err *err);

/* Append an audit event for this org; seq and hashes are assigned here. */
int store_audit_append(store *s, const char *at, const char *actor, const char *action,
                       const char *entity_type, const char *entity_id,
                       const char *metadata, pr_err *err);

typedef int (*store_audit_cb)(const audit_event *e, void *ud);
/* Call cb for each event of this org in sequence order; stops when cb
 * returns non-zero and returns that value. */
int store_audit_foreach(store *s, store_audit_cb cb, void *ud, pr_err *err);

typedef struct audit_report {
    int64_t checked;   /* events that verified */
    int64_t bad_seq;   /* first bad sequence number (0 when all good) */
    const char *why;   /* static text, when bad_seq != 0 */
} audit_report;
/* Verify the org's chain; returns 0 whether or not it is intact (see
 * report->bad_seq), -1 only when it could not be read. */
int store_audit_verify(store *s, audit_report *report, pr_err *err);

#endif
