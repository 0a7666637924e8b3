/*
 * test_loader.c: loading real .so plugins with dlopen. A good plugin
 * loads; one built for another ABI, one without a descriptor, one with a
 * short descriptor, a group- or world-writable file or directory, a
 * symbolic link and a missing name are each refused with a message that
 * says which and why.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_loader.h"
#include "suites.h"
#include "testutil.h"

static char dir[PATH_MAX];

static void setup(void)
{
    tu_tempdir(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
}

/* Copy a fixture plugin into the private temp dir, with `mode`. */
static void install(const char *name, const char *as, mode_t mode)
{
    char cmd[3 * PATH_MAX], dst[PATH_MAX + 64];
    snprintf(dst, sizeof(dst), "%s/%s.so", dir, as);
    snprintf(cmd, sizeof(cmd), "cp '%s/%s.so' '%s'", FIXTURE_PLUGIN_DIR, name, dst);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(chmod(dst, mode), 0);
}

static int load(const char *name, loaded_plugin **p, pr_err *err)
{
    const char *dirs[] = {"/nonexistent-payrun-dir", dir};
    return plugin_load(dirs, 2, name, p, err);
}

START_TEST(good_plugin_loads)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("good_plugin", "good_plugin", 0755);
    ck_assert_msg(load("good_plugin", &p, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(p->desc->name, "good_plugin");
    ck_assert_str_eq(p->desc->version, "1.2.3");
    ck_assert_int_eq(p->desc->kind, PAYRUN_KIND_EXPORTER);
    ck_assert_str_eq(plugin_kind_name(p->desc->kind), "exporter");
    ck_assert_str_eq(p->desc->keys[0].name, "path");
    ck_assert_ptr_nonnull(strstr(p->file, "/good_plugin.so"));
    plugin_unload(p);
}
END_TEST

START_TEST(only_the_descriptor_is_exported)
{
    char cmd[PATH_MAX + 128];
    FILE *f;
    char line[256];
    int n = 0, found = 0;

    snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/good_plugin.so'", FIXTURE_PLUGIN_DIR);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f)) {
        /* Only text (T) symbols count: the runtime adds none of its own. */
        if (strstr(line, " T ") == NULL)
            continue;
        n++;
        if (strstr(line, PAYRUN_DESCRIPTOR_SYMBOL))
            found = 1;
    }
    pclose(f);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(other_abi_is_refused_naming_both)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};
    char expect[64];

    install("other_abi", "other_abi", 0755);
    ck_assert_int_eq(load("other_abi", &p, &err), -1);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(err.code, EXIT_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "built for plugin ABI 999"));
    snprintf(expect, sizeof(expect), "this payrun speaks ABI %d", PAYRUN_ABI_VERSION);
    ck_assert_ptr_nonnull(strstr(err.msg, expect));
    ck_assert_ptr_nonnull(strstr(err.hint, "rebuild"));
}
END_TEST

START_TEST(missing_descriptor_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("no_descriptor", "no_descriptor", 0755);
    ck_assert_int_eq(load("no_descriptor", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "has no payrun_plugin_descriptor() function"));
}
END_TEST

START_TEST(short_descriptor_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("small_descriptor", "small_descriptor", 0755);
    ck_assert_int_eq(load("small_descriptor", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "descriptor is 8 bytes"));
}
END_TEST

START_TEST(group_writable_file_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("good_plugin", "good_plugin", 0775);
    ck_assert_int_eq(load("good_plugin", &p, &err), -1);
    ck_assert_int_eq(err.code, EXIT_NOPERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "writable by its group"));
    ck_assert_ptr_nonnull(strstr(err.hint, "chmod go-w"));
}
END_TEST

START_TEST(world_writable_file_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("good_plugin", "good_plugin", 0757);
    ck_assert_int_eq(load("good_plugin", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "writable by others"));
}
END_TEST

START_TEST(writable_directory_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("good_plugin", "good_plugin", 0755);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(load("good_plugin", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "refusing plugin directory"));
    ck_assert_int_eq(chmod(dir, 0700), 0);
}
END_TEST

START_TEST(symlink_is_refused)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};
    char target[PATH_MAX + 64], link[PATH_MAX + 64];

    install("good_plugin", "real", 0755);
    snprintf(target, sizeof(target), "%s/real.so", dir);
    snprintf(link, sizeof(link), "%s/good_plugin.so", dir);
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(load("good_plugin", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
}
END_TEST

START_TEST(unknown_name_lists_the_path)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    ck_assert_int_eq(load("nope", &p, &err), -1);
    ck_assert_int_eq(err.code, EXIT_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.msg, "plugin \"nope\" not found on the plugin path"));
    ck_assert_ptr_nonnull(strstr(err.msg, dir));
    ck_assert_int_eq(load("../etc/passwd", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad plugin name"));
}
END_TEST

START_TEST(name_must_match_descriptor)
{
    loaded_plugin *p = NULL;
    pr_err err = {0};

    install("good_plugin", "renamed", 0755);
    ck_assert_int_eq(load("renamed", &p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "calls itself \"good_plugin\""));
}
END_TEST

static int scan_errors;
static void count_errors(const char *file, const pr_err *e, void *ud)
{
    (void)file;
    (void)e;
    (void)ud;
    scan_errors++;
}

START_TEST(scan_skips_bad_plugins_and_reports_them)
{
    loaded_plugin **list = NULL;
    size_t n = 0;
    pr_err err = {0};
    const char *dirs[] = {dir};

    install("good_plugin", "good_plugin", 0755);
    install("other_abi", "other_abi", 0755);
    install("no_descriptor", "no_descriptor", 0755);
    scan_errors = 0;
    ck_assert_int_eq(plugin_scan(dirs, 1, &list, &n, count_errors, NULL, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(list[0]->name, "good_plugin");
    ck_assert_int_eq(scan_errors, 2);
    plugin_list_free(list, n);
}
END_TEST

Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("dlopen");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, good_plugin_loads);
    tcase_add_test(tc, only_the_descriptor_is_exported);
    tcase_add_test(tc, other_abi_is_refused_naming_both);
    tcase_add_test(tc, missing_descriptor_is_refused);
    tcase_add_test(tc, short_descriptor_is_refused);
    tcase_add_test(tc, group_writable_file_is_refused);
    tcase_add_test(tc, world_writable_file_is_refused);
    tcase_add_test(tc, writable_directory_is_refused);
    tcase_add_test(tc, symlink_is_refused);
    tcase_add_test(tc, unknown_name_lists_the_path);
    tcase_add_test(tc, name_must_match_descriptor);
    tcase_add_test(tc, scan_skips_bad_plugins_and_reports_them);
    suite_add_tcase(s, tc);
    return s;
}
