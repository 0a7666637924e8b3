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
 * The file is streamed by the reader the CSV plugins share
 * (common/csvin.c): one physical line at a time into libcsv, so CRLF and
 * LF files read alike and every record keeps the line number where it
 * starts; it also writes the rejects file.
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

#include <payrun/plugin.h>

#include "csvin.h"

/* Result lines are short; a longer record is an unclosed quote eating the
 * file, cut here so memory stays small. */
#define MAX_RECORD_BYTES ((size_t)64 * 1024)
#define REASON_MAX CSVIN_REASON_MAX
#define HOST_WHY_MAX 512

static const char path_hint[] = "check \"path\" in the stage's \"with:\" block";
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

struct trans {
    const struct payrun_host *host;
    int apply; /* apply_results mode */
    const char *path, *rejects_path;

    struct csvin rd;
    size_t map[NCOLS]; /* column -> field index */
    size_t n_header;

    struct result *res;
    size_t n_res, cap_res;

    struct csvin_rejects rej; /* the rejects file, opened at the first reject */

    int64_t read, paid, failed, already, rejected, held;
    int64_t first_line;
    char first_reason[REASON_MAX];
};

/* ---- text ---------------------------------------------------------------- */

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return 1;
    return 0;
}

static const char *field(const struct trans *t, int col)
{
    return csvin_field(&t->rd, t->map[col]);
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
    struct csvin *rd = &t->rd;
    static const char hint[] = "the first row names the columns, in any order: "
                               "payout_id,status,reference,reason";
    char missing[128] = "";
    size_t o = 0;
    int rc = csvin_next(&t->rd);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s: empty file; expected a header row",
                        rd->path);
    if (rd->malformed[0] != '\0')
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%" PRId64 ": bad header row: %s",
                        rd->path, rd->start, rd->malformed);
    if (rd->n_seen > CSVIN_MAX_FIELDS)
        return h->error(st, PAYRUN_ERR_INPUT, hint, "%s:%" PRId64 ": %zu columns; at most %d "
                        "are read", rd->path, rd->start, rd->n_seen, CSVIN_MAX_FIELDS);
    t->n_header = rd->n_seen;
    for (int col = 0; col < NCOLS; col++) {
        int found = 0;

        for (size_t i = 0; i < rd->n_fields; i++) {
            if (!header_is(csvin_field(rd, i), column_names[col]))
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
    const struct csvin *rd = &t->rd;
    const char *id, *s, *ref, *reason;
    char q[256];

    *status = 0;
    why[0] = '\0';
    if (rd->malformed[0] != '\0') {
        csvin_why_add(why, cap, "%s", rd->malformed);
        return;
    }
    if (rd->n_seen != t->n_header) {
        csvin_why_add(why, cap, "expected %zu fields, found %zu", t->n_header, rd->n_seen);
        return;
    }
    id = field(t, COL_ID);
    s = field(t, COL_STATUS);
    ref = field(t, COL_REFERENCE);
    reason = field(t, COL_REASON);
    if (id[0] == '\0')
        csvin_why_add(why, cap, "payout_id is empty");
    else if (strlen(id) > ID_MAX || has_control(id))
        csvin_why_add(why, cap, "bad payout_id \"%s\": not a payout id",
                      csvin_show(q, sizeof(q), id));
    if (strcmp(s, "paid") == 0)
        *status = ST_PAID;
    else if (strcmp(s, "failed") == 0)
        *status = ST_FAILED;
    else
        csvin_why_add(why, cap, "bad status \"%s\": expected paid or failed",
                      csvin_show(q, sizeof(q), s));
    if (*status == ST_PAID && ref[0] == '\0')
        csvin_why_add(why, cap, "a paid line needs a reference");
    if (*status == ST_FAILED && reason[0] == '\0')
        csvin_why_add(why, cap, "a failed line needs a reason");
    /* The reference and reason are stored and audited as one line each. */
    if (has_control(ref))
        csvin_why_add(why, cap, "reference has a control character (a tab or line break)");
    if (has_control(reason))
        csvin_why_add(why, cap, "reason has a control character (a tab or line break)");
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

static int reject(struct trans *t, const char *reason)
{
    if (t->rejected++ == 0) {
        t->first_line = t->rd.start;
        snprintf(t->first_reason, sizeof(t->first_reason), "%s", reason);
    }
    return csvin_reject(&t->rej, &t->rd, reason);
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
    rc = csvin_open(&t->rd, t->host, st, t->path, MAX_RECORD_BYTES, path_hint);
    if (rc == PAYRUN_OK)
        rc = read_header(t, st);
    while (rc == PAYRUN_OK && (rc = csvin_next(&t->rd)) == 1) {
        rc = PAYRUN_OK;
        t->read++;
        check_line(t, why, sizeof(why), &status);
        if (why[0] != '\0')
            (*bad)++;
        else if (keep_result(t, status) != 0)
            rc = csvin_out_of_memory(&t->rd);
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
                     "with the same result", t->res[lo].line,
                     csvin_show(q, sizeof(q), t->res[at].id));
        return;
    }
    o = (size_t)snprintf(why, cap, "conflicting results for payout \"%s\" on lines ",
                         csvin_show(q, sizeof(q), t->res[at].id));
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
        return reject(t, why[0] ? why : "refused by the core");
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

    rc = csvin_open(&t->rd, t->host, st, t->path, MAX_RECORD_BYTES, path_hint);
    if (rc == PAYRUN_OK)
        rc = read_header(t, st);
    while (rc == PAYRUN_OK && (rc = csvin_next(&t->rd)) == 1) {
        struct result key, *r;

        rc = PAYRUN_OK;
        n++;
        check_line(t, why, sizeof(why), &status);
        if (why[0] != '\0') {
            rc = reject(t, why);
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
            rc = reject(t, why);
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
    int rc = first_pass(t, st, &bad), closed;

    if (rc == PAYRUN_OK)
        rc = second_pass(t, st, bad);
    csvin_close(&t->rd);
    closed = csvin_rejects_close(&t->rej, h);
    if (rc == PAYRUN_OK)
        rc = closed;
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
    csvin_free(&t->rd);
    csvin_rejects_free(&t->rej, t->host);
    for (size_t i = 0; i < t->n_res; i++) {
        free(t->res[i].id);
        free(t->res[i].reference);
        free(t->res[i].reason);
    }
    free(t->res);
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
    t->rej.path = t->rejects_path;
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
