/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A deny-list seccomp filter for job machines, built without libseccomp: systemd-nspawn compiles its
 * own filter with libseccomp at every start, which takes most of its start-up time. Denied calls
 * fail with EPERM, keyrings with ENOSYS (see seccomp-list.h). */

/* One denied call of an ABI: its number there and the error it fails with. */
typedef struct SeccompDenied {
        int nr;
        int error;
} SeccompDenied;

/* Whether the filter covers every ABI that binaries of the Debian architecture arch use here. */
bool seccomp_covers_arch(const char *arch);
/* Builds the filter without installing it: 0 when this CPU's kernel will take it, -E2BIG when it is
 * malformed or too long, -EOPNOTSUPP where there is no filter for this CPU. With deny_subvolumes, the
 * btrfs ioctls that create a subvolume or snapshot fail with EPERM too: on a machine whose disk is
 * capped by its snapshot's qgroup, a new subvolume would get a qgroup of its own, outside the cap. */
int seccomp_check_denylist(bool deny_subvolumes);
/* Installs that filter on the calling process (inherited by all it forks). */
int seccomp_install_denylist(bool deny_subvolumes);
