/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "control-dir.h"
#include "fs-usage.h"
#include "gc.h"
#include "image.h"
#include "log.h"
#include "machine-state.h"
#include "machine.h"
#include "network.h"
#include "process.h"
#include "rm-rf.h"
#include "util.h"

#define CACHE_DEPTH_MAX 8

/* A machine is a leftover when no prepare holds it and its init is gone, or its control directory
 * (on /run, which a reboot empties): no one can reach its init any more. On true, *ret_fd holds the
 * machine's lock, to be kept until it is removed: a prepare of the same job must wait for that. */
static bool machine_lock_leftover(const Context *c, const char *id, int *ret_fd) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *state = NULL, *control = control_dir_path(id);
        _cleanup_close_ int fd = -EBADF, pidfd = -EBADF;

        if (!dir || !control || !(state = path_join(dir, "state")) || machine_lock(c, id, LOCK_EX | LOCK_NB, &fd) < 0)
                return false;
        if (machine_state_load(state, &s) >= 0 && process_open(&s.init, &pidfd) >= 0 && access(control, F_OK) >= 0)
                return false;
        *ret_fd = TAKE_FD(fd);
        return true;
}

static void collect_machines(const Context *c, GcStats *st) {
        _cleanup_free_ char *machines = context_machines_dir(c);
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;

        if (!machines || !(d = opendir(machines)))
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;
                _cleanup_close_ int lock = -EBADF;
                uint64_t size = 0;

                if (de->d_name[0] == '.' || machine_key_check(de->d_name) < 0 || !(dir = path_join(machines, de->d_name)))
                        continue;
                if (!machine_lock_leftover(c, de->d_name, &lock))
                        continue;
                (void) fs_usage(dir, &size);
                if (machine_destroy_locked(c, de->d_name) >= 0) {
                        log_info("gc: removed the leftover machine of job %s.", de->d_name);
                        st->machines++;
                        st->freed += size;
                }
        }
}

static void collect_generations(const Context *c, GcStats *st) {
        _cleanup_free_ char *dir = path_join(c->state_dir, IMAGES_DIR);
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;

        if (!dir || !(d = opendir(dir)))
                return;
        while ((de = readdir(d))) {
                CollectStats cs = {};
                if (de->d_name[0] == '.')
                        continue;
                (void) image_collect_generations(c, de->d_name, &cs);
                st->generations += cs.generations;
                st->freed += cs.freed;
        }
}

typedef struct CacheEntry {
        char *path;
        time_t used;
        uint64_t size;
} CacheEntry;

typedef struct CacheList {
        CacheEntry *entries;
        size_t n;
} CacheList;

/* A cache dir is a directory that holds files (gitlab-runner: <project>/<key>/cache.zip); it was
 * last used when a job that binds it or a directory above it started (cache_mark_used()), or when
 * one of its files was last written. Not atime: a noatime mount does not keep it. */
static void scan_cache(int dfd, const char *path, unsigned depth, time_t marked, CacheList *l) {
        time_t own = cache_last_used(dfd), inherited = own > marked ? own : marked;
        CacheEntry e = { .used = inherited };
        bool has_files = false;
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;
        int fd;

        if (depth > CACHE_DEPTH_MAX || (fd = dup(dfd)) < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_free_ char *sub = path_join(path, de->d_name);
                        int sfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub && sfd >= 0)
                                scan_cache(sfd, sub, depth + 1, inherited, l);
                        if (sfd >= 0)
                                (void) close(sfd);
                        continue;
                }
                has_files = true;
                e.size += (uint64_t) st.st_blocks * 512;
                if (st.st_mtime > e.used)
                        e.used = st.st_mtime;
        }
        if (has_files) {
                CacheEntry *grown = realloc(l->entries, (l->n + 1) * sizeof(CacheEntry));
                if (!grown || !(e.path = strdup(path)))
                        return;
                l->entries = grown;
                l->entries[l->n++] = e;
        }
}

static int compare_used(const void *a, const void *b) {
        const CacheEntry *x = a, *y = b;
        return x->used < y->used ? -1 : x->used > y->used;
}

static unsigned used_percent(const char *path) {
        struct statvfs sv;
        if (statvfs(path, &sv) < 0 || sv.f_blocks == 0)
                return 0;
        return (unsigned) (100 - (sv.f_bavail * 100) / sv.f_blocks);
}

static void collect_caches(const Context *c, unsigned threshold, GcStats *st) {
        _cleanup_free_ char *cache = context_cache_dir(c);
        _cleanup_close_ int fd = -EBADF;
        CacheList l = {};
        time_t now = time(NULL);

        if (!cache || threshold == 0 || used_percent(c->state_dir) <= threshold)
                return;
        fd = open(cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        scan_cache(fd, cache, 0, 0, &l);
        qsort(l.entries, l.n, sizeof(CacheEntry), compare_used);
        for (size_t i = 0; i < l.n; i++) {
                if (used_percent(c->state_dir) > threshold && now - l.entries[i].used >= GC_CACHE_MIN_AGE_SEC &&
                    rm_rf(l.entries[i].path) >= 0) {
                        log_info("gc: removed cache %s (%.1f MiB).", l.entries[i].path, (double) l.entries[i].size / (1 << 20));
                        st->caches++;
                        st->freed += l.entries[i].size;
                }
                free(l.entries[i].path);
        }
        free(l.entries);
}

int gc_run(const Context *c, unsigned threshold, GcScope scope, GcStats *ret) {
        GcStats st = {};

        collect_machines(c, &st);
        control_dir_gc(c);
        network_gc(scope == GC_FULL);
        collect_generations(c, &st);
        collect_caches(c, threshold, &st);
        *ret = st;
        return 0;
}

unsigned gc_threshold_configured(const Context *c) {
        unsigned threshold;
        Config cfg;

        config_load_dir(c->config_dir, &cfg);
        threshold = cfg.gc_threshold;
        config_done(&cfg);
        return threshold;
}
