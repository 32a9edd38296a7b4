/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

#define CGROUP_V1_ROOT "/sys/fs/cgroup"
#define CGROUPS_FILE "cgroups"
#define CGROUPS_FILE_MAX (16U * 1024U)

/* What systemd's DevicePolicy=closed allows, plus pts and tun (job-limits.h). */
static const char *const device_allow[] = {
        "c 1:3 rwm",   /* null */
        "c 1:5 rwm",   /* zero */
        "c 1:7 rwm",   /* full */
        "c 1:8 rwm",   /* random */
        "c 1:9 rwm",   /* urandom */
        "c 5:0 rwm",   /* tty */
        "c 5:2 rwm",   /* ptmx */
        "c 136:* rwm", /* pts */
        "c 10:200 rwm", /* net/tun */
};

/* The path of this process's cgroup in a v1 hierarchy, from /proc/self/cgroup ("N:a,b:/path"). */
static int own_v1_path(const char *controller, char **ret) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r;

        r = read_full_file("/proc/self/cgroup", 64 * 1024, &text, NULL);
        if (r < 0)
                return r;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *ctrls = strchr(l, ':'), *path;
                if (!ctrls || !(path = strchr(++ctrls, ':')))
                        continue;
                *path++ = '\0';
                for (char *c = ctrls, *next; c; c = next) {
                        next = strchr(c, ',');
                        if (next)
                                *next++ = '\0';
                        if (streq(c, controller)) {
                                *ret = strprintf(CGROUP_V1_ROOT "/%s%s", controller, streq(path, "/") ? "" : path);
                                return *ret ? 0 : -ENOMEM;
                        }
                }
        }
        return -ENOENT;
}

static int write_attr(const char *cg, const char *attr, const char *value) {
        _cleanup_free_ char *p = path_join(cg, attr);
        _cleanup_close_ int fd = -EBADF;

        if (!p)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, value, strlen(value)) < 0)
                return -errno;
        return 0;
}

static int write_attr_u64(const char *cg, const char *attr, uint64_t v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%llu", (unsigned long long) v);
        return write_attr(cg, attr, buf);
}

static int configure(const char *controller, const char *cg, const JobLimits *l) {
        const uint64_t *v = l->value;
        int r = 0;

        if (streq(controller, "devices")) {
                r = write_attr(cg, "devices.deny", "a");
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(device_allow); i++)
                        r = write_attr(cg, "devices.allow", device_allow[i]);
        } else if (streq(controller, "memory") && v[JOB_LIMIT_MEMORY] > 0) {
                r = write_attr_u64(cg, "memory.limit_in_bytes", v[JOB_LIMIT_MEMORY]);
                /* memsw exists only with swap accounting (swapaccount=1). */
                if (r >= 0 && v[JOB_LIMIT_SWAP] > 0 && access(CGROUP_V1_ROOT "/memory/memory.memsw.limit_in_bytes", F_OK) >= 0)
                        r = write_attr_u64(cg, "memory.memsw.limit_in_bytes", v[JOB_LIMIT_MEMORY] + v[JOB_LIMIT_SWAP]);
        } else if (streq(controller, "pids") && v[JOB_LIMIT_TASKS] > 0)
                r = write_attr_u64(cg, "pids.max", v[JOB_LIMIT_TASKS]);
        else if (streq(controller, "cpu")) {
                /* cgroup v1 shares: 1024 is the weight of 100. */
                if (v[JOB_LIMIT_CPU_WEIGHT] > 0)
                        r = write_attr_u64(cg, "cpu.shares", v[JOB_LIMIT_CPU_WEIGHT] * 1024 / 100);
                /* Of the default period of 100 ms. */
                if (r >= 0 && v[JOB_LIMIT_CPU_QUOTA] > 0)
                        r = write_attr_u64(cg, "cpu.cfs_quota_us", v[JOB_LIMIT_CPU_QUOTA] * 1000);
        }
        return r;
}

int cgroup_machine_enter(const char *machine_dir, const char *name, const JobLimits *l) {
        static const char *const controllers[] = { "devices", "memory", "pids", "cpu" };
        _cleanup_free_ char *list = path_join(machine_dir, CGROUPS_FILE);
        _cleanup_close_ int list_fd = -EBADF;
        int r;

        if (!list)
                return log_oom();
        if (access(CGROUP_V1_ROOT "/devices/devices.allow", F_OK) < 0) {
                log_warning("This host has no cgroup v1 devices hierarchy and systemd does not run it: the job's "
                            "devices and resources are not limited by cgroups (its user namespace still refuses "
                            "device nodes).");
                return 0;
        }
        list_fd = open(list, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (list_fd < 0)
                return log_error_errno(errno, "Cannot create %s: %m", list);

        for (size_t i = 0; i < ELEMENTSOF(controllers); i++) {
                _cleanup_free_ char *own = NULL, *cg = NULL, *line = NULL;

                /* Moving a process between v1 cgroups costs milliseconds each: none where it changes nothing. */
                if (streq(controllers[i], "cpu") && l->value[JOB_LIMIT_CPU_WEIGHT] == 100 && l->value[JOB_LIMIT_CPU_QUOTA] == 0)
                        continue;
                r = own_v1_path(controllers[i], &own);
                if (r == -ENOENT)
                        continue; /* not mounted here */
                if (r < 0)
                        return log_error_errno(r, "Cannot find this process's %s cgroup: %m", controllers[i]);
                /* Job ids repeat across state dirs: the supervisor's PID makes the name this machine's. */
                cg = strprintf("%s/%s.%d", own, name, (int) getpid());
                line = strprintf("%s\n", cg ?: "");
                if (!cg || !line)
                        return log_oom();
                /* Written down before it exists: a crash in between leaves nothing unknown. */
                r = loop_write(list_fd, line, strlen(line));
                if (r < 0)
                        return log_error_errno(r, "Cannot write %s: %m", list);
                if (mkdir(cg, 0755) < 0)
                        return log_error_errno(errno, "Cannot create cgroup %s: %m", cg);
                r = configure(controllers[i], cg, l);
                if (r >= 0)
                        r = write_attr(cg, "cgroup.procs", "0");
                if (r < 0)
                        return log_error_errno(r, "Cannot set up cgroup %s: %m", cg);
        }
        return 0;
}

/* A process of the machine that outlived its init (nspawn with a state that did not name it) is
 * still in the machine's cgroup: nothing else ever is. */
static int remove_cgroup(const char *cg) {
        _cleanup_free_ char *procs = NULL, *text = NULL;
        char *save = NULL;

        if (rmdir(cg) >= 0 || errno == ENOENT)
                return 0;
        if (errno != EBUSY || !(procs = path_join(cg, "cgroup.procs")) || read_full_file(procs, 1024 * 1024, &text, NULL) < 0)
                return -errno;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                int pid;
                if (safe_atoi(l, &pid) >= 0 && pid > 1)
                        (void) kill(pid, SIGKILL);
        }
        for (int i = 0; i < 200; i++) { /* 2 s for them to exit */
                if (rmdir(cg) >= 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        break;
                (void) usleep(10 * 1000);
        }
        return -errno;
}

void cgroup_machine_remove(const char *machine_dir) {
        _cleanup_free_ char *list = path_join(machine_dir, CGROUPS_FILE), *text = NULL;
        char *save = NULL;

        if (!list || read_full_file(list, CGROUPS_FILE_MAX, &text, NULL) < 0)
                return;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                int r;
                if (!startswith(l, CGROUP_V1_ROOT "/") || strstr(l, "/../"))
                        continue;
                r = remove_cgroup(l);
                if (r < 0)
                        log_warning_errno(r, "Cannot remove cgroup %s: %m", l);
        }
}

/* The number after "key " in a file of "key value" lines (memory.events, pids.events, memory.oom_control). */
static uint64_t read_event(const char *cg, const char *file, const char *key) {
        _cleanup_free_ char *p = path_join(cg, file), *text = NULL;
        char *save = NULL;
        uint64_t v;

        if (!p || read_full_file(p, 64 * 1024, &text, NULL) < 0)
                return 0;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                const char *rest = startswith(l, key);
                if (rest && *rest == ' ' && safe_atou64(rest + 1, &v) >= 0)
                        return v;
        }
        return 0;
}

void cgroup_machine_limit_events(const char *machine_dir, const char *unit, uint64_t ret[_JOB_LIMIT_MAX]) {
        _cleanup_free_ char *list = NULL, *text = NULL, *unit_cg = NULL;
        char *save = NULL;

        memset(ret, 0, sizeof(uint64_t) * _JOB_LIMIT_MAX);
        if (unit) {
                /* cgroup v2: the unit's counters take in the machine's subgroups. */
                unit_cg = strprintf("/sys/fs/cgroup/machine.slice/%s", unit);
                if (!unit_cg)
                        return;
                ret[JOB_LIMIT_MEMORY] = read_event(unit_cg, "memory.events", "oom_kill");
                ret[JOB_LIMIT_TASKS] = read_event(unit_cg, "pids.events", "max");
                return;
        }
        list = path_join(machine_dir, CGROUPS_FILE);
        if (!list || read_full_file(list, CGROUPS_FILE_MAX, &text, NULL) < 0)
                return;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (startswith(l, CGROUP_V1_ROOT "/memory/"))
                        ret[JOB_LIMIT_MEMORY] = read_event(l, "memory.oom_control", "oom_kill");
                else if (startswith(l, CGROUP_V1_ROOT "/pids/"))
                        ret[JOB_LIMIT_TASKS] = read_event(l, "pids.events", "max");
}
