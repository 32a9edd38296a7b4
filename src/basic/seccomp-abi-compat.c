/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 32-bit ABI that 64-bit x86 hosts also run (i386 chroots): its own system call numbers. */
#include "seccomp-filter.h"

#if defined(__x86_64__)
#include <asm/unistd_32.h>
#include <errno.h>

#define DENY(name, error) { __NR_##name, error },
const SeccompDenied seccomp_compat_denied[] = {
#include "seccomp-list.h"
};
const unsigned seccomp_compat_n_denied = sizeof(seccomp_compat_denied) / sizeof(seccomp_compat_denied[0]);
const int seccomp_compat_ioctl_nr = __NR_ioctl;
#else
const SeccompDenied seccomp_compat_denied[1];
const unsigned seccomp_compat_n_denied = 0;
const int seccomp_compat_ioctl_nr = -1;
#endif
