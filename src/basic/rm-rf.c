/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "rm-rf.h"
#include "storage.h"
#include "util.h"

static int mount_id_at(int dirfd, const char *name, uint64_t *ret_mnt_id, struct statx *ret_sx) {
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_INO | STATX_MNT_ID, ret_sx) < 0)
                return -errno;
        *ret_mnt_id = ret_sx->stx_mnt_id;
        return 0;
}

static int rm_children(int dirfd, uint64_t mnt_id);

/* Removes the directory name below parent_fd; parent is on mount mnt_id. */
static int rm_dir_at(int parent_fd, const char *name, uint64_t mnt_id, const struct statx *sx) {
        _cleanup_close_ int fd = -EBADF;
        struct statfs sfs;
        int r;

        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (sx->stx_ino == 256 && fstatfs(fd, &sfs) >= 0 && sfs.f_type == BTRFS_SUPER_MAGIC &&
            btrfs_subvolume_destroy_at(parent_fd, name) >= 0)
                return 0;
        r = rm_children(fd, mnt_id);
        if (r < 0)
                return r;
        return unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

static int rm_children(int dirfd, uint64_t mnt_id) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = 0, fd;

        fd = dup(dirfd);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return -errno;
        }

        while ((de = readdir(d))) {
                struct statx sx;
                uint64_t child_mnt = 0;
                int k;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                k = mount_id_at(dirfd, de->d_name, &child_mnt, &sx);
                if (k == -ENOENT)
                        continue;
                if (k >= 0 && S_ISDIR(sx.stx_mode)) {
                        if (child_mnt != mnt_id)
                                k = -EBUSY; /* somebody's mount: never remove what is below it */
                        else
                                k = rm_dir_at(dirfd, de->d_name, mnt_id, &sx);
                } else if (k >= 0 && unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT)
                        k = -errno;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int rm_rf(const char *path) {
        _cleanup_close_ int parent_fd = -EBADF;
        const char *name;
        struct statx sx, psx;
        uint64_t mnt_id = 0, parent_mnt = 0;
        int r;

        r = open_parent_dir(path, &name, &parent_fd);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        r = mount_id_at(parent_fd, name, &mnt_id, &sx);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!S_ISDIR(sx.stx_mode))
                return unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        r = mount_id_at(parent_fd, ".", &parent_mnt, &psx);
        if (r < 0)
                return r;
        if (parent_mnt != mnt_id)
                return -EBUSY;
        return rm_dir_at(parent_fd, name, mnt_id, &sx);
}
