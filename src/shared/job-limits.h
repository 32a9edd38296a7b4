/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "context.h"

/* What one job's machine may use. A field of 0 sets no limit. */
typedef enum JobLimit {
        JOB_LIMIT_MEMORY, /* bytes of RAM */
        JOB_LIMIT_SWAP,   /* bytes of swap on top */
        JOB_LIMIT_TASKS,  /* processes and threads */
        JOB_LIMIT_CPU_WEIGHT, /* 1..10000, 100 being everyone's share */
        JOB_LIMIT_CPU_QUOTA,  /* percent of one CPU */
        JOB_LIMIT_DISK,       /* bytes the job may add to its machine's disk (tmpfs, btrfs) */
        _JOB_LIMIT_MAX,
        _JOB_LIMIT_INVALID = -EINVAL,
} JobLimit;

typedef struct JobLimits {
        uint64_t value[_JOB_LIMIT_MAX];
} JobLimits;

/* Sized for a 4 GB Raspberry Pi 4 running two jobs: each may take 1.5 GiB of RAM and 512 MiB of
 * swap, 1024 tasks, an even share of the CPUs, leaving the host, gitlab-runner and the daemon room.
 * No disk cap: overlayfs cannot enforce one, tmpfs is bounded by the memory limit already, and
 * btrfs quotas cost every write on the file system (README, "Security model"). */
#define JOB_LIMITS_DEFAULT                                                                             \
        ((JobLimits) { .value = { [JOB_LIMIT_MEMORY] = 1536ULL << 20, [JOB_LIMIT_SWAP] = 512ULL << 20, \
                                  [JOB_LIMIT_TASKS] = 1024, [JOB_LIMIT_CPU_WEIGHT] = 100 } })

/* The configuration key of a limit (job_memory_max, …); the playbook variable is
 * nspawn_runner_ and the same. */
const char *job_limit_to_string(JobLimit l);
JobLimit job_limit_from_string(const char *s);
/* Parses a value: sizes with K, M, G or T (powers of 1024; a disk cap from 16M), a count, a weight,
 * a percentage ("50%" or "50"); "off" for none. -EINVAL or -ERANGE. */
int job_limit_parse(JobLimit l, const char *v, uint64_t *ret);
/* "1.5 GiB", "1024 tasks", … for the line that says a job hit its limit. */
char *job_limit_format(JobLimit l, uint64_t v);

/* The limits of a job on image: the configuration's, then the image's playbook's variables. */
int job_limits_for_image(const Context *c, const char *image, JobLimits *ret);

/* The character devices a job may open (besides what systemd's DevicePolicy=closed allows): its
 * own pseudo terminals, and tun for user-mode networking in nested sandboxes. */
#define JOB_DEVICES_ALLOW_PTS "char-pts"
#define JOB_DEVICES_ALLOW_TUN "/dev/net/tun"
