/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-scan-report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds the lines of text as the daemon does; returns the first error or what finish says. */
static int feed_all(ScanReport *r, const char *text, size_t size) {
        const char *p = text, *end = text + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                int k = daemon_scan_report_feed(r, p, n);

                if (k < 0)
                        return k;
                p += n + 1;
        }
        return daemon_scan_report_finish(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ScanReport r = {}, t = {};
        char *text;

        if (feed_all(&r, (const char *) data, size) < 0) {
                daemon_scan_report_done(&r);
                return 0;
        }
        /* What parses must survive a round trip unchanged. */
        text = daemon_scan_report_format(&r);
        if (!text || feed_all(&t, text, strlen(text)) < 0 || t.n_images != r.n_images || t.has_gc != r.has_gc ||
            memcmp(&t.gc, &r.gc, sizeof(t.gc)) != 0)
                abort();
        for (size_t i = 0; i < r.n_images; i++)
                if (strcmp(t.images[i].name, r.images[i].name) != 0 || t.images[i].bytes != r.images[i].bytes)
                        abort();
        free(text);
        daemon_scan_report_done(&r);
        daemon_scan_report_done(&t);
        return 0;
}
