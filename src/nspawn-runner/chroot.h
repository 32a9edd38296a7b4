/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "context.h"

typedef struct ChrootCreateOptions {
        const char *suite;   /* default: the playbook's, else the image's name */
        const char *mirror;  /* default: the playbook's, else this host's apt configuration */
        const char *include; /* extra packages, comma-separated, on top of the playbook's */
        const char *arch;    /* default: the playbook's, else the host's */
} ChrootCreateOptions;

int chroot_create(const Context *c, const char *name, const ChrootCreateOptions *o);
int chroot_login(const Context *c, const char *name);
int chroot_list(const Context *c, bool json);
/* The images there are, those playbooks define and those nspawn-runner.conf lists: each name once,
 * sorted. */
int chroot_names_wanted(const Context *c, const Config *cfg, char ***ret);
/* Refreshes (or creates, or recreates) every image or just name; 0 when none failed. */
int chroot_maintenance(const Context *c, const char *name);
