/*
 * fuzz_config.c: libFuzzer harness for the pipeline file loader
 * (config_load, config_free) and the checks that follow it: each stage's
 * `with:` block against small static plugin descriptors that declare every
 * key type, a LIST of maps among them (config_check_stage), and the path
 * templates (config_expand_path).
 *
 * config_load takes a path, so the input is written to one temp file made
 * once with mkstemp and rewritten in place each run; a file per run would
 * spend the time in the file system instead of the parser. The file sits in
 * TMPDIR, else /dev/shm (see fuzz_temp_dir), which is also the directory
 * relative paths in the input resolve to.
 *
 * The loader promises bounds (no aliases, depth 32, 100000 nodes, 16 MiB),
 * so run.sh runs this harness with -rss_limit_mb=256 and a timeout: an alias
 * bomb or deep nesting that got through would show as an OOM or a timeout
 * rather than pass unseen. Leaks on error paths are reported by
 * LeakSanitizer as crashes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <payrun/plugin.h>

#include "config.h"
#include "error.h"
#include "fuzz_common.h"

/* The same shapes as the unit tests' descriptors: every key type, a list
 * of maps with a required field, a required enum. */
static const struct payrun_config_key rule_fields[] = {
    {.name = "name", .type = PAYRUN_KEY_STRING, .required = 1},
    {.name = "rate", .type = PAYRUN_KEY_RATE, .required = 1},
    {.name = "min_amount", .type = PAYRUN_KEY_MONEY},
    {.name = "when", .type = PAYRUN_KEY_ENUM, .choices = "always|won|refund"},
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
    {.name = "source", .type = PAYRUN_KEY_INPUT},
    {.name = "rules", .type = PAYRUN_KEY_LIST, .fields = rule_fields},
    {.name = NULL},
};

static const struct payrun_config_key import_keys[] = {
    {.name = "path", .type = PAYRUN_KEY_INPUT, .required = 1},
    {.name = "partners", .type = PAYRUN_KEY_INPUT, .required = 1},
    {.name = "on_reject", .type = PAYRUN_KEY_ENUM, .choices = "fail|skip"},
    {.name = "rejects", .type = PAYRUN_KEY_PATH},
    {.name = NULL},
};

static const struct payrun_config_key no_keys[] = {{.name = NULL}};

static const struct payrun_plugin plugins[] = {
    {.size = sizeof(struct payrun_plugin), .abi_version = PAYRUN_ABI_VERSION,
     .name = "commission_rules", .kind = PAYRUN_KIND_CALCULATOR, .version = "1.0.0",
     .keys = rules_keys},
    {.size = sizeof(struct payrun_plugin), .abi_version = PAYRUN_ABI_VERSION,
     .name = "attribution_csv", .kind = PAYRUN_KIND_IMPORTER, .version = "1.0.0",
     .keys = import_keys},
    {.size = sizeof(struct payrun_plugin), .abi_version = PAYRUN_ABI_VERSION,
     .name = "export_bank", .kind = PAYRUN_KIND_EXPORTER, .version = "1.0.0",
     .keys = no_keys},
};

static char path[4096];
static int fd = -1;
/* FUZZ_VERBOSE set: print what each input came to, as run.sh does for its
 * hostile inputs. */
static int verbose;

static void remove_file(void)
{
    if (fd >= 0)
        close(fd);
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "%s/payrun-fuzz-config-XXXXXX", fuzz_temp_dir());
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    atexit(remove_file);
    return 0;
}

static void check_err(const pr_err *err, const char *what)
{
    MUST(memchr(err->msg, '\0', sizeof(err->msg)) != NULL && err->msg[0] != '\0' &&
             err->code != 0,
         "%s failed without a message", what);
}

/* Everything a command does with a loaded file before running a stage. */
static void exercise(const config *c)
{
    pr_err err;
    char *out = NULL;

    for (size_t p = 0; p < c->n_pipelines; p++) {
        const config_pipeline *pl = &c->pipelines[p];

        MUST(config_pipeline_find(c, pl->name) == pl, "pipeline \"%s\" not found by its name",
             pl->name);
        for (size_t s = 0; s < pl->n_stages; s++) {
            for (size_t k = 0; k < sizeof(plugins) / sizeof(plugins[0]); k++) {
                memset(&err, 0, sizeof(err));
                if (config_check_stage(c, &pl->stages[s], &plugins[k], &err) != 0)
                    check_err(&err, "config_check_stage");
            }
        }
    }
    for (size_t a = 0; a < c->n_actors; a++)
        MUST(config_actor_find(c, c->actors[a].name) == &c->actors[a],
             "actor \"%s\" not found by its name", c->actors[a].name);
    if (c->output_dir != NULL) {
        memset(&err, 0, sizeof(err));
        if (config_expand_path(c, c->output_dir, "2026-02", c->dir, &out, &err) == 0)
            free(out);
        else
            check_err(&err, "config_expand_path");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config *c = NULL;
    pr_err err;

    MUST(pwrite(fd, data, size, 0) == (ssize_t)size && ftruncate(fd, (off_t)size) == 0,
         "cannot rewrite %s", path);
    memset(&err, 0, sizeof(err));
    if (config_load(path, &c, &err) == 0) {
        if (verbose)
            fprintf(stderr, "fuzz_config: loaded, %zu pipeline(s)\n", c->n_pipelines);
        exercise(c);
        config_free(c);
    } else {
        check_err(&err, "config_load");
        if (verbose)
            fprintf(stderr, "fuzz_config: refused: %s\n", err.msg);
    }
    return 0;
}
