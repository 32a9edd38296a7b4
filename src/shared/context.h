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

/* A job's machine is named by a key: JOBID-XXXXXXXX (8 random hex digits) that gitlab-config makes
 * for each prepare attempt and gitlab-runner hands to that attempt's prepare, run and cleanup in
 * this variable (config's job_env), so that no other prepare — a second one for the same job id,
 * another GitLab instance's job of the same id — can hit its machine. Without it (a config.toml
 * without config_exec, or --id), the key is the job id alone. */
#define MACHINE_KEY_ENV "NSPAWN_RUNNER_MACHINE"
#define MACHINE_KEY_RANDOM_LEN 8

/* Checks that id is a job id: 1 to JOB_ID_MAX decimal digits. */
int job_id_check(const char *id);
/* Checks that key is a machine key: a job id, optionally followed by '-' and MACHINE_KEY_RANDOM_LEN
 * lowercase hex digits. */
int machine_key_check(const char *key);
/* A new machine key for job_id. */
int machine_key_new(const char *job_id, char **ret);
/* The job's machine key: --id, else $NSPAWN_RUNNER_MACHINE, else $CUSTOM_ENV_CI_JOB_ID; logs and
 * fails when none is valid. */
int job_id_resolve(const char *arg, const char **ret);

/* Reads an exit code (0..255) from the environment, or returns def. */
int exit_code_from_env(const char *name, int def);

char *context_machines_dir(const Context *c);
char *context_machine_dir(const Context *c, const char *id);
char *context_cache_dir(const Context *c);
char *context_image_dir(const Context *c, const char *name);
