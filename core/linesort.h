/*
 * linesort.h: the attribution lines of an import, put in partner order
 * within a fixed amount of memory.
 *
 * An import hands its lines over in file order; they are settled into the
 * database in partner order (file order within a partner), so that the
 * table and its index grow at one end. Lines are kept in memory up to the
 * sorter's budget; past it, each full buffer is sorted and written to an
 * unlinked temporary file as a run, and the runs are merged when read.
 * Memory stays at the budget (plus a read buffer per run) whatever the
 * size of the input.
 */
#ifndef PAYRUN_LINESORT_H
#define PAYRUN_LINESORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct payrun_line;
typedef struct linesort linesort;

/* A sorter that keeps up to `mem_bytes` of lines in memory (at least
 * 64 KiB is used). */
linesort *linesort_new(size_t mem_bytes);
void linesort_free(linesort *ls);

/* Add one line; its strings are copied. The lines are numbered 1, 2, ...
 * in the order added: that number is the line's `seq`. */
int linesort_add(linesort *ls, const struct payrun_line *l, pr_err *err);
/* Lines added since the sorter was made or last emptied. */
int64_t linesort_count(const linesort *ls);
/* Runs written to the temporary file so far (0 while all fit in memory). */
int linesort_runs(const linesort *ls);

/* End the adding and start the reading. */
int linesort_finish(linesort *ls, pr_err *err);
/* How many of the lines last read stay valid. */
#define LINESORT_KEEP 16

/* The next line in (partner_id, seq) order: 1 with *seq and *l set, 0 at
 * the end, -1 on error. The strings of the last LINESORT_KEEP lines read
 * stay valid (until the sorter is reset), so a caller can insert them
 * together. */
int linesort_next(linesort *ls, int64_t *seq, struct payrun_line *l, pr_err *err);

/* Forget every line and the temporary file; the sorter can be used again. */
void linesort_reset(linesort *ls);

/*
 * The sorter's temporary file, shared with the calculation (which spills
 * the priced lines of a partner too large to hold). tmpfile_open makes an
 * unlinked file named PREFIX-XXXXXX in TMPDIR (default /tmp), closed on
 * exec: 0 with *fd set, or an errno value; dir[] names the directory for
 * messages either way. tmpfile_io is one pwrite (writing) or pread at
 * `off`, retried on EINTR: the bytes moved (more than 0), or minus an
 * errno value (ENOSPC for a write that moved nothing, EIO for a read past
 * the end).
 */
int tmpfile_open(const char *prefix, char *dir, size_t dir_cap, int *fd);
ssize_t tmpfile_io(int fd, int writing, void *out, const void *in, size_t n, off_t off);

#endif
