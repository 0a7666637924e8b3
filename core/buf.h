/*
 * buf.h: a growable byte buffer, with the JSON string escaping that audit
 * metadata, JSON Lines and `--format json` share. Growth is checked; on a
 * failed allocation the buffer remembers it (b->oom) and every later append
 * is a no-op, so callers test once at the end instead of after each append.
 */
#ifndef PAYRUN_BUF_H
#define PAYRUN_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data; /* NUL-terminated while len < cap */
    size_t len;
    size_t cap;
    int oom;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);
void buf_append(buf *b, const void *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append `s` as a JSON string literal, quotes included; NULL gives null. */
void buf_json_str(buf *b, const char *s);
/* Append `"key":` followed by the JSON string of `val` (or null). */
void buf_json_kv(buf *b, const char *key, const char *val);
/*
 * Append one CSV cell (RFC 4180: quoted when it holds a comma, quote, CR or
 * LF, quotes doubled). A text cell (`is_text`) whose first character would
 * make a spreadsheet run it as a formula (= + - @ tab CR LF) gets a
 * leading apostrophe; number cells are written as they are.
 */
void buf_csv_cell(buf *b, const char *s, int is_text);

/* Take the data (caller frees); the buffer is left empty. NULL on oom. */
char *buf_take(buf *b);

#endif
