/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The CLI's side of the daemon's control socket: nspawn-runner status and refresh. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon-client.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"
#include "time-util.h"
#include "util.h"

#define CLIENT_TIMEOUT_USEC (10 * USEC_PER_SEC)

static int client_request(const char *path, MsgType type, Msg *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_USEC / USEC_PER_SEC,
                              .tv_usec = CLIENT_TIMEOUT_USEC % USEC_PER_SEC };
        int fds[_RUN_FD_MAX];
        size_t n_fds;
        Msg m;
        int r;

        r = seqpacket_connect_root(path, &fd);
        if (r == -ENAMETOOLONG)
                return log_error_errno(EINVAL, "Control socket path %s is too long.", path);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return log_error_errno(r, "nspawn-runnerd is not running (nothing listens on %s).", path);
        if (r == -EPERM)
                return log_error_errno(r, "Refusing to talk to %s: it is not run by root.", path);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to nspawn-runnerd at %s: %m", path);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        msg_init(&m, type);
        r = msg_send(fd, &m, NULL, 0);
        if (r >= 0)
                r = msg_recv(fd, ret, fds, &n_fds);
        if (r == -ECONNRESET || r == -EPIPE)
                return log_error_errno(r, "nspawn-runnerd at %s closed the connection (only root may use it).", path);
        if (r == -EAGAIN)
                return log_error_errno(ETIMEDOUT, "nspawn-runnerd at %s did not answer within %u s.", path,
                                       (unsigned) (CLIENT_TIMEOUT_USEC / USEC_PER_SEC));
        if (r < 0)
                return log_error_errno(r, "Bad answer from nspawn-runnerd at %s: %m", path);
        if (r != (int) type + 1)
                return log_error_errno(EBADMSG, "Unexpected answer from nspawn-runnerd at %s.", path);
        return 0;
}

static int status_request(const char *socket_path, MsgType type) {
        Msg m;
        int r;

        r = client_request(socket_path, type, &m);
        if (r < 0)
                return r;
        printf("status: %s\n", m.status_reply.status);
        printf("jobs running: %" PRIu32 "\n", m.status_reply.jobs_running);
        printf("images: %" PRIu32 "\n", m.status_reply.images);
        if (m.status_reply.last_refresh < 0)
                printf("last refresh: none since the daemon started\n");
        else {
                time_t t = (time_t) m.status_reply.last_refresh_time;
                struct tm tm;
                char buf[64] = "?";

                if (localtime_r(&t, &tm))
                        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm);
                printf("last refresh: %s at %s\n", m.status_reply.last_refresh ? "succeeded" : "FAILED", buf);
        }
        if (m.status_reply.refreshing)
                printf("refresh: running\n");
        return 0;
}

int daemon_client_status(const char *socket_path) {
        return status_request(socket_path, MSG_DAEMON_STATUS);
}

int daemon_client_poweroff(const char *socket_path) {
        return status_request(socket_path, MSG_DAEMON_POWEROFF);
}

int daemon_client_refresh(const char *socket_path) {
        Msg m;
        int r;

        r = client_request(socket_path, MSG_DAEMON_REFRESH, &m);
        if (r < 0)
                return r;
        switch (m.refresh_reply.result) {
        case REFRESH_STARTED:
                printf("refresh: started\n");
                return 0;
        case REFRESH_ALREADY_RUNNING:
                printf("refresh: already running\n");
                return 0;
        case REFRESH_FAILED:
                return log_error_errno(EIO, "refresh: could not be started (the daemon's log says why).");
        default:
                return log_error_errno(EBUSY, "refresh: refused, the runner is draining for a power-off.");
        }
}
