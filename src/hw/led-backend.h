/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Where the status LED's level goes: a kernel LED class device, a GPIO line, or nowhere. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct LedBackend {
        int (*set)(void *data, bool on);
        void (*close)(void *data);
        void *data;
        bool failing; /* the last set() failed and said so: stay quiet until one works again */
} LedBackend;

/* Each constructor (led_backend_sysfs() in led-sysfs.h, led_backend_gpio() in gpio.h) logs its
 * failure once (a missing LED is -ENOENT or -ENODEV, "… not found"). The daemon then takes the null
 * backend and runs on without saying more. */
void led_backend_null(LedBackend *ret);
/* Logs the first failure of a run of them; returns what set() returned. */
int led_backend_set(LedBackend *b, bool on);
/* Hands the LED back (a sysfs LED to its kernel trigger) and leaves the null backend behind. */
void led_backend_close(LedBackend *b);
