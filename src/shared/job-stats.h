/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* <state-dir>/.stats: how many jobs ended and how many of them failed, as "jobs_total=N\n
 * jobs_failed=M\n", updated by cleanup under flock() and read by nspawn-runnerd for its metrics. */

#include <stdbool.h>
#include <stdint.h>

#define JOB_STATS_FILE ".stats"
/* In a job's machine dir: a stage of the job failed. */
#define JOB_FAILED_FLAG "failed"

int job_stats_load(const char *state_dir, uint64_t *ret_total, uint64_t *ret_failed);
int job_stats_record(const char *state_dir, bool failed);
