/* testutil.h: temporary directories and small helpers shared by suites. */
#ifndef PAYRUN_TESTUTIL_H
#define PAYRUN_TESTUTIL_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make a fresh private directory under $TMPDIR (mode 0700). */
static inline void tu_tempdir(char out[PATH_MAX])
{
    const char *base = getenv("TMPDIR");
    snprintf(out, PATH_MAX, "%s/payrun-test-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static inline void tu_rmrf(const char *dir)
{
    char cmd[PATH_MAX + 16];
    if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= (int)sizeof(cmd))
        abort();
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Point TMPDIR at `dir` and return what it was (NULL: unset), for
 * tu_tmpdir_restore: a test of a temporary file that cannot be made. */
static inline char *tu_tmpdir_set(const char *dir)
{
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", dir, 1);
    return saved;
}

static inline void tu_tmpdir_restore(char *saved)
{
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
}

/* Run an SQL statement with the real sqlite3 shell, as a user tampering
 * with the database behind payrun's back would. Returns its exit status. */
static inline int tu_sqlite3(const char *db, const char *sql)
{
    int n = snprintf(NULL, 0, "sqlite3 '%s' \"%s\"", db, sql), rc;
    char *cmd = malloc((size_t)n + 1);
    if (cmd == NULL)
        abort();
    snprintf(cmd, (size_t)n + 1, "sqlite3 '%s' \"%s\"", db, sql);
    rc = system(cmd);
    free(cmd);
    return rc;
}

#endif
