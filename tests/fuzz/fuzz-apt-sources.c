/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>

#include "apt-sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *mirror = NULL;

        /* The first byte picks the format, the rest is the file. */
        if (size < 1)
                return 0;
        (void) apt_sources_find_mirror((const char *) data + 1, size - 1, data[0] & 1, &mirror);
        free(mirror);
        return 0;
}
