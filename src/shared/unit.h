/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "job-limits.h"

/* Machines on a host whose PID 1 is systemd live in transient units under machine.slice, so that
 * restarting gitlab-runner does not take them down and machinectl shows them. */

bool unit_manager_available(void);
/* Starts argv as transient service unit in machine.slice, stdout and stderr to log_path, with a
 * job's device list and limits. */
int unit_start_transient(const char *unit, const char *description, char *const *argv, const char *log_path,
                         const JobLimits *limits);
/* Moves pid (which has not started the machine yet) into a new transient scope unit in machine.slice
 * with a job's device list and limits: the machines of nspawn-run, whose nspawn must keep the
 * caller's terminal and so cannot be a service. */
int unit_start_scope(const char *unit, const char *description, pid_t pid, const JobLimits *limits);
/* 1 when the unit is activating or active, 0 when it ended (or never existed). */
int unit_is_running(const char *unit);
int unit_stop(const char *unit);
/* Sends signo to whom ("main", "control", "all") of the unit. */
int unit_kill(const char *unit, const char *whom, int signo);
/* Starts a unit with the job mode ("replace", "replace-irreversibly", …). */
int unit_start(const char *unit, const char *mode);
/* The name systemd gives the unit of an absolute path ("/var/lib/x-y" with ".mount":
 * "var-lib-x\\x2dy.mount"), as systemd-escape --path --suffix does. */
int unit_name_from_path(const char *path, const char *suffix, char **ret);
