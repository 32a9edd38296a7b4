/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>

typedef enum StorageBackend {
        STORAGE_OVERLAY, /* overlayfs over the chroot, upper layer on the state dir's disk */
        STORAGE_BTRFS,   /* a btrfs snapshot of the chroot */
        STORAGE_TMPFS,   /* overlayfs over the chroot, upper layer in RAM */
        _STORAGE_BACKEND_MAX,
        _STORAGE_BACKEND_INVALID = -EINVAL,
} StorageBackend;

const char *storage_backend_to_string(StorageBackend b);
StorageBackend storage_backend_from_string(const char *s);

/* Creates an empty directory for a new chroot: a subvolume where the filesystem is btrfs. */
int storage_make_image_dir(const char *path);
