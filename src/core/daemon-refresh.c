/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the refresh child (nspawn-runner chroot-maintenance) and its progress. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/* ---- refresh ---- */

static void refresh_parse_line(Daemon *d, const char *line) {
        char name[PROTO_STAGE_MAX + 1];
        unsigned i, n;

        if (sscanf(line, "[%u/%u] %64[^:]:", &i, &n, name) != 3)
                return;
        snprintf(d->refresh_image, sizeof(d->refresh_image), "%s", name);
        d->st.refresh_image = d->refresh_image;
        d->st.refresh_i = i;
        d->st.refresh_n = n;
        log_event("IMAGE", name, "refresh: %s", line);
}

/* Reads what the child wrote; returns 0 at EOF, 1 when more may come. */
static int refresh_read(Daemon *d, int fd) {
        for (;;) {
                ssize_t k = read(fd, d->line + d->line_len, sizeof(d->line) - 1 - d->line_len);
                char *nl;

                if (k < 0)
                        return errno == EAGAIN || errno == EINTR ? 1 : 0;
                if (k == 0)
                        return 0;
                d->line_len += (size_t) k;
                d->line[d->line_len] = 0;
                while ((nl = memchr(d->line, '\n', d->line_len))) {
                        size_t l = (size_t) (nl - d->line) + 1;
                        *nl = 0;
                        refresh_parse_line(d, d->line);
                        memmove(d->line, d->line + l, d->line_len - l);
                        d->line_len -= l;
                }
                if (d->line_len == sizeof(d->line) - 1)
                        d->line_len = 0; /* an overlong line: not one of ours */
        }
}

static int on_refresh_out(sd_event_source *s, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;

        if (refresh_read(d, fd) == 0) {
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        update(d);
        return 0;
}

static int on_refresh_exit(sd_event_source *s _unused_, const siginfo_t *si, void *userdata) {
        Daemon *d = userdata;
        bool ok = si->si_code == CLD_EXITED && si->si_status == 0;

        if (d->refresh_out) {
                (void) refresh_read(d, sd_event_source_get_io_fd(d->refresh_out));
                d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
        }
        d->refresh_child = sd_event_source_disable_unref(d->refresh_child);
        d->refresh_pid = 0;
        d->line_len = 0;
        d->last_refresh = ok;
        d->last_refresh_time = time(NULL);
        d->st.refreshing = false;
        d->st.refresh_image = NULL;
        d->st.refresh_failed = !ok;
        if (ok)
                log_notice("Refresh succeeded.");
        else if (si->si_code == CLD_EXITED)
                log_error("Refresh failed with exit status %d.", si->si_status);
        else
                log_error("Refresh killed by signal %d.", si->si_status);
        scan_images(d);
        update(d);
        metrics_write(d, true);
        return 0;
}

RefreshResult refresh_start(Daemon *d) {
        _cleanup_free_ char *dir = NULL, *exe = NULL;
        _cleanup_close_ int out_fd = -EBADF;
        int p[2], r;
        pid_t pid;

        if (d->st.refreshing)
                return REFRESH_ALREADY_RUNNING;
        if (d->st.draining)
                return REFRESH_REFUSED;
        r = self_exe_dir(&dir);
        if (r < 0 || !(exe = path_join(dir, "nspawn-runner"))) {
                log_error_errno(r < 0 ? r : ENOMEM, "Cannot find the nspawn-runner binary: %m");
                goto failed;
        }
        if (access(exe, X_OK) < 0) {
                log_error_errno(errno, "Cannot run %s: %m", exe);
                goto failed;
        }
        if (pipe2(p, O_CLOEXEC) < 0) {
                log_error_errno(errno, "Cannot make a pipe: %m");
                goto failed;
        }
        pid = fork();
        if (pid < 0) {
                log_error_errno(errno, "Cannot fork: %m");
                (void) close(p[0]);
                (void) close(p[1]);
                goto failed;
        }
        if (pid == 0) {
                sigset_t all;
                int null = open("/dev/null", O_RDONLY | O_NOCTTY);

                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(p[1], STDOUT_FILENO);
                sigemptyset(&all);
                (void) signal(SIGPIPE, SIG_DFL);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                execl(exe, exe, "--state-dir", d->ctx.state_dir, "--config-dir", d->config_dir, "chroot-maintenance",
                      (char *) NULL);
                _exit(127);
        }
        (void) close(p[1]);
        out_fd = p[0];
        (void) fcntl(out_fd, F_SETFL, O_NONBLOCK);
        r = sd_event_add_io(d->event, &d->refresh_out, out_fd, EPOLLIN, on_refresh_out, d);
        if (r >= 0) {
                (void) sd_event_source_set_io_fd_own(d->refresh_out, true);
                TAKE_FD(out_fd);
        }
        r = sd_event_add_child(d->event, &d->refresh_child, pid, WEXITED, on_refresh_exit, d);
        if (r < 0) {
                log_error_errno(r, "Cannot watch the refresh process: %m");
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
                goto failed;
        }
        d->refresh_pid = pid;
        d->st.refreshing = true;
        d->st.refresh_image = NULL;
        log_notice("Refresh started (%s chroot-maintenance, pid %d).", exe, (int) pid);
        update(d);
        return REFRESH_STARTED;

failed:
        d->last_refresh = 0;
        d->last_refresh_time = time(NULL);
        d->st.refresh_failed = true;
        update(d);
        return REFRESH_FAILED;
}

void refresh_done(Daemon *d) {
        if (d->refresh_pid > 0) {
                log_notice("Stopping the running refresh (pid %d).", (int) d->refresh_pid);
                (void) kill(d->refresh_pid, SIGTERM);
        }
        d->refresh_child = sd_event_source_disable_unref(d->refresh_child);
        d->refresh_out = sd_event_source_disable_unref(d->refresh_out);
}
