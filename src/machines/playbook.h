/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "network.h"
#include "job-limits.h"

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
