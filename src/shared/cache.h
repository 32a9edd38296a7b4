/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <time.h>

#include "context.h"

/* When a job last used a cache directory, kept by nspawn-runner itself: atime is not kept on a
 * noatime mount, and a cache a job only reads is as used as one it writes. An xattr in the trusted
 * namespace, so that jobs (without CAP_SYS_ADMIN on the host) can neither read nor change it. */
#define CACHE_LAST_USE_XATTR "trusted.nspawn-runner.last-use"
/* The longest project path taken from a job (GitLab allows 255 characters per component, 20 levels). */
#define CACHE_PROJECT_PATH_MAX 1024

/* Records now as the last use of the cache directory dir_fd, whatever its depth in the cache dir. */
int cache_mark_used(int dir_fd);
/* What cache_mark_used() recorded on dir_fd, or 0 when nothing (or an unreadable record). */
time_t cache_last_used(int dir_fd);
/* Marks the cache of the job's project (gitlab-runner keeps it in <cache dir>/<project path>) when
 * it exists: 0, or -ENOENT when it does not. Follows no symlink: the cache dir is the jobs'. */
int cache_mark_project_used(const Context *c, const char *project_path);

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
