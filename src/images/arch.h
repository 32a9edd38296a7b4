/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Debian architecture names of chroots and what running them on this host takes. */

/* The dpkg architecture of the host ("amd64", "arm64", …). */
const char *arch_host(void);
/* The dpkg architecture a chroot's binaries are built for, read from its bash's ELF header. */
int arch_of_chroot(const char *root, const char **ret);
/* The --personality= nspawn needs for arch on this host, or NULL. */
const char *arch_personality(const char *arch);
/* 0 when this host runs arch's binaries (natively or through binfmt_misc); logs why not. */
int arch_check_runnable(const char *arch);
