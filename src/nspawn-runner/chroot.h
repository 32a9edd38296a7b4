/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

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
