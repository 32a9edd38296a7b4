/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *out = NULL, *again = NULL;
        bool has, has_again;

        log_set_max_level(_LOG_LEVEL_INVALID);
        if (appliance_gitlab_runner_config_edit((const char *) data, size, 7, &out, &has) < 0)
                return 0;
        /* Editing what the edit made changes nothing more. */
        if (!strstr(out, "concurrent = 7\n") ||
            appliance_gitlab_runner_config_edit(out, strlen(out), 7, &again, &has_again) < 0 ||
            strcmp(out, again) != 0 || has != has_again)
                __builtin_trap();
        free(out);
        free(again);
        return 0;
}
