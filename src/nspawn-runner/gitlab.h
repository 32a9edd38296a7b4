/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "context.h"

#define BUILDS_DIR "/builds"
#define CACHE_DIR "/cache"

/* The executor's stages as gitlab-runner's config.toml (and its register flags) name them. */
typedef struct GitlabExec {
        const char *key;     /* config, prepare, run, cleanup: [runners.custom] KEY_exec, KEY_args */
        const char *command; /* the nspawn-runner command that does it */
        unsigned timeout;    /* KEY_exec_timeout in seconds; 0: none */
} GitlabExec;

#define GITLAB_EXECS 4
extern const GitlabExec gitlab_execs[GITLAB_EXECS];
/* The arguments of one stage's call: [--state-dir DIR] COMMAND [--default-image IMG] (the state dir
 * when it is not the default; the image, when not NULL, for prepare only). Returns how many there
 * are. Both config.toml and the register flags are made of these. */
#define GITLAB_EXEC_ARGS_MAX 5
size_t gitlab_exec_args(const Context *c, const GitlabExec *e, const char *default_image,
                        const char *ret[GITLAB_EXEC_ARGS_MAX]);
/* The shell gitlab-runner writes the stages' scripts for: run executes them with bash. */
#define GITLAB_SHELL "bash"
#define GITLAB_GRACEFUL_KILL_TIMEOUT 10
#define GITLAB_FORCE_KILL_TIMEOUT 10

/* Writes s as a JSON string literal (quotes included). */
void json_write_string(FILE *f, const char *s);
/* Writes s as a TOML basic string (quotes included). */
void toml_write_string(FILE *f, const char *s);

/* config_exec: the JSON gitlab-runner reads. */
int gitlab_config_write(const Context *c, FILE *f);
/* A [[runners]] section that runs this executor; self is the absolute path of this program;
 * default_image (or NULL) the image of jobs that name none. */
int gitlab_toml_write(const Context *c, const char *self, const char *default_image, FILE *f);
