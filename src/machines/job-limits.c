/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "generation.h"
#include "job-limits.h"
#include "log.h"
#include "playbook.h"
#include "util.h"

static const struct {
        const char *key; /* in nspawn-runner.conf; config.c's key table says what a value looks like */
        uint64_t min, max;
} limits[_JOB_LIMIT_MAX] = {
        [JOB_LIMIT_MEMORY] = { "job_memory_max", 1, 1ULL << 50 },
        [JOB_LIMIT_SWAP] = { "job_swap_max", 1, 1ULL << 50 },
        [JOB_LIMIT_TASKS] = { "job_tasks_max", 16, 4194304 }, /* PID_MAX_LIMIT */
        [JOB_LIMIT_CPU_WEIGHT] = { "job_cpu_weight", 1, 10000 },
        [JOB_LIMIT_CPU_QUOTA] = { "job_cpu_quota", 1, 100000 },
        /* Below that systemd-nspawn cannot set up the machine's root. */
        [JOB_LIMIT_DISK] = { "job_disk_max", 16ULL << 20, 1ULL << 50 },
};

const char *job_limit_to_string(JobLimit l) {
        return l >= 0 && l < _JOB_LIMIT_MAX ? limits[l].key : NULL;
}

JobLimit job_limit_from_string(const char *s) {
        for (JobLimit l = 0; l < _JOB_LIMIT_MAX; l++)
                if (streq(s, limits[l].key))
                        return l;
        return _JOB_LIMIT_INVALID;
}

int job_limit_parse(JobLimit l, const char *v, uint64_t *ret) {
        _cleanup_free_ char *num = strdup(v);
        uint64_t u, mult = 1;
        size_t n;

        if (!num)
                return -ENOMEM;
        if (streq(v, "off") && l != JOB_LIMIT_CPU_WEIGHT) {
                *ret = 0;
                return 0;
        }
        n = strlen(num);
        if (n > 0 && (l == JOB_LIMIT_MEMORY || l == JOB_LIMIT_SWAP || l == JOB_LIMIT_DISK)) {
                const char *units = "KMGT";
                const char *p = strchr(units, num[n - 1]);
                if (p && *p) {
                        mult = 1ULL << (10 * (p - units + 1));
                        num[--n] = '\0';
                }
        } else if (n > 0 && l == JOB_LIMIT_CPU_QUOTA && num[n - 1] == '%')
                num[--n] = '\0';
        if (safe_atou64(num, &u) < 0)
                return -EINVAL;
        if (u > limits[l].max / mult || u * mult < limits[l].min)
                return -ERANGE;
        *ret = u * mult;
        return 0;
}

char *job_limit_format(JobLimit l, uint64_t v) {
        switch (l) {
        case JOB_LIMIT_MEMORY:
        case JOB_LIMIT_SWAP:
        case JOB_LIMIT_DISK:
                return strprintf("%.1f MiB", (double) v / (1 << 20));
        case JOB_LIMIT_TASKS:
                return strprintf("%llu tasks", (unsigned long long) v);
        case JOB_LIMIT_CPU_QUOTA:
                return strprintf("%llu%% of a CPU", (unsigned long long) v);
        default:
                return strprintf("%llu", (unsigned long long) v);
        }
}

int job_limits_for_image(const Context *c, const char *image, JobLimits *ret) {
        _cleanup_(config_done) Config cfg;
        _cleanup_(playbook_done) Playbook pb = PLAYBOOK_INIT;
        _cleanup_free_ char *playbook = NULL;
        int r;

        config_load_dir(c->config_dir, &cfg); /* initializes cfg */
        *ret = cfg.job_limits;
        r = playbook_find(c, image, &playbook);
        if (r < 0)
                return log_oom();
        if (r == 0 || playbook_load(playbook, &pb) < 0)
                return 0; /* a broken playbook was said by playbook_load(); the image runs as configured */
        for (JobLimit l = 0; l < _JOB_LIMIT_MAX; l++)
                if (pb.limits_set & (1U << l))
                        ret->value[l] = pb.limits.value[l];
        return 0;
}
