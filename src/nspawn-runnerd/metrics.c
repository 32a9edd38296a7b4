/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "util.h"

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline. */
static void label_value(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '"')
                        fputs("\\\"", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        }
}

char *metrics_format(const Metrics *m) {
        MemStream ms;
        FILE *f = memstream_open(&ms);

        if (!f)
                return NULL;
        header(f, "nspawn_runner_jobs_running", "gauge", "Jobs running now.");
        fprintf(f, "nspawn_runner_jobs_running %u\n", m->jobs_running);
        header(f, "nspawn_runner_jobs_total", "counter", "Jobs that ended.");
        fprintf(f, "nspawn_runner_jobs_total %" PRIu64 "\n", m->jobs_total);
        header(f, "nspawn_runner_jobs_failed_total", "counter", "Jobs that ended with a failed stage.");
        fprintf(f, "nspawn_runner_jobs_failed_total %" PRIu64 "\n", m->jobs_failed);
        if (m->last_refresh_success >= 0) {
                header(f, "nspawn_runner_last_refresh_success", "gauge", "Whether the last image refresh succeeded.");
                fprintf(f, "nspawn_runner_last_refresh_success %d\n", m->last_refresh_success ? 1 : 0);
                header(f, "nspawn_runner_last_refresh_timestamp_seconds", "gauge", "When the last image refresh ended.");
                fprintf(f, "nspawn_runner_last_refresh_timestamp_seconds %lld\n", (long long) m->last_refresh_time);
        }
        header(f, "nspawn_runner_image_disk_bytes", "gauge", "Disk space of each image's current generation.");
        for (size_t i = 0; i < m->n_images; i++) {
                fputs("nspawn_runner_image_disk_bytes{image=\"", f);
                label_value(f, m->images[i].name);
                fprintf(f, "\"} %" PRIu64 "\n", m->images[i].bytes);
        }
        return memstream_finish(&ms);
}
