/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

/* "CHIP:LINE[:active-low|:active-high]", as configured or given on the command line: CHIP is a
 * label ("pinctrl-bcm2711"), name ("gpiochip0"), number or /dev path, LINE an offset ("17") or a
 * line name ("GPIO17"). */
typedef struct GpioSpec {
        char *chip;
        char *line;
        bool active_low;
} GpioSpec;

/* active_low_default is the wiring the device usually has: a button to ground is active-low. */
int gpio_spec_parse(const char *s, bool active_low_default, GpioSpec *ret);
void gpio_spec_done(GpioSpec *spec);
