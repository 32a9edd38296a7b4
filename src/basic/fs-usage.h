/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* Bytes allocated to path and everything below it on the same mount (blocks, as du counts them;
 * extents shared by btrfs snapshots count for each). */
int fs_usage(const char *path, uint64_t *ret);
