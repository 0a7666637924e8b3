/*
 * fake_host.h: a small stand-in for the payrun core, so each plugin can be
 * tested alone (as collectd tests plugins against a mock of its API). The
 * test sets the stage's configuration, the payouts and audit events the
 * plugin will see, and reads back what the plugin did: partners and lines
 * added, rates chosen, decisions, counts, errors, and output files (which
 * are real files under a temporary directory).
 *
 * The plugin itself is the real .so, loaded with dlopen through the core's
 * own loader.
 */
#ifndef PAYRUN_FAKE_HOST_H
#define PAYRUN_FAKE_HOST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <payrun/plugin.h>

#define FH_MAX 256

typedef struct fh_kv {
    const char *key;
    int list_index; /* -1 for a plain key */
    const char *field;
    const char *value;
} fh_kv;

typedef struct fh_decision {
    char payout_id[32];
    int decision;
    int approvals;
    char rule[64];
    char reason[256];
} fh_decision;

typedef struct fake_host {
    struct payrun_host host;

    /* set by the test */
    const char *org, *period, *currency, *clock;
    int64_t run_number;        /* what host->run_number answers (default 1) */
    int exponent;
    char dir[PATH_MAX];        /* temp dir: inputs and outputs are relative to it */
    fh_kv cfg[64];
    size_t n_cfg;
    int list_len[8];           /* per list key, in order of fh_list_key() */
    const char *list_keys[8];
    size_t n_list_keys;
    struct payrun_payout_view payouts[FH_MAX];
    size_t n_payouts;
    struct payrun_calc_line calc_lines[FH_MAX];
    size_t n_calc_lines;
    struct payrun_audit_event events[FH_MAX];
    size_t n_events;
    /* partner ids line_add accepts; others are rejected as unknown */
    const char *known_partners[FH_MAX];
    size_t n_known_partners;
    /* 1: like the real core, refuse unknown partners when the lines are
     * settled rather than in line_add (duplicates are always refused then) */
    int late_checks;
    /* Called as lines_settle starts, before any line is handed back (a
     * test changes the input file there, as a user might mid-import). */
    void (*before_settle)(struct fake_host *fh);

    /* recorded from the plugin */
    int n_partners;
    char partner_ids[FH_MAX][65];
    int n_lines;
    int64_t line_amounts[FH_MAX];
    int64_t line_source[FH_MAX];
    char line_deal[FH_MAX][33];
    char line_partner[FH_MAX][65];
    int settled;               /* lines_settle was called */
    int late_rejected;         /* lines it handed back */
    int n_skipped;
    int64_t rates[FH_MAX];
    char rules[FH_MAX][64];
    struct payrun_calc_params params;
    int calculated;
    fh_decision decisions[FH_MAX];
    int n_decisions;
    char counts_names[32][32];
    int64_t counts[32];
    int n_counts;
    char last_error[1024];
    char last_hint[512];
    int n_errors;
    int n_outputs;
    char outputs[16][PATH_MAX];
    unsigned output_flags[16];
    /* payment files: payouts listed per output, moves asked for */
    int n_listed;
    char listed[FH_MAX][32];
    int listed_output[FH_MAX];     /* index into outputs[] */
    int listed_move;               /* the move move_listed was asked for */
    int n_moves;
    char moved_ids[FH_MAX][32];
    int moves[FH_MAX];
    char move_details[FH_MAX][129];
    int n_refused; /* payout_move calls refused (unknown, not in processing) */
} fake_host;

/* Initialise with a fresh temp dir and org acme, period 2026-02, USD. */
void fh_init(fake_host *fh);
void fh_cleanup(fake_host *fh);
void fh_set(fake_host *fh, const char *key, const char *value);
void fh_set_item(fake_host *fh, const char *key, int index, const char *field,
                 const char *value);
int64_t fh_count(const fake_host *fh, const char *name);
/* Whether the plugin set the count at all (fh_count says 0 either way). */
int fh_has_count(const fake_host *fh, const char *name);
/* The payouts a bank result file is applied to, in status_transitions'
 * suite and fuzz_results: po_a1..po_a6 processing, po_b1 approved, po_c1
 * paid as BANK-0777 (org acme, period 2026-02, partner p-001, 100.00 USD). */
void fh_result_payouts(fake_host *fh);
/* Absolute path of `rel` under the temp dir (static buffer, rotating). */
const char *fh_path(fake_host *fh, const char *rel);
/* Write `text` to `rel` under the temp dir. */
void fh_write_file(fake_host *fh, const char *rel, const char *text);
/* Read a whole file into a malloc'd string (NULL if missing). */
char *fh_read_file(const char *path);

/*
 * Load plugin `name` from the build's plugin directory and run one stage
 * of it against the fake host: init, run, destroy. Returns run's status.
 */
int fh_run_plugin(fake_host *fh, const char *name);

/*
 * The documentation's key tables. A plugin's keys are documented, in its
 * README and in docs/configuration.md, as a Markdown table with the header
 *
 *   | key | type | required | default | help |
 *
 * and one row per declared key, in declaration order, each written as
 * fh_key_rows() writes it: the type as `plugins describe` names it (enum
 * choices listed after it), `yes` or `no`, the default in backquotes
 * (`""` for an empty one, nothing when there is none), and the help text.
 * The fields of a list key follow it, as `list[].field`.
 */
/* The rows for `keys`, one per line (malloc'd; NULL when out of memory). */
char *fh_key_rows(const struct payrun_config_key *keys);
/*
 * Compare the first key table after the line `section` (the whole file
 * when NULL, and never past the next heading) in the Markdown file `doc`
 * with the rows of `desc`. Returns 0, or -1 with the first difference,
 * as FILE:LINE: what, in why[].
 */
int fh_doc_keys_match(const char *doc, const char *section, const struct payrun_plugin *desc,
                      char *why, size_t why_len);
/* For a plugin's suite: load shipped plugin `name` (checking its kind) and
 * assert that plugins/NAME/README.md documents exactly its keys. */
void fh_check_readme(const char *name, int kind);

#endif
