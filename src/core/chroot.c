/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apt-sources.h"
#include "chroot.h"
#include "executor.h"
#include "image-name.h"
#include "log.h"
#include "machine-state.h"
#include "machine.h"
#include "process.h"
#include "rm-rf.h"
#include "unit.h"
#include "util.h"

static int check_name(const char *name) {
        ImageNameError e = image_name_check(name, strlen(name));
        if (e != IMAGE_NAME_OK)
                return log_error_errno(EINVAL, "Invalid image name '%.80s': it %s.", name, image_name_error_to_string(e));
        return 0;
}

int image_lock(const Context *c, const char *name, int op, int *ret_fd) {
        _cleanup_free_ char *dir = path_join(c->state_dir, ".locks"), *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!dir || !(path = path_join(dir, name)))
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, op | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int image_count_users(const Context *c, const char *image_path) {
        _cleanup_free_ char *machines = context_machines_dir(c);
        struct dirent *de;
        DIR *d;
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
                    machine_state_parse(text, size, &s, NULL) >= 0 && streq_ptr(s.image_path, image_path))
                        n++;
        }
        closedir(d);
        return n;
}

/* Runs argv in a private mount namespace (debootstrap mounts /proc and friends into the target,
 * and a killed debootstrap must not leave them behind), stopping it on SIGTERM/SIGINT. */
static int run_private(char *const *argv, int sigfd) {
        _cleanup_close_ int pidfd = -EBADF;
        siginfo_t si = {};
        pid_t pid;
        int r;

        r = fork_pidfd(&pid, &pidfd);
        if (r < 0)
                return log_error_errno(r, "Cannot fork: %m");
        if (r == 0) {
                r = mount_namespace_private();
                if (r < 0) {
                        log_error_errno(r, "Cannot create a mount namespace: %m");
                        _exit(EXIT_FAILURE);
                }
                execvp(argv[0], argv);
                log_error_errno(errno, "Cannot execute %s: %m", argv[0]);
                _exit(127);
        }

        for (;;) {
                struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return -errno;
                if (p[0].revents & POLLIN)
                        break;
                if (p[1].revents & POLLIN) {
                        (void) kill(pid, SIGTERM);
                        (void) waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED);
                        return -EINTR;
                }
        }
        if (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                return -errno;
        /* Name the program that failed, not the wrapper that sped it up. */
        if (streq(argv[0], "eatmydata") && argv[1])
                argv++;
        if (si.si_code != CLD_EXITED)
                return log_error_errno(ECHILD, "%s was killed by signal %d.", argv[0], si.si_status);
        if (si.si_status != 0)
                return log_error_errno(ECHILD, "%s failed with exit status %d.", argv[0], si.si_status);
        return 0;
}

static int debootstrap(const char *target, const char *suite, const char *mirror, const char *include, int sigfd) {
        _cleanup_free_ char *include_arg = NULL;
        const char *argv[12];
        size_t n = 0;

        include_arg = strprintf("--include=" CHROOT_BASE_PACKAGES "%s%s", isempty(include) ? "" : ",", include ?: "");
        if (!include_arg)
                return log_oom();
        /* A chroot is rebuilt rather than repaired: fsync() buys nothing but time. */
        if (access("/usr/bin/eatmydata", X_OK) >= 0)
                argv[n++] = "eatmydata";
        argv[n++] = "debootstrap";
        argv[n++] = "--variant=minbase";
        argv[n++] = include_arg;
        argv[n++] = suite;
        argv[n++] = target;
        argv[n++] = mirror;
        argv[n] = NULL;
        return run_private((char *const *) argv, sigfd);
}

int chroot_create(const Context *c, const char *name, const ChrootCreateOptions *o) {
        _cleanup_free_ char *target = NULL, *tmp = NULL, *mirror = NULL;
        _cleanup_close_ int lock = -EBADF, sigfd = -EBADF;
        const char *suite = o->suite ?: name;
        struct timespec t0, t1;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = check_name(name);
        if (r < 0)
                return r;
        if (o->include && strpbrk(o->include, " \t\n"))
                return log_error_errno(EINVAL, "--include takes packages separated by commas, without spaces.");
        if (access("/usr/sbin/debootstrap", X_OK) < 0)
                return log_error_errno(ENOENT, "debootstrap is not installed (apt-get install debootstrap).");
        target = context_image_dir(c, name);
        tmp = strprintf("%s/.create-%s", c->state_dir, name);
        if (!target || !tmp)
                return log_oom();
        if (access(target, F_OK) >= 0)
                return log_error_errno(EEXIST, "Image %s already exists in %s.", name, c->state_dir);
        if (o->mirror)
                mirror = strdup(o->mirror);
        else if (apt_host_mirror("/", &mirror) < 0)
                return log_error_errno(ENOENT, "Cannot find a Debian mirror in /etc/apt: pass --mirror URL.");
        if (!mirror)
                return log_oom();

        r = mkdir_p(c->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", c->state_dir);
        r = image_lock(c, name, LOCK_EX, &lock);
        if (r == -EBUSY)
                return log_error_errno(r, "Image %s is being created or changed by another command.", name);
        if (r < 0)
                return log_error_errno(r, "Cannot lock image %s: %m", name);
        sigfd = cancel_signals_block();
        if (sigfd < 0)
                return log_error_errno(sigfd, "Cannot block signals: %m");

        /* Leftovers of a create that was killed: nobody else holds the lock. */
        (void) rm_rf(tmp);
        r = storage_make_image_dir(tmp);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", tmp);

        log_notice("Creating image %s: debootstrap %s from %s …", name, suite, mirror);
        r = debootstrap(tmp, suite, mirror, o->include, sigfd);
        if (r >= 0 && rename(tmp, target) < 0)
                r = log_error_errno(errno, "Cannot move %s to %s: %m", tmp, target);
        if (r < 0) {
                (void) rm_rf(tmp);
                return log_error_errno(r, "Creating image %s failed%s; nothing was left behind.", name,
                                       r == -EINTR ? " (interrupted)" : "");
        }

        clock_gettime(CLOCK_MONOTONIC, &t1);
        log_notice("Created image %s (suite %s) in %.0f s.", name, suite, (double) (t1.tv_sec - t0.tv_sec));
        return 0;
}

int chroot_login(const Context *c, const char *name) {
        _cleanup_free_ char *path = NULL, *dir_arg = NULL;
        int lock = -EBADF, users, r;

        r = check_name(name);
        if (r < 0)
                return r;
        r = image_resolve(c, name, &path);
        if (r < 0)
                return r;
        /* Jobs see the chroot through overlays: changing it under them is undefined. */
        r = image_lock(c, name, LOCK_EX, &lock);
        if (r == -EBUSY)
                return log_error_errno(r, "Image %s is being changed by another command.", name);
        if (r < 0)
                return log_error_errno(r, "Cannot lock image %s: %m", name);
        users = image_count_users(c, path);
        if (users > 0) {
                (void) close(lock);
                return log_error_errno(EBUSY, "Image %s is in use by %d job(s); log in when they are done.", name, users);
        }
        /* The lock stays held by systemd-nspawn until the shell ends. */
        if (fcntl(lock, F_SETFD, 0) < 0)
                return log_error_errno(errno, "Cannot keep the lock: %m");

        dir_arg = strprintf("--directory=%s", path);
        if (!dir_arg)
                return log_oom();
        if (unit_manager_available())
                execlp("systemd-nspawn", "systemd-nspawn", "--quiet", dir_arg, "/bin/bash", "--login", (char *) NULL);
        else
                execlp("systemd-nspawn", "systemd-nspawn", "--quiet", dir_arg, "--register=no", "--keep-unit",
                       "/bin/bash", "--login", (char *) NULL);
        return log_error_errno(errno, "Cannot execute systemd-nspawn: %m");
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int chroot_list(const Context *c) {
        struct dirent **names = NULL;
        int n;

        n = scandir(c->state_dir, &names, NULL, compare_names);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Cannot read %s: %m", c->state_dir);
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (names[i]->d_name[0] != '.' && (path = path_join(c->state_dir, names[i]->d_name)) &&
                    stat(path, &st) >= 0 && S_ISDIR(st.st_mode))
                        printf("%s\n", names[i]->d_name);
                free(names[i]);
        }
        free(names);
        return 0;
}
