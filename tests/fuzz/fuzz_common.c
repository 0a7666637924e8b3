/*
 * fuzz_common.c: the shared part of the harnesses (see fuzz_common.h), and
 * the sanitizer defaults they run with.
 */
#include "fuzz_common.h"

#include <unistd.h>

const char *__asan_default_options(void);

/*
 * ASan keeps freed memory in a quarantine of 256 MB by default, the whole
 * of the -rss_limit_mb=256 that run.sh sets: the limit would then measure
 * the quarantine, not the code under test, and report false OOMs. 32 MB
 * still catches a use after free of any recent allocation. ASAN_OPTIONS in
 * the environment overrides this.
 */
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=32";
}

const char *fuzz_temp_dir(void)
{
    const char *dir = getenv("TMPDIR");

    if (dir != NULL && dir[0] != '\0')
        return dir;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}
