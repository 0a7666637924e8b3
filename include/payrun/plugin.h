/*
 * payrun/plugin.h: the whole contract between the payrun core and a plugin.
 *
 * A plugin is a shared object that exports exactly one function,
 * payrun_plugin_descriptor(), returning a constant descriptor. The core
 * calls it right after dlopen() and, before anything else, compares the
 * descriptor's size and ABI version with its own; a plugin built for another
 * ABI is refused with both versions named. A function rather than a data
 * symbol because dlsym() is only promised to work on functions.
 *
 * A plugin never links against the core and never opens the database. The
 * core hands it a table of host functions (struct payrun_host) through
 * which it reads its configuration and the batch, and asks for changes; the
 * core applies those through its own state machine and audit trail, so a
 * plugin cannot skip a state, forget an audit event or touch another org.
 *
 * Compatibility rules:
 *  - struct payrun_host starts with its size and only ever grows at the end;
 *    a plugin checks host->size before calling a member added after the
 *    version it was written for (PAYRUN_HOST_HAS).
 *  - struct payrun_plugin starts with its size and ABI version, which the
 *    core reads first; a descriptor smaller than this ABI's struct is
 *    refused. Members added later go at the end, and a newer core reads
 *    them only when the size covers them.
 *  - Changing or removing anything already here bumps PAYRUN_ABI_VERSION.
 *
 * Lifetimes: strings a plugin hands to the core are copied before the call
 * returns. Strings the core hands to a plugin from cfg_* and the batch
 * getters live until the run ends; the payout views and audit events
 * passed to callbacks (each_payout, each_audit_event, calculate) are valid
 * only during that call.
 *
 * Money crosses this boundary as int64_t minor units of the batch currency
 * (cents for USD, yen for JPY); rates as int64_t millionths of a percent
 * (12.5% is 12500000). No floating point, anywhere.
 */
#ifndef PAYRUN_PLUGIN_H
#define PAYRUN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAYRUN_ABI_VERSION 1

/* Name of the one symbol every plugin exports. */
#define PAYRUN_DESCRIPTOR_SYMBOL "payrun_plugin_descriptor"

#if defined(__GNUC__)
#define PAYRUN_EXPORT __attribute__((visibility("default")))
#define PAYRUN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PAYRUN_EXPORT
#define PAYRUN_PRINTF(f, a)
#endif

/* Rates are percentages scaled by 10^6: at most 6 decimal places. */
#define PAYRUN_RATE_SCALE 1000000

enum payrun_kind {
    PAYRUN_KIND_IMPORTER = 1,
    PAYRUN_KIND_CALCULATOR = 2,
    PAYRUN_KIND_APPROVER = 3,
    PAYRUN_KIND_TRANSITION = 4,
    PAYRUN_KIND_EXPORTER = 5,
    PAYRUN_KIND_AUDIT_SINK = 6
};

/*
 * Types of configuration keys. The core checks the user's `with:` block
 * against these before any stage runs, so a plugin reads values that are
 * already known to be well formed.
 */
enum payrun_key_type {
    PAYRUN_KEY_STRING = 1, /* any scalar text */
    PAYRUN_KEY_BOOL = 2,   /* true | false */
    PAYRUN_KEY_INT = 3,    /* decimal integer, int64 range */
    PAYRUN_KEY_MONEY = 4,  /* decimal money in the batch currency: "100.00" */
    PAYRUN_KEY_RATE = 5,   /* percentage 0..100, up to 6 decimals: "12.5" */
    PAYRUN_KEY_PATH = 6,   /* output file; relative to output_dir; {org}, {period} expanded */
    PAYRUN_KEY_ENUM = 7,   /* one of `choices`, a '|'-separated list */
    PAYRUN_KEY_LIST = 8,   /* sequence of maps, each checked against `fields` */
    PAYRUN_KEY_INPUT = 9   /* input file; relative to the config file's directory;
                            * {org}, {period} expanded; its SHA-256 is recorded
                            * with the run, so a rerun knows if inputs changed */
};

struct payrun_config_key {
    const char *name;
    int type;                 /* enum payrun_key_type */
    int required;             /* non-zero: the key must be given */
    const char *default_value; /* text form, or NULL for none */
    const char *help;         /* one line */
    const char *choices;      /* PAYRUN_KEY_ENUM only: "a|b|c" */
    const struct payrun_config_key *fields; /* PAYRUN_KEY_LIST only */
};

/* Log levels for host->log. */
enum payrun_log_level {
    PAYRUN_LOG_ERROR = 0,
    PAYRUN_LOG_WARN = 1,
    PAYRUN_LOG_INFO = 2,
    PAYRUN_LOG_DEBUG = 3
};

/*
 * Status codes returned by plugin lifecycle functions and host functions.
 * Zero is success; a negative value is a failure whose message has already
 * been reported through host->error (or by the core, for host functions).
 */
enum payrun_status {
    PAYRUN_OK = 0,
    PAYRUN_ERR = -1,       /* failure, message already reported */
    PAYRUN_ERR_INPUT = -2, /* the input data is bad (exit 65) */
    PAYRUN_ERR_NOINPUT = -3, /* an input file is missing (exit 66) */
    PAYRUN_ERR_IO = -4,    /* read or write failed (exit 74) */
    PAYRUN_ERR_STATE = -5, /* a move the state machine refuses */
    PAYRUN_ERR_CONFIG = -6, /* the stage's configuration cannot work (exit 78) */
    PAYRUN_SKIPPED = 1     /* line_add: read, valid, but not commissionable */
};

/* ---- what crosses the boundary ------------------------------------------ */

/* A partner, as an importer hands it to the core. Optional text is NULL or
 * "". Strings are copied by the core before the call returns. */
struct payrun_partner {
    const char *partner_id;
    const char *name;
    const char *type;   /* affiliate | referral | reseller | integration */
    const char *tier;   /* bronze | silver | gold | platinum */
    int64_t commission_rate;
    const char *status; /* active | inactive | pending */
    const char *currency;
    const char *email;
    const char *routing_number;
    const char *account_number;
    const char *iban;
    const char *bic;
    const char *account_name;
};

/* An attribution line, as an importer hands it to the core. */
struct payrun_line {
    int64_t source_line;     /* line number in the input file, for messages */
    const char *deal_id;
    const char *deal_name;
    const char *deal_status; /* won | lost | open */
    const char *closed_on;   /* YYYY-MM-DD; may be empty for open deals */
    const char *partner_id;
    const char *model;       /* equal_split | first_touch | ... */
    const char *percentage;  /* decimal text, as given */
    int64_t attributed_amount; /* minor units; negative for a clawback */
    const char *currency;
    const char *product_line; /* may be NULL */
};

/* One commission line offered to a calculator for its rate. */
struct payrun_calc_line {
    int64_t line_id;
    const char *partner_id;
    const char *partner_type;
    const char *partner_tier;
    int64_t partner_rate;   /* the partner's own commission_rate */
    const char *deal_id;
    const char *product_line; /* "" when none */
    int64_t attributed_amount;
};

/* A line refused when the staged lines are settled (see lines_settle):
 * `l` is the line as line_add got it, `why` the reason. Return PAYRUN_OK,
 * or an error to end the run. */
typedef int (*payrun_late_reject_fn)(void *ud, const struct payrun_line *l, const char *why);

/* Give the rate of one line: set *rate (millionths of a percent) and *rule
 * (a name that lives until calculate() returns). Return PAYRUN_OK, or a
 * failure already reported with host->error. */
typedef int (*payrun_rate_fn)(void *ud, const struct payrun_calc_line *line,
                              int64_t *rate, const char **rule);

enum payrun_rounding { PAYRUN_ROUND_HALF_EVEN = 0, PAYRUN_ROUND_HALF_UP = 1 };

struct payrun_calc_params {
    uint32_t size;      /* sizeof(struct payrun_calc_params) */
    int rounding;       /* enum payrun_rounding */
    int64_t min_payout; /* minor units; positive totals below it roll over */
};

/* A payout as the core shows it to approvers and exporters. */
struct payrun_payout_view {
    const char *id;
    const char *org;
    const char *period;
    const char *partner_id;
    const char *partner_name;
    const char *partner_type;
    const char *partner_tier;
    const char *partner_status;
    int has_payment_details; /* bank routing+account, or IBAN+BIC */
    int64_t amount;
    const char *currency;
    const char *status;
    int approvals_required;
    int approvals_given;
    const char *created_at;
    const char *created_by;
    const char *approved_by;
    const char *approved_at;
    const char *paid_at;
    const char *reference;
    const char *notes;
    const char *hold_reason; /* "" unless held */
    int64_t lines;           /* commission lines of this payout */
    int has_previous;        /* the partner has a payout in an earlier period */
    int64_t previous_amount; /* the latest such payout's amount */
    const char *kind;        /* "commission" (from a close) or "manual" */
    /* The partner's payment details, "" when not on file. */
    const char *routing_number; /* US ABA routing number, 9 digits */
    const char *account_number;
    const char *iban;
    const char *bic;
    const char *account_name;
    const char *partner_email;
};

typedef int (*payrun_payout_fn)(void *ud, const struct payrun_payout_view *p);

/* What an approver may decide about a pending payout. */
enum payrun_decision {
    PAYRUN_DECIDE_APPROVE = 1, /* approve now, on the rule's authority */
    PAYRUN_DECIDE_REJECT = 2,  /* reject; reason required */
    PAYRUN_DECIDE_HOLD = 3,    /* keep pending and refuse approval; reason required */
    PAYRUN_DECIDE_REQUIRE = 4  /* needs `approvals` distinct human approvers */
};

/* An audit event, for audit sinks. */
struct payrun_audit_event {
    int64_t seq;
    const char *org;
    const char *at;
    const char *actor;
    const char *action;
    const char *entity_type;
    const char *entity_id;
    const char *metadata; /* a JSON object */
    const char *prev_hash;
    const char *hash;
};

typedef int (*payrun_event_fn)(void *ud, const struct payrun_audit_event *e);

/* Moves a transition plugin may ask for (SPEC section 2). */
enum payrun_move {
    PAYRUN_MOVE_MARK_PROCESSING = 1, /* approved -> processing (put in a bank file) */
    PAYRUN_MOVE_MARK_PAID = 2,       /* processing -> paid; detail: bank reference */
    PAYRUN_MOVE_MARK_FAILED = 3      /* processing -> failed; detail: the bank's reason */
};

/* An output file being written. */
typedef struct payrun_output payrun_output;

enum payrun_output_flags {
    /* Keep the file even when the run fails (a rejects file explains the
     * failure). Every other output appears only if the run commits. */
    PAYRUN_OUTPUT_KEEP_ON_FAILURE = 1u << 0
};

/* Opaque: one stage instance of a running pipeline. */
typedef struct payrun_stage payrun_stage;

struct payrun_host {
    uint32_t size;        /* sizeof(struct payrun_host) of the core */
    uint32_t abi_version; /* PAYRUN_ABI_VERSION of the core */

    /* Messages, prefixed by the core with the plugin's kind, name and stage. */
    void (*log)(payrun_stage *st, int level, const char *fmt, ...) PAYRUN_PRINTF(3, 4);
    /* Report a failure; returns `status` so a plugin can `return host->error(...)`.
     * `hint` says what the user should do and may be NULL. */
    int (*error)(payrun_stage *st, int status, const char *hint, const char *fmt, ...)
        PAYRUN_PRINTF(4, 5);

    /* The batch this stage runs over. Strings live until the run ends. */
    const char *(*org)(payrun_stage *st);
    const char *(*period)(payrun_stage *st);   /* "YYYY-MM" */
    const char *(*currency)(payrun_stage *st); /* ISO 4217 code */
    int (*currency_exponent)(payrun_stage *st);
    const char *(*run_clock)(payrun_stage *st); /* the run's UTC time, ISO 8601 */

    /*
     * Configuration of this stage, already validated against the plugin's
     * declared keys with defaults applied. A getter returns 0 and writes
     * *out, or PAYRUN_ERR when the key is unset and has no default.
     * Keys of a PAYRUN_KEY_LIST are read with an item index and field name;
     * for any other key pass list_index -1 and field NULL.
     */
    int (*cfg_string)(payrun_stage *st, const char *key, int list_index,
                      const char *field, const char **out);
    int (*cfg_bool)(payrun_stage *st, const char *key, int list_index,
                    const char *field, int *out);
    int (*cfg_int)(payrun_stage *st, const char *key, int list_index,
                   const char *field, int64_t *out);
    int (*cfg_money)(payrun_stage *st, const char *key, int list_index,
                     const char *field, int64_t *out);
    int (*cfg_rate)(payrun_stage *st, const char *key, int list_index,
                    const char *field, int64_t *out);
    /* Paths come back with {org} and {period} expanded and made absolute
     * against the config file's directory (inputs) or the output directory
     * (outputs). Valid until the run ends. */
    int (*cfg_path)(payrun_stage *st, const char *key, int list_index,
                    const char *field, const char **out);
    /* Number of items of a PAYRUN_KEY_LIST key (0 when unset). */
    int (*cfg_list_len)(payrun_stage *st, const char *key);

    /*
     * Money is the core's: plugins parse and format amounts and rates with
     * these, in the batch currency's exponent, rather than with code of
     * their own. parse_* return PAYRUN_OK or PAYRUN_ERR_INPUT with the
     * reason in why[] (e.g. `bad amount "1,200.00": ...`); format_money
     * returns the length written or -1 if `cap` is too small (32 suffices).
     */
    int (*parse_money)(payrun_stage *st, const char *text, size_t len, int64_t *out,
                       char *why, size_t why_len);
    int (*parse_rate)(payrun_stage *st, const char *text, size_t len, int64_t *out,
                      char *why, size_t why_len);
    int (*format_money)(payrun_stage *st, int64_t amount, char *buf, size_t cap);

    /* Add a figure to this stage's counts (recorded with the run and shown
     * in its summary), e.g. count(st, "rejected", 1). */
    void (*count)(payrun_stage *st, const char *name, int64_t n);

    /*
     * Output files. A relative path is taken under the run's output
     * directory. The core writes to a temporary file beside the final name
     * and renames it only after the run commits (or, with
     * PAYRUN_OUTPUT_KEEP_ON_FAILURE, also when it fails); a dry run
     * discards it. output_close() flushes and fsyncs; a failure is reported.
     */
    int (*output_open)(payrun_stage *st, const char *path, unsigned flags,
                       payrun_output **out);
    int (*output_write)(payrun_output *o, const void *data, size_t len);
    int (*output_close)(payrun_output *o);

    /* Importers. Each returns PAYRUN_OK, PAYRUN_SKIPPED (line_add: a lost
     * or open deal, counted but not commissionable) or PAYRUN_ERR_INPUT
     * with the reason in why[] (unknown partner, currency mismatch,
     * duplicate deal and partner, date outside the period, bad value): the
     * importer writes that row to its rejects file. Other failures are
     * reported and end the run. Only importer plugins may call these. */
    int (*partner_put)(payrun_stage *st, const struct payrun_partner *p,
                       char *why, size_t why_len);
    int (*line_add)(payrun_stage *st, const struct payrun_line *l,
                    char *why, size_t why_len);

    /*
     * Calculators. The core offers every commissionable line of the period
     * to `rate` (in partner order), computes each line's exact commission,
     * sums per partner, rounds once, shares the rounded total back over the
     * lines by largest remainder, and creates, updates or carries forward
     * each partner's payout, all audited. Only calculator plugins may
     * call it.
     */
    int (*calculate)(payrun_stage *st, const struct payrun_calc_params *params,
                     payrun_rate_fn rate, void *ud);

    /* Approvers and exporters: the period's payouts in partner order. */
    int (*each_payout)(payrun_stage *st, payrun_payout_fn fn, void *ud);
    /* Approvers: decide about a pending payout. `rule` names the rule that
     * decided; `reason` is required for reject and hold. Returns
     * PAYRUN_ERR_STATE (reported) when the state machine refuses. */
    int (*decide)(payrun_stage *st, const char *payout_id, int decision,
                  int approvals, const char *rule, const char *reason);

    /* Audit sinks (run after the commit): the org's events after `after_seq`. */
    int (*each_audit_event)(payrun_stage *st, int64_t after_seq, payrun_event_fn fn,
                            void *ud);

    /*
     * Payment files. An exporter that writes a payout into a bank file
     * lists it against that output; a payout can be listed by one output
     * of a run only (a second listing is refused, so no payout is ever in
     * two bank files). Returns PAYRUN_OK or a reported failure. Only
     * exporter plugins may call it.
     */
    int (*output_list)(payrun_output *o, const char *payout_id);

    /*
     * Transitions. move_listed applies `move` (PAYRUN_MOVE_MARK_PROCESSING)
     * to every payout listed by this run's outputs, each audited with the
     * output's file name and SHA-256; *moved says how many. payout_move
     * applies one move from a bank's answer: PAYRUN_OK; PAYRUN_SKIPPED when
     * the payout already stands where the move would put it, with the same
     * reference or reason (a result file applied twice changes nothing); or
     * PAYRUN_ERR_INPUT with the reason in why[] (unknown payout, not in
     * processing, ...). Only transition plugins may call these.
     */
    int (*move_listed)(payrun_stage *st, int move, int64_t *moved);
    int (*payout_move)(payrun_stage *st, const char *payout_id, int move, const char *detail,
                       char *why, size_t why_len);

    /* The run's number (what {run} becomes in output paths), for
     * identifiers that must differ between runs, such as a payment file's
     * message id. 0 in a dry run of a new database. */
    int64_t (*run_number)(payrun_stage *st);

    /*
     * Importers: line_add stages each line and answers at once what it can
     * judge from the line alone (not commissionable, currency, date). The
     * checks that need every line (a second line with the deal_id and
     * partner_id of an earlier one; a partner the org does not have) run
     * when the staged lines are settled into the batch, in partner order,
     * which keeps a large import's writes sequential. An importer calls
     * lines_settle after its last line_add; `on_reject` gets each line
     * refused then, in file order, for its rejects file (it had counted
     * them as imported). *settled says how many lines went in. An importer
     * that never calls it is settled after its run returns, and any line
     * refused then ends the run with an error naming it.
     */
    int (*lines_settle)(payrun_stage *st, payrun_late_reject_fn on_reject, void *ud,
                        int64_t *settled);
};

/* True when the core's host table has member `m` (added in a later ABI). */
#define PAYRUN_HOST_HAS(host, m) \
    ((host)->size >= offsetof(struct payrun_host, m) + sizeof((host)->m))

struct payrun_plugin {
    uint32_t size;        /* sizeof(struct payrun_plugin) the plugin was built with */
    uint32_t abi_version; /* PAYRUN_ABI_VERSION the plugin was built with */
    const char *name;     /* what the pipeline file's `plugin:` names */
    int kind;             /* enum payrun_kind */
    const char *version;  /* the plugin's own version, e.g. "1.0.0" */
    const char *description;
    const struct payrun_config_key *keys; /* ends with an entry whose name is NULL */

    /* Create one stage instance. Its context goes to *ctx; may be NULL. */
    int (*init)(const struct payrun_host *host, payrun_stage *st, void **ctx);
    /* Do the stage's work. Returns PAYRUN_OK or a reported failure. */
    int (*run)(void *ctx, payrun_stage *st);
    /* Free the context; must accept NULL. */
    void (*destroy)(void *ctx);
};

typedef const struct payrun_plugin *(*payrun_descriptor_fn)(void);

/* The one function a plugin defines and exports. Declared here so that a
 * plugin's definition is checked against this signature. */
PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void);

#ifdef __cplusplus
}
#endif

#endif /* PAYRUN_PLUGIN_H */
