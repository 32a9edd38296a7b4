/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* What nspawn-runnerd's scan child (gc and the images' disk usage) tells the daemon over a pipe.
 * Lines, each at most SCAN_REPORT_LINE_MAX bytes with its newline:
 *     gc MACHINES GENERATIONS CACHES FREED_BYTES     (only when gc ran; at most once, first)
 *     image BYTES NAME                               (NAME a valid image name; each name once)
 *     end COUNT                                      (last: COUNT image lines came before it)
 * Numbers are plain decimal. Pure: no I/O besides scan_report_print()'s write to an fd. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gc.h"

#define SCAN_REPORT_LINE_MAX 256
#define SCAN_REPORT_IMAGES_MAX 1024

typedef struct ScanImage {
        char *name;
        uint64_t bytes;
} ScanImage;

typedef struct ScanReport {
        bool has_gc;
        GcStats gc;
        ScanImage *images;
        size_t n_images;
        bool ended;
} ScanReport;

void scan_report_done(ScanReport *r);
/* Appends an image (a copy of name); -EINVAL for a bad name, -E2BIG past SCAN_REPORT_IMAGES_MAX. */
int scan_report_add(ScanReport *r, const char *name, uint64_t bytes);
/* The whole report as text; NULL when out of memory. */
char *scan_report_format(const ScanReport *r);
/* Takes one line (without its newline) of length n, which may hold NUL bytes (refused). -EBADMSG
 * for anything not in the format above or out of order, -E2BIG for too many images. */
int scan_report_feed(ScanReport *r, const char *line, size_t n);
/* After the last line: -EBADMSG unless "end" came. */
int scan_report_finish(const ScanReport *r);
