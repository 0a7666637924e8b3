/*
 * floor: the least work any close must do with its attribution file. It
 * parses the CSV with libcsv and inserts every data row into one SQLite
 * table, with one prepared statement, typed binds and one transaction, and
 * nothing else: no partners, no checks beyond the shape of a row, no
 * commissions, no outputs. bench/close.sh times it next to `payrun run
 * close` so the harness shows how far payrun is from this floor.
 *
 *   floor [--clustered] ATTRIBUTIONS.csv DATABASE
 *
 * --clustered is the bound of any stored layout: each line with its
 * commission in one row (rule, rate, exact commission, shared amount,
 * payout), in one b-tree clustered by (org, period, partner, deal), with
 * no other index. That is the least a close can store to keep every line
 * and its commission. The file must already be in the order of that key,
 * by partner, then deal (close.sh sorts a copy, untimed), so every row is
 * appended where the last one went: the cheapest insert there is. A row
 * out of order is refused rather than timed at the cost of a random one.
 * The commission is one fixed rate and the payout one fixed id, so the
 * figure leaves out the pricing, the payouts, the outputs and the audit
 * trail: it is lower than any real close could be.
 *
 * DATABASE must not exist yet. The journal settings are payrun's own (WAL,
 * synchronous FULL), so both pay the same for durability. Exit 0 on
 * success; otherwise one line on stderr naming the file and line, and exit
 * 65 (bad data), 66 (cannot open the input), 73 (database exists) or 74
 * (I/O or SQLite error).
 *
 *   cc -O2 -Wall -Wextra -o floor bench/floor.c -lcsv -lsqlite3
 */
#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_COLS 10
#define AMOUNT_COL 7 /* attributed_amount, bound as integer minor units */
#define DEAL_COL 0
#define PARTNER_COL 4
#define KEY_MAX 64 /* bytes of a partner or deal id, for the order check */
#define BOUND_RATE INT64_C(6400000) /* 6.4%, in the core's millionths of a percent */

static const char *const header[N_COLS] = {
    "deal_id", "deal_name", "deal_status", "closed_on", "partner_id",
    "model",   "percentage", "attributed_amount", "currency", "product_line",
};

/* One row's fields, copied out of libcsv's buffer (which it reuses for the
 * next field) into one buffer that grows to the longest row and is reused
 * for every row, so there is no allocation per row. */
struct loader {
    const char *path;
    sqlite3 *db;
    sqlite3_stmt *ins;
    char *buf;
    size_t cap, used;
    size_t off[N_COLS], len[N_COLS];
    int n_fields;   /* fields seen in the current row */
    uint64_t line;  /* rows seen, header included */
    uint64_t rows;  /* data rows inserted */
    int failed;     /* exit code once something failed, else 0 */
    int clustered;  /* --clustered: the layout bound */
    char last_partner[KEY_MAX]; /* --clustered: the key of the row before */
    char last_deal[KEY_MAX];
};

static void fail(struct loader *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct loader *l, int code, const char *fmt, ...)
{
    va_list ap;
    if (l->failed)
        return; /* the first failure is the one to report */
    l->failed = code;
    fprintf(stderr, "floor: %s:%" PRIu64 ": ", l->path, l->line + 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "-12.3", "45", "0.07" into minor units (cents); -1 if it is not an
 * amount with at most two decimals that fits in an int64. */
static int parse_amount(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0, decimals = -1;
    int64_t v = 0;

    if (i < n && s[i] == '-')
        neg = 1, i++;
    if (i == n)
        return -1;
    for (; i < n; i++) {
        if (s[i] == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9' || decimals == 2 || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
        if (decimals >= 0)
            decimals++;
    }
    if (decimals == 0)
        return -1; /* "12." */
    for (int d = decimals < 0 ? 0 : decimals; d < 2; d++) {
        if (v > INT64_MAX / 10)
            return -1;
        v *= 10;
    }
    *out = neg ? -v : v;
    return 0;
}

static void on_field(void *field, size_t n, void *data)
{
    struct loader *l = data;

    if (l->failed)
        return;
    if (l->n_fields == N_COLS) {
        l->n_fields++; /* too many; reported at the end of the row */
        return;
    }
    if (l->n_fields > N_COLS)
        return;
    if (l->used + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        char *p;
        while (cap < l->used + n + 1)
            cap *= 2;
        if ((p = realloc(l->buf, cap)) == NULL) {
            fail(l, 74, "out of memory for a row of %zu bytes", l->used + n + 1);
            return;
        }
        l->buf = p, l->cap = cap;
    }
    if (n > 0)
        memcpy(l->buf + l->used, field, n);
    l->off[l->n_fields] = l->used;
    l->len[l->n_fields] = n;
    l->used += n;
    l->buf[l->used++] = '\0';
    l->n_fields++;
}

static void insert_row(struct loader *l)
{
    int64_t amount = 0;
    int rc = SQLITE_OK;

    for (int i = 0; i < N_COLS && rc == SQLITE_OK; i++) {
        const char *f = l->buf + l->off[i];
        if (i == AMOUNT_COL) {
            if (parse_amount(f, l->len[i], &amount) != 0) {
                fail(l, 65, "bad attributed_amount \"%s\"", f);
                return;
            }
            rc = sqlite3_bind_int64(l->ins, i + 1, amount);
        } else if (l->len[i] == 0) {
            rc = sqlite3_bind_null(l->ins, i + 1);
        } else {
            rc = sqlite3_bind_text(l->ins, i + 1, f, (int)l->len[i], SQLITE_STATIC);
        }
    }
    if (rc == SQLITE_OK && l->clustered) {
        const char *partner = l->buf + l->off[PARTNER_COL], *deal = l->buf + l->off[DEAL_COL];
        int64_t exact;
        int by_partner = strcmp(partner, l->last_partner);
        if (l->len[PARTNER_COL] >= KEY_MAX || l->len[DEAL_COL] >= KEY_MAX) {
            fail(l, 65, "partner or deal id over %d bytes", KEY_MAX - 1);
            return;
        }
        if (by_partner < 0 || (by_partner == 0 && l->rows > 0 && strcmp(deal, l->last_deal) <= 0)) {
            fail(l, 65, "partner \"%s\", deal \"%s\" after partner \"%s\", deal \"%s\": "
                 "--clustered needs the rows sorted by partner, then deal",
                 partner, deal, l->last_partner, l->last_deal);
            return;
        }
        memcpy(l->last_partner, partner, l->len[PARTNER_COL] + 1);
        memcpy(l->last_deal, deal, l->len[DEAL_COL] + 1);
        if (__builtin_mul_overflow(amount, BOUND_RATE, &exact)) {
            fail(l, 65, "attributed_amount %" PRId64 " times the rate overflows", amount);
            return;
        }
        rc = sqlite3_bind_int64(l->ins, N_COLS + 1, exact);
        if (rc == SQLITE_OK) /* the exact commission in cents: exact / 10^8 */
            rc = sqlite3_bind_int64(l->ins, N_COLS + 2, exact / 100000000);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(l->ins);
    if (rc != SQLITE_DONE) {
        fail(l, 74, "insert: %s", sqlite3_errmsg(l->db));
        return;
    }
    sqlite3_reset(l->ins);
    l->rows++;
}

static void on_row(int terminator, void *data)
{
    struct loader *l = data;

    (void)terminator;
    if (!l->failed) {
        if (l->n_fields != N_COLS) {
            fail(l, 65, "%d fields, expected %d", l->n_fields, N_COLS);
        } else if (l->line == 0) {
            for (int i = 0; i < N_COLS; i++)
                if (strcmp(l->buf + l->off[i], header[i]) != 0) {
                    fail(l, 65, "column %d is \"%s\", expected \"%s\"", i + 1,
                         l->buf + l->off[i], header[i]);
                    break;
                }
        } else {
            insert_row(l);
        }
    }
    l->n_fields = 0;
    l->used = 0;
    l->line++;
}

static int exec(struct loader *l, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(l->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "floor: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(l->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Parse the whole file through libcsv in 64 KiB reads. */
static void load(struct loader *l, FILE *in)
{
    static char chunk[64 * 1024];
    struct csv_parser p;
    size_t n;

    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        fail(l, 74, "cannot start the CSV parser");
        return;
    }
    while (!l->failed && (n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        if (csv_parse(&p, chunk, n, on_field, on_row, l) != n)
            fail(l, 65, "%s", csv_strerror(csv_error(&p)));
    }
    if (!l->failed && ferror(in))
        fail(l, 74, "read: %s", strerror(errno));
    if (!l->failed && csv_fini(&p, on_field, on_row, l) != 0)
        fail(l, 65, "%s", csv_strerror(csv_error(&p)));
    csv_free(&p);
    if (!l->failed && l->line == 0)
        fail(l, 65, "empty file: no header row");
}

#define LINE_COLUMNS                                                               \
    "deal_id TEXT, deal_name TEXT, deal_status TEXT, closed_on TEXT, partner_id TEXT," \
    " model TEXT, percentage TEXT, attributed_amount INTEGER, currency TEXT,"         \
    " product_line TEXT"
#define PLAIN_TABLE "CREATE TABLE lines (" LINE_COLUMNS ")"
#define PLAIN_INSERT "INSERT INTO lines VALUES (?,?,?,?,?,?,?,?,?,?)"
#define CLUSTERED_TABLE                                                             \
    "CREATE TABLE lines (" LINE_COLUMNS ", org TEXT, period TEXT, rule TEXT,"       \
    " rate INTEGER, exact INTEGER, amount INTEGER, payout_id TEXT,"                 \
    " PRIMARY KEY (org, period, partner_id, deal_id)) WITHOUT ROWID"
#define CLUSTERED_INSERT                                                            \
    "INSERT INTO lines VALUES (?,?,?,?,?,?,?,?,?,?, 'bench', '2026-02', 'partner_rate'," \
    " 6400000, ?11, ?12, 'po_0123456789abcdef')"

int main(int argc, char **argv)
{
    struct loader l = {0};
    struct stat sb;
    FILE *in;

    if (argc == 4 && strcmp(argv[1], "--clustered") == 0) {
        l.clustered = 1;
        argv++, argc--;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: floor [--clustered] ATTRIBUTIONS.csv DATABASE\n");
        return 64;
    }
    l.path = argv[1];
    if (stat(argv[2], &sb) == 0) {
        fprintf(stderr, "floor: %s exists; give a new database file\n", argv[2]);
        return 73;
    }
    if ((in = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(errno));
        return 66;
    }
    if (sqlite3_open(argv[2], &l.db) != SQLITE_OK) {
        fprintf(stderr, "floor: %s: %s\n", argv[2], sqlite3_errmsg(l.db));
        sqlite3_close(l.db);
        fclose(in);
        return 74;
    }
    if (exec(&l, "PRAGMA journal_mode = WAL") != 0 ||
        exec(&l, "PRAGMA synchronous = FULL") != 0 ||
        exec(&l, l.clustered ? CLUSTERED_TABLE : PLAIN_TABLE) != 0 ||
        exec(&l, "BEGIN") != 0) {
        l.failed = 74;
    } else if (sqlite3_prepare_v2(l.db, l.clustered ? CLUSTERED_INSERT : PLAIN_INSERT, -1,
                                  &l.ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "floor: prepare: %s\n", sqlite3_errmsg(l.db));
        l.failed = 74;
    } else {
        load(&l, in);
    }
    sqlite3_finalize(l.ins);
    if (!l.failed && exec(&l, "COMMIT") != 0)
        l.failed = 74;
    if (sqlite3_close(l.db) != SQLITE_OK) {
        fprintf(stderr, "floor: close %s: %s\n", argv[2], sqlite3_errmsg(l.db));
        if (!l.failed)
            l.failed = 74;
    }
    fclose(in);
    free(l.buf);
    if (!l.failed)
        printf("floor: %" PRIu64 " rows into %s\n", l.rows, argv[2]);
    return l.failed;
}
