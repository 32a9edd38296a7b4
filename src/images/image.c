/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-usage.h"
#include "image-name.h"
#include "image.h"
#include "kv.h"
#include "log.h"
#include "machine-state.h"
#include "rm-rf.h"
#include "util.h"

static const char *const lock_suffix[_IMAGE_LOCK_MAX] = {
        [IMAGE_LOCK_MAINTENANCE] = "",
        [IMAGE_LOCK_GENERATIONS] = ".generations",
};

void image_info_done(ImageInfo *i) {
        free(i->suite);
        free(i->arch);
        *i = (ImageInfo) {};
}

int image_lock(const Context *c, const char *name, ImageLock which, int op, ImageLockHandle *ret) {
        _cleanup_free_ char *dir = path_join(c->state_dir, ".locks"), *path = NULL;
        int r;

        if (!dir || !(path = strprintf("%s/%s%s", dir, name, lock_suffix[which])))
                return -ENOMEM;
        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                struct stat a, b;

                /* Again each time: the last holder of the previous lock file may have removed the
                 * directory with it. */
                r = mkdir_p(dir, 0700);
                if (r < 0)
                        return r;
                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (fd < 0 && errno == ENOENT)
                        continue;
                if (fd < 0)
                        return -errno;
                if (flock(fd, op) < 0) {
                        if (errno == EWOULDBLOCK)
                                return -EBUSY;
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                /* The previous exclusive holder may have removed the file we locked: take the new one. */
                if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
                        continue;
                *ret = (ImageLockHandle) { .fd = TAKE_FD(fd), .path = TAKE_PTR(path), .exclusive = (op & LOCK_EX) != 0 };
                return 0;
        }
}

void image_unlock(ImageLockHandle *h) {
        /* The last holder removes the file, also a shared one (it can take the lock exclusively):
         * a waiter that locked the removed file notices in image_lock() and takes a new one. */
        if (h->fd >= 0 && h->path && (h->exclusive || flock(h->fd, LOCK_EX | LOCK_NB) >= 0) && unlink(h->path) >= 0)
                (void) rmdir_parent(h->path);
        closep(&h->fd);
        free(h->path);
        *h = (ImageLockHandle) IMAGE_LOCK_HANDLE_INIT;
}

char *image_generation_path(const Context *c, const char *name, unsigned gen) {
        return strprintf("%s/" IMAGES_DIR "/%s/%u", c->state_dir, name, gen);
}

static int parse_generation(const char *s, unsigned *ret) {
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v == 0 || v > UINT_MAX || s[0] == '0')
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int image_current_generation(const Context *c, const char *name, unsigned *ret) {
        _cleanup_free_ char *path = context_image_dir(c, name), *prefix = NULL;
        char target[PATH_MAX];
        const char *rest;
        struct stat st;
        ssize_t n;

        if (!path || !(prefix = strprintf(IMAGES_DIR "/%s/", name)))
                return -ENOMEM;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0) {
                *ret = 0; /* a plain directory */
                return 0;
        }
        target[n] = 0;
        rest = startswith(target, prefix);
        if (!rest || parse_generation(rest, ret) < 0)
                *ret = 0; /* a link somewhere else: the directory is all there is */
        return 0;
}

int image_next_generation(const Context *c, const char *name, unsigned *ret) {
        _cleanup_free_ char *dir = strprintf("%s/" IMAGES_DIR "/%s", c->state_dir, name);
        struct dirent *de;
        unsigned max = 0;
        _cleanup_closedir_ DIR *d = NULL;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (d) {
                while ((de = readdir(d))) {
                        _cleanup_free_ char *num = strndup(de->d_name, strcspn(de->d_name, "."));
                        unsigned g;
                        if (num && parse_generation(num, &g) >= 0 && g > max)
                                max = g;
                }
        } else if (errno != ENOENT)
                return -errno;
        if (max == UINT_MAX)
                return -EOVERFLOW;
        *ret = max + 1;
        return 0;
}

int image_resolve(const Context *c, const char *name, char **ret_path) {
        _cleanup_free_ char *path = context_image_dir(c, name);
        char resolved[PATH_MAX];
        struct stat st;

        if (!path)
                return log_oom();
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return log_error_errno(ENOENT, "Unknown image '%s': there is no chroot %s (see chroot-list; make one with chroot-create).",
                                       name, path);
        if (!realpath(path, resolved))
                return log_error_errno(errno, "Cannot resolve %s: %m", path);
        *ret_path = strdup(resolved);
        return *ret_path ? 0 : log_oom();
}

int image_resolve_pinned(const Context *c, const char *name, ImageLockHandle *ret_lock, char **ret_path) {
        _cleanup_(image_unlock) ImageLockHandle lock = IMAGE_LOCK_HANDLE_INIT;
        _cleanup_free_ char *path = NULL;
        int r;

        /* First without the lock: an unknown image leaves no lock file behind. */
        r = image_resolve(c, name, &path);
        if (r < 0)
                return r;
        r = image_lock(c, name, IMAGE_LOCK_GENERATIONS, LOCK_SH, &lock);
        if (r < 0)
                return log_error_errno(r, "Cannot lock image %s: %m", name);
        free(path);
        path = NULL;
        r = image_resolve(c, name, &path);
        if (r < 0)
                return r;
        *ret_lock = lock;
        lock = (ImageLockHandle) IMAGE_LOCK_HANDLE_INIT;
        *ret_path = TAKE_PTR(path);
        return 0;
}

int image_switch(const Context *c, const char *name, unsigned gen) {
        _cleanup_free_ char *path = context_image_dir(c, name), *target = strprintf(IMAGES_DIR "/%s/%u", name, gen),
                            *tmp = strprintf("%s/.%s.link", c->state_dir, name);
        _cleanup_close_ int dfd = -EBADF;
        struct stat st;

        if (!path || !target || !tmp)
                return -ENOMEM;
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return -errno;
        if (lstat(path, &st) >= 0 && S_ISDIR(st.st_mode)) {
                /* A plain directory becomes generation 0, to be collected: only when no job runs on
                 * it, as jobs know it by the path that is about to name the new generation. */
                _cleanup_(image_unlock) ImageLockHandle gens = IMAGE_LOCK_HANDLE_INIT;
                _cleanup_free_ char *old = image_generation_path(c, name, 0);
                char resolved[PATH_MAX];
                int r;

                if (!old)
                        return -ENOMEM;
                r = image_lock(c, name, IMAGE_LOCK_GENERATIONS, LOCK_EX, &gens);
                if (r < 0)
                        return r;
                if (!realpath(path, resolved))
                        return -errno;
                if (image_count_users(c, resolved) > 0) {
                        (void) unlink(tmp);
                        return -EBUSY;
                }
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) < 0 || rename(tmp, old) < 0)
                        return -errno;
        } else if (rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        /* The switch is what a refresh is for: make it survive a power cut. */
        dfd = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

static int info_cb(const char *key, const char *value, unsigned line, void *userdata) {
        ImageInfo *i = userdata;
        char **field = NULL;

        (void) line;
        if (streq(key, "suite"))
                field = &i->suite;
        else if (streq(key, "arch"))
                field = &i->arch;
        else if (streq(key, "refreshed")) {
                uint64_t t;
                if (safe_atou64(value, &t) < 0)
                        return -EINVAL;
                i->refreshed = (time_t) t;
                return 0;
        }
        return field ? free_and_strdup(field, value) : 0;
}

static char *info_path(const Context *c, const char *name, unsigned gen) {
        return strprintf("%s/" IMAGES_DIR "/%s/%u.info", c->state_dir, name, gen);
}

int image_info_load(const Context *c, const char *name, unsigned gen, ImageInfo *ret) {
        _cleanup_free_ char *path = info_path(c, name, gen);
        ImageInfo i = {};
        int r;

        if (!path)
                return -ENOMEM;
        r = kv_parse_file(path, 64 * 1024, info_cb, &i, NULL);
        if (r < 0) {
                image_info_done(&i);
                return r;
        }
        *ret = i;
        return 0;
}

int image_info_save(const Context *c, const char *name, unsigned gen, const ImageInfo *info) {
        _cleanup_free_ char *path = info_path(c, name, gen), *text = NULL;

        if (!path)
                return -ENOMEM;
        text = strprintf("suite=%s\narch=%s\nrefreshed=%llu\n", info->suite ?: "", info->arch ?: "",
                         (unsigned long long) info->refreshed);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(path, text, 0644);
}

int image_count_users(const Context *c, const char *path) {
        _cleanup_free_ char *machines = context_machines_dir(c);
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;
        int n = 0;

        if (!machines)
                return -ENOMEM;
        d = opendir(machines);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
                _cleanup_free_ char *state = NULL, *text = NULL;
                size_t size;

                if (de->d_name[0] == '.')
                        continue;
                state = strprintf("%s/%s/state", machines, de->d_name);
                if (!state)
                        continue;
                if (read_full_file(state, MACHINE_STATE_SIZE_MAX, &text, &size) >= 0 &&
                    machine_state_parse(text, size, &s, NULL) >= 0 && streq_ptr(s.image_path, path))
                        n++;
        }
        return n;
}

/* Removes one entry of .images/<name>/ that is not the current generation, unless a job uses it. */
static int collect_entry(const Context *c, const char *dir, const char *entry, unsigned current, CollectStats *st) {
        _cleanup_free_ char *path = path_join(dir, entry), *num = strndup(entry, strcspn(entry, "."));
        unsigned g = 0;
        uint64_t size = 0;
        int r;

        if (!path || !num)
                return -ENOMEM;
        (void) parse_generation(num, &g);
        if (g != 0 && g == current)
                return 0;
        if (g != 0 && streq(entry, num)) {
                r = image_count_users(c, path);
                if (r != 0)
                        return r < 0 ? r : 0;
                (void) fs_usage(path, &size);
        } else if (g != 0) {
                /* N.info: kept while its generation exists. */
                _cleanup_free_ char *gen_dir = path_join(dir, num);
                if (gen_dir && access(gen_dir, F_OK) >= 0)
                        return 0;
        }
        r = rm_rf(path);
        if (r < 0)
                return log_warning_errno(r, "Cannot remove %s: %m", path);
        if (g != 0 && streq(entry, num)) {
                _cleanup_free_ char *info = strprintf("%s.info", path);
                if (info)
                        (void) unlink(info);
        }
        if (g != 0 && streq(entry, num)) {
                log_info("Removed %s (%.1f MiB).", path, (double) size / (1 << 20));
                st->generations++;
        }
        st->freed += size;
        return 0;
}

int image_collect_generations_locked(const Context *c, const char *name, CollectStats *st) {
        _cleanup_free_ char *dir = strprintf("%s/" IMAGES_DIR "/%s", c->state_dir, name);
        _cleanup_(image_unlock) ImageLockHandle gens = IMAGE_LOCK_HANDLE_INIT;
        unsigned current = 0;
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;
        int r;

        if (!dir)
                return -ENOMEM;
        /* Waits for prepares that are picking a generation right now. */
        r = image_lock(c, name, IMAGE_LOCK_GENERATIONS, LOCK_EX, &gens);
        if (r < 0)
                return r;
        r = image_current_generation(c, name, &current);
        if (r < 0 && r != -ENOENT)
                return r;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) collect_entry(c, dir, de->d_name, current, st);
        /* Only once the image is gone altogether. */
        if (rmdir(dir) >= 0)
                (void) rmdir_parent(dir);
        return 0;
}

int image_collect_generations(const Context *c, const char *name, CollectStats *st) {
        _cleanup_(image_unlock) ImageLockHandle maint = IMAGE_LOCK_HANDLE_INIT;
        int r;

        r = image_lock(c, name, IMAGE_LOCK_MAINTENANCE, LOCK_EX | LOCK_NB, &maint);
        if (r == -EBUSY)
                return 0; /* its maintenance collects when done */
        if (r < 0)
                return r;
        return image_collect_generations_locked(c, name, st);
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int image_list_names(const Context *c, char ***ret_names) {
        struct dirent **entries = NULL;
        char **names;
        size_t k = 0;
        int n;

        n = scandir(c->state_dir, &entries, NULL, compare_names);
        if (n < 0) {
                if (errno != ENOENT)
                        return -errno;
                n = 0;
        }
        names = calloc((size_t) n + 1, sizeof(char *));
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (names && entries[i]->d_name[0] != '.' &&
                    image_name_check(entries[i]->d_name, strlen(entries[i]->d_name)) == IMAGE_NAME_OK &&
                    (path = path_join(c->state_dir, entries[i]->d_name)) && stat(path, &st) >= 0 && S_ISDIR(st.st_mode))
                        names[k++] = strdup(entries[i]->d_name);
                free(entries[i]);
        }
        free(entries);
        if (!names)
                return -ENOMEM;
        *ret_names = names;
        return 0;
}


static int os_release_cb(const char *key, const char *value, unsigned line, void *userdata) {
        char **suite = userdata;
        size_t l = strlen(value);

        (void) line;
        if (!streq(key, "VERSION_CODENAME") || *suite)
                return 0;
        if (l >= 2 && (value[0] == '"' || value[0] == '\'') && value[l - 1] == value[0])
                *suite = strndup(value + 1, l - 2);
        else
                *suite = strdup(value);
        return 0;
}

int chroot_codename(const char *root, char **ret) {
        _cleanup_free_ char *path = path_join(root, "etc/os-release");
        char *codename = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = kv_parse_file(path, 64 * 1024, os_release_cb, &codename, NULL);
        if (r < 0 || !codename) {
                free(codename);
                return r < 0 ? r : -ENOENT;
        }
        *ret = codename;
        return 0;
}
