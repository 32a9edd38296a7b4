/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "job-stats.h"
#include "tap.h"
#include "util.h"

int main(void) {
        char dir[] = "/tmp/test-job-stats-XXXXXX";
        uint64_t total = 99, failed = 99;
        char *path, *text = NULL;

        CHECK(mkdtemp(dir) != NULL, "temp dir");
        CHECK(job_stats_load(dir, &total, &failed) == 0 && total == 0 && failed == 0, "no file: zero");
        CHECK(job_stats_record(dir, false) == 0, "one job");
        CHECK(job_stats_record(dir, true) == 0, "one failed job");
        CHECK(job_stats_record(dir, false) == 0, "another job");
        CHECK(job_stats_load(dir, &total, &failed) == 0 && total == 3 && failed == 1, "3 jobs, 1 failed");
        path = path_join(dir, JOB_STATS_FILE);
        CHECK(read_full_file(path, 4096, &text, NULL) == 0, "read");
        CHECK_STREQ(text, "jobs_total=3\njobs_failed=1\n", "file format");
        free(text);
        CHECK(write_file_atomic(path, "garbage\n", 0644) == 0, "damage it");
        CHECK(job_stats_record(dir, true) == 0, "a damaged file starts over");
        CHECK(job_stats_load(dir, &total, &failed) == 0 && total == 1 && failed == 1, "1 job, 1 failed");
        unlink(path);
        free(path);
        rmdir(dir);
        return tap_done();
}
