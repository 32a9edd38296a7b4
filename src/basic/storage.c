/* SPDX-License-Identifier: GPL-2.0-or-later */
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
