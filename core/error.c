/*
 * error.c: filling in a pr_err. Messages are truncated rather than
 * overflowed; vsnprintf bounds every write.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pr_err_set(pr_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return -1;
    e->code = code;
    e->hint[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int pr_err_hint(pr_err *e, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof(e->hint), fmt, ap);
    va_end(ap);
    return -1;
}

int pr_err_prefix(pr_err *e, const char *fmt, ...)
{
    char prefix[256], old[sizeof(e->msg)];
    va_list ap;

    if (e == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* Truncation is acceptable here; overflow is not. Copy by hand so the
     * compiler's format-truncation check has nothing to warn about. */
    memcpy(old, e->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    {
        size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof(e->msg) - 1, n = 0;
        memcpy(e->msg, prefix, pl < cap ? pl : cap);
        n = pl < cap ? pl : cap;
        if (n + 2 <= cap) {
            memcpy(e->msg + n, ": ", 2);
            n += 2;
        }
        if (ol > cap - n)
            ol = cap - n;
        memcpy(e->msg + n, old, ol);
        e->msg[n + ol] = '\0';
    }
    return -1;
}

void pr_err_clear(pr_err *e)
{
    if (e == NULL)
        return;
    e->code = 0;
    e->msg[0] = '\0';
    e->hint[0] = '\0';
}
