/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A push button on a GPIO line (libgpiod v1). The status LED on a GPIO line is a LedBackend, see
 * led-backend.h. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct GpioButton GpioButton;

/* A change of the logical level: pressed is true on the active edge, whatever the polarity. */
typedef struct GpioEdge {
        bool pressed;
        uint64_t usec; /* CLOCK_MONOTONIC */
} GpioEdge;

/* Requests the line for edge events on both edges, biased towards released (pull-up when
 * active-low) where the kernel can. -ENOENT or -ENODEV when chip or line is missing. */
int gpio_button_open(const char *chip, const char *line, bool active_low, GpioButton **ret);
void gpio_button_close(GpioButton *b);
/* Non-blocking, close-on-exec; readable when edges wait: poll it, then gpio_button_read(). */
int gpio_button_fd(GpioButton *b);
/* The level now, to start from: a button may already be held when the daemon starts. */
int gpio_button_get(GpioButton *b, bool *ret_pressed);
/* Reads up to n waiting edges, oldest first; returns how many (0 when none wait). */
int gpio_button_read(GpioButton *b, GpioEdge *edges, size_t n);
