/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "rtnl.h"

/* The payload's room in a message, at its current end; NULL (and the message marked overflowed)
 * when it does not fit. */
static void *message_append(RtnlMessage *m, size_t len) {
        size_t aligned = NLMSG_ALIGN(len);
        void *p;

        if (m->overflow || aligned > sizeof(m->buf) - m->len) {
                m->overflow = true;
                return NULL;
        }
        p = m->buf + m->len;
        memset(p, 0, aligned);
        m->len += aligned;
        return p;
}

static void message_init(RtnlMessage *m, uint16_t type, uint16_t flags, const void *header, size_t header_len) {
        struct nlmsghdr *h;
        void *p;

        *m = (RtnlMessage) {};
        h = message_append(m, sizeof(*h));
        h->nlmsg_type = type;
        h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        p = message_append(m, header_len);
        if (p)
                memcpy(p, header, header_len);
}

/* Starts an attribute whose payload follows; attr_end() sets its length. Returns its offset. */
static size_t attr_begin(RtnlMessage *m, uint16_t type) {
        size_t off = m->len;
        struct rtattr *a = message_append(m, sizeof(*a));

        if (a)
                a->rta_type = type;
        return off;
}

static void attr_end(RtnlMessage *m, size_t off) {
        struct rtattr a;

        if (m->overflow)
                return;
        memcpy(&a, m->buf + off, sizeof(a));
        a.rta_len = (unsigned short) (m->len - off);
        memcpy(m->buf + off, &a, sizeof(a));
}

static void attr_put(RtnlMessage *m, uint16_t type, const void *data, size_t len) {
        size_t off = attr_begin(m, type);
        void *p = message_append(m, len);

        if (!p)
                return;
        memcpy(p, data, len);
        /* The length counts the payload, not the padding after it. */
        m->len = off + RTA_LENGTH(len);
        attr_end(m, off);
        m->len = NLMSG_ALIGN(m->len);
}

static void attr_put_string(RtnlMessage *m, uint16_t type, const char *s) {
        attr_put(m, type, s, strlen(s) + 1);
}

static void attr_put_u32(RtnlMessage *m, uint16_t type, uint32_t v) {
        attr_put(m, type, &v, sizeof(v));
}

void rtnl_message_veth(RtnlMessage *m, const char *name, const char *peer, int peer_netns_fd) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        size_t info, data, peer_info;
        void *p;

        message_init(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
        attr_put_string(m, IFLA_IFNAME, name);
        info = attr_begin(m, IFLA_LINKINFO);
        attr_put_string(m, IFLA_INFO_KIND, "veth");
        data = attr_begin(m, IFLA_INFO_DATA);
        /* The peer is an ifinfomsg followed by its own link attributes. */
        peer_info = attr_begin(m, VETH_INFO_PEER);
        p = message_append(m, sizeof(ifi));
        if (p)
                memcpy(p, &ifi, sizeof(ifi));
        attr_put_string(m, IFLA_IFNAME, peer);
        attr_put_u32(m, IFLA_NET_NS_FD, (uint32_t) peer_netns_fd);
        attr_end(m, peer_info);
        attr_end(m, data);
        attr_end(m, info);
}

void rtnl_message_link_up(RtnlMessage *m, int ifindex) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };

        message_init(m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
}

void rtnl_message_address(RtnlMessage *m, int ifindex, struct in_addr address, unsigned prefix) {
        struct ifaddrmsg ifa = {
                .ifa_family = AF_INET,
                .ifa_prefixlen = (unsigned char) prefix,
                .ifa_scope = RT_SCOPE_UNIVERSE,
                .ifa_index = (unsigned) ifindex,
        };

        message_init(m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
        attr_put(m, IFA_LOCAL, &address, sizeof(address));
        attr_put(m, IFA_ADDRESS, &address, sizeof(address));
}

void rtnl_message_default_route(RtnlMessage *m, int ifindex, struct in_addr gateway) {
        struct rtmsg rt = {
                .rtm_family = AF_INET,
                .rtm_table = RT_TABLE_MAIN,
                .rtm_protocol = RTPROT_BOOT,
                .rtm_scope = RT_SCOPE_UNIVERSE,
                .rtm_type = RTN_UNICAST,
                .rtm_flags = RTNH_F_ONLINK,
        };

        message_init(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
        attr_put(m, RTA_GATEWAY, &gateway, sizeof(gateway));
        attr_put_u32(m, RTA_OIF, (uint32_t) ifindex);
}

/* With NETLINK_CAP_ACK the kernel echoes only the request's header, so an acknowledgement has
 * exactly this size, whether it reports success or an error. */
#define ACK_LEN NLMSG_LENGTH(sizeof(struct nlmsgerr))

int rtnl_ack_parse(const void *buf, size_t len, uint32_t seq) {
        struct nlmsghdr h;
        struct nlmsgerr e;

        if (len != ACK_LEN)
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        memcpy(&e, (const uint8_t *) buf + NLMSG_HDRLEN, sizeof(e));
        if (h.nlmsg_len != ACK_LEN || h.nlmsg_type != NLMSG_ERROR || h.nlmsg_seq != seq || e.msg.nlmsg_seq != seq)
                return -EBADMSG;
        if (e.error > 0 || e.error < -4095)
                return -EBADMSG;
        return e.error;
}

int rtnl_open(int *ret_fd) {
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        int one = 1;

        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int rtnl_call(int fd, RtnlMessage *m, uint32_t seq) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, from;
        struct nlmsghdr h;
        union {
                struct nlmsghdr align;
                uint8_t buf[ACK_LEN + 64]; /* room to see that an answer is too long */
        } ack;
        struct iovec iov = { .iov_base = ack.buf, .iov_len = sizeof(ack.buf) };
        struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (m->overflow)
                return -ENOBUFS;
        memcpy(&h, m->buf, sizeof(h));
        h.nlmsg_len = (uint32_t) m->len;
        h.nlmsg_seq = seq;
        memcpy(m->buf, &h, sizeof(h));
        if (sendto(fd, m->buf, m->len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        do
                n = recvmsg(fd, &msg, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        /* Only the kernel (port 0) answers, in one whole datagram. */
        if (msg.msg_namelen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC))
                return -EBADMSG;
        return rtnl_ack_parse(ack.buf, (size_t) n, seq);
}
