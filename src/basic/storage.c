/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "storage-btrfs.h"
#include "storage.h"
#include "util.h"

static const char *const backend_table[_STORAGE_BACKEND_MAX] = {
        [STORAGE_OVERLAY] = "overlay",
        [STORAGE_BTRFS] = "btrfs",
        [STORAGE_TMPFS] = "tmpfs",
};

const char *storage_backend_to_string(StorageBackend b) {
        return b >= 0 && b < _STORAGE_BACKEND_MAX ? backend_table[b] : NULL;
}

StorageBackend storage_backend_from_string(const char *s) {
        for (int b = 0; b < _STORAGE_BACKEND_MAX; b++)
                if (streq(s, backend_table[b]))
                        return (StorageBackend) b;
        return _STORAGE_BACKEND_INVALID;
}

int storage_make_image_dir(const char *path) {
        _cleanup_free_ char *parent = strdup(path);
        char *slash;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (slash && slash != parent)
                *slash = 0;
        if (path_is_btrfs(parent))
                return btrfs_subvolume_create(path);
        return RET_NERRNO(mkdir(path, 0755));
}
