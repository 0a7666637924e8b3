/*
 * fuzz_common.h: what the harnesses share: libFuzzer's entry points, a
 * check that aborts with the property that failed (libFuzzer saves the
 * input as a crash), the directory for the files a harness rewrites each
 * run, and the check of a CSV plugin's rejects file.
 */
#ifndef PAYRUN_FUZZ_COMMON_H
#define PAYRUN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the callers rely on: abort, naming it, when it does not hold. */
#define MUST(cond, ...)                                                               \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz: property failed: %s\n  ", #cond);                  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/*
 * TMPDIR if set, else /dev/shm when it is writable, else /tmp. A harness
 * rewrites its input file every run; on a disk file system that costs real
 * I/O (ext4 flushes a file that was truncated and rewritten when it is
 * closed) and cut the runs per second to a third. On tmpfs it stays in
 * memory.
 */
const char *fuzz_temp_dir(void);

/*
 * The rejects file a CSV plugin wrote at `path` ("file,line,reason,record"),
 * read back with strict libcsv: no NUL byte, the header, 4 cells a row, the
 * line cell a number, no cell a spreadsheet would run as a formula, and
 * `rejected` rows (exactly when `exact`, at least otherwise: a run stopped
 * midway may have written rows it never counted). Aborts on any breach.
 */
void fuzz_check_rejects(const char *path, size_t rejected, int exact);

#endif
