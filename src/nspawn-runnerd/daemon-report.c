/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-report.h"
#include "util.h"

#define TOKEN_PREFIX "glrt-"
#define CRLF "\r\n"

/* Hides what follows a runner token's prefix, up to the next blank. */
static void hide_tokens(char *s) {
        for (char *p = s; (p = strstr(p, TOKEN_PREFIX));) {
                char *rest = p + strlen(TOKEN_PREFIX);
                size_t n = strcspn(rest, " \t");

                if (n < 3) { /* too short to hide in "...": dots over what there is */
                        memset(rest, '.', n);
                        p = rest + n;
                        continue;
                }
                memmove(rest + 3, rest + n, strlen(rest + n) + 1);
                memcpy(rest, "...", 3);
                p = rest + 3;
        }
}

/* One line: blanks around it dropped, control characters made visible. NULL for a blank line. */
static char *problem_line(const char *s, size_t n) {
        char *line;

        while (n > 0 && (*s == ' ' || *s == '\t'))
                s++, n--;
        if (n > PROBLEM_LINE_MAX)
                n = PROBLEM_LINE_MAX;
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                n--;
        if (n == 0)
                return strdup("");
        line = strndup(s, n);
        if (!line)
                return NULL;
        for (char *p = line; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        *p = '?';
        hide_tokens(line);
        return line;
}

int problems_parse(const char *text, size_t size, char ***ret) {
        char **lines;
        size_t n = 0;

        if (size > PROBLEMS_SIZE_MAX)
                return -EFBIG;
        if (memchr(text, 0, size))
                return -EBADMSG;
        /* k lines take 2k-1 bytes at least; room for the NULL and for one line more (see problems_read()). */
        lines = calloc(size / 2 + 3, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        for (const char *p = text, *end = text + size; p < end;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char *line = problem_line(p, len);

                if (!line) {
                        strv_freep(&lines);
                        return -ENOMEM;
                }
                if (*line)
                        lines[n++] = line;
                else
                        free(line);
                p += len + 1;
        }
        *ret = lines;
        return 0;
}

static void print_bytes(FILE *f, uint64_t bytes) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) bytes;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units))
                v /= 1024, u++;
        if (u == 0)
                fprintf(f, "%" PRIu64 " B", bytes);
        else
                fprintf(f, "%.1f %s", v, units[u]);
}

#define TIME_TEXT_MAX 64

static const char *time_text(time_t t, char buf[static TIME_TEXT_MAX]) {
        struct tm tm;

        if (!localtime_r(&t, &tm) || strftime(buf, TIME_TEXT_MAX, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                snprintf(buf, TIME_TEXT_MAX, "@%lld", (long long) t);
        return buf;
}

static void print_refresh(FILE *f, const StatusReport *r) {
        if (r->last_refresh < 0) {
                fputs("Last refresh: none since the daemon started" CRLF, f);
                return;
        }
        char buf[TIME_TEXT_MAX];

        fprintf(f, "Last refresh: %s at %s" CRLF, r->last_refresh ? "succeeded" : "FAILED", time_text(r->last_refresh_time, buf));
}

static void print_images(FILE *f, const StatusReport *r) {
        fprintf(f, "Images: %zu" CRLF, r->n_images);
        for (size_t i = 0; i < r->n_images; i++) {
                fprintf(f, "  %s: ", r->images[i].name);
                print_bytes(f, r->images[i].bytes);
                fputs(CRLF, f);
        }
}

static void print_problems(FILE *f, const StatusReport *r) {
        if (!r->problems || !r->problems[0]) {
                fputs("Problems: none" CRLF, f);
                return;
        }
        fputs("Problems:" CRLF, f);
        for (char *const *p = r->problems; *p; p++)
                fprintf(f, "  %s" CRLF, *p);
}

char *status_report_body(const StatusReport *r) {
        MemStream ms;
        FILE *f = memstream_open(&ms);

        if (!f)
                return NULL;
        fprintf(f, "Status: %s" CRLF, r->status);
        fprintf(f, "Jobs: %u running, %" PRIu64 " in all, %" PRIu64 " failed" CRLF, r->jobs_running, r->jobs_total,
                r->jobs_failed);
        print_images(f, r);
        print_refresh(f, r);
        if (r->disk_known)
                fprintf(f, "Disk: %u%% used (%s)" CRLF, r->disk_percent, r->state_dir);
        else
                fprintf(f, "Disk: %s is missing" CRLF, r->state_dir);
        print_problems(f, r);
        return memstream_finish(&ms);
}

char *status_report_file(const char *body, time_t now) {
        char buf[TIME_TEXT_MAX];

        return strprintf("nspawn-runner status, written %s" CRLF "%s", time_text(now, buf), body);
}
