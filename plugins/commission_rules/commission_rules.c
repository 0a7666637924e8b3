/*
 * commission_rules.c: the calculator plugin. It chooses the commission rate
 * of each attribution line and nothing else: the first configured rule, in
 * the order listed, whose every given condition matches the line gives its
 * rate and name; a line no rule matches earns the partner's own rate, under
 * the rule name "partner_rate" (SPEC section 3, rule 1).
 *
 * All arithmetic (exact line commission, the one rounding per payout,
 * largest-remainder sharing, min_payout roll-over) is the core's, done in
 * host->calculate(); this plugin only passes it the rounding mode and
 * min_payout from its configuration, so money never goes through code that
 * a plugin author could get subtly wrong.
 */
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

/* Rule name given to lines that no configured rule matches. */
#define PARTNER_RATE_RULE "partner_rate"

static const struct payrun_config_key rule_fields[] = {
    {"name", PAYRUN_KEY_STRING, 1, NULL, "rule name, recorded on every line it rates", NULL,
     NULL},
    {"partner_type", PAYRUN_KEY_ENUM, 0, NULL, "match only partners of this type",
     "affiliate|referral|reseller|integration", NULL},
    {"partner_tier", PAYRUN_KEY_ENUM, 0, NULL, "match only partners of this tier",
     "bronze|silver|gold|platinum", NULL},
    {"product_line", PAYRUN_KEY_STRING, 0, NULL, "match only lines of this product line", NULL,
     NULL},
    {"min_amount", PAYRUN_KEY_MONEY, 0, NULL,
     "match only lines whose attributed amount is at least this", NULL, NULL},
    {"rate", PAYRUN_KEY_RATE, 1, NULL, "commission rate in percent for matching lines", NULL,
     NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct payrun_config_key keys[] = {
    {"rounding", PAYRUN_KEY_ENUM, 0, "half_even",
     "how each payout is rounded to the minor unit", "half_even|half_up", NULL},
    {"min_payout", PAYRUN_KEY_MONEY, 0, "0.00",
     "positive payouts below this roll over to the next period", NULL, NULL},
    {"rules", PAYRUN_KEY_LIST, 0, NULL,
     "rate rules, first match wins; no match: the partner's own rate", NULL, rule_fields},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};

struct rule {
    char *name;
    char *count_name;   /* "rule:NAME", built once rather than per line */
    char *partner_type; /* NULL: any */
    char *partner_tier; /* NULL: any */
    char *product_line; /* NULL: any */
    int has_min_amount;
    int64_t min_amount;
    int64_t rate;
};

struct ctx {
    const struct payrun_host *host;
    payrun_stage *st; /* set by run(), for counts from inside rate_for() */
    struct rule *rules;
    int n_rules;
    int rounding;
    int64_t min_payout;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *d = malloc(na + nb + 1);
    if (d != NULL) {
        memcpy(d, a, na);
        memcpy(d + na, b, nb + 1);
    }
    return d;
}

static void destroy(void *p)
{
    struct ctx *c = p;
    if (c == NULL)
        return;
    for (int i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].count_name);
        free(c->rules[i].partner_type);
        free(c->rules[i].partner_tier);
        free(c->rules[i].product_line);
    }
    free(c->rules);
    free(c);
}

/* An optional string field of rule `i`: *out stays NULL when unset. Copied,
 * because the header promises no lifetime for what cfg_string returns and
 * rate_for() reads it for the whole of calculate(). */
static int opt_field(struct ctx *c, payrun_stage *st, int i, const char *field, char **out)
{
    const char *v = NULL;
    if (c->host->cfg_string(st, "rules", i, field, &v) != PAYRUN_OK || v == NULL)
        return PAYRUN_OK;
    *out = dup_str(v);
    if (*out == NULL)
        return c->host->error(st, PAYRUN_ERR, NULL, "out of memory reading rule %d", i + 1);
    return PAYRUN_OK;
}

static int read_rule(struct ctx *c, payrun_stage *st, int i, struct rule *r)
{
    const struct payrun_host *h = c->host;
    const char *name = NULL;

    if (h->cfg_string(st, "rules", i, "name", &name) != PAYRUN_OK || name == NULL ||
        name[0] == '\0')
        return h->error(st, PAYRUN_ERR_CONFIG, "give every rule a name, e.g. name: gold-resellers",
                        "rule %d of \"rules\" has no name", i + 1);
    /* Commission lines trace to their rule by name alone, so two rules of
     * one name, or one called like the fallback, would make that trace lie. */
    if (strcmp(name, PARTNER_RATE_RULE) == 0)
        return h->error(st, PAYRUN_ERR_CONFIG, "choose another name for this rule",
                        "rule %d of \"rules\" is named \"%s\", which is reserved for lines "
                        "that no rule matches",
                        i + 1, name);
    for (int j = 0; j < i; j++)
        if (strcmp(c->rules[j].name, name) == 0)
            return h->error(st, PAYRUN_ERR_CONFIG, "give each rule its own name",
                            "rules %d and %d of \"rules\" are both named \"%s\"", j + 1, i + 1,
                            name);
    r->name = dup_str(name);
    r->count_name = concat("rule:", name);
    if (r->name == NULL || r->count_name == NULL)
        return h->error(st, PAYRUN_ERR, NULL, "out of memory reading rule \"%s\"", name);
    if (h->cfg_rate(st, "rules", i, "rate", &r->rate) != PAYRUN_OK)
        return h->error(st, PAYRUN_ERR_CONFIG, "add a rate, e.g. rate: \"12.5\"",
                        "rule \"%s\" has no rate", name);
    if (opt_field(c, st, i, "partner_type", &r->partner_type) != PAYRUN_OK ||
        opt_field(c, st, i, "partner_tier", &r->partner_tier) != PAYRUN_OK ||
        opt_field(c, st, i, "product_line", &r->product_line) != PAYRUN_OK)
        return PAYRUN_ERR;
    r->has_min_amount = h->cfg_money(st, "rules", i, "min_amount", &r->min_amount) == PAYRUN_OK;
    return PAYRUN_OK;
}

static int no_conditions(const struct rule *r)
{
    return !r->partner_type && !r->partner_tier && !r->product_line && !r->has_min_amount;
}

static int init(const struct payrun_host *host, payrun_stage *st, void **out)
{
    struct ctx *c = calloc(1, sizeof(*c));
    const char *rounding = NULL;
    int n;

    if (c == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    c->host = host;
    if (host->cfg_string(st, "rounding", -1, NULL, &rounding) != PAYRUN_OK || rounding == NULL)
        rounding = "half_even";
    if (strcmp(rounding, "half_even") == 0) {
        c->rounding = PAYRUN_ROUND_HALF_EVEN;
    } else if (strcmp(rounding, "half_up") == 0) {
        c->rounding = PAYRUN_ROUND_HALF_UP;
    } else {
        host->error(st, PAYRUN_ERR_CONFIG, "write rounding: half_even or rounding: half_up",
                    "unknown rounding \"%s\"", rounding);
        goto fail;
    }
    if (host->cfg_money(st, "min_payout", -1, NULL, &c->min_payout) != PAYRUN_OK)
        c->min_payout = 0;
    if (c->min_payout < 0) {
        host->error(st, PAYRUN_ERR_CONFIG, "write a min_payout of zero or more, e.g. \"100.00\"",
                    "min_payout must not be negative");
        goto fail;
    }

    n = host->cfg_list_len(st, "rules");
    if (n > 0) {
        c->rules = calloc((size_t)n, sizeof(*c->rules));
        if (c->rules == NULL) {
            host->error(st, PAYRUN_ERR, NULL, "out of memory for %d rules", n);
            goto fail;
        }
    }
    for (int i = 0; i < n; i++) {
        c->n_rules = i + 1; /* so destroy() frees a half-read rule too */
        if (read_rule(c, st, i, &c->rules[i]) != PAYRUN_OK)
            goto fail;
    }
    for (int i = 0; i + 1 < c->n_rules; i++) {
        if (no_conditions(&c->rules[i])) {
            host->log(st, PAYRUN_LOG_WARN,
                      "rule \"%s\" has no conditions and matches every line, so the %d rule(s) "
                      "after it never apply",
                      c->rules[i].name, c->n_rules - i - 1);
            break;
        }
    }
    *out = c;
    return PAYRUN_OK;
fail:
    destroy(c);
    return PAYRUN_ERR;
}

/* A condition the rule does not give matches anything. */
static int text_matches(const char *want, const char *have)
{
    return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static int rule_matches(const struct rule *r, const struct payrun_calc_line *l)
{
    return text_matches(r->partner_type, l->partner_type) &&
           text_matches(r->partner_tier, l->partner_tier) &&
           text_matches(r->product_line, l->product_line) &&
           (!r->has_min_amount || l->attributed_amount >= r->min_amount);
}

static int rate_for(void *ud, const struct payrun_calc_line *line, int64_t *rate,
                    const char **rule)
{
    struct ctx *c = ud;

    for (int i = 0; i < c->n_rules; i++) {
        const struct rule *r = &c->rules[i];
        if (rule_matches(r, line)) {
            *rate = r->rate;
            *rule = r->name;
            c->host->count(c->st, r->count_name, 1);
            return PAYRUN_OK;
        }
    }
    *rate = line->partner_rate;
    *rule = PARTNER_RATE_RULE;
    c->host->count(c->st, "rule:" PARTNER_RATE_RULE, 1);
    return PAYRUN_OK;
}

static int run(void *p, payrun_stage *st)
{
    struct ctx *c = p;
    struct payrun_calc_params params;

    memset(&params, 0, sizeof(params));
    params.size = sizeof(params);
    params.rounding = c->rounding;
    params.min_payout = c->min_payout;
    c->st = st;
    return c->host->calculate(st, &params, rate_for, c);
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "commission_rules",
    .kind = PAYRUN_KIND_CALCULATOR,
    .version = "1.0.0",
    .description = "commission rates by first matching rule, else the partner's rate",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
