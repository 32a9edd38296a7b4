/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "image-name.h"
#include "log.h"

static const char *const error_table[_IMAGE_NAME_ERROR_MAX] = {
        [IMAGE_NAME_OK] = "valid",
        [IMAGE_NAME_EMPTY] = "is empty",
        [IMAGE_NAME_TOO_LONG] = "is longer than 64 characters",
        [IMAGE_NAME_HAS_SLASH] = "contains '/'",
        [IMAGE_NAME_HAS_DOTDOT] = "contains '..'",
        [IMAGE_NAME_LEADING_DOT] = "starts with '.'",
        [IMAGE_NAME_HAS_NUL] = "contains a NUL byte",
        [IMAGE_NAME_BAD_CHAR] = "contains a character other than letters, digits, '.', '_', '+', '-'",
};

const char *image_name_error_to_string(ImageNameError e) {
        if (e < 0 || e >= _IMAGE_NAME_ERROR_MAX)
                return "invalid";
        return error_table[e];
}

ImageNameError image_name_check(const char *name, size_t n) {
        if (n == 0)
                return IMAGE_NAME_EMPTY;
        if (memchr(name, 0, n))
                return IMAGE_NAME_HAS_NUL;
        if (n > IMAGE_NAME_MAX)
                return IMAGE_NAME_TOO_LONG;
        if (memchr(name, '/', n))
                return IMAGE_NAME_HAS_SLASH;
        if (name[0] == '.')
                return IMAGE_NAME_LEADING_DOT;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (c == '.' && i + 1 < n && name[i + 1] == '.')
                        return IMAGE_NAME_HAS_DOTDOT;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '+' || c == '-'))
                        return IMAGE_NAME_BAD_CHAR;
        }
        return IMAGE_NAME_OK;
}

ImageNameError image_name_reduce(const char *ref, size_t n, char **ret) {
        const char *start = ref, *end = ref + n, *p;
        ImageNameError e;
        char *s;

        if (memchr(ref, 0, n))
                return IMAGE_NAME_HAS_NUL;

        /* A digest pins content, not a name: drop it ("name:tag@sha256:…"). */
        p = memchr(ref, '@', n);
        if (p)
                end = p;

        /* As the Python nspawn-runner did: the last path component (so a registry, its port and
         * the path go: "localhost:5000/img", "docker.io/library/debian"), then its tag if it has one. */
        for (p = end; p > start; p--)
                if (p[-1] == '/')
                        break;
        start = p;
        p = memchr(start, ':', (size_t) (end - start));
        if (p)
                start = p + 1;

        e = image_name_check(start, (size_t) (end - start));
        if (e != IMAGE_NAME_OK)
                return e;

        s = strndup(start, (size_t) (end - start));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return IMAGE_NAME_OK;
}

int image_name_check_log(const char *name) {
        ImageNameError e = image_name_check(name, strlen(name));

        if (e != IMAGE_NAME_OK)
                return log_error_errno(EINVAL, "Invalid image name '%.80s': it %s.", name, image_name_error_to_string(e));
        return 0;
}
