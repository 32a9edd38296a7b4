/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum StorageBackend {
        STORAGE_OVERLAY, /* overlayfs over the chroot, upper layer on the state dir's disk */
        STORAGE_BTRFS,   /* a btrfs snapshot of the chroot */
        STORAGE_TMPFS,   /* overlayfs over the chroot, upper layer in RAM */
        _STORAGE_BACKEND_MAX,
        _STORAGE_BACKEND_INVALID = -1,
} StorageBackend;

const char *storage_backend_to_string(StorageBackend b);
StorageBackend storage_backend_from_string(const char *s);

bool path_is_btrfs(const char *path);
bool path_is_btrfs_subvolume(const char *path);

int btrfs_subvolume_create(const char *path);
int btrfs_subvolume_snapshot(const char *source, const char *dest);
/* Destroys the subvolume name below parent_fd, and its qgroup where the kernel lets us. */
int btrfs_subvolume_destroy_at(int parent_fd, const char *name);
/* The id of the subvolume of fd (its level-0 qgroup is 0/id). */
int btrfs_subvolume_id(int fd, uint64_t *ret);

/* Creates an empty directory for a new chroot: a subvolume where the filesystem is btrfs. */
int storage_make_image_dir(const char *path);
