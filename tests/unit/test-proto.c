/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"

int main(void) {
        int sv[2], fds[_RUN_FD_MAX], got[_RUN_FD_MAX];
        size_t n_fds = 99;
        Msg m, r;

        msg_init(&m, MSG_RUN);
        snprintf(m.run.stage, sizeof(m.run.stage), "build_script");
        CHECK(msg_validate(&m, sizeof(struct msg_run), _RUN_FD_MAX) == MSG_RUN, "a RUN with 4 fds is valid");
        CHECK(msg_validate(&m, sizeof(struct msg_run), 3) == -EBADMSG, "a RUN with 3 fds is not");
        CHECK(msg_validate(&m, sizeof(struct msg_run) - 1, _RUN_FD_MAX) == -EBADMSG, "a short RUN is not");
        memset(m.run.stage, 'x', sizeof(m.run.stage));
        CHECK(msg_validate(&m, sizeof(struct msg_run), _RUN_FD_MAX) == -EBADMSG, "an unterminated stage is not");

        msg_init(&m, MSG_HELLO);
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == MSG_HELLO, "HELLO is valid");
        CHECK(msg_validate(&m, sizeof(struct msg_header), 1) == -EBADMSG, "HELLO with an fd is not");
        m.header.magic ^= 1;
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == -EBADMSG, "a wrong magic is refused");
        msg_init(&m, MSG_HELLO);
        m.header.version = 2;
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == -EBADMSG, "a wrong version is refused");
        msg_init(&m, MSG_HELLO);
        m.header.type = _MSG_TYPE_MAX;
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == -EBADMSG, "an unknown type is refused");
        msg_init(&m, MSG_EXIT);
        m.header.size = sizeof(struct msg_header);
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == -EBADMSG, "a size that lies is refused");
        CHECK(msg_validate(&m, 3, 0) == -EBADMSG, "less than a header is refused");

        /* The daemon's messages. */
        msg_init(&m, MSG_DAEMON_STATUS);
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == MSG_DAEMON_STATUS, "DAEMON_STATUS is valid");
        CHECK(msg_validate(&m, sizeof(struct msg_header), 1) == -EBADMSG, "DAEMON_STATUS with an fd is not");
        CHECK(msg_validate(&m, sizeof(struct msg_header) + 1, 0) == -EBADMSG, "a long DAEMON_STATUS is not");
        msg_init(&m, MSG_DAEMON_REFRESH);
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == MSG_DAEMON_REFRESH, "DAEMON_REFRESH is valid");
        msg_init(&m, MSG_DAEMON_STATUS_REPLY);
        snprintf(m.status_reply.status, sizeof(m.status_reply.status), "idle, 3 images");
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_status_reply), 0) == MSG_DAEMON_STATUS_REPLY, "STATUS_REPLY is valid");
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_status_reply) - 1, 0) == -EBADMSG, "a short STATUS_REPLY is not");
        CHECK(msg_validate(&m, sizeof(struct msg_header), 0) == -EBADMSG, "a bare-header STATUS_REPLY is not");
        memset(m.status_reply.status, 'x', sizeof(m.status_reply.status));
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_status_reply), 0) == -EBADMSG, "an unterminated status is not");
        msg_init(&m, MSG_DAEMON_REFRESH_REPLY);
        m.refresh_reply.result = REFRESH_ALREADY_RUNNING;
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_refresh_reply), 0) == MSG_DAEMON_REFRESH_REPLY, "REFRESH_REPLY is valid");
        m.refresh_reply.result = _REFRESH_RESULT_MAX;
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_refresh_reply), 0) == -EBADMSG, "an unknown refresh result is not");
        msg_init(&m, MSG_DAEMON_STATUS);
        m.header.size = sizeof(struct msg_daemon_status_reply);
        CHECK(msg_validate(&m, sizeof(struct msg_daemon_status_reply), 0) == -EBADMSG, "a STATUS request of reply size is not");

        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
        for (int i = 0; i < _RUN_FD_MAX; i++)
                fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        msg_init(&m, MSG_RUN);
        snprintf(m.run.stage, sizeof(m.run.stage), "after_script");
        CHECK(msg_send(sv[0], &m, fds, _RUN_FD_MAX) == 0, "RUN sent with fds");
        CHECK(msg_recv(sv[1], &r, got, &n_fds) == MSG_RUN && n_fds == _RUN_FD_MAX, "RUN received with 4 fds");
        CHECK(strcmp(r.run.stage, "after_script") == 0, "stage name arrives");
        CHECK((fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0, "received fds are close-on-exec");
        for (int i = 0; i < _RUN_FD_MAX; i++)
                close(got[i]);

        /* A RUN without fds must be refused, and whatever fds came with a bad message closed. */
        CHECK(msg_send(sv[0], &m, fds, 2) == 0, "RUN sent with 2 fds");
        CHECK(msg_recv(sv[1], &r, got, &n_fds) == -EBADMSG, "RUN with 2 fds refused");
        CHECK(write(sv[0], "garbage", 7) == 7, "garbage sent");
        CHECK(msg_recv(sv[1], &r, got, &n_fds) == -EBADMSG, "garbage refused");
        close(sv[0]);
        CHECK(msg_recv(sv[1], &r, got, &n_fds) == -ECONNRESET, "EOF is a reset");
        close(sv[1]);
        for (int i = 0; i < _RUN_FD_MAX; i++)
                close(fds[i]);
        return tap_done();
}
