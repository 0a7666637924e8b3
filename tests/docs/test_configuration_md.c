/*
 * test_configuration_md.c: docs/configuration.md documents every key that
 * the pipeline file and the shipped plugins accept, exactly as declared,
 * so that the reference cannot drift from the code:
 *
 *  - the first table under "## Top-level keys" names, in order, the keys
 *    core/config.c accepts at the top of the file (config_file_keys), each
 *    with the same required flag and default;
 *  - the table after "Each stage is a map with exactly these keys:" names
 *    the keys of a stage (config_stage_keys) the same way;
 *  - the value-type table names every key type `plugins describe` shows;
 *  - under "## Shipped plugins" there is one "### NAME (kind)" section for
 *    each plugin in the build's plugin directory, and no other, each with
 *    the key table the fake host's fh_doc_keys_match() expects (the
 *    format of the plugins' READMEs).
 *
 * The type and meaning columns of the file's own keys are prose and are
 * not compared.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fake_host.h"
#include "plugin_loader.h"

#define DOC SRC_DIR "/docs/configuration.md"

/* The cells of the table rows that follow the first line starting with
 * `header` after the line `after`: rows[i][j], up to max_rows rows of up
 * to 8 cells; returns the number of rows, or -1 if the table is missing. */
typedef struct cells {
    char cell[8][512];
    int n;
    int line;
} cells;

static int read_table(const char *text, const char *after, const char *header, cells *rows,
                      int max_rows)
{
    const char *p = text;
    int lineno = 1, n = 0, state = 0; /* 0 looking for `after`, 1 for the header, 2 rows */
    size_t alen = strlen(after), hlen = strlen(header);

    while (*p) {
        size_t len = strcspn(p, "\n");
        if (state == 0 && len == alen && strncmp(p, after, alen) == 0) {
            state = 1;
        } else if (state == 1 && strncmp(p, header, hlen) == 0) {
            state = 2;
            p += len + (p[len] == '\n'); /* the header; the |---| line follows */
            lineno++;
            len = strcspn(p, "\n");
        } else if (state == 2) {
            const char *c = p + 1, *end = p + len;
            if (len == 0 || *p != '|')
                break;
            ck_assert_int_lt(n, max_rows);
            rows[n].n = 0;
            rows[n].line = lineno;
            while (c < end && rows[n].n < 8) {
                const char *bar = memchr(c, '|', (size_t)(end - c));
                size_t clen;
                if (bar == NULL)
                    break;
                clen = (size_t)(bar - c);
                while (clen > 0 && c[0] == ' ')
                    c++, clen--;
                while (clen > 0 && c[clen - 1] == ' ')
                    clen--;
                snprintf(rows[n].cell[rows[n].n++], sizeof(rows[0].cell[0]), "%.*s", (int)clen,
                         c);
                c = bar + 1;
            }
            n++;
        }
        p += len + (p[len] == '\n');
        lineno++;
    }
    return state == 2 ? n : -1;
}

/* Each row of `rows` is one of `keys`, in order: name, required (column
 * `req_col`) and, when def_col >= 0, the default in backquotes. */
static void check_keys(const char *what, const cells *rows, int n,
                       const struct payrun_config_key *keys, int req_col, int def_col)
{
    int i = 0;

    for (const struct payrun_config_key *k = keys; k->name; k++, i++) {
        char name[128], def[256];

        ck_assert_msg(i < n, DOC ": the %s table lacks the key \"%s\"", what, k->name);
        snprintf(name, sizeof(name), "`%s`", k->name);
        ck_assert_msg(strcmp(rows[i].cell[0], name) == 0,
                      DOC ":%d: the %s table has %s where the code has %s", rows[i].line, what,
                      rows[i].cell[0], name);
        ck_assert_msg(strcmp(rows[i].cell[req_col], k->required ? "yes" : "no") == 0,
                      DOC ":%d: %s is %s, the table says \"%s\"", rows[i].line, name,
                      k->required ? "required" : "optional", rows[i].cell[req_col]);
        if (def_col < 0)
            continue;
        snprintf(def, sizeof(def), k->default_value ? "`%s`" : "%s",
                 k->default_value ? k->default_value : "");
        ck_assert_msg(strcmp(rows[i].cell[def_col], def) == 0,
                      DOC ":%d: the default of %s is \"%s\" in the code, \"%s\" in the table",
                      rows[i].line, name, def, rows[i].cell[def_col]);
    }
    ck_assert_msg(i == n, DOC ":%d: the %s table has %s, which the code does not accept",
                  rows[i < n ? i : 0].line, what, rows[i < n ? i : 0].cell[0]);
}

START_TEST(file_keys)
{
    char *text = fh_read_file(DOC);
    cells rows[32];
    int n;

    ck_assert_ptr_nonnull(text);
    n = read_table(text, "## Top-level keys", "| key | type | required | default | meaning |",
                   rows, 32);
    ck_assert_msg(n >= 0, DOC ": no key table under \"## Top-level keys\"");
    check_keys("top-level", rows, n, config_file_keys(), 2, 3);
    n = read_table(text, "Each stage is a map with exactly these keys:",
                   "| key | type | required | meaning |", rows, 32);
    ck_assert_msg(n >= 0, DOC ": no table of a stage's keys");
    check_keys("stage", rows, n, config_stage_keys(), 2, -1);
    free(text);
}
END_TEST

START_TEST(value_types)
{
    char *text = fh_read_file(DOC);
    cells rows[32];
    int n;

    ck_assert_ptr_nonnull(text);
    n = read_table(text, "Value types used by plugin keys:", "| type | accepts |", rows, 32);
    ck_assert_msg(n >= 0, DOC ": no table of value types");
    for (int t = PAYRUN_KEY_STRING; t <= PAYRUN_KEY_INPUT; t++) {
        char name[64];
        int found = 0;
        snprintf(name, sizeof(name), "`%s`", plugin_key_type_name(t));
        for (int i = 0; i < n; i++)
            found |= strcmp(rows[i].cell[0], name) == 0;
        ck_assert_msg(found, DOC ": the value-type table lacks %s", name);
    }
    ck_assert_int_eq(n, PAYRUN_KEY_INPUT);
    free(text);
}
END_TEST

/* "### NAME (kind)", with the kind as the loader names it, '_' as ' '. */
static void heading(const struct payrun_plugin *d, char *out, size_t cap)
{
    snprintf(out, cap, "### %s (%s)", d->name, plugin_kind_name(d->kind));
    for (char *c = strchr(out, '('); c && *c; c++)
        if (*c == '_')
            *c = ' ';
}

START_TEST(plugin_keys)
{
    const char *dirs[] = {PLUGIN_BUILD_DIR};
    loaded_plugin **list = NULL;
    size_t n = 0;
    pr_err err = {0};
    char *text = fh_read_file(DOC), why[8192];
    const char *p, *end;

    ck_assert_ptr_nonnull(text);
    ck_assert_msg(plugin_scan(dirs, 1, &list, &n, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(n >= 9, "only %zu plugins in " PLUGIN_BUILD_DIR, n);
    for (size_t i = 0; i < n; i++) {
        char h[160];
        heading(list[i]->desc, h, sizeof(h));
        ck_assert_msg(fh_doc_keys_match(DOC, h, list[i]->desc, why, sizeof(why)) == 0, "%s",
                      why);
    }
    /* and no section for a plugin that is not shipped */
    p = strstr(text, "\n## Shipped plugins\n");
    ck_assert_msg(p != NULL, DOC ": no \"## Shipped plugins\" section");
    p += strlen("\n## Shipped plugins\n");
    end = strstr(p, "\n## ");
    for (const char *s = p; (s = strstr(s, "\n### ")) != NULL && (end == NULL || s < end); s++) {
        char h[160];
        size_t len = strcspn(s + 1, "\n");
        int known = 0;
        for (size_t i = 0; i < n; i++) {
            heading(list[i]->desc, h, sizeof(h));
            known |= strlen(h) == len && strncmp(s + 1, h, len) == 0;
        }
        ck_assert_msg(known, DOC ": \"%.*s\" is not a shipped plugin (NAME (kind))", (int)len,
                      s + 1);
    }
    plugin_list_free(list, n);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("configuration.md");
    TCase *tc = tcase_create("keys");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, file_keys);
    tcase_add_test(tc, value_types);
    tcase_add_test(tc, plugin_keys);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
