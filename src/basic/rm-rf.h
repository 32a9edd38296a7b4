/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Removes path and all below it; btrfs subvolumes are destroyed whole. Never crosses into another
 * mount: a mount found below path makes it fail with -EBUSY, leaving that mount alone. A missing
 * path is not an error. */
int rm_rf(const char *path);
