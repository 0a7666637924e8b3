/* clock.c: see clock.h. */
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int clock_valid(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;

    if (strlen(s) != CLOCK_LEN - 1 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 59)
        return 0;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

int clock_now(char out[CLOCK_LEN], pr_err *err)
{
    const char *fixed = getenv("PAYRUN_CLOCK");
    time_t t;
    struct tm tm;

    if (fixed && fixed[0]) {
        if (!clock_valid(fixed)) {
            pr_err_set(err, EXIT_USAGE, "bad PAYRUN_CLOCK \"%s\"", fixed);
            return pr_err_hint(err, "use UTC ISO 8601 like 2026-03-01T09:00:00Z, or unset it");
        }
        memcpy(out, fixed, CLOCK_LEN);
        return 0;
    }
    t = time(NULL);
    if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "cannot read the system clock");
    strftime(out, CLOCK_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

void period_next(const char *period, char out[8])
{
    int y = (period[0] - '0') * 1000 + (period[1] - '0') * 100 + (period[2] - '0') * 10 +
            (period[3] - '0');
    int m = (period[5] - '0') * 10 + (period[6] - '0');

    if (++m > 12) {
        m = 1;
        y++;
    }
    /* Digits by hand: the compiler cannot prove a %04d fits otherwise. */
    y %= 10000;
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '\0';
}
