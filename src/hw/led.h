/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The status LED's blink patterns and the animator that plays them. Pure: every time is passed in
 * (uint64_t µs of CLOCK_MONOTONIC, never going backwards); nothing here touches hardware. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum LedState {
        LED_BOOTING,    /* the daemon is starting */
        LED_IDLE,       /* ready, no job running */
        LED_BUSY,       /* jobs running */
        LED_REFRESHING, /* images being refreshed */
        LED_ATTENTION,  /* needs a person: no data disk, refresh failed, disk almost full */
        _LED_STATE_MAX,
        _LED_STATE_INVALID = -EINVAL,
} LedState;

#define LED_PATTERN_STEPS_MAX 6

/* Durations of alternating steps, the first one ON. A state's pattern repeats, so it has an even
 * number of steps and ends OFF: every step boundary, the wrap-around included, is a real change. */
typedef struct LedPattern {
        const char *description; /* for people: "short blip every 3 s" */
        size_t n_steps;
        uint64_t steps[LED_PATTERN_STEPS_MAX];
} LedPattern;

const char *led_state_to_string(LedState s);
LedState led_state_from_string(const char *s);
/* What the state tells a person ("jobs running"), for the README and --help texts. */
const char *led_state_meaning(LedState s);
const char *led_pattern_describe(LedState s);

const LedPattern *led_state_pattern(LedState s);
/* Plays once over the current state, to acknowledge a button press. */
const LedPattern *led_ack_pattern(void);
uint64_t led_pattern_period(const LedPattern *p);

typedef struct LedAnimator {
        LedState state;
        uint64_t origin;    /* when the state's pattern starts (again) */
        uint64_t ack_start; /* the ack overlay plays in [ack_start, origin) */
} LedAnimator;

int led_animator_init(LedAnimator *a, LedState state, uint64_t now);
/* A change restarts the new state's pattern at now (after an ack that is playing); setting the
 * current state again keeps its rhythm. Returns 1 on a change, 0 if not, -EINVAL for no state. */
int led_animator_set_state(LedAnimator *a, LedState state, uint64_t now);
/* Plays the ack overlay from now (from its start again if one is playing), then the state's
 * pattern from its start. */
void led_animator_ack(LedAnimator *a, uint64_t now);
/* The level at now, and when it changes next: the time for the event loop's timer. */
void led_animator_level(const LedAnimator *a, uint64_t now, bool *ret_on, uint64_t *ret_next_change);
