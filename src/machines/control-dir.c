/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control-dir.h"
#include "log.h"
#include "proto.h"
#include "rm-rf.h"
#include "util.h"

#define CONTROL_PATH_MAX \
        (sizeof(CONTROL_RUN_DIR "/") - 1 + JOB_ID_MAX + 1 + MACHINE_KEY_RANDOM_LEN + sizeof("/control/" PROTO_SOCKET_NAME))
/* The host connects to the socket by its path: every machine key's must fit in sun_path. */
_Static_assert(CONTROL_PATH_MAX <= sizeof(((struct sockaddr_un *) NULL)->sun_path), "control socket path too long");

static char *run_dir_path(const char *key) {
        return path_join(CONTROL_RUN_DIR, key);
}

char *control_dir_path(const char *key) {
        return strprintf(CONTROL_RUN_DIR "/%s/control", key);
}

char *control_socket_path(const char *key) {
        return strprintf(CONTROL_RUN_DIR "/%s/control/" PROTO_SOCKET_NAME, key);
}

/* Opens and locks the run directory at path: -ENOENT when there is none (any more). */
static int run_dir_lock(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r;

        if (fd < 0)
                return -errno;
        r = flock_still_linked(fd, path, LOCK_EX);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The machine directory the locked run directory dfd belongs to, in buf: 1, or 0 when the link is
 * not there (its maker died before making it). */
static int run_dir_owner(int dfd, char buf[static PATH_MAX]) {
        ssize_t n = readlinkat(dfd, "machine", buf, PATH_MAX - 1);

        if (n < 0)
                return errno == ENOENT ? 0 : -errno;
        buf[n] = 0;
        return 1;
}

/* Whether the run directory dfd is left over: its machine directory is gone, or is machine_dir,
 * whose maker has just made it and owns no run directory yet. */
static bool run_dir_stale(int dfd, const char *machine_dir) {
        char owner[PATH_MAX];
        int r = run_dir_owner(dfd, owner);

        return r > 0 && (streq(owner, machine_dir) || (access(owner, F_OK) < 0 && errno == ENOENT));
}

static int run_dir_make(const char *run, const char *machine_dir, uid_t owner) {
        _cleanup_free_ char *link = path_join(run, "machine"), *control = path_join(run, "control");

        if (!link || !control)
                return log_oom();
        if (symlink(machine_dir, link) < 0)
                return log_error_errno(errno, "Cannot create %s: %m", link);
        if (mkdir(control, 0700) < 0)
                return log_error_errno(errno, "Cannot create %s: %m", control);
        /* The init, root of the machine, makes its socket there. */
        if (chown(control, owner, owner) < 0)
                return log_error_errno(errno, "Cannot chown %s: %m", control);
        return 0;
}

int control_dir_create(const Context *c, const char *key, uid_t owner) {
        _cleanup_free_ char *machine_dir = context_machine_dir(c, key), *run = run_dir_path(key);
        int r;

        if (!machine_dir || !run)
                return log_oom();
        r = mkdir_p(CONTROL_RUN_DIR, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " CONTROL_RUN_DIR ": %m");
        for (unsigned attempt = 0; mkdir(run, 0700) < 0; attempt++) {
                _cleanup_close_ int fd = -EBADF;

                if (errno != EEXIST)
                        return log_error_errno(errno, "Cannot create %s: %m", run);
                r = run_dir_lock(run, &fd);
                if (r == -ENOENT && attempt < 3) /* just removed by gc */
                        continue;
                if (r < 0)
                        return log_error_errno(r, "Cannot lock %s: %m", run);
                if (attempt >= 3 || !run_dir_stale(fd, machine_dir))
                        return log_error_errno(EEXIST, "%s is in use by another machine of the name %s.", run, key);
                r = rm_rf(run);
                if (r < 0)
                        return log_error_errno(r, "Cannot remove the leftover %s: %m", run);
        }
        return run_dir_make(run, machine_dir, owner);
}

/* Removes the run directory at run when keep(its owner, userdata) says no; the owner is NULL when
 * the link is not there. */
static int run_dir_remove_unless(const char *run, bool (*keep)(const char *owner, void *userdata), void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        char owner[PATH_MAX];
        int r;

        r = run_dir_lock(run, &fd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = run_dir_owner(fd, owner);
        if (r < 0)
                return r;
        if (keep(r > 0 ? owner : NULL, userdata))
                return 0;
        r = rm_rf(run);
        return r < 0 ? r : 1;
}

/* A missing link is the machine's own: its maker died in between, holding the machine's lock. */
static bool owned_by_another(const char *owner, void *machine_dir) {
        return owner && !streq(owner, machine_dir);
}

int control_dir_remove(const Context *c, const char *key) {
        _cleanup_free_ char *machine_dir = context_machine_dir(c, key), *run = run_dir_path(key);
        int r;

        if (!machine_dir || !run)
                return log_oom();
        r = run_dir_remove_unless(run, owned_by_another, machine_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot remove %s: %m", run);
        return 0;
}

/* Its machine directory is there; without a link, the one of that key in this state dir (made
 * before its run directory, removed after it) is. */
static bool owner_exists(const char *owner, void *own_machine_dir) {
        return access(owner ?: own_machine_dir, F_OK) >= 0 || errno != ENOENT;
}

void control_dir_gc(const Context *c) {
        _cleanup_closedir_ DIR *d = opendir(CONTROL_RUN_DIR);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *run = NULL, *own = NULL;

                if (machine_key_check(de->d_name) < 0 || !(run = run_dir_path(de->d_name)) ||
                    !(own = context_machine_dir(c, de->d_name)))
                        continue;
                if (run_dir_remove_unless(run, owner_exists, own) > 0)
                        log_info("gc: removed the control directory %s of a machine that is gone.", run);
        }
}
