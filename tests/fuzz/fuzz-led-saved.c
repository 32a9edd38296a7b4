/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "led-sysfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        LedSaved s = {}, t = {};
        char *text;

        if (led_saved_parse((const char *) data, size, &s) < 0)
                return 0;
        /* What parses must survive a round trip unchanged. */
        text = led_saved_format(&s);
        if (!text || led_saved_parse(text, strlen(text), &t) < 0 || strcmp(s.dir, t.dir) != 0 ||
            strcmp(s.trigger, t.trigger) != 0 || s.brightness != t.brightness)
                abort();
        free(text);
        led_saved_done(&s);
        led_saved_done(&t);
        return 0;
}
