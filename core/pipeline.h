/*
 * pipeline.h: running one pipeline of the config over one org and period.
 *
 * The runner loads every stage's plugin and checks its configuration
 * before anything runs, then runs the stages in one database transaction,
 * handing each plugin the host function table (struct payrun_host). It
 * commits everything or nothing: output files are written beside their
 * final names and renamed only after the commit; a failed or dry run
 * leaves the database and the output directory as they were. Audit sinks
 * run after the commit, over events that are already durable.
 */
#ifndef PAYRUN_PIPELINE_H
#define PAYRUN_PIPELINE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "error.h"

typedef struct pipeline_opts {
    const char *pipeline; /* name in the config's pipelines: */
    const char *period;   /* YYYY-MM */
    const char *actor;
    int dry_run;
    int verbose;          /* show the plugins' info lines */
    FILE *out;            /* where the summary goes (stdout) */
    /* Called once the plugins are loaded with the role the pipeline needs
     * (ROLE_PAYER when it has a transition stage, else ROLE_PREPARER);
     * non-zero refuses the run with *err set. NULL: no check. */
    int (*authorize)(void *ud, unsigned role, pr_err *err);
    void *authorize_ud;
} pipeline_opts;

int pipeline_run(const config *cfg, const char *const *plugin_dirs, size_t n_dirs,
                 const pipeline_opts *o, pr_err *err);

#endif
