/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "rtnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The kernel's answer to an rtnetlink request, as rtnl_call() receives it (sequence number 1). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        int r = rtnl_ack_parse(data, size, 1);

        /* Only success, a kernel errno or a refusal. */
        if (r > 0 || r < -4095)
                abort();
        return 0;
}
