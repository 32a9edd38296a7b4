/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "context.h"

typedef struct ChrootCreateOptions {
        const char *suite;   /* default: the image's name */
        const char *mirror;  /* default: this host's apt configuration */
        const char *include; /* extra packages, comma-separated */
} ChrootCreateOptions;

/* The packages every chroot gets on top of minbase: what gitlab-runner's stages call. */
#define CHROOT_BASE_PACKAGES "git,ca-certificates"

int chroot_create(const Context *c, const char *name, const ChrootCreateOptions *o);
int chroot_login(const Context *c, const char *name);
int chroot_list(const Context *c);

/* Takes the image's lock (flock operation op, LOCK_NB implied): held while an image is changed. */
int image_lock(const Context *c, const char *name, int op, int *ret_fd);
/* Counts the machines made from the image in the state dir. */
int image_count_users(const Context *c, const char *image_path);
