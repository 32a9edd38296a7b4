/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The btrfs calls the storage backends and rm_rf() need, through the kernel's ioctls. */

#include <stdbool.h>
#include <stdint.h>

bool path_is_btrfs(const char *path);
bool path_is_btrfs_subvolume(const char *path);

int btrfs_subvolume_create(const char *path);
int btrfs_subvolume_snapshot(const char *source, const char *dest);
/* Destroys the subvolume name below parent_fd, and its qgroup where the kernel lets us. */
int btrfs_subvolume_destroy_at(int parent_fd, const char *name);
/* The id of the subvolume of fd (its level-0 qgroup is 0/id). */
int btrfs_subvolume_id(int fd, uint64_t *ret);
