/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache.h"
#include "macro.h"
#include "util.h"

int cache_mark_used(int dir_fd) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld", (long long) time(NULL));

        return fsetxattr(dir_fd, CACHE_LAST_USE_XATTR, buf, (size_t) n, 0) < 0 ? -errno : 0;
}

time_t cache_last_used(int dir_fd) {
        char buf[32];
        uint64_t t;
        ssize_t n;

        n = fgetxattr(dir_fd, CACHE_LAST_USE_XATTR, buf, sizeof(buf) - 1);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        return safe_atou64(buf, &t) < 0 ? 0 : (time_t) t;
}

int cache_mark_project_used(const Context *c, const char *project_path) {
        _cleanup_free_ char *cache = context_cache_dir(c), *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *state = NULL;
        unsigned depth = 0;

        if (!cache)
                return -ENOMEM;
        if (isempty(project_path) || strlen(project_path) > CACHE_PROJECT_PATH_MAX)
                return -EINVAL;
        path = strdup(project_path);
        if (!path)
                return -ENOMEM;
        fd = open(cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* One component at a time, none a symlink, "." or "..": a job may have put anything there. */
        for (char *p = strtok_r(path, "/", &state); p; p = strtok_r(NULL, "/", &state)) {
                int sub;

                if (streq(p, ".") || streq(p, ".."))
                        return -EINVAL;
                sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return -errno;
                close(fd);
                fd = sub;
                depth++;
        }
        return depth > 0 ? cache_mark_used(fd) : -EINVAL;
}
