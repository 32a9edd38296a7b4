/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c;

        log_set_max_level(_LOG_LEVEL_INVALID);
        config_init(&c);
        if (config_parse("fuzz.conf", (const char *) data, size, &c) >= 0) {
                if (c.button_hold_sec < 1 || c.button_hold_sec > 60 || c.maintenance_minute >= 24 * 60 ||
                    (c.led.kind == HW_GPIO && (!c.led.gpio.chip || !c.led.gpio.line)) || !c.state_dir || c.state_dir[0] != '/')
                        __builtin_trap();
        }
        config_done(&c);
        return 0;
}
