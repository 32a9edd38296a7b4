/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* What one job's machine may use. A field of 0 sets no limit. */
typedef struct JobLimits {
        uint64_t memory_max; /* bytes of RAM */
        uint64_t swap_max;   /* bytes of swap on top */
        uint64_t tasks_max;  /* processes and threads */
        uint64_t cpu_weight; /* 1..10000, 100 being everyone's share */
        uint64_t cpu_quota;  /* percent of one CPU */
} JobLimits;

/* The character devices a job may open (besides what systemd's DevicePolicy=closed allows): its
 * own pseudo terminals, and tun for user-mode networking in nested sandboxes. */
#define JOB_DEVICES_ALLOW_PTS "char-pts"
#define JOB_DEVICES_ALLOW_TUN "/dev/net/tun"
