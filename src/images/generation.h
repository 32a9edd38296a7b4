/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "context.h"

/* Making and changing an image's generations. A generation is built aside and only made current
 * (image_switch()) once it is complete, so jobs never see one half-made. */

typedef struct ImageSettings {
        const char *suite;   /* default: the image's name */
        const char *mirror;  /* default: this host's apt configuration */
        const char *arch;    /* default: the host's */
        const char *include; /* extra packages, comma-separated */
        const char *playbook; /* the image's playbook, if it has one */
} ImageSettings;

/* The packages every chroot gets on top of minbase: what gitlab-runner's stages call. */
#define CHROOT_BASE_PACKAGES "git,ca-certificates"

/* Runs argv inside root with systemd-nspawn (no machine of a job: for maintenance). interactive
 * gives it the terminal. */
int nspawn_in(const char *root, const char *arch, char *const *argv, bool interactive, int sigfd);

/* debootstraps a new generation. */
int generation_bootstrap(const Context *c, const char *name, unsigned gen, const ImageSettings *s, int sigfd);
/* Makes generation gen a copy of the directory from: a snapshot on btrfs, else a reflink copy. */
int generation_copy(const Context *c, const char *name, const char *from, unsigned gen, int sigfd);
/* Brings a generation up to date: runs the playbook, or apt-get dist-upgrade without one. Sets
 * *ret_changed when something changed. */
int generation_update(const Context *c, const char *name, unsigned gen, const ImageSettings *s, bool *ret_changed,
                      int sigfd);
/* Writes the generation's info and makes it the image's current one. */
int generation_commit(const Context *c, const char *name, unsigned gen, const ImageSettings *s);
/* Removes a generation that never became current. */
void generation_discard(const Context *c, const char *name, unsigned gen);

/* 0 when ansible-playbook is there to run playbook; logs otherwise. */
int ansible_check_installed(const char *playbook);

/* Finds NAME.yaml or NAME.yml in the config dir, then the state dir. */
int playbook_find(const Context *c, const char *name, char **ret_path);
