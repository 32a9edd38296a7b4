/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scan child's report: what it writes, what the daemon takes, and what it refuses. */
#include "daemon-scan-report.h"
#include "macro.h"
#include "tap.h"

static int feed_text(ScanReport *r, const char *text) {
        const char *p = text;

        while (*p) {
                size_t n = strcspn(p, "\n");
                int k = daemon_scan_report_feed(r, p, n);

                if (k < 0)
                        return k;
                p += n + (p[n] == '\n');
        }
        return daemon_scan_report_finish(r);
}

static int parse(const char *text) {
        ScanReport r = {};
        int k = feed_text(&r, text);

        daemon_scan_report_done(&r);
        return k;
}

static void test_round_trip(void) {
        ScanReport r = { .has_gc = true, .gc = { .machines = 1, .generations = 2, .caches = 3, .freed = 4096 } }, t = {};
        char *text;

        CHECK(daemon_scan_report_add(&r, "bookworm", 123456) == 0 && daemon_scan_report_add(&r, "ci", 0) == 0,
              "add two images");
        CHECK(daemon_scan_report_add(&r, "ci", 1) == -EINVAL, "a name only once");
        CHECK(daemon_scan_report_add(&r, "../etc", 1) == -EINVAL && daemon_scan_report_add(&r, "", 1) == -EINVAL,
              "bad names refused");
        text = daemon_scan_report_format(&r);
        CHECK_STREQ(text, "gc 1 2 3 4096\nimage 123456 bookworm\nimage 0 ci\nend 2\n", "format");
        CHECK(text && feed_text(&t, text) == 0, "what is written parses");
        CHECK(t.has_gc && t.gc.machines == 1 && t.gc.generations == 2 && t.gc.caches == 3 && t.gc.freed == 4096, "gc stats");
        CHECK(t.n_images == 2 && strcmp(t.images[1].name, "ci") == 0 && t.images[0].bytes == 123456, "images");
        free(text);
        daemon_scan_report_done(&r);
        daemon_scan_report_done(&t);
        CHECK(r.n_images == 0 && !r.images, "done leaves an empty report");
}

static void test_refused(void) {
        static const char *const bad[] = {
                "",                                  /* no end */
                "image 1 a\n",                       /* no end */
                "end 1\n",                           /* count does not match */
                "end 0\nend 0\n",                    /* after end */
                "image 1 a\nimage 2 a\nend 2\n",     /* a name twice */
                "image 1 a\ngc 0 0 0 0\nend 1\n",    /* gc after images */
                "gc 0 0 0 0\ngc 0 0 0 0\nend 0\n",   /* gc twice */
                "gc 0 0 0\nend 0\n",                 /* a field short */
                "gc 4294967296 0 0 0\nend 0\n",      /* more than unsigned */
                "image 18446744073709551616 a\nend 1\n", /* more than 64 bits */
                "image -1 a\nend 1\n",
                "image 1  a\nend 1\n",               /* two spaces */
                "image 1 a \nend 1\n",               /* trailing space */
                "image 1 a/b\nend 1\n",
                "image 1 .hidden\nend 1\n",
                "image 1 a b\nend 1\n",
                "\nend 0\n",                         /* an empty line */
                "images 1 a\nend 1\n",
                "END 0\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK(parse(bad[i]) == -EBADMSG, "refused: case %zu", i);
        CHECK(parse("end 0\n") == 0 && parse("image 1 a\nend 1") == 0, "minimal reports parse");
}

static void test_limits(void) {
        ScanReport r = {};
        char line[SCAN_REPORT_LINE_MAX + 8], nul[] = "end 0";
        int k = 0;

        for (unsigned i = 0; i < SCAN_REPORT_IMAGES_MAX && k == 0; i++) {
                snprintf(line, sizeof(line), "image %u i%u", i, i);
                k = daemon_scan_report_feed(&r, line, strlen(line));
        }
        CHECK(k == 0 && r.n_images == SCAN_REPORT_IMAGES_MAX, "%u images are taken", SCAN_REPORT_IMAGES_MAX);
        CHECK(daemon_scan_report_feed(&r, "image 1 onemore", 15) == -E2BIG, "one more is too many");
        daemon_scan_report_done(&r);

        memset(line, 'a', sizeof(line));
        memcpy(line, "image 1 ", 8);
        CHECK(daemon_scan_report_feed(&r, line, SCAN_REPORT_LINE_MAX) == -EBADMSG, "an overlong line is refused");
        nul[3] = 0;
        CHECK(daemon_scan_report_feed(&r, nul, 5) == -EBADMSG, "a NUL byte is refused");
        daemon_scan_report_done(&r);
}

int main(void) {
        test_round_trip();
        test_refused();
        test_limits();
        return tap_done();
}
