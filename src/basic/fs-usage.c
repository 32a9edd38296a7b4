/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-usage.h"
#include "util.h"

#define DEPTH_MAX 256

static uint64_t usage_at(int dirfd, dev_t dev, unsigned depth) {
        struct dirent *de;
        uint64_t sum = 0;
        _cleanup_closedir_ DIR *d = NULL;
        int fd;

        if (depth > DEPTH_MAX)
                return 0;
        fd = dup(dirfd);
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return 0;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                sum += (uint64_t) st.st_blocks * 512;
                if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                sum += usage_at(sub, dev, depth + 1);
                                (void) close(sub);
                        }
                }
        }
        return sum;
}

int fs_usage(const char *path, uint64_t *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        *ret = (uint64_t) st.st_blocks * 512 + usage_at(fd, st.st_dev, 0);
        return 0;
}
