/*
 * cli.h: the payrun command line. Parses arguments, loads the config,
 * checks the actor's role, and calls into the core; every error leaves as
 * one line on stderr ("payrun: what failed" plus "hint: what to do") and a
 * sysexits exit code.
 *
 * cli.c holds the dispatcher, the shared helpers below and the commands
 * about plugins, config, runs and the audit trail; cli_payouts.c holds the
 * commands that operate on payouts.
 */
#ifndef PAYRUN_CLI_H
#define PAYRUN_CLI_H

#include "config.h"
#include "error.h"
#include "store.h"

int cli_main(int argc, char **argv);

typedef struct cli {
    const char *config_path; /* --config or PAYRUN_CONFIG */
    const char *as;          /* --as NAME */
    char actor[65];          /* who is acting, once resolved */
    const char *run_pipeline; /* `run`: the pipeline being authorized */
    int help;
    int argc;                /* the command's own arguments, options included */
    char **argv;
    config *cfg;
    pr_err err;
} cli;

typedef int (*command_fn)(cli *c);

typedef struct command {
    const char *name;  /* "plugins list" */
    command_fn fn;
    const char *usage;
    const char *help;
} command;


/* Print the error as one line (plus a hint line); returns its exit code. */
int report(const pr_err *e);
int usage_error(cli *c, const char *usage, const char *fmt, ...) PR_PRINTF(3, 4);
/* Take `--name VALUE` or `--name=VALUE`: 1 found, 0 absent, -1 no value. */
int take_opt(cli *c, const char *name, const char **value);
/* Take a bare `--name` flag: 1 found, 0 absent. */
int take_flag(cli *c, const char *name);
/* Anything left that looks like an option is a usage error. */
int no_stray_options(cli *c, const char *usage);
int load_config(cli *c);
int open_store(cli *c, store **s);
/* Resolve the actor and check it has `role`; `what` says what it tries. */
int resolve_actor(cli *c, unsigned role, const char *what);

/* cli_payouts.c */
int cmd_payouts_list(cli *c);
int cmd_payouts_show(cli *c);
int cmd_payouts_create(cli *c);
int cmd_payouts_update(cli *c);
int cmd_payouts_delete(cli *c);
int cmd_approve(cli *c);
int cmd_reject(cli *c);
int cmd_mark_processing(cli *c);
int cmd_mark_paid(cli *c);
int cmd_mark_failed(cli *c);
int cmd_retry(cli *c);
int cmd_stats(cli *c);
int cmd_partners_show(cli *c);

#endif
