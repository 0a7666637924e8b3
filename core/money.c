/*
 * money.c: exact money for payrun. Amounts are int64_t minor units, rates
 * are millionths of a percent, and line commissions are kept exact in
 * __int128 at 10^8 of the minor unit until they are rounded once per
 * payout. Text is parsed by hand to a strict grammar, because the usual C
 * parsers (strtol, strtod, sscanf) accept spaces, '+', exponents, hex and
 * locale quirks that must never turn into a payment. Every operation that
 * could wrap is checked with the compiler's overflow builtins instead.
 * Nothing here allocates.
 */
#include "money.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "payrun/plugin.h"

/*
 * ISO 4217 List One as published on 2026-01-01, sorted by code for binary
 * search. Only codes with a minor unit are listed: the metals, SDR, bond
 * market units, XSU, XUA, XTS and XXX have "N.A." there and cannot carry
 * a payout. Withdrawn codes (ANG, BGN, CUC, HRK, SLL, ZWL, ...) are gone
 * from List One and are refused like any unknown code.
 */
static const currency currencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2},
    {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2},
    {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2},
    {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2},
    {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2},
    {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2},
    {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2},
    {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
    {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2},
    {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0},
    {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2},
    {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2},
    {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3},
    {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2},
    {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
    {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
    {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2},
    {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2},
    {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2},
    {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2},
    {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
    {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2},
    {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0},
    {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
    {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2},
    {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2},
    {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

#define NCURRENCIES (sizeof(currencies) / sizeof(currencies[0]))

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

const currency *currency_find(const char *code)
{
    size_t lo = 0, hi = NCURRENCIES;

    /* Short-circuit order matters: never read past a terminator. */
    if (code == NULL || !is_upper(code[0]) || !is_upper(code[1]) ||
        !is_upper(code[2]) || code[3] != '\0')
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(code, currencies[mid].code, 3);

        if (c == 0)
            return &currencies[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- formatting ------------------------------------------------------- */

/* Plain decimal with `exponent` (0..6) decimals; shared by amounts and
 * rates. */
static int format_scaled(int64_t v, int exponent, char *buf, size_t cap)
{
    char tmp[32];
    size_t n = 0, len;
    /* Unsigned negation: well defined for INT64_MIN, unlike -v. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    /* Digits backwards, at least one before the point. */
    do {
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag != 0 || n < (size_t)exponent + 1);
    len = (v < 0) + n + (exponent > 0);
    if (len + 1 > cap) {
        if (cap > 0)
            buf[0] = '\0';
        return -1;
    }
    {
        size_t o = 0;

        if (v < 0)
            buf[o++] = '-';
        for (size_t k = n; k > 0; k--) {
            if (exponent > 0 && k == (size_t)exponent)
                buf[o++] = '.';
            buf[o++] = tmp[k - 1];
        }
        buf[o] = '\0';
    }
    return (int)len;
}

int money_format(int64_t v, int exponent, char *buf, size_t cap)
{
    if (buf == NULL || exponent < 0 || exponent > MONEY_MAX_EXPONENT) {
        if (buf != NULL && cap > 0)
            buf[0] = '\0';
        return -1;
    }
    return format_scaled(v, exponent, buf, cap);
}

int rate_format(int64_t rate, char *buf, size_t cap)
{
    char tmp[32];
    int len = format_scaled(rate, 6, tmp, sizeof(tmp));

    while (len > 0 && tmp[len - 1] == '0')
        len--;
    if (len > 0 && tmp[len - 1] == '.')
        len--;
    if (buf == NULL || len < 0 || (size_t)len + 1 > cap) {
        if (buf != NULL && cap > 0)
            buf[0] = '\0';
        return -1;
    }
    memcpy(buf, tmp, (size_t)len);
    buf[len] = '\0';
    return len;
}

/* ---- parsing ---------------------------------------------------------- */

/*
 * Copy untrusted text into a message in quotable form: quotes, backslashes
 * and control bytes are escaped so a stray newline or NUL cannot forge a
 * second log line, and long text is cut (at a UTF-8 boundary) so one bad
 * cell cannot push the reason out of the message.
 */
static void quote_text(char *dst, size_t cap, const char *s, size_t len)
{
    const size_t shown_max = 48;
    size_t shown = len < shown_max ? len : shown_max;
    size_t o = 0;

    if (shown < len)
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    for (size_t i = 0; i < shown && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7F) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02X", c);
        } else {
            dst[o++] = (char)c;
        }
    }
    if (shown < len && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

static int is_space_at(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];

    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return 1;
    /* Spreadsheets paste U+00A0, U+2009 and U+202F as digit grouping. */
    if (c == 0xC2)
        return i + 1 < len && (unsigned char)s[i + 1] == 0xA0;
    return c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
           ((unsigned char)s[i + 2] == 0x89 || (unsigned char)s[i + 2] == 0xAF);
}

/* '$' and the UTF-8 forms of the other usual currency signs: U+00A2..A5
 * (cent, pound, currency sign, yen) and the U+20A0..U+20CF block. */
static int is_currency_sign_at(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    unsigned char c1 = i + 1 < len ? (unsigned char)s[i + 1] : 0;
    unsigned char c2 = i + 2 < len ? (unsigned char)s[i + 2] : 0;

    if (c == '$')
        return 1;
    if (c == 0xC2 && c1 >= 0xA2 && c1 <= 0xA5)
        return 1;
    return c == 0xE2 && ((c1 == 0x82 && c2 >= 0xA0) ||
                         (c1 == 0x83 && c2 >= 0x80 && c2 <= 0x8F));
}

/* A currency code written into the number, as in "100USD" or "EUR5". */
static int has_currency_code(const char *s, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++) {
        char code[4];

        if (!is_upper(s[i]) || !is_upper(s[i + 1]) || !is_upper(s[i + 2]))
            continue;
        if ((i > 0 && is_upper(s[i - 1])) || (i + 3 < len && is_upper(s[i + 3])))
            continue;
        memcpy(code, s + i, 3);
        code[3] = '\0';
        if (currency_find(code) != NULL)
            return 1;
    }
    return 0;
}

/* Grouped like 1,234,567 (optionally -, optionally .decimals): then the
 * writer meant thousands separators and we can say what to write instead.
 * Anything else with a comma may be a decimal comma, and guessing which
 * would risk a factor of 1000. */
static int is_thousands_grouping(const char *s, size_t len)
{
    size_t i = 0, lead = 0, groups = 0;

    if (i < len && s[i] == '-')
        i++;
    while (i < len && is_digit(s[i])) {
        i++;
        lead++;
    }
    if (lead < 1 || lead > 3)
        return 0;
    while (i < len && s[i] == ',') {
        if (len - i < 4 || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) ||
            !is_digit(s[i + 3]))
            return 0;
        i += 4;
        groups++;
    }
    if (i < len && is_digit(s[i]))
        return 0;
    if (groups == 0)
        return 0;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len)
            return 0;
        while (i < len && is_digit(s[i]))
            i++;
    }
    return i == len;
}

/* Scientific notation such as 1e3, 1.5E-2, 2e+6. */
static int is_exponent_notation(const char *s, size_t len)
{
    int seen_e = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (c == 'e' || c == 'E') {
            if (seen_e || i == 0 || !(is_digit(s[i - 1]) || s[i - 1] == '.'))
                return 0;
            seen_e = 1;
        } else if (!is_digit(c) && c != '.' && c != '-' && c != '+') {
            return 0;
        }
    }
    return seen_e;
}

/*
 * Report bad text as `bad amount "TEXT": REASON`. The quoting and
 * formatting only happen on failure and only when someone will read the
 * message, so the parser's happy path stays a single scan.
 */
static int bad(pr_err *err, const char *what, const char *s, size_t len,
               const char *fmt, ...) PR_PRINTF(5, 6);

static int bad(pr_err *err, const char *what, const char *s, size_t len,
               const char *fmt, ...)
{
    char q[256], reason[384];
    va_list ap;

    if (err == NULL)
        return -1;
    quote_text(q, sizeof(q), s, len);
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return pr_err_set(err, EXIT_DATAERR, "bad %s \"%s\": %s", what, q, reason);
}

/*
 * Text holding something other than digits, '.' and '-' is diagnosed by
 * its most likely cause (whitespace, '+', separators, symbols, notation)
 * before falling back to naming the first odd character, because "bad
 * character ','" helps nobody fix a CSV.
 */
static int diagnose_characters(const char *s, size_t len, int is_rate,
                               const char *what, pr_err *err)
{
    for (size_t k = 0; k < len; k++)
        if (is_space_at(s, len, k))
            return bad(err, what, s, len, "whitespace is not allowed; remove "
                       "the spaces");
    if (s[0] == '+')
        return bad(err, what, s, len, "a leading '+' is not allowed; write "
                   "the number without a sign");
    if (memchr(s, ',', len) != NULL) {
        char fixed[64];
        size_t o = 0;

        if (!is_thousands_grouping(s, len) || len >= sizeof(fixed))
            return bad(err, what, s, len, "',' is not allowed: no thousands "
                       "separators, and use '.' for decimals");
        for (size_t k = 0; k < len; k++)
            if (s[k] != ',')
                fixed[o++] = s[k];
        fixed[o] = '\0';
        return bad(err, what, s, len, "thousands separators are not allowed; "
                   "write %s", fixed);
    }
    if (is_rate && memchr(s, '%', len) != NULL)
        return bad(err, what, s, len, "'%%' is not allowed; write the "
                   "percentage as a plain number such as 12.5");
    for (size_t k = 0; k < len; k++)
        if (is_currency_sign_at(s, len, k))
            return bad(err, what, s, len, "currency symbols are not allowed; "
                       "write a plain number, the currency has its own column");
    if (has_currency_code(s, len))
        return bad(err, what, s, len, "a currency code is not allowed in the "
                   "number; the currency has its own column");
    if (is_exponent_notation(s, len))
        return bad(err, what, s, len, "exponent notation (e/E) is not allowed; "
                   "write all the digits");
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];

        if (is_digit((char)c) || c == '.' || c == '-')
            continue;
        if (c >= 0x21 && c < 0x7F)
            return bad(err, what, s, len, "unexpected character '%c'; write "
                       "digits with an optional leading '-' and one '.', such "
                       "as -1200.50", c);
        return bad(err, what, s, len, "unexpected byte 0x%02X; write digits "
                   "with an optional leading '-' and one '.', such as "
                   "-1200.50", c);
    }
    return bad(err, what, s, len, "not a number");
}

/*
 * The one decimal parser behind money_parse and rate_parse: at most
 * `scale` decimals, padded to exactly `scale`.
 */
static int parse_decimal(const char *s, size_t len, int scale, int is_rate,
                         int64_t *out, pr_err *err)
{
    const char *what = is_rate ? "rate" : "amount";
    const char *dot = NULL;
    size_t i = 0, int_digits, frac_digits, dot_at;
    int neg = 0;
    int64_t v = 0;

    if (s == NULL && len > 0)
        return pr_err_set(err, EXIT_SOFTWARE, "bad %s: no text given", what);
    if (len == 0)
        return bad(err, what, s, len, "empty value; write %s", is_rate ?
                   "a percentage such as 12.5" : "a number such as 0 or 1200.00");
    for (size_t k = 0; k < len; k++)
        if (!is_digit(s[k]) && s[k] != '.' && s[k] != '-')
            return diagnose_characters(s, len, is_rate, what, err);

    /* Only digits, '.' and '-' are left: check their arrangement. */
    if (s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (memchr(s + i, '-', len - i) != NULL)
        return bad(err, what, s, len, "a '-' sign is allowed only once, at the "
                   "start");
    if (neg && is_rate)
        return bad(err, what, s, len, "negative rates are not allowed; a rate "
                   "is a percentage from 0 to 100");
    dot = memchr(s + i, '.', len - i);
    dot_at = dot != NULL ? (size_t)(dot - s) : len;
    if (dot != NULL && memchr(dot + 1, '.', len - dot_at - 1) != NULL)
        return bad(err, what, s, len, "more than one decimal point");
    int_digits = dot_at - i;
    frac_digits = dot != NULL ? len - dot_at - 1 : 0;
    if (int_digits == 0 && frac_digits == 0)
        return bad(err, what, s, len, "no digits; write a number such as 0");
    /* The suggestions below echo raw text: safe, it is digits, '.', '-'. */
    if (int_digits == 0)
        return bad(err, what, s, len, "a digit is required before the decimal "
                   "point; write %s0%.*s", neg ? "-" : "", (int)(len - dot_at),
                   dot);
    if (dot != NULL && frac_digits == 0)
        return bad(err, what, s, len, "a digit is required after the decimal "
                   "point; write %.*s", (int)dot_at, s);
    if (frac_digits > (size_t)scale) {
        if (is_rate)
            return bad(err, what, s, len, "too many decimals (%zu); a rate "
                       "allows at most %d", frac_digits, scale);
        if (scale == 0)
            return bad(err, what, s, len, "decimals are not allowed; this "
                       "currency has no minor unit");
        return bad(err, what, s, len, "too many decimals (%zu); this currency "
                   "allows at most %d", frac_digits, scale);
    }

    /*
     * Accumulate toward the sign so that the most negative value is
     * reachable without ever negating it; the missing decimals are padded
     * in as zero digits through the same checked steps.
     */
    for (size_t k = i; k < len + ((size_t)scale - frac_digits); k++) {
        int d;

        if (dot != NULL && k == dot_at)
            continue;
        d = k < len ? s[k] - '0' : 0;
        if (__builtin_mul_overflow(v, 10, &v) ||
            (neg ? __builtin_sub_overflow(v, d, &v)
                 : __builtin_add_overflow(v, d, &v))) {
            char lim[32];

            if (is_rate)
                return bad(err, what, s, len, "over 100; a rate is a "
                           "percentage from 0 to 100");
            format_scaled(neg ? INT64_MIN : INT64_MAX, scale, lim, sizeof(lim));
            return bad(err, what, s, len, "out of range; the %s amount is %s",
                       neg ? "smallest" : "largest", lim);
        }
    }
    if (is_rate && v > 100 * (int64_t)PAYRUN_RATE_SCALE)
        return bad(err, what, s, len, "over 100; a rate is a percentage from 0 "
                   "to 100");
    if (out != NULL)
        *out = v;
    return 0;
}

int money_parse(const char *s, size_t len, int exponent, int64_t *out, pr_err *err)
{
    if (exponent < 0 || exponent > MONEY_MAX_EXPONENT)
        return pr_err_set(err, EXIT_SOFTWARE,
                          "internal error: currency exponent %d is outside "
                          "0..%d", exponent, MONEY_MAX_EXPONENT);
    return parse_decimal(s, len, exponent, 0, out, err);
}

int rate_parse(const char *s, size_t len, int64_t *out, pr_err *err)
{
    /* The grammar's decimals and PAYRUN_RATE_SCALE must stay in step. */
    _Static_assert(PAYRUN_RATE_SCALE == 1000000, "rate scale is 10^6");
    return parse_decimal(s, len, 6, 1, out, err);
}

/* ---- checked arithmetic ----------------------------------------------- */

int money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int money_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;

    if (__builtin_mul_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int money_exact_add(money_exact a, money_exact b, money_exact *out)
{
    money_exact r;

    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

/*
 * amount minor units x (rate / 10^6) percent / 100 = amount x rate / 10^8
 * minor units, so the bare product already is the commission at
 * MONEY_EXACT_SCALE = 10^8, with no division and so no rounding. |amount|
 * and |rate| are at most 2^63, so |product| <= 2^126 < 2^127.
 */
money_exact money_commission(int64_t amount, int64_t rate)
{
    return (money_exact)amount * rate;
}

int money_round(money_exact x, money_rounding mode, int64_t *out)
{
    /* C division truncates toward zero, so q and r share x's sign. */
    money_exact q = x / MONEY_EXACT_SCALE;
    money_exact r = x % MONEY_EXACT_SCALE;
    money_exact twice = r < 0 ? -2 * r : 2 * r;
    int away;

    if (mode != ROUND_HALF_EVEN && mode != ROUND_HALF_UP)
        return -1;
    if (twice > MONEY_EXACT_SCALE)
        away = 1;
    else if (twice < MONEY_EXACT_SCALE)
        away = 0;
    else
        away = mode == ROUND_HALF_UP || (q % 2 != 0);
    if (away)
        q += x < 0 ? -1 : 1;
    if (q > INT64_MAX || q < INT64_MIN)
        return -1;
    *out = (int64_t)q;
    return 0;
}

/* ---- largest remainder ------------------------------------------------ */

/*
 * Both sharing functions hand out k <= n single units to the lines with
 * the largest keys (remainders), ties to the earlier line. Sorting would
 * need a scratch array of indices; instead the chosen set is described by
 * a cut: the k-th line in (key descending, index ascending) order. A line
 * gets a unit when its key is above the cut's key, or equal to it at an
 * index no later than the cut's. Small k finds the cut by k passes of
 * "next largest"; large k by binary search over the key range. Either way
 * O(n x min(k, bits of the key range)), with no allocation.
 */
typedef uint64_t (*key_fn)(const void *ctx, size_t i);

typedef struct cut {
    int none;      /* k == 0: nobody gets a unit */
    uint64_t key;
    size_t last;
} cut;

static int gets_unit(const cut *c, uint64_t key, size_t i)
{
    return !c->none && (key > c->key || (key == c->key && i <= c->last));
}

static size_t count_at_least(const void *ctx, key_fn key, size_t n, uint64_t t)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += key(ctx, i) >= t;
    return c;
}

/* Needs k <= n and every key <= hi. */
static void find_cut(const void *ctx, key_fn key, size_t n, size_t k,
                     uint64_t hi, cut *c)
{
    size_t bits = 0, need;
    uint64_t lo = 0;

    c->none = k == 0;
    c->key = 0;
    c->last = 0;
    if (k == 0)
        return;
    for (uint64_t h = hi; h != 0; h >>= 1)
        bits++;
    if (k <= bits) {
        /* Each pass takes the largest line ordered after the last pick. */
        for (size_t r = 0; r < k; r++) {
            int found = 0;
            uint64_t best = 0;
            size_t at = 0;

            for (size_t i = 0; i < n; i++) {
                uint64_t v = key(ctx, i);

                if (r > 0 && !(v < c->key || (v == c->key && i > c->last)))
                    continue;
                if (!found || v > best) {
                    found = 1;
                    best = v;
                    at = i;
                }
            }
            c->key = best;
            c->last = at;
        }
        return;
    }
    /* T = the largest t with at least k keys >= t, i.e. the k-th key. */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2 + 1;

        if (count_at_least(ctx, key, n, mid) >= k)
            lo = mid;
        else
            hi = mid - 1;
    }
    c->key = lo;
    need = k - (lo == UINT64_MAX ? 0 : count_at_least(ctx, key, n, lo + 1));
    for (size_t i = 0; i < n; i++)
        if (key(ctx, i) == lo && --need == 0) {
            c->last = i;
            break;
        }
}

/* Floor division toward minus infinity, with the remainder in [0, SCALE). */
static void exact_floor(money_exact x, money_exact *fl, uint64_t *frac)
{
    money_exact q, r;

    if (x >= INT64_MIN && x <= INT64_MAX) {
        /* The usual case, in 64 bits: a 128-bit division is a library
         * call, and the largest-remainder passes take many floors. */
        const int64_t y = (int64_t)x, scale = MONEY_EXACT_SCALE;
        q = y / scale;
        r = y % scale;
    } else {
        q = x / MONEY_EXACT_SCALE;
        r = x % MONEY_EXACT_SCALE;
    }

    if (r < 0) {
        q -= 1;
        r += MONEY_EXACT_SCALE;
    }
    *fl = q;
    *frac = (uint64_t)r;
}

void money_exact_split(money_exact x, money_exact *floor, uint64_t *frac)
{
    exact_floor(x, floor, frac);
}

static uint64_t exact_frac_key(const void *ctx, size_t i)
{
    money_exact fl;
    uint64_t frac;

    exact_floor(((const money_exact *)ctx)[i], &fl, &frac);
    return frac;
}

int money_share_exact(int64_t total, const money_exact *exact, size_t n, int64_t *out)
{
    money_exact sum = 0, left;
    cut c;

    if (n > 0 && (exact == NULL || out == NULL))
        return -1;
    for (size_t i = 0; i < n; i++) {
        money_exact fl;
        uint64_t frac;

        exact_floor(exact[i], &fl, &frac);
        if (fl < INT64_MIN || fl > INT64_MAX || __builtin_add_overflow(sum, fl, &sum))
            return -1;
    }
    left = (money_exact)total - sum;
    if (left < 0 || left > (money_exact)n)
        return -1;
    find_cut(exact, exact_frac_key, n, (size_t)left, MONEY_EXACT_SCALE - 1, &c);

    /* A floor of INT64_MAX cannot take a unit; find out before writing so
     * that out[] is untouched on failure. */
    for (size_t i = 0; i < n; i++) {
        money_exact fl;
        uint64_t frac;

        exact_floor(exact[i], &fl, &frac);
        if (fl == INT64_MAX && gets_unit(&c, frac, i))
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        money_exact fl;
        uint64_t frac;

        exact_floor(exact[i], &fl, &frac);
        out[i] = (int64_t)fl + gets_unit(&c, frac, i);
    }
    return 0;
}

static uint64_t scratch_key(const void *ctx, size_t i)
{
    return (uint64_t)((const int64_t *)ctx)[i];
}

int money_allocate(int64_t total, const int64_t *weights, size_t n, int64_t *out)
{
    int64_t wsum = 0;
    /* Work on the magnitude so negative totals round toward zero too;
     * unsigned negation is defined for INT64_MIN. */
    uint64_t mag = total < 0 ? (uint64_t)0 - (uint64_t)total : (uint64_t)total;
    uint64_t given = 0;
    cut c;

    if (n == 0 || weights == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (weights[i] < 0 || __builtin_add_overflow(wsum, weights[i], &wsum))
            return -1;
    if (wsum == 0)
        return -1;

    /*
     * Nothing can fail from here on, so out[] doubles as the scratch array
     * for the remainders (each below wsum <= INT64_MAX). Products are below
     * 2^126 in unsigned __int128; the quotients sum to at most mag, and the
     * remainders to less than n x wsum, so fewer than n units are left.
     */
    for (size_t i = 0; i < n; i++) {
        unsigned __int128 p = (unsigned __int128)mag * (uint64_t)weights[i];

        given += (uint64_t)(p / (uint64_t)wsum);
        out[i] = (int64_t)(p % (uint64_t)wsum);
    }
    find_cut(out, scratch_key, n, (size_t)(mag - given), (uint64_t)wsum - 1, &c);
    for (size_t i = 0; i < n; i++) {
        unsigned __int128 p = (unsigned __int128)mag * (uint64_t)weights[i];
        uint64_t share = (uint64_t)(p / (uint64_t)wsum);

        share += (uint64_t)gets_unit(&c, (uint64_t)out[i], i);
        /* share <= mag <= 2^63, and 2^63 only for INT64_MIN, whose
         * negation through uint64 lands back on INT64_MIN. */
        out[i] = total < 0 ? (int64_t)((uint64_t)0 - share) : (int64_t)share;
    }
    return 0;
}

int money_exact_format(money_exact x, char *buf, size_t cap)
{
    char tmp[48];
    size_t n = 0, i;
    /* Work on the unsigned magnitude so the most negative value needs no
     * negation that would overflow. */
    unsigned __int128 m = x < 0 ? (unsigned __int128)0 - (unsigned __int128)x
                                : (unsigned __int128)x;

    /* Nineteen digits at a time by one 128-bit division, the rest in 64
     * bits: a digit per 128-bit division and remainder was a fifth of the
     * calculation's own time. */
    while (m > UINT64_MAX) {
        const uint64_t ten19 = 10000000000000000000u;
        uint64_t low = (uint64_t)(m % ten19);
        m /= ten19;
        for (int d = 0; d < 19; d++) {
            tmp[n++] = (char)('0' + (int)(low % 10));
            low /= 10;
        }
    }
    for (uint64_t v = (uint64_t)m;;) {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
        if (v == 0)
            break;
    }
    if (x < 0)
        tmp[n++] = '-';
    if (buf == NULL || cap < n + 1)
        return -1;
    for (i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return (int)n;
}

/*
 * The inverse of money_exact_format and nothing more: "0", or an optional
 * '-' and digits without a leading zero, within __int128 (its most negative
 * value included, which format can write). The one caller reads the exact
 * values of carried commission lines back from the store, where only
 * money_exact_format wrote them; "007" or "-0" there means the row was
 * written by something else, and the carry is refused rather than priced.
 */
int money_exact_parse(const char *s, money_exact *out)
{
    unsigned __int128 m = 0, limit = ((unsigned __int128)1 << 127) - 1;
    const char *p = s;
    int neg = 0;

    if (s == NULL)
        return -1;
    if (*p == '-') {
        neg = 1;
        limit += 1; /* -2^127 is a value; 2^127 is not */
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    if (*p == '0') {
        /* zero is "0": never "-0", and no number starts "00" or "01" */
        if (neg || p[1] != '\0')
            return -1;
        *out = 0;
        return 0;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (m > (limit - (unsigned __int128)(*p - '0')) / 10)
            return -1;
        m = m * 10 + (unsigned __int128)(*p - '0');
    }
    /* Through unsigned arithmetic: negating 2^127 as a signed value would
     * overflow. */
    *out = (money_exact)(neg ? (unsigned __int128)0 - m : m);
    return 0;
}
