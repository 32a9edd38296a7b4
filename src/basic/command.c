/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "log.h"
#include "process.h"
#include "util.h"

#define LINE_MAX_SCAN 4096
#define NSPAWN_RUNTIME_DIR "/run/systemd/nspawn"

static pid_t forward_to;

static void forward_signal(int sig) {
        if (forward_to > 0)
                (void) kill(forward_to, sig);
}

/* Passes SIGTERM and SIGINT on to pid, and returns its exit status as ours would be. */
static int wait_forwarding(pid_t pid) {
        struct sigaction sa = { .sa_handler = forward_signal };
        sigset_t none;
        int status;

        forward_to = pid;
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        for (;;) {
                pid_t p = waitpid(-1, &status, 0);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0)
                        return 127;
                if (p == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
}

_noreturn_ static void child(char *const *argv, char *const *env, CommandFlags flags, int out_fd) {
        sigset_t all;
        pid_t pid;
        int r;

        /* Dies with us; and all the command starts lives in a PID namespace whose init dies with
         * this process, so that nothing of a killed maintenance outlives it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Its own mounts (debootstrap's /proc in the target, and the namespace's own /proc below)
         * go away with it. */
        r = mount_namespace_private();
        if (r < 0 && (flags & COMMAND_PRIVATE_MOUNTS)) {
                log_error_errno(r, "Cannot create a mount namespace: %m");
                _exit(EXIT_FAILURE);
        }
        /* systemd-nspawn keeps per-container state below /run/systemd/nspawn, which it cannot remove
         * when SIGKILLed: give the containers this command starts a directory that dies with it. */
        if (r >= 0 && mkdir_p(NSPAWN_RUNTIME_DIR, 0755) >= 0)
                (void) mount("tmpfs", NSPAWN_RUNTIME_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755");
        if (out_fd >= 0)
                (void) dup2(out_fd, STDOUT_FILENO);
        if (flags & COMMAND_QUIET) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) {
                        (void) dup2(null, STDOUT_FILENO);
                        (void) dup2(null, STDERR_FILENO);
                }
        }
        for (char *const *e = env; e && *e; e++)
                (void) putenv(*e);

        /* Until the forwarding handlers are in place, signals wait. */
        sigfillset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        if (unshare(CLONE_NEWPID) >= 0 && (pid = fork()) >= 0) {
                if (pid > 0)
                        _exit(wait_forwarding(pid));
                /* PID 1 of the new namespace: its parent is outside, invisible (getppid() is 0).
                 * A /proc of the namespace, for programs (systemd-nspawn) that look themselves up. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (r >= 0)
                        (void) mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
                pid = fork();
                if (pid > 0)
                        _exit(wait_forwarding(pid));
        } else
                pid = 0; /* no PID namespace here: run the command directly */
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                execvp(argv[0], argv);
                log_error_errno(errno, "Cannot execute %s: %m", argv[0]);
                _exit(127);
        }
        _exit(EXIT_FAILURE);
}

/* Passes what arrived on fd through to our stdout, handing complete lines to cb. */
static ssize_t scan(int fd, char *buf, size_t *len, command_line_cb_t cb, void *userdata) {
        ssize_t n = read(fd, buf + *len, LINE_MAX_SCAN - *len);
        char *start = buf, *nl;

        if (n <= 0)
                return n;
        (void) loop_write(STDOUT_FILENO, buf + *len, (size_t) n);
        *len += (size_t) n;
        while ((nl = memchr(start, '\n', *len - (size_t) (start - buf)))) {
                *nl = 0;
                cb(start, userdata);
                start = nl + 1;
        }
        *len -= (size_t) (start - buf);
        memmove(buf, start, *len);
        if (*len == LINE_MAX_SCAN) /* a line too long to care about */
                *len = 0;
        return n;
}

int command_run(char *const *argv, char *const *env, CommandFlags flags, command_line_cb_t cb, void *userdata,
                int sigfd) {
        _cleanup_close_ int pidfd = -EBADF, out_read = -EBADF, out_write = -EBADF;
        char buf[LINE_MAX_SCAN];
        size_t len = 0;
        siginfo_t si = {};
        pid_t pid;
        int r;

        if (cb) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return log_error_errno(errno, "Cannot create a pipe: %m");
                out_read = p[0];
                out_write = p[1];
        }
        (void) fflush(stdout);
        r = fork_pidfd(&pid, &pidfd);
        if (r < 0)
                return log_error_errno(r, "Cannot fork: %m");
        if (r == 0)
                child(argv, env, flags, out_write);
        closep(&out_write);

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = pidfd, .events = POLLIN },
                        { .fd = sigfd, .events = POLLIN },
                        { .fd = out_read, .events = POLLIN },
                };
                if (poll(p, 3, -1) < 0 && errno != EINTR)
                        return -errno;
                if (p[2].revents & POLLIN)
                        (void) scan(out_read, buf, &len, cb, userdata);
                else if (p[2].revents)
                        closep(&out_read);
                if (p[1].revents & POLLIN) {
                        (void) pidfd_kill(pidfd, SIGTERM);
                        (void) waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED);
                        return -EINTR;
                }
                if (p[0].revents & POLLIN) {
                        /* Take what it printed last, but not wait for whatever it left running. */
                        if (out_read >= 0 && fcntl(out_read, F_SETFL, O_NONBLOCK) >= 0)
                                while (scan(out_read, buf, &len, cb, userdata) > 0)
                                        ;
                        break;
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
