/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>

#include "cache.h"
#include "tap.h"

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

int main(void) {
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
        return tap_done();
}
