/*
 * error.h: how the core reports a failure.
 *
 * Core functions return 0 on success and -1 on failure, with a pr_err filled
 * in: a one-line message that says what failed and where (file:line:column
 * or payout id), an optional hint that says what to do, and the sysexits
 * code the command line exits with. The message is set before returning, so
 * a caller never has to guess why something failed.
 */
#ifndef PAYRUN_ERROR_H
#define PAYRUN_ERROR_H

#include <stddef.h>

/* Exit codes, as in sysexits(3). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_UNAVAILABLE = 69,
    EXIT_SOFTWARE = 70,
    EXIT_CANTCREAT = 73,
    EXIT_IOERR = 74,
    EXIT_TEMPFAIL = 75,
    EXIT_NOPERM = 77,
    EXIT_CONFIG = 78
};

typedef struct pr_err {
    int code;        /* one of the EXIT_* values; 0 while no error is set */
    char msg[768];
    char hint[384];
} pr_err;

#if defined(__GNUC__)
#define PR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PR_PRINTF(f, a)
#endif

/* Set code and message (clearing any hint); always returns -1. */
int pr_err_set(pr_err *e, int code, const char *fmt, ...) PR_PRINTF(3, 4);
/* Add or replace the hint of an error already set; returns -1. */
int pr_err_hint(pr_err *e, const char *fmt, ...) PR_PRINTF(2, 3);
/* Put `prefix: ` in front of the message (e.g. a file name); returns -1. */
int pr_err_prefix(pr_err *e, const char *fmt, ...) PR_PRINTF(2, 3);
void pr_err_clear(pr_err *e);

#endif
