/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The Prometheus node_exporter textfile nspawn-runnerd writes. Pure: formats what it is given. */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct MetricsImage {
        const char *name;
        uint64_t bytes;
} MetricsImage;

typedef struct Metrics {
        unsigned jobs_running;
        uint64_t jobs_total, jobs_failed;
        int last_refresh_success; /* 1, 0, or -1: no refresh yet (the metric is left out) */
        time_t last_refresh_time;
        const MetricsImage *images;
        size_t n_images;
} Metrics;

/* Returns a new string with # HELP and # TYPE lines, or NULL when out of memory. */
char *metrics_format(const Metrics *m);
