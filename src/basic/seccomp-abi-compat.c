/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 32-bit ABI that 64-bit x86 hosts also run (i386 chroots): its own system call numbers. */
#if defined(__x86_64__)
#include <asm/unistd_32.h>
#define DENY(name) __NR_##name,
const int seccomp_compat_denied[] = {
#include "seccomp-list.h"
};
const unsigned seccomp_compat_n_denied = sizeof(seccomp_compat_denied) / sizeof(seccomp_compat_denied[0]);
#else
const int seccomp_compat_denied[1];
const unsigned seccomp_compat_n_denied = 0;
#endif
