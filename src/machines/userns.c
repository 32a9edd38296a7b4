/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "machine-state.h"
#include "process.h"
#include "userns.h"
#include "util.h"

/* The range a machine directory's state names; a state cut short by a crash names none, and its
 * machine never started with one. */
static int machine_dir_range(int machines_fd, const char *name, unsigned *ret_slot) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        unsigned line;
        size_t size;
        int r;

        fd = openat(machines_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        fd = openat(TAKE_FD(fd), "state", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, MACHINE_STATE_SIZE_MAX, &text, &size);
        if (r >= 0)
                r = machine_state_parse(text, size, &s, &line);
        if (r < 0)
                return r;
        if (!userns_base_valid(s.uid_base))
                return -ENODATA;
        *ret_slot = (s.uid_base - USERNS_BASE_FIRST) / USERNS_RANGE_SIZE;
        return 0;
}

int userns_range_allocate(const char *machines_dir, int (*save)(uid_t base, void *userdata), void *userdata,
                          uid_t *ret_base) {
        bool used[USERNS_RANGES_MAX] = {};
        _cleanup_close_ int lock_fd = -EBADF;
        struct dirent *de;
        unsigned slot = 0;
        _cleanup_closedir_ DIR *d = NULL;
        int r;

        /* The directory itself is the lock: prepares pick one after the other, and nothing is left. */
        lock_fd = open(machines_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0)
                return log_error_errno(errno, "Cannot lock %s: %m", machines_dir);
        d = opendir(machines_dir);
        if (!d)
                return log_error_errno(errno, "Cannot read %s: %m", machines_dir);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && machine_dir_range(dirfd(d), de->d_name, &slot) >= 0)
                        used[slot] = true;

        for (slot = 0; slot < USERNS_RANGES_MAX && used[slot]; slot++)
                ;
        if (slot >= USERNS_RANGES_MAX)
                return log_error_errno(EUSERS, "All %u user id ranges are taken by machines (run gc).", USERNS_RANGES_MAX);
        r = save(USERNS_BASE_FIRST + slot * USERNS_RANGE_SIZE, userdata);
        if (r < 0)
                return r;
        *ret_base = USERNS_BASE_FIRST + slot * USERNS_RANGE_SIZE;
        return 0;
}

static int write_id_map(pid_t pid, const char *which, uid_t base) {
        char map[64];

        snprintf(map, sizeof(map), "0 %u %u\n", (unsigned) base, USERNS_RANGE_SIZE);
        return process_write_id_map(pid, which, map);
}

int userns_open(uid_t base, int *ret_fd) {
        _cleanup_close_ int hold_r = -EBADF, hold_w = -EBADF;
        int pipefd[2], fd = -EBADF, r;
        char path[64];
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Cannot create a pipe: %m");
        hold_r = pipefd[0];
        hold_w = pipefd[1];
        /* A child born in a new user namespace holds it while we write its map and open it. */
        pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);
        if (pid < 0)
                return log_error_errno(errno, "Cannot create a user namespace: %m");
        if (pid == 0) {
                char c;
                (void) close(TAKE_FD(hold_w));
                (void) !read(hold_r, &c, 1);
                _exit(0);
        }
        r = write_id_map(pid, "uid_map", base);
        if (r >= 0)
                r = write_id_map(pid, "gid_map", base);
        if (r >= 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = -errno;
        }
        (void) close(TAKE_FD(hold_w));
        (void) waitpid(pid, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the user namespace for ids %u…: %m", (unsigned) base);
        *ret_fd = fd;
        return 0;
}

int userns_mount_idmapped(const char *source, const char *target, int userns_fd) {
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) userns_fd };
        _cleanup_close_ int fd = -EBADF;

        fd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot clone the mount of %s: %m", source);
        if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return log_error_errno(errno, "Cannot map the ids of %s (its file system needs idmapped mounts): %m",
                                       source);
        if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return log_error_errno(errno, "Cannot mount %s on %s: %m", source, target);
        return 0;
}
