/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "user-machine.h"

#define ENTRY "alice:x:1000:1000::/home/alice:/bin/bash"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *out = NULL;
        size_t n;

        if (size > USER_DB_SIZE_MAX)
                return 0;
        if (user_db_replace((const char *) data, size, "alice", 1000, ENTRY, &out) < 0)
                abort();
        /* The caller's entry is the last line and the only one of that name; nothing else is made up. */
        n = strlen(out);
        if (n < sizeof(ENTRY) || strcmp(out + n - sizeof(ENTRY), ENTRY "\n") != 0 || n > size + sizeof(ENTRY) + 1)
                abort();
        for (const char *l = out; l < out + n - sizeof(ENTRY); l = strchr(l, '\n') + 1)
                if (strncmp(l, "alice:", 6) == 0 || *l == '\n')
                        abort();
        free(out);
        return 0;
}
