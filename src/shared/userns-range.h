/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Every machine runs in a user namespace of its own: uid and gid 0..65535 inside are
 * base..base+65535 on the host. The ranges lie above systemd's container range
 * (0x00080000–0x6FFF0000, what `systemd-nspawn --private-users=pick` takes), so no other container on
 * the host shares one; a range is taken while a machine directory names it in its state. */
#define USERNS_RANGE_SIZE 65536U
#define USERNS_BASE_FIRST 0x70000000U
#define USERNS_RANGES_MAX 1024U

/* Whether base starts one of those ranges. */
static inline bool userns_base_valid(uid_t base) {
        return base >= USERNS_BASE_FIRST && base % USERNS_RANGE_SIZE == 0 &&
               (base - USERNS_BASE_FIRST) / USERNS_RANGE_SIZE < USERNS_RANGES_MAX;
}
