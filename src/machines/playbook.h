/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "context.h"
#include "job-limits.h"
#include "network-util.h"

#define PLAYBOOK_SIZE_MAX (1024U * 1024U)

/* What an image's Ansible playbook says about the image itself: the nspawn_runner_* variables of
 * the first play's vars. Everything else in it is Ansible's business. */
typedef struct Playbook {
        char *suite;        /* nspawn_runner_chroot_suite */
        char *mirror;       /* nspawn_runner_chroot_mirror */
        char *arch;         /* nspawn_runner_chroot_arch */
        char *include;      /* nspawn_runner_chroot_include, as "a,b,c" */
        int maint_recreate; /* nspawn_runner_maint_recreate: -1 when not set */
        NetworkMode network; /* nspawn_runner_network: _NETWORK_MODE_INVALID when not set */
        JobLimits limits;   /* nspawn_runner_job_*: the image's own limits */
        unsigned limits_set; /* bit 1 << JobLimit for each of them given */
        int job_suppress_sync; /* nspawn_runner_job_suppress_sync: -1 when not set */
        unsigned n_plays;
} Playbook;

#define PLAYBOOK_INIT { .maint_recreate = -1, .network = _NETWORK_MODE_INVALID, .job_suppress_sync = -1 }

void playbook_done(Playbook *p);
/* Parses a playbook's text. On error, logs one line naming file, line and key, and returns -EINVAL
 * (or -ENOMEM, -EFBIG). */
int playbook_parse(const char *file, const char *text, size_t size, Playbook *ret);
int playbook_load(const char *path, Playbook *ret);

/* Finds NAME.yaml or NAME.yml in the config dir, then the state dir: 1 and its path, or 0 and
 * NULL when there is none; -ENOMEM. */
int playbook_find(const Context *c, const char *name, char **ret_path);
/* What a job on an image runs with: the configuration, and over it the image playbook's
 * nspawn_runner_job_* and nspawn_runner_network. */
typedef struct JobSettings {
        Config config;
        JobLimits limits;
        bool suppress_sync;
        NetworkMode network;
} JobSettings;

/* Reads the configuration and the image's playbook, each once: a broken playbook is said in one
 * line (by playbook_load()) and the image runs as configured. Fails only with -ENOMEM. */
int playbook_job_settings(const Context *c, const char *image, JobSettings *ret);
/* Also of a zeroed JobSettings. */
void playbook_job_settings_done(JobSettings *s);
/* The limits of playbook_job_settings(). */
int playbook_job_limits(const Context *c, const char *image, JobLimits *ret);
