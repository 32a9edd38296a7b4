/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The status LED and the button on GPIO lines, over libgpiod v1 (1.6 in Debian 12).
 *
 * No test machine has GPIO hardware or gpio-sim, so this code is only compiled there, never run:
 * it is kept to a thin translation between libgpiod and the pure logic in led.c and button.c, which
 * make every decision and are unit tested. tests/hw/ exercises it on a real Raspberry Pi.
 * libgpiod v1 cannot ask the kernel to debounce: button.c does it. */
#include <fcntl.h>
#include <gpiod.h>
#include <limits.h>

#include "gpio.h"
#include "led-backend.h"
#include "log.h"
#include "time-util.h"
#include "util.h"

#define CONSUMER "nspawn-runner"
/* The kernel's internal "not supported", which some GPIO drivers let out to user space. */
#define ENOTSUPP_KERNEL 524

struct GpioButton {
        struct gpiod_line *line;
};

static void chip_closep(struct gpiod_chip **chip) {
        if (*chip)
                gpiod_chip_close(*chip);
}

static int line_open(const char *chip_name, const char *line_name, struct gpiod_line **ret) {
        _cleanup_(chip_closep) struct gpiod_chip *chip = NULL;
        struct gpiod_line *line = NULL;
        uint64_t offset;

        /* Tries the name as a number, a label, a name under /dev and a path, in that order. */
        chip = gpiod_chip_open_lookup(chip_name);
        if (!chip) {
                if (errno == ENOENT || errno == ENODEV)
                        return log_error_errno(errno, "GPIO chip %s not found.", chip_name);
                return log_error_errno(errno, "Failed to open GPIO chip %s: %m", chip_name);
        }

        if (safe_atou64(line_name, &offset) >= 0) {
                errno = EINVAL;
                line = offset <= UINT_MAX ? gpiod_chip_get_line(chip, (unsigned) offset) : NULL;
        } else
                line = gpiod_chip_find_line(chip, line_name);
        if (!line) {
                /* An offset beyond the chip's lines is EINVAL, an unknown name ENOENT: both missing. */
                if (errno == EINVAL || errno == ENOENT)
                        return log_error_errno(ENOENT, "GPIO line %s not found on chip %s.", line_name, chip_name);
                return log_error_errno(errno, "Failed to look up GPIO line %s on chip %s: %m", line_name, chip_name);
        }

        TAKE_PTR(chip);
        *ret = line;
        return 0;
}

/* bias is tried first and left out, with a warning, where the kernel or the chip cannot do it. */
static int line_request(const char *chip_name, const char *line_name, int type, int flags, int bias,
                        struct gpiod_line **ret) {
        struct gpiod_line_request_config config = {
                .consumer = CONSUMER,
                .request_type = type,
                .flags = flags | bias,
        };
        struct gpiod_line *line = NULL;
        int r;

        r = line_open(chip_name, line_name, &line);
        if (r < 0)
                return r;

        r = gpiod_line_request(line, &config, 0);
        if (r < 0 && bias != 0 && (errno == EINVAL || errno == EOPNOTSUPP || errno == ENOTSUPP_KERNEL)) {
                log_warning_errno(errno, "GPIO line %s on chip %s takes no pull resistor setting (%m), "
                                  "relying on an external one.", line_name, chip_name);
                config.flags = flags;
                r = gpiod_line_request(line, &config, 0);
        }
        if (r < 0) {
                r = log_error_errno(errno, "Failed to request GPIO line %s on chip %s: %m", line_name, chip_name);
                gpiod_line_close_chip(line);
                return r;
        }

        *ret = line;
        return 0;
}

static int gpio_led_set(void *data, bool on) {
        return RET_NERRNO(gpiod_line_set_value(data, on));
}

static void gpio_led_close(void *data) {
        (void) gpiod_line_set_value(data, 0);
        gpiod_line_close_chip(data);
}

int led_backend_gpio(const char *chip, const char *line, bool active_low, LedBackend *ret) {
        struct gpiod_line *l = NULL;
        int r;

        r = line_request(chip, line, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
                         active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0, 0, &l);
        if (r < 0)
                return r;
        *ret = (LedBackend) { .set = gpio_led_set, .close = gpio_led_close, .data = l };
        return 0;
}

int gpio_button_open(const char *chip, const char *line, bool active_low, GpioButton **ret) {
        _cleanup_free_ GpioButton *b = NULL;
        int r, fd, flags;

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();

        /* Pulled towards the released level, so that an open contact reads released. */
        r = line_request(chip, line, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES,
                         active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0,
                         active_low ? GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP : GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN,
                         &b->line);
        if (r < 0)
                return r;

        /* The kernel makes the event fd close-on-exec; a spurious wakeup must not block the loop. */
        fd = gpiod_line_event_get_fd(b->line);
        flags = fd < 0 ? -1 : fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = log_error_errno(errno, "Failed to set up events of GPIO line %s on chip %s: %m", line, chip);
                gpiod_line_close_chip(b->line);
                return r;
        }

        *ret = TAKE_PTR(b);
        return 0;
}

void gpio_button_close(GpioButton *b) {
        if (!b)
                return;
        gpiod_line_close_chip(b->line);
        free(b);
}

int gpio_button_fd(GpioButton *b) {
        return gpiod_line_event_get_fd(b->line);
}

int gpio_button_get(GpioButton *b, bool *ret_pressed) {
        int v = gpiod_line_get_value(b->line);

        if (v < 0)
                return log_error_errno(errno, "Failed to read the button's GPIO line: %m");
        *ret_pressed = v > 0;
        return 0;
}

int gpio_button_read(GpioButton *b, GpioEdge *edges, size_t n) {
        struct gpiod_line_event events[16];
        uint64_t now;
        int k;

        k = gpiod_line_event_read_multiple(b->line, events, (unsigned) (n < ELEMENTSOF(events) ? n : ELEMENTSOF(events)));
        if (k < 0) {
                if (errno == EAGAIN)
                        return 0;
                return log_error_errno(errno, "Failed to read the button's GPIO events: %m");
        }

        now = now_monotonic_usec();
        for (int i = 0; i < k; i++) {
                /* Kernels before 5.7 stamp events with CLOCK_REALTIME, far ahead of the monotonic
                 * clock: then the time of reading is the best there is. */
                uint64_t t = timespec_to_usec(&events[i].ts);

                /* With both edges requested the kernel reports the logical level, active-low
                 * applied: "rising" means pressed. */
                edges[i] = (GpioEdge) {
                        .pressed = events[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE,
                        .usec = t < now ? t : now,
                };
        }
        return k;
}
