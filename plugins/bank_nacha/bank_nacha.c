/*
 * bank_nacha.c: the ACH credit file (NACHA format) that pays the period's
 * approved payouts to partners' US bank accounts.
 *
 * One file, one batch of credits (service class 220): a file header, a
 * batch header, one entry detail record per approved payout whose partner
 * has a routing and an account number, in the core's partner order, the
 * batch control, the file control, and records of 94 '9's up to a multiple
 * of ten records. Every record is 94 ASCII characters in upper case ended
 * by LF. Each payout written is listed against the file (output_list), so
 * the core later moves exactly those payouts to processing and refuses to
 * put one in a second file.
 *
 * Everything that could make the bank reject the file, or pay the wrong
 * account, is checked before a byte is written: every configured routing
 * number and every partner's routing number must pass the ABA check digit,
 * account numbers must fit their 17 characters, amounts their 10 digits and
 * the total its 12. A bad partner fails the stage naming the partner, with
 * no file opened, so a payer never holds half a file.
 *
 * Amounts are int64 cents and are written with integer arithmetic only.
 * Dates and times come from the run clock, never the wall clock, so the
 * same payouts and configuration give the same bytes. When nothing
 * qualifies no file is written at all: a rerun of `pay` after every payout
 * went to processing must not produce an empty second file for the bank.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_PATH, 0, "ach-{period}-{run}.txt",
     "ACH file to write, under the output directory", NULL, NULL},
    {"company_name", PAYRUN_KEY_STRING, 1, NULL,
     "originator's name as the bank knows it, at most 16 characters", NULL, NULL},
    {"company_id", PAYRUN_KEY_STRING, 1, NULL,
     "originator's company identification, exactly 10 characters", NULL, NULL},
    {"odfi", PAYRUN_KEY_STRING, 1, NULL, "originating bank's 9-digit routing number", NULL,
     NULL},
    {"destination", PAYRUN_KEY_STRING, 1, NULL,
     "immediate destination: the 9-digit routing number the file is sent to", NULL, NULL},
    {"destination_name", PAYRUN_KEY_STRING, 0, "",
     "immediate destination name, at most 23 characters", NULL, NULL},
    {"origin", PAYRUN_KEY_STRING, 1, NULL,
     "immediate origin: 10 characters, or a 9-digit routing number", NULL, NULL},
    {"origin_name", PAYRUN_KEY_STRING, 0, "", "immediate origin name, at most 23 characters",
     NULL, NULL},
    {"sec_code", PAYRUN_KEY_ENUM, 0, "CCD", "standard entry class of the batch", "PPD|CCD",
     NULL},
    {"entry_description", PAYRUN_KEY_STRING, 0, "COMMISSION",
     "company entry description shown to receivers, at most 10 characters", NULL, NULL},
    {"account_type", PAYRUN_KEY_ENUM, 0, "checking",
     "receivers' account type: transaction code 22 (checking) or 32 (savings)",
     "checking|savings", NULL},
    {"file_id_modifier", PAYRUN_KEY_STRING, 0, NULL,
     "file id modifier, A-Z or 0-9; unset, each pay run takes the next in turn", NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

#define REC_LEN 94
#define BLOCKING 10
/* Field limits of the layouts: an entry amount has 10 digits, a control
 * total 12, a batch's entry/addenda count 6, an entry hash 10. */
#define MAX_ENTRY_CENTS INT64_C(9999999999)
#define MAX_TOTAL_CENTS INT64_C(999999999999)
#define MAX_ENTRIES 999999
#define HASH_MOD UINT64_C(10000000000)

/* A record with its LF, ready to write. */
typedef char record[REC_LEN + 1];

/* One entry detail record, built while reading payouts, and the payout it
 * pays (views live only during each_payout's callback, so the id is ours). */
struct entry {
    char *payout_id;
    record rec;
};

struct nacha_ctx {
    const struct payrun_host *host;
    const char *path;
    /* Configuration, already checked, upper-cased and ASCII. */
    char company_name[17];
    char company_id[11];
    char odfi8[9];
    char destination[10];
    char destination_name[24];
    char origin[11];
    char origin_name[24];
    char sec_code[4];
    char entry_description[11];
    char file_id_modifier;
    int txn_code;

    /* Per run. */
    payrun_stage *st;
    struct entry *entries;
    size_t n_entries, cap_entries;
    int64_t total_cents;
    uint64_t entry_hash; /* kept below 10^10 as it is summed */
    int64_t skipped;
};

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

/* The value of n leading digits, already known to be digits. */
static uint64_t digits_value(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

enum { ROUTING_OK = 0, ROUTING_NOT_9_DIGITS = 1, ROUTING_BAD_CHECK = 2 };

/* ABA routing number: 9 digits whose sum weighted 3,7,1,3,7,1,3,7,1 is a
 * multiple of 10. The bank rejects a file with a routing number that fails
 * it, or worse, routes the money to another bank whose number it matches. */
static int routing_check(const char *s)
{
    static const int weight[9] = {3, 7, 1, 3, 7, 1, 3, 7, 1};
    int sum = 0;

    if (strlen(s) != 9 || !all_digits(s, 9))
        return ROUTING_NOT_9_DIGITS;
    for (int i = 0; i < 9; i++)
        sum += (s[i] - '0') * weight[i];
    return sum % 10 == 0 ? ROUTING_OK : ROUTING_BAD_CHECK;
}

/* ---- text to upper-case ASCII ---------------------------------------------- */

/*
 * Names come from partner data in UTF-8, but an ACH file is ASCII and banks
 * reject or mangle anything else. Latin letters with diacritics become their
 * base letters (the account holder's name still reads right to the bank's
 * matching); other characters that ASCII cannot show are dropped.
 * Latin-1 Supplement letters, U+00C0..U+00FF, in upper-case ASCII:
 */
static const char *const latin1[64] = {
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
    "D", "N", "O", "O", "O", "O", "O",  "",  "O", "U", "U", "U", "U", "Y", "TH", "SS",
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
    "D", "N", "O", "O", "O", "O", "O",  "",  "O", "U", "U", "U", "U", "Y", "TH", "Y",
};

/* Latin Extended-A, U+0100..U+017F, as runs of code points sharing a base
 * letter (the block is ordered by base letter, upper and lower in pairs).
 * The run lengths sum to 128. */
static const struct {
    unsigned char n;
    char ascii[3];
} latin_ext_a[] = {
    {6, "A"},  {8, "C"}, {4, "D"}, {10, "E"}, {8, "G"}, {4, "H"}, {10, "I"}, {2, "IJ"},
    {2, "J"},  {3, "K"}, {10, "L"}, {9, "N"}, {6, "O"}, {2, "OE"}, {6, "R"}, {8, "S"},
    {6, "T"},  {12, "U"}, {2, "W"}, {3, "Y"}, {6, "Z"}, {1, "S"},
};

/* Decode one UTF-8 sequence at s (NUL-terminated). Returns the bytes used
 * (at least 1) and the code point, or UINT32_MAX for a malformed sequence
 * (overlong, surrogate, truncated), which the caller drops. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t n, i;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, c &= 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, c &= 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, c &= 0x07;
    else {
        *cp = UINT32_MAX;
        return 1;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = UINT32_MAX;
            return i;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        c = UINT32_MAX;
    *cp = c;
    return n;
}

/* The ASCII text of one code point, upper case; "" to drop it. */
static const char *ascii_of(uint32_t cp, char one[2])
{
    if (cp >= 0x20 && cp < 0x7F) {
        one[0] = (cp >= 'a' && cp <= 'z') ? (char)(cp - 'a' + 'A') : (char)cp;
        one[1] = '\0';
        return one;
    }
    /* Control characters and the no-break space separate words. */
    if (cp < 0x20 || cp == 0x7F || cp == 0xA0)
        return " ";
    if (cp >= 0xC0 && cp <= 0xFF)
        return latin1[cp - 0xC0];
    if (cp >= 0x100 && cp <= 0x17F) {
        uint32_t at = 0x100;
        for (size_t i = 0; i < sizeof(latin_ext_a) / sizeof(latin_ext_a[0]); i++) {
            at += latin_ext_a[i].n;
            if (cp < at)
                return latin_ext_a[i].ascii;
        }
        return "";
    }
    /* Typographic quotes and dashes that word processors put in names. */
    switch (cp) {
    case 0x2018: case 0x2019: case 0x201B: case 0x2032:
        return "'";
    case 0x201C: case 0x201D:
        return "\"";
    case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2212:
        return "-";
    default:
        return "";
    }
}

/* Write `in` as upper-case ASCII into out[cap] (NUL-terminated, cut at
 * cap - 1 characters), with runs of spaces collapsed and no leading or
 * trailing space. Returns the length written. */
static size_t ascii_upper(const char *in, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)str_or_empty(in);
    size_t len = 0;
    int pending_space = 0;

    if (cap == 0)
        return 0;
    while (*s) {
        uint32_t cp;
        char one[2];
        const char *a;

        s += utf8_next(s, &cp);
        if (cp == UINT32_MAX)
            continue;
        for (a = ascii_of(cp, one); *a; a++) {
            if (*a == ' ') {
                pending_space = len > 0;
                continue;
            }
            if (len + (size_t)pending_space + 1 >= cap)
                goto done;
            if (pending_space)
                out[len++] = ' ';
            pending_space = 0;
            out[len++] = *a;
        }
    }
done:
    out[len] = '\0';
    return len;
}

/* ---- fixed-width fields ---------------------------------------------------- */

/* Positions are 1-based, as in the NACHA record layouts, so each call reads
 * against the published table. Records start as all spaces. */
static void rec_blank(record r)
{
    memset(r, ' ', REC_LEN);
    r[REC_LEN] = '\n';
}

/* Left-justified text; the caller has made it ASCII and fitted it. */
static void put_text(record r, int pos, int width, const char *s)
{
    size_t n = strlen(s);
    if (n > (size_t)width)
        n = (size_t)width;
    memcpy(r + pos - 1, s, n);
}

/* Right-justified, zero-padded digits. The callers check their limits
 * first, so a value that does not fit is a bug: reported, not truncated. */
static int put_num(record r, int pos, int width, uint64_t v)
{
    for (int i = width - 1; i >= 0; i--) {
        r[pos - 1 + i] = (char)('0' + v % 10);
        v /= 10;
    }
    return v == 0 ? 0 : -1;
}

/* ---- configuration --------------------------------------------------------- */

static int cfg_get(struct nacha_ctx *c, payrun_stage *st, const char *key, const char **out)
{
    char hint[128];

    if (c->host->cfg_string(st, key, -1, NULL, out) == PAYRUN_OK && *out != NULL)
        return PAYRUN_OK;
    snprintf(hint, sizeof(hint), "add `%s:` to the stage's `with:` block", key);
    return c->host->error(st, PAYRUN_ERR_CONFIG, hint, "required key \"%s\" is not set", key);
}

/* A text key: printable ASCII only (the operator should see exactly what
 * goes in the file, so nothing is transliterated here), `min` to `max`
 * characters, not all spaces when `min` > 0. Copied upper-cased to out. */
static int cfg_text(struct nacha_ctx *c, payrun_stage *st, const char *key, size_t min,
                    size_t max, char *out, size_t cap)
{
    const char *v;
    size_t n, blank = 0;
    int rc = cfg_get(c, st, key, &v);

    if (rc != PAYRUN_OK)
        return rc;
    n = strlen(v);
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E)
            return c->host->error(st, PAYRUN_ERR_CONFIG,
                                  "an ACH file holds ASCII only: use plain letters, digits, "
                                  "spaces and punctuation",
                                  "%s \"%s\" has a character that is not printable ASCII", key,
                                  v);
        blank += v[i] == ' ';
    }
    if (n < min || n > max || (min > 0 && blank == n)) {
        char hint[128], want[48];
        if (min == max)
            snprintf(want, sizeof(want), "exactly %zu", min);
        else
            snprintf(want, sizeof(want), "%zu to %zu", min, max);
        snprintf(hint, sizeof(hint), "give %s %s characters, as your bank knows it", key, want);
        if (n >= min && n <= max)
            return c->host->error(st, PAYRUN_ERR_CONFIG, hint, "%s is all spaces", key);
        return c->host->error(st, PAYRUN_ERR_CONFIG, hint,
                              "%s \"%s\" is %zu characters long; it must be %s", key, v, n,
                              want);
    }
    if (n + 1 > cap)
        return c->host->error(st, PAYRUN_ERR, NULL, "internal: no room for %s", key);
    for (size_t i = 0; i <= n; i++)
        out[i] = (v[i] >= 'a' && v[i] <= 'z') ? (char)(v[i] - 'a' + 'A') : v[i];
    return PAYRUN_OK;
}

/* A configured routing number: 9 digits that pass the check digit. */
static int cfg_routing(struct nacha_ctx *c, payrun_stage *st, const char *key, const char *what,
                       char out[10])
{
    const char *v;
    int rc = cfg_get(c, st, key, &v);

    if (rc != PAYRUN_OK)
        return rc;
    switch (routing_check(v)) {
    case ROUTING_NOT_9_DIGITS:
        return c->host->error(st, PAYRUN_ERR_CONFIG,
                              "give the 9-digit ABA routing number, digits only",
                              "%s \"%s\" is not a 9-digit routing number (%s)", key, v, what);
    case ROUTING_BAD_CHECK:
        return c->host->error(st, PAYRUN_ERR_CONFIG,
                              "check the number against your bank's documents: one digit is "
                              "wrong or two are swapped",
                              "%s \"%s\" fails its routing check digit (%s)", key, v, what);
    default:
        memcpy(out, v, 10);
        return PAYRUN_OK;
    }
}

/* Immediate origin: 10 characters as the bank assigned them (often "1"
 * and a tax id), or a 9-digit routing number, which the layout writes as a
 * space and the 9 digits and which must pass its check digit. */
static int cfg_origin(struct nacha_ctx *c, payrun_stage *st)
{
    static const char hint[] = "give the 10-character immediate origin your bank assigned, "
                               "or your bank's 9-digit routing number";
    const char *v;
    size_t n;
    int rc = cfg_get(c, st, "origin", &v);

    if (rc != PAYRUN_OK)
        return rc;
    n = strlen(v);
    if (n == 9 && all_digits(v, 9)) {
        if (routing_check(v) != ROUTING_OK)
            return c->host->error(st, PAYRUN_ERR_CONFIG, hint,
                                  "origin \"%s\" looks like a routing number but fails its "
                                  "check digit", v);
        c->origin[0] = ' ';
        memcpy(c->origin + 1, v, 10);
        return PAYRUN_OK;
    }
    if (n != 10)
        return c->host->error(st, PAYRUN_ERR_CONFIG, hint,
                              "origin \"%s\" is %zu characters long; it must be 10", v, n);
    for (size_t i = 0; i < n; i++)
        if (!is_digit(v[i]) && !(v[i] >= 'A' && v[i] <= 'Z') && v[i] != ' ')
            return c->host->error(st, PAYRUN_ERR_CONFIG, hint,
                                  "origin \"%s\" may hold only digits, upper-case letters and "
                                  "spaces", v);
    if (v[0] == ' ' && all_digits(v + 1, 9) && routing_check(v + 1) != ROUTING_OK)
        return c->host->error(st, PAYRUN_ERR_CONFIG, hint,
                              "origin \"%s\" is a routing number that fails its check digit", v);
    if (strspn(v, " ") == n)
        return c->host->error(st, PAYRUN_ERR_CONFIG, hint, "origin is all spaces");
    memcpy(c->origin, v, 11);
    return PAYRUN_OK;
}

static int nacha_init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct nacha_ctx *c;
    const char *v, *currency;
    char odfi[10], word[16];
    int rc;

    /* output_list arrived after the first host table; an older core
     * could not move the paid payouts, so refuse instead of crashing. */
    if (!PAYRUN_HOST_HAS(host, output_list))
        return host->error(st, PAYRUN_ERR_CONFIG, "upgrade payrun",
                           "this payrun cannot list payouts in a payment file");
    currency = host->currency(st);
    if (currency == NULL || strcmp(currency, "USD") != 0 || host->currency_exponent(st) != 2)
        return host->error(st, PAYRUN_ERR_CONFIG,
                           "use bank_nacha for USD batches only; other currencies need another "
                           "payment format",
                           "an ACH file pays US dollars in cents; this batch is in \"%s\" with "
                           "exponent %d",
                           str_or_empty(currency), host->currency_exponent(st));

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK) {
        rc = host->error(st, PAYRUN_ERR_CONFIG, "set `path` in the stage's `with:` block",
                         "no output path");
        goto fail;
    }
    if ((rc = cfg_text(c, st, "company_name", 1, 16, c->company_name,
                       sizeof(c->company_name))) != PAYRUN_OK)
        goto fail;
    if ((rc = cfg_text(c, st, "company_id", 10, 10, c->company_id, sizeof(c->company_id))) !=
        PAYRUN_OK)
        goto fail;
    if ((rc = cfg_routing(c, st, "odfi", "the originating bank's routing number", odfi)) !=
        PAYRUN_OK)
        goto fail;
    /* Batch header, batch control and trace numbers carry the ODFI's
     * first 8 digits; the check digit is not part of the identification. */
    memcpy(c->odfi8, odfi, 8);
    c->odfi8[8] = '\0';
    if ((rc = cfg_routing(c, st, "destination", "the bank the file is sent to",
                          c->destination)) != PAYRUN_OK)
        goto fail;
    if ((rc = cfg_text(c, st, "destination_name", 0, 23, c->destination_name,
                       sizeof(c->destination_name))) != PAYRUN_OK)
        goto fail;
    if ((rc = cfg_origin(c, st)) != PAYRUN_OK)
        goto fail;
    if ((rc = cfg_text(c, st, "origin_name", 0, 23, c->origin_name, sizeof(c->origin_name))) !=
        PAYRUN_OK)
        goto fail;
    if ((rc = cfg_get(c, st, "sec_code", &v)) != PAYRUN_OK)
        goto fail;
    if (strcmp(v, "PPD") != 0 && strcmp(v, "CCD") != 0) {
        rc = host->error(st, PAYRUN_ERR_CONFIG,
                         "use CCD to pay businesses, PPD to pay individuals",
                         "sec_code \"%s\" is not PPD or CCD", v);
        goto fail;
    }
    memcpy(c->sec_code, v, 4);
    if ((rc = cfg_text(c, st, "entry_description", 1, 10, c->entry_description,
                       sizeof(c->entry_description))) != PAYRUN_OK)
        goto fail;
    if ((rc = cfg_get(c, st, "account_type", &v)) != PAYRUN_OK)
        goto fail;
    if (strcmp(v, "checking") == 0) {
        c->txn_code = 22;
    } else if (strcmp(v, "savings") == 0) {
        c->txn_code = 32;
    } else {
        rc = host->error(st, PAYRUN_ERR_CONFIG, "use checking or savings",
                         "account_type \"%s\" is not checking or savings", v);
        goto fail;
    }
    {
        const char *given = NULL;
        if (host->cfg_string(st, "file_id_modifier", -1, NULL, &given) != PAYRUN_OK) {
            /* Unset: each pay run of a day gets its own modifier (A-Z, 0-9)
             * from the run number, so a bank never takes a second file for
             * a duplicate of the first. */
            static const char mods[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            int64_t run = PAYRUN_HOST_HAS(host, run_number) ? host->run_number(st) : 0;
            c->file_id_modifier = mods[(run > 0 ? run - 1 : 0) % 36];
            *ctx = c;
            return PAYRUN_OK;
        }
    }
    if ((rc = cfg_text(c, st, "file_id_modifier", 1, 1, word, sizeof(word))) != PAYRUN_OK)
        goto fail;
    if (!is_digit(word[0]) && !(word[0] >= 'A' && word[0] <= 'Z')) {
        rc = host->error(st, PAYRUN_ERR_CONFIG,
                         "use A for the day's first file, then B, C, ... (or 0-9)",
                         "file_id_modifier \"%s\" is not a letter A-Z or a digit", word);
        goto fail;
    }
    c->file_id_modifier = word[0];
    *ctx = c;
    return PAYRUN_OK;
fail:
    free(c);
    return rc;
}

/* ---- reading payouts ------------------------------------------------------- */

static void entries_free(struct nacha_ctx *c)
{
    for (size_t i = 0; i < c->n_entries; i++)
        free(c->entries[i].payout_id);
    free(c->entries);
    c->entries = NULL;
    c->n_entries = c->cap_entries = 0;
}

/* Account numbers are up to 17 alphanumerics; a space or a character
 * outside ASCII would be rejected by the bank or pay a different account,
 * so anything but letters, digits and hyphens stops the run. */
static int account_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 17)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z') &&
            s[i] != '-')
            return 0;
    return 1;
}

static int on_payout(void *ud, const struct payrun_payout_view *p)
{
    struct nacha_ctx *c = ud;
    const struct payrun_host *h = c->host;
    const char *routing = str_or_empty(p->routing_number);
    const char *account = str_or_empty(p->account_number);
    char name[23], idnum[16], acct[18], amount[32];
    struct entry *e;
    int64_t total;
    int rc;

    if (strcmp(str_or_empty(p->status), "approved") != 0)
        return PAYRUN_OK;
    if (routing[0] == '\0' || account[0] == '\0') {
        c->skipped++;
        /* IBAN and BIC on file: the pain.001 file pays it, no warning. */
        if (str_or_empty(p->iban)[0] != '\0' && str_or_empty(p->bic)[0] != '\0')
            return PAYRUN_OK;
        h->log(c->st, PAYRUN_LOG_WARN,
               "partner \"%s\" (payout %s) has no bank routing and account number: not paid",
               str_or_empty(p->partner_id), str_or_empty(p->id));
        return PAYRUN_OK;
    }

    /* Everything about the payout is checked here, before any output is
     * opened: a failure leaves no file behind. */
    switch (routing_check(routing)) {
    case ROUTING_NOT_9_DIGITS:
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "correct the partner's routing_number (9 digits), or pay this payout "
                        "outside the file with `payrun mark-paid`; nothing was written",
                        "partner \"%s\" (payout %s): routing number \"%s\" is not 9 digits",
                        str_or_empty(p->partner_id), str_or_empty(p->id), routing);
    case ROUTING_BAD_CHECK:
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "correct the partner's routing_number (a digit is wrong or two are "
                        "swapped), or pay this payout outside the file with `payrun mark-paid`; "
                        "nothing was written and no payout moved",
                        "partner \"%s\" (payout %s): routing number \"%s\" fails its check digit",
                        str_or_empty(p->partner_id), str_or_empty(p->id), routing);
    default:
        break;
    }
    if (!account_ok(account))
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "correct the partner's account_number: 1 to 17 letters, digits or "
                        "hyphens; nothing was written",
                        "partner \"%s\" (payout %s): account number \"%s\" does not fit an ACH "
                        "entry",
                        str_or_empty(p->partner_id), str_or_empty(p->id), account);
    if (strcmp(str_or_empty(p->currency), "USD") != 0)
        return h->error(c->st, PAYRUN_ERR_INPUT, NULL,
                        "partner \"%s\" (payout %s): the payout is in \"%s\", not USD",
                        str_or_empty(p->partner_id), str_or_empty(p->id),
                        str_or_empty(p->currency));
    if (h->format_money(c->st, p->amount, amount, sizeof(amount)) < 0)
        snprintf(amount, sizeof(amount), "%" PRId64 " cents", p->amount);
    /* A credit entry carries a positive amount: zero is a prenote and a
     * negative payout cannot be paid by a credit file at all. */
    if (p->amount <= 0)
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "an approved payout must be positive to be paid; correct or reject it",
                        "partner \"%s\" (payout %s): amount %s cannot be paid by an ACH credit",
                        str_or_empty(p->partner_id), str_or_empty(p->id), amount);
    if (p->amount > MAX_ENTRY_CENTS)
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "pay this payout another way, or split it",
                        "partner \"%s\" (payout %s): amount %s is above 99999999.99, the "
                        "largest an ACH entry's 10 digits hold",
                        str_or_empty(p->partner_id), str_or_empty(p->id), amount);
    if (__builtin_add_overflow(c->total_cents, p->amount, &total) || total > MAX_TOTAL_CENTS)
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "split the payouts over more than one pay run",
                        "the file's total credit would pass 9999999999.99, the largest its "
                        "12 digits hold, at partner \"%s\" (payout %s)",
                        str_or_empty(p->partner_id), str_or_empty(p->id));
    if (c->n_entries >= MAX_ENTRIES)
        return h->error(c->st, PAYRUN_ERR_INPUT, "split the payouts over more than one pay run",
                        "more than %d entries do not fit one ACH batch", MAX_ENTRIES);

    /* The receiver sees the account holder's name when there is one. */
    if (ascii_upper(p->account_name, name, sizeof(name)) == 0 &&
        ascii_upper(p->partner_name, name, sizeof(name)) == 0)
        return h->error(c->st, PAYRUN_ERR_INPUT,
                        "set the partner's account_name to the holder's name in Latin letters",
                        "partner \"%s\" (payout %s): no name that can be written in ASCII",
                        str_or_empty(p->partner_id), str_or_empty(p->id));
    ascii_upper(p->partner_id, idnum, sizeof(idnum));
    if (strlen(str_or_empty(p->partner_id)) > 15)
        h->log(c->st, PAYRUN_LOG_WARN,
               "partner id \"%s\" is cut to the 15 characters of the entry's id number",
               p->partner_id);
    for (size_t i = 0, n = strlen(account); i <= n; i++)
        acct[i] = (account[i] >= 'a' && account[i] <= 'z') ? (char)(account[i] - 'a' + 'A')
                                                           : account[i];

    if (c->n_entries == c->cap_entries) {
        size_t cap = c->cap_entries ? c->cap_entries * 2 : 64;
        struct entry *ne = realloc(c->entries, cap * sizeof(*ne));
        if (ne == NULL)
            return h->error(c->st, PAYRUN_ERR, NULL, "out of memory");
        c->entries = ne;
        c->cap_entries = cap;
    }
    e = &c->entries[c->n_entries];
    e->payout_id = malloc(strlen(str_or_empty(p->id)) + 1);
    if (e->payout_id == NULL)
        return h->error(c->st, PAYRUN_ERR, NULL, "out of memory");
    memcpy(e->payout_id, str_or_empty(p->id), strlen(str_or_empty(p->id)) + 1);

    /* Entry detail record (type 6). */
    rec_blank(e->rec);
    rc = 0;
    e->rec[0] = '6';
    rc |= put_num(e->rec, 2, 2, (uint64_t)c->txn_code);
    memcpy(e->rec + 3, routing, 9); /* 4-11 receiving DFI, 12 its check digit */
    put_text(e->rec, 13, 17, acct);
    rc |= put_num(e->rec, 30, 10, (uint64_t)p->amount);
    put_text(e->rec, 40, 15, idnum);
    put_text(e->rec, 55, 22, name);
    /* 77-78 discretionary data: blank */
    e->rec[78] = '0'; /* 79 addenda record indicator: no addenda */
    put_text(e->rec, 80, 8, c->odfi8);
    rc |= put_num(e->rec, 88, 7, (uint64_t)c->n_entries + 1); /* trace sequence */
    if (rc != 0) {
        free(e->payout_id);
        return h->error(c->st, PAYRUN_ERR, NULL, "internal: a field of payout %s overflowed",
                        str_or_empty(p->id));
    }
    c->n_entries++;
    c->total_cents = total;
    /* The entry hash adds the 8-digit receiving DFI numbers (no check
     * digit) and keeps the rightmost 10 digits. */
    c->entry_hash = (c->entry_hash + digits_value(routing, 8)) % HASH_MOD;
    return PAYRUN_OK;
}

/* ---- writing --------------------------------------------------------------- */

/* Host functions report their own failures (plugin.h): pass them on. */
static int write_rec(struct nacha_ctx *c, payrun_output *o, const record r)
{
    int rc = c->host->output_write(o, r, REC_LEN + 1);
    return rc == PAYRUN_OK ? PAYRUN_OK : rc < 0 ? rc : PAYRUN_ERR_IO;
}

/* "YYYY-MM-DDTHH:MM:SS..." gives YYMMDD and HHMM. */
static int clock_fields(const char *clk, char yymmdd[7], char hhmm[5])
{
    if (clk == NULL || strlen(clk) < 16 || !all_digits(clk, 4) || clk[4] != '-' ||
        !all_digits(clk + 5, 2) || clk[7] != '-' || !all_digits(clk + 8, 2) || clk[10] != 'T' ||
        !all_digits(clk + 11, 2) || clk[13] != ':' || !all_digits(clk + 14, 2))
        return -1;
    memcpy(yymmdd, clk + 2, 2);
    memcpy(yymmdd + 2, clk + 5, 2);
    memcpy(yymmdd + 4, clk + 8, 2);
    yymmdd[6] = '\0';
    memcpy(hhmm, clk + 11, 2);
    memcpy(hhmm + 2, clk + 14, 2);
    hhmm[4] = '\0';
    return 0;
}

static int write_file(struct nacha_ctx *c, payrun_output *o, const char *yymmdd,
                      const char *hhmm)
{
    const struct payrun_host *h = c->host;
    size_t n = c->n_entries;
    size_t records = n + 4;
    size_t blocks = (records + BLOCKING - 1) / BLOCKING;
    record r;
    int rc, bad = 0;

    /* File header (type 1). */
    rec_blank(r);
    r[0] = '1';
    put_text(r, 2, 2, "01");          /* priority code */
    put_text(r, 5, 9, c->destination); /* immediate destination: a space, 9 digits */
    put_text(r, 14, 10, c->origin);
    put_text(r, 24, 6, yymmdd);
    put_text(r, 30, 4, hhmm);
    r[33] = c->file_id_modifier;
    put_text(r, 35, 3, "094"); /* record size */
    put_text(r, 38, 2, "10");  /* blocking factor */
    put_text(r, 40, 1, "1");   /* format code */
    put_text(r, 41, 23, c->destination_name);
    put_text(r, 64, 23, c->origin_name);
    /* 87-94 reference code: blank */
    if ((rc = write_rec(c, o, r)) != PAYRUN_OK)
        return rc;

    /* Batch header (type 5). */
    rec_blank(r);
    r[0] = '5';
    put_text(r, 2, 3, "220"); /* service class: credits only */
    put_text(r, 5, 16, c->company_name);
    /* 21-40 company discretionary data: blank */
    put_text(r, 41, 10, c->company_id);
    put_text(r, 51, 3, c->sec_code);
    put_text(r, 54, 10, c->entry_description);
    /* 64-69 company descriptive date: blank */
    put_text(r, 70, 6, yymmdd); /* effective entry date */
    /* 76-78 settlement date: the ACH operator fills it in */
    put_text(r, 79, 1, "1"); /* originator status code: a depository institution */
    put_text(r, 80, 8, c->odfi8);
    bad |= put_num(r, 88, 7, 1); /* batch number */
    if ((rc = write_rec(c, o, r)) != PAYRUN_OK)
        return rc;

    /* Entries; each listed against the file as it is written. */
    for (size_t i = 0; i < n; i++) {
        if ((rc = write_rec(c, o, c->entries[i].rec)) != PAYRUN_OK)
            return rc;
        rc = h->output_list(o, c->entries[i].payout_id);
        if (rc != PAYRUN_OK)
            return rc < 0 ? rc : PAYRUN_ERR;
    }

    /* Batch control (type 8): must agree with its header. */
    rec_blank(r);
    r[0] = '8';
    put_text(r, 2, 3, "220");
    bad |= put_num(r, 5, 6, n); /* entry/addenda count: entries only, no addenda */
    bad |= put_num(r, 11, 10, c->entry_hash);
    bad |= put_num(r, 21, 12, 0); /* total debit */
    bad |= put_num(r, 33, 12, (uint64_t)c->total_cents);
    put_text(r, 45, 10, c->company_id);
    /* 55-73 message authentication code, 74-79 reserved: blank */
    put_text(r, 80, 8, c->odfi8);
    bad |= put_num(r, 88, 7, 1);
    if ((rc = write_rec(c, o, r)) != PAYRUN_OK)
        return rc;

    /* File control (type 9). With one batch its figures are the batch's. */
    rec_blank(r);
    r[0] = '9';
    bad |= put_num(r, 2, 6, 1); /* batch count */
    bad |= put_num(r, 8, 6, blocks);
    bad |= put_num(r, 14, 8, n);
    bad |= put_num(r, 22, 10, c->entry_hash);
    bad |= put_num(r, 32, 12, 0);
    bad |= put_num(r, 44, 12, (uint64_t)c->total_cents);
    /* 56-94 reserved: blank */
    if (bad)
        return h->error(c->st, PAYRUN_ERR, NULL, "internal: a control field overflowed");
    if ((rc = write_rec(c, o, r)) != PAYRUN_OK)
        return rc;

    /* Fill the last block of ten with records of all 9s. */
    memset(r, '9', REC_LEN);
    r[REC_LEN] = '\n';
    for (size_t i = records; i < blocks * BLOCKING; i++)
        if ((rc = write_rec(c, o, r)) != PAYRUN_OK)
            return rc;
    return PAYRUN_OK;
}

static int nacha_run(void *ctx, payrun_stage *st)
{
    struct nacha_ctx *c = ctx;
    const struct payrun_host *h = c->host;
    const char *clk = h->run_clock(st);
    char yymmdd[7], hhmm[5], total[32];
    payrun_output *o = NULL;
    int rc, rc_close;

    c->st = st;
    entries_free(c);
    c->total_cents = 0;
    c->entry_hash = 0;
    c->skipped = 0;
    if (clock_fields(clk, yymmdd, hhmm) != 0)
        return h->error(st, PAYRUN_ERR, NULL, "run clock \"%s\" is not YYYY-MM-DDTHH:MM:SSZ",
                        str_or_empty(clk));

    rc = h->each_payout(st, on_payout, c);
    if (rc != PAYRUN_OK)
        return rc < 0 ? rc : PAYRUN_ERR;

    if (c->n_entries > 0) {
        rc = h->output_open(st, c->path, 0, &o);
        if (rc != PAYRUN_OK)
            return rc < 0 ? rc : PAYRUN_ERR_IO;
        rc = write_file(c, o, yymmdd, hhmm);
        /* Close even after a failure: the core then discards the file. */
        rc_close = h->output_close(o);
        if (rc == PAYRUN_OK && rc_close != PAYRUN_OK)
            rc = rc_close < 0 ? rc_close : PAYRUN_ERR_IO;
        if (rc != PAYRUN_OK)
            return rc;
    }

    h->count(st, "entries", (int64_t)c->n_entries);
    h->count(st, "total_cents", c->total_cents);
    h->count(st, "skipped_no_bank_details", c->skipped);
    if (c->n_entries == 0) {
        h->log(st, PAYRUN_LOG_INFO, "no approved payout with bank details: no ACH file written");
    } else {
        if (h->format_money(st, c->total_cents, total, sizeof(total)) < 0)
            snprintf(total, sizeof(total), "%" PRId64 " cents", c->total_cents);
        h->log(st, PAYRUN_LOG_INFO, "wrote %zu ACH credits totalling %s USD to \"%s\"",
               c->n_entries, total, c->path);
    }
    return PAYRUN_OK;
}

static void nacha_destroy(void *ctx)
{
    struct nacha_ctx *c = ctx;

    if (c == NULL)
        return;
    entries_free(c);
    free(c);
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "bank_nacha",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .description = "NACHA ACH credit file paying the period's approved payouts",
    .keys = keys,
    .init = nacha_init,
    .run = nacha_run,
    .destroy = nacha_destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
