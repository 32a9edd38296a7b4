/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "job-limits.h"

/* Off systemd, a machine's supervisor moves itself, and so all it starts, into cgroups of its own
 * below its current ones (cgroup v1: devices, memory, pids, cpu): the device list and the limits a
 * transient unit would have. Their paths go to machine_dir/cgroups first, so that
 * cgroup_machine_remove() finds them after any crash. Where the host offers no such cgroups, says
 * so once and returns 0: the user namespace still stops device nodes and the job is unlimited. */
int cgroup_machine_enter(const char *machine_dir, const char *name, const JobLimits *l);
/* Removes the cgroups machine_dir/cgroups names, once their processes are gone. */
void cgroup_machine_remove(const char *machine_dir);
/* How often the machine ran into its memory and tasks limits so far, by the kernel's counters (OOM
 * kills, refused forks): of the transient unit when there is one, else of the cgroups above. */
void cgroup_machine_limit_events(const char *machine_dir, const char *unit, uint64_t ret[_JOB_LIMIT_MAX]);
