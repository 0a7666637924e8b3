/*
 * fuzz_common.c: the shared part of the harnesses (see fuzz_common.h), and
 * the sanitizer defaults they run with.
 */
#include "fuzz_common.h"

#include <string.h>
#include <unistd.h>

#include <csv.h>

const char *__asan_default_options(void);

/*
 * ASan keeps freed memory in a quarantine of 256 MB by default, the whole
 * of the -rss_limit_mb=256 that run.sh sets: the limit would then measure
 * the quarantine, not the code under test, and report false OOMs. 32 MB
 * still catches a use after free of any recent allocation. ASAN_OPTIONS in
 * the environment overrides this.
 */
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=32";
}

const char *fuzz_temp_dir(void)
{
    const char *dir = getenv("TMPDIR");

    if (dir != NULL && dir[0] != '\0')
        return dir;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

/* ---- the rejects file, read back with libcsv --------------------------- */

struct rejects_check {
    size_t records, fields;
    int bad_cell; /* a cell that starts a formula, or a line cell not a number */
    char bad_text[64];
};

static void on_cell(void *s, size_t len, void *data)
{
    struct rejects_check *rc = data;
    const char *t = s != NULL ? s : ""; /* libcsv may pass NULL for an empty cell */

    if (rc->fields == 1 && rc->records > 0) {
        int digits = len > 0;
        for (size_t i = 0; i < len; i++)
            digits &= t[i] >= '0' && t[i] <= '9';
        if (!digits && !rc->bad_cell) {
            rc->bad_cell = 1;
            snprintf(rc->bad_text, sizeof(rc->bad_text), "line cell \"%.*s\"",
                     (int)(len < 40 ? len : 40), t);
        }
    } else if (len > 0 && t[0] != '\0' && strchr("=+-@\t\r\n", t[0]) != NULL &&
               !rc->bad_cell) {
        rc->bad_cell = 1;
        snprintf(rc->bad_text, sizeof(rc->bad_text), "cell %zu starts with 0x%02X", rc->fields,
                 (unsigned char)t[0]);
    }
    rc->fields++;
}

static void on_row(int ch, void *data)
{
    struct rejects_check *rc = data;

    (void)ch;
    MUST(rc->fields == 4, "rejects row %zu has %zu cells", rc->records + 1, rc->fields);
    rc->records++;
    rc->fields = 0;
}

static int is_lf(unsigned char ch) { return ch == '\n'; }
static int no_space(unsigned char ch) { (void)ch; return 0; }

/* The whole file and its length, read without strlen so that a NUL byte
 * in it is seen (and refused) rather than cutting the text short. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (cap - *len < 4096) {
            char *grown = realloc(buf, cap + 65536);
            MUST(grown != NULL, "out of memory reading %s", path);
            buf = grown;
            cap += 65536;
        }
        got = fread(buf + *len, 1, cap - *len - 1, f);
        *len += got;
    } while (got > 0);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

void fuzz_check_rejects(const char *path, size_t rejected, int exact)
{
    struct csv_parser p;
    struct rejects_check rc = {0};
    size_t len = 0, rows;
    char *text = read_all(path, &len);

    MUST(text != NULL, "rejects file %s is missing", path);
    MUST(memchr(text, '\0', len) == NULL, "a NUL byte in the rejects file, at offset %zu",
         (size_t)((const char *)memchr(text, '\0', len) - text));
    MUST(strncmp(text, "file,line,reason,record\n", 24) == 0, "rejects header: %.40s", text);
    MUST(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) == 0, "csv_init failed");
    /* Only LF ends a row, as the plugins write them; a CR is data. Nothing
     * is trimmed, so a cell " =1" is not mistaken for "=1". */
    csv_set_term_func(&p, is_lf);
    csv_set_space_func(&p, no_space);
    /* libcsv grows a cell 128 bytes at a time; a 1 MiB raw record would
     * cost 8192 reallocs, each a copy under ASan. */
    csv_set_blk_size(&p, (size_t)1 << 20);
    MUST(csv_parse(&p, text, len, on_cell, on_row, &rc) == len,
         "rejects file is not valid CSV: %s", csv_strerror(csv_error(&p)));
    MUST(csv_fini(&p, on_cell, on_row, &rc) == 0, "rejects file ends inside a quoted cell");
    csv_free(&p);
    MUST(!rc.bad_cell, "rejects file: %s", rc.bad_text);
    rows = rc.records - 1;
    if (exact)
        MUST(rows == rejected, "%zu rejects rows for %zu rejected records", rows, rejected);
    else
        MUST(rows >= rejected, "%zu rejects rows for %zu rejected records", rows, rejected);
    free(text);
}
