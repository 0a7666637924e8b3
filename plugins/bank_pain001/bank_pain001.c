/*
 * bank_pain001.c: the bank payment file for partners paid by IBAN, an
 * ISO 20022 pain.001.001.03 customer credit transfer initiation holding one
 * credit transfer per approved payout of the period.
 *
 * A payout goes in when it is approved and its partner has an IBAN and a BIC
 * but not a US routing number and account number: those partners are paid
 * through the NACHA file, and a payout must never sit in two bank files (the
 * core refuses a second listing as well). Every transfer written is listed
 * against the output with host->output_list(), which is how a later stage
 * moves exactly those payouts to `processing`.
 *
 * A bank rejects a whole file for one bad field, and a half-written file is
 * worse than none, so the stage works in two passes: it first collects the
 * qualifying payouts and checks everything the bank or the schema would
 * refuse (ids of at most 35 characters, positive amounts in the currency's
 * exponent, IBANs that pass mod-97, BICs of the right shape, a three-letter
 * currency), and opens the output only when all of it holds. The second
 * pass writes the file, whose group header needs the count and sum up front
 * anyway. With nothing to pay no file is written at all, so an empty
 * message never reaches a bank.
 *
 * The schema checks shapes but not arithmetic; the counts and control sums
 * here come from the same integer minor units the transfers are written
 * from, so they agree to the cent by construction. Times come from the
 * run's clock and transfers keep the core's partner order, so the same
 * payouts give the same bytes.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

/* pain.001.001.03 limits: Max35Text ids, IBAN2007Identifier, BIC of 8 or
 * 11, and names kept to 70 characters (the limit banks and the EPC rules
 * apply to Nm, stricter than the schema's 140). */
#define ID_MAX 35
#define IBAN_MIN 15 /* Norway's, the shortest in use */
#define IBAN_MAX 34
#define BIC_CAP 12
#define NAME_MAX_CHARS 70
#define NAME_CAP (NAME_MAX_CHARS * 4 + 1) /* UTF-8: at most 4 bytes a character */
#define AMOUNT_CAP 32
/* The schema's amounts allow 18 digits in all and 5 after the point. */
#define AMOUNT_LIMIT INT64_C(1000000000000000000)
#define MAX_EXPONENT 5
/* Write in chunks rather than holding a large batch's file in memory. */
#define FLUSH_AT 65536

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_PATH, 0, "pain001-{period}-{run}.xml",
     "pain.001 XML file to write, under the output directory", NULL, NULL},
    {"debtor_name", PAYRUN_KEY_STRING, 1, NULL,
     "name of the account holder paying the payouts, at most 70 characters", NULL, NULL},
    {"debtor_iban", PAYRUN_KEY_STRING, 1, NULL, "IBAN of the account the payouts are paid from",
     NULL, NULL},
    {"debtor_bic", PAYRUN_KEY_STRING, 1, NULL, "BIC of the paying bank, 8 or 11 characters",
     NULL, NULL},
    {"message_id_prefix", PAYRUN_KEY_STRING, 0, "PAYRUN",
     "start of the message id PREFIX-ORG-PERIOD, letters, digits, - and _", NULL, NULL},
    {"charge_bearer", PAYRUN_KEY_ENUM, 0, "SLEV", "who bears the charges: SLEV, SHAR, DEBT or CRED",
     "SLEV|SHAR|DEBT|CRED", NULL},
    {"batch_booking", PAYRUN_KEY_BOOL, 0, "true",
     "ask the bank for one debit for the whole batch (BtchBookg)", NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

/* One credit transfer, copied out of the payout view: views live only
 * during the each_payout callback, and the file is written after it. */
struct transfer {
    char id[ID_MAX + 1];
    char iban[IBAN_MAX + 1];
    char bic[BIC_CAP];
    char name[NAME_CAP];
    char amount[AMOUNT_CAP];
};

/* A growable byte buffer; a failed allocation sticks in `failed`, so the
 * writer checks once per flush instead of after every element. */
struct buf {
    char *data;
    size_t len, cap;
    int failed;
};

struct pain_ctx {
    const struct payrun_host *host;
    payrun_stage *st; /* set for the duration of run() */

    /* from the configuration and the batch, checked at init */
    const char *path;
    const char *period;
    char currency[4];
    int exponent;
    char created[32];    /* CreDtTm: the run clock */
    char exec_date[11];  /* ReqdExctnDt: the run clock's date */
    char msg_id[ID_MAX + 1];
    char pmt_inf_id[ID_MAX + 1];
    char debtor_name[NAME_CAP];
    char debtor_iban[IBAN_MAX + 1];
    char debtor_bic[BIC_CAP];
    char charge_bearer[5];
    int batch_booking;

    /* the first pass */
    struct transfer *tx;
    size_t n_tx, cap_tx;
    int64_t sum;
    int64_t n_refused;
    int refused_status;
    char first_refusal[768];

    /* the second pass */
    payrun_output *out;
    struct buf buf;
};

static const char *S(const char *s)
{
    return s ? s : "";
}

static int is_upper(char ch)
{
    return ch >= 'A' && ch <= 'Z';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* ---- text a bank takes -------------------------------------------------- */

/* Decode one UTF-8 sequence of `s` (`n` bytes available): its length, with
 * the code point in *cp, or 0 when it is not well formed (overlong forms,
 * surrogates and code points past U+10FFFF included), which an XML parser
 * would reject along with the whole file. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t len;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, c = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, c = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, c = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/*
 * Copy `in` to out[cap] as a name a bank takes: valid UTF-8 (a malformed
 * byte becomes '?', so the damage stays visible), no control characters
 * (C0, DEL, C1: XML 1.0 forbids most of them and banks refuse the rest),
 * tab and line breaks read as spaces, runs of spaces collapsed and none at
 * either end. At most `max_chars` characters are kept; *truncated says
 * whether more followed. Returns the number of characters written.
 */
static size_t clean_text(const char *in, char *out, size_t cap, size_t max_chars, int *truncated)
{
    const unsigned char *s = (const unsigned char *)S(in);
    size_t n = strlen((const char *)s), i = 0, len = 0, chars = 0;
    int space = 0;

    *truncated = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t k = utf8_decode(s + i, n - i, &cp);
        const unsigned char *src = s + i;
        size_t src_len = k;

        if (k == 0 || cp == 0xFFFE || cp == 0xFFFF) { /* not XML characters */
            src = (const unsigned char *)"?";
            src_len = 1;
            cp = '?';
            if (k == 0)
                k = 1;
        }
        i += k;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
            space = chars > 0;
            continue;
        }
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            continue;
        if (chars + (size_t)space + 1 > max_chars || len + (size_t)space + src_len + 1 > cap) {
            *truncated = 1;
            break;
        }
        if (space) {
            out[len++] = ' ';
            chars++;
            space = 0;
        }
        memcpy(out + len, src, src_len);
        len += src_len;
        chars++;
    }
    out[len] = '\0';
    return chars;
}

/* The characters ids are made of. Max35Text allows any text, but banks
 * (and the EPC's SEPA rules) accept far less; letters, digits and '-'
 * pass everywhere, and '_' is kept because payrun's own payout ids
 * ("po_...") and org names use it, and EndToEndId must be the payout id
 * so the bank's answer maps back to it. Returns the first bad character's
 * position, or -1 when every character is fine. */
static long id_bad_char(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!is_upper(*p) && !(*p >= 'a' && *p <= 'z') && !is_digit(*p) && *p != '-' &&
            *p != '_')
            return (long)(p - s);
    return -1;
}

/*
 * Put `in` in an IBAN's electronic form (spaces dropped, letters upper
 * case) in out[IBAN_MAX + 1] and check it (ISO 13616): country code, two
 * check digits, at most 34 letters and digits, and mod-97 of the
 * rearranged number equal to 1, which catches every single mistyped
 * character and most transpositions. Returns 0, or -1 with *why set.
 */
static int iban_check(const char *in, char *out, const char **why)
{
    size_t n = 0;
    unsigned rem = 0;

    for (const char *p = S(in); *p; p++) {
        char ch = *p;
        if (ch == ' ')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (!is_upper(ch) && !is_digit(ch)) {
            *why = "has a character other than letters, digits and spaces";
            return -1;
        }
        if (n == IBAN_MAX) {
            *why = "is longer than 34 characters";
            return -1;
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    if (n < IBAN_MIN) {
        *why = "is shorter than any IBAN (15 characters)";
        return -1;
    }
    if (!is_upper(out[0]) || !is_upper(out[1]) || !is_digit(out[2]) || !is_digit(out[3])) {
        *why = "does not start with a country code and two check digits";
        return -1;
    }
    /* The first four characters move to the end; a letter counts as two
     * digits (A = 10 ... Z = 35). The remainder never exceeds 96, so an
     * unsigned holds every step. */
    for (size_t i = 0; i < n; i++) {
        char ch = out[(i + 4) % n];
        if (is_digit(ch))
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    if (rem != 1) {
        *why = "fails the mod-97 check: a character is mistyped or transposed";
        return -1;
    }
    return 0;
}

/* A BIC (ISO 9362) in the schema's pattern
 * [A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?, after dropping spaces and
 * upper-casing, into out[BIC_CAP]. Returns 0, or -1. */
static int bic_check(const char *in, char *out)
{
    size_t n = 0;

    for (const char *p = S(in); *p; p++) {
        char ch = *p;
        if (ch == ' ')
            continue;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (n == BIC_CAP - 1)
            return -1;
        out[n++] = ch;
    }
    out[n] = '\0';
    if (n != 8 && n != 11)
        return -1;
    for (size_t i = 0; i < 6; i++)
        if (!is_upper(out[i]))
            return -1;
    if (!is_upper(out[6]) && !(out[6] >= '2' && out[6] <= '9'))
        return -1;
    if (!(is_upper(out[7]) && out[7] != 'O') && !is_digit(out[7]))
        return -1;
    for (size_t i = 8; i < n; i++)
        if (!is_upper(out[i]) && !is_digit(out[i]))
            return -1;
    return 0;
}

/* The core's money formatting, checked to be the schema's form: digits,
 * and exactly `exponent` of them after a point (none and no point for an
 * exponent of 0). A core that printed a sign, grouping or a decimal comma
 * would make a file the bank refuses, so that is caught here. */
static int amount_text(struct pain_ctx *c, int64_t amount, char *buf)
{
    int len = c->host->format_money(c->st, amount, buf, AMOUNT_CAP);
    int point = c->exponent > 0 ? len - c->exponent - 1 : len;

    if (len <= 0 || point < 1)
        return -1;
    for (int i = 0; i < len; i++) {
        if (i == point) {
            if (buf[i] != '.')
                return -1;
        } else if (!is_digit(buf[i])) {
            return -1;
        }
    }
    return 0;
}

/* ---- the buffer and the XML writer ------------------------------------- */

static void buf_put(struct buf *b, const char *data, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n)
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
}

static void put(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Every text node and attribute goes through here, ids included: they are
 * checked already, but an escaped id costs nothing and a missed one
 * breaks the file. */
static void put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        case '\'': put(b, "&apos;"); break;
        default: buf_put(b, s, 1); break;
        }
    }
}

static void indent(struct buf *b, int depth)
{
    for (int i = 0; i < depth; i++)
        put(b, "  ");
}

static void open_tag(struct buf *b, int depth, const char *name)
{
    indent(b, depth);
    put(b, "<");
    put(b, name);
    put(b, ">\n");
}

static void close_tag(struct buf *b, int depth, const char *name)
{
    indent(b, depth);
    put(b, "</");
    put(b, name);
    put(b, ">\n");
}

/* <name>text</name> on a line of its own. */
static void put_elem(struct buf *b, int depth, const char *name, const char *text)
{
    indent(b, depth);
    put(b, "<");
    put(b, name);
    put(b, ">");
    put_escaped(b, text);
    put(b, "</");
    put(b, name);
    put(b, ">\n");
}

/* <Tag><FinInstnId><BIC>bic</BIC></FinInstnId></Tag> */
static void put_agent(struct buf *b, int depth, const char *tag, const char *bic)
{
    open_tag(b, depth, tag);
    open_tag(b, depth + 1, "FinInstnId");
    put_elem(b, depth + 2, "BIC", bic);
    close_tag(b, depth + 1, "FinInstnId");
    close_tag(b, depth, tag);
}

/* <Tag><Id><IBAN>iban</IBAN></Id></Tag> */
static void put_account(struct buf *b, int depth, const char *tag, const char *iban)
{
    open_tag(b, depth, tag);
    open_tag(b, depth + 1, "Id");
    put_elem(b, depth + 2, "IBAN", iban);
    close_tag(b, depth + 1, "Id");
    close_tag(b, depth, tag);
}

/* <Tag><Nm>name</Nm></Tag> */
static void put_party(struct buf *b, int depth, const char *tag, const char *name)
{
    open_tag(b, depth, tag);
    put_elem(b, depth + 1, "Nm", name);
    close_tag(b, depth, tag);
}

/* Hand the buffer to the core. Host functions report their own failures
 * (plugin.h), so theirs are passed on, not reported twice. */
static int flush(struct pain_ctx *c)
{
    int rc;

    if (c->buf.failed)
        return c->host->error(c->st, PAYRUN_ERR, NULL, "out of memory writing \"%s\"", c->path);
    if (c->buf.len == 0)
        return PAYRUN_OK;
    rc = c->host->output_write(c->out, c->buf.data, c->buf.len);
    c->buf.len = 0;
    return rc == PAYRUN_OK ? PAYRUN_OK : rc < 0 ? rc : PAYRUN_ERR_IO;
}

static void put_header(struct pain_ctx *c, const char *nb_of_txs, const char *ctrl_sum)
{
    struct buf *b = &c->buf;

    put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put(b, "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">\n");
    open_tag(b, 1, "CstmrCdtTrfInitn");
    open_tag(b, 2, "GrpHdr");
    put_elem(b, 3, "MsgId", c->msg_id);
    put_elem(b, 3, "CreDtTm", c->created);
    put_elem(b, 3, "NbOfTxs", nb_of_txs);
    put_elem(b, 3, "CtrlSum", ctrl_sum);
    put_party(b, 3, "InitgPty", c->debtor_name);
    close_tag(b, 2, "GrpHdr");

    /* One payment block: one debtor account, one execution date. */
    open_tag(b, 2, "PmtInf");
    put_elem(b, 3, "PmtInfId", c->pmt_inf_id);
    put_elem(b, 3, "PmtMtd", "TRF");
    put_elem(b, 3, "BtchBookg", c->batch_booking ? "true" : "false");
    put_elem(b, 3, "NbOfTxs", nb_of_txs);
    put_elem(b, 3, "CtrlSum", ctrl_sum);
    put_elem(b, 3, "ReqdExctnDt", c->exec_date);
    put_party(b, 3, "Dbtr", c->debtor_name);
    put_account(b, 3, "DbtrAcct", c->debtor_iban);
    put_agent(b, 3, "DbtrAgt", c->debtor_bic);
    put_elem(b, 3, "ChrgBr", c->charge_bearer);
}

static void put_transfer(struct pain_ctx *c, const struct transfer *t)
{
    struct buf *b = &c->buf;

    open_tag(b, 3, "CdtTrfTxInf");
    open_tag(b, 4, "PmtId");
    put_elem(b, 5, "EndToEndId", t->id);
    close_tag(b, 4, "PmtId");
    open_tag(b, 4, "Amt");
    indent(b, 5);
    put(b, "<InstdAmt Ccy=\"");
    put_escaped(b, c->currency);
    put(b, "\">");
    put(b, t->amount);
    put(b, "</InstdAmt>\n");
    close_tag(b, 4, "Amt");
    put_agent(b, 4, "CdtrAgt", t->bic);
    put_party(b, 4, "Cdtr", t->name);
    put_account(b, 4, "CdtrAcct", t->iban);
    open_tag(b, 4, "RmtInf");
    indent(b, 5);
    put(b, "<Ustrd>Commission ");
    put_escaped(b, c->period);
    put(b, " ");
    put_escaped(b, t->id);
    put(b, "</Ustrd>\n");
    close_tag(b, 4, "RmtInf");
    close_tag(b, 3, "CdtTrfTxInf");
}

static void put_footer(struct pain_ctx *c)
{
    close_tag(&c->buf, 2, "PmtInf");
    close_tag(&c->buf, 1, "CstmrCdtTrfInitn");
    put(&c->buf, "</Document>\n");
}

/* ---- the first pass: choose and check ------------------------------------ */

/*
 * Note a payout that cannot be paid. The first refusal becomes the stage's
 * error; later ones are logged as they are found, so a finance team fixes
 * every bad partner in one round instead of one per run.
 */
static void refuse(struct pain_ctx *c, int status, const char *fmt, ...) PAYRUN_PRINTF(3, 4);

static void refuse(struct pain_ctx *c, int status, const char *fmt, ...)
{
    char msg[sizeof(c->first_refusal)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->n_refused++ == 0) {
        memcpy(c->first_refusal, msg, sizeof(msg));
        c->refused_status = status;
    } else {
        c->host->log(c->st, PAYRUN_LOG_ERROR, "%s", msg);
    }
}

static int push_transfer(struct pain_ctx *c, const struct transfer *t)
{
    if (c->n_tx == c->cap_tx) {
        size_t cap = c->cap_tx ? c->cap_tx * 2 : 16;
        struct transfer *p;
        if (cap > SIZE_MAX / sizeof(*p))
            return -1;
        p = realloc(c->tx, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        c->tx = p;
        c->cap_tx = cap;
    }
    c->tx[c->n_tx++] = *t;
    return 0;
}

static int on_payout(void *ud, const struct payrun_payout_view *p)
{
    struct pain_ctx *c = ud;
    const struct payrun_host *h = c->host;
    const char *id = S(p->id), *partner = S(p->partner_id), *why = NULL;
    int has_iban = S(p->iban)[0] != '\0', has_bic = S(p->bic)[0] != '\0';
    int truncated = 0, bad = 0;
    long at;
    struct transfer t;
    int64_t sum;

    if (strcmp(S(p->status), "approved") != 0)
        return PAYRUN_OK;
    if (S(p->routing_number)[0] != '\0' && S(p->account_number)[0] != '\0') {
        /* The NACHA exporter pays US accounts; listing this payout here
         * too would pay it twice. */
        h->log(c->st, PAYRUN_LOG_DEBUG, "payout \"%s\": US account, left to the NACHA file", id);
        return PAYRUN_OK;
    }
    if (!has_iban || !has_bic) {
        if (has_iban || has_bic)
            h->log(c->st, PAYRUN_LOG_WARN,
                   "payout \"%s\" of partner \"%s\" is approved but has %s; it is in no "
                   "pain.001 file", id, partner,
                   has_iban ? "an IBAN and no BIC" : "a BIC and no IBAN");
        return PAYRUN_OK;
    }

    memset(&t, 0, sizeof(t));
    /* EndToEndId is the payout id, so the bank's answer names the payout. */
    at = id_bad_char(id);
    if (id[0] == '\0' || strlen(id) > ID_MAX || at >= 0) {
        refuse(c, PAYRUN_ERR_INPUT,
               "payout \"%s\" of partner \"%s\": its id cannot be an EndToEndId "
               "(%zu characters, at most %d, of letters, digits, - and _)",
               id, partner, strlen(id), ID_MAX);
        return PAYRUN_OK;
    }
    memcpy(t.id, id, strlen(id) + 1);

    if (p->amount <= 0) {
        char shown[AMOUNT_CAP];
        if (h->format_money(c->st, p->amount, shown, sizeof(shown)) < 0)
            snprintf(shown, sizeof(shown), "%" PRId64 " minor units", p->amount);
        refuse(c, PAYRUN_ERR_INPUT,
               "payout \"%s\" of partner \"%s\" has amount %s; a credit transfer must be "
               "positive", id, partner, shown);
        bad = 1;
    } else if (p->amount >= AMOUNT_LIMIT || amount_text(c, p->amount, t.amount) != 0) {
        refuse(c, PAYRUN_ERR_INPUT,
               "payout \"%s\" of partner \"%s\": amount %" PRId64 " (minor units) cannot be "
               "written as a pain.001 amount of at most 18 digits", id, partner, p->amount);
        bad = 1;
    }
    if (S(p->currency)[0] != '\0' && strcmp(p->currency, c->currency) != 0) {
        refuse(c, PAYRUN_ERR_INPUT,
               "payout \"%s\" of partner \"%s\" is in %s, not in the batch currency %s", id,
               partner, p->currency, c->currency);
        bad = 1;
    }
    if (iban_check(p->iban, t.iban, &why) != 0) {
        refuse(c, PAYRUN_ERR_INPUT, "partner \"%s\" (payout \"%s\"): IBAN \"%s\" %s", partner,
               id, p->iban, why);
        bad = 1;
    }
    if (bic_check(p->bic, t.bic) != 0) {
        refuse(c, PAYRUN_ERR_INPUT,
               "partner \"%s\" (payout \"%s\"): BIC \"%s\" is not 8 or 11 characters of the "
               "form BANKCCLL[BBB]", partner, id, p->bic);
        bad = 1;
    }
    /* The holder's name on the account when known: that is whom the bank
     * checks the payment against. */
    if (clean_text(p->account_name, t.name, sizeof(t.name), NAME_MAX_CHARS, &truncated) == 0)
        clean_text(p->partner_name, t.name, sizeof(t.name), NAME_MAX_CHARS, &truncated);
    if (t.name[0] == '\0') {
        refuse(c, PAYRUN_ERR_INPUT, "partner \"%s\" (payout \"%s\") has no name to pay", partner,
               id);
        bad = 1;
    } else if (truncated) {
        h->log(c->st, PAYRUN_LOG_WARN,
               "partner \"%s\" (payout \"%s\"): name cut to the first %d characters", partner,
               id, NAME_MAX_CHARS);
    }
    if (bad)
        return PAYRUN_OK;

    if (__builtin_add_overflow(c->sum, p->amount, &sum) || sum >= AMOUNT_LIMIT) {
        refuse(c, PAYRUN_ERR_INPUT,
               "the control sum passes 18 digits at payout \"%s\"; split the batch", id);
        return PAYRUN_OK;
    }
    if (push_transfer(c, &t) != 0)
        return h->error(c->st, PAYRUN_ERR, NULL, "out of memory");
    c->sum = sum;
    return PAYRUN_OK;
}

/* ---- the second pass: write --------------------------------------------- */

static int write_file(struct pain_ctx *c, const char *ctrl_sum)
{
    const struct payrun_host *h = c->host;
    char nb_of_txs[24];
    int rc, rc_close;

    snprintf(nb_of_txs, sizeof(nb_of_txs), "%zu", c->n_tx);
    rc = h->output_open(c->st, c->path, 0, &c->out);
    if (rc != PAYRUN_OK)
        return rc;
    c->buf.len = 0;
    c->buf.failed = 0;
    put_header(c, nb_of_txs, ctrl_sum);
    for (size_t i = 0; rc == PAYRUN_OK && i < c->n_tx; i++) {
        put_transfer(c, &c->tx[i]);
        rc = h->output_list(c->out, c->tx[i].id);
        if (rc == PAYRUN_OK && c->buf.len >= FLUSH_AT)
            rc = flush(c);
    }
    if (rc == PAYRUN_OK) {
        put_footer(c);
        rc = flush(c);
    }
    /* Close even after a failure: the core then discards the temp file. */
    rc_close = h->output_close(c->out);
    c->out = NULL;
    if (rc == PAYRUN_OK && rc_close != PAYRUN_OK)
        rc = rc_close < 0 ? rc_close : PAYRUN_ERR_IO;
    return rc;
}

static int pain_run(void *ctx, payrun_stage *st)
{
    struct pain_ctx *c = ctx;
    const struct payrun_host *h = c->host;
    int rc;

    c->st = st;
    c->n_tx = 0;
    c->sum = 0;
    c->n_refused = 0;
    rc = h->each_payout(st, on_payout, c);
    if (rc != PAYRUN_OK)
        return rc;
    if (c->n_refused > 0) {
        const char *hint = "no pain.001 file was written; correct the payouts or partners named "
                           "and run the pipeline again";
        if (c->n_refused == 1)
            return h->error(st, c->refused_status, hint, "%s", c->first_refusal);
        return h->error(st, c->refused_status, hint, "%s (and %" PRId64 " more, logged above)",
                        c->first_refusal, c->n_refused - 1);
    }
    if (c->n_tx > 0) {
        char ctrl_sum[AMOUNT_CAP];
        if (amount_text(c, c->sum, ctrl_sum) != 0)
            return h->error(st, PAYRUN_ERR, NULL, "cannot format the control sum %" PRId64,
                            c->sum);
        rc = write_file(c, ctrl_sum);
        if (rc != PAYRUN_OK)
            return rc;
        h->log(st, PAYRUN_LOG_INFO, "wrote %zu credit transfers of %s %s in all to \"%s\"",
               c->n_tx, ctrl_sum, c->currency, c->path);
    } else {
        h->log(st, PAYRUN_LOG_INFO,
               "no approved payout is paid by IBAN and BIC; no pain.001 file written");
    }
    h->count(st, "transfers", (int64_t)c->n_tx);
    h->count(st, "control_sum_minor", c->sum);
    return PAYRUN_OK;
}

/* ---- init: the configuration and the batch -------------------------------- */

static int config_error(struct pain_ctx *c, payrun_stage *st, const char *key)
{
    return c->host->error(st, PAYRUN_ERR_CONFIG, "set it in the stage's `with:` block",
                          "missing key \"%s\"", key);
}

static int read_config(struct pain_ctx *c, payrun_stage *st)
{
    const struct payrun_host *h = c->host;
    const char *v = NULL, *why = NULL;
    int truncated = 0;
    long at;

    if (h->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK)
        return config_error(c, st, "path");

    if (h->cfg_string(st, "debtor_name", -1, NULL, &v) != PAYRUN_OK)
        return config_error(c, st, "debtor_name");
    if (clean_text(v, c->debtor_name, sizeof(c->debtor_name), NAME_MAX_CHARS, &truncated) == 0)
        return h->error(st, PAYRUN_ERR_CONFIG, NULL, "debtor_name is empty");
    if (truncated)
        return h->error(st, PAYRUN_ERR_CONFIG, "banks take at most 70 characters",
                        "debtor_name \"%s...\" is longer than %d characters", c->debtor_name,
                        NAME_MAX_CHARS);

    if (h->cfg_string(st, "debtor_iban", -1, NULL, &v) != PAYRUN_OK)
        return config_error(c, st, "debtor_iban");
    if (iban_check(v, c->debtor_iban, &why) != 0)
        return h->error(st, PAYRUN_ERR_CONFIG, "copy the IBAN from the bank's statement",
                        "debtor_iban \"%s\" %s", v, why);

    if (h->cfg_string(st, "debtor_bic", -1, NULL, &v) != PAYRUN_OK)
        return config_error(c, st, "debtor_bic");
    if (bic_check(v, c->debtor_bic) != 0)
        return h->error(st, PAYRUN_ERR_CONFIG, "a BIC is 8 or 11 characters, e.g. DEUTDEFF",
                        "debtor_bic \"%s\" is not a BIC", v);

    if (h->cfg_string(st, "charge_bearer", -1, NULL, &v) != PAYRUN_OK)
        return config_error(c, st, "charge_bearer");
    /* The core checks ENUM keys; checked again because the value goes
     * straight into the file. */
    if (strcmp(v, "SLEV") != 0 && strcmp(v, "SHAR") != 0 && strcmp(v, "DEBT") != 0 &&
        strcmp(v, "CRED") != 0)
        return h->error(st, PAYRUN_ERR_CONFIG, "use SLEV, SHAR, DEBT or CRED",
                        "charge_bearer \"%s\" is not a charge bearer code", v);
    memcpy(c->charge_bearer, v, 5);

    if (h->cfg_bool(st, "batch_booking", -1, NULL, &c->batch_booking) != PAYRUN_OK)
        return config_error(c, st, "batch_booking");

    if (h->cfg_string(st, "message_id_prefix", -1, NULL, &v) != PAYRUN_OK)
        return config_error(c, st, "message_id_prefix");
    at = id_bad_char(v);
    if (v[0] == '\0' || at >= 0)
        return h->error(st, PAYRUN_ERR_CONFIG, "use letters, digits, - and _",
                        "message_id_prefix \"%s\" is %s", v,
                        v[0] == '\0' ? "empty" : "not made of letters, digits, - and _");
    return PAYRUN_OK;
}

/* The message and payment-block ids, from the prefix, org and period;
 * refused here, before anything is written, when the schema's 35
 * characters cannot hold them. */
static int make_ids(struct pain_ctx *c, payrun_stage *st)
{
    const struct payrun_host *h = c->host;
    const char *prefix = NULL, *org = S(h->org(st));
    char id[256], hint[160];
    /* "-org-period", "-RUN" (up to 6 digits) and the "-1" of PmtInfId */
    size_t fixed = strlen(org) + strlen(c->period) + 2 + 7 + 2;
    int n;

    if (h->cfg_string(st, "message_id_prefix", -1, NULL, &prefix) != PAYRUN_OK)
        return config_error(c, st, "message_id_prefix");
    if (fixed < ID_MAX)
        snprintf(hint, sizeof(hint),
                 "shorten message_id_prefix to at most %zu characters: the payment "
                 "information id adds \"-1\" to the message id", ID_MAX - fixed);
    else
        snprintf(hint, sizeof(hint), "the org name \"%.64s\" is too long for a pain.001 id",
                 org);

    if (id_bad_char(org) >= 0 || id_bad_char(c->period) >= 0)
        return h->error(st, PAYRUN_ERR_CONFIG, NULL,
                        "org \"%s\" or period \"%s\" has characters a pain.001 id cannot hold",
                        org, c->period);
    /* The run's number makes each pay run's message id its own: a bank
     * refuses a repeated MsgId as a duplicate submission. */
    if (PAYRUN_HOST_HAS(h, run_number))
        n = snprintf(id, sizeof(id), "%s-%s-%s-%lld", prefix, org, c->period,
                     (long long)h->run_number(st));
    else
        n = snprintf(id, sizeof(id), "%s-%s-%s", prefix, org, c->period);
    if (n < 0 || (size_t)n >= sizeof(id) || n > ID_MAX)
        return h->error(st, PAYRUN_ERR_CONFIG, hint,
                        "message id \"%s\" is %d characters; pain.001 allows at most %d", id, n,
                        ID_MAX);
    memcpy(c->msg_id, id, (size_t)n + 1);
    n = snprintf(id, sizeof(id), "%s-1", c->msg_id);
    if (n < 0 || n > ID_MAX)
        return h->error(st, PAYRUN_ERR_CONFIG, hint,
                        "payment information id \"%s\" is %d characters; pain.001 allows at "
                        "most %d", id, n, ID_MAX);
    memcpy(c->pmt_inf_id, id, (size_t)n + 1);
    return PAYRUN_OK;
}

/* The batch's currency, exponent, period and clock, each refused here if
 * it would make a file the schema or the bank rejects. */
static int check_batch(struct pain_ctx *c, payrun_stage *st)
{
    const struct payrun_host *h = c->host;
    const char *cur = S(h->currency(st)), *clock = S(h->run_clock(st));
    static const char clock_shape[] = "dddd-dd-ddTdd:dd:ddZ";

    if (!is_upper(cur[0]) || !is_upper(cur[1]) || !is_upper(cur[2]) || cur[3] != '\0')
        return h->error(st, PAYRUN_ERR_CONFIG, "set `currency:` to an ISO 4217 code such as EUR",
                        "currency \"%s\" is not a three-letter upper-case ISO 4217 code", cur);
    memcpy(c->currency, cur, 4);

    c->exponent = h->currency_exponent(st);
    if (c->exponent < 0 || c->exponent > MAX_EXPONENT)
        return h->error(st, PAYRUN_ERR_CONFIG, NULL,
                        "currency %s has %d decimals; pain.001 amounts take at most %d",
                        c->currency, c->exponent, MAX_EXPONENT);

    c->period = S(h->period(st));
    if (c->period[0] == '\0')
        return h->error(st, PAYRUN_ERR_CONFIG, "pass --period YYYY-MM", "no period");

    /* The core's clock is "YYYY-MM-DDTHH:MM:SSZ" (UTC), an xs:dateTime as
     * it stands. */
    if (strlen(clock) != sizeof(clock_shape) - 1)
        goto bad_clock;
    for (size_t i = 0; clock_shape[i]; i++)
        if (clock_shape[i] == 'd' ? !is_digit(clock[i]) : clock[i] != clock_shape[i])
            goto bad_clock;
    memcpy(c->created, clock, sizeof(clock_shape));
    memcpy(c->exec_date, clock, 10);
    c->exec_date[10] = '\0';
    return PAYRUN_OK;

bad_clock:
    return h->error(st, PAYRUN_ERR, NULL, "run clock \"%s\" is not YYYY-MM-DDTHH:MM:SSZ", clock);
}

static void pain_destroy(void *ctx)
{
    struct pain_ctx *c = ctx;

    if (c == NULL)
        return;
    free(c->tx);
    free(c->buf.data);
    free(c);
}

static int pain_init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct pain_ctx *c;
    int rc;

    /* output_list came with the payment-file members; an older core
     * cannot record what this file pays. */
    if (!PAYRUN_HOST_HAS(host, output_list))
        return host->error(st, PAYRUN_ERR, "upgrade payrun",
                           "this payrun core cannot list payouts in a bank file");
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    c->st = st;
    rc = read_config(c, st);
    if (rc == PAYRUN_OK)
        rc = check_batch(c, st);
    if (rc == PAYRUN_OK)
        rc = make_ids(c, st);
    if (rc != PAYRUN_OK) {
        pain_destroy(c);
        return rc;
    }
    *ctx = c;
    return PAYRUN_OK;
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "bank_pain001",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .description = "ISO 20022 pain.001.001.03 credit transfers for approved IBAN payouts",
    .keys = keys,
    .init = pain_init,
    .run = pain_run,
    .destroy = pain_destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
