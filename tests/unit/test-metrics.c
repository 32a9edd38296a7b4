/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "metrics.h"
#include "tap.h"

int main(void) {
        MetricsImage images[] = { { "bookworm", 123456 }, { "we\"ird\\na\nme", 7 } };
        Metrics m = {
                .jobs_running = 2,
                .jobs_total = 40,
                .jobs_failed = 3,
                .last_refresh_success = 1,
                .last_refresh_time = 1700000000,
                .images = images,
                .n_images = 2,
        };
        char *t = metrics_format(&m);

        CHECK(t != NULL, "formatted");
        CHECK(strstr(t, "# HELP nspawn_runner_jobs_running ") && strstr(t, "# TYPE nspawn_runner_jobs_running gauge\n"),
              "HELP and TYPE lines");
        CHECK(strstr(t, "\nnspawn_runner_jobs_running 2\n"), "jobs running");
        CHECK(strstr(t, "# TYPE nspawn_runner_jobs_total counter\nnspawn_runner_jobs_total 40\n"), "jobs total, a counter");
        CHECK(strstr(t, "\nnspawn_runner_jobs_failed_total 3\n"), "jobs failed");
        CHECK(strstr(t, "\nnspawn_runner_last_refresh_success 1\n"), "refresh success");
        CHECK(strstr(t, "\nnspawn_runner_last_refresh_timestamp_seconds 1700000000\n"), "refresh time");
        CHECK(strstr(t, "\nnspawn_runner_image_disk_bytes{image=\"bookworm\"} 123456\n"), "image bytes");
        CHECK(strstr(t, "{image=\"we\\\"ird\\\\na\\nme\"} 7\n"), "label value escaped");
        CHECK(t[strlen(t) - 1] == '\n', "ends with a newline");
        /* Every sample has its TYPE line before it. */
        {
                unsigned types = 0;
                for (const char *p = t; (p = strstr(p, "# TYPE ")); p++)
                        types++;
                CHECK(types == 6, "six metric families (%u)", types);
        }
        free(t);

        m.last_refresh_success = 0;
        t = metrics_format(&m);
        CHECK(t && strstr(t, "\nnspawn_runner_last_refresh_success 0\n"), "refresh failure");
        free(t);

        m = (Metrics) { .last_refresh_success = -1 };
        t = metrics_format(&m);
        CHECK(t && !strstr(t, "last_refresh"), "no refresh yet: no refresh metrics");
        CHECK(t && strstr(t, "# TYPE nspawn_runner_image_disk_bytes gauge\n") && !strstr(t, "{image="), "no images");
        free(t);
        return tap_done();
}
