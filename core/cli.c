/*
 * cli.c: commands, their help, and how errors reach the user.
 *
 * Global options (--config, --as, --help) may appear anywhere; the first
 * word that is not an option names the command. Each command is one
 * function with its help text beside it in the table below, so `payrun
 * --help` and `payrun COMMAND --help` cannot drift from what is parsed.
 */
#include "cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "pipeline.h"
#include "plugin_loader.h"
#include "store.h"

/* ---- output helpers ----------------------------------------------------- */

int report(const pr_err *e)
{
    fprintf(stderr, "payrun: %s\n", e->msg[0] ? e->msg : "failed");
    if (e->hint[0])
        fprintf(stderr, "hint: %s\n", e->hint);
    return e->code ? e->code : EXIT_SOFTWARE;
}

int usage_error(cli *c, const char *usage, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pr_err_set(&c->err, EXIT_USAGE, "%s", msg);
    pr_err_hint(&c->err, "usage: %s", usage);
    return report(&c->err);
}

/* Take `--name VALUE` or `--name=VALUE` out of the command's arguments.
 * Returns 1 when found, 0 when absent, -1 when the value is missing. */
int take_opt(cli *c, const char *name, const char **value)
{
    size_t nl = strlen(name);

    for (int i = 0; i < c->argc; i++) {
        const char *a = c->argv[i];
        if (strncmp(a, name, nl) != 0)
            continue;
        if (a[nl] == '=') {
            *value = a + nl + 1;
            memmove(&c->argv[i], &c->argv[i + 1], (size_t)(c->argc - i - 1) * sizeof(char *));
            c->argc -= 1;
            return 1;
        }
        if (a[nl] == '\0') {
            if (i + 1 >= c->argc)
                return -1;
            *value = c->argv[i + 1];
            memmove(&c->argv[i], &c->argv[i + 2], (size_t)(c->argc - i - 2) * sizeof(char *));
            c->argc -= 2;
            return 1;
        }
    }
    return 0;
}

int take_flag(cli *c, const char *name)
{
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], name) == 0) {
            memmove(&c->argv[i], &c->argv[i + 1], (size_t)(c->argc - i - 1) * sizeof(char *));
            c->argc--;
            return 1;
        }
    }
    return 0;
}

/* After a command took its options, anything left that looks like an
 * option is a mistake worth naming rather than ignoring. */
int no_stray_options(cli *c, const char *usage)
{
    for (int i = 0; i < c->argc; i++)
        if (c->argv[i][0] == '-' && c->argv[i][1] != '\0')
            return usage_error(c, usage, "unknown option \"%s\"", c->argv[i]);
    return 0;
}

int load_config(cli *c)
{
    if (c->cfg)
        return 0;
    if (c->config_path == NULL)
        c->config_path = getenv("PAYRUN_CONFIG");
    if (c->config_path == NULL || c->config_path[0] == '\0') {
        pr_err_set(&c->err, EXIT_USAGE, "no config file given");
        pr_err_hint(&c->err, "pass --config FILE or set PAYRUN_CONFIG");
        return -1;
    }
    return config_load(c->config_path, &c->cfg, &c->err);
}

int open_store(cli *c, store **s)
{
    if (load_config(c) != 0)
        return -1;
    return store_open(c->cfg->database, c->cfg->org, c->cfg->busy_timeout_ms, s, &c->err);
}

/* The plugin path: the config's plugin_path, else PAYRUN_PLUGIN_PATH
 * (colon-separated), else the installed plugin directory. */
typedef struct plugin_dirs {
    const char **dirs;
    size_t n;
    char *env_copy;
} plugin_dirs;

static int get_plugin_dirs(cli *c, plugin_dirs *pd)
{
    const char *env = getenv("PAYRUN_PLUGIN_PATH");

    memset(pd, 0, sizeof(*pd));
    if (c->cfg && c->cfg->n_plugin_path > 0) {
        pd->dirs = calloc(c->cfg->n_plugin_path, sizeof(char *));
        if (pd->dirs == NULL)
            return pr_err_set(&c->err, EXIT_SOFTWARE, "out of memory");
        for (size_t i = 0; i < c->cfg->n_plugin_path; i++)
            pd->dirs[i] = c->cfg->plugin_path[i];
        pd->n = c->cfg->n_plugin_path;
        return 0;
    }
    if (env && env[0]) {
        size_t n = 1;
        for (const char *p = env; *p; p++)
            n += *p == ':';
        pd->env_copy = strdup(env);
        pd->dirs = calloc(n, sizeof(char *));
        if (pd->env_copy == NULL || pd->dirs == NULL)
            return pr_err_set(&c->err, EXIT_SOFTWARE, "out of memory");
        for (char *p = pd->env_copy, *next; p; p = next) {
            next = strchr(p, ':');
            if (next)
                *next++ = '\0';
            if (*p)
                pd->dirs[pd->n++] = p;
        }
        return 0;
    }
    pd->dirs = calloc(1, sizeof(char *));
    if (pd->dirs == NULL)
        return pr_err_set(&c->err, EXIT_SOFTWARE, "out of memory");
    pd->dirs[0] = PAYRUN_PLUGIN_INSTALL_DIR;
    pd->n = 1;
    return 0;
}

static void free_plugin_dirs(plugin_dirs *pd)
{
    free(pd->dirs);
    free(pd->env_copy);
}

static void print_keys(const struct payrun_config_key *k, const char *indent)
{
    for (; k && k->name; k++) {
        printf("%s%-22s %-6s %-8s", indent, k->name, plugin_key_type_name(k->type),
               k->required ? "required" : "optional");
        /* An empty default is shown as "", not as nothing after "default". */
        if (k->default_value && k->default_value[0])
            printf(" default %s", k->default_value);
        else if (k->default_value)
            printf(" default \"\"");
        if (k->choices)
            printf(" (%s)", k->choices);
        printf("\n%s    %s\n", indent, k->help ? k->help : "");
        if (k->type == PAYRUN_KEY_LIST && k->fields) {
            char deeper[32];
            snprintf(deeper, sizeof(deeper), "%s      ", indent);
            print_keys(k->fields, deeper);
        }
    }
}

static const char *role_name(unsigned role)
{
    return role == ROLE_PREPARER ? "preparer" : role == ROLE_APPROVER ? "approver" : "payer";
}

/*
 * Who is acting: the operating-system user, or --as NAME when the config
 * allows it. The actor must be listed under actors: with `role`.
 */
int resolve_actor(cli *c, unsigned role, const char *what)
{
    const config_actor *a;
    const char *name;
    struct passwd *pw;
    char uid[32];

    if (load_config(c) != 0)
        return -1;
    if (c->as) {
        if (!c->cfg->allow_actor_override) {
            pr_err_set(&c->err, EXIT_NOPERM, "--as is not allowed by %s", c->cfg->path);
            return pr_err_hint(&c->err, "act as yourself, or set allow_actor_override: true "
                                        "(for demos and tests only)");
        }
        name = c->as;
    } else {
        pw = getpwuid(geteuid());
        if (pw && pw->pw_name && pw->pw_name[0]) {
            name = pw->pw_name;
        } else {
            snprintf(uid, sizeof(uid), "uid%u", (unsigned)geteuid());
            name = uid;
        }
    }
    if (strlen(name) >= sizeof(c->actor))
        return pr_err_set(&c->err, EXIT_NOPERM, "actor name \"%.40s...\" is too long", name);
    snprintf(c->actor, sizeof(c->actor), "%s", name);
    a = config_actor_find(c->cfg, c->actor);
    if (a == NULL || !(a->roles & role)) {
        pr_err_set(&c->err, EXIT_NOPERM, "%s \"%s\" may not %s: it needs the %s role",
                   a ? "actor" : "user", c->actor, what, role_name(role));
        return pr_err_hint(&c->err, "list \"%s\" with the %s role under actors: in %s",
                           c->actor, role_name(role), c->cfg->path);
    }
    return 0;
}

/* ---- commands ----------------------------------------------------------- */

static void scan_error(const char *file, const pr_err *e, void *ud)
{
    (void)file;
    (void)ud;
    fprintf(stderr, "payrun: warning: %s\n", e->msg);
}

static int cmd_plugins_list(cli *c)
{
    plugin_dirs pd;
    loaded_plugin **list = NULL;
    size_t n = 0;
    int rc = EXIT_OK;

    if (no_stray_options(c, "payrun plugins list [--config FILE]") != 0)
        return EXIT_USAGE;
    if ((c->config_path || getenv("PAYRUN_CONFIG")) && load_config(c) != 0)
        return report(&c->err);
    if (get_plugin_dirs(c, &pd) != 0 ||
        plugin_scan(pd.dirs, pd.n, &list, &n, scan_error, NULL, &c->err) != 0) {
        free_plugin_dirs(&pd);
        return report(&c->err);
    }
    printf("%-20s %-11s %-8s %-4s %s\n", "NAME", "KIND", "VERSION", "ABI", "FILE");
    for (size_t i = 0; i < n; i++)
        printf("%-20s %-11s %-8s %-4u %s\n", list[i]->name,
               plugin_kind_name(list[i]->desc->kind), list[i]->desc->version,
               (unsigned)list[i]->desc->abi_version, list[i]->file);
    if (n == 0) {
        fprintf(stderr, "payrun: no plugins found on the plugin path (");
        for (size_t i = 0; i < pd.n; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", pd.dirs[i]);
        fprintf(stderr, ")\nhint: set plugin_path in the config or PAYRUN_PLUGIN_PATH\n");
        rc = EXIT_UNAVAILABLE;
    }
    plugin_list_free(list, n);
    free_plugin_dirs(&pd);
    return rc;
}

static int cmd_plugins_describe(cli *c)
{
    static const char usage[] = "payrun plugins describe NAME [--config FILE]";
    plugin_dirs pd;
    loaded_plugin *p = NULL;

    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "%s", "plugins describe takes one plugin name");
    if ((c->config_path || getenv("PAYRUN_CONFIG")) && load_config(c) != 0)
        return report(&c->err);
    if (get_plugin_dirs(c, &pd) != 0 ||
        plugin_load(pd.dirs, pd.n, c->argv[0], &p, &c->err) != 0) {
        free_plugin_dirs(&pd);
        return report(&c->err);
    }
    printf("%s %s (%s, ABI %u)\n%s\nfile: %s\nkeys:\n", p->desc->name, p->desc->version,
           plugin_kind_name(p->desc->kind), (unsigned)p->desc->abi_version,
           p->desc->description ? p->desc->description : "", p->file);
    if (p->desc->keys == NULL || p->desc->keys[0].name == NULL)
        printf("  (none)\n");
    print_keys(p->desc->keys, "  ");
    plugin_unload(p);
    free_plugin_dirs(&pd);
    return EXIT_OK;
}

static int cmd_config_check(cli *c)
{
    plugin_dirs pd;
    size_t stages = 0;

    if (no_stray_options(c, "payrun config check --config FILE") != 0)
        return EXIT_USAGE;
    if (c->argc != 0)
        return usage_error(c, "payrun config check --config FILE", "unexpected argument \"%s\"",
                           c->argv[0]);
    if (load_config(c) != 0)
        return report(&c->err);
    if (get_plugin_dirs(c, &pd) != 0)
        return report(&c->err);
    for (size_t i = 0; i < c->cfg->n_pipelines; i++) {
        const config_pipeline *pl = &c->cfg->pipelines[i];
        for (size_t j = 0; j < pl->n_stages; j++) {
            const config_stage *st = &pl->stages[j];
            loaded_plugin *p;
            if (plugin_load(pd.dirs, pd.n, st->plugin, &p, &c->err) != 0) {
                pr_err_prefix(&c->err, "%s:%d:%d: stage \"%s\"", c->cfg->path, st->line,
                              st->col, st->stage);
                free_plugin_dirs(&pd);
                return report(&c->err);
            }
            if (config_check_stage(c->cfg, st, p->desc, &c->err) != 0) {
                plugin_unload(p);
                free_plugin_dirs(&pd);
                return report(&c->err);
            }
            plugin_unload(p);
            stages++;
        }
    }
    free_plugin_dirs(&pd);
    printf("%s: ok: org %s, currency %s, %zu pipeline%s, %zu stage%s, database %s\n",
           c->cfg->path, c->cfg->org, c->cfg->currency->code, c->cfg->n_pipelines,
           c->cfg->n_pipelines == 1 ? "" : "s", stages, stages == 1 ? "" : "s",
           c->cfg->database);
    return EXIT_OK;
}

static int cmd_audit_verify(cli *c)
{
    store *s = NULL;
    audit_report r;

    if (no_stray_options(c, "payrun audit verify --config FILE") != 0)
        return EXIT_USAGE;
    if (open_store(c, &s) != 0 || store_audit_verify(s, &r, &c->err) != 0) {
        store_close(s);
        return report(&c->err);
    }
    store_close(s);
    if (r.bad_seq != 0) {
        pr_err_set(&c->err, EXIT_DATAERR,
                   "audit trail of org \"%s\" is broken at sequence %lld: %s (%lld events "
                   "verified before it)",
                   c->cfg->org, (long long)r.bad_seq, r.why, (long long)r.checked);
        pr_err_hint(&c->err, "the database was changed outside payrun; restore it from a "
                             "backup and investigate who had write access");
        return report(&c->err);
    }
    printf("audit trail of org %s: ok, %lld event%s verified\n", c->cfg->org,
           (long long)r.checked, r.checked == 1 ? "" : "s");
    return EXIT_OK;
}

struct audit_list_state {
    const char *entity;
    const char *action;
    const char *since;
    int format; /* 0 table, 1 json, 2 csv */
    long long shown;
};

static int audit_list_cb(const audit_event *e, void *ud)
{
    struct audit_list_state *st = ud;
    char seq[24];
    buf b;

    if (st->entity && strcmp(e->entity_id, st->entity) != 0)
        return 0;
    if (st->action && strcmp(e->action, st->action) != 0)
        return 0;
    if (st->since && strcmp(e->at, st->since) < 0)
        return 0;
    if (st->format == 0) {
        printf("%6lld  %s  %-12s %-26s %-8s %-20s %s\n", (long long)e->seq, e->at, e->actor,
               e->action, e->entity_type, e->entity_id, e->metadata);
        st->shown++;
        return 0;
    }
    buf_init(&b);
    snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
    if (st->format == 1) {
        buf_puts(&b, st->shown ? ",\n{" : "{");
        buf_printf(&b, "\"seq\":%s,", seq);
        buf_json_kv(&b, "at", e->at);
        buf_puts(&b, ",");
        buf_json_kv(&b, "actor", e->actor);
        buf_puts(&b, ",");
        buf_json_kv(&b, "action", e->action);
        buf_puts(&b, ",");
        buf_json_kv(&b, "entity_type", e->entity_type);
        buf_puts(&b, ",");
        buf_json_kv(&b, "entity_id", e->entity_id);
        /* metadata is a JSON object the store wrote; embed it as such */
        buf_printf(&b, ",\"metadata\":%s,", e->metadata);
        buf_json_kv(&b, "hash", e->hash);
        buf_puts(&b, "}");
    } else {
        const char *cells[] = {seq, e->at, e->actor, e->action, e->entity_type, e->entity_id,
                               e->metadata, e->hash};
        for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
            if (i)
                buf_puts(&b, ",");
            buf_csv_cell(&b, cells[i], i != 0);
        }
        buf_puts(&b, "\r\n");
    }
    if (!b.oom)
        fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
    st->shown++;
    return 0;
}

static int cmd_audit_list(cli *c)
{
    static const char usage[] = "payrun audit list [--entity ID] [--action A] [--since T] "
                                "[--format table|json|csv] --config FILE";
    struct audit_list_state st = {0};
    const char *format = NULL;
    store *s = NULL;
    int rc;

    if (take_opt(c, "--entity", &st.entity) < 0 || take_opt(c, "--action", &st.action) < 0 ||
        take_opt(c, "--since", &st.since) < 0 || take_opt(c, "--format", &format) < 0)
        return usage_error(c, usage, "%s", "an option is missing its value");
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 0)
        return usage_error(c, usage, "unexpected argument \"%s\"", c->argv[0]);
    if (format && strcmp(format, "table") != 0) {
        if (strcmp(format, "json") == 0)
            st.format = 1;
        else if (strcmp(format, "csv") == 0)
            st.format = 2;
        else
            return usage_error(c, usage, "unknown format \"%s\": use table, json or csv", format);
    }
    if (st.since) {
        /* ISO 8601 UTC compares as text: a date or a full time both work. */
        const char *p = st.since;
        int good = strlen(p) >= 10;
        for (int i = 0; good && i < 10; i++)
            good = (i == 4 || i == 7) ? p[i] == '-' : (p[i] >= '0' && p[i] <= '9');
        if (!good)
            return usage_error(c, usage, "bad --since \"%s\": use 2026-03-01 or "
                               "2026-03-01T09:00:00Z (UTC)", st.since);
    }
    if (open_store(c, &s) != 0) {
        store_close(s);
        return report(&c->err);
    }
    if (st.format == 0)
        printf("%6s  %-20s  %-12s %-26s %-8s %-20s %s\n", "SEQ", "AT", "ACTOR", "ACTION",
               "ENTITY", "ID", "METADATA");
    else if (st.format == 1)
        printf("{\"org\":\"%s\",\"events\":[\n", c->cfg->org);
    else
        printf("seq,at,actor,action,entity_type,entity_id,metadata,hash\r\n");
    rc = st.entity ? store_audit_entity(s, st.entity, audit_list_cb, &st, &c->err)
                   : store_audit_foreach(s, audit_list_cb, &st, &c->err);
    store_close(s);
    if (rc < 0)
        return report(&c->err);
    if (st.format == 1)
        printf("\n],\"shown\":%lld}\n", st.shown);
    return EXIT_OK;
}

static int authorize_run(void *ud, unsigned role, pr_err *err)
{
    cli *c = ud;
    char what[96];

    snprintf(what, sizeof(what), "run the %s pipeline", c->run_pipeline);
    if (resolve_actor(c, role, what) != 0) {
        *err = c->err;
        return -1;
    }
    return 0;
}

static int cmd_run(cli *c)
{
    static const char usage[] =
        "payrun run PIPELINE --period YYYY-MM [--dry-run] [--verbose] --config FILE";
    const char *period = NULL;
    pipeline_opts o;
    plugin_dirs pd;
    int dry = 0, verbose = 0, rc;

    if (take_opt(c, "--period", &period) < 0)
        return usage_error(c, usage, "--period needs a value");
    dry = take_flag(c, "--dry-run");
    verbose = take_flag(c, "--verbose");
    if (no_stray_options(c, usage) != 0)
        return EXIT_USAGE;
    if (c->argc != 1)
        return usage_error(c, usage, "run takes one pipeline name");
    if (period == NULL)
        return usage_error(c, usage, "run needs --period YYYY-MM");
    if (load_config(c) != 0 || get_plugin_dirs(c, &pd) != 0)
        return report(&c->err);
    memset(&o, 0, sizeof(o));
    o.pipeline = c->argv[0];
    o.period = period;
    o.actor = c->actor; /* filled in by authorize_run before anything runs */
    o.authorize = authorize_run;
    o.authorize_ud = c;
    c->run_pipeline = c->argv[0];
    o.dry_run = dry;
    o.verbose = verbose;
    o.out = stdout;
    rc = pipeline_run(c->cfg, pd.dirs, pd.n, &o, &c->err);
    free_plugin_dirs(&pd);
    return rc == 0 ? EXIT_OK : report(&c->err);
}

static const command commands[] = {
    {"run", cmd_run,
     "payrun run PIPELINE --period YYYY-MM [--dry-run] [--verbose] --config FILE",
     "Run a pipeline of the config (close, pay, settle, ...) over the org's batch for\n"
     "one period, in one transaction: everything commits or nothing does. A rerun\n"
     "with the same inputs and configuration changes nothing and says so. With\n"
     "--dry-run, everything runs and is then rolled back: nothing is written.\n"
     "A pipeline with a transition stage (pay, settle) needs the payer role; any\n"
     "other (close) needs the preparer role."},
    {"payouts list", cmd_payouts_list,
     "payrun payouts list [--status S] [--partner P] [--period P] [--search TEXT] "
     "[--sort FIELD|-FIELD] [--limit N] [--format table|csv|json] --config FILE",
     "List the org's payouts, filtered by status, partner, period or a case-insensitive\n"
     "search of partner id and name, notes and reference; sorted by amount, partner,\n"
     "period, created or status (prefix - for descending). Amounts are exact decimals,\n"
     "also in json (as strings)."},
    {"payouts show", cmd_payouts_show, "payrun payouts show ID --config FILE",
     "Print every field of a payout, its approvals, its commission lines' count and\n"
     "total, and its audit history."},
    {"payouts create", cmd_payouts_create,
     "payrun payouts create --partner P --amount X --period YYYY-MM [--notes TEXT] "
     "--config FILE",
     "Create a payout by hand (one manual payout per partner and period), pending\n"
     "approval by two approvers other than you. Needs the preparer role."},
    {"payouts update", cmd_payouts_update,
     "payrun payouts update ID [--amount X] [--notes TEXT] --config FILE",
     "Change the notes of a payout still pending approval, or the amount of one made\n"
     "by hand (a computed payout's amount is the sum of its lines: correct the inputs\n"
     "and rerun the close, or add a manual payout). A changed amount clears the\n"
     "approvals and then needs two approvers, neither of them you. Audited with\n"
     "before and after. Needs the preparer role."},
    {"payouts delete", cmd_payouts_delete, "payrun payouts delete ID --config FILE",
     "Delete a payout still pending approval; audited. Needs the preparer role."},
    {"approve", cmd_approve, "payrun approve ID... | --all-pending [--period YYYY-MM] --config FILE",
     "Record your approval of each payout; one that has all the approvals it requires\n"
     "moves to approved. One transaction. You cannot approve a payout twice, one you\n"
     "created or whose amount you typed, or one from a run you started; those are\n"
     "skipped with the reason. A payout whose amount was typed by hand needs two\n"
     "approvers. Exit 65 or 77 if a payout named on the command line was skipped.\n"
     "Needs the approver role."},
    {"reject", cmd_reject, "payrun reject ID --reason TEXT --config FILE",
     "Reject a payout pending approval, with the reason. Needs the approver role."},
    {"mark-processing", cmd_mark_processing, "payrun mark-processing ID... --config FILE",
     "Move approved payouts to processing (sent to the bank), all or none. Needs payer."},
    {"mark-paid", cmd_mark_paid, "payrun mark-paid ID --reference REF --config FILE",
     "Mark an approved or processing payout paid, with the payment reference. Needs payer."},
    {"mark-failed", cmd_mark_failed, "payrun mark-failed ID --reason TEXT --config FILE",
     "Mark a processing payout failed, with the reason. Needs payer."},
    {"retry", cmd_retry, "payrun retry ID... --config FILE",
     "Move failed payouts back to approved for the next payment. Needs payer."},
    {"stats", cmd_stats, "payrun stats [--period YYYY-MM] [--format table|json] --config FILE",
     "Count and total of the payouts per status, and overall."},
    {"partners show", cmd_partners_show, "payrun partners show PARTNER_ID --config FILE",
     "A partner's details (account numbers masked), lifetime paid, pending, approved\n"
     "and processing totals, last payout, and all its payouts."},
    {"plugins list", cmd_plugins_list, "payrun plugins list [--config FILE]",
     "List the plugins found on the plugin path: name, kind, version, ABI and file.\n"
     "The path is the config's plugin_path, else PAYRUN_PLUGIN_PATH (colon-separated),\n"
     "else the installed plugin directory."},
    {"plugins describe", cmd_plugins_describe, "payrun plugins describe NAME [--config FILE]",
     "Print a plugin's description and the configuration keys it declares: type,\n"
     "required or optional, default and help, read from the plugin itself."},
    {"config check", cmd_config_check, "payrun config check --config FILE",
     "Load the pipeline file, load every plugin it names and check each stage's\n"
     "with: block against the keys that plugin declares. Prints one summary line."},
    {"audit verify", cmd_audit_verify, "payrun audit verify --config FILE",
     "Recompute the org's audit hash chain and report the first event that was\n"
     "edited, deleted or reordered outside payrun (exit 65), or how many verified."},
    {"audit list", cmd_audit_list,
     "payrun audit list [--entity ID] [--action A] [--since T] [--format table|json|csv] "
     "--config FILE",
     "Print the org's audit events in sequence order, optionally only those of one\n"
     "entity (payout or partner id), one action, or at or after a UTC time (ISO 8601,\n"
     "a date or a full time). json is one document; csv is RFC 4180."},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(void)
{
    printf("payrun %s: period close for partner commission payouts\n\n"
           "usage: payrun COMMAND [ARGS] [--config FILE] [--as NAME]\n\ncommands:\n",
           PAYRUN_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %s\n", commands[i].usage + strlen("payrun "));
    printf("\noptions:\n"
           "  --config FILE   the pipeline file (default: $PAYRUN_CONFIG)\n"
           "  --as NAME       act as NAME (only with allow_actor_override: true)\n"
           "  --help          this help; `payrun COMMAND --help` for one command\n"
           "  --version       print the version and plugin ABI\n\n"
           "exit codes: 0 ok, 64 usage, 65 bad data, 66 missing input, 69 plugin\n"
           "unavailable, 70 internal error, 73 cannot create output, 74 I/O error,\n"
           "75 database busy (retry), 77 permission denied, 78 configuration error\n");
}

int cli_main(int argc, char **argv)
{
    cli c;
    char **rest;
    int nrest = 0, rc;
    const command *cmd = NULL;

    memset(&c, 0, sizeof(c));
    rest = calloc((size_t)argc + 1, sizeof(char *));
    if (rest == NULL) {
        fprintf(stderr, "payrun: out of memory\n");
        return EXIT_SOFTWARE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            c.help = 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("payrun %s (plugin ABI %d)\n", PAYRUN_VERSION, PAYRUN_ABI_VERSION);
            free(rest);
            return EXIT_OK;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "--as") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "payrun: %s needs a value\n", a);
                free(rest);
                return EXIT_USAGE;
            }
            if (a[2] == 'c')
                c.config_path = argv[++i];
            else
                c.as = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            c.config_path = a + 9;
        } else if (strncmp(a, "--as=", 5) == 0) {
            c.as = a + 5;
        } else {
            rest[nrest++] = argv[i];
        }
    }

    /* Commands are one or two words; match the longest. */
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const char *name = commands[i].name;
        const char *sp = strchr(name, ' ');
        if (sp == NULL) {
            if (nrest >= 1 && strcmp(rest[0], name) == 0)
                cmd = &commands[i];
        } else if (nrest >= 2 && strncmp(rest[0], name, (size_t)(sp - name)) == 0 &&
                   rest[0][sp - name] == '\0' && strcmp(rest[1], sp + 1) == 0) {
            cmd = &commands[i];
        }
    }
    if (cmd == NULL) {
        if (nrest == 0) {
            print_help();
            free(rest);
            return c.help ? EXIT_OK : EXIT_USAGE;
        }
        fprintf(stderr, "payrun: unknown command \"%s%s%s\"\nhint: run payrun --help to see the commands\n",
                rest[0], nrest > 1 ? " " : "", nrest > 1 ? rest[1] : "");
        free(rest);
        return EXIT_USAGE;
    }
    if (c.help) {
        printf("usage: %s\n\n%s\n", cmd->usage, cmd->help);
        free(rest);
        return EXIT_OK;
    }
    c.argv = rest + (strchr(cmd->name, ' ') ? 2 : 1);
    c.argc = nrest - (strchr(cmd->name, ' ') ? 2 : 1);
    rc = cmd->fn(&c);
    config_free(c.cfg);
    free(rest);
    return rc;
}
