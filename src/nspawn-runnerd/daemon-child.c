/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: children (the refresh, the image scan) whose stdout comes back over a pipe that
 * the event loop reads when there is something to read, so that no child can stall it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

void child_init(DaemonChild *c, Daemon *d, const char *what, void (*on_line)(Daemon *d, const char *line, size_t n),
                void (*on_exit)(Daemon *d, const siginfo_t *si)) {
        *c = (DaemonChild) { .daemon = d, .what = what, .on_line = on_line, .on_exit = on_exit };
}

static void child_lines(DaemonChild *c) {
        char *nl;

        while ((nl = memchr(c->line, '\n', c->line_len))) {
                size_t l = (size_t) (nl - c->line);

                *nl = 0;
                c->on_line(c->daemon, c->line, l);
                memmove(c->line, nl + 1, c->line_len - l - 1);
                c->line_len -= l + 1;
        }
        if (c->line_len == sizeof(c->line) - 1) {
                c->overlong = true; /* not one of ours */
                c->line_len = 0;
        }
}

/* Reads what the child wrote; returns 0 at EOF, 1 when more may come. */
static int child_read(DaemonChild *c, int fd) {
        for (;;) {
                ssize_t k = read(fd, c->line + c->line_len, sizeof(c->line) - 1 - c->line_len);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? 1 : 0;
                if (k == 0)
                        return 0;
                c->line_len += (size_t) k;
                c->line[c->line_len] = 0;
                child_lines(c);
        }
}

static int on_child_out(sd_event_source *s, int fd, uint32_t revents _unused_, void *userdata) {
        DaemonChild *c = userdata;

        if (child_read(c, fd) == 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        update(c->daemon);
        return 0;
}

static int on_child_exit(sd_event_source *s _unused_, const siginfo_t *si, void *userdata) {
        DaemonChild *c = userdata;

        if (c->out_source) /* what it wrote just before it ended */
                (void) child_read(c, sd_event_source_get_io_fd(c->out_source));
        c->out_source = sd_event_source_disable_unref(c->out_source);
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        c->pid = 0;
        c->line_len = 0;
        c->on_exit(c->daemon, si);
        c->overlong = false;
        return 0;
}

_noreturn_ static void child_exec(int out_fd, int (*run)(Daemon *d, const void *arg), Daemon *d, const void *arg) {
        int null = open("/dev/null", O_RDONLY | O_NOCTTY | O_CLOEXEC);
        sigset_t none;

        if (null >= 0)
                (void) dup2(null, STDIN_FILENO);
        if (dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        sigemptyset(&none);
        (void) signal(SIGPIPE, SIG_DFL);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM); /* a SIGKILLed daemon leaves no scan behind */
        _exit(run(d, arg));
}

static int child_watch(DaemonChild *c, pid_t pid, int out_fd) {
        int r;

        (void) fcntl(out_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(c->daemon->event, &c->out_source, out_fd, EPOLLIN, on_child_out, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the output of the %s: %m", c->what);
        (void) sd_event_source_set_io_fd_own(c->out_source, true);
        r = sd_event_add_child(c->daemon->event, &c->exit_source, pid, WEXITED, on_child_exit, c);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the %s process: %m", c->what);
        return 0;
}

int child_start(DaemonChild *c, int (*run)(Daemon *d, const void *arg), const void *arg) {
        int p[2], r;
        pid_t pid;

        if (c->pid > 0)
                return -EBUSY;
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Cannot make a pipe for the %s: %m", c->what);
        pid = fork();
        if (pid < 0) {
                r = log_error_errno(errno, "Cannot fork the %s: %m", c->what);
                (void) close(p[0]);
                (void) close(p[1]);
                return r;
        }
        if (pid == 0)
                child_exec(p[1], run, c->daemon, arg);
        (void) close(p[1]);
        r = child_watch(c, pid, p[0]);
        if (r < 0) {
                if (!c->out_source)
                        (void) close(p[0]);
                c->out_source = sd_event_source_disable_unref(c->out_source);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        c->pid = pid;
        c->line_len = 0;
        c->overlong = false;
        return 0;
}

void child_stop(DaemonChild *c) {
        if (c->pid > 0) {
                log_notice("Stopping the running %s (pid %d).", c->what, (int) c->pid);
                (void) kill(c->pid, SIGTERM);
        }
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        c->out_source = sd_event_source_disable_unref(c->out_source);
        c->pid = 0;
}

const char *child_exit_describe(const siginfo_t *si, char *buf, size_t size) {
        if (si->si_code == CLD_EXITED)
                snprintf(buf, size, "exit status %d", si->si_status);
        else
                snprintf(buf, size, "signal %d (%s)", si->si_status, strsignal(si->si_status));
        return buf;
}
