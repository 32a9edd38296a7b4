/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "led-backend.h"
#include "log.h"

static int null_set(void *data _unused_, bool on _unused_) {
        return 0;
}

void led_backend_null(LedBackend *ret) {
        *ret = (LedBackend) { .set = null_set };
}

int led_backend_set(LedBackend *b, bool on) {
        int r = b->set(b->data, on);

        /* The LED blinks several times a second: one broken write must not flood the log. */
        if (r < 0 && !b->failing)
                log_warning_errno(r, "Failed to switch the status LED %s: %m", on ? "on" : "off");
        b->failing = r < 0;
        return r;
}

void led_backend_close(LedBackend *b) {
        if (b->close)
                b->close(b->data);
        led_backend_null(b);
}
