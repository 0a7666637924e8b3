/*
 * plugin_loader.c: dlopen with the checks described in plugin_loader.h.
 *
 * The order of checks matters: file permissions before dlopen (dlopen runs
 * the object's constructors, so a file we would refuse must never be
 * opened), then the descriptor's size and ABI version before any other
 * member is read (another ABI may lay the struct out differently).
 */
#include "plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[] = {
    NULL, "importer", "calculator", "approver", "transition", "exporter", "audit_sink",
};

const char *plugin_kind_name(int kind)
{
    if (kind < 1 || kind > PAYRUN_KIND_AUDIT_SINK)
        return "unknown";
    return kind_names[kind];
}

/* What `plugins describe` and the documentation call each key type: the
 * user writes files, so PAYRUN_KEY_PATH is an "output". */
static const char *const key_type_names[] = {
    NULL, "string", "bool", "int", "money", "rate", "output", "enum", "list", "input",
};

const char *plugin_key_type_name(int type)
{
    if (type < 1 || type > PAYRUN_KEY_INPUT)
        return "unknown";
    return key_type_names[type];
}

static int check_owner_mode(const char *what, const char *path, const struct stat *st,
                            pr_err *err)
{
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        pr_err_set(err, EXIT_NOPERM, "refusing %s \"%s\": owned by uid %u, not by you or root",
                   what, path, (unsigned)st->st_uid);
        return pr_err_hint(err, "plugins must belong to the user running payrun or to root");
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        pr_err_set(err, EXIT_NOPERM, "refusing %s \"%s\": writable by %s", what, path,
                   (st->st_mode & S_IWOTH) ? "others" : "its group");
        if (strcmp(what, "plugin") == 0)
            return pr_err_hint(err, "anyone who can write it can run code as you; fix with: "
                                    "chmod go-w %s", path);
        return pr_err_hint(err, "anyone who can write it can swap in code that runs as you; "
                                "keep plugins in a directory only you (or root) can write");
    }
    return 0;
}

static int check_file(const char *file, pr_err *err)
{
    struct stat st;
    char dir[PATH_MAX];
    char *slash;

    if (lstat(file, &st) != 0) {
        pr_err_set(err, errno == ENOENT ? EXIT_UNAVAILABLE : EXIT_IOERR,
                   "cannot read plugin \"%s\": %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        pr_err_set(err, EXIT_UNAVAILABLE, "refusing plugin \"%s\": not a regular file%s", file,
                   S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
        return pr_err_hint(err, "install the plugin's .so file itself in the plugin directory");
    }
    if (check_owner_mode("plugin", file, &st, err) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s", file);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) != 0) {
        pr_err_set(err, EXIT_IOERR, "cannot read plugin directory \"%s\": %s", dir,
                   strerror(errno));
        return -1;
    }
    return check_owner_mode("plugin directory", dir, &st, err);
}

void plugin_unload(loaded_plugin *p)
{
    if (p == NULL)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->name);
    free(p->file);
    free(p);
}

int plugin_load_file(const char *file, loaded_plugin **out, pr_err *err)
{
    loaded_plugin *p;
    payrun_descriptor_fn fn;
    const struct payrun_plugin *d;
    const char *dlerr;

    if (check_file(file, err) != 0)
        return -1;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->file = strdup(file)) == NULL) {
        free(p);
        return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
    }
    dlerror();
    p->handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (p->handle == NULL) {
        dlerr = dlerror();
        pr_err_set(err, EXIT_UNAVAILABLE, "cannot load plugin \"%s\": %s", file,
                   dlerr ? dlerr : "unknown dlopen error");
        pr_err_hint(err, "rebuild the plugin against this payrun's header");
        goto fail;
    }
    /* POSIX guarantees that a function pointer survives the void * that
     * dlsym returns; the memcpy avoids a cast the C standard leaves open. */
    {
        void *sym = dlsym(p->handle, PAYRUN_DESCRIPTOR_SYMBOL);
        if (sym == NULL) {
            pr_err_set(err, EXIT_UNAVAILABLE,
                       "refusing plugin \"%s\": it has no %s() function", file,
                       PAYRUN_DESCRIPTOR_SYMBOL);
            pr_err_hint(err, "a payrun plugin exports PAYRUN_EXPORT const struct payrun_plugin "
                             "*%s(void); see docs/plugins.md", PAYRUN_DESCRIPTOR_SYMBOL);
            goto fail;
        }
        memcpy(&fn, &sym, sizeof(fn));
    }
    d = fn();
    if (d == NULL) {
        pr_err_set(err, EXIT_UNAVAILABLE, "refusing plugin \"%s\": its descriptor is NULL", file);
        goto fail;
    }
    /* Size and ABI first: nothing else in *d may be read before these agree. */
    if (d->size < 2 * sizeof(uint32_t)) {
        pr_err_set(err, EXIT_UNAVAILABLE, "refusing plugin \"%s\": descriptor size %u is too small",
                   file, (unsigned)d->size);
        goto fail;
    }
    if (d->abi_version != PAYRUN_ABI_VERSION) {
        pr_err_set(err, EXIT_UNAVAILABLE,
                   "refusing plugin \"%s\": built for plugin ABI %u, this payrun speaks ABI %u",
                   file, (unsigned)d->abi_version, (unsigned)PAYRUN_ABI_VERSION);
        pr_err_hint(err, "rebuild the plugin against the payrun/plugin.h installed with this payrun");
        goto fail;
    }
    if (d->size < sizeof(struct payrun_plugin)) {
        pr_err_set(err, EXIT_UNAVAILABLE,
                   "refusing plugin \"%s\": descriptor is %u bytes, ABI %u needs %zu",
                   file, (unsigned)d->size, (unsigned)PAYRUN_ABI_VERSION,
                   sizeof(struct payrun_plugin));
        goto fail;
    }
    if (d->name == NULL || d->name[0] == '\0' || d->version == NULL || d->run == NULL ||
        d->kind < PAYRUN_KIND_IMPORTER || d->kind > PAYRUN_KIND_AUDIT_SINK) {
        pr_err_set(err, EXIT_UNAVAILABLE,
                   "refusing plugin \"%s\": descriptor lacks a name, version, run function "
                   "or valid kind", file);
        goto fail;
    }
    p->desc = d;
    if ((p->name = strdup(d->name)) == NULL) {
        pr_err_set(err, EXIT_SOFTWARE, "out of memory");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    plugin_unload(p);
    return -1;
}

static int valid_name(const char *name)
{
    if (name[0] == '\0' || strlen(name) > 64)
        return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

int plugin_load(const char *const *dirs, size_t n_dirs, const char *name,
                loaded_plugin **out, pr_err *err)
{
    char file[PATH_MAX];
    struct stat st;
    loaded_plugin *p;

    if (!valid_name(name))
        return pr_err_set(err, EXIT_CONFIG,
                          "bad plugin name \"%s\": use lower-case letters, digits and _", name);
    for (size_t i = 0; i < n_dirs; i++) {
        int n = snprintf(file, sizeof(file), "%s/%s.so", dirs[i], name);
        if (n < 0 || (size_t)n >= sizeof(file))
            continue;
        if (lstat(file, &st) != 0)
            continue;
        if (plugin_load_file(file, &p, err) != 0)
            return -1;
        if (strcmp(p->desc->name, name) != 0) {
            pr_err_set(err, EXIT_UNAVAILABLE,
                       "plugin file \"%s\" calls itself \"%s\", not \"%s\"", file,
                       p->desc->name, name);
            plugin_unload(p);
            return -1;
        }
        *out = p;
        return 0;
    }
    {
        char list[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < n_dirs && used < sizeof(list); i++) {
            int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", dirs[i]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        pr_err_set(err, EXIT_UNAVAILABLE, "plugin \"%s\" not found on the plugin path (%s)",
                   name, n_dirs ? list : "empty");
        pr_err_hint(err, "check plugin_path in the config; `payrun plugins list` shows what is found");
    }
    return -1;
}

static int by_name(const void *a, const void *b)
{
    const loaded_plugin *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

void plugin_list_free(loaded_plugin **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        plugin_unload(list[i]);
    free(list);
}

int plugin_scan(const char *const *dirs, size_t n_dirs, loaded_plugin ***out,
                size_t *n_out, plugin_error_cb on_error, void *ud, pr_err *err)
{
    loaded_plugin **list = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; i < n_dirs; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;

        if (d == NULL)
            continue;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            char file[PATH_MAX];
            loaded_plugin *p;
            pr_err lerr;
            int dup = 0;

            if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
                continue;
            for (size_t k = 0; k < n; k++) {
                size_t kl = strlen(list[k]->name);
                if (kl == len - 3 && strncmp(list[k]->name, e->d_name, kl) == 0)
                    dup = 1;
            }
            if (dup)
                continue;
            snprintf(file, sizeof(file), "%s/%s", dirs[i], e->d_name);
            pr_err_clear(&lerr);
            if (plugin_load_file(file, &p, &lerr) != 0) {
                if (on_error)
                    on_error(file, &lerr, ud);
                continue;
            }
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                loaded_plugin **nl = realloc(list, ncap * sizeof(*nl));
                if (nl == NULL) {
                    plugin_unload(p);
                    closedir(d);
                    plugin_list_free(list, n);
                    return pr_err_set(err, EXIT_SOFTWARE, "out of memory");
                }
                list = nl;
                cap = ncap;
            }
            list[n++] = p;
        }
        closedir(d);
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), by_name);
    *out = list;
    *n_out = n;
    return 0;
}
