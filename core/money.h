/*
 * money.h: exact money. Amounts are int64_t counts of a currency's minor
 * unit (ISO 4217 exponent); every operation is checked and reports overflow
 * instead of wrapping. Rates are percentages scaled by 10^6
 * (PAYRUN_RATE_SCALE), so amount x rate / 100 is exact at 10^8 finer than
 * the minor unit; those exact values are held in money_exact (__int128).
 * No binary floating point anywhere in this module.
 */
#ifndef PAYRUN_MONEY_H
#define PAYRUN_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A line commission kept exact: minor units x MONEY_EXACT_SCALE. */
typedef __int128 money_exact;
#define MONEY_EXACT_SCALE 100000000 /* 10^8: rate scale 10^6 times 1/100 */

#define MONEY_MAX_EXPONENT 4 /* CLF, UYW: the largest ISO 4217 exponent */

typedef struct currency {
    char code[4];  /* "USD" */
    int exponent;  /* decimals of the minor unit: 2 for USD, 0 for JPY */
} currency;

typedef enum money_rounding {
    ROUND_HALF_EVEN = 0, /* banker's rounding: the default */
    ROUND_HALF_UP = 1    /* half away from zero */
} money_rounding;

/* Look up an ISO 4217 alphabetic code (upper case, exactly 3 letters).
 * Returns NULL for an unknown code. */
const currency *currency_find(const char *code);

/*
 * Parse decimal money `-?digits(.digits)?` with at most `exponent` decimals
 * into minor units. `len` bytes of `s` are read (no terminator needed).
 * Rejects, with a message naming the text and saying why: empty text, signs
 * other than one leading '-', '+', spaces, thousands separators, exponents,
 * currency symbols, a bare '.', too many decimals, and values beyond int64.
 */
int money_parse(const char *s, size_t len, int exponent, int64_t *out, pr_err *err);

/* Format minor units as plain decimal with exactly `exponent` decimals
 * ("15200.00", "-3.10", "500" for JPY). Returns the length written, or -1
 * when `cap` is too small (32 bytes always suffice). */
int money_format(int64_t v, int exponent, char *buf, size_t cap);

/* Parse a rate: percentage 0..100 with at most 6 decimals, into
 * millionths of a percent. */
int rate_parse(const char *s, size_t len, int64_t *out, pr_err *err);
/* Format a rate without trailing zeros ("12.5", "15"). */
int rate_format(int64_t rate, char *buf, size_t cap);

/* Checked arithmetic: 0 on success, -1 on overflow (*out unchanged). */
int money_add(int64_t a, int64_t b, int64_t *out);
int money_sub(int64_t a, int64_t b, int64_t *out);
int money_mul(int64_t a, int64_t b, int64_t *out);
int money_exact_add(money_exact a, money_exact b, money_exact *out);

/* Exact commission of `amount` minor units at `rate`: amount x rate / 100,
 * at MONEY_EXACT_SCALE. Cannot overflow (int64 x int64 fits __int128). */
money_exact money_commission(int64_t amount, int64_t rate);

/* Exact values are stored as decimal text of the scaled integer (they can
 * exceed int64). Format returns the length or -1 if cap < 42. Parse is its
 * exact inverse: it accepts what format writes and nothing else ("0", or
 * '-'? then digits with no leading zero, within __int128; not "-0", "007",
 * "+1" or spaces), returning 0, or -1 with *out unchanged. */
int money_exact_format(money_exact x, char *buf, size_t cap);
int money_exact_parse(const char *s, money_exact *out);

/* Round an exact value to minor units. -1 if the result leaves int64. */
int money_round(money_exact x, money_rounding mode, int64_t *out);

/*
 * Share `total` minor units over `n` lines whose exact values are
 * `exact[i]`, where total is one rounding of their sum: each line gets
 * floor(exact[i]) and the remaining units go, one each, to the lines with
 * the largest fractional parts (ties to the earlier line). The shares sum
 * to `total` exactly and each differs from its exact value by less than one
 * minor unit. Fails (-1) if total - sum(floor) is not within [0, n].
 */
int money_share_exact(int64_t total, const money_exact *exact, size_t n, int64_t *out);

/* What money_share_exact works from: x = floor x MONEY_EXACT_SCALE + frac,
 * with frac in [0, MONEY_EXACT_SCALE) (the floor toward minus infinity). */
void money_exact_split(money_exact x, money_exact *floor, uint64_t *frac);

/*
 * Largest-remainder allocation of `total` (may be negative) over
 * non-negative integer `weights`: out[i] = total x w[i] / sum(w) rounded
 * down in magnitude, then the leftover units one each to the largest
 * remainders (ties to the earlier index). Sum of out[] == total exactly.
 * Fails (-1) when all weights are zero, any is negative, or on overflow.
 */
int money_allocate(int64_t total, const int64_t *weights, size_t n, int64_t *out);

#endif
