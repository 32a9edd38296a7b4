/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* `nspawn-runner chroot maintenance`: brings the images up to date. */

#include "config.h"
#include "context.h"

/* The images there are, those playbooks define and those nspawn-runner.conf lists: each name once,
 * sorted. */
int maintenance_names_wanted(const Context *c, const Config *cfg, char ***ret);
/* Refreshes (or creates, or recreates) every image or just name; 0 when none failed. */
int maintenance_run(const Context *c, const char *name);
