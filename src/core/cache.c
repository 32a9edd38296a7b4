/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "util.h"

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
