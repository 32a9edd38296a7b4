/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

/* <state-dir>/.draining: nspawn-runnerd drains for a power-off and prepare refuses new jobs. It holds
 * the boot id of the boot that drains: a flag from an earlier boot (the power-off it was for, a
 * crash) means nothing, also when the state dir is a disk mounted after the daemon started. */
#define DRAINING_FLAG ".draining"

int drain_flag_set(const char *state_dir);
/* 1 when this boot drains, 0 when not (no flag, or one from another boot), negative on error. */
int drain_flag_active(const char *state_dir);
