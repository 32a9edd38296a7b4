/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "storage.h"

#define DEFAULT_STATE_DIR "/var/lib/nspawn-runner"
#define DEFAULT_CONFIG_DIR "/etc/nspawn-runner"
#define JOB_ID_MAX 20 /* digits: every 64-bit job id fits */

/* What every command knows: where things live and how gitlab-runner wants failures reported. */
typedef struct Context {
        const char *state_dir;
        const char *config_dir;
        int build_failure_exit_code;
        int system_failure_exit_code;
} Context;

/* Checks that id is a job id: 1 to JOB_ID_MAX decimal digits. */
int job_id_check(const char *id);
/* The job id from --id, else from $CUSTOM_ENV_CI_JOB_ID; logs and fails when neither is valid. */
int job_id_resolve(const char *arg, const char **ret);

/* Reads an exit code (0..255) from the environment, or returns def. */
int exit_code_from_env(const char *name, int def);

char *context_machines_dir(const Context *c);
char *context_machine_dir(const Context *c, const char *id);
char *context_cache_dir(const Context *c);
char *context_image_dir(const Context *c, const char *name);
