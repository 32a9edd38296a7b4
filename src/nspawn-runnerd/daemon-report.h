/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The appliance's plain-text side of nspawn-runnerd: the problems appliance-setup found (one line
 * each in a small file), and the status report for a person who reads the SD card on a laptop.
 * Pure. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon-scan-report.h"

#define PROBLEMS_SIZE_MAX 4096U
#define PROBLEM_LINE_MAX 512U

/* The problem lines of text (size bytes): CRLF or LF, blank lines skipped, blanks around a line
 * dropped, control characters shown as '?', lines cut at PROBLEM_LINE_MAX, and anything that looks
 * like a runner token ("glrt-…") hidden. *ret is a NULL-terminated list, empty for no problem.
 * -EBADMSG when text holds a NUL byte (not text), -EFBIG above PROBLEMS_SIZE_MAX. The list has
 * room for one more line after the NULL. */
int problems_parse(const char *text, size_t size, char ***ret);

typedef struct StatusReport {
        const char *status; /* the STATUS= line */
        unsigned jobs_running;
        uint64_t jobs_total, jobs_failed;
        const ScanImage *images;
        size_t n_images;
        int last_refresh; /* 1, 0, or -1: none since the daemon started */
        time_t last_refresh_time;
        bool disk_known;
        unsigned disk_percent;
        const char *state_dir;
        char *const *problems; /* NULL-terminated, or NULL */
} StatusReport;

/* The report without its first line (the time it was written), CRLF line ends: what is compared to
 * decide whether to write the file again. NULL when out of memory. */
char *status_report_body(const StatusReport *r);
/* The whole file: a line with the time now, then body. */
char *status_report_file(const char *body, time_t now);
