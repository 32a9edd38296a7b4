/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image-name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *name = NULL;

        if (image_name_reduce((const char *) data, size, &name) == IMAGE_NAME_OK) {
                /* Whatever is accepted must be safe as one path component of the state dir. */
                if (!name || strchr(name, '/') || name[0] == '.' || strstr(name, "..") || strlen(name) > IMAGE_NAME_MAX ||
                    image_name_check(name, strlen(name)) != IMAGE_NAME_OK)
                        abort();
        }
        free(name);
        return 0;
}
