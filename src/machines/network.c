/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "firewall.h"
#include "log.h"
#include "network.h"
#include "process.h"
#include "rtnl.h"
#include "time-util.h"
#include "util.h"

#define SLOTS_MAX 16384U
#define LOOPBACK_IFINDEX 1 /* the first link of every network namespace */
/* How long a prepare waits for the links of freed slots to go (the kernel frees a veth a few ms
 * after its namespace), when no slot is free otherwise: tries × interval. */
#define SLOT_LINK_TRIES 50
#define SLOT_LINK_WAIT_USEC (20 * USEC_PER_MSEC)

static char *slot_path(const char *what, unsigned slot) {
        return strprintf(NETWORK_RUN_DIR "/%s/%u", what, slot);
}

static void slot_ifname(unsigned slot, char ret[static IFNAMSIZ]) {
        snprintf(ret, IFNAMSIZ, NETWORK_LINK_PREFIX "%u", slot);
}

/* Between prepares, which take slots and see to the firewall under LOCK_SH, and gc, which removes
 * the firewall when no slot is taken under LOCK_EX: gc cannot remove it under a starting job. */
static int network_lock(int operation, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = mkdir_p(NETWORK_RUN_DIR, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " NETWORK_RUN_DIR ": %m");
        fd = open(NETWORK_RUN_DIR "/lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open " NETWORK_RUN_DIR "/lock: %m");
        while (flock(fd, operation) < 0)
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot lock " NETWORK_RUN_DIR "/lock: %m");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

typedef enum SlotTry {
        SLOT_TAKEN_NOW,
        SLOT_BUSY,
        SLOT_LINK_LEFT, /* free, but a link of its name is still there */
        _SLOT_TRY_MAX,
        _SLOT_TRY_INVALID = -EINVAL,
} SlotTry;

/* symlink() either makes the slot ours or finds it taken. A slot whose link nr<n> is still there
 * (its last machine's veth, which the kernel frees a few ms after the namespace, or a link of
 * somebody else's) is given back: its address and route are still that link's. */
static int slot_try(const char *machine_dir, unsigned slot) {
        _cleanup_free_ char *p = slot_path("slots", slot);
        char ifname[IFNAMSIZ];

        if (!p)
                return log_oom();
        if (symlink(machine_dir, p) < 0) {
                if (errno != EEXIST)
                        return log_error_errno(errno, "Cannot create %s: %m", p);
                return SLOT_BUSY;
        }
        slot_ifname(slot, ifname);
        if (if_nametoindex(ifname) == 0)
                return SLOT_TAKEN_NOW;
        if (unlink(p) < 0)
                return log_error_errno(errno, "Cannot remove %s: %m", p);
        return SLOT_LINK_LEFT;
}

/* Takes a free slot of the pool for machine_dir. */
static int slot_take(const char *machine_dir, unsigned n_slots, unsigned *ret) {
        unsigned start = 0, left = 0, left_slot = 0;
        char ifname[IFNAMSIZ];
        int r;

        r = mkdir_p(NETWORK_RUN_DIR "/slots", 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " NETWORK_RUN_DIR "/slots: %m");
        /* Spread the starting point, so that concurrent prepares seldom race for one slot. */
        for (const char *p = machine_dir; *p; p++)
                start = start * 31 + (unsigned char) *p;
        for (unsigned try = 0; try < SLOT_LINK_TRIES; try++) {
                left = 0;
                for (unsigned i = 0; i < n_slots; i++) {
                        unsigned slot = (start + i) % n_slots;
                        r = slot_try(machine_dir, slot);
                        if (r < 0)
                                return r;
                        if (r == SLOT_TAKEN_NOW) {
                                *ret = slot;
                                return 0;
                        }
                        if (r == SLOT_LINK_LEFT && left++ == 0)
                                left_slot = slot;
                }
                if (left == 0)
                        break;
                (void) usleep(SLOT_LINK_WAIT_USEC);
        }
        if (left > 0) {
                slot_ifname(left_slot, ifname);
                return log_error_errno(EBUSY,
                                       "No network slot of the pool is free: %u taken, %u still held by a link of "
                                       "its name (%s%s) (see network_pool).",
                                       n_slots - left, left, ifname, left > 1 ? ", …" : "");
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

/* In the child: makes the namespace, keeps it by a bind mount at path, configures it; dies with the
 * prepare that started it (killed with -9), rather than make links after its cleanup. */
static int netns_child(const char *path, pid_t parent, unsigned slot, struct in_addr host, struct in_addr job,
                       int host_netns_fd) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return log_error_errno(errno, "Cannot set the parent-death signal: %m");
        if (getppid() != parent)
                return -ESRCH; /* nobody to tell */
        if (unshare(CLONE_NEWNET) < 0)
                return log_error_errno(errno, "Cannot create a network namespace (needs CAP_SYS_ADMIN): %m");
        if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
                return log_error_errno(errno, "Cannot bind-mount the machine's network namespace at %s: %m", path);
        return job_side_configure(slot, host, job, host_netns_fd);
}

/* Starts a child (no exec) that makes a new network namespace, kept alive by a bind mount at path
 * (in our mount namespace), and configures the machine's side of its veth in it. */
static int netns_create_start(const char *path, unsigned slot, struct in_addr host, struct in_addr job,
                              int *ret_pidfd) {
        _cleanup_close_ int host_netns_fd = -EBADF;
        pid_t parent = getpid(), pid;
        int fd, r;

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", path);
        close(fd);
        host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (host_netns_fd < 0)
                return log_error_errno(errno, "Cannot open /proc/self/ns/net: %m");
        r = fork_pidfd(&pid, ret_pidfd);
        if (r < 0)
                return log_error_errno(r, "Cannot fork: %m");
        if (r == 0) {
                r = netns_child(path, parent, slot, host, job, host_netns_fd);
                _exit(r < 0 ? -r : 0); /* an errno: the child logged why */
        }
        return 0;
}

static int netns_create_wait(int pidfd) {
        siginfo_t si = {};

        while (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot wait for a child: %m");
        if (si.si_code == CLD_EXITED) /* the child logged why */
                return -si.si_status;
        return log_error_errno(EIO, "The child making the machine's network namespace died of signal %d.",
                               si.si_status);
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
        _cleanup_close_ int lock_fd = -EBADF;
        _cleanup_free_ char *netns = NULL;
        unsigned n_slots = (1U << (32 - s->pool.prefix)) / 4, slot = 0;
        struct in_addr host, job;
        _cleanup_close_ int pidfd = -EBADF;
        int r, k;

        r = network_lock(LOCK_SH, &lock_fd);
        if (r < 0)
                return r;
        r = slot_take(machine_dir, n_slots < SLOTS_MAX ? n_slots : SLOTS_MAX, &slot);
        if (r < 0)
                return r;
        *ret_slot = slot;
        r = mkdir_p(NETWORK_RUN_DIR "/netns", 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create " NETWORK_RUN_DIR "/netns: %m");
        netns = slot_path("netns", slot);
        if (!netns)
                return log_oom();
        slot_addresses(&s->pool, slot, &host, &job);
        /* The rules match the veth by name, they need not find it: seen to while a child makes the links. */
        r = netns_create_start(netns, slot, host, job, &pidfd);
        if (r < 0)
                return r;
        k = firewall_ensure(s);
        r = netns_create_wait(pidfd);
        if (r >= 0)
                r = host_side_configure(slot, host);
        if (r < 0)
                return r;
        if (k < 0)
                return k;
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

int network_prepare(const Context *c, const char *id, const Config *cfg, NetworkMode mode) {
        NetworkSettings s = {
                .mode = mode,
                .pool = cfg->network_pool,
                .gitlab_url = cfg->gitlab_url,
                .allow = cfg->network_allow,
                .n_allow = cfg->n_network_allow,
        };

        return network_setup(c, id, &s);
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
                ret_args[0] = strprintf("--resolv-conf=%s", streq(firewall_resolv_conf(), "/etc/resolv.conf") ? "copy-host" : "copy-uplink");
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

/* The machine's processes are gone. The veth goes with the namespace, freed by the kernel in the
 * background a few ms later (deleting it here would wait for that: 12 to 20 ms of RCU grace
 * periods); until then slot_try() does not hand out the slot. */
static int slot_teardown(unsigned slot) {
        _cleanup_free_ char *netns = slot_path("netns", slot), *link = slot_path("slots", slot);
        int r = 0;

        if (!netns || !link)
                return log_oom();
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

static int slot_found(unsigned slot, const char *target, void *userdata) {
        (void) slot, (void) target, (void) userdata;
        return 1;
}

/* Removes the firewall while no slot is taken, under network_lock: no prepare is between taking a
 * slot and seeing to the firewall. */
static void firewall_remove_idle(void) {
        _cleanup_close_ int lock_fd = -EBADF;

        if (access(NETWORK_RUN_DIR, F_OK) < 0 || network_lock(LOCK_EX, &lock_fd) < 0 || slots_foreach(slot_found, NULL) != 0)
                return;
        firewall_remove();
}

void network_gc(bool remove_idle_firewall) {
        (void) slots_foreach(teardown_if_orphan, NULL);
        if (remove_idle_firewall)
                firewall_remove_idle();
}
