/*
 * config.h: the pipeline file (SPEC section 6), loaded with libyaml.
 *
 * The loader keeps every node's line and column so that each error names
 * file:line:column. Unknown keys (listing the allowed ones), wrong types,
 * missing required keys, duplicate keys, aliases and tabs are errors, never
 * guesses. Relative paths in the file resolve against the directory of the
 * file itself, so a scheduler can run payrun from any working directory.
 */
#ifndef PAYRUN_CONFIG_H
#define PAYRUN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "money.h"

struct payrun_plugin;
struct payrun_config_key;

typedef enum cfg_kind { CFG_SCALAR = 1, CFG_SEQ = 2, CFG_MAP = 3 } cfg_kind;

typedef struct cfg_node cfg_node;
struct cfg_node {
    cfg_kind kind;
    int line, col;      /* 1-based position where the node starts */
    char *text;         /* CFG_SCALAR: the scalar's text, NUL-terminated */
    int plain;          /* CFG_SCALAR: written without quotes */
    size_t n;           /* CFG_SEQ / CFG_MAP: number of items */
    cfg_node **items;   /* CFG_SEQ: items; CFG_MAP: values */
    cfg_node **keys;    /* CFG_MAP: key scalars, parallel to items */
};

/* Value of `key` in a CFG_MAP node, or NULL. */
const cfg_node *cfg_map_get(const cfg_node *map, const char *key);

enum actor_role {
    ROLE_PREPARER = 1u << 0,
    ROLE_APPROVER = 1u << 1,
    ROLE_PAYER = 1u << 2
};

typedef struct config_stage {
    char *stage;          /* the stage's name in the pipeline */
    char *plugin;         /* plugin name, looked up on plugin_path */
    const cfg_node *with; /* the `with:` map, or NULL */
    int line, col;        /* where the stage starts */
} config_stage;

typedef struct config_pipeline {
    char *name;
    config_stage *stages;
    size_t n_stages;
    int line, col;
} config_pipeline;

typedef struct config_actor {
    char *name;
    unsigned roles; /* enum actor_role bits */
} config_actor;

typedef struct config {
    char *path;            /* the file as given on the command line */
    char *dir;             /* absolute directory holding the file */
    int version;           /* must be 1 */
    char *org;             /* [a-z0-9_-], 1..64 */
    const currency *currency;
    char *database;        /* absolute path */
    char **plugin_path;    /* absolute directories, in search order */
    size_t n_plugin_path;  /* 0: only the installed plugin directory */
    char *output_dir;      /* absolute template, may hold {org} and {period} */
    config_actor *actors;
    size_t n_actors;
    int allow_actor_override;
    int64_t busy_timeout_ms; /* default 5000 */
    config_pipeline *pipelines;
    size_t n_pipelines;
    cfg_node *root;        /* the whole document, owned */
} config;

/* Load and check the file's structure (not the plugins' `with:` blocks:
 * those need the plugins, see config_check_stage). */
int config_load(const char *path, config **out, pr_err *err);
void config_free(config *c);

const config_pipeline *config_pipeline_find(const config *c, const char *name);
const config_actor *config_actor_find(const config *c, const char *name);

/*
 * Expand {org} and {period} in `tmpl` and, when the result is relative,
 * join it to `base_dir` (NULL: leave it relative). Any other {name} is an
 * error. The caller frees *out.
 */
int config_expand_path(const config *c, const char *tmpl, const char *period,
                       const char *base_dir, char **out, pr_err *err);

/* Check a period string: YYYY-MM with a month 01..12. */
int config_check_period(const char *period, pr_err *err);

/*
 * Validate a stage's `with:` block against the keys a plugin declares:
 * unknown keys (naming the allowed ones), wrong types (bool, int, money in
 * the config's currency, rate 0..100, enum choices, list of maps with their
 * own fields), and missing required keys. Errors name file:line:column.
 */
int config_check_stage(const config *c, const config_stage *st,
                       const struct payrun_plugin *plugin, pr_err *err);

/* Check one scalar against a declared key type; used by config_check_stage
 * and by the host's typed getters. */
int config_check_value(const config *c, const struct payrun_config_key *key,
                       const cfg_node *v, pr_err *err);

/*
 * The keys the pipeline file accepts at its top level and in each stage,
 * in the order "allowed keys" messages list them, with their defaults;
 * each table ends with an entry whose name is NULL. The documentation's
 * key tables are tested against these.
 */
const struct payrun_config_key *config_file_keys(void);
const struct payrun_config_key *config_stage_keys(void);

#endif
