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
 *  - struct payrun_plugin starts with its size; the core reads only the
 *    members that size covers.
 *  - Changing or removing anything already here bumps PAYRUN_ABI_VERSION.
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
    PAYRUN_KEY_PATH = 6,   /* file path; {org} and {period} are expanded */
    PAYRUN_KEY_ENUM = 7,   /* one of `choices`, a '|'-separated list */
    PAYRUN_KEY_LIST = 8    /* sequence of maps, each checked against `fields` */
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
    PAYRUN_ERR_STATE = -5  /* a move the state machine refuses */
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
