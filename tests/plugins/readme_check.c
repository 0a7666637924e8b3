/*
 * readme_check.c: the plugin suites' check that a shipped plugin's README
 * documents exactly the keys it declares. Apart from the fake host, which
 * the CSV fuzzer links too, because it asserts with Check.
 */
#include <limits.h>
#include <stdio.h>

#include <check.h>

#include "fake_host.h"
#include "plugin_loader.h"

void fh_check_readme(const char *name, int kind)
{
    const char *dirs[] = {PLUGIN_BUILD_DIR};
    char readme[PATH_MAX], why[8192];
    loaded_plugin *p = NULL;
    pr_err err = {0};

    ck_assert_msg(plugin_load(dirs, 1, name, &p, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(p->desc->kind, kind);
    snprintf(readme, sizeof(readme), "%s/plugins/%s/README.md", SRC_DIR, name);
    ck_assert_msg(fh_doc_keys_match(readme, NULL, p->desc, why, sizeof(why)) == 0, "%s", why);
    plugin_unload(p);
}
