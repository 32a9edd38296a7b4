/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "unit.h"
#include "util.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

bool unit_manager_available(void) {
        return sd_booted() > 0;
}

static int append_exec_start(sd_bus_message *m, char *const *argv) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "ExecStart");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", argv[0]);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", 0);
        for (int i = 0; i < 4 && r >= 0; i++)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The limits as resource-control properties; a limit of 0 is left out (none), and so is the disk
 * cap, which the machine's storage enforces. */
static int append_limits(sd_bus_message *m, const JobLimits *l) {
        static const char *const property[_JOB_LIMIT_MAX] = {
                [JOB_LIMIT_MEMORY] = "MemoryMax",
                [JOB_LIMIT_SWAP] = "MemorySwapMax",
                [JOB_LIMIT_TASKS] = "TasksMax",
                [JOB_LIMIT_CPU_WEIGHT] = "CPUWeight",
                [JOB_LIMIT_CPU_QUOTA] = "CPUQuotaPerSecUSec",
        };
        int r = 0;

        for (JobLimit i = 0; r >= 0 && i < _JOB_LIMIT_MAX; i++)
                if (l->value[i] > 0 && property[i])
                        /* a percent of a CPU is 10 ms of CPU time per second */
                        r = sd_bus_message_append(m, "(sv)", property[i], "t",
                                                  i == JOB_LIMIT_CPU_QUOTA ? l->value[i] * 10000 : l->value[i]);
        return r;
}

/* What every machine's unit has: machine.slice, a delegated cgroup (nspawn manages its own below it),
 * removal once it ended, and a job's devices and limits. */
static int append_machine_properties(sd_bus_message *m, const char *description, const JobLimits *limits) {
        int r;

        r = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)",
                                  "Description", "s", description,
                                  "Slice", "s", "machine.slice",
                                  "Delegate", "b", 1,
                                  "CollectMode", "s", "inactive-or-failed");
        /* As systemd's own systemd-nspawn@.service: the standard pseudo devices, and what the machine
         * makes of its own. systemd-nspawn adds no device list to a unit it keeps (--keep-unit). */
        if (r >= 0)
                r = sd_bus_message_append(m, "(sv)(sv)", "DevicePolicy", "s", "closed", "DeviceAllow", "a(ss)", 2,
                                          JOB_DEVICES_ALLOW_PTS, "rw", JOB_DEVICES_ALLOW_TUN, "rwm");
        if (r >= 0)
                r = append_limits(m, limits);
        return r;
}

/* Asks systemd for a transient unit: the machine's properties, then what fill() adds for its type. */
static int start_transient(const char *unit, const char *description, const JobLimits *limits,
                           int (*fill)(sd_bus_message *m, const void *userdata), const void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus: %m");
        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0)
                r = append_machine_properties(m, description, limits);
        if (r >= 0)
                r = fill(m, userdata);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return log_error_errno(r, "Cannot build the request for unit %s: %m", unit);

        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                log_error_errno(r, "Cannot start unit %s: %s", unit, error.message ?: "unknown error");
        return r;
}

typedef struct ServiceFill {
        char *const *argv;
        const char *log_path;
} ServiceFill;

static int fill_service(sd_bus_message *m, const void *userdata) {
        const ServiceFill *f = userdata;
        int r;

        r = sd_bus_message_append(m, "(sv)(sv)(sv)", "KillMode", "s", "mixed", "StandardOutputFile", "s", f->log_path,
                                  "StandardErrorFile", "s", f->log_path);
        if (r >= 0)
                r = append_exec_start(m, f->argv);
        return r;
}

int unit_start_transient(const char *unit, const char *description, char *const *argv, const char *log_path,
                         const JobLimits *limits) {
        const ServiceFill f = { .argv = argv, .log_path = log_path };

        return start_transient(unit, description, limits, fill_service, &f);
}

static int fill_scope(sd_bus_message *m, const void *userdata) {
        const pid_t *pid = userdata;

        return sd_bus_message_append(m, "(sv)", "PIDs", "au", 1, (uint32_t) *pid);
}

int unit_start_scope(const char *unit, const char *description, pid_t pid, const JobLimits *limits) {
        return start_transient(unit, description, limits, fill_scope, &pid);
}

int unit_is_running(const char *unit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *state = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_path_encode(SYSTEMD_PATH "/unit", unit, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(bus, SYSTEMD_DEST, path, "org.freedesktop.systemd1.Unit", "ActiveState",
                                       NULL, &state);
        if (r < 0)
                return r;
        return streq(state, "active") || streq(state, "activating") || streq(state, "reloading");
}

/* Calls a method of systemd's manager; a unit it does not know is no error when missing_ok. */
static int manager_call(const char *method, bool missing_ok, const char *types, ...) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Cannot connect to the system bus: %m");
        va_start(ap, types);
        r = sd_bus_call_methodv(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method, &error, NULL, types, ap);
        va_end(ap);
        if (r < 0 && missing_ok && sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
                r = 0;
        else if (r < 0)
                log_error_errno(r, "systemd refused %s: %s", method, error.message ?: "unknown error");
        return r;
}

int unit_stop(const char *unit) {
        return manager_call("StopUnit", true, "ss", unit, "replace");
}

int unit_kill(const char *unit, const char *whom, int signo) {
        return manager_call("KillUnit", false, "ssi", unit, whom, (int32_t) signo);
}

int unit_start(const char *unit, const char *mode) {
        return manager_call("StartUnit", false, "ss", unit, mode);
}

int unit_name_from_path(const char *path, const char *suffix, char **ret) {
        size_t n = strlen(path);
        char *out, *o;

        if (path[0] != '/' || n > 4096 || strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
                return -EINVAL;
        while (n > 1 && path[n - 1] == '/')
                n--;
        out = o = malloc(n * 4 + strlen(suffix) + 2);
        if (!out)
                return -ENOMEM;
        if (n == 1)
                *o++ = '-'; /* the root directory */
        for (size_t i = 1; i < n; i++) {
                char ch = path[i];
                if (ch == '/')
                        *o++ = '-';
                else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == ':' ||
                         ch == '_' || (ch == '.' && i > 1))
                        *o++ = ch;
                else
                        o += sprintf(o, "\\x%02x", (unsigned char) ch);
        }
        strcpy(o, suffix);
        *ret = out;
        return 0;
}
