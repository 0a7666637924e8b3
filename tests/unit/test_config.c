/*
 * test_config.c: the pipeline file loader and checker (core/config.c).
 *
 * Every deliberately bad file in tests/fixtures/config/ is loaded and the
 * error is pinned down: exit code, the exact file:line:column, and the
 * phrase that tells the user what is wrong. Plugins' `with:` blocks are
 * checked against plugin descriptors declared here, the way the loader
 * hands real ones to config_check_stage. Files that must be generated
 * (the node and depth limits) are written to a temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "payrun/plugin.h"
#include "suites.h"

#define CFG_DIR FIXTURES_DIR "/config/"

/* ---- plugins the fixtures' stages name --------------------------------- */

static const struct payrun_config_key rule_fields[] = {
    {.name = "name", .type = PAYRUN_KEY_STRING, .required = 1, .help = "the rule's name"},
    {.name = "rate", .type = PAYRUN_KEY_RATE, .required = 1, .help = "percent, e.g. \"12.5\""},
    {.name = "min_amount", .type = PAYRUN_KEY_MONEY},
    {.name = NULL},
};

static const struct payrun_config_key rules_keys[] = {
    {.name = "label", .type = PAYRUN_KEY_STRING},
    {.name = "enabled", .type = PAYRUN_KEY_BOOL, .default_value = "true"},
    {.name = "rounding", .type = PAYRUN_KEY_ENUM, .required = 1, .choices = "half_even|half_up"},
    {.name = "min_payout", .type = PAYRUN_KEY_MONEY},
    {.name = "default_rate", .type = PAYRUN_KEY_RATE},
    {.name = "max_lines", .type = PAYRUN_KEY_INT},
    {.name = "report", .type = PAYRUN_KEY_PATH},
    {.name = "rules", .type = PAYRUN_KEY_LIST, .fields = rule_fields},
    {.name = NULL},
};

static const struct payrun_config_key import_keys[] = {
    {.name = "path", .type = PAYRUN_KEY_PATH, .required = 1},
    {.name = "partners", .type = PAYRUN_KEY_PATH, .required = 1},
    {.name = NULL},
};

static const struct payrun_config_key export_keys[] = {
    {.name = "path", .type = PAYRUN_KEY_PATH, .required = 1},
    {.name = NULL},
};

static const struct payrun_config_key no_keys[] = {{.name = NULL}};

static const struct payrun_plugin rules_plugin = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "commission_rules",
    .kind = PAYRUN_KIND_CALCULATOR,
    .version = "1.0.0",
    .keys = rules_keys,
};

static const struct payrun_plugin import_plugin = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "attribution_csv",
    .kind = PAYRUN_KIND_IMPORTER,
    .version = "1.0.0",
    .keys = import_keys,
};

static const struct payrun_plugin export_plugin = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "export_csv",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .keys = export_keys,
};

static const struct payrun_plugin bank_plugin = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "export_bank",
    .kind = PAYRUN_KIND_EXPORTER,
    .version = "1.0.0",
    .keys = no_keys,
};

static const struct payrun_plugin *plugin_named(const char *name)
{
    const struct payrun_plugin *all[] = {&rules_plugin, &import_plugin, &export_plugin,
                                         &bank_plugin};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

static const config_stage *stage_named(const config_pipeline *pl, const char *name)
{
    for (size_t i = 0; pl != NULL && i < pl->n_stages; i++)
        if (strcmp(pl->stages[i].stage, name) == 0)
            return &pl->stages[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static config *load_ok(const char *path)
{
    config *c = NULL;
    pr_err err = {0};

    ck_assert_msg(config_load(path, &c, &err) == 0, "%s: %s", path, err.msg);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- files the loader must refuse --------------------------------------- */

struct bad_file {
    const char *file;
    int code;
    const char *where; /* "LINE:COL" */
    const char *phrase;
    const char *hint;  /* part of the hint, or NULL */
};

static const struct bad_file bad_files[] = {
    {"bad-unknown-key.yaml", EXIT_CONFIG, "4:1",
     "unknown key \"databse\"; allowed keys: version, org, currency, database, plugin_path, "
     "output_dir, actors, allow_actor_override, busy_timeout_ms, pipelines",
     "spelling"},
    {"bad-wrong-type-version.yaml", EXIT_CONFIG, "1:10",
     "\"version\" must be an integer, found a sequence", NULL},
    {"bad-missing-pipelines.yaml", EXIT_CONFIG, "2:1", "missing required key \"pipelines\"",
     "add \"pipelines:\""},
    {"bad-missing-org.yaml", EXIT_CONFIG, "2:1", "missing required key \"org\"", NULL},
    {"bad-tab-indentation.yaml", EXIT_CONFIG, "7:1",
     "invalid YAML: found character that cannot start any token",
     "YAML does not allow tabs in indentation; indent with spaces"},
    {"bad-duplicate-key.yaml", EXIT_CONFIG, "5:1",
     "duplicate key \"org\" (first at line 2, column 1)", NULL},
    {"bad-unknown-currency.yaml", EXIT_CONFIG, "3:11", "unknown currency \"XYZ\"", "ISO 4217"},
    {"bad-version-2.yaml", EXIT_CONFIG, "1:10",
     "unsupported version 2; this payrun reads version 1", "version: 1"},
    {"bad-alias.yaml", EXIT_CONFIG, "6:10", "aliases are not supported (found \"&stages\")",
     NULL},
    {"bad-alias-only.yaml", EXIT_CONFIG, "2:6", "aliases are not supported (found \"*name\")",
     NULL},
    {"bad-empty.yaml", EXIT_CONFIG, "1:1", "the file is empty", NULL},
    {"bad-empty-comments.yaml", EXIT_CONFIG, "1:1", "the file is empty", NULL},
    {"bad-stage-missing-plugin.yaml", EXIT_CONFIG, "9:7",
     "missing required key \"plugin\" in a stage of pipeline \"close\"", NULL},
    {"bad-unknown-role.yaml", EXIT_CONFIG, "7:21",
     "unknown role \"auditor\" for actor \"carol\"; allowed roles: preparer, approver, payer",
     NULL},
    {"bad-bool-quoted.yaml", EXIT_CONFIG, "5:23",
     "\"allow_actor_override\" must be true or false, found the quoted string \"true\"",
     "without quotes"},
    {"bad-org-uppercase.yaml", EXIT_CONFIG, "2:6",
     "bad org \"Acme\": use 1 to 64 characters from a-z, 0-9", "lower case"},
    {"bad-deep-nesting.yaml", EXIT_CONFIG, "10:44", "nesting deeper than 32 levels", NULL},
    {"bad-two-documents.yaml", EXIT_CONFIG, "8:1", "more than one document", NULL},
    {"bad-unknown-placeholder.yaml", EXIT_CONFIG, "5:13",
     "unknown placeholder \"{orgg}\" in \"out/{orgg}/{period}\"", "{org} or {period}"},
    {"bad-empty-pipeline.yaml", EXIT_CONFIG, "8:8", "pipeline \"pay\" has no stages", NULL},
    {"bad-period-in-database.yaml", EXIT_CONFIG, "4:11", "\"database\" cannot use {period}",
     NULL},
    {"bad-non-scalar-key.yaml", EXIT_CONFIG, "6:5", "map keys must be scalars, found a sequence",
     NULL},
    {"bad-tag.yaml", EXIT_CONFIG, "1:10", "tag \"!!int\" is not supported", NULL},
    {"bad-busy-timeout-range.yaml", EXIT_CONFIG, "5:18",
     "\"busy_timeout_ms\" must be between 0 and 600000, found 700000", NULL},
    {"bad-duplicate-stage.yaml", EXIT_CONFIG, "9:16",
     "duplicate stage name \"import\" in pipeline \"close\" (first at line 7, column 16)", NULL},
    {"bad-stage-unknown-key.yaml", EXIT_CONFIG, "9:7",
     "unknown key \"path\" in a stage of pipeline \"close\"; allowed keys: stage, plugin, with",
     "under \"with:\""},
    {"bad-plugin-name.yaml", EXIT_CONFIG, "8:15", "bad plugin name \"Attribution-CSV\"", NULL},
    {"bad-yaml-syntax.yaml", EXIT_CONFIG, "6:10",
     "invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 5, "
     "column 14",
     NULL},
    {"bad-top-level-sequence.yaml", EXIT_CONFIG, "1:1",
     "the top level must be a map of keys, found a sequence", NULL},
    {"bad-integer-leading-zero.yaml", EXIT_CONFIG, "1:10",
     "\"version\" must be an integer, found \"01\"", "leading zeros"},
    {"bad-invalid-utf8.yaml", EXIT_CONFIG, "2:8", "invalid YAML: invalid leading UTF-8 octet",
     "UTF-8"},
    {"bad-empty-document.yaml", EXIT_CONFIG, "1:1", "the file is empty", NULL},
    {"bad-with-not-a-map.yaml", EXIT_CONFIG, "9:13",
     "\"with\" must be a map of the plugin's keys, found a sequence", NULL},
};

START_TEST(test_bad_file)
{
    const struct bad_file *b = &bad_files[_i];
    char path[512], where[640];
    config *c = NULL;
    pr_err err = {0};

    snprintf(path, sizeof(path), CFG_DIR "%s", b->file);
    snprintf(where, sizeof(where), "%s:%s: ", path, b->where);
    ck_assert_int_eq(config_load(path, &c, &err), -1);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, b->code);
    ck_assert_msg(strncmp(err.msg, where, strlen(where)) == 0, "%s: want \"%s\", got \"%s\"",
                  b->file, where, err.msg);
    ck_assert_msg(strstr(err.msg, b->phrase) != NULL, "%s: want \"%s\" in \"%s\"", b->file,
                  b->phrase, err.msg);
    ck_assert_msg(err.hint[0] != '\0', "%s: no hint for \"%s\"", b->file, err.msg);
    if (b->hint != NULL)
        ck_assert_msg(strstr(err.hint, b->hint) != NULL, "%s: want \"%s\" in hint \"%s\"",
                      b->file, b->hint, err.hint);
}
END_TEST

/* ---- `with:` blocks the plugin's keys refuse ---------------------------- */

struct bad_with {
    const char *file;
    const char *where;
    const char *phrase;
};

static const struct bad_with bad_withs[] = {
    {"bad-with-unknown-key.yaml", "11:9",
     "unknown key \"roundng\" for plugin \"commission_rules\"; allowed keys: label, enabled, "
     "rounding, min_payout, default_rate, max_lines, report, rules"},
    {"bad-with-wrong-type.yaml", "11:18", "\"enabled\" must be true or false, found \"yes\""},
    {"bad-with-int.yaml", "11:20",
     "\"max_lines\" must be an integer, found the quoted string \"5000\""},
    {"bad-with-money.yaml", "11:21", "\"min_payout\" must be an amount in USD: "},
    {"bad-with-rate.yaml", "11:23", "\"default_rate\" must be a percentage from 0 to 100: "},
    {"bad-with-enum.yaml", "10:19",
     "\"rounding\" must be one of half_even, half_up, found \"half_down\""},
    {"bad-with-rule-field.yaml", "13:32",
     "unknown key \"rat\" in an item of \"rules\"; allowed keys: name, rate, min_amount"},
    {"bad-with-rule-missing-rate.yaml", "14:13",
     "missing required key \"rate\" in an item of \"rules\""},
    {"bad-with-rules-not-list.yaml", "11:16",
     "\"rules\" must be a list of maps, found \"gold-resellers\""},
    {"bad-with-missing-required.yaml", "10:9",
     "missing required key \"rounding\" for plugin \"commission_rules\""},
    {"bad-with-no-with.yaml", "7:7",
     "missing required key \"rounding\" for plugin \"commission_rules\""},
    {"bad-with-path-placeholder.yaml", "11:17",
     "unknown placeholder \"{perod}\" in \"reports/{perod}.txt\""},
};

START_TEST(test_bad_with)
{
    const struct bad_with *b = &bad_withs[_i];
    char path[512], where[640];
    config *c;
    const config_stage *st;
    pr_err err = {0};

    snprintf(path, sizeof(path), CFG_DIR "%s", b->file);
    snprintf(where, sizeof(where), "%s:%s: ", path, b->where);
    c = load_ok(path);
    st = stage_named(config_pipeline_find(c, "close"), "commissions");
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(config_check_stage(c, st, &rules_plugin, &err), -1);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_msg(strncmp(err.msg, where, strlen(where)) == 0, "%s: want \"%s\", got \"%s\"",
                  b->file, where, err.msg);
    ck_assert_msg(strstr(err.msg, b->phrase) != NULL, "%s: want \"%s\" in \"%s\"", b->file,
                  b->phrase, err.msg);
    ck_assert_msg(err.hint[0] != '\0', "%s: no hint for \"%s\"", b->file, err.msg);
    config_free(c);
}
END_TEST

/* ---- good files ---------------------------------------------------------- */

START_TEST(test_good_minimal)
{
    config *c = load_ok(CFG_DIR "good-minimal.yaml");
    const config_pipeline *pl;

    ck_assert_int_eq(c->version, 1);
    ck_assert_str_eq(c->org, "acme");
    ck_assert_str_eq(c->currency->code, "USD");
    ck_assert_str_eq(c->path, CFG_DIR "good-minimal.yaml");
    ck_assert_int_eq(c->dir[0], '/');
    ck_assert_int_eq(c->database[0], '/');
    ck_assert_msg(ends_with(c->database, "/config/var/acme.db"), "%s", c->database);
    ck_assert_uint_eq(c->n_plugin_path, 0);
    ck_assert_int_eq(c->output_dir[0], '/');
    ck_assert_msg(ends_with(c->output_dir, "/config/out/{org}/{period}"), "%s", c->output_dir);
    ck_assert_uint_eq(c->n_actors, 0);
    ck_assert_int_eq(c->allow_actor_override, 0);
    ck_assert_int_eq(c->busy_timeout_ms, 5000);
    ck_assert_uint_eq(c->n_pipelines, 1);
    pl = config_pipeline_find(c, "close");
    ck_assert_ptr_nonnull(pl);
    ck_assert_int_eq(pl->line, 6);
    ck_assert_int_eq(pl->col, 3);
    ck_assert_uint_eq(pl->n_stages, 1);
    ck_assert_str_eq(pl->stages[0].stage, "import");
    ck_assert_str_eq(pl->stages[0].plugin, "attribution_csv");
    ck_assert_ptr_null(pl->stages[0].with);
    ck_assert_int_eq(pl->stages[0].line, 7);
    ck_assert_int_eq(pl->stages[0].col, 7);
    ck_assert_ptr_null(config_pipeline_find(c, "pay"));
    ck_assert_ptr_null(config_actor_find(c, "alice"));
    config_free(c);
}
END_TEST

START_TEST(test_good_full)
{
    config *c = load_ok(CFG_DIR "good-full.yaml");
    const config_pipeline *close, *pay;
    const config_actor *a;
    const cfg_node *with, *v, *rules;
    const char *order[] = {"import", "commissions", "export"};
    char want[512];

    ck_assert_str_eq(c->org, "acme-eu_2");
    ck_assert_str_eq(c->currency->code, "EUR");
    ck_assert_msg(ends_with(c->database, "/config/var/acme-eu_2.db"), "%s", c->database);
    snprintf(want, sizeof(want), "%s/var/acme-eu_2.db", c->dir);
    ck_assert_str_eq(c->database, want);
    ck_assert_uint_eq(c->n_plugin_path, 2);
    ck_assert_msg(ends_with(c->plugin_path[0], "/config/build/plugins"), "%s",
                  c->plugin_path[0]);
    ck_assert_int_eq(c->plugin_path[0][0], '/');
    ck_assert_str_eq(c->plugin_path[1], "/opt/payrun/plugins");
    snprintf(want, sizeof(want), "%s/out/{org}/{period}", c->dir);
    ck_assert_str_eq(c->output_dir, want);
    ck_assert_int_eq(c->allow_actor_override, 1);
    ck_assert_int_eq(c->busy_timeout_ms, 250);

    ck_assert_uint_eq(c->n_actors, 3);
    a = config_actor_find(c, "alice");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->roles, ROLE_PREPARER | ROLE_APPROVER);
    a = config_actor_find(c, "bob");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->roles, ROLE_APPROVER | ROLE_PAYER);
    a = config_actor_find(c, "carol");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->roles, 0);
    ck_assert_ptr_null(config_actor_find(c, "dave"));

    ck_assert_uint_eq(c->n_pipelines, 2);
    ck_assert_str_eq(c->pipelines[0].name, "close");
    ck_assert_str_eq(c->pipelines[1].name, "pay");
    close = config_pipeline_find(c, "close");
    pay = config_pipeline_find(c, "pay");
    ck_assert_ptr_eq(close, &c->pipelines[0]);
    ck_assert_ptr_eq(pay, &c->pipelines[1]);
    ck_assert_uint_eq(close->n_stages, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(close->stages[i].stage, order[i]);
    ck_assert_str_eq(close->stages[1].plugin, "commission_rules");
    ck_assert_int_eq(close->stages[1].line, 19);
    ck_assert_int_eq(close->stages[1].col, 7);
    ck_assert_uint_eq(pay->n_stages, 1);
    ck_assert_str_eq(pay->stages[0].stage, "bank-file");
    ck_assert_str_eq(pay->stages[0].plugin, "export_bank");
    ck_assert_ptr_null(pay->stages[0].with);

    /* with: nodes keep their positions for the plugins' own errors. */
    with = close->stages[0].with;
    ck_assert_ptr_nonnull(with);
    ck_assert_int_eq(with->kind, CFG_MAP);
    ck_assert_int_eq(with->line, 18);
    ck_assert_int_eq(with->col, 13);
    v = cfg_map_get(with, "partners");
    ck_assert_str_eq(v->text, "samples/partners.csv");
    ck_assert_int_eq(v->plain, 1);
    ck_assert_int_eq(v->line, 18);
    ck_assert_int_eq(v->col, 68);
    v = cfg_map_get(with, "path");
    ck_assert_int_eq(v->plain, 0);
    ck_assert_str_eq(v->text, "samples/attributions-{period}.csv");

    with = close->stages[1].with;
    ck_assert_int_eq(with->line, 22);
    ck_assert_int_eq(with->col, 9);
    ck_assert_uint_eq(with->n, 8);
    ck_assert_str_eq(with->keys[0]->text, "label");
    v = cfg_map_get(with, "rounding");
    ck_assert_str_eq(v->text, "half_up");
    ck_assert_int_eq(v->line, 24);
    ck_assert_int_eq(v->col, 19);
    rules = cfg_map_get(with, "rules");
    ck_assert_int_eq(rules->kind, CFG_SEQ);
    ck_assert_uint_eq(rules->n, 2);
    ck_assert_int_eq(rules->items[1]->kind, CFG_MAP);
    ck_assert_int_eq(rules->items[1]->line, 31);
    ck_assert_int_eq(rules->items[1]->col, 13);
    ck_assert_str_eq(cfg_map_get(rules->items[1], "min_amount")->text, "100000.00");
    ck_assert_ptr_null(cfg_map_get(with, "nope"));
    ck_assert_ptr_null(cfg_map_get(rules, "name"));
    ck_assert_ptr_null(cfg_map_get(NULL, "name"));

    /* Every stage passes its plugin's checks. */
    for (size_t p = 0; p < c->n_pipelines; p++) {
        for (size_t s = 0; s < c->pipelines[p].n_stages; s++) {
            const config_stage *st = &c->pipelines[p].stages[s];
            const struct payrun_plugin *plugin = plugin_named(st->plugin);
            pr_err err = {0};
            ck_assert_ptr_nonnull(plugin);
            ck_assert_msg(config_check_stage(c, st, plugin, &err) == 0, "%s: %s", st->stage,
                          err.msg);
        }
    }
    config_free(c);
}
END_TEST

/* Relative to the working directory, the file's directory still anchors
 * its paths. */
START_TEST(test_relative_config_path)
{
    char cwd[4096];
    config *c;

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(FIXTURES_DIR), 0);
    c = load_ok("config/good-minimal.yaml");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_str_eq(c->path, "config/good-minimal.yaml");
    ck_assert_int_eq(c->dir[0], '/');
    ck_assert_msg(ends_with(c->dir, "/fixtures/config"), "%s", c->dir);
    ck_assert_msg(ends_with(c->database, "/fixtures/config/var/acme.db"), "%s", c->database);
    config_free(c);
}
END_TEST

START_TEST(test_no_such_file)
{
    config *c = NULL;
    pr_err err = {0};

    ck_assert_int_eq(config_load(CFG_DIR "no-such-file.yaml", &c, &err), -1);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, EXIT_NOINPUT);
    ck_assert_msg(strstr(err.msg, "no-such-file.yaml") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "No such file or directory") != NULL, "%s", err.msg);
    ck_assert_msg(err.hint[0] != '\0', "no hint");

    pr_err_clear(&err);
    ck_assert_int_eq(config_load(FIXTURES_DIR "/config", &c, &err), -1);
    ck_assert_int_eq(err.code, EXIT_NOINPUT);
    ck_assert_ptr_null(c);
    config_free(NULL);
}
END_TEST

/* ---- limits, on generated files ----------------------------------------- */

static char *write_temp(const char *body_head, size_t repeat, const char *unit,
                        const char *body_tail)
{
    const char *tmp = getenv("TMPDIR");
    char *path = malloc(4096);
    FILE *f;
    int fd;

    ck_assert_ptr_nonnull(path);
    snprintf(path, 4096, "%s/payrun-config-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body_head, f);
    for (size_t i = 0; i < repeat; i++)
        fputs(unit, f);
    fputs(body_tail, f);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static const char big_head[] = "version: 1\norg: acme\ncurrency: USD\ndatabase: var/acme.db\n"
                               "pipelines:\n  close:\n    - stage: import\n"
                               "      plugin: attribution_csv\n      with:\n        big: [";

/* 22 nodes around the list: 99978 items make exactly 100000 nodes. */
START_TEST(test_node_limit)
{
    char *ok = write_temp(big_head, 99977, "0,", "0]\n");
    char *over = write_temp(big_head, 99978, "0,", "0]\n");
    config *c;
    pr_err err = {0};

    c = load_ok(ok);
    ck_assert_uint_eq(cfg_map_get(c->pipelines[0].stages[0].with, "big")->n, 99978);
    config_free(c);
    c = NULL;
    ck_assert_int_eq(config_load(over, &c, &err), -1);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_msg(strstr(err.msg, "more than 100000 nodes") != NULL, "%s", err.msg);
    unlink(ok);
    unlink(over);
    free(ok);
    free(over);
}
END_TEST

/* The stage's with: map is the fifth level and big_head opens a sixth, so
 * 26 more brackets reach 32 and 27 go one deeper. */
START_TEST(test_depth_limit)
{
    char close_ok[28] = {0}, close_over[29] = {0};
    char *ok, *over;
    config *c;
    pr_err err = {0};

    memset(close_ok, ']', 27);
    memset(close_over, ']', 28);
    ok = write_temp(big_head, 26, "[", close_ok);
    over = write_temp(big_head, 27, "[", close_over);
    c = load_ok(ok);
    config_free(c);
    c = NULL;
    ck_assert_int_eq(config_load(over, &c, &err), -1);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_msg(strstr(err.msg, ":10:41: nesting deeper than 32 levels") != NULL, "%s",
                  err.msg);
    unlink(ok);
    unlink(over);
    free(ok);
    free(over);
}
END_TEST

/* ---- config_expand_path and config_check_period ------------------------- */

START_TEST(test_expand_path)
{
    config *c = load_ok(CFG_DIR "good-full.yaml");
    char *out = NULL, want[512];
    pr_err err = {0};

    ck_assert_int_eq(config_expand_path(c, "out/{org}/{period}", "2026-02", NULL, &out, &err), 0);
    ck_assert_str_eq(out, "out/acme-eu_2/2026-02");
    free(out);

    ck_assert_int_eq(config_expand_path(c, "{org}.csv", NULL, "/srv/payrun/", &out, &err), 0);
    ck_assert_str_eq(out, "/srv/payrun/acme-eu_2.csv");
    free(out);

    ck_assert_int_eq(config_expand_path(c, "/abs/{period}.csv", "2026-02", "/srv", &out, &err), 0);
    ck_assert_str_eq(out, "/abs/2026-02.csv");
    free(out);

    ck_assert_int_eq(config_expand_path(c, "plain.csv", NULL, "/srv", &out, &err), 0);
    ck_assert_str_eq(out, "/srv/plain.csv");
    free(out);

    ck_assert_int_eq(config_expand_path(c, c->output_dir, "2026-02", NULL, &out, &err), 0);
    snprintf(want, sizeof(want), "%s/out/acme-eu_2/2026-02", c->dir);
    ck_assert_str_eq(out, want);
    free(out);
    out = NULL;

    ck_assert_int_eq(config_expand_path(c, "out/{orgg}", "2026-02", NULL, &out, &err), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_msg(strstr(err.msg, "unknown placeholder \"{orgg}\"") != NULL, "%s", err.msg);

    ck_assert_int_eq(config_expand_path(c, "out/{org", NULL, NULL, &out, &err), -1);
    ck_assert_int_eq(err.code, EXIT_CONFIG);
    ck_assert_msg(strstr(err.msg, "unmatched \"{\" in \"out/{org\"") != NULL, "%s", err.msg);

    ck_assert_int_eq(config_expand_path(c, "out/org}", NULL, NULL, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "unmatched \"}\"") != NULL, "%s", err.msg);

    ck_assert_int_eq(config_expand_path(c, "out/{{org}}", NULL, NULL, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "unmatched \"{\"") != NULL, "%s", err.msg);

    ck_assert_int_eq(config_expand_path(c, "out/{period}", NULL, NULL, &out, &err), -1);
    ck_assert_int_eq(err.code, EXIT_USAGE);
    ck_assert_msg(strstr(err.msg, "needs a period") != NULL, "%s", err.msg);

    /* A period becomes a path component: a bad one never gets that far. */
    ck_assert_int_eq(config_expand_path(c, "out/{period}", "../../etc", NULL, &out, &err), -1);
    ck_assert_int_eq(err.code, EXIT_USAGE);
    ck_assert_ptr_null(out);
    config_free(c);
}
END_TEST

START_TEST(test_check_period)
{
    const char *good[] = {"2026-02", "1970-01", "9999-12", "2026-10"};
    const char *bad[] = {"2026-13", "2026-00", "2026-2", "26-02", "1969-12", "2026-02x",
                         "",        "2026/02", "202a-02", "2026-1a", " 2026-02"};
    pr_err err = {0};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(config_check_period(good[i], &err) == 0, "%s: %s", good[i], err.msg);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pr_err_clear(&err);
        ck_assert_msg(config_check_period(bad[i], &err) == -1, "\"%s\" accepted", bad[i]);
        ck_assert_int_eq(err.code, EXIT_USAGE);
        ck_assert_msg(strstr(err.msg, "expected YYYY-MM") != NULL, "%s", err.msg);
        ck_assert_msg(err.hint[0] != '\0', "no hint for %s", bad[i]);
    }
    config_check_period("2026-13", &err);
    ck_assert_str_eq(err.msg,
                     "bad period \"2026-13\": expected YYYY-MM with a month from 01 to 12");
    config_check_period("1969-12", &err);
    ck_assert_msg(strstr(err.msg, "year from 1970 to 9999") != NULL, "%s", err.msg);
    ck_assert_int_eq(config_check_period(NULL, &err), -1);
    ck_assert_int_eq(err.code, EXIT_USAGE);
}
END_TEST

/* ---- config_check_value on single nodes --------------------------------- */

START_TEST(test_check_value_int)
{
    const struct payrun_config_key k = {.name = "n", .type = PAYRUN_KEY_INT};
    struct {
        const char *text;
        int plain, ok;
    } cases[] = {
        {"0", 1, 1},   {"-0", 1, 1},  {"5000", 1, 1}, {"-42", 1, 1},
        {"9223372036854775807", 1, 1}, {"-9223372036854775808", 1, 1},
        {"9223372036854775808", 1, 0}, {"-9223372036854775809", 1, 0},
        {"99999999999999999999999", 1, 0}, {"+5", 1, 0}, {"5.0", 1, 0}, {"1e3", 1, 0},
        {"007", 1, 0}, {"", 1, 0},    {"-", 1, 0},    {"0x10", 1, 0}, {"5", 0, 0},
        {" 5", 1, 0},
    };
    char path[] = "t.yaml";
    config c = {.path = path};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[64];
        cfg_node v = {.kind = CFG_SCALAR, .line = 3, .col = 4, .text = text,
                      .plain = cases[i].plain};
        pr_err err = {0};
        snprintf(text, sizeof(text), "%s", cases[i].text);
        ck_assert_msg((config_check_value(&c, &k, &v, &err) == 0) == cases[i].ok,
                      "\"%s\": %s", cases[i].text, err.msg);
        if (!cases[i].ok) {
            ck_assert_int_eq(err.code, EXIT_CONFIG);
            ck_assert_msg(strncmp(err.msg, "t.yaml:3:4: ", 12) == 0, "%s", err.msg);
        }
    }
}
END_TEST

START_TEST(test_check_value_kinds)
{
    static const struct payrun_config_key b = {.name = "b", .type = PAYRUN_KEY_BOOL};
    static const struct payrun_config_key s = {.name = "s", .type = PAYRUN_KEY_STRING};
    static const struct payrun_config_key p = {.name = "p", .type = PAYRUN_KEY_PATH};
    static const struct payrun_config_key e = {.name = "e", .type = PAYRUN_KEY_ENUM,
                                               .choices = "hledger|ledger|beancount"};
    static const struct payrun_config_key m = {.name = "m", .type = PAYRUN_KEY_MONEY};
    static const struct payrun_config_key bogus = {.name = "x", .type = 99};
    const currency *jpy = currency_find("JPY");
    char path[] = "t.yaml";
    config c = {.path = path, .currency = jpy};
    char t_true[] = "true", t_false[] = "false", t_yes[] = "yes", t_empty[] = "",
         t_path[] = "in/{org}-{period}.csv", t_bad_path[] = "in/{month}.csv",
         t_ledger[] = "ledger", t_led[] = "led", t_500[] = "500", t_5_5[] = "5.5";
    cfg_node v = {.kind = CFG_SCALAR, .line = 1, .col = 1, .plain = 1};
    cfg_node seq = {.kind = CFG_SEQ, .line = 2, .col = 2};
    pr_err err = {0};

    ck_assert_ptr_nonnull(jpy);
    v.text = t_true;
    ck_assert_int_eq(config_check_value(&c, &b, &v, &err), 0);
    v.text = t_false;
    ck_assert_int_eq(config_check_value(&c, &b, &v, &err), 0);
    v.text = t_yes;
    ck_assert_int_eq(config_check_value(&c, &b, &v, &err), -1);
    v.text = t_true;
    v.plain = 0;
    ck_assert_int_eq(config_check_value(&c, &b, &v, &err), -1);
    ck_assert_int_eq(config_check_value(&c, &s, &v, &err), 0);
    v.text = t_empty;
    ck_assert_int_eq(config_check_value(&c, &s, &v, &err), 0); /* "" is a string */
    v.plain = 1;
    ck_assert_int_eq(config_check_value(&c, &s, &v, &err), -1); /* nothing is not */
    ck_assert_msg(strstr(err.msg, "found an empty value") != NULL, "%s", err.msg);
    ck_assert_int_eq(config_check_value(&c, &p, &v, &err), -1);
    ck_assert_int_eq(config_check_value(&c, &s, &seq, &err), -1);
    ck_assert_str_eq(err.msg, "t.yaml:2:2: \"s\" must be a string, found a sequence");

    v.text = t_path;
    ck_assert_int_eq(config_check_value(&c, &p, &v, &err), 0);
    v.text = t_bad_path;
    ck_assert_int_eq(config_check_value(&c, &p, &v, &err), -1);
    ck_assert_msg(strstr(err.msg, "t.yaml:1:1: unknown placeholder \"{month}\"") == err.msg,
                  "%s", err.msg);

    v.text = t_ledger;
    ck_assert_int_eq(config_check_value(&c, &e, &v, &err), 0);
    v.text = t_led;
    ck_assert_int_eq(config_check_value(&c, &e, &v, &err), -1);
    ck_assert_msg(strstr(err.msg, "must be one of hledger, ledger, beancount") != NULL, "%s",
                  err.msg);

    /* Money follows the config's currency: no decimals in yen. */
    v.text = t_500;
    ck_assert_int_eq(config_check_value(&c, &m, &v, &err), 0);
    v.text = t_5_5;
    ck_assert_int_eq(config_check_value(&c, &m, &v, &err), -1);
    ck_assert_msg(strstr(err.msg, "must be an amount in JPY") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.hint, "e.g. \"100\"") != NULL, "%s", err.hint);

    ck_assert_int_eq(config_check_value(&c, &bogus, &v, &err), -1);
    ck_assert_int_eq(err.code, EXIT_SOFTWARE);
    ck_assert_int_eq(config_check_value(&c, NULL, &v, &err), -1);
    ck_assert_int_eq(err.code, EXIT_SOFTWARE);
}
END_TEST

/* A plugin without required keys accepts a stage without `with:`, and a
 * plugin without keys refuses any. */
START_TEST(test_check_stage_edges)
{
    config *c = load_ok(CFG_DIR "good-full.yaml");
    const config_pipeline *close = config_pipeline_find(c, "close");
    const config_stage *st = stage_named(close, "export");
    pr_err err = {0};

    ck_assert_int_eq(config_check_stage(c, &config_pipeline_find(c, "pay")->stages[0],
                                        &bank_plugin, &err),
                     0);
    ck_assert_int_eq(config_check_stage(c, st, &bank_plugin, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown key \"path\" for plugin \"export_bank\"; "
                                  "no keys are allowed here") != NULL,
                  "%s", err.msg);
    ck_assert_int_eq(config_check_stage(c, st, NULL, &err), -1);
    ck_assert_int_eq(err.code, EXIT_SOFTWARE);
    config_free(c);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");

    tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof(bad_files) / sizeof(bad_files[0])));
    tcase_add_loop_test(tc, test_bad_with, 0, (int)(sizeof(bad_withs) / sizeof(bad_withs[0])));
    tcase_add_test(tc, test_good_minimal);
    tcase_add_test(tc, test_good_full);
    tcase_add_test(tc, test_relative_config_path);
    tcase_add_test(tc, test_no_such_file);
    tcase_add_test(tc, test_node_limit);
    tcase_add_test(tc, test_depth_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_expand_path);
    tcase_add_test(tc, test_check_period);
    tcase_add_test(tc, test_check_value_int);
    tcase_add_test(tc, test_check_value_kinds);
    tcase_add_test(tc, test_check_stage_edges);
    suite_add_tcase(s, tc);
    return s;
}
