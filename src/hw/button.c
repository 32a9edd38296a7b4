/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "button.h"
#include "time-util.h"

static const char *const event_table[_BUTTON_EVENT_MAX] = {
        [BUTTON_NONE] = "none",
        [BUTTON_SHORT_PRESS] = "short-press",
        [BUTTON_LONG_PRESS] = "long-press",
};

const char *button_event_to_string(ButtonEvent e) {
        return e >= 0 && e < _BUTTON_EVENT_MAX ? event_table[e] : NULL;
}

int button_init(Button *b, uint64_t debounce_usec, uint64_t hold_usec) {
        if (hold_usec <= debounce_usec)
                return -EINVAL;
        *b = (Button) { .debounce_usec = debounce_usec, .hold_usec = hold_usec };
        return 0;
}

/* Catches up with what became due by now. Yields at most one event: a confirmed release ends a
 * press, and the hold time is only checked while the raw level is still pressed. */
static ButtonEvent advance(Button *b, uint64_t now) {
        if (now < b->now)
                now = b->now;
        b->now = now;

        if (b->raw != b->stable && now >= b->raw_since + b->debounce_usec) {
                b->stable = b->raw;
                if (!b->stable)
                        return b->long_fired ? BUTTON_NONE : BUTTON_SHORT_PRESS;
                b->press_start = b->raw_since;
                b->long_fired = false;
        }
        /* A release still bouncing may yet turn out to be part of the press: wait for it. */
        if (b->stable && b->raw && !b->long_fired && now >= b->press_start + b->hold_usec) {
                b->long_fired = true;
                return BUTTON_LONG_PRESS;
        }
        return BUTTON_NONE;
}

ButtonEvent button_feed(Button *b, bool pressed, uint64_t now) {
        ButtonEvent e = advance(b, now);

        if (pressed != b->raw) {
                b->raw = pressed;
                b->raw_since = b->now;
        }
        /* A release bounce that ends past the hold time completes a long press right now. */
        return e != BUTTON_NONE ? e : advance(b, b->now);
}

ButtonEvent button_tick(Button *b, uint64_t now) {
        return advance(b, now);
}

uint64_t button_next_deadline(const Button *b) {
        if (b->raw != b->stable)
                return b->raw_since + b->debounce_usec;
        if (b->stable && !b->long_fired)
                return b->press_start + b->hold_usec;
        return USEC_INFINITY;
}
