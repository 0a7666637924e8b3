/*
 * store.c: every SQL statement of payrun, over SQLite.
 *
 * Durability settings are chosen for money, not speed: WAL with
 * synchronous=FULL (a committed close survives power loss), foreign keys
 * enforced, and a busy timeout so that a second process waits for the
 * write lock and then fails with EXIT_TEMPFAIL instead of corrupting
 * anything. Each table carries `org`, and every index that a query uses
 * starts with it; the org is bound from the handle, never from a caller.
 *
 * The audit chain head (last seq and hash per org) is kept in its own
 * table and updated with every append, so deleting the newest events is
 * caught by verify too, not only edits in the middle.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <payrun/plugin.h>

#include "buf.h"
#include "clock.h"
#include "linesort.h"
#include "sha256.h"

/* Every statement is prepared once per handle and reused: a bulk approval
 * runs the same dozen statements thousands of times, and preparing them
 * each time cost more than running them. Keyed by the SQL text, since some
 * of it is built at run time; the number of distinct texts is small and
 * fixed by this file. */
#define STMT_SLOTS 128

/* Page cache, and the smaller one while staged lines are settled (KiB). */
#define PAGE_CACHE_KIB "32768"
#define SORT_CACHE_KIB "8192"
/* The memory staged lines may take before they go to a temporary file,
 * in MiB: the default, and the bounds of PAYRUN_SORT_MEMORY. */
#define STAGE_MEM_MIB 16
#define STAGE_MEM_MIB_MAX 1024

struct store {
    sqlite3 *db;
    char *path;
    char org[65];
    int in_tx;
    sqlite3_stmt *slots[STMT_SLOTS];
    /* Fast path: most SQL is a string literal, so its address finds its
     * statement without hashing the text (the text is still compared). */
    const char *last_sql[STMT_SLOTS];
    sqlite3_stmt *last_stmt[STMT_SLOTS];
    /* The cached statements again, by address, so release() knows one
     * without hashing its text. */
    sqlite3_stmt *owned[STMT_SLOTS * 2];
    /* The audit chain's head, read once per transaction and written back
     * at commit: every event of a run would otherwise read and rewrite it. */
    int head_known, head_dirty;
    int64_t head_seq;
    /* Lines staged in this transaction and not yet settled, in a sorter
     * made at the first one and kept for the handle's life. */
    linesort *stage;
    char head_hash[SHA256_HEX_LEN + 1];
};

/* Migrations, applied in order; migration i brings user_version to i + 1.
 * Checks list their values with OR rather than IN: SQLite 3.40 builds an
 * ephemeral table for an IN list on every row it checks, which cost a
 * fifth of an import's instructions. */
static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE partners ("
    "  org TEXT NOT NULL,"
    "  partner_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL CHECK (type = 'affiliate' OR type = 'referral' OR type = 'reseller' OR type = 'integration'),"
    "  tier TEXT NOT NULL CHECK (tier = 'bronze' OR tier = 'silver' OR tier = 'gold' OR tier = 'platinum'),"
    "  commission_rate INTEGER NOT NULL CHECK (commission_rate BETWEEN 0 AND 100000000),"
    "  status TEXT NOT NULL CHECK (status = 'active' OR status = 'inactive' OR status = 'pending'),"
    "  currency TEXT NOT NULL CHECK (length(currency) = 3),"
    "  email TEXT NOT NULL,"
    "  routing_number TEXT, account_number TEXT, iban TEXT, bic TEXT, account_name TEXT,"
    "  PRIMARY KEY (org, partner_id)"
    ");"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  org TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  pipeline TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  config_digest TEXT NOT NULL,"
    "  input_digests TEXT NOT NULL DEFAULT '{}',"
    "  clock TEXT NOT NULL,"
    "  started_at TEXT NOT NULL,"
    "  ended_at TEXT,"
    "  outcome TEXT NOT NULL,"
    "  counts TEXT NOT NULL DEFAULT '{}'"
    ");"
    "CREATE INDEX runs_by_period ON runs (org, period, pipeline);"
    "CREATE TABLE attribution_lines ("
    "  id INTEGER PRIMARY KEY,"
    "  org TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  run_id INTEGER NOT NULL REFERENCES runs (id),"
    "  source_line INTEGER NOT NULL,"
    "  deal_id TEXT NOT NULL,"
    "  deal_name TEXT NOT NULL,"
    "  deal_status TEXT NOT NULL CHECK (deal_status = 'won' OR deal_status = 'lost' OR deal_status = 'open'),"
    "  closed_on TEXT NOT NULL,"
    "  partner_id TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  percentage TEXT NOT NULL,"
    "  attributed_amount INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  product_line TEXT,"
    "  FOREIGN KEY (org, partner_id) REFERENCES partners (org, partner_id)"
    ");"
    /* One index serves both the duplicate check and the calculation's
     * walk in partner order; every index here is paid for on every line. */
    "CREATE UNIQUE INDEX attribution_key ON attribution_lines (org, period, partner_id, deal_id);"
    "CREATE TABLE payouts ("
    "  id TEXT PRIMARY KEY,"
    "  org TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  partner_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind = 'commission' OR kind = 'manual'),"
    "  amount INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status = 'pending_approval' OR status = 'approved' OR status = 'rejected' OR status = 'processing' OR status = 'paid' OR status = 'failed'),"
    "  approvals_required INTEGER NOT NULL DEFAULT 1 CHECK (approvals_required >= 0),"
    "  created_at TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  approved_at TEXT, approved_by TEXT,"
    "  rejected_reason TEXT,"
    "  processing_at TEXT, paid_at TEXT, failed_at TEXT, failed_reason TEXT,"
    "  reference TEXT,"
    "  notes TEXT NOT NULL DEFAULT '',"
    "  hold_reason TEXT,"
    "  hold_run_id INTEGER,"
    "  amount_set_by TEXT,"
    "  run_id INTEGER REFERENCES runs (id),"
    "  UNIQUE (org, period, partner_id, kind),"
    "  FOREIGN KEY (org, partner_id) REFERENCES partners (org, partner_id)"
    ");"
    "CREATE INDEX payouts_by_status ON payouts (org, status, period);"
    "CREATE INDEX payouts_by_partner ON payouts (org, partner_id, period);"
    /* One commission line per attribution line, keyed by it: no index of
     * its own to maintain, and deleting attribution lines finds their
     * commission lines by rowid. */
    "CREATE TABLE commission_lines ("
    "  attribution_line_id INTEGER PRIMARY KEY REFERENCES attribution_lines (id),"
    "  org TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  partner_id TEXT NOT NULL,"
    "  payout_id TEXT REFERENCES payouts (id),"
    "  rule TEXT NOT NULL,"
    "  rate INTEGER NOT NULL,"
    "  exact TEXT NOT NULL,"
    "  amount INTEGER,"
    "  carried_to TEXT,"
    "  carry_reason TEXT"
    ");"
    "CREATE INDEX commission_by_payout ON commission_lines (org, payout_id);"
    "CREATE INDEX commission_carried ON commission_lines (org, partner_id, attribution_line_id)"
    " WHERE payout_id IS NULL;"
    "CREATE TABLE approvals ("
    "  org TEXT NOT NULL,"
    "  payout_id TEXT NOT NULL REFERENCES payouts (id),"
    "  approver TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  rule TEXT,"
    "  PRIMARY KEY (org, payout_id, approver)"
    ");"
    "CREATE TABLE audit_events ("
    "  org TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  at TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  entity_type TEXT NOT NULL,"
    "  entity_id TEXT NOT NULL,"
    "  metadata TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  PRIMARY KEY (org, seq)"
    ");"
    "CREATE INDEX audit_by_entity ON audit_events (org, entity_id);"
    /* Output files of a committed run not yet renamed into place: if the
     * process dies between its commit and its renames, the next run
     * finishes them (a pay run's bank file must not be lost). */
    "CREATE TABLE pending_outputs ("
    "  org TEXT NOT NULL,"
    "  run_id INTEGER NOT NULL REFERENCES runs (id),"
    "  final TEXT NOT NULL,"
    "  tmp TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  PRIMARY KEY (org, final)"
    ");"
    "CREATE TABLE audit_heads ("
    "  org TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL,"
    "  hash TEXT NOT NULL"
    ");",
    /* 2: payouts of a status in the order they are listed and approved
     * (period, partner, id), so neither needs a sort. */
    "DROP INDEX payouts_by_status;"
    "CREATE INDEX payouts_by_status ON payouts (org, status, period, partner_id, id);",
    /* 3: commission lines by partner, then payout. A close writes them in
     * partner order, so the index grows at one place; keyed by payout
     * first, each partner's lines went to a random page of it (payout ids
     * are hashes), a third of the calculation's time at 1M lines. Every
     * lookup by payout knows the payout's partner. */
    "DROP INDEX commission_by_payout;"
    "CREATE INDEX commission_by_payout ON commission_lines (org, partner_id, payout_id);",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int db_fail(store *s, pr_err *err, const char *what)
{
    int rc = sqlite3_extended_errcode(s->db);
    int prc = rc & 0xff;

    if (prc == SQLITE_BUSY || prc == SQLITE_LOCKED) {
        pr_err_set(err, EXIT_TEMPFAIL, "database \"%s\" is busy: %s", s->path, what);
        return pr_err_hint(err, "another payrun is writing to it; run again when it is done "
                                "(or raise busy_timeout_ms)");
    }
    if (prc == SQLITE_CONSTRAINT)
        return pr_err_set(err, EXIT_DATAERR, "%s: %s", what, sqlite3_errmsg(s->db));
    if (prc == SQLITE_FULL || prc == SQLITE_IOERR) {
        pr_err_set(err, EXIT_IOERR, "database \"%s\": %s: %s", s->path, what,
                   sqlite3_errmsg(s->db));
        /* A failed COMMIT may still have committed: the rerun is what is
         * safe to advise, since an identical rerun of a committed run
         * changes nothing. */
        return pr_err_hint(err, "check free space and the system log for the disk holding it, "
                                "then run the command again (a run that did commit is not "
                                "repeated)");
    }
    return pr_err_set(err, EXIT_SOFTWARE, "database \"%s\": %s: %s", s->path, what,
                      sqlite3_errmsg(s->db));
}

static uint32_t sql_hash(const char *sql)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static uint32_t stmt_pos(const sqlite3_stmt *st)
{
    uintptr_t a = (uintptr_t)st;
    return (uint32_t)(((a >> 4) ^ (a >> 13)) % (STMT_SLOTS * 2));
}

static void own(store *s, sqlite3_stmt *st)
{
    uint32_t i = stmt_pos(st);

    /* Never full: it holds at most STMT_SLOTS of its 2 * STMT_SLOTS. */
    while (s->owned[i] != NULL)
        i = (i + 1) % (STMT_SLOTS * 2);
    s->owned[i] = st;
}

static int owns(const store *s, const sqlite3_stmt *st)
{
    for (uint32_t i = stmt_pos(st); s->owned[i] != NULL; i = (i + 1) % (STMT_SLOTS * 2))
        if (s->owned[i] == st)
            return 1;
    return 0;
}

static int prepare(store *s, sqlite3_stmt **st, const char *sql, pr_err *err)
{
    uint32_t h, p = (uint32_t)(((uintptr_t)sql >> 3) % STMT_SLOTS);

    if (s->last_sql[p] == sql && s->last_stmt[p] && !sqlite3_stmt_busy(s->last_stmt[p]) &&
        strcmp(sqlite3_sql(s->last_stmt[p]), sql) == 0) {
        *st = s->last_stmt[p];
        return 0;
    }
    h = sql_hash(sql);

    for (uint32_t i = 0; i < STMT_SLOTS; i++) {
        sqlite3_stmt **slot = &s->slots[(h + i) % STMT_SLOTS];
        if (*slot == NULL) {
            if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) !=
                SQLITE_OK) {
                *slot = NULL;
                *st = NULL;
                return db_fail(s, err, "prepare");
            }
            own(s, *slot);
            *st = *slot;
            s->last_sql[p] = sql;
            s->last_stmt[p] = *slot;
            return 0;
        }
        if (strcmp(sqlite3_sql(*slot), sql) == 0) {
            if (sqlite3_stmt_busy(*slot))
                break; /* in use further up the stack: take a fresh one */
            *st = *slot;
            s->last_sql[p] = sql;
            s->last_stmt[p] = *slot;
            return 0;
        }
    }
    /* Table full, or the cached one is busy: a statement of its own,
     * finalized by release(). */
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(s, err, "prepare");
    }
    return 0;
}

/* Done with a statement from prepare(): reset it for its next use. */
static void release(store *s, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    if (owns(s, st)) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return;
    }
    sqlite3_finalize(st);
}

static int exec(store *s, const char *sql, pr_err *err)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sqlite3_free(msg);
        return db_fail(s, err, sql);
    }
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL || v[0] == '\0')
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;

    /* A listing copies twenty of these per payout: no printf here. */
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, t, n);
    dst[n] = '\0';
}

static int user_version(store *s, int *out, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, "PRAGMA user_version", err) != 0)
        return -1;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        release(s, st);
        return db_fail(s, err, "read schema version");
    }
    *out = sqlite3_column_int(st, 0);
    release(s, st);
    return 0;
}

static int migrate(store *s, pr_err *err)
{
    int v = 0;
    char sql[64];

    /* The common case, an up-to-date schema, needs no write lock: opening
     * a database to read it must not wait for a writer. */
    if (user_version(s, &v, err) != 0)
        return -1;
    if (v == N_MIGRATIONS)
        return 0;
    if (exec(s, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (user_version(s, &v, err) != 0)
        goto fail;
    if (v > N_MIGRATIONS) {
        pr_err_set(err, EXIT_CONFIG,
                   "database \"%s\" has schema version %d; this payrun knows up to %d",
                   s->path, v, N_MIGRATIONS);
        pr_err_hint(err, "use the payrun release that wrote this database, or a newer one");
        goto fail;
    }
    for (; v < N_MIGRATIONS; v++) {
        if (exec(s, migrations[v], err) != 0)
            goto fail;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if (exec(s, sql, err) != 0)
            goto fail;
    }
    return exec(s, "COMMIT", err);
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Switching a new database to WAL takes an exclusive lock, and SQLite
 * answers SQLITE_BUSY at once, without calling the busy handler, where
 * waiting could deadlock: two payruns creating the database together had
 * one exit 75 at once, though busy_timeout_ms promises a wait (found by
 * tests/reliability/race.sh). So the switch is tried again, for as long as
 * busy_timeout_ms allows. A database already in WAL mode needs no lock. */
static int set_wal(store *s, int64_t busy_timeout_ms, pr_err *err)
{
    for (int64_t waited = 0;; waited += 10) {
        pr_err e = {0};

        if (exec(s, "PRAGMA journal_mode = WAL", &e) == 0)
            return 0;
        if (e.code != EXIT_TEMPFAIL || waited >= busy_timeout_ms) {
            if (err)
                *err = e;
            return -1;
        }
        sqlite3_sleep(10);
    }
}

int store_open(const char *path, const char *org, int64_t busy_timeout_ms,
               store **out, pr_err *err)
{
    store *s;
    int rc;

    if (strlen(org) >= sizeof(s->org))
        return pr_err_set(err, EXIT_CONFIG, "org \"%s\" is longer than 64 characters", org);
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    }
    snprintf(s->org, sizeof(s->org), "%s", org);
    /* SQLite counts every allocation under a global mutex for
     * sqlite3_memory_used(), which payrun never asks; off, before
     * SQLite initializes (later calls are refused, harmlessly). */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* One handle, one thread: no connection mutex (it cost 5% of a close). */
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        pr_err_set(err, EXIT_CANTCREAT, "cannot open database \"%s\": %s", path,
                   s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        pr_err_hint(err, "check that its directory exists and is writable");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (busy_timeout_ms > 0x7fffffff)
        busy_timeout_ms = 0x7fffffff;
    sqlite3_busy_timeout(s->db, (int)busy_timeout_ms);
    if (set_wal(s, busy_timeout_ms, err) != 0 ||
        exec(s, "PRAGMA synchronous = FULL", err) != 0 ||
        exec(s, "PRAGMA cache_size = -" PAGE_CACHE_KIB, err) != 0 ||
        exec(s, "PRAGMA foreign_keys = ON", err) != 0)
        goto fail;
    if (migrate(s, err) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < STMT_SLOTS; i++)
        sqlite3_finalize(s->slots[i]);
    linesort_free(s->stage);
    if (s->in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_schema_version(store *s)
{
    int v = -1;

    if (user_version(s, &v, NULL) != 0)
        return -1;
    return v;
}

const char *store_org(const store *s)
{
    return s->org;
}

int store_begin(store *s, pr_err *err)
{
    if (s->in_tx)
        return pr_err_set(err, EXIT_SOFTWARE, "transaction already open");
    if (exec(s, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    s->in_tx = 1;
    s->head_known = s->head_dirty = 0;
    linesort_reset(s->stage);
    return 0;
}

static int write_head(store *s, pr_err *err);

int store_commit(store *s, pr_err *err)
{
    if (!s->in_tx)
        return pr_err_set(err, EXIT_SOFTWARE, "commit without a transaction");
    if (s->head_dirty && write_head(s, err) != 0) {
        store_rollback(s);
        return -1;
    }
    if (exec(s, "COMMIT", err) != 0) {
        /* SQLite may leave the transaction open after a failed COMMIT
         * (SQLITE_BUSY); roll it back so nothing half-done lingers. */
        store_rollback(s);
        return -1;
    }
    s->in_tx = 0;
    return 0;
}

void store_rollback(store *s)
{
    s->head_known = s->head_dirty = 0;
    linesort_reset(s->stage);
    if (!s->in_tx)
        return;
    if (sqlite3_get_autocommit(s->db) == 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = 0;
}

static int need_tx(store *s, pr_err *err)
{
    if (!s->in_tx)
        return pr_err_set(err, EXIT_SOFTWARE, "a change was attempted outside a transaction");
    return 0;
}

static const char *const kind_names[] = {"commission", "manual"};

void store_payout_id(const char *org, const char *period, const char *partner_id,
                     payout_kind kind, char out[24])
{
    sha256_ctx c;
    char hex[SHA256_HEX_LEN + 1];

    sha256_init(&c);
    sha256_update(&c, org, strlen(org) + 1);
    sha256_update(&c, period, strlen(period) + 1);
    sha256_update(&c, partner_id, strlen(partner_id) + 1);
    sha256_update(&c, kind_names[kind], strlen(kind_names[kind]) + 1);
    sha256_final_hex(&c, hex);
    snprintf(out, 24, "po_%.16s", hex);
}

/* ---- partners ---------------------------------------------------------- */

int store_partner_put(store *s, const partner *p, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "INSERT INTO partners (org, partner_id, name, type, tier, commission_rate,"
                " status, currency, email, routing_number, account_number, iban, bic,"
                " account_name) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
                " ON CONFLICT (org, partner_id) DO UPDATE SET name=excluded.name,"
                " type=excluded.type, tier=excluded.tier,"
                " commission_rate=excluded.commission_rate, status=excluded.status,"
                " currency=excluded.currency, email=excluded.email,"
                " routing_number=excluded.routing_number,"
                " account_number=excluded.account_number, iban=excluded.iban,"
                " bic=excluded.bic, account_name=excluded.account_name",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    bind_text(st, 2, p->partner_id);
    sqlite3_bind_text(st, 3, p->name, -1, SQLITE_TRANSIENT);
    bind_text(st, 4, p->type);
    bind_text(st, 5, p->tier);
    sqlite3_bind_int64(st, 6, p->commission_rate);
    bind_text(st, 7, p->status);
    bind_text(st, 8, p->currency);
    sqlite3_bind_text(st, 9, p->email, -1, SQLITE_TRANSIENT);
    bind_text(st, 10, p->routing_number);
    bind_text(st, 11, p->account_number);
    bind_text(st, 12, p->iban);
    bind_text(st, 13, p->bic);
    bind_text(st, 14, p->account_name);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE) {
        db_fail(s, err, "save partner");
        return pr_err_prefix(err, "partner \"%s\"", p->partner_id);
    }
    return 0;
}

int store_partner_get(store *s, const char *partner_id, partner *out, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, "SELECT partner_id, name, type, tier, commission_rate, status, currency,"
               " email, routing_number, account_number, iban, bic, account_name"
               " FROM partners WHERE org = ?1 AND partner_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        release(s, st);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        release(s, st);
        return db_fail(s, err, "read partner");
    }
    memset(out, 0, sizeof(*out));
    copy_col(out->partner_id, sizeof(out->partner_id), st, 0);
    copy_col(out->name, sizeof(out->name), st, 1);
    copy_col(out->type, sizeof(out->type), st, 2);
    copy_col(out->tier, sizeof(out->tier), st, 3);
    out->commission_rate = sqlite3_column_int64(st, 4);
    copy_col(out->status, sizeof(out->status), st, 5);
    copy_col(out->currency, sizeof(out->currency), st, 6);
    copy_col(out->email, sizeof(out->email), st, 7);
    copy_col(out->routing_number, sizeof(out->routing_number), st, 8);
    copy_col(out->account_number, sizeof(out->account_number), st, 9);
    copy_col(out->iban, sizeof(out->iban), st, 10);
    copy_col(out->bic, sizeof(out->bic), st, 11);
    copy_col(out->account_name, sizeof(out->account_name), st, 12);
    release(s, st);
    return 0;
}

/* Partner fields in a fixed order, for comparing and auditing changes. */
static void partner_fields(const partner *p, const char *v[13], char rate[32])
{
    snprintf(rate, 32, "%lld", (long long)p->commission_rate);
    v[0] = p->partner_id; v[1] = p->name; v[2] = p->type; v[3] = p->tier; v[4] = rate;
    v[5] = p->status; v[6] = p->currency; v[7] = p->email; v[8] = p->routing_number;
    v[9] = p->account_number; v[10] = p->iban; v[11] = p->bic; v[12] = p->account_name;
}

static const char *const partner_field_names[13] = {
    "partner_id", "name", "type", "tier", "commission_rate", "status", "currency", "email",
    "routing_number", "account_number", "iban", "bic", "account_name",
};

int store_partner_upsert(store *s, const partner *p, const char *actor, const char *at,
                         int *changed, pr_err *err)
{
    partner old;
    const char *a[13], *b[13];
    char ra[32], rb[32];
    buf meta;
    char *m;
    int rc, n = 0;

    *changed = 0;
    rc = store_partner_get(s, p->partner_id, &old, err);
    if (rc < 0)
        return -1;
    partner_fields(p, b, rb);
    if (rc == 0) {
        partner_fields(&old, a, ra);
        for (int i = 0; i < 13; i++)
            n += strcmp(a[i], b[i]) != 0;
        if (n == 0)
            return 0;
    }
    if (store_partner_put(s, p, err) != 0)
        return -1;
    *changed = rc == 1 ? 1 : 2;
    /* Before and after name only the fields that changed; account numbers
     * are recorded as changed, not copied into the trail. */
    buf_init(&meta);
    buf_puts(&meta, rc == 1 ? "{\"before\":null,\"after\":{" : "{\"before\":{");
    for (int pass = rc == 1 ? 1 : 0; pass < 2; pass++) {
        int first = 1;
        if (pass == 1 && rc == 0)
            buf_puts(&meta, "},\"after\":{");
        for (int i = 0; i < 13; i++) {
            int secret = i == 9 || i == 10;
            if (rc == 0 && strcmp(a[i], b[i]) == 0)
                continue;
            if (!first)
                buf_puts(&meta, ",");
            first = 0;
            const char *v = pass == 0 ? a[i] : b[i];
            buf_json_kv(&meta, partner_field_names[i], secret && v[0] ? "(set)" : v);
        }
    }
    buf_puts(&meta, "}}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, rc == 1 ? "partner.created" : "partner.updated",
                            "partner", p->partner_id, m, err);
    free(m);
    return rc;
}

/* ---- audit -------------------------------------------------------------- */

static int write_head(store *s, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st,
                "INSERT INTO audit_heads (org, seq, hash) VALUES (?1, ?2, ?3)"
                " ON CONFLICT (org) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, s->head_seq);
    sqlite3_bind_text(st, 3, s->head_hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "write audit head");
    s->head_dirty = 0;
    return 0;
}

int store_audit_append(store *s, const char *at, const char *actor, const char *action,
                       const char *entity_type, const char *entity_id,
                       const char *metadata, pr_err *err)
{
    sqlite3_stmt *st = NULL;
    audit_event e;
    char hash[SHA256_HEX_LEN + 1];
    int rc;

    if (need_tx(s, err) != 0)
        return -1;
    if (!s->head_known) {
        if (prepare(s, &st, "SELECT seq, hash FROM audit_heads WHERE org = ?1", err) != 0)
            return -1;
        sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        s->head_seq = 0;
        memcpy(s->head_hash, AUDIT_GENESIS_HASH, sizeof(s->head_hash));
        if (rc == SQLITE_ROW) {
            s->head_seq = sqlite3_column_int64(st, 0);
            copy_col(s->head_hash, sizeof(s->head_hash), st, 1);
        } else if (rc != SQLITE_DONE) {
            release(s, st);
            return db_fail(s, err, "read audit head");
        }
        release(s, st);
        s->head_known = 1;
    }

    e.seq = s->head_seq + 1;
    e.org = s->org;
    e.at = at;
    e.actor = actor;
    e.action = action;
    e.entity_type = entity_type;
    e.entity_id = entity_id;
    e.metadata = metadata ? metadata : "{}";
    audit_event_hash(&e, s->head_hash, hash);

    if (prepare(s, &st,
                "INSERT INTO audit_events (org, seq, at, actor, action, entity_type,"
                " entity_id, metadata, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, e.seq);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, entity_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, entity_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, e.metadata, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, s->head_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE) {
        s->head_known = 0; /* the insert failed: the head is what the table says */
        return db_fail(s, err, "write audit event");
    }
    s->head_seq = e.seq;
    memcpy(s->head_hash, hash, sizeof(hash));
    s->head_dirty = 1;
    return 0;
}

/* An audit event from a row of (seq, org, at, actor, action, entity_type,
 * entity_id, metadata, prev_hash, hash); valid until the next step. */
static void read_event(sqlite3_stmt *st, audit_event *e)
{
    e->seq = sqlite3_column_int64(st, 0);
    e->org = (const char *)sqlite3_column_text(st, 1);
    e->at = (const char *)sqlite3_column_text(st, 2);
    e->actor = (const char *)sqlite3_column_text(st, 3);
    e->action = (const char *)sqlite3_column_text(st, 4);
    e->entity_type = (const char *)sqlite3_column_text(st, 5);
    e->entity_id = (const char *)sqlite3_column_text(st, 6);
    e->metadata = (const char *)sqlite3_column_text(st, 7);
    e->prev_hash = (const char *)sqlite3_column_text(st, 8);
    e->hash = (const char *)sqlite3_column_text(st, 9);
}

int store_audit_after(store *s, int64_t after_seq, store_audit_cb cb, void *ud, pr_err *err)
{
    sqlite3_stmt *st;
    int rc, ret = 0;

    if (prepare(s, &st,
                "SELECT seq, org, at, actor, action, entity_type, entity_id, metadata,"
                " prev_hash, hash FROM audit_events WHERE org = ?1 AND seq > ?2 ORDER BY seq",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_seq);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        audit_event e;
        read_event(st, &e);
        ret = cb(&e, ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        release(s, st);
        return db_fail(s, err, "read audit events");
    }
    release(s, st);
    return ret;
}

int store_audit_entity(store *s, const char *entity_id, store_audit_cb cb, void *ud,
                       pr_err *err)
{
    sqlite3_stmt *st;
    int rc, ret = 0;

    if (prepare(s, &st,
                "SELECT seq, org, at, actor, action, entity_type, entity_id, metadata,"
                " prev_hash, hash FROM audit_events WHERE org = ?1 AND entity_id = ?2"
                " ORDER BY seq",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, entity_id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        audit_event e;
        read_event(st, &e);
        ret = cb(&e, ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "read audit events");
    release(s, st);
    return ret;
}

int store_audit_foreach(store *s, store_audit_cb cb, void *ud, pr_err *err)
{
    return store_audit_after(s, 0, cb, ud, err);
}

struct verify_state {
    audit_verifier v;
    audit_report *r;
};

static int verify_cb(const audit_event *e, void *ud)
{
    struct verify_state *vs = ud;

    if (audit_verifier_step(&vs->v, e, &vs->r->why) != 0) {
        vs->r->bad_seq = e->seq;
        return 1;
    }
    vs->r->checked++;
    return 0;
}

int store_audit_verify(store *s, audit_report *report, pr_err *err)
{
    struct verify_state vs;
    sqlite3_stmt *st;
    int rc;
    int64_t head_seq = 0;
    char head_hash[SHA256_HEX_LEN + 1] = AUDIT_GENESIS_HASH;

    memset(report, 0, sizeof(*report));
    audit_verifier_init(&vs.v);
    vs.r = report;
    rc = store_audit_foreach(s, verify_cb, &vs, err);
    if (rc < 0)
        return -1;
    if (report->bad_seq != 0)
        return 0;

    /* The chain itself is intact; now check it was not cut short. */
    if (prepare(s, &st, "SELECT seq, hash FROM audit_heads WHERE org = ?1", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        head_seq = sqlite3_column_int64(st, 0);
        copy_col(head_hash, sizeof(head_hash), st, 1);
    } else if (rc != SQLITE_DONE) {
        release(s, st);
        return db_fail(s, err, "read audit head");
    }
    release(s, st);
    if (head_seq != vs.v.expect_seq - 1 || strcmp(head_hash, vs.v.last_hash) != 0) {
        report->bad_seq = vs.v.expect_seq;
        report->why = head_seq > vs.v.expect_seq - 1
                          ? "events are missing at the end of the trail"
                          : "the trail's recorded head does not match its last event";
        return 0;
    }
    /* An intact chain can still be a wiped one: every payout must have
     * the event that created it. */
    if (prepare(s, &st,
                "SELECT count(*) FROM payouts p WHERE p.org = ?1 AND NOT EXISTS (SELECT 1"
                " FROM audit_events e WHERE e.org = p.org AND e.entity_id = p.id"
                " AND e.action = 'payout.created')",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
        report->bad_seq = vs.v.expect_seq;
        report->why = "payouts exist whose creation is not in the trail (events were removed)";
    }
    release(s, st);
    if (rc != SQLITE_ROW)
        return db_fail(s, err, "check payouts against the trail");
    return 0;
}

/* ---- payouts ------------------------------------------------------------ */

/* A macro, so the statements that read whole payouts are string literals:
 * the statement cache finds a literal by its address. */
#define PAYOUT_COLS                                                                       \
    "p.id, p.period, p.partner_id, p.kind, p.amount, p.currency, p.status,"               \
    " p.approvals_required,"                                                              \
    " (SELECT count(*) FROM approvals a WHERE a.org = p.org AND a.payout_id = p.id),"     \
    " p.created_at, p.created_by, p.approved_at, p.approved_by, p.rejected_reason,"       \
    " p.processing_at, p.paid_at, p.failed_at, p.failed_reason, p.reference, p.notes,"    \
    " p.run_id, p.hold_reason, coalesce(p.amount_set_by, '')"

static void read_payout(sqlite3_stmt *st, payout *p)
{
    char tmp[32];

    memset(p, 0, sizeof(*p));
    copy_col(p->id, sizeof(p->id), st, 0);
    copy_col(p->period, sizeof(p->period), st, 1);
    copy_col(p->partner_id, sizeof(p->partner_id), st, 2);
    copy_col(tmp, sizeof(tmp), st, 3);
    p->kind = strcmp(tmp, "manual") == 0 ? PAYOUT_KIND_MANUAL : PAYOUT_KIND_COMMISSION;
    p->amount = sqlite3_column_int64(st, 4);
    copy_col(p->currency, sizeof(p->currency), st, 5);
    copy_col(tmp, sizeof(tmp), st, 6);
    if (status_parse(tmp, &p->status) != 0)
        p->status = STATUS__COUNT; /* the CHECK constraint makes this unreachable */
    p->approvals_required = sqlite3_column_int(st, 7);
    p->approvals_given = sqlite3_column_int(st, 8);
    copy_col(p->created_at, sizeof(p->created_at), st, 9);
    copy_col(p->created_by, sizeof(p->created_by), st, 10);
    copy_col(p->approved_at, sizeof(p->approved_at), st, 11);
    copy_col(p->approved_by, sizeof(p->approved_by), st, 12);
    copy_col(p->rejected_reason, sizeof(p->rejected_reason), st, 13);
    copy_col(p->processing_at, sizeof(p->processing_at), st, 14);
    copy_col(p->paid_at, sizeof(p->paid_at), st, 15);
    copy_col(p->failed_at, sizeof(p->failed_at), st, 16);
    copy_col(p->failed_reason, sizeof(p->failed_reason), st, 17);
    copy_col(p->reference, sizeof(p->reference), st, 18);
    copy_col(p->notes, sizeof(p->notes), st, 19);
    p->run_id = sqlite3_column_int64(st, 20);
    copy_col(p->hold_reason, sizeof(p->hold_reason), st, 21);
    copy_col(p->amount_set_by, sizeof(p->amount_set_by), st, 22);
}

int store_payout_get(store *s, const char *id, payout *out, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, "SELECT " PAYOUT_COLS " FROM payouts p WHERE p.org = ?1 AND p.id = ?2",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_payout(st, out);
        release(s, st);
        return 0;
    }
    release(s, st);
    if (rc == SQLITE_DONE)
        return 1;
    return db_fail(s, err, "read payout");
}

static int get_existing(store *s, const char *id, payout *p, pr_err *err)
{
    int rc = store_payout_get(s, id, p, err);

    if (rc == 1) {
        pr_err_set(err, EXIT_DATAERR, "payout \"%s\" not found in org \"%s\"", id, s->org);
        return pr_err_hint(err, "list payouts with: payrun payouts list");
    }
    return rc;
}

static void money_json(buf *b, const char *key, int64_t v)
{
    buf_json_str(b, key);
    buf_printf(b, ":%lld", (long long)v);
}

int store_payout_create(store *s, payout *p, const char *actor, const char *at, pr_err *err)
{
    sqlite3_stmt *st;
    buf meta;
    char *m;
    int rc;

    if (need_tx(s, err) != 0)
        return -1;
    store_payout_id(s->org, p->period, p->partner_id, p->kind, p->id);
    p->status = STATUS_PENDING_APPROVAL;
    if (p->kind == PAYOUT_KIND_MANUAL && p->approvals_required < STORE_HAND_APPROVALS)
        p->approvals_required = STORE_HAND_APPROVALS;
    snprintf(p->created_at, sizeof(p->created_at), "%s", at);
    snprintf(p->created_by, sizeof(p->created_by), "%s", actor);
    if (prepare(s, &st,
                "INSERT INTO payouts (id, org, period, partner_id, kind, amount, currency,"
                " status, approvals_required, created_at, created_by, notes, run_id,"
                " amount_set_by)"
                " VALUES (?1,?2,?3,?4,?5,?6,?7,'pending_approval',?8,?9,?10,?11,?12,?13)",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->partner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind_names[p->kind], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, p->amount);
    sqlite3_bind_text(st, 7, p->currency, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, p->approvals_required);
    sqlite3_bind_text(st, 9, at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, p->notes, -1, SQLITE_STATIC);
    if (p->run_id > 0)
        sqlite3_bind_int64(st, 12, p->run_id);
    else
        sqlite3_bind_null(st, 12);
    /* An amount typed by a person (not computed by a close) is theirs. */
    if (p->kind == PAYOUT_KIND_MANUAL)
        sqlite3_bind_text(st, 13, actor, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT &&
            sqlite3_extended_errcode(s->db) != SQLITE_CONSTRAINT_FOREIGNKEY) {
            pr_err_set(err, EXIT_DATAERR,
                       "a %s payout for partner \"%s\" in %s already exists (\"%s\")",
                       kind_names[p->kind], p->partner_id, p->period, p->id);
            return pr_err_hint(err, "update that payout instead: payrun payouts update %s",
                               p->id);
        }
        if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
            pr_err_set(err, EXIT_DATAERR, "partner \"%s\" not found in org \"%s\"",
                       p->partner_id, s->org);
            return pr_err_hint(err, "import the partner first (partners.csv)");
        }
        return db_fail(s, err, "create payout");
    }
    buf_init(&meta);
    buf_puts(&meta, "{\"after\":{");
    buf_json_kv(&meta, "status", "pending_approval");
    buf_puts(&meta, ",");
    money_json(&meta, "amount", p->amount);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "currency", p->currency);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "period", p->period);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "partner_id", p->partner_id);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "kind", kind_names[p->kind]);
    buf_printf(&meta, ",\"approvals_required\":%d", p->approvals_required);
    buf_puts(&meta, "}}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, "payout.created", "payout", p->id, m, err);
    free(m);
    return rc;
}

/* Columns a move stamps: when it happened, and what detail it carries. */
static const struct {
    const char *at_col;
    const char *detail_col;
} move_cols[MOVE__COUNT] = {
    [MOVE_APPROVE] = {"approved_at", NULL},
    [MOVE_REJECT] = {NULL, "rejected_reason"},
    [MOVE_MARK_PROCESSING] = {"processing_at", NULL},
    [MOVE_MARK_PAID] = {"paid_at", "reference"},
    [MOVE_MARK_FAILED] = {"failed_at", "failed_reason"},
    [MOVE_RETRY] = {NULL, NULL},
};

int store_payout_move(store *s, const char *id, payout_move move, const char *actor,
                      const char *at, const char *detail, const char *rule, pr_err *err)
{
    return store_payout_move_ex(s, id, move, actor, at, detail, rule, NULL, err);
}

static int move_loaded(store *s, const payout *pp, payout_move move, const char *actor,
                       const char *at, const char *detail, const char *rule,
                       const char *extra_json, pr_err *err);

int store_payout_move_ex(store *s, const char *id, payout_move move, const char *actor,
                         const char *at, const char *detail, const char *rule,
                         const char *extra_json, pr_err *err)
{
    payout p;

    if (need_tx(s, err) != 0)
        return -1;
    if (move == MOVE_EDIT || move == MOVE_DELETE)
        return pr_err_set(err, EXIT_SOFTWARE, "use store_payout_edit/delete for %s",
                          move_name(move));
    if (get_existing(s, id, &p, err) != 0)
        return -1;
    return move_loaded(s, &p, move, actor, at, detail, rule, extra_json, err);
}

/* The move itself, for a payout already read in this transaction. */
static int move_loaded(store *s, const payout *pp, payout_move move, const char *actor,
                       const char *at, const char *detail, const char *rule,
                       const char *extra_json, pr_err *err)
{
    sqlite3_stmt *st;
    const payout p = *pp;
    const char *id = pp->id;
    payout_status to;
    buf sql, meta;
    char *m;
    int rc, n = 3;

    if (state_move(id, p.status, move, &to, err) != 0)
        return -1;
    if (move == MOVE_APPROVE && p.hold_reason[0]) {
        pr_err_set(err, EXIT_DATAERR, "payout \"%s\" is on hold: %s", id, p.hold_reason);
        return pr_err_hint(err, "resolve the hold and rerun the close, or reject the payout");
    }
    if (move == MOVE_REJECT && (detail == NULL || detail[0] == '\0')) {
        pr_err_set(err, EXIT_USAGE, "payout \"%s\": a rejection needs a reason", id);
        return pr_err_hint(err, "give one with --reason TEXT");
    }
    if (move == MOVE_MARK_FAILED && (detail == NULL || detail[0] == '\0')) {
        pr_err_set(err, EXIT_USAGE, "payout \"%s\": a failure needs a reason", id);
        return pr_err_hint(err, "give one with --reason TEXT");
    }

    buf_init(&sql);
    buf_puts(&sql, "UPDATE payouts SET status = ?1");
    if (move_cols[move].at_col)
        buf_printf(&sql, ", %s = ?%d", move_cols[move].at_col, n++);
    if (move_cols[move].detail_col)
        buf_printf(&sql, ", %s = ?%d", move_cols[move].detail_col, n++);
    if (move == MOVE_APPROVE)
        buf_printf(&sql, ", approved_by = ?%d", n++);
    buf_puts(&sql, " WHERE org = ?2 AND id = ?");
    buf_printf(&sql, "%d AND status = ?%d", n, n + 1);
    if (sql.oom) {
        buf_free(&sql);
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    }
    rc = prepare(s, &st, sql.data, err);
    buf_free(&sql);
    if (rc != 0)
        return -1;
    n = 3;
    sqlite3_bind_text(st, 1, status_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->org, -1, SQLITE_STATIC);
    if (move_cols[move].at_col)
        sqlite3_bind_text(st, n++, at, -1, SQLITE_STATIC);
    if (move_cols[move].detail_col)
        bind_text(st, n++, detail);
    if (move == MOVE_APPROVE) {
        /* An approval made by a rule is credited to the rule, so nobody
         * mistakes it for a person's review. */
        if (rule && rule[0]) {
            char by[80];
            snprintf(by, sizeof(by), "rule:%s", rule);
            sqlite3_bind_text(st, n++, by, -1, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_text(st, n++, actor, -1, SQLITE_STATIC);
        }
    }
    sqlite3_bind_text(st, n, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, n + 1, status_name(p.status), -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "update payout");
    if (sqlite3_changes(s->db) != 1)
        return pr_err_set(err, EXIT_TEMPFAIL, "payout \"%s\" changed while it was being %s",
                          id, move_name(move));

    buf_init(&meta);
    buf_puts(&meta, "{\"before\":{");
    buf_json_kv(&meta, "status", status_name(p.status));
    buf_puts(&meta, "},\"after\":{");
    buf_json_kv(&meta, "status", status_name(to));
    if (move_cols[move].detail_col) {
        buf_puts(&meta, ",");
        buf_json_kv(&meta, move_cols[move].detail_col, detail);
    }
    buf_puts(&meta, "},");
    money_json(&meta, "amount", p.amount);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "currency", p.currency);
    if (rule && rule[0]) {
        buf_puts(&meta, ",");
        buf_json_kv(&meta, "rule", rule);
    }
    if (extra_json && extra_json[0]) {
        buf_puts(&meta, ",");
        buf_puts(&meta, extra_json);
    }
    buf_puts(&meta, "}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, move_action(move), "payout", id, m, err);
    free(m);
    return rc;
}

static int clear_approvals(store *s, const char *id, int *n, pr_err *err);

int store_payout_edit(store *s, const char *id, int has_amount, int64_t amount,
                      const char *notes, const char *actor, const char *at, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    payout_status to;
    buf meta;
    char *m;
    int rc, cleared = 0, changed;

    if (need_tx(s, err) != 0 || get_existing(s, id, &p, err) != 0)
        return -1;
    if (state_move(id, p.status, MOVE_EDIT, &to, err) != 0)
        return -1;
    /* A computed payout is the sum of its commission lines; typing over
     * it would leave lines that no longer add up to the payout. */
    if (has_amount && amount != p.amount && p.kind == PAYOUT_KIND_COMMISSION) {
        pr_err_set(err, EXIT_DATAERR,
                   "payout \"%s\" is computed from its commission lines: its amount cannot be "
                   "typed over", id);
        return pr_err_hint(err, "record the difference as a manual payout (payrun payouts "
                                "create), or correct the inputs and rerun the close");
    }
    /* A changed amount is now a person's figure: that person may not
     * approve it, and it needs two approvers (see STORE_HAND_APPROVALS). */
    changed = has_amount && amount != p.amount;
    if (prepare(s, &st,
                "UPDATE payouts SET amount = ?1, notes = ?2,"
                " amount_set_by = CASE WHEN ?5 THEN ?6 ELSE amount_set_by END,"
                " approvals_required = CASE WHEN ?5 THEN max(approvals_required, ?7)"
                "   ELSE approvals_required END"
                " WHERE org = ?3 AND id = ?4 AND status = 'pending_approval'",
                err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, has_amount ? amount : p.amount);
    sqlite3_bind_text(st, 2, notes ? notes : p.notes, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, changed);
    sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, STORE_HAND_APPROVALS);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "update payout");
    if (sqlite3_changes(s->db) != 1)
        return pr_err_set(err, EXIT_TEMPFAIL, "payout \"%s\" changed while it was edited", id);
    if (changed && clear_approvals(s, id, &cleared, err) != 0)
        return -1;

    buf_init(&meta);
    buf_puts(&meta, "{\"before\":{");
    money_json(&meta, "amount", p.amount);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "notes", p.notes);
    buf_puts(&meta, "},\"after\":{");
    money_json(&meta, "amount", has_amount ? amount : p.amount);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "notes", notes ? notes : p.notes);
    buf_puts(&meta, "},");
    buf_json_kv(&meta, "currency", p.currency);
    buf_printf(&meta, ",\"approvals_cleared\":%d", cleared);
    if (changed && p.approvals_required < STORE_HAND_APPROVALS)
        buf_printf(&meta, ",\"approvals_required\":{\"before\":%d,\"after\":%d}",
                   p.approvals_required, STORE_HAND_APPROVALS);
    buf_puts(&meta, "}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, move_action(MOVE_EDIT), "payout", id, m, err);
    free(m);
    return rc;
}

int store_payout_delete(store *s, const char *id, const char *actor, const char *at,
                        const char *reason, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    payout_status to;
    buf meta;
    char *m;
    int rc;

    if (need_tx(s, err) != 0 || get_existing(s, id, &p, err) != 0)
        return -1;
    if (state_move(id, p.status, MOVE_DELETE, &to, err) != 0)
        return -1;
    /* Commission lines are kept (they trace the deal) and carried to the
     * next period, so the commission is not lost with the payout.
     * Approvals go with the payout. */
    if (prepare(s, &st, "DELETE FROM approvals WHERE org = ?1 AND payout_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "delete approvals");
    if (prepare(s, &st,
                "UPDATE commission_lines SET payout_id = NULL, amount = NULL, carried_to = ?3,"
                " carry_reason = 'payout deleted' WHERE org = ?1 AND partner_id = ?4"
                " AND payout_id = ?2",
                err) != 0)
        return -1;
    {
        char next[8];
        period_next(p.period, next);
        sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, next, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, p.partner_id, -1, SQLITE_TRANSIENT);
    }
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "release commission lines");
    if (prepare(s, &st,
                "DELETE FROM payouts WHERE org = ?1 AND id = ?2 AND status = 'pending_approval'",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "delete payout");
    if (sqlite3_changes(s->db) != 1)
        return pr_err_set(err, EXIT_TEMPFAIL, "payout \"%s\" changed while it was deleted", id);

    buf_init(&meta);
    buf_puts(&meta, "{\"before\":{");
    buf_json_kv(&meta, "status", status_name(p.status));
    buf_puts(&meta, ",");
    money_json(&meta, "amount", p.amount);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "currency", p.currency);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "period", p.period);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "partner_id", p.partner_id);
    buf_puts(&meta, ",");
    buf_json_kv(&meta, "notes", p.notes);
    buf_puts(&meta, "},\"after\":null");
    if (reason && reason[0]) {
        buf_puts(&meta, ",");
        buf_json_kv(&meta, "reason", reason);
    }
    buf_puts(&meta, "}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, move_action(MOVE_DELETE), "payout", id, m, err);
    free(m);
    return rc;
}

/* ---- runs and the period close ------------------------------------------ */

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t ? (const char *)t : "");
}

/* Step `st` to the end, keeping a copy of column 0 of each row. Ids are
 * collected before they are acted on, so the action may change the rows
 * the statement reads. The caller frees with free_ids. */
static int collect_ids(store *s, sqlite3_stmt *st, char ***out, size_t *n_out,
                       const char *what, pr_err *err)
{
    char **ids = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **ni = realloc(ids, nc * sizeof(*ni));
            if (ni == NULL) {
                ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                break;
            }
            ids = ni;
            cap = nc;
        }
        if ((ids[n] = dup_col(st, 0)) == NULL) {
            ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
            break;
        }
        n++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, what);
    release(s, st);
    *out = ids;
    *n_out = n;
    return ret;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int store_run_last_ok(store *s, const char *pipeline, const char *period, int64_t *run_id,
                      char **config_digest, char **input_digests, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st,
                "SELECT id, config_digest, input_digests FROM runs"
                " WHERE org = ?1 AND period = ?2 AND pipeline = ?3 AND outcome = 'ok'"
                " ORDER BY id DESC LIMIT 1",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, pipeline, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        release(s, st);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        release(s, st);
        return db_fail(s, err, "read runs");
    }
    *run_id = sqlite3_column_int64(st, 0);
    *config_digest = dup_col(st, 1);
    *input_digests = dup_col(st, 2);
    release(s, st);
    if (*config_digest == NULL || *input_digests == NULL) {
        free(*config_digest);
        free(*input_digests);
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    }
    return 0;
}

int store_run_insert(store *s, const char *period, const char *pipeline, const char *actor,
                     const char *config_digest, const char *input_digests, const char *clock,
                     int64_t *run_id, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "INSERT INTO runs (org, period, pipeline, actor, config_digest, input_digests,"
                " clock, started_at, outcome) VALUES (?1,?2,?3,?4,?5,?6,?7,?7,'running')",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, pipeline, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, config_digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, input_digests, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, clock, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "record run");
    *run_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_run_finish(store *s, int64_t run_id, const char *counts_json, const char *ended_at,
                     pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "UPDATE runs SET outcome = 'ok', counts = ?1, ended_at = ?2"
                " WHERE org = ?3 AND id = ?4",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, counts_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ended_at, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, run_id);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "finish run");
    return 0;
}

int store_period_blockers(store *s, const char *period, char *ids, size_t cap, int *n,
                          pr_err *err)
{
    sqlite3_stmt *st;
    size_t used = 0;
    int rc;

    *n = 0;
    if (cap > 0)
        ids[0] = '\0';
    if (prepare(s, &st,
                "SELECT id, status FROM payouts WHERE org = ?1 AND period = ?2"
                " AND kind = 'commission' AND status <> 'pending_approval' ORDER BY partner_id",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = snprintf(ids + used, cap > used ? cap - used : 0, "%s%s (%s)",
                         *n ? ", " : "", (const char *)sqlite3_column_text(st, 0),
                         (const char *)sqlite3_column_text(st, 1));
        if (k > 0 && used + (size_t)k < cap)
            used += (size_t)k;
        (*n)++;
    }
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "read payouts");
    return 0;
}

int store_later_close(store *s, const char *pipeline, const char *period, char later[8],
                      pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st,
                "SELECT period FROM runs WHERE org = ?1 AND pipeline = ?2 AND period > ?3"
                " AND outcome = 'ok' ORDER BY period DESC LIMIT 1",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pipeline, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy_col(later, 8, st, 0);
        release(s, st);
        return 1;
    }
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "read runs");
    return 0;
}

static int exec_bound(store *s, const char *sql, const char *period, const char *what,
                      pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, sql, err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rc = db_fail(s, err, what);
    else
        rc = 0;
    release(s, st);
    return rc;
}

int store_period_reset(store *s, const char *period, int lines_too, pr_err *err)
{
    if (need_tx(s, err) != 0)
        return -1;
    /*
     * Lines from earlier periods that this period's close consumed or
     * carried on go back to waiting for this period. Each statement is
     * led by an index (commission_by_payout, commission_carried), so a
     * close costs what its own period holds, not the org's history.
     */
    if (exec_bound(s,
                   "UPDATE commission_lines SET payout_id = NULL, amount = NULL,"
                   " carried_to = ?2, carry_reason = 'carried forward'"
                   " WHERE org = ?1 AND (partner_id, payout_id) IN (SELECT partner_id, id"
                   " FROM payouts WHERE org = ?1 AND period = ?2 AND kind = 'commission')"
                   " AND period < ?2",
                   period, "release consumed lines", err) != 0 ||
        exec_bound(s,
                   "UPDATE commission_lines SET carried_to = ?2, carry_reason = 'carried forward'"
                   " WHERE org = ?1 AND payout_id IS NULL AND carried_to > ?2 AND period < ?2",
                   period, "release carried lines", err) != 0)
        return -1;
    /* This period's own lines: in its payouts (no later close may have
     * taken them: one is refused while a later period is closed) or
     * carried on. */
    if (exec_bound(s,
                   "DELETE FROM commission_lines WHERE org = ?1 AND (partner_id, payout_id) IN"
                   " (SELECT partner_id, id FROM payouts WHERE org = ?1 AND period = ?2"
                   " AND kind = 'commission')",
                   period, "delete commission lines", err) != 0 ||
        exec_bound(s,
                   "DELETE FROM commission_lines WHERE org = ?1 AND payout_id IS NULL"
                   " AND period = ?2",
                   period, "delete carried commission lines", err) != 0)
        return -1;
    if (!lines_too)
        return 0;
    return exec_bound(s, "DELETE FROM attribution_lines WHERE org = ?1 AND period = ?2", period,
                      "delete attribution lines", err);
}

/* A line's eleven columns from ?b on, bound without a copy: the line
 * outlives the statement's step. */
static void bind_line(sqlite3_stmt *st, int b, const struct payrun_line *l)
{
    sqlite3_bind_int64(st, b, l->source_line);
    sqlite3_bind_text(st, b + 1, l->deal_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 2, l->deal_name ? l->deal_name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 3, l->deal_status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 4, l->closed_on ? l->closed_on : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 5, l->partner_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 6, l->model ? l->model : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, b + 7, l->percentage ? l->percentage : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, b + 8, l->attributed_amount);
    sqlite3_bind_text(st, b + 9, l->currency, -1, SQLITE_STATIC);
    if (l->product_line == NULL || l->product_line[0] == '\0')
        sqlite3_bind_null(st, b + 10);
    else
        sqlite3_bind_text(st, b + 10, l->product_line, -1, SQLITE_STATIC);
}

int store_line_insert(store *s, int64_t run_id, const char *period, const struct payrun_line *l,
                      pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st, "INSERT INTO attribution_lines (org, period, run_id, source_line, deal_id,"
               " deal_name, deal_status, closed_on, partner_id, model, percentage,"
               " attributed_amount, currency, product_line)"
               " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
               " ON CONFLICT (org, period, partner_id, deal_id) DO NOTHING", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, run_id);
    bind_line(st, 4, l);
    rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        release(s, st);
        return 2;
    }
    if (rc != SQLITE_DONE) {
        /* The error before release(), which resets the statement and
         * with it what sqlite3_errmsg says. */
        rc = db_fail(s, err, "insert attribution line");
        release(s, st);
        return rc;
    }
    release(s, st);
    return sqlite3_changes(s->db) == 1 ? 0 : 1;
}

/*
 * Staging. An import's lines arrive in file order, which has nothing to do
 * with partner order; inserted as they come, each one lands on a random
 * page of attribution_key, and once the index outgrows the page cache
 * every line costs a page read and a page write. So they are gathered in
 * a sorter first (memory, then a temporary file past STAGE_MEM_BYTES) and
 * settled in one pass in partner order (file order within a partner): the
 * index then grows at one place, the table's rowids follow partner order,
 * and the calculation reads both in order. The sorter is the core's own:
 * a temporary SQLite table and an ORDER BY over it wrote every line twice
 * more and cost a third of the import.
 */
int store_line_stage(store *s, const struct payrun_line *l, pr_err *err)
{
    if (need_tx(s, err) != 0)
        return -1;
    if (l->partner_id == NULL || l->deal_id == NULL || l->deal_status == NULL ||
        l->currency == NULL)
        return pr_err_set(err, EXIT_SOFTWARE,
                          "line %lld staged without deal_id, deal_status, partner_id or currency",
                          (long long)l->source_line);
    if (s->stage == NULL) {
        long mib = STAGE_MEM_MIB;
        const char *env = getenv("PAYRUN_SORT_MEMORY");

        if (env != NULL && env[0] != '\0') {
            char *end;
            errno = 0;
            mib = strtol(env, &end, 10);
            if (errno != 0 || *end != '\0' || end == env || env[0] == '+' || env[0] == ' ' ||
                mib < 1 || mib > STAGE_MEM_MIB_MAX) {
                pr_err_set(err, EXIT_USAGE, "bad PAYRUN_SORT_MEMORY \"%s\"", env);
                return pr_err_hint(err, "a whole number of MiB from 1 to %d, or unset it "
                                        "(default %d)", STAGE_MEM_MIB_MAX, STAGE_MEM_MIB);
            }
        }
        s->stage = linesort_new((size_t)mib * 1024 * 1024);
        if (s->stage == NULL)
            return pr_err_set(err, EXIT_SOFTWARE, "staging attribution lines: out of memory");
    }
    return linesort_add(s->stage, l, err);
}

int64_t store_lines_staged(const store *s)
{
    return s->stage ? linesort_count(s->stage) : 0;
}

/* The refused lines wait in a temporary table, with the line itself, to
 * be handed back in file order once every line has been seen. Refusals
 * are rare; the table is made at the first. */
#define REJECT_COLUMNS                                                                   \
    "source_line, deal_id, deal_name, deal_status, closed_on, partner_id, model,"       \
    " percentage, attributed_amount, currency, product_line"

static int stash_reject(store *s, int64_t seq, const struct payrun_line *l, const char *why,
                        int *made, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (!*made) {
        if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS staged_rejects ("
                    " seq INTEGER PRIMARY KEY, why TEXT NOT NULL, source_line INTEGER NOT NULL,"
                    " deal_id TEXT, deal_name TEXT, deal_status TEXT, closed_on TEXT,"
                    " partner_id TEXT, model TEXT, percentage TEXT,"
                    " attributed_amount INTEGER NOT NULL, currency TEXT, product_line TEXT);"
                    "DELETE FROM temp.staged_rejects;",
                 err) != 0)
            return -1;
        *made = 1;
    }
    if (prepare(s, &st, "INSERT INTO temp.staged_rejects (seq, why, " REJECT_COLUMNS ")"
               " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)", err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, why, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, l->source_line);
    sqlite3_bind_text(st, 4, l->deal_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, l->deal_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, l->deal_status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, l->closed_on, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, l->partner_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, l->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, l->percentage, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 11, l->attributed_amount);
    sqlite3_bind_text(st, 12, l->currency, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 13, l->product_line, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "note a refused line");
    release(s, st);
    return rc;
}

/* The refused lines, in file order, to the importer's callback. */
static int hand_back_rejects(store *s, store_reject_cb cb, void *ud, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    /* A statement of its own (not the cache's): the callback may call
     * back into the store. */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " REJECT_COLUMNS ", why FROM temp.staged_rejects ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "read refused lines");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct payrun_line l;
        l.source_line = sqlite3_column_int64(st, 0);
        l.deal_id = (const char *)sqlite3_column_text(st, 1);
        l.deal_name = (const char *)sqlite3_column_text(st, 2);
        l.deal_status = (const char *)sqlite3_column_text(st, 3);
        l.closed_on = (const char *)sqlite3_column_text(st, 4);
        l.partner_id = (const char *)sqlite3_column_text(st, 5);
        l.model = (const char *)sqlite3_column_text(st, 6);
        l.percentage = (const char *)sqlite3_column_text(st, 7);
        l.attributed_amount = sqlite3_column_int64(st, 8);
        l.currency = (const char *)sqlite3_column_text(st, 9);
        l.product_line = (const char *)sqlite3_column_text(st, 10);
        if (cb(ud, &l, (const char *)sqlite3_column_text(st, 11)) != 0) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "read refused lines");
    sqlite3_finalize(st);
    if (rc == 0)
        rc = exec(s, "DELETE FROM temp.staged_rejects;", err);
    return rc;
}

static int partner_known(store *s, const char *partner_id, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, "SELECT 1 FROM partners WHERE org = ?1 AND partner_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_fail(s, err, "look up partner");
    release(s, st);
    return rc;
}

/*
 * Settled lines go LINE_BATCH to a statement: one INSERT per line spent
 * as much starting and resetting the statement as inserting the row. A
 * batch holding a second line of a deal and partner inserts fewer rows
 * than it has; those rows, the newest of the table, are taken back and the
 * batch goes again one line at a time to find which line it was.
 */
#define LINE_BATCH LINESORT_KEEP
#define LINE_COLUMNS                                                                      \
    "org, period, run_id, source_line, deal_id, deal_name, deal_status, closed_on,"       \
    " partner_id, model, percentage, attributed_amount, currency, product_line"

static const char *line_batch_sql(void)
{
    static char sql[4096];

    if (sql[0] == '\0') {
        size_t o = (size_t)snprintf(sql, sizeof(sql),
                                    "INSERT INTO attribution_lines (" LINE_COLUMNS ") VALUES");
        for (int i = 0; i < LINE_BATCH; i++) {
            int b = 4 + 11 * i;
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%s(?1,?2,?3", i ? "," : "");
            for (int k = 0; k < 11; k++)
                o += (size_t)snprintf(sql + o, sizeof(sql) - o, ",?%d", b + k);
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, ")");
        }
        snprintf(sql + o, sizeof(sql) - o, " ON CONFLICT (org, period, partner_id, deal_id) DO NOTHING");
    }
    return sql;
}

typedef struct settle_line {
    int64_t seq;
    struct payrun_line l;
} settle_line;

typedef struct settle_state {
    int64_t run_id;
    const char *period;
    int64_t settled, refused;
    int made; /* the rejects table exists */
} settle_state;

static int settle_refuse(store *s, settle_state *ss, int64_t seq, const struct payrun_line *l,
                         int unknown, pr_err *err)
{
    char why[256];

    if (unknown)
        snprintf(why, sizeof(why), "unknown partner \"%s\"", l->partner_id);
    else
        snprintf(why, sizeof(why), "duplicate deal_id \"%s\" for partner_id \"%s\"", l->deal_id,
                 l->partner_id);
    if (stash_reject(s, seq, l, why, &ss->made, err) != 0)
        return -1;
    ss->refused++;
    return 0;
}

static int settle_batch(store *s, settle_state *ss, const settle_line *b, int n, pr_err *err)
{
    if (n == LINE_BATCH) {
        sqlite3_stmt *st;
        int rc;
        int64_t added;

        if (prepare(s, &st, line_batch_sql(), err) != 0)
            return -1;
        sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ss->period, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ss->run_id);
        for (int k = 0; k < n; k++)
            bind_line(st, 4 + 11 * k, &b[k].l);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "insert attribution lines");
        release(s, st);
        if (rc != 0)
            return -1;
        added = sqlite3_changes64(s->db);
        if (added == n) {
            ss->settled += n;
            return 0;
        }
        if (added > 0) {
            if (prepare(s, &st, "DELETE FROM attribution_lines WHERE id >"
                               " (SELECT max(id) FROM attribution_lines) - ?1", err) != 0)
                return -1;
            sqlite3_bind_int64(st, 1, added);
            rc = sqlite3_step(st);
            rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "take back a batch of lines");
            release(s, st);
            if (rc != 0)
                return -1;
        }
    }
    for (int k = 0; k < n; k++) {
        int ins = store_line_insert(s, ss->run_id, ss->period, &b[k].l, err);
        if (ins < 0)
            return -1;
        if (ins == 0)
            ss->settled++;
        else if (settle_refuse(s, ss, b[k].seq, &b[k].l, ins == 2, err) != 0)
            return -1;
    }
    return 0;
}

int store_lines_settle(store *s, int64_t run_id, const char *period, store_reject_cb cb,
                       void *ud, int64_t *settled, int64_t *refused, pr_err *err)
{
    char current[65] = "";
    int known = 0, rc, nb = 0;
    int64_t staged, seq;
    struct payrun_line l;
    settle_line batch[LINE_BATCH];
    settle_state ss = {run_id, period, 0, 0, 0};

    *settled = *refused = 0;
    if (need_tx(s, err) != 0)
        return -1;
    staged = store_lines_staged(s);
    if (staged == 0)
        return 0;
    /* The inserts go in index order and need few pages; the smaller cache
     * leaves the memory a close may take to the sorter. */
    if (exec(s, "PRAGMA main.cache_size = -" SORT_CACHE_KIB, err) != 0)
        return -1;
    /* A batch holds lines read one after another (the sorter keeps the
     * last LINE_BATCH valid): it is settled before an unknown partner's
     * lines are read past it. */
    while ((rc = linesort_next(s->stage, &seq, &l, err)) == 1) {
        if (strcmp(current, l.partner_id) != 0) {
            snprintf(current, sizeof(current), "%s", l.partner_id);
            known = partner_known(s, l.partner_id, err);
            if (known < 0 || (!known && settle_batch(s, &ss, batch, nb, err) != 0)) {
                rc = -1;
                break;
            }
            if (!known)
                nb = 0;
        }
        if (!known) {
            if (settle_refuse(s, &ss, seq, &l, 1, err) != 0) {
                rc = -1;
                break;
            }
            continue;
        }
        batch[nb].seq = seq;
        batch[nb].l = l;
        if (++nb == LINE_BATCH) {
            nb = 0;
            if (settle_batch(s, &ss, batch, LINE_BATCH, err) != 0) {
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0 && settle_batch(s, &ss, batch, nb, err) != 0)
        rc = -1;
    linesort_reset(s->stage);
    if (rc != 0) {
        /* The store's error says what failed; the cache is put back on the
         * way out regardless, so a caller that carries on has it. */
        pr_err scratch = {0};
        exec(s, "PRAGMA main.cache_size = -" PAGE_CACHE_KIB, &scratch);
        return -1;
    }
    if (exec(s, "PRAGMA main.cache_size = -" PAGE_CACHE_KIB, err) != 0)
        return -1;
    *settled = ss.settled;
    *refused = ss.refused;
    if (ss.settled + ss.refused != staged)
        return pr_err_set(err, EXIT_SOFTWARE, "settled %lld and refused %lld of %lld staged lines",
                          (long long)ss.settled, (long long)ss.refused, (long long)staged);
    return ss.refused > 0 ? hand_back_rejects(s, cb, ud, err) : 0;
}

/*
 * Two streams, each already in partner order by an index, merged here:
 * the period's won lines (attribution_key) and the lines carried
 * into it (commission_carried). Sorting their union in SQL instead cost a
 * temporary b-tree of every row of the period; sorting each partner's new
 * lines by id cost a sorter per partner, so they come in the index's
 * order and the calculation orders each partner's few lines itself. The partner's own columns
 * are read once per partner, not joined to every line.
 */
typedef struct calc_partner {
    char partner_id[65];
    char type[16], tier[16], currency[4];
    int64_t rate;
} calc_partner;

static int calc_partner_load(store *s, const char *partner_id, calc_partner *p, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (strcmp(p->partner_id, partner_id) == 0)
        return 0;
    if (prepare(s, &st,
                "SELECT type, tier, commission_rate, currency FROM partners"
                " WHERE org = ?1 AND partner_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        /* The foreign keys make a line without its partner impossible. */
        rc = rc == SQLITE_DONE
                 ? pr_err_set(err, EXIT_SOFTWARE, "a line of partner \"%s\" has no partner row",
                              partner_id)
                 : db_fail(s, err, "read the partner of a line");
        release(s, st);
        return rc;
    }
    snprintf(p->partner_id, sizeof(p->partner_id), "%s", partner_id);
    copy_col(p->type, sizeof(p->type), st, 0);
    copy_col(p->tier, sizeof(p->tier), st, 1);
    p->rate = sqlite3_column_int64(st, 2);
    copy_col(p->currency, sizeof(p->currency), st, 3);
    release(s, st);
    return 0;
}

static int calc_row_of(store *s, sqlite3_stmt *st, int carried, calc_partner *p, calc_row *r,
                       pr_err *err)
{
    r->partner_id = (const char *)sqlite3_column_text(st, 0);
    if (r->partner_id == NULL || calc_partner_load(s, r->partner_id, p, err) != 0)
        return r->partner_id == NULL ? db_fail(s, err, "read lines for the calculation") : -1;
    r->partner_type = p->type;
    r->partner_tier = p->tier;
    r->partner_rate = p->rate;
    r->partner_currency = p->currency;
    r->carried = carried;
    r->id = sqlite3_column_int64(st, 1);
    r->deal_id = (const char *)sqlite3_column_text(st, 2);
    r->product_line = (const char *)sqlite3_column_text(st, 3);
    r->amount = sqlite3_column_int64(st, 4);
    r->rate = carried ? sqlite3_column_int64(st, 5) : 0;
    r->rule = carried ? (const char *)sqlite3_column_text(st, 6) : NULL;
    r->exact = carried ? (const char *)sqlite3_column_text(st, 7) : NULL;
    return 0;
}

int store_calc_rows(store *s, const char *period, store_calc_cb cb, void *ud, pr_err *err)
{
    sqlite3_stmt *news = NULL, *old = NULL;
    int rn, ro, ret = 0;
    calc_partner part;
    calc_row r;

    memset(&part, 0, sizeof(part));
    if (prepare(s, &news,
                "SELECT a.partner_id, a.id, a.deal_id, coalesce(a.product_line, ''),"
                " a.attributed_amount"
                " FROM attribution_lines a INDEXED BY attribution_key"
                " WHERE a.org = ?1 AND a.period = ?2 AND a.deal_status = 'won'"
                " ORDER BY a.partner_id",
                err) != 0)
        return -1;
    if (prepare(s, &old,
                "SELECT c.partner_id, c.attribution_line_id,"
                " a.deal_id, coalesce(a.product_line, ''), a.attributed_amount, c.rate, c.rule,"
                " c.exact FROM commission_lines c"
                " JOIN attribution_lines a ON a.id = c.attribution_line_id"
                " WHERE c.org = ?1 AND c.payout_id IS NULL AND c.carried_to <= ?2"
                " ORDER BY c.partner_id, c.attribution_line_id",
                err) != 0) {
        release(s, news);
        return -1;
    }
    sqlite3_bind_text(news, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(news, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(old, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(old, 2, period, -1, SQLITE_TRANSIENT);
    rn = sqlite3_step(news);
    ro = sqlite3_step(old);
    /* Within a partner, carried lines come first, as before. */
    while (ret == 0 && (rn == SQLITE_ROW || ro == SQLITE_ROW)) {
        int take_old = ro == SQLITE_ROW &&
                       (rn != SQLITE_ROW ||
                        strcmp((const char *)sqlite3_column_text(old, 0),
                               (const char *)sqlite3_column_text(news, 0)) <= 0);
        if (take_old) {
            ret = calc_row_of(s, old, 1, &part, &r, err);
            if (ret == 0)
                ret = cb(ud, &r);
            ro = sqlite3_step(old);
        } else {
            ret = calc_row_of(s, news, 0, &part, &r, err);
            if (ret == 0)
                ret = cb(ud, &r);
            rn = sqlite3_step(news);
        }
    }
    if (ret == 0 && ((rn != SQLITE_ROW && rn != SQLITE_DONE) || (ro != SQLITE_ROW && ro != SQLITE_DONE)))
        ret = db_fail(s, err, "read lines for the calculation");
    release(s, news);
    release(s, old);
    return ret;
}

int store_commission_insert(store *s, const char *period, int64_t attr_id,
                            const char *partner_id, const char *payout_id, const char *rule,
                            int64_t rate, const char *exact, int has_amount, int64_t amount,
                            const char *carried_to, const char *carry_reason, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st, "INSERT INTO commission_lines (org, period, attribution_line_id, partner_id,"
               " payout_id, rule, rate, exact, amount, carried_to, carry_reason)"
               " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, attr_id);
    sqlite3_bind_text(st, 4, partner_id, -1, SQLITE_STATIC);
    bind_text(st, 5, payout_id);
    sqlite3_bind_text(st, 6, rule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, rate);
    sqlite3_bind_text(st, 8, exact, -1, SQLITE_STATIC);
    if (has_amount)
        sqlite3_bind_int64(st, 9, amount);
    bind_text(st, 10, carried_to);
    bind_text(st, 11, carry_reason);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "insert commission line");
    return 0;
}

/*
 * A partner's new commission lines, COMMISSION_BATCH to a statement: one
 * statement per line spent as much starting, ending and resetting the
 * statement as inserting the row. The values common to all rows are bound
 * once (?1 to ?6), then five per row.
 */
#define COMMISSION_BATCH 16

static const char *commission_batch_sql(void)
{
    static char sql[2048];

    if (sql[0] == '\0') {
        size_t o = (size_t)snprintf(sql, sizeof(sql),
                                    "INSERT INTO commission_lines (org, period, partner_id, payout_id,"
                                    " carried_to, carry_reason, attribution_line_id, rule, rate, exact,"
                                    " amount) VALUES");
        for (int i = 0; i < COMMISSION_BATCH; i++) {
            int b = 7 + 5 * i;
            o += (size_t)snprintf(sql + o, sizeof(sql) - o,
                                  "%s(?1,?2,?3,?4,?5,?6,?%d,?%d,?%d,?%d,?%d)", i ? "," : "", b,
                                  b + 1, b + 2, b + 3, b + 4);
        }
    }
    return sql;
}

int store_commission_insert_many(store *s, const char *period, const char *partner_id,
                                 const char *payout_id, const char *carried_to,
                                 const char *carry_reason, const commission_row *rows, size_t n,
                                 pr_err *err)
{
    size_t i = 0;

    if (need_tx(s, err) != 0)
        return -1;
    for (; n - i >= COMMISSION_BATCH; i += COMMISSION_BATCH) {
        sqlite3_stmt *st;
        int rc;

        if (prepare(s, &st, commission_batch_sql(), err) != 0)
            return -1;
        sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, partner_id, -1, SQLITE_STATIC);
        bind_text(st, 4, payout_id);
        bind_text(st, 5, carried_to);
        bind_text(st, 6, carry_reason);
        for (int k = 0; k < COMMISSION_BATCH; k++) {
            const commission_row *r = &rows[i + (size_t)k];
            int b = 7 + 5 * k;
            sqlite3_bind_int64(st, b, r->attr_id);
            sqlite3_bind_text(st, b + 1, r->rule, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, b + 2, r->rate);
            sqlite3_bind_text(st, b + 3, r->exact, -1, SQLITE_STATIC);
            if (payout_id != NULL)
                sqlite3_bind_int64(st, b + 4, r->amount);
            else
                sqlite3_bind_null(st, b + 4);
        }
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? 0 : db_fail(s, err, "insert commission lines");
        release(s, st);
        if (rc != 0)
            return -1;
    }
    for (; i < n; i++) {
        const commission_row *r = &rows[i];
        if (store_commission_insert(s, period, r->attr_id, partner_id, payout_id, r->rule,
                                    r->rate, r->exact, payout_id != NULL, r->amount, carried_to,
                                    carry_reason, err) != 0)
            return -1;
    }
    return 0;
}

int store_commission_assign(store *s, int64_t line_id, const char *payout_id, int has_amount,
                            int64_t amount, const char *carried_to, const char *carry_reason,
                            pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st, "UPDATE commission_lines SET payout_id = ?1, amount = ?2, carried_to = ?3,"
               " carry_reason = ?4 WHERE org = ?5 AND attribution_line_id = ?6", err) != 0)
        return -1;
    bind_text(st, 1, payout_id);
    if (has_amount)
        sqlite3_bind_int64(st, 2, amount);
    bind_text(st, 3, carried_to);
    bind_text(st, 4, carry_reason);
    sqlite3_bind_text(st, 5, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, line_id);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "update commission line");
    return 0;
}

/* Approvals of a payout, removed when its amount changes: an approval was
 * given for an amount, not for whatever the payout later says. */
static int clear_approvals(store *s, const char *id, int *n, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (prepare(s, &st, "DELETE FROM approvals WHERE org = ?1 AND payout_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "clear approvals");
    *n = sqlite3_changes(s->db);
    return 0;
}

int store_payout_upsert_commission(store *s, const char *period, const char *partner_id,
                                   int64_t amount, const char *currency, int64_t run_id,
                                   const char *actor, const char *at, char id[24],
                                   upsert_result *result, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    buf meta;
    char *m;
    int rc, cleared = 0;

    if (need_tx(s, err) != 0)
        return -1;
    store_payout_id(s->org, period, partner_id, PAYOUT_KIND_COMMISSION, id);
    rc = store_payout_get(s, id, &p, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        memset(&p, 0, sizeof(p));
        snprintf(p.period, sizeof(p.period), "%s", period);
        snprintf(p.partner_id, sizeof(p.partner_id), "%s", partner_id);
        snprintf(p.currency, sizeof(p.currency), "%s", currency);
        p.kind = PAYOUT_KIND_COMMISSION;
        p.amount = amount;
        p.approvals_required = 1;
        p.run_id = run_id;
        *result = UPSERT_CREATED;
        return store_payout_create(s, &p, actor, at, err);
    }
    if (p.status != STATUS_PENDING_APPROVAL)
        return pr_err_set(err, EXIT_DATAERR, "payout \"%s\" is %s: cannot recalculate it", id,
                          status_name(p.status));
    if (prepare(s, &st, "UPDATE payouts SET amount = ?1, run_id = ?2 WHERE org = ?3 AND id = ?4",
                err) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, amount);
    sqlite3_bind_int64(st, 2, run_id);
    sqlite3_bind_text(st, 3, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "recalculate payout");
    if (p.amount == amount) {
        *result = UPSERT_UNCHANGED;
        return 0;
    }
    if (clear_approvals(s, id, &cleared, err) != 0)
        return -1;
    *result = UPSERT_UPDATED;
    buf_init(&meta);
    buf_puts(&meta, "{\"before\":{");
    money_json(&meta, "amount", p.amount);
    buf_puts(&meta, "},\"after\":{");
    money_json(&meta, "amount", amount);
    buf_puts(&meta, "},");
    buf_json_kv(&meta, "currency", p.currency);
    buf_printf(&meta, ",\"approvals_cleared\":%d,\"run_id\":%lld}", cleared, (long long)run_id);
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, "payout.recalculated", "payout", id, m, err);
    free(m);
    return rc;
}

int store_payouts_prune(store *s, const char *period, int64_t run_id, const char *actor,
                        const char *at, int *deleted, pr_err *err)
{
    sqlite3_stmt *st;
    char **ids = NULL;
    size_t n = 0;
    int ret;

    *deleted = 0;
    if (prepare(s, &st,
                "SELECT id FROM payouts WHERE org = ?1 AND period = ?2 AND kind = 'commission'"
                " AND status = 'pending_approval' AND (run_id IS NULL OR run_id <> ?3)",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, run_id);
    ret = collect_ids(s, st, &ids, &n, "read payouts", err);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        ret = store_payout_delete(s, ids[i], actor, at,
                                  "recalculated: the partner earns no payout this period", err);
        if (ret == 0)
            (*deleted)++;
    }
    free_ids(ids, n);
    return ret;
}

int store_payout_require(store *s, const char *id, int approvals, const char *rule,
                         const char *actor, const char *at, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    buf meta;
    char *m;
    int rc;

    if (need_tx(s, err) != 0 || get_existing(s, id, &p, err) != 0)
        return -1;
    if (p.status != STATUS_PENDING_APPROVAL)
        return pr_err_set(err, EXIT_DATAERR,
                          "payout \"%s\" is %s: cannot change its required approvals", id,
                          status_name(p.status));
    if (p.approvals_required == approvals)
        return 0;
    if (prepare(s, &st,
                "UPDATE payouts SET approvals_required = ?1 WHERE org = ?2 AND id = ?3", err) != 0)
        return -1;
    sqlite3_bind_int(st, 1, approvals);
    sqlite3_bind_text(st, 2, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "set required approvals");
    buf_init(&meta);
    buf_printf(&meta, "{\"before\":{\"approvals_required\":%d},\"after\":{\"approvals_required\":%d},",
               p.approvals_required, approvals);
    buf_json_kv(&meta, "rule", rule);
    buf_puts(&meta, "}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, "payout.approvals_required", "payout", id, m, err);
    free(m);
    return rc;
}

int store_payout_hold(store *s, const char *id, const char *reason, const char *rule,
                      const char *actor, const char *at, int64_t run_id, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    buf meta;
    char *m;
    int rc;

    if (need_tx(s, err) != 0 || get_existing(s, id, &p, err) != 0)
        return -1;
    if (p.status != STATUS_PENDING_APPROVAL)
        return pr_err_set(err, EXIT_DATAERR, "payout \"%s\" is %s: cannot hold it", id,
                          status_name(p.status));
    if (prepare(s, &st,
                "UPDATE payouts SET hold_reason = ?1, hold_run_id = ?4 WHERE org = ?2 AND id = ?3",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, run_id);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "hold payout");
    /* Same hold again: keep it (now owned by this run), no new event. */
    if (strncmp(p.hold_reason, reason, sizeof(p.hold_reason) - 1) == 0)
        return 0;
    buf_init(&meta);
    buf_puts(&meta, "{\"before\":{");
    buf_json_kv(&meta, "hold_reason", p.hold_reason[0] ? p.hold_reason : NULL);
    buf_puts(&meta, "},\"after\":{");
    buf_json_kv(&meta, "hold_reason", reason);
    buf_puts(&meta, "},");
    buf_json_kv(&meta, "rule", rule);
    buf_puts(&meta, "}");
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, actor, "payout.held", "payout", id, m, err);
    free(m);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

int store_payout_views(store *s, const char *period, int commission_only, store_view_cb cb,
                       void *ud, pr_err *err)
{
    sqlite3_stmt *st;
    int rc, ret = 0;

    if (prepare(s, &st,
                "SELECT p.id, p.period, p.partner_id, pa.name, pa.type, pa.tier, pa.status,"
                " ((pa.routing_number IS NOT NULL AND pa.account_number IS NOT NULL)"
                "  OR (pa.iban IS NOT NULL AND pa.bic IS NOT NULL)),"
                " p.amount, p.currency, p.status, p.approvals_required,"
                " (SELECT count(*) FROM approvals a WHERE a.org = p.org AND a.payout_id = p.id),"
                " p.created_at, p.created_by, p.approved_by, p.approved_at, p.paid_at,"
                " p.reference, p.notes, p.hold_reason,"
                " (SELECT count(*) FROM commission_lines c WHERE c.org = p.org"
                "  AND c.partner_id = p.partner_id AND c.payout_id = p.id),"
                " (SELECT q.amount FROM payouts q WHERE q.org = p.org AND q.partner_id ="
                "  p.partner_id AND q.period < p.period ORDER BY q.period DESC LIMIT 1),"
                " p.kind, coalesce(pa.routing_number, ''), coalesce(pa.account_number, ''),"
                " coalesce(pa.iban, ''), coalesce(pa.bic, ''), coalesce(pa.account_name, ''),"
                " pa.email"
                " FROM payouts p JOIN partners pa ON pa.org = p.org AND pa.partner_id = p.partner_id"
                " WHERE p.org = ?1 AND p.period = ?2 AND (?3 = 0 OR (p.kind = 'commission'"
                "   AND p.amount_set_by IS NULL))"
                " ORDER BY p.partner_id, p.kind",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, commission_only);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct payrun_payout_view v;
        memset(&v, 0, sizeof(v));
        v.id = col_text(st, 0);
        v.org = s->org;
        v.period = col_text(st, 1);
        v.partner_id = col_text(st, 2);
        v.partner_name = col_text(st, 3);
        v.partner_type = col_text(st, 4);
        v.partner_tier = col_text(st, 5);
        v.partner_status = col_text(st, 6);
        v.has_payment_details = sqlite3_column_int(st, 7);
        v.amount = sqlite3_column_int64(st, 8);
        v.currency = col_text(st, 9);
        v.status = col_text(st, 10);
        v.approvals_required = sqlite3_column_int(st, 11);
        v.approvals_given = sqlite3_column_int(st, 12);
        v.created_at = col_text(st, 13);
        v.created_by = col_text(st, 14);
        v.approved_by = col_text(st, 15);
        v.approved_at = col_text(st, 16);
        v.paid_at = col_text(st, 17);
        v.reference = col_text(st, 18);
        v.notes = col_text(st, 19);
        v.hold_reason = col_text(st, 20);
        v.lines = sqlite3_column_int64(st, 21);
        v.has_previous = sqlite3_column_type(st, 22) != SQLITE_NULL;
        v.previous_amount = sqlite3_column_int64(st, 22);
        v.kind = col_text(st, 23);
        v.routing_number = col_text(st, 24);
        v.account_number = col_text(st, 25);
        v.iban = col_text(st, 26);
        v.bic = col_text(st, 27);
        v.account_name = col_text(st, 28);
        v.partner_email = col_text(st, 29);
        ret = cb(ud, &v);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        release(s, st);
        return db_fail(s, err, "read payouts");
    }
    release(s, st);
    return ret;
}

int store_period_totals(store *s, const char *period, status_total out[STATUS__COUNT],
                        pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof(status_total) * STATUS__COUNT);
    /* Summed here with a checked add, so an overflow is reported as what
     * it is rather than as a database error from sum(). */
    if (prepare(s, &st,
                "SELECT status, amount FROM payouts WHERE org = ?1 AND (?2 IS NULL OR period = ?2)",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    if (period)
        sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        payout_status ps;
        if (status_parse(col_text(st, 0), &ps) != 0)
            continue;
        out[ps].count++;
        if (__builtin_add_overflow(out[ps].total, sqlite3_column_int64(st, 1), &out[ps].total)) {
            release(s, st);
            return pr_err_set(err, EXIT_DATAERR, "total of %s payouts overflows", status_name(ps));
        }
    }
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "read payouts");
    return 0;
}

/* ---- operations: approvals, listing, reports ------------------------------ */

static int run_actor(store *s, int64_t run_id, char out[65], pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    out[0] = '\0';
    if (run_id <= 0)
        return 0;
    if (prepare(s, &st, "SELECT actor FROM runs WHERE org = ?1 AND id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_col(out, 65, st, 0);
    release(s, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, err, "read run");
    return 0;
}

int store_payout_approve(store *s, const char *id, const char *approver, const char *at,
                         approve_result *result, int *given, int *required, pr_err *err)
{
    sqlite3_stmt *st;
    payout p;
    payout_status to;
    char starter[65];
    buf meta;
    char *m;
    int rc;

    if (need_tx(s, err) != 0 || get_existing(s, id, &p, err) != 0)
        return -1;
    if (state_move(id, p.status, MOVE_APPROVE, &to, err) != 0)
        return -1;
    if (p.hold_reason[0]) {
        pr_err_set(err, EXIT_DATAERR, "payout \"%s\" is on hold: %s", id, p.hold_reason);
        return pr_err_hint(err, "resolve the hold (e.g. add the partner's payment details) and "
                                "rerun the close, or reject the payout");
    }
    if (strcmp(p.created_by, approver) == 0) {
        pr_err_set(err, EXIT_NOPERM, "\"%s\" created payout \"%s\" and cannot approve it",
                   approver, id);
        return pr_err_hint(err, "another approver must approve it");
    }
    if (strcmp(p.amount_set_by, approver) == 0) {
        pr_err_set(err, EXIT_NOPERM, "\"%s\" set the amount of payout \"%s\" by hand and cannot "
                   "approve it", approver, id);
        return pr_err_hint(err, "another approver must approve it");
    }
    if (run_actor(s, p.run_id, starter, err) != 0)
        return -1;
    if (strcmp(starter, approver) == 0) {
        pr_err_set(err, EXIT_NOPERM,
                   "\"%s\" started run %lld that made payout \"%s\" and cannot approve it",
                   approver, (long long)p.run_id, id);
        return pr_err_hint(err, "another approver must approve it");
    }
    if (prepare(s, &st,
                "INSERT INTO approvals (org, payout_id, approver, at) VALUES (?1, ?2, ?3, ?4)"
                " ON CONFLICT (org, payout_id, approver) DO NOTHING",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, approver, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, at, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "record approval");
    if (sqlite3_changes(s->db) == 0) {
        pr_err_set(err, EXIT_NOPERM, "\"%s\" has already approved payout \"%s\"", approver, id);
        return pr_err_hint(err, "it needs %d approval%s from different approvers",
                           p.approvals_required, p.approvals_required == 1 ? "" : "s");
    }
    *given = p.approvals_given + 1;
    *required = p.approvals_required;
    buf_init(&meta);
    buf_puts(&meta, "{");
    buf_json_kv(&meta, "approver", approver);
    buf_printf(&meta, ",\"approvals_given\":%d,\"approvals_required\":%d}", *given, *required);
    m = buf_take(&meta);
    if (m == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    rc = store_audit_append(s, at, approver, "payout.approval_given", "payout", id, m, err);
    free(m);
    if (rc != 0)
        return -1;
    if (*given < *required) {
        *result = APPROVE_RECORDED;
        return 0;
    }
    *result = APPROVE_APPROVED;
    return move_loaded(s, &p, MOVE_APPROVE, approver, at, NULL, NULL, NULL, err);
}

/* LIKE pattern for a case-insensitive substring search, with the
 * pattern characters of the user's text escaped. */
static char *like_pattern(const char *text)
{
    buf b;

    buf_init(&b);
    buf_puts(&b, "%");
    for (const char *p = text; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            buf_append(&b, "\\", 1);
        buf_append(&b, p, 1);
    }
    buf_puts(&b, "%");
    return buf_take(&b);
}

int store_payouts_list(store *s, const payout_filter *f, store_payout_cb cb, void *ud,
                       int64_t *matched, int64_t *total, pr_err *err)
{
    static const struct {
        const char *name;
        const char *column;
    } sorts[] = {
        {"amount", "p.amount"}, {"partner", "p.partner_id"}, {"period", "p.period"},
        {"created", "p.created_at"}, {"status", "p.status"},
    };
    const char *order = "p.period";
    sqlite3_stmt *st;
    char sql[2048], where[512], *pattern = NULL;
    int rc, ret = 0;

    if (f->sort) {
        order = NULL;
        for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
            if (strcmp(f->sort, sorts[i].name) == 0)
                order = sorts[i].column;
        if (order == NULL) {
            pr_err_set(err, EXIT_USAGE, "cannot sort by \"%s\"", f->sort);
            return pr_err_hint(err, "sort by amount, partner, period, created or status; "
                                    "prefix - for descending");
        }
    }
    if (f->search && (pattern = like_pattern(f->search)) == NULL)
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    /* Only the filters given, so that an index can serve them (a status
     * filter is payouts_by_status); the partner's name only for a search. */
    snprintf(where, sizeof(where), " WHERE p.org = ?1%s%s%s%s",
             f->status ? " AND p.status = ?2" : "", f->partner ? " AND p.partner_id = ?3" : "",
             f->period ? " AND p.period = ?4" : "",
             pattern ? " AND (p.partner_id LIKE ?5 ESCAPE '\\' OR pa.name LIKE ?5 ESCAPE '\\'"
                       " OR p.notes LIKE ?5 ESCAPE '\\'"
                       " OR coalesce(p.reference, '') LIKE ?5 ESCAPE '\\')"
                     : "");
    /* Counts first: how many match, and how many the org has. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*), (SELECT count(*) FROM payouts WHERE org = ?1)"
             " FROM payouts p%s%s",
             pattern ? " JOIN partners pa ON pa.org = p.org AND pa.partner_id = p.partner_id" : "",
             where);
    if (prepare(s, &st, sql, err) != 0) {
        free(pattern);
        return -1;
    }
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_text(st, 2, f->status, -1, SQLITE_STATIC);
    if (f->partner)
        sqlite3_bind_text(st, 3, f->partner, -1, SQLITE_STATIC);
    if (f->period)
        sqlite3_bind_text(st, 4, f->period, -1, SQLITE_STATIC);
    if (pattern)
        sqlite3_bind_text(st, 5, pattern, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *matched = sqlite3_column_int64(st, 0);
        *total = sqlite3_column_int64(st, 1);
    }
    release(s, st);
    if (rc != SQLITE_ROW) {
        free(pattern);
        return db_fail(s, err, "count payouts");
    }

    snprintf(sql, sizeof(sql),
             "SELECT %s, pa.name FROM payouts p JOIN partners pa ON pa.org = p.org"
             " AND pa.partner_id = p.partner_id%s ORDER BY %s %s%s p.partner_id, p.id"
             " LIMIT ?6",
             PAYOUT_COLS, where, order, f->descending ? "DESC" : "ASC",
             strcmp(order, "p.period") == 0 ? "," : ", p.period,");
    if (prepare(s, &st, sql, err) != 0) {
        free(pattern);
        return -1;
    }
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    if (f->status)
        sqlite3_bind_text(st, 2, f->status, -1, SQLITE_STATIC);
    if (f->partner)
        sqlite3_bind_text(st, 3, f->partner, -1, SQLITE_STATIC);
    if (f->period)
        sqlite3_bind_text(st, 4, f->period, -1, SQLITE_STATIC);
    if (pattern)
        sqlite3_bind_text(st, 5, pattern, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, f->limit > 0 ? f->limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        payout p;
        read_payout(st, &p);
        ret = cb(ud, &p, col_text(st, 23));
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "list payouts");
    release(s, st);
    free(pattern);
    return ret;
}

int store_pending_ids(store *s, const char *period, store_id_cb cb, void *ud, pr_err *err)
{
    sqlite3_stmt *st;
    char **ids = NULL;
    size_t n = 0;
    int ret;

    if (prepare(s, &st,
                "SELECT id FROM payouts WHERE org = ?1 AND status = 'pending_approval'"
                " AND (?2 IS NULL OR period = ?2) ORDER BY period, partner_id, id",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    if (period)
        sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    ret = collect_ids(s, st, &ids, &n, "list pending payouts", err);
    for (size_t i = 0; ret == 0 && i < n; i++)
        ret = cb(ud, ids[i]);
    free_ids(ids, n);
    return ret;
}

int store_payout_approvals(store *s, const char *id, store_approval_cb cb, void *ud,
                           pr_err *err)
{
    sqlite3_stmt *st;
    int rc, ret = 0;

    if (prepare(s, &st,
                "SELECT approver, at, coalesce(rule, '') FROM approvals"
                " WHERE org = ?1 AND payout_id = ?2 ORDER BY at, approver",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        approval a;
        copy_col(a.approver, sizeof(a.approver), st, 0);
        copy_col(a.at, sizeof(a.at), st, 1);
        copy_col(a.rule, sizeof(a.rule), st, 2);
        ret = cb(ud, &a);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "read approvals");
    release(s, st);
    return ret;
}

int store_payout_lines(store *s, const char *id, int64_t *count, int64_t *total, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    *count = 0;
    *total = 0;
    if (prepare(s, &st,
                "SELECT c.amount FROM payouts p JOIN commission_lines c ON c.org = p.org"
                " AND c.partner_id = p.partner_id AND c.payout_id = p.id"
                " WHERE p.org = ?1 AND p.id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        (*count)++;
        if (__builtin_add_overflow(*total, sqlite3_column_int64(st, 0), total)) {
            release(s, st);
            return pr_err_set(err, EXIT_DATAERR, "payout \"%s\": its lines' total overflows", id);
        }
    }
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "read commission lines");
    return 0;
}

int store_partner_summary(store *s, const char *partner_id, partner_summary *out, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof(*out));
    if (prepare(s, &st,
                "SELECT status, amount FROM payouts WHERE org = ?1 AND partner_id = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner_id, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        payout_status ps;
        if (status_parse(col_text(st, 0), &ps) != 0)
            continue;
        out->by_status[ps].count++;
        if (__builtin_add_overflow(out->by_status[ps].total, sqlite3_column_int64(st, 1),
                                   &out->by_status[ps].total)) {
            release(s, st);
            return pr_err_set(err, EXIT_DATAERR, "partner \"%s\": %s total overflows",
                              partner_id, status_name(ps));
        }
    }
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "read payouts");
    if (prepare(s, &st,
                "SELECT " PAYOUT_COLS " FROM payouts p WHERE p.org = ?1 AND p.partner_id = ?2"
                " ORDER BY p.period DESC, p.created_at DESC, p.id DESC LIMIT 1",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, partner_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_payout(st, &out->last);
        out->has_last = 1;
    }
    release(s, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, err, "read payouts");
    return 0;
}

int store_release_stale_holds(store *s, const char *period, int64_t run_id, const char *actor,
                              const char *at, int *released, pr_err *err)
{
    sqlite3_stmt *st;
    char **ids = NULL, **reasons = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;

    *released = 0;
    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "SELECT id, hold_reason FROM payouts WHERE org = ?1 AND period = ?2"
                " AND kind = 'commission' AND status = 'pending_approval'"
                " AND hold_reason IS NOT NULL AND coalesce(hold_run_id, 0) <> ?3",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **ni = realloc(ids, nc * sizeof(*ni)), **nr;
            if (ni == NULL) {
                ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                break;
            }
            ids = ni;
            nr = realloc(reasons, nc * sizeof(*nr));
            if (nr == NULL) {
                ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                break;
            }
            reasons = nr;
            cap = nc;
        }
        ids[n] = dup_col(st, 0);
        reasons[n] = dup_col(st, 1);
        if (ids[n] == NULL || reasons[n] == NULL) {
            free(ids[n]);
            free(reasons[n]);
            ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
            break;
        }
        n++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "read held payouts");
    release(s, st);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        buf meta;
        char *m;
        if (prepare(s, &st,
                    "UPDATE payouts SET hold_reason = NULL, hold_run_id = NULL"
                    " WHERE org = ?1 AND id = ?2",
                    err) != 0) {
            ret = -1;
            break;
        }
        sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ids[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        release(s, st);
        if (rc != SQLITE_DONE) {
            ret = db_fail(s, err, "release hold");
            break;
        }
        buf_init(&meta);
        buf_puts(&meta, "{\"before\":{");
        buf_json_kv(&meta, "hold_reason", reasons[i]);
        buf_printf(&meta, "},\"after\":{\"hold_reason\":null},\"run_id\":%lld}", (long long)run_id);
        m = buf_take(&meta);
        if (m == NULL) {
            ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
            break;
        }
        ret = store_audit_append(s, at, actor, "payout.hold_released", "payout", ids[i], m, err);
        free(m);
        if (ret == 0)
            (*released)++;
    }
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
        free(reasons[i]);
    }
    free(ids);
    free(reasons);
    return ret;
}

/*
 * A payout whose approval rules were lowered to what its approvers have
 * already given: approved now, credited to the approver who gave the last
 * of them, with the run's actor on the audit event. Only approvals that
 * could approve it today count: not its creator's, not the amount
 * setter's, and not this run's actor's (who just recalculated it).
 */
typedef struct satisfied {
    char id[64], last[65];
    int given, required;
} satisfied;

int store_approve_satisfied(store *s, const char *period, int64_t run_id, const char *actor,
                            const char *at, int *approved, pr_err *err)
{
    sqlite3_stmt *st;
    satisfied *list = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;

    *approved = 0;
    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "SELECT p.id, count(*), p.approvals_required, max(a.at || char(1) || a.approver)"
                " FROM payouts p JOIN approvals a ON a.org = p.org AND a.payout_id = p.id"
                " WHERE p.org = ?1 AND p.period = ?2 AND p.kind = 'commission'"
                " AND p.status = 'pending_approval' AND p.hold_reason IS NULL"
                " AND a.approver <> p.created_by AND a.approver <> coalesce(p.amount_set_by, '')"
                " AND a.approver <> ?3"
                " GROUP BY p.id HAVING count(*) >= p.approvals_required ORDER BY p.id",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, actor, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *last = col_text(st, 3), *sep = strchr(last, '\1');
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            satisfied *nl = realloc(list, nc * sizeof(*nl));
            if (nl == NULL) {
                ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                break;
            }
            list = nl;
            cap = nc;
        }
        copy_col(list[n].id, sizeof(list[n].id), st, 0);
        list[n].given = sqlite3_column_int(st, 1);
        list[n].required = sqlite3_column_int(st, 2);
        snprintf(list[n].last, sizeof(list[n].last), "%s", sep ? sep + 1 : "");
        n++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "read payouts with their approvals given");
    release(s, st);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        buf extra;
        char *x;
        payout p;

        buf_init(&extra);
        buf_printf(&extra, "\"approvals_given\":%d,\"approvals_required\":%d,",
                   list[i].given, list[i].required);
        buf_json_kv(&extra, "approved_by", list[i].last);
        buf_printf(&extra, ",\"run_id\":%lld", (long long)run_id);
        x = buf_take(&extra);
        if (x == NULL) {
            ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
            break;
        }
        ret = get_existing(s, list[i].id, &p, err) != 0 ||
                      move_loaded(s, &p, MOVE_APPROVE, actor, at, NULL, NULL, x, err) != 0
                  ? -1
                  : 0;
        free(x);
        if (ret != 0)
            break;
        if (prepare(s, &st, "UPDATE payouts SET approved_by = ?1 WHERE org = ?2 AND id = ?3",
                    err) != 0) {
            ret = -1;
            break;
        }
        sqlite3_bind_text(st, 1, list[i].last, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, s->org, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, list[i].id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        release(s, st);
        if (rc != SQLITE_DONE) {
            ret = db_fail(s, err, "credit the approval");
            break;
        }
        (*approved)++;
    }
    free(list);
    return ret;
}

/* ---- output files between commit and rename ------------------------------ */

int store_output_pending(store *s, int64_t run_id, const char *final, const char *tmp,
                         const char *sha256, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    if (need_tx(s, err) != 0 ||
        prepare(s, &st,
                "INSERT INTO pending_outputs (org, run_id, final, tmp, sha256)"
                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (org, final) DO UPDATE SET"
                " run_id = excluded.run_id, tmp = excluded.tmp, sha256 = excluded.sha256",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run_id);
    sqlite3_bind_text(st, 3, final, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, tmp, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, sha256, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "record an output file");
    return 0;
}

int store_output_done(store *s, const char *final, pr_err *err)
{
    sqlite3_stmt *st;
    int rc;

    /* Outside the run's transaction, after its commit: a lost update here
     * only means the next run checks a file that is already in place. */
    if (prepare(s, &st, "DELETE FROM pending_outputs WHERE org = ?1 AND final = ?2", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, final, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    release(s, st);
    if (rc != SQLITE_DONE)
        return db_fail(s, err, "forget an output file");
    return 0;
}

int store_outputs_pending_each(store *s, store_output_cb cb, void *ud, pr_err *err)
{
    sqlite3_stmt *st;
    char **rows = NULL;
    size_t n = 0, cap = 0;
    int rc, ret = 0;

    if (prepare(s, &st,
                "SELECT run_id, final, tmp, sha256 FROM pending_outputs WHERE org = ?1"
                " ORDER BY final",
                err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->org, -1, SQLITE_STATIC);
    /* Rows are copied out first, so the callback may delete them. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n + 4 > cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nr = realloc(rows, nc * sizeof(*nr));
            if (nr == NULL) {
                ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                break;
            }
            rows = nr;
            cap = nc;
        }
        for (int k = 0; k < 4; k++)
            rows[n + (size_t)k] = dup_col(st, k);
        n += 4;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(s, err, "read output files");
    release(s, st);
    for (size_t i = 0; ret == 0 && i < n; i += 4) {
        if (!rows[i] || !rows[i + 1] || !rows[i + 2] || !rows[i + 3]) {
            ret = pr_err_set(err, EXIT_SOFTWARE, "out of memory");
            break;
        }
        int64_t run = 0;
        for (const char *c = rows[i]; *c >= '0' && *c <= '9' && run < INT64_MAX / 10; c++)
            run = run * 10 + (*c - '0');
        ret = cb(ud, run, rows[i + 1], rows[i + 2], rows[i + 3]);
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
    return ret;
}
