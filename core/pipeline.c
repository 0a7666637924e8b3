/*
 * pipeline.c: the pipeline runner and the host function table.
 *
 * The order of a run, and why:
 *  1. Load every plugin and check every `with:` block, so a typo in the
 *     last stage fails before the first stage has done anything; then ask
 *     whether the actor may run it (a transition stage needs a payer).
 *  2. Digest the pipeline's configuration (plugins' versions and files
 *     included) and its input files.
 *  3. BEGIN IMMEDIATE. For a pipeline that imports or calculates: a rerun
 *     whose digests equal the last committed run's has nothing to do and
 *     says so (it only puts back missing output files and forwards
 *     pending audit events), so a scheduler may rerun freely; otherwise
 *     refuse if the period has payouts past pending_approval or a later
 *     period has been closed, and forget the period's previous lines.
 *     These checks are inside the transaction, so identical runs started
 *     together see each other's commit.
 *  4. Run the stages. Plugins change the batch only through the host
 *     functions below, which go through the store (and so through the
 *     state machine and the audit trail).
 *  5. Record the run and commit; then rename the output files into place
 *     and run the audit sinks. A dry run rolls back instead and keeps no
 *     file.
 */
#include "pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <payrun/plugin.h>

#include "buf.h"
#include "clock.h"
#include "commission.h"
#include "money.h"
#include "plugin_loader.h"
#include "sha256.h"
#include "store.h"

struct payrun_output {
    FILE *f;
    char *tmp;
    char *final;
    unsigned flags;
    int closed;
    int discard;   /* written but never kept: a dry run, or a restore of a file
                    * that is already in place */
    int recorded;  /* in pending_outputs, in the run's transaction: after the
                    * commit its temporary file is the next run's to put in place */
    int lock_fd;   /* holds an flock on the temporary file until it is renamed or
                    * removed, so another run leaves it to us; -1 if none */
    sha256_ctx hash;           /* of the bytes written, for the audit trail */
    char digest[SHA256_HEX_LEN + 1]; /* set by output_close */
    payrun_stage *st;
    struct payrun_output *next;
};

typedef struct stage_count {
    char name[48];
    int64_t n;
} stage_count;

typedef struct run_ctx run_ctx;

struct payrun_stage {
    run_ctx *run;
    const config_stage *cs;
    loaded_plugin *lp;
    stage_count *counts;
    size_t n_counts, cap_counts;
};

struct run_ctx {
    const config *cfg;
    const pipeline_opts *o;
    store *s;
    char clock[CLOCK_LEN];
    int64_t run_id;
    char *output_dir;
    struct payrun_output *outputs;
    char **strings; /* strings handed to plugins; freed when the run ends */
    size_t n_strings, cap_strings;
    payrun_stage *stages;
    size_t n_stages;
    pr_err *err;
    commission_result calc;
    int calculated;
    /* RUN_DRY: roll back, keep no file. RUN_RESTORE: an identical rerun
     * that only puts back missing output files and forwards events. */
    enum { RUN_NORMAL, RUN_DRY, RUN_RESTORE } mode;
    int restored;
    /* payouts listed in payment files by this run's exporters */
    struct listing {
        char payout_id[24];
        struct payrun_output *o;
    } *listed;
    size_t n_listed, cap_listed;
    /* progress on a terminal: rows handed over by the current stage */
    int tty;
    int64_t progress;
    struct timespec last_draw;
};

/* ---- small helpers ------------------------------------------------------ */

static const char *keep(run_ctx *r, char *s)
{
    if (s == NULL)
        return NULL;
    if (r->n_strings == r->cap_strings) {
        size_t nc = r->cap_strings ? r->cap_strings * 2 : 32;
        char **ns = realloc(r->strings, nc * sizeof(*ns));
        if (ns == NULL) {
            free(s);
            return NULL;
        }
        r->strings = ns;
        r->cap_strings = nc;
    }
    r->strings[r->n_strings++] = s;
    return s;
}

static int status_exit(int status)
{
    switch (status) {
    case PAYRUN_ERR_INPUT: return EXIT_DATAERR;
    case PAYRUN_ERR_NOINPUT: return EXIT_NOINPUT;
    case PAYRUN_ERR_IO: return EXIT_IOERR;
    case PAYRUN_ERR_STATE: return EXIT_DATAERR;
    case PAYRUN_ERR_CONFIG: return EXIT_CONFIG;
    default: return EXIT_SOFTWARE;
    }
}

static void stage_label(const payrun_stage *st, char *out, size_t cap)
{
    snprintf(out, cap, "stage \"%s\" (%s %s)", st->cs->stage,
             plugin_kind_name(st->lp->desc->kind), st->lp->desc->name);
}

/* ---- progress ------------------------------------------------------------- */

/* Long runs show a counter on a terminal and stay quiet otherwise (cron,
 * pipes). Redrawn at most five times a second, so it costs nothing. */
static void progress_tick(payrun_stage *st)
{
    run_ctx *r = st->run;
    struct timespec now;

    r->progress++;
    if (!r->tty || (r->progress & 1023) != 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - r->last_draw.tv_sec) * 1000000000L + (now.tv_nsec - r->last_draw.tv_nsec) <
        200000000L)
        return;
    r->last_draw = now;
    fprintf(stderr, "\r  %-12s %lld rows ", st->cs->stage, (long long)r->progress);
    fflush(stderr);
}

static void progress_done(run_ctx *r)
{
    if (r->tty && r->last_draw.tv_sec != 0)
        fprintf(stderr, "\r%60s\r", "");
    r->progress = 0;
    r->last_draw.tv_sec = 0;
    r->last_draw.tv_nsec = 0;
}

/* ---- host: messages and batch facts -------------------------------------- */

static void h_log(payrun_stage *st, int level, const char *fmt, ...) PAYRUN_PRINTF(3, 4);
static int h_error(payrun_stage *st, int status, const char *hint, const char *fmt, ...)
    PAYRUN_PRINTF(4, 5);

static void h_log(payrun_stage *st, int level, const char *fmt, ...)
{
    char msg[1024], label[160];
    va_list ap;

    if (level >= PAYRUN_LOG_INFO && !st->run->o->verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    stage_label(st, label, sizeof(label));
    fprintf(stderr, "payrun: %s%s: %s\n",
            level == PAYRUN_LOG_ERROR ? "error: " : level == PAYRUN_LOG_WARN ? "warning: " : "",
            label, msg);
}

static int h_error(payrun_stage *st, int status, const char *hint, const char *fmt, ...)
{
    char msg[700], label[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    stage_label(st, label, sizeof(label));
    pr_err_set(st->run->err, status_exit(status), "%s: %s", label, msg);
    if (hint && hint[0])
        pr_err_hint(st->run->err, "%s", hint);
    return status < 0 ? status : PAYRUN_ERR;
}

/* Host functions that change the batch belong to one kind each. A plugin
 * is loaded and trusted for the kind it declares (it decides which role a
 * pipeline needs and whether the rerun checks run), so a call from any
 * other kind is refused and reported, whatever the plugin returns. */
static int need_kind(payrun_stage *st, int kind, const char *what)
{
    if (st->lp->desc->kind != kind)
        return h_error(st, PAYRUN_ERR, NULL, "only %s plugins may %s", plugin_kind_name(kind),
                       what);
    return PAYRUN_OK;
}

static const char *h_org(payrun_stage *st) { return st->run->cfg->org; }
static const char *h_period(payrun_stage *st) { return st->run->o->period; }
static const char *h_currency(payrun_stage *st) { return st->run->cfg->currency->code; }
static int h_exponent(payrun_stage *st) { return st->run->cfg->currency->exponent; }
static const char *h_clock(payrun_stage *st) { return st->run->clock; }

static char *fill_run(const run_ctx *r, char *path);

/* ---- host: configuration ------------------------------------------------ */

static const struct payrun_config_key *find_key(const struct payrun_config_key *k,
                                                const char *name)
{
    for (; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* The text of a key (or list item field), else its default, with the key's
 * declaration. NULL when unset without default. */
static const char *cfg_text(payrun_stage *st, const char *key, int idx, const char *field,
                            const struct payrun_config_key **decl)
{
    const struct payrun_config_key *k = find_key(st->lp->desc->keys, key);
    const cfg_node *v = st->cs->with ? cfg_map_get(st->cs->with, key) : NULL;

    *decl = NULL;
    if (k == NULL)
        return NULL;
    if (idx >= 0 || field) {
        if (k->type != PAYRUN_KEY_LIST || field == NULL || idx < 0)
            return NULL;
        k = find_key(k->fields, field);
        if (k == NULL)
            return NULL;
        *decl = k;
        if (v == NULL || v->kind != CFG_SEQ || (size_t)idx >= v->n)
            return NULL;
        v = cfg_map_get(v->items[idx], field);
        if (v == NULL)
            return k->default_value;
        return v->kind == CFG_SCALAR ? v->text : NULL;
    }
    *decl = k;
    if (v == NULL)
        return k->default_value;
    return v->kind == CFG_SCALAR ? v->text : NULL;
}

static int h_cfg_string(payrun_stage *st, const char *key, int idx, const char *field,
                        const char **out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    if (t == NULL)
        return PAYRUN_ERR;
    *out = t;
    return PAYRUN_OK;
}

static int h_cfg_bool(payrun_stage *st, const char *key, int idx, const char *field, int *out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    if (t == NULL || (strcmp(t, "true") != 0 && strcmp(t, "false") != 0))
        return PAYRUN_ERR;
    *out = strcmp(t, "true") == 0;
    return PAYRUN_OK;
}

static int h_cfg_int(payrun_stage *st, const char *key, int idx, const char *field,
                     int64_t *out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    int64_t v = 0;
    int neg = 0;

    if (t == NULL || *t == '\0')
        return PAYRUN_ERR;
    if (*t == '-') {
        neg = 1;
        t++;
    }
    if (*t == '\0')
        return PAYRUN_ERR;
    for (; *t; t++) {
        if (*t < '0' || *t > '9' || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, *t - '0', &v))
            return PAYRUN_ERR;
    }
    *out = neg ? -v : v;
    return PAYRUN_OK;
}

static int h_cfg_money(payrun_stage *st, const char *key, int idx, const char *field,
                       int64_t *out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    if (t == NULL ||
        money_parse(t, strlen(t), st->run->cfg->currency->exponent, out, NULL) != 0)
        return PAYRUN_ERR;
    return PAYRUN_OK;
}

static int h_cfg_rate(payrun_stage *st, const char *key, int idx, const char *field,
                      int64_t *out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    if (t == NULL || rate_parse(t, strlen(t), out, NULL) != 0)
        return PAYRUN_ERR;
    return PAYRUN_OK;
}

static int h_cfg_path(payrun_stage *st, const char *key, int idx, const char *field,
                      const char **out)
{
    const struct payrun_config_key *k;
    const char *t = cfg_text(st, key, idx, field, &k);
    char *path = NULL;
    pr_err e = {0};

    if (t == NULL || k == NULL)
        return PAYRUN_ERR;
    if (config_expand_path(st->run->cfg, t, st->run->o->period,
                           k->type == PAYRUN_KEY_INPUT ? st->run->cfg->dir : st->run->output_dir,
                           &path, &e) != 0)
        return h_error(st, PAYRUN_ERR_CONFIG, e.hint, "%s", e.msg);
    *out = keep(st->run, fill_run(st->run, path));
    return *out ? PAYRUN_OK : PAYRUN_ERR;
}

static int h_cfg_list_len(payrun_stage *st, const char *key)
{
    const cfg_node *v = st->cs->with ? cfg_map_get(st->cs->with, key) : NULL;
    return v && v->kind == CFG_SEQ ? (int)v->n : 0;
}

/* ---- host: money ---------------------------------------------------------- */

static int h_parse_money(payrun_stage *st, const char *text, size_t len, int64_t *out,
                         char *why, size_t why_len)
{
    pr_err e = {0};
    if (money_parse(text, len, st->run->cfg->currency->exponent, out, &e) != 0) {
        snprintf(why, why_len, "%s", e.msg);
        return PAYRUN_ERR_INPUT;
    }
    return PAYRUN_OK;
}

static int h_parse_rate(payrun_stage *st, const char *text, size_t len, int64_t *out,
                        char *why, size_t why_len)
{
    pr_err e = {0};
    (void)st;
    if (rate_parse(text, len, out, &e) != 0) {
        snprintf(why, why_len, "%s", e.msg);
        return PAYRUN_ERR_INPUT;
    }
    return PAYRUN_OK;
}

static int h_format_money(payrun_stage *st, int64_t amount, char *out, size_t cap)
{
    return money_format(amount, st->run->cfg->currency->exponent, out, cap);
}

/* ---- host: counts --------------------------------------------------------- */

static void h_count(payrun_stage *st, const char *name, int64_t n)
{
    for (size_t i = 0; i < st->n_counts; i++) {
        if (strcmp(st->counts[i].name, name) == 0) {
            if (__builtin_add_overflow(st->counts[i].n, n, &st->counts[i].n))
                st->counts[i].n = INT64_MAX;
            return;
        }
    }
    if (st->n_counts == st->cap_counts) {
        size_t nc = st->cap_counts ? st->cap_counts * 2 : 8;
        stage_count *ncs = realloc(st->counts, nc * sizeof(*ncs));
        if (ncs == NULL)
            return; /* a lost figure in the summary, never lost data */
        st->counts = ncs;
        st->cap_counts = nc;
    }
    snprintf(st->counts[st->n_counts].name, sizeof(st->counts[0].name), "%s", name);
    st->counts[st->n_counts++].n = n;
}

/* ---- host: output files --------------------------------------------------- */

static int mkdirs(const char *path, pr_err *err)
{
    char tmp[4096];
    size_t len = strlen(path);

    if (len >= sizeof(tmp))
        return pr_err_set(err, EXIT_CANTCREAT, "path too long: \"%s\"", path);
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return pr_err_set(err, EXIT_CANTCREAT, "cannot create directory \"%s\": %s", tmp,
                              strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return pr_err_set(err, EXIT_CANTCREAT, "cannot create directory \"%s\": %s", tmp,
                          strerror(errno));
    return 0;
}

/* Replace {run} in an expanded output path with the run's number, so a
 * payment file of each pay run has a name of its own. */
static char *fill_run(const run_ctx *r, char *path)
{
    char *at = path ? strstr(path, "{run}") : NULL;
    buf b;

    if (at == NULL)
        return path;
    buf_init(&b);
    buf_append(&b, path, (size_t)(at - path));
    buf_printf(&b, "%lld", (long long)r->run_id);
    buf_puts(&b, at + 5);
    free(path);
    path = buf_take(&b);
    return fill_run(r, path);
}

/* Stale temporary files of an output: "NAME.tmp-PID", written by a payrun
 * that was killed (or lost power) before its run committed, so no run will
 * ever rename them. One is removed only if all of these hold:
 *   - its name is exactly this output's final name, ".tmp-" and a PID;
 *   - that PID is not ours and no live process has it (kill(PID, 0) fails
 *     with ESRCH, or it is a zombie; a PID in use again keeps the file);
 *   - it is not a committed run's file waiting for its rename, recorded in
 *     pending_outputs (compared by device and inode, not by spelling):
 *     recover_one puts those in place.
 * A live payrun's file is never touched: a run writing outputs before its
 * commit is alive, and one between its commit and its renames is alive or
 * recorded. Nothing else in the directory is looked at. */
struct stale_match {
    dev_t dev;
    ino_t ino;
};

static int pending_is(void *ud, int64_t run_id, const char *final, const char *tmp,
                      const char *sha256)
{
    const struct stale_match *m = ud;
    struct stat sb;

    return stat(tmp, &sb) == 0 && sb.st_dev == m->dev && sb.st_ino == m->ino;
}

/* No live process has this PID: none at all, or a zombie (killed, and not
 * yet collected by its parent; Linux /proc tells). Unsure means alive. */
static int process_gone(long pid)
{
    char p[64], st[512];
    const char *rp;
    size_t n;
    FILE *f;

    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
    if ((f = fopen(p, "r")) == NULL)
        return 0;
    n = fread(st, 1, sizeof(st) - 1, f);
    fclose(f);
    st[n] = '\0';
    rp = strrchr(st, ')'); /* "PID (COMM) STATE ...", COMM may hold anything */
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* The PID of a temporary file's ".tmp-PID" suffix, given the digits after
 * ".tmp-": 0 unless they are a PID's and nothing else. */
static long tmp_pid(const char *digits)
{
    long pid = 0;

    if (*digits < '1' || *digits > '9')
        return 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9' || pid > 99999999) /* far above any pid_max */
            return 0;
        pid = pid * 10 + (*c - '0');
    }
    return pid;
}

static void remove_stale_tmps(run_ctx *r, const char *final)
{
    const char *slash = strrchr(final, '/');
    const char *base = slash ? slash + 1 : final;
    size_t blen = strlen(base);
    char dir[4096], path[4096];
    DIR *d;
    struct dirent *de;

    /* output paths are made absolute or relative with a directory part */
    if (slash == NULL || slash == final || (size_t)(slash - final) >= sizeof(dir))
        return;
    memcpy(dir, final, (size_t)(slash - final));
    dir[slash - final] = '\0';
    if ((d = opendir(dir)) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        long pid;
        struct stat sb;
        struct stale_match m;

        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp-", 5) != 0)
            continue;
        pid = tmp_pid(n + blen + 5);
        if (pid == 0 || pid == (long)getpid() || !process_gone(pid))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, n) >= (int)sizeof(path))
            continue;
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        m.dev = sb.st_dev;
        m.ino = sb.st_ino;
        if (r->s && store_outputs_pending_each(r->s, pending_is, &m, NULL) != 0)
            continue; /* recorded, or the table could not be read: keep it */
        if (unlink(path) == 0)
            fprintf(stderr, "payrun: removed %s: a temporary file left by payrun process %ld, "
                            "which stopped before its run committed\n", path, pid);
    }
    closedir(d);
}

static int h_output_open(payrun_stage *st, const char *path, unsigned flags,
                         payrun_output **out)
{
    run_ctx *r = st->run;
    struct payrun_output *o;
    char *final = NULL, *dir, *slash;
    buf tmp;
    int fd;
    pr_err e = {0};

    if (config_expand_path(r->cfg, path, r->o->period, r->output_dir, &final, &e) != 0)
        return h_error(st, PAYRUN_ERR_CONFIG, e.hint, "%s", e.msg);
    if ((final = fill_run(r, final)) == NULL)
        return h_error(st, PAYRUN_ERR, NULL, "out of memory");
    for (o = r->outputs; o; o = o->next) {
        if (strcmp(o->final, final) == 0) {
            h_error(st, PAYRUN_ERR_CONFIG, "give each output of a pipeline its own path",
                    "output \"%s\" is already written by this run", final);
            free(final);
            return PAYRUN_ERR_CONFIG;
        }
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL) {
        free(final);
        return h_error(st, PAYRUN_ERR, NULL, "out of memory");
    }
    o->final = final;
    o->flags = flags;
    o->st = st;
    o->discard = r->mode == RUN_DRY || (r->mode == RUN_RESTORE && access(final, F_OK) == 0);
    buf_init(&tmp);
    if (o->discard) {
        /* Written in full (the plugin runs as usual) but to a private file
         * that is removed: no directory is created, nothing is left. */
        const char *t = getenv("TMPDIR");
        buf_printf(&tmp, "%s/payrun-discard-XXXXXX", t && t[0] ? t : "/tmp");
    } else {
        dir = strdup(final);
        if (dir == NULL) {
            free(o->final);
            free(o);
            return h_error(st, PAYRUN_ERR, NULL, "out of memory");
        }
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdirs(dir, &e) != 0) {
                free(dir);
                free(o->final);
                free(o);
                return h_error(st, PAYRUN_ERR_IO, "check the output_dir in the config", "%s",
                               e.msg);
            }
        }
        free(dir);
        remove_stale_tmps(r, final);
        buf_printf(&tmp, "%s.tmp-%ld", final, (long)getpid());
    }
    if (tmp.oom) {
        buf_free(&tmp);
        free(o->final);
        free(o);
        return h_error(st, PAYRUN_ERR, NULL, "out of memory");
    }
    o->tmp = buf_take(&tmp);
    o->lock_fd = -1;
    fd = o->discard ? mkstemp(o->tmp)
                    : open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    /* The lock says "this run is alive and will rename or remove the file
     * itself" (recover_one). The kernel drops it when the process dies. A
     * file system without flock only loses that courtesy. */
    if (fd >= 0 && !o->discard && flock(fd, LOCK_EX | LOCK_NB) == 0)
        o->lock_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 || (o->f = fdopen(fd, "wb")) == NULL) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        h_error(st, PAYRUN_ERR_IO, "check that the output directory is writable",
                "cannot create \"%s\": %s", o->tmp, strerror(saved));
        if (o->lock_fd >= 0)
            close(o->lock_fd);
        free(o->tmp);
        free(o->final);
        free(o);
        return PAYRUN_ERR_IO;
    }
    sha256_init(&o->hash);
    o->next = r->outputs;
    r->outputs = o;
    *out = o;
    return PAYRUN_OK;
}

static int h_output_write(payrun_output *o, const void *data, size_t len)
{
    if (o->closed)
        return h_error(o->st, PAYRUN_ERR, NULL, "write to \"%s\" after it was closed", o->final);
    if (len > 0 && fwrite(data, 1, len, o->f) != len)
        return h_error(o->st, PAYRUN_ERR_IO, "check free disk space", "cannot write \"%s\": %s",
                       o->tmp, strerror(errno));
    sha256_update(&o->hash, data, len);
    return PAYRUN_OK;
}

static int h_output_close(payrun_output *o)
{
    int rc = 0;

    if (o->closed)
        return PAYRUN_OK;
    o->closed = 1;
    sha256_final_hex(&o->hash, o->digest);
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        rc = errno;
    if (fclose(o->f) != 0 && rc == 0)
        rc = errno;
    o->f = NULL;
    if (rc != 0)
        return h_error(o->st, PAYRUN_ERR_IO, "check free disk space", "cannot write \"%s\": %s",
                       o->tmp, strerror(rc));
    return PAYRUN_OK;
}

static int file_digest(const char *path, char hex[SHA256_HEX_LEN + 1], pr_err *err);

/* Whether the file at `path` has this SHA-256 (hex). */
static int same_digest(const char *path, const char *digest)
{
    char hex[SHA256_HEX_LEN + 1];
    pr_err e = {0};

    return file_digest(path, hex, &e) == 0 && strcmp(hex, digest) == 0;
}

static int fsync_dir_of(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd, rc = 0;

    if (dir == NULL)
        return -1;
    slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* After the commit (committed != 0) rename every output into place; after
 * a failure keep only those flagged to survive one. Discarded outputs (a
 * dry run; a restore of a file already in place) are removed either way. */
static int finish_outputs(run_ctx *r, int committed, pr_err *err)
{
    int rc = 0;

    for (struct payrun_output *o = r->outputs, *next; o; o = next) {
        int keep_it = !o->discard && (committed || (o->flags & PAYRUN_OUTPUT_KEEP_ON_FAILURE));
        next = o->next;
        if (o->f) {
            fclose(o->f);
            o->f = NULL;
            if (keep_it && committed) {
                /* A plugin that never closed its file: not known complete. */
                if (rc == 0)
                    pr_err_set(err, EXIT_SOFTWARE, "stage \"%s\" (%s) did not close \"%s\"; "
                               "the file was not written", o->st->cs->stage,
                               o->st->lp->desc->name, o->final);
                keep_it = 0;
                rc = -1;
            }
        }
        if (keep_it) {
            int renamed = rename(o->tmp, o->final) == 0, saved = errno;
            /* Another payrun may have finished this rename for us, where
             * our lock could not be taken (recover_one): it checked the
             * digest, and so do we. */
            if (!renamed && saved == ENOENT && committed && same_digest(o->final, o->digest))
                renamed = 1;
            if (renamed && committed && r->s)
                store_output_done(r->s, o->final, NULL);
            if (!renamed && committed && o->recorded) {
                /* The committed run's file is complete (fsynced) under its
                 * temporary name and recorded with its digest: keep it, so
                 * the next run puts it in place (recover_one). Removing it
                 * would leave an older file of that name, or none, and a
                 * bank file whose payouts are already processing lost. */
                if (rc == 0) {
                    pr_err_set(err, EXIT_CANTCREAT, "the run committed, but \"%s\" could not be "
                               "put in place: %s; it is complete as \"%s\"", o->final,
                               strerror(saved), o->tmp);
                    if (r->n_listed > 0)
                        pr_err_hint(err, "do not pay its payouts again: fix the output directory "
                                         "and run any pipeline of this org; it puts the file in "
                                         "place");
                    else
                        pr_err_hint(err, "the data is safe in the database; fix the output "
                                         "directory and rerun: the file is put in place");
                }
                rc = -1;
            } else if (!renamed) {
                if (rc == 0) {
                    pr_err_set(err, EXIT_CANTCREAT, "the run committed, but \"%s\" could not be "
                               "put in place: %s", o->final, strerror(saved));
                    pr_err_hint(err, "the data is safe in the database; fix the output "
                                     "directory and rerun: missing outputs are written again");
                }
                unlink(o->tmp);
                rc = -1;
            } else if (fsync_dir_of(o->final) != 0) {
                /* In place, but the rename may not survive a power cut. */
                if (rc == 0) {
                    pr_err_set(err, EXIT_CANTCREAT, "the run committed and \"%s\" is in place, "
                               "but its directory could not be synced: %s", o->final,
                               strerror(errno));
                    pr_err_hint(err, "the file is complete; check the disk holding the output "
                                     "directory");
                }
                rc = -1;
            } else if (r->mode == RUN_RESTORE) {
                fprintf(r->o->out, "  restored %s\n", o->final);
                r->restored++;
            }
        } else {
            unlink(o->tmp);
        }
        if (o->lock_fd >= 0)
            close(o->lock_fd); /* renamed, removed, or kept for the next run */
        free(o->tmp);
        free(o->final);
        free(o);
    }
    r->outputs = NULL;
    return rc;
}

static int kept_outputs_exist(run_ctx *r)
{
    for (struct payrun_output *o = r->outputs; o; o = o->next)
        if (o->flags & PAYRUN_OUTPUT_KEEP_ON_FAILURE)
            return 1;
    return 0;
}

/* ---- host: importers ------------------------------------------------------ */

static int copy_field(char *dst, size_t cap, const char *src, const char *name, char *why,
                      size_t why_len)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        snprintf(why, why_len, "%s is longer than %zu characters", name, cap - 1);
        return -1;
    }
    memcpy(dst, src ? src : "", n + 1);
    return 0;
}

static int h_partner_put(payrun_stage *st, const struct payrun_partner *p, char *why,
                         size_t why_len)
{
    run_ctx *r = st->run;
    partner q;
    int changed;

    if (need_kind(st, PAYRUN_KIND_IMPORTER, "add partners") != PAYRUN_OK)
        return PAYRUN_ERR;
    memset(&q, 0, sizeof(q));
    if (copy_field(q.partner_id, sizeof(q.partner_id), p->partner_id, "partner_id", why, why_len) ||
        copy_field(q.name, sizeof(q.name), p->name, "name", why, why_len) ||
        copy_field(q.type, sizeof(q.type), p->type, "type", why, why_len) ||
        copy_field(q.tier, sizeof(q.tier), p->tier, "tier", why, why_len) ||
        copy_field(q.status, sizeof(q.status), p->status, "status", why, why_len) ||
        copy_field(q.currency, sizeof(q.currency), p->currency, "currency", why, why_len) ||
        copy_field(q.email, sizeof(q.email), p->email, "email", why, why_len) ||
        copy_field(q.routing_number, sizeof(q.routing_number), p->routing_number,
                   "routing_number", why, why_len) ||
        copy_field(q.account_number, sizeof(q.account_number), p->account_number,
                   "account_number", why, why_len) ||
        copy_field(q.iban, sizeof(q.iban), p->iban, "iban", why, why_len) ||
        copy_field(q.bic, sizeof(q.bic), p->bic, "bic", why, why_len) ||
        copy_field(q.account_name, sizeof(q.account_name), p->account_name, "account_name",
                   why, why_len))
        return PAYRUN_ERR_INPUT;
    if (q.partner_id[0] == '\0') {
        snprintf(why, why_len, "partner_id is empty");
        return PAYRUN_ERR_INPUT;
    }
    if (strcmp(q.currency, r->cfg->currency->code) != 0) {
        snprintf(why, why_len, "currency \"%s\" does not match the org's currency \"%s\"",
                 q.currency, r->cfg->currency->code);
        return PAYRUN_ERR_INPUT;
    }
    if (p->commission_rate < 0 || p->commission_rate > 100 * (int64_t)PAYRUN_RATE_SCALE) {
        snprintf(why, why_len, "commission_rate is outside 0..100");
        return PAYRUN_ERR_INPUT;
    }
    q.commission_rate = p->commission_rate;
    if (store_partner_upsert(r->s, &q, r->o->actor, r->clock, &changed, r->err) != 0) {
        if (r->err->code == EXIT_DATAERR) {
            /* A CHECK constraint: a value the importer should have refused. */
            snprintf(why, why_len, "%s", r->err->msg);
            pr_err_clear(r->err);
            return PAYRUN_ERR_INPUT;
        }
        return PAYRUN_ERR;
    }
    h_count(st, changed == 1 ? "partners_created" : changed == 2 ? "partners_updated"
                                                                 : "partners_unchanged", 1);
    return PAYRUN_OK;
}

static int h_line_add(payrun_stage *st, const struct payrun_line *l, char *why, size_t why_len)
{
    run_ctx *r = st->run;

    if (need_kind(st, PAYRUN_KIND_IMPORTER, "add attribution lines") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (l->deal_status == NULL || l->deal_id == NULL || l->partner_id == NULL ||
        l->currency == NULL) {
        snprintf(why, why_len, "line lacks deal_id, deal_status, partner_id or currency");
        return PAYRUN_ERR_INPUT;
    }
    progress_tick(st);
    if (strcmp(l->deal_status, "won") != 0)
        return PAYRUN_SKIPPED;
    if (strcmp(l->currency, r->cfg->currency->code) != 0) {
        snprintf(why, why_len, "currency \"%s\" does not match the org's currency \"%s\"",
                 l->currency, r->cfg->currency->code);
        return PAYRUN_ERR_INPUT;
    }
    if (l->closed_on == NULL || strlen(l->closed_on) != 10 ||
        strncmp(l->closed_on, r->o->period, 7) != 0 || l->closed_on[7] != '-') {
        snprintf(why, why_len, "closed_on \"%s\" is outside the period %s",
                 l->closed_on ? l->closed_on : "", r->o->period);
        return PAYRUN_ERR_INPUT;
    }
    /* Unknown partners and duplicates are found when the lines are
     * settled (h_lines_settle). */
    if (store_line_stage(r->s, l, r->err) != 0)
        return PAYRUN_ERR;
    return PAYRUN_OK;
}

typedef struct settle_adapter {
    payrun_stage *st;
    payrun_late_reject_fn fn;
    void *ud;
} settle_adapter;

static int adapt_reject(void *ud, const struct payrun_line *l, const char *why)
{
    settle_adapter *a = ud;
    run_ctx *r = a->st->run;
    char label[160];
    int rc;

    if (a->fn == NULL) {
        /* The importer did not settle its lines itself: it cannot put this
         * one in its rejects file, so the run stops here. */
        stage_label(a->st, label, sizeof(label));
        pr_err_set(r->err, EXIT_DATAERR, "%s: line %lld: %s", label, (long long)l->source_line,
                   why);
        return pr_err_hint(r->err, "fix the input file; this importer does not report such "
                                   "lines in its rejects file");
    }
    rc = a->fn(a->ud, l, why);
    if (rc == PAYRUN_OK)
        return 0;
    if (r->err->code == 0) {
        stage_label(a->st, label, sizeof(label));
        pr_err_set(r->err, status_exit(rc), "%s: refusing line %lld failed (status %d)", label,
                   (long long)l->source_line, rc);
    }
    return -1;
}

static int settle(payrun_stage *st, payrun_late_reject_fn fn, void *ud, int64_t *settled)
{
    run_ctx *r = st->run;
    settle_adapter a = {st, fn, ud};
    int64_t ok = 0, refused = 0;

    if (store_lines_settle(r->s, r->run_id, r->o->period, adapt_reject, &a, &ok, &refused,
                           r->err) != 0)
        return PAYRUN_ERR;
    if (settled)
        *settled = ok;
    return PAYRUN_OK;
}

static int h_lines_settle(payrun_stage *st, payrun_late_reject_fn on_reject, void *ud,
                          int64_t *settled)
{
    if (settled)
        *settled = 0;
    if (need_kind(st, PAYRUN_KIND_IMPORTER, "settle attribution lines") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (on_reject == NULL)
        return h_error(st, PAYRUN_ERR, NULL, "lines_settle needs a reject callback");
    return settle(st, on_reject, ud, settled);
}

/* ---- host: calculators ---------------------------------------------------- */

typedef struct rate_adapter {
    payrun_stage *st;
    payrun_rate_fn fn;
    void *ud;
} rate_adapter;

static int adapt_rate(void *ud, const calc_row *row, int64_t *rate, const char **rule,
                      pr_err *err)
{
    rate_adapter *a = ud;
    struct payrun_calc_line l;
    int rc;

    progress_tick(a->st);
    l.line_id = row->id;
    l.partner_id = row->partner_id;
    l.partner_type = row->partner_type;
    l.partner_tier = row->partner_tier;
    l.partner_rate = row->partner_rate;
    l.deal_id = row->deal_id;
    l.product_line = row->product_line ? row->product_line : "";
    l.attributed_amount = row->amount;
    *rule = NULL;
    rc = a->fn(a->ud, &l, rate, rule);
    if (rc != PAYRUN_OK) {
        if (err->code == 0)
            h_error(a->st, rc, NULL, "the rate function failed for deal \"%s\"", row->deal_id);
        return -1;
    }
    if (*rule == NULL)
        *rule = "unnamed";
    return 0;
}

static int h_calculate(payrun_stage *st, const struct payrun_calc_params *params,
                       payrun_rate_fn rate, void *ud)
{
    run_ctx *r = st->run;
    commission_params cp;
    rate_adapter a = {st, rate, ud};
    char next[8];

    if (need_kind(st, PAYRUN_KIND_CALCULATOR, "calculate") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (params == NULL || params->size < sizeof(*params) || rate == NULL)
        return h_error(st, PAYRUN_ERR, NULL, "calculate() called with bad parameters");
    if (params->rounding != PAYRUN_ROUND_HALF_EVEN && params->rounding != PAYRUN_ROUND_HALF_UP)
        return h_error(st, PAYRUN_ERR_CONFIG, NULL, "unknown rounding mode %d", params->rounding);
    if (params->min_payout < 0)
        return h_error(st, PAYRUN_ERR_CONFIG, NULL, "min_payout must not be negative");
    if (r->calculated)
        return h_error(st, PAYRUN_ERR_CONFIG, "keep one calculator stage per pipeline",
                       "the period was already calculated by an earlier stage");
    /* Whatever an earlier run computed for this period is computed again:
     * its commission lines go and carried-in lines wait for it once more. */
    if (store_period_reset(r->s, r->o->period, 0, r->err) != 0)
        return PAYRUN_ERR;
    period_next(r->o->period, next);
    cp.period = r->o->period;
    cp.next_period = next;
    cp.currency = r->cfg->currency->code;
    cp.exponent = r->cfg->currency->exponent;
    cp.rounding = params->rounding == PAYRUN_ROUND_HALF_UP ? ROUND_HALF_UP : ROUND_HALF_EVEN;
    cp.min_payout = params->min_payout;
    cp.run_id = r->run_id;
    cp.actor = r->o->actor;
    cp.at = r->clock;
    cp.mem_lines = COMMISSION_MEM_LINES;
    if (commission_run(r->s, &cp, adapt_rate, &a, &r->calc, r->err) != 0)
        return PAYRUN_ERR;
    r->calculated = 1;
    h_count(st, "lines", r->calc.lines);
    h_count(st, "lines_carried_in", r->calc.lines_carried_in);
    h_count(st, "payouts_created", r->calc.payouts_created);
    h_count(st, "payouts_updated", r->calc.payouts_updated);
    h_count(st, "payouts_unchanged", r->calc.payouts_unchanged);
    h_count(st, "payouts_deleted", r->calc.payouts_deleted);
    h_count(st, "partners_carried_forward", r->calc.partners_carried);
    return PAYRUN_OK;
}

/* ---- host: approvers and exporters --------------------------------------- */

static int h_each_payout(payrun_stage *st, payrun_payout_fn fn, void *ud)
{
    run_ctx *r = st->run;
    /* Approvers see only what a close computed: a payout typed by hand is
     * for people to approve, never for a rule. */
    int rc = store_payout_views(r->s, r->o->period,
                                st->lp->desc->kind == PAYRUN_KIND_APPROVER, (store_view_cb)fn, ud,
                                r->err);

    if (rc == 0)
        return PAYRUN_OK;
    if (rc < 0 && r->err->code == 0)
        h_error(st, rc, NULL, "stopped while reading payouts");
    return rc < 0 ? rc : PAYRUN_ERR;
}

static int h_decide(payrun_stage *st, const char *payout_id, int decision, int approvals,
                    const char *rule, const char *reason)
{
    run_ctx *r = st->run;
    payout p;
    int rc;

    if (payout_id == NULL || rule == NULL || rule[0] == '\0')
        return h_error(st, PAYRUN_ERR, NULL, "decide() needs a payout id and a rule name");
    /* Only an approver decides, and only about this run's commission
     * payouts: a plugin cannot reach another period or a hand-made payout. */
    if (st->lp->desc->kind != PAYRUN_KIND_APPROVER)
        return h_error(st, PAYRUN_ERR, NULL, "only approver plugins may decide about payouts");
    rc = store_payout_get(r->s, payout_id, &p, r->err);
    if (rc < 0)
        return PAYRUN_ERR;
    if (rc == 1 || strcmp(p.period, r->o->period) != 0 || p.kind != PAYOUT_KIND_COMMISSION ||
        p.amount_set_by[0])
        return h_error(st, PAYRUN_ERR_STATE, NULL, "rule \"%s\" decided about payout \"%s\", "
                       "which is not a computed commission payout of period %s", rule,
                       payout_id, r->o->period);
    switch (decision) {
    case PAYRUN_DECIDE_APPROVE:
        rc = store_payout_move(r->s, payout_id, MOVE_APPROVE, r->o->actor, r->clock, NULL, rule,
                               r->err);
        break;
    case PAYRUN_DECIDE_REJECT:
        if (reason == NULL || reason[0] == '\0')
            return h_error(st, PAYRUN_ERR, NULL, "rule \"%s\" rejected payout \"%s\" without a "
                           "reason", rule, payout_id);
        rc = store_payout_move(r->s, payout_id, MOVE_REJECT, r->o->actor, r->clock, reason, rule,
                               r->err);
        break;
    case PAYRUN_DECIDE_HOLD:
        if (reason == NULL || reason[0] == '\0')
            return h_error(st, PAYRUN_ERR, NULL, "rule \"%s\" held payout \"%s\" without a "
                           "reason", rule, payout_id);
        rc = store_payout_hold(r->s, payout_id, reason, rule, r->o->actor, r->clock, r->run_id,
                               r->err);
        break;
    case PAYRUN_DECIDE_REQUIRE:
        if (approvals < 1 || approvals > 10)
            return h_error(st, PAYRUN_ERR_CONFIG, NULL, "rule \"%s\" asks for %d approvals; "
                           "1 to 10 are possible", rule, approvals);
        rc = store_payout_require(r->s, payout_id, approvals, rule, r->o->actor, r->clock,
                                  r->err);
        break;
    default:
        return h_error(st, PAYRUN_ERR, NULL, "unknown decision %d", decision);
    }
    if (rc != 0) {
        char label[160], msg[sizeof(r->err->msg)];
        stage_label(st, label, sizeof(label));
        memcpy(msg, r->err->msg, sizeof(msg));
        pr_err_set(r->err, r->err->code ? r->err->code : EXIT_DATAERR, "%s: rule \"%s\": %s",
                   label, rule, msg);
        return PAYRUN_ERR_STATE;
    }
    return PAYRUN_OK;
}

/* ---- host: audit sinks ---------------------------------------------------- */

typedef struct event_adapter {
    payrun_event_fn fn;
    void *ud;
} event_adapter;

static int adapt_event(const audit_event *e, void *ud)
{
    event_adapter *a = ud;
    struct payrun_audit_event pe = {e->seq, e->org, e->at, e->actor, e->action,
                                    e->entity_type, e->entity_id, e->metadata, e->prev_hash,
                                    e->hash};
    return a->fn(a->ud, &pe);
}

static int h_each_audit_event(payrun_stage *st, int64_t after_seq, payrun_event_fn fn,
                              void *ud)
{
    event_adapter a = {fn, ud};
    int rc = store_audit_after(st->run->s, after_seq, adapt_event, &a, st->run->err);

    if (rc == 0)
        return PAYRUN_OK;
    return rc < 0 ? rc : PAYRUN_ERR;
}

/* ---- host: payment files and transitions -------------------------------- */

static int h_output_list(payrun_output *o, const char *payout_id)
{
    run_ctx *r = o->st->run;
    payout p;
    int rc;

    if (need_kind(o->st, PAYRUN_KIND_EXPORTER, "list payouts in a payment file") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (payout_id == NULL || strlen(payout_id) >= sizeof(r->listed[0].payout_id))
        return h_error(o->st, PAYRUN_ERR, NULL, "output_list() needs a payout id");
    rc = store_payout_get(r->s, payout_id, &p, r->err);
    if (rc < 0)
        return PAYRUN_ERR;
    if (rc == 1 || strcmp(p.period, r->o->period) != 0)
        return h_error(o->st, PAYRUN_ERR_STATE, NULL, "payout \"%s\" is not a payout of period "
                       "%s", payout_id, r->o->period);
    /* A payout in two bank files would be paid twice: never. */
    for (size_t i = 0; i < r->n_listed; i++)
        if (strcmp(r->listed[i].payout_id, payout_id) == 0)
            return h_error(o->st, PAYRUN_ERR_STATE,
                           "give each partner one set of payment details, or one bank file",
                           "payout \"%s\" is already in \"%s\"; it cannot also go in \"%s\"",
                           payout_id, r->listed[i].o->final, o->final);
    if (r->n_listed == r->cap_listed) {
        size_t nc = r->cap_listed ? r->cap_listed * 2 : 64;
        struct listing *nl = realloc(r->listed, nc * sizeof(*nl));
        if (nl == NULL)
            return h_error(o->st, PAYRUN_ERR, NULL, "out of memory");
        r->listed = nl;
        r->cap_listed = nc;
    }
    snprintf(r->listed[r->n_listed].payout_id, sizeof(r->listed[0].payout_id), "%s", payout_id);
    r->listed[r->n_listed++].o = o;
    return PAYRUN_OK;
}

static int need_transition(payrun_stage *st, const char *what)
{
    return need_kind(st, PAYRUN_KIND_TRANSITION, what);
}

static int h_move_listed(payrun_stage *st, int move, int64_t *moved)
{
    run_ctx *r = st->run;
    buf extra;
    int rc = PAYRUN_OK;

    *moved = 0;
    if (need_transition(st, "move payouts") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (move != PAYRUN_MOVE_MARK_PROCESSING)
        return h_error(st, PAYRUN_ERR, NULL, "move_listed() only marks payouts processing");
    buf_init(&extra);
    for (size_t i = 0; i < r->n_listed && rc == PAYRUN_OK; i++) {
        struct payrun_output *o = r->listed[i].o;
        const char *base = strrchr(o->final, '/');
        if (!o->closed) {
            rc = h_error(st, PAYRUN_ERR, NULL, "\"%s\" is still open; a payment file must be "
                         "complete before its payouts move", o->final);
            break;
        }
        buf_reset(&extra);
        buf_json_kv(&extra, "file", base ? base + 1 : o->final);
        buf_puts(&extra, ",");
        buf_json_kv(&extra, "sha256", o->digest);
        if (extra.oom) {
            rc = h_error(st, PAYRUN_ERR, NULL, "out of memory");
            break;
        }
        if (store_payout_move_ex(r->s, r->listed[i].payout_id, MOVE_MARK_PROCESSING, r->o->actor,
                                 r->clock, NULL, NULL, extra.data, r->err) != 0) {
            char label[160], msg[sizeof(r->err->msg)];
            stage_label(st, label, sizeof(label));
            memcpy(msg, r->err->msg, sizeof(msg));
            pr_err_set(r->err, r->err->code ? r->err->code : EXIT_DATAERR, "%s: %s", label, msg);
            rc = PAYRUN_ERR_STATE;
            break;
        }
        (*moved)++;
    }
    buf_free(&extra);
    return rc;
}

static int h_payout_move(payrun_stage *st, const char *payout_id, int move, const char *detail,
                         char *why, size_t why_len)
{
    run_ctx *r = st->run;
    payout p;
    payout_status to, target;
    payout_move m;
    const char *have;
    pr_err e = {0};
    int rc;

    if (need_transition(st, "move payouts") != PAYRUN_OK)
        return PAYRUN_ERR;
    if (move == PAYRUN_MOVE_MARK_PAID) {
        m = MOVE_MARK_PAID;
        target = STATUS_PAID;
    } else if (move == PAYRUN_MOVE_MARK_FAILED) {
        m = MOVE_MARK_FAILED;
        target = STATUS_FAILED;
    } else {
        return h_error(st, PAYRUN_ERR, NULL, "payout_move() takes mark_paid or mark_failed");
    }
    if (detail == NULL || detail[0] == '\0') {
        snprintf(why, why_len, "%s", m == MOVE_MARK_PAID ? "a paid line needs a reference"
                                                         : "a failed line needs a reason");
        return PAYRUN_ERR_INPUT;
    }
    if (strlen(detail) > (m == MOVE_MARK_PAID ? 128u : 256u)) {
        snprintf(why, why_len, "the %s is longer than %s characters",
                 m == MOVE_MARK_PAID ? "reference" : "reason", m == MOVE_MARK_PAID ? "128" : "256");
        return PAYRUN_ERR_INPUT;
    }
    rc = store_payout_get(r->s, payout_id, &p, r->err);
    if (rc < 0)
        return PAYRUN_ERR;
    if (rc == 1) {
        snprintf(why, why_len, "payout \"%s\" not found in org \"%s\"", payout_id, r->cfg->org);
        return PAYRUN_ERR_INPUT;
    }
    if (strcmp(p.period, r->o->period) != 0) {
        snprintf(why, why_len, "payout \"%s\" belongs to period %s, not %s", payout_id, p.period,
                 r->o->period);
        return PAYRUN_ERR_INPUT;
    }
    /* The same answer applied twice changes nothing. */
    have = target == STATUS_PAID ? p.reference : p.failed_reason;
    if (p.status == target && strcmp(have, detail) == 0)
        return PAYRUN_SKIPPED;
    if (state_move(payout_id, p.status, m, &to, &e) != 0) {
        snprintf(why, why_len, "%s", e.msg);
        return PAYRUN_ERR_INPUT;
    }
    if (p.status != STATUS_PROCESSING) {
        /* approved -> paid is a move of its own (paid outside a bank
         * file); a bank's answer is only about what was sent to it. */
        snprintf(why, why_len, "payout \"%s\" is %s, not processing: it was not sent to the "
                 "bank", payout_id, status_name(p.status));
        return PAYRUN_ERR_INPUT;
    }
    if (store_payout_move(r->s, payout_id, m, r->o->actor, r->clock, detail, NULL, r->err) != 0)
        return PAYRUN_ERR;
    return PAYRUN_OK;
}

static int64_t h_run_number(payrun_stage *st)
{
    return st->run->run_id;
}

static const struct payrun_host host_table = {
    .size = sizeof(struct payrun_host),
    .abi_version = PAYRUN_ABI_VERSION,
    .log = h_log,
    .error = h_error,
    .org = h_org,
    .period = h_period,
    .currency = h_currency,
    .currency_exponent = h_exponent,
    .run_clock = h_clock,
    .cfg_string = h_cfg_string,
    .cfg_bool = h_cfg_bool,
    .cfg_int = h_cfg_int,
    .cfg_money = h_cfg_money,
    .cfg_rate = h_cfg_rate,
    .cfg_path = h_cfg_path,
    .cfg_list_len = h_cfg_list_len,
    .parse_money = h_parse_money,
    .parse_rate = h_parse_rate,
    .format_money = h_format_money,
    .count = h_count,
    .output_open = h_output_open,
    .output_write = h_output_write,
    .output_close = h_output_close,
    .partner_put = h_partner_put,
    .line_add = h_line_add,
    .calculate = h_calculate,
    .each_payout = h_each_payout,
    .decide = h_decide,
    .each_audit_event = h_each_audit_event,
    .output_list = h_output_list,
    .move_listed = h_move_listed,
    .payout_move = h_payout_move,
    .run_number = h_run_number,
    .lines_settle = h_lines_settle,
};

/* ---- digests -------------------------------------------------------------- */

static void digest_node(sha256_ctx *c, const cfg_node *n)
{
    char head[48];
    int k;

    if (n == NULL) {
        sha256_update(c, "~", 1);
        return;
    }
    k = snprintf(head, sizeof(head), "%d:%zu:", (int)n->kind,
                 n->kind == CFG_SCALAR ? strlen(n->text) : n->n);
    sha256_update(c, head, (size_t)k);
    if (n->kind == CFG_SCALAR) {
        sha256_update(c, n->text, strlen(n->text));
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP)
            digest_node(c, n->keys[i]);
        digest_node(c, n->items[i]);
    }
}

/* What a run's results depend on: org, currency and the pipeline's stages
 * (plugins, their versions and exact files, and their with: blocks), not
 * the rest of the config, so adding an actor does not make a closed
 * period look changed, while upgrading a plugin does. */
static int config_digest(const run_ctx *r, const config_pipeline *pl, char out[65], pr_err *err)
{
    sha256_ctx c;
    char so[65];

    sha256_init(&c);
    sha256_update(&c, r->cfg->org, strlen(r->cfg->org) + 1);
    sha256_update(&c, r->cfg->currency->code, 4);
    for (size_t i = 0; i < pl->n_stages; i++) {
        const struct payrun_plugin *d = r->stages[i].lp->desc;
        if (file_digest(r->stages[i].lp->file, so, err) != 0)
            return -1;
        sha256_update(&c, pl->stages[i].stage, strlen(pl->stages[i].stage) + 1);
        sha256_update(&c, d->name, strlen(d->name) + 1);
        sha256_update(&c, d->version, strlen(d->version) + 1);
        sha256_update(&c, so, sizeof(so));
        digest_node(&c, pl->stages[i].with);
    }
    sha256_final_hex(&c, out);
    return 0;
}

static int file_digest(const char *path, char out[65], pr_err *err)
{
    unsigned char block[65536];
    sha256_ctx c;
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return pr_err_set(err, errno == ENOENT ? EXIT_NOINPUT : EXIT_IOERR,
                          "cannot read input \"%s\": %s", path, strerror(errno));
    sha256_init(&c);
    while ((n = fread(block, 1, sizeof(block), f)) > 0)
        sha256_update(&c, block, n);
    if (ferror(f)) {
        fclose(f);
        return pr_err_set(err, EXIT_IOERR, "cannot read input \"%s\"", path);
    }
    fclose(f);
    sha256_final_hex(&c, out);
    return 0;
}

/* {"stage.key":{"path":"...","sha256":"..."},...} over every input key. */
static int input_digests(run_ctx *r, char **out, pr_err *err)
{
    buf b;
    int first = 1;

    buf_init(&b);
    buf_puts(&b, "{");
    for (size_t i = 0; i < r->n_stages; i++) {
        payrun_stage *st = &r->stages[i];
        for (const struct payrun_config_key *k = st->lp->desc->keys; k && k->name; k++) {
            const char *path = NULL;
            char label[160], hex[65];
            if (k->type != PAYRUN_KEY_INPUT)
                continue;
            if (h_cfg_path(st, k->name, -1, NULL, &path) != PAYRUN_OK)
                continue; /* unset optional input */
            if (file_digest(path, hex, err) != 0) {
                snprintf(label, sizeof(label), "%s:%d:%d: stage \"%s\" key \"%s\"",
                         r->cfg->path, st->cs->line, st->cs->col, st->cs->stage, k->name);
                pr_err_prefix(err, "%s", label);
                pr_err_hint(err, "check the path, or the {period} it names");
                buf_free(&b);
                return -1;
            }
            if (!first)
                buf_puts(&b, ",");
            first = 0;
            snprintf(label, sizeof(label), "%s.%s", st->cs->stage, k->name);
            buf_json_str(&b, label);
            buf_puts(&b, ":{");
            /* The path as the config writes it (relative, {period}
             * unexpanded): moving the installation changes no digest. */
            {
                const struct payrun_config_key *decl;
                buf_json_kv(&b, "path", cfg_text(st, k->name, -1, NULL, &decl));
            }
            buf_puts(&b, ",");
            buf_json_kv(&b, "sha256", hex);
            buf_puts(&b, "}");
        }
    }
    buf_puts(&b, "}");
    *out = buf_take(&b);
    if (*out == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    return 0;
}

/* ---- the run -------------------------------------------------------------- */

/* A stage reads an input file when one of its input keys has a value. */
static int has_input_keys(run_ctx *r)
{
    for (size_t i = 0; i < r->n_stages; i++) {
        for (const struct payrun_config_key *k = r->stages[i].lp->desc->keys; k && k->name; k++) {
            const struct payrun_config_key *decl;
            if (k->type == PAYRUN_KEY_INPUT &&
                cfg_text(&r->stages[i], k->name, -1, NULL, &decl) != NULL)
                return 1;
        }
    }
    return 0;
}

static int has_kind(const run_ctx *r, int kind)
{
    for (size_t i = 0; i < r->n_stages; i++)
        if (r->stages[i].lp->desc->kind == kind)
            return 1;
    return 0;
}

static char *counts_json(const run_ctx *r)
{
    buf b;

    buf_init(&b);
    buf_puts(&b, "{");
    for (size_t i = 0; i < r->n_stages; i++) {
        const payrun_stage *st = &r->stages[i];
        if (i)
            buf_puts(&b, ",");
        buf_json_str(&b, st->cs->stage);
        buf_puts(&b, ":{");
        for (size_t k = 0; k < st->n_counts; k++) {
            if (k)
                buf_puts(&b, ",");
            buf_json_str(&b, st->counts[k].name);
            buf_printf(&b, ":%lld", (long long)st->counts[k].n);
        }
        buf_puts(&b, "}");
    }
    buf_puts(&b, "}");
    return buf_take(&b);
}

/* ---- a plugin that crashes -------------------------------------------------- */

/*
 * A plugin runs in payrun's process, so a bug in it (a bad pointer, a
 * failed assert) kills payrun, and all a scheduler's log would show is the
 * shell's "Segmentation fault". While a plugin's code runs, a fatal signal
 * first writes one line naming the stage and what became of the run, then
 * goes on as before: the handler that was there (the default, or a
 * sanitizer's, which then reports) is put back and the signal delivered
 * again. Nothing else is done: the run's transaction is simply never
 * committed. The handler calls only write(2), sigaction(2) and raise(3),
 * which are async-signal-safe; its text is written beforehand.
 */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static const char *const fatal_names[] = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"};
#define N_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction fatal_saved[N_FATAL];
static char crash_head[256], crash_tail[128];

static void say(const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_fatal_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    say(crash_head);
    for (size_t i = 0; i < N_FATAL; i++) {
        if (fatal_signals[i] == sig) {
            say(fatal_names[i]);
            sigaction(sig, &fatal_saved[i], NULL);
        }
    }
    say(crash_tail);
    /* A fault returns to the faulting instruction, which faults again
     * under the handler put back; a signal that was sent (abort, raise,
     * kill) is sent again. */
    if (si == NULL || si->si_code <= 0)
        raise(sig);
}

static void crash_note_on(const payrun_stage *st)
{
    struct sigaction act;
    char label[160];

    stage_label(st, label, sizeof(label));
    snprintf(crash_head, sizeof(crash_head), "payrun: %s crashed: ", label);
    snprintf(crash_tail, sizeof(crash_tail), "%s\n",
             st->lp->desc->kind == PAYRUN_KIND_AUDIT_SINK
                 ? "; the run had committed before it, and the next run forwards the events"
                 : "; nothing of this run was committed");
    memset(&act, 0, sizeof(act));
    act.sa_sigaction = on_fatal_signal;
    act.sa_flags = SA_SIGINFO;
    sigemptyset(&act.sa_mask);
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &act, &fatal_saved[i]);
}

static void crash_note_off(void)
{
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &fatal_saved[i], NULL);
}

static int run_stage(run_ctx *r, payrun_stage *st)
{
    const struct payrun_plugin *d = st->lp->desc;
    void *ctx = NULL;
    char label[160];
    int rc = PAYRUN_OK;

    pr_err_clear(r->err);
    crash_note_on(st);
    if (d->init)
        rc = d->init(&host_table, st, &ctx);
    if (rc == PAYRUN_OK)
        rc = d->run(ctx, st);
    if (d->destroy)
        d->destroy(ctx);
    crash_note_off();
    progress_done(r);
    stage_label(st, label, sizeof(label));
    if (rc != PAYRUN_OK && r->err->code == 0)
        pr_err_set(r->err, status_exit(rc), "%s failed (status %d) without saying why", label, rc);
    if (rc == PAYRUN_OK && r->err->code != 0)
        /* The plugin reported an error but carried on: believe the error. */
        rc = PAYRUN_ERR;
    if (rc == PAYRUN_OK && store_lines_staged(r->s) > 0)
        /* An importer that left its lines staged. */
        rc = settle(st, NULL, NULL, NULL);
    /* A failure the store reported inside a host function (a move refused
     * deep in a recalculation, a database error) says what failed but not
     * which stage asked for it: every stage failure names its stage and
     * plugin. */
    if (rc != PAYRUN_OK && strncmp(r->err->msg, label, strlen(label)) != 0)
        pr_err_prefix(r->err, "%s", label);
    return rc == PAYRUN_OK ? 0 : -1;
}

static void print_summary(run_ctx *r, const char *verb)
{
    FILE *out = r->o->out;
    status_total t[STATUS__COUNT];
    int64_t n = 0, total = 0;
    char amount[32];
    pr_err e = {0};

    fprintf(out, "%s %s for %s, period %s", r->o->pipeline, verb, r->cfg->org, r->o->period);
    if (r->run_id && !r->o->dry_run)
        fprintf(out, " (run %lld)", (long long)r->run_id);
    fprintf(out, "\n");
    for (size_t i = 0; i < r->n_stages; i++) {
        const payrun_stage *st = &r->stages[i];
        fprintf(out, "  %-12s %-18s", st->cs->stage, st->lp->desc->name);
        for (size_t k = 0; k < st->n_counts; k++)
            fprintf(out, "%s%s %lld", k ? ", " : " ", st->counts[k].name,
                    (long long)st->counts[k].n);
        fprintf(out, "\n");
    }
    if (store_period_totals(r->s, r->o->period, t, &e) != 0)
        return;
    fprintf(out, "  payouts:");
    for (int s = 0; s < STATUS__COUNT; s++) {
        if (t[s].count == 0)
            continue;
        money_format(t[s].total, r->cfg->currency->exponent, amount, sizeof(amount));
        fprintf(out, " %lld %s %s;", (long long)t[s].count, status_name((payout_status)s),
                amount);
        n += t[s].count;
        if (s != STATUS_REJECTED && __builtin_add_overflow(total, t[s].total, &total))
            total = INT64_MAX;
    }
    money_format(total, r->cfg->currency->exponent, amount, sizeof(amount));
    fprintf(out, " %lld in all, %s %s excluding rejected\n", (long long)n, amount,
            r->cfg->currency->code);
}

static void free_run(run_ctx *r)
{
    for (size_t i = 0; i < r->n_stages; i++) {
        plugin_unload(r->stages[i].lp);
        free(r->stages[i].counts);
    }
    free(r->stages);
    for (size_t i = 0; i < r->n_strings; i++)
        free(r->strings[i]);
    free(r->strings);
    free(r->output_dir);
    free(r->listed);
    store_close(r->s);
}

/* An identical rerun changes nothing, but puts back output files that are
 * missing (a rename that failed after an earlier commit, a deleted file)
 * and forwards audit events not yet forwarded. Exporters only read. */
static int restore_outputs(run_ctx *r, pr_err *err)
{
    int rc = 0;

    r->mode = RUN_RESTORE;
    for (size_t i = 0; i < r->n_stages && rc == 0; i++)
        if (r->stages[i].lp->desc->kind == PAYRUN_KIND_EXPORTER)
            rc = run_stage(r, &r->stages[i]);
    if (finish_outputs(r, rc == 0, err) != 0)
        rc = -1;
    for (size_t i = 0; i < r->n_stages && rc == 0; i++)
        if (r->stages[i].lp->desc->kind == PAYRUN_KIND_AUDIT_SINK)
            rc = run_stage(r, &r->stages[i]);
    return rc;
}

/* Whether a live run holds the lock on this temporary file (h_output_open):
 * it has committed and is about to rename the file itself. */
static int output_locked(const char *tmp)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC), held = 0;

    if (fd < 0)
        return 0;
    held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* Output files of a committed run whose process died before renaming
 * them: their temporary files are complete (fsynced before the commit)
 * and recorded with their digest, so they are put in place now. A file
 * its run still holds locked is that run's to put in place (the run is
 * between its commit and its renames, and says so if it cannot); a later
 * run finds it if the run dies first. The lock, not the PID in the name,
 * tells: a PID is reused (PID 1 in a container is always alive). */
static int recover_one(void *ud, int64_t run_id, const char *final, const char *tmp,
                       const char *sha256)
{
    run_ctx *r = ud;
    char hex[65];
    pr_err e = {0};
    int tmp_there;

    if (output_locked(tmp))
        return 0;
    tmp_there = access(tmp, F_OK) == 0;

    if (tmp_there && file_digest(tmp, hex, &e) == 0 && strcmp(hex, sha256) == 0) {
        if (rename(tmp, final) != 0) {
            fprintf(stderr, "payrun: warning: %s, committed by run %lld, is still not in place "
                            "(%s); it is complete as %s\n", final, (long long)run_id,
                    strerror(errno), tmp);
            return 0;
        }
        fprintf(stderr, "payrun: put %s in place: run %lld committed it but stopped before "
                        "renaming it\n", final, (long long)run_id);
        store_output_done(r->s, final, NULL);
        if (fsync_dir_of(final) != 0)
            fprintf(stderr, "payrun: warning: the directory of %s could not be synced: %s\n",
                    final, strerror(errno));
        return 0;
    }
    if (access(final, F_OK) == 0) {
        store_output_done(r->s, final, NULL);
        return 0;
    }
    if (tmp_there)
        fprintf(stderr, "payrun: warning: %s, committed by run %lld, is missing, and its "
                        "temporary file %s is not the file the run wrote (its SHA-256 differs); "
                        "left as it is\n", final, (long long)run_id, tmp);
    else
        fprintf(stderr, "payrun: warning: %s, committed by run %lld, is missing and so is its "
                        "temporary file\n", final, (long long)run_id);
    return 0;
}

static int record_run(run_ctx *r, const char *cdigest, const char *inputs, pr_err *err)
{
    char ended[CLOCK_LEN], id[24];
    char *counts = counts_json(r), *m;
    buf meta;
    int rc;

    if (counts == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    if (clock_now(ended, err) != 0 || store_run_finish(r->s, r->run_id, counts, ended, err) != 0) {
        free(counts);
        return -1;
    }
    buf_init(&meta);
    buf_puts(&meta, "{");
    buf_json_kv(&meta, "pipeline", r->o->pipeline);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "period", r->o->period);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "config_sha256", cdigest);
    buf_printf(&meta, ",\"inputs\":%s,\"counts\":%s}", inputs, counts);
    free(counts);
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    snprintf(id, sizeof(id), "%lld", (long long)r->run_id);
    rc = store_audit_append(r->s, r->clock, r->o->actor, "run.completed", "run", id, m, err);
    free(m);
    return rc;
}

int pipeline_run(const config *cfg, const char *const *plugin_dirs, size_t n_dirs,
                 const pipeline_opts *o, pr_err *err)
{
    run_ctx r;
    const config_pipeline *pl;
    char cdigest[65];
    char *inputs = NULL, *last_config = NULL, *last_inputs = NULL;
    int64_t last_run = 0;
    int rc = -1, importing, computing, rerunnable, found;

    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.o = o;
    r.err = err;
    r.mode = o->dry_run ? RUN_DRY : RUN_NORMAL;
    r.tty = isatty(STDERR_FILENO);
    if (config_check_period(o->period, err) != 0)
        return -1;
    pl = config_pipeline_find(cfg, o->pipeline);
    if (pl == NULL) {
        buf names;
        buf_init(&names);
        for (size_t i = 0; i < cfg->n_pipelines; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", cfg->pipelines[i].name);
        pr_err_set(err, EXIT_USAGE, "%s: no pipeline \"%s\"", cfg->path, o->pipeline);
        pr_err_hint(err, "pipelines in this config: %s", names.data ? names.data : "none");
        buf_free(&names);
        return -1;
    }
    if (clock_now(r.clock, err) != 0)
        return -1;
    if (config_expand_path(cfg, cfg->output_dir, o->period, NULL, &r.output_dir, err) != 0)
        return -1;

    /* 1. every plugin loaded and every with: block checked, before anything runs */
    r.stages = calloc(pl->n_stages, sizeof(*r.stages));
    if (r.stages == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    for (size_t i = 0; i < pl->n_stages; i++) {
        payrun_stage *st = &r.stages[i];
        st->run = &r;
        st->cs = &pl->stages[i];
        if (plugin_load(plugin_dirs, n_dirs, st->cs->plugin, &st->lp, err) != 0) {
            pr_err_prefix(err, "%s:%d:%d: stage \"%s\"", cfg->path, st->cs->line, st->cs->col,
                          st->cs->stage);
            goto done;
        }
        r.n_stages++;
        if (config_check_stage(cfg, st->cs, st->lp->desc, err) != 0)
            goto done;
    }
    importing = has_kind(&r, PAYRUN_KIND_IMPORTER);
    computing = importing || has_kind(&r, PAYRUN_KIND_CALCULATOR);
    /* A pipeline that reads input files (a close, a settle) is a no-op
     * when rerun with the same files and configuration: a bank result file
     * applied again must not touch a payout retried and sent since. */
    rerunnable = computing || has_input_keys(&r);
    /* What a pipeline does decides who may run it: moving payouts to and
     * from the bank is a payer's job, the rest a preparer's. */
    if (o->authorize &&
        o->authorize(o->authorize_ud, has_kind(&r, PAYRUN_KIND_TRANSITION) ? ROLE_PAYER
                                                                           : ROLE_PREPARER,
                     err) != 0)
        goto done;

    /* 2. digests; a dry run against a database that does not exist yet
     * works on an empty one in memory rather than creating the file */
    if (config_digest(&r, pl, cdigest, err) != 0 || input_digests(&r, &inputs, err) != 0)
        goto done;
    if (store_open(o->dry_run && access(cfg->database, F_OK) != 0 ? ":memory:" : cfg->database,
                   cfg->org, cfg->busy_timeout_ms, &r.s, err) != 0)
        goto done;
    if (!o->dry_run && store_outputs_pending_each(r.s, recover_one, &r, err) < 0)
        goto done;

    /* 3. one transaction for the whole run; the rerun checks are inside it,
     * so two identical runs started together see each other's commit */
    if (store_begin(r.s, err) != 0)
        goto done;
    if (rerunnable) {
        found = store_run_last_ok(r.s, o->pipeline, o->period, &last_run, &last_config,
                                  &last_inputs, err);
        if (found < 0)
            goto rollback;
        if (found == 0 && strcmp(last_config, cdigest) == 0 && strcmp(last_inputs, inputs) == 0) {
            store_rollback(r.s);
            fprintf(o->out, "%s for %s, period %s: nothing to do: run %lld already processed "
                            "these inputs with this configuration; nothing was changed\n",
                    o->pipeline, cfg->org, o->period, (long long)last_run);
            r.run_id = last_run; /* outputs put back carry their run's number */
            rc = o->dry_run ? 0 : restore_outputs(&r, err);
            goto done;
        }
    }
    if (computing) {
        char ids[600], later[8];
        int n = 0, lc;
        if (store_period_blockers(r.s, o->period, ids, sizeof(ids), &n, err) != 0)
            goto rollback;
        if (n > 0) {
            pr_err_set(err, EXIT_DATAERR,
                       "period %s cannot be recalculated: %d payout%s already past "
                       "pending_approval: %s", o->period, n, n == 1 ? " is" : "s are", ids);
            pr_err_hint(err, "the inputs or configuration changed since run %lld; pay changes as "
                             "adjustments in the next period (payrun payouts create)",
                        (long long)last_run);
            goto rollback;
        }
        lc = store_later_close(r.s, o->pipeline, o->period, later, err);
        if (lc < 0)
            goto rollback;
        if (lc == 1) {
            pr_err_set(err, EXIT_DATAERR,
                       "period %s cannot be recalculated: the later period %s is already closed",
                       o->period, later);
            pr_err_hint(err, "%s's close may have used lines carried forward from %s; record "
                             "a change as an adjustment (payrun payouts create)", later, o->period);
            goto rollback;
        }
    }
    if (store_run_insert(r.s, o->period, o->pipeline, o->actor, cdigest, inputs, r.clock,
                         &r.run_id, err) != 0)
        goto rollback;
    if (importing && store_period_reset(r.s, o->period, 1, err) != 0)
        goto rollback;

    /* 4. the stages (audit sinks wait for the commit) */
    for (size_t i = 0; i < r.n_stages; i++) {
        if (r.stages[i].lp->desc->kind == PAYRUN_KIND_AUDIT_SINK)
            continue;
        if (run_stage(&r, &r.stages[i]) != 0)
            goto rollback;
    }
    if (has_kind(&r, PAYRUN_KIND_APPROVER)) {
        int released = 0;
        int approved = 0;
        if (store_release_stale_holds(r.s, o->period, r.run_id, o->actor, r.clock, &released,
                                      err) != 0 ||
            store_approve_satisfied(r.s, o->period, r.run_id, o->actor, r.clock, &approved,
                                    err) != 0)
            goto rollback;
    }

    /* 5. record and commit */
    if (record_run(&r, cdigest, inputs, err) != 0)
        goto rollback;
    if (o->dry_run) {
        print_summary(&r, "dry run (nothing was written)");
        store_rollback(r.s);
        finish_outputs(&r, 0, err);
        rc = 0;
        goto done;
    }
    for (struct payrun_output *out = r.outputs; out; out = out->next)
        if (!out->discard && out->closed) {
            if (store_output_pending(r.s, r.run_id, out->final, out->tmp, out->digest, err) != 0)
                goto rollback;
            out->recorded = 1;
        }
    if (store_commit(r.s, err) != 0)
        goto failed;
    rc = finish_outputs(&r, 1, err);

    /* after the commit: audit sinks, then the summary */
    for (size_t i = 0; i < r.n_stages && rc == 0; i++) {
        if (r.stages[i].lp->desc->kind != PAYRUN_KIND_AUDIT_SINK)
            continue;
        if (run_stage(&r, &r.stages[i]) != 0) {
            pr_err_hint(err, "the run itself committed; rerun the pipeline or any later one "
                             "to forward the events");
            rc = -1;
        }
    }
    print_summary(&r, "committed");
    goto done;

rollback:
    store_rollback(r.s);
failed:
    /* A COMMIT that reported an error may still have committed: its WAL
     * frames stay until the database is closed, and a process that dies
     * first leaves them for the next open to recover. So the database is
     * closed (and what did not sync is discarded) before the temporary
     * outputs go: a pay run killed in between keeps its bank file, which
     * the next run puts in place if the commit was recovered, or removes
     * as stale if it was not. */
    store_close(r.s);
    r.s = NULL;
    if (kept_outputs_exist(&r) && !o->dry_run && err->hint[0] == '\0')
        pr_err_hint(err, "nothing was committed; the rejected rows are listed under %s",
                    r.output_dir);
    finish_outputs(&r, 0, NULL);
    rc = -1;
done:
    if (r.outputs)
        finish_outputs(&r, 0, NULL);
    free(inputs);
    free(last_config);
    free(last_inputs);
    free_run(&r);
    return rc;
}
