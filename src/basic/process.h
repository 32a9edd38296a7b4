/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* A process we may have to kill later, named so that a reused PID is never mistaken for it. */
typedef struct ProcessId {
        pid_t pid;
        uint64_t start_time; /* field 22 of /proc/PID/stat */
} ProcessId;

int process_get_start_time(pid_t pid, uint64_t *ret);
int process_get_ppid(pid_t pid, pid_t *ret);
int process_id_from_pid(pid_t pid, ProcessId *ret);

/* Opens a pidfd for id, or -ESRCH when that process is gone (or its PID now names another). */
int process_open(const ProcessId *id, int *ret_pidfd);
/* Waits until the process behind pidfd has exited: 0, or -ETIMEDOUT after timeout_usec (USEC_INFINITY:
 * none). */
int pidfd_wait_exit(int pidfd, uint64_t timeout_usec);
int pidfd_kill(int pidfd, int sig);

/* Forks. In the child (return 0) the signal mask is empty again; in the parent (return 1)
 * *ret_pidfd refers to the child. */
int fork_pidfd(pid_t *ret_pid, int *ret_pidfd);
/* Moves the calling process into a mount namespace of its own that no longer propagates mounts
 * back to the host, so that whatever it mounts goes away with it. */
int mount_namespace_private(void);
/* Writes map to /proc/PID/WHICH ("uid_map" or "gid_map") of a process in a new user namespace. */
int process_write_id_map(pid_t pid, const char *which, const char *map);
