/*
 * jump_guard.c: a custom approval rule, as a payrun user would write one.
 *
 * Two checks a controller asks for that the shipped approval_rules does
 * not make:
 *  - a payout more than `jump_percent` above the partner's previous one
 *    needs a second approver;
 *  - with `hold_first_payout`, a partner's first payout is held until
 *    someone looks at it (and the hold is lifted by the next close that no
 *    longer holds it, or the payout is rejected).
 * Put this stage after approval_rules: it only ever asks for more care.
 *
 * Build it against the installed header only:
 *   cmake -S . -B build -DCMAKE_PREFIX_PATH=/usr/local && cmake --build build
 * or
 *   cc -shared -fPIC $(pkg-config --cflags payrun-plugin) -o jump_guard.so jump_guard.c
 */
#include <stdlib.h>
#include <string.h>

#include <payrun/plugin.h>

/* The keys a stage's `with:` block may hold. The core checks the block
 * against this table before any stage runs, applies the defaults, and
 * `payrun plugins describe jump_guard` prints it. */
static const struct payrun_config_key keys[] = {
    {.name = "jump_percent", .type = PAYRUN_KEY_RATE, .default_value = "50",
     .help = "a payout more than this percent above the previous one needs two approvers"},
    {.name = "hold_first_payout", .type = PAYRUN_KEY_BOOL, .default_value = "false",
     .help = "hold a partner's first payout for review"},
    {.name = NULL},
};

/* One stage instance: init creates it, destroy frees it. No globals, so
 * two stages of one pipeline can use this plugin with different keys. */
struct guard {
    const struct payrun_host *host;
    payrun_stage *st;
    int64_t jump;   /* millionths of a percent */
    int hold_first;
};

static int init(const struct payrun_host *host, payrun_stage *st, void **ctx)
{
    struct guard *g;

    if (!PAYRUN_HOST_HAS(host, decide))
        return host->error(st, PAYRUN_ERR_CONFIG, "use a newer payrun", "this payrun cannot decide");
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return host->error(st, PAYRUN_ERR, NULL, "out of memory");
    g->host = host;
    g->st = st;
    if (host->cfg_rate(st, "jump_percent", -1, NULL, &g->jump) != PAYRUN_OK ||
        host->cfg_bool(st, "hold_first_payout", -1, NULL, &g->hold_first) != PAYRUN_OK) {
        free(g);
        return host->error(st, PAYRUN_ERR_CONFIG, NULL, "cannot read the stage's keys");
    }
    *ctx = g;
    return PAYRUN_OK;
}

static int one(void *ud, const struct payrun_payout_view *p)
{
    struct guard *g = ud;
    const struct payrun_host *h = g->host;
    __int128 limit;

    /* Never undo what a person did: only pending payouts are decided. */
    if (strcmp(p->status, "pending_approval") != 0)
        return PAYRUN_OK;
    if (!p->has_previous) {
        if (!g->hold_first)
            return PAYRUN_OK;
        h->count(g->st, "held_first", 1);
        return h->decide(g->st, p->id, PAYRUN_DECIDE_HOLD, 0, "jump_guard",
                         "first payout to this partner");
    }
    /* An earlier stage already asks for two or more approvers. */
    if (p->approvals_required >= 2 || p->previous_amount <= 0)
        return PAYRUN_OK;
    /* previous x (100 + jump) / 100, exactly: amounts are int64 minor
     * units and the rate millionths of a percent, so work in 128 bits. */
    limit = (__int128)p->previous_amount * (100 * (__int128)PAYRUN_RATE_SCALE + g->jump);
    if ((__int128)p->amount * 100 * PAYRUN_RATE_SCALE <= limit)
        return PAYRUN_OK;
    h->count(g->st, "jumps", 1);
    return h->decide(g->st, p->id, PAYRUN_DECIDE_REQUIRE, 2, "jump_guard", NULL);
}

static int run(void *ctx, payrun_stage *st)
{
    struct guard *g = ctx;
    return g->host->each_payout(st, one, g);
}

static void destroy(void *ctx)
{
    free(ctx); /* NULL when init failed: free(NULL) does nothing */
}

static const struct payrun_plugin descriptor = {
    .size = sizeof(struct payrun_plugin),
    .abi_version = PAYRUN_ABI_VERSION,
    .name = "jump_guard",
    .kind = PAYRUN_KIND_APPROVER,
    .version = "1.0.0",
    .description = "second approver for sudden jumps; optional hold on first payouts",
    .keys = keys,
    .init = init,
    .run = run,
    .destroy = destroy,
};

PAYRUN_EXPORT const struct payrun_plugin *payrun_plugin_descriptor(void)
{
    return &descriptor;
}
