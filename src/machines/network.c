/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "generation.h"
#include "log.h"
#include "network.h"
#include "playbook.h"
#include "util.h"

#define SLOTS_MAX 16384U
#define RESOLVERS_MAX 8

static const char *const mode_names[_NETWORK_MODE_MAX] = {
        [NETWORK_ISOLATED] = "isolated",
        [NETWORK_HOST] = "host",
        [NETWORK_NONE] = "none",
};

const char *network_mode_to_string(NetworkMode m) {
        return m >= 0 && m < _NETWORK_MODE_MAX ? mode_names[m] : NULL;
}

NetworkMode network_mode_from_string(const char *s) {
        for (NetworkMode m = 0; m < _NETWORK_MODE_MAX; m++)
                if (streq(s, mode_names[m]))
                        return m;
        return _NETWORK_MODE_INVALID;
}

static void cidr_mask(NetworkCidr *c) {
        unsigned bytes = c->family == AF_INET ? 4 : 16;

        for (unsigned i = 0; i < bytes; i++) {
                unsigned keep = c->prefix > i * 8 ? c->prefix - i * 8 : 0;
                c->addr[i] &= keep >= 8 ? 0xff : (uint8_t) (0xff00 >> keep);
        }
}

static int parse_port(const char *s, uint16_t *ret) {
        uint64_t u;

        if (safe_atou64(s, &u) < 0 || u == 0 || u > 65535)
                return -EINVAL;
        *ret = (uint16_t) u;
        return 0;
}

int network_cidr_parse(const char *s, NetworkCidr *ret) {
        char buf[64];
        char *slash, *port = NULL;
        const char *addr = buf;
        NetworkCidr c = {};

        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        if (buf[0] == '[') {
                char *close = strchr(buf, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                *close = 0;
                port = close + 2;
                addr = buf + 1;
        } else if (!strchr(buf, ':') || strchr(buf, '.')) {
                /* IPv4: a colon can only start the port. */
                port = strchr(buf, ':');
                if (port)
                        *port++ = 0;
        }
        if (port && parse_port(port, &c.port) < 0)
                return -EINVAL;
        slash = strchr(addr, '/');
        if (slash)
                *slash++ = 0;
        if (inet_pton(AF_INET, addr, c.addr) == 1)
                c.family = AF_INET;
        else if (inet_pton(AF_INET6, addr, c.addr) == 1)
                c.family = AF_INET6;
        else
                return -EINVAL;
        c.prefix = c.family == AF_INET ? 32 : 128;
        if (slash) {
                uint64_t u;
                if (safe_atou64(slash, &u) < 0 || u > c.prefix)
                        return -EINVAL;
                c.prefix = (unsigned) u;
        }
        cidr_mask(&c);
        *ret = c;
        return 0;
}

int network_pool_parse(const char *s, NetworkCidr *ret) {
        NetworkCidr c;

        if (network_cidr_parse(s, &c) < 0 || c.family != AF_INET || c.port || c.prefix < 8 || c.prefix > 30)
                return -EINVAL;
        *ret = c;
        return 0;
}

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

/* A tool (ip or nft) running with a script on its stdin; its stderr is read when it ends. */
typedef struct Tool {
        const char *name;
        pid_t pid;
        int err_fd;
} Tool;

/* Starts tool with script on its stdin, in the network namespace netns_fd (-1: ours). */
static int tool_start(const char *tool, const char *script, int netns_fd, Tool *ret) {
        const char *argv[] = { tool, streq(tool, "nft") ? "-f" : "-batch", "-", NULL };
        int in[2], err[2];
        pid_t pid;

        if (pipe2(in, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(err, O_CLOEXEC) < 0) {
                int r = -errno;
                close(in[0]), close(in[1]);
                return r;
        }
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(in[0]), close(in[1]), close(err[0]), close(err[1]);
                return r;
        }
        if (pid == 0) {
                if ((netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) || dup2(in[0], 0) < 0 || dup2(err[1], 1) < 0 ||
                    dup2(err[1], 2) < 0)
                        _exit(126);
                execvp(argv[0], (char *const *) argv);
                dprintf(2, "cannot execute %s: %s (is %s installed?)\n", argv[0], strerror(errno),
                        streq(argv[0], "nft") ? "nftables" : "iproute2");
                _exit(127);
        }
        close(in[0]);
        close(err[1]);
        /* The tools read all of their script before they act; a short write shows in their exit status. */
        (void) loop_write(in[1], script, strlen(script));
        close(in[1]);
        *ret = (Tool) { .name = tool, .pid = pid, .err_fd = err[0] };
        return 0;
}

/* Waits for the tool; on failure returns -EIO (-ENOENT: it is not installed) with its first line of
 * complaint in ret_msg. */
static int tool_finish(Tool *t, char ret_msg[static 512]) {
        ssize_t n = read(t->err_fd, ret_msg, 511);
        int status;

        close(t->err_fd);
        ret_msg[n > 0 ? n : 0] = 0;
        ret_msg[strcspn(ret_msg, "\n")] = 0;
        while (waitpid(t->pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (!ret_msg[0])
                        snprintf(ret_msg, 512, "%s failed without a message", t->name);
                return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EIO;
        }
        return 0;
}

/* tool_finish() that logs "what: message" on failure. */
static int tool_finish_logged(Tool *t, const char *what) {
        char msg[512];
        int r = tool_finish(t, msg);

        if (r == -EIO || r == -ENOENT)
                return log_error_errno(r, "%s: %s", what, msg);
        if (r < 0)
                return log_error_errno(r, "%s: cannot wait for %s: %m", what, t->name);
        return 0;
}

static int run_logged(const char *what, const char *tool, const char *script, int netns_fd) {
        Tool t;
        int r = tool_start(tool, script, netns_fd, &t);

        if (r < 0)
                return log_error_errno(r, "%s: cannot run %s: %m", what, tool);
        return tool_finish_logged(&t, what);
}

static int run_ip(const char *what, const char *script, int netns_fd) {
        return run_logged(what, "ip", script, netns_fd);
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

/* A new network namespace, kept alive by a bind mount at path (in our mount namespace). */
static int netns_create(const char *path) {
        int fd, status;
        pid_t pid;

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", path);
        close(fd);
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Cannot fork: %m");
        if (pid == 0) {
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
                        _exit(2);
                _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot wait for a child: %m");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(EPERM, "Cannot %s a network namespace at %s (needs CAP_SYS_ADMIN).",
                                       WIFEXITED(status) && WEXITSTATUS(status) == 2 ? "bind-mount" : "create", path);
        return 0;
}

/* The link of slot n: .1 on the host's end, .2 in the machine, a /30 each. */
static void slot_addresses(const NetworkCidr *pool, unsigned slot, char host[static 16], char job[static 16]) {
        uint32_t base = ((uint32_t) pool->addr[0] << 24 | (uint32_t) pool->addr[1] << 16 | (uint32_t) pool->addr[2] << 8 |
                         pool->addr[3]) + slot * 4;

        snprintf(host, 16, "%u.%u.%u.%u", base >> 24, (base >> 16) & 255, (base >> 8) & 255, (base & 255) + 1);
        snprintf(job, 16, "%u.%u.%u.%u", base >> 24, (base >> 16) & 255, (base >> 8) & 255, (base & 255) + 2);
}

static int links_create(unsigned slot, const NetworkCidr *pool, const char *netns) {
        _cleanup_free_ char *host_script = NULL, *job_script = NULL;
        char host[16], job[16];
        _cleanup_close_ int fd = -EBADF;
        int r;

        slot_addresses(pool, slot, host, job);
        host_script = strprintf("link add nr%u type veth peer name host0 netns %s\n"
                                "addr add %s/30 dev nr%u\n"
                                "link set nr%u up\n",
                                slot, netns, host, slot, slot);
        job_script = strprintf("link set lo up\n"
                               "addr add %s/30 dev host0\n"
                               "link set host0 up\n"
                               "route add default via %s dev host0 onlink\n",
                               job, host);
        if (!host_script || !job_script)
                return log_oom();
        r = run_ip("Cannot create the machine's veth", host_script, -1);
        if (r < 0)
                return r;
        fd = open(netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", netns);
        return run_ip("Cannot configure the machine's network", job_script, fd);
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
                fprintf(f, "127.255.255.255"); /* an empty set is not valid syntax: one nothing routes to */
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
                fprintf(f, "127.255.255.255");
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
                cidr_mask(&c);
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
        char job[16], host[16], pool[64];
        MemStream m;
        FILE *f = memstream_open(&m);

        if (!f)
                return NULL;
        slot_addresses(&s->pool, slot, host, job);
        cidr_format(&s->pool, pool);
        fprintf(f, "table inet nspawn_runner_%u\n"
                   "delete table inet nspawn_runner_%u\n"
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
        _cleanup_close_ int fd = -EBADF;

        if (read_one_line_file("/proc/sys/net/ipv4/ip_forward", &v) >= 0 && streq(v, "1"))
                return 0;
        fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "1\n", 2) != 2)
                return log_error_errno(errno, "Cannot enable IPv4 forwarding (/proc/sys/net/ipv4/ip_forward): %m");
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
        Tool nft;
        int r;

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
        /* The rules name the veth, they need not find it: nft loads them while ip makes the links. */
        r = tool_start("nft", rules, -1, &nft);
        if (r < 0)
                return log_error_errno(r, "Cannot run nft: %m");
        r = netns_create(netns);
        if (r >= 0)
                r = links_create(slot, &s->pool, netns);
        if (r < 0) {
                char msg[512];
                (void) tool_finish(&nft, msg); /* one error is enough */
                return r;
        }
        r = tool_finish_logged(&nft, "Cannot load the machine's firewall");
        if (r >= 0)
                r = forwarding_enable();
        return r;
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
        char mode[16];
        unsigned slot;

        *ret_n = 0;
        if (!file)
                return log_oom();
        /* A machine prepared before network modes existed had the host's network. */
        if (read_one_line_file(file, &line) < 0)
                return 0;
        if (sscanf(line, "%15s %u", mode, &slot) != 2 || network_mode_from_string(mode) < 0)
                return log_error_errno(EBADMSG, "%s: bad content.", file);
        switch (network_mode_from_string(mode)) {
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
        Tool nft;
        int r = 0, k;

        rules = strprintf("table inet nspawn_runner_%u\ndelete table inet nspawn_runner_%u\n", slot, slot);
        if (!netns || !link || !rules)
                return log_oom();
        /* Without nft there never was a table to remove. */
        k = tool_start("nft", rules, -1, &nft);
        if (k >= 0)
                k = tool_finish(&nft, msg);
        if (k < 0 && k != -ENOENT)
                r = log_error_errno(k, "Cannot remove the machine's firewall: %s", msg[0] ? msg : "cannot run nft");
        if (umount2(netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                r = log_error_errno(errno, "Cannot unmount %s: %m", netns);
        if (unlink(netns) < 0 && errno != ENOENT)
                r = log_error_errno(errno, "Cannot remove %s: %m", netns);
        /* The veth goes with the namespace, but only once the kernel gets round to freeing it. */
        snprintf(ifname, sizeof(ifname), "nr%u", slot);
        if (if_nametoindex(ifname) > 0) {
                _cleanup_free_ char *script = strprintf("link del %s\n", ifname);
                Tool ip;
                if (!script)
                        return log_oom();
                /* It may vanish in between: only one that stays is a failure. */
                if ((tool_start("ip", script, -1, &ip) < 0 || tool_finish(&ip, msg) < 0) && if_nametoindex(ifname) > 0)
                        r = log_error_errno(EIO, "Cannot remove the machine's veth %s: %s", ifname, msg);
        }
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
