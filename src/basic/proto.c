/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"
#include "util.h"

static const struct {
        size_t size;
        size_t n_fds;
} msg_layout[_MSG_TYPE_MAX] = {
        [MSG_HELLO] = { sizeof(struct msg_header), 0 },
        [MSG_HELLO_REPLY] = { sizeof(struct msg_hello_reply), 0 },
        [MSG_RUN] = { sizeof(struct msg_run), _RUN_FD_MAX },
        [MSG_CANCEL] = { sizeof(struct msg_header), 0 },
        [MSG_EXIT] = { sizeof(struct msg_exit), 0 },
        [MSG_ERROR] = { sizeof(struct msg_error), 0 },
        [MSG_DAEMON_STATUS] = { sizeof(struct msg_header), 0 },
        [MSG_DAEMON_STATUS_REPLY] = { sizeof(struct msg_daemon_status_reply), 0 },
        [MSG_DAEMON_REFRESH] = { sizeof(struct msg_header), 0 },
        [MSG_DAEMON_REFRESH_REPLY] = { sizeof(struct msg_daemon_refresh_reply), 0 },
        [MSG_DAEMON_POWEROFF] = { sizeof(struct msg_header), 0 },
        [MSG_DAEMON_POWEROFF_REPLY] = { sizeof(struct msg_daemon_status_reply), 0 },
};

void msg_init(Msg *m, MsgType type) {
        memset(m, 0, sizeof(*m));
        m->header.magic = PROTO_MAGIC;
        m->header.version = PROTO_VERSION;
        m->header.type = (uint16_t) type;
        m->header.size = (uint32_t) msg_layout[type].size;
}

int msg_validate(const void *buf, size_t size, size_t n_fds) {
        struct msg_header h;
        Msg m;

        if (size < sizeof(h) || size > sizeof(m))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        if (h.magic != PROTO_MAGIC || h.version != PROTO_VERSION)
                return -EBADMSG;
        if (h.type == 0 || h.type >= _MSG_TYPE_MAX)
                return -EBADMSG;
        if (h.size != size || size != msg_layout[h.type].size || n_fds != msg_layout[h.type].n_fds)
                return -EBADMSG;

        memcpy(&m, buf, size);
        if (h.type == MSG_RUN && !memchr(m.run.stage, 0, sizeof(m.run.stage)))
                return -EBADMSG;
        if (h.type == MSG_ERROR && !memchr(m.error.message, 0, sizeof(m.error.message)))
                return -EBADMSG;
        if ((h.type == MSG_DAEMON_STATUS_REPLY || h.type == MSG_DAEMON_POWEROFF_REPLY) &&
            !memchr(m.status_reply.status, 0, sizeof(m.status_reply.status)))
                return -EBADMSG;
        if (h.type == MSG_DAEMON_REFRESH_REPLY && m.refresh_reply.result >= _REFRESH_RESULT_MAX)
                return -EBADMSG;
        return h.type;
}

int msg_send(int sock, const Msg *m, const int *fds, size_t n_fds) {
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int) * _RUN_FD_MAX)];
        } control = {};
        struct iovec iov = { .iov_base = (void *) m, .iov_len = m->header.size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (n_fds > _RUN_FD_MAX)
                return -E2BIG;
        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }

        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return (size_t) n == m->header.size ? 0 : -EIO;
}

static void close_many(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                (void) close(fds[i]);
}

int msg_recv(int sock, Msg *ret, int *fds, size_t *ret_n_fds) {
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int) * _RUN_FD_MAX)];
        } control;
        struct iovec iov = { .iov_base = ret, .iov_len = sizeof(*ret) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        size_t n_fds = 0;
        ssize_t n;
        int r;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (n_fds + k > _RUN_FD_MAX) {
                        /* Cannot happen with our buffer size (MSG_CTRUNC instead), but never overflow. */
                        close_many((int *) CMSG_DATA(c), k);
                        continue;
                }
                memcpy(fds + n_fds, CMSG_DATA(c), sizeof(int) * k);
                n_fds += k;
        }

        if (n == 0) {
                close_many(fds, n_fds);
                return -ECONNRESET;
        }
        if ((size_t) n > sizeof(*ret) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                close_many(fds, n_fds);
                return -EBADMSG;
        }

        r = msg_validate(ret, (size_t) n, n_fds);
        if (r < 0) {
                close_many(fds, n_fds);
                return r;
        }
        *ret_n_fds = n_fds;
        return r;
}
