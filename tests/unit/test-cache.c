/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache.h"
#include "rm-rf.h"
#include "tap.h"
#include "util.h"

static void slug(const char *url, const char *want) {
        char *got = cache_subdir_from_url(url);
        CHECK(want ? got && strcmp(got, want) == 0 : !got, "'%s' → %s (got %s)", url, want ?: "none", got ?: "none");
        free(got);
}

static void from_env(const char *url, const char *id, const char *path, int want_r, const char *want) {
        char *got = NULL;
        int r;

        url ? setenv("CUSTOM_ENV_CI_REPOSITORY_URL", url, 1) : unsetenv("CUSTOM_ENV_CI_REPOSITORY_URL");
        id ? setenv("CUSTOM_ENV_CI_PROJECT_ID", id, 1) : unsetenv("CUSTOM_ENV_CI_PROJECT_ID");
        path ? setenv("CUSTOM_ENV_CI_PROJECT_PATH", path, 1) : unsetenv("CUSTOM_ENV_CI_PROJECT_PATH");
        r = cache_project_subdir(&got);
        CHECK(r == want_r && (want ? got && strcmp(got, want) == 0 : !got), "from the job: %s (got %d %s)", want ?: "none",
              r, got ?: "none");
        free(got);
}

static time_t last_used(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        time_t t = fd >= 0 ? cache_last_used(fd) : -1;

        if (fd >= 0)
                close(fd);
        return t;
}

static void project_subdir_tests(void) {
        slug("https://gitlab-ci-token:glcbt-secret@gitlab.example.com/group/project.git", "group/project");
        slug("https://gitlab.example.com/gitlab/group/sub/project.git", "gitlab/group/sub/project");
        slug("http://gitlab.example.com:8080//group//project/", "group/project");
        slug("https://gitlab.example.com/group/project.git?x=1#y", "group/project");
        slug("https://gitlab.example.com/group/project", "group/project");
        slug("https://gitlab.example.com/a/../b.git", NULL);
        slug("https://gitlab.example.com/group/.hidden.git", NULL);
        slug("https://gitlab.example.com/", NULL);
        slug("https://gitlab.example.com", NULL);
        slug("https:///group/project.git", NULL);
        slug("/group/project.git", NULL);
        slug("https://gitlab.example.com/a:b/c.git", NULL);
        slug("https://gitlab.example.com/a,b/c.git", NULL);
        slug("https://gitlab.example.com/a\tb/c.git", NULL);
        slug("https://gitlab.example.com/.git", NULL);

        from_env("https://t:s@h.example/g/p.git", "7", "x/y", 0, "g/p");
        from_env("not a url", "7", "x/y", 0, "project-7");
        from_env(NULL, "007", NULL, 0, "project-7");
        from_env(NULL, "-1", "x/y", 0, "x/y");
        from_env(NULL, NULL, "../escape", -ENOENT, NULL);
        from_env(NULL, NULL, NULL, -ENOENT, NULL);

        CHECK(cache_subdir_check("group/project") == 0, "a project path passes");
        CHECK(cache_subdir_check("a/./b") < 0 && cache_subdir_check("a/..") < 0 && cache_subdir_check("/a") < 0 &&
                      cache_subdir_check("a/") < 0 && cache_subdir_check("") < 0,
              "dot names, absolute, trailing '/' and empty fail");
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

        project_subdir_tests();
        (void) rm_rf(state);
        free(cache), free(group), free(project), free(elsewhere), free(link);
        return tap_done();
}
