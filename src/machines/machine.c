/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "argv.h"
#include "cache.h"
#include "cgroup.h"
#include "config.h"
#include "control-dir.h"
#include "disk-limit.h"
#include "image.h"
#include "log.h"
#include "machine-state.h"
#include "machine.h"
#include "network.h"
#include "playbook.h"
#include "process.h"
#include "proto.h"
#include "rm-rf.h"
#include "seccomp-filter.h"
#include "storage-btrfs.h"
#include "unit.h"
#include "userns.h"
#include "util.h"

#ifndef NSPAWN_RUNNER_LIBEXECDIR
#define NSPAWN_RUNNER_LIBEXECDIR "/usr/libexec/nspawn-runner"
#endif

/* How long a machine's init may take to answer HELLO; how often a starting machine is looked at; how
 * long a killed machine's processes may take to exit. */
#define HELLO_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define START_POLL_USEC (2 * USEC_PER_MSEC)
#define EXIT_WAIT_USEC (5 * USEC_PER_SEC)

static int connect_control(const char *id, int *ret_fd) {
        _cleanup_free_ char *path = control_dir_socket_path(id);
        _cleanup_close_ int fd = -EBADF;
        uid_t peer;
        int r;

        if (!path)
                return -ENOMEM;
        r = seqpacket_connect(path, &peer, &fd);
        if (r < 0)
                return r;
        /* The init is root of its machine: the host's root, or the base of a machine's id range. */
        if (peer != 0 && !userns_base_valid(peer))
                return -EPERM;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int machine_connect(const Context *c, const char *id, int *ret_fd) {
        _cleanup_free_ char *dir = context_machine_dir(c, id);
        int r;

        if (!dir)
                return -ENOMEM;
        if (access(dir, F_OK) < 0)
                return -errno;
        r = connect_control(id, ret_fd);
        return r == -ENOENT ? -ECONNREFUSED : r;
}

/* Asks the init for a sign of life and learns its PID as the host sees it. */
static int hello(int fd, ProcessId *ret_init) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct ucred cred;
        int fds[_RUN_FD_MAX];
        size_t n_fds;
        Msg m;
        int r;

        msg_init(&m, MSG_HELLO);
        r = msg_send(fd, &m, NULL, 0);
        if (r < 0)
                return r;
        r = poll(&p, 1, usec_to_poll_timeout(HELLO_TIMEOUT_USEC));
        if (r <= 0)
                return r < 0 ? -errno : -ETIMEDOUT;
        r = msg_recv(fd, &m, fds, &n_fds);
        if (r < 0)
                return r;
        if (r != MSG_HELLO_REPLY || m.hello_reply.protocol != PROTO_VERSION)
                return -EPROTO;
        r = socket_peer(fd, &cred);
        if (r < 0)
                return r;
        return process_id_from_pid(cred.pid, ret_init);
}

static int find_init_binary(char **ret) {
        _cleanup_free_ char *path = NULL;

        if (sibling_binary_path("nspawn-runner-init", &path) >= 0 && access(path, X_OK) >= 0) {
                *ret = TAKE_PTR(path);
                return 0;
        }
        if (access(NSPAWN_RUNNER_LIBEXECDIR "/nspawn-runner-init", X_OK) < 0)
                return log_error_errno(errno, "Cannot find nspawn-runner-init next to this program or in %s: %m",
                                       NSPAWN_RUNNER_LIBEXECDIR);
        *ret = strdup(NSPAWN_RUNNER_LIBEXECDIR "/nspawn-runner-init");
        return *ret ? 0 : -ENOMEM;
}

/* overlayfs splits its options at ',' and ':': refuse paths it would misread. */
static int check_overlay_path(const char *p) {
        if (strpbrk(p, ",:\\"))
                return log_error_errno(EINVAL, "Path %s contains ',', ':' or '\\', which overlayfs cannot take.", p);
        return 0;
}

static int mount_overlay(const char *lower, const char *upper, const char *work, const char *target) {
        _cleanup_free_ char *opts = NULL;
        int r;

        if ((r = check_overlay_path(lower)) < 0 || (r = check_overlay_path(upper)) < 0 || (r = check_overlay_path(work)) < 0)
                return r;
        opts = strprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
        if (!opts)
                return log_oom();
        if (mount("overlay", target, "overlay", 0, opts) < 0)
                return log_error_errno(errno, "Cannot mount overlayfs on %s: %m", target);
        return 0;
}

/* The image is the overlay's lower layer through a mount that shifts its ids into the machine's
 * range, so no file of it is ever chowned: what is root's on disk is the machine's root's inside. */
int machine_root_mount(const MachineState *s, const char *dir, uint64_t disk_max) {
        _cleanup_free_ char *root = path_join(dir, "root"), *base = NULL, *upper = NULL, *work = NULL,
                            *lower = path_join(dir, "lower"), *tmpfs_opts = NULL;
        _cleanup_close_ int userns_fd = -EBADF;
        int r;

        if (!root || !lower)
                return log_oom();
        /* systemd-nspawn maps a snapshot itself (--private-users-ownership=map), after it made its
         * mount points in it as the host's root. */
        if (s->backend == STORAGE_BTRFS)
                return 0;

        r = mount_namespace_private();
        if (r < 0)
                return log_error_errno(r, "Cannot create a mount namespace: %m");
        r = userns_open(s->uid_base, &userns_fd);
        if (r < 0)
                return r;

        base = path_join(dir, s->backend == STORAGE_TMPFS ? "volatile" : ".");
        /* Without a size the kernel's default is half the RAM; the memory limit counts the files anyway. */
        tmpfs_opts = disk_max > 0 ? strprintf("mode=0700,size=%" PRIu64, disk_max) : strdup("mode=0700");
        if (!base || !tmpfs_opts)
                return log_oom();
        if (s->backend == STORAGE_TMPFS && mount("tmpfs", base, "tmpfs", MS_NODEV | MS_NOSUID, tmpfs_opts) < 0)
                return log_error_errno(errno, "Cannot mount tmpfs on %s: %m", base);
        upper = path_join(base, "upper");
        work = path_join(base, "work");
        if (!upper || !work)
                return log_oom();
        if (s->backend == STORAGE_TMPFS && ((mkdir(upper, 0755) < 0) || mkdir(work, 0700) < 0))
                return log_error_errno(errno, "Cannot create overlay directories in %s: %m", base);
        /* The top of the upper layer is the machine's /: its root's. */
        if (chown(upper, s->uid_base, s->uid_base) < 0)
                return log_error_errno(errno, "Cannot chown %s: %m", upper);
        if (mkdir(lower, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", lower);
        r = userns_mount_idmapped(s->image_path, lower, userns_fd);
        if (r < 0)
                return r;
        return mount_overlay(lower, upper, work, root);
}

int machine_exec(const Context *c, const char *id) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *state = NULL, *root = NULL, *name = NULL,
                            *init = NULL, *cache = NULL, *runner = NULL, *control_dir = control_dir_path(id);
        _cleanup_(argv_done) Argv argv = ARGV_INIT;
        const char *arch = NULL, *personality;
        _cleanup_(network_nspawn_args_free) char *net_args[2] = {};
        JobLimits limits;
        size_t n_net = 0;
        int r;

        if (!dir || !(state = path_join(dir, "state")) || !(root = path_join(dir, "root")))
                return log_oom();
        r = machine_state_load(state, &s);
        if (r < 0)
                return r;
        if (!s.image_path || s.backend < 0 || s.uid_base == 0)
                return log_error_errno(EBADMSG, "Machine state %s is incomplete.", state);
        r = find_init_binary(&init);
        if (r < 0)
                return r;
        r = playbook_job_limits(c, s.image, &limits);
        if (r < 0)
                return r;
        r = machine_root_mount(&s, dir, limits.value[JOB_LIMIT_DISK]);
        if (r < 0)
                return r;

        name = strprintf(MACHINE_NAME_PREFIX "%s", id);
        cache = context_cache_dir(c);
        if (!name || !cache || !control_dir)
                return log_oom();

        argv_add(&argv, "systemd-nspawn");
        argv_add(&argv, "--quiet");
        argv_add(&argv, "--keep-unit");
        argv_add(&argv, s.unit ? "--register=yes" : "--register=no");
        argv_addf(&argv, "--directory=%s", root);
        argv_addf(&argv, "--machine=%s", name);
        argv_add(&argv, "--console=pipe");
        argv_add(&argv, "--link-journal=no");
        argv_addf(&argv, "--private-users=%u:%u", (unsigned) s.uid_base, USERNS_RANGE_SIZE);
        /* On overlayfs our own mount of the image shifts the ids (setup_root()). */
        argv_add(&argv, s.backend == STORAGE_BTRFS ? "--private-users-ownership=map" : "--private-users-ownership=off");
        argv_addf(&argv, "--bind=%s:" PROTO_CONTROL_DIR_INNER, control_dir);
        argv_addf(&argv, "--bind-ro=%s:/run/nspawn-runner-init", init);
        /* The project's own cache only: gitlab-runner's layout below /cache stays as it is. */
        if (s.cache_subdir)
                argv_addf(&argv, "--bind=%s/%s:/cache/%s:idmap", cache, s.cache_subdir, s.cache_subdir);
        if (s.suppress_sync)
                argv_add(&argv, "--suppress-sync=yes");
        if (arch_of_chroot(s.image_path, &arch) >= 0 && (personality = arch_personality(arch)))
                argv_addf(&argv, "--personality=%s", personality);
        if (find_in_path("gitlab-runner", &runner) >= 0)
                argv_addf(&argv, "--bind-ro=%s:/usr/local/bin/gitlab-runner", runner);
        r = network_nspawn_args(c, id, net_args, &n_net);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_net; i++)
                argv_add(&argv, net_args[i]);
        r = argv_add(&argv, "/run/nspawn-runner-init");
        /* systemd-nspawn compiles its seccomp filter anew at every start, most of its start-up time:
         * where ours covers the machine's architecture, the init installs that instead. */
        if (arch && seccomp_covers_arch(arch)) {
                setenv("SYSTEMD_SECCOMP", "0", 1);
                r = argv_add(&argv, "--seccomp");
                if (r >= 0 && disk_limit_denies_subvolumes(&s, limits.value[JOB_LIMIT_DISK]))
                        r = argv_add(&argv, "--no-subvolumes");
        }
        if (r < 0)
                return log_error_errno(r, "Cannot build systemd-nspawn's command line: %m");

        if (!s.unit) {
                r = cgroup_machine_enter(dir, name, &limits);
                if (r < 0)
                        return r;
        }

        /* /tmp belongs on the machine's disk, not in RAM next to seven other jobs; and the machine
         * directory is ours alone, so nspawn's image lock would only leave files behind. */
        setenv("SYSTEMD_NSPAWN_TMPFS_TMP", "0", 1);
        setenv("SYSTEMD_NSPAWN_LOCK", "0", 1);
        execvp(argv.v[0], argv.v);
        return log_error_errno(errno, "Cannot execute systemd-nspawn: %m");
}

/* Forks the supervisor, which waits on *ret_go until the parent has written its PID down: a prepare
 * killed in between leaves no systemd-nspawn that no state names (the child sees EOF and exits). A
 * socket, not a pipe: the parent's send() must not die of SIGPIPE if the child is gone. */
static int spawn_supervisor(const Context *c, const char *id, const char *log_path, pid_t *ret_pid, int *ret_pidfd,
                            int *ret_go) {
        int go[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)
                return log_error_errno(errno, "Cannot create a socket pair: %m");
        r = fork_pidfd(ret_pid, ret_pidfd);
        if (r < 0) {
                (void) close(go[0]);
                (void) close(go[1]);
                return log_error_errno(r, "Cannot fork: %m");
        }
        if (r == 0) {
                char byte;
                int fd;

                /* Its own session: gitlab-runner's signals to our process group must not reach it. */
                (void) setsid();
                (void) close(go[1]);
                if (read(go[0], &byte, 1) != 1)
                        _exit(EXIT_FAILURE);
                (void) close(go[0]);
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        (void) dup2(fd, 0);
                fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void) dup2(fd, 1);
                        (void) dup2(fd, 2);
                }
                (void) machine_exec(c, id);
                _exit(EXIT_FAILURE);
        }
        (void) close(go[0]);
        *ret_go = go[1];
        return 0;
}

static int start_unit(const Context *c, const char *id, const char *image, const JobLimits *limits, const char *log_path,
                      const char *unit) {
        _cleanup_free_ char *self = NULL, *desc = NULL;
        int r;

        r = sibling_binary_path("nspawn-runner", &self);
        if (r < 0)
                return log_error_errno(r, "Cannot find this program's path: %m");
        desc = strprintf("nspawn-runner job %s (image %s)", id, image);
        if (!desc)
                return log_oom();
        return unit_start_transient(unit, desc,
                                    (char *const[]) { self, (char *) "--state-dir", (char *) c->state_dir,
                                                      (char *) "machine-exec", (char *) id, NULL },
                                    log_path, limits);
}

/* The last meaningful line nspawn or the machine wrote, to say why a machine did not start. */
static char *log_tail(const char *log_path) {
        _cleanup_free_ char *text = NULL;
        char *last = NULL, *save = NULL;

        if (read_full_file(log_path, 1024 * 1024, &text, NULL) < 0)
                return NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (!strstr(l, "Attempted to remove disk file system"))
                        last = l;
        return last ? strdup(last) : NULL;
}

static int wait_ready(const char *id, int pidfd, const char *unit, int sigfd, ProcessId *ret_init) {
        uint64_t deadline = now_monotonic_usec() + MACHINE_START_TIMEOUT_USEC;

        for (unsigned i = 1;; i++) {
                struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
                _cleanup_close_ int fd = -EBADF;
                int r;

                r = connect_control(id, &fd);
                if (r >= 0)
                        return hello(fd, ret_init);
                if (r != -ENOENT && r != -ECONNREFUSED) /* not there yet */
                        return r;
                if (now_monotonic_usec() > deadline)
                        return -ETIMEDOUT;
                r = poll(p, 2, usec_to_poll_timeout(START_POLL_USEC));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (p[1].revents & POLLIN)
                        return -EINTR;
                if (p[0].revents & POLLIN)
                        return -ECHILD;
                if (unit && i % 25 == 0 && unit_is_running(unit) == 0)
                        return -ECHILD;
        }
}

int machine_storage_create(const MachineState *s, const char *dir) {
        static const char *const subdirs[_STORAGE_BACKEND_MAX][3] = {
                [STORAGE_OVERLAY] = { "root", "upper", "work" },
                [STORAGE_BTRFS] = { NULL },
                [STORAGE_TMPFS] = { "root", "volatile", NULL },
        };
        _cleanup_free_ char *root = path_join(dir, "root");

        if (!root)
                return log_oom();
        if (s->backend == STORAGE_BTRFS) {
                int r = btrfs_subvolume_snapshot(s->image_path, root);
                if (r < 0)
                        return log_error_errno(r, "Cannot snapshot %s: %m", s->image_path);
                return 0;
        }
        for (size_t i = 0; i < 3 && subdirs[s->backend][i]; i++) {
                _cleanup_free_ char *p = path_join(dir, subdirs[s->backend][i]);
                if (!p)
                        return log_oom();
                if (mkdir(p, 0755) < 0)
                        return log_error_errno(errno, "Cannot create %s: %m", p);
        }
        return 0;
}

static StorageBackend choose_backend(const Context *c, const char *image_path, StorageBackend requested) {
        if (requested >= 0)
                return requested;
        /* A snapshot costs nothing and needs no mount; it takes the chroot being a subvolume on the
         * same btrfs as the machines. */
        return path_is_btrfs(c->state_dir) && path_is_btrfs_subvolume(image_path) ? STORAGE_BTRFS : STORAGE_OVERLAY;
}

static int start_machine(const Context *c, const char *id, MachineState *s, const JobLimits *limits, const char *dir,
                         int sigfd) {
        _cleanup_free_ char *log_path = path_join(dir, "nspawn.log"), *state = path_join(dir, "state"),
                            *unit = NULL;
        _cleanup_close_ int pidfd = -EBADF, go = -EBADF;
        pid_t pid = 0;
        int r;

        if (!log_path || !state)
                return log_oom();
        if (unit_manager_available()) {
                unit = strprintf(MACHINE_NAME_PREFIX "%s.service", id);
                if (!unit)
                        return log_oom();
                s->unit = strdup(unit);
                if (!s->unit)
                        return log_oom();
                r = machine_state_save(state, s);
                if (r < 0)
                        return log_error_errno(r, "Cannot write %s: %m", state);
                r = start_unit(c, id, s->image, limits, log_path, unit);
        } else {
                r = spawn_supervisor(c, id, log_path, &pid, &pidfd, &go);
                if (r >= 0 && (r = process_id_from_pid(pid, &s->nspawn)) < 0)
                        r = log_error_errno(r, "Cannot identify the machine's supervisor (PID %d): %m", (int) pid);
                if (r >= 0 && (r = machine_state_save(state, s)) < 0)
                        r = log_error_errno(r, "Cannot write %s: %m", state);
                if (r >= 0 && send(go, "1", 1, MSG_NOSIGNAL) != 1)
                        r = log_error_errno(errno, "Cannot start the machine's supervisor: %m");
                closep(&go);
        }
        if (r < 0)
                return r;

        r = wait_ready(id, pidfd, unit, sigfd, &s->init);
        if (r == -EINTR)
                return log_error_errno(r, "Interrupted while job %s's machine was starting.", id);
        if (r == -ECHILD || r == -ETIMEDOUT) {
                _cleanup_free_ char *why = log_tail(log_path);
                return log_error_errno(r, "The machine for job %s did not start%s: %s", id,
                                       r == -ETIMEDOUT ? " within 30 s" : "", why ?: "no message");
        }
        if (r < 0) {
                /* The machine may have died while we connected: what it said is the reason. */
                _cleanup_free_ char *why = log_tail(log_path);
                return log_error_errno(r, "Cannot reach the machine for job %s: %m%s%s", id, why ? "; it said: " : "",
                                       strempty(why));
        }

        /* Under systemd the supervisor is known only now: the machine's parent. */
        if (s->nspawn.pid == 0) {
                pid_t ppid;
                if (process_get_ppid(s->init.pid, &ppid) >= 0)
                        (void) process_id_from_pid(ppid, &s->nspawn);
        }
        r = machine_state_save(state, s);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", state);
        return 0;
}

/* The machines directory's own flock orders the making of a machine directory against others'
 * looks at it: a prepare holds it shared from mkdir() until it holds the new directory's lock, and
 * whoever else locks a machine directory opens it while holding it exclusively. So no one ever takes
 * the lock of a directory whose creator has not taken it yet (gc would call it left over). */
static int machines_gate(const Context *c, int op, int *ret_fd) {
        _cleanup_free_ char *machines = context_machines_dir(c);
        _cleanup_close_ int fd = -EBADF;

        if (!machines)
                return -ENOMEM;
        fd = open(machines, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (flock(fd, op) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int machine_lock(const Context *c, const char *id, int op, int *ret_fd) {
        _cleanup_free_ char *dir = context_machine_dir(c, id);
        _cleanup_close_ int gate = -EBADF, fd = -EBADF;
        int r;

        if (!dir)
                return -ENOMEM;
        r = machines_gate(c, LOCK_EX, &gate);
        if (r < 0)
                return r;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        closep(&gate);
        /* Removed by the holder we waited for (and maybe made anew by a later prepare: not ours)? */
        r = flock_still_linked(fd, dir, op);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

typedef struct SaveUidBase {
        const char *path;
        MachineState *state;
} SaveUidBase;

static int save_uid_base(uid_t base, void *userdata) {
        SaveUidBase *u = userdata;
        int r;

        u->state->uid_base = base;
        r = machine_state_save(u->path, u->state);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", u->path);
        return 0;
}

int machine_dir_create(const Context *c, const char *id, MachineState *s, int *ret_dir_fd) {
        _cleanup_free_ char *machines = context_machines_dir(c), *dir = context_machine_dir(c, id), *state = NULL;
        _cleanup_close_ int dir_fd = -EBADF, gate = -EBADF;
        int r;

        if (!machines || !dir || !(state = path_join(dir, "state")))
                return log_oom();
        r = mkdir_p(machines, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", machines);
        r = machines_gate(c, LOCK_SH, &gate);
        if (r < 0)
                return log_error_errno(r, "Cannot lock %s: %m", machines);
        if (mkdir(dir, 0700) < 0) {
                if (errno == EEXIST)
                        return -EEXIST;
                return log_error_errno(errno, "Cannot create %s: %m", dir);
        }
        /* Tells gc that this machine is being made, not left over. */
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0 || flock(dir_fd, LOCK_EX) < 0) {
                r = log_error_errno(errno, "Cannot lock %s: %m", dir);
                (void) rmdir(dir);
                return r;
        }
        closep(&gate);
        r = userns_range_allocate(machines, save_uid_base, &(SaveUidBase) { state, s }, &s->uid_base);
        if (r < 0) {
                (void) machine_destroy_locked(c, id);
                return r;
        }
        *ret_dir_fd = TAKE_FD(dir_fd);
        return 0;
}

/* The job's project's directory of the cache dir, which the machine sees as its /cache. */
static int project_cache_create(const Context *c, const char *cache, MachineState *s) {
        _cleanup_free_ char *project_cache = NULL;
        int r;

        r = cache_project_subdir(&s->cache_subdir);
        if (r == -ENOENT)
                return 0;
        if (r < 0 || !(project_cache = path_join(cache, s->cache_subdir)))
                return log_oom();
        r = mkdir_p(project_cache, 0755);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", project_cache);
        /* For gc: this project's cache is in use now, even if the job only reads it. */
        r = cache_mark_project_used(c, s->cache_subdir);
        if (r < 0)
                log_debug_errno(r, "Cannot record the use of the project's cache: %m");
        return 0;
}

int machine_create(const Context *c, const char *id, const char *image, StorageBackend storage, int sigfd) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *cache = context_cache_dir(c);
        _cleanup_(image_unlock) ImageLockHandle gens = IMAGE_LOCK_HANDLE_INIT;
        _cleanup_(playbook_job_settings_done) JobSettings js = {};
        _cleanup_close_ int dir_fd = -EBADF;
        const char *arch = NULL;
        int r;

        if (!dir || !cache)
                return log_oom();
        s.image = strdup(image);
        if (!s.image)
                return log_oom();
        r = playbook_job_settings(c, image, &js);
        if (r < 0)
                return r;
        /* A job's machine is thrown away at its end: its fsync()s (dpkg and apt do many) only cost.
         * Never for maintenance, whose result is kept. */
        s.suppress_sync = js.suppress_sync;
        /* Held until the machine's state names its generation, so the generation is not collected
         * in between. */
        r = image_resolve_pinned(c, image, &gens, &s.image_path);
        if (r < 0)
                return r;
        r = arch_of_chroot(s.image_path, &arch);
        if (r < 0)
                return log_error_errno(r, "Image %s has no usable bash (%s/usr/bin/bash): %m", image, s.image_path);
        r = arch_check_runnable(arch);
        if (r < 0)
                return r;
        s.backend = choose_backend(c, s.image_path, storage);
        if (s.backend == STORAGE_BTRFS && !path_is_btrfs_subvolume(s.image_path))
                return log_error_errno(EINVAL, "Image %s is not a btrfs subvolume: cannot snapshot it.", s.image_path);
        /* Only once the job is known to run: a refused prepare leaves the cache dir as it was. */
        r = project_cache_create(c, cache, &s);
        if (r < 0)
                return r;

        r = machine_dir_create(c, id, &s, &dir_fd);
        image_unlock(&gens);
        if (r == -EEXIST)
                return log_error_errno(r, "Job %s is already prepared (run cleanup first).", id);
        if (r < 0)
                return r;
        /* From here on, whatever fails takes down what was made, so that gitlab-runner's retry of
         * prepare starts from nothing. */
        r = machine_storage_create(&s, dir);
        if (r >= 0)
                r = disk_limit_setup(&s, dir, js.limits.value[JOB_LIMIT_DISK]);
        if (r >= 0)
                r = control_dir_create(c, id, s.uid_base);
        if (r >= 0)
                r = network_prepare(c, id, &js.config, js.network);
        if (r >= 0)
                r = start_machine(c, id, &s, &js.limits, dir, sigfd);
        if (r < 0)
                (void) machine_destroy_locked(c, id);
        return r;
}

/* Finds the machine's init when prepare died before writing it down: it answers on its socket. */
static int find_init(const char *id, const MachineState *s, int *ret_pidfd) {
        _cleanup_close_ int fd = -EBADF;
        ProcessId init = s->init;
        int r;

        if (init.pid == 0) {
                r = connect_control(id, &fd);
                if (r < 0)
                        return r;
                r = hello(fd, &init);
                if (r < 0)
                        return r;
        }
        return process_open(&init, ret_pidfd);
}

static int stop_processes(const char *id, const MachineState *s) {
        _cleanup_close_ int init_fd = -EBADF, nspawn_fd = -EBADF;

        (void) find_init(id, s, &init_fd);
        if (s->nspawn.pid > 0)
                (void) process_open(&s->nspawn, &nspawn_fd);

        if (init_fd >= 0) {
                /* PID 1 of the machine: with it goes every process of the job. */
                (void) pidfd_kill(init_fd, SIGKILL);
                if (pidfd_wait_exit(init_fd, EXIT_WAIT_USEC) < 0)
                        return log_error_errno(EBUSY, "The machine's init did not exit after SIGKILL.");
        } else if (nspawn_fd >= 0)
                /* No init yet: nspawn takes its half-started container down with it. */
                (void) pidfd_kill(nspawn_fd, SIGTERM);

        if (nspawn_fd >= 0 && pidfd_wait_exit(nspawn_fd, EXIT_WAIT_USEC) < 0) {
                (void) pidfd_kill(nspawn_fd, SIGKILL);
                if (pidfd_wait_exit(nspawn_fd, EXIT_WAIT_USEC) < 0)
                        return log_error_errno(EBUSY, "systemd-nspawn (PID %d) did not exit.", (int) s->nspawn.pid);
        }
        return 0;
}

int machine_destroy_locked(const Context *c, const char *id) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *state = NULL, *propagate = NULL;
        int r;

        if (!dir || !(state = path_join(dir, "state")))
                return log_oom();
        if (access(dir, F_OK) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Cannot access %s: %m", dir);
        }
        /* A state file cut short by a crash still names what it can. */
        (void) machine_state_load(state, &s);

        r = stop_processes(id, &s);
        if (r < 0)
                return r;
        cgroup_machine_remove(dir);
        if (s.unit)
                (void) unit_stop(s.unit);
        r = network_teardown(c, id);
        if (r < 0)
                return r;
        /* Before the machine directory: gc takes a control directory without one for left over. */
        r = control_dir_remove(c, id);
        if (r < 0)
                return r;

        /* systemd-nspawn removes this itself unless it was killed. */
        propagate = strprintf("/run/systemd/nspawn/propagate/" MACHINE_NAME_PREFIX "%s", id);
        if (propagate)
                (void) rm_rf(propagate);

        r = rm_rf(dir);
        if (r < 0)
                return log_error_errno(r, "Cannot remove %s: %m", dir);
        return 0;
}

int machine_destroy(const Context *c, const char *id) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* Waits for a prepare of the job that still runs, and for a gc that removes it. */
        r = machine_lock(c, id, LOCK_EX, &fd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot lock the machine of job %s: %m", id);
        return machine_destroy_locked(c, id);
}
