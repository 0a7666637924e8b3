/*
 * clock.h: the time payrun stamps on what it does: UTC, ISO 8601, whole
 * seconds ("2026-03-01T09:00:00Z"). PAYRUN_CLOCK, when set to such a
 * time, replaces the system clock, so demos and tests are reproducible
 * (as SOURCE_DATE_EPOCH does for builds).
 */
#ifndef PAYRUN_CLOCK_H
#define PAYRUN_CLOCK_H

#include "error.h"

#define CLOCK_LEN 21 /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

int clock_now(char out[CLOCK_LEN], pr_err *err);
/* 1 when `s` is exactly YYYY-MM-DDTHH:MM:SSZ with valid fields. */
int clock_valid(const char *s);

/* The period after a checked "YYYY-MM": "2026-12" -> "2027-01". */
void period_next(const char *period, char out[8]);

#endif
