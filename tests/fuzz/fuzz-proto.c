/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int type;

        /* The first byte says how many file descriptors came with the message. */
        if (size < 1)
                return 0;
        type = msg_validate(data + 1, size - 1, data[0] % 8);
        if (type >= 0) {
                Msg m;
                memcpy(&m, data + 1, size - 1);
                if (type == MSG_RUN && strlen(m.run.stage) > PROTO_STAGE_MAX)
                        __builtin_trap();
        }
        return 0;
}
