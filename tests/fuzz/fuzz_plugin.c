/*
 * fuzz_plugin.c: the set-up the plugin harnesses share (fuzz_plugin.h).
 */
#include "fuzz_plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

static fake_host *pinned_base;
static void *pinned;

static void cleanup(void)
{
    if (pinned != NULL)
        dlclose(pinned);
    fh_cleanup(pinned_base);
}

int fuzz_plugin_init(fake_host *base, const char *plugin)
{
    char path[PATH_MAX];

    setenv("TMPDIR", fuzz_temp_dir(), 1);
    fh_init(base);
    pinned_base = base;
    atexit(cleanup);
    snprintf(path, sizeof(path), "%s/%s.so", PLUGIN_BUILD_DIR, plugin);
    pinned = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (pinned == NULL) {
        fprintf(stderr, "fuzz: %s\n", dlerror());
        abort();
    }
    return getenv("FUZZ_VERBOSE") != NULL;
}
