/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "context.h"
#include "macro.h"

/* nspawn-runner appliance-setup: what the appliance does at every boot, between nspawn-runnerd (the
 * LED) and gitlab-runner. Each step logs one line; what needs a person's look is a "problem": one line
 * each in RUN/setup-problems (the daemon shows them on the LED and in its status file). */

#define APPLIANCE_BOOT_DIR_DEFAULT "/boot/firmware"
#define APPLIANCE_RUN_DIR_DEFAULT "/run/nspawn-runner"
#define APPLIANCE_WAIT_DATA_DEFAULT 90
#define APPLIANCE_DIR ".appliance" /* in the state dir, on the data disk */
#define APPLIANCE_PROBLEMS_FILE "setup-problems"
#define DATA_DISK_LABEL "NSPAWN-DATA"

typedef struct ApplianceOptions {
        const char *boot_dir;
        const char *run_dir;
        const char *gitlab_runner_config; /* NULL: STATE/.appliance/gitlab-runner/config.toml */
        const char *control_socket;       /* nspawn-runnerd's */
        unsigned wait_data_sec;
} ApplianceOptions;

/* Returns 0 when there was no problem, 1 when there was one (written to the problems file), or a
 * negative errno when not even the problems file could be written. */
int appliance_setup(const Context *c, const ApplianceOptions *o);

#define PROBLEMS_MAX 32
#define PROBLEM_LINE_MAX 300

typedef struct Problems {
        char *lines[PROBLEMS_MAX];
        size_t n;
        const char *secret; /* scrubbed from every line, also in part */
} Problems;

/* Logs the problem and keeps it (at most PROBLEMS_MAX, each cut to one line). */
_printf_(2, 3) void problem_add(Problems *p, const char *format, ...);
void problems_done(Problems *p);
/* Replaces every run of at least 6 token characters that occurs in secret with "[token]". */
char *secret_scrub(const char *s, const char *secret);

/* Runs argv (searched in PATH) with env added to ours, stdin from /dev/null, stdout to ours, and
 * keeps the last non-empty line of its stderr (passed through to ours as well, both without secret)
 * in *ret_last_line.
 * Returns its exit status (0..255, 128+signal), or a negative errno when it cannot be started
 * (-ENOENT: not installed). */
int appliance_spawn(char *const *argv, char *const *env, const char *secret, char **ret_last_line);

/* The data disk (appliance-disk.c): waits up to wait_sec for the state dir to be the mount point of
 * a btrfs labelled NSPAWN-DATA; formats cfg->data_disk when it is blank. Returns true when the state
 * dir is on the data disk. */
bool appliance_data_disk(const Context *c, const Config *cfg, unsigned wait_sec, Problems *p);
/* Whether the state dir is the root of a mounted btrfs labelled NSPAWN-DATA. */
bool data_disk_mounted(const char *state_dir);
/* Probes dev with libblkid: 1 when it has no partition table and no signature at all, 0 when it has
 * (*ret_found says what), <0 on error. */
int disk_probe_blank(const char *dev, char **ret_found);

/* Registration (appliance-register.c): registers the runner once and sets concurrent. */
void appliance_register(const Context *c, const Config *cfg, const char *config_toml, Problems *p);
/* The text of a gitlab-runner config.toml with the top-level `concurrent` set to n (added when
 * missing); *ret_has_runners tells whether it has a [[runners]] table. */
int gitlab_runner_config_edit(const char *text, size_t size, unsigned concurrent, char **ret, bool *ret_has_runners);
#define GITLAB_RUNNER_CONFIG_MAX (1024U * 1024U)

/* ssh (appliance-ssh.c): authorized keys and sshd's configuration in RUN, host keys in key_dir. */
void appliance_ssh(const Config *cfg, const char *run_dir, const char *key_dir, Problems *p);
