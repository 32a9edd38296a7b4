/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "machine-state.h"

/* The disk cap of a job's machine (job_disk_max), where its storage can enforce one: the tmpfs
 * backend's file system has that size (machine_root_mount()); a btrfs snapshot's qgroup limits its
 * exclusive bytes, what the job added to the image; overlayfs on the state dir's disk has none. */

/* After machine_storage_create(), in prepare: on btrfs switches the file system's quotas on if
 * they are off and limits the snapshot's qgroup; on overlayfs warns (one line) that nothing caps
 * the disk. max 0: no cap, nothing done. */
int disk_limit_setup(const MachineState *s, const char *dir, uint64_t max);

/* Whether the machine's disk is at its cap now: the tmpfs full, the qgroup's exclusive bytes at its
 * limit. false when that cannot be told (a machine gone, overlayfs, no cap). */
bool disk_limit_reached(const MachineState *s, const char *dir, uint64_t max);

/* Whether the machine's jobs may not make btrfs subvolumes or snapshots (seccomp_install_denylist()):
 * on a capped btrfs snapshot, each would get a qgroup of its own, outside the cap. */
bool disk_limit_denies_subvolumes(const MachineState *s, uint64_t max);
