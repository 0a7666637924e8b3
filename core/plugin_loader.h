/*
 * plugin_loader.h: finding and loading plugins.
 *
 * A plugin named NAME is the file NAME.so in the first directory of the
 * plugin path that has it. Before dlopen() the file and its directory are
 * checked: a regular file, owned by the current user or root, writable by
 * no one else (a group- or world-writable plugin is code anyone could swap
 * in). After dlopen(RTLD_NOW) (so a missing symbol fails here, not midway
 * through a run) the one exported descriptor function is called and its
 * size and ABI version are compared with the core's before anything else
 * of it is read.
 */
#ifndef PAYRUN_PLUGIN_LOADER_H
#define PAYRUN_PLUGIN_LOADER_H

#include <stddef.h>

#include <payrun/plugin.h>

#include "error.h"

typedef struct loaded_plugin {
    char *name;
    char *file;  /* absolute path of the .so */
    void *handle;
    const struct payrun_plugin *desc;
} loaded_plugin;

/* Load plugin `name` from the first directory in `dirs` holding NAME.so. */
int plugin_load(const char *const *dirs, size_t n_dirs, const char *name,
                loaded_plugin **out, pr_err *err);
/* Load one plugin file by path. */
int plugin_load_file(const char *file, loaded_plugin **out, pr_err *err);
void plugin_unload(loaded_plugin *p);

const char *plugin_kind_name(int kind);
/* A key type's name as `plugins describe` and the docs show it. */
const char *plugin_key_type_name(int type);

/* Every NAME.so found on the path (first directory wins for each name),
 * sorted by name. Files that fail to load are reported through `on_error`
 * (may be NULL) and skipped. */
typedef void (*plugin_error_cb)(const char *file, const pr_err *err, void *ud);
int plugin_scan(const char *const *dirs, size_t n_dirs, loaded_plugin ***out,
                size_t *n_out, plugin_error_cb on_error, void *ud, pr_err *err);
void plugin_list_free(loaded_plugin **list, size_t n);

#endif
