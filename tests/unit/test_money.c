/*
 * test_money.c: unit tests for core/money.c, the exact money arithmetic
 * every payout depends on. Hand-worked cases pin the parser's grammar and
 * messages, the rounding of ties and the largest-remainder sharing; a
 * seeded random run then checks the round trip of text and the exact sums
 * of allocation over a million cases, so a regression anywhere in the
 * int64 range shows up, not just near the values someone thought of.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "suites.h"

/* Every failing parse must leave *out alone, set EXIT_DATAERR, and name
 * both the text and the specific problem, in the house style (lower case,
 * no final period). */
static void check_bad(const char *s, size_t len, int exponent, int is_rate,
                      const char *keyword, const char *file, int line)
{
    const char *prefix = is_rate ? "bad rate \"" : "bad amount \"";
    int64_t v = 777;
    pr_err e;
    int rc;

    memset(&e, 0, sizeof(e));
    rc = is_rate ? rate_parse(s, len, &v, &e) : money_parse(s, len, exponent, &v, &e);
    ck_assert_msg(rc == -1, "%s:%d: \"%.*s\" was accepted as %lld", file, line,
                  (int)len, s, (long long)v);
    ck_assert_msg(v == 777, "%s:%d: *out changed on failure", file, line);
    ck_assert_msg(e.code == EXIT_DATAERR, "%s:%d: code %d", file, line, e.code);
    ck_assert_msg(strstr(e.msg, keyword) != NULL,
                  "%s:%d: message for \"%.*s\" does not mention \"%s\": %s",
                  file, line, (int)len, s, keyword, e.msg);
    ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0,
                  "%s:%d: message does not start with the value kind: %s",
                  file, line, e.msg);
    ck_assert_msg(e.msg[strlen(e.msg) - 1] != '.', "%s:%d: final period: %s",
                  file, line, e.msg);
}

#define PARSE_BAD(s, exp, kw) check_bad((s), strlen(s), (exp), 0, (kw), __FILE__, __LINE__)
#define RATE_BAD(s, kw) check_bad((s), strlen(s), 0, 1, (kw), __FILE__, __LINE__)
/* Quoting the text is part of the contract, for all plain inputs. */
#define PARSE_BAD_QUOTED(s, exp, kw)                                        \
    do {                                                                    \
        pr_err e_;                                                          \
        int64_t v_;                                                         \
        PARSE_BAD(s, exp, kw);                                              \
        money_parse((s), strlen(s), (exp), &v_, &e_);                       \
        ck_assert_msg(strstr(e_.msg, "\"" s "\"") != NULL,                  \
                      "message does not quote \"%s\": %s", (s), e_.msg);    \
    } while (0)

#define PARSE_OK(s, exp, want)                                              \
    do {                                                                    \
        int64_t v_ = 777;                                                   \
        pr_err e_;                                                          \
        memset(&e_, 0, sizeof(e_));                                         \
        ck_assert_msg(money_parse((s), strlen(s), (exp), &v_, &e_) == 0,    \
                      "\"%s\" (exponent %d) refused: %s", (s), (exp),       \
                      e_.msg);                                              \
        ck_assert_msg(v_ == (int64_t)(want), "\"%s\" parsed as %lld, "      \
                      "want %lld", (s), (long long)v_, (long long)(want));  \
    } while (0)

#define RATE_OK(s, want)                                                    \
    do {                                                                    \
        int64_t v_ = 777;                                                   \
        pr_err e_;                                                          \
        memset(&e_, 0, sizeof(e_));                                         \
        ck_assert_msg(rate_parse((s), strlen(s), &v_, &e_) == 0,            \
                      "rate \"%s\" refused: %s", (s), e_.msg);              \
        ck_assert_msg(v_ == (int64_t)(want), "rate \"%s\" parsed as %lld",  \
                      (s), (long long)v_);                                  \
    } while (0)

#define FORMAT_IS(v, exp, want)                                             \
    do {                                                                    \
        char b_[32];                                                        \
        int n_ = money_format((v), (exp), b_, sizeof(b_));                  \
        ck_assert_str_eq(b_, (want));                                       \
        ck_assert_int_eq(n_, (int)strlen(want));                            \
    } while (0)

#define RATE_FORMAT_IS(r, want)                                             \
    do {                                                                    \
        char b_[32];                                                        \
        int n_ = rate_format((r), b_, sizeof(b_));                          \
        ck_assert_str_eq(b_, (want));                                       \
        ck_assert_int_eq(n_, (int)strlen(want));                            \
    } while (0)

/* ---- currencies ------------------------------------------------------- */

START_TEST(test_currency_find_known)
{
    /* Spread over the alphabet, first and last entries included, so an
     * unsorted table breaks the binary search somewhere here. */
    static const struct { const char *code; int exp; } want[] = {
        {"AED", 2}, {"BHD", 3}, {"BIF", 0}, {"CHF", 2}, {"CLF", 4}, {"CLP", 0},
        {"EUR", 2}, {"GBP", 2}, {"IQD", 3}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0},
        {"KRW", 0}, {"KWD", 3}, {"LYD", 3}, {"MXN", 2}, {"OMR", 3}, {"PYG", 0},
        {"SEK", 2}, {"TND", 3}, {"UGX", 0}, {"USD", 2}, {"UYI", 0}, {"UYW", 4},
        {"VND", 0}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0},
        {"ZAR", 2}, {"ZWG", 2},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const currency *c = currency_find(want[i].code);

        ck_assert_msg(c != NULL, "%s not found", want[i].code);
        ck_assert_str_eq(c->code, want[i].code);
        ck_assert_msg(c->exponent == want[i].exp, "%s exponent %d", want[i].code,
                      c->exponent);
        ck_assert_int_le(c->exponent, MONEY_MAX_EXPONENT);
    }
}
END_TEST

START_TEST(test_currency_table_sorted_and_complete)
{
    /* Probe every possible code in order: the entries found must come
     * back in table order (so the table is sorted and binary search sees
     * all of it) and there must be all 165 codes of ISO 4217 List One
     * (2026-01-01) that have a minor unit. */
    const currency *prev = NULL;
    int found = 0;
    char code[4] = "AAA";

    for (int a = 0; a < 26 * 26 * 26; a++) {
        const currency *c;

        code[0] = (char)('A' + a / 676);
        code[1] = (char)('A' + a / 26 % 26);
        code[2] = (char)('A' + a % 26);
        c = currency_find(code);
        if (c == NULL)
            continue;
        ck_assert_str_eq(c->code, code);
        ck_assert_msg(c->exponent >= 0 && c->exponent <= MONEY_MAX_EXPONENT,
                      "%s exponent %d", code, c->exponent);
        ck_assert_msg(prev == NULL || c > prev, "%s is out of order", code);
        prev = c;
        found++;
    }
    ck_assert_int_eq(found, 165);
}
END_TEST

START_TEST(test_currency_find_unknown)
{
    const char *bad[] = {"usd", "Usd", "US", "USDX", "", "ABC", "XAU", "XXX",
                         "XDR", "U$D", "AAA", "ZZZ", "BGN", "HRK"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(currency_find(bad[i]) == NULL, "\"%s\" was found", bad[i]);
    ck_assert_ptr_null(currency_find(NULL));
}
END_TEST

/* ---- parse ------------------------------------------------------------ */

START_TEST(test_parse_good)
{
    PARSE_OK("0", 2, 0);
    PARSE_OK("-0", 2, 0);
    PARSE_OK("-0.00", 2, 0);
    PARSE_OK("15200", 2, 1520000);
    PARSE_OK("15200.00", 2, 1520000);
    PARSE_OK("12.5", 2, 1250);
    PARSE_OK("-3.10", 2, -310);
    PARSE_OK("-0.05", 2, -5);
    PARSE_OK("007.50", 2, 750);
    PARSE_OK("0000000000000000000000000000001.00", 2, 100);
    PARSE_OK("500", 0, 500);
    PARSE_OK("-500", 0, -500);
    PARSE_OK("1.234", 3, 1234);
    PARSE_OK("1.2", 3, 1200);
    PARSE_OK("0.0001", 4, 1);
    PARSE_OK("92233720368547758.07", 2, INT64_MAX);
    PARSE_OK("-92233720368547758.08", 2, INT64_MIN);
    PARSE_OK("9223372036854775807", 0, INT64_MAX);
    PARSE_OK("922337203685477.5807", 4, INT64_MAX);
}
END_TEST

START_TEST(test_parse_reads_only_len)
{
    int64_t v = 0;

    /* No terminator needed: a CSV field is a slice of a longer buffer. */
    ck_assert_int_eq(money_parse("12.50,99", 5, 2, &v, NULL), 0);
    ck_assert_int_eq(v, 1250);
    ck_assert_int_eq(money_parse("7x", 1, 0, &v, NULL), 0);
    ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_parse_bad_grammar)
{
    PARSE_BAD("", 2, "empty");
    PARSE_BAD_QUOTED("+5", 2, "a leading '+' is not allowed");
    PARSE_BAD_QUOTED("+5.00", 2, "leading '+'");
    PARSE_BAD_QUOTED(" 5", 2, "whitespace");
    PARSE_BAD_QUOTED("5 ", 2, "whitespace");
    PARSE_BAD_QUOTED("1 200.00", 2, "whitespace");
    PARSE_BAD("1\xC2\xA0" "200", 2, "whitespace"); /* no-break space */
    PARSE_BAD_QUOTED("1,200.00", 2, "thousands separators are not allowed; write 1200.00");
    PARSE_BAD_QUOTED("-1,234,567", 0, "write -1234567");
    PARSE_BAD_QUOTED("1,5", 2, "','");
    PARSE_BAD_QUOTED("1,50", 2, "use '.' for decimals");
    PARSE_BAD_QUOTED("1e3", 2, "exponent notation");
    PARSE_BAD_QUOTED("1E3", 0, "exponent notation");
    PARSE_BAD_QUOTED("1.5e-2", 2, "exponent notation");
    PARSE_BAD_QUOTED("2e+6", 2, "exponent notation");
    PARSE_BAD_QUOTED("$5", 2, "currency symbol");
    PARSE_BAD_QUOTED("5.00$", 2, "currency symbol");
    PARSE_BAD_QUOTED("-$5", 2, "currency symbol");
    PARSE_BAD("\xE2\x82\xAC" "5", 2, "currency symbol"); /* euro sign */
    PARSE_BAD("\xC2\xA3" "5", 2, "currency symbol");     /* pound sign */
    PARSE_BAD_QUOTED("USD100", 2, "currency code");
    PARSE_BAD_QUOTED("-", 2, "no digits");
    PARSE_BAD_QUOTED(".", 2, "no digits");
    PARSE_BAD_QUOTED("-.", 2, "no digits");
    PARSE_BAD_QUOTED(".5", 2, "a digit is required before the decimal point; write 0.5");
    PARSE_BAD_QUOTED("-.5", 2, "write -0.5");
    PARSE_BAD_QUOTED("5.", 2, "a digit is required after the decimal point; write 5");
    PARSE_BAD_QUOTED("5.", 0, "after the decimal point");
    PARSE_BAD_QUOTED("--5", 2, "'-' sign is allowed only once");
    PARSE_BAD_QUOTED("5-", 2, "'-' sign");
    PARSE_BAD_QUOTED("1-2", 2, "'-' sign");
    PARSE_BAD_QUOTED("1.2.3", 2, "more than one decimal point");
    PARSE_BAD_QUOTED("abc", 2, "unexpected character 'a'");
    PARSE_BAD_QUOTED("12x", 2, "unexpected character 'x'");
    PARSE_BAD_QUOTED("0x10", 2, "unexpected character 'x'");
    PARSE_BAD_QUOTED("(5.00)", 2, "unexpected character '('");
}
END_TEST

START_TEST(test_parse_too_many_decimals)
{
    PARSE_BAD_QUOTED("1.234", 2, "too many decimals (3); this currency allows at most 2");
    PARSE_BAD_QUOTED("0.001", 2, "at most 2");
    PARSE_BAD_QUOTED("1.5", 0, "decimals are not allowed; this currency has no minor unit");
    PARSE_BAD_QUOTED("500.0", 0, "no minor unit");
    PARSE_BAD_QUOTED("1.2345", 3, "at most 3");
    PARSE_BAD_QUOTED("0.00001", 4, "at most 4");
    /* Trailing zeros are still decimals: the source had a finer unit. */
    PARSE_BAD_QUOTED("1.000", 2, "at most 2");
}
END_TEST

START_TEST(test_parse_out_of_range)
{
    PARSE_BAD_QUOTED("92233720368547758.08", 2, "out of range; the largest amount is 92233720368547758.07");
    PARSE_BAD_QUOTED("-92233720368547758.09", 2, "the smallest amount is -92233720368547758.08");
    /* Overflow that only appears while padding the missing decimals. */
    PARSE_OK("92233720368547758", 2, INT64_MAX - 7);
    PARSE_BAD_QUOTED("92233720368547759", 2, "out of range");
    PARSE_BAD_QUOTED("-92233720368547759", 2, "out of range");
    PARSE_BAD_QUOTED("92233720368547758.1", 2, "out of range");
    PARSE_BAD_QUOTED("9223372036854775808", 0, "out of range");
    PARSE_BAD_QUOTED("99999999999999999999999999999999", 0, "out of range");
    PARSE_BAD_QUOTED("922337203685477.5808", 4, "out of range");
}
END_TEST

START_TEST(test_parse_message_escapes_text)
{
    pr_err e;
    int64_t v = 1;
    char longtext[200];

    /* A NUL or newline in a CSV cell must not cut or split the message. */
    ck_assert_int_eq(money_parse("1\0" "2", 3, 2, &v, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"1\\x002\""));
    ck_assert_int_eq(money_parse("5\n", 2, 2, &v, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "whitespace"));
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    ck_assert_int_eq(money_parse("\"5\"", 3, 2, &v, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"\\\"5\\\"\""));

    memset(longtext, '9', sizeof(longtext));
    longtext[150] = 'z';
    ck_assert_int_eq(money_parse(longtext, sizeof(longtext), 2, &v, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "...\""));
    ck_assert_ptr_nonnull(strstr(e.msg, "unexpected character 'z'"));
    ck_assert_int_lt(strlen(e.msg), 300);
    ck_assert_int_eq(v, 1);
}
END_TEST

START_TEST(test_parse_null_err_and_bad_exponent)
{
    int64_t v = 5;
    pr_err e;

    ck_assert_int_eq(money_parse("1,000", 5, 2, &v, NULL), -1);
    ck_assert_int_eq(money_parse("", 0, 2, &v, NULL), -1);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(money_parse("1", 1, 5, &v, &e), -1);
    ck_assert_int_eq(e.code, EXIT_SOFTWARE);
    ck_assert_ptr_nonnull(strstr(e.msg, "exponent 5"));
    ck_assert_int_eq(money_parse("1", 1, -1, &v, &e), -1);
    ck_assert_int_eq(v, 5);
}
END_TEST

/* ---- format ----------------------------------------------------------- */

START_TEST(test_format_values)
{
    FORMAT_IS(1520000, 2, "15200.00");
    FORMAT_IS(1250, 2, "12.50");
    FORMAT_IS(-310, 2, "-3.10");
    FORMAT_IS(-5, 2, "-0.05");
    FORMAT_IS(5, 2, "0.05");
    FORMAT_IS(0, 2, "0.00");
    FORMAT_IS(500, 0, "500");
    FORMAT_IS(0, 0, "0");
    FORMAT_IS(-7, 0, "-7");
    FORMAT_IS(1234, 3, "1.234");
    FORMAT_IS(-1, 3, "-0.001");
    FORMAT_IS(1, 4, "0.0001");
    FORMAT_IS(INT64_MAX, 2, "92233720368547758.07");
    FORMAT_IS(INT64_MIN, 2, "-92233720368547758.08");
    FORMAT_IS(INT64_MAX, 0, "9223372036854775807");
    FORMAT_IS(INT64_MIN, 0, "-9223372036854775808");
    FORMAT_IS(INT64_MIN, 4, "-922337203685477.5808");
}
END_TEST

START_TEST(test_format_small_buffer)
{
    char b[32];

    memset(b, 'x', sizeof(b));
    ck_assert_int_eq(money_format(1520000, 2, b, 8), -1); /* needs 9 */
    ck_assert_int_eq(b[0], '\0');
    ck_assert_int_eq(b[1], 'x');                          /* nothing else */
    ck_assert_int_eq(money_format(1520000, 2, b, 9), 8);
    ck_assert_str_eq(b, "15200.00");
    ck_assert_int_eq(money_format(-5, 2, b, 5), -1);
    ck_assert_int_eq(money_format(-5, 2, b, 6), 5);
    ck_assert_int_eq(money_format(0, 0, b, 1), -1);
    ck_assert_int_eq(money_format(0, 0, b, 2), 1);
    ck_assert_int_eq(money_format(1, 2, b, 0), -1);
    ck_assert_int_eq(money_format(1, 2, NULL, 32), -1);
    ck_assert_int_eq(money_format(1, 5, b, sizeof(b)), -1);
    ck_assert_int_eq(money_format(1, -1, b, sizeof(b)), -1);
}
END_TEST

/* ---- checked arithmetic ----------------------------------------------- */

START_TEST(test_overflow_add_sub_mul)
{
    int64_t o = 42;

    ck_assert_int_eq(money_add(INT64_MAX, 1, &o), -1);
    ck_assert_int_eq(money_add(INT64_MIN, -1, &o), -1);
    ck_assert_int_eq(money_sub(INT64_MIN, 1, &o), -1);
    ck_assert_int_eq(money_sub(0, INT64_MIN, &o), -1);
    ck_assert_int_eq(money_mul(INT64_MAX, 2, &o), -1);
    ck_assert_int_eq(money_mul(INT64_MIN, -1, &o), -1);
    ck_assert_int_eq(money_mul(3037000500, 3037000500, &o), -1);
    ck_assert_int_eq(o, 42);

    ck_assert_int_eq(money_add(INT64_MAX, INT64_MIN, &o), 0);
    ck_assert_int_eq(o, -1);
    ck_assert_int_eq(money_add(INT64_MAX - 1, 1, &o), 0);
    ck_assert_int_eq(o, INT64_MAX);
    ck_assert_int_eq(money_sub(-1, INT64_MIN, &o), 0);
    ck_assert_int_eq(o, INT64_MAX);
    ck_assert_int_eq(money_sub(INT64_MIN + 1, 1, &o), 0);
    ck_assert_int_eq(o, INT64_MIN);
    ck_assert_int_eq(money_mul(-1, INT64_MAX, &o), 0);
    ck_assert_int_eq(o, -INT64_MAX);
    ck_assert_int_eq(money_mul(3037000499, 3037000499, &o), 0);
    ck_assert_int_eq(o, 9223372030926249001);
}
END_TEST

START_TEST(test_overflow_exact_add)
{
    const money_exact max = (money_exact)(((unsigned __int128)1 << 127) - 1);
    const money_exact min = -max - 1;
    money_exact o = 42;

    ck_assert_int_eq(money_exact_add(max, 1, &o), -1);
    ck_assert_int_eq(money_exact_add(min, -1, &o), -1);
    ck_assert(o == 42);
    ck_assert_int_eq(money_exact_add(max, min, &o), 0);
    ck_assert(o == -1);
    ck_assert_int_eq(money_exact_add(max - 1, 1, &o), 0);
    ck_assert(o == max);
}
END_TEST

START_TEST(test_overflow_parse_limit)
{
    int64_t v = 99;
    pr_err e;

    ck_assert_int_eq(money_parse("92233720368547758.08", 20, 2, &v, &e), -1);
    ck_assert_int_eq(v, 99);
    ck_assert_int_eq(money_parse("92233720368547758.07", 20, 2, &v, &e), 0);
    ck_assert_int_eq(v, INT64_MAX);
}
END_TEST

/* ---- rates ------------------------------------------------------------ */

START_TEST(test_rate_parse)
{
    RATE_OK("0", 0);
    RATE_OK("100", 100000000);
    RATE_OK("100.000000", 100000000);
    RATE_OK("12.5", 12500000);
    RATE_OK("15", 15000000);
    RATE_OK("0.000001", 1);
    RATE_OK("33.333333", 33333333);
    RATE_OK("099.9", 99900000);

    RATE_BAD("100.0000001", "too many decimals (7); a rate allows at most 6");
    RATE_BAD("1.1234567", "at most 6");
    RATE_BAD("100.01", "over 100");
    RATE_BAD("100.000001", "over 100");
    RATE_BAD("101", "over 100");
    RATE_BAD("99999999999999999999999", "over 100");
    RATE_BAD("-1", "negative rates are not allowed");
    RATE_BAD("-0", "negative");
    RATE_BAD("12.5%", "'%'");
    RATE_BAD("", "empty");
    RATE_BAD("+5", "leading '+'");
    RATE_BAD(" 5", "whitespace");
    RATE_BAD("1e1", "exponent notation");
    RATE_BAD("12,5", "','");
    RATE_BAD(".5", "before the decimal point");
    RATE_BAD("5.", "after the decimal point");
}
END_TEST

START_TEST(test_rate_format)
{
    static const int64_t round_trip[] = {0, 1, 10, 12500000, 15000000,
                                         33333333, 99999999, 100000000};
    char b[32];

    RATE_FORMAT_IS(12500000, "12.5");
    RATE_FORMAT_IS(15000000, "15");
    RATE_FORMAT_IS(1, "0.000001");
    RATE_FORMAT_IS(10, "0.00001");
    RATE_FORMAT_IS(0, "0");
    RATE_FORMAT_IS(100000000, "100");
    RATE_FORMAT_IS(33333333, "33.333333");
    RATE_FORMAT_IS(10000000, "10");

    ck_assert_int_eq(rate_format(12500000, b, 4), -1); /* "12.5" needs 5 */
    ck_assert_int_eq(b[0], '\0');
    ck_assert_int_eq(rate_format(12500000, b, 5), 4);

    for (size_t i = 0; i < sizeof(round_trip) / sizeof(round_trip[0]); i++) {
        int64_t v = -1;
        int n = rate_format(round_trip[i], b, sizeof(b));

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(rate_parse(b, (size_t)n, &v, NULL), 0);
        ck_assert_int_eq(v, round_trip[i]);
    }
}
END_TEST

/* ---- commission and rounding ------------------------------------------ */

static int64_t rounded(money_exact x, money_rounding mode)
{
    int64_t v = INT64_MIN + 12345;

    ck_assert_int_eq(money_round(x, mode, &v), 0);
    return v;
}

START_TEST(test_commission_hand_worked)
{
    money_exact x;

    /* 10000.00 at 33.333333% = 3333.3333 -> 3333.33 either way. */
    x = money_commission(1000000, 33333333);
    ck_assert(x == (money_exact)33333333000000);
    ck_assert_int_eq(rounded(x, ROUND_HALF_EVEN), 333333);
    ck_assert_int_eq(rounded(x, ROUND_HALF_UP), 333333);

    /* 1234.57 at 12.5% = 15432.125 cents: below the tie, 154.32 both ways. */
    x = money_commission(123457, 12500000);
    ck_assert(x == (money_exact)1543212500000);
    ck_assert_int_eq(rounded(x, ROUND_HALF_EVEN), 15432);
    ck_assert_int_eq(rounded(x, ROUND_HALF_UP), 15432);
    /* 1234.60 at 12.5% = 15432.5 cents: a tie, 154.32 or 154.33. */
    x = money_commission(123460, 12500000);
    ck_assert_int_eq(rounded(x, ROUND_HALF_EVEN), 15432);
    ck_assert_int_eq(rounded(x, ROUND_HALF_UP), 15433);
    ck_assert_int_eq(rounded(-x, ROUND_HALF_EVEN), -15432);
    ck_assert_int_eq(rounded(-x, ROUND_HALF_UP), -15433);

    /* 0.01 at 50% is exactly half a cent: the tie. */
    x = money_commission(1, 50000000);
    ck_assert(x == (money_exact)MONEY_EXACT_SCALE / 2);
    ck_assert_int_eq(rounded(x, ROUND_HALF_EVEN), 0);
    ck_assert_int_eq(rounded(x, ROUND_HALF_UP), 1);

    /* 0.03 at 50% = 1.5 cents; -0.03 (a refund) = -1.5 cents. */
    ck_assert_int_eq(rounded(money_commission(3, 50000000), ROUND_HALF_EVEN), 2);
    ck_assert_int_eq(rounded(money_commission(3, 50000000), ROUND_HALF_UP), 2);
    ck_assert_int_eq(rounded(money_commission(-3, 50000000), ROUND_HALF_EVEN), -2);
    ck_assert_int_eq(rounded(money_commission(-3, 50000000), ROUND_HALF_UP), -2);
    ck_assert_int_eq(rounded(money_commission(-5, 50000000), ROUND_HALF_EVEN), -2);
    ck_assert_int_eq(rounded(money_commission(-5, 50000000), ROUND_HALF_UP), -3);

    /* 0.000001% of 1 cent: the smallest non-zero exact commission. */
    ck_assert(money_commission(1, 1) == 1);
    ck_assert_int_eq(rounded(1, ROUND_HALF_UP), 0);
    /* JPY 999 at 15% = 149.85 yen -> 150. */
    ck_assert_int_eq(rounded(money_commission(999, 15000000), ROUND_HALF_EVEN), 150);

    /* The product of the extremes still fits money_exact. */
    x = money_commission(INT64_MIN, INT64_MIN);
    ck_assert(x == (money_exact)((unsigned __int128)1 << 126));
    x = money_commission(INT64_MAX, 100000000);
    ck_assert_int_eq(rounded(x, ROUND_HALF_EVEN), INT64_MAX);
}
END_TEST

START_TEST(test_round_ties)
{
    const money_exact S = MONEY_EXACT_SCALE, H = MONEY_EXACT_SCALE / 2;
    const money_exact ties[] = {H, S + H, 2 * S + H, -H, -(2 * S + H),
                                3 * S + H, -(S + H)};
    const int64_t even[] = {0, 2, 2, 0, -2, 4, -2};
    const int64_t up[] = {1, 2, 3, -1, -3, 4, -2};

    for (size_t i = 0; i < sizeof(ties) / sizeof(ties[0]); i++) {
        ck_assert_int_eq(rounded(ties[i], ROUND_HALF_EVEN), even[i]);
        ck_assert_int_eq(rounded(ties[i], ROUND_HALF_UP), up[i]);
    }
    /* Next to the tie, both modes agree. */
    ck_assert_int_eq(rounded(H - 1, ROUND_HALF_UP), 0);
    ck_assert_int_eq(rounded(H + 1, ROUND_HALF_EVEN), 1);
    ck_assert_int_eq(rounded(-H - 1, ROUND_HALF_EVEN), -1);
    ck_assert_int_eq(rounded(-H + 1, ROUND_HALF_UP), 0);
    ck_assert_int_eq(rounded(-S - H + 1, ROUND_HALF_UP), -1);
    ck_assert_int_eq(rounded(2 * S + H + 1, ROUND_HALF_EVEN), 3);
    ck_assert_int_eq(rounded(0, ROUND_HALF_EVEN), 0);
    ck_assert_int_eq(rounded(-7 * S, ROUND_HALF_UP), -7);
}
END_TEST

START_TEST(test_round_limits)
{
    const money_exact S = MONEY_EXACT_SCALE, H = MONEY_EXACT_SCALE / 2;
    const money_exact top = (money_exact)INT64_MAX * S;
    const money_exact bottom = (money_exact)INT64_MIN * S;
    int64_t o = 42;

    ck_assert_int_eq(rounded(top + H - 1, ROUND_HALF_UP), INT64_MAX);
    ck_assert_int_eq(money_round(top + H, ROUND_HALF_UP, &o), -1);
    /* INT64_MAX is odd, so half-even also leaves the range. */
    ck_assert_int_eq(money_round(top + H, ROUND_HALF_EVEN, &o), -1);
    ck_assert_int_eq(money_round(top + S, ROUND_HALF_EVEN, &o), -1);
    /* INT64_MIN is even: half-even keeps it, half-up leaves the range. */
    ck_assert_int_eq(rounded(bottom - H, ROUND_HALF_EVEN), INT64_MIN);
    ck_assert_int_eq(money_round(bottom - H, ROUND_HALF_UP, &o), -1);
    ck_assert_int_eq(money_round(bottom - S, ROUND_HALF_EVEN, &o), -1);
    ck_assert_int_eq(money_round(H, (money_rounding)7, &o), -1);
    ck_assert_int_eq(o, 42);
}
END_TEST

/* ---- exact values as stored text --------------------------------------- */

/* money_exact_parse is money_exact_format's inverse and nothing more: the
 * store keeps exact commissions as text that only format wrote, so any
 * other spelling means the row came from elsewhere. */
START_TEST(test_exact_text_round_trip)
{
    const money_exact max = (money_exact)(((unsigned __int128)1 << 127) - 1);
    const money_exact min = -max - 1;
    const money_exact values[] = {0, 1, -1, 9, 10, -10, 12562500000, -12562500000,
                                  (money_exact)INT64_MAX * MONEY_EXACT_SCALE,
                                  (money_exact)INT64_MIN * MONEY_EXACT_SCALE,
                                  (money_exact)((unsigned __int128)1 << 126), max, min};
    char buf[64], again[64];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        money_exact x = 42;
        int n = money_exact_format(values[i], buf, sizeof(buf));

        ck_assert_int_gt(n, 0);
        ck_assert_msg(money_exact_parse(buf, &x) == 0, "\"%s\", written by format, refused", buf);
        ck_assert_msg(x == values[i], "\"%s\" parsed to another value", buf);
        ck_assert_int_eq(money_exact_format(x, again, sizeof(again)), n);
        ck_assert_str_eq(again, buf);
    }
    ck_assert_int_eq(money_exact_format(min, buf, sizeof(buf)), 40);
    ck_assert_str_eq(buf, "-170141183460469231731687303715884105728");
    /* Past 64 bits the digits go nineteen at a time: the zeros inside a
     * group, and the groups' boundaries, are written too. */
    {
        const unsigned __int128 e19 = 10000000000000000000u;
        static const struct {
            unsigned __int128 v;
            int neg;
            const char *text;
        } exact_texts[] = {
            {(unsigned __int128)UINT64_MAX, 0, "18446744073709551615"},
            {(unsigned __int128)UINT64_MAX + 1, 0, "18446744073709551616"},
            {(unsigned __int128)UINT64_MAX + 1, 1, "-18446744073709551616"},
            {e19 * e19, 0, "100000000000000000000000000000000000000"},
            {e19 * e19 + 1, 1, "-100000000000000000000000000000000000001"},
            {e19 * 7 + 5, 0, "70000000000000000005"},
        };
        for (size_t i = 0; i < sizeof(exact_texts) / sizeof(exact_texts[0]); i++) {
            money_exact x = (money_exact)exact_texts[i].v;
            if (exact_texts[i].neg)
                x = -x;
            ck_assert_int_eq(money_exact_format(x, buf, sizeof(buf)),
                             (int)strlen(exact_texts[i].text));
            ck_assert_str_eq(buf, exact_texts[i].text);
        }
    }
}
END_TEST

START_TEST(test_exact_text_refuses_other_spellings)
{
    static const char *const bad[] = {
        "", "-", "-0", "00", "007", "-007", "0000000000", "+1", " 1", "1 ", "1a", "1.5",
        "1e3", "--1", "0x10", "\xEF\xBC\x91", /* FULLWIDTH DIGIT ONE */
        "170141183460469231731687303715884105728",   /* 2^127 */
        "-170141183460469231731687303715884105729",  /* -2^127 - 1 */
        "999999999999999999999999999999999999999999999999",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        money_exact x = 777;
        ck_assert_msg(money_exact_parse(bad[i], &x) == -1, "\"%s\" was accepted", bad[i]);
        ck_assert_msg(x == 777, "\"%s\": *out changed on failure", bad[i]);
    }
    ck_assert_int_eq(money_exact_parse(NULL, NULL), -1);
}
END_TEST

/* ---- share_exact ------------------------------------------------------ */

#define S_ ((money_exact)MONEY_EXACT_SCALE)

static void check_shares(const money_exact *exact, const int64_t *out, size_t n,
                         int64_t total)
{
    money_exact sum = 0;

    for (size_t i = 0; i < n; i++) {
        money_exact d = (money_exact)out[i] * S_ - exact[i];

        ck_assert_msg(d > -S_ && d < S_, "share %zu is a unit or more off", i);
        sum += out[i];
    }
    ck_assert_msg(sum == total, "shares do not sum to the total");
}

/* The obvious O(n x k) largest remainder, as an oracle: k times, take the
 * largest key not yet taken, the earliest on a tie. */
static void reference_pick(const uint64_t *key, size_t n, size_t k, int *taken)
{
    memset(taken, 0, n * sizeof(*taken));
    for (size_t r = 0; r < k; r++) {
        size_t best = n;

        for (size_t i = 0; i < n; i++)
            if (!taken[i] && (best == n || key[i] > key[best]))
                best = i;
        taken[best] = 1;
    }
}

/* Compare money_share_exact with the oracle; 0 when they agree. */
static int share_matches_reference(int64_t total, const money_exact *exact,
                                   size_t n, const int64_t *out)
{
    uint64_t key[64];
    money_exact floor_[64], sum = 0;
    int taken[64];

    for (size_t i = 0; i < n; i++) {
        money_exact q = exact[i] / S_, r = exact[i] % S_;

        if (r < 0) {
            q--;
            r += S_;
        }
        floor_[i] = q;
        key[i] = (uint64_t)r;
        sum += q;
    }
    reference_pick(key, n, (size_t)(total - sum), taken);
    for (size_t i = 0; i < n; i++)
        if (out[i] != floor_[i] + taken[i])
            return -1;
    return 0;
}

/* Exact values on both sides of 64 bits: the floors and remainders of
 * those that fit are taken in 64-bit arithmetic, the others in 128; both
 * must agree with the oracle, negative values and INT64_MIN included. */
START_TEST(test_share_across_64_bits)
{
    money_exact exact[] = {(money_exact)INT64_MAX,     (money_exact)INT64_MIN,
                           (money_exact)INT64_MAX - 1, (money_exact)INT64_MAX + 1,
                           (money_exact)INT64_MIN - 1, -1,
                           -S_ + 1,                    -S_,
                           12345,                      (money_exact)INT64_MIN + 1};
    const size_t n = sizeof(exact) / sizeof(exact[0]);
    int64_t out[sizeof(exact) / sizeof(exact[0])];
    money_exact floors = 0;

    for (size_t i = 0; i < n; i++) {
        money_exact q = exact[i] / S_, r = exact[i] % S_;
        floors += r < 0 ? q - 1 : q;
    }
    for (int64_t k = 0; k <= 4; k++) {
        int64_t total = (int64_t)floors + k;
        ck_assert_int_eq(money_share_exact(total, exact, n, out), 0);
        ck_assert_int_eq(share_matches_reference(total, exact, n, out), 0);
        check_shares(exact, out, n, total);
    }
}
END_TEST

START_TEST(test_share_three_thirds)
{
    /* 10,000.00 paid over three lines of a third each: floors lose a cent
     * that must go to exactly one line, the first on a tie. */
    const money_exact third = (money_exact)33333333333333; /* 333333.33333333 */
    money_exact exact[3] = {third, third, third};
    money_exact sum = 3 * third;
    int64_t out[3], total;

    ck_assert_int_eq(money_round(sum, ROUND_HALF_EVEN, &total), 0);
    ck_assert_int_eq(total, 1000000);
    ck_assert_int_eq(money_share_exact(total, exact, 3, out), 0);
    ck_assert_int_eq(out[0], 333334);
    ck_assert_int_eq(out[1], 333333);
    ck_assert_int_eq(out[2], 333333);
    check_shares(exact, out, 3, total);
}
END_TEST

START_TEST(test_share_largest_remainder)
{
    /* 3333.33, 3333.33, 3333.34 at 10%: 333.333, 333.333, 333.334; the
     * missing cent goes to the largest fraction, the last line. */
    money_exact exact[3] = {money_commission(333333, 10000000),
                            money_commission(333333, 10000000),
                            money_commission(333334, 10000000)};
    int64_t out[3];

    ck_assert_int_eq(money_share_exact(100000, exact, 3, out), 0);
    ck_assert_int_eq(out[0], 33333);
    ck_assert_int_eq(out[1], 33333);
    ck_assert_int_eq(out[2], 33334);
    check_shares(exact, out, 3, 100000);
}
END_TEST

START_TEST(test_share_negatives)
{
    /* 150.7, -20.3, 5.5, -0.2 cents. Floors toward minus infinity are 150,
     * -21, 5, -1 with fractions .7, .7, .5, .8; the sum 135.7 rounds to
     * 136, three units over the floors: to .8, then the two .7s. */
    money_exact exact[4] = {15070000000, -2030000000, 550000000, -20000000};
    int64_t out[4];

    ck_assert_int_eq(money_share_exact(136, exact, 4, out), 0);
    ck_assert_int_eq(out[0], 151);
    ck_assert_int_eq(out[1], -20);
    ck_assert_int_eq(out[2], 5);
    ck_assert_int_eq(out[3], 0);
    check_shares(exact, out, 4, 136);

    /* With a total of 135 the .7 tie goes to the earlier line; with 134
     * only the .8 gets a unit. */
    ck_assert_int_eq(money_share_exact(135, exact, 4, out), 0);
    ck_assert_int_eq(out[0], 151);
    ck_assert_int_eq(out[1], -21);
    ck_assert_int_eq(out[2], 5);
    ck_assert_int_eq(out[3], 0);
    ck_assert_int_eq(money_share_exact(134, exact, 4, out), 0);
    ck_assert_int_eq(out[0], 150);
    ck_assert_int_eq(out[1], -21);
    ck_assert_int_eq(out[2], 5);
    ck_assert_int_eq(out[3], 0);

    /* A clawback line bigger than the rest: a negative payout. */
    {
        money_exact e2[2] = {-75 * S_ - S_ / 4, 20 * S_ + S_ / 2}; /* -75.25, 20.5 */
        int64_t o2[2];

        ck_assert_int_eq(money_share_exact(-55, e2, 2, o2), 0); /* -54.75 */
        ck_assert_int_eq(o2[0], -75);
        ck_assert_int_eq(o2[1], 20);
        check_shares(e2, o2, 2, -55);
    }
}
END_TEST

START_TEST(test_share_many_lines)
{
    /* 64 lines with fractions from .5 to .95: about 46 units to hand out,
     * more than the cut's pass-by-pass search takes on, so this exercises
     * the binary search and its ties. */
    money_exact exact[64], sum = 0;
    int64_t out[64], total;

    for (size_t i = 0; i < 64; i++) {
        exact[i] = (money_exact)((int64_t)i - 30) * S_ + S_ / 2 + (money_exact)(i % 10) * (S_ / 20);
        sum += exact[i];
    }
    ck_assert_int_eq(money_round(sum, ROUND_HALF_EVEN, &total), 0);
    ck_assert_int_eq(money_share_exact(total, exact, 64, out), 0);
    check_shares(exact, out, 64, total);
    ck_assert_int_eq(share_matches_reference(total, exact, 64, out), 0);
    /* One unit fewer: the last .5 tie loses it. */
    ck_assert_int_eq(money_share_exact(total - 1, exact, 64, out), 0);
    ck_assert_int_eq(share_matches_reference(total - 1, exact, 64, out), 0);
}
END_TEST

START_TEST(test_share_refuses)
{
    money_exact exact[3] = {S_ / 3, S_ / 3, S_ / 3};
    money_exact whole[2] = {5 * S_, -2 * S_};
    money_exact top[2] = {(money_exact)INT64_MAX * S_ + S_ * 9 / 10, -S_ + S_ / 10};
    money_exact huge[1] = {(money_exact)INT64_MAX * S_ * 4};
    int64_t out[3] = {7, 8, 9};

    ck_assert_int_eq(money_share_exact(4, exact, 3, out), -1);  /* > n over */
    ck_assert_int_eq(money_share_exact(-1, exact, 3, out), -1); /* below floors */
    ck_assert_int_eq(money_share_exact(1, NULL, 3, out), -1);
    /* The floors are INT64_MAX and -1; the unit would go to INT64_MAX. */
    ck_assert_int_eq(money_share_exact(INT64_MAX, top, 2, out), -1);
    ck_assert_int_eq(money_share_exact(0, huge, 1, out), -1);
    ck_assert_int_eq(out[0], 7);
    ck_assert_int_eq(out[1], 8);
    ck_assert_int_eq(out[2], 9);

    ck_assert_int_eq(money_share_exact(3, exact, 3, out), 0); /* n over: allowed */
    ck_assert_int_eq(out[0] + out[1] + out[2], 3);
    ck_assert_int_eq(money_share_exact(3, whole, 2, out), 0);
    ck_assert_int_eq(out[0], 5);
    ck_assert_int_eq(out[1], -2);
    ck_assert_int_eq(money_share_exact(0, NULL, 0, NULL), 0);
    ck_assert_int_eq(money_share_exact(1, NULL, 0, NULL), -1);
}
END_TEST

/* ---- allocate --------------------------------------------------------- */

#define ALLOC_IS(total, n, ...)                                             \
    do {                                                                    \
        const int64_t w_[] = {__VA_ARGS__};                                 \
        int64_t o_[n];                                                      \
        ck_assert_int_eq(money_allocate((total), w_, (n), o_), 0);          \
        for (size_t i_ = 0; i_ < (n); i_++)                                 \
            ck_assert_msg(o_[i_] == want_[i_], "share %zu is %lld, want "   \
                          "%lld", i_, (long long)o_[i_],                    \
                          (long long)want_[i_]);                            \
    } while (0)

START_TEST(test_allocate_examples)
{
    {
        const int64_t want_[] = {333334, 333333, 333333};
        ALLOC_IS(1000000, 3, 1, 1, 1);
    }
    {
        const int64_t want_[] = {-333334, -333333, -333333};
        ALLOC_IS(-1000000, 3, 1, 1, 1);
    }
    {
        /* 101/6: 16.83, 33.67, 50.5; remainders 5, 4, 3 take 2 units. */
        const int64_t want_[] = {17, 34, 50};
        ALLOC_IS(101, 3, 1, 2, 3);
    }
    {
        /* 1.25 and 3.75: the later line has the larger remainder. */
        const int64_t want_[] = {1, 4};
        ALLOC_IS(5, 2, 1, 3);
    }
    {
        const int64_t want_[] = {-1, -4};
        ALLOC_IS(-5, 2, 1, 3);
    }
    {
        const int64_t want_[] = {15, 15, 14, 14, 14, 14, 14};
        ALLOC_IS(100, 7, 1, 1, 1, 1, 1, 1, 1);
    }
    {
        const int64_t want_[] = {0, 100, 0};
        ALLOC_IS(100, 3, 0, 7, 0);
    }
    {
        const int64_t want_[] = {0, 0};
        ALLOC_IS(0, 2, 3, 4);
    }
    {
        const int64_t want_[] = {INT64_MIN / 2, INT64_MIN / 2};
        ALLOC_IS(INT64_MIN, 2, 1, 1);
    }
    {
        const int64_t want_[] = {INT64_MIN};
        ALLOC_IS(INT64_MIN, 1, 5);
    }
    {
        const int64_t want_[] = {INT64_MAX / 2 + 1, INT64_MAX / 2};
        ALLOC_IS(INT64_MAX, 2, 1, 1);
    }
    {
        const int64_t want_[] = {INT64_MAX - 1, 1};
        ALLOC_IS(INT64_MAX, 2, INT64_MAX - 1, 1);
    }
}
END_TEST

START_TEST(test_allocate_many_lines)
{
    int64_t w[100], out[100];

    /* 1050 over 100 equal weights: 10 each and 50 leftover units, all
     * tied, so they go to the first 50 lines. */
    for (size_t i = 0; i < 100; i++)
        w[i] = 1;
    ck_assert_int_eq(money_allocate(1050, w, 100, out), 0);
    for (size_t i = 0; i < 100; i++)
        ck_assert_int_eq(out[i], i < 50 ? 11 : 10);
    ck_assert_int_eq(money_allocate(-1050, w, 100, out), 0);
    for (size_t i = 0; i < 100; i++)
        ck_assert_int_eq(out[i], i < 50 ? -11 : -10);

    /* Weights 1, 2, 3, 1, 2, 3, ... (W = 199): remainders 37x mod 199. */
    for (size_t i = 0; i < 100; i++)
        w[i] = (int64_t)(i % 3) + 1;
    ck_assert_int_eq(money_allocate(37, w, 100, out), 0);
    {
        int64_t sum = 0;

        for (size_t i = 0; i < 100; i++) {
            /* Each 37 x w / 199 is below 1: shares are 0 or 1, to the
             * 37 largest remainders, which are the w = 3 lines (33 of
             * them) then the first four w = 2 lines. */
            int64_t want = w[i] == 3 || (w[i] == 2 && i < 3 * 4) ? 1 : 0;

            ck_assert_msg(out[i] == want, "line %zu (w %lld): %lld", i,
                          (long long)w[i], (long long)out[i]);
            sum += out[i];
        }
        ck_assert_int_eq(sum, 37);
    }
}
END_TEST

START_TEST(test_allocate_refuses)
{
    const int64_t zeros[3] = {0, 0, 0};
    const int64_t negative[3] = {1, -1, 2};
    const int64_t too_big[2] = {INT64_MAX, 1};
    const int64_t one[1] = {1};
    int64_t out[3] = {7, 8, 9};

    ck_assert_int_eq(money_allocate(100, zeros, 3, out), -1);
    ck_assert_int_eq(money_allocate(100, negative, 3, out), -1);
    ck_assert_int_eq(money_allocate(100, too_big, 2, out), -1);
    ck_assert_int_eq(money_allocate(100, one, 0, out), -1);
    ck_assert_int_eq(money_allocate(100, NULL, 1, out), -1);
    ck_assert_int_eq(money_allocate(100, one, 1, NULL), -1);
    ck_assert_int_eq(out[0], 7);
    ck_assert_int_eq(out[1], 8);
    ck_assert_int_eq(out[2], 9);
}
END_TEST

/* ---- randomized properties -------------------------------------------- */

/* xorshift64*: fixed seed, so a failure reproduces exactly; rand() would
 * differ between C libraries. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

/* Small, medium, full-range and boundary values in equal measure: most
 * bugs live near zero or near the limits, not in the middle. */
static int64_t random_amount(void)
{
    static const int64_t edges[] = {0, 1, -1, INT64_MAX, INT64_MIN,
                                    INT64_MAX - 1, INT64_MIN + 1, 99, -100};
    uint64_t r = rng();

    switch (r % 4) {
    case 0:
        return (int64_t)(rng() % 20001) - 10000;
    case 1:
        return (int64_t)(rng() >> 20) * ((r >> 8) & 1 ? -1 : 1);
    case 2:
        return (int64_t)rng();
    default:
        return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    }
}

static int64_t random_weight(void)
{
    uint64_t r = rng();

    switch (r % 4) {
    case 0:
        return 0;
    case 1:
        return (int64_t)(rng() % 10) + 1;
    case 2:
        return (int64_t)(rng() % 1000000) + 1;
    default:
        return (int64_t)(rng() >> 8); /* up to 2^56: 12 of them fit int64 */
    }
}

/* The oracle for money_allocate, on the magnitude as documented. */
static int allocate_matches_reference(int64_t total, const int64_t *w, size_t n,
                                      const int64_t *out)
{
    unsigned __int128 mag = total < 0 ? (unsigned __int128)(-(__int128)total)
                                      : (unsigned __int128)total;
    unsigned __int128 wsum = 0, given = 0, q[12];
    uint64_t key[12];
    int taken[12];

    for (size_t i = 0; i < n; i++)
        wsum += (uint64_t)w[i];
    for (size_t i = 0; i < n; i++) {
        q[i] = mag * (uint64_t)w[i] / wsum;
        key[i] = (uint64_t)(mag * (uint64_t)w[i] % wsum);
        given += q[i];
    }
    reference_pick(key, n, (size_t)(mag - given), taken);
    for (size_t i = 0; i < n; i++) {
        __int128 want = (__int128)(q[i] + (unsigned)taken[i]);

        if ((total < 0 ? -want : want) != out[i])
            return -1;
    }
    return 0;
}

START_TEST(test_random_properties)
{
    const long cases = 1000000;
    char buf[32];

    rng_state = 0x9E3779B97F4A7C15u;
    for (long c = 0; c < cases; c++) {
        int64_t x = random_amount(), back = 0;
        int exponent = (int)(rng() % (MONEY_MAX_EXPONENT + 1));
        int len = money_format(x, exponent, buf, sizeof(buf));
        int64_t weights[12], out[12];
        size_t n = 1 + (size_t)(rng() % 12);
        int64_t total = random_amount();
        __int128 wsum = 0, sum = 0;

        /* Plain if + ck_abort: ck_assert marks a point through a pipe on
         * every call, which would dominate a million iterations. */
        if (len <= 0 || money_parse(buf, (size_t)len, exponent, &back, NULL) != 0 ||
            back != x)
            ck_abort_msg("round trip of %lld at exponent %d: \"%s\" -> %lld",
                         (long long)x, exponent, buf, (long long)back);

        /* One case in eight has equal weights: every remainder ties. */
        int equal = rng() % 8 == 0;

        for (size_t i = 0; i < n; i++) {
            weights[i] = equal ? 1 : random_weight();
            wsum += weights[i];
        }
        if (wsum == 0) {
            weights[rng() % n] = 1;
            wsum = 1;
        }
        if (money_allocate(total, weights, n, out) != 0)
            ck_abort_msg("case %ld: allocate of %lld over %zu weights failed", c,
                         (long long)total, n);
        for (size_t i = 0; i < n; i++) {
            /* |share x W - total x w| < W, all in exact integers. */
            __int128 d = (__int128)out[i] * wsum - (__int128)total * weights[i];

            if (d <= -wsum || d >= wsum)
                ck_abort_msg("case %ld: share %zu = %lld is not within one unit "
                             "of %lld x %lld / W", c, i, (long long)out[i],
                             (long long)total, (long long)weights[i]);
            sum += out[i];
        }
        if (sum != total)
            ck_abort_msg("case %ld: shares of %lld sum to something else", c,
                         (long long)total);
        if (allocate_matches_reference(total, weights, n, out) != 0)
            ck_abort_msg("case %ld: not the largest-remainder allocation", c);
    }
}
END_TEST

START_TEST(test_random_share_exact)
{
    const long cases = 200000;

    rng_state = 0x2545F4914F6CDD1Du;
    for (long c = 0; c < cases; c++) {
        money_exact exact[12], sum = 0, d;
        int64_t out[12], total, acc = 0;
        size_t n = 1 + (size_t)(rng() % 12);
        money_rounding mode = (money_rounding)(rng() % 2);

        for (size_t i = 0; i < n; i++) {
            /* Commissions of random lines at random rates, up to 100%. */
            int64_t amount = (int64_t)(rng() >> (rng() % 2 ? 24 : 48)) *
                             (rng() % 3 == 0 ? -1 : 1);
            int64_t rate = (int64_t)(rng() % 100000001);

            exact[i] = money_commission(amount, rate);
            sum += exact[i];
        }
        if (money_round(sum, mode, &total) != 0)
            ck_abort_msg("case %ld: round failed", c);
        if (money_share_exact(total, exact, n, out) != 0)
            ck_abort_msg("case %ld: share of %lld over %zu lines failed", c,
                         (long long)total, n);
        for (size_t i = 0; i < n; i++) {
            d = (money_exact)out[i] * S_ - exact[i];
            if (d <= -S_ || d >= S_)
                ck_abort_msg("case %ld: share %zu is a unit or more off", c, i);
            acc += out[i];
        }
        if (acc != total)
            ck_abort_msg("case %ld: shares sum to %lld, not %lld", c,
                         (long long)acc, (long long)total);
        if (share_matches_reference(total, exact, n, out) != 0)
            ck_abort_msg("case %ld: not the largest-remainder shares", c);
    }
}
END_TEST

Suite *money_suite(void)
{
    Suite *s = suite_create("money");
    TCase *tc;

    tc = tcase_create("currency");
    tcase_add_test(tc, test_currency_find_known);
    tcase_add_test(tc, test_currency_table_sorted_and_complete);
    tcase_add_test(tc, test_currency_find_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_good);
    tcase_add_test(tc, test_parse_reads_only_len);
    tcase_add_test(tc, test_parse_bad_grammar);
    tcase_add_test(tc, test_parse_too_many_decimals);
    tcase_add_test(tc, test_parse_out_of_range);
    tcase_add_test(tc, test_parse_message_escapes_text);
    tcase_add_test(tc, test_parse_null_err_and_bad_exponent);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_format_values);
    tcase_add_test(tc, test_format_small_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("overflow");
    tcase_add_test(tc, test_overflow_add_sub_mul);
    tcase_add_test(tc, test_overflow_exact_add);
    tcase_add_test(tc, test_overflow_parse_limit);
    tcase_add_test(tc, test_exact_text_round_trip);
    tcase_add_test(tc, test_exact_text_refuses_other_spellings);
    suite_add_tcase(s, tc);

    tc = tcase_create("rate");
    tcase_add_test(tc, test_rate_parse);
    tcase_add_test(tc, test_rate_format);
    suite_add_tcase(s, tc);

    tc = tcase_create("commission");
    tcase_add_test(tc, test_commission_hand_worked);
    tcase_add_test(tc, test_round_ties);
    tcase_add_test(tc, test_round_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("share_exact");
    tcase_add_test(tc, test_share_three_thirds);
    tcase_add_test(tc, test_share_across_64_bits);
    tcase_add_test(tc, test_share_largest_remainder);
    tcase_add_test(tc, test_share_negatives);
    tcase_add_test(tc, test_share_many_lines);
    tcase_add_test(tc, test_share_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("allocate");
    tcase_add_test(tc, test_allocate_examples);
    tcase_add_test(tc, test_allocate_many_lines);
    tcase_add_test(tc, test_allocate_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_random_properties);
    tcase_add_test(tc, test_random_share_exact);
    suite_add_tcase(s, tc);

    return s;
}
