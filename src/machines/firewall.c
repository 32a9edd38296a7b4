/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firewall.h"
#include "log.h"
#include "nftables.h"
#include "util.h"

#define RESOLVERS_MAX 8
#define GITLAB_ADDRESSES_MAX 8
/* What an nft address set holds when it has nothing: an empty set is not valid syntax, so one
 * address nothing routes to. */
#define SET_NOTHING "127.255.255.255"
/* Deletes a table, made first so that the delete cannot fail for want of it. */
#define TABLE_DELETE "table inet %s\ndelete table inet %s\n"

static void cidr_format(const NetworkCidr *c, char buf[static 64]) {
        char a[INET6_ADDRSTRLEN];

        inet_ntop(c->family, c->addr, a, sizeof(a));
        snprintf(buf, 64, "%s/%u", a, c->prefix);
}

const char *firewall_resolv_conf(void) {
        return access("/run/systemd/resolve/resolv.conf", F_OK) >= 0 ? "/run/systemd/resolve/resolv.conf"
                                                                     : "/etc/resolv.conf";
}

static void fprint_resolvers(FILE *f) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        unsigned n = 0;

        if (read_full_file(firewall_resolv_conf(), 64 * 1024, &text, NULL) < 0)
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

static int compare_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return (x > y) - (x < y);
}

/* The GitLab server's addresses, resolved now: a job may reach them wherever they are. Sorted, so
 * that the firewall's text does not change with the order of the DNS answer. */
static void fprint_gitlab(FILE *f, const char *url) {
        struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
        uint32_t addrs[GITLAB_ADDRESSES_MAX];
        char host[256];
        const char *p;
        size_t n = 0;

        if (!url || !(p = strstr(url, "://")))
                goto none;
        p += 3;
        snprintf(host, sizeof(host), "%.*s", (int) strcspn(p, ":/"), p);
        if (getaddrinfo(host, NULL, &hints, &res) != 0) {
                log_warning("Cannot resolve the GitLab server %s: isolated jobs reach it only if it is on the internet.", host);
                goto none;
        }
        for (struct addrinfo *a = res; a && n < GITLAB_ADDRESSES_MAX; a = a->ai_next)
                addrs[n++] = ntohl(((struct sockaddr_in *) a->ai_addr)->sin_addr.s_addr);
        freeaddrinfo(res);
        qsort(addrs, n, sizeof(addrs[0]), compare_u32);
        for (size_t i = 0; i < n; i++) {
                struct in_addr a = { .s_addr = htonl(addrs[i]) };
                char addr[INET_ADDRSTRLEN];

                if (i > 0 && addrs[i] == addrs[i - 1])
                        continue;
                inet_ntop(AF_INET, &a, addr, sizeof(addr));
                fprintf(f, "%s%s", i ? ", " : "", addr);
        }
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

                if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask ||
                    startswith(i->ifa_name, NETWORK_LINK_PREFIX))
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

/* The body of the table of every isolated machine of the pool, matched by its host end's name
 * nr<slot>: a job's packets may go out through NAT to the internet, to the GitLab server, to the
 * allowed prefixes and to the resolvers' port 53; nothing else private, nothing of the host's,
 * nothing of another job's, and nobody opens a connection to it. Its text depends on the
 * configuration, the resolvers, the GitLab server's addresses and the host's subnets only, never on
 * a slot. Another pool's table (another configuration's) decides for that pool's machines: a source
 * routed back through its link is in exactly one pool. */
static char *firewall_rules(const NetworkSettings *s) {
        char pool[64];
        MemStream m;
        FILE *f = memstream_open(&m);

        if (!f)
                return NULL;
        cidr_format(&s->pool, pool);
        fputs("        set resolvers { type ipv4_addr; elements = { ", f);
        fprint_resolvers(f);
        fputs(" } }\n"
              "        set gitlab { type ipv4_addr; elements = { ", f);
        fprint_gitlab(f, s->gitlab_url);
        /* A machine's own address only: routed back through the link the packet came in by, and a
         * .2 (.1 is the host's end). */
        fprintf(f, " } }\n"
                   "        chain input {\n"
                   "                type filter hook input priority filter - 10; policy accept;\n"
                   "                iifname != \"" NETWORK_LINK_PREFIX "*\" return\n"
                   "                fib saddr . iif oif missing drop\n"
                   "                ip saddr != %s return\n"
                   "                ct state established,related accept\n"
                   "                ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 accept\n"
                   "                drop\n"
                   "        }\n"
                   "        chain forward {\n"
                   "                type filter hook forward priority filter - 10; policy accept;\n"
                   "                oifname \"" NETWORK_LINK_PREFIX "*\" ct state established,related accept\n"
                   "                oifname \"" NETWORK_LINK_PREFIX "*\" drop\n"
                   "                iifname != \"" NETWORK_LINK_PREFIX "*\" return\n"
                   "                meta nfproto ipv6 drop\n"
                   "                fib saddr . iif oif missing drop\n"
                   "                ip saddr != %s return\n"
                   "                ip saddr & 0.0.0.3 != 0.0.0.2 drop\n"
                   "                ct state established,related accept\n"
                   "                ip daddr @gitlab accept\n"
                   "                ip daddr @resolvers meta l4proto { tcp, udp } th dport 53 accept\n",
                pool, pool);
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
                   "                ip saddr %s oifname != \"" NETWORK_LINK_PREFIX "*\" masquerade\n"
                   "        }\n",
                pool);
        return memstream_finish(&m);
}

/* 64-bit FNV-1a: names the firewall by its text. */
static uint64_t text_hash(const char *t) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *t; t++)
                h = (h ^ (unsigned char) *t) * UINT64_C(0x100000001b3);
        return h;
}

unsigned firewall_listing_scan(const char *listing, const char *prefix, const char *keep, FILE *script,
                               bool *ret_found) {
        unsigned n_deleted = 0;

        *ret_found = false;
        for (const char *l = listing; l && *l; l += strcspn(l, "\n"), l += *l == '\n') {
                const char *name = startswith(l, "table inet ");
                char table[64];
                size_t n;

                if (!name || !startswith(name, FIREWALL_PREFIX) || !startswith(name, prefix))
                        continue;
                n = strcspn(name, "\n");
                /* Only names of the characters ours have: they are written into a script. */
                if (n >= sizeof(table) || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
                        continue;
                snprintf(table, sizeof(table), "%.*s", (int) n, name);
                if (keep && streq(table, keep)) {
                        *ret_found = true;
                        continue;
                }
                fprintf(script, TABLE_DELETE, table, table);
                n_deleted++;
        }
        return n_deleted;
}

int firewall_ensure(const NetworkSettings *s) {
        _cleanup_free_ char *rules = firewall_rules(s), *script = NULL;
        char prefix[48], name[64], msg[512];
        const char *tables = NULL;
        MemStream m;
        FILE *f;
        bool found;
        int r;

        if (!rules)
                return log_oom();
        /* The pool's tables: nspawn_runner_<its address in hex>_<its length>_. */
        snprintf(prefix, sizeof(prefix), FIREWALL_PREFIX "%02x%02x%02x%02x_%u_", s->pool.addr[0], s->pool.addr[1],
                 s->pool.addr[2], s->pool.addr[3], s->pool.prefix);
        snprintf(name, sizeof(name), "%s%016" PRIx64, prefix, text_hash(rules));
        r = nftables_run("list tables inet", &tables, msg);
        if (r < 0)
                return log_error_errno(r, "Cannot list the nft tables: %s", msg);
        f = memstream_open(&m);
        if (!f)
                return log_oom();
        if (firewall_listing_scan(tables, prefix, name, f, &found) == 0 && found) {
                free(memstream_finish(&m));
                return 0;
        }
        fprintf(f, TABLE_DELETE "table inet %s {\n%s}\n", name, name, name, rules);
        script = memstream_finish(&m);
        if (!script)
                return log_oom();
        r = nftables_run(script, NULL, msg);
        if (r < 0)
                return log_error_errno(r, "Cannot load the isolated machines' firewall: %s", msg);
        return 0;
}

void firewall_remove(void) {
        _cleanup_free_ char *script = NULL;
        const char *tables = NULL;
        char msg[512];
        MemStream m;
        FILE *f;
        bool found;
        unsigned n;
        int r;

        r = nftables_run("list tables inet", &tables, msg);
        if (r < 0) {
                if (r != -ENOENT) /* without libnftables there never was a firewall */
                        log_warning("gc: cannot list the nft tables: %s", msg);
                return;
        }
        f = memstream_open(&m);
        if (!f)
                return (void) log_oom();
        n = firewall_listing_scan(tables, FIREWALL_PREFIX, NULL, f, &found);
        script = memstream_finish(&m);
        if (!script || n == 0)
                return;
        r = nftables_run(script, NULL, msg);
        if (r < 0)
                log_warning("gc: cannot remove the isolated machines' firewall: %s", msg);
        else
                log_info("gc: removed the isolated machines' firewall (no isolated machine is left).");
}
