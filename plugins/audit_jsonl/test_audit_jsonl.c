/*
 * test_audit_jsonl.c: the audit_jsonl sink against the fake host, with
 * real files in the fake host's temp dir. A small checker reads each file
 * back: every line must be one valid JSON value starting with {"seq":, and
 * the seqs must run 1..N with no gap or repeat. On that base the tests
 * cover appending across runs, repairing a cut last line (the repaired file
 * is byte-identical to one never cut), verbatim metadata, string escaping,
 * files that are not ours or that disagree with the trail, and a missing
 * directory.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_host.h"

Suite *audit_jsonl_suite(void);

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

/* Strings the events point to must outlive each run, so they live here. */
struct env {
    fake_host fh;
    char hash[FH_MAX + 1][65]; /* by seq */
    char big[4][16384];        /* large metadata */
};

static struct env *new_env(void)
{
    struct env *e = calloc(1, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    fh_init(&e->fh);
    return e;
}

static void free_env(struct env *e)
{
    fh_cleanup(&e->fh);
    free(e);
}

static void add_event(struct env *v, const char *actor, const char *entity_id,
                      const char *metadata)
{
    fake_host *fh = &v->fh;
    struct payrun_audit_event *e = &fh->events[fh->n_events];
    int64_t seq = (int64_t)fh->n_events + 1;

    ck_assert_uint_lt(fh->n_events, FH_MAX);
    snprintf(v->hash[seq], sizeof(v->hash[0]), "%016llx%048d",
             (unsigned long long)seq * 0x9e3779b97f4a7c15ull, 0);
    memset(e, 0, sizeof(*e));
    e->seq = seq;
    e->org = fh->org;
    e->at = "2026-03-01T08:00:00Z";
    e->actor = actor;
    e->action = "payout.created";
    e->entity_type = "payout";
    e->entity_id = entity_id;
    e->metadata = metadata;
    e->prev_hash = seq == 1 ? ZEROS : v->hash[seq - 1];
    e->hash = v->hash[seq];
    fh->n_events++;
}

static void add_events(struct env *v, int n)
{
    for (int i = 0; i < n; i++)
        add_event(v, "alice", "po-1", "{\"amount\":\"100.00\"}");
}

/* Run the sink once; counts and errors start afresh for each run. */
static int run_sink(struct env *v)
{
    v->fh.n_counts = 0;
    v->fh.n_errors = 0;
    v->fh.last_error[0] = '\0';
    return fh_run_plugin(&v->fh, "audit_jsonl");
}

static void run_ok(struct env *v)
{
    int rc = run_sink(v);
    ck_assert_msg(rc == PAYRUN_OK, "run failed (%d): %s", rc, v->fh.last_error);
}

static const char *audit_path(struct env *v)
{
    return fh_path(&v->fh, "audit.jsonl");
}

/* ---- a tiny JSON checker: enough to prove each line is one JSON value --- */

struct jp {
    const char *s, *end;
};

static int jv_value(struct jp *p, int depth);

static void jv_ws(struct jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t'))
        p->s++;
}

static int jv_lit(struct jp *p, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, lit, n) != 0)
        return 0;
    p->s += n;
    return 1;
}

static int jv_string(struct jp *p)
{
    if (p->s >= p->end || *p->s != '"')
        return 0;
    for (p->s++; p->s < p->end; p->s++) {
        unsigned char c = (unsigned char)*p->s;
        if (c == '"') {
            p->s++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++p->s >= p->end)
                return 0;
            if (*p->s == 'u') {
                for (int i = 0; i < 4; i++) {
                    char h;
                    if (++p->s >= p->end)
                        return 0;
                    h = *p->s;
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F')))
                        return 0;
                }
            } else if (!strchr("\"\\/bfnrt", *p->s)) {
                return 0;
            }
        }
    }
    return 0;
}

static int jv_digits(struct jp *p)
{
    const char *b = p->s;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
        p->s++;
    return p->s > b;
}

static int jv_number(struct jp *p)
{
    if (p->s < p->end && *p->s == '-')
        p->s++;
    if (!jv_digits(p))
        return 0;
    if (p->s < p->end && *p->s == '.' && (p->s++, !jv_digits(p)))
        return 0;
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        return jv_digits(p);
    }
    return 1;
}

static int jv_container(struct jp *p, char close, int is_object, int depth)
{
    p->s++;
    jv_ws(p);
    if (p->s < p->end && *p->s == close)
        return p->s++, 1;
    for (;;) {
        jv_ws(p);
        if (is_object) {
            if (!jv_string(p))
                return 0;
            jv_ws(p);
            if (p->s >= p->end || *p->s++ != ':')
                return 0;
        }
        if (!jv_value(p, depth + 1))
            return 0;
        jv_ws(p);
        if (p->s >= p->end)
            return 0;
        if (*p->s == close)
            return p->s++, 1;
        if (*p->s++ != ',')
            return 0;
    }
}

static int jv_value(struct jp *p, int depth)
{
    if (depth > 32)
        return 0;
    jv_ws(p);
    if (p->s >= p->end)
        return 0;
    switch (*p->s) {
    case '{':
        return jv_container(p, '}', 1, depth);
    case '[':
        return jv_container(p, ']', 0, depth);
    case '"':
        return jv_string(p);
    case 't':
        return jv_lit(p, "true");
    case 'f':
        return jv_lit(p, "false");
    case 'n':
        return jv_lit(p, "null");
    default:
        return jv_number(p);
    }
}

static int json_line_valid(const char *s, size_t n)
{
    struct jp p = {s, s + n};
    if (!jv_value(&p, 0))
        return 0;
    jv_ws(&p);
    return p.s == p.end;
}

/* Check the file holds events 1..n, one valid JSON line each; returns the
 * file's text for further checks (caller frees). */
static char *check_jsonl(const char *path, int n)
{
    char *text = fh_read_file(path);
    const char *line;
    int seen = 0;

    ck_assert_msg(text != NULL, "%s is missing", path);
    for (line = text; *line; seen++) {
        const char *nl = strchr(line, '\n'), *d;
        int64_t seq = 0;

        ck_assert_msg(nl != NULL, "line %d has no newline", seen + 1);
        ck_assert_msg(strncmp(line, "{\"seq\":", 7) == 0, "line %d: %.40s", seen + 1, line);
        for (d = line + 7; *d >= '0' && *d <= '9' && seq < 1000000; d++)
            seq = seq * 10 + (*d - '0');
        ck_assert_int_eq(seq, seen + 1);
        ck_assert_msg(json_line_valid(line, (size_t)(nl - line)), "line %d is not JSON: %.*s",
                      seen + 1, nl - line > 200 ? 200 : (int)(nl - line), line);
        line = nl + 1;
    }
    ck_assert_int_eq(seen, n);
    return text;
}

/* The text of line `n` (1-based), copied into `buf`. */
static const char *line_of(const char *text, int n, char *buf, size_t cap)
{
    const char *nl;
    while (--n > 0) {
        text = strchr(text, '\n');
        ck_assert_ptr_nonnull(text);
        text++;
    }
    nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_lt((size_t)(nl - text), cap);
    memcpy(buf, text, (size_t)(nl - text));
    buf[nl - text] = '\0';
    return buf;
}

static void cut_file(const char *path, off_t drop)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_ge(sb.st_size, drop);
    ck_assert_int_eq(truncate(path, sb.st_size - drop), 0);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(first_run_writes_all_events)
{
    struct env *v = new_env();
    char want[1024], got[1024];
    char *text;

    add_events(v, 5);
    run_ok(v);
    text = check_jsonl(audit_path(v), 5);
    snprintf(want, sizeof(want),
             "{\"seq\":1,\"org\":\"acme\",\"at\":\"2026-03-01T08:00:00Z\",\"actor\":\"alice\","
             "\"action\":\"payout.created\",\"entity_type\":\"payout\",\"entity_id\":\"po-1\","
             "\"metadata\":{\"amount\":\"100.00\"},\"prev_hash\":\"%s\",\"hash\":\"%s\"}",
             ZEROS, v->hash[1]);
    ck_assert_str_eq(line_of(text, 1, got, sizeof(got)), want);
    ck_assert_ptr_nonnull(strstr(line_of(text, 5, got, sizeof(got)), v->hash[4]));
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 5);
    free(text);
    free_env(v);
}
END_TEST

START_TEST(new_file_mode)
{
    struct env *v = new_env();
    struct stat sb;

    add_events(v, 1);
    run_ok(v);
    ck_assert_int_eq(stat(audit_path(v), &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777 & ~0640, 0);
    ck_assert_int_eq(sb.st_mode & 0600, 0600);
    free_env(v);
}
END_TEST

START_TEST(no_events_gives_empty_file)
{
    struct env *v = new_env();
    char *text;

    run_ok(v);
    text = check_jsonl(audit_path(v), 0);
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 0);
    free(text);
    free_env(v);
}
END_TEST

START_TEST(second_run_appends_only_new)
{
    struct env *v = new_env();
    char *first, *second;

    add_events(v, 3);
    run_ok(v);
    first = check_jsonl(audit_path(v), 3);
    add_events(v, 4);
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 4);
    second = check_jsonl(audit_path(v), 7);
    ck_assert_int_eq(strncmp(first, second, strlen(first)), 0);
    free(first);
    free(second);
    free_env(v);
}
END_TEST

START_TEST(rerun_without_new_events_changes_nothing)
{
    struct env *v = new_env();
    char *first, *second;

    add_events(v, 3);
    run_ok(v);
    first = check_jsonl(audit_path(v), 3);
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 0);
    second = check_jsonl(audit_path(v), 3);
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
    free_env(v);
}
END_TEST

/* Cut the file `drop` bytes short, as a crash mid-write would, then rerun:
 * the file must come back byte for byte, each event once. */
static void cut_and_repair(int events, off_t drop, int resent)
{
    struct env *v = new_env();
    char *whole, *repaired;

    add_events(v, events);
    run_ok(v);
    whole = check_jsonl(audit_path(v), events);
    cut_file(audit_path(v), drop);
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), resent);
    repaired = check_jsonl(audit_path(v), events);
    ck_assert_str_eq(repaired, whole);
    free(whole);
    free(repaired);
    free_env(v);
}

START_TEST(cut_mid_line_is_repaired)
{
    cut_and_repair(4, 40, 1);
}
END_TEST

START_TEST(cut_before_newline_is_repaired)
{
    cut_and_repair(4, 1, 1); /* the JSON is whole, but a line ends with '\n' */
}
END_TEST

START_TEST(cut_in_first_line_is_repaired)
{
    struct env *v = new_env();
    struct stat sb;

    add_events(v, 1);
    run_ok(v);
    ck_assert_int_eq(stat(audit_path(v), &sb), 0);
    free_env(v);
    cut_and_repair(1, sb.st_size - 5, 1); /* no newline left at all */
}
END_TEST

START_TEST(cut_then_more_events)
{
    struct env *v = new_env();
    char *text;

    add_events(v, 4);
    run_ok(v);
    cut_file(audit_path(v), 17);
    add_events(v, 2);
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 3);
    text = check_jsonl(audit_path(v), 6);
    free(text);
    free_env(v);
}
END_TEST

/* A file of many blocks whose last line alone spans several: the cursor is
 * found by reading back from the end, and the long cut line is dropped. */
START_TEST(large_file_and_long_partial_line)
{
    struct env *v = new_env();
    char *whole, *repaired;

    for (int b = 0; b < 4; b++) {
        char *m = v->big[b];
        size_t n = 0;
        n += (size_t)snprintf(m + n, sizeof(v->big[0]) - n, "{\"k\":%d,\"pad\":\"", b);
        for (; n < sizeof(v->big[0]) - 64; n++)
            m[n] = (char)('a' + n % 26);
        snprintf(m + n, sizeof(v->big[0]) - n, "\",\"nested\":{\"x\":[1,2,{\"y\":null}]}}");
    }
    for (int i = 0; i < 120; i++)
        add_event(v, "bob", "po-big", v->big[i % 4]);
    run_ok(v);
    whole = check_jsonl(audit_path(v), 120);
    cut_file(audit_path(v), 9000); /* well inside the last line's metadata */
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 1);
    repaired = check_jsonl(audit_path(v), 120);
    ck_assert_str_eq(repaired, whole);
    free(whole);
    free(repaired);
    add_events(v, 2);
    run_ok(v);
    ck_assert_int_eq(fh_count(&v->fh, "forwarded"), 2);
    free(check_jsonl(audit_path(v), 122));
    free_env(v);
}
END_TEST

START_TEST(metadata_is_verbatim)
{
    struct env *v = new_env();
    const char *meta = "{\"before\":{\"amount\":\"100.00\",\"notes\":null},"
                       "\"after\":{\"amount\":\"120.00\",\"tags\":[\"a\",\"b\\\"c\"],"
                       "\"deep\":{\"x\":{\"y\":[1,-2.5e3,true]}}}}";
    char want[1024], got[1024];
    char *text;

    add_event(v, "alice", "po-1", meta);
    add_event(v, "alice", "po-2", NULL);
    add_event(v, "alice", "po-3", "{\"a\":\r\n  1}");
    run_ok(v);
    text = check_jsonl(audit_path(v), 3);
    snprintf(want, sizeof(want), "\"metadata\":%s,\"prev_hash\":", meta);
    ck_assert_ptr_nonnull(strstr(line_of(text, 1, got, sizeof(got)), want));
    ck_assert_ptr_nonnull(strstr(line_of(text, 2, got, sizeof(got)), "\"metadata\":{},"));
    /* raw line breaks would split the event; as JSON whitespace they are spaces */
    ck_assert_ptr_nonnull(strstr(line_of(text, 3, got, sizeof(got)), "\"metadata\":{\"a\":    1},"));
    free(text);
    free_env(v);
}
END_TEST

START_TEST(strings_are_escaped)
{
    struct env *v = new_env();
    char got[1024];
    char *text;

    add_event(v, "al\"ice\\bob\nnew\x01\x1f\tZo\xc3\xab", "po\r\n\"x\"", "{}");
    run_ok(v);
    text = check_jsonl(audit_path(v), 1);
    line_of(text, 1, got, sizeof(got));
    ck_assert_msg(strstr(got, "\"actor\":\"al\\\"ice\\\\bob\\u000anew\\u0001\\u001f\\u0009Zo"
                              "\xc3\xab\",") != NULL,
                  "%s", got);
    ck_assert_msg(strstr(got, "\"entity_id\":\"po\\u000d\\u000a\\\"x\\\"\",") != NULL, "%s", got);
    free(text);
    free_env(v);
}
END_TEST

START_TEST(missing_directory_is_an_error)
{
    struct env *v = new_env();

    fh_set(&v->fh, "path", "no/such/dir/audit.jsonl");
    add_events(v, 2);
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_IO);
    ck_assert_msg(strstr(v->fh.last_error, "no/such/dir/audit.jsonl") != NULL, "%s",
                  v->fh.last_error);
    ck_assert_msg(strstr(v->fh.last_error, "No such file or directory") != NULL, "%s",
                  v->fh.last_error);
    ck_assert_ptr_nonnull(strstr(v->fh.last_hint, "directory"));
    free_env(v);
}
END_TEST

/* A write that fails (here: the file size limit, standing in for a full
 * disk) is reported with the file and the system's reason; the partial
 * line it leaves is repaired by the next run. */
START_TEST(write_failure_reported_then_repaired)
{
    struct env *v = new_env();
    struct rlimit old, small;
    void (*old_handler)(int);
    char *text;

    for (int i = 0; i < 20; i++)
        add_event(v, "carol", "po-w", "{\"pad\":\"0123456789012345678901234567890123456789\"}");
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 1000;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_IO);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    ck_assert_msg(strstr(v->fh.last_error, "cannot write audit file") != NULL, "%s",
                  v->fh.last_error);
    ck_assert_msg(strstr(v->fh.last_error, audit_path(v)) != NULL, "%s", v->fh.last_error);
    ck_assert_msg(strstr(v->fh.last_error, "File too large") != NULL, "%s", v->fh.last_error);

    run_ok(v);
    text = check_jsonl(audit_path(v), 20);
    free(text);
    free_env(v);
}
END_TEST

START_TEST(configured_path_is_used)
{
    struct env *v = new_env();

    fh_set(&v->fh, "path", "trail.jsonl");
    add_events(v, 2);
    run_ok(v);
    free(check_jsonl(fh_path(&v->fh, "trail.jsonl"), 2));
    ck_assert_int_ne(access(audit_path(v), F_OK), 0);
    free_env(v);
}
END_TEST

static void refused(const char *content, const char *why)
{
    struct env *v = new_env();
    char *after;

    fh_write_file(&v->fh, "audit.jsonl", content);
    add_events(v, 2);
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(v->fh.last_error, why) != NULL, "%s", v->fh.last_error);
    after = fh_read_file(audit_path(v));
    ck_assert_str_eq(after, content); /* refused without a change */
    free(after);
    free_env(v);
}

START_TEST(foreign_file_refused_unchanged)
{
    refused("not an audit file at all\nhalf", "does not start with {\"seq\":");
    refused("\n", "too short");
    refused("{\"seq\":x,\"hash\":\"a\"}\n", "no positive seq");
    refused("{\"seq\":1}\n", "no ',' after its seq");
    refused("{\"seq\":99999999999999999999,\"hash\":\"a\"}\n", "beyond 64 bits");
    refused("{\"seq\":1,\"org\":\"acme\"}\n", "does not end with a \"hash\"");
}
END_TEST

START_TEST(edited_file_refused)
{
    struct env *v = new_env();
    char *before, *after;

    add_events(v, 3);
    run_ok(v);
    before = fh_read_file(audit_path(v));
    v->fh.events[2].hash = "not-the-hash-in-the-file";
    add_events(v, 1);
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(v->fh.last_error, "does not match the audit trail at seq 3") != NULL,
                  "%s", v->fh.last_error);
    after = fh_read_file(audit_path(v));
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    free_env(v);
}
END_TEST

START_TEST(file_ahead_of_trail_refused)
{
    struct env *v = new_env();
    char *before, *after;

    add_events(v, 5);
    run_ok(v);
    before = fh_read_file(audit_path(v));
    v->fh.n_events = 3; /* as if pointed at another, younger database */
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_INPUT);
    ck_assert_msg(strstr(v->fh.last_error, "ends at seq 5") != NULL, "%s", v->fh.last_error);
    after = fh_read_file(audit_path(v));
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    free_env(v);
}
END_TEST

START_TEST(another_orgs_file_refused)
{
    struct env *v = new_env();

    add_events(v, 2);
    run_ok(v);
    /* Another org's trail has a seq 2 too, but not with this hash. */
    v->fh.org = "globex";
    v->fh.events[1].org = "globex";
    v->fh.events[1].hash = ZEROS;
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(v->fh.last_error, "another org"));
    free_env(v);
}
END_TEST

START_TEST(directory_as_path_is_an_error)
{
    struct env *v = new_env();

    ck_assert_int_eq(mkdir(fh_path(&v->fh, "adir"), 0700), 0);
    fh_set(&v->fh, "path", "adir");
    add_events(v, 1);
    ck_assert_int_eq(run_sink(v), PAYRUN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(v->fh.last_error, "adir"));
    free_env(v);
}
END_TEST

/* ---- documentation ------------------------------------------------------ */

/* The README's key table lists exactly the descriptor's keys. */
START_TEST(readme_matches_descriptor)
{
    fh_check_readme("audit_jsonl", PAYRUN_KIND_AUDIT_SINK);
}
END_TEST

Suite *audit_jsonl_suite(void)
{
    Suite *s = suite_create("audit_jsonl");
    TCase *tc = tcase_create("sink");

    tcase_add_test(tc, first_run_writes_all_events);
    tcase_add_test(tc, new_file_mode);
    tcase_add_test(tc, no_events_gives_empty_file);
    tcase_add_test(tc, second_run_appends_only_new);
    tcase_add_test(tc, rerun_without_new_events_changes_nothing);
    tcase_add_test(tc, cut_mid_line_is_repaired);
    tcase_add_test(tc, cut_before_newline_is_repaired);
    tcase_add_test(tc, cut_in_first_line_is_repaired);
    tcase_add_test(tc, cut_then_more_events);
    tcase_add_test(tc, large_file_and_long_partial_line);
    tcase_add_test(tc, metadata_is_verbatim);
    tcase_add_test(tc, strings_are_escaped);
    tcase_add_test(tc, missing_directory_is_an_error);
    tcase_add_test(tc, write_failure_reported_then_repaired);
    tcase_add_test(tc, configured_path_is_used);
    tcase_add_test(tc, foreign_file_refused_unchanged);
    tcase_add_test(tc, edited_file_refused);
    tcase_add_test(tc, file_ahead_of_trail_refused);
    tcase_add_test(tc, another_orgs_file_refused);
    tcase_add_test(tc, directory_as_path_is_an_error);
    tcase_add_test(tc, readme_matches_descriptor);
    suite_add_tcase(s, tc);
    return s;
}
