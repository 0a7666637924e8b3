/*
 * csvin.h: reading a CSV input file one record at a time, and writing the
 * rejects file of its bad records; shared by the plugins that read CSV
 * (attribution_csv, status_transitions) and linked into each of them, so a
 * fix to how a file is read or a bad record is reported is made once.
 *
 * A file is streamed one physical line at a time into libcsv, which knows
 * RFC 4180 quoting; a line is kept only up to the record limit (the rest
 * of an over-long line is read and dropped), so memory does not follow
 * the file. Only LF ends a record; a CR before
 * it is dropped as libcsv "space" (at the edges of a field only, so a CR
 * inside quotes survives), so CRLF and LF files read alike, and every
 * record knows the line where it starts. Blanks are data: no trimming.
 *
 * A record that cannot be parsed (a stray quote, a quote left open, a NUL
 * byte, bytes that are not UTF-8, a record over the size limit) still comes
 * back, with the reason in `malformed` and its raw text in `raw`, so the
 * plugin can reject it and read on. Failures that stop the read (I/O, out
 * of memory) are reported through the host and returned.
 */
#ifndef PAYRUN_PLUGINS_CSVIN_H
#define PAYRUN_PLUGINS_CSVIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <csv.h>

#include <payrun/plugin.h>

/* Room for one reason: a record's problems, "; "-separated. */
#define CSVIN_REASON_MAX 1024
/* Fields stored per record; more are counted (n_seen), not stored. */
#define CSVIN_MAX_FIELDS 1024

/* One input file being read. Zero it before the first csvin_open. A
 * record's fields are packed in one buffer, NUL-terminated, and found by
 * offset (the buffer may move while libcsv hands over fields), so the
 * memory held is that of the longest record, never more. */
struct csvin {
    const struct payrun_host *host;
    payrun_stage *st;
    const char *path;  /* as configured, for messages */
    const char *base;  /* its base name, for the rejects file */
    size_t max_record; /* bytes a record (all its lines) may take */

    FILE *f;
    struct csv_parser csv;
    int csv_live;
    char *blk; /* the file, read a block at a time */
    size_t blk_len, blk_pos;
    int blk_eof;
    char *line; /* the physical line being read, cut past max_record */
    size_t line_cap, line_len;
    int64_t lineno; /* physical lines read so far */
    int eof;
    int replay; /* the next record starts with the line already in `line` */

    /* The current record. */
    int open;
    int ended; /* libcsv reported the end of the record */
    int nomem;
    int64_t start; /* the physical line where it starts */
    char *raw;     /* its physical lines, as read */
    size_t raw_len, raw_cap;
    char *fbuf; /* the stored fields, each followed by a NUL */
    size_t fbuf_len, fbuf_cap;
    size_t *foff, *flen; /* where each stored field starts, and its length */
    size_t n_fields;     /* stored: at most CSVIN_MAX_FIELDS */
    size_t n_seen;       /* found in the record */
    size_t fields_cap;
    char malformed[CSVIN_REASON_MAX]; /* "" unless the record could not be parsed */
};

/* Open `path` for reading (closing any file open before); `hint` says where
 * the path was configured. PAYRUN_OK or a reported PAYRUN_ERR_NOINPUT. */
int csvin_open(struct csvin *rd, const struct payrun_host *h, payrun_stage *st,
               const char *path, size_t max_record, const char *hint);
/* The next record: 1 (its fields, or a reason in `malformed`), 0 at the
 * end of the file, or a reported failure. Blank lines between records are
 * skipped. A malformed record ends at the line where it went wrong, and
 * reading resumes with the next line. */
int csvin_next(struct csvin *rd);
/* Field i of the current record (NUL-terminated; it may hold a NUL of its
 * own, which makes the record malformed), or NULL past the stored fields.
 * Inline: an importer reads every field of every line through it. */
static inline const char *csvin_field(const struct csvin *rd, size_t i)
{
    return i < rd->n_fields ? rd->fbuf + rd->foff[i] : NULL;
}
/* Its length in bytes; 0 past the stored fields. */
static inline size_t csvin_field_len(const struct csvin *rd, size_t i)
{
    return i < rd->n_fields ? rd->flen[i] : 0;
}
/* The record's raw text less its final line end, for the rejects file. */
size_t csvin_raw_len(const struct csvin *rd);
/* Report running out of memory at the current line; returns PAYRUN_ERR. */
int csvin_out_of_memory(const struct csvin *rd);
/* Close the file; the buffers stay for the next csvin_open. */
void csvin_close(struct csvin *rd);
/* Close the file and free every buffer. */
void csvin_free(struct csvin *rd);

/* ---- text for messages --------------------------------------------------- */

/* Append to a reason, separating the problems of one record with "; ", so
 * one edit can fix all of them. */
void csvin_why_add(char *why, size_t cap, const char *fmt, ...) PAYRUN_PRINTF(3, 4);
/* A cell quoted in a message: quotes, backslashes and control bytes
 * escaped so a cell cannot forge a log line, and cut (on a UTF-8 boundary)
 * so one long cell cannot crowd out the reason. Returns dst. */
const char *csvin_show(char *dst, size_t cap, const char *s);
/* Index of the first byte of s that is not well-formed UTF-8, or len. */
size_t csvin_utf8_bad_at(const unsigned char *s, size_t len);

/* ---- the rejects file ---------------------------------------------------- */

/* "file,line,reason,record", one row per rejected record, opened through
 * the host at the first reject and kept when the run fails. Zero it, set
 * `path`, and free it with csvin_rejects_free. */
struct csvin_rejects {
    const char *path; /* as configured */
    payrun_output *out;
    char *buf;
    size_t len, cap;
};

/* One row for the current record of rd. PAYRUN_OK or a reported failure. */
int csvin_reject(struct csvin_rejects *rj, const struct csvin *rd, const char *reason);
/* Close the file if it was opened: PAYRUN_OK, or what output_close said. */
int csvin_rejects_close(struct csvin_rejects *rj, const struct payrun_host *h);
/* Close the file if it is still open (a failed run) and free the buffer. */
void csvin_rejects_free(struct csvin_rejects *rj, const struct payrun_host *h);

#endif
