/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "disk-limit.h"
#include "log.h"
#include "process.h"
#include "storage-btrfs.h"
#include "util.h"

/* A job that ran into its cap leaves this little room at most: btrfs refuses a write when the
 * qgroup's bytes and the write's reservation (data and metadata) would pass the limit. */
#define DISK_LIMIT_SLACK(max) ((max) / 32 < (8ULL << 20) ? (max) / 32 : (8ULL << 20))

static int qgroup_limit(int fd, uint64_t max) {
        /* qgroupid 0: the level-0 qgroup of fd's subvolume; what the job adds to the image. */
        struct btrfs_ioctl_qgroup_limit_args args = {
                .lim = { .flags = BTRFS_QGROUP_LIMIT_MAX_EXCL, .max_excl = max },
        };
        return RET_NERRNO(ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args));
}

static int snapshot_limit(const char *root, uint64_t max) {
        struct btrfs_ioctl_quota_ctl_args ctl = { .cmd = BTRFS_QUOTA_CTL_ENABLE };
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r;

        if (fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", root);
        r = qgroup_limit(fd, max);
        if (r != -ENOTCONN)
                return r < 0 ? log_error_errno(r, "Cannot limit the qgroup of %s: %m", root) : 0;
        /* Quotas are off: on for the whole file system, which gives every subvolume, this one
         * included, its qgroup. A concurrent prepare's enable is a no-op. */
        if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0)
                return log_error_errno(errno, "Cannot switch on btrfs quotas for job_disk_max: %m");
        log_info("Switched on btrfs quotas on the file system of %s for job_disk_max.", root);
        r = qgroup_limit(fd, max);
        if (r < 0)
                return log_error_errno(r, "Cannot limit the qgroup of %s: %m", root);
        return 0;
}

int disk_limit_setup(const MachineState *s, const char *dir, uint64_t max) {
        _cleanup_free_ char *root = NULL;

        if (max == 0)
                return 0;
        switch (s->backend) {
        case STORAGE_BTRFS:
                root = path_join(dir, "root");
                if (!root)
                        return log_oom();
                return snapshot_limit(root, max);
        case STORAGE_OVERLAY:
                log_warning("job_disk_max is not enforced on overlayfs: the job's files go to the state dir's disk "
                            "uncapped (btrfs or --storage tmpfs cap them).");
                return 0;
        default:
                return 0; /* the tmpfs has its size from machine_root_mount() */
        }
}

/* The qgroup's exclusive bytes, as of the last commit: committed first. */
static int qgroup_exclusive(const char *root, uint64_t *ret) {
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *path = NULL, *line = NULL;
        struct btrfs_ioctl_fs_info_args info = {};
        const uint8_t *u = info.fsid;
        char uuid[37];
        uint64_t id;
        int r;

        if (fd < 0)
                return -errno;
        if (syncfs(fd) < 0 || ioctl(fd, BTRFS_IOC_FS_INFO, &info) < 0)
                return -errno;
        r = btrfs_subvolume_id(fd, &id);
        if (r < 0)
                return r;
        snprintf(uuid, sizeof(uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        path = strprintf("/sys/fs/btrfs/%s/qgroups/0_%" PRIu64 "/exclusive", uuid, id);
        if (!path)
                return -ENOMEM;
        r = read_one_line_file(path, &line);
        if (r < 0)
                return r;
        return safe_atou64(line, ret);
}

/* The bytes in the tmpfs, through the machine's root: overlayfs answers statfs() for its upper
 * layer. */
static int tmpfs_used(const MachineState *s, uint64_t *ret) {
        _cleanup_close_ int pidfd = -EBADF;
        _cleanup_free_ char *root = NULL;
        struct statfs sfs;
        int r;

        r = process_open(&s->init, &pidfd);
        if (r < 0)
                return r;
        root = strprintf("/proc/%d/root/", (int) s->init.pid);
        if (!root)
                return -ENOMEM;
        if (statfs(root, &sfs) < 0)
                return -errno;
        *ret = (uint64_t) (sfs.f_blocks - sfs.f_bfree) * (uint64_t) sfs.f_bsize;
        return 0;
}

bool disk_limit_reached(const MachineState *s, const char *dir, uint64_t max) {
        _cleanup_free_ char *root = NULL;
        uint64_t used;
        int r;

        if (max == 0)
                return false;
        if (s->backend == STORAGE_BTRFS) {
                root = path_join(dir, "root");
                r = root ? qgroup_exclusive(root, &used) : -ENOMEM;
        } else if (s->backend == STORAGE_TMPFS)
                r = tmpfs_used(s, &used);
        else
                return false;
        if (r < 0) {
                log_debug_errno(r, "Cannot tell how much of its disk the job used: %m");
                return false;
        }
        return used + DISK_LIMIT_SLACK(max) >= max;
}

bool disk_limit_denies_subvolumes(const MachineState *s, uint64_t max) {
        return s->backend == STORAGE_BTRFS && max > 0;
}
