/*
 * export_ledger.c: the accrual and payment journals of the payouts, in
 * ledger, hledger or beancount syntax (SPEC 5, 7).
 *
 * Accrual journal: every payout of the period that was not rejected becomes
 * one transaction dated the last day of the period, debiting the commission
 * expense and crediting the commissions payable for the payout amount; the
 * partner is the payee and the payout and partner ids ride along as
 * metadata. Payment journal: every paid payout of the period becomes one
 * transaction dated the day it was paid, debiting the payable and crediting
 * the bank, with the bank's reference as code and metadata; together the
 * two leave the payable at what is still owed. The
 * journal is written to pass each tool's strictest check, so it declares
 * everything it uses: the commodity, both accounts, every payee and every
 * metadata tag (ledger --pedantic --explicit --check-payees; hledger check
 * --strict plus payees and ordereddates), or, for beancount, opens the
 * accounts, declares the commodity, loads the pedantic plugins and sets the
 * balance tolerance to zero so that not even a fraction of a cent can go
 * unnoticed. No balance assertions: the file is meant to be included into
 * a main journal, where the payable account already has a history.
 *
 * Text from the batch (partner names, ids) is made safe for the syntax it
 * lands in: one line, no comment characters where a tool would start a
 * comment, quotes escaped in beancount strings, invalid UTF-8 replaced.
 * Amounts are formatted by the core. Nothing here reads a clock: the same
 * payouts give the same bytes.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

static const struct payrun_config_key keys[] = {
    {"format", PAYRUN_KEY_ENUM, 1, NULL, "journal syntax", "ledger|hledger|beancount", NULL},
    {"path", PAYRUN_KEY_PATH, 1, NULL, "journal file to write, under the output directory",
     NULL, NULL},
    {"expense_account", PAYRUN_KEY_STRING, 0, "Expenses:Commissions",
     "account debited with each payout", NULL, NULL},
    {"payable_account", PAYRUN_KEY_STRING, 0, "Liabilities:Commissions:Payable",
     "account credited with each accrued payout, and debited when it is paid", NULL, NULL},
    {"journal", PAYRUN_KEY_ENUM, 0, "accrual",
     "accrual: every payout not rejected, on the period's last day; payment: every paid "
     "payout, on its paid date",
     "accrual|payment", NULL},
    {"bank_account", PAYRUN_KEY_STRING, 0, "Assets:Bank:Operating",
     "account credited with each paid payout in the payment journal", NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

enum journal_format { FMT_LEDGER, FMT_HLEDGER, FMT_BEANCOUNT };

static const char *const format_names[] = {"ledger", "hledger", "beancount"};

/* How text from the batch is made safe; see put_text(). */
enum text_mode {
    TEXT_DESCRIPTION, /* ledger/hledger payee: no ';' or '|' */
    TEXT_TOKEN,       /* ledger/hledger code and tag value: one word */
    TEXT_QUOTED       /* inside a beancount "string": '"' and '\' escaped */
};

/* A name longer than this is a mistake rather than an account. */
#define ACCOUNT_MAX 200

struct buf {
    char *data;
    size_t len, cap;
    int failed; /* sticky: one check after a run of appends */
};

struct ledger_ctx {
    const struct payrun_host *host;
    payrun_stage *st; /* set for the duration of run() */
    int fmt;
    const char *path;
    const char *expense;
    const char *payable;
    const char *bank;
    int payment; /* journal: payment, else accrual */
    const char *org;
    const char *period;
    const char *currency;
    char first_day[11]; /* YYYY-MM-01: beancount opens accounts here */
    char last_day[11];  /* YYYY-MM-DD: every transaction's date */
    char open_day[11];  /* payment: the earlier of first_day and the first payment */
    int account_width;
    struct buf body;
    char **payees;
    size_t n_payees, cap_payees;
    int64_t n_txn, n_rejected, total;
    /* Payment journal: where each transaction sits in `body`, so they can
     * be written in date order (hledger's ordereddates check). */
    struct txn_slice *txns;
    size_t cap_txns;
    int64_t n_unpaid;
};

struct txn_slice {
    char date[11];
    size_t off, len;
};

/* ---- buffers --------------------------------------------------------------- */

static void buf_put(struct buf *b, const char *data, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) PAYRUN_PRINTF(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        buf_put(b, small, (size_t)n);
        return;
    }
    {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            b->failed = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_put(b, big, (size_t)n);
        free(big);
    }
}

/* ---- text ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*
 * Append `s` as one trimmed line with single spaces. Line breaks and other
 * control bytes become spaces (a newline would end the transaction early);
 * invalid UTF-8 becomes '?' (the tools refuse the whole file over one bad
 * byte). Then, per mode: ledger and hledger start a comment at ';' (hledger
 * anywhere, ledger after two spaces), and hledger cuts the payee at '|', so
 * a description gets ',' and '/' instead; a token (payout code, tag value)
 * also loses spaces, commas and parentheses, which end hledger tag values
 * and ledger codes; a beancount string keeps everything, escaped.
 */
static void put_text(struct buf *b, const char *s, int mode)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    int pending_space = 0;
    size_t start = b->len;

    while (*p) {
        size_t n = utf8_len(p);
        char c;

        if (n > 1) {
            if (pending_space)
                buf_put(b, " ", 1);
            pending_space = 0;
            buf_put(b, (const char *)p, n);
            p += n;
            continue;
        }
        c = n == 0 ? '?' : (char)*p;
        p++;
        if ((unsigned char)c < 0x20 || c == 0x7f)
            c = ' ';
        if (mode == TEXT_DESCRIPTION && c == ';')
            c = b->len > start ? ',' : ' '; /* a leading one is just dropped */
        else if (mode == TEXT_DESCRIPTION && c == '|')
            c = '/';
        else if (mode == TEXT_TOKEN && strchr(" ,;|()", c) != NULL)
            c = '_';
        if (c == ' ') {
            pending_space = b->len > start;
            continue;
        }
        if (pending_space)
            buf_put(b, " ", 1);
        pending_space = 0;
        if (mode == TEXT_QUOTED && (c == '"' || c == '\\'))
            buf_put(b, "\\", 1);
        buf_put(b, &c, 1);
    }
}

/* Quote untrusted text for an error message: escaped, and cut short. */
static void quote_for_message(char *dst, size_t cap, const char *s)
{
    size_t o = 0;

    for (size_t i = 0; s[i] && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 64) {
            o += (size_t)snprintf(dst + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
        else if (c == '"' || c == '\\')
            o += (size_t)snprintf(dst + o, cap - o, "\\%c", c);
        else
            dst[o++] = (char)c;
    }
    dst[o] = '\0';
}

/* ---- configuration ------------------------------------------------------- */

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_alnum(char c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * Beancount's own rule (2.3.5 lexer), narrowed to ASCII and to a capital
 * letter at the start of every component: a root type, then at least one
 * sub-account; letters, digits and '-' only.
 */
static int check_beancount_account(const char *a, char *why, size_t why_len)
{
    static const char *const roots[] = {"Assets", "Liabilities", "Equity", "Income",
                                        "Expenses"};
    size_t n_comp = 0;
    const char *comp = a;

    for (;;) {
        size_t len = strcspn(comp, ":");
        if (len == 0) {
            snprintf(why, why_len, "it has an empty component (a leading, trailing or doubled ':')");
            return -1;
        }
        if (n_comp == 0) {
            int ok = 0;
            for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
                if (strlen(roots[i]) == len && strncmp(comp, roots[i], len) == 0)
                    ok = 1;
            if (!ok) {
                snprintf(why, why_len, "its first component \"%.*s\" is not one of Assets, "
                         "Liabilities, Equity, Income, Expenses",
                         (int)(len > 40 ? 40 : len), comp);
                return -1;
            }
        }
        if (!is_upper(comp[0])) {
            snprintf(why, why_len, "component \"%.*s\" does not start with a capital letter",
                     (int)(len > 40 ? 40 : len), comp);
            return -1;
        }
        for (size_t i = 1; i < len; i++) {
            if (!is_alnum(comp[i]) && comp[i] != '-') {
                char shown[16];
                if ((unsigned char)comp[i] < 0x20 || (unsigned char)comp[i] >= 0x7f)
                    snprintf(shown, sizeof(shown), "byte 0x%02x", (unsigned char)comp[i]);
                else
                    snprintf(shown, sizeof(shown), "'%c'", comp[i]);
                snprintf(why, why_len, "component \"%.*s\" has %s; only letters, digits and "
                         "'-' are allowed", (int)(len > 40 ? 40 : len), comp, shown);
                return -1;
            }
        }
        n_comp++;
        if (comp[len] == '\0')
            break;
        comp += len + 1;
    }
    if (n_comp < 2) {
        snprintf(why, why_len, "beancount needs at least one sub-account under \"%s\"", a);
        return -1;
    }
    return 0;
}

/*
 * Ledger and hledger are liberal about account names, but a posting line
 * ends the name at two spaces or a tab, starts a comment at ';', a price
 * at '@' and an assertion at '='; brackets and parentheses at either end
 * make a virtual posting. Refuse whatever would be read differently.
 */
static int check_ledger_account(const char *a, char *why, size_t why_len)
{
    const unsigned char *p = (const unsigned char *)a;
    size_t len = strlen(a);

    if (a[0] == ' ' || a[len - 1] == ' ' || a[0] == '*' || a[0] == '!') {
        snprintf(why, why_len, "it starts or ends with a space, '*' or '!'");
        return -1;
    }
    if (strstr(a, "  ") != NULL || strstr(a, " :") != NULL || strstr(a, ": ") != NULL) {
        snprintf(why, why_len, "it has two spaces in a row or a space next to ':'");
        return -1;
    }
    if (a[0] == ':' || a[len - 1] == ':' || strstr(a, "::") != NULL) {
        snprintf(why, why_len, "it has an empty component (a leading, trailing or doubled ':')");
        return -1;
    }
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0 || *p < 0x20 || *p == 0x7f) {
            snprintf(why, why_len, "it has a control byte or invalid UTF-8");
            return -1;
        }
        if (n == 1 && strchr(";@=()[]\"", *p) != NULL) {
            snprintf(why, why_len, "it has '%c', which a posting line reads as syntax", *p);
            return -1;
        }
        p += n;
    }
    return 0;
}

static int check_account(struct ledger_ctx *c, payrun_stage *st, const char *key,
                         const char *a)
{
    const struct payrun_host *h = c->host;
    char why[256], shown[128];
    int rc;

    quote_for_message(shown, sizeof(shown), a);
    if (a[0] == '\0' || strlen(a) > ACCOUNT_MAX) {
        snprintf(why, sizeof(why), "it is empty or longer than %d bytes", ACCOUNT_MAX);
        rc = -1;
    } else if (c->fmt == FMT_BEANCOUNT) {
        rc = check_beancount_account(a, why, sizeof(why));
    } else {
        rc = check_ledger_account(a, why, sizeof(why));
    }
    if (rc == 0)
        return PAYRUN_OK;
    if (c->fmt == FMT_BEANCOUNT)
        return h->error(st, PAYRUN_ERR,
                        "a beancount account is a root (Assets, Liabilities, Equity, Income "
                        "or Expenses) and sub-accounts joined by ':', each starting with a "
                        "capital letter and using only letters, digits and '-', e.g. "
                        "\"Expenses:Commissions\"",
                        "bad %s \"%s\" for beancount: %s", key, shown, why);
    return h->error(st, PAYRUN_ERR,
                    "use ':'-separated names without ';', '@', '=', brackets, quotes or "
                    "double spaces, e.g. \"Expenses:Commissions\"",
                    "bad %s \"%s\" for %s: %s", key, shown, format_names[c->fmt], why);
}

static int month_days(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return mdays[m - 1];
}

/* The date part of a UTC timestamp ("2026-03-05T09:30:00Z"), checked to be
 * a real day: a payment journal dated 2026-02-30 would be refused by every
 * tool, and an empty date would be worse. */
static int date_of(const char *ts, char out[11])
{
    int y = 0, m = 0, d = 0;

    if (ts == NULL || strlen(ts) < 10 || ts[4] != '-' || ts[7] != '-' ||
        (ts[10] != '\0' && ts[10] != 'T' && ts[10] != ' '))
        return -1;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (ts[i] < '0' || ts[i] > '9')
            return -1;
        if (i < 4)
            y = y * 10 + (ts[i] - '0');
        else if (i < 7)
            m = m * 10 + (ts[i] - '0');
        else
            d = d * 10 + (ts[i] - '0');
    }
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -1;
    memcpy(out, ts, 10);
    out[10] = '\0';
    return 0;
}

/* "YYYY-MM" to its first and last day, leap years included. */
static int period_days(const char *period, char *first, char *last)
{
    int y = 0, m = 0, d;

    if (period == NULL || strlen(period) != 7 || period[4] != '-')
        return -1;
    for (int i = 0; i < 7; i++) {
        if (i == 4)
            continue;
        if (period[i] < '0' || period[i] > '9')
            return -1;
        if (i < 4)
            y = y * 10 + (period[i] - '0');
        else
            m = m * 10 + (period[i] - '0');
    }
    if (y < 1 || m < 1 || m > 12)
        return -1;
    d = month_days(y, m);
    /* The period's own digits, then the day: "2024-02" + "-29". */
    memcpy(first, period, 7);
    memcpy(first + 7, "-01", 4);
    memcpy(last, period, 7);
    last[7] = '-';
    last[8] = (char)('0' + d / 10);
    last[9] = (char)('0' + d % 10);
    last[10] = '\0';
    return 0;
}

/* The payment journal moves money from the payable to the bank: two
 * different accounts, and for beancount's leafonly check neither under the
 * other. */
static int check_bank_account(struct ledger_ctx *c, payrun_stage *st)
{
    size_t lb = strlen(c->bank), lp = strlen(c->payable);

    if (strcmp(c->bank, c->payable) == 0)
        return c->host->error(st, PAYRUN_ERR_CONFIG, "name two different accounts",
                              "bank_account and payable_account are both \"%s\"", c->bank);
    if (c->fmt == FMT_BEANCOUNT &&
        ((strncmp(c->bank, c->payable, lb) == 0 && c->payable[lb] == ':') ||
         (strncmp(c->payable, c->bank, lp) == 0 && c->bank[lp] == ':')))
        return c->host->error(st, PAYRUN_ERR_CONFIG,
                              "pick two accounts where neither is under the other",
                              "bank_account \"%s\" and payable_account \"%s\" are parent and "
                              "child; beancount's pedantic checks refuse postings to a parent "
                              "account", c->bank, c->payable);
    return PAYRUN_OK;
}

static void ctx_free(struct ledger_ctx *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_payees; i++)
        free(c->payees[i]);
    free(c->payees);
    free(c->body.data);
    free(c->txns);
    free(c);
}

static int ledger_init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct ledger_ctx *c = calloc(1, sizeof(*c));
    const char *fmt = NULL, *cur, *journal = "accrual";
    int exponent, rc = PAYRUN_ERR;
    size_t w;

    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_string(st, "format", -1, NULL, &fmt) != PAYRUN_OK) {
        host->error(st, PAYRUN_ERR_CONFIG, "add `format: ledger`, `hledger` or `beancount`",
                    "missing required key \"format\"");
        goto fail;
    }
    for (c->fmt = 0; c->fmt < 3 && strcmp(fmt, format_names[c->fmt]) != 0; c->fmt++)
        ;
    if (c->fmt == 3) {
        char shown[128];
        quote_for_message(shown, sizeof(shown), fmt);
        host->error(st, PAYRUN_ERR_CONFIG, "use ledger, hledger or beancount",
                    "unknown journal format \"%s\"", shown);
        goto fail;
    }
    if (host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK) {
        host->error(st, PAYRUN_ERR_CONFIG, "add `path:` with the journal's file name",
                    "missing required key \"path\"");
        goto fail;
    }
    if (host->cfg_string(st, "expense_account", -1, NULL, &c->expense) != PAYRUN_OK ||
        host->cfg_string(st, "payable_account", -1, NULL, &c->payable) != PAYRUN_OK ||
        host->cfg_string(st, "bank_account", -1, NULL, &c->bank) != PAYRUN_OK ||
        host->cfg_string(st, "journal", -1, NULL, &journal) != PAYRUN_OK) {
        host->error(st, PAYRUN_ERR, NULL, "no expense_account, payable_account, bank_account "
                    "or journal");
        goto fail;
    }
    if (strcmp(journal, "payment") == 0) {
        c->payment = 1;
    } else if (strcmp(journal, "accrual") != 0) {
        char shown[128];
        quote_for_message(shown, sizeof(shown), journal);
        host->error(st, PAYRUN_ERR_CONFIG, "use accrual or payment", "unknown journal \"%s\"",
                    shown);
        goto fail;
    }
    /* The bank account is checked in either journal: a bad name in the
     * config is a mistake even where it is not yet used. */
    if (check_account(c, st, "expense_account", c->expense) != PAYRUN_OK ||
        check_account(c, st, "payable_account", c->payable) != PAYRUN_OK ||
        check_account(c, st, "bank_account", c->bank) != PAYRUN_OK)
        goto fail;
    if (strcmp(c->expense, c->payable) == 0) {
        host->error(st, PAYRUN_ERR_CONFIG, "name two different accounts",
                    "expense_account and payable_account are both \"%s\"", c->expense);
        goto fail;
    }
    /* Beancount's pedantic leafonly check refuses postings to an account
     * that has sub-accounts, so neither may sit under the other. */
    if (c->fmt == FMT_BEANCOUNT) {
        size_t le = strlen(c->expense), lp = strlen(c->payable);
        if ((strncmp(c->expense, c->payable, le) == 0 && c->payable[le] == ':') ||
            (strncmp(c->payable, c->expense, lp) == 0 && c->expense[lp] == ':')) {
            host->error(st, PAYRUN_ERR_CONFIG, "pick two accounts where neither is under the other",
                        "expense_account \"%s\" and payable_account \"%s\" are parent and "
                        "child; beancount's pedantic checks refuse postings to a parent account",
                        c->expense, c->payable);
            goto fail;
        }
    }
    if (c->payment && check_bank_account(c, st) != PAYRUN_OK)
        goto fail;

    cur = host->currency(st);
    exponent = host->currency_exponent(st);
    if (cur == NULL || strlen(cur) != 3 || !is_upper(cur[0]) || !is_upper(cur[1]) ||
        !is_upper(cur[2]) || exponent < 0 || exponent > 9) {
        host->error(st, PAYRUN_ERR, NULL, "the batch currency is not an ISO 4217 code");
        goto fail;
    }
    c->currency = cur;
    c->org = host->org(st);
    c->period = host->period(st);
    if (period_days(c->period, c->first_day, c->last_day) != 0) {
        char shown[128];
        quote_for_message(shown, sizeof(shown), c->period ? c->period : "");
        host->error(st, PAYRUN_ERR, "give the period as YYYY-MM", "bad period \"%s\"", shown);
        goto fail;
    }
    /* Posting columns line up on the journal's two accounts. */
    {
        const char *other = c->payment ? c->bank : c->expense;
        w = strlen(other) > strlen(c->payable) ? strlen(other) : strlen(c->payable);
    }
    c->account_width = (int)w;
    *ctx = c;
    return PAYRUN_OK;

fail:
    ctx_free(c);
    return rc;
}

/* ---- writing ---------------------------------------------------------------- */

static int add_payee(struct ledger_ctx *c, const char *name, size_t len)
{
    char *copy;

    if (c->n_payees == c->cap_payees) {
        size_t cap = c->cap_payees ? c->cap_payees * 2 : 32;
        char **p;
        if (cap > SIZE_MAX / sizeof(*p))
            return -1;
        p = realloc(c->payees, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        c->payees = p;
        c->cap_payees = cap;
    }
    copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, name, len);
    copy[len] = '\0';
    c->payees[c->n_payees++] = copy;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void put_posting(struct ledger_ctx *c, const char *indent, const char *account,
                        const char *amount)
{
    buf_printf(&c->body, "%s%-*s  %14s %s\n", indent, c->account_width, account, amount,
               c->currency);
}

/* The partner as payee: the name made safe, else the partner id. */
static void put_payee(struct ledger_ctx *c, const struct payrun_payout_view *p, int mode)
{
    size_t start = c->body.len;

    put_text(&c->body, p->partner_name, mode);
    if (c->body.len == start)
        put_text(&c->body, p->partner_id, mode);
    if (c->body.len == start)
        buf_puts(&c->body, "(no name)");
}

static int on_payout(void *ud, const struct payrun_payout_view *p)
{
    struct ledger_ctx *c = ud;
    const struct payrun_host *h = c->host;
    struct buf *b = &c->body;
    char debit[32], credit[32];
    int64_t negated;

    if (p->status != NULL && strcmp(p->status, "rejected") == 0) {
        c->n_rejected++;
        return PAYRUN_OK;
    }
    if (p->id == NULL || p->id[0] == '\0')
        return h->error(c->st, PAYRUN_ERR, NULL, "a payout of partner \"%s\" has no id",
                        p->partner_id ? p->partner_id : "");
    if (__builtin_sub_overflow((int64_t)0, p->amount, &negated) ||
        __builtin_add_overflow(c->total, p->amount, &c->total))
        return h->error(c->st, PAYRUN_ERR_INPUT, NULL,
                        "amount of payout \"%s\" overflows the journal total", p->id);
    if (h->format_money(c->st, p->amount, debit, sizeof(debit)) < 0 ||
        h->format_money(c->st, negated, credit, sizeof(credit)) < 0)
        return h->error(c->st, PAYRUN_ERR, NULL, "cannot format the amount of payout \"%s\"",
                        p->id);

    buf_puts(b, "\n");
    if (c->fmt == FMT_BEANCOUNT) {
        buf_printf(b, "%s * \"", c->last_day);
        put_payee(c, p, TEXT_QUOTED);
        buf_printf(b, "\" \"commission accrual %s, payout ", c->period);
        put_text(b, p->id, TEXT_QUOTED);
        buf_puts(b, "\"\n  payout_id: \"");
        put_text(b, p->id, TEXT_QUOTED);
        buf_puts(b, "\"\n  partner_id: \"");
        put_text(b, p->partner_id, TEXT_QUOTED);
        buf_puts(b, "\"\n  payout_status: \"");
        put_text(b, p->status, TEXT_QUOTED);
        buf_puts(b, "\"\n");
        put_posting(c, "  ", c->expense, debit);
        put_posting(c, "  ", c->payable, credit);
    } else {
        size_t start;
        buf_printf(b, "%s * (", c->last_day);
        put_text(b, p->id, TEXT_TOKEN);
        buf_puts(b, ") ");
        start = b->len;
        put_payee(c, p, TEXT_DESCRIPTION);
        if (!b->failed && add_payee(c, b->data + start, b->len - start) != 0)
            b->failed = 1;
        buf_puts(b, "\n    ; payout_id: ");
        put_text(b, p->id, TEXT_TOKEN);
        buf_puts(b, "\n    ; partner_id: ");
        put_text(b, p->partner_id, TEXT_TOKEN);
        buf_puts(b, "\n    ; payout_status: ");
        put_text(b, p->status, TEXT_TOKEN);
        buf_puts(b, "\n");
        put_posting(c, "    ", c->expense, debit);
        put_posting(c, "    ", c->payable, credit);
    }
    if (b->failed)
        return h->error(c->st, PAYRUN_ERR, NULL, "out of memory writing payout \"%s\"", p->id);
    c->n_txn++;
    return PAYRUN_OK;
}

/*
 * One paid payout of the payment journal: the payable is settled from the
 * bank on the day the payout was paid. The bank's reference is the
 * transaction code (ledger, hledger) and metadata; the payout id stays as
 * metadata, so each payment traces back to its accrual.
 */
static int on_payment(void *ud, const struct payrun_payout_view *p)
{
    struct ledger_ctx *c = ud;
    const struct payrun_host *h = c->host;
    struct buf *b = &c->body;
    const char *ref = p->reference ? p->reference : "";
    struct txn_slice *t;
    char debit[32], credit[32], date[11];
    int64_t negated;

    if (p->status == NULL || strcmp(p->status, "paid") != 0) {
        c->n_unpaid++;
        return PAYRUN_OK;
    }
    if (p->id == NULL || p->id[0] == '\0')
        return h->error(c->st, PAYRUN_ERR, NULL, "a payout of partner \"%s\" has no id",
                        p->partner_id ? p->partner_id : "");
    if (date_of(p->paid_at, date) != 0) {
        char shown[128];
        quote_for_message(shown, sizeof(shown), p->paid_at ? p->paid_at : "");
        return h->error(c->st, PAYRUN_ERR_INPUT, NULL,
                        "paid payout \"%s\" has no valid paid date (paid_at \"%s\")", p->id,
                        shown);
    }
    if (__builtin_sub_overflow((int64_t)0, p->amount, &negated) ||
        __builtin_add_overflow(c->total, p->amount, &c->total))
        return h->error(c->st, PAYRUN_ERR_INPUT, NULL,
                        "amount of payout \"%s\" overflows the journal total", p->id);
    if (h->format_money(c->st, p->amount, debit, sizeof(debit)) < 0 ||
        h->format_money(c->st, negated, credit, sizeof(credit)) < 0)
        return h->error(c->st, PAYRUN_ERR, NULL, "cannot format the amount of payout \"%s\"",
                        p->id);
    if ((size_t)c->n_txn == c->cap_txns) {
        size_t cap = c->cap_txns ? c->cap_txns * 2 : 64;
        struct txn_slice *grown = cap > SIZE_MAX / sizeof(*grown)
                                      ? NULL : realloc(c->txns, cap * sizeof(*grown));
        if (grown == NULL)
            return h->error(c->st, PAYRUN_ERR, NULL, "out of memory writing payout \"%s\"",
                            p->id);
        c->txns = grown;
        c->cap_txns = cap;
    }
    t = &c->txns[c->n_txn];
    memcpy(t->date, date, sizeof(t->date));
    t->off = b->len;

    buf_puts(b, "\n");
    if (c->fmt == FMT_BEANCOUNT) {
        buf_printf(b, "%s * \"", date);
        put_payee(c, p, TEXT_QUOTED);
        buf_printf(b, "\" \"commission payment %s, payout ", c->period);
        put_text(b, p->id, TEXT_QUOTED);
        buf_puts(b, "\"\n  payout_id: \"");
        put_text(b, p->id, TEXT_QUOTED);
        buf_puts(b, "\"\n  partner_id: \"");
        put_text(b, p->partner_id, TEXT_QUOTED);
        if (ref[0] != '\0') {
            buf_puts(b, "\"\n  reference: \"");
            put_text(b, ref, TEXT_QUOTED);
        }
        buf_puts(b, "\"\n");
    } else {
        size_t start;
        buf_printf(b, "%s * (", date);
        start = b->len;
        put_text(b, ref, TEXT_TOKEN);
        if (b->len == start) /* no reference, or nothing of it survives */
            put_text(b, p->id, TEXT_TOKEN);
        buf_puts(b, ") ");
        start = b->len;
        put_payee(c, p, TEXT_DESCRIPTION);
        if (!b->failed && add_payee(c, b->data + start, b->len - start) != 0)
            b->failed = 1;
        buf_puts(b, "\n    ; payout_id: ");
        put_text(b, p->id, TEXT_TOKEN);
        buf_puts(b, "\n    ; partner_id: ");
        put_text(b, p->partner_id, TEXT_TOKEN);
        if (ref[0] != '\0') {
            buf_puts(b, "\n    ; reference: ");
            put_text(b, ref, TEXT_TOKEN);
        }
        buf_puts(b, "\n");
    }
    put_posting(c, c->fmt == FMT_BEANCOUNT ? "  " : "    ", c->payable, debit);
    put_posting(c, c->fmt == FMT_BEANCOUNT ? "  " : "    ", c->bank, credit);
    if (b->failed)
        return h->error(c->st, PAYRUN_ERR, NULL, "out of memory writing payout \"%s\"", p->id);
    t->len = b->len - t->off;
    c->n_txn++;
    return PAYRUN_OK;
}

/* Date order, then the core's (partner) order: stable, so the same payouts
 * give the same bytes. */
static int cmp_txn(const void *a, const void *b)
{
    const struct txn_slice *x = a, *y = b;
    int d = strcmp(x->date, y->date);

    return d != 0 ? d : (x->off > y->off) - (x->off < y->off);
}

/* Directives before the transactions: the tools want every name declared
 * before its first use. */
static int put_header(struct ledger_ctx *c, struct buf *b)
{
    const struct payrun_host *h = c->host;
    char sample[32];
    int64_t unit = 1000;

    /* "1000.00 USD": the commodity's display format, with its exponent. */
    for (int i = h->currency_exponent(c->st); i > 0; i--)
        unit *= 10;
    if (h->format_money(c->st, unit, sample, sizeof(sample)) < 0)
        return -1;

    if (c->payment) {
        buf_puts(b, "; Payment journal of the payouts: org ");
        put_text(b, c->org, TEXT_TOKEN);
        buf_printf(b, ", period %s, %s syntax.\n", c->period, format_names[c->fmt]);
        buf_puts(b, "; Written by payrun export_ledger from the period's paid payouts, each on "
                    "its paid date; payouts not paid are left out.\n");
    } else {
        buf_puts(b, "; Accrual journal of the payout close: org ");
        put_text(b, c->org, TEXT_TOKEN);
        buf_printf(b, ", period %s, %s syntax.\n", c->period, format_names[c->fmt]);
        buf_puts(b, "; Written by payrun export_ledger from the period's payouts; "
                    "rejected payouts are left out.\n");
    }

    if (c->fmt == FMT_BEANCOUNT) {
        buf_printf(b, "\noption \"operating_currency\" \"%s\"\n", c->currency);
        /* Zero tolerance: by default beancount lets a transaction be off by
         * half the last digit shown (0.005 USD); the multiplier makes every
         * inferred tolerance zero and the default covers integer amounts. */
        buf_puts(b, "option \"inferred_tolerance_default\" \"*:0\"\n"
                    "option \"inferred_tolerance_multiplier\" \"0\"\n"
                    "plugin \"beancount.plugins.pedantic\"\n\n");
        /* Opened only when used: the pedantic nounused check refuses an
         * account that is opened and never posted to. A payment journal
         * opens on the earlier of the period's first day and its first
         * payment, since beancount refuses a posting before the open. */
        if (c->payment) {
            buf_printf(b, "%s commodity %s\n", c->open_day, c->currency);
            if (c->n_txn > 0) {
                buf_printf(b, "%s open %s %s\n", c->open_day, c->payable, c->currency);
                buf_printf(b, "%s open %s %s\n", c->open_day, c->bank, c->currency);
            }
            return b->failed ? -1 : 0;
        }
        buf_printf(b, "%s commodity %s\n", c->first_day, c->currency);
        if (c->n_txn > 0) {
            buf_printf(b, "%s open %s %s\n", c->first_day, c->expense, c->currency);
            buf_printf(b, "%s open %s %s\n", c->first_day, c->payable, c->currency);
        }
        return b->failed ? -1 : 0;
    }
    if (c->fmt == FMT_LEDGER) {
        buf_printf(b, "\ncommodity %s\n    format %s %s\n", c->currency, sample, c->currency);
    } else {
        /* hledger wants a decimal mark in a commodity directive even when
         * the currency has no decimals ("1000. JPY"). */
        buf_printf(b, "\ndecimal-mark .\ncommodity %s%s %s\n", sample,
                   strchr(sample, '.') ? "" : ".", c->currency);
    }
    /* hledger 1.25 reads and ignores tag directives; ledger --pedantic
     * refuses metadata whose tag is not declared. Both tools accept a
     * directive repeated in another file, so the accrual and payment
     * journals can be read together. */
    if (c->payment) {
        buf_printf(b, "account %s\naccount %s\n", c->payable, c->bank);
        buf_puts(b, "tag payout_id\ntag partner_id\ntag reference\n");
    } else {
        buf_printf(b, "account %s\naccount %s\n", c->expense, c->payable);
        buf_puts(b, "tag payout_id\ntag partner_id\ntag payout_status\n");
    }
    for (size_t i = 0; i < c->n_payees; i++)
        buf_printf(b, "payee %s\n", c->payees[i]);
    return b->failed ? -1 : 0;
}

/* Host functions report their own failures (plugin.h), so a failed write
 * is passed on, not reported twice. */
static int write_all(payrun_output *o, const struct payrun_host *h, const struct buf *b)
{
    int rc = h->output_write(o, b->data, b->len);
    return rc == PAYRUN_OK ? PAYRUN_OK : rc < 0 ? rc : PAYRUN_ERR_IO;
}

static int ledger_run(void *ctx, payrun_stage *st)
{
    struct ledger_ctx *c = ctx;
    const struct payrun_host *h = c->host;
    struct buf head = {0}, tail = {0};
    payrun_output *o = NULL;
    char total[32];
    int rc, rc_close;
    size_t kept = 0;

    c->st = st;
    c->body.len = 0;
    c->n_txn = c->n_rejected = c->n_unpaid = c->total = 0;
    /* Payees are declared before the transactions, so the batch is read
     * into memory first: one pass over the core's payouts, O(batch). */
    rc = h->each_payout(st, c->payment ? on_payment : on_payout, c);
    if (rc != PAYRUN_OK)
        goto done;
    if (c->payment) {
        if (c->n_txn > 1)
            qsort(c->txns, (size_t)c->n_txn, sizeof(*c->txns), cmp_txn);
        memcpy(c->open_day, c->first_day, sizeof(c->open_day));
        if (c->n_txn > 0 && strcmp(c->txns[0].date, c->open_day) < 0)
            memcpy(c->open_day, c->txns[0].date, sizeof(c->open_day));
    }

    if (c->n_payees > 1)
        qsort(c->payees, c->n_payees, sizeof(*c->payees), cmp_str);
    for (size_t i = 0; i < c->n_payees; i++) {
        if (kept > 0 && strcmp(c->payees[kept - 1], c->payees[i]) == 0)
            free(c->payees[i]);
        else
            c->payees[kept++] = c->payees[i];
    }
    c->n_payees = kept;

    if (put_header(c, &head) != 0 ||
        h->format_money(st, c->total, total, sizeof(total)) < 0) {
        rc = h->error(st, PAYRUN_ERR, NULL, "out of memory writing the journal header");
        goto done;
    }
    if (c->payment)
        buf_printf(&tail, "\n; transactions: %" PRId64 ", paid: %s %s, payouts not paid left "
                   "out: %" PRId64 "\n", c->n_txn, total, c->currency, c->n_unpaid);
    else
        buf_printf(&tail, "\n; transactions: %" PRId64 ", accrued: %s %s, rejected payouts left "
                   "out: %" PRId64 "\n", c->n_txn, total, c->currency, c->n_rejected);
    if (tail.failed) {
        rc = h->error(st, PAYRUN_ERR, NULL, "out of memory writing the journal");
        goto done;
    }

    rc = h->output_open(st, c->path, 0, &o);
    if (rc != PAYRUN_OK)
        goto done;
    rc = write_all(o, h, &head);
    if (c->payment) {
        /* In date order, from where on_payment() left each one. */
        for (int64_t i = 0; i < c->n_txn && rc == PAYRUN_OK; i++) {
            rc = h->output_write(o, c->body.data + c->txns[i].off, c->txns[i].len);
            if (rc > 0)
                rc = PAYRUN_ERR_IO;
        }
    } else if (rc == PAYRUN_OK && c->body.len > 0) {
        rc = write_all(o, h, &c->body);
    }
    if (rc == PAYRUN_OK)
        rc = write_all(o, h, &tail);
    /* Close even after a failure: the core then discards the temp file. */
    rc_close = h->output_close(o);
    if (rc == PAYRUN_OK && rc_close != PAYRUN_OK)
        rc = rc_close < 0 ? rc_close : PAYRUN_ERR_IO;
    if (rc == PAYRUN_OK) {
        h->count(st, "transactions", c->n_txn);
        if (c->payment)
            h->count(st, "unpaid_payouts", c->n_unpaid);
        else
            h->count(st, "rejected_payouts", c->n_rejected);
        h->log(st, PAYRUN_LOG_INFO, "wrote %" PRId64 " transactions (%s %s journal) to \"%s\"",
               c->n_txn, format_names[c->fmt], c->payment ? "payment" : "accrual", c->path);
    }

done:
    for (size_t i = 0; i < c->n_payees; i++)
        free(c->payees[i]);
    c->n_payees = 0;
    free(head.data);
    free(tail.data);
    return rc;
}

static void ledger_destroy(void *ctx)
{
    ctx_free(ctx);
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "export_ledger",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .description = "accrual and payment journals in ledger, hledger or beancount syntax",
    .keys = keys,
    .init = ledger_init,
    .run = ledger_run,
    .destroy = ledger_destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
