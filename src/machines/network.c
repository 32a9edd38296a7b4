/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "network.h"
#include "nftables.h"
#include "playbook.h"
#include "rtnl.h"
#include "util.h"

#define SLOTS_MAX 16384U
#define RESOLVERS_MAX 8
/* What an nft address set holds when it has nothing: an empty set is not valid syntax, so one
 * address nothing routes to. */
#define SET_NOTHING "127.255.255.255"
/* Deletes the slot's nft table, made first so that the delete cannot fail for want of it. */
#define TABLE_DELETE "table inet nspawn_runner_%u\ndelete table inet nspawn_runner_%u\n"
#define LOOPBACK_IFINDEX 1 /* the first link of every network namespace */

static void cidr_format(const NetworkCidr *c, char buf[static 64]) {
        char a[INET6_ADDRSTRLEN];

        inet_ntop(c->family, c->addr, a, sizeof(a));
        snprintf(buf, 64, "%s/%u", a, c->prefix);
}

NetworkMode network_mode_for_image(const Context *c, NetworkMode configured, const char *image) {
        _cleanup_(playbook_done) Playbook pb = PLAYBOOK_INIT;
        _cleanup_free_ char *path = NULL;

        if (playbook_find(c, image, &path) <= 0 || playbook_load(path, &pb) < 0 || pb.network < 0)
                return configured;
        return pb.network;
}

static char *slot_path(const char *what, unsigned slot) {
        return strprintf(NETWORK_RUN_DIR "/%s/%u", what, slot);
}

/* Applies an nft script in one transaction, in-process. The context of the last one is kept until
 * the next one or the process's exit: closing its socket at once would wait for the kernel to
 * release that transaction (an RCU grace period, 5 to 30 ms measured), which by then it has done.
 * On failure returns -EIO (-ENOENT: no libnftables) with the first line of complaint in ret_msg. */
static int nft_apply(const char *script, char ret_msg[static 512]) {
        static Nftables *lingering = NULL;
        Nftables *n;
        int r;

        lingering = nftables_free(lingering);
        r = nftables_new(&n, ret_msg);
        if (r < 0)
                return r;
        r = nftables_run(n, script, ret_msg);
        lingering = n;
        return r;
}

/* Takes a free slot of the pool for machine_dir: symlink() either makes it ours or finds it taken. */
static int slot_take(const char *machine_dir, unsigned n_slots, unsigned *ret) {
        unsigned start = 0;
        int r;

        r = mkdir_p(NETWORK_RUN_DIR "/slots", 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " NETWORK_RUN_DIR "/slots: %m");
        /* Spread the starting point, so that concurrent prepares seldom race for one slot. */
        for (const char *p = machine_dir; *p; p++)
                start = start * 31 + (unsigned char) *p;
        for (unsigned i = 0; i < n_slots; i++) {
                unsigned slot = (start + i) % n_slots;
                _cleanup_free_ char *p = slot_path("slots", slot);
                if (!p)
                        return log_oom();
                if (symlink(machine_dir, p) >= 0) {
                        *ret = slot;
                        return 0;
                }
                if (errno != EEXIST)
                        return log_error_errno(errno, "Cannot create %s: %m", p);
        }
        return log_error_errno(ENOSPC, "All %u network slots of the pool are taken (see network_pool).", n_slots);
}

/* The link of slot n: .1 on the host's end, .2 in the machine, a /30 each. */
static void slot_addresses(const NetworkCidr *pool, unsigned slot, struct in_addr *ret_host, struct in_addr *ret_job) {
        uint32_t base = ((uint32_t) pool->addr[0] << 24 | (uint32_t) pool->addr[1] << 16 | (uint32_t) pool->addr[2] << 8 |
                         pool->addr[3]) + slot * 4;

        ret_host->s_addr = htonl(base + 1);
        ret_job->s_addr = htonl(base + 2);
}

static void slot_ifname(unsigned slot, char ret[static IFNAMSIZ]) {
        snprintf(ret, IFNAMSIZ, "nr%u", slot);
}

/* One rtnetlink request; what fails is logged as "Cannot <what> <ifname>: <error>". */
static int rtnl_logged(int fd, RtnlMessage *m, uint32_t *seq, const char *what, const char *ifname) {
        int r = rtnl_call(fd, m, ++*seq);

        if (r < 0)
                return log_error_errno(r, "Cannot %s %s: %m", what, ifname);
        return 0;
}

/* Gives the link ifname its address and sets it up; returns its ifindex. */
static int link_configure(int fd, uint32_t *seq, const char *ifname, struct in_addr address) {
        RtnlMessage m;
        int ifindex = (int) if_nametoindex(ifname), r;

        if (ifindex <= 0)
                return log_error_errno(errno, "Cannot find the link %s: %m", ifname);
        rtnl_message_address(&m, ifindex, address, 30);
        r = rtnl_logged(fd, &m, seq, "add the address to", ifname);
        if (r < 0)
                return r;
        rtnl_message_link_up(&m, ifindex);
        r = rtnl_logged(fd, &m, seq, "set up", ifname);
        return r < 0 ? r : ifindex;
}

/* Writes "1" to a sysctl of the calling process's network namespace. */
static int sysctl_net_enable(const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(fd, "1\n", 2) != 2)
                return -errno;
        return 0;
}

/* In the child that made the machine's namespace and is in it: no IPv6 on the links to come (the
 * machine's loopback keeps ::1), loopback up, the veth host0 whose far end is nr<slot> in the host's
 * namespace host_netns_fd, host0's address and the default route through the host's end. */
static int job_side_configure(unsigned slot, struct in_addr host, struct in_addr job, int host_netns_fd) {
        _cleanup_close_ int fd = -EBADF;
        char ifname[IFNAMSIZ];
        RtnlMessage m;
        uint32_t seq = 0;
        int r;

        slot_ifname(slot, ifname);
        r = sysctl_net_enable("/proc/sys/net/ipv6/conf/default/disable_ipv6");
        if (r < 0 && r != -ENOENT) /* ENOENT: a kernel without IPv6 */
                return log_error_errno(r, "Cannot switch IPv6 off in the machine's network namespace: %m");
        r = rtnl_open(&fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open an rtnetlink socket in the machine's network namespace: %m");
        rtnl_message_link_up(&m, LOOPBACK_IFINDEX);
        r = rtnl_logged(fd, &m, &seq, "set up", "the machine's loopback");
        if (r < 0)
                return r;
        rtnl_message_veth(&m, "host0", ifname, host_netns_fd);
        r = rtnl_logged(fd, &m, &seq, "create the machine's veth", ifname);
        if (r < 0)
                return r;
        r = link_configure(fd, &seq, "host0", job);
        if (r < 0)
                return r;
        rtnl_message_default_route(&m, r, host);
        return rtnl_logged(fd, &m, &seq, "add the default route on", "the machine's host0");
}

/* Starts a child (no exec) that makes a new network namespace, kept alive by a bind mount at path
 * (in our mount namespace), and configures the machine's side of its veth in it. */
static int netns_create_start(const char *path, unsigned slot, struct in_addr host, struct in_addr job, pid_t *ret_pid) {
        _cleanup_close_ int host_netns_fd = -EBADF;
        int fd;
        pid_t parent, pid;

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", path);
        close(fd);
        host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (host_netns_fd < 0)
                return log_error_errno(errno, "Cannot open /proc/self/ns/net: %m");
        parent = getpid();
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Cannot fork: %m");
        if (pid == 0) {
                int r;
                /* Dies with a prepare killed with -9, rather than make links after its cleanup. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        r = log_error_errno(errno, "Cannot set the parent-death signal: %m");
                else if (getppid() != parent)
                        r = -ESRCH; /* nobody to tell */
                else if (unshare(CLONE_NEWNET) < 0)
                        r = log_error_errno(errno, "Cannot create a network namespace (needs CAP_SYS_ADMIN): %m");
                else if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
                        r = log_error_errno(errno, "Cannot bind-mount the machine's network namespace at %s: %m", path);
                else
                        r = job_side_configure(slot, host, job, host_netns_fd);
                _exit(r < 0 ? -r : 0);
        }
        *ret_pid = pid;
        return 0;
}

static int netns_create_wait(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot wait for a child: %m");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status)) /* the child logged why */
                return -WEXITSTATUS(status);
        return log_error_errno(EIO, "The child making the machine's network namespace died of signal %d.", WTERMSIG(status));
}

/* Deletes the veth ifname (and its peer) if it exists. */
static int veth_delete(const char *ifname) {
        _cleanup_close_ int fd = -EBADF;
        RtnlMessage m;
        int r;

        r = rtnl_open(&fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open an rtnetlink socket: %m");
        rtnl_message_link_delete(&m, ifname);
        r = rtnl_call(fd, &m, 1);
        if (r < 0 && r != -ENODEV)
                return log_error_errno(r, "Cannot remove the machine's veth %s: %m", ifname);
        return 0;
}

/* The host's end of the slot's veth: its address, up. */
static int host_side_configure(unsigned slot, struct in_addr host) {
        _cleanup_close_ int fd = -EBADF;
        char ifname[IFNAMSIZ];
        uint32_t seq = 0;
        int r;

        slot_ifname(slot, ifname);
        r = rtnl_open(&fd);
        if (r < 0)
                return log_error_errno(r, "Cannot open an rtnetlink socket: %m");
        r = link_configure(fd, &seq, ifname, host);
        return r < 0 ? r : 0;
}

/* The file nspawn gives the machine as its resolv.conf, and so the resolvers it may reach. */
static const char *resolv_conf(void) {
        return access("/run/systemd/resolve/resolv.conf", F_OK) >= 0 ? "/run/systemd/resolve/resolv.conf" : "/etc/resolv.conf";
}

static void fprint_resolvers(FILE *f) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        unsigned n = 0;

        if (read_full_file(resolv_conf(), 64 * 1024, &text, NULL) < 0)
                return;
        for (char *l = strtok_r(text, "\n", &save); l && n < RESOLVERS_MAX; l = strtok_r(NULL, "\n", &save)) {
                const char *v = startswith(l, "nameserver");
                struct in_addr a;
                char addr[INET_ADDRSTRLEN];

                if (!v || (*v != ' ' && *v != '\t'))
                        continue;
                v += strspn(v, " \t");
                snprintf(addr, sizeof(addr), "%.*s", (int) strcspn(v, " \t#\r"), v);
                if (inet_pton(AF_INET, addr, &a) != 1)
                        continue;
                if ((ntohl(a.s_addr) >> 24) == 127) {
                        log_warning("The host's resolver %s is on loopback, which isolated jobs cannot reach: they "
                                    "will not resolve names (see README, \"Security model — network\").", addr);
                        continue;
                }
                fprintf(f, "%s%s", n++ ? ", " : "", addr);
        }
        if (n == 0)
                fputs(SET_NOTHING, f);
}

/* The GitLab server's addresses, resolved now: a job may reach them wherever they are. */
static void fprint_gitlab(FILE *f, const char *url) {
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
        char host[256];
        const char *p;
        unsigned n = 0;

        if (!url || !(p = strstr(url, "://")))
                goto none;
        p += 3;
        snprintf(host, sizeof(host), "%.*s", (int) strcspn(p, ":/"), p);
        if (getaddrinfo(host, NULL, &hints, &res) != 0) {
                log_warning("Cannot resolve the GitLab server %s: isolated jobs reach it only if it is on the internet.", host);
                goto none;
        }
        for (struct addrinfo *a = res; a && n < 8; a = a->ai_next) {
                char addr[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &((struct sockaddr_in *) a->ai_addr)->sin_addr, addr, sizeof(addr));
                fprintf(f, "%s%s", n++ ? ", " : "", addr);
        }
        freeaddrinfo(res);
none:
        if (n == 0)
                fputs(SET_NOTHING, f);
}

/* The subnets the host is attached to (its LAN, whatever its range): never a job's destination. */
static void fprint_host_subnets(FILE *f) {
        struct ifaddrs *ifa = NULL;

        if (getifaddrs(&ifa) < 0)
                return;
        for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                NetworkCidr c = { .family = AF_INET };
                char buf[64];
                uint32_t mask;

                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask || startswith(i->ifa_name, "nr"))
                        continue;
                memcpy(c.addr, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, 4);
                mask = ntohl(((struct sockaddr_in *) i->ifa_netmask)->sin_addr.s_addr);
                c.prefix = (unsigned) __builtin_popcount(mask);
                network_cidr_mask(&c);
                cidr_format(&c, buf);
                fprintf(f, ", %s", buf);
        }
        freeifaddrs(ifa);
}

static void fprint_allow(FILE *f, const NetworkCidr *a) {
        char buf[64];

        cidr_format(a, buf);
        fprintf(f, "                %s daddr %s", a->family == AF_INET ? "ip" : "ip6", buf);
        if (a->port)
                fprintf(f, " meta l4proto { tcp, udp } th dport %u", a->port);
        fprintf(f, " accept\n");
}

/* One table per machine, made in one transaction: a job's packets may go out through NAT to the
 * internet, to the GitLab server, to the allowed prefixes and to the resolvers' port 53; nothing
 * else private, nothing of the host's, nothing of another job's, and nobody opens a connection to it. */
static char *ruleset(unsigned slot, const NetworkSettings *s) {
        char job[INET_ADDRSTRLEN], pool[64];
        struct in_addr host_addr, job_addr;
        MemStream m;
        FILE *f = memstream_open(&m);

        if (!f)
                return NULL;
        slot_addresses(&s->pool, slot, &host_addr, &job_addr);
        inet_ntop(AF_INET, &job_addr, job, sizeof(job));
        cidr_format(&s->pool, pool);
        fprintf(f, TABLE_DELETE
                   "table inet nspawn_runner_%u {\n"
                   "        set resolvers { type ipv4_addr; elements = { ", slot, slot, slot);
        fprint_resolvers(f);
        fprintf(f, " } }\n"
                   "        set gitlab { type ipv4_addr; elements = { ");
        fprint_gitlab(f, s->gitlab_url);
        fprintf(f, " } }\n"
                   "        chain input {\n"
                   "                type filter hook input priority filter - 10; policy accept;\n"
                   "                iifname != \"nr%u\" return\n"
                   "                ct state established,related accept\n"
                   "                ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 accept\n"
                   "                drop\n"
                   "        }\n"
                   "        chain forward {\n"
                   "                type filter hook forward priority filter - 10; policy accept;\n"
                   "                oifname \"nr%u\" ct state established,related accept\n"
                   "                oifname \"nr%u\" drop\n"
                   "                iifname != \"nr%u\" return\n"
                   "                meta nfproto ipv6 drop\n"
                   "                ip saddr != %s drop\n"
                   "                ct state established,related accept\n"
                   "                ip daddr @gitlab accept\n"
                   "                ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 accept\n",
                slot, slot, slot, slot, job);
        for (size_t i = 0; i < s->n_allow; i++)
                fprint_allow(f, &s->allow[i]);
        fprintf(f, "                meta pkttype { broadcast, multicast } drop\n"
                   "                ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, "
                   "172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/3, %s",
                pool);
        fprint_host_subnets(f);
        fprintf(f, " } drop\n"
                   "        }\n"
                   "        chain postrouting {\n"
                   "                type nat hook postrouting priority srcnat; policy accept;\n"
                   "                ip saddr %s oifname != \"nr%u\" masquerade\n"
                   "        }\n"
                   "}\n",
                job, slot);
        return memstream_finish(&m);
}

static int forwarding_enable(void) {
        _cleanup_free_ char *v = NULL;
        int r;

        if (read_one_line_file("/proc/sys/net/ipv4/ip_forward", &v) >= 0 && streq(v, "1"))
                return 0;
        r = sysctl_net_enable("/proc/sys/net/ipv4/ip_forward");
        if (r < 0)
                return log_error_errno(r, "Cannot enable IPv4 forwarding (/proc/sys/net/ipv4/ip_forward): %m");
        log_info("Enabled IPv4 forwarding, which isolated jobs' NAT needs.");
        return 0;
}

static char *mode_file(const Context *c, const char *id) {
        _cleanup_free_ char *dir = context_machine_dir(c, id);
        return dir ? path_join(dir, "network") : NULL;
}

static int isolated_setup(const char *machine_dir, const NetworkSettings *s, unsigned *ret_slot) {
        _cleanup_free_ char *netns = NULL, *rules = NULL;
        unsigned n_slots = (1U << (32 - s->pool.prefix)) / 4, slot = 0;
        struct in_addr host, job;
        char msg[512];
        pid_t pid = 0;
        int r, k;

        r = slot_take(machine_dir, n_slots < SLOTS_MAX ? n_slots : SLOTS_MAX, &slot);
        if (r < 0)
                return r;
        *ret_slot = slot;
        r = mkdir_p(NETWORK_RUN_DIR "/netns", 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " NETWORK_RUN_DIR "/netns: %m");
        netns = slot_path("netns", slot);
        rules = ruleset(slot, s);
        if (!netns || !rules)
                return log_oom();
        slot_addresses(&s->pool, slot, &host, &job);
        /* The rules name the veth, they need not find it: they are loaded while a child makes the links. */
        r = netns_create_start(netns, slot, host, job, &pid);
        if (r < 0)
                return r;
        k = nft_apply(rules, msg);
        r = netns_create_wait(pid);
        if (r >= 0)
                r = host_side_configure(slot, host);
        if (r < 0) /* one error is enough */
                return r;
        if (k < 0)
                return log_error_errno(k, "Cannot load the machine's firewall: %s", msg);
        return forwarding_enable();
}

int network_setup(const Context *c, const char *id, const NetworkSettings *s) {
        _cleanup_free_ char *dir = context_machine_dir(c, id), *file = mode_file(c, id), *line = NULL;
        unsigned slot = 0;
        int r;

        if (!dir || !file)
                return log_oom();
        if (s->mode == NETWORK_ISOLATED) {
                r = isolated_setup(dir, s, &slot);
                if (r < 0)
                        return r;
        }
        line = strprintf("%s %u\n", network_mode_to_string(s->mode), slot);
        if (!line)
                return log_oom();
        r = write_file_atomic(file, line, 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", file);
        return 0;
}

int network_prepare(const Context *c, const char *id, const char *image) {
        NetworkSettings s;
        Config cfg;
        int r;

        config_load_dir(c->config_dir, &cfg);
        s = (NetworkSettings) {
                .mode = network_mode_for_image(c, cfg.network, image),
                .pool = cfg.network_pool,
                .gitlab_url = cfg.gitlab_url,
                .allow = cfg.network_allow,
                .n_allow = cfg.n_network_allow,
        };
        r = network_setup(c, id, &s);
        config_done(&cfg);
        return r;
}

int network_nspawn_args(const Context *c, const char *id, char *ret_args[static 2], size_t *ret_n) {
        _cleanup_free_ char *file = mode_file(c, id), *line = NULL;
        char word[16];
        NetworkMode mode;
        unsigned slot;

        *ret_n = 0;
        if (!file)
                return log_oom();
        /* A machine prepared before network modes existed had the host's network. */
        if (read_one_line_file(file, &line) < 0)
                return 0;
        if (sscanf(line, "%15s %u", word, &slot) != 2 || (mode = network_mode_from_string(word)) < 0)
                return log_error_errno(EBADMSG, "%s: bad content.", file);
        switch (mode) {
        case NETWORK_ISOLATED: {
                _cleanup_free_ char *netns = slot_path("netns", slot);
                _cleanup_close_ int fd = -EBADF;

                /* Not --network-namespace-path: systemd-nspawn joins that namespace from inside the
                 * machine's new user namespace, which has no rights on it (systemd 252: "Failed to
                 * join network namespace: Operation not permitted"). nspawn started in it keeps it. */
                if (!netns)
                        return log_oom();
                fd = open(netns, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
                        return log_error_errno(errno, "Cannot enter the machine's network namespace %s: %m", netns);
                ret_args[0] = strprintf("--resolv-conf=%s", streq(resolv_conf(), "/etc/resolv.conf") ? "copy-host" : "copy-uplink");
                if (!ret_args[0])
                        return log_oom();
                *ret_n = 1;
                return 0;
        }
        case NETWORK_NONE:
                ret_args[0] = strdup("--private-network");
                if (!ret_args[0])
                        return log_oom();
                *ret_n = 1;
                return 0;
        default:
                return 0;
        }
}

static int slot_teardown(unsigned slot) {
        _cleanup_free_ char *netns = slot_path("netns", slot), *link = slot_path("slots", slot), *rules = NULL;
        char ifname[IFNAMSIZ], msg[512] = "";
        int r, k;

        rules = strprintf(TABLE_DELETE, slot, slot);
        if (!netns || !link || !rules)
                return log_oom();
        /* The machine's processes are gone. The table first: deleting the veth then waits for RCU
         * grace periods (about 20 ms under load), which also release the table's transaction, so
         * that closing nftables' socket at exit costs nothing. The veth is deleted rather than left
         * to the namespace, which frees it only later, when its name may be the next machine's. */
        k = nft_apply(rules, msg); /* -ENOENT: without libnftables there never was a table */
        r = k < 0 && k != -ENOENT ? log_error_errno(k, "Cannot remove the machine's firewall: %s", msg) : 0;
        slot_ifname(slot, ifname);
        k = veth_delete(ifname);
        if (k < 0)
                r = k;
        if (umount2(netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                r = log_error_errno(errno, "Cannot unmount %s: %m", netns);
        if (unlink(netns) < 0 && errno != ENOENT)
                r = log_error_errno(errno, "Cannot remove %s: %m", netns);
        if (r >= 0 && unlink(link) < 0 && errno != ENOENT)
                r = log_error_errno(errno, "Cannot remove %s: %m", link);
        return r;
}

/* Calls f(slot, target) for every slot taken. */
static int slots_foreach(int (*f)(unsigned slot, const char *target, void *userdata), void *userdata) {
        _cleanup_closedir_ DIR *d = opendir(NETWORK_RUN_DIR "/slots");
        struct dirent *de;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                char target[PATH_MAX];
                uint64_t slot;
                ssize_t n;

                if (safe_atou64(de->d_name, &slot) < 0 || slot >= SLOTS_MAX)
                        continue;
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = 0;
                r = f((unsigned) slot, target, userdata);
                if (r != 0)
                        break;
        }
        return r;
}

static int teardown_if_ours(unsigned slot, const char *target, void *userdata) {
        return streq(target, userdata) ? (slot_teardown(slot) < 0 ? -EIO : 1) : 0;
}

int network_teardown(const Context *c, const char *id) {
        _cleanup_free_ char *dir = context_machine_dir(c, id);
        int r;

        if (!dir)
                return log_oom();
        r = slots_foreach(teardown_if_ours, dir);
        return r < 0 ? r : 0;
}

static int teardown_if_orphan(unsigned slot, const char *target, void *userdata) {
        (void) userdata;
        if (access(target, F_OK) < 0 && errno == ENOENT && slot_teardown(slot) >= 0)
                log_info("gc: removed the network left by %s.", target);
        return 0;
}

void network_gc(void) {
        (void) slots_foreach(teardown_if_orphan, NULL);
}
