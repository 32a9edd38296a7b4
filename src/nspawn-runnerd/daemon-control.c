/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runnerd: the control socket for nspawn-runner status, refresh and poweroff. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "util.h"

/* ---- control socket ---- */

static int on_client(sd_event_source *s, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        int fds[_RUN_FD_MAX];
        size_t n_fds;
        Msg m;
        int r;

        r = msg_recv(fd, &m, fds, &n_fds);
        if (r == MSG_DAEMON_POWEROFF)
                begin_drain(d, "Asked to power off");
        if (r == MSG_DAEMON_STATUS || r == MSG_DAEMON_POWEROFF) {
                msg_init(&m, (MsgType) (r + 1));
                m.status_reply.jobs_running = d->st.jobs;
                m.status_reply.images = d->st.images;
                m.status_reply.last_refresh = d->last_refresh;
                m.status_reply.refreshing = d->st.refreshing;
                m.status_reply.last_refresh_time = d->last_refresh_time;
                snprintf(m.status_reply.status, sizeof(m.status_reply.status), "%s", d->status_text);
                (void) msg_send(fd, &m, NULL, 0);
        } else if (r == MSG_DAEMON_REFRESH) {
                RefreshResult res = refresh_start(d);
                msg_init(&m, MSG_DAEMON_REFRESH_REPLY);
                m.refresh_reply.result = res;
                (void) msg_send(fd, &m, NULL, 0);
        } else if (r != -EAGAIN)
                log_warning("Control socket: refused a malformed or unexpected request.");
        if (r == -EAGAIN)
                return 0;
        sd_event_source_disable_unref(s); /* closes fd */
        return 0;
}

static int on_accept(sd_event_source *s _unused_, int fd, uint32_t revents _unused_, void *userdata) {
        Daemon *d = userdata;
        _cleanup_close_ int c = -EBADF;
        sd_event_source *cs = NULL;
        struct ucred cred = { .uid = UINT_MAX };
        int r;

        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
                return 0;
        if (socket_peer(c, &cred) < 0 || cred.uid != 0) {
                log_warning("Control socket: refused a connection from uid %u (only root may use it).", (unsigned) cred.uid);
                return 0;
        }
        r = sd_event_add_io(d->event, &cs, c, EPOLLIN, on_client, d);
        if (r < 0)
                return 0;
        (void) sd_event_source_set_io_fd_own(cs, true);
        (void) sd_event_source_set_floating(cs, true);
        sd_event_source_unref(cs);
        TAKE_FD(c);
        return 0;
}

int control_socket_open(Daemon *d) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *parent = strdup(d->control_socket);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (!parent)
                return log_oom();
        if (strlen(d->control_socket) >= sizeof(sa.sun_path))
                return log_error_errno(EINVAL, "Control socket path %s is too long.", d->control_socket);
        strcpy(sa.sun_path, d->control_socket);
        (void) mkdir_p(dirname(parent), 0755);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot make the control socket: %m");
        (void) unlink(d->control_socket);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Cannot bind the control socket %s: %m", d->control_socket);
        /* Anyone may connect; only root is answered (SO_PEERCRED), and says so in the log. */
        (void) chmod(d->control_socket, 0666);
        if (listen(fd, 16) < 0)
                return log_error_errno(errno, "Cannot listen on %s: %m", d->control_socket);
        r = sd_event_add_io(d->event, &d->listen_source, fd, EPOLLIN, on_accept, d);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the control socket: %m");
        d->listen_fd = TAKE_FD(fd);
        return 0;
}


void control_socket_close(Daemon *d) {
        d->listen_source = sd_event_source_disable_unref(d->listen_source);
        if (d->listen_fd >= 0) {
                (void) close(d->listen_fd);
                (void) unlink(d->control_socket);
        }
        d->listen_fd = -EBADF;
}
