/*
 * linesort.c: attribution lines in partner order, in bounded memory.
 *
 * A line is kept as one record: a fixed header (its length, which of its
 * strings are NULL, its seq, source line and amount) followed by its nine
 * strings, each NUL-terminated, partner_id first. Records are appended to
 * one buffer; an array of pointers to them is what gets sorted. When the
 * buffer is full the records are sorted and written, in that order, to a
 * temporary file (one "run"), and the buffer starts again. Reading merges
 * the runs through a small heap: each run is read through its own buffer,
 * so reading takes a buffer per run, not the input's size.
 *
 * The temporary file is unlinked as soon as it is made: a process that
 * dies leaves nothing behind.
 */
#include "linesort.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payrun/plugin.h"

#define LS_NFIELDS 9
#define LS_MIN_MEM (64u * 1024u)
#define LS_READ_BUF (64u * 1024u)
/* A record's length is kept in 32 bits; no line comes near it (the CSV
 * reader refuses records of more than a few MiB). */
#define LS_MAX_REC (256u * 1024u * 1024u)

typedef struct ls_rec {
    uint32_t len;   /* bytes of the record, header included, a multiple of 8 */
    uint32_t nulls; /* bit i set: string i is NULL */
    int64_t seq;
    int64_t source_line;
    int64_t amount;
    /* the strings follow */
} ls_rec;

/* What gets sorted: a record, with the first 8 bytes of its partner_id
 * as a big-endian number (zero-padded), so most comparisons need neither
 * the record nor strcmp. */
typedef struct ls_ent {
    uint64_t key;
    ls_rec *rec;
} ls_ent;

typedef struct ls_run {
    off_t pos, end;  /* what is left of the run in the file */
    char *buf;       /* read buffer */
    size_t cap, have, at;
    const ls_rec *cur; /* the run's current record, in buf; NULL when done */
} ls_run;

struct linesort {
    size_t budget;
    /* Records being gathered: the buffer and pointers to them. */
    char *mem;
    size_t mem_cap, mem_used;
    ls_ent *recs;
    size_t nrecs, recs_cap;
    int64_t count;
    /* The temporary file and its runs. */
    int fd;
    char dir[512];
    off_t file_end;
    ls_run *runs;
    int nruns, runs_cap;
    /* Reading. */
    int reading;
    size_t next_rec;  /* in memory, when nothing went to the file */
    int *heap;        /* run indexes, smallest record first */
    int nheap;
    /* Merging: copies of the last lines handed out, which a run's buffer
     * would overwrite. */
    struct {
        char *buf;
        size_t cap;
    } keep[LINESORT_KEEP];
    unsigned nkeep;
};

static const char *ls_str(const ls_rec *r, int field, const char **p)
{
    const char *s = *p;
    *p += strlen(s) + 1;
    return (r->nulls >> field) & 1u ? NULL : s;
}

static int ls_cmp(const ls_rec *a, const ls_rec *b)
{
    int c = strcmp((const char *)(a + 1), (const char *)(b + 1));
    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static uint64_t ls_key(const char *p)
{
    uint64_t k = 0;

    for (int i = 0; i < 8; i++) {
        k <<= 8;
        if (*p != '\0')
            k |= (unsigned char)*p++;
    }
    return k;
}

/* The same order as ls_cmp: equal keys mean equal first 8 bytes, and a
 * partner_id shorter than 8 ends within them, so only ids of 8 bytes or
 * more are compared further. */
static int ls_qcmp(const void *x, const void *y)
{
    const ls_ent *a = x, *b = y;

    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if ((a->key & 0xff) != 0) {
        int c = strcmp((const char *)(a->rec + 1) + 8, (const char *)(b->rec + 1) + 8);
        if (c != 0)
            return c;
    }
    return a->rec->seq < b->rec->seq ? -1 : a->rec->seq > b->rec->seq;
}

linesort *linesort_new(size_t mem_bytes)
{
    linesort *ls = calloc(1, sizeof(*ls));
    if (ls == NULL)
        return NULL;
    ls->budget = mem_bytes < LS_MIN_MEM ? LS_MIN_MEM : mem_bytes;
    ls->fd = -1;
    return ls;
}

void linesort_reset(linesort *ls)
{
    if (ls == NULL)
        return;
    for (int i = 0; i < ls->nruns; i++)
        free(ls->runs[i].buf);
    ls->nruns = 0;
    if (ls->fd >= 0)
        close(ls->fd);
    ls->fd = -1;
    ls->file_end = 0;
    ls->mem_used = 0;
    ls->nrecs = 0;
    ls->count = 0;
    ls->reading = 0;
    ls->next_rec = 0;
    ls->nheap = 0;
    /* The big buffer goes back: a sorter kept for the next run should
     * not hold on to the last one's memory. */
    free(ls->mem);
    ls->mem = NULL;
    ls->mem_cap = 0;
    free(ls->recs);
    ls->recs = NULL;
    ls->recs_cap = 0;
}

void linesort_free(linesort *ls)
{
    if (ls == NULL)
        return;
    linesort_reset(ls);
    for (int i = 0; i < LINESORT_KEEP; i++)
        free(ls->keep[i].buf);
    free(ls->runs);
    free(ls->heap);
    free(ls);
}

int64_t linesort_count(const linesort *ls)
{
    return ls->count;
}

int linesort_runs(const linesort *ls)
{
    return ls->nruns;
}

static int ls_nomem(pr_err *err, size_t n)
{
    return pr_err_set(err, EXIT_SOFTWARE, "sorting attribution lines: out of memory (%zu bytes)",
                      n);
}

static int ls_ioerr(linesort *ls, pr_err *err, const char *what, int e)
{
    pr_err_set(err, EXIT_IOERR, "%s the temporary file of sorted attribution lines in %s: %s",
               what, ls->dir, strerror(e));
    if (e == ENOSPC || e == EDQUOT)
        return pr_err_hint(err, "free space in %s, or set TMPDIR to a directory with room for "
                                "about the attribution file's size", ls->dir);
    return pr_err_hint(err, "set TMPDIR to a writable directory with room for about the "
                            "attribution file's size");
}

int tmpfile_open(const char *prefix, char *dir, size_t dir_cap, int *fd)
{
    const char *d = getenv("TMPDIR");
    char path[600];

    if (d == NULL || d[0] == '\0')
        d = "/tmp";
    snprintf(dir, dir_cap, "%s", d);
    snprintf(path, sizeof(path), "%s/%s-XXXXXX", dir, prefix);
    *fd = mkstemp(path);
    if (*fd < 0)
        return errno;
    (void)fcntl(*fd, F_SETFD, FD_CLOEXEC);
    /* Unlinked at once: whatever happens to this process, nothing stays. */
    if (unlink(path) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return e;
    }
    return 0;
}

/* `writing` is a constant at each call, so the branch not taken is dead
 * once inlined: a Release build's _FORTIFY_SOURCE checks would otherwise
 * see pread given a NULL buffer. */
ssize_t tmpfile_io(int fd, int writing, void *out, const void *in, size_t n, off_t off)
{
    for (;;) {
        ssize_t k = writing ? pwrite(fd, in, n, off) : pread(fd, out, n, off);
        if (k > 0)
            return k;
        if (k < 0 && errno == EINTR)
            continue;
        return -(k < 0 ? errno : writing ? ENOSPC : EIO);
    }
}

static int ls_open_file(linesort *ls, pr_err *err)
{
    int e = tmpfile_open("payrun-lines", ls->dir, sizeof(ls->dir), &ls->fd);

    return e == 0 ? 0 : ls_ioerr(ls, err, "creating", e);
}

static ssize_t ls_pio(linesort *ls, int writing, char *out, const char *in, size_t n, off_t off,
                      pr_err *err)
{
    ssize_t k = tmpfile_io(ls->fd, writing, out, in, n, off);

    if (k < 0)
        ls_ioerr(ls, err, writing ? "writing" : "reading", (int)-k);
    return k < 0 ? -1 : k;
}

static int ls_write_all(linesort *ls, const char *p, size_t n, pr_err *err)
{
    while (n > 0) {
        ssize_t w = ls_pio(ls, 1, NULL, p, n, ls->file_end, err);
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
        ls->file_end += w;
    }
    return 0;
}

/* Sort what is in memory and write it to the file as one more run. */
static int ls_spill(linesort *ls, pr_err *err)
{
    char *out;
    size_t cap = ls->budget < (1u << 20) ? ls->budget : 1u << 20, used = 0;
    off_t start;

    if (ls->nrecs == 0)
        return 0;
    if (ls->fd < 0 && ls_open_file(ls, err) != 0)
        return -1;
    if (ls->nruns == ls->runs_cap) {
        int ncap = ls->runs_cap ? 2 * ls->runs_cap : 16;
        ls_run *nr = realloc(ls->runs, (size_t)ncap * sizeof(*nr));
        if (nr == NULL)
            return ls_nomem(err, (size_t)ncap * sizeof(*nr));
        ls->runs = nr;
        ls->runs_cap = ncap;
    }
    qsort(ls->recs, ls->nrecs, sizeof(*ls->recs), ls_qcmp);
    /* Written through a 1 MiB buffer, not a write per record. */
    out = malloc(cap);
    if (out == NULL)
        return ls_nomem(err, cap);
    start = ls->file_end;
    for (size_t i = 0; i < ls->nrecs; i++) {
        const ls_rec *r = ls->recs[i].rec;
        if (used + r->len > cap) {
            if (ls_write_all(ls, out, used, err) != 0)
                goto fail;
            used = 0;
        }
        if (r->len > cap) {
            if (ls_write_all(ls, (const char *)r, r->len, err) != 0)
                goto fail;
            continue;
        }
        memcpy(out + used, r, r->len);
        used += r->len;
    }
    if (ls_write_all(ls, out, used, err) != 0)
        goto fail;
    free(out);
    memset(&ls->runs[ls->nruns], 0, sizeof(ls->runs[0]));
    ls->runs[ls->nruns].pos = start;
    ls->runs[ls->nruns].end = ls->file_end;
    ls->nruns++;
    ls->nrecs = 0;
    ls->mem_used = 0;
    return 0;

fail:
    free(out);
    return -1;
}

int linesort_add(linesort *ls, const struct payrun_line *l, pr_err *err)
{
    const char *f[LS_NFIELDS] = {l->partner_id, l->deal_id,  l->deal_name,
                                 l->deal_status, l->closed_on, l->model,
                                 l->percentage, l->currency, l->product_line};
    size_t flen[LS_NFIELDS], len = sizeof(ls_rec);
    uint32_t nulls = 0;
    ls_rec *r;
    char *p;

    if (ls->reading)
        return pr_err_set(err, EXIT_SOFTWARE, "a line added to the sorter while it is read");
    for (int i = 0; i < LS_NFIELDS; i++) {
        flen[i] = f[i] ? strlen(f[i]) : 0;
        if (f[i] == NULL)
            nulls |= 1u << i;
        len += flen[i] + 1;
        if (len > LS_MAX_REC)
            return pr_err_set(err, EXIT_DATAERR,
                              "line %lld: an attribution line of more than %u bytes",
                              (long long)l->source_line, LS_MAX_REC);
    }
    len = (len + 7u) & ~(size_t)7u;
    /* Full: the gathered lines go to the file as a run. */
    if (ls->nrecs > 0 &&
        (ls->mem_used + len > ls->budget ||
         (ls->nrecs + 1) * sizeof(*ls->recs) + ls->mem_used + len > ls->budget) &&
        ls_spill(ls, err) != 0)
        return -1;
    if (ls->mem_used + len > ls->mem_cap) {
        size_t ncap = ls->mem_cap ? ls->mem_cap : LS_MIN_MEM;
        while (ncap < ls->mem_used + len)
            ncap *= 2;
        if (ncap > ls->budget && ls->budget >= ls->mem_used + len)
            ncap = ls->budget;
        /* Pointers into the buffer move with it. */
        char *nm = realloc(ls->mem, ncap);
        if (nm == NULL)
            return ls_nomem(err, ncap);
        for (size_t i = 0; i < ls->nrecs; i++)
            ls->recs[i].rec = (ls_rec *)(nm + ((char *)ls->recs[i].rec - ls->mem));
        ls->mem = nm;
        ls->mem_cap = ncap;
    }
    if (ls->nrecs == ls->recs_cap) {
        size_t ncap = ls->recs_cap ? 2 * ls->recs_cap : 1024;
        ls_ent *nr = realloc(ls->recs, ncap * sizeof(*nr));
        if (nr == NULL)
            return ls_nomem(err, ncap * sizeof(*nr));
        ls->recs = nr;
        ls->recs_cap = ncap;
    }
    r = (ls_rec *)(ls->mem + ls->mem_used);
    r->len = (uint32_t)len;
    r->nulls = nulls;
    r->seq = ++ls->count;
    r->source_line = l->source_line;
    r->amount = l->attributed_amount;
    p = (char *)(r + 1);
    for (int i = 0; i < LS_NFIELDS; i++) {
        if (flen[i] > 0)
            memcpy(p, f[i], flen[i]);
        p[flen[i]] = '\0';
        p += flen[i] + 1;
    }
    memset(p, 0, (size_t)((char *)r + len - p));
    ls->mem_used += len;
    ls->recs[ls->nrecs].key = ls_key(f[0]);
    ls->recs[ls->nrecs++].rec = r;
    return 0;
}

/* Make the run's next record whole in its buffer; cur is NULL at its end. */
static int ls_run_advance(linesort *ls, ls_run *run, pr_err *err)
{
    if (run->cur != NULL)
        run->at += run->cur->len;
    run->cur = NULL;
    for (;;) {
        size_t avail = run->have - run->at;
        size_t need = sizeof(ls_rec);
        if (avail >= sizeof(ls_rec)) {
            need = ((const ls_rec *)(run->buf + run->at))->len;
            if (need < sizeof(ls_rec) || need > LS_MAX_REC)
                return pr_err_set(err, EXIT_SOFTWARE,
                                  "the temporary file of sorted lines in %s is corrupt",
                                  ls->dir);
            if (avail >= need) {
                run->cur = (const ls_rec *)(run->buf + run->at);
                return 0;
            }
        }
        if (run->pos >= run->end) {
            if (avail != 0)
                return pr_err_set(err, EXIT_SOFTWARE,
                                  "the temporary file of sorted lines in %s ends mid-record",
                                  ls->dir);
            return 0;
        }
        /* Keep the partial record, at the start of the buffer. */
        memmove(run->buf, run->buf + run->at, avail);
        run->at = 0;
        run->have = avail;
        if (need > run->cap) {
            char *nb = realloc(run->buf, need);
            if (nb == NULL)
                return ls_nomem(err, need);
            run->buf = nb;
            run->cap = need;
        }
        size_t want = run->cap - run->have;
        if ((off_t)want > run->end - run->pos)
            want = (size_t)(run->end - run->pos);
        ssize_t n = ls_pio(ls, 0, run->buf + run->have, NULL, want, run->pos, err);
        if (n < 0)
            return -1;
        run->have += (size_t)n;
        run->pos += n;
    }
}

static int heap_less(const linesort *ls, int a, int b)
{
    return ls_cmp(ls->runs[a].cur, ls->runs[b].cur) < 0;
}

static void heap_down(linesort *ls, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < ls->nheap && heap_less(ls, ls->heap[l], ls->heap[m]))
            m = l;
        if (r < ls->nheap && heap_less(ls, ls->heap[r], ls->heap[m]))
            m = r;
        if (m == i)
            return;
        int t = ls->heap[i];
        ls->heap[i] = ls->heap[m];
        ls->heap[m] = t;
        i = m;
    }
}

int linesort_finish(linesort *ls, pr_err *err)
{
    if (ls->reading)
        return 0;
    ls->reading = 1;
    ls->next_rec = 0;
    if (ls->nruns == 0) {
        /* Everything fits in memory: one sort, no file. */
        qsort(ls->recs, ls->nrecs, sizeof(*ls->recs), ls_qcmp);
        return 0;
    }
    if (ls_spill(ls, err) != 0)
        return -1;
    /* The gathering buffer is not needed to merge: give it back. */
    free(ls->mem);
    ls->mem = NULL;
    ls->mem_cap = 0;
    free(ls->recs);
    ls->recs = NULL;
    ls->recs_cap = 0;
    free(ls->heap);
    ls->heap = malloc((size_t)ls->nruns * sizeof(*ls->heap));
    if (ls->heap == NULL)
        return ls_nomem(err, (size_t)ls->nruns * sizeof(*ls->heap));
    ls->nheap = 0;
    for (int i = 0; i < ls->nruns; i++) {
        ls_run *run = &ls->runs[i];
        run->cap = LS_READ_BUF;
        run->buf = malloc(run->cap);
        if (run->buf == NULL)
            return ls_nomem(err, run->cap);
        if (ls_run_advance(ls, run, err) != 0)
            return -1;
        if (run->cur != NULL)
            ls->heap[ls->nheap++] = i;
    }
    for (int i = ls->nheap / 2 - 1; i >= 0; i--)
        heap_down(ls, i);
    return 0;
}

static void ls_line_of(const ls_rec *r, struct payrun_line *l)
{
    const char *p = (const char *)(r + 1);
    l->partner_id = ls_str(r, 0, &p);
    l->deal_id = ls_str(r, 1, &p);
    l->deal_name = ls_str(r, 2, &p);
    l->deal_status = ls_str(r, 3, &p);
    l->closed_on = ls_str(r, 4, &p);
    l->model = ls_str(r, 5, &p);
    l->percentage = ls_str(r, 6, &p);
    l->currency = ls_str(r, 7, &p);
    l->product_line = ls_str(r, 8, &p);
    l->source_line = r->source_line;
    l->attributed_amount = r->amount;
}

int linesort_next(linesort *ls, int64_t *seq, struct payrun_line *l, pr_err *err)
{
    const ls_rec *r;

    if (!ls->reading && linesort_finish(ls, err) != 0)
        return -1;
    if (ls->nruns == 0) {
        if (ls->next_rec >= ls->nrecs)
            return 0;
        r = ls->recs[ls->next_rec++].rec;
    } else {
        /* The record handed out last time is released now, not before:
         * its strings were valid until this call. */
        if (ls->next_rec) {
            ls_run *top = &ls->runs[ls->heap[0]];
            if (ls_run_advance(ls, top, err) != 0)
                return -1;
            if (top->cur == NULL)
                ls->heap[0] = ls->heap[--ls->nheap];
            if (ls->nheap > 0)
                heap_down(ls, 0);
        }
        if (ls->nheap == 0)
            return 0;
        ls->next_rec = 1;
        r = ls->runs[ls->heap[0]].cur;
        /* Into the next copy slot, so the last LINESORT_KEEP lines stay. */
        unsigned k = ls->nkeep++ % LINESORT_KEEP;
        if (ls->keep[k].cap < r->len) {
            char *nb = realloc(ls->keep[k].buf, r->len);
            if (nb == NULL)
                return ls_nomem(err, r->len);
            ls->keep[k].buf = nb;
            ls->keep[k].cap = r->len;
        }
        memcpy(ls->keep[k].buf, r, r->len);
        r = (const ls_rec *)ls->keep[k].buf;
    }
    *seq = r->seq;
    ls_line_of(r, l);
    return 1;
}
