/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "argv.h"
#include "cgroup.h"
#include "disk-limit.h"
#include "image.h"
#include "job-limits.h"
#include "machine.h"
#include "network.h"
#include "log.h"
#include "playbook.h"
#include "process.h"
#include "seccomp-filter.h"
#include "unit.h"
#include "user-machine.h"
#include "userns.h"
#include "util.h"

void user_machine_caller_done(UserMachineCaller *u) {
        free(u->name);
        free(u->group);
        free(u->gecos);
        free(u->home);
        *u = (UserMachineCaller) {};
}

static int id_from_env(const char *name, unsigned long *ret) {
        const char *s = getenv(name);
        uint64_t v;

        if (!s) {
                *ret = 0; /* not through sudo: root itself */
                return 0;
        }
        if (safe_atou64(s, &v) < 0 || v >= (uint64_t) (uid_t) -1)
                return log_error_errno(EINVAL, "$%s is not a user or group id: '%.20s'.", name, s);
        *ret = (unsigned long) v;
        return 0;
}

/* nspawn's --bind= splits at ':'; a passwd line at ':' and '\n'. */
static bool field_ok(const char *s) {
        return !strpbrk(s, ":\n,\\");
}

int user_machine_caller(UserMachineCaller *ret) {
        _cleanup_(user_machine_caller_done) UserMachineCaller u = {};
        unsigned long uid, gid;
        struct passwd *pw;
        struct group *gr;
        struct stat st;
        int r;

        if (getuid() != 0 || geteuid() != 0)
                return log_error_errno(EPERM, "nspawn-run needs root: run it through sudo (see nspawn-run(1)).");
        if (!getenv("SUDO_UID") != !getenv("SUDO_GID"))
                return log_error_errno(EINVAL, "$SUDO_UID and $SUDO_GID come together (from sudo), or not at all.");
        if ((r = id_from_env("SUDO_UID", &uid)) < 0 || (r = id_from_env("SUDO_GID", &gid)) < 0)
                return r;
        /* The machine maps its range's 0..65535: the caller must be one of those, to be themself inside. */
        if (uid >= USERNS_RANGE_SIZE || gid >= USERNS_RANGE_SIZE)
                return log_error_errno(ERANGE, "User %lu or group %lu is above %u: a machine's user namespace cannot hold it.",
                                       uid, gid, USERNS_RANGE_SIZE - 1);
        errno = 0;
        pw = getpwuid((uid_t) uid);
        if (!pw)
                return log_error_errno(errno ?: ENOENT, "User %lu is not in the host's user database.", uid);
        errno = 0;
        gr = getgrgid((gid_t) gid);
        if (!gr)
                return log_error_errno(errno ?: ENOENT, "Group %lu is not in the host's group database.", gid);
        if (!field_ok(pw->pw_name) || !field_ok(gr->gr_name) || !field_ok(pw->pw_dir) || strchr(pw->pw_gecos, '\n'))
                return log_error_errno(EINVAL, "The passwd or group entry of user %lu has a character nspawn-run cannot pass on.", uid);
        if (pw->pw_dir[0] != '/' || streq(pw->pw_dir, "/") || stat(pw->pw_dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != (uid_t) uid)
                return log_error_errno(EINVAL, "Home directory '%s' of %s is not a directory of theirs: it cannot be bound.",
                                       pw->pw_dir, pw->pw_name);
        u.uid = (uid_t) uid;
        u.gid = (gid_t) gid;
        u.name = strdup(pw->pw_name);
        u.group = strdup(gr->gr_name);
        u.gecos = strndup(pw->pw_gecos, strcspn(pw->pw_gecos, ":"));
        u.home = strdup(pw->pw_dir);
        if (!u.name || !u.group || !u.gecos || !u.home)
                return log_oom();
        *ret = u;
        u = (UserMachineCaller) {};
        return 0;
}

/* Field k (from 0) of a ':'-separated line of len bytes; false when it has fewer fields. */
static bool line_field(const char *line, size_t len, unsigned k, const char **ret, size_t *ret_len) {
        const char *p = line, *end = line + len, *colon;

        for (; k > 0; k--) {
                colon = memchr(p, ':', (size_t) (end - p));
                if (!colon)
                        return false;
                p = colon + 1;
        }
        colon = memchr(p, ':', (size_t) (end - p));
        *ret = p;
        *ret_len = (size_t) ((colon ?: end) - p);
        return true;
}

/* Whether the line's name (field 0) is name or its id (field 2) is id. */
static bool user_db_line_matches(const char *line, size_t len, const char *name, unsigned long id) {
        const char *f;
        size_t n;
        char digits[24];
        uint64_t v;

        if (line_field(line, len, 0, &f, &n) && n == strlen(name) && memcmp(f, name, n) == 0)
                return true;
        if (!line_field(line, len, 2, &f, &n) || n == 0 || n >= sizeof(digits))
                return false;
        memcpy(digits, f, n);
        digits[n] = 0;
        return safe_atou64(digits, &v) >= 0 && v == id;
}

int user_db_replace(const char *text, size_t n, const char *name, unsigned long id, const char *entry, char **ret) {
        MemStream m;
        FILE *f = memstream_open(&m);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                const char *nl = memchr(text + i, '\n', n - i);
                size_t len = nl ? (size_t) (nl - text - i) : n - i;

                if (len > 0 && !memchr(text + i, 0, len) && !user_db_line_matches(text + i, len, name, id))
                        fprintf(f, "%.*s\n", (int) len, text + i);
                i += len + 1;
        }
        fprintf(f, "%s\n", entry);
        *ret = memstream_finish(&m);
        return *ret ? 0 : -ENOMEM;
}

/* Opens path below root as if root were "/": a symlink in the image (say /etc/passwd ->
 * /etc/shadow) must not reach the host's files, whose copy the caller would read. */
static int open_in_root(const char *root, const char *path, int *ret_fd) {
        struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        _cleanup_close_ int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int fd;

        if (root_fd < 0)
                return -errno;
        fd = (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

/* <dir>/<file>: the image's own <file> for everyone but the caller, and the caller's entry. */
static int write_user_db(const char *image_path, const char *file, const char *dir, const char *name,
                         unsigned long id, const char *entry) {
        _cleanup_free_ char *src = strprintf("etc/%s", file), *dst = path_join(dir, file), *text = NULL, *out = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0;
        int r;

        if (!src || !dst)
                return log_oom();
        r = open_in_root(image_path, src, &fd);
        if (r >= 0)
                r = read_full_fd(fd, USER_DB_SIZE_MAX, &text, &n);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot read /%s of the image: %m", src);
        r = user_db_replace(strempty(text), n, name, id, entry, &out);
        if (r < 0)
                return log_oom();
        r = write_file_atomic(dst, out, 0644);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", dst);
        return 0;
}

static int write_user_dbs(const char *image_path, const UserMachineCaller *u, const char *dir) {
        _cleanup_free_ char *pw = strprintf("%s:x:%lu:%lu:%s:%s:/bin/bash", u->name, (unsigned long) u->uid,
                                            (unsigned long) u->gid, u->gecos, u->home),
                            *gr = strprintf("%s:x:%lu:", u->group, (unsigned long) u->gid);
        int r;

        if (!pw || !gr)
                return log_oom();
        r = write_user_db(image_path, "passwd", dir, u->name, u->uid, pw);
        if (r >= 0)
                r = write_user_db(image_path, "group", dir, u->group, u->gid, gr);
        return r;
}

/* The caller's working directory when it is in their home (the only host directory they see). */
static const char *working_dir(const char *home, char *buf, size_t size) {
        const char *rest;

        if (!getcwd(buf, size) || !(rest = startswith(buf, home)) || (*rest && *rest != '/'))
                return home;
        return buf;
}

typedef struct NspawnArgs {
        Argv argv; /* systemd-nspawn's options but the network's (the child adds those, and the command) */
        bool seccomp; /* the jobs' filter covers the image's architecture */
} NspawnArgs;

static void nspawn_args_done(NspawnArgs *a) {
        argv_done(&a->argv);
}

/* As a job's machine (machine_exec()): the image read-only under a tmpfs that goes with the
 * machine, in a user namespace of its own, in the machine's cgroups and network. The caller's home
 * is an idmapped bind: their files are theirs inside, as on the host. */
static _noreturn_ void exec_nspawn(NspawnArgs *a, char **command) {
        Argv *argv = &a->argv;
        int r;

        r = argv_add(argv, "--");
        if (command && command[0])
                r = argv_add_strv(argv, command);
        else {
                argv_add(argv, "/bin/bash");
                r = argv_add(argv, "-l");
        }
        if (r < 0) {
                log_error_errno(r, "Cannot build systemd-nspawn's command line: %m");
                _exit(USER_MACHINE_EXIT_FAILURE);
        }
        /* No image lock: the machine directory is ours alone. */
        setenv("SYSTEMD_NSPAWN_LOCK", "0", 1);
        /* On a terminal nspawn passes ^C on to the command's terminal, a real Ctrl-C; without one we
         * hand SIGINT and SIGQUIT to the command (see interrupt_command()), not nspawn. */
        (void) signal(SIGINT, SIG_IGN);
        (void) signal(SIGQUIT, SIG_IGN);
        execvp(argv->v[0], argv->v);
        log_error_errno(errno, "Cannot execute systemd-nspawn: %m");
        _exit(USER_MACHINE_EXIT_FAILURE);
}

static volatile sig_atomic_t child_pid, interrupted, pending, terminated;

/* Hands SIGTERM and SIGHUP on to systemd-nspawn, and notes them for the child that has not yet
 * executed it (whose child_pid is 0). */
static void forward_signal(int sig) {
        terminated = sig;
        if (child_pid > 0)
                (void) kill(child_pid, sig);
}

static void note_interrupt(int sig) {
        interrupted = pending = sig;
}

/* Before the machine is made, so that no signal finds us without them; exec() resets them in the
 * child. */
static void handle_signals(void) {
        struct sigaction note = { .sa_handler = note_interrupt }, forward = { .sa_handler = forward_signal };

        (void) sigaction(SIGINT, &note, NULL);
        (void) sigaction(SIGQUIT, &note, NULL);
        (void) sigaction(SIGTERM, &forward, NULL);
        (void) sigaction(SIGHUP, &forward, NULL);
}

/* The first child of pid, from /proc. */
static pid_t first_child(pid_t pid) {
        _cleanup_free_ char *path = strprintf("/proc/%d/task/%d/children", (int) pid, (int) pid), *line = NULL;
        int child;

        if (!path || read_one_line_file(path, &line) < 0 || sscanf(line, "%d", &child) != 1 || child <= 0)
                return 0;
        return (pid_t) child;
}

/* What a terminal does with ^C or ^\: the signal to the command's process group. The command is the
 * child of nspawn's stub init, nspawn's child, and leads a session of its own. (nspawn itself ignores
 * these signals: it would turn them into a reboot request to the stub init.) */
static void interrupt_command(pid_t nspawn, int sig) {
        pid_t stub = first_child(nspawn), command = stub > 0 ? first_child(stub) : 0;

        if (command > 0 && kill(-command, sig) < 0)
                (void) kill(command, sig);
}

/* Waits for nspawn, handing SIGTERM and SIGHUP on to it, and SIGINT and SIGQUIT to the command. A
 * command that one of these ended reports what a shell would (nspawn's stub init only says 255). */
static int wait_nspawn(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return log_error_errno(errno, "Cannot wait for systemd-nspawn: %m");
                if (pending) {
                        interrupt_command(pid, pending);
                        pending = 0;
                }
        }
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        if (interrupted && WEXITSTATUS(status) != 0)
                return 128 + interrupted;
        return WEXITSTATUS(status);
}

static int nspawn_args_build(const MachineState *s, const UserMachineCaller *u, const char *dir, NspawnArgs *a) {
        bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        const char *arch = NULL, *personality;
        Argv *argv = &a->argv;
        char cwd[PATH_MAX];
        int r;

        r = arch_of_chroot(s->image_path, &arch);
        if (r < 0)
                return log_error_errno(r, "Image %s has no usable bash: %m", s->image_path);
        r = arch_check_runnable(arch);
        if (r < 0)
                return r;
        a->seccomp = seccomp_covers_arch(arch);
        personality = arch_personality(arch);
        argv_add(argv, "systemd-nspawn");
        argv_add(argv, "--quiet");
        argv_add(argv, "--keep-unit");
        argv_add(argv, "--register=no");
        argv_add(argv, "--link-journal=no");
        argv_add(argv, "--no-new-privileges=yes");
        argv_add(argv, "--private-users-ownership=off");
        argv_add(argv, "--as-pid2");
        argv_add(argv, tty ? "--console=interactive" : "--console=pipe");
        /* By uid: a user name may hold characters a machine name cannot. */
        argv_addf(argv, "--machine=" USER_MACHINE_PREFIX "%lu-%ld", (unsigned long) u->uid, (long) getpid());
        argv_addf(argv, "--directory=%s/root", dir);
        argv_addf(argv, "--private-users=%u:%u", (unsigned) s->uid_base, USERNS_RANGE_SIZE);
        argv_addf(argv, "--user=%s", u->name);
        argv_addf(argv, "--bind=%s:%s:idmap", u->home, u->home);
        argv_addf(argv, "--bind-ro=%s/passwd:/etc/passwd", dir);
        argv_addf(argv, "--bind-ro=%s/group:/etc/group", dir);
        r = argv_addf(argv, "--chdir=%s", working_dir(u->home, cwd, sizeof(cwd)));
        if (personality)
                r = argv_addf(argv, "--personality=%s", personality);
        if (r < 0)
                return log_error_errno(r, "Cannot build systemd-nspawn's command line: %m");
        return 0;
}

/* In the child that becomes systemd-nspawn, once the parent has written its PID to the state (EOF
 * on go: the parent is gone, and with it whoever would have removed the machine). */
static _noreturn_ void machine_child(const Context *c, const char *key, const MachineState *s, const char *dir,
                                     const JobLimits *limits, NspawnArgs *a, char **command, int go) {
        _cleanup_free_ char *name = strprintf(USER_MACHINE_PREFIX "%s", key);
        _cleanup_(network_nspawn_args_free) char *net[2] = {};
        size_t n_net = 0;
        char byte;
        int r;

        /* A signal before nspawn runs (while the parent made the machine, or handed on to us): no
         * machine. */
        if (read(go, &byte, 1) != 1 || terminated || interrupted)
                _exit(USER_MACHINE_EXIT_FAILURE);
        (void) close(go);
        if (!name)
                _exit(USER_MACHINE_EXIT_FAILURE);
        /* Under systemd the parent put us in the machine's scope. */
        if (machine_root_mount(s, dir, limits->value[JOB_LIMIT_DISK]) < 0 ||
            (!s->unit && cgroup_machine_enter(dir, name, limits) < 0) || network_nspawn_args(c, key, net, &n_net) < 0 ||
            terminated || interrupted)
                _exit(USER_MACHINE_EXIT_FAILURE);
        for (size_t i = 0; i < n_net; i++)
                (void) argv_add(&a->argv, net[i]);
        /* The jobs' filter, installed by their init, which these machines (--as-pid2) have not: on
         * nspawn itself, whose own filter (SYSTEMD_SECCOMP unset) comes on top for the command. */
        if (a->seccomp &&
            (r = seccomp_install_denylist(disk_limit_denies_subvolumes(s, limits->value[JOB_LIMIT_DISK]))) < 0) {
                log_error_errno(r, "Cannot install the seccomp filter: %m");
                _exit(USER_MACHINE_EXIT_FAILURE);
        }
        exec_nspawn(a, command);
}

/* On a host run by systemd the machine's devices and limits are those of a transient scope, as a
 * job's are its service's; named in the state first, so that gc stops it whatever happens next. */
static int scope_name(const char *key, MachineState *s) {
        if (!unit_manager_available())
                return 0;
        s->unit = strprintf(USER_MACHINE_PREFIX "%s.scope", key);
        return s->unit ? 0 : log_oom();
}

/* Forks systemd-nspawn and records it in the state before it starts, so that gc stops it when we
 * are killed; then waits for it. */
static int machine_start_wait(const Context *c, const char *key, MachineState *s, const char *dir, NspawnArgs *a,
                              const JobLimits *limits, char **command) {
        _cleanup_free_ char *state = path_join(dir, "state");
        _cleanup_close_ int pidfd = -EBADF;
        int go[2], r;
        pid_t pid;

        if (!state)
                return log_oom();
        r = scope_name(key, s);
        if (r < 0)
                return r;
        /* A socket, not a pipe: a child that a signal to our process group ended before it read must
         * not kill us with SIGPIPE (and leave the machine to gc). */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)
                return log_error_errno(errno, "Cannot create a socket pair: %m");
        r = fork_pidfd(&pid, &pidfd);
        if (r == 0) {
                (void) close(go[1]);
                machine_child(c, key, s, dir, limits, a, command, go[0]);
        }
        (void) close(go[0]);
        if (r < 0) {
                (void) close(go[1]);
                return log_error_errno(r, "Cannot fork: %m");
        }
        child_pid = pid; /* from now on SIGTERM and SIGHUP reach it */
        r = process_id_from_pid(pid, &s->nspawn);
        if (r >= 0)
                r = machine_state_save(state, s);
        if (r < 0)
                log_error_errno(r, "Cannot write %s: %m", state);
        else if (s->unit)
                r = unit_start_scope(s->unit, "nspawn-run machine", pid, limits);
        if (r < 0) {
                (void) close(go[1]);
                (void) wait_nspawn(pid);
                return r;
        }
        if (send(go[1], "x", 1, MSG_NOSIGNAL) != 1)
                r = log_error_errno(errno, "Cannot start the machine: %m");
        (void) close(go[1]);
        return r < 0 ? r : wait_nspawn(pid);
}

int user_machine_run(const Context *c, const char *image, const UserMachineCaller *u, char **command) {
        _cleanup_(image_unlock) ImageLockHandle gens = IMAGE_LOCK_HANDLE_INIT;
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_(nspawn_args_done) NspawnArgs a = {};
        _cleanup_(playbook_job_settings_done) JobSettings js = {};
        _cleanup_free_ char *key = NULL, *dir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        size_t words = 0;
        int r;

        while (command && command[words])
                words++;
        if (words > USER_MACHINE_COMMAND_MAX)
                return log_error_errno(E2BIG, "The command has more than %u words.", USER_MACHINE_COMMAND_MAX);
        /* From the start: a signal while the machine is made must not leave it to gc. */
        handle_signals();
        /* Held while the machine runs, so that gc does not collect its generation under it. */
        r = image_resolve_pinned(c, image, &gens, &s.image_path);
        if (r < 0)
                return r;
        s.image = strdup(image);
        s.backend = STORAGE_TMPFS;
        /* A machine directory beside the jobs': the same uid ranges, network slots and cgroups, and
         * gc removes what a killed nspawn-run left. Job id 0 is never GitLab's. */
        if (!s.image || machine_key_new(USER_MACHINE_JOB_ID, &key) < 0 || !(dir = context_machine_dir(c, key)))
                return log_oom();
        r = machine_dir_create(c, key, &s, &dir_fd);
        if (r == -EEXIST)
                return log_error_errno(r, "Machine %s exists already.", key);
        if (r < 0)
                return r;
        r = machine_storage_create(&s, dir);
        if (r >= 0)
                r = write_user_dbs(s.image_path, u, dir);
        if (r >= 0)
                r = nspawn_args_build(&s, u, dir, &a);
        if (r >= 0)
                r = playbook_job_settings(c, image, &js);
        if (r >= 0)
                r = network_prepare(c, key, &js.config, js.network);
        if (r >= 0)
                r = machine_start_wait(c, key, &s, dir, &a, &js.limits, command);
        (void) machine_destroy_locked(c, key);
        return r;
}
