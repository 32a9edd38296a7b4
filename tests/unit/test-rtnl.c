/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rtnetlink requests: their bytes, the checks on the kernel's acknowledgement, and (as root) the
 * requests against a real kernel in a network namespace of the test's own. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtnl.h"
#include "tap.h"

/* The attribute of type in [start, end) of m, NULL when it is missing or the attributes do not
 * tile that range exactly. */
static const struct rtattr *attr_find(const RtnlMessage *m, size_t start, size_t end, unsigned short type) {
        const struct rtattr *found = NULL;
        size_t off = start;

        while (off < end) {
                const struct rtattr *a = (const struct rtattr *) (m->buf + off);
                if (end - off < sizeof(*a) || a->rta_len < sizeof(*a) || a->rta_len > end - off)
                        return NULL;
                if (a->rta_type == type && !found)
                        found = a;
                off += RTA_ALIGN(a->rta_len);
        }
        return off == end ? found : NULL;
}

static size_t attr_offset(const RtnlMessage *m, const struct rtattr *a) {
        return (size_t) ((const uint8_t *) a - m->buf);
}

static bool attr_is_string(const struct rtattr *a, const char *s) {
        return a && a->rta_len == RTA_LENGTH(strlen(s) + 1) && strcmp(RTA_DATA(a), s) == 0;
}

static bool attr_is_u32(const struct rtattr *a, uint32_t v) {
        return a && a->rta_len == RTA_LENGTH(4) && memcmp(RTA_DATA(a), &v, 4) == 0;
}

static const struct nlmsghdr *header(const RtnlMessage *m) {
        return (const struct nlmsghdr *) m->buf;
}

static void test_veth(void) {
        RtnlMessage m;
        const struct rtattr *info, *data, *peer;
        size_t body = NLMSG_LENGTH(sizeof(struct ifinfomsg)), peer_attrs;

        rtnl_message_veth(&m, "host0", "nr7", 5);
        CHECK(!m.overflow && m.len % 4 == 0 && header(&m)->nlmsg_type == RTM_NEWLINK &&
                      header(&m)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
              "veth: RTM_NEWLINK that creates, never replaces, and asks for an ack");
        CHECK(attr_is_string(attr_find(&m, body, m.len, IFLA_IFNAME), "host0"), "veth: its name");
        info = attr_find(&m, body, m.len, IFLA_LINKINFO);
        CHECK(info && attr_is_string(attr_find(&m, attr_offset(&m, info) + RTA_LENGTH(0),
                                               attr_offset(&m, info) + info->rta_len, IFLA_INFO_KIND), "veth"),
              "veth: kind veth");
        data = info ? attr_find(&m, attr_offset(&m, info) + RTA_LENGTH(0), attr_offset(&m, info) + info->rta_len,
                                IFLA_INFO_DATA)
                    : NULL;
        peer = data ? attr_find(&m, attr_offset(&m, data) + RTA_LENGTH(0), attr_offset(&m, data) + data->rta_len,
                                VETH_INFO_PEER)
                    : NULL;
        CHECK(peer && peer->rta_len >= RTA_LENGTH(sizeof(struct ifinfomsg)), "veth: a peer with its ifinfomsg");
        if (!peer)
                return;
        peer_attrs = attr_offset(&m, peer) + RTA_LENGTH(sizeof(struct ifinfomsg));
        CHECK(attr_is_string(attr_find(&m, peer_attrs, attr_offset(&m, peer) + peer->rta_len, IFLA_IFNAME), "nr7") &&
                      attr_is_u32(attr_find(&m, peer_attrs, attr_offset(&m, peer) + peer->rta_len, IFLA_NET_NS_FD), 5),
              "veth: the peer's name and namespace");
        CHECK(attr_offset(&m, info) + RTA_ALIGN(info->rta_len) == m.len, "veth: the nests end with the message");
}

static void test_others(void) {
        RtnlMessage m;
        struct in_addr a, gw;
        const struct ifinfomsg *ifi;
        const struct ifaddrmsg *ifa;
        const struct rtmsg *rt;
        size_t body;

        rtnl_message_link_up(&m, 42);
        ifi = NLMSG_DATA(header(&m));
        CHECK(!m.overflow && m.len == NLMSG_LENGTH(sizeof(*ifi)) && header(&m)->nlmsg_type == RTM_NEWLINK &&
                      header(&m)->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK) && ifi->ifi_index == 42 &&
                      ifi->ifi_flags == IFF_UP && ifi->ifi_change == IFF_UP,
              "link up: changes only IFF_UP of that index, creates nothing");

        inet_pton(AF_INET, "10.213.0.2", &a);
        rtnl_message_address(&m, 3, a, 30);
        ifa = NLMSG_DATA(header(&m));
        body = NLMSG_LENGTH(sizeof(*ifa));
        CHECK(!m.overflow && header(&m)->nlmsg_type == RTM_NEWADDR && ifa->ifa_family == AF_INET && ifa->ifa_prefixlen == 30 &&
                      ifa->ifa_index == 3 && attr_is_u32(attr_find(&m, body, m.len, IFA_LOCAL), a.s_addr) &&
                      attr_is_u32(attr_find(&m, body, m.len, IFA_ADDRESS), a.s_addr),
              "address: local and address, /30, on index 3");

        inet_pton(AF_INET, "10.213.0.1", &gw);
        rtnl_message_default_route(&m, 3, gw);
        rt = NLMSG_DATA(header(&m));
        body = NLMSG_LENGTH(sizeof(*rt));
        CHECK(!m.overflow && header(&m)->nlmsg_type == RTM_NEWROUTE && rt->rtm_family == AF_INET && rt->rtm_dst_len == 0 &&
                      rt->rtm_table == RT_TABLE_MAIN && (rt->rtm_flags & RTNH_F_ONLINK) &&
                      attr_is_u32(attr_find(&m, body, m.len, RTA_GATEWAY), gw.s_addr) &&
                      attr_is_u32(attr_find(&m, body, m.len, RTA_OIF), 3),
              "default route: via the gateway, on-link, out of index 3");
}

static void test_overflow(void) {
        char name[RTNL_MESSAGE_MAX];
        RtnlMessage m;

        memset(name, 'x', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        rtnl_message_veth(&m, "host0", name, 5);
        CHECK(m.overflow && m.len <= RTNL_MESSAGE_MAX, "a request too long for the buffer is marked, not overrun");
        CHECK(rtnl_call(-1, &m, 1) == -ENOBUFS, "and is never sent");
}

/* An acknowledgement as the kernel makes it with NETLINK_CAP_ACK. */
static size_t ack_make(uint8_t *buf, uint32_t seq, int error) {
        struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)), .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = seq };
        struct nlmsgerr e = { .error = error, .msg = { .nlmsg_len = 32, .nlmsg_type = RTM_NEWLINK, .nlmsg_seq = seq } };

        memcpy(buf, &h, sizeof(h));
        memcpy(buf + NLMSG_HDRLEN, &e, sizeof(e));
        return h.nlmsg_len;
}

static void test_ack(void) {
        uint8_t buf[128] = {};
        size_t n = ack_make(buf, 7, 0);
        struct nlmsghdr h;

        CHECK(rtnl_ack_parse(buf, n, 7) == 0, "ack: success");
        CHECK(rtnl_ack_parse(buf, n, 8) == -EBADMSG, "ack: another request's sequence number is refused");
        CHECK(rtnl_ack_parse(buf, n - 1, 7) == -EBADMSG && rtnl_ack_parse(buf, n + 4, 7) == -EBADMSG &&
                      rtnl_ack_parse(buf, 0, 7) == -EBADMSG,
              "ack: a datagram shorter or longer than one ack is refused");
        n = ack_make(buf, 7, -EEXIST);
        CHECK(rtnl_ack_parse(buf, n, 7) == -EEXIST, "ack: the kernel's error is returned");
        n = ack_make(buf, 7, 5);
        CHECK(rtnl_ack_parse(buf, n, 7) == -EBADMSG, "ack: a positive error is refused");
        n = ack_make(buf, 7, -5000);
        CHECK(rtnl_ack_parse(buf, n, 7) == -EBADMSG, "ack: an error beyond errno's range is refused");
        n = ack_make(buf, 7, 0);
        memcpy(&h, buf, sizeof(h));
        h.nlmsg_type = NLMSG_DONE;
        memcpy(buf, &h, sizeof(h));
        CHECK(rtnl_ack_parse(buf, n, 7) == -EBADMSG, "ack: another type is refused");
        h.nlmsg_type = NLMSG_ERROR;
        h.nlmsg_len = (uint32_t) n + 4;
        memcpy(buf, &h, sizeof(h));
        CHECK(rtnl_ack_parse(buf, n, 7) == -EBADMSG, "ack: a length field that is not the datagram's is refused");
        n = ack_make(buf, 7, 0);
        buf[NLMSG_HDRLEN + 4 + 8] ^= 1; /* the echoed request's sequence number */
        CHECK(rtnl_ack_parse(buf, n, 7) == -EBADMSG, "ack: an echo of another request is refused");
}

/* In a network namespace of its own: the requests as the runner makes them, on a real kernel. */
static int kernel_child(void) {
        int fd, ns, r, failed = 0;
        RtnlMessage m;
        struct in_addr a, gw;
        uint32_t seq = 0;

#define STEP(cond, what)                                                          \
        do {                                                                      \
                if (!(cond)) {                                                    \
                        printf("# kernel: %s failed (r=%d)\n", what, r);          \
                        failed = 1;                                               \
                }                                                                 \
        } while (0)
        if (unshare(CLONE_NEWNET) < 0)
                return 2;
        ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        r = rtnl_open(&fd);
        STEP(r == 0 && ns >= 0, "open");
        if (failed)
                return 1;
        rtnl_message_link_up(&m, 1);
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == 0, "loopback up");
        rtnl_message_veth(&m, "t0", "t1", ns);
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == 0 && if_nametoindex("t0") > 0 && if_nametoindex("t1") > 0, "veth");
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == -EEXIST, "a second veth of that name is EEXIST");
        inet_pton(AF_INET, "10.213.0.2", &a);
        inet_pton(AF_INET, "10.213.0.1", &gw);
        rtnl_message_address(&m, (int) if_nametoindex("t0"), a, 30);
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == 0, "address");
        rtnl_message_link_up(&m, (int) if_nametoindex("t0"));
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == 0, "link up");
        rtnl_message_default_route(&m, (int) if_nametoindex("t0"), gw);
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == 0, "default route");
        rtnl_message_link_up(&m, 4242);
        r = rtnl_call(fd, &m, ++seq);
        STEP(r == -ENODEV, "a link that does not exist is ENODEV");
        return failed;
#undef STEP
}

static void test_kernel(void) {
        int status;
        pid_t pid;

        if (geteuid() != 0) {
                printf("ok %u - # SKIP the kernel part needs root\n", ++tap_n);
                return;
        }
        fflush(stdout);
        pid = fork();
        if (pid == 0)
                _exit(kernel_child());
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a real kernel in a namespace of the test's own: loopback, veth, EEXIST, address, up, route, ENODEV");
}

int main(void) {
        test_veth();
        test_others();
        test_overflow();
        test_ack();
        test_kernel();
        return tap_done();
}
