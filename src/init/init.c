/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nspawn-runner-init: PID 1 of a job machine. It reaps orphans, keeps the machine's namespaces alive
 * between stages, and starts each stage's shell on request from the host over a control socket,
 * passing the caller's stdin, stdout and stderr straight through. Statically linked, so that it runs
 * in any chroot, whatever its libc or architecture. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "process.h"
#include "proto.h"
#include "seccomp-filter.h"
#include "time-util.h"
#include "util.h"

#define CLIENTS_MAX 32
/* How long a cancelled stage gets between SIGTERM and SIGKILL: the contract is "stopped within a
 * second", and gitlab-runner's own script exits on the first TERM. */
#define CANCEL_GRACE_USEC (500 * USEC_PER_MSEC)
#define SCRIPT_DIR "/run/nspawn-runner"

typedef struct Client {
        int fd;             /* connection to the host, -EBADF once it went away */
        pid_t pid;          /* the stage's shell, 0 when none runs */
        uint64_t deadline;  /* µs of CLOCK_MONOTONIC at which to SIGKILL the stage, 0 if none */
} Client;

static Client clients[CLIENTS_MAX];
static size_t n_clients;
/* The namespaces every stage enters (jobs_namespaces_make()); -EBADF: the machine's own. */
static int jobs_userns = -EBADF, jobs_mntns = -EBADF;
/* The capability bounding set systemd-nspawn left this init: a stage keeps it in its namespace. */
static uint64_t bounding_set;

static void client_free(size_t i) {
        closep(&clients[i].fd);
        clients[i] = clients[--n_clients];
}

static void send_error(int fd, int error, const char *message) {
        Msg m;

        msg_init(&m, MSG_ERROR);
        m.error.error = error;
        snprintf(m.error.message, sizeof(m.error.message), "%s", message);
        (void) msg_send(fd, &m, NULL, 0);
}

static int copy_script(int script_fd, const char *path) {
        _cleanup_free_ char *script = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size;
        int r;

        r = read_full_fd(script_fd, PROTO_SCRIPT_SIZE_MAX, &script, &size);
        if (r < 0)
                return r;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700);
        if (fd < 0)
                return -errno;
        return loop_write(fd, script, size);
}

/* Runs in the forked child: becomes the stage's shell, or reports why not on error_fd. */
_noreturn_ static void exec_stage(const int fds[_RUN_FD_MAX], int error_fd) {
        static char *const env[] = {
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "LANG=C.UTF-8",
                "container=systemd-nspawn", NULL,
        };
        char path[64];
        sigset_t none;
        int r;

        snprintf(path, sizeof(path), SCRIPT_DIR "/stage.%d.sh", (int) getpid());
        r = copy_script(fds[RUN_FD_SCRIPT], path);
        if (r < 0)
                goto fail;

        if (jobs_userns >= 0 && (setns(jobs_userns, CLONE_NEWUSER) < 0 || setns(jobs_mntns, CLONE_NEWNS) < 0)) {
                r = -errno;
                goto fail;
        }
        /* Entering a user namespace gives every capability in it: keep nspawn's set. */
        for (int cap = 0; jobs_userns >= 0 && cap < 64 && prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
                if (!(bounding_set & (UINT64_C(1) << cap)) && prctl(PR_CAPBSET_DROP, cap) < 0) {
                        r = -errno;
                        goto fail;
                }
        if (setsid() < 0 || dup2(fds[RUN_FD_STDIN], 0) < 0 || dup2(fds[RUN_FD_STDOUT], 1) < 0 ||
            dup2(fds[RUN_FD_STDERR], 2) < 0 || chdir("/") < 0) {
                r = -errno;
                goto fail;
        }
        umask(022);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);

        execve("/bin/bash", (char *const[]) { "bash", path, NULL }, env);
        execve("/usr/bin/bash", (char *const[]) { "bash", path, NULL }, env);
        r = -errno;
fail:
        (void) loop_write(error_fd, &r, sizeof(r));
        _exit(127);
}

static void start_stage(Client *c, int fds[_RUN_FD_MAX]) {
        _cleanup_close_ int error_read = -EBADF, error_write = -EBADF;
        int pipe_fds[2], error = 0;
        ssize_t n;
        pid_t pid;

        if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
                send_error(c->fd, errno, "cannot create a pipe in the machine");
                return;
        }
        error_read = pipe_fds[0];
        error_write = pipe_fds[1];

        pid = fork();
        if (pid < 0) {
                send_error(c->fd, errno, "cannot fork in the machine");
                return;
        }
        if (pid == 0)
                exec_stage(fds, error_write);

        closep(&error_write);
        do
                n = read(error_read, &error, sizeof(error));
        while (n < 0 && errno == EINTR);
        if (n == sizeof(error)) {
                /* The child is gone or going: it is reaped on SIGCHLD without a client to tell. */
                send_error(c->fd, -error,
                           error == -ENOENT ? "cannot find bash in the machine (is it installed in the chroot?)"
                                            : "cannot start the stage's shell in the machine");
                return;
        }
        c->pid = pid;
}

static void cancel_stage(Client *c) {
        if (c->pid <= 0 || c->deadline > 0)
                return;
        (void) kill(-c->pid, SIGTERM);
        (void) kill(-c->pid, SIGCONT);
        c->deadline = now_monotonic_usec() + CANCEL_GRACE_USEC;
}

static void handle_client(size_t i) {
        Client *c = &clients[i];
        int fds[_RUN_FD_MAX];
        size_t n_fds = 0;
        Msg m;
        int r;

        r = msg_recv(c->fd, &m, fds, &n_fds);
        if (r == -EAGAIN)
                return;
        if (r < 0) {
                /* The host went away (the CLI was killed) or spoke nonsense: stop its stage. */
                closep(&c->fd);
                if (c->pid > 0)
                        cancel_stage(c);
                else
                        client_free(i);
                return;
        }

        switch (r) {
        case MSG_HELLO:
                msg_init(&m, MSG_HELLO_REPLY);
                m.hello_reply.protocol = PROTO_VERSION;
                (void) msg_send(c->fd, &m, NULL, 0);
                break;
        case MSG_RUN:
                if (c->pid > 0)
                        send_error(c->fd, EBUSY, "a stage already runs on this connection");
                else
                        start_stage(c, fds);
                for (size_t k = 0; k < n_fds; k++)
                        (void) close(fds[k]);
                break;
        case MSG_CANCEL:
                cancel_stage(c);
                break;
        default:
                send_error(c->fd, EBADMSG, "unexpected message");
        }
}

static void stage_exited(pid_t pid, int status) {
        for (size_t i = 0; i < n_clients; i++) {
                Client *c = &clients[i];
                Msg m;

                if (c->pid != pid)
                        continue;
                /* Whatever the stage left in its process group is stopped with it on cancel. */
                if (c->deadline > 0)
                        (void) kill(-pid, SIGKILL);
                if (c->fd >= 0) {
                        msg_init(&m, MSG_EXIT);
                        m.exit.status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
                        m.exit.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
                        (void) msg_send(c->fd, &m, NULL, 0);
                }
                {
                        char path[64];
                        snprintf(path, sizeof(path), SCRIPT_DIR "/stage.%d.sh", (int) pid);
                        (void) unlink(path);
                }
                client_free(i);
                return;
        }
}

/* Root of the host as SO_PEERCRED shows it in here: 0, or the overflow uid in a user namespace
 * that does not map it. */
static uid_t host_root_uid(void) {
        _cleanup_free_ char *map = NULL, *overflow = NULL;
        unsigned inside, outside;
        uint64_t u;

        if (read_one_line_file("/proc/self/uid_map", &map) >= 0 && sscanf(map, "%u %u", &inside, &outside) == 2 &&
            inside == 0 && outside == 0)
                return 0;
        if (read_one_line_file("/proc/sys/kernel/overflowuid", &overflow) >= 0 && safe_atou64(overflow, &u) >= 0)
                return (uid_t) u;
        return 65534;
}

static void accept_client(int listen_fd, uid_t host_root) {
        struct ucred cred;
        int fd;

        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        /* Only root on the host may run things in this machine: a process of the machine has a PID
         * in here, one outside has none. */
        if (socket_peer(fd, &cred) < 0 || cred.pid != 0 || cred.uid != host_root || n_clients >= CLIENTS_MAX) {
                (void) close(fd);
                return;
        }
        clients[n_clients++] = (Client) { .fd = fd };
}

static int setup_socket(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", PROTO_CONTROL_DIR_INNER, PROTO_SOCKET_NAME);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create control socket: %m");
        (void) unlink(sa.sun_path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0600) < 0 || listen(fd, 16) < 0) {
                int r = log_error_errno(errno, "Cannot listen on %s: %m", sa.sun_path);
                (void) close(fd);
                return r;
        }
        /* The host reaches the socket through its own path; hide it from the job. In a user namespace
         * the bind is locked to what it covers (EINVAL): cover it instead. Either way the socket
         * takes only the host's root (accept_client()). */
        if (umount2(PROTO_CONTROL_DIR_INNER, MNT_DETACH) < 0 &&
            (errno != EINVAL || mount("tmpfs", PROTO_CONTROL_DIR_INNER, "tmpfs", MS_RDONLY | MS_NODEV | MS_NOEXEC | MS_NOSUID,
                                      "mode=0000,size=4k") < 0))
                log_warning_errno(errno, "Cannot hide %s from the job: %m", PROTO_CONTROL_DIR_INNER);
        return fd;
}

/* Stages run one user namespace below the machine's, whose ids it maps one to one, in a copy of
 * the machine's mount namespace made from there. Copied into a namespace of a less privileged user
 * namespace, every mount systemd-nspawn and this init made is locked by the kernel (MNT_LOCKED, and
 * its read-only, nosuid, nodev and noexec flags): systemd-nspawn mounts /proc/sys read-only from
 * inside the machine's user namespace, where its root could remount it writable and unmount the
 * overmounts; a job cannot. A helper child makes the namespaces, this init writes its maps (only a
 * process of the parent namespace may map more than its own id) and keeps them open. */
static int jobs_namespaces_make(void) {
        _cleanup_free_ char *own = NULL;
        _cleanup_close_ int made_read = -EBADF, made_write = -EBADF, done_read = -EBADF, done_write = -EBADF,
                            userns = -EBADF, mntns = -EBADF;
        unsigned inside, outside, count;
        char map[48], path[64], c = 0;
        int fds[2], r = 0;
        pid_t pid;

        /* The ids this machine has, as one range (what nspawn's --private-users gives). */
        if (read_one_line_file("/proc/self/uid_map", &own) < 0 ||
            sscanf(own, "%u %u %u", &inside, &outside, &count) != 3 || inside != 0)
                return -EINVAL;
        snprintf(map, sizeof(map), "0 0 %u\n", count);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        made_read = fds[0], made_write = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        done_read = fds[0], done_write = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                closep(&made_read);
                closep(&done_write);
                if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                        _exit(1);
                (void) loop_write(made_write, &c, 1);
                /* Until the parent has what it needs: EOF when it closes its end. */
                while (read(done_read, &c, 1) < 0 && errno == EINTR)
                        ;
                _exit(0);
        }
        closep(&made_write);
        closep(&done_read);
        if (read(made_read, &c, 1) != 1)
                r = -ECHILD;
        if (r >= 0)
                r = process_write_id_map(pid, "uid_map", map);
        if (r >= 0)
                r = process_write_id_map(pid, "gid_map", map);
        if (r >= 0) {
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
                userns = open(path, O_RDONLY | O_CLOEXEC);
                snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
                mntns = open(path, O_RDONLY | O_CLOEXEC);
                if (userns < 0 || mntns < 0)
                        r = -errno;
        }
        closep(&done_write);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return r;
        jobs_userns = TAKE_FD(userns);
        jobs_mntns = TAKE_FD(mntns);
        return 0;
}

static int poll_timeout_ms(void) {
        uint64_t next = 0, now = now_monotonic_usec();

        for (size_t i = 0; i < n_clients; i++)
                if (clients[i].deadline > 0 && (next == 0 || clients[i].deadline < next))
                        next = clients[i].deadline;
        if (next == 0)
                return -1;
        return usec_to_poll_timeout(next <= now ? 0 : next - now);
}

static void kill_overdue(void) {
        uint64_t now = now_monotonic_usec();

        for (size_t i = 0; i < n_clients; i++)
                if (clients[i].deadline > 0 && clients[i].deadline <= now && clients[i].pid > 0)
                        (void) kill(-clients[i].pid, SIGKILL);
}

/* The arguments machine_exec() gives: none, "--seccomp" (systemd-nspawn was told to skip its own
 * filter, ours goes in), or "--seccomp --no-subvolumes" (and no btrfs subvolumes may be made). */
static int parse_argv(int argc, char **argv, bool *ret_seccomp, bool *ret_no_subvolumes) {
        if (argc > 3 || (argc > 1 && !streq(argv[1], "--seccomp")) || (argc > 2 && !streq(argv[2], "--no-subvolumes")))
                return log_error_errno(EINVAL, "Bad arguments: this init takes --seccomp, then optionally --no-subvolumes.");
        *ret_seccomp = argc > 1;
        *ret_no_subvolumes = argc > 2;
        return 0;
}

/* Returns false when asked to stop. */
static bool handle_signals(int sfd) {
        struct signalfd_siginfo si;

        while (read(sfd, &si, sizeof(si)) == sizeof(si))
                if (si.ssi_signo != SIGCHLD)
                        return false;

        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        break;
                stage_exited(pid, status);
        }
        return true;
}

int main(int argc, char **argv) {
        _cleanup_close_ int sfd = -EBADF, listen_fd = -EBADF;
        sigset_t mask;
        bool seccomp = false, no_subvolumes = false;
        uid_t host_root;
        int r;

        log_set_prefix("nspawn-runner-init");
        if (parse_argv(argc, argv, &seccomp, &no_subvolumes) < 0)
                return 1;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGPWR);
        sigaddset(&mask, SIGRTMIN + 3);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) signal(SIGPIPE, SIG_IGN);

        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(errno, "Cannot create signalfd: %m"), 1;
        if (mkdir(SCRIPT_DIR, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create %s: %m", SCRIPT_DIR), 1;
        listen_fd = setup_socket();
        if (listen_fd < 0)
                return 1;
        host_root = host_root_uid();
        for (int cap = 0, in_set; cap < 64 && (in_set = prctl(PR_CAPBSET_READ, cap)) >= 0; cap++)
                if (in_set > 0)
                        bounding_set |= UINT64_C(1) << cap;
        /* Only in a user namespace of the machine's own: on the host's, its root is the host's anyway. */
        if (host_root != 0) {
                r = jobs_namespaces_make();
                if (r < 0)
                        return log_error_errno(r, "Cannot make the jobs' user and mount namespaces: %m"), 1;
        }
        if (seccomp) {
                r = seccomp_install_denylist(no_subvolumes);
                if (r < 0)
                        return log_error_errno(r, "Cannot install the seccomp filter: %m"), 1;
        }

        for (;;) {
                struct pollfd p[2 + CLIENTS_MAX];
                size_t n = n_clients;

                p[0] = (struct pollfd) { .fd = sfd, .events = POLLIN };
                p[1] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
                for (size_t i = 0; i < n; i++)
                        p[2 + i] = (struct pollfd) { .fd = clients[i].fd, .events = POLLIN };

                if (poll(p, 2 + n, poll_timeout_ms()) < 0 && errno != EINTR)
                        return log_error_errno(errno, "Cannot poll: %m"), 1;

                kill_overdue();
                /* Walk backwards: handling a client may drop it and move the last one into its slot. */
                for (size_t i = n; i > 0; i--)
                        if (p[1 + i].revents && clients[i - 1].fd == p[1 + i].fd && clients[i - 1].fd >= 0)
                                handle_client(i - 1);
                if (p[1].revents & POLLIN)
                        accept_client(listen_fd, host_root);
                if (p[0].revents & POLLIN && !handle_signals(sfd))
                        return 0;
        }
}
