/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *url = strndup((const char *) data, size), *subdir;

        if (!url)
                return 0;
        subdir = cache_subdir_from_url(url);
        /* Whatever is accepted is a plain relative path that stays below the cache dir. */
        if (subdir && (cache_subdir_check(subdir) < 0 || strstr(subdir, "..") == subdir || strlen(subdir) > strlen(url)))
                abort();
        free(subdir);
        free(url);
        return 0;
}
