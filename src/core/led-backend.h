/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Where the status LED's level goes: a kernel LED class device, a GPIO line, or nowhere. */

#include <stdbool.h>

typedef struct LedBackend {
        int (*set)(void *data, bool on);
        void (*close)(void *data);
        void *data;
        bool failing; /* the last set() failed and said so: stay quiet until one works again */
} LedBackend;

/* Each constructor logs its failure once (a missing LED is -ENOENT or -ENODEV, "… not found").
 * The daemon then takes the null backend and runs on without saying more. */
void led_backend_null(LedBackend *ret);
/* A directory like /sys/class/leds/ACT: takes it over from its kernel trigger until closed. */
int led_backend_sysfs(const char *dir, LedBackend *ret);
/* A line given by offset or name on a chip given by label, name, number or path. */
int led_backend_gpio(const char *chip, const char *line, bool active_low, LedBackend *ret);

/* Logs the first failure of a run of them; returns what set() returned. */
int led_backend_set(LedBackend *b, bool on);
/* Hands the LED back (a sysfs LED to its kernel trigger) and leaves the null backend behind. */
void led_backend_close(LedBackend *b);
