/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "playbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Playbook p = PLAYBOOK_INIT;

        log_set_max_level(_LOG_LEVEL_INVALID); /* errors are expected by the million */
        if (playbook_parse("fuzz.yaml", (const char *) data, size, &p) >= 0) {
                if (p.n_plays == 0 || (p.suite && strchr(p.suite, '/')) || p.maint_recreate < -1 || p.maint_recreate > 1)
                        __builtin_trap();
                playbook_done(&p);
        }
        return 0;
}
