/*
 * attribution_csv.c: the importer that reads one period's partners and
 * attribution lines from two CSV files (SPEC section 4) and hands each row
 * to the core through host->partner_put and host->line_add.
 *
 * Files are streamed: one physical line at a time from getline() into
 * libcsv, so the importer knows on which line each record starts and ends,
 * and its memory follows the longest record rather than the file. Only
 * LF ends a record; a CR before it is dropped as trailing "space", so CRLF
 * and LF files read alike while a CR inside quotes survives. libcsv's own
 * trimming of blanks is switched off: RFC 4180 makes spaces part of a
 * field, and a silently trimmed " 12.00" would hide a bad cell.
 *
 * A bad row is never dropped silently. It goes to the rejects CSV with its
 * file, line, reason and raw text, and is counted; with on_reject: fail
 * (the default) the whole file is still read so the rejects file lists
 * every bad row, and then the stage fails.
 *
 * All state lives in the context made by init; the file exports nothing
 * but payrun_plugin_descriptor().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <csv.h>

#include <payrun/plugin.h>

/* A record (all its physical lines) may not exceed this. An unclosed quote
 * would otherwise swallow the rest of the file into one field. */
#define MAX_RECORD_BYTES ((size_t)1 << 20)
/* libcsv grows a field's buffer by a fixed block, 128 bytes unless told:
 * a quote left open over MAX_RECORD_BYTES then took 8192 reallocs of up
 * to 1 MiB each (4.3 GB allocated in all, under valgrind; seconds under
 * ASan). 64 KiB blocks make that 16, and an ordinary record one. */
#define CSV_BLOCK_BYTES ((size_t)64 * 1024)
/* Fields kept per record; more are counted but not stored. */
#define MAX_FIELDS 1024
#define REASON_MAX 1024
#define HOST_WHY_MAX 512

static const char utf8_bom[] = "\xEF\xBB\xBF";

/* ---- descriptor keys ---------------------------------------------------- */

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_INPUT, 1, NULL,
     "attribution lines CSV to import, e.g. attributions-{period}.csv", NULL, NULL},
    {"partners", PAYRUN_KEY_INPUT, 1, NULL,
     "partners CSV, imported before the attribution lines", NULL, NULL},
    {"on_reject", PAYRUN_KEY_ENUM, 0, "fail",
     "what a bad row does: fail the stage, or skip it and import the good rows",
     "fail|skip", NULL},
    {"rejects", PAYRUN_KEY_PATH, 0, "rejects.csv",
     "CSV of every rejected row with file, line and reason; written only if a row is rejected",
     NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

/* ---- columns ------------------------------------------------------------ */

struct column {
    const char *name;
    int required;
};

enum {
    P_ID, P_NAME, P_TYPE, P_TIER, P_RATE, P_STATUS, P_CURRENCY, P_EMAIL,
    P_ROUTING, P_ACCOUNT, P_IBAN, P_BIC, P_ACCOUNT_NAME, P_NCOLS
};

static const struct column partner_columns[P_NCOLS] = {
    {"partner_id", 1}, {"name", 1}, {"type", 1}, {"tier", 1},
    {"commission_rate", 1}, {"status", 1}, {"currency", 1}, {"email", 1},
    {"routing_number", 0}, {"account_number", 0}, {"iban", 0}, {"bic", 0},
    {"account_name", 0},
};

enum {
    A_DEAL_ID, A_DEAL_NAME, A_DEAL_STATUS, A_CLOSED_ON, A_PARTNER_ID, A_MODEL,
    A_PERCENTAGE, A_AMOUNT, A_CURRENCY, A_PRODUCT_LINE, A_NCOLS
};

static const struct column attribution_columns[A_NCOLS] = {
    {"deal_id", 1}, {"deal_name", 1}, {"deal_status", 1}, {"closed_on", 1},
    {"partner_id", 1}, {"model", 1}, {"percentage", 1},
    {"attributed_amount", 1}, {"currency", 1}, {"product_line", 0},
};

#define MAX_COLS 16

/* Allowed values, '|'-separated, and how a message lists them. */
struct choice {
    const char *list;
    const char *said;
};

static const struct choice partner_types = {
    "affiliate|referral|reseller|integration",
    "affiliate, referral, reseller or integration"};
static const struct choice partner_tiers = {"bronze|silver|gold|platinum",
                                            "bronze, silver, gold or platinum"};
static const struct choice partner_statuses = {"active|inactive|pending",
                                               "active, inactive or pending"};
static const struct choice deal_statuses = {"won|lost|open", "won, lost or open"};
static const struct choice models = {
    "equal_split|first_touch|last_touch|time_decay|role_based",
    "equal_split, first_touch, last_touch, time_decay or role_based"};

/* ---- state -------------------------------------------------------------- */

struct field {
    char *text; /* NUL-terminated copy; grows, never shrinks */
    size_t len;
    size_t cap;
};

/* One input file being read, one record at a time. */
struct reader {
    const char *path; /* as configured, for error messages */
    const char *base; /* base name, for the rejects file */
    FILE *f;
    struct csv_parser csv;
    int csv_live;
    char *line;
    size_t line_cap;
    size_t line_len;
    int64_t lineno; /* physical lines read so far */
    int eof;
    int replay; /* next_record starts with the line already in `line` */

    /* The record being assembled. */
    int open;
    int ended; /* libcsv reported the end of the record */
    int nomem;
    int64_t start;      /* physical line where it starts */
    char *raw;          /* its physical lines, as read */
    size_t raw_len, raw_cap;
    struct field *fields;
    size_t n_fields; /* stored: at most MAX_FIELDS */
    size_t n_seen;   /* found in the record */
    size_t fields_cap;
    char malformed[REASON_MAX]; /* "" unless the record could not be parsed */
};

struct tally {
    int64_t read, imported, rejected, skipped;
};

/* Partner ids seen in partners.csv, to reject a second row for one id.
 * Grows with the number of partners, which the core stores anyway. */
struct seen_id {
    char *id;
    int64_t line;
};

struct acsv;

/* One kind of input file: its columns, how a row is imported, its counts. */
struct input_kind {
    const struct column *cols;
    size_t n_cols;
    int (*row)(struct acsv *c, payrun_stage *st, char *why, size_t why_len);
    const char *count_read, *count_imported, *count_rejected, *count_skipped;
};

struct acsv {
    const struct payrun_host *host;
    const char *path, *partners_path, *rejects_path;
    int skip_rejects;

    struct reader rd;
    int map[MAX_COLS]; /* column -> field index in the file, or -1 */
    size_t n_header;   /* fields in the header row */

    struct seen_id *seen;
    size_t seen_cap, seen_len;
    size_t *seen_slots;      /* open-addressing index into seen[]: entry + 1, 0 empty */
    size_t seen_nslots;      /* a power of two, at least twice seen_len */

    payrun_output *rejects;
    char *out;
    size_t out_len, out_cap;

    struct tally partners, lines;
    int64_t first_line;
    const char *first_file;
    char first_reason[REASON_MAX];
};

enum { ROW_IMPORTED = 0, ROW_SKIPPED = 1, ROW_REJECTED = 2 };

/* ---- small text helpers ------------------------------------------------- */

/* Append to a reason, separating problems of one row with "; ". */
static void why_add(char *why, size_t cap, const char *fmt, ...) PAYRUN_PRINTF(3, 4);

static void why_add(char *why, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(why);
    va_list ap;

    if (len > 0 && len + 2 < cap) {
        memcpy(why + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= cap)
        return;
    va_start(ap, fmt);
    vsnprintf(why + len, cap - len, fmt, ap);
    va_end(ap);
}

/*
 * Cell text in a message: quotes, backslashes and control bytes escaped so
 * a cell cannot forge a second log line, and cut (at a UTF-8 boundary) so
 * one long cell cannot push the reason out of the message.
 */
static const char *show(char *dst, size_t cap, const char *s)
{
    const size_t shown_max = 48;
    size_t len = strlen(s), shown = len < shown_max ? len : shown_max, o = 0;

    if (shown < len)
        while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
            shown--;
    for (size_t i = 0; i < shown && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7F) {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02X", ch);
        } else {
            dst[o++] = (char)ch;
        }
    }
    if (shown < len && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static void why_bad(char *why, size_t cap, const char *column, const char *value,
                    const char *expected)
{
    char q[256];

    why_add(why, cap, "bad %s \"%s\": %s", column, show(q, sizeof(q), value), expected);
}

/* Index of the first byte that is not well-formed UTF-8, or len. Overlong
 * forms, surrogates and code points above U+10FFFF are refused. */
static size_t utf8_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char ch = s[i];
        size_t n;

        if (ch < 0x80) {
            i++;
            continue;
        }
        if (ch >= 0xC2 && ch <= 0xDF)
            n = 1;
        else if (ch >= 0xE0 && ch <= 0xEF)
            n = 2;
        else if (ch >= 0xF0 && ch <= 0xF4)
            n = 3;
        else
            return i;
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        if ((ch == 0xE0 && s[i + 1] < 0xA0) || (ch == 0xED && s[i + 1] > 0x9F) ||
            (ch == 0xF0 && s[i + 1] < 0x90) || (ch == 0xF4 && s[i + 1] > 0x8F))
            return i;
        i += n + 1;
    }
    return len;
}

static int in_choices(const char *value, const char *list)
{
    size_t vlen = strlen(value);

    while (*list) {
        const char *bar = strchr(list, '|');
        size_t n = bar ? (size_t)(bar - list) : strlen(list);

        if (n == vlen && memcmp(list, value, n) == 0)
            return 1;
        list += n + (bar != NULL);
    }
    return 0;
}

static int check_choice(char *why, size_t cap, const char *column, const char *value,
                        const struct choice *ch)
{
    char expected[160];

    if (in_choices(value, ch->list))
        return 1;
    snprintf(expected, sizeof(expected), "expected %s", ch->said);
    why_bad(why, cap, column, value, expected);
    return 0;
}

static void require_text(char *why, size_t cap, const char *column, const char *value)
{
    if (value[0] == '\0')
        why_add(why, cap, "%s is empty", column);
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int digits(const char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* A real calendar date, YYYY-MM-DD, proleptic Gregorian leap years. */
static void check_date(char *why, size_t cap, const char *column, const char *s)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char expected[96];
    int y, m, d, dim;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        goto bad_form;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            goto bad_form;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (y < 1)
        goto bad_form;
    if (m < 1 || m > 12) {
        snprintf(expected, sizeof(expected), "month %02d does not exist", m);
        why_bad(why, cap, column, s, expected);
        return;
    }
    dim = month_days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        dim = 29;
    if (d < 1 || d > dim) {
        snprintf(expected, sizeof(expected), "day %02d does not exist: %04d-%02d has %d days",
                 d, y, m, dim);
        why_bad(why, cap, column, s, expected);
    }
    return;
bad_form:
    why_bad(why, cap, column, s, "expected a date as YYYY-MM-DD, such as 2026-02-28");
}

static void check_currency(char *why, size_t cap, const char *value)
{
    for (size_t i = 0; i < 3; i++)
        if (value[i] < 'A' || value[i] > 'Z')
            goto bad;
    if (value[3] == '\0')
        return;
bad:
    why_bad(why, cap, "currency", value,
            "expected a three-letter upper-case ISO 4217 code such as USD");
}

/* ---- reading records ---------------------------------------------------- */

/* libcsv callbacks. A field is copied into the record's reusable buffers;
 * an allocation failure is remembered, since a callback cannot return it. */
static void on_field(void *s, size_t len, void *data)
{
    struct reader *rd = data;
    struct field *f;

    if (rd->nomem)
        return;
    rd->n_seen++;
    if (rd->n_fields >= MAX_FIELDS)
        return;
    if (rd->n_fields == rd->fields_cap) {
        size_t cap = rd->fields_cap ? rd->fields_cap * 2 : 16;
        struct field *grown = realloc(rd->fields, cap * sizeof(*grown));

        if (grown == NULL) {
            rd->nomem = 1;
            return;
        }
        memset(grown + rd->fields_cap, 0, (cap - rd->fields_cap) * sizeof(*grown));
        rd->fields = grown;
        rd->fields_cap = cap;
    }
    f = &rd->fields[rd->n_fields];
    if (f->cap < len + 1) {
        size_t cap = len + 1 < 32 ? 32 : len + 1;
        char *grown = realloc(f->text, cap);

        if (grown == NULL) {
            rd->nomem = 1;
            return;
        }
        f->text = grown;
        f->cap = cap;
    }
    if (len > 0)
        memcpy(f->text, s, len);
    f->text[len] = '\0';
    f->len = len;
    rd->n_fields++;
}

static void on_record(int ch, void *data)
{
    struct reader *rd = data;

    (void)ch;
    rd->ended = 1;
}

static int is_cr(unsigned char ch) { return ch == '\r'; }
static int is_lf(unsigned char ch) { return ch == '\n'; }

static void parser_reset(struct reader *rd)
{
    if (rd->csv_live)
        csv_free(&rd->csv);
    csv_init(&rd->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
    csv_set_space_func(&rd->csv, is_cr);
    csv_set_term_func(&rd->csv, is_lf);
    csv_set_blk_size(&rd->csv, CSV_BLOCK_BYTES);
    rd->csv_live = 1;
}

static void set_malformed(struct reader *rd, const char *fmt, ...) PAYRUN_PRINTF(2, 3);

static void set_malformed(struct reader *rd, const char *fmt, ...)
{
    va_list ap;

    if (rd->malformed[0] != '\0')
        return; /* the first problem found explains the record best */
    va_start(ap, fmt);
    vsnprintf(rd->malformed, sizeof(rd->malformed), fmt, ap);
    va_end(ap);
}

static int only_line_ends(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static int raw_append(struct reader *rd, const char *s, size_t len)
{
    if (rd->raw_len + len + 1 > rd->raw_cap) {
        size_t cap = rd->raw_cap ? rd->raw_cap : 256;
        char *grown;

        while (cap < rd->raw_len + len + 1)
            cap *= 2;
        grown = realloc(rd->raw, cap);
        if (grown == NULL)
            return -1;
        rd->raw = grown;
        rd->raw_cap = cap;
    }
    memcpy(rd->raw + rd->raw_len, s, len);
    rd->raw_len += len;
    rd->raw[rd->raw_len] = '\0';
    return 0;
}

static int reader_open(struct acsv *c, payrun_stage *st, const char *path)
{
    struct reader *rd = &c->rd;
    const char *slash = strrchr(path, '/');
    static const char path_hint[] = "check the path in the stage's \"with:\" block";
    struct stat sb;

    rd->path = path;
    rd->base = slash ? slash + 1 : path;
    rd->lineno = 0;
    rd->eof = 0;
    rd->open = 0;
    rd->replay = 0;
    rd->f = fopen(path, "rb");
    if (rd->f == NULL)
        return c->host->error(st, PAYRUN_ERR_NOINPUT, path_hint, "cannot open \"%s\": %s", path,
                              strerror(errno));
    if (fstat(fileno(rd->f), &sb) == 0 && S_ISDIR(sb.st_mode))
        return c->host->error(st, PAYRUN_ERR_NOINPUT, path_hint,
                              "cannot read \"%s\": it is a directory", path);
    parser_reset(rd);
    return PAYRUN_OK;
}

static void reader_close(struct reader *rd)
{
    if (rd->f != NULL)
        fclose(rd->f);
    rd->f = NULL;
    if (rd->csv_live)
        csv_free(&rd->csv);
    rd->csv_live = 0;
}

static int out_of_memory(struct acsv *c, payrun_stage *st)
{
    return c->host->error(st, PAYRUN_ERR, NULL, "out of memory reading \"%s\" at line %lld",
                          c->rd.path, (long long)c->rd.lineno);
}

/* The next physical line into rd->line: 1, 0 at the end of the file, or a
 * reported failure. */
static int read_line(struct acsv *c, payrun_stage *st)
{
    struct reader *rd = &c->rd;
    ssize_t got;

    if (rd->replay) {
        rd->replay = 0;
        return 1;
    }
    errno = 0;
    got = getline(&rd->line, &rd->line_cap, rd->f);
    if (got < 0) {
        if (ferror(rd->f))
            return c->host->error(st, PAYRUN_ERR_IO, NULL, "cannot read \"%s\": %s", rd->path,
                                  strerror(errno ? errno : EIO));
        if (errno == ENOMEM)
            return out_of_memory(c, st);
        return 0;
    }
    rd->lineno++;
    rd->line_len = (size_t)got;
    return 1;
}

/*
 * Read the next record. Returns 1 with the record in c->rd (its fields, or
 * a reason in rd.malformed), 0 at the end of the file, or a reported
 * failure. Blank lines between records are skipped.
 */
static int next_record(struct acsv *c, payrun_stage *st)
{
    struct reader *rd = &c->rd;

    for (;;) {
        const char *p, *nul;
        size_t len, used, bad;
        int got;

        if (rd->eof)
            return 0;
        got = read_line(c, st);
        if (got < 0)
            return got;
        if (got == 0) {
            rd->eof = 1;
            if (!rd->open)
                return 0;
            /* The last line had no newline, or a quote is still open. */
            if (csv_fini(&rd->csv, on_field, on_record, rd) != 0)
                set_malformed(rd, "malformed CSV: %s: a quoted field is not closed by the "
                              "end of the file", csv_strerror(csv_error(&rd->csv)));
            else if (!rd->ended)
                set_malformed(rd, "malformed CSV: incomplete record at the end of the file");
            parser_reset(rd);
            rd->open = 0;
            return rd->nomem ? out_of_memory(c, st) : 1;
        }
        p = rd->line;
        len = rd->line_len;
        if (rd->lineno == 1 && len >= 3 && memcmp(p, utf8_bom, 3) == 0) {
            p += 3; /* spreadsheets write a byte order mark; it is not data */
            len -= 3;
        }
        if (!rd->open) {
            if (only_line_ends(p, len))
                continue;
            rd->open = 1;
            rd->ended = 0;
            rd->start = rd->lineno;
            rd->raw_len = 0;
            rd->n_fields = 0;
            rd->n_seen = 0;
            rd->malformed[0] = '\0';
        }
        if (len > MAX_RECORD_BYTES - rd->raw_len) {
            if (rd->raw_len > 0) {
                /* End the runaway record before this line, which may well
                 * start a good record once the parser is reset. */
                set_malformed(rd, "malformed CSV: record longer than %zu bytes (lines %lld to "
                              "%lld); is a quote not closed?", MAX_RECORD_BYTES,
                              (long long)rd->start, (long long)rd->lineno - 1);
                rd->replay = 1;
            } else {
                set_malformed(rd, "malformed CSV: line longer than %zu bytes", MAX_RECORD_BYTES);
                if (raw_append(rd, p, MAX_RECORD_BYTES) != 0)
                    return out_of_memory(c, st);
            }
            parser_reset(rd);
            rd->open = 0;
            return 1;
        }
        if (raw_append(rd, p, len) != 0)
            return out_of_memory(c, st);
        nul = memchr(p, '\0', len);
        if (nul != NULL)
            set_malformed(rd, "malformed CSV: NUL byte at line %lld, column %zu; a text file "
                          "holds none", (long long)rd->lineno, (size_t)(nul - rd->line) + 1);
        bad = utf8_bad_at((const unsigned char *)p, len);
        if (bad < len)
            set_malformed(rd, "not UTF-8: byte 0x%02X at line %lld, column %zu; save the file "
                          "as CSV UTF-8", (unsigned char)p[bad], (long long)rd->lineno,
                          bad + 1 + (size_t)(p - rd->line));
        used = csv_parse(&rd->csv, p, len, on_field, on_record, rd);
        if (rd->nomem)
            return out_of_memory(c, st);
        if (used < len) {
            int err = csv_error(&rd->csv);
            size_t column = used + 1 + (size_t)(p - rd->line);

            if (err != CSV_EPARSE)
                return out_of_memory(c, st);
            if (p[used] == '"')
                set_malformed(rd, "malformed CSV: %s: unexpected quote at line %lld, column "
                              "%zu; quote the whole field and double the quotes inside it",
                              csv_strerror(err), (long long)rd->lineno, column);
            else
                set_malformed(rd, "malformed CSV: %s: text after a closing quote at line "
                              "%lld, column %zu", csv_strerror(err), (long long)rd->lineno,
                              column);
            /* The rest of this physical line belongs to the bad record. */
            parser_reset(rd);
            rd->open = 0;
            return 1;
        }
        /* Only LF ends a record, and LF only ends a physical line, so a
         * record that ended did so at the end of this line. */
        if (rd->ended) {
            rd->open = 0;
            return 1;
        }
    }
}

/* The record's text for the rejects file: its lines, less the last newline. */
static size_t raw_record_len(const struct reader *rd)
{
    size_t n = rd->raw_len;

    if (n > 0 && rd->raw[n - 1] == '\n')
        n--;
    if (n > 0 && rd->raw[n - 1] == '\r')
        n--;
    return n;
}

/* Value of column `col` in the current record, or NULL if the file lacks
 * that (optional) column. */
static const char *field(const struct acsv *c, int col)
{
    int i = c->map[col];

    return i < 0 ? NULL : c->rd.fields[i].text;
}

/* ---- the rejects file --------------------------------------------------- */

static int out_put(struct acsv *c, const char *s, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 512;
        char *grown;

        while (cap < c->out_len + len)
            cap *= 2;
        grown = realloc(c->out, cap);
        if (grown == NULL)
            return -1;
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
    return 0;
}

/*
 * One text cell, RFC 4180 quoted when needed. A cell that a spreadsheet
 * would run as a formula (leading = + - @ tab CR LF) gets a leading
 * apostrophe: finance opens this file in a spreadsheet, and the raw record
 * is attacker-supplied text. A NUL byte (a row is rejected for holding
 * one, and its reason gives the line and column) is written as U+2400
 * SYMBOL FOR NULL: a NUL in the file would cut it short for every C string
 * reader and make grep call it binary.
 */
static int out_text_cell(struct acsv *c, const char *s, size_t len)
{
    static const char nul_symbol[] = "\xE2\x90\x80";
    int formula = len > 0 && s[0] != '\0' && strchr("=+-@\t\r\n", s[0]) != NULL;
    int quote = 0;
    int rc = 0;

    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        rc |= out_put(c, "\"", 1);
    if (formula)
        rc |= out_put(c, "'", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            rc |= out_put(c, "\"", 1);
        if (s[i] == '\0')
            rc |= out_put(c, nul_symbol, sizeof(nul_symbol) - 1);
        else
            rc |= out_put(c, s + i, 1);
    }
    if (quote)
        rc |= out_put(c, "\"", 1);
    return rc;
}

static int reject(struct acsv *c, payrun_stage *st, const char *reason)
{
    const struct payrun_host *h = c->host;
    const struct reader *rd = &c->rd;
    char num[32];
    int n, rc;

    if (c->first_file == NULL) {
        c->first_file = rd->base;
        c->first_line = rd->start;
        snprintf(c->first_reason, sizeof(c->first_reason), "%s", reason);
    }
    if (c->rejects == NULL) {
        static const char header[] = "file,line,reason,record\n";

        rc = h->output_open(st, c->rejects_path, PAYRUN_OUTPUT_KEEP_ON_FAILURE, &c->rejects);
        if (rc != PAYRUN_OK)
            return rc;
        rc = h->output_write(c->rejects, header, sizeof(header) - 1);
        if (rc != PAYRUN_OK)
            return rc;
    }
    c->out_len = 0;
    n = snprintf(num, sizeof(num), ",%lld,", (long long)rd->start);
    if (out_text_cell(c, rd->base, strlen(rd->base)) != 0 || out_put(c, num, (size_t)n) != 0 ||
        out_text_cell(c, reason, strlen(reason)) != 0 || out_put(c, ",", 1) != 0 ||
        out_text_cell(c, rd->raw, raw_record_len(rd)) != 0 || out_put(c, "\n", 1) != 0)
        return out_of_memory(c, st);
    return h->output_write(c->rejects, c->out, c->out_len);
}

/* ---- rows --------------------------------------------------------------- */

/* What partner_put or line_add said, as a row outcome. SKIPPED is only a
 * line_add answer; anywhere else it would drop a row without a trace. */
static int host_result(struct acsv *c, payrun_stage *st, int rc, const char *what,
                       int may_skip, const char *hwhy, char *why, size_t why_len)
{
    switch (rc) {
    case PAYRUN_OK:
        return ROW_IMPORTED;
    case PAYRUN_SKIPPED:
        if (may_skip)
            return ROW_SKIPPED;
        break;
    case PAYRUN_ERR_INPUT:
        why_add(why, why_len, "%s", hwhy[0] ? hwhy : "refused by the core");
        return ROW_REJECTED;
    default:
        if (rc < 0)
            return rc; /* already reported by the core */
        break;
    }
    return c->host->error(st, PAYRUN_ERR, NULL, "%s returned unexpected status %d", what, rc);
}

/* Parse money or a rate through the core; its reason, naming the column,
 * becomes part of the row's reason. */
static void check_number(char *why, size_t why_len, const char *column, int rc,
                         const char *hwhy)
{
    if (rc != PAYRUN_OK)
        why_add(why, why_len, "%s: %s", column, hwhy[0] ? hwhy : "bad value");
}

static uint64_t seen_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* Index of `id` in c->seen, or c->seen_len when not seen. */
static size_t seen_find(const struct acsv *c, const char *id)
{
    if (c->seen_nslots == 0)
        return c->seen_len;
    for (size_t k = (size_t)seen_hash(id) & (c->seen_nslots - 1);; k = (k + 1) & (c->seen_nslots - 1)) {
        size_t e = c->seen_slots[k];
        if (e == 0)
            return c->seen_len;
        if (strcmp(c->seen[e - 1].id, id) == 0)
            return e - 1;
    }
}

static void seen_place(struct acsv *c, size_t entry)
{
    size_t k = (size_t)seen_hash(c->seen[entry].id) & (c->seen_nslots - 1);
    while (c->seen_slots[k] != 0)
        k = (k + 1) & (c->seen_nslots - 1);
    c->seen_slots[k] = entry + 1;
}

static int seen_add(struct acsv *c, const char *id, int64_t line)
{
    if (c->seen_len == c->seen_cap) {
        size_t cap = c->seen_cap ? c->seen_cap * 2 : 64;
        struct seen_id *grown = realloc(c->seen, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        c->seen = grown;
        c->seen_cap = cap;
    }
    if ((c->seen_len + 1) * 2 > c->seen_nslots) {
        size_t n = c->seen_nslots ? c->seen_nslots * 2 : 128;
        size_t *slots = calloc(n, sizeof(*slots));
        if (slots == NULL)
            return -1;
        free(c->seen_slots);
        c->seen_slots = slots;
        c->seen_nslots = n;
        for (size_t i = 0; i < c->seen_len; i++)
            seen_place(c, i);
    }
    c->seen[c->seen_len].id = strdup(id);
    if (c->seen[c->seen_len].id == NULL)
        return -1;
    c->seen[c->seen_len].line = line;
    seen_place(c, c->seen_len);
    c->seen_len++;
    return 0;
}

static int partner_row(struct acsv *c, payrun_stage *st, char *why, size_t why_len)
{
    const struct payrun_host *h = c->host;
    struct payrun_partner p = {0};
    char hwhy[HOST_WHY_MAX] = "";
    const char *rate;
    int rc;

    p.partner_id = field(c, P_ID);
    p.name = field(c, P_NAME);
    p.type = field(c, P_TYPE);
    p.tier = field(c, P_TIER);
    rate = field(c, P_RATE);
    p.status = field(c, P_STATUS);
    p.currency = field(c, P_CURRENCY);
    p.email = field(c, P_EMAIL);
    p.routing_number = field(c, P_ROUTING);
    p.account_number = field(c, P_ACCOUNT);
    p.iban = field(c, P_IBAN);
    p.bic = field(c, P_BIC);
    p.account_name = field(c, P_ACCOUNT_NAME);

    require_text(why, why_len, "partner_id", p.partner_id);
    if (p.partner_id[0] != '\0') {
        /* Hashed: with ten thousand partners a linear search was most of
         * the import's time. */
        size_t i = seen_find(c, p.partner_id);

        if (i < c->seen_len) {
            char q[256];

            why_add(why, why_len, "duplicate partner_id \"%s\" (first at line %lld)",
                    show(q, sizeof(q), p.partner_id), (long long)c->seen[i].line);
        } else if (seen_add(c, p.partner_id, c->rd.start) != 0) {
            return out_of_memory(c, st);
        }
    }
    require_text(why, why_len, "name", p.name);
    check_choice(why, why_len, "type", p.type, &partner_types);
    check_choice(why, why_len, "tier", p.tier, &partner_tiers);
    rc = h->parse_rate(st, rate, strlen(rate), &p.commission_rate, hwhy, sizeof(hwhy));
    check_number(why, why_len, "commission_rate", rc, hwhy);
    check_choice(why, why_len, "status", p.status, &partner_statuses);
    check_currency(why, why_len, p.currency);
    require_text(why, why_len, "email", p.email);
    if (why[0] != '\0')
        return ROW_REJECTED;

    hwhy[0] = '\0';
    rc = h->partner_put(st, &p, hwhy, sizeof(hwhy));
    return host_result(c, st, rc, "partner_put", 0, hwhy, why, why_len);
}

static int attribution_row(struct acsv *c, payrun_stage *st, char *why, size_t why_len)
{
    const struct payrun_host *h = c->host;
    struct payrun_line l = {0};
    char hwhy[HOST_WHY_MAX] = "";
    const char *amount;
    int64_t pct;
    int status_ok, rc;

    l.source_line = c->rd.start;
    l.deal_id = field(c, A_DEAL_ID);
    l.deal_name = field(c, A_DEAL_NAME);
    l.deal_status = field(c, A_DEAL_STATUS);
    l.closed_on = field(c, A_CLOSED_ON);
    l.partner_id = field(c, A_PARTNER_ID);
    l.model = field(c, A_MODEL);
    l.percentage = field(c, A_PERCENTAGE);
    amount = field(c, A_AMOUNT);
    l.currency = field(c, A_CURRENCY);
    l.product_line = field(c, A_PRODUCT_LINE);

    require_text(why, why_len, "deal_id", l.deal_id);
    status_ok = check_choice(why, why_len, "deal_status", l.deal_status, &deal_statuses);
    if (l.closed_on[0] != '\0')
        check_date(why, why_len, "closed_on", l.closed_on);
    else if (status_ok && strcmp(l.deal_status, "open") != 0)
        why_add(why, why_len, "closed_on is empty; a %s deal needs its close date as "
                "YYYY-MM-DD", l.deal_status);
    require_text(why, why_len, "partner_id", l.partner_id);
    check_choice(why, why_len, "model", l.model, &models);
    rc = h->parse_rate(st, l.percentage, strlen(l.percentage), &pct, hwhy, sizeof(hwhy));
    check_number(why, why_len, "percentage", rc, hwhy);
    hwhy[0] = '\0';
    rc = h->parse_money(st, amount, strlen(amount), &l.attributed_amount, hwhy, sizeof(hwhy));
    check_number(why, why_len, "attributed_amount", rc, hwhy);
    check_currency(why, why_len, l.currency);
    if (why[0] != '\0')
        return ROW_REJECTED;

    hwhy[0] = '\0';
    rc = h->line_add(st, &l, hwhy, sizeof(hwhy));
    return host_result(c, st, rc, "line_add", 1, hwhy, why, why_len);
}

static const struct input_kind partners_kind = {
    partner_columns, P_NCOLS, partner_row,
    "partners_read", "partners_imported", "partners_rejected", NULL,
};

static const struct input_kind attributions_kind = {
    attribution_columns, A_NCOLS, attribution_row,
    "read", "imported", "rejected", "not_commissionable",
};

/* ---- one file ----------------------------------------------------------- */

static void column_list(char *buf, size_t cap, const struct input_kind *k, int required_only)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < k->n_cols && o + 1 < cap; i++) {
        if (required_only && !k->cols[i].required)
            continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? "," : "", k->cols[i].name);
    }
}

/* Trimmed header name: a space after a comma is a common hand edit, and
 * no column name has one of its own. */
static void header_name(const struct field *f, const char **s, size_t *len)
{
    const char *b = f->text, *e = f->text + f->len;

    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *s = b;
    *len = (size_t)(e - b);
}

static int read_header(struct acsv *c, payrun_stage *st, const struct input_kind *k)
{
    const struct payrun_host *h = c->host;
    struct reader *rd = &c->rd;
    char cols[512], hint[600], missing[512];
    size_t o = 0;
    int rc = next_record(c, st);

    column_list(cols, sizeof(cols), k, 0);
    snprintf(hint, sizeof(hint), "the first row names the columns, in any order: %s", cols);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s: empty file; expected a header row",
                        rd->path);
    if (rd->malformed[0] != '\0')
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: bad header row: %s", rd->path,
                        (long long)rd->start, rd->malformed);
    if (rd->n_seen > MAX_FIELDS)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: %zu columns; at most %d are read",
                        rd->path, (long long)rd->start, rd->n_seen, MAX_FIELDS);
    c->n_header = rd->n_seen;

    for (size_t i = 0; i < rd->n_fields; i++) {
        const char *a;
        size_t alen;

        header_name(&rd->fields[i], &a, &alen);
        if (alen == 0)
            continue; /* trailing empty columns from spreadsheets */
        for (size_t j = i + 1; j < rd->n_fields; j++) {
            const char *b;
            size_t blen;
            char q[256], name[256];

            header_name(&rd->fields[j], &b, &blen);
            if (alen != blen || memcmp(a, b, alen) != 0)
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)(alen < 200 ? alen : 200), a);
            return h->error(st, PAYRUN_ERR_INPUT, "give each column one name, once",
                            "%s:%lld: duplicate column \"%s\" (columns %zu and %zu)", rd->path,
                            (long long)rd->start, show(q, sizeof(q), name), i + 1, j + 1);
        }
    }

    missing[0] = '\0';
    for (size_t col = 0; col < k->n_cols; col++) {
        const char *want = k->cols[col].name;

        c->map[col] = -1;
        for (size_t i = 0; i < rd->n_fields; i++) {
            const char *a;
            size_t alen;

            header_name(&rd->fields[i], &a, &alen);
            if (alen == strlen(want) && memcmp(a, want, alen) == 0) {
                c->map[col] = (int)i;
                break;
            }
        }
        if (c->map[col] < 0 && k->cols[col].required && o + 1 < sizeof(missing))
            o += (size_t)snprintf(missing + o, sizeof(missing) - o, "%s\"%s\"", o ? ", " : "",
                                  want);
    }
    if (missing[0] != '\0') {
        column_list(cols, sizeof(cols), k, 1);
        snprintf(hint, sizeof(hint), "the header row must name every required column, in any "
                 "order: %s", cols);
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%lld: missing required column(s) %s",
                        rd->path, (long long)rd->start, missing);
    }
    return PAYRUN_OK;
}

/*
 * The core refuses some lines only when it settles them (an unknown
 * partner, a second line of a deal and partner): it hands them back in
 * file order, and each is found again in the file, read a second time
 * alongside, so its rejects record carries the row as written, like any
 * other reject.
 */
struct late_rejects {
    struct acsv *c;
    payrun_stage *st;
    const char *path;
    struct tally *t;
    int open;
};

static int late_reject(void *ud, const struct payrun_line *l, const char *why)
{
    struct late_rejects *lr = ud;
    struct acsv *c = lr->c;
    struct reader *rd = &c->rd;
    int rc;

    if (!lr->open) {
        rc = reader_open(c, lr->st, lr->path);
        if (rc == PAYRUN_OK)
            rc = read_header(c, lr->st, &attributions_kind);
        if (rc != PAYRUN_OK)
            return rc;
        lr->open = 1;
    }
    do {
        rc = next_record(c, lr->st);
        if (rc < 0)
            return rc;
        if (rc == 0 || rd->start > l->source_line)
            return c->host->error(lr->st, PAYRUN_ERR_INPUT, "do not change an input file "
                                  "while payrun reads it", "\"%s\" changed while it was "
                                  "imported: line %lld is no longer the row that was read",
                                  rd->path, (long long)l->source_line);
    } while (rd->start < l->source_line);
    lr->t->imported--;
    lr->t->rejected++;
    if (c->first_file == rd->base && l->source_line < c->first_line) {
        c->first_line = l->source_line;
        snprintf(c->first_reason, sizeof(c->first_reason), "%s", why);
    }
    return reject(c, lr->st, why);
}

static int settle_lines(struct acsv *c, payrun_stage *st, const char *path, struct tally *t)
{
    struct late_rejects lr = {c, st, path, t, 0};
    int64_t settled = 0;
    int rc;

    if (!PAYRUN_HOST_HAS(c->host, lines_settle))
        return PAYRUN_OK; /* an older core checks every line as it comes */
    rc = c->host->lines_settle(st, late_reject, &lr, &settled);
    if (lr.open)
        reader_close(&c->rd);
    return rc;
}

static int import_file(struct acsv *c, payrun_stage *st, const struct input_kind *k,
                       const char *path, struct tally *t)
{
    const struct payrun_host *h = c->host;
    struct reader *rd = &c->rd;
    char why[REASON_MAX];
    int rc = reader_open(c, st, path);

    if (rc != PAYRUN_OK)
        return rc;
    rc = read_header(c, st, k);
    while (rc == PAYRUN_OK) {
        int got = next_record(c, st), row;

        if (got <= 0) {
            rc = got;
            break;
        }
        t->read++;
        why[0] = '\0';
        if (rd->malformed[0] != '\0') {
            why_add(why, sizeof(why), "%s", rd->malformed);
            row = ROW_REJECTED;
        } else if (rd->n_seen != c->n_header) {
            why_add(why, sizeof(why), "expected %zu fields, found %zu", c->n_header, rd->n_seen);
            row = ROW_REJECTED;
        } else {
            row = k->row(c, st, why, sizeof(why));
        }
        if (row == ROW_IMPORTED) {
            t->imported++;
        } else if (row == ROW_SKIPPED) {
            t->skipped++;
        } else if (row == ROW_REJECTED) {
            t->rejected++;
            rc = reject(c, st, why);
        } else {
            rc = row;
        }
    }
    reader_close(rd);
    if (rc == PAYRUN_OK && k == &attributions_kind)
        rc = settle_lines(c, st, path, t);
    if (rc != PAYRUN_OK)
        return rc;

    h->count(st, k->count_read, t->read);
    h->count(st, k->count_imported, t->imported);
    h->count(st, k->count_rejected, t->rejected);
    if (k->count_skipped != NULL) {
        h->count(st, k->count_skipped, t->skipped);
        h->log(st, PAYRUN_LOG_INFO, "\"%s\": %lld rows read, %lld imported, %lld not "
               "commissionable, %lld rejected", rd->base, (long long)t->read,
               (long long)t->imported, (long long)t->skipped, (long long)t->rejected);
    } else {
        h->log(st, PAYRUN_LOG_INFO, "\"%s\": %lld partners read, %lld imported, %lld rejected",
               rd->base, (long long)t->read, (long long)t->imported, (long long)t->rejected);
    }
    return PAYRUN_OK;
}

/* "N of M rows rejected (file)" for each file that had rejects. */
static void rejected_summary(const struct acsv *c, char *buf, size_t cap)
{
    const char *pbase = strrchr(c->partners_path, '/');
    const char *abase = strrchr(c->path, '/');
    size_t o = 0;

    pbase = pbase ? pbase + 1 : c->partners_path;
    abase = abase ? abase + 1 : c->path;
    buf[0] = '\0';
    if (c->partners.rejected > 0)
        o += (size_t)snprintf(buf, cap, "%lld of %lld rows rejected (%s)",
                              (long long)c->partners.rejected, (long long)c->partners.read,
                              pbase);
    if (c->lines.rejected > 0 && o < cap)
        snprintf(buf + o, cap - o, "%s%lld of %lld rows rejected (%s)", o ? ", " : "",
                 (long long)c->lines.rejected, (long long)c->lines.read, abase);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void destroy(void *ctx)
{
    struct acsv *c = ctx;

    if (c == NULL)
        return;
    reader_close(&c->rd);
    if (c->rejects != NULL)
        c->host->output_close(c->rejects);
    for (size_t i = 0; i < c->rd.fields_cap; i++)
        free(c->rd.fields[i].text);
    free(c->rd.fields);
    free(c->rd.raw);
    free(c->rd.line);
    for (size_t i = 0; i < c->seen_len; i++)
        free(c->seen[i].id);
    free(c->seen);
    free(c->seen_slots);
    free(c->out);
    free(c);
}

static int init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct acsv *c = calloc(1, sizeof(*c));
    const char *on_reject = "fail";

    *ctx = NULL;
    if (!PAYRUN_HOST_HAS(host, line_add)) {
        free(c);
        return host->error(st, PAYRUN_ERR, "upgrade payrun", "this core has no importer "
                           "functions (host table of %u bytes)", (unsigned)host->size);
    }
    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK ||
        host->cfg_path(st, "partners", -1, NULL, &c->partners_path) != PAYRUN_OK ||
        host->cfg_path(st, "rejects", -1, NULL, &c->rejects_path) != PAYRUN_OK ||
        host->cfg_string(st, "on_reject", -1, NULL, &on_reject) != PAYRUN_OK) {
        free(c);
        return host->error(st, PAYRUN_ERR_CONFIG, "set \"path\" and \"partners\" in the stage's "
                           "\"with:\" block", "missing configuration");
    }
    c->skip_rejects = strcmp(on_reject, "skip") == 0;
    *ctx = c;
    return PAYRUN_OK;
}

static int run(void *ctx, payrun_stage *st)
{
    struct acsv *c = ctx;
    const struct payrun_host *h = c->host;
    int rc;

    rc = import_file(c, st, &partners_kind, c->partners_path, &c->partners);
    if (rc == PAYRUN_OK)
        rc = import_file(c, st, &attributions_kind, c->path, &c->lines);
    if (c->rejects != NULL) {
        int closed = h->output_close(c->rejects);

        c->rejects = NULL;
        if (rc == PAYRUN_OK)
            rc = closed;
    }
    if (rc != PAYRUN_OK)
        return rc;

    if (c->first_file != NULL) {
        char summary[512], hint[4400];
        const char *of_file = "";
        char where[300] = "";

        rejected_summary(c, summary, sizeof(summary));
        if (c->partners.rejected > 0 && c->lines.rejected > 0) {
            snprintf(where, sizeof(where), " of %s", c->first_file);
            of_file = where;
        }
        if (c->skip_rejects) {
            h->log(st, PAYRUN_LOG_WARN, "%s, skipped; see \"%s\"", summary, c->rejects_path);
            return PAYRUN_OK;
        }
        snprintf(hint, sizeof(hint), "fix the rows listed in %s, or set on_reject: skip to "
                 "import the good rows", c->rejects_path);
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s; first at line %lld%s: %s", summary,
                        (long long)c->first_line, of_file, c->first_reason);
    }
    return PAYRUN_OK;
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "attribution_csv",
    .kind = PAYRUN_KIND_IMPORTER,
    .version = "1.0.0",
    .description = "reads partners and attribution lines from CSV files",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
