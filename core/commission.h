/*
 * commission.h: the pinned commission arithmetic of SPEC section 3.
 *
 * For each partner of a period, in partner order: every new line gets its
 * rate from the calculator plugin (rule 1) and its exact commission
 * amount x rate / 100 at 10^-8 of the minor unit (rule 2); lines carried
 * in from earlier periods keep theirs. The partner's exact total is rounded
 * once (rule 3); the rounded payout is shared back over the lines by
 * largest remainder so they sum to it exactly (rule 4); a total at or below
 * zero, one that rounds to zero, or one below min_payout creates no payout
 * and its lines carry to the next period with the reason (rule 5).
 */
#ifndef PAYRUN_COMMISSION_H
#define PAYRUN_COMMISSION_H

#include <stdint.h>

#include "clock.h"
#include "error.h"
#include "money.h"
#include "store.h"

/* Choose the rate of one new line; the rule name must live until
 * commission_run returns. */
typedef int (*commission_rate_fn)(void *ud, const calc_row *row, int64_t *rate,
                                  const char **rule, pr_err *err);

typedef struct commission_params {
    const char *period;       /* "YYYY-MM" being closed */
    const char *next_period;  /* where roll-overs go */
    const char *currency;
    int exponent;
    money_rounding rounding;
    int64_t min_payout;
    int64_t run_id;
    const char *actor;
    const char *at;
    /* Lines of one partner held in memory; a partner with more has its
     * priced lines written to a temporary file in TMPDIR and shared by
     * passes over it, with the same result. 0: no limit. */
    size_t mem_lines;
} commission_params;

/* The limit the pipeline sets: about 6 MiB of a partner's lines. */
#define COMMISSION_MEM_LINES 32768

typedef struct commission_result {
    int64_t lines;            /* lines priced: new + carried in */
    int64_t lines_carried_in;
    int64_t partners;
    int64_t payouts_created;
    int64_t payouts_updated;
    int64_t payouts_unchanged;
    int64_t payouts_deleted;
    int64_t partners_carried;  /* partners whose lines rolled over */
    int64_t payout_total;      /* minor units, all payouts made */
} commission_result;

int commission_run(store *s, const commission_params *p, commission_rate_fn rate, void *ud,
                   commission_result *res, pr_err *err);


#endif
