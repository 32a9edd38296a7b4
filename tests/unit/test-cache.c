/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cache's own last-use record (gc's LRU), on a real directory tree (root: trusted.* xattrs). */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache.h"
#include "rm-rf.h"
#include "tap.h"
#include "util.h"

static time_t last_used(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        time_t t = fd >= 0 ? cache_last_used(fd) : -1;

        if (fd >= 0)
                close(fd);
        return t;
}

int main(void) {
        char tmpl[] = "/var/tmp/test-cache.XXXXXX";
        const char *state = mkdtemp(tmpl);
        Context c = { .state_dir = state };
        char *cache = state ? path_join(state, ".cache") : NULL, *project = NULL, *group = NULL, *elsewhere = NULL,
             *link = NULL;
        time_t t0 = time(NULL);

        if (!cache || !(group = path_join(cache, "group")) || !(project = path_join(group, "sub/project")) ||
            !(elsewhere = path_join(state, "elsewhere")) || !(link = path_join(group, "link"))) {
                CHECK(false, "set up");
                return tap_done();
        }
        CHECK(mkdir_p(project, 0755) >= 0 && mkdir(elsewhere, 0755) >= 0 && symlink(elsewhere, link) >= 0,
              "cache tree set up");
        CHECK(last_used(project) == 0, "no record before a job used it");
        CHECK(cache_mark_project_used(&c, "group/sub/project") == 0, "a project path three levels deep is marked");
        CHECK(last_used(project) >= t0 && last_used(project) <= time(NULL), "the record is now");
        CHECK(last_used(group) == 0, "its parent is not marked");
        CHECK(cache_mark_project_used(&c, "group/none") == -ENOENT, "a project without a cache yet: -ENOENT");
        CHECK(cache_mark_project_used(&c, "group/link") == -ELOOP || cache_mark_project_used(&c, "group/link") == -ENOTDIR,
              "a symlink a job left in the cache is not followed");
        CHECK(last_used(elsewhere) == 0, "nothing outside the cache was marked");
        CHECK(cache_mark_project_used(&c, "group/../group/sub/project") == -EINVAL, "'..' refused");
        CHECK(cache_mark_project_used(&c, "") == -EINVAL && cache_mark_project_used(&c, NULL) == -EINVAL &&
                      cache_mark_project_used(&c, "///") == -EINVAL,
              "no project path, or one without a component, refused");
        CHECK(setxattr(group, CACHE_LAST_USE_XATTR, "12x", 3, 0) == 0 && last_used(group) == 0,
              "a garbled record reads as none");

        (void) rm_rf(state);
        free(cache), free(group), free(project), free(elsewhere), free(link);
        return tap_done();
}
