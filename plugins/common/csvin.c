/*
 * csvin.c: the CSV reader and rejects writer of the CSV plugins (see
 * csvin.h). Linked into each plugin with hidden visibility: a plugin still
 * exports nothing but payrun_plugin_descriptor().
 */
#include "csvin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libcsv grows a field's buffer by a fixed block, 128 bytes unless told:
 * a quote left open over a 1 MiB record then took 8192 reallocs of up to
 * 1 MiB each (4.3 GB allocated in all, under valgrind; seconds under
 * ASan). 64 KiB blocks (or the record's limit, if smaller) make that 16,
 * and an ordinary record one. */
#define CSV_BLOCK_BYTES ((size_t)64 * 1024)

static const char utf8_bom[] = "\xEF\xBB\xBF";

/* ---- text ---------------------------------------------------------------- */

void csvin_why_add(char *why, size_t cap, const char *fmt, ...)
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

const char *csvin_show(char *dst, size_t cap, const char *s)
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

/* Overlong forms, surrogates and code points above U+10FFFF are refused. */
size_t csvin_utf8_bad_at(const unsigned char *s, size_t len)
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

/* ---- buffers -------------------------------------------------------------- */

/* Room in *buf (of *cap bytes) for `need` bytes, doubling from 256; -1 if
 * out of memory, with the buffer as it was. */
static int reserve(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 256;
    char *grown;

    if (need <= *cap)
        return 0;
    if (need > SIZE_MAX / 2)
        return -1;
    while (c < need)
        c *= 2;
    grown = realloc(*buf, c);
    if (grown == NULL)
        return -1;
    *buf = grown;
    *cap = c;
    return 0;
}

/* ---- reading records ----------------------------------------------------- */

/* libcsv callbacks. A field is appended to the record's packed buffer; an
 * allocation failure is remembered, since a callback cannot return it. */
static void on_field(void *s, size_t len, void *data)
{
    struct csvin *rd = data;

    if (rd->nomem)
        return;
    rd->n_seen++;
    if (rd->n_fields >= CSVIN_MAX_FIELDS)
        return;
    if (rd->n_fields == rd->fields_cap) {
        size_t cap = rd->fields_cap ? rd->fields_cap * 2 : 16;
        size_t *off = realloc(rd->foff, cap * sizeof(*off));

        if (off == NULL) {
            rd->nomem = 1;
            return;
        }
        rd->foff = off;
        off = realloc(rd->flen, cap * sizeof(*off));
        if (off == NULL) {
            rd->nomem = 1;
            return;
        }
        rd->flen = off;
        rd->fields_cap = cap;
    }
    if (reserve(&rd->fbuf, &rd->fbuf_cap, rd->fbuf_len + len + 1) != 0) {
        rd->nomem = 1;
        return;
    }
    rd->foff[rd->n_fields] = rd->fbuf_len;
    rd->flen[rd->n_fields] = len;
    if (len > 0)
        memcpy(rd->fbuf + rd->fbuf_len, s, len);
    rd->fbuf_len += len;
    rd->fbuf[rd->fbuf_len++] = '\0';
    rd->n_fields++;
}

static void on_record(int ch, void *data)
{
    (void)ch;
    ((struct csvin *)data)->ended = 1;
}

static int is_cr(unsigned char ch) { return ch == '\r'; }
static int is_lf(unsigned char ch) { return ch == '\n'; }

/* Strict RFC 4180; blanks are data (no trimming); CR is dropped only where
 * libcsv trims "space". */
static void parser_reset(struct csvin *rd)
{
    if (rd->csv_live)
        csv_free(&rd->csv);
    csv_init(&rd->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
    csv_set_space_func(&rd->csv, is_cr);
    csv_set_term_func(&rd->csv, is_lf);
    csv_set_blk_size(&rd->csv, rd->max_record < CSV_BLOCK_BYTES ? rd->max_record
                                                                 : CSV_BLOCK_BYTES);
    rd->csv_live = 1;
}

static void set_malformed(struct csvin *rd, const char *fmt, ...) PAYRUN_PRINTF(2, 3);

static void set_malformed(struct csvin *rd, const char *fmt, ...)
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

static int raw_append(struct csvin *rd, const char *s, size_t len)
{
    if (reserve(&rd->raw, &rd->raw_cap, rd->raw_len + len + 1) != 0)
        return -1;
    memcpy(rd->raw + rd->raw_len, s, len);
    rd->raw_len += len;
    rd->raw[rd->raw_len] = '\0';
    return 0;
}

int csvin_open(struct csvin *rd, const struct payrun_host *h, payrun_stage *st,
               const char *path, size_t max_record, const char *hint)
{
    const char *slash = strrchr(path, '/');
    struct stat sb;

    csvin_close(rd);
    rd->host = h;
    rd->st = st;
    rd->path = path;
    rd->base = slash ? slash + 1 : path;
    rd->max_record = max_record;
    rd->lineno = 0;
    rd->eof = rd->replay = rd->open = 0;
    rd->blk_len = rd->blk_pos = 0;
    rd->blk_eof = 0;
    if (rd->blk == NULL && (rd->blk = malloc(CSV_BLOCK_BYTES)) == NULL)
        return h->error(st, PAYRUN_ERR, NULL, "out of memory opening \"%s\"", path);
    rd->f = fopen(path, "rb");
    if (rd->f == NULL)
        return h->error(st, PAYRUN_ERR_NOINPUT, hint, "cannot open \"%s\": %s", path,
                        strerror(errno));
    if (fstat(fileno(rd->f), &sb) == 0 && S_ISDIR(sb.st_mode))
        return h->error(st, PAYRUN_ERR_NOINPUT, hint, "cannot read \"%s\": it is a directory",
                        path);
    parser_reset(rd);
    return PAYRUN_OK;
}

void csvin_close(struct csvin *rd)
{
    if (rd->f != NULL)
        fclose(rd->f);
    rd->f = NULL;
    if (rd->csv_live)
        csv_free(&rd->csv);
    rd->csv_live = 0;
}

void csvin_free(struct csvin *rd)
{
    csvin_close(rd);
    free(rd->fbuf);
    free(rd->foff);
    free(rd->flen);
    free(rd->raw);
    free(rd->line);
    free(rd->blk);
    rd->fbuf = rd->raw = rd->line = rd->blk = NULL;
    rd->foff = rd->flen = NULL;
    rd->fbuf_cap = rd->fbuf_len = rd->fields_cap = rd->n_fields = 0;
    rd->raw_cap = rd->raw_len = rd->line_cap = 0;
}

int csvin_out_of_memory(const struct csvin *rd)
{
    return rd->host->error(rd->st, PAYRUN_ERR, NULL,
                           "out of memory reading \"%s\" at line %" PRId64, rd->path, rd->lineno);
}

/* The next physical line into rd->line: 1, 0 at the end of the file, or a
 * reported failure. Of a line longer than the record limit, a little more
 * than the limit is kept (enough to be seen as too long, a byte order mark
 * included) and the rest read and dropped: a file of one endless line
 * costs a block and a record, not its size. */
static int read_line(struct csvin *rd)
{
    const size_t keep = rd->max_record + 4;
    size_t n = 0;
    int ended = 0, any = 0;

    if (rd->replay) {
        rd->replay = 0; /* the line that ended a runaway record starts anew */
        return 1;
    }
    while (!ended) {
        const char *start, *nl;
        size_t avail, take, copy;

        if (rd->blk_pos == rd->blk_len) {
            size_t got;

            if (rd->blk_eof)
                break;
            errno = 0;
            got = fread(rd->blk, 1, CSV_BLOCK_BYTES, rd->f);
            if (got == 0) {
                if (ferror(rd->f))
                    return rd->host->error(rd->st, PAYRUN_ERR_IO, NULL, "cannot read \"%s\": %s",
                                           rd->path, strerror(errno ? errno : EIO));
                rd->blk_eof = 1;
                break;
            }
            rd->blk_pos = 0;
            rd->blk_len = got;
        }
        start = rd->blk + rd->blk_pos;
        avail = rd->blk_len - rd->blk_pos;
        nl = memchr(start, '\n', avail);
        take = nl ? (size_t)(nl - start) + 1 : avail;
        copy = n < keep ? (take < keep - n ? take : keep - n) : 0;
        if (copy > 0) {
            if (reserve(&rd->line, &rd->line_cap, n + copy + 1) != 0)
                return csvin_out_of_memory(rd);
            memcpy(rd->line + n, start, copy);
            n += copy;
        }
        rd->blk_pos += take;
        any = 1;
        ended = nl != NULL;
    }
    if (!any)
        return 0;
    rd->line[n] = '\0';
    rd->lineno++;
    rd->line_len = n;
    return 1;
}

int csvin_next(struct csvin *rd)
{
    for (;;) {
        const char *p, *nul;
        size_t len, used, bad;
        int got;

        if (rd->eof)
            return 0;
        got = read_line(rd);
        if (got < 0)
            return got;
        if (got == 0) {
            rd->eof = 1;
            if (!rd->open)
                return 0;
            /* The last line had no newline, or a quote is still open. */
            if (csv_fini(&rd->csv, on_field, on_record, rd) != 0 || !rd->ended)
                set_malformed(rd, "malformed CSV: a quoted field is not closed by the end of "
                              "the file");
            parser_reset(rd);
            rd->open = 0;
            return rd->nomem ? csvin_out_of_memory(rd) : 1;
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
            rd->raw_len = rd->fbuf_len = 0;
            rd->n_fields = 0;
            rd->n_seen = 0;
            rd->malformed[0] = '\0';
        }
        if (len > rd->max_record - rd->raw_len) {
            if (rd->raw_len > 0) {
                /* End the runaway record before this line, which may well
                 * start a good record once the parser is reset. */
                set_malformed(rd, "malformed CSV: record longer than %zu bytes (lines %" PRId64
                              " to %" PRId64 "); is a quote not closed?", rd->max_record,
                              rd->start, rd->lineno - 1);
                rd->replay = 1;
            } else {
                set_malformed(rd, "malformed CSV: line longer than %zu bytes", rd->max_record);
                if (raw_append(rd, p, rd->max_record) != 0)
                    return csvin_out_of_memory(rd);
            }
            parser_reset(rd);
            rd->open = 0;
            return 1;
        }
        if (raw_append(rd, p, len) != 0)
            return csvin_out_of_memory(rd);
        nul = memchr(p, '\0', len);
        if (nul != NULL)
            set_malformed(rd, "malformed CSV: NUL byte at line %" PRId64 ", column %zu; a text "
                          "file holds none", rd->lineno, (size_t)(nul - rd->line) + 1);
        bad = csvin_utf8_bad_at((const unsigned char *)p, len);
        if (bad < len)
            set_malformed(rd, "not UTF-8: byte 0x%02X at line %" PRId64 ", column %zu; save the "
                          "file as CSV UTF-8", (unsigned char)p[bad], rd->lineno,
                          bad + 1 + (size_t)(p - rd->line));
        used = csv_parse(&rd->csv, p, len, on_field, on_record, rd);
        if (rd->nomem)
            return csvin_out_of_memory(rd);
        if (used < len) {
            if (csv_error(&rd->csv) != CSV_EPARSE)
                return csvin_out_of_memory(rd);
            set_malformed(rd, "malformed CSV: %s at line %" PRId64 ", column %zu; quote the "
                          "whole field and double the quotes inside it",
                          p[used] == '"' ? "unexpected quote" : "text after a closing quote",
                          rd->lineno, used + 1 + (size_t)(p - rd->line));
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

size_t csvin_raw_len(const struct csvin *rd)
{
    size_t n = rd->raw_len;

    if (n > 0 && rd->raw[n - 1] == '\n')
        n--;
    if (n > 0 && rd->raw[n - 1] == '\r')
        n--;
    return n;
}

/* ---- the rejects file ---------------------------------------------------- */

static int out_put(struct csvin_rejects *rj, const char *s, size_t len)
{
    if (reserve(&rj->buf, &rj->cap, rj->len + len) != 0)
        return -1;
    memcpy(rj->buf + rj->len, s, len);
    rj->len += len;
    return 0;
}

/*
 * One text cell, RFC 4180 quoted when needed. A cell that a spreadsheet
 * would run as a formula (leading = + - @ tab CR LF) gets a leading
 * apostrophe: finance opens this file in a spreadsheet, and the raw record
 * is anyone's text. A NUL byte (a record is rejected for holding one, and
 * its reason gives the line and column) is written as U+2400 SYMBOL FOR
 * NULL: a NUL in the file would cut it short for every C string reader
 * and make grep call it binary.
 */
static int out_cell(struct csvin_rejects *rj, const char *s, size_t len)
{
    static const char nul_symbol[] = "\xE2\x90\x80";
    int quote = 0, rc = 0;

    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        rc |= out_put(rj, "\"", 1);
    if (len > 0 && s[0] != '\0' && strchr("=+-@\t\r\n", s[0]) != NULL)
        rc |= out_put(rj, "'", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            rc |= out_put(rj, "\"", 1);
        if (s[i] == '\0')
            rc |= out_put(rj, nul_symbol, sizeof(nul_symbol) - 1);
        else
            rc |= out_put(rj, s + i, 1);
    }
    if (quote)
        rc |= out_put(rj, "\"", 1);
    return rc;
}

int csvin_reject(struct csvin_rejects *rj, const struct csvin *rd, const char *reason)
{
    const struct payrun_host *h = rd->host;
    char num[32];
    int n, rc;

    if (rj->out == NULL) {
        static const char header[] = "file,line,reason,record\n";

        rc = h->output_open(rd->st, rj->path, PAYRUN_OUTPUT_KEEP_ON_FAILURE, &rj->out);
        if (rc != PAYRUN_OK)
            return rc;
        rc = h->output_write(rj->out, header, sizeof(header) - 1);
        if (rc != PAYRUN_OK)
            return rc;
    }
    rj->len = 0;
    n = snprintf(num, sizeof(num), ",%" PRId64 ",", rd->start);
    if (out_cell(rj, rd->base, strlen(rd->base)) != 0 || out_put(rj, num, (size_t)n) != 0 ||
        out_cell(rj, reason, strlen(reason)) != 0 || out_put(rj, ",", 1) != 0 ||
        out_cell(rj, rd->raw, csvin_raw_len(rd)) != 0 || out_put(rj, "\n", 1) != 0)
        return csvin_out_of_memory(rd);
    return h->output_write(rj->out, rj->buf, rj->len);
}

int csvin_rejects_close(struct csvin_rejects *rj, const struct payrun_host *h)
{
    payrun_output *out = rj->out;

    rj->out = NULL;
    return out != NULL ? h->output_close(out) : PAYRUN_OK;
}

void csvin_rejects_free(struct csvin_rejects *rj, const struct payrun_host *h)
{
    csvin_rejects_close(rj, h);
    free(rj->buf);
    rj->buf = NULL;
    rj->len = rj->cap = 0;
}
