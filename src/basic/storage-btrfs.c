/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "storage.h"
#include "util.h"

bool path_is_btrfs(const char *path) {
        struct statfs sfs;
        return statfs(path, &sfs) >= 0 && sfs.f_type == BTRFS_SUPER_MAGIC;
}

bool path_is_btrfs_subvolume(const char *path) {
        struct stat st;
        /* The root directory of every btrfs subvolume has inode number 256. */
        return path_is_btrfs(path) && stat(path, &st) >= 0 && S_ISDIR(st.st_mode) && st.st_ino == 256;
}

static int vol_args_name(struct btrfs_ioctl_vol_args *args, const char *name) {
        if (strlen(name) >= sizeof(args->name))
                return -ENAMETOOLONG;
        strcpy(args->name, name);
        return 0;
}

int btrfs_subvolume_create(const char *path) {
        struct btrfs_ioctl_vol_args args = {};
        _cleanup_close_ int parent = -EBADF;
        const char *name;
        int r;

        r = open_parent_dir(path, &name, &parent);
        if (r < 0)
                return r;
        r = vol_args_name(&args, name);
        if (r < 0)
                return r;
        return RET_NERRNO(ioctl(parent, BTRFS_IOC_SUBVOL_CREATE, &args));
}

int btrfs_subvolume_snapshot(const char *source, const char *dest) {
        struct btrfs_ioctl_vol_args_v2 args = {};
        _cleanup_close_ int parent = -EBADF, src = -EBADF;
        const char *name;
        int r;

        src = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return -errno;
        r = open_parent_dir(dest, &name, &parent);
        if (r < 0)
                return r;
        if (strlen(name) >= sizeof(args.name))
                return -ENAMETOOLONG;
        strcpy(args.name, name);
        args.fd = src;
        return RET_NERRNO(ioctl(parent, BTRFS_IOC_SNAP_CREATE_V2, &args));
}

int btrfs_subvolume_id(int fd, uint64_t *ret) {
        struct btrfs_ioctl_ino_lookup_args args = { .objectid = BTRFS_FIRST_FREE_OBJECTID };

        if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0)
                return -errno;
        *ret = args.treeid;
        return 0;
}

int btrfs_subvolume_destroy_at(int parent_fd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        /* create = 0: removes the qgroup */
        struct btrfs_ioctl_qgroup_create_args qgroup = {};
        _cleanup_close_ int fd = -EBADF;
        uint64_t id = 0;
        int r = vol_args_name(&args, name);

        if (r < 0)
                return r;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && btrfs_subvolume_id(fd, &id) >= 0)
                qgroup.qgroupid = id;
        closep(&fd);
        if (ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, &args) < 0)
                return -errno;
        /* With quotas on, every subvolume has a qgroup, which Debian 12's kernel (6.1) keeps after the
         * subvolume is gone. Newer ones refuse this until the cleaner has dropped the subvolume
         * (EBUSY) and then remove it themselves; ENOTCONN: quotas are off; ENOENT: none. */
        if (qgroup.qgroupid > 0)
                (void) ioctl(parent_fd, BTRFS_IOC_QGROUP_CREATE, &qgroup);
        return 0;
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
