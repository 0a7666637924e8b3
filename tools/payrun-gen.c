/*
 * payrun-gen: writes a partners file and an attribution file of any size
 * for one period, deterministic by seed, for tests and benchmarks.
 *
 *   payrun-gen --partners N --lines M --period YYYY-MM [--seed S] [--dir D]
 *
 * writes D/partners.csv and D/attributions-YYYY-MM.csv. The same
 * arguments give byte-identical files. About 3% of lines are lost or open
 * deals, about 2% are clawbacks (negative amounts), every 7th deal is
 * split three ways with a largest-remainder split of its amount, and
 * amounts range from 0.01 to 250,000.00, so rules, roll-over and negative
 * totals all occur. It writes in the org currency USD.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

/* xorshift64*: small, fast and the same everywhere. */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint64_t below(uint64_t n)
{
    return rnd() % n;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void money(FILE *f, int64_t cents)
{
    if (cents < 0) {
        fputc('-', f);
        cents = -cents;
    }
    fprintf(f, "%" PRId64 ".%02" PRId64, cents / 100, cents % 100);
}

static const char *const types[] = {"affiliate", "referral", "reseller", "integration"};
static const char *const tiers[] = {"bronze", "silver", "gold", "platinum"};
static const char *const models[] = {"equal_split", "first_touch", "last_touch", "time_decay",
                                     "role_based"};
static const char *const lines_of_business[] = {"platform", "analytics", "integrations", ""};

int main(int argc, char **argv)
{
    uint64_t partners = 0, lines = 0, seed = 1;
    const char *period = NULL, *dir = ".";
    char path[4096];
    FILE *f;
    int days;

    for (int i = 1; i + 1 < argc; i += 2) {
        int bad = 0;
        if (strcmp(argv[i], "--partners") == 0)
            bad = parse_u64(argv[i + 1], &partners);
        else if (strcmp(argv[i], "--lines") == 0)
            bad = parse_u64(argv[i + 1], &lines);
        else if (strcmp(argv[i], "--seed") == 0)
            bad = parse_u64(argv[i + 1], &seed);
        else if (strcmp(argv[i], "--period") == 0)
            period = argv[i + 1];
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "payrun-gen: bad argument \"%s %s\"\n", argv[i], argv[i + 1]);
            return 64;
        }
    }
    if (partners == 0 || lines == 0 || period == NULL || strlen(period) != 7 ||
        argc % 2 != 1) {
        fprintf(stderr, "usage: payrun-gen --partners N --lines M --period YYYY-MM "
                        "[--seed S] [--dir D]\n");
        return 64;
    }
    days = strcmp(period + 5, "02") == 0 ? 28 : 30;
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;

    snprintf(path, sizeof(path), "%s/partners.csv", dir);
    if ((f = fopen(path, "w")) == NULL) {
        perror(path);
        return 73;
    }
    fputs("partner_id,name,type,tier,commission_rate,status,currency,email,routing_number,"
          "account_number,iban,bic,account_name\n", f);
    for (uint64_t p = 0; p < partners; p++) {
        uint64_t rate = 1 + below(20), tenths = below(10);
        /* 1 in 50 partners is inactive; 1 in 10 has no bank details; 1 in
         * 100 is a small referral partner at 0.1% whose commission stays
         * under any sensible min_payout and rolls over. */
        if (p % 100 == 99)
            rate = 0, tenths = 1;
        fprintf(f, "P%06" PRIu64 ",Partner %" PRIu64 " Ltd,%s,%s,%" PRIu64 ".%" PRIu64 ",%s,USD,"
                "ap%" PRIu64 "@example.com,",
                p, p, p % 100 == 99 ? "referral" : types[below(4)],
                p % 100 == 99 ? "bronze" : tiers[below(4)], rate, tenths,
                p % 50 == 49 ? "inactive" : "active", p);
        if (p % 10 == 9)
            fputs(",,,,\n", f);
        else
            fprintf(f, "021000021,%010" PRIu64 ",,,Partner %" PRIu64 " Ltd\n", 1000000 + p, p);
    }
    if (fclose(f) != 0) {
        perror(path);
        return 74;
    }

    snprintf(path, sizeof(path), "%s/attributions-%s.csv", dir, period);
    if ((f = fopen(path, "w")) == NULL) {
        perror(path);
        return 73;
    }
    fputs("deal_id,deal_name,deal_status,closed_on,partner_id,model,percentage,"
          "attributed_amount,currency,product_line\n", f);
    for (uint64_t n = 0, deal = 0; n < lines; deal++) {
        uint64_t r = below(100);
        const char *status = r < 2 ? "lost" : r < 3 ? "open" : "won";
        int64_t amount = 1 + (int64_t)below(r < 50 ? 500000 : 25000000);
        int ways = deal % 7 == 6 && partners >= 3 ? 3 : 1;
        uint64_t first = below(partners);
        const char *lob = lines_of_business[below(4)];
        int day = 1 + (int)below((uint64_t)days);

        for (int w = 0; w < ways; w++)
            if ((first + (uint64_t)w * 7919) % partners % 100 == 99)
                amount = amount % 100000; /* small partners: small deals only */
        if (amount == 0)
            amount = 1;
        if (below(50) == 0)
            amount = -amount / 10 - 1; /* a clawback */
        for (int w = 0; w < ways && n < lines; w++, n++) {
            /* Largest remainder by hand for three equal shares: the first
             * share takes the leftover cents. */
            int64_t share = amount / ways + (w == 0 ? amount % ways : 0);
            uint64_t partner = (first + (uint64_t)w * 7919) % partners;
            fprintf(f, "D%08" PRIu64 ",Deal %" PRIu64 ",%s,", deal, deal, status);
            if (strcmp(status, "open") != 0)
                fprintf(f, "%s-%02d", period, day);
            fprintf(f, ",P%06" PRIu64 ",%s,%s,", partner, models[below(5)],
                    ways == 1 ? "100" : w == 0 ? "33.333334" : "33.333333");
            money(f, share);
            fprintf(f, ",USD,%s\n", lob);
        }
    }
    if (fclose(f) != 0) {
        perror(path);
        return 74;
    }
    return 0;
}
