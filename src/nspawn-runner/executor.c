/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "disk-limit.h"
#include "drain.h"
#include "executor.h"
#include "gc.h"
#include "image.h"
#include "image-name.h"
#include "job-stats.h"
#include "log.h"
#include "machine-state.h"
#include "machine.h"
#include "playbook.h"
#include "proto.h"
#include "signal-util.h"
#include "time-util.h"
#include "util.h"

/* After cancelling a stage, how long to wait for the machine to confirm it stopped. */
#define CANCEL_CONFIRM_TIMEOUT_USEC (5 * USEC_PER_SEC)

/* Without a key from gitlab-config (a config.toml without config_exec), a machine is keyed by the job
 * id alone: the prepare attempt that made it is written down — its JOB_RESPONSE_FILE, in
 * gitlab-runner's temporary directory of that attempt — so that the run and cleanup calls of another
 * attempt with the same job id leave it alone. Empty when the key is not the job id alone. */
#define MACHINE_OWNER_FILE "owner"

static const char *owner_of_call(const char *id_arg) {
        if (id_arg || !isempty(getenv(MACHINE_KEY_ENV)))
                return "";
        return strempty(getenv("JOB_RESPONSE_FILE"));
}

/* Whether the machine of id was made by another prepare attempt than this call's. */
static bool machine_is_others(const Context *c, const char *id, const char *id_arg) {
        _cleanup_free_ char *dir = context_machine_dir(c, id), *path = NULL, *owner = NULL;
        const char *mine = owner_of_call(id_arg);

        if (isempty(mine) || !dir || !(path = path_join(dir, MACHINE_OWNER_FILE)))
                return false;
        return read_one_line_file(path, &owner) >= 0 && !streq(owner, mine);
}

/* The images there are, for a message: "bookworm, sid" (NULL when it cannot be made). */
static char *images_available(const Context *c) {
        _cleanup_strv_free_ char **names = NULL;
        MemStream m;
        FILE *f;

        if (image_list_names(c, &names) < 0 || !(f = memstream_open(&m)))
                return NULL;
        for (size_t i = 0; names[i]; i++)
                fprintf(f, "%s%s", i > 0 ? ", " : "", names[i]);
        if (!names[0])
                fputs("none (an administrator makes them with chroot-create)", f);
        return memstream_finish(&m);
}

/* The job's own mistakes — an image: that names no image here, or none at all — end it at once as a
 * build failure: gitlab-runner retries a prepare that failed otherwise 3 times and then reports a
 * runner system failure, not what the job must fix. Logs one line naming the images there are. */
static int resolve_image(const Context *c, const char *image_arg, const char *default_image, char **ret) {
        _cleanup_free_ char *image = NULL, *path = NULL, *available = images_available(c);
        const char *ref = image_arg;
        ImageNameError e;
        struct stat st;

        if (isempty(ref))
                ref = getenv("CUSTOM_ENV_CI_JOB_IMAGE");
        if (isempty(ref))
                ref = default_image;
        if (isempty(ref))
                return log_error_errno(EINVAL, "The job names no image: add 'image: NAME' to it (this runner has no "
                                       "--default-image); images here: %s.", strempty(available));
        e = image_name_reduce(ref, strlen(ref), &image);
        if (e < 0)
                return log_oom();
        if (e != IMAGE_NAME_OK)
                return log_error_errno(EINVAL, "Invalid image name '%.80s': the chroot name %s; fix the job's image:, "
                                       "images here: %s.", ref, image_name_error_to_string(e), strempty(available));
        path = context_image_dir(c, image);
        if (!path)
                return log_oom();
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return log_error_errno(ENOENT, "Unknown image '%s' (from '%.80s'): fix the job's image:, images here: %s.",
                                       image, ref, strempty(available));
        *ret = TAKE_PTR(image);
        return 0;
}

int executor_prepare(const Context *c, const char *image_arg, const char *id_arg, const char *default_image,
                     StorageBackend storage) {
        _cleanup_free_ char *image = NULL;
        _cleanup_close_ int sigfd = -EBADF;
        uint64_t t0 = now_monotonic_usec();
        const char *id;
        int r;

        r = job_id_resolve(id_arg, &id);
        if (r < 0)
                return c->system_failure_exit_code;
        r = drain_flag_active(c->state_dir);
        if (r != 0) {
                /* An unreadable flag is taken at its word: better no job than one the box powers off under. */
                log_error("This runner is draining for a power-off (%s/" DRAINING_FLAG "): it takes no new jobs.",
                          c->state_dir);
                return c->system_failure_exit_code;
        }
        r = resolve_image(c, image_arg, default_image, &image);
        if (r < 0)
                return r == -ENOMEM ? c->system_failure_exit_code : c->build_failure_exit_code;
        sigfd = cancel_signals_block();
        if (sigfd < 0)
                return log_error_errno(sigfd, "Cannot block signals: %m"), c->system_failure_exit_code;

        r = machine_create(c, id, image, storage, sigfd);
        if (r < 0)
                return c->system_failure_exit_code;
        if (!isempty(owner_of_call(id_arg))) {
                _cleanup_free_ char *dir = context_machine_dir(c, id), *path = NULL;
                if (!dir || !(path = path_join(dir, MACHINE_OWNER_FILE)) ||
                    write_file_atomic(path, owner_of_call(id_arg), 0600) < 0)
                        log_warning("Cannot write down which prepare made the machine of job %s.", id);
        }

        printf("nspawn-runner: job %s runs in machine " MACHINE_NAME_PREFIX "%s, image %s, ready in %.2f s\n",
               getenv("CUSTOM_ENV_CI_JOB_ID") ?: id, id, image,
               (double) (now_monotonic_usec() - t0) / USEC_PER_SEC);
        return 0;
}

static int open_script(const char *script, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(script, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot open script %s: %m", script);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat script %s: %m", script);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "Script %s is not a regular file.", script);
        if ((unsigned long long) st.st_size > PROTO_SCRIPT_SIZE_MAX)
                return log_error_errno(EFBIG, "Script %s is larger than %u MiB.", script, PROTO_SCRIPT_SIZE_MAX >> 20);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static void write_build_exit_code(int code) {
        const char *path = getenv("BUILD_EXIT_CODE_FILE");
        char buf[16];
        int fd;

        if (isempty(path))
                return;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                log_warning_errno(errno, "Cannot write %s: %m", path);
                return;
        }
        snprintf(buf, sizeof(buf), "%d\n", code);
        (void) loop_write(fd, buf, strlen(buf));
        (void) close(fd);
}

/* Waits for the stage's end, passing a cancel on to the machine. Returns the message type. */
static int wait_stage(int sock, int sigfd, Msg *ret) {
        bool cancelled = false;

        for (;;) {
                struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };
                int fds[_RUN_FD_MAX];
                size_t n_fds;
                int r;

                r = poll(p, cancelled ? 1 : 2,
                         usec_to_poll_timeout(cancelled ? CANCEL_CONFIRM_TIMEOUT_USEC : USEC_INFINITY));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                if (!cancelled && (p[1].revents & POLLIN)) {
                        Msg m;
                        msg_init(&m, MSG_CANCEL);
                        (void) msg_send(sock, &m, NULL, 0);
                        cancelled = true;
                }
                if (p[0].revents) {
                        r = msg_recv(sock, ret, fds, &n_fds);
                        if (r == MSG_EXIT || r == MSG_ERROR || r < 0)
                                return r;
                }
        }
}

/* Leaves a mark in the machine's dir for cleanup to count the job as failed: a failure of the job's
 * own steps, or of the runner; gitlab-runner ignores after_script and the cache/artifact stages'
 * failures for the job's result. */
static int mark_failed(const Context *c, const char *id, const char *stage, int code) {
        _cleanup_free_ char *dir = context_machine_dir(c, id), *flag = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (code == 0 || (code == c->build_failure_exit_code && !streq(stage, "build_script") && !startswith(stage, "step_")))
                return code;
        if (!dir || !(flag = path_join(dir, JOB_FAILED_FLAG)))
                return code;
        fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        return code;
}

static int executor_run_stage(const Context *c, const char *id_arg, const char *script, const char *stage);

/* The machine's limit counters, to tell after a failed stage which limit it ran into. */
static void limit_events(const Context *c, const char *id, uint64_t ret[_JOB_LIMIT_MAX]) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *state = dir ? path_join(dir, "state") : NULL;

        memset(ret, 0, sizeof(uint64_t) * _JOB_LIMIT_MAX);
        if (state && machine_state_load(state, &s) >= 0)
                cgroup_machine_limit_events(dir, s.unit, ret);
}

/* One line per limit the stage ran into, naming it: the job's failure is its own. */
static void report_limits_hit(const Context *c, const char *id, const uint64_t before[_JOB_LIMIT_MAX]) {
        _cleanup_(machine_state_done) MachineState s = MACHINE_STATE_INIT;
        _cleanup_free_ char *dir = context_machine_dir(c, id), *state = dir ? path_join(dir, "state") : NULL;
        uint64_t after[_JOB_LIMIT_MAX];
        JobLimits limits;
        static const struct {
                const char *name, *what_happened;
        } hit[_JOB_LIMIT_MAX] = {
                [JOB_LIMIT_MEMORY] = { "memory", "the kernel killed a process" },
                [JOB_LIMIT_TASKS] = { "tasks", "a fork was refused" },
                [JOB_LIMIT_DISK] = { "disk", "its disk is full" },
        };

        if (!state || machine_state_load(state, &s) < 0 || playbook_job_limits(c, s.image, &limits) < 0)
                return;
        cgroup_machine_limit_events(dir, s.unit, after);
        /* No counter of its own: full now, after a failed stage, is the sign. */
        after[JOB_LIMIT_DISK] = before[JOB_LIMIT_DISK] + disk_limit_reached(&s, dir, limits.value[JOB_LIMIT_DISK]);
        for (JobLimit l = 0; l < _JOB_LIMIT_MAX; l++)
                if (after[l] > before[l] && hit[l].name) {
                        _cleanup_free_ char *v = job_limit_format(l, limits.value[l]);
                        log_error("The job hit its %s limit (%s = %s): %s.", hit[l].name, job_limit_to_string(l),
                                  strempty(v), hit[l].what_happened);
                }
}

int executor_run(const Context *c, const char *id_arg, const char *script, const char *stage) {
        const char *id;

        if (job_id_resolve(id_arg, &id) < 0)
                return c->system_failure_exit_code;
        if (machine_is_others(c, id, id_arg)) {
                log_error("The machine of job %s was made by another prepare (another JOB_RESPONSE_FILE): not this job's.", id);
                return c->system_failure_exit_code;
        }
        return mark_failed(c, id, stage, executor_run_stage(c, id, script, stage));
}

static int executor_run_stage(const Context *c, const char *id_arg, const char *script, const char *stage) {
        _cleanup_close_ int sigfd = -EBADF, script_fd = -EBADF, sock = -EBADF;
        const char *id;
        uint64_t events[_JOB_LIMIT_MAX];
        int fds[_RUN_FD_MAX];
        Msg m;
        int r, code;

        r = job_id_resolve(id_arg, &id);
        if (r < 0)
                return c->system_failure_exit_code;
        if (strlen(stage) > PROTO_STAGE_MAX) {
                log_error("Stage name '%.20s…' is longer than %d characters.", stage, PROTO_STAGE_MAX);
                return c->system_failure_exit_code;
        }
        r = open_script(script, &script_fd);
        if (r < 0)
                return c->system_failure_exit_code;
        sigfd = cancel_signals_block();
        if (sigfd < 0)
                return log_error_errno(sigfd, "Cannot block signals: %m"), c->system_failure_exit_code;

        r = machine_connect(c, id, &sock);
        if (r == -ENOENT) {
                log_error("Job %s is not prepared: run prepare first.", id);
                return c->system_failure_exit_code;
        }
        if (r < 0) {
                log_error_errno(r, "The machine for job %s is not running: %m", id);
                return c->system_failure_exit_code;
        }

        msg_init(&m, MSG_RUN);
        snprintf(m.run.stage, sizeof(m.run.stage), "%s", stage);
        fds[RUN_FD_STDIN] = STDIN_FILENO;
        fds[RUN_FD_STDOUT] = STDOUT_FILENO;
        fds[RUN_FD_STDERR] = STDERR_FILENO;
        fds[RUN_FD_SCRIPT] = script_fd;
        limit_events(c, id, events);
        r = msg_send(sock, &m, fds, _RUN_FD_MAX);
        if (r < 0) {
                log_error_errno(r, "Cannot send stage %s to the machine of job %s: %m", stage, id);
                return c->system_failure_exit_code;
        }

        r = wait_stage(sock, sigfd, &m);
        if (r == MSG_ERROR) {
                log_error_errno(m.error.error, "Stage %s of job %s: %s: %m", stage, id, m.error.message);
                return c->system_failure_exit_code;
        }
        if (r == -ECONNRESET) {
                log_error("The machine of job %s stopped while stage %s ran.", id, stage);
                return c->system_failure_exit_code;
        }
        if (r < 0) {
                log_error_errno(r, "Lost stage %s of job %s: %m", stage, id);
                return c->system_failure_exit_code;
        }

        if (m.exit.signal == 0 && m.exit.status == 0)
                return 0;
        code = m.exit.signal ? 128 + m.exit.signal : m.exit.status;
        report_limits_hit(c, id, events);
        write_build_exit_code(code);
        return c->build_failure_exit_code;
}

int executor_cleanup(const Context *c, const char *id_arg) {
        _cleanup_free_ char *dir = NULL, *flag = NULL;
        bool existed, failed;
        GcStats st;
        const char *id;
        int r;

        r = job_id_resolve(id_arg, &id);
        if (r < 0)
                return c->system_failure_exit_code;
        dir = context_machine_dir(c, id);
        flag = dir ? path_join(dir, JOB_FAILED_FLAG) : NULL;
        if (!flag)
                return log_oom(), c->system_failure_exit_code;
        if (machine_is_others(c, id, id_arg)) {
                log_warning("The machine of job %s was made by another prepare (another JOB_RESPONSE_FILE): left alone.", id);
                return 0;
        }
        existed = access(dir, F_OK) >= 0;
        failed = access(flag, F_OK) >= 0;
        r = machine_destroy(c, id);
        if (r < 0)
                return c->system_failure_exit_code;
        r = existed ? job_stats_record(c->state_dir, failed) : 0;
        if (r < 0)
                log_warning_errno(r, "Cannot count the job in %s/" JOB_STATS_FILE ": %m", c->state_dir);
        /* What this job was the last to use, and what crashed jobs left. */
        (void) gc_run(c, gc_threshold_configured(c), GC_AFTER_JOB, &st);
        return 0;
}
