/*
 * fuzz_money.c: libFuzzer harness for the decimal parser behind every
 * amount and rate payrun reads (money_parse, rate_parse), and for the
 * exact-value text that the store keeps (money_exact_parse).
 *
 * Input: the first byte picks the currency exponent (byte % 5, so 0..4,
 * MONEY_MAX_EXPONENT); the rest is the text, passed with its length and no
 * terminator, exactly as the CSV importer passes a cell, so ASan catches a
 * read one byte past the end. A crash alone is not the only failure: the
 * harness aborts when a property that the callers rely on does not hold:
 *
 * - a parse that succeeds round-trips: money_format then money_parse (and
 *   rate_format then rate_parse) give back the same value;
 * - one more allowed decimal scales the value by ten, or fails only when
 *   ten times the value leaves int64;
 * - a rate is within 0..100%;
 * - money_exact_parse accepts exactly what money_exact_format writes: a
 *   text it accepts formats back to the same bytes;
 * - parsing with and without a pr_err gives the same answer, and a failure
 *   always leaves a terminated, non-empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

#include "error.h"
#include "fuzz_common.h"
#include "money.h"

static void check_err(const pr_err *err, const char *what)
{
    MUST(memchr(err->msg, '\0', sizeof(err->msg)) != NULL, "%s: message not terminated", what);
    MUST(memchr(err->hint, '\0', sizeof(err->hint)) != NULL, "%s: hint not terminated", what);
    MUST(err->msg[0] != '\0' && err->code != 0, "%s failed without a message", what);
}

static void fuzz_amount(const char *s, size_t len, int exponent)
{
    pr_err err;
    int64_t v = 0, w = 0, bare = 0;
    char buf[32];
    int rc, n;

    memset(&err, 0, sizeof(err));
    rc = money_parse(s, len, exponent, &v, &err);
    MUST((money_parse(s, len, exponent, &bare, NULL) == 0) == (rc == 0) && (rc != 0 || bare == v),
         "exponent %d: parse with and without pr_err disagree", exponent);
    if (rc != 0) {
        check_err(&err, "money_parse");
        return;
    }

    n = money_format(v, exponent, buf, sizeof(buf));
    MUST(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n,
         "money_format(%lld, %d) returned %d", (long long)v, exponent, n);
    rc = money_parse(buf, (size_t)n, exponent, &w, &err);
    MUST(rc == 0 && w == v, "exponent %d: %lld formats as \"%s\", which parses %s %lld",
         exponent, (long long)v, buf, rc == 0 ? "to" : "with an error, not", (long long)w);

    if (exponent < MONEY_MAX_EXPONENT) {
        int64_t ten, u = 0;
        int over = __builtin_mul_overflow(v, 10, &ten);

        rc = money_parse(s, len, exponent + 1, &u, NULL);
        MUST(over ? rc != 0 : (rc == 0 && u == ten),
             "%lld at exponent %d but %s %lld at exponent %d", (long long)v, exponent,
             rc == 0 ? "" : "an error, not", (long long)u, exponent + 1);
    }
}

static void fuzz_rate(const char *s, size_t len)
{
    pr_err err;
    int64_t r = 0, w = 0;
    char buf[32];
    int rc, n;

    memset(&err, 0, sizeof(err));
    rc = rate_parse(s, len, &r, &err);
    if (rc != 0) {
        check_err(&err, "rate_parse");
        MUST(rate_parse(s, len, &w, NULL) != 0, "rate parse with and without pr_err disagree");
        return;
    }
    MUST(r >= 0 && r <= 100 * (int64_t)PAYRUN_RATE_SCALE, "rate %lld outside 0..100%%",
         (long long)r);
    n = rate_format(r, buf, sizeof(buf));
    MUST(n > 0 && strlen(buf) == (size_t)n, "rate_format(%lld) returned %d", (long long)r, n);
    rc = rate_parse(buf, (size_t)n, &w, &err);
    MUST(rc == 0 && w == r, "rate %lld formats as \"%s\", which parses %s %lld", (long long)r,
         buf, rc == 0 ? "to" : "with an error, not", (long long)w);
}

/* The store's exact values: NUL-terminated text of a scaled __int128. */
static void fuzz_exact(const char *s, size_t len)
{
    char *z = malloc(len + 1);
    char buf[64];
    money_exact x = 0, y = 0;
    int n;

    if (z == NULL)
        return;
    memcpy(z, s, len);
    z[len] = '\0';
    if (money_exact_parse(z, &x) == 0) {
        n = money_exact_format(x, buf, sizeof(buf));
        MUST(n > 0 && money_exact_parse(buf, &y) == 0 && y == x,
             "exact \"%s\" formats as \"%s\", which does not parse back", z, n > 0 ? buf : "");
        /* Only the canonical text: "-0" or "007" would be a second spelling
         * of a stored value. (A NUL inside the input ends z early; compare
         * what was parsed.) */
        MUST(strcmp(buf, z) == 0, "exact \"%s\" accepted, but format writes it \"%s\"", z,
             buf);
    }
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s;
    size_t len;

    if (size == 0)
        return 0;
    s = (const char *)data + 1;
    len = size - 1;
    fuzz_amount(s, len, data[0] % (MONEY_MAX_EXPONENT + 1));
    fuzz_rate(s, len);
    fuzz_exact(s, len);
    return 0;
}
