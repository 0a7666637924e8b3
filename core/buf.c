/*
 * buf.c: growable buffer and JSON escaping (RFC 8259: quote, backslash and
 * control characters escaped; other bytes passed through, input is UTF-8).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b)
{
    memset(b, 0, sizeof(*b));
}

void buf_free(buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int grow(buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len - 1)
        goto oom;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            goto oom;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        goto oom;
    b->data = p;
    b->cap = cap;
    return 0;
oom:
    b->oom = 1;
    return -1;
}

void buf_append(buf *b, const void *p, size_t n)
{
    if (grow(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    /* Format straight into the free space; only when it does not fit, grow
     * and format again (measuring first doubled the cost of every call). */
    if (b->oom || (b->cap - b->len < 64 && grow(b, 64) != 0))
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (grow(b, (size_t)n) != 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void buf_json_str(buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p, *run;

    if (s == NULL) {
        buf_puts(b, "null");
        return;
    }
    buf_append(b, "\"", 1);
    /* Runs of characters that need no escape go in one append. */
    for (p = run = (const unsigned char *)s;; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            continue;
        buf_append(b, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        switch (*p) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            buf_append(b, esc, 6);
        }
        }
        run = p + 1;
    }
    buf_append(b, "\"", 1);
}

void buf_json_kv(buf *b, const char *key, const char *val)
{
    buf_json_str(b, key);
    buf_append(b, ":", 1);
    buf_json_str(b, val);
}

void buf_csv_cell(buf *b, const char *s, int is_text)
{
    int quote = 0, neutralise = 0;

    if (s == NULL)
        s = "";
    if (is_text && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                    s[0] == '\r' || s[0] == '\n'))
        neutralise = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',' || *p == '"' || *p == '\r' || *p == '\n')
            quote = 1;
    if (quote)
        buf_append(b, "\"", 1);
    if (neutralise)
        buf_append(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_append(b, "\"", 1);
        buf_append(b, p, 1);
    }
    if (quote)
        buf_append(b, "\"", 1);
}

char *buf_take(buf *b)
{
    char *p;

    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    if (b->data == NULL)
        buf_append(b, "", 0);
    p = b->data;
    if (b->oom) {
        buf_free(b);
        return NULL;
    }
    buf_init(b);
    return p;
}
