/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Debouncing and short/long press recognition for one push button. Pure: the caller feeds raw
 * level changes and timer ticks with their times (uint64_t µs of CLOCK_MONOTONIC) and arms a timer
 * for button_next_deadline(). An edge read after a tick may carry an earlier time than the tick's:
 * it counts as happening at the tick. */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define BUTTON_DEBOUNCE_USEC_DEFAULT (30 * UINT64_C(1000))
#define BUTTON_HOLD_USEC_DEFAULT (5 * UINT64_C(1000000))

typedef enum ButtonEvent {
        BUTTON_NONE,
        BUTTON_SHORT_PRESS, /* released after at least the debounce time and before the hold time */
        BUTTON_LONG_PRESS,  /* held for the hold time: fires then, once, and not again at release */
        _BUTTON_EVENT_MAX,
        _BUTTON_EVENT_INVALID = -EINVAL,
} ButtonEvent;

const char *button_event_to_string(ButtonEvent e);

typedef struct Button {
        uint64_t debounce_usec, hold_usec;
        bool raw;             /* the level last fed */
        uint64_t raw_since;   /* when the raw level last changed */
        bool stable;          /* the level once it held for the debounce time */
        uint64_t press_start; /* when the stable press began: its last bounce, not its first */
        bool long_fired;
        uint64_t now;         /* the latest time seen */
} Button;

/* A level counts once it has held for debounce_usec; hold_usec must be longer. */
int button_init(Button *b, uint64_t debounce_usec, uint64_t hold_usec);
/* The raw level changed (or was read) at now. Returns the event this completes, if any. */
ButtonEvent button_feed(Button *b, bool pressed, uint64_t now);
/* The timer fired at now. */
ButtonEvent button_tick(Button *b, uint64_t now);
/* When button_tick() must run next (a level's debounce ends, a press reaches the hold time), or
 * USEC_INFINITY when nothing is pending. */
uint64_t button_next_deadline(const Button *b);
