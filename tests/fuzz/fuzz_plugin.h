/*
 * fuzz_plugin.h: what the harnesses of a real plugin (fuzz_csv,
 * fuzz_results) share. The fake host of tests/plugins/ is set up once and
 * each run starts from a copy of it: fh_init makes a temp directory and
 * fh_cleanup removes it with system("rm -rf"), far too slow per run. The
 * plugin is dlopen'ed once here and kept open, so the loader's own
 * dlopen/dlclose per run only moves a reference count: the library, with
 * its coverage counters, stays mapped.
 */
#ifndef PAYRUN_FUZZ_PLUGIN_H
#define PAYRUN_FUZZ_PLUGIN_H

#include "fake_host.h"

/* Point TMPDIR at fuzz_temp_dir() (fh_init makes its directory there),
 * fh_init `base`, pin PLUGIN_BUILD_DIR/<plugin>.so (aborting, with the
 * loader's reason, if it cannot be loaded), and clean both up at exit.
 * Returns whether FUZZ_VERBOSE is set: print what each input came to, as
 * run.sh does for its inputs too large to fuzz. */
int fuzz_plugin_init(fake_host *base, const char *plugin);

#endif
