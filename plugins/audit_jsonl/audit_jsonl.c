/*
 * audit_jsonl.c: the audit sink plugin. After the core commits a run, it
 * appends the org's audit events that the file does not hold yet to a JSON
 * Lines file, one event per line, for log shippers and SIEMs to tail.
 *
 * The file is its own cursor: each line starts with {"seq":N, so the last
 * complete line says where to resume, and no state is kept anywhere else.
 * Only the file's tail is read (backwards, in fixed blocks), so a run costs
 * the same on a file of ten lines or ten million. A crash mid-append leaves
 * a partial last line; the next run cuts it off and resends that event, so
 * the file never holds half an event nor the same event twice.
 *
 * Before appending, the file's last event is compared, seq and hash, with
 * the audit trail's event of that seq: a file edited by hand, or one that
 * belongs to another org or database, is refused rather than continued
 * with events that do not chain onto it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <payrun/plugin.h>

#define OUT_CAP (64 * 1024) /* appended bytes buffered between write(2)s */
#define SCAN_BLOCK 4096     /* backwards scan step over the file's tail */
#define HEAD_MAX 48         /* {"seq": + 19 digits + ',' with room to spare */
#define HASH_MAX 128        /* longest hash accepted from the last line */
#define TAIL_MAX (HASH_MAX + 16) /* ,"hash":"<hash>"} */

static const char HEAD[] = "{\"seq\":";
static const char HASH_KEY[] = ",\"hash\":\"";

static const struct payrun_config_key keys[] = {
    {"path", PAYRUN_KEY_PATH, 0, "audit.jsonl",
     "JSON Lines file the org's audit events are appended to", NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

struct ctx {
    const struct payrun_host *host;
    payrun_stage *st;
    const char *path;
    int fd;
    char *out; /* OUT_CAP bytes */
    size_t out_len;
    int failed;                   /* a write failed; already reported */
    int64_t last_seq;             /* seq of the file's last complete line; 0: none */
    char last_hash[HASH_MAX + 1]; /* and its hash */
    int tail_checked;             /* the trail's event last_seq was compared */
    int64_t forwarded;
    int64_t first_sent, last_sent;
    int gap_warned;
};

static void destroy(void *p)
{
    struct ctx *c = p;
    if (c == NULL)
        return;
    free(c->out);
    free(c);
}

static int init(const struct payrun_host *host, payrun_stage *st, void **out)
{
    struct ctx *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->out = malloc(OUT_CAP)) == NULL) {
        free(c);
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    }
    c->host = host;
    c->fd = -1;
    *out = c;
    return PAYRUN_OK;
}

static int io_error(struct ctx *c, const char *what, int err)
{
    return c->host->error(c->st, PAYRUN_ERR_IO, "check the disk and the file's permissions",
                          "cannot %s audit file \"%s\": %s", what, c->path, strerror(err));
}

/* Read exactly `n` bytes at `off`. The file is locked, so a short read means
 * something truncated it behind our back: an I/O error, not a retry. */
static int read_at(struct ctx *c, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(c->fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return io_error(c, "read", r < 0 ? errno : EIO);
        got += (size_t)r;
    }
    return PAYRUN_OK;
}

/* Offset of the last '\n' before `end`, or -1 if there is none. */
static int last_newline(struct ctx *c, off_t end, off_t *out)
{
    char blk[SCAN_BLOCK];
    off_t pos = end;

    while (pos > 0) {
        size_t n = pos > SCAN_BLOCK ? SCAN_BLOCK : (size_t)pos;
        pos -= (off_t)n;
        if (read_at(c, blk, n, pos) != PAYRUN_OK)
            return PAYRUN_ERR_IO;
        for (size_t i = n; i > 0; i--) {
            if (blk[i - 1] == '\n') {
                *out = pos + (off_t)(i - 1);
                return PAYRUN_OK;
            }
        }
    }
    *out = -1;
    return PAYRUN_OK;
}

static int not_ours(struct ctx *c, off_t at, const char *why)
{
    return c->host->error(c->st, PAYRUN_ERR_INPUT,
                          "point \"path\" at a file of its own, or move this one aside to "
                          "rewrite it from the first event",
                          "audit file \"%s\": the last line (at byte %lld) %s, so it was not "
                          "written by audit_jsonl",
                          c->path, (long long)at, why);
}

/* Parse the seq at the start of the line [start, start + len). */
static int parse_head(struct ctx *c, off_t start, off_t len)
{
    char h[HEAD_MAX];
    size_t n = len < HEAD_MAX ? (size_t)len : HEAD_MAX, i = sizeof(HEAD) - 1;
    int64_t seq = 0;

    if (n < sizeof(HEAD) - 1)
        return not_ours(c, start, "is too short to hold an event");
    if (read_at(c, h, n, start) != PAYRUN_OK)
        return PAYRUN_ERR_IO;
    if (memcmp(h, HEAD, sizeof(HEAD) - 1) != 0)
        return not_ours(c, start, "does not start with {\"seq\":");
    if (i >= n || h[i] < '1' || h[i] > '9')
        return not_ours(c, start, "has no positive seq");
    for (; i < n && h[i] >= '0' && h[i] <= '9'; i++) {
        int d = h[i] - '0';
        if (seq > (INT64_MAX - d) / 10)
            return not_ours(c, start, "has a seq beyond 64 bits");
        seq = seq * 10 + d;
    }
    if (i >= n || h[i] != ',')
        return not_ours(c, start, "has no ',' after its seq");
    c->last_seq = seq;
    return PAYRUN_OK;
}

/* Parse the hash at the end of the line [start, start + len). */
static int parse_tail(struct ctx *c, off_t start, off_t len)
{
    char t[TAIL_MAX];
    size_t n = len < TAIL_MAX ? (size_t)len : TAIL_MAX, q;

    if (read_at(c, t, n, start + len - (off_t)n) != PAYRUN_OK)
        return PAYRUN_ERR_IO;
    if (n < sizeof(HASH_KEY) - 1 + 2 || t[n - 1] != '}' || t[n - 2] != '"')
        return not_ours(c, start, "does not end with a \"hash\" string");
    for (q = n - 2; q > 0 && t[q - 1] != '"'; q--)
        ;
    /* t[q - 1] is the hash's opening quote; the key must come right before */
    if (q < sizeof(HASH_KEY) - 1 ||
        memcmp(t + q - (sizeof(HASH_KEY) - 1), HASH_KEY, sizeof(HASH_KEY) - 1) != 0)
        return not_ours(c, start, "does not end with a \"hash\" string");
    if (n - 2 - q > HASH_MAX)
        return not_ours(c, start, "has a hash longer than any audit hash");
    memcpy(c->last_hash, t + q, n - 2 - q);
    c->last_hash[n - 2 - q] = '\0';
    return PAYRUN_OK;
}

/*
 * Find where to resume: the seq and hash of the last complete line. A
 * partial line after it is cut off, but only once the complete line has
 * parsed, so a file that is not ours is refused without being changed.
 */
static int read_cursor(struct ctx *c)
{
    struct stat sb;
    off_t nl, prev, keep;
    int rc;

    if (fstat(c->fd, &sb) != 0)
        return io_error(c, "stat", errno);
    if (!S_ISREG(sb.st_mode))
        return c->host->error(c->st, PAYRUN_ERR_IO, "point \"path\" at a regular file",
                              "audit file \"%s\" is not a regular file", c->path);
    if ((rc = last_newline(c, sb.st_size, &nl)) != PAYRUN_OK)
        return rc;
    keep = nl + 1;
    if (keep > 0) {
        if ((rc = last_newline(c, nl, &prev)) != PAYRUN_OK)
            return rc;
        if ((rc = parse_head(c, prev + 1, nl - (prev + 1))) != PAYRUN_OK ||
            (rc = parse_tail(c, prev + 1, nl - (prev + 1))) != PAYRUN_OK)
            return rc;
    }
    if (keep < sb.st_size) {
        c->host->log(c->st, PAYRUN_LOG_WARN,
                     "audit file \"%s\" ends with a partial line, left by an interrupted "
                     "write: dropping its %lld bytes and resending from seq %lld",
                     c->path, (long long)(sb.st_size - keep), (long long)c->last_seq + 1);
        if (ftruncate(c->fd, keep) != 0)
            return io_error(c, "truncate", errno);
    }
    return PAYRUN_OK;
}

/* ---- buffered appends ---------------------------------------------------- */

static void flush(struct ctx *c)
{
    size_t done = 0;

    while (!c->failed && done < c->out_len) {
        ssize_t w = write(c->fd, c->out + done, c->out_len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            io_error(c, "write", w < 0 ? errno : EIO);
            c->failed = 1;
            break;
        }
        done += (size_t)w;
    }
    c->out_len = 0;
}

static void put(struct ctx *c, const char *s, size_t n)
{
    while (n > 0 && !c->failed) {
        size_t room = OUT_CAP - c->out_len, k = n < room ? n : room;
        memcpy(c->out + c->out_len, s, k);
        c->out_len += k;
        s += k;
        n -= k;
        if (c->out_len == OUT_CAP)
            flush(c);
    }
}

static void put_str(struct ctx *c, const char *s)
{
    put(c, s, strlen(s));
}

/* A JSON string: quote and backslash escaped, every control character as
 * \u00XX; other bytes (UTF-8 included) pass through as they are. */
static void put_json(struct ctx *c, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run;

    if (s == NULL)
        s = "";
    run = s;

    put(c, "\"", 1);
    for (;; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch != '\0' && ch != '"' && ch != '\\' && ch >= 0x20)
            continue;
        put(c, run, (size_t)(s - run));
        if (ch == '\0')
            break;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(c, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(c, e, 6);
        }
        run = s + 1;
    }
    put(c, "\"", 1);
}

/* The metadata is JSON already and goes in verbatim, with one exception: a
 * raw CR or LF would split the event over two lines. Outside strings they
 * are whitespace, and inside strings JSON forbids them raw, so replacing
 * them with spaces keeps the value's meaning. */
static void put_metadata(struct ctx *c, const char *m)
{
    const char *run;

    if (m == NULL || m[0] == '\0')
        m = "{}";
    for (run = m;; m++) {
        if (*m != '\0' && *m != '\n' && *m != '\r')
            continue;
        put(c, run, (size_t)(m - run));
        if (*m == '\0')
            break;
        put(c, " ", 1);
        run = m + 1;
    }
}

/* The file is ahead of the trail: another database, or another org's file. */
static int missing_tail(struct ctx *c)
{
    return c->host->error(c->st, PAYRUN_ERR_INPUT,
                          "check the stage's \"path\" and the config's database",
                          "audit file \"%s\" ends at seq %lld, which the org's audit trail "
                          "does not have",
                          c->path, (long long)c->last_seq);
}

static int on_event(void *ud, const struct payrun_audit_event *e)
{
    struct ctx *c = ud;
    char seq[24];

    /* The first event offered is the file's own last one: check, don't copy. */
    if (c->last_seq > 0 && !c->tail_checked) {
        if (e->seq != c->last_seq)
            return missing_tail(c);
        if (e->hash == NULL || strcmp(e->hash, c->last_hash) != 0)
            return c->host->error(c->st, PAYRUN_ERR_INPUT,
                                  "run \"payrun audit verify\"; if the trail is intact, move the "
                                  "file aside to rewrite it from the first event",
                                  "audit file \"%s\" does not match the audit trail at seq %lld: "
                                  "the file was edited, or it belongs to another org or database",
                                  c->path, (long long)c->last_seq);
        c->tail_checked = 1;
        return PAYRUN_OK;
    }
    if (e->seq != c->last_seq + c->forwarded + 1 && !c->gap_warned) {
        c->host->log(c->st, PAYRUN_LOG_WARN,
                     "audit event seq %lld follows seq %lld: the trail has a gap; run "
                     "\"payrun audit verify\"",
                     (long long)e->seq, (long long)(c->last_seq + c->forwarded));
        c->gap_warned = 1;
    }

    snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
    put_str(c, HEAD);
    put_str(c, seq);
    put_str(c, ",\"org\":");
    put_json(c, e->org);
    put_str(c, ",\"at\":");
    put_json(c, e->at);
    put_str(c, ",\"actor\":");
    put_json(c, e->actor);
    put_str(c, ",\"action\":");
    put_json(c, e->action);
    put_str(c, ",\"entity_type\":");
    put_json(c, e->entity_type);
    put_str(c, ",\"entity_id\":");
    put_json(c, e->entity_id);
    put_str(c, ",\"metadata\":");
    put_metadata(c, e->metadata);
    put_str(c, ",\"prev_hash\":");
    put_json(c, e->prev_hash);
    put_str(c, ",\"hash\":");
    put_json(c, e->hash);
    put_str(c, "}\n");
    if (c->failed)
        return PAYRUN_ERR_IO;
    if (c->forwarded++ == 0)
        c->first_sent = e->seq;
    c->last_sent = e->seq;
    return PAYRUN_OK;
}

/* Wait for any other payrun appending to the same file: two sinks reading
 * one cursor would both send the same events. */
static void lock_file(struct ctx *c)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (fcntl(c->fd, F_SETLKW, &fl) != 0) {
        if (errno == EINTR)
            continue;
        c->host->log(c->st, PAYRUN_LOG_WARN,
                     "cannot lock audit file \"%s\" (%s): continuing unlocked", c->path,
                     strerror(errno));
        return;
    }
}

static int run(void *p, payrun_stage *st)
{
    struct ctx *c = p;
    int rc;

    c->st = st;
    if (c->host->cfg_path(st, "path", -1, NULL, &c->path) != PAYRUN_OK || c->path == NULL)
        return c->host->error(st, PAYRUN_ERR_CONFIG, "set \"path\" to a file name",
                              "no audit file path configured");
    c->fd = open(c->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (c->fd < 0)
        return c->host->error(st, PAYRUN_ERR_IO,
                              errno == ENOENT ? "create the directory, or point \"path\" into "
                                                "one that exists"
                                              : "check the file's and directory's permissions",
                              "cannot open audit file \"%s\": %s", c->path, strerror(errno));
    lock_file(c);
    rc = read_cursor(c);
    if (rc == PAYRUN_OK)
        rc = c->host->each_audit_event(st, c->last_seq > 0 ? c->last_seq - 1 : 0, on_event, c);
    if (rc == PAYRUN_OK && c->last_seq > 0 && !c->tail_checked)
        rc = missing_tail(c);
    /* Whole lines already buffered are committed events: write them even
     * when a later step failed, so the next run has less to resend. */
    flush(c);
    if (c->failed && rc == PAYRUN_OK)
        rc = PAYRUN_ERR_IO;
    if (fsync(c->fd) != 0 && rc == PAYRUN_OK)
        rc = io_error(c, "sync", errno);
    if (close(c->fd) != 0 && rc == PAYRUN_OK)
        rc = io_error(c, "close", errno);
    c->fd = -1;
    c->host->count(st, "forwarded", c->forwarded);
    if (rc == PAYRUN_OK && c->forwarded > 0)
        c->host->log(st, PAYRUN_LOG_INFO, "appended events %lld to %lld to \"%s\"",
                     (long long)c->first_sent, (long long)c->last_sent, c->path);
    return rc;
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "audit_jsonl",
    .kind = PAYRUN_KIND_AUDIT_SINK,
    .version = "1.0.0",
    .description = "appends the org's committed audit events to a JSON Lines file",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
