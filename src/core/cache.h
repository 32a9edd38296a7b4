/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#define CACHE_SUBDIR_MAX 1024

/* Where gitlab-runner keeps a project's cache under its cache_dir (its "project unique dir" for a
 * builds dir that is not shared): the path of the repository's URL without ".git" (group/project),
 * else project-<id>. From the job's variables: $CUSTOM_ENV_CI_REPOSITORY_URL, $CUSTOM_ENV_CI_PROJECT_ID,
 * and $CUSTOM_ENV_CI_PROJECT_PATH when neither is there. -ENOENT when the job names no project. The
 * URL carries the job's token: it is never logged. */
int cache_project_subdir(char **ret);
/* gitlab-runner's slug of a repository URL: its path without ".git" ("https://h/g/p.git" → "g/p"),
 * or NULL when that is no plain relative path (cache_subdir_check()). */
char *cache_subdir_from_url(const char *url);
/* Checks a relative path of plain names that nspawn's --bind can take: no '.', '..', empty or hidden
 * names, no ':', ',', '\\' or control characters. */
int cache_subdir_check(const char *p);
