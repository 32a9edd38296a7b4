/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine-state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MachineState s = MACHINE_STATE_INIT, t = MACHINE_STATE_INIT;
        char *text;

        if (machine_state_parse((const char *) data, size, &s, NULL) < 0)
                return 0;
        /* What parses must survive a round trip unchanged. */
        text = machine_state_format(&s);
        if (!text || machine_state_parse(text, strlen(text), &t, NULL) < 0 || t.init.pid != s.init.pid ||
            t.nspawn.start_time != s.nspawn.start_time || t.backend != s.backend)
                abort();
        free(text);
        machine_state_done(&s);
        machine_state_done(&t);
        return 0;
}
