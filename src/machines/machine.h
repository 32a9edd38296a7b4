/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "context.h"
#include "machine-state.h"
#include "storage.h"

#define MACHINE_NAME_PREFIX "nspawn-runner-"
/* How long a new machine may take to answer before prepare gives up. */
#define MACHINE_START_TIMEOUT_MS 30000

/* Creates the job's machine from image and starts it; on failure removes everything it made.
 * sigfd (a signalfd for SIGTERM and friends, or -1) aborts the wait for the machine. */
int machine_create(const Context *c, const char *id, const char *image, StorageBackend storage, int sigfd);
/* Makes the machine directory of id, locked (*ret_dir_fd holds the lock: gc leaves it alone while
 * held), and allocates the machine's uid range, written to its state with the rest of s. -EEXIST,
 * unlogged, when there is one already; else removes what it made on failure. */
int machine_dir_create(const Context *c, const char *id, MachineState *s, int *ret_dir_fd);
/* The directories of s->backend's storage in the machine directory dir. */
int machine_storage_create(const MachineState *s, const char *dir);
/* Mounts the machine's root (dir/root) in a mount namespace of this process's own, so that it
 * vanishes with the machine whatever happens to the processes that made it (btrfs: nothing to do).
 * disk_max (0: none) is the size of the tmpfs backend's file system. */
int machine_root_mount(const MachineState *s, const char *dir, uint64_t disk_max);
/* In the process that becomes the machine's supervisor: sets up its private mounts and execs
 * systemd-nspawn. Returns only on failure. */
int machine_exec(const Context *c, const char *id);
/* Connects to the machine's init; -ENOENT when the job was never prepared, -ECONNREFUSED when its
 * machine is not running. */
int machine_connect(const Context *c, const char *id, int *ret_fd);
/* Opens the job's machine directory and flock()s it with op (LOCK_EX, maybe with LOCK_NB), never
 * before its creator does; -ENOENT when there is none, or it was removed while we waited. */
int machine_lock(const Context *c, const char *id, int op, int *ret_fd);
/* Stops the machine and removes all it had; nothing to do is success. Takes the machine's lock;
 * machine_destroy_locked() is for callers that hold it already. */
int machine_destroy(const Context *c, const char *id);
int machine_destroy_locked(const Context *c, const char *id);
