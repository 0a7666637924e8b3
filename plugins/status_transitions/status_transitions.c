/*
 * status_transitions.c: the transition plugin of the payment pipelines
 * (SPEC 2, 4, 7). In `mark_processing` mode it asks the core to move every
 * payout that an earlier exporter stage of this run put in a bank file to
 * `processing`; in `apply_results` mode it reads the bank's result CSV
 * (payout_id,status,reference,reason) and settles each payout to `paid` or
 * `failed` through host->payout_move.
 *
 * A result file is all or nothing. It is read twice: the first pass checks
 * every line and collects the valid ones in a small index (one entry per
 * line, so memory follows the number of payments, which the core holds
 * anyway); sorting that index by payout id finds lines that repeat or
 * contradict each other. The second pass re-reads the file in order and
 * either writes each bad line to the rejects CSV (when the first pass found
 * any) or applies the line. A line the core refuses (unknown payout, not in
 * processing) is a reject too, and any reject fails the stage, so the core
 * rolls the whole run back: a bank file is never half applied.
 *
 * The file is streamed one physical line at a time (getline) into libcsv,
 * which knows RFC 4180 quoting; only LF ends a record and a CR before it is
 * dropped as libcsv "space", so CRLF and LF files read alike and every
 * record keeps the line number where it starts.
 *
 * All state lives in the context made by init; nothing is exported but
 * payrun_plugin_descriptor().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <csv.h>

#include <payrun/plugin.h>

/* Result lines are short; a longer record is an unclosed quote eating the
 * file, cut here so memory stays small. */
#define MAX_RECORD_BYTES ((size_t)64 * 1024)
/* libcsv grows a field's buffer by 128 bytes unless told otherwise: a
 * quote left open over MAX_RECORD_BYTES took 512 reallocs. Blocks of the
 * record's own bound make that at most two (the field and its NUL). */
#define CSV_BLOCK_BYTES MAX_RECORD_BYTES
#define REASON_MAX 1024
#define HOST_WHY_MAX 512
/* A payout id longer than this is not one of ours (ids are "po_" + hex). */
#define ID_MAX 64

static const struct payrun_config_key keys[] = {
    {"mode", PAYRUN_KEY_ENUM, 1, NULL,
     "mark_processing: move the payouts this run put in bank files to processing; "
     "apply_results: settle payouts from the bank's result file",
     "mark_processing|apply_results", NULL},
    {"path", PAYRUN_KEY_INPUT, 0, NULL,
     "bank result CSV (payout_id,status,reference,reason); apply_results mode only", NULL,
     NULL},
    {"rejects", PAYRUN_KEY_PATH, 0, "settle-rejects.csv",
     "CSV of every rejected result line with file, line and reason; written only if a line "
     "is rejected",
     NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

enum { COL_ID, COL_STATUS, COL_REFERENCE, COL_REASON, NCOLS };

static const char *const column_names[NCOLS] = {"payout_id", "status", "reference", "reason"};

enum { ST_PAID = 1, ST_FAILED = 2 };

/* One valid result line, kept from the first pass to the second. */
struct result {
    char *id, *reference, *reason;
    int status;
    int64_t line;
};

/* The file being read and the record being assembled. Fields are packed
 * into one buffer, NUL-separated, and found by offset, because the buffer
 * may move while libcsv is still handing over fields. */
struct reader {
    const char *path, *base;
    FILE *f;
    struct csv_parser csv;
    int csv_live;
    char *line;
    size_t line_cap, line_len;
    int64_t lineno;
    int eof, replay;

    int open, ended, nomem;
    int64_t start;
    char *raw;
    size_t raw_len, raw_cap;
    char *fbuf;
    size_t fbuf_len, fbuf_cap;
    size_t *foff;
    size_t n_fields, foff_cap;
    char malformed[REASON_MAX];
};

struct trans {
    const struct payrun_host *host;
    int apply; /* apply_results mode */
    const char *path, *rejects_path;

    struct reader rd;
    size_t map[NCOLS]; /* column -> field index */
    size_t n_header;

    struct result *res;
    size_t n_res, cap_res;

    payrun_output *rejects;
    char *out;
    size_t out_len, out_cap;

    int64_t read, paid, failed, already, rejected, held;
    int64_t first_line;
    char first_reason[REASON_MAX];
};

/* ---- text ---------------------------------------------------------------- */

static void why_add(char *why, size_t cap, const char *fmt, ...) PAYRUN_PRINTF(3, 4);

/* Problems of one line are reported together, "; "-separated, so one edit
 * fixes the line. */
static void why_add(char *why, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(why);
    va_list ap;

    if (len > 0 && len + 3 < cap) {
        memcpy(why + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= cap)
        return;
    va_start(ap, fmt);
    vsnprintf(why + len, cap - len, fmt, ap);
    va_end(ap);
}

/* A cell quoted in a message: quotes and control bytes escaped so a cell
 * cannot forge a log line, and cut (on a UTF-8 boundary) so one long cell
 * cannot crowd out the reason. */
static const char *show(char *dst, size_t cap, const char *s)
{
    size_t len = strlen(s), shown = len < 48 ? len : 48, o = 0;

    while (shown < len && shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80)
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

/* Index of the first byte that is not well-formed UTF-8, or len. */
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
        n = ch >= 0xC2 && ch <= 0xDF ? 1 : ch >= 0xE0 && ch <= 0xEF ? 2
            : ch >= 0xF0 && ch <= 0xF4 ? 3 : 0;
        if (n == 0 || len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((ch == 0xE0 && s[i + 1] < 0xA0) || (ch == 0xED && s[i + 1] > 0x9F) ||
            (ch == 0xF0 && s[i + 1] < 0x90) || (ch == 0xF4 && s[i + 1] > 0x8F))
            return i;
        i += n + 1;
    }
    return len;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return 1;
    return 0;
}

/* ---- reading records ------------------------------------------------------ */

static void on_field(void *s, size_t len, void *data)
{
    struct reader *rd = data;

    if (rd->nomem)
        return;
    if (rd->n_fields == rd->foff_cap) {
        size_t cap = rd->foff_cap ? rd->foff_cap * 2 : 16;
        size_t *grown = realloc(rd->foff, cap * sizeof(*grown));

        if (grown == NULL) {
            rd->nomem = 1;
            return;
        }
        rd->foff = grown;
        rd->foff_cap = cap;
    }
    if (rd->fbuf_len + len + 1 > rd->fbuf_cap) {
        size_t cap = rd->fbuf_cap ? rd->fbuf_cap : 256;
        char *grown;

        while (cap < rd->fbuf_len + len + 1)
            cap *= 2;
        grown = realloc(rd->fbuf, cap);
        if (grown == NULL) {
            rd->nomem = 1;
            return;
        }
        rd->fbuf = grown;
        rd->fbuf_cap = cap;
    }
    rd->foff[rd->n_fields++] = rd->fbuf_len;
    if (len > 0)
        memcpy(rd->fbuf + rd->fbuf_len, s, len);
    rd->fbuf_len += len;
    rd->fbuf[rd->fbuf_len++] = '\0';
}

static void on_record(int ch, void *data)
{
    (void)ch;
    ((struct reader *)data)->ended = 1;
}

static int is_cr(unsigned char ch) { return ch == '\r'; }
static int is_lf(unsigned char ch) { return ch == '\n'; }

/* Strict RFC 4180; blanks are data (no trimming), CR is dropped only where
 * libcsv trims "space", i.e. at the edges of a field, so a CR inside quotes
 * survives. */
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

/* The first problem of a record explains it best; later ones are dropped. */
static void set_malformed(struct reader *rd, const char *fmt, ...)
{
    va_list ap;

    if (rd->malformed[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(rd->malformed, sizeof(rd->malformed), fmt, ap);
    va_end(ap);
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

static int out_of_memory(struct trans *t, payrun_stage *st)
{
    return t->host->error(st, PAYRUN_ERR, NULL, "out of memory reading \"%s\" at line %" PRId64,
                          t->rd.path, t->rd.lineno);
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

static int reader_open(struct trans *t, payrun_stage *st)
{
    struct reader *rd = &t->rd;
    const char *slash = strrchr(t->path, '/');
    struct stat sb;

    reader_close(rd);
    rd->path = t->path;
    rd->base = slash ? slash + 1 : t->path;
    rd->lineno = 0;
    rd->eof = rd->replay = rd->open = 0;
    rd->f = fopen(t->path, "rb");
    if (rd->f == NULL)
        return t->host->error(st, PAYRUN_ERR_NOINPUT, "check \"path\" in the stage's \"with:\" "
                              "block", "cannot open \"%s\": %s", t->path, strerror(errno));
    if (fstat(fileno(rd->f), &sb) == 0 && S_ISDIR(sb.st_mode))
        return t->host->error(st, PAYRUN_ERR_NOINPUT, "check \"path\" in the stage's \"with:\" "
                              "block", "cannot read \"%s\": it is a directory", t->path);
    parser_reset(rd);
    return PAYRUN_OK;
}

/*
 * The next record into t->rd: 1 (its fields, or a reason in rd.malformed),
 * 0 at the end of the file, or a reported failure. Blank lines between
 * records are skipped. A malformed record ends at the line where it went
 * wrong and reading resumes with the next line.
 */
static int next_record(struct trans *t, payrun_stage *st)
{
    struct reader *rd = &t->rd;

    for (;;) {
        const char *p, *nul;
        size_t len, used, bad;

        if (rd->replay) {
            rd->replay = 0; /* the line that ended a runaway record starts anew */
        } else {
            ssize_t got;

            if (rd->eof)
                return 0;
            errno = 0;
            got = getline(&rd->line, &rd->line_cap, rd->f);
            if (got < 0) {
                if (ferror(rd->f))
                    return t->host->error(st, PAYRUN_ERR_IO, NULL, "cannot read \"%s\": %s",
                                          rd->path, strerror(errno ? errno : EIO));
                if (errno == ENOMEM)
                    return out_of_memory(t, st);
                rd->eof = 1;
                if (!rd->open)
                    return 0;
                /* No newline after the last record, or a quote left open. */
                if (csv_fini(&rd->csv, on_field, on_record, rd) != 0 || !rd->ended)
                    set_malformed(rd, "malformed CSV: a quoted field is not closed by the end "
                                  "of the file");
                parser_reset(rd);
                rd->open = 0;
                return rd->nomem ? out_of_memory(t, st) : 1;
            }
            rd->lineno++;
            rd->line_len = (size_t)got;
        }
        p = rd->line;
        len = rd->line_len;
        if (rd->lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3; /* a spreadsheet's byte order mark is not data */
            len -= 3;
        }
        if (!rd->open) {
            if (strspn(p, "\r\n") == len)
                continue;
            rd->open = 1;
            rd->ended = 0;
            rd->start = rd->lineno;
            rd->raw_len = rd->fbuf_len = rd->n_fields = 0;
            rd->malformed[0] = '\0';
        }
        if (len > MAX_RECORD_BYTES - rd->raw_len) {
            if (rd->raw_len > 0) {
                set_malformed(rd, "malformed CSV: record longer than %zu bytes (lines %" PRId64
                              " to %" PRId64 "); is a quote not closed?", MAX_RECORD_BYTES,
                              rd->start, rd->lineno - 1);
                rd->replay = 1;
            } else {
                set_malformed(rd, "malformed CSV: line longer than %zu bytes", MAX_RECORD_BYTES);
                if (raw_append(rd, p, MAX_RECORD_BYTES) != 0)
                    return out_of_memory(t, st);
            }
            parser_reset(rd);
            rd->open = 0;
            return 1;
        }
        if (raw_append(rd, p, len) != 0)
            return out_of_memory(t, st);
        nul = memchr(p, '\0', len);
        if (nul != NULL)
            set_malformed(rd, "malformed CSV: NUL byte at line %" PRId64 ", column %zu; a text "
                          "file holds none", rd->lineno, (size_t)(nul - rd->line) + 1);
        bad = utf8_bad_at((const unsigned char *)p, len);
        if (bad < len)
            set_malformed(rd, "not UTF-8: byte 0x%02X at line %" PRId64 ", column %zu",
                          (unsigned char)p[bad], rd->lineno, bad + 1 + (size_t)(p - rd->line));
        used = csv_parse(&rd->csv, p, len, on_field, on_record, rd);
        if (rd->nomem)
            return out_of_memory(t, st);
        if (used < len) {
            if (csv_error(&rd->csv) != CSV_EPARSE)
                return out_of_memory(t, st);
            set_malformed(rd, "malformed CSV: %s at line %" PRId64 ", column %zu; quote the "
                          "whole field and double the quotes inside it",
                          p[used] == '"' ? "unexpected quote" : "text after a closing quote",
                          rd->lineno, used + 1 + (size_t)(p - rd->line));
            parser_reset(rd);
            rd->open = 0;
            return 1;
        }
        /* Only LF ends a record and LF only ends a physical line, so an
         * ended record ended with this line. */
        if (rd->ended) {
            rd->open = 0;
            return 1;
        }
    }
}

static const char *field(const struct trans *t, int col)
{
    return t->rd.fbuf + t->rd.foff[t->map[col]];
}

/* Header names are trimmed: a space after a comma is a common hand edit. */
static int header_is(const char *h, const char *want)
{
    size_t n = strlen(want);

    h += strspn(h, " \t");
    return strncmp(h, want, n) == 0 && h[n + strspn(h + n, " \t")] == '\0';
}

static int read_header(struct trans *t, payrun_stage *st)
{
    const struct payrun_host *h = t->host;
    struct reader *rd = &t->rd;
    static const char hint[] = "the first row names the columns, in any order: "
                               "payout_id,status,reference,reason";
    char missing[128] = "";
    size_t o = 0;
    int rc = next_record(t, st);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s: empty file; expected a header row",
                        rd->path);
    if (rd->malformed[0] != '\0')
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%" PRId64 ": bad header row: %s",
                        rd->path, rd->start, rd->malformed);
    t->n_header = rd->n_fields;
    for (int col = 0; col < NCOLS; col++) {
        int found = 0;

        for (size_t i = 0; i < rd->n_fields; i++) {
            if (!header_is(rd->fbuf + rd->foff[i], column_names[col]))
                continue;
            if (found)
                return h->error(st, PAYRUN_ERR_INPUT, "give each column one name, once",
                                "%s:%" PRId64 ": duplicate column \"%s\" (columns %zu and %zu)",
                                rd->path, rd->start, column_names[col], t->map[col] + 1, i + 1);
            t->map[col] = i;
            found = 1;
        }
        if (!found)
            o += (size_t)snprintf(missing + o, sizeof(missing) - o, "%s\"%s\"", o ? ", " : "",
                                  column_names[col]);
    }
    if (o > 0)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%" PRId64 ": missing required column(s) "
                        "%s", rd->path, rd->start, missing);
    return PAYRUN_OK;
}

/* ---- checking a line -------------------------------------------------------- */

/* Checks of one line on its own; "" in why[] when it is good. *status is
 * ST_PAID or ST_FAILED when the status itself is good. */
static void check_line(const struct trans *t, char *why, size_t cap, int *status)
{
    const struct reader *rd = &t->rd;
    const char *id, *s, *ref, *reason;
    char q[256];

    *status = 0;
    why[0] = '\0';
    if (rd->malformed[0] != '\0') {
        why_add(why, cap, "%s", rd->malformed);
        return;
    }
    if (rd->n_fields != t->n_header) {
        why_add(why, cap, "expected %zu fields, found %zu", t->n_header, rd->n_fields);
        return;
    }
    id = field(t, COL_ID);
    s = field(t, COL_STATUS);
    ref = field(t, COL_REFERENCE);
    reason = field(t, COL_REASON);
    if (id[0] == '\0')
        why_add(why, cap, "payout_id is empty");
    else if (strlen(id) > ID_MAX || has_control(id))
        why_add(why, cap, "bad payout_id \"%s\": not a payout id", show(q, sizeof(q), id));
    if (strcmp(s, "paid") == 0)
        *status = ST_PAID;
    else if (strcmp(s, "failed") == 0)
        *status = ST_FAILED;
    else
        why_add(why, cap, "bad status \"%s\": expected paid or failed", show(q, sizeof(q), s));
    if (*status == ST_PAID && ref[0] == '\0')
        why_add(why, cap, "a paid line needs a reference");
    if (*status == ST_FAILED && reason[0] == '\0')
        why_add(why, cap, "a failed line needs a reason");
    /* The reference and reason are stored and audited as one line each. */
    if (has_control(ref))
        why_add(why, cap, "reference has a control character (a tab or line break)");
    if (has_control(reason))
        why_add(why, cap, "reason has a control character (a tab or line break)");
}

static int cmp_result(const void *a, const void *b)
{
    const struct result *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int same_answer(const struct result *a, const struct result *b)
{
    return a->status == b->status && strcmp(a->reference, b->reference) == 0 &&
           strcmp(a->reason, b->reason) == 0;
}

/* The lines of one payout id are adjacent after sorting; [*lo, *hi). */
static void group_of(const struct trans *t, size_t at, size_t *lo, size_t *hi)
{
    const char *id = t->res[at].id;

    *lo = at;
    while (*lo > 0 && strcmp(t->res[*lo - 1].id, id) == 0)
        (*lo)--;
    *hi = at + 1;
    while (*hi < t->n_res && strcmp(t->res[*hi].id, id) == 0)
        (*hi)++;
}

/* Lines of a group that the second pass rejects: all of them when two
 * disagree (no way to tell which answer is true), else all but the first. */
static int64_t group_rejects(const struct trans *t, size_t lo, size_t hi)
{
    for (size_t i = lo + 1; i < hi; i++)
        if (!same_answer(&t->res[lo], &t->res[i]))
            return (int64_t)(hi - lo);
    return (int64_t)(hi - lo - 1);
}

static int keep_result(struct trans *t, int status)
{
    struct result *r;

    if (t->n_res == t->cap_res) {
        size_t cap = t->cap_res ? t->cap_res * 2 : 64;
        struct result *grown = realloc(t->res, cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        t->res = grown;
        t->cap_res = cap;
    }
    r = &t->res[t->n_res];
    r->id = strdup(field(t, COL_ID));
    r->reference = strdup(field(t, COL_REFERENCE));
    r->reason = strdup(field(t, COL_REASON));
    r->status = status;
    r->line = t->rd.start;
    t->n_res++; /* counted before the check so the strings are freed */
    return r->id && r->reference && r->reason ? 0 : -1;
}

/* ---- the rejects file --------------------------------------------------------- */

static int out_put(struct trans *t, const char *s, size_t len)
{
    if (t->out_len + len > t->out_cap) {
        size_t cap = t->out_cap ? t->out_cap : 512;
        char *grown;

        while (cap < t->out_len + len)
            cap *= 2;
        grown = realloc(t->out, cap);
        if (grown == NULL)
            return -1;
        t->out = grown;
        t->out_cap = cap;
    }
    memcpy(t->out + t->out_len, s, len);
    t->out_len += len;
    return 0;
}

/* One RFC 4180 text cell. Finance opens rejects in a spreadsheet and the
 * record is the bank's (or anyone's) text, so a cell that would run as a
 * formula (leading = + - @ tab CR LF) gets an apostrophe first. A NUL byte
 * (the line is rejected for it, with its line and column) is written as
 * U+2400 SYMBOL FOR NULL, never as itself: it would cut the file short for
 * every C string reader and make grep call it binary. */
static int out_cell(struct trans *t, const char *s, size_t len)
{
    static const char nul_symbol[] = "\xE2\x90\x80";
    int quote = 0, rc = 0;

    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        rc |= out_put(t, "\"", 1);
    if (len > 0 && s[0] != '\0' && strchr("=+-@\t\r\n", s[0]) != NULL)
        rc |= out_put(t, "'", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            rc |= out_put(t, "\"", 1);
        if (s[i] == '\0')
            rc |= out_put(t, nul_symbol, sizeof(nul_symbol) - 1);
        else
            rc |= out_put(t, s + i, 1);
    }
    if (quote)
        rc |= out_put(t, "\"", 1);
    return rc;
}

static int reject(struct trans *t, payrun_stage *st, const char *reason)
{
    const struct payrun_host *h = t->host;
    const struct reader *rd = &t->rd;
    size_t raw = rd->raw_len;
    char num[32];
    int n, rc;

    if (t->rejected++ == 0) {
        t->first_line = rd->start;
        snprintf(t->first_reason, sizeof(t->first_reason), "%s", reason);
    }
    if (t->rejects == NULL) {
        static const char header[] = "file,line,reason,record\n";

        rc = h->output_open(st, t->rejects_path, PAYRUN_OUTPUT_KEEP_ON_FAILURE, &t->rejects);
        if (rc != PAYRUN_OK)
            return rc;
        rc = h->output_write(t->rejects, header, sizeof(header) - 1);
        if (rc != PAYRUN_OK)
            return rc;
    }
    /* The record as read, less its final line end. */
    if (raw > 0 && rd->raw[raw - 1] == '\n')
        raw--;
    if (raw > 0 && rd->raw[raw - 1] == '\r')
        raw--;
    t->out_len = 0;
    n = snprintf(num, sizeof(num), ",%" PRId64 ",", rd->start);
    if (out_cell(t, rd->base, strlen(rd->base)) != 0 || out_put(t, num, (size_t)n) != 0 ||
        out_cell(t, reason, strlen(reason)) != 0 || out_put(t, ",", 1) != 0 ||
        out_cell(t, rd->raw, raw) != 0 || out_put(t, "\n", 1) != 0)
        return out_of_memory(t, st);
    return h->output_write(t->rejects, t->out, t->out_len);
}

/* ---- apply_results ---------------------------------------------------------- */

/* First pass: check every line and keep the good ones. *bad gets the
 * number of lines the second pass will reject (bad on their own, repeated
 * or contradicted); returns PAYRUN_OK or a reported failure. */
static int first_pass(struct trans *t, payrun_stage *st, int64_t *bad)
{
    char why[REASON_MAX];
    int rc, status;

    *bad = 0;
    rc = reader_open(t, st);
    if (rc == PAYRUN_OK)
        rc = read_header(t, st);
    while (rc == PAYRUN_OK && (rc = next_record(t, st)) == 1) {
        rc = PAYRUN_OK;
        t->read++;
        check_line(t, why, sizeof(why), &status);
        if (why[0] != '\0')
            (*bad)++;
        else if (keep_result(t, status) != 0)
            rc = out_of_memory(t, st);
    }
    if (rc < 0)
        return rc;
    if (t->n_res > 1)
        qsort(t->res, t->n_res, sizeof(*t->res), cmp_result);
    for (size_t lo = 0, hi; lo < t->n_res; lo = hi) {
        group_of(t, lo, &lo, &hi);
        *bad += group_rejects(t, lo, hi);
    }
    return PAYRUN_OK;
}

/* Why a good line still cannot be applied: it repeats or contradicts
 * another line of the same payout. "" when it stands alone. */
static void check_group(const struct trans *t, size_t at, char *why, size_t cap)
{
    size_t lo, hi, o;
    char q[256];

    why[0] = '\0';
    group_of(t, at, &lo, &hi);
    if (hi - lo == 1)
        return;
    if (group_rejects(t, lo, hi) == (int64_t)(hi - lo - 1)) {
        if (at != lo)
            snprintf(why, cap, "duplicate of line %" PRId64 ": payout \"%s\" is listed twice "
                     "with the same result", t->res[lo].line, show(q, sizeof(q), t->res[at].id));
        return;
    }
    o = (size_t)snprintf(why, cap, "conflicting results for payout \"%s\" on lines ",
                         show(q, sizeof(q), t->res[at].id));
    for (size_t i = lo; i < hi && o < cap; i++) {
        if (i - lo == 8) {
            o += (size_t)snprintf(why + o, cap - o, " and %zu more", hi - i);
            break;
        }
        o += (size_t)snprintf(why + o, cap - o, "%s%" PRId64,
                              i == lo ? "" : i + 1 == hi ? " and " : ", ", t->res[i].line);
    }
    if (o < cap)
        snprintf(why + o, cap - o, "; a payout has one result, so none of them is applied");
}

/* The core's answer to one good line. */
static int apply_line(struct trans *t, payrun_stage *st, const struct result *r)
{
    const struct payrun_host *h = t->host;
    char why[HOST_WHY_MAX] = "";
    int move = r->status == ST_PAID ? PAYRUN_MOVE_MARK_PAID : PAYRUN_MOVE_MARK_FAILED;
    const char *detail = r->status == ST_PAID ? r->reference : r->reason;
    int rc = h->payout_move(st, r->id, move, detail, why, sizeof(why));

    switch (rc) {
    case PAYRUN_OK:
        if (r->status == ST_PAID)
            t->paid++;
        else
            t->failed++;
        return PAYRUN_OK;
    case PAYRUN_SKIPPED:
        t->already++;
        return PAYRUN_OK;
    case PAYRUN_ERR_INPUT:
        return reject(t, st, why[0] ? why : "refused by the core");
    default:
        if (rc < 0)
            return rc; /* reported by the core */
        return h->error(st, PAYRUN_ERR, NULL, "payout_move returned unexpected status %d", rc);
    }
}

/* Second pass: the file again, in order; each line is rejected, held back
 * (when others were rejected) or applied. */
static int second_pass(struct trans *t, payrun_stage *st, int64_t bad)
{
    const struct payrun_host *h = t->host;
    char why[REASON_MAX];
    int64_t n = 0;
    int rc, status, changed = 0;

    rc = reader_open(t, st);
    if (rc == PAYRUN_OK)
        rc = read_header(t, st);
    while (rc == PAYRUN_OK && (rc = next_record(t, st)) == 1) {
        struct result key, *r;

        rc = PAYRUN_OK;
        n++;
        check_line(t, why, sizeof(why), &status);
        if (why[0] != '\0') {
            rc = reject(t, st, why);
            continue;
        }
        key.id = (char *)field(t, COL_ID);
        key.line = t->rd.start;
        r = bsearch(&key, t->res, t->n_res, sizeof(*t->res), cmp_result);
        if (r == NULL || r->status != status ||
            strcmp(r->reference, field(t, COL_REFERENCE)) != 0 ||
            strcmp(r->reason, field(t, COL_REASON)) != 0) {
            changed = 1;
            break;
        }
        check_group(t, (size_t)(r - t->res), why, sizeof(why));
        if (why[0] != '\0')
            rc = reject(t, st, why);
        else if (bad > 0)
            t->held++; /* good, but the file is applied whole or not at all */
        else
            rc = apply_line(t, st, r);
    }
    if (rc < 0)
        return rc;
    if (changed || n != t->read)
        return h->error(st, PAYRUN_ERR_IO, "do not change a result file while it is applied; "
                        "run again", "\"%s\" changed while it was read (line %" PRId64 ")",
                        t->path, t->rd.start);
    return PAYRUN_OK;
}

static int apply_results(struct trans *t, payrun_stage *st)
{
    const struct payrun_host *h = t->host;
    int64_t bad = 0;
    int rc = first_pass(t, st, &bad);

    if (rc == PAYRUN_OK)
        rc = second_pass(t, st, bad);
    reader_close(&t->rd);
    if (t->rejects != NULL) {
        int closed = h->output_close(t->rejects);

        t->rejects = NULL;
        if (rc == PAYRUN_OK)
            rc = closed;
    }
    if (rc != PAYRUN_OK)
        return rc;

    h->count(st, "read", t->read);
    h->count(st, "paid", t->paid);
    h->count(st, "failed", t->failed);
    h->count(st, "already_applied", t->already);
    h->count(st, "rejected", t->rejected);
    if (t->held > 0)
        h->count(st, "held", t->held);
    if (t->rejected > 0) {
        char hint[4400]; /* a path, and the words around it */

        snprintf(hint, sizeof(hint), "fix the lines listed in %s; nothing was applied",
                 t->rejects_path);
        return h->error(st, PAYRUN_ERR_INPUT, hint,
                        "%" PRId64 " of %" PRId64 " result lines rejected; first at line %" PRId64
                        ": %s", t->rejected, t->read, t->first_line, t->first_reason);
    }
    h->log(st, PAYRUN_LOG_INFO, "\"%s\": %" PRId64 " result lines read, %" PRId64 " paid, %" PRId64
           " failed, %" PRId64 " already applied", t->rd.base, t->read, t->paid, t->failed,
           t->already);
    return PAYRUN_OK;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void destroy(void *ctx)
{
    struct trans *t = ctx;

    if (t == NULL)
        return;
    reader_close(&t->rd);
    if (t->rejects != NULL)
        t->host->output_close(t->rejects);
    for (size_t i = 0; i < t->n_res; i++) {
        free(t->res[i].id);
        free(t->res[i].reference);
        free(t->res[i].reason);
    }
    free(t->res);
    free(t->rd.line);
    free(t->rd.raw);
    free(t->rd.fbuf);
    free(t->rd.foff);
    free(t->out);
    free(t);
}

static int init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct trans *t;
    const char *mode = NULL;
    int has_path;

    *ctx = NULL;
    if (!PAYRUN_HOST_HAS(host, payout_move))
        return host->error(st, PAYRUN_ERR, "upgrade payrun", "this core cannot move payouts "
                           "(host table of %u bytes)", (unsigned)host->size);
    if (host->cfg_string(st, "mode", -1, NULL, &mode) != PAYRUN_OK)
        return host->error(st, PAYRUN_ERR_CONFIG, "add `mode: mark_processing` or "
                           "`mode: apply_results`", "missing required key \"mode\"");
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    t->host = host;
    t->apply = strcmp(mode, "apply_results") == 0;
    has_path = host->cfg_path(st, "path", -1, NULL, &t->path) == PAYRUN_OK;
    if (!t->apply && strcmp(mode, "mark_processing") != 0) {
        free(t);
        return host->error(st, PAYRUN_ERR_CONFIG, "use mark_processing or apply_results",
                           "unknown mode \"%s\"", mode);
    }
    /* Refused rather than ignored: a path in mark_processing mode means the
     * pipeline author thinks a result file is being applied, and it is not. */
    if (!t->apply && has_path) {
        free(t);
        return host->error(st, PAYRUN_ERR_CONFIG, "remove `path:`, or set `mode: apply_results` "
                           "to apply a bank result file", "\"path\" is not used in "
                           "mark_processing mode: it moves the payouts this run's bank files "
                           "list");
    }
    if (t->apply && !has_path) {
        free(t);
        return host->error(st, PAYRUN_ERR_CONFIG, "add `path:` naming the bank's result CSV "
                           "(payout_id,status,reference,reason)",
                           "missing key \"path\": apply_results mode reads a bank result file");
    }
    if (host->cfg_path(st, "rejects", -1, NULL, &t->rejects_path) != PAYRUN_OK) {
        free(t);
        return host->error(st, PAYRUN_ERR, NULL, "no \"rejects\" path");
    }
    *ctx = t;
    return PAYRUN_OK;
}

static int run(void *ctx, payrun_stage *st)
{
    struct trans *t = ctx;
    int64_t moved = 0;
    int rc;

    if (t->apply)
        return apply_results(t, st);
    rc = t->host->move_listed(st, PAYRUN_MOVE_MARK_PROCESSING, &moved);
    if (rc != PAYRUN_OK)
        return rc;
    t->host->count(st, "moved", moved);
    /* Zero is a normal outcome: nothing was approved for payment. */
    t->host->log(st, PAYRUN_LOG_INFO, "%" PRId64 " payouts marked processing", moved);
    return PAYRUN_OK;
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "status_transitions",
    .kind = PAYRUN_KIND_TRANSITION,
    .version = "1.0.0",
    .description = "marks the payouts of this run's bank files processing; applies a bank "
                   "result file",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
