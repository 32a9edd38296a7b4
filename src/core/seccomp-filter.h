/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A deny-list seccomp filter for job machines, built without libseccomp: systemd-nspawn compiles its
 * own filter with libseccomp at every start, which takes most of its start-up time. Denied calls
 * fail with EPERM. */



/* Whether the filter covers every ABI that binaries of the Debian architecture arch use here. */
bool seccomp_covers_arch(const char *arch);
/* Installs the filter on the calling process (inherited by all it forks). */
int seccomp_install_denylist(void);
