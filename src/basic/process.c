/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process.h"
#include "time-util.h"
#include "util.h"

/* Field n (1-based, n >= 3) of /proc/PID/stat, after the command name that may hold anything. */
static int stat_field(pid_t pid, unsigned n, uint64_t *ret) {
        _cleanup_free_ char *path = strprintf("/proc/%d/stat", (int) pid), *s = NULL;
        unsigned long long v;
        const char *p;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 4096, &s, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        p = strrchr(s, ')');
        if (!p)
                return -EIO;
        p++; /* now at the blank before field 3 */
        for (unsigned i = 3; i < n; i++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &v) != 1)
                return -EIO;
        *ret = v;
        return 0;
}

int process_get_start_time(pid_t pid, uint64_t *ret) {
        return stat_field(pid, 22, ret);
}

int process_get_ppid(pid_t pid, pid_t *ret) {
        uint64_t v;
        int r = stat_field(pid, 4, &v);
        if (r < 0)
                return r;
        *ret = (pid_t) v;
        return 0;
}

int process_id_from_pid(pid_t pid, ProcessId *ret) {
        uint64_t t;
        int r = process_get_start_time(pid, &t);
        if (r < 0)
                return r;
        *ret = (ProcessId) { .pid = pid, .start_time = t };
        return 0;
}

int process_open(const ProcessId *id, int *ret_pidfd) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t t;
        int r;

        if (id->pid <= 1)
                return -ESRCH;
        fd = (int) syscall(SYS_pidfd_open, id->pid, 0);
        if (fd < 0)
                return -errno;
        /* Opened first, checked second: if the start time matches now, the pidfd names that process. */
        r = process_get_start_time(id->pid, &t);
        if (r < 0)
                return r;
        if (t != id->start_time)
                return -ESRCH;
        *ret_pidfd = TAKE_FD(fd);
        return 0;
}

int pidfd_wait_exit(int pidfd, uint64_t timeout_usec) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int r;

        do
                r = poll(&p, 1, usec_to_poll_timeout(timeout_usec));
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        return r == 0 ? -ETIMEDOUT : 0;
}

int pidfd_kill(int pidfd, int sig) {
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
                return errno == ESRCH ? 0 : -errno;
        return 0;
}

int fork_pidfd(pid_t *ret_pid, int *ret_pidfd) {
        pid_t pid;
        int fd;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                return 0;
        }
        /* Our own child cannot be reaped behind our back, so its PID is safe to open. */
        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) {
                int r = -errno;
                (void) kill(pid, SIGKILL);
                return r;
        }
        *ret_pid = pid;
        *ret_pidfd = fd;
        return 1;
}

int mount_namespace_private(void) {
        if (unshare(CLONE_NEWNS) < 0)
                return -errno;
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;
        return 0;
}

int process_write_id_map(pid_t pid, const char *which, const char *map) {
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, which);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return loop_write(fd, map, strlen(map));
}
