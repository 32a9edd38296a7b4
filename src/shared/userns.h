/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Every machine runs in a user namespace of its own: uid and gid 0..65535 inside are
 * base..base+65535 on the host. The ranges lie above systemd's container range
 * (0x00080000–0x6FFF0000, what `systemd-nspawn --private-users=pick` takes), so no other container on
 * the host shares one; a range is taken while a machine directory names it in its state. */
#define USERNS_RANGE_SIZE 65536U
#define USERNS_BASE_FIRST 0x70000000U
#define USERNS_RANGES_MAX 1024U

bool userns_base_valid(uid_t base);
/* Picks the lowest range no machine under machines_dir holds and calls save(base, userdata) while
 * no other prepare can pick, so that the choice is on disk before the next one looks. */
int userns_range_allocate(const char *machines_dir, int (*save)(uid_t base, void *userdata), void *userdata,
                          uid_t *ret_base);
/* A user namespace fd mapping 0..65535 to base..base+65535, for idmapped mounts. */
int userns_open(uid_t base, int *ret_fd);
/* Binds source onto target (in the caller's mount namespace) with its ids shifted by the
 * namespace's map: what is owned by 0 on disk is owned by base through target. */
int mount_idmapped(const char *source, const char *target, int userns_fd);
