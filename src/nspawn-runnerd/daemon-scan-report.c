/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-scan-report.h"
#include "image-name.h"
#include "util.h"

#define FIELDS_MAX 5

void scan_report_done(ScanReport *r) {
        for (size_t i = 0; i < r->n_images; i++)
                free(r->images[i].name);
        free(r->images);
        *r = (ScanReport) {};
}

int scan_report_add(ScanReport *r, const char *name, uint64_t bytes) {
        ScanImage *grown;
        char *copy;

        if (image_name_check(name, strlen(name)) != IMAGE_NAME_OK)
                return -EINVAL;
        if (r->n_images >= SCAN_REPORT_IMAGES_MAX)
                return -E2BIG;
        for (size_t i = 0; i < r->n_images; i++)
                if (streq(r->images[i].name, name))
                        return -EINVAL;
        grown = realloc(r->images, (r->n_images + 1) * sizeof(ScanImage));
        if (!grown)
                return -ENOMEM;
        r->images = grown;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        r->images[r->n_images++] = (ScanImage) { .name = copy, .bytes = bytes };
        return 0;
}

char *scan_report_format(const ScanReport *r) {
        MemStream ms;
        FILE *f = memstream_open(&ms);

        if (!f)
                return NULL;
        if (r->has_gc)
                fprintf(f, "gc %u %u %u %" PRIu64 "\n", r->gc.machines, r->gc.generations, r->gc.caches, r->gc.freed);
        for (size_t i = 0; i < r->n_images; i++)
                fprintf(f, "image %" PRIu64 " %s\n", r->images[i].bytes, r->images[i].name);
        fprintf(f, "end %zu\n", r->n_images);
        return memstream_finish(&ms);
}

/* Splits at single spaces into at most FIELDS_MAX fields; empty fields are refused. */
static int split(char *s, char *fields[static FIELDS_MAX], size_t *ret_n) {
        size_t n = 0;

        for (char *tok; (tok = strsep(&s, " "));) {
                if (!*tok || n == FIELDS_MAX)
                        return -EBADMSG;
                fields[n++] = tok;
        }
        *ret_n = n;
        return 0;
}

static int parse_unsigned(const char *s, unsigned *ret) {
        uint64_t v;

        if (safe_atou64(s, &v) < 0 || v > UINT_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

static int feed_gc(ScanReport *r, char **f, size_t n) {
        if (n != 5 || r->has_gc || r->n_images > 0)
                return -EBADMSG;
        if (parse_unsigned(f[1], &r->gc.machines) < 0 || parse_unsigned(f[2], &r->gc.generations) < 0 ||
            parse_unsigned(f[3], &r->gc.caches) < 0 || safe_atou64(f[4], &r->gc.freed) < 0)
                return -EBADMSG;
        r->has_gc = true;
        return 0;
}

static int feed_image(ScanReport *r, char **f, size_t n) {
        uint64_t bytes;
        int k;

        if (n != 3 || safe_atou64(f[1], &bytes) < 0)
                return -EBADMSG;
        k = scan_report_add(r, f[2], bytes);
        return k == -EINVAL ? -EBADMSG : k;
}

static int feed_end(ScanReport *r, char **f, size_t n) {
        uint64_t count;

        if (n != 2 || safe_atou64(f[1], &count) < 0 || count != r->n_images)
                return -EBADMSG;
        r->ended = true;
        return 0;
}

int scan_report_feed(ScanReport *r, const char *line, size_t n) {
        char buf[SCAN_REPORT_LINE_MAX], *f[FIELDS_MAX];
        size_t n_fields;

        if (r->ended || n >= sizeof(buf) || memchr(line, 0, n))
                return -EBADMSG;
        memcpy(buf, line, n);
        buf[n] = 0;
        if (split(buf, f, &n_fields) < 0)
                return -EBADMSG;
        if (streq(f[0], "gc"))
                return feed_gc(r, f, n_fields);
        if (streq(f[0], "image"))
                return feed_image(r, f, n_fields);
        if (streq(f[0], "end"))
                return feed_end(r, f, n_fields);
        return -EBADMSG;
}

int scan_report_finish(const ScanReport *r) {
        return r->ended ? 0 : -EBADMSG;
}
