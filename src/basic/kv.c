/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "kv.h"
#include "util.h"

static char *strip(char *s, char *end) {
        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
        *end = 0;
        return s;
}

int kv_parse(const char *text, size_t size, kv_callback_t cb, void *userdata, unsigned *ret_line) {
        const char *p = text, *end = text + size;
        unsigned line = 0;
        int r = 0;

        if (memchr(text, 0, size)) {
                if (ret_line)
                        *ret_line = 0;
                return -EBADMSG;
        }

        while (p < end && r >= 0) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char buf[KV_LINE_MAX + 1], *key, *eq;

                line++;
                if (len > KV_LINE_MAX) {
                        r = -E2BIG;
                        break;
                }
                memcpy(buf, p, len);
                p += len + (nl ? 1 : 0);

                key = strip(buf, buf + len);
                if (key[0] == 0 || key[0] == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq || eq == key) {
                        r = -EBADMSG;
                        break;
                }
                *eq = 0;
                key = strip(key, eq);
                if (key[0] == 0) {
                        r = -EBADMSG;
                        break;
                }
                r = cb(key, strip(eq + 1, eq + 1 + strlen(eq + 1)), line, userdata);
        }
        if (r < 0 && ret_line)
                *ret_line = line;
        return r < 0 ? r : 0;
}

int kv_parse_file(const char *path, size_t max_size, kv_callback_t cb, void *userdata, unsigned *ret_line) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, max_size, &text, &size);
        if (r < 0)
                return r;
        return kv_parse(text, size, cb, userdata, ret_line);
}
