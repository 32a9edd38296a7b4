/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The problems file's lines and the status report's text, as a person reads them. */
#include <stdlib.h>

#include "daemon-report.h"
#include "macro.h"
#include "tap.h"

static char **lines;

static int parse(const char *text, size_t size) {
        strv_freep(&lines);
        lines = NULL;
        return daemon_problems_parse(text, size, &lines);
}

/* A string literal without its terminating NUL. */
#define PARSE(literal) parse(literal, sizeof(literal) - 1)

static size_t count(char **l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

static void test_problems(void) {
        static const char crlf[] = "no data disk\r\n\r\n  gitlab_url missing  \r\nlast";
        static const char nul[] = "one\0two";
        char big[PROBLEMS_SIZE_MAX + 1];

        CHECK(PARSE("") == 0 && count(lines) == 0, "empty: no problem");
        CHECK(PARSE("\n \r\n\t\n") == 0 && count(lines) == 0, "blank lines: no problem");
        CHECK(parse(crlf, sizeof(crlf) - 1) == 0 && count(lines) == 3, "CRLF, blanks and a last line without newline");
        CHECK_STREQ(lines[0], "no data disk", "first line");
        CHECK_STREQ(lines[1], "gitlab_url missing", "blanks around a line dropped");
        CHECK_STREQ(lines[2], "last", "last line");
        CHECK(parse(nul, sizeof(nul) - 1) == -EBADMSG, "a NUL byte: not text");
        CHECK(PARSE("a\033[31mred\n") == 0 && strcmp(lines[0], "a?[31mred") == 0, "control characters shown as '?'");
        CHECK(PARSE("token glrt-abcdef123 refused\n") == 0 && strcmp(lines[0], "token glrt-... refused") == 0,
              "a runner token is hidden (%s)", lines[0]);
        CHECK(PARSE("glrt-x glrt-\n") == 0 && strcmp(lines[0], "glrt-. glrt-") == 0, "short tokens too (%s)", lines[0]);
        memset(big, 'x', sizeof(big));
        CHECK(parse(big, PROBLEMS_SIZE_MAX) == 0 && count(lines) == 1 && strlen(lines[0]) == PROBLEM_LINE_MAX,
              "a long line is cut at %u", PROBLEM_LINE_MAX);
        big[PROBLEM_LINE_MAX - 1] = ' ';
        CHECK(parse(big, PROBLEMS_SIZE_MAX) == 0 && strlen(lines[0]) == PROBLEM_LINE_MAX - 1,
              "a line cut just after a blank loses the blank too");
        CHECK(parse(big, sizeof(big)) == -EFBIG, "more than %u bytes: -EFBIG", PROBLEMS_SIZE_MAX);
        for (size_t i = 1; i < PROBLEMS_SIZE_MAX; i += 2)
                big[i] = '\n';
        CHECK(parse(big, PROBLEMS_SIZE_MAX) == 0 && count(lines) == PROBLEMS_SIZE_MAX / 2, "%u one-letter lines",
              PROBLEMS_SIZE_MAX / 2);
        strv_freep(&lines);
        lines = NULL;
}

static void test_report(void) {
        ScanImage images[] = { { .name = (char *) "bookworm", .bytes = 1288490189 }, { .name = (char *) "ci", .bytes = 512 } };
        char *problems[] = { (char *) "no data disk", (char *) "image = sid: unknown suite", NULL }, *none[] = { NULL };
        StatusReport r = {
                .status = "attention: no data disk; idle, 2 images",
                .jobs_running = 1,
                .jobs_total = 12,
                .jobs_failed = 2,
                .images = images,
                .n_images = 2,
                .last_refresh = 1,
                .last_refresh_time = 1764556200, /* 2025-12-01 02:30:00 UTC */
                .disk_known = true,
                .disk_percent = 42,
                .state_dir = "/var/lib/nspawn-runner",
                .problems = problems,
        };
        char *body = daemon_status_report_body(&r), *file;

        CHECK_STREQ(body,
                    "Status: attention: no data disk; idle, 2 images\r\n"
                    "Jobs: 1 running, 12 in all, 2 failed\r\n"
                    "Images: 2\r\n"
                    "  bookworm: 1.2 GiB\r\n"
                    "  ci: 512 B\r\n"
                    "Last refresh: succeeded at 2025-12-01 02:30:00 UTC\r\n"
                    "Disk: 42% used (/var/lib/nspawn-runner)\r\n"
                    "Problems:\r\n"
                    "  no data disk\r\n"
                    "  image = sid: unknown suite\r\n",
                    "the whole report");
        file = body ? daemon_status_report_file(body, 1764560000) : NULL;
        CHECK(file && strncmp(file, "nspawn-runner status, written 2025-12-01 03:33:20 UTC\r\n", 55) == 0 &&
              strcmp(file + 55, body) == 0, "the file: a time line, then the body");
        free(body);
        free(file);

        r = (StatusReport) { .status = "idle, 0 images", .last_refresh = -1, .state_dir = "/srv", .problems = none };
        body = daemon_status_report_body(&r);
        CHECK(body && strstr(body, "Images: 0\r\nLast refresh: none since the daemon started\r\n") &&
              strstr(body, "Disk: /srv is missing\r\nProblems: none\r\n"), "nothing yet");
        free(body);
        r.last_refresh = 0;
        r.problems = NULL;
        body = daemon_status_report_body(&r);
        CHECK(body && strstr(body, "Last refresh: FAILED at ") && strstr(body, "Problems: none\r\n"), "a failed refresh");
        CHECK(body && !strstr(body, "\n\n") && !strstr(body, "\r\r"), "every line ends in CRLF once");
        free(body);
}

int main(void) {
        setenv("TZ", "UTC", 1);
        test_problems();
        test_report();
        return tap_done();
}
