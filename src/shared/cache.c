/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

int cache_subdir_check(const char *p) {
        size_t n = strlen(p);

        if (n == 0 || n > CACHE_SUBDIR_MAX || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//"))
                return -EINVAL;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f || strchr(":,\\", *c))
                        return -EINVAL;
        /* No name may be hidden or a step up: "." and ".." are both dot-names. */
        for (const char *c = p; c; c = strchr(c, '/')) {
                if (*c == '/')
                        c++;
                if (*c == '.')
                        return -EINVAL;
        }
        return 0;
}

/* gitlab-runner's ProjectSlug(): the URL's path, without ".git", cleaned; and "project-<id>" when
 * that fails. Query and fragment are not part of the path. */
char *cache_subdir_from_url(const char *url) {
        const char *host = strstr(url, "://"), *path;
        _cleanup_free_ char *p = NULL;
        char *o, *start;
        size_t n;

        if (!host || host == url)
                return NULL;
        host += 3;
        path = host + strcspn(host, "/?#");
        if (path == host || *path != '/')
                return NULL;
        p = strndup(path, strcspn(path, "?#"));
        if (!p)
                return NULL;
        /* Collapse "//" and drop the leading and trailing '/'. */
        for (o = p, start = p; *start; start++)
                if (!(*start == '/' && (o == p || o[-1] == '/')))
                        *o++ = *start;
        *o = '\0';
        n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                p[--n] = '\0';
        if (n > 4 && streq(p + n - 4, ".git"))
                p[n - 4] = '\0';
        return cache_subdir_check(p) >= 0 ? TAKE_PTR(p) : NULL;
}

int cache_project_subdir(char **ret) {
        const char *url = getenv("CUSTOM_ENV_CI_REPOSITORY_URL"), *id = getenv("CUSTOM_ENV_CI_PROJECT_ID"),
                   *path = getenv("CUSTOM_ENV_CI_PROJECT_PATH");
        uint64_t u;

        if (url && (*ret = cache_subdir_from_url(url)))
                return 0;
        if (id && safe_atou64(id, &u) >= 0) {
                *ret = strprintf("project-%llu", (unsigned long long) u);
                return *ret ? 0 : -ENOMEM;
        }
        if (path && cache_subdir_check(path) >= 0) {
                *ret = strdup(path);
                return *ret ? 0 : -ENOMEM;
        }
        return -ENOENT;
}
