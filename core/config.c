/*
 * config.c: loading and checking the pipeline file (SPEC section 6).
 *
 * libyaml's event API feeds a small tree of our own (cfg_node) instead of
 * its document API, so the limits are ours: aliases are refused outright
 * (no alias bombs), nesting depth and node count are bounded while parsing,
 * duplicate keys are caught, and every node keeps the 1-based line and
 * column that error messages name. A second pass turns the tree into
 * struct config, checking each key against the keys allowed at its place.
 * Plugins' `with:` blocks are checked later by config_check_stage, once the
 * plugins (and so the keys they declare) are known.
 */
/* realpath() is an XSI interface: glibc declares it only under this. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "payrun/plugin.h"

#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 100000
/* Far beyond any real pipeline file; bounds what one read can allocate. */
#define CFG_MAX_FILE (16u * 1024u * 1024u)
#define ORG_MAX 64
#define PLUGIN_NAME_MAX 64

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static const char *const role_names[] = {"preparer", "approver", "payer"};
static const unsigned role_bits[] = {ROLE_PREPARER, ROLE_APPROVER, ROLE_PAYER};

/*
 * The file's own keys, declared like a plugin's so that one routine reports
 * unknown and missing keys everywhere. Type 0 marks a key whose value has a
 * shape of its own (sequence, map) and is checked by hand. The defaults
 * here are the ones applied below, and docs/configuration.md is tested
 * against this table (config_file_keys).
 */
static const struct payrun_config_key top_keys[] = {
    {.name = "version", .type = PAYRUN_KEY_INT, .required = 1, .help = "always 1"},
    {.name = "org", .type = PAYRUN_KEY_STRING, .required = 1,
     .help = "the organization, e.g. acme"},
    {.name = "currency", .type = PAYRUN_KEY_STRING, .required = 1,
     .help = "an ISO 4217 code, e.g. USD"},
    {.name = "database", .type = PAYRUN_KEY_PATH, .required = 1,
     .help = "the SQLite file, e.g. var/{org}.db"},
    {.name = "plugin_path", .type = 0},
    {.name = "output_dir", .type = PAYRUN_KEY_PATH, .default_value = "out/{org}/{period}"},
    {.name = "actors", .type = 0},
    {.name = "allow_actor_override", .type = PAYRUN_KEY_BOOL, .default_value = "false"},
    {.name = "busy_timeout_ms", .type = PAYRUN_KEY_INT, .default_value = "5000"},
    {.name = "pipelines", .type = 0, .required = 1,
     .help = "each pipeline's name and its list of stages"},
    {.name = NULL},
};

static const struct payrun_config_key stage_keys[] = {
    {.name = "stage", .type = PAYRUN_KEY_STRING, .required = 1,
     .help = "the stage's name, e.g. import"},
    {.name = "plugin", .type = PAYRUN_KEY_STRING, .required = 1,
     .help = "the plugin that runs the stage, e.g. attribution_csv"},
    {.name = "with", .type = 0},
    {.name = NULL},
};

/* ---- messages ---------------------------------------------------------- */

static int err_at(pr_err *err, int code, const char *file, int line, int col,
                  const char *fmt, ...) PR_PRINTF(6, 7);

static int err_at(pr_err *err, int code, const char *file, int line, int col,
                  const char *fmt, ...)
{
    char what[sizeof(err->msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return pr_err_set(err, code, "%s:%d:%d: %s", file, line, col, what);
}

static int oom(pr_err *err)
{
    return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
}

/* What a node is, for "found ..." in type errors. */
static const char *describe(const cfg_node *v, char *buf, size_t cap)
{
    if (v->kind == CFG_MAP)
        return "a map";
    if (v->kind == CFG_SEQ)
        return "a sequence";
    if (v->plain && v->text[0] == '\0')
        return "an empty value";
    if (v->plain)
        snprintf(buf, cap, "\"%.60s\"", v->text);
    else
        snprintf(buf, cap, "the quoted string \"%.60s\"", v->text);
    return buf;
}

/* "a, b, c" from a key table, for the allowed-keys list. */
static void key_list(const struct payrun_config_key *keys, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; keys != NULL && keys[i].name != NULL && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", keys[i].name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* ---- a small string builder -------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

/* A NULL builder swallows everything: checking a template builds nothing. */
static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b == NULL || b->oom)
        return;
    if (n >= SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *dup_text(const char *s, pr_err *err)
{
    char *d = strdup(s);
    if (d == NULL)
        oom(err);
    return d;
}

/* `rel` made absolute against `dir`; an absolute `rel` is kept as it is. */
static int join_path(const char *dir, const char *rel, char **out, pr_err *err)
{
    sbuf b = {0};

    if (rel[0] != '/' && dir != NULL) {
        size_t n = strlen(dir);
        sb_add(&b, dir, n);
        if (n == 0 || dir[n - 1] != '/')
            sb_add(&b, "/", 1);
    }
    sb_puts(&b, rel);
    if (b.oom || b.p == NULL) {
        free(b.p);
        return oom(err);
    }
    *out = b.p;
    return 0;
}

/* ---- path templates ----------------------------------------------------- */

enum tmpl_period {
    TMPL_KEEP_PERIOD, /* leave {period} for later (output_dir, checks) */
    TMPL_NEED_PERIOD, /* {period} with no period given is an error */
    TMPL_NO_PERIOD    /* {period} may not appear at all (database) */
};

/*
 * Expand {org} and {period} in `tmpl`. With out == NULL the template is only
 * checked. A NULL org keeps {org} as written. Errors carry no position; the
 * caller prefixes one when the template came from the file.
 */
static int tmpl_expand(const char *tmpl, const char *what, const char *org,
                       const char *period, enum tmpl_period mode, char **out,
                       pr_err *err)
{
    sbuf b = {0}, *o = out != NULL ? &b : NULL;
    const char *s = tmpl;

    while (*s != '\0') {
        const char *open = strpbrk(s, "{}");
        const char *close, *name;
        size_t n;

        if (open == NULL) {
            sb_puts(o, s);
            break;
        }
        sb_add(o, s, (size_t)(open - s));
        if (*open == '}') {
            pr_err_set(err, EXIT_CONFIG, "unmatched \"}\" in \"%s\"", tmpl);
            pr_err_hint(err, "placeholders are written {org} or {period}");
            goto fail;
        }
        close = strpbrk(open + 1, "{}");
        if (close == NULL || *close == '{') {
            pr_err_set(err, EXIT_CONFIG, "unmatched \"{\" in \"%s\"", tmpl);
            pr_err_hint(err, "placeholders are written {org} or {period}");
            goto fail;
        }
        name = open + 1;
        n = (size_t)(close - name);
        if (n == 3 && memcmp(name, "org", 3) == 0) {
            sb_puts(o, org != NULL ? org : "{org}");
        } else if (n == 3 && memcmp(name, "run", 3) == 0 && mode != TMPL_NO_PERIOD) {
            /* The run's number is known only when a run starts: output
             * paths keep {run} and the runner fills it in. */
            sb_puts(o, "{run}");
        } else if (n == 6 && memcmp(name, "period", 6) == 0) {
            if (mode == TMPL_NO_PERIOD) {
                pr_err_set(err, EXIT_CONFIG,
                           "\"%s\" cannot use {period}: it is the same for every period",
                           what);
                pr_err_hint(err, "remove {period} from \"%s\"; {org} is allowed", tmpl);
                goto fail;
            }
            if (period != NULL) {
                sb_puts(o, period);
            } else if (mode == TMPL_NEED_PERIOD) {
                pr_err_set(err, EXIT_USAGE, "\"%s\" needs a period to expand {period}", tmpl);
                pr_err_hint(err, "pass --period YYYY-MM");
                goto fail;
            } else {
                sb_puts(o, "{period}");
            }
        } else {
            pr_err_set(err, EXIT_CONFIG,
                       "unknown placeholder \"{%.*s}\" in \"%s\"; "
                       "allowed placeholders: {org}, {period}, and {run} in output paths",
                       (int)(n > 64 ? 64 : n), name, tmpl);
            pr_err_hint(err, "use {org} or {period}, or remove the braces");
            goto fail;
        }
        s = close + 1;
    }
    if (out != NULL) {
        sb_add(o, "", 0);
        if (b.oom || b.p == NULL) {
            oom(err);
            goto fail;
        }
        *out = b.p;
        return 0;
    }
    free(b.p);
    return 0;
fail:
    free(b.p);
    return -1;
}

/* ---- the node tree ------------------------------------------------------ */

static void node_free(cfg_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys != NULL)
            node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->text);
    free(n);
}

const cfg_node *cfg_map_get(const cfg_node *map, const char *key)
{
    if (map == NULL || map->kind != CFG_MAP || key == NULL)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->text, key) == 0)
            return map->items[i];
    return NULL;
}

static int node_pos_cmp(const cfg_node *a, const cfg_node *b)
{
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

static int text_pos_cmp(const void *x, const void *y)
{
    const cfg_node *a = *(const cfg_node *const *)x;
    const cfg_node *b = *(const cfg_node *const *)y;
    int r = strcmp(a->text, b->text);

    return r != 0 ? r : node_pos_cmp(a, b);
}

/*
 * Find two scalars with the same text, reporting the pair whose second one
 * comes first in the file. Sorting keeps this O(n log n): a map may hold
 * tens of thousands of keys within the node limit. Returns 1 when found,
 * 0 when all differ, -1 when out of memory.
 */
static int find_dup(const cfg_node *const *nodes, size_t n, const cfg_node **first,
                    const cfg_node **second)
{
    const cfg_node **s;
    size_t g = 0;
    int found = 0;

    if (n < 2)
        return 0;
    s = malloc(n * sizeof(*s));
    if (s == NULL)
        return -1;
    memcpy(s, nodes, n * sizeof(*s));
    qsort(s, n, sizeof(*s), text_pos_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(s[i]->text, s[g]->text) != 0) {
            g = i;
            continue;
        }
        if (i == g + 1 && (!found || node_pos_cmp(s[i], *second) < 0)) {
            *first = s[g];
            *second = s[i];
            found = 1;
        }
    }
    free(s);
    return found;
}

/* ---- YAML events to the tree ------------------------------------------- */

typedef struct frame {
    cfg_node *node; /* open collection, not yet attached to its parent */
    size_t cap;
    cfg_node *key; /* CFG_MAP: a key still waiting for its value */
} frame;

typedef struct loader {
    const char *file;
    const char *text;
    size_t len;
    frame stack[CFG_MAX_DEPTH];
    int depth;
    size_t nodes;
    int docs;
    cfg_node *root;
    pr_err *err;
} loader;

static void loader_free(loader *ld)
{
    for (int i = 0; i < ld->depth; i++) {
        node_free(ld->stack[i].node);
        node_free(ld->stack[i].key);
    }
    ld->depth = 0;
    node_free(ld->root);
    ld->root = NULL;
}

static int mark_line(yaml_mark_t m)
{
    return m.line < (size_t)INT32_MAX ? (int)m.line + 1 : INT32_MAX;
}

static int mark_col(yaml_mark_t m)
{
    return m.column < (size_t)INT32_MAX ? (int)m.column + 1 : INT32_MAX;
}

/* Whether line `line` (0-based) of the text has a tab before its first
 * non-blank character: libyaml's messages for this never say "tab". */
static int line_indented_with_tab(const loader *ld, size_t line)
{
    size_t i = 0;

    for (size_t l = 0; l < line && i < ld->len; i++)
        if (ld->text[i] == '\n')
            l++;
    for (; i < ld->len && (ld->text[i] == ' ' || ld->text[i] == '\t'); i++)
        if (ld->text[i] == '\t')
            return 1;
    return 0;
}

static int yaml_fail(loader *ld, const yaml_parser_t *p)
{
    pr_err *err = ld->err;

    if (p->error == YAML_MEMORY_ERROR)
        return oom(err);
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors give a byte offset, not a mark. */
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->len; i++) {
            unsigned char ch = (unsigned char)ld->text[i];
            if (ch == '\n') {
                line++;
                col = 1;
            } else if ((ch & 0xC0) != 0x80) {
                col++;
            }
        }
        err_at(err, EXIT_CONFIG, ld->file, line, col, "invalid YAML: %s",
               p->problem ? p->problem : "unreadable text");
        return pr_err_hint(err, "save the file as UTF-8 text");
    }
    if (p->context != NULL &&
        (p->context_mark.line != p->problem_mark.line ||
         p->context_mark.column != p->problem_mark.column))
        err_at(err, EXIT_CONFIG, ld->file, mark_line(p->problem_mark),
               mark_col(p->problem_mark), "invalid YAML: %s, %s at line %d, column %d",
               p->problem ? p->problem : "syntax error", p->context,
               mark_line(p->context_mark), mark_col(p->context_mark));
    else if (p->context != NULL)
        err_at(err, EXIT_CONFIG, ld->file, mark_line(p->problem_mark),
               mark_col(p->problem_mark), "invalid YAML: %s, %s",
               p->problem ? p->problem : "syntax error", p->context);
    else
        err_at(err, EXIT_CONFIG, ld->file, mark_line(p->problem_mark),
               mark_col(p->problem_mark), "invalid YAML: %s",
               p->problem ? p->problem : "syntax error");
    if ((p->problem != NULL && strstr(p->problem, "tab") != NULL) ||
        line_indented_with_tab(ld, p->problem_mark.line))
        return pr_err_hint(err, "YAML does not allow tabs in indentation; indent with spaces");
    return pr_err_hint(err,
                       "check the indentation and the quoting on that line and the one before");
}

/* Anchors are refused along with aliases: an anchor is only ever there to
 * be aliased, and refusing it names the place where the sharing starts. */
static int check_props(loader *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag, const char *default_tag)
{
    int line = mark_line(ev->start_mark), col = mark_col(ev->start_mark);

    if (anchor != NULL) {
        err_at(ld->err, EXIT_CONFIG, ld->file, line, col,
               "anchors and aliases are not supported (found \"&%.64s\")",
               (const char *)anchor);
        return pr_err_hint(ld->err, "write the value out in full instead of using & and *");
    }
    if (tag != NULL && strcmp((const char *)tag, default_tag) != 0) {
        const char *t = (const char *)tag;
        size_t pl = strlen(YAML_TAG_PREFIX);
        if (strncmp(t, YAML_TAG_PREFIX, pl) == 0)
            err_at(ld->err, EXIT_CONFIG, ld->file, line, col,
                   "tag \"!!%.64s\" is not supported", t + pl);
        else
            err_at(ld->err, EXIT_CONFIG, ld->file, line, col,
                   "tag \"%.64s\" is not supported", t);
        return pr_err_hint(ld->err,
                           "remove the tag; each value is read as the type its key expects");
    }
    return 0;
}

static cfg_node *new_node(loader *ld, cfg_kind kind, const yaml_event_t *ev)
{
    cfg_node *n;

    if (ld->nodes >= CFG_MAX_NODES) {
        err_at(ld->err, EXIT_CONFIG, ld->file, mark_line(ev->start_mark),
               mark_col(ev->start_mark), "more than %d nodes in the file", CFG_MAX_NODES);
        pr_err_hint(ld->err, "a pipeline file this large is almost certainly a mistake");
        return NULL;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        oom(ld->err);
        return NULL;
    }
    ld->nodes++;
    n->kind = kind;
    n->line = mark_line(ev->start_mark);
    n->col = mark_col(ev->start_mark);
    return n;
}

/* Hand a finished node to its parent (or make it the root). Takes
 * ownership of `n` whether it succeeds or not. */
static int attach(loader *ld, cfg_node *n)
{
    frame *f;
    char what[96];

    if (ld->depth == 0) {
        ld->root = n;
        return 0;
    }
    f = &ld->stack[ld->depth - 1];
    if (f->node->kind == CFG_MAP && f->key == NULL) {
        if (n->kind != CFG_SCALAR) {
            err_at(ld->err, EXIT_CONFIG, ld->file, n->line, n->col,
                   "map keys must be scalars, found %s", describe(n, what, sizeof(what)));
            pr_err_hint(ld->err, "write keys as plain names, e.g. \"org:\"");
            node_free(n);
            return -1;
        }
        f->key = n;
        return 0;
    }
    if (f->node->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        cfg_node **items = realloc(f->node->items, cap * sizeof(*items));
        if (items == NULL) {
            node_free(n);
            return oom(ld->err);
        }
        f->node->items = items;
        if (f->node->kind == CFG_MAP) {
            cfg_node **keys = realloc(f->node->keys, cap * sizeof(*keys));
            if (keys == NULL) {
                node_free(n);
                return oom(ld->err);
            }
            f->node->keys = keys;
        }
        f->cap = cap;
    }
    if (f->node->kind == CFG_MAP) {
        f->node->keys[f->node->n] = f->key;
        f->key = NULL;
    }
    f->node->items[f->node->n++] = n;
    return 0;
}

static int on_scalar(loader *ld, const yaml_event_t *ev)
{
    const yaml_char_t *tag = ev->data.scalar.tag;
    cfg_node *n;

    if (check_props(ld, ev, ev->data.scalar.anchor, tag, YAML_TAG_PREFIX "str"))
        return -1;
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
        err_at(ld->err, EXIT_CONFIG, ld->file, mark_line(ev->start_mark),
               mark_col(ev->start_mark), "a NUL character in a value is not supported");
        return pr_err_hint(ld->err, "remove the \\0 escape from the value");
    }
    n = new_node(ld, CFG_SCALAR, ev);
    if (n == NULL)
        return -1;
    n->text = malloc(ev->data.scalar.length + 1);
    if (n->text == NULL) {
        node_free(n);
        return oom(ld->err);
    }
    memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
    n->text[ev->data.scalar.length] = '\0';
    /* An explicit !!str makes even `true` a string, as a quote would. */
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && tag == NULL;
    return attach(ld, n);
}

static int on_start(loader *ld, const yaml_event_t *ev, cfg_kind kind)
{
    const yaml_char_t *anchor, *tag;
    cfg_node *n;

    if (kind == CFG_MAP) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (check_props(ld, ev, anchor, tag, kind == CFG_MAP ? YAML_TAG_PREFIX "map"
                                                          : YAML_TAG_PREFIX "seq"))
        return -1;
    if (ld->depth == CFG_MAX_DEPTH) {
        err_at(ld->err, EXIT_CONFIG, ld->file, mark_line(ev->start_mark),
               mark_col(ev->start_mark), "nesting deeper than %d levels is not supported",
               CFG_MAX_DEPTH);
        return pr_err_hint(ld->err, "flatten the structure; no key of payrun needs this depth");
    }
    n = new_node(ld, kind, ev);
    if (n == NULL)
        return -1;
    ld->stack[ld->depth].node = n;
    ld->stack[ld->depth].cap = 0;
    ld->stack[ld->depth].key = NULL;
    ld->depth++;
    return 0;
}

static int on_end(loader *ld)
{
    cfg_node *n = ld->stack[ld->depth - 1].node;

    ld->depth--;
    /* libyaml always pairs keys with values; this is only belt and braces. */
    node_free(ld->stack[ld->depth].key);
    ld->stack[ld->depth].key = NULL;
    if (n->kind == CFG_MAP) {
        const cfg_node *first = NULL, *second = NULL;
        int r = find_dup((const cfg_node *const *)n->keys, n->n, &first, &second);
        if (r != 0) {
            if (r < 0)
                oom(ld->err);
            else {
                err_at(ld->err, EXIT_CONFIG, ld->file, second->line, second->col,
                       "duplicate key \"%.64s\" (first at line %d, column %d)", second->text,
                       first->line, first->col);
                pr_err_hint(ld->err, "remove one of the two");
            }
            node_free(n);
            return -1;
        }
    }
    return attach(ld, n);
}

static int on_event(loader *ld, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (ld->docs++ > 0) {
            err_at(ld->err, EXIT_CONFIG, ld->file, mark_line(ev->start_mark),
                   mark_col(ev->start_mark), "more than one document in the file");
            return pr_err_hint(ld->err, "a pipeline file holds one YAML document; "
                                        "remove the \"---\" line and what follows");
        }
        return 0;
    case YAML_ALIAS_EVENT:
        err_at(ld->err, EXIT_CONFIG, ld->file, mark_line(ev->start_mark),
               mark_col(ev->start_mark), "aliases are not supported (found \"*%.64s\")",
               (const char *)ev->data.alias.anchor);
        return pr_err_hint(ld->err, "write the value out in full instead of using & and *");
    case YAML_SCALAR_EVENT:
        return on_scalar(ld, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(ld, ev, CFG_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(ld, ev, CFG_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(ld);
    default:
        return 0;
    }
}

static int parse_tree(const char *file, const char *text, size_t len, cfg_node **out,
                      pr_err *err)
{
    loader ld;
    yaml_parser_t p;
    int done = 0, rc = -1;

    memset(&ld, 0, sizeof(ld));
    ld.file = file;
    ld.text = text;
    ld.len = len;
    ld.err = err;
    if (!yaml_parser_initialize(&p))
        return oom(err);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        yaml_event_t ev;
        int r;

        if (!yaml_parser_parse(&p, &ev)) {
            yaml_fail(&ld, &p);
            goto fail;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        r = on_event(&ld, &ev);
        yaml_event_delete(&ev);
        if (r != 0)
            goto fail;
    }
    if (ld.root == NULL || (ld.root->kind == CFG_SCALAR && ld.root->plain &&
                            ld.root->text[0] == '\0')) {
        err_at(err, EXIT_CONFIG, file, 1, 1, "the file is empty");
        pr_err_hint(err, "a pipeline file needs at least version, org, currency, "
                         "database and pipelines");
        goto fail;
    }
    *out = ld.root;
    ld.root = NULL;
    rc = 0;
fail:
    loader_free(&ld);
    yaml_parser_delete(&p);
    return rc;
}

/* ---- reading the file --------------------------------------------------- */

static int read_file(const char *path, char **out, size_t *out_len, pr_err *err)
{
    FILE *f;
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;

    f = fopen(path, "rb");
    if (f == NULL && errno == ENOMEM)
        return oom(err);
    if (f == NULL) {
        pr_err_set(err, EXIT_NOINPUT, "cannot open config file \"%s\": %s", path,
                   strerror(errno));
        return pr_err_hint(err, "check the path given with --config or PAYRUN_CONFIG");
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        pr_err_set(err, EXIT_NOINPUT, "cannot read config file \"%s\": %s", path,
                   strerror(EISDIR));
        pr_err_hint(err, "give the pipeline file itself, not its directory");
        goto done;
    }
    for (;;) {
        size_t got;
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb;
            if (ncap > CFG_MAX_FILE + 8192)
                ncap = CFG_MAX_FILE + 8192;
            if (ncap <= cap) {
                pr_err_set(err, EXIT_CONFIG, "%s: the file is larger than %u MiB", path,
                           CFG_MAX_FILE / (1024u * 1024u));
                pr_err_hint(err, "a pipeline file this large is almost certainly a mistake");
                goto done;
            }
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                oom(err);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len > CFG_MAX_FILE) {
            pr_err_set(err, EXIT_CONFIG, "%s: the file is larger than %u MiB", path,
                       CFG_MAX_FILE / (1024u * 1024u));
            pr_err_hint(err, "a pipeline file this large is almost certainly a mistake");
            goto done;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        pr_err_set(err, EXIT_IOERR, "cannot read config file \"%s\": %s", path, strerror(errno));
        goto done;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

/* Absolute directory of the file, symlinks resolved, so relative paths in
 * it mean the same from any working directory. */
static int file_dir(const char *path, char **out, pr_err *err)
{
    const char *slash = strrchr(path, '/');
    char *part, *abs;

    if (slash == NULL)
        part = strdup(".");
    else if (slash == path)
        part = strdup("/");
    else
        part = strndup(path, (size_t)(slash - path));
    if (part == NULL)
        return oom(err);
    abs = realpath(part, NULL);
    if (abs == NULL) {
        int e = errno;
        free(part);
        if (e == ENOMEM)
            return oom(err);
        return pr_err_set(err, EXIT_NOINPUT, "cannot resolve the directory of \"%s\": %s", path,
                          strerror(e));
    }
    free(part);
    *out = abs;
    return 0;
}

/* ---- scalar values ------------------------------------------------------ */

/* Plain -?digits into int64, by hand: 0, or -1 not an integer, -2 out of
 * range. A leading zero is refused because YAML 1.1 reads 010 as octal. */
static int parse_int(const char *s, int64_t *out)
{
    int neg = *s == '-';
    uint64_t v = 0, limit;
    const char *d = s + neg;

    if (*d == '\0' || (d[0] == '0' && d[1] != '\0'))
        return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    for (; *d != '\0'; d++) {
        unsigned digit;
        if (*d < '0' || *d > '9')
            return -1;
        digit = (unsigned)(*d - '0');
        if (v > (limit - digit) / 10u)
            return -2;
        v = v * 10u + digit;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

static int is_null(const cfg_node *v)
{
    return v->kind == CFG_SCALAR && v->plain && v->text[0] == '\0';
}


static const char *cfile(const config *c)
{
    return c != NULL && c->path != NULL ? c->path : "config";
}

static int type_error(const config *c, const cfg_node *v, const char *name,
                      const char *expected, const char *hint, pr_err *err)
{
    char what[96];

    err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col, "\"%s\" must be %s, found %s", name,
           expected, describe(v, what, sizeof(what)));
    return pr_err_hint(err, "%s", hint);
}

static const struct payrun_config_key *key_find(const struct payrun_config_key *keys,
                                                const char *name)
{
    for (size_t i = 0; keys != NULL && keys[i].name != NULL; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/*
 * Unknown keys (in file order, listing the allowed ones) and then missing
 * required keys, reported at (line, col): the map that lacks the key, or
 * the stage when there is no `with:` map at all. `map` may be NULL.
 * `ctx` completes the message, e.g. ` for plugin "export_csv"`.
 */
static int check_map_keys(const config *c, const cfg_node *map,
                          const struct payrun_config_key *keys, const char *ctx, int line,
                          int col, const char *unknown_hint, pr_err *err)
{
    for (size_t i = 0; map != NULL && i < map->n; i++) {
        const cfg_node *k = map->keys[i];
        char allowed[512];

        if (key_find(keys, k->text) != NULL)
            continue;
        key_list(keys, allowed, sizeof(allowed));
        if (allowed[0] != '\0')
            err_at(err, EXIT_CONFIG, cfile(c), k->line, k->col,
                   "unknown key \"%.64s\"%s; allowed keys: %s", k->text, ctx, allowed);
        else
            err_at(err, EXIT_CONFIG, cfile(c), k->line, k->col,
                   "unknown key \"%.64s\"%s; no keys are allowed here", k->text, ctx);
        return pr_err_hint(err, "%s", unknown_hint);
    }
    for (size_t i = 0; keys != NULL && keys[i].name != NULL; i++) {
        if (!keys[i].required || cfg_map_get(map, keys[i].name) != NULL)
            continue;
        err_at(err, EXIT_CONFIG, cfile(c), line, col, "missing required key \"%s\"%s",
               keys[i].name, ctx);
        if (keys[i].help != NULL)
            return pr_err_hint(err, "add \"%s:\" (%s)", keys[i].name, keys[i].help);
        return pr_err_hint(err, "add \"%s:\"", keys[i].name);
    }
    return 0;
}

/* A map checked against a key table: its keys, then each value by type. */
static int check_map(const config *c, const cfg_node *map, const struct payrun_config_key *keys,
                     const char *ctx, pr_err *err)
{
    if (check_map_keys(c, map, keys, ctx, map->line, map->col,
                       "check the spelling; \"payrun plugins describe PLUGIN\" lists a "
                       "plugin's keys",
                       err))
        return -1;
    for (size_t i = 0; i < map->n; i++)
        if (config_check_value(c, key_find(keys, map->keys[i]->text), map->items[i], err))
            return -1;
    return 0;
}

static int check_enum(const config *c, const struct payrun_config_key *key, const cfg_node *v,
                      pr_err *err)
{
    const char *s = key->choices;
    char list[384];
    size_t len = 0, tl = strlen(v->text);

    for (;;) {
        const char *bar = strchr(s, '|');
        size_t n = bar != NULL ? (size_t)(bar - s) : strlen(s);
        if (n == tl && memcmp(s, v->text, n) == 0)
            return 0;
        if (len < sizeof(list)) {
            int w = snprintf(list + len, sizeof(list) - len, "%s%.*s", len ? ", " : "",
                             (int)n, s);
            if (w > 0)
                len += (size_t)w;
        }
        if (bar == NULL)
            break;
        s = bar + 1;
    }
    if (v->plain)
        err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
               "\"%s\" must be one of %s, found \"%.64s\"", key->name, list, v->text);
    else
        err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
               "\"%s\" must be one of %s, found the quoted string \"%.64s\"", key->name, list,
               v->text);
    return pr_err_hint(err, "choose one of the listed values");
}

int config_check_value(const config *c, const struct payrun_config_key *key, const cfg_node *v,
                       pr_err *err)
{
    pr_err sub;
    int64_t x;

    if (key == NULL || v == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "config_check_value: no key or no value");
    pr_err_clear(&sub);
    switch (key->type) {
    case PAYRUN_KEY_STRING:
        if (v->kind != CFG_SCALAR || is_null(v))
            return type_error(c, v, key->name, "a string", "write a single value", err);
        return 0;
    case PAYRUN_KEY_BOOL:
        if (v->kind != CFG_SCALAR || !v->plain ||
            (strcmp(v->text, "true") != 0 && strcmp(v->text, "false") != 0))
            return type_error(c, v, key->name, "true or false",
                              "write true or false, without quotes", err);
        return 0;
    case PAYRUN_KEY_INT:
        if (v->kind != CFG_SCALAR || !v->plain)
            return type_error(c, v, key->name, "an integer",
                              "write a whole number without quotes, e.g. 5000", err);
        switch (parse_int(v->text, &x)) {
        case 0:
            return 0;
        case -2:
            err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
                   "\"%s\" is out of range: %.64s does not fit in a 64-bit integer",
                   key->name, v->text);
            return pr_err_hint(err, "use a smaller number");
        default:
            return type_error(c, v, key->name, "an integer",
                              "write a whole number without quotes or leading zeros, e.g. 5000",
                              err);
        }
    case PAYRUN_KEY_MONEY: {
        char example[16] = "100";
        if (c == NULL || c->currency == NULL)
            return pr_err_set(err, EXIT_SOFTWARE, "no currency to check \"%s\" against",
                              key->name);
        if (c->currency->exponent > 0) {
            example[3] = '.';
            for (int i = 0; i < c->currency->exponent && i < 8; i++)
                example[4 + i] = '0';
        }
        if (v->kind != CFG_SCALAR || is_null(v))
            return type_error(c, v, key->name, "an amount of money",
                              "write an amount, e.g. \"100.00\"", err);
        if (money_parse(v->text, strlen(v->text), c->currency->exponent, &x, &sub) == 0)
            return 0;
        err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col, "\"%s\" must be an amount in %s: %s",
               key->name, c->currency->code, sub.msg);
        return pr_err_hint(err, "write a plain decimal with at most %d decimals, e.g. \"%s\"",
                           c->currency->exponent, example);
    }
    case PAYRUN_KEY_RATE:
        if (v->kind != CFG_SCALAR || is_null(v))
            return type_error(c, v, key->name, "a percentage", "write a rate, e.g. \"12.5\"", err);
        if (rate_parse(v->text, strlen(v->text), &x, &sub) == 0)
            return 0;
        err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
               "\"%s\" must be a percentage from 0 to 100: %s", key->name, sub.msg);
        return pr_err_hint(err, "write a percentage with at most 6 decimals, e.g. \"12.5\"");
    case PAYRUN_KEY_PATH:
    case PAYRUN_KEY_INPUT:
        if (key->type == PAYRUN_KEY_INPUT && v->kind == CFG_SCALAR && strstr(v->text, "{run}")) {
            err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
                   "\"%s\" is an input: {run} names outputs only", key->name);
            return pr_err_hint(err, "name the input file with {org} and {period}");
        }
        if (v->kind != CFG_SCALAR || v->text[0] == '\0')
            return type_error(c, v, key->name, "a path", "write a file or directory path", err);
        if (tmpl_expand(v->text, key->name, NULL, NULL, TMPL_KEEP_PERIOD, NULL, err) == 0)
            return 0;
        return pr_err_prefix(err, "%s:%d:%d", cfile(c), v->line, v->col);
    case PAYRUN_KEY_ENUM:
        if (key->choices == NULL)
            return pr_err_set(err, EXIT_SOFTWARE, "key \"%s\" is an enum without choices",
                              key->name);
        if (v->kind != CFG_SCALAR || is_null(v)) {
            char what[96];
            err_at(err, EXIT_CONFIG, cfile(c), v->line, v->col,
                   "\"%s\" must be one of the choices \"%s\", found %s", key->name, key->choices,
                   describe(v, what, sizeof(what)));
            return pr_err_hint(err, "write one of the choices as a single value");
        }
        return check_enum(c, key, v, err);
    case PAYRUN_KEY_LIST: {
        char ctx[128];
        if (v->kind != CFG_SEQ)
            return type_error(c, v, key->name, "a list of maps",
                              "write one \"- key: value\" map per item", err);
        snprintf(ctx, sizeof(ctx), " in an item of \"%.64s\"", key->name);
        for (size_t i = 0; i < v->n; i++) {
            const cfg_node *item = v->items[i];
            if (item->kind != CFG_MAP) {
                char what[96];
                err_at(err, EXIT_CONFIG, cfile(c), item->line, item->col,
                       "each item of \"%s\" must be a map, found %s", key->name,
                       describe(item, what, sizeof(what)));
                return pr_err_hint(err, "write each item as a map, e.g. { name: x, rate: \"10\" }");
            }
            if (check_map(c, item, key->fields, ctx, err))
                return -1;
        }
        return 0;
    }
    default:
        return pr_err_set(err, EXIT_SOFTWARE, "key \"%s\" has an unknown type %d", key->name,
                          key->type);
    }
}

int config_check_stage(const config *c, const config_stage *st,
                       const struct payrun_plugin *plugin, pr_err *err)
{
    char ctx[128];

    if (c == NULL || st == NULL || plugin == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "config_check_stage: missing argument");
    snprintf(ctx, sizeof(ctx), " for plugin \"%.64s\"", plugin->name ? plugin->name : "?");
    if (st->with == NULL)
        return check_map_keys(c, NULL, plugin->keys, ctx, st->line, st->col, "", err);
    if (st->with->kind != CFG_MAP)
        return type_error(c, st->with, "with", "a map of the plugin's keys",
                          "write the plugin's keys under \"with:\"", err);
    return check_map(c, st->with, plugin->keys, ctx, err);
}

/* ---- the file's own keys ------------------------------------------------ */

static int load_version(config *c, const cfg_node *v, pr_err *err)
{
    int64_t x = 0;

    if (config_check_value(c, key_find(top_keys, "version"), v, err))
        return -1;
    parse_int(v->text, &x);
    if (x != 1) {
        err_at(err, EXIT_CONFIG, c->path, v->line, v->col,
               "unsupported version %lld; this payrun reads version 1", (long long)x);
        return pr_err_hint(err, "set \"version: 1\", or use the payrun release the file was "
                                "written for");
    }
    c->version = 1;
    return 0;
}

static int load_org(config *c, const cfg_node *v, pr_err *err)
{
    size_t n;

    if (config_check_value(c, key_find(top_keys, "org"), v, err))
        return -1;
    n = strlen(v->text);
    for (size_t i = 0; i < n; i++) {
        char ch = v->text[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            n = 0;
    }
    if (n == 0 || n > ORG_MAX) {
        err_at(err, EXIT_CONFIG, c->path, v->line, v->col,
               "bad org \"%.64s\": use 1 to %d characters from a-z, 0-9, \"_\" and \"-\"",
               v->text, ORG_MAX);
        return pr_err_hint(err, "org names are lower case, e.g. \"acme\"");
    }
    c->org = dup_text(v->text, err);
    return c->org != NULL ? 0 : -1;
}

static int load_currency(config *c, const cfg_node *v, pr_err *err)
{
    const char *t = v->text;

    if (config_check_value(c, key_find(top_keys, "currency"), v, err))
        return -1;
    c->currency = currency_find(t);
    if (c->currency != NULL)
        return 0;
    err_at(err, EXIT_CONFIG, c->path, v->line, v->col, "unknown currency \"%.16s\"", t);
    if (strlen(t) == 3 && t[0] >= 'a' && t[0] <= 'z')
        return pr_err_hint(err, "currency codes are upper case, e.g. \"USD\"");
    return pr_err_hint(err, "use an ISO 4217 code such as USD, EUR or JPY");
}

/* A path of the file with {org} expanded and no {period}, made absolute. */
static int load_fixed_path(config *c, const char *name, const cfg_node *v, char **out,
                           pr_err *err)
{
    struct payrun_config_key key = {.name = name, .type = PAYRUN_KEY_PATH};
    char *exp = NULL;
    int rc;

    if (config_check_value(c, &key, v, err))
        return -1;
    if (tmpl_expand(v->text, name, c->org, NULL, TMPL_NO_PERIOD, &exp, err))
        return pr_err_prefix(err, "%s:%d:%d", c->path, v->line, v->col);
    rc = join_path(c->dir, exp, out, err);
    free(exp);
    return rc;
}

static int load_plugin_path(config *c, const cfg_node *v, pr_err *err)
{
    if (v->kind == CFG_SCALAR) {
        c->plugin_path = calloc(1, sizeof(*c->plugin_path));
        if (c->plugin_path == NULL)
            return oom(err);
        c->n_plugin_path = 1;
        return load_fixed_path(c, "plugin_path", v, &c->plugin_path[0], err);
    }
    if (v->kind != CFG_SEQ)
        return type_error(c, v, "plugin_path", "a list of directories",
                          "write plugin_path: [dir1, dir2]", err);
    if (v->n == 0)
        return 0;
    c->plugin_path = calloc(v->n, sizeof(*c->plugin_path));
    if (c->plugin_path == NULL)
        return oom(err);
    c->n_plugin_path = v->n;
    for (size_t i = 0; i < v->n; i++)
        if (load_fixed_path(c, "plugin_path", v->items[i], &c->plugin_path[i], err))
            return -1;
    return 0;
}

static int load_output_dir(config *c, const cfg_node *v, pr_err *err)
{
    const char *tmpl = key_find(top_keys, "output_dir")->default_value;

    if (v != NULL) {
        if (config_check_value(c, key_find(top_keys, "output_dir"), v, err))
            return -1;
        tmpl = v->text;
    }
    /* Kept as a template: {period} is only known when a command runs. */
    return join_path(c->dir, tmpl, &c->output_dir, err);
}

static int load_actors(config *c, const cfg_node *v, pr_err *err)
{
    if (v->kind != CFG_MAP)
        return type_error(c, v, "actors", "a map of actor names to roles",
                          "write e.g. actors: { alice: [preparer, approver] }", err);
    if (v->n == 0)
        return 0;
    c->actors = calloc(v->n, sizeof(*c->actors));
    if (c->actors == NULL)
        return oom(err);
    c->n_actors = v->n;
    for (size_t i = 0; i < v->n; i++) {
        const cfg_node *name = v->keys[i], *roles = v->items[i];
        config_actor *a = &c->actors[i];

        if (name->text[0] == '\0') {
            err_at(err, EXIT_CONFIG, c->path, name->line, name->col, "empty actor name");
            return pr_err_hint(err, "name the actor by their operating-system user name");
        }
        a->name = dup_text(name->text, err);
        if (a->name == NULL)
            return -1;
        if (roles->kind != CFG_SEQ)
            return type_error(c, roles, name->text, "a list of roles",
                              "write e.g. alice: [preparer, approver]", err);
        for (size_t j = 0; j < roles->n; j++) {
            const cfg_node *r = roles->items[j];
            size_t k;

            if (r->kind != CFG_SCALAR || is_null(r))
                return type_error(c, r, "role", "one of preparer, approver, payer",
                                  "write e.g. alice: [preparer, approver]", err);
            for (k = 0; k < sizeof(role_names) / sizeof(role_names[0]); k++)
                if (strcmp(r->text, role_names[k]) == 0)
                    break;
            if (k == sizeof(role_names) / sizeof(role_names[0])) {
                err_at(err, EXIT_CONFIG, c->path, r->line, r->col,
                       "unknown role \"%.64s\" for actor \"%.64s\"; allowed roles: preparer, "
                       "approver, payer",
                       r->text, name->text);
                return pr_err_hint(err, "roles are lower case");
            }
            a->roles |= role_bits[k];
        }
    }
    return 0;
}

static int load_stage(config *c, const config_pipeline *pl, const cfg_node *m, config_stage *st,
                      pr_err *err)
{
    char ctx[128];
    const cfg_node *name, *plugin, *with;
    size_t n;

    snprintf(ctx, sizeof(ctx), " in a stage of pipeline \"%.64s\"", pl->name);
    if (check_map_keys(c, m, stage_keys, ctx, m->line, m->col,
                       "a stage has \"stage\", \"plugin\" and optionally \"with\"; "
                       "the plugin's own keys go under \"with:\"",
                       err))
        return -1;
    name = cfg_map_get(m, "stage");
    plugin = cfg_map_get(m, "plugin");
    with = cfg_map_get(m, "with");
    if (config_check_value(c, &stage_keys[0], name, err) ||
        config_check_value(c, &stage_keys[1], plugin, err))
        return -1;
    if (name->text[0] == '\0') {
        err_at(err, EXIT_CONFIG, c->path, name->line, name->col, "empty stage name");
        return pr_err_hint(err, "name the stage, e.g. import");
    }
    n = strlen(plugin->text);
    for (size_t i = 0; i < n; i++) {
        char ch = plugin->text[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
            n = 0;
    }
    if (n == 0 || n > PLUGIN_NAME_MAX) {
        err_at(err, EXIT_CONFIG, c->path, plugin->line, plugin->col,
               "bad plugin name \"%.64s\": use 1 to %d characters from a-z, 0-9 and \"_\"",
               plugin->text, PLUGIN_NAME_MAX);
        return pr_err_hint(err, "plugin names are lower case, e.g. \"attribution_csv\"");
    }
    if (with != NULL && with->kind != CFG_MAP)
        return type_error(c, with, "with", "a map of the plugin's keys",
                          "write the plugin's keys under \"with:\", or remove it", err);
    st->stage = dup_text(name->text, err);
    st->plugin = dup_text(plugin->text, err);
    if (st->stage == NULL || st->plugin == NULL)
        return -1;
    st->with = with;
    st->line = m->line;
    st->col = m->col;
    return 0;
}

static int load_pipeline(config *c, const cfg_node *key, const cfg_node *v, config_pipeline *pl,
                         pr_err *err)
{
    const cfg_node **names = NULL, *first = NULL, *second = NULL;
    int rc = -1, r;

    pl->line = key->line;
    pl->col = key->col;
    if (key->text[0] == '\0') {
        err_at(err, EXIT_CONFIG, c->path, key->line, key->col, "empty pipeline name");
        return pr_err_hint(err, "name the pipeline, e.g. close");
    }
    pl->name = dup_text(key->text, err);
    if (pl->name == NULL)
        return -1;
    if (v->kind != CFG_SEQ)
        return type_error(c, v, key->text, "a list of stages",
                          "write one \"- stage: NAME\" map per stage", err);
    if (v->n == 0) {
        err_at(err, EXIT_CONFIG, c->path, v->line, v->col, "pipeline \"%.64s\" has no stages",
               key->text);
        return pr_err_hint(err, "add at least one stage: - { stage: NAME, plugin: PLUGIN }");
    }
    pl->stages = calloc(v->n, sizeof(*pl->stages));
    names = calloc(v->n, sizeof(*names));
    if (pl->stages == NULL || names == NULL) {
        oom(err);
        goto done;
    }
    pl->n_stages = v->n;
    for (size_t i = 0; i < v->n; i++) {
        const cfg_node *m = v->items[i];
        char what[96];

        if (m->kind != CFG_MAP) {
            err_at(err, EXIT_CONFIG, c->path, m->line, m->col,
                   "each stage of pipeline \"%.64s\" must be a map, found %s", key->text,
                   describe(m, what, sizeof(what)));
            pr_err_hint(err, "write each stage as - { stage: NAME, plugin: PLUGIN }");
            goto done;
        }
        if (load_stage(c, pl, m, &pl->stages[i], err))
            goto done;
        names[i] = cfg_map_get(m, "stage");
    }
    r = find_dup(names, v->n, &first, &second);
    if (r < 0) {
        oom(err);
        goto done;
    }
    if (r > 0) {
        err_at(err, EXIT_CONFIG, c->path, second->line, second->col,
               "duplicate stage name \"%.64s\" in pipeline \"%.64s\" (first at line %d, column %d)",
               second->text, key->text, first->line, first->col);
        pr_err_hint(err, "give each stage of a pipeline its own name");
        goto done;
    }
    rc = 0;
done:
    free(names);
    return rc;
}

static int load_pipelines(config *c, const cfg_node *v, pr_err *err)
{
    if (v->kind != CFG_MAP)
        return type_error(c, v, "pipelines", "a map of pipeline names to stages",
                          "write e.g. pipelines: { close: [ ... ] }", err);
    if (v->n == 0) {
        err_at(err, EXIT_CONFIG, c->path, v->line, v->col, "no pipelines in \"pipelines\"");
        return pr_err_hint(err, "add at least one pipeline, e.g. close:");
    }
    c->pipelines = calloc(v->n, sizeof(*c->pipelines));
    if (c->pipelines == NULL)
        return oom(err);
    c->n_pipelines = v->n;
    for (size_t i = 0; i < v->n; i++)
        if (load_pipeline(c, v->keys[i], v->items[i], &c->pipelines[i], err))
            return -1;
    return 0;
}

/* The tree to struct config. `version` goes first: a file for another
 * version may well have keys this one does not know. */
static int build(config *c, pr_err *err)
{
    const cfg_node *root = c->root, *v;
    int64_t ms;

    if (root->kind != CFG_MAP) {
        char what[96];
        err_at(err, EXIT_CONFIG, c->path, root->line, root->col,
               "the top level must be a map of keys, found %s", describe(root, what, sizeof(what)));
        return pr_err_hint(err, "start the file with \"version: 1\"");
    }
    v = cfg_map_get(root, "version");
    if (v != NULL && load_version(c, v, err))
        return -1;
    if (check_map_keys(c, root, top_keys, "", root->line, root->col,
                       "check the spelling; keys are lower case", err))
        return -1;
    if (load_org(c, cfg_map_get(root, "org"), err) ||
        load_currency(c, cfg_map_get(root, "currency"), err) ||
        load_fixed_path(c, "database", cfg_map_get(root, "database"), &c->database, err))
        return -1;
    v = cfg_map_get(root, "plugin_path");
    if (v != NULL && load_plugin_path(c, v, err))
        return -1;
    if (load_output_dir(c, cfg_map_get(root, "output_dir"), err))
        return -1;
    v = cfg_map_get(root, "actors");
    if (v != NULL && load_actors(c, v, err))
        return -1;
    v = cfg_map_get(root, "allow_actor_override");
    if (v != NULL && config_check_value(c, key_find(top_keys, "allow_actor_override"), v, err))
        return -1;
    c->allow_actor_override =
        strcmp(v ? v->text : key_find(top_keys, "allow_actor_override")->default_value,
               "true") == 0;
    parse_int(key_find(top_keys, "busy_timeout_ms")->default_value, &c->busy_timeout_ms);
    v = cfg_map_get(root, "busy_timeout_ms");
    if (v != NULL) {
        if (config_check_value(c, key_find(top_keys, "busy_timeout_ms"), v, err))
            return -1;
        parse_int(v->text, &ms);
        if (ms < 0 || ms > 600000) {
            err_at(err, EXIT_CONFIG, c->path, v->line, v->col,
                   "\"busy_timeout_ms\" must be between 0 and 600000, found %lld", (long long)ms);
            return pr_err_hint(err, "how long to wait for a busy database, in milliseconds");
        }
        c->busy_timeout_ms = ms;
    }
    return load_pipelines(c, cfg_map_get(root, "pipelines"), err);
}

/* ---- public entry points ------------------------------------------------ */

int config_load(const char *path, config **out, pr_err *err)
{
    config *c = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = -1;

    if (path == NULL || out == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "config_load: missing argument");
    if (read_file(path, &text, &len, err))
        return -1;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        oom(err);
        goto done;
    }
    c->path = dup_text(path, err);
    if (c->path == NULL || file_dir(path, &c->dir, err))
        goto done;
    if (parse_tree(c->path, text, len, &c->root, err) || build(c, err))
        goto done;
    *out = c;
    c = NULL;
    rc = 0;
done:
    free(text);
    config_free(c);
    return rc;
}

void config_free(config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_plugin_path; i++)
        free(c->plugin_path[i]);
    free(c->plugin_path);
    for (size_t i = 0; i < c->n_actors; i++)
        free(c->actors[i].name);
    free(c->actors);
    for (size_t i = 0; i < c->n_pipelines; i++) {
        config_pipeline *pl = &c->pipelines[i];
        for (size_t j = 0; j < pl->n_stages; j++) {
            free(pl->stages[j].stage);
            free(pl->stages[j].plugin);
        }
        free(pl->stages);
        free(pl->name);
    }
    free(c->pipelines);
    free(c->path);
    free(c->dir);
    free(c->org);
    free(c->database);
    free(c->output_dir);
    node_free(c->root);
    free(c);
}

const config_pipeline *config_pipeline_find(const config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_pipelines; i++)
        if (strcmp(c->pipelines[i].name, name) == 0)
            return &c->pipelines[i];
    return NULL;
}

const config_actor *config_actor_find(const config *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->n_actors; i++)
        if (strcmp(c->actors[i].name, name) == 0)
            return &c->actors[i];
    return NULL;
}

int config_expand_path(const config *c, const char *tmpl, const char *period,
                       const char *base_dir, char **out, pr_err *err)
{
    char *exp = NULL;
    int rc;

    if (c == NULL || c->org == NULL || tmpl == NULL || out == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "config_expand_path: missing argument");
    /* The period becomes part of a path: a checked one cannot hold "/" or "..". */
    if (period != NULL && config_check_period(period, err))
        return -1;
    if (tmpl_expand(tmpl, "path", c->org, period, TMPL_NEED_PERIOD, &exp, err))
        return -1;
    if (base_dir == NULL || exp[0] == '/') {
        *out = exp;
        return 0;
    }
    rc = join_path(base_dir, exp, out, err);
    free(exp);
    return rc;
}

int config_check_period(const char *period, pr_err *err)
{
    int year = 0, month;

    if (period == NULL) {
        pr_err_set(err, EXIT_USAGE, "missing period");
        return pr_err_hint(err, "pass --period YYYY-MM, e.g. --period 2026-02");
    }
    for (int i = 0; i < 7; i++) {
        char ch = period[i];
        if (i == 4 ? ch != '-' : (ch < '0' || ch > '9')) {
            pr_err_set(err, EXIT_USAGE, "bad period \"%.32s\": expected YYYY-MM, e.g. 2026-02",
                       period);
            return pr_err_hint(err, "pass --period YYYY-MM, e.g. --period 2026-02");
        }
        if (i < 4)
            year = year * 10 + (ch - '0');
    }
    if (period[7] != '\0') {
        pr_err_set(err, EXIT_USAGE, "bad period \"%.32s\": expected YYYY-MM, e.g. 2026-02",
                   period);
        return pr_err_hint(err, "pass --period YYYY-MM, e.g. --period 2026-02");
    }
    month = (period[5] - '0') * 10 + (period[6] - '0');
    if (year < 1970) {
        pr_err_set(err, EXIT_USAGE, "bad period \"%s\": expected YYYY-MM with a year from 1970 "
                                    "to 9999", period);
        return pr_err_hint(err, "pass --period YYYY-MM, e.g. --period 2026-02");
    }
    if (month < 1 || month > 12) {
        pr_err_set(err, EXIT_USAGE, "bad period \"%s\": expected YYYY-MM with a month from 01 "
                                    "to 12", period);
        return pr_err_hint(err, "pass --period YYYY-MM, e.g. --period 2026-02");
    }
    return 0;
}

const struct payrun_config_key *config_file_keys(void)
{
    return top_keys;
}

const struct payrun_config_key *config_stage_keys(void)
{
    return stage_keys;
}
